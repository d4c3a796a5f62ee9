//! See axon topics live in Foxglove (`axon view`): a server of the
//! `foxglove.websocket.v1` protocol for one domain.
//!
//! Every topic whose segment carries a type description with a ROS 2 view
//! (crate `axon-ros2`) is a channel: `ros2msg` schema, `cdr` encoding, so
//! Foxglove's 3D, Image, Plot and Raw Messages panels draw it with no code
//! per type. Topics that appear later are advertised within
//! [`bridge::DISCOVER`]; a topic no other live process takes part in any
//! more is unadvertised (and the bridge lets go of it).
//!
//! # How it runs
//! Two threads. The **axon thread** ([`bridge`]) scans the domain, joins a
//! topic as a best-effort subscriber (`max_held = 1`, polled, never woken
//! by the publisher) only while some client subscribes to its channel,
//! encodes each sample as CDR once and hands a frame to each subscribed
//! client's outbox; it also decodes what clients publish and publishes it
//! on axon. The **WebSocket thread** ([`server`], a single-threaded tokio
//! runtime) accepts clients and runs a reader and a writer task for each.
//! Nothing the axon thread does waits for a client: a client that reads
//! slowly (or never) loses its oldest message-data frames, counted, and
//! blocks only its own writer task.
//!
//! # Client publishing (`clientPublish`)
//! A client channel with encoding `cdr` is accepted when its topic exists
//! with a described type whose ROS 2 name is the channel's `schemaName`,
//! or, for a topic that does not exist yet, when `schemaName` is the ROS 2
//! name of a standard `axon-msgs` type (e.g. `geometry_msgs/msg/Twist` ->
//! `axon-msgs/Twist`). Anything else is refused with a status error; a
//! message that does not decode is refused with a status error too.
//!
//! # Malformed frames
//! A client frame that is not a protocol message (see [`protocol`]) closes
//! that client with close code 1002 and the reason; other clients and the
//! bridge go on.
//!
//! # Bounds
//! - clients: at most [`server::MAX_CLIENTS`], and at most
//!   [`server::MAX_CONNECTIONS`] connections with handshakes in progress; a
//!   frame from a client at most [`server::MAX_CLIENT_FRAME`] bytes, a text
//!   frame at most [`protocol::MAX_TEXT`]; the TLS handshake (with
//!   `--tls`) within [`tls::HANDSHAKE_TIMEOUT`], the WebSocket handshake
//!   within [`server::HANDSHAKE_TIMEOUT`]; a certificate or key file at
//!   most [`tls::MAX_PEM_FILE`] bytes; a client that takes no frame for
//!   [`ViewOptions::write_timeout`] ([`server::WRITE_TIMEOUT`] by default)
//!   is closed;
//! - per client outbox: [`hub::MAX_DATA_FRAMES`] message-data frames and
//!   [`hub::MAX_DATA_BYTES`] bytes (oldest dropped, counted), and
//!   [`hub::MAX_CONTROL_FRAMES`] control frames (beyond: the client is
//!   closed as too slow);
//! - client publishing: [`bridge::MAX_CLIENT_CHANNELS`] channels per
//!   client, [`hub::MAX_INBOUND`] messages and [`hub::MAX_INBOUND_BYTES`]
//!   bytes waiting for the axon thread (beyond: dropped with a status);
//! - a client frame lists at most [`protocol::MAX_ITEMS`] entries, names at
//!   most [`protocol::MAX_NAME`] bytes.
//!
//! # Connection graph and time
//! The `connectionGraph` capability: a client that subscribes to it gets
//! every topic's live publishers and subscribers (their node names, or
//! `pid N` for a participant without one; the bridge's own left out) and
//! then an update whenever discovery finds the graph changed (topics
//! whose participants all left are listed as removed). No services are
//! listed. The `time` capability: every client is sent the server's
//! wall-clock time every [`server::TIME_PERIOD`] (one frame waiting at
//! most: a client that does not read holds the newest only); message
//! timestamps are on the same clock.
//!
//! # TLS
//! With [`ViewOptions::tls`] (`axon view --tls --cert FILE --key FILE`) the
//! server speaks `wss://` only (see [`tls`]: rustls on `ring`, bounded file
//! reads, a handshake per connection task within
//! [`tls::HANDSHAKE_TIMEOUT`]); a plaintext or garbage client on that port
//! is dropped at the handshake.
//!
//! Not implemented: the `parameters`, `services`, `assets` and playback capabilities (their
//! operations are answered with a status error).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub mod bridge;
pub mod hub;
pub mod protocol;
pub mod server;
pub mod tls;

pub use tls::{Tls, TlsError};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ViewOptions {
    /// Address to listen on (default 127.0.0.1).
    pub bind: IpAddr,
    /// Port (default 8765; 0 picks a free one, printed at start).
    pub port: u16,
    /// Only these topics (exact names); `None`: every topic.
    pub topics: Option<Vec<String>>,
    /// At most this many messages per second per channel (the newest
    /// sample is sent, the others skipped).
    pub max_rate: Option<f64>,
    /// A client that takes no frame for this long is closed (default
    /// [`server::WRITE_TIMEOUT`], 30 s).
    pub write_timeout: std::time::Duration,
    /// Serve `wss://` with this certificate and key (see [`tls`]);
    /// `None`: plain `ws://`.
    pub tls: Option<Tls>,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            bind: IpAddr::from([127, 0, 0, 1]),
            port: 8765,
            topics: None,
            max_rate: None,
            write_timeout: server::WRITE_TIMEOUT,
            tls: None,
        }
    }
}

/// Why `serve` could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Serves `domain` until `stop` is set or axon's shutdown is requested
/// (SIGINT/SIGTERM once `axon::shutdown::install` ran). Prints
/// `axon view: listening on ws://ADDR` (`wss://` with [`ViewOptions::tls`])
/// on stderr once it listens.
pub fn serve(
    domain: &axon::Domain,
    opts: &ViewOptions,
    stop: Arc<AtomicBool>,
) -> Result<(), ViewError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let addr = SocketAddr::new(opts.bind, opts.port);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|source| ViewError::Bind { addr, source })?;
    let local = listener.local_addr()?;
    let hub = Arc::new(hub::Hub::default());
    let axon_thread = {
        let (domain, opts, hub, stop) = (domain.clone(), opts.clone(), hub.clone(), stop.clone());
        std::thread::Builder::new()
            .name("axon-view".into())
            .spawn(move || bridge::run(domain, opts, hub, stop))?
    };
    let _ = hub.axon_thread.set(axon_thread.thread().clone());
    let scheme = if opts.tls.is_some() { "wss" } else { "ws" };
    eprintln!(
        "axon view: listening on {scheme}://{local} (domain {})",
        domain.name()
    );
    let name = format!("axon view (domain {})", domain.name());
    rt.block_on(server::serve(
        listener,
        hub.clone(),
        stop.clone(),
        name,
        opts.write_timeout,
        opts.tls.clone(),
    ));
    stop.store(true, Ordering::Relaxed);
    hub.wake();
    let _ = axon_thread.join();
    Ok(())
}

/// Entry points for fuzzing: arbitrary bytes must never panic, hang or
/// allocate without bound.
#[doc(hidden)]
pub mod fuzzing {
    /// `data` as a client frame: binary, and as text when it is UTF-8.
    pub fn client_frame(data: &[u8]) {
        let _ = crate::protocol::parse_binary(data);
        if let Ok(t) = std::str::from_utf8(data) {
            let _ = crate::protocol::parse_text(t);
        }
    }

    /// `data` as the contents of both `--cert` and `--key` files.
    pub fn tls_pem(data: &[u8]) {
        crate::tls::fuzz_pem(data);
    }
}
