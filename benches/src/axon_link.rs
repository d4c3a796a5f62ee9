//! axon across a socket link: each process has its own domain (another
//! shared-memory namespace, as on two hosts or in two containers) and runs a
//! link endpoint thread (`axon::link`). A ping goes publisher -> futex wake
//! of the parent's link exporter -> socket -> the child's link importer
//! (read straight into a loaned slot) -> futex wake of the child's
//! subscriber; the pong comes back the same way. So one way is about
//! `socket + 2 x futex wake`, which is what the target compares it with.
//!
//! `axon/tcp-link` uses TCP over loopback (`TCP_NODELAY`), `axon/unix-link` a
//! Unix socket in the temp directory. Topics are reliable on the link so
//! that no ping is lost while the link comes up.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use axon::link::{Address, Endpoint as LinkEndpoint, LinkConfig, Mode, Pattern, Stop};
use axon::{Domain, Node, Publisher, Subscriber, WaitError};

use crate::{
    read_message, write_message, Ctx, Endpoint, Mechanism, Payload, Pinger, Ponger, Watchdog,
};

/// A link mechanism: TCP or Unix.
pub struct AxonLink {
    unix: bool,
}

/// `axon/tcp-link`.
pub static AXON_TCP_LINK: AxonLink = AxonLink { unix: false };
/// `axon/unix-link`.
pub static AXON_UNIX_LINK: AxonLink = AxonLink { unix: true };

struct End {
    publisher: Publisher<[u8]>,
    subscriber: Subscriber<[u8]>,
    payload: Payload,
    stop: Stop,
    link: Option<JoinHandle<()>>,
    domain: Domain,
    socket: Option<PathBuf>,
}

fn socket_path(ctx: &Ctx) -> PathBuf {
    std::env::temp_dir().join(format!("axon-bench-{}.sock", ctx.run_id))
}

impl End {
    fn new(
        ctx: &Ctx,
        payload: Payload,
        parent: bool,
        unix: bool,
        connect_to: Option<String>,
    ) -> anyhow::Result<(Self, String)> {
        let side = if parent { "bl-a" } else { "bl-b" };
        let domain = crate::bench_domain(side, &ctx.run_id.0)?;
        let node = Node::builder("bench").domain(domain.clone()).create()?;
        let (out, inn) = if parent {
            ("/ping", "/pong")
        } else {
            ("/pong", "/ping")
        };
        let (publisher, subscriber) =
            crate::axon_topic::ping_pong_topics(&node, parent, payload.size, 2, None)?;
        let mode = match (connect_to, unix) {
            (None, false) => Mode::Listen(Address::Tcp("127.0.0.1:0".into())),
            (None, true) => Mode::Listen(Address::Unix(socket_path(ctx))),
            (Some(a), false) => Mode::Connect(Address::Tcp(a)),
            (Some(a), true) => Mode::Connect(Address::Unix(a.into())),
        };
        let mut cfg = LinkConfig::new(
            if parent { "pinger" } else { "ponger" },
            mode,
            domain.clone(),
        );
        let pat = |s: &str| Pattern::new(s).map_err(|e| anyhow!(e));
        cfg.export = vec![pat(out)?];
        cfg.import = vec![pat(inn)?];
        cfg.reliable = vec![pat("/**")?];
        cfg.log = false;
        let endpoint = LinkEndpoint::new(cfg).context("link endpoint")?;
        let addr = endpoint.local_addr().unwrap_or_default().to_owned();
        let stop = Stop::new();
        let s = stop.clone();
        let link = std::thread::Builder::new()
            .name("axon-link".into())
            .spawn(move || {
                if let Err(e) = endpoint.run(&s) {
                    eprintln!("bench link: {e}");
                }
            })?;
        Ok((
            End {
                publisher,
                subscriber,
                payload,
                stop,
                link: Some(link),
                domain,
                socket: (parent && unix).then(|| socket_path(ctx)),
            },
            addr,
        ))
    }
}

impl Endpoint for End {
    fn ready(&mut self, wd: &Watchdog) -> anyhow::Result<()> {
        // Our exporter subscribes to our topic, and the peer's topic has
        // been accepted here (so the peer's exporter exists too).
        while self.publisher.raw().subscriber_count() < 1
            || self.subscriber.raw().publisher_count() < 1
        {
            wd.check()?;
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn send(&mut self, seq: u64) -> anyhow::Result<()> {
        let mut loan = self
            .publisher
            .loan_slice_timeout(self.payload.size, Duration::from_secs(10))?;
        write_message(&mut loan, seq, self.payload.touch);
        loan.send();
        Ok(())
    }

    fn receive(&mut self, wd: &Watchdog) -> anyhow::Result<u64> {
        loop {
            match self.subscriber.recv_timeout(Duration::from_millis(100)) {
                Ok(s) => return Ok(read_message(&s, self.payload.touch)),
                Err(WaitError::Timeout | WaitError::PublisherGone) => wd.check()?,
                Err(e) => return Err(anyhow!("recv: {e}")),
            }
        }
    }
}

impl Drop for End {
    fn drop(&mut self) {
        self.stop.request();
        if let Some(h) = self.link.take() {
            let _ = h.join();
        }
        crate::remove_domain_segments(&self.domain);
        if let Some(p) = &self.socket {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Mechanism for AxonLink {
    fn id(&self) -> &'static str {
        if self.unix {
            "axon/unix-link"
        } else {
            "axon/tcp-link"
        }
    }

    fn sleeps(&self) -> bool {
        true
    }

    fn create(
        &self,
        ctx: &Ctx,
        payload: Payload,
    ) -> anyhow::Result<(Box<dyn Pinger>, Vec<String>)> {
        let (end, addr) =
            End::new(ctx, payload, true, self.unix, None).context("axon link parent side")?;
        Ok((Box::new(end), vec![addr]))
    }

    fn open(
        &self,
        ctx: &Ctx,
        payload: Payload,
        args: &[String],
    ) -> anyhow::Result<Box<dyn Ponger>> {
        let [addr] = args else {
            anyhow::bail!("{}: expected the link address", self.id());
        };
        let (end, _) = End::new(ctx, payload, false, self.unix, Some(addr.clone()))
            .context("axon link child side")?;
        Ok(Box::new(end))
    }
}
