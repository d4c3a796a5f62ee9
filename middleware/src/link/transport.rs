//! What a link needs from a byte stream, and from a listener. One file per
//! implementation: `tcp.rs`, `unix.rs`.

use std::io::{self, Read, Write};
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// A connected byte stream (TCP or Unix).
pub trait Conn: Read + Write + Send {
    /// A second handle on the same socket (one reads, one writes).
    fn try_clone_box(&self) -> io::Result<Box<dyn Conn>>;
    /// Read and write time-out of one call: blocking calls return this
    /// often so that the caller can check for shutdown and dead peers.
    fn set_io_timeout(&self, slice: Duration) -> io::Result<()>;
    /// Shuts both directions down: blocked calls on any handle return.
    fn shutdown_both(&self);
    /// The peer's address, for messages.
    fn peer(&self) -> String;
}

/// A listening socket.
pub trait Listener: Send + Sync {
    /// Waits up to `timeout` for a connection.
    fn accept_timeout(&self, timeout: Duration) -> io::Result<Option<Box<dyn Conn>>>;
    /// What and where, for messages.
    fn describe(&self) -> String;
}

/// Whether `fd` became readable within `timeout`.
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let ms = timeout.as_millis().min(u16::MAX as u128) as u16;
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(n) => Ok(n > 0),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
