//! The WebSocket side: accepts clients, reads their frames, writes their
//! outboxes. One tokio thread for all clients; each client is a reader
//! task and a writer task, so a client that does not read blocks only its
//! own writer. With `--tls` each connection's task first completes the TLS
//! handshake (bounded by [`crate::tls::HANDSHAKE_TIMEOUT`]); the accept
//! loop never waits for it.

use std::collections::hash_map::Entry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::bridge::MAX_CLIENT_CHANNELS;
use crate::hub::{Client, Hub, Inbound, Next, Outbox};
use crate::protocol::{self, ClientMsg, Level, SUBPROTOCOL};

/// Most clients at once; more are refused at the handshake.
pub const MAX_CLIENTS: usize = 16;
/// Most connections at once, clients and handshakes in progress; a
/// connection beyond is closed at once.
pub const MAX_CONNECTIONS: usize = 32;
/// Largest frame a client may send (16 MiB, a 1080p rgb8 image fits twice).
pub const MAX_CLIENT_FRAME: usize = 16 << 20;
/// A client must finish the WebSocket handshake within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that takes longer than this to take one frame is closed (the
/// default of [`crate::ViewOptions::write_timeout`]).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often each client is sent the server's time (`time` capability).
pub const TIME_PERIOD: Duration = Duration::from_millis(100);

pub async fn serve(
    listener: TcpListener,
    hub: Arc<Hub>,
    stop: Arc<AtomicBool>,
    name: String,
    write_timeout: Duration,
    tls: Option<crate::tls::Tls>,
) {
    let session = crate::bridge::realtime_ns().to_string();
    let mut tick = tokio::time::interval(TIME_PERIOD);
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, peer)) => {
                        let Ok(permit) = permits.clone().try_acquire_owned() else {
                            eprintln!("axon view: {peer}: refused, {MAX_CONNECTIONS} connections open");
                            continue;
                        };
                        let hub = hub.clone();
                        let info = protocol::server_info(&name, &session);
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            let _ = stream.set_nodelay(true);
                            match tls {
                                None => connection(stream, peer, hub, info, write_timeout).await,
                                Some(tls) => {
                                    if let Some(stream) = tls_handshake(&tls, stream, peer).await {
                                        connection(stream, peer, hub, info, write_timeout).await;
                                    }
                                }
                            }
                            drop(permit);
                        });
                    }
                    Err(e) => {
                        eprintln!("axon view: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            _ = tick.tick() => {
                let now = crate::bridge::realtime_ns();
                for c in hub.lock().clients.values() {
                    c.out.time(Bytes::copy_from_slice(&protocol::time(now)));
                }
                if stop.load(Ordering::Relaxed) || axon::shutdown_requested() {
                    stop.store(true, Ordering::Relaxed);
                    for c in hub.lock().clients.values() {
                        c.out.close("the server is shutting down".into());
                    }
                    // Let the writers send their close frames.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return;
                }
            }
        }
    }
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_CLIENT_FRAME))
        .max_frame_size(Some(MAX_CLIENT_FRAME))
        .max_write_buffer_size(MAX_CLIENT_FRAME * 2)
}

/// The TLS handshake of one connection, in its own task; `None` (logged)
/// when it fails or takes longer than [`crate::tls::HANDSHAKE_TIMEOUT`]:
/// that connection is dropped, nothing else is touched.
async fn tls_handshake(
    tls: &crate::tls::Tls,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            eprintln!("axon view: {peer}: TLS handshake failed: {e}");
            None
        }
        Err(_) => {
            eprintln!("axon view: {peer}: TLS handshake timed out");
            None
        }
    }
}

async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    hub: Arc<Hub>,
    info: String,
    write_timeout: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let full = hub.lock().clients.len() >= MAX_CLIENTS;
    // The callback's signature is tungstenite's.
    #[allow(clippy::result_large_err)]
    let callback = move |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let offered = req
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == SUBPROTOCOL);
        let refuse = |code: StatusCode, why: &str| {
            let mut r = ErrorResponse::new(Some(why.to_string()));
            *r.status_mut() = code;
            r
        };
        if !offered {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "this server speaks the foxglove.websocket.v1 subprotocol only",
            ));
        }
        if full {
            return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "too many clients"));
        }
        resp.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
        Ok(resp)
    };
    let ws = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config())),
    )
    .await;
    let ws = match ws {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            eprintln!("axon view: {peer}: handshake failed: {e}");
            return;
        }
        Err(_) => {
            eprintln!("axon view: {peer}: handshake timed out");
            return;
        }
    };
    let (mut sink, mut source) = ws.split();
    let out = Arc::new(Outbox::default());
    let id = {
        let mut st = hub.lock();
        let id = st.next_client;
        st.next_client += 1;
        out.control(info);
        let channels: Vec<_> = st.channels.values().cloned().collect();
        if !channels.is_empty() {
            out.control(protocol::advertise(&channels));
        }
        st.clients.insert(
            id,
            Client {
                out: out.clone(),
                subs: Default::default(),
                advertised: Default::default(),
                graph: false,
            },
        );
        id
    };
    eprintln!("axon view: client {id} connected from {peer}");

    let writer_out = out.clone();
    let writer = tokio::spawn(async move {
        loop {
            match writer_out.next() {
                Some(Next::Frame(m)) => {
                    match tokio::time::timeout(write_timeout, sink.send(m)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return "the connection failed".to_string(),
                        Err(_) => {
                            return format!(
                                "it took no frame for {:.1} s: closed",
                                write_timeout.as_secs_f64()
                            )
                        }
                    }
                }
                Some(Next::Close(reason)) => {
                    let frame = CloseFrame {
                        code: if reason.starts_with("the server") {
                            CloseCode::Away
                        } else {
                            CloseCode::Protocol
                        },
                        reason: truncate(&reason, 120).into(),
                    };
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        sink.send(Message::Close(Some(frame))),
                    )
                    .await;
                    return reason;
                }
                None => writer_out.notify.notified().await,
            }
        }
    });

    let reader_out = out.clone();
    // Ends with `true` when the server closes the client (a malformed
    // frame), `false` when the client closed or the connection broke.
    let reader = async {
        while let Some(msg) = source.next().await {
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    reader_out.close(format!("invalid WebSocket data: {e}"));
                    return true;
                }
            };
            let parsed = match &msg {
                Message::Text(t) => protocol::parse_text(t.as_str()),
                Message::Binary(b) => protocol::parse_binary(b),
                Message::Close(_) => return false,
                _ => continue,
            };
            let result = match parsed {
                Ok(m) => handle(&hub, id, &reader_out, m),
                Err(e) => Err(format!("malformed frame: {e}")),
            };
            if let Err(reason) = result {
                reader_out.close(reason);
                return true;
            }
        }
        false
    };
    // The reader ends on the client's close, an error or a malformed frame;
    // the writer ends when it closed the client or the connection failed.
    let mut writer = writer;
    let reason = tokio::select! {
        closing = reader => {
            if closing {
                // Give the writer the chance to send the close frame.
                match tokio::time::timeout(Duration::from_secs(3), &mut writer).await {
                    Ok(Ok(r)) => r,
                    _ => { writer.abort(); "closed".to_string() }
                }
            } else {
                writer.abort();
                "it closed the connection".to_string()
            }
        }
        r = &mut writer => r.unwrap_or_else(|_| "writer failed".to_string()),
    };
    let dropped = out.dropped();
    {
        let mut st = hub.lock();
        st.clients.remove(&id);
        st.subs_generation += 1;
        st.inbound.push_back(Inbound::Gone { client: id });
    }
    hub.wake();
    eprintln!("axon view: client {id} ({peer}) gone: {reason}; {dropped} messages dropped because it did not keep up");
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Applies one client message; `Err` closes the client with that reason.
fn handle(hub: &Hub, id: u64, out: &Outbox, msg: ClientMsg) -> Result<(), String> {
    let mut st = hub.lock();
    let st = &mut *st;
    let Some(client) = st.clients.get_mut(&id) else {
        return Ok(());
    };
    match msg {
        ClientMsg::Subscribe(list) => {
            for (sub, chan) in list {
                if !st.channels.contains_key(&chan) {
                    out.control(protocol::status(
                        Level::Warning,
                        &format!("no channel {chan} (it may have just gone)"),
                    ));
                    continue;
                }
                match client.subs.entry(sub) {
                    Entry::Occupied(_) => out.control(protocol::status(
                        Level::Error,
                        &format!("subscription id {sub} is in use"),
                    )),
                    Entry::Vacant(v) => {
                        v.insert(chan);
                    }
                }
            }
            st.subs_generation += 1;
            hub.wake();
        }
        ClientMsg::Unsubscribe(list) => {
            for sub in list {
                if client.subs.remove(&sub).is_none() {
                    out.control(protocol::status(
                        Level::Warning,
                        &format!("no subscription {sub}"),
                    ));
                }
            }
            st.subs_generation += 1;
            hub.wake();
        }
        ClientMsg::Advertise(list) => {
            for chan in list {
                if client.advertised.contains_key(&chan.id) {
                    out.control(protocol::status(
                        Level::Error,
                        &format!("client channel {} is already advertised", chan.id),
                    ));
                    continue;
                }
                if client.advertised.len() >= MAX_CLIENT_CHANNELS {
                    out.control(protocol::status(
                        Level::Error,
                        &format!("at most {MAX_CLIENT_CHANNELS} client channels"),
                    ));
                    continue;
                }
                if st.inbound.len() >= crate::hub::MAX_INBOUND {
                    out.control(protocol::status(
                        Level::Warning,
                        "the bridge is busy: advertise again later",
                    ));
                    continue;
                }
                client.advertised.insert(chan.id, chan.clone());
                st.inbound
                    .push_back(Inbound::Advertise { client: id, chan });
            }
            hub.wake();
        }
        ClientMsg::Unadvertise(list) => {
            for cid in list {
                if client.advertised.remove(&cid).is_some() {
                    st.inbound.push_back(Inbound::Unadvertise {
                        client: id,
                        id: cid,
                    });
                }
            }
            hub.wake();
        }
        ClientMsg::Publish { channel, payload } => {
            if !client.advertised.contains_key(&channel) {
                return Err(format!(
                    "message data on client channel {channel}, which it did not advertise"
                ));
            }
            if st.push_publish(id, channel, payload) {
                hub.wake();
            } else {
                out.control(protocol::status(
                    Level::Warning,
                    "the bridge is busy: a published message was dropped",
                ));
            }
        }
        ClientMsg::ConnectionGraph(on) => {
            if on && !client.graph {
                out.control(protocol::connection_graph(&st.graph, &Default::default()));
            }
            client.graph = on;
        }
        ClientMsg::Unsupported(op) => out.control(protocol::status(
            Level::Error,
            &format!("{op} is not supported by this server"),
        )),
    }
    Ok(())
}
