//! The one place where shared memory becomes a numpy array: the only
//! `unsafe` of this crate.
//!
//! # The lifetime rule
//!
//! A numpy array made here points straight into a slot of a topic's
//! mapped segment. Its `base` is a [`Lease`]: numpy keeps the base alive as
//! long as the array or any view derived from it (slices, `.view(dtype)`,
//! `np.asarray`) lives, and every lease holds an `Arc` of the
//! [`Slot`] it points into. A slot stays valid (mapped and ours) while that
//! `Arc` lives:
//! - the `Arc` keeps the subscriber (or publisher) and so its segment's
//!   mapping alive;
//! - a received sample's hazard (a loan's slot) is given back only by
//!   `Slot::finish`, which refuses while a lease is alive
//!   ([`Slot::views`] counts them), or by `Slot`'s `Drop`, which runs only
//!   when no lease (and no Python sample object) is left.
//!
//! So `sample.release()` while a view is alive raises `BufferError`
//! instead of freeing memory a view still reads, and a view can never
//! outlive its slot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axon::{HeldLoan, HeldSample, RawPublisher, RawSubscriber};
use numpy::ndarray::ArrayView1;
use numpy::{PyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::{PyBufferError, PyRuntimeError};
use pyo3::prelude::*;

/// What a [`Slot`] holds: a received sample or an unsent loan.
pub(crate) enum Held {
    /// A received sample and its subscriber.
    Sample(Arc<Mutex<RawSubscriber>>, HeldSample),
    /// An unsent loan and its publisher.
    Loan(Arc<Mutex<RawPublisher>>, HeldLoan),
}

/// A slot in shared memory that numpy arrays may point into.
pub(crate) struct Slot {
    /// `None` once released (sample) or sent/dropped (loan).
    held: Mutex<Option<Held>>,
    /// Live [`Lease`]s (numpy arrays into the slot).
    views: AtomicUsize,
    /// Release (drop a loan) when the last view goes: what the end of a
    /// `with` block asks while views are alive.
    deferred: std::sync::atomic::AtomicBool,
}

/// How a loan ends.
pub(crate) enum Finish {
    /// Release a sample / drop a loan unsent.
    Release,
    /// Send a loan (its sequence number is returned).
    Send,
}

impl Slot {
    pub(crate) fn new(held: Held) -> Arc<Slot> {
        Arc::new(Slot {
            held: Mutex::new(Some(held)),
            views: AtomicUsize::new(0),
            deferred: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Live numpy views into the slot.
    pub(crate) fn views(&self) -> usize {
        self.views.load(Ordering::Acquire)
    }

    pub(crate) fn is_live(&self) -> bool {
        self.held.lock().map(|h| h.is_some()).unwrap_or(false)
    }

    /// Reads the slot's payload bytes (a copy-free look), if still held.
    /// `f` runs under the slot's lock: it must not call into Python (the GC
    /// may drop a [`Lease`] of this slot, which takes the same lock).
    pub(crate) fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
        let mut guard = self.held.lock().map_err(poisoned)?;
        match guard.as_mut() {
            None => Err(released()),
            Some(Held::Sample(sub, h)) => {
                let sub = sub.lock().map_err(poisoned)?;
                let bytes = sub.held_bytes(h).ok_or_else(foreign)?;
                Ok(f(bytes))
            }
            Some(Held::Loan(publ, h)) => {
                let publ = publ.lock().map_err(poisoned)?;
                let bytes = publ.held_bytes_mut(h).ok_or_else(foreign)?;
                Ok(f(bytes))
            }
        }
    }

    /// Writes into a loan's payload bytes.
    pub(crate) fn with_bytes_mut<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> PyResult<R> {
        let mut guard = self.held.lock().map_err(poisoned)?;
        match guard.as_mut() {
            None => Err(released()),
            Some(Held::Sample(..)) => {
                Err(PyRuntimeError::new_err("a received sample is read-only"))
            }
            Some(Held::Loan(publ, h)) => {
                let publ = publ.lock().map_err(poisoned)?;
                let bytes = publ.held_bytes_mut(h).ok_or_else(foreign)?;
                Ok(f(bytes))
            }
        }
    }

    /// Releases the sample (drops the loan) now if no view is alive, else
    /// when the last view goes. Returns whether it happened now.
    pub(crate) fn release_when_unused(&self) -> PyResult<bool> {
        let mut guard = self.held.lock().map_err(poisoned)?;
        if self.views() > 0 {
            self.deferred.store(true, Ordering::Release);
            return Ok(false);
        }
        if let Some(held) = guard.take() {
            end(held);
        }
        Ok(true)
    }

    /// Releases the sample, or sends / drops the loan; refused while numpy
    /// views are alive. Returns the sequence number of a sent loan.
    pub(crate) fn finish(&self, how: Finish) -> PyResult<Option<u64>> {
        let mut guard = self.held.lock().map_err(poisoned)?;
        let n = self.views();
        if n > 0 && guard.is_some() {
            return Err(PyBufferError::new_err(format!(
                "{n} numpy view(s) of this sample are still alive: delete them (del arr) before {}",
                match (&how, guard.as_ref()) {
                    (Finish::Send, _) => "sending it",
                    (_, Some(Held::Loan(..))) => "discarding it",
                    _ => "releasing it",
                }
            )));
        }
        match (guard.take(), how) {
            (None, _) => Ok(None),
            (Some(held), Finish::Release) => {
                end(held);
                Ok(None)
            }
            (Some(Held::Loan(publ, h)), Finish::Send) => {
                let sent = publ.lock().map_err(poisoned)?.send_held(h);
                match sent {
                    Ok(seq) => Ok(Some(seq)),
                    Err(h) => {
                        *guard = Some(Held::Loan(publ, h));
                        Err(foreign())
                    }
                }
            }
            (Some(held @ Held::Sample(..)), Finish::Send) => {
                *guard = Some(held);
                Err(PyRuntimeError::new_err("a received sample cannot be sent"))
            }
        }
    }
}

/// Gives a slot back (a sample's hazard, an unsent loan's slot).
fn end(held: Held) {
    match held {
        Held::Sample(sub, h) => {
            if let Ok(sub) = sub.lock() {
                let _ = sub.release_held(h);
            }
        }
        Held::Loan(publ, h) => {
            if let Ok(publ) = publ.lock() {
                let _ = publ.drop_held(h);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // No lease is left (each holds an `Arc<Slot>`), so no array points here.
        if let Some(held) = self.held.get_mut().ok().and_then(Option::take) {
            end(held);
        }
    }
}

fn poisoned<T>(_: T) -> PyErr {
    PyRuntimeError::new_err("axon: a lock was poisoned by an earlier panic")
}

fn released() -> PyErr {
    PyRuntimeError::new_err(
        "this sample was released (or sent): its shared-memory slot may already hold another message",
    )
}

fn foreign() -> PyErr {
    PyRuntimeError::new_err("sample does not belong to this endpoint")
}

/// The base object of every numpy array into shared memory: keeps its
/// [`Slot`] held while the array (or a view of it) lives.
#[pyclass(frozen, module = "axon._axon")]
pub(crate) struct Lease {
    slot: Arc<Slot>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Under the lock `finish` and `release_when_unused` take, so a
        // deferred release cannot be missed or done twice.
        let Ok(mut guard) = self.slot.held.lock() else {
            return;
        };
        let left = self.slot.views.fetch_sub(1, Ordering::AcqRel) - 1;
        if left == 0 && self.slot.deferred.load(Ordering::Acquire) {
            if let Some(held) = guard.take() {
                end(held);
            }
        }
    }
}

/// A 1-D `uint8` numpy array over the slot's whole payload (writable for a
/// loan, read-only for a received sample).
/// A `uint8` numpy array of bytes `start..start + len` of the slot's
/// payload (`len` `None`: to its end), read-only for a received sample;
/// `ValueError` if the range is not inside the payload.
pub(crate) fn byte_array<'py>(
    py: Python<'py>,
    slot: &Arc<Slot>,
    start: usize,
    len: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let (ptr, len, is_loan) = {
        let mut guard = slot.held.lock().map_err(poisoned)?;
        let r = match guard.as_mut() {
            None => return Err(released()),
            Some(Held::Sample(sub, h)) => {
                let sub = sub.lock().map_err(poisoned)?;
                let b = sub.held_bytes(h).ok_or_else(foreign)?;
                let r = range(b.len(), start, len)?;
                (b[r.clone()].as_ptr(), r.len(), false)
            }
            Some(Held::Loan(publ, h)) => {
                let publ = publ.lock().map_err(poisoned)?;
                let b = publ.held_bytes_mut(h).ok_or_else(foreign)?;
                let r = range(b.len(), start, len)?;
                (b[r.clone()].as_mut_ptr() as *const u8, r.len(), true)
            }
        };
        // Counted under the lock `finish` takes: from here on it refuses.
        slot.views.fetch_add(1, Ordering::AcqRel);
        r
    };
    // From here the count is the lease's: its `Drop` takes it back.
    let lease = Bound::new(py, Lease { slot: slot.clone() })?;
    // SAFETY: (1) `ptr..ptr + len` is the slot's payload, which the
    // subscriber's hazard (or the publisher's loan) keeps ours and the
    // segment mapping keeps mapped while the `Slot` is held (module docs);
    // (2) the array's base is `lease`, which holds an `Arc<Slot>`, and
    // `Slot::finish` refuses while `views > 0` (counted above, uncounted only
    // when the lease drops), so the slot outlives every array into it;
    // (3) `ptr` is non-null (a mapping address) and `u8` needs no alignment;
    // (4) a received sample's array is made read-only below before Python
    // sees it, and any bytes a peer writes are valid `u8`s.
    let view = unsafe { ArrayView1::from_shape_ptr(len, ptr) };
    // SAFETY: as above: `view`'s memory lives as long as `lease`, the
    // container numpy keeps as the array's base.
    let array = unsafe { PyArray1::<u8>::borrow_from_array(&view, lease.into_any()) };
    if !is_loan {
        // SAFETY: `array` is the array made just above, not yet seen by
        // Python or any other thread; clearing WRITEABLE on its own flags
        // is what numpy's `PyArray_CLEARFLAGS` does (and `setflags(write=False)`,
        // which costs a Python method call).
        unsafe {
            (*array.as_array_ptr()).fields.flags &= !numpy::npyffi::NPY_ARRAY_WRITEABLE;
        }
    }
    Ok(array.into_any())
}

/// The range `start..start + len` (`len` `None`: to `total`) if it lies in
/// `0..total`, or `ValueError`.
fn range(total: usize, start: usize, len: Option<usize>) -> PyResult<std::ops::Range<usize>> {
    let end = match len {
        Some(n) => start.checked_add(n),
        None => Some(total),
    };
    match end {
        Some(e) if start <= e && e <= total => Ok(start..e),
        _ => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "bytes {start}..{} are not inside the {total}-byte sample",
            end.map_or("overflow".to_string(), |e| e.to_string()),
        ))),
    }
}
