//! axon services: the parent is a client calling, the child a server
//! answering. The request is 8 bytes (the sequence number), the response
//! the payload's size (`[u8]` slices both, written in place with
//! `loan_request_slice` / `loan_reply_slice`), so one ping is one round
//! trip of a call. `axon-service/poll` busy-polls both sides
//! (`Pending::try_recv`, `Server::try_recv_request`);
//! `axon-service/futex` sleeps on both sides (`Pending::wait`,
//! `recv_request_timeout`), woken through the futex words of the service's
//! records.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use axon::{CallError, Client, Domain, Node, ServeError, Server};

use crate::{read_message, write_message, Ctx, Mechanism, Payload, Pinger, Ponger, Watchdog};

/// One way of waiting on both sides.
pub struct AxonService {
    id: &'static str,
    sleeping: bool,
}

/// Busy polling on both sides.
pub static AXON_SERVICE_POLL: AxonService = AxonService {
    id: "axon-service/poll",
    sleeping: false,
};
/// Sleeping on futex words on both sides.
pub static AXON_SERVICE_FUTEX: AxonService = AxonService {
    id: "axon-service/futex",
    sleeping: true,
};

const SERVICE: &str = "/bench";
const REQUEST: usize = 8;

fn node(ctx: &Ctx) -> anyhow::Result<(Node, Domain)> {
    let domain = crate::bench_domain("service", &ctx.run_id.0)?;
    let node = Node::builder("bench")
        .domain(domain.clone())
        .create()
        .context("bench node")?;
    Ok((node, domain))
}

struct Caller {
    client: Client<[u8], [u8]>,
    payload: Payload,
    sleeping: bool,
    domain: Domain,
    _node: Node,
}

impl Pinger for Caller {
    fn ready(&mut self, wd: &Watchdog) -> anyhow::Result<()> {
        while !self.client.service_is_ready() {
            wd.check()?;
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn ping(&mut self, seq: u64, wd: &Watchdog) -> anyhow::Result<()> {
        let mut loan = self.client.loan_request_slice(REQUEST)?;
        write_message(&mut loan, seq, crate::Touch::All);
        let mut pending = loan.send()?;
        let mut turns: u32 = 0;
        let got = loop {
            if self.sleeping {
                match pending.wait_mut(Duration::from_millis(100)) {
                    Ok(r) => break read_message(&r, self.payload.touch),
                    Err(CallError::Timeout) => wd.check()?,
                    Err(e) => bail!("call: {e}"),
                }
            } else {
                if let Some(r) = pending.try_recv()? {
                    break read_message(&r, self.payload.touch);
                }
                std::hint::spin_loop();
                turns = turns.wrapping_add(1);
                if turns % 4096 == 0 {
                    wd.check()?;
                }
            }
        };
        crate::check_echo(seq, got)
    }
}

impl Drop for Caller {
    fn drop(&mut self) {
        crate::remove_domain_segments(&self.domain);
    }
}

struct Answerer {
    server: Server<[u8], [u8]>,
    payload: Payload,
    sleeping: bool,
    _node: Node,
}

impl Ponger for Answerer {
    fn pong(&mut self, wd: &Watchdog) -> anyhow::Result<u64> {
        let mut turns: u32 = 0;
        let request = loop {
            if self.sleeping {
                match self.server.recv_request_timeout(Duration::from_millis(100)) {
                    Ok(r) => break r,
                    Err(ServeError::Timeout) => wd.check()?,
                    Err(e) => bail!("recv_request: {e}"),
                }
            } else {
                if let Some(r) = self.server.try_recv_request()? {
                    break r;
                }
                std::hint::spin_loop();
                turns = turns.wrapping_add(1);
                if turns % 4096 == 0 {
                    wd.check()?;
                }
            }
        };
        let seq = read_message(&request, crate::Touch::All);
        let mut reply = request
            .loan_reply_slice(self.payload.size)
            .map_err(|e| anyhow!("loan_reply_slice: {e}"))?;
        write_message(&mut reply, seq, self.payload.touch);
        reply.send();
        Ok(seq)
    }
}

impl Mechanism for AxonService {
    fn id(&self) -> &'static str {
        self.id
    }

    fn sleeps(&self) -> bool {
        self.sleeping
    }

    fn create(
        &self,
        ctx: &Ctx,
        payload: Payload,
    ) -> anyhow::Result<(Box<dyn Pinger>, Vec<String>)> {
        let (node, domain) = node(ctx)?;
        let client = node
            .client::<[u8], [u8]>(SERVICE)
            .max_clients(1)
            .max_in_flight(1)
            .max_request_len(REQUEST)
            .max_response_len(payload.size)
            .create()
            .context("axon service client")?;
        Ok((
            Box::new(Caller {
                client,
                payload,
                sleeping: self.sleeping,
                domain,
                _node: node,
            }),
            vec![],
        ))
    }

    fn open(
        &self,
        ctx: &Ctx,
        payload: Payload,
        _args: &[String],
    ) -> anyhow::Result<Box<dyn Ponger>> {
        let (node, _domain) = node(ctx)?;
        let server = node
            .service::<[u8], [u8]>(SERVICE)
            .max_clients(1)
            .max_in_flight(1)
            .max_request_len(REQUEST)
            .max_response_len(payload.size)
            .create()
            .context("axon service server")?;
        Ok(Box::new(Answerer {
            server,
            payload,
            sleeping: self.sleeping,
            _node: node,
        }))
    }
}
