//! Shared memory for the floors: one memfd mapped in both processes.
//!
//! Layout (all offsets page-aligned):
//!
//! ```text
//! [ control block: one page, a #[repr(C)] struct of cache-line padded words ]
//! [ buffer A: parent -> child payload, size rounded up to pages ]
//! [ buffer B: child -> parent payload ]
//! ```
//!
//! The parent creates the memfd (`MFD_CLOEXEC`, so nothing ever shows in `/dev/shm` and the
//! memory is freed when the last process closes it, even after a crash) and passes
//! `/proc/<parent>/fd/<fd>` to the child, which opens it as a file.
//!
//! [`ShmPingPong`] is the protocol every shared-memory floor shares; a floor only supplies its
//! wake-up ([`Wake`]). Per direction: the writer fills the payload buffer (with `Touch::All`)
//! and stores the 8-byte header next to the counter (same cache line), then bumps that
//! direction's counter word (Release) and wakes the reader; the reader waits for the counter to
//! change (Acquire), then reads the buffer. The protocol alternates strictly, so each buffer has
//! one writer at a time.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use anyhow::{ensure, Context as _};
use memmap2::MmapMut;

use crate::{read_body, write_body, Ctx, Endpoint, Mechanism, Payload, Pinger, Ponger, Watchdog};

const PAGE: usize = 4096;

/// Aligns its content to 128 bytes: two cache lines, because x86's adjacent-line prefetcher
/// pulls pairs of lines.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub struct Padded<T>(pub T);

/// A type that may live in the control block.
///
/// # Safety
///
/// Implementors promise: (1) `#[repr(C)]`, size and alignment at most one page; (2) all-zero
/// bytes are a valid value (a fresh memfd is zero-filled); (3) every field that either process
/// writes is interior-mutable and safe to share between processes (atomics, or OS primitives
/// made for process sharing behind `UnsafeCell`).
pub unsafe trait Control: Sync {
    /// The message slots every shared-memory floor uses.
    fn counters(&self) -> &Counters;
}

/// Which side of the mapping a process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Writes buffer A, reads buffer B.
    Parent,
    /// Writes buffer B, reads buffer A.
    Child,
}

/// A mapped memfd split into a control block and two payload buffers.
pub struct ShmRegion {
    map: MmapMut,
    buf_len: usize,
    payload: usize,
    _file: File,
}

fn buffer_len(payload: usize) -> usize {
    payload.div_ceil(PAGE) * PAGE
}

impl ShmRegion {
    /// Creates the memfd (parent side). Returns the region and the path the child opens.
    pub fn create(name: &str, payload: usize) -> anyhow::Result<(Self, String)> {
        use nix::sys::memfd::{memfd_create, MFdFlags};
        let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC).context("memfd_create")?;
        let file = File::from(fd);
        let buf_len = buffer_len(payload);
        file.set_len((PAGE + 2 * buf_len) as u64)
            .context("sizing the memfd")?;
        let handle = format!("/proc/{}/fd/{}", std::process::id(), file.as_raw_fd());
        Ok((Self::map(file, payload)?, handle))
    }

    /// Opens the memfd the parent created (child side).
    pub fn open(handle: &str, payload: usize) -> anyhow::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(handle)
            .with_context(|| format!("opening {handle}"))?;
        let len = file.metadata()?.len();
        ensure!(
            len == (PAGE + 2 * buffer_len(payload)) as u64,
            "{handle} has {len} bytes, not the layout for a {payload}-byte payload"
        );
        Self::map(file, payload)
    }

    fn map(file: File, payload: usize) -> anyhow::Result<Self> {
        // SAFETY: (1) the file is a memfd of fixed size that nobody truncates while mapped
        // (only this harness holds it); (2) the bytes are shared with the other process on
        // purpose: every access to the control block goes through atomics or process-shared OS
        // primitives, and a payload buffer is only touched by the side the protocol gives it to.
        let mut map = unsafe { MmapMut::map_mut(&file) }.context("mmap")?;
        // Fault the pages in now, so the first samples do not pay for it.
        for page in map.chunks_mut(PAGE) {
            std::hint::black_box(&mut page[0]);
        }
        Ok(Self {
            map,
            buf_len: buffer_len(payload),
            payload,
            _file: file,
        })
    }

    /// The control block, the buffer this side writes, and the buffer it reads.
    pub fn parts<C: Control>(&mut self, side: Side) -> (&C, &mut [u8], &[u8]) {
        const { assert!(std::mem::size_of::<C>() <= PAGE && std::mem::align_of::<C>() <= PAGE) };
        let (ctl, bufs) = self.map.split_at_mut(PAGE);
        let (a, b) = bufs.split_at_mut(self.buf_len);
        let (a, b) = (&mut a[..self.payload], &mut b[..self.payload]);
        // SAFETY: (1) `ctl` is one page at the page-aligned start of the mapping, and `C` fits
        // in a page with at most page alignment (checked above); (2) the memory is initialised
        // (zero-filled by the kernel) and zero is a valid `C` (the `Control` contract); (3) we
        // hand out only a shared reference, and `C` is interior-mutable, so the other process
        // writing it concurrently is what `C`'s atomics are for.
        let ctl = unsafe { &*ctl.as_ptr().cast::<C>() };
        match side {
            Side::Parent => (ctl, a, b),
            Side::Child => (ctl, b, a),
        }
    }
}

/// Direction of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Parent to child.
    ToChild = 0,
    /// Child to parent.
    ToParent = 1,
}

/// A wake-up mechanism over the shared control block.
pub trait Wake: Clone + Send + Sync + 'static {
    /// Its control block.
    type Control: Control;
    /// Parent side, once, before the child starts.
    fn init(&self, _ctl: &Self::Control) -> anyhow::Result<()> {
        Ok(())
    }
    /// Publishes counter value `n` for direction `dir` and wakes its reader.
    fn post(&self, ctl: &Self::Control, dir: Dir, n: u32) -> anyhow::Result<()>;
    /// Waits until the counter of `dir` differs from `old`; returns the new value.
    fn wait(&self, ctl: &Self::Control, dir: Dir, old: u32, wd: &Watchdog) -> anyhow::Result<u32>;
    /// Parent side, once, after the child is gone.
    fn destroy(&self, _ctl: &Self::Control) {}
}

/// One direction's message slot: the counter the reader waits on, and the 8-byte header on the
/// same cache line, so that a small message costs one cache-line transfer.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Slot {
    /// Message counter (the futex word); its Release store by the writer pairs with the
    /// reader's Acquire load.
    pub word: AtomicU32,
    /// The message header (sequence number), written before `word`.
    pub seq: AtomicU64,
}

/// The slots of the two directions, each on its own cache lines. Enough for the wake-ups that
/// need nothing else.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Counters {
    /// Message slot per [`Dir`].
    pub slot: [Padded<Slot>; 2],
    /// Set by a reader that is about to sleep on its `word` (spin-then-futex only).
    pub sleeping: [Padded<AtomicU32>; 2],
}

impl Counters {
    /// The counter word of `dir`.
    pub fn word(&self, dir: Dir) -> &AtomicU32 {
        &self.slot[dir as usize].0.word
    }
}

// SAFETY: repr(C), 512 bytes, all-zero is valid, only atomics.
unsafe impl Control for Counters {
    fn counters(&self) -> &Counters {
        self
    }
}

/// A shared-memory floor: [`ShmRegion`] plus a [`Wake`].
pub struct ShmPingPong<W: Wake> {
    id: &'static str,
    sleeps: bool,
    wake: W,
}

impl<W: Wake> ShmPingPong<W> {
    /// A floor named `id` that wakes with `wake`.
    pub const fn new(id: &'static str, sleeps: bool, wake: W) -> Self {
        Self { id, sleeps, wake }
    }
}

struct End<W: Wake> {
    shm: ShmRegion,
    side: Side,
    wake: W,
    /// Last counter value this side sent.
    sent: u32,
    /// Last counter value this side received.
    seen: u32,
    touch: crate::Touch,
}

impl<W: Wake> Endpoint for End<W> {
    fn send(&mut self, seq: u64) -> anyhow::Result<()> {
        let (ctl, out, _) = self.shm.parts::<W::Control>(self.side);
        write_body(out, seq, self.touch);
        self.sent = self.sent.wrapping_add(1);
        let dir = match self.side {
            Side::Parent => Dir::ToChild,
            Side::Child => Dir::ToParent,
        };
        // Ordered before the reader's load by the wake-up's Release post / Acquire wait.
        ctl.counters().slot[dir as usize]
            .0
            .seq
            .store(seq, Ordering::Relaxed);
        self.wake.post(ctl, dir, self.sent)
    }

    fn receive(&mut self, wd: &Watchdog) -> anyhow::Result<u64> {
        let (ctl, _, inn) = self.shm.parts::<W::Control>(self.side);
        let dir = match self.side {
            Side::Parent => Dir::ToParent,
            Side::Child => Dir::ToChild,
        };
        self.seen = self.wake.wait(ctl, dir, self.seen, wd)?;
        let seq = ctl.counters().slot[dir as usize]
            .0
            .seq
            .load(Ordering::Relaxed);
        read_body(inn, self.touch);
        Ok(seq)
    }
}

impl<W: Wake> Drop for End<W> {
    fn drop(&mut self) {
        if self.side == Side::Parent {
            let (ctl, _, _) = self.shm.parts::<W::Control>(self.side);
            self.wake.destroy(ctl);
        }
    }
}

impl<W: Wake> Mechanism for ShmPingPong<W> {
    fn id(&self) -> &'static str {
        self.id
    }

    fn sleeps(&self) -> bool {
        self.sleeps
    }

    fn create(
        &self,
        ctx: &Ctx,
        payload: Payload,
    ) -> anyhow::Result<(Box<dyn Pinger>, Vec<String>)> {
        let (mut shm, handle) = ShmRegion::create(&ctx.run_id.0, payload.size)?;
        let (ctl, _, _) = shm.parts::<W::Control>(Side::Parent);
        self.wake.init(ctl)?;
        let end = End {
            shm,
            side: Side::Parent,
            wake: self.wake.clone(),
            sent: 0,
            seen: 0,
            touch: payload.touch,
        };
        Ok((Box::new(end), vec![handle]))
    }

    fn open(
        &self,
        _ctx: &Ctx,
        payload: Payload,
        args: &[String],
    ) -> anyhow::Result<Box<dyn Ponger>> {
        let [handle] = args else {
            anyhow::bail!("{}: expected the memfd path", self.id);
        };
        let shm = ShmRegion::open(handle, payload.size)?;
        Ok(Box::new(End {
            shm,
            side: Side::Child,
            wake: self.wake.clone(),
            sent: 0,
            seen: 0,
            touch: payload.touch,
        }))
    }
}

/// Loads `word` with Acquire until it differs from `old`, spinning.
#[inline]
pub fn spin_for_change(word: &AtomicU32, old: u32, wd: &Watchdog) -> anyhow::Result<u32> {
    let mut v = old;
    // SYNC POINT: this Acquire pairs with the writer's Release store of the counter, so the
    // payload written before it is visible once the new value is seen.
    crate::spin_until(
        || {
            v = word.load(Ordering::Acquire);
            v != old
        },
        wd,
    )?;
    Ok(v)
}
