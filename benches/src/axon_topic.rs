//! axon itself: a `[u8]` slice topic per direction, loaned, written in place
//! and read where it lies. `axon/poll` busy-polls `try_recv`; the others wait
//! in `recv_timeout` with a wake mechanism: `axon/futex` (sleeps on the futex
//! word, woken by the publisher), `axon/sem` (process-shared semaphore in the
//! segment), `axon/adaptive` (spins for the default budget, then the futex).
//!
//! `AXON_BENCH_DELAY_NS=N` makes every send spin N ns first: a deliberate
//! regression, for proving that the gate fails (benches/tests/gate.rs).

use std::time::Duration;

use anyhow::{anyhow, Context as _};
use axon::{Domain, Node, Publisher, Subscriber, WaitError, WakeMechanism};

use crate::{
    read_message, write_message, Ctx, Endpoint, Mechanism, Payload, Pinger, Ponger, Watchdog,
};

pub struct AxonTopic {
    id: &'static str,
    /// How the receiver waits; `None`: busy-polls `try_recv`.
    wake: Option<WakeMechanism>,
}

pub static AXON_POLL: AxonTopic = AxonTopic {
    id: "axon/poll",
    wake: None,
};
pub static AXON_FUTEX: AxonTopic = AxonTopic {
    id: "axon/futex",
    wake: Some(WakeMechanism::Futex),
};
pub static AXON_SEM: AxonTopic = AxonTopic {
    id: "axon/sem",
    wake: Some(WakeMechanism::Semaphore),
};
pub static AXON_ADAPTIVE: AxonTopic = AxonTopic {
    id: "axon/adaptive",
    wake: Some(WakeMechanism::Adaptive { spin: None }),
};

struct End {
    publisher: Publisher<[u8]>,
    subscriber: Subscriber<[u8]>,
    payload: Payload,
    blocking: bool,
    delay: Duration,
    domain: Option<Domain>,
}

/// The injected per-send delay (`AXON_BENCH_DELAY_NS`), zero when unset.
fn injected_delay() -> anyhow::Result<Duration> {
    match std::env::var("AXON_BENCH_DELAY_NS") {
        Ok(v) => Ok(Duration::from_nanos(
            v.parse()
                .context("AXON_BENCH_DELAY_NS must be a number of ns")?,
        )),
        Err(_) => Ok(Duration::ZERO),
    }
}

/// One side's ends of a ping-pong: its publisher and its subscriber.
pub(crate) type PingPong = (Publisher<[u8]>, Subscriber<[u8]>);

/// Both sides' topics of a ping-pong over axon: a publisher on this side's direction and a
/// subscriber on the other's, `[u8]` slices of up to `len` bytes, history 1, room for `peers`
/// publishers and subscribers (a link adds its own). Used by this module and `axon_link`.
pub(crate) fn ping_pong_topics(
    node: &Node,
    parent: bool,
    len: usize,
    peers: u32,
    wake: Option<WakeMechanism>,
) -> anyhow::Result<PingPong> {
    let (out, inn) = if parent {
        ("/ping", "/pong")
    } else {
        ("/pong", "/ping")
    };
    let publisher = node
        .publisher::<[u8]>(out)
        .history(1)
        .max_publishers(peers)
        .max_subscribers(peers)
        .max_len(len)
        .create()?;
    let mut subscriber = node
        .subscriber::<[u8]>(inn)
        .history(1)
        .max_publishers(peers)
        .max_subscribers(peers)
        .max_len(len);
    if let Some(w) = wake {
        subscriber = subscriber.wake(w);
    }
    Ok((publisher, subscriber.create()?))
}

impl End {
    fn new(
        ctx: &Ctx,
        payload: Payload,
        wake: Option<WakeMechanism>,
        parent: bool,
    ) -> anyhow::Result<Self> {
        let domain = crate::bench_domain("bench", &ctx.run_id.0)?;
        let node = Node::builder("bench").domain(domain.clone()).create()?;
        let (publisher, subscriber) = ping_pong_topics(&node, parent, payload.size, 1, wake)?;
        Ok(End {
            publisher,
            subscriber,
            payload,
            blocking: wake.is_some(),
            delay: injected_delay()?,
            domain: parent.then_some(domain),
        })
    }
}

impl Endpoint for End {
    fn ready(&mut self, wd: &Watchdog) -> anyhow::Result<()> {
        while self.publisher.raw().subscriber_count() < 1 {
            wd.check()?;
            std::thread::yield_now();
        }
        Ok(())
    }

    fn send(&mut self, seq: u64) -> anyhow::Result<()> {
        if !self.delay.is_zero() {
            let t0 = std::time::Instant::now();
            while t0.elapsed() < self.delay {
                std::hint::spin_loop();
            }
        }
        let mut loan = self.publisher.loan_slice(self.payload.size)?;
        write_message(&mut loan, seq, self.payload.touch);
        loan.send();
        Ok(())
    }

    fn receive(&mut self, wd: &Watchdog) -> anyhow::Result<u64> {
        let mut turns: u32 = 0;
        loop {
            if self.blocking {
                match self.subscriber.recv_timeout(Duration::from_millis(100)) {
                    Ok(s) => return Ok(read_message(&s, self.payload.touch)),
                    Err(WaitError::Timeout) => wd.check()?,
                    Err(e) => return Err(anyhow!("recv: {e}")),
                }
            } else {
                if let Some(s) = self.subscriber.try_recv()? {
                    return Ok(read_message(&s, self.payload.touch));
                }
                std::hint::spin_loop();
                turns = turns.wrapping_add(1);
                if turns % 4096 == 0 {
                    wd.check()?;
                }
            }
        }
    }
}

impl Drop for End {
    fn drop(&mut self) {
        // The parent removes the run's segments (both sides are gone by then
        // or going; a segment still open is only unlinked, never corrupted).
        if let Some(d) = &self.domain {
            crate::remove_domain_segments(d);
        }
    }
}

impl Mechanism for AxonTopic {
    fn id(&self) -> &'static str {
        self.id
    }

    /// Adaptive spins under steady traffic: it is held to the spin floor.
    fn sleeps(&self) -> bool {
        matches!(
            self.wake,
            Some(WakeMechanism::Futex | WakeMechanism::Semaphore)
        )
    }

    fn create(
        &self,
        ctx: &Ctx,
        payload: Payload,
    ) -> anyhow::Result<(Box<dyn Pinger>, Vec<String>)> {
        let end = End::new(ctx, payload, self.wake, true).context("axon parent side")?;
        Ok((Box::new(end), vec![]))
    }

    fn open(
        &self,
        ctx: &Ctx,
        payload: Payload,
        _args: &[String],
    ) -> anyhow::Result<Box<dyn Ponger>> {
        let end = End::new(ctx, payload, self.wake, false).context("axon child side")?;
        Ok(Box::new(end))
    }
}
