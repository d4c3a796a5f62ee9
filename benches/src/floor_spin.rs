//! Floor: both sides busy-spin on a shared atomic counter. The cache-line transfer floor.

use std::sync::atomic::Ordering;

use crate::shm::{spin_for_change, Counters, Dir, ShmPingPong, Wake};
use crate::Watchdog;

/// Busy spinning: post is a Release store, wait spins with `spin_loop` until the word changes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spin;

impl Wake for Spin {
    type Control = Counters;

    fn post(&self, ctl: &Counters, dir: Dir, n: u32) -> anyhow::Result<()> {
        // SYNC POINT: Release pairs with the Acquire in `spin_for_change` on the other side.
        ctl.word(dir).store(n, Ordering::Release);
        Ok(())
    }

    fn wait(&self, ctl: &Counters, dir: Dir, old: u32, wd: &Watchdog) -> anyhow::Result<u32> {
        spin_for_change(ctl.word(dir), old, wd)
    }
}

/// Shared memory, both sides busy-spinning.
pub static SPIN: ShmPingPong<Spin> = ShmPingPong::new("floor/spin", false, Spin);
