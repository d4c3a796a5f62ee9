//! The peer: iceoryx2 0.10 publish-subscribe, cross-process, with `[u8]` slices.
//!
//! Each direction is its own service (`axon-bench/<run>/ping`, `.../pong`); the parent
//! publishes on `ping` and subscribes to `pong`, the child the other way round.
//! [`ICEORYX2_POLL`] busy-polls `receive()`; [`ICEORYX2_BLOCK`] pairs each topic with an event
//! service and sleeps in `Listener::timed_wait` until the notifier fires after `send`.
//!
//! Isolation and cleanup: every session uses its own iceoryx2 `Config` with root path
//! `/tmp/iceoryx2/<run>/` and file prefix `<run>_`, so parallel runs never see each other. The
//! parent removes both when the session ends; files of earlier runs whose process is dead (a
//! crashed or killed run) are removed before a new session starts.

use std::time::Duration;

use anyhow::{anyhow, ensure, Context as _};
use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

use crate::{read_message, Ctx, Endpoint, Mechanism, Payload, Pinger, Ponger, Touch, Watchdog};

pub(crate) const ROOT: &str = "/tmp/iceoryx2";
const SHM_DIR: &str = "/dev/shm";

/// iceoryx2 publish-subscribe, waiting by busy polling or by an event listener.
pub struct Iceoryx2Peer {
    blocking: bool,
}

/// Busy polling `receive()`.
pub static ICEORYX2_POLL: Iceoryx2Peer = Iceoryx2Peer { blocking: false };
/// Sleeping on an event listener, woken by a notifier after each `send`.
pub static ICEORYX2_BLOCK: Iceoryx2Peer = Iceoryx2Peer { blocking: true };

fn run_root(ctx: &Ctx) -> String {
    format!("{ROOT}/{}/", ctx.run_id)
}

pub(crate) fn config(ctx: &Ctx) -> anyhow::Result<Config> {
    let mut config = Config::default();
    config.global.set_root_path(
        &Path::new(run_root(ctx).as_bytes()).map_err(|e| anyhow!("root path: {e:?}"))?,
    );
    config.global.prefix = FileName::new(format!("{}_", ctx.run_id).as_bytes())
        .map_err(|e| anyhow!("prefix: {e:?}"))?;
    Ok(config)
}

pub(crate) fn remove_run_files(run_id: &str) {
    let _ = std::fs::remove_dir_all(format!("{ROOT}/{run_id}"));
    // iceoryx2's own root; removed only if no other run uses it.
    let _ = std::fs::remove_dir(ROOT);
    if let Ok(dir) = std::fs::read_dir(SHM_DIR) {
        let prefix = format!("{run_id}_");
        for e in dir.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Whether process `pid` runs (a zombie, whose parent has not reaped it yet, does not).
fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself contain spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Removes what runs of dead processes left in `/tmp/iceoryx2` and `/dev/shm`.
pub fn sweep_stale() {
    for dir in [ROOT, SHM_DIR] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = crate::RunId::owner_pid(&name) else {
                continue;
            };
            if pid_alive(pid) {
                continue;
            }
            let path = e.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// Removes this session's files when the parent's side is dropped (after the ports and node).
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        remove_run_files(&self.0);
    }
}

struct Wakeup {
    notifier: Notifier<ipc::Service>,
    listener: Listener<ipc::Service>,
}

/// One side. Field order is drop order: ports, then services, then the node, then files.
struct End {
    publisher: Publisher<ipc::Service, [u8], ()>,
    subscriber: Subscriber<ipc::Service, [u8], ()>,
    wakeup: Option<Wakeup>,
    payload: Payload,
    _node: Node<ipc::Service>,
    _cleanup: Option<Cleanup>,
}

impl End {
    fn new(ctx: &Ctx, payload: Payload, blocking: bool, parent: bool) -> anyhow::Result<Self> {
        set_log_level(LogLevel::Error);
        let node = NodeBuilder::new()
            .config(&config(ctx)?)
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<ipc::Service>()
            .map_err(|e| anyhow!("iceoryx2 node: {e:?}"))?;
        let (out, inn) = if parent {
            ("ping", "pong")
        } else {
            ("pong", "ping")
        };
        let topic = |dir: &str| -> anyhow::Result<_> {
            let name: ServiceName = format!("axon-bench/{}/{dir}", ctx.run_id)
                .as_str()
                .try_into()
                .map_err(|e| anyhow!("service name: {e:?}"))?;
            node.service_builder(&name)
                .publish_subscribe::<[u8]>()
                .max_publishers(1)
                .max_subscribers(1)
                .history_size(0)
                .subscriber_max_buffer_size(1)
                .open_or_create()
                .map_err(|e| anyhow!("service {dir}: {e:?}"))
        };
        let publisher = topic(out)?
            .publisher_builder()
            .initial_max_slice_len(payload.size)
            .create()
            .map_err(|e| anyhow!("publisher: {e:?}"))?;
        let subscriber = topic(inn)?
            .subscriber_builder()
            .create()
            .map_err(|e| anyhow!("subscriber: {e:?}"))?;
        let wakeup = if blocking {
            let event = |dir: &str| -> anyhow::Result<_> {
                let name: ServiceName = format!("axon-bench/{}/{dir}-event", ctx.run_id)
                    .as_str()
                    .try_into()
                    .map_err(|e| anyhow!("event name: {e:?}"))?;
                node.service_builder(&name)
                    .event()
                    .open_or_create()
                    .map_err(|e| anyhow!("event {dir}: {e:?}"))
            };
            Some(Wakeup {
                notifier: event(out)?
                    .notifier_builder()
                    .create()
                    .map_err(|e| anyhow!("notifier: {e:?}"))?,
                listener: event(inn)?
                    .listener_builder()
                    .create()
                    .map_err(|e| anyhow!("listener: {e:?}"))?,
            })
        } else {
            None
        };
        Ok(Self {
            publisher,
            subscriber,
            wakeup,
            payload,
            _node: node,
            _cleanup: parent.then(|| Cleanup(ctx.run_id.0.clone())),
        })
    }
}

impl Endpoint for End {
    fn send(&mut self, seq: u64) -> anyhow::Result<()> {
        let sample = self
            .publisher
            .loan_slice_uninit(self.payload.size)
            .map_err(|e| anyhow!("loan: {e:?}"))?;
        let mut sample = match self.payload.touch {
            Touch::All => sample.write_from_fn(|_| seq as u8),
            Touch::Header => {
                let mut sample = sample;
                for (dst, b) in sample.payload_mut().iter_mut().zip(seq.to_le_bytes()) {
                    dst.write(b);
                }
                // SAFETY: "touch header only" must not write the other bytes. They are
                // initialised memory all the same: the chunk lives in a shared-memory segment
                // that the kernel zero-fills on creation and that only ever holds earlier
                // payloads, and any byte pattern is a valid `u8`.
                unsafe { sample.assume_init() }
            }
        };
        sample.payload_mut()[..8].copy_from_slice(&seq.to_le_bytes());
        let receivers = sample.send().map_err(|e| anyhow!("send: {e:?}"))?;
        ensure!(
            receivers == 1,
            "sample reached {receivers} subscribers, not 1"
        );
        if let Some(w) = &self.wakeup {
            w.notifier.notify().map_err(|e| anyhow!("notify: {e:?}"))?;
        }
        Ok(())
    }

    fn receive(&mut self, wd: &Watchdog) -> anyhow::Result<u64> {
        let mut turns: u32 = 0;
        loop {
            if let Some(w) = &self.wakeup {
                let n = w
                    .listener
                    .timed_wait(|_| {}, Duration::from_millis(100))
                    .map_err(|e| anyhow!("timed_wait: {e:?}"))?;
                if n == 0 {
                    wd.check()?;
                }
            }
            if let Some(sample) = self
                .subscriber
                .receive()
                .map_err(|e| anyhow!("receive: {e:?}"))?
            {
                return Ok(read_message(sample.payload(), self.payload.touch));
            }
            if self.wakeup.is_none() {
                std::hint::spin_loop();
                turns = turns.wrapping_add(1);
                if turns % 4096 == 0 {
                    wd.check()?;
                }
            }
        }
    }
}

impl Mechanism for Iceoryx2Peer {
    fn id(&self) -> &'static str {
        if self.blocking {
            "iceoryx2/block"
        } else {
            "iceoryx2/poll"
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
        sweep_stale();
        let end = End::new(ctx, payload, self.blocking, true).context("iceoryx2 parent side")?;
        Ok((Box::new(end), vec![]))
    }

    fn open(
        &self,
        ctx: &Ctx,
        payload: Payload,
        _args: &[String],
    ) -> anyhow::Result<Box<dyn Ponger>> {
        let end = End::new(ctx, payload, self.blocking, false).context("iceoryx2 child side")?;
        Ok(Box::new(end))
    }
}
