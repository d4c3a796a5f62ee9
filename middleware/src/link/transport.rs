//! What a link needs from a byte stream, and from a listener. One file per
//! implementation: `tcp.rs`, `unix.rs`; what both do alike is here
//! (`impl_conn!`, `accept_within`).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
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
    /// Shuts the read direction down: a blocked or later read on any handle
    /// returns end-of-stream at once, writes still work (to send `CLOSE`).
    fn shutdown_read(&self);
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

/// Implements [`Conn`] for a standard-library stream socket (`TcpStream`,
/// `UnixStream`: same inherent methods); `|s| peer` names the peer of `s`.
macro_rules! impl_conn {
    ($stream:ty, |$s:pat_param| $peer:expr) => {
        impl $crate::link::transport::Conn for $stream {
            fn try_clone_box(&self) -> ::std::io::Result<Box<dyn $crate::link::transport::Conn>> {
                Ok(Box::new(self.try_clone()?))
            }

            fn set_io_timeout(&self, slice: ::std::time::Duration) -> ::std::io::Result<()> {
                self.set_read_timeout(Some(slice))?;
                self.set_write_timeout(Some(slice))
            }

            fn shutdown_both(&self) {
                let _ = self.shutdown(::std::net::Shutdown::Both);
            }

            fn shutdown_read(&self) {
                let _ = self.shutdown(::std::net::Shutdown::Read);
            }

            fn peer(&self) -> String {
                let $s = self;
                $peer
            }
        }
    };
}
pub(crate) use impl_conn;

/// The `accept_timeout` of a non-blocking `listener`: waits up to `timeout`,
/// then `accept`s one stream and runs `setup` on it (which must make it
/// blocking, plus any socket options of the transport).
pub(crate) fn accept_within<L: AsFd, S: Conn + 'static, A>(
    listener: &L,
    timeout: Duration,
    accept: impl FnOnce(&L) -> io::Result<(S, A)>,
    setup: impl FnOnce(&S) -> io::Result<()>,
) -> io::Result<Option<Box<dyn Conn>>> {
    if !poll_readable(listener.as_fd(), timeout)? {
        return Ok(None);
    }
    match accept(listener) {
        Ok((s, _)) => {
            setup(&s)?;
            Ok(Some(Box::new(s)))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `fd` became readable within `timeout`.
fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let ms = timeout.as_millis().min(u16::MAX as u128) as u16;
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(n) => Ok(n > 0),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
