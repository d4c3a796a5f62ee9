//! Viewing slot bytes as a message, for sized and slice messages alike.
//!
//! zerocopy describes a type's shape by its pointer metadata: `()` for a sized
//! type, `usize` (the element count) for a slice DST. [`ViewMeta`] dispatches
//! on that type so that the runtime can be generic over both without
//! specialisation: `T::view(bytes, elems)` is `ref_from_prefix` for a sized
//! `T` and `ref_from_prefix_with_elems` for a slice message.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Implemented for `()` (sized messages) and `usize` (slice messages).
pub trait ViewMeta: Copy {
    /// Whether messages with this metadata carry a trailing slice.
    const IS_SLICE: bool;

    /// Bytes needed for a value with `elems` trailing elements (ignored when sized).
    fn size_for<T>(elems: usize) -> Option<usize>
    where
        T: ?Sized + KnownLayout<PointerMetadata = Self>;

    /// Views the front of `bytes` as a `T` with `elems` trailing elements.
    fn view<T>(bytes: &[u8], elems: usize) -> Option<&T>
    where
        T: ?Sized + FromBytes + KnownLayout<PointerMetadata = Self> + Immutable;

    /// Views the front of `bytes` mutably as a `T` with `elems` trailing elements.
    fn view_mut<T>(bytes: &mut [u8], elems: usize) -> Option<&mut T>
    where
        T: ?Sized + FromBytes + IntoBytes + KnownLayout<PointerMetadata = Self>;
}

impl ViewMeta for () {
    const IS_SLICE: bool = false;

    fn size_for<T>(_elems: usize) -> Option<usize>
    where
        T: ?Sized + KnownLayout<PointerMetadata = Self>,
    {
        T::size_for_metadata(())
    }

    fn view<T>(bytes: &[u8], _elems: usize) -> Option<&T>
    where
        T: ?Sized + FromBytes + KnownLayout<PointerMetadata = Self> + Immutable,
    {
        T::ref_from_prefix(bytes).ok().map(|(t, _)| t)
    }

    fn view_mut<T>(bytes: &mut [u8], _elems: usize) -> Option<&mut T>
    where
        T: ?Sized + FromBytes + IntoBytes + KnownLayout<PointerMetadata = Self>,
    {
        T::mut_from_prefix(bytes).ok().map(|(t, _)| t)
    }
}

impl ViewMeta for usize {
    const IS_SLICE: bool = true;

    fn size_for<T>(elems: usize) -> Option<usize>
    where
        T: ?Sized + KnownLayout<PointerMetadata = Self>,
    {
        T::size_for_metadata(elems)
    }

    fn view<T>(bytes: &[u8], elems: usize) -> Option<&T>
    where
        T: ?Sized + FromBytes + KnownLayout<PointerMetadata = Self> + Immutable,
    {
        T::ref_from_prefix_with_elems(bytes, elems).ok().map(|(t, _)| t)
    }

    fn view_mut<T>(bytes: &mut [u8], elems: usize) -> Option<&mut T>
    where
        T: ?Sized + FromBytes + IntoBytes + KnownLayout<PointerMetadata = Self>,
    {
        T::mut_from_prefix_with_elems(bytes, elems).ok().map(|(t, _)| t)
    }
}
