//! `#[derive(Message)]`: see `axon::message`. (Being written.)
use proc_macro::TokenStream;

#[proc_macro_derive(Message, attributes(axon))]
pub fn derive_message(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
