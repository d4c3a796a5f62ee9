//! The ping-pong over a byte stream that the socket floors share: each message is the whole
//! payload, written with `write_all` and read with a `read_exact` loop. The parent's socket has
//! 100 ms I/O time-outs so that its watchdog can fire; the child blocks (it dies with its
//! parent, and a closed socket ends its read).

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::{check_echo, read_message, write_message, Payload, Pinger, Ponger, Touch, Watchdog};

/// Time-out of one blocking socket call on the parent's side.
pub const IO_SLICE: Duration = Duration::from_millis(100);

fn timed_out(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// `write_all` that consults the watchdog whenever a write times out.
pub fn write_all_wd(s: &mut impl Write, mut buf: &[u8], wd: &Watchdog) -> anyhow::Result<()> {
    while !buf.is_empty() {
        match s.write(buf) {
            Ok(0) => bail!("peer closed the stream"),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if timed_out(e.kind()) => wd.check()?,
            Err(e) => return Err(e).context("write"),
        }
    }
    Ok(())
}

/// `read_exact` that consults the watchdog whenever a read times out.
pub fn read_exact_wd(s: &mut impl Read, buf: &mut [u8], wd: &Watchdog) -> anyhow::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        match s.read(&mut buf[at..]) {
            Ok(0) => bail!("peer closed the stream"),
            Ok(n) => at += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if timed_out(e.kind()) => wd.check()?,
            Err(e) => return Err(e).context("read"),
        }
    }
    Ok(())
}

/// One side of a stream ping-pong.
pub struct StreamEnd<S> {
    stream: S,
    out: Vec<u8>,
    inn: Vec<u8>,
    touch: Touch,
}

impl<S: Read + Write> StreamEnd<S> {
    /// Wraps a connected stream.
    pub fn new(stream: S, payload: Payload) -> Self {
        Self {
            stream,
            out: vec![0; payload.size],
            inn: vec![0; payload.size],
            touch: payload.touch,
        }
    }

    fn send(&mut self, seq: u64, wd: &Watchdog) -> anyhow::Result<()> {
        write_message(&mut self.out, seq, self.touch);
        write_all_wd(&mut self.stream, &self.out, wd)
    }

    fn receive(&mut self, wd: &Watchdog) -> anyhow::Result<u64> {
        read_exact_wd(&mut self.stream, &mut self.inn, wd)?;
        Ok(read_message(&self.inn, self.touch))
    }
}

impl<S: Read + Write> Pinger for StreamEnd<S> {
    fn ping(&mut self, seq: u64, wd: &Watchdog) -> anyhow::Result<()> {
        self.send(seq, wd)?;
        check_echo(seq, self.receive(wd)?)
    }
}

impl<S: Read + Write> Ponger for StreamEnd<S> {
    fn pong(&mut self, wd: &Watchdog) -> anyhow::Result<u64> {
        let seq = self.receive(wd)?;
        self.send(seq, wd)?;
        Ok(seq)
    }
}

/// The parent's side before and after the child connected.
pub enum Accepting<L, S> {
    /// Listening; the child connects before it says ready.
    Listening(L, Payload),
    /// Connected.
    Connected(StreamEnd<S>),
    /// Between the two (only during `ready`).
    Gone,
}

/// What the socket floors need from a listener.
pub trait Listener {
    /// The connected stream type.
    type Stream: Read + Write;
    /// Accepts without blocking: `Ok(None)` when nobody is waiting.
    fn try_accept(&self) -> std::io::Result<Option<Self::Stream>>;
    /// Sets the parent-side I/O time-outs (and TCP_NODELAY where it applies).
    fn prepare(stream: &Self::Stream) -> std::io::Result<()>;
}

impl<L: Listener> Pinger for Accepting<L, L::Stream> {
    fn ready(&mut self, wd: &Watchdog) -> anyhow::Result<()> {
        let Accepting::Listening(listener, payload) = std::mem::replace(self, Accepting::Gone)
        else {
            bail!("ready called twice");
        };
        loop {
            if let Some(stream) = listener.try_accept().context("accept")? {
                L::prepare(&stream)?;
                *self = Accepting::Connected(StreamEnd::new(stream, payload));
                return Ok(());
            }
            wd.check()?;
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn ping(&mut self, seq: u64, wd: &Watchdog) -> anyhow::Result<()> {
        match self {
            Accepting::Connected(end) => end.ping(seq, wd),
            _ => bail!("ping before the child connected"),
        }
    }
}
