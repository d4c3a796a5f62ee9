//! Floor: a Unix stream socket. The parent listens on an abstract address derived from the run
//! id (nothing in the file system to leave behind), the child connects.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};

use anyhow::Context as _;

use crate::stream::{Accepting, Listener, StreamEnd, IO_SLICE};
use crate::{Ctx, Mechanism, Payload, Pinger, Ponger};

/// Unix stream socket.
pub struct UnixFloor;

/// Unix stream socket floor.
pub static UNIX: UnixFloor = UnixFloor;

fn address(ctx: &Ctx) -> std::io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(format!("axon-bench/{}", ctx.run_id).as_bytes())
}

impl Listener for UnixListener {
    type Stream = UnixStream;

    fn try_accept(&self) -> std::io::Result<Option<UnixStream>> {
        match self.accept() {
            Ok((s, _)) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn prepare(s: &UnixStream) -> std::io::Result<()> {
        s.set_nonblocking(false)?;
        s.set_read_timeout(Some(IO_SLICE))?;
        s.set_write_timeout(Some(IO_SLICE))
    }
}

impl Mechanism for UnixFloor {
    fn id(&self) -> &'static str {
        "floor/unix"
    }

    fn sleeps(&self) -> bool {
        true
    }

    fn create(
        &self,
        ctx: &Ctx,
        payload: Payload,
    ) -> anyhow::Result<(Box<dyn Pinger>, Vec<String>)> {
        let listener = UnixListener::bind_addr(&address(ctx)?).context("bind")?;
        listener.set_nonblocking(true)?;
        Ok((
            Box::new(Accepting::<UnixListener, UnixStream>::Listening(
                listener, payload,
            )),
            vec![],
        ))
    }

    fn open(
        &self,
        ctx: &Ctx,
        payload: Payload,
        _args: &[String],
    ) -> anyhow::Result<Box<dyn Ponger>> {
        let stream = UnixStream::connect_addr(&address(ctx)?).context("connect")?;
        Ok(Box::new(StreamEnd::new(stream, payload)))
    }
}
