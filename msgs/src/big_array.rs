//! Serde for arrays longer than 32 elements (`#[serde(with = "crate::big_array")]`),
//! which serde does not implement: a sequence of exactly `N` elements.

use serde::de::Error;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) fn serialize<S, T, const N: usize>(
    array: &[T; N],
    serializer: S,
) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: Serialize,
{
    serializer.collect_seq(array)
}

pub(crate) fn deserialize<'de, D, T, const N: usize>(deserializer: D) -> Result<[T; N], D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let elements = Vec::<T>::deserialize(deserializer)?;
    let len = elements.len();
    elements
        .try_into()
        .map_err(|_| D::Error::invalid_length(len, &format!("an array of {N} elements").as_str()))
}
