//! The one place atomics come from, so that the lock-free protocol can be
//! model-checked: under `cfg(loom)` these are loom's instrumented types
//! (crossbeam does the same).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
