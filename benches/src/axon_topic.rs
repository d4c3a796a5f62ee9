//! axon itself: a `[u8]` slice topic per direction, loaned, written in place
//! and read where it lies. `axon/poll` busy-polls `try_recv`; `axon/futex`
//! sleeps in `recv_timeout` (futex wake-up, woken by the publisher).

use std::time::Duration;

use anyhow::{anyhow, Context as _};
use axon::{Domain, Node, Publisher, Subscriber, WaitError};

use crate::{
    read_message, write_message, Ctx, Endpoint, Mechanism, Payload, Pinger, Ponger, Watchdog,
};

pub struct AxonTopic {
    blocking: bool,
}

pub static AXON_POLL: AxonTopic = AxonTopic { blocking: false };
pub static AXON_FUTEX: AxonTopic = AxonTopic { blocking: true };

struct End {
    publisher: Publisher<[u8]>,
    subscriber: Subscriber<[u8]>,
    payload: Payload,
    blocking: bool,
    domain: Option<Domain>,
}

fn domain(ctx: &Ctx) -> anyhow::Result<Domain> {
    let name: String = format!("bench-{}", ctx.run_id)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    Domain::new("/dev/shm", &name).map_err(|e| anyhow!("{e}"))
}

impl End {
    fn new(ctx: &Ctx, payload: Payload, blocking: bool, parent: bool) -> anyhow::Result<Self> {
        let domain = domain(ctx)?;
        let node = Node::builder("bench").domain(domain.clone()).create()?;
        let (out, inn) = if parent {
            ("/ping", "/pong")
        } else {
            ("/pong", "/ping")
        };
        let publisher = node
            .publisher::<[u8]>(out)
            .history(1)
            .max_publishers(1)
            .max_subscribers(1)
            .max_len(payload.size)
            .create()?;
        let subscriber = node
            .subscriber::<[u8]>(inn)
            .history(1)
            .max_publishers(1)
            .max_subscribers(1)
            .max_len(payload.size)
            .create()?;
        Ok(End {
            publisher,
            subscriber,
            payload,
            blocking,
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
            let prefix = d.prefix();
            for e in std::fs::read_dir(d.dir()).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

impl Mechanism for AxonTopic {
    fn id(&self) -> &'static str {
        if self.blocking {
            "axon/futex"
        } else {
            "axon/poll"
        }
    }

    fn sleeps(&self) -> bool {
        self.blocking
    }

    fn create(
        &self,
        ctx: &Ctx,
        payload: Payload,
    ) -> anyhow::Result<(Box<dyn Pinger>, Vec<String>)> {
        let end = End::new(ctx, payload, self.blocking, true).context("axon parent side")?;
        Ok((Box::new(end), vec![]))
    }

    fn open(
        &self,
        ctx: &Ctx,
        payload: Payload,
        _args: &[String],
    ) -> anyhow::Result<Box<dyn Ponger>> {
        let end = End::new(ctx, payload, self.blocking, false).context("axon child side")?;
        Ok(Box::new(end))
    }
}
