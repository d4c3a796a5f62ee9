//! TCP transport: `TCP_NODELAY` on every connection, loopback unless an
//! address says otherwise.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::time::Duration;

use super::transport::{poll_readable, Conn, Listener};

impl Conn for TcpStream {
    fn try_clone_box(&self) -> io::Result<Box<dyn Conn>> {
        Ok(Box::new(self.try_clone()?))
    }

    fn set_io_timeout(&self, slice: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(slice))?;
        self.set_write_timeout(Some(slice))
    }

    fn shutdown_both(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }

    fn peer(&self) -> String {
        self.peer_addr()
            .map_or_else(|_| "tcp peer".to_owned(), |a| a.to_string())
    }
}

/// Where to listen: `"7447"` (a port alone) means `127.0.0.1:7447`;
/// anything else is an explicit `host:port`.
pub fn listen_addr(s: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, port))]);
    }
    resolve(s)
}

/// Resolves `host:port` (again on every connection attempt: `robot.local`
/// may appear later).
pub fn resolve(s: &str) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = s.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{s} resolves to no address"),
        ));
    }
    Ok(addrs)
}

/// A TCP listener.
pub struct TcpLink {
    listener: TcpListener,
}

impl TcpLink {
    /// Binds `addr` (see [`listen_addr`]).
    pub fn bind(addr: &str) -> io::Result<Self> {
        let addrs = listen_addr(addr)?;
        let listener = TcpListener::bind(&addrs[..])?;
        listener.set_nonblocking(true)?;
        Ok(TcpLink { listener })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl Listener for TcpLink {
    fn accept_timeout(&self, timeout: Duration) -> io::Result<Option<Box<dyn Conn>>> {
        if !poll_readable(self.listener.as_fd(), timeout)? {
            return Ok(None);
        }
        match self.listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false)?;
                s.set_nodelay(true)?;
                Ok(Some(Box::new(s)))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn describe(&self) -> String {
        self.listener
            .local_addr()
            .map_or_else(|_| "tcp".to_owned(), |a| format!("tcp {a}"))
    }
}

/// Connects to `addr` (`host:port`) with a bounded connect time.
pub fn connect(addr: &str, timeout: Duration) -> io::Result<Box<dyn Conn>> {
    let mut last = None;
    for a in resolve(addr)? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(Box::new(s));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no address")))
}
