//! TCP transport: `TCP_NODELAY` on every connection, loopback unless an
//! address says otherwise.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::transport::{accept_within, impl_conn, Conn, Listener};

impl_conn!(TcpStream, |s| s
    .peer_addr()
    .map_or_else(|_| "tcp peer".to_owned(), |a| a.to_string()));

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
        accept_within(&self.listener, timeout, TcpListener::accept, |s| {
            s.set_nonblocking(false)?;
            s.set_nodelay(true)
        })
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
