//! Floor: TCP over loopback with `TCP_NODELAY` on both ends. The parent listens on an
//! ephemeral port of 127.0.0.1 and passes it to the child.

use std::net::{Ipv4Addr, TcpListener, TcpStream};

use anyhow::Context as _;

use crate::stream::{Accepting, Listener, StreamEnd, IO_SLICE};
use crate::{Ctx, Mechanism, Payload, Pinger, Ponger};

/// TCP loopback.
pub struct TcpFloor;

/// TCP loopback floor.
pub static TCP: TcpFloor = TcpFloor;

impl Listener for TcpListener {
    type Stream = TcpStream;

    fn try_accept(&self) -> std::io::Result<Option<TcpStream>> {
        match self.accept() {
            Ok((s, _)) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn prepare(s: &TcpStream) -> std::io::Result<()> {
        s.set_nonblocking(false)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(IO_SLICE))?;
        s.set_write_timeout(Some(IO_SLICE))
    }
}

impl Mechanism for TcpFloor {
    fn id(&self) -> &'static str {
        "floor/tcp"
    }

    fn sleeps(&self) -> bool {
        true
    }

    fn create(
        &self,
        _ctx: &Ctx,
        payload: Payload,
    ) -> anyhow::Result<(Box<dyn Pinger>, Vec<String>)> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("bind")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Ok((
            Box::new(Accepting::<TcpListener, TcpStream>::Listening(
                listener, payload,
            )),
            vec![port.to_string()],
        ))
    }

    fn open(
        &self,
        _ctx: &Ctx,
        payload: Payload,
        args: &[String],
    ) -> anyhow::Result<Box<dyn Ponger>> {
        let [port] = args else {
            anyhow::bail!("floor/tcp: expected the port");
        };
        let port: u16 = port.parse().context("port")?;
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).context("connect")?;
        stream.set_nodelay(true)?;
        Ok(Box::new(StreamEnd::new(stream, payload)))
    }
}
