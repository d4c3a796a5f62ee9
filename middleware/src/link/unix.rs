//! Unix domain stream socket transport: same host, no shared `/dev/shm`
//! (two containers that share a socket directory).

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::transport::{accept_within, impl_conn, Conn, Listener};

impl_conn!(UnixStream, |_| "unix peer".to_owned());

/// A Unix socket listener; removes its socket file when dropped.
pub struct UnixLink {
    listener: UnixListener,
    path: PathBuf,
}

impl UnixLink {
    /// Binds `path` with mode 0600. A stale socket file (nobody accepts on
    /// it) is replaced; a live one is an `AddrInUse` error.
    pub fn bind(path: &Path) -> io::Result<Self> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("another endpoint listens on {}", path.display()),
                    ))
                }
                Err(_) => std::fs::remove_file(path)?,
            }
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(UnixLink {
            listener,
            path: path.to_path_buf(),
        })
    }
}

impl Drop for UnixLink {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Listener for UnixLink {
    fn accept_timeout(&self, timeout: Duration) -> io::Result<Option<Box<dyn Conn>>> {
        accept_within(&self.listener, timeout, UnixListener::accept, |s| {
            s.set_nonblocking(false)
        })
    }

    fn describe(&self) -> String {
        format!("unix {}", self.path.display())
    }
}

/// Connects to the socket at `path`.
pub fn connect(path: &Path) -> io::Result<Box<dyn Conn>> {
    Ok(Box::new(UnixStream::connect(path)?))
}
