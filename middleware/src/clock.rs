//! The send stamp: `CLOCK_MONOTONIC` nanoseconds at a fraction of the cost
//! of reading that clock.
//!
//! Every sample carries its publisher's send time (`SampleInfo::sent_ns`),
//! so the clock is read on every send. A vDSO `clock_gettime` costs about
//! 25 ns on the project's machine and serializes the pipeline (it reads the
//! TSC with a fence), which the cross-process ping-pong showed as ~0.2x of
//! the atomic floor. Here the stamp is the TSC scaled to nanoseconds:
//!
//! - each thread keeps an *anchor* (a TSC reading and the clock at that
//!   moment) and re-reads the real clock when the anchor is more than
//!   [`REANCHOR_NS`] old, so the interpolation never runs longer than that;
//! - the rate (ns per tick, 32.32 fixed point) is measured over the thread's
//!   whole life (first anchor to the newest), so it gets more exact with age;
//!   until a first interval of [`REANCHOR_NS`] exists, stamps read the clock;
//! - stamps never go backwards within a thread.
//!
//! Only where the kernel itself uses the TSC as its clock source (it then
//! vouches that the TSC is invariant and synchronized across CPUs); anywhere
//! else, and on other architectures, [`stamp_ns`] is [`monotonic_ns`].
//!
//! Accuracy: between two anchors the error is the rate error times at most
//! [`REANCHOR_NS`]; with NTP slewing the clock by its maximum 500 ppm that is
//! 0.5 us, otherwise a few ns. Stamps of different processes are comparable
//! to that accuracy.

use std::cell::Cell;

use crate::sys::monotonic_ns;

/// How long a stamp may be interpolated from the TSC before the thread
/// reads the real clock again.
pub const REANCHOR_NS: u64 = 1_000_000;

#[derive(Clone, Copy)]
struct Anchor {
    /// First anchor of this thread (the rate's baseline); 0: none yet.
    base_tsc: u64,
    base_ns: u64,
    /// Newest anchor.
    tsc: u64,
    ns: u64,
    /// Nanoseconds per tick in 32.32 fixed point; 0 until measured.
    rate: u64,
    /// Ticks after `tsc` at which to re-anchor.
    horizon: u64,
}

thread_local! {
    static ANCHOR: Cell<Anchor> = const {
        Cell::new(Anchor { base_tsc: 0, base_ns: 0, tsc: 0, ns: 0, rate: 0, horizon: 0 })
    };
    /// The last stamp this thread returned (stamps never go backwards).
    static LAST: Cell<u64> = const { Cell::new(0) };
}

/// The current `CLOCK_MONOTONIC` time in ns, for stamping samples (see the
/// module docs for how, and how exact).
#[inline]
pub fn stamp_ns() -> u64 {
    let Some(tsc) = tsc() else {
        return monotonic_ns();
    };
    let ns = ANCHOR.with(|cell| {
        // A copy of which only the fields read below are loaded.
        let a = cell.get();
        let ticks = tsc.wrapping_sub(a.tsc);
        if a.rate != 0 && ticks < a.horizon {
            a.ns + ((ticks as u128 * a.rate as u128) >> 32) as u64
        } else {
            reanchor(cell)
        }
    });
    LAST.with(|last| {
        let ns = ns.max(last.get());
        last.set(ns);
        ns
    })
}

#[cold]
fn reanchor(cell: &Cell<Anchor>) -> u64 {
    let mut a = cell.get();
    let ns = reanchor_at(&mut a);
    cell.set(a);
    ns
}

fn reanchor_at(a: &mut Anchor) -> u64 {
    let Some((tsc, ns)) = clock_and_tsc() else {
        return monotonic_ns();
    };
    if a.base_tsc == 0 || tsc <= a.base_tsc || ns <= a.base_ns {
        *a = Anchor {
            base_tsc: tsc,
            base_ns: ns,
            tsc,
            ns,
            rate: 0,
            horizon: 0,
        };
        return ns;
    }
    a.tsc = tsc;
    a.ns = ns;
    let (dns, dticks) = (ns - a.base_ns, tsc - a.base_tsc);
    if dns >= REANCHOR_NS {
        a.rate = (((dns as u128) << 32) / dticks as u128) as u64;
        // Ticks per REANCHOR_NS at that rate.
        a.horizon = ((REANCHOR_NS as u128 * dticks as u128) / dns as u128) as u64;
    }
    ns
}

/// A clock reading and the TSC at the same moment: the clock read is
/// bracketed by two TSC reads and the tightest of a few tries is kept, so
/// a preemption between the two reads cannot skew an anchor.
fn clock_and_tsc() -> Option<(u64, u64)> {
    let mut best: Option<(u64, u64, u64)> = None; // (width, tsc, ns)
    for _ in 0..4 {
        let t1 = tsc()?;
        let ns = monotonic_ns();
        let t2 = tsc()?;
        let width = t2.wrapping_sub(t1);
        if best.is_none_or(|b| width < b.0) {
            best = Some((width, t1 + width / 2, ns));
        }
        // A clock read takes tens of ns: a bracket under ~10 us at any
        // plausible TSC rate had no preemption in it.
        if width < 20_000 {
            break;
        }
    }
    best.map(|(_, tsc, ns)| (tsc, ns))
}

/// The TSC, where the kernel's clock source is the TSC; `None` elsewhere.
#[inline]
fn tsc() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static TSC_IS_CLOCK: OnceLock<bool> = OnceLock::new();
        if *TSC_IS_CLOCK.get_or_init(kernel_clock_is_tsc) {
            // SAFETY: `rdtsc` exists on every x86_64 CPU and only reads a
            // counter; it has no memory effects.
            return Some(unsafe { core::arch::x86_64::_rdtsc() });
        }
    }
    None
}

#[cfg(target_arch = "x86_64")]
fn kernel_clock_is_tsc() -> bool {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .is_ok_and(|s| s.trim() == "tsc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_follow_the_monotonic_clock_and_never_go_back() {
        let mut last = 0;
        let start = monotonic_ns();
        // Long enough for the rate to be measured and several re-anchors.
        while monotonic_ns() - start < 5 * REANCHOR_NS {
            let before = monotonic_ns();
            let s = stamp_ns();
            let after = monotonic_ns();
            assert!(s >= last, "went back: {s} < {last}");
            // Interpolation error is far below 50 us (module docs: <= 0.5 us).
            assert!(
                s + 50_000 >= before && s <= after + 50_000,
                "{before} <= {s} <= {after} is off by more than 50 us"
            );
            last = s;
        }
    }
}
