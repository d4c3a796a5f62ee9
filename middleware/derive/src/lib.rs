//! `#[derive(Message)]`: the `Schema` and `Message` impls of an axon message.
//!
//! ```
//! use axon_message::{Message, Schema};
//! use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
//!
//! /// A wheel speed sample.
//! #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
//! #[repr(C)]
//! struct WheelSpeed {
//!     rad_per_s: [f64; 4],
//!     seq: u64,
//! }
//!
//! assert_eq!(WheelSpeed::TYPE_NAME, "axon-derive/WheelSpeed");
//!
//! // The type's description, for tools that were not built with it.
//! let d = axon_message::Description::of::<WheelSpeed>();
//! let fields = &d.root_struct().unwrap().fields;
//! assert_eq!((fields[1].name.as_str(), fields[1].offset), ("seq", 32));
//! assert_eq!(d.fingerprint(), WheelSpeed::FINGERPRINT);
//! fn is_message<T: Message + ?Sized>() {}
//! is_message::<WheelSpeed>();
//! ```
//!
//! Users normally write `#[axon::message]` (the attribute [`macro@message`]:
//! `#[repr(C)]`, the zerocopy derives through `axon`'s re-export, and this
//! derive, so the crate needs only `axon`), or `#[derive(axon::Message)]`
//! next to zerocopy's derives; the runtime re-exports both macros. Plain
//! zerocopy derives in a crate without its own `zerocopy` dependency need
//! `#[zerocopy(crate = "axon::zerocopy")]`, since they expand to
//! `::zerocopy::` paths. A crate that only depends on `axon-message` (such as
//! `axon-msgs`, which must not depend on the runtime) can use the macro too:
//! the emitted paths name whichever of `axon` / `axon-message` the crate
//! depends on (found with `proc-macro-crate`).
//!
//! # What it emits
//!
//! * `impl Schema for T`:
//!   * `TYPE_NAME` is `"<CARGO_PKG_NAME>/<Ident>"`, or the string given by
//!     `#[axon(name = "pkg/Name")]`.
//!   * `FINGERPRINT` is computed at compile time with `Fingerprint`. The calls,
//!     in this order (changing them changes every fingerprint):
//!     `str("struct")`, `str(TYPE_NAME)`, `u64(field count)`, then for every
//!     field: `str(name)`, `u64(<FieldTy as Schema>::FINGERPRINT)` and
//!     `u64(offset_of!(T, field))`; a trailing slice field `name: [E]`
//!     instead hashes `str(name)`, `u64(<[E] as Schema>::FINGERPRINT)` and
//!     `u64(align_of::<E>())`, and a struct with a trailing slice ends with
//!     `str("slice")`, a sized one with `u64(size_of::<T>())`,
//!     `u64(align_of::<T>())`. Tuple structs name their fields `"0"`, `"1"`...
//!   * `KIND` is `Kind::Struct(&TypeDesc { .. })`: the type's name, size
//!     and alignment, and for every field its name, offset, the field
//!     type's `KIND`, and whether it is padding (a `[u8; N]` field whose
//!     name starts with `_`). A slice message's size is the offset of its
//!     trailing slice, computed as `repr(C)` (or `packed`) lays it out;
//!     its alignment is the largest of its fields' (capped by `packed(N)`,
//!     raised by `align(N)`). `axon_message::desc` has the details.
//! * `impl Message for T {}`, whose supertraits make the compiler check that
//!   `T` also derives zerocopy's `FromBytes, KnownLayout, Immutable`. Derive
//!   `IntoBytes` too where the layout allows it (no padding): the runtime
//!   needs it to publish by copy, and tools to view a sample as bytes.
//!
//! # Rejected at compile time
//!
//! Enumerations: a peer may leave any bit pattern in shared memory, so there
//! are no enum messages.
//!
//! ```compile_fail
//! #[derive(axon_derive::Message)]
//! #[repr(u8)]
//! enum Mode { Idle, Run }
//! ```
//!
//! Unions:
//!
//! ```compile_fail
//! #[derive(axon_derive::Message)]
//! #[repr(C)]
//! union Bits { a: u32, b: f32 }
//! ```
//!
//! A struct without `#[repr(C)]` (its layout would be unspecified):
//!
//! ```compile_fail
//! use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
//! #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
//! struct NoRepr { a: u64 }
//! ```
//!
//! Generic structs (a generic message needs a hand-written `Schema` whose
//! fingerprint includes the parameters):
//!
//! ```compile_fail
//! use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
//! #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
//! #[repr(C)]
//! struct Generic<T> { a: T }
//! ```
//!
//! ```compile_fail
//! use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
//! #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
//! #[repr(C)]
//! struct Buffer<const N: usize> { a: [u8; N] }
//! ```
//!
//! Unknown or malformed `#[axon(..)]` options:
//!
//! ```compile_fail
//! use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
//! #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
//! #[repr(C)]
//! #[axon(title = "x")]
//! struct Bad { a: u64 }
//! ```
//!
//! A field type without `Schema` (here a `bool`, which is not valid for every
//! bit pattern anyway):
//!
//! ```compile_fail
//! use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
//! #[derive(IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
//! #[repr(C)]
//! struct Flag { on: bool }
//! ```
//!
//! A struct that is not `FromBytes`/`IntoBytes`:
//!
//! ```compile_fail
//! #[derive(axon_derive::Message)]
//! #[repr(C)]
//! struct Plain { a: u64 }
//! ```
//!
//! Accepted: `repr(C, align(N))`, `repr(C, packed)`, tuple structs, and a
//! trailing slice field:
//!
//! ```
//! use axon_message::Schema;
//! use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
//!
//! #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
//! #[repr(C, align(64))]
//! struct Aligned { a: u64, _pad: [u8; 56] }
//!
//! #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
//! #[repr(C)]
//! #[axon(name = "demo/Pair")]
//! struct Pair(u32, u32);
//!
//! #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
//! #[repr(C)]
//! struct Samples { count: u64, data: [u64] }
//!
//! // A byte slice after an 8-aligned field would leave trailing padding for
//! // most lengths, which `IntoBytes` refuses; `packed` removes it. (Without
//! // `IntoBytes` the type would still be a `Message`.)
//! #[derive(FromBytes, IntoBytes, KnownLayout, Immutable, axon_derive::Message)]
//! #[repr(C, packed)]
//! struct Blob { stamp: u64, data: [u8] }
//!
//! assert_eq!(Pair::TYPE_NAME, "demo/Pair");
//! assert_ne!(Aligned::FINGERPRINT, Pair::FINGERPRINT);
//! assert_ne!(Samples::FINGERPRINT, Blob::FINGERPRINT);
//! ```

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Data, DeriveInput, Fields, LitStr, Type};

/// Derives `axon_message::Schema` and `axon_message::Message`; see the crate documentation.
#[proc_macro_derive(Message, attributes(axon))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// `#[axon::message]`: makes a struct an axon message with one line.
///
/// It adds `#[repr(C)]` (unless a `repr` with `C` is already there), the
/// zerocopy derives `FromBytes, IntoBytes, KnownLayout, Immutable` with
/// their paths through `axon`'s re-export (`#[zerocopy(crate =
/// "::axon::zerocopy")]`), so the crate needs no `zerocopy` dependency of
/// its own, and the `Schema` + `Message` impls of `#[derive(Message)]`.
///
/// Options: `#[axon::message(name = "pkg/Name")]` sets the type name (as
/// `#[axon(name = ..)]` does for the derive); `#[axon::message(padded)]`
/// leaves out `IntoBytes`, for a struct with padding bytes (zerocopy refuses
/// `IntoBytes` there; the type is still a `Message`, published by loan).
///
/// ```
/// // A crate that depends on `axon-message` alone names zerocopy directly.
/// # use axon_message::Schema;
/// #[axon_derive::message]
/// #[derive(Debug, Clone, Copy)]
/// struct Wheel { left: f64, right: f64 }
///
/// #[axon_derive::message(name = "demo/Padded", padded)]
/// struct Padded { a: u8, b: u64 }
///
/// assert_eq!(Wheel::TYPE_NAME, "axon-derive/Wheel");
/// assert_eq!(Padded::TYPE_NAME, "demo/Padded");
/// ```
///
/// Unknown options are refused:
///
/// ```compile_fail
/// #[axon_derive::message(title = "x")]
/// struct Bad { a: u64 }
/// ```
#[proc_macro_attribute]
pub fn message(args: TokenStream, item: TokenStream) -> TokenStream {
    let item2: TokenStream2 = item.clone().into();
    match expand_attribute(args.into(), item2) {
        Ok(tokens) => tokens.into(),
        Err(err) => {
            // The item as written too, so that its uses do not add errors.
            let item: TokenStream2 = item.into();
            let err = err.to_compile_error();
            quote!(#err #item).into()
        }
    }
}

fn expand_attribute(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut input: DeriveInput = syn::parse2(item)?;
    let mut name: Option<LitStr> = None;
    let mut padded = false;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("padded") {
            padded = true;
            Ok(())
        } else {
            Err(meta.error(
                "unknown #[axon::message] option; expected `name = \"pkg/Name\"` or `padded`",
            ))
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    if let Some(name) = &name {
        input.attrs.push(syn::parse_quote!(#[axon(name = #name)]));
    }
    if matches!(input.data, Data::Struct(_)) && check_repr(&input).is_err() {
        input.attrs.push(syn::parse_quote!(#[repr(C)]));
    }
    let impls = expand(&input)?;
    // No `#[derive(Message)]` is applied, so its helper attribute would be
    // unknown: the options were read by `expand` above.
    input.attrs.retain(|a| !a.path().is_ident("axon"));

    let zerocopy = zerocopy_path();
    let zerocopy_str = zerocopy.to_string().replace(' ', "");
    let mut derives = vec![quote!(#zerocopy::FromBytes)];
    if !padded {
        derives.push(quote!(#zerocopy::IntoBytes));
    }
    derives.push(quote!(#zerocopy::KnownLayout));
    derives.push(quote!(#zerocopy::Immutable));
    Ok(quote! {
        #[derive(#(#derives),*)]
        #[zerocopy(crate = #zerocopy_str)]
        #input
        #impls
    })
}

/// What the `#[axon(..)]` attributes say.
#[derive(Default)]
struct Options {
    name: Option<LitStr>,
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    // Collect every problem before giving up, so a user fixes them in one go.
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };

    let data = match &input.data {
        Data::Struct(data) => Some(data),
        Data::Enum(e) => {
            push(not_a_struct(e.enum_token.span));
            None
        }
        Data::Union(u) => {
            push(not_a_struct(u.union_token.span));
            None
        }
    };
    // An enum's repr is beside the point; say only that it is not a struct.
    let mut repr = Repr::default();
    if data.is_some() {
        match check_repr(input) {
            Ok(r) => repr = r,
            Err(e) => push(e),
        }
    }
    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        push(syn::Error::new(
            input.generics.span(),
            "#[derive(Message)] does not support generic structs: implement `Schema` and \
             `Message` by hand, with a fingerprint that includes the parameters",
        ));
    }
    let options = match parse_options(input) {
        Ok(options) => options,
        Err(e) => {
            push(e);
            Options::default()
        }
    };
    if let Some(errors) = errors {
        return Err(errors);
    }
    let data = data.expect("non-structs were reported above");

    let krate = crate_path();
    let ident = &input.ident;
    let type_name = match &options.name {
        Some(name) => quote!(#name),
        None => {
            let ident_str = ident.to_string();
            quote!(::core::concat!(::core::env!("CARGO_PKG_NAME"), "/", #ident_str))
        }
    };

    let fields: Vec<_> = match &data.fields {
        Fields::Named(named) => named.named.iter().collect(),
        Fields::Unnamed(unnamed) => unnamed.unnamed.iter().collect(),
        Fields::Unit => Vec::new(),
    };
    let field_count = fields.len() as u64;
    let mut steps = Vec::with_capacity(fields.len());
    let mut described = Vec::with_capacity(fields.len());
    let mut aligns = Vec::with_capacity(fields.len());
    let mut trailing_slice = false;
    let mut tail_offset = quote!(0usize);
    for (index, field) in fields.iter().enumerate() {
        let member = match &field.ident {
            Some(ident) => quote!(#ident),
            None => {
                let index = syn::Index::from(index);
                quote!(#index)
            }
        };
        let name = match &field.ident {
            Some(ident) => ident.to_string(),
            None => index.to_string(),
        };
        let ty = &field.ty;
        let span = ty.span();
        let is_last = index + 1 == fields.len();
        match (ty, is_last) {
            (Type::Slice(slice), true) => {
                trailing_slice = true;
                let elem = &slice.elem;
                steps.push(quote_spanned! {span=>
                    .str(#name)
                    .u64(<#ty as #krate::Schema>::FINGERPRINT)
                    .u64(::core::mem::align_of::<#elem>() as u64)
                });
                aligns.push(quote!(::core::mem::align_of::<#elem>()));
                // The slice starts at the end of the field before it, rounded
                // up to the element's alignment (capped by `packed(N)`).
                if index > 0 {
                    let prev = fields[index - 1];
                    let prev_ty = &prev.ty;
                    let prev_member = match &prev.ident {
                        Some(ident) => quote!(#ident),
                        None => {
                            let index = syn::Index::from(index - 1);
                            quote!(#index)
                        }
                    };
                    let elem_align = match repr.packed {
                        Some(n) => {
                            quote!(#krate::desc::min(::core::mem::align_of::<#elem>(), #n as usize))
                        }
                        None => quote!(::core::mem::align_of::<#elem>()),
                    };
                    tail_offset = quote! {
                        #krate::desc::round_up(
                            ::core::mem::offset_of!(#ident, #prev_member)
                                + ::core::mem::size_of::<#prev_ty>(),
                            #elem_align,
                        )
                    };
                }
                described.push(quote_spanned! {span=>
                    #krate::desc::Field {
                        name: #name,
                        offset: #tail_offset,
                        kind: <#ty as #krate::Schema>::KIND,
                        padding: false,
                    }
                });
            }
            _ => {
                steps.push(quote_spanned! {span=>
                    .str(#name)
                    .u64(<#ty as #krate::Schema>::FINGERPRINT)
                    .u64(::core::mem::offset_of!(#ident, #member) as u64)
                });
                aligns.push(quote!(::core::mem::align_of::<#ty>()));
                // Padding: a byte array (however it is spelled) named `_...`.
                let underscore = name.starts_with('_');
                described.push(quote_spanned! {span=>
                    #krate::desc::Field {
                        name: #name,
                        offset: ::core::mem::offset_of!(#ident, #member),
                        kind: <#ty as #krate::Schema>::KIND,
                        padding: #underscore
                            && #krate::desc::is_byte_array(&<#ty as #krate::Schema>::KIND),
                    }
                });
            }
        }
    }
    // A sized struct's size and alignment are the compiler's; a slice
    // message's (unsized) are computed as `repr(C)` lays it out.
    let (size, align) = if trailing_slice {
        let mut align = quote!(1usize);
        for a in &aligns {
            align = match repr.packed {
                Some(n) => quote!(#krate::desc::max(#align, #krate::desc::min(#a, #n as usize))),
                None => quote!(#krate::desc::max(#align, #a)),
            };
        }
        if let Some(n) = repr.align {
            align = quote!(#krate::desc::max(#align, #n as usize));
        }
        (tail_offset, align)
    } else {
        (
            quote!(::core::mem::size_of::<#ident>()),
            quote!(::core::mem::align_of::<#ident>()),
        )
    };
    let tail = if trailing_slice {
        quote!(.str("slice"))
    } else {
        quote! {
            .u64(::core::mem::size_of::<#ident>() as u64)
            .u64(::core::mem::align_of::<#ident>() as u64)
        }
    };

    Ok(quote! {
        #[automatically_derived]
        impl #krate::Schema for #ident {
            const TYPE_NAME: &'static str = #type_name;
            const FINGERPRINT: u64 = #krate::Fingerprint::new()
                .str("struct")
                .str(<Self as #krate::Schema>::TYPE_NAME)
                .u64(#field_count)
                #(#steps)*
                #tail
                .finish();
            const KIND: #krate::Kind = #krate::Kind::Struct(&#krate::desc::TypeDesc {
                name: <Self as #krate::Schema>::TYPE_NAME,
                size: #size,
                align: #align,
                fields: &[#(#described),*],
            });
        }

        #[automatically_derived]
        impl #krate::Message for #ident {}
    })
}

fn not_a_struct(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "axon messages must be structs; use a u8/u32 field with constants for enumerations",
    )
}

/// What `#[repr(..)]` says beyond `C`: `packed` (as `packed(1)`) or
/// `packed(N)`, and `align(N)`.
#[derive(Default, Clone, Copy)]
struct Repr {
    packed: Option<u64>,
    align: Option<u64>,
}

/// Requires `C` among the `#[repr(..)]` hints (`repr(C)`, `repr(C, align(N))`,
/// `repr(C, packed)`, or `C` and `align` in separate attributes).
fn check_repr(input: &DeriveInput) -> syn::Result<Repr> {
    let mut has_c = false;
    let mut repr = Repr::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") {
                has_c = true;
            }
            let packed = meta.path.is_ident("packed");
            if packed {
                repr.packed = Some(1);
            }
            // The argument of `align(N)` / `packed(N)`; rustc checks it.
            if meta.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in meta.input);
                let value: Option<syn::LitInt> = content.parse().ok();
                let _: TokenStream2 = content.parse()?;
                let value = value.and_then(|v| v.base10_parse::<u64>().ok());
                if packed {
                    repr.packed = value.or(Some(1));
                } else if meta.path.is_ident("align") {
                    repr.align = value;
                }
            }
            Ok(())
        })?;
    }
    if has_c {
        Ok(repr)
    } else {
        Err(syn::Error::new(
            input.ident.span(),
            "axon messages must be #[repr(C)] (optionally with align(N) or packed), \
             so that every process agrees on the layout",
        ))
    }
}

fn parse_options(input: &DeriveInput) -> syn::Result<Options> {
    let mut options = Options::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("axon")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let name: LitStr = meta.value()?.parse()?;
                if name.value().is_empty() {
                    return Err(syn::Error::new(
                        name.span(),
                        "the type name must not be empty",
                    ));
                }
                options.name = Some(name);
                Ok(())
            } else {
                Err(meta.error("unknown axon option; expected `name = \"pkg/Name\"`"))
            }
        })?;
    }
    Ok(options)
}

/// The path of zerocopy as the crate being compiled can name it: through
/// `axon`'s re-export when it depends on `axon`, else its own `zerocopy`
/// (crates on `axon-message` alone, such as `axon-msgs`, list it).
fn zerocopy_path() -> TokenStream2 {
    use proc_macro_crate::{crate_name, FoundCrate};
    match crate_name("axon") {
        Ok(FoundCrate::Itself) => quote!(::axon::zerocopy),
        Ok(FoundCrate::Name(name)) => {
            let ident = syn::Ident::new(&name, Span::call_site());
            quote!(::#ident::zerocopy)
        }
        Err(_) if crate_name("axon-message").is_ok() => quote!(::zerocopy),
        Err(_) => quote!(::axon::zerocopy),
    }
}

/// The path of the crate that defines `Schema`, `Message` and `Fingerprint`,
/// as the crate being compiled can name it.
fn crate_path() -> TokenStream2 {
    use proc_macro_crate::{crate_name, FoundCrate};

    let named = |name: &str| {
        let ident = syn::Ident::new(name, Span::call_site());
        quote!(::#ident)
    };
    // The runtime first: a user of `axon` usually does not list `axon-message`.
    // Inside `axon` itself `::axon` works thanks to `extern crate self as axon`.
    match crate_name("axon") {
        Ok(FoundCrate::Itself) => return quote!(::axon),
        Ok(FoundCrate::Name(name)) => return named(&name),
        Err(_) => {}
    }
    match crate_name("axon-message") {
        // `Itself` also covers the package's examples and doc tests, where
        // `crate` is not axon-message; only its library is.
        Ok(FoundCrate::Itself)
            if std::env::var("CARGO_CRATE_NAME").as_deref() == Ok("axon_message") =>
        {
            quote!(crate)
        }
        Ok(FoundCrate::Itself) => quote!(::axon_message),
        Ok(FoundCrate::Name(name)) => named(&name),
        // Neither is listed (e.g. a build outside cargo): assume the runtime.
        Err(_) => quote!(::axon),
    }
}
