//! The peer for services: iceoryx2 0.10 request-response, cross-process,
//! `[u8]` slices both ways, the same shapes as `axon_service.rs` (an 8 B
//! request, a response of the payload's size, both loaned and written in
//! place). Polls on both sides (`PendingResponse::receive`,
//! `Server::receive`). Isolation and cleanup as in `iceoryx2_peer.rs`.

use anyhow::{anyhow, ensure, Context as _};
use iceoryx2::port::client::Client;
use iceoryx2::port::server::Server;
use iceoryx2::prelude::*;

use crate::iceoryx2_peer::{config, remove_run_files, sweep_stale};
use crate::{read_message, Ctx, Mechanism, Payload, Pinger, Ponger, Touch, Watchdog};

/// iceoryx2 request-response, polling.
pub struct Iceoryx2Rr;

/// Busy polling on both sides.
pub static ICEORYX2_RR_POLL: Iceoryx2Rr = Iceoryx2Rr;

const REQUEST: usize = 8;

struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_run_files(&self.0);
    }
}

/// The request-response service of a run: `[u8]` both ways, no headers.
type Service = iceoryx2::service::port_factory::request_response::PortFactory<
    ipc::Service,
    [u8],
    (),
    [u8],
    (),
>;

fn node_and_service(ctx: &Ctx, payload: Payload) -> anyhow::Result<(Node<ipc::Service>, Service)> {
    let _ = payload;
    set_log_level(LogLevel::Error);
    let node = NodeBuilder::new()
        .config(&config(ctx)?)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .map_err(|e| anyhow!("iceoryx2 node: {e:?}"))?;
    let name: ServiceName = format!("axon-bench/{}/rr", ctx.run_id)
        .as_str()
        .try_into()
        .map_err(|e| anyhow!("service name: {e:?}"))?;
    let service = node
        .service_builder(&name)
        .request_response::<[u8], [u8]>()
        .max_clients(1)
        .max_servers(1)
        .max_active_requests_per_client(1)
        .max_response_buffer_size(1)
        .open_or_create()
        .map_err(|e| anyhow!("request-response service: {e:?}"))?;
    Ok((node, service))
}

struct Caller {
    client: Client<ipc::Service, [u8], (), [u8], ()>,
    payload: Payload,
    _node: Node<ipc::Service>,
    _cleanup: Cleanup,
}

impl Pinger for Caller {
    fn ping(&mut self, seq: u64, wd: &Watchdog) -> anyhow::Result<()> {
        let bytes = seq.to_le_bytes();
        let request = self
            .client
            .loan_slice_uninit(REQUEST)
            .map_err(|e| anyhow!("loan: {e:?}"))?
            .write_from_fn(|i| bytes[i]);
        let pending = request.send().map_err(|e| anyhow!("send: {e:?}"))?;
        let mut turns: u32 = 0;
        loop {
            if let Some(r) = pending.receive().map_err(|e| anyhow!("receive: {e:?}"))? {
                let got = read_message(r.payload(), self.payload.touch);
                return crate::check_echo(seq, got);
            }
            std::hint::spin_loop();
            turns = turns.wrapping_add(1);
            if turns % 4096 == 0 {
                wd.check()?;
            }
        }
    }
}

struct Answerer {
    server: Server<ipc::Service, [u8], (), [u8], ()>,
    payload: Payload,
    _node: Node<ipc::Service>,
}

impl Ponger for Answerer {
    fn pong(&mut self, wd: &Watchdog) -> anyhow::Result<u64> {
        let mut turns: u32 = 0;
        loop {
            if let Some(active) = self
                .server
                .receive()
                .map_err(|e| anyhow!("receive: {e:?}"))?
            {
                let seq = read_message(active.payload(), Touch::All);
                let response = active
                    .loan_slice_uninit(self.payload.size)
                    .map_err(|e| anyhow!("loan response: {e:?}"))?;
                let bytes = seq.to_le_bytes();
                let mut response = match self.payload.touch {
                    Touch::All => {
                        response.write_from_fn(|i| if i < 8 { bytes[i] } else { seq as u8 })
                    }
                    Touch::Header => {
                        let mut response = response;
                        for (dst, b) in response.payload_mut().iter_mut().zip(bytes) {
                            dst.write(b);
                        }
                        // SAFETY: as in `iceoryx2_peer.rs`: the chunk is in a shared-memory
                        // segment the kernel zero-filled and that only ever holds earlier
                        // payloads, and any byte pattern is a valid `u8`.
                        unsafe { response.assume_init() }
                    }
                };
                response.payload_mut()[..8].copy_from_slice(&bytes);
                response
                    .send()
                    .map_err(|e| anyhow!("send response: {e:?}"))?;
                return Ok(seq);
            }
            std::hint::spin_loop();
            turns = turns.wrapping_add(1);
            if turns % 4096 == 0 {
                wd.check()?;
            }
        }
    }
}

impl Mechanism for Iceoryx2Rr {
    fn id(&self) -> &'static str {
        "iceoryx2-rr/poll"
    }

    fn sleeps(&self) -> bool {
        false
    }

    fn create(
        &self,
        ctx: &Ctx,
        payload: Payload,
    ) -> anyhow::Result<(Box<dyn Pinger>, Vec<String>)> {
        sweep_stale();
        let (node, service) = node_and_service(ctx, payload).context("iceoryx2 client side")?;
        let client = service
            .client_builder()
            .initial_max_slice_len(REQUEST)
            .create()
            .map_err(|e| anyhow!("client: {e:?}"))?;
        Ok((
            Box::new(Caller {
                client,
                payload,
                _node: node,
                _cleanup: Cleanup(ctx.run_id.0.clone()),
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
        let (node, service) = node_and_service(ctx, payload).context("iceoryx2 server side")?;
        let server = service
            .server_builder()
            .initial_max_slice_len(payload.size)
            .create()
            .map_err(|e| anyhow!("server: {e:?}"))?;
        ensure!(
            server.initial_max_slice_len() >= payload.size,
            "slice too small"
        );
        Ok(Box::new(Answerer {
            server,
            payload,
            _node: node,
        }))
    }
}
