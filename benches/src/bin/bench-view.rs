//! `axon view`'s latency beside a plain WebSocket carrying the same bytes,
//! measured in the same run.
//!
//! ```sh
//! cargo run --release -p axon-benches --bin bench-view [-- SAMPLES]
//! ```
//!
//! Rows, each for an `Imu` and a 640x480 rgb8 `Image`:
//! - `bridge`: a publisher in this process sends on axon; `axon_view::serve`
//!   (in a thread, as `axon view` runs it) takes the sample, encodes CDR
//!   and writes a message-data frame; a `tokio-tungstenite` client
//!   subscribed to the channel receives it. Latency = the client's
//!   `CLOCK_REALTIME` at receipt minus the frame's timestamp (the send stamp,
//!   which the bridge shifts to `CLOCK_REALTIME`).
//! - `websocket`: a plain WebSocket server in this process writes a frame of
//!   the same length (the bridge's frame for that sample) to the same kind
//!   of client; latency = receipt minus the stamp written into the frame.
//!
//! Samples are sent every 20 ms, so nothing queues: this is the latency of
//! one message, not throughput. The bridge polls its subscribers every
//! millisecond while a client watches (it never sleeps on a topic's wake
//! word, so it never costs a publisher a wake-up call); that poll is most
//! of the difference.

use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axon::qos::Qos;
use axon::{Domain, Message, RawPublisher, TopicName, TypeDesc};
use axon_msgs::{Image, Imu};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Bytes, Message as WsMessage};

const PERIOD: Duration = Duration::from_millis(20);

fn realtime_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).unwrap();
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Stats {
    median_us: f64,
    p99_us: f64,
    frame: usize,
}

fn stats(mut v: Vec<u64>, frame: usize) -> Stats {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    Stats {
        median_us: at(0.5),
        p99_us: at(0.99),
        frame,
    }
}

/// Connects a foxglove.websocket.v1 client to `port`.
async fn client(port: u16, foxglove: bool) -> tokio_tungstenite::WebSocketStream<TcpStream> {
    let url = format!("ws://127.0.0.1:{port}");
    let mut req = url.as_str().into_client_request().unwrap();
    if foxglove {
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("foxglove.websocket.v1"),
        );
    }
    for _ in 0..200 {
        if let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)).await {
            tcp.set_nodelay(true).unwrap();
            let (ws, _) = tokio_tungstenite::client_async(req.clone(), tcp)
                .await
                .unwrap();
            return ws;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("nobody listens on {port}");
}

/// Publishes `n` samples of `T` (`bytes` as they lie in a slot) on `topic`
/// through the bridge; returns the client's latencies and the frame length.
fn bridge<T: Message + ?Sized>(
    dom: &Domain,
    topic: &str,
    bytes: &[u8],
    elems: usize,
    n: usize,
    qos: &Qos,
) -> Stats {
    let port = free_port();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (dom, stop) = (dom.clone(), stop.clone());
        let opts = axon_view::ViewOptions {
            port,
            ..Default::default()
        };
        std::thread::spawn(move || axon_view::serve(&dom, &opts, stop).unwrap())
    };
    let desc = TypeDesc::of::<T>();
    let p = RawPublisher::create(dom, TopicName::new(topic).unwrap(), &desc, qos, "bench").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (lat, frame) = rt.block_on(async {
        let mut ws = client(port, true).await;
        // Find the channel, subscribe.
        let chan = loop {
            let m = ws.next().await.unwrap().unwrap();
            if let WsMessage::Text(t) = m {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["op"] == "advertise" {
                    if let Some(c) = v["channels"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|c| c["topic"] == topic)
                    {
                        break c["id"].as_u64().unwrap();
                    }
                }
            }
        };
        let sub =
            serde_json::json!({"op": "subscribe", "subscriptions": [{"id": 1, "channelId": chan}]});
        ws.send(WsMessage::text(sub.to_string())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await; // the bridge joins
        let mut lat = Vec::with_capacity(n);
        let mut frame = 0;
        for _ in 0..n + 5 {
            let mut loan = p.loan_slot(elems).unwrap();
            loan.bytes_mut()[..bytes.len()].copy_from_slice(bytes);
            loan.send();
            loop {
                let m = ws.next().await.unwrap().unwrap();
                if let WsMessage::Binary(b) = m {
                    let now = realtime_ns();
                    let ts = u64::from_le_bytes(b[5..13].try_into().unwrap());
                    lat.push(now.saturating_sub(ts));
                    frame = b.len();
                    break;
                }
            }
            tokio::time::sleep(PERIOD).await;
        }
        lat.drain(..5); // the first ones include the join
        (lat, frame)
    });
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    stats(lat, frame)
}

/// The same number of bytes over a plain WebSocket.
fn websocket(frame: usize, n: usize) -> Stats {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let port = free_port();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            let (tcp, _) = l.accept().await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let mut buf = vec![0u8; frame];
            for _ in 0..n + 5 {
                buf[5..13].copy_from_slice(&realtime_ns().to_le_bytes());
                ws.send(WsMessage::Binary(Bytes::copy_from_slice(&buf)))
                    .await
                    .unwrap();
                tokio::time::sleep(PERIOD).await;
            }
            let _ = ws.close(None).await;
        })
    });
    let lat = rt.block_on(async {
        let mut ws = client(port, false).await;
        let mut lat = Vec::new();
        while lat.len() < n + 5 {
            match ws.next().await {
                Some(Ok(WsMessage::Binary(b))) => {
                    let now = realtime_ns();
                    lat.push(now.saturating_sub(u64::from_le_bytes(b[5..13].try_into().unwrap())));
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        lat.drain(..5);
        lat
    });
    server.join().unwrap();
    stats(lat, frame)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("SAMPLES"))
        .unwrap_or(200);
    let dom = Domain::new("/dev/shm", &format!("bench-view-{}", std::process::id())).unwrap();
    let imu = vec![0u8; core::mem::size_of::<Imu>()];
    let img_desc = TypeDesc::of::<Image>();
    let pixels = 640 * 480 * 3;
    let mut img = vec![0u8; img_desc.fixed_size as usize + pixels];
    for (i, b) in img
        .iter_mut()
        .enumerate()
        .skip(img_desc.fixed_size as usize)
    {
        *b = i as u8;
    }
    let rows = [
        (
            "Imu",
            bridge::<Imu>(&dom, "/imu", &imu, 0, n, &Qos::default()),
        ),
        (
            "Image 640x480 rgb8",
            bridge::<Image>(
                &dom,
                "/camera/image",
                &img,
                pixels,
                n,
                &Qos {
                    max_len: Some(pixels),
                    ..Qos::default()
                },
            ),
        ),
    ];
    println!(
        "axon view latency, publish -> client receipt, {n} samples each, one every {} ms",
        PERIOD.as_millis()
    );
    println!(
        "{:<20} {:>10} {:>12} {:>10} {:>14} {:>12} {:>8}",
        "message", "frame B", "bridge med", "p99", "websocket med", "p99", "ratio"
    );
    for (name, b) in rows {
        let w = websocket(b.frame, n);
        println!(
            "{:<20} {:>10} {:>9.1} us {:>7.1} us {:>11.1} us {:>9.1} us {:>8.2}",
            name,
            b.frame,
            b.median_us,
            b.p99_us,
            w.median_us,
            w.p99_us,
            b.median_us / w.median_us
        );
    }
    if let Ok(files) = axon::inspect::segment_files(dom.dir(), axon::inspect::Scope::Domain(&dom)) {
        for f in files {
            let _ = std::fs::remove_file(f.path);
        }
    }
}
