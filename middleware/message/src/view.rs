//! Viewing slot bytes as a message, for sized and slice messages alike.
//!
//! zerocopy describes a type's shape by its pointer metadata: `()` for a sized
//! type, `usize` (the element count) for a slice DST. [`ViewMeta`] dispatches
//! on that type so that the runtime can be generic over both without
//! specialisation: `T::view(bytes, elems)` is `ref_from_prefix` for a sized
//! `T` and `ref_from_prefix_with_elems` for a slice message.

use core::ptr::NonNull;

use zerocopy::{FromBytes, Immutable, KnownLayout};

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

    /// This metadata for `elems` trailing elements.
    fn from_elems(elems: usize) -> Self;
}

/// Views the front of `bytes` mutably as a `T` with `elems` trailing elements.
///
/// Unlike zerocopy's `mut_from_prefix` this does not need `IntoBytes`: a slice
/// message may have trailing padding (`{ stamp: u64, data: [u8] }`). Writing a
/// `T` through the view may leave padding bytes unspecified; since every
/// message is `FromBytes`, readers are fine with any bytes there.
pub fn view_mut<T>(bytes: &mut [u8], elems: usize) -> Option<&mut T>
where
    T: ?Sized + FromBytes + Immutable + KnownLayout<PointerMetadata: ViewMeta>,
{
    let meta = <T::PointerMetadata as ViewMeta>::from_elems(elems);
    // Checks size and alignment (and nothing else: any bytes are a valid T).
    <T::PointerMetadata as ViewMeta>::view::<T>(bytes, elems)?;
    let ptr: NonNull<T> = T::raw_from_ptr_len(NonNull::from(&mut *bytes).cast::<u8>(), meta);
    // SAFETY: (1) `view` just confirmed that `bytes` is large enough and
    // aligned for a `T` with this metadata, so `ptr` addresses memory inside
    // `bytes`; (2) `ptr` derives from `&mut *bytes`, an exclusive borrow that
    // lives as long as the returned reference; (3) `T: FromBytes`, so every
    // bit pattern in `bytes` is a valid `T`.
    Some(unsafe { &mut *ptr.as_ptr() })
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

    fn from_elems(_elems: usize) -> Self {}
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
        T::ref_from_prefix_with_elems(bytes, elems)
            .ok()
            .map(|(t, _)| t)
    }

    fn from_elems(elems: usize) -> Self {
        elems
    }
}
