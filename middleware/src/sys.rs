//! Every call into the operating system that the shared-memory transport
//! makes: segment files, advisory locks, mapping, clocks.
//!
//! File descriptors become owned types at once and are opened `O_CLOEXEC`
//! and `O_NOFOLLOW` (a segment is never reached through a symlink someone
//! else planted). Nothing above this module calls `libc` or `nix` for files.
//!
//! An existing segment is opened `O_NONBLOCK` too, and refused unless
//! `fstat` says it is a regular file ([`NotRegular`]): a FIFO in a
//! segment's place would block a read-only `open` until a writer came
//! (forever), and a socket, directory or device is no segment either.
//!
//! ## Liveness through open-file-description locks
//! A participant (publisher lane or subscriber record) owns its record by
//! holding an OFD write lock on one byte of the segment file (byte
//! `1 + record index`; byte 0 is the *admin* lock). The kernel drops the lock
//! when the owner's last descriptor closes, in particular when it is killed
//! with SIGKILL. So "is record *i* alive?" is one `F_OFD_GETLK`, immune to pid
//! reuse and to pid namespaces (two containers sharing `/dev/shm`). Each
//! publisher and subscriber opens the file itself, so two participants in one
//! process still see each other's locks.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use memmap2::{MmapOptions, MmapRaw};

/// Turns a `-1` return into `io::Error::last_os_error()`.
macro_rules! syscall {
    ($e:expr) => {{
        let r = $e;
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }};
}

/// An open segment file.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    file: File,
}

/// What `fstat` says about a segment file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileInfo {
    pub uid: u32,
    pub size: u64,
    pub ino: u64,
    pub dev: u64,
}

impl SegmentFile {
    /// Creates a new file that must not exist yet, with `mode` (not widened by umask).
    pub fn create_new(path: &Path, mode: u32) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)?;
        // The umask may have narrowed the mode; set exactly what was asked.
        nix::sys::stat::fchmod(&file, nix::sys::stat::Mode::from_bits_truncate(mode))?;
        Ok(SegmentFile { file })
    }

    /// Opens an existing file read-write.
    pub fn open(path: &Path) -> io::Result<Self> {
        Self::open_existing(path, true)
    }

    /// Opens an existing file read-only (tools that only look).
    pub fn open_read_only(path: &Path) -> io::Result<Self> {
        Self::open_existing(path, false)
    }

    /// Opens an existing regular file without ever blocking: `O_NONBLOCK`
    /// makes opening a FIFO return at once (it has no effect on a regular
    /// file), and `fstat` then refuses anything but a regular file. An open
    /// that fails on a file of another kind (a directory opened for
    /// writing, a socket, a symlink under `O_NOFOLLOW`) reports that kind.
    fn open_existing(path: &Path, write: bool) -> io::Result<Self> {
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path);
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                return Err(match std::fs::symlink_metadata(path) {
                    Ok(m) if !m.file_type().is_file() => NotRegular::error(m.file_type()),
                    _ => e,
                })
            }
        };
        let kind = file.metadata()?.file_type();
        if !kind.is_file() {
            return Err(NotRegular::error(kind));
        }
        Ok(SegmentFile { file })
    }

    /// Sets the file's permission bits exactly (umask does not apply).
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        nix::sys::stat::fchmod(&self.file, nix::sys::stat::Mode::from_bits_truncate(mode))?;
        Ok(())
    }

    pub fn info(&self) -> io::Result<FileInfo> {
        let m = self.file.metadata()?;
        Ok(FileInfo {
            uid: m.uid(),
            size: m.size(),
            ino: m.ino(),
            dev: m.dev(),
        })
    }

    /// Sets the file's size (sparse: no pages are reserved).
    pub fn set_size(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    /// Reserves the pages of `offset..offset + len`, so that a full
    /// `/dev/shm` is an `ENOSPC` error here and never a SIGBUS later.
    pub fn allocate_range(&self, offset: u64, len: u64) -> io::Result<()> {
        match nix::fcntl::posix_fallocate(&self.file, offset as libc::off_t, len as libc::off_t) {
            Ok(()) => Ok(()),
            // Filesystems without fallocate: the size alone must do.
            Err(nix::errno::Errno::EOPNOTSUPP) | Err(nix::errno::Errno::EINVAL) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn map(&self, len: usize) -> io::Result<MmapRaw> {
        MmapOptions::new().len(len).map_raw(&self.file)
    }

    pub fn map_read_only(&self, len: usize) -> io::Result<MmapRaw> {
        MmapOptions::new().len(len).map_raw_read_only(&self.file)
    }

    fn flock(kind: libc::c_int, byte: u64) -> libc::flock {
        // SAFETY: `flock` is a plain C struct for which all-zero bytes are a
        // valid value; every field the kernel reads is set below.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = byte as libc::off_t;
        fl.l_len = 1;
        fl.l_pid = 0; // required for OFD locks
        fl
    }

    fn fcntl_lock(&self, cmd: libc::c_int, fl: &mut libc::flock) -> io::Result<()> {
        // SAFETY: the descriptor is owned by `self.file` and open; `fl` is a
        // valid, exclusively borrowed `flock` the kernel may write back into.
        syscall!(unsafe { libc::fcntl(self.file.as_raw_fd(), cmd, fl as *mut libc::flock) })
            .map(drop)
    }

    /// Takes the lock on `byte` without waiting: `Ok(false)` if someone else holds it.
    pub fn try_lock(&self, byte: u64, exclusive: bool) -> io::Result<bool> {
        let kind = if exclusive {
            libc::F_WRLCK
        } else {
            libc::F_RDLCK
        };
        let mut fl = Self::flock(kind, byte);
        match self.fcntl_lock(libc::F_OFD_SETLK, &mut fl) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EACCES)) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Takes the lock on `byte`, waiting for it (used only for the admin lock,
    /// which is held for microseconds).
    pub fn lock_wait(&self, byte: u64, exclusive: bool) -> io::Result<()> {
        let kind = if exclusive {
            libc::F_WRLCK
        } else {
            libc::F_RDLCK
        };
        let mut fl = Self::flock(kind, byte);
        loop {
            match self.fcntl_lock(libc::F_OFD_SETLKW, &mut fl) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    pub fn unlock(&self, byte: u64) -> io::Result<()> {
        let mut fl = Self::flock(libc::F_UNLCK, byte);
        self.fcntl_lock(libc::F_OFD_SETLK, &mut fl)
    }

    /// Whether another open file description holds a lock on `byte`.
    pub fn is_locked_by_other(&self, byte: u64) -> io::Result<bool> {
        self.is_range_locked_by_other(byte, 1)
    }

    /// Whether another open file description holds a lock on any byte of
    /// `start..start + len`.
    pub fn is_range_locked_by_other(&self, start: u64, len: u64) -> io::Result<bool> {
        let mut fl = Self::flock(libc::F_WRLCK, start);
        fl.l_len = len as libc::off_t;
        self.fcntl_lock(libc::F_OFD_GETLK, &mut fl)?;
        Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
    }
}

/// Reads a regular file of at most `limit` bytes (a key, a certificate, a
/// declarations file): opened `O_NONBLOCK | O_NOCTTY` so that a FIFO
/// cannot block the open, `fstat`ed so that anything but a regular file is
/// refused before a byte is read ("it is not a regular file (a FIFO)",
/// `InvalidInput`), and at most `limit + 1` bytes read, so an endless or
/// huge file costs at most that ("it is larger than N bytes (the limit)",
/// `InvalidData`). The error is the reason only; the caller names the file.
pub fn read_regular_file(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is not a regular file ({})", file_kind(kind)),
        ));
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is larger than {limit} bytes (the limit)"),
        ));
    }
    Ok(bytes)
}

/// A file in a segment's place that is not a regular file (the error
/// inside the `io::Error`, kind `InvalidInput`, that opening it returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotRegular {
    /// What it is instead: "a FIFO", "a directory", ...
    pub kind: &'static str,
}

impl NotRegular {
    fn error(kind: std::fs::FileType) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            NotRegular {
                kind: file_kind(kind),
            },
        )
    }
}

impl std::fmt::Display for NotRegular {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, not a regular file: it cannot be a topic segment",
            self.kind
        )
    }
}

impl std::error::Error for NotRegular {}

/// What kind of file `t` is, for messages ("a FIFO", "a directory", ...).
pub(crate) fn file_kind(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

/// Free bytes on the filesystem holding `dir`.
pub(crate) fn free_space(dir: &Path) -> io::Result<u64> {
    let st = nix::sys::statvfs::statvfs(dir)?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
}

/// Links `from` to `to` only if `to` does not exist yet (atomic publish of a
/// fully initialised segment), then removes `from`.
pub(crate) fn publish_file(from: &Path, to: &Path) -> io::Result<()> {
    let r = std::fs::hard_link(from, to);
    let _ = std::fs::remove_file(from);
    r
}

/// Whether `path` still names the inode `info` describes.
pub(crate) fn same_file(path: &Path, info: &FileInfo) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(m) => m.ino() == info.ino && m.dev() == info.dev,
        Err(_) => false,
    }
}

/// The effective user id.
pub(crate) fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// This process's id.
pub(crate) fn pid() -> u32 {
    std::process::id()
}

/// Nanoseconds on `CLOCK_MONOTONIC`, comparable across processes on one host.
pub fn monotonic_ns() -> u64 {
    let ts = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always available on Linux");
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// A regular file mapped read-only, for tools that read files they did not
/// write (`axon bag info`/`play` read MCAP files through it), whose every
/// read is a copy out of the mapping that either succeeds or reports that
/// the file shrank under it.
///
/// ## What happens when the file changes under the mapping
/// Another process may truncate or rewrite the file while it is mapped.
/// - **Truncated:** a read of a page past the new end raises SIGBUS. The
///   mapping is registered with the segment fault handler (`fault.rs`,
///   the mechanism that contains truncated segments): the handler maps
///   zero pages over the whole mapping and marks it poisoned, the copy
///   finishes on zeros, and [`read_at`](Self::read_at) sees the flag after
///   the copy and returns [`MapError::Truncated`] instead of those bytes,
///   then and on every later read. The process lives; the caller reports
///   one error.
/// - **Rewritten in place (same size or larger):** reads see the bytes as
///   they are when copied (a shared file mapping), possibly a mix of old
///   and new. They are plain bytes (every value valid) copied out before
///   any use, never referenced in place, so a reader that checks what it
///   reads (lengths, CRCs: the MCAP reader does) sees damage, not
///   undefined behaviour of its own; bytes past the length at open are
///   never read.
/// - **Limits:** a process guards at most `fault::MAX_MAPPINGS` mappings
///   at once (shared with segments); beyond that a mapping is used
///   unguarded and a truncation under it kills the process with SIGBUS,
///   as without axon. A SIGBUS handler installed after axon's replaces it.
#[derive(Debug)]
pub struct MappedFile {
    /// `None` for an empty file (nothing to map).
    map: Option<crate::fault::GuardedMap>,
    len: u64,
}

/// Why a [`MappedFile`] read failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MapError {
    /// The file was truncated under the mapping (a read faulted).
    #[error("the file was truncated while it was being read (it is shorter than the {len} bytes it had when opened)")]
    Truncated {
        /// The length when the file was opened.
        len: u64,
    },
    /// The read starts past the end.
    #[error("read at {offset} is past the end ({len} bytes)")]
    OutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The file's length when opened.
        len: u64,
    },
}

impl MappedFile {
    /// Opens and maps `path` (a regular file: a FIFO, directory or device
    /// is refused without blocking, as for segments), read-only, at its
    /// length now.
    pub fn open(path: &Path) -> io::Result<MappedFile> {
        let f = SegmentFile::open_read_only(path)?;
        let len = f.info()?.size;
        let map_len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large to map"))?;
        let map = if len == 0 {
            None
        } else {
            Some(crate::fault::GuardedMap::new(f.map_read_only(map_len)?))
        };
        Ok(MappedFile { map, len })
    }

    /// The file's length when it was opened (the mapping's).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file was empty when opened.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies up to `buf.len()` bytes from `offset` into `buf`: the count
    /// copied (0 at the end), or why not (type docs).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, MapError> {
        if offset > self.len {
            return Err(MapError::OutOfRange {
                offset,
                len: self.len,
            });
        }
        let Some(map) = &self.map else {
            return Ok(0);
        };
        if map.poisoned() {
            return Err(MapError::Truncated { len: self.len });
        }
        let n = buf.len().min((self.len - offset) as usize);
        // SAFETY: (1) `offset + n <= self.len`, the length mapped, so the
        // source range lies inside the live mapping (`map` is alive for
        // `&self`; a fault replaces it with zero pages of the same size,
        // never unmaps it); (2) `buf` is a distinct, writable Rust buffer
        // of at least `n` bytes, so the ranges do not overlap; (3) the
        // source is plain bytes, every value valid, copied once and
        // never referenced afterwards (type docs on concurrent writers).
        unsafe {
            std::ptr::copy_nonoverlapping(
                map.map().as_ptr().add(offset as usize),
                buf.as_mut_ptr(),
                n,
            );
        }
        // A fault during the copy left zeros in `buf`: not file bytes.
        if map.poisoned() {
            return Err(MapError::Truncated { len: self.len });
        }
        Ok(n)
    }
}
