//! `axon view`'s latency beside a plain WebSocket carrying the same bytes,
//! measured in the same run.
//!
//! ```sh
//! cargo run --release -p axon-benches --bin bench-view [-- SAMPLES [CPU_SECONDS]]
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
//!
//! Then the CPU cost: the demo robot's traffic (the topics and rates of
//! `launch/robot.toml`: a 640x480 rgb8 image at 30 Hz, a 360-beam scan at
//! 10 Hz, Imu at 200 Hz, odometry, `/tf` and `cmd_vel` at 50 Hz, obstacle at
//! 10 Hz, `/tf_static` at 1 Hz) published in this process for CPU_SECONDS
//! (default 10) with one client subscribed to every channel. The bridge's
//! CPU is the utime + stime (`/proc/self/task/*/stat`) of its two threads
//! (the axon thread and the WebSocket thread), per second of wall time;
//! beside it, a plain WebSocket server thread writing frames of the same
//! lengths at the same rates to the same kind of client.

use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axon::qos::Qos;
use axon::{Domain, Message, RawPublisher, TopicName, TypeDesc};
use axon_msgs::{Image, Imu, LaserScan, Odometry, PoseStamped, TfMessage, Twist};
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
                // Message data (opcode 1), not the server's time (2).
                if let WsMessage::Binary(b) = m {
                    if b[0] != 1 {
                        continue;
                    }
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

/// CPU seconds (utime + stime) so far of this process's threads named
/// one of `names`.
fn thread_cpu(names: &[&str]) -> f64 {
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !names.contains(&&stat[open + 1..close]) {
            continue;
        }
        // After the comm: state, ppid, ... utime and stime are fields 14, 15.
        let f: Vec<&str> = stat[close + 2..].split(' ').collect();
        total += f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    }
    total as f64 / tick
}

/// One topic of the demo robot's traffic.
struct Stream {
    topic: &'static str,
    hz: f64,
    bytes: Vec<u8>,
    elems: usize,
    desc: TypeDesc,
    max_len: Option<usize>,
}

fn demo_traffic() -> Vec<Stream> {
    fn sized<T: Message>(topic: &'static str, hz: f64) -> Stream {
        let desc = TypeDesc::of::<T>();
        Stream {
            topic,
            hz,
            bytes: vec![0u8; desc.fixed_size as usize],
            elems: 0,
            desc,
            max_len: None,
        }
    }
    fn slice<T: Message + ?Sized>(topic: &'static str, hz: f64, elems: usize) -> Stream {
        let desc = TypeDesc::of::<T>();
        let len = desc.fixed_size as usize + elems * desc.elem_size as usize;
        Stream {
            topic,
            hz,
            bytes: (0..len).map(|i| i as u8).collect(),
            elems,
            desc,
            max_len: Some(elems),
        }
    }
    let mut tf = sized::<TfMessage>("/tf", 50.0);
    tf.bytes[0] = 1; // one transform (count = 1)
    let mut tf_static = sized::<TfMessage>("/tf_static", 1.0);
    tf_static.bytes[0] = 3;
    let mut scan = slice::<LaserScan>("/scan", 10.0, 360);
    scan.bytes[..scan.desc.fixed_size as usize].fill(0);
    let mut image = slice::<Image>("/camera/image", 30.0, 640 * 480 * 3);
    image.bytes[..image.desc.fixed_size as usize].fill(0);
    vec![
        image,
        scan,
        sized::<Imu>("/imu", 200.0),
        sized::<Odometry>("/odom", 50.0),
        tf,
        tf_static,
        sized::<Twist>("/cmd_vel", 50.0),
        sized::<PoseStamped>("/obstacle", 10.0),
    ]
}

/// Runs `streams` through the bridge to one client subscribed to all for
/// `secs`; returns the bridge threads' CPU seconds per wall second and
/// the frames the client got as (length, count).
fn bridge_cpu(dom: &Domain, streams: &[Stream], secs: f64) -> (f64, Vec<(usize, u64)>) {
    const THREADS: [&str; 2] = ["axon-view", "view-ws"];
    let port = free_port();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (dom, stop) = (dom.clone(), stop.clone());
        let opts = axon_view::ViewOptions {
            port,
            ..Default::default()
        };
        std::thread::Builder::new()
            .name("view-ws".into())
            .spawn(move || axon_view::serve(&dom, &opts, stop).unwrap())
            .unwrap()
    };
    let pubs: Vec<RawPublisher> = streams
        .iter()
        .map(|s| {
            let qos = Qos {
                max_len: s.max_len,
                ..Qos::default()
            };
            RawPublisher::create(
                dom,
                TopicName::new(s.topic).unwrap(),
                &s.desc,
                &qos,
                "bench",
            )
            .unwrap()
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let publisher = {
        let done = done.clone();
        let plan: Vec<(Duration, Vec<u8>, usize)> = streams
            .iter()
            .map(|s| {
                (
                    Duration::from_secs_f64(1.0 / s.hz),
                    s.bytes.clone(),
                    s.elems,
                )
            })
            .collect();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let mut next = vec![start; plan.len()];
            while !done.load(Ordering::Relaxed) {
                let now = std::time::Instant::now();
                for (i, (period, bytes, elems)) in plan.iter().enumerate() {
                    if now >= next[i] {
                        next[i] += *period;
                        if let Ok(mut loan) = pubs[i].loan_slot(*elems) {
                            loan.bytes_mut()[..bytes.len()].copy_from_slice(bytes);
                            loan.send();
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cpu, frames) = rt.block_on(async {
        let mut ws = client(port, true).await;
        let mut chans = std::collections::HashMap::new();
        while chans.len() < streams.len() {
            if let WsMessage::Text(t) = ws.next().await.unwrap().unwrap() {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["op"] == "advertise" {
                    for c in v["channels"].as_array().unwrap() {
                        chans.insert(c["id"].as_u64().unwrap(), c["topic"].clone());
                    }
                }
            }
        }
        let subs: Vec<_> = chans
            .keys()
            .map(|&id| serde_json::json!({"id": id, "channelId": id}))
            .collect();
        let sub = serde_json::json!({"op": "subscribe", "subscriptions": subs});
        ws.send(WsMessage::text(sub.to_string())).await.unwrap();
        // Warm up: the bridge joins every topic.
        let warm = tokio::time::Instant::now() + Duration::from_secs(1);
        while tokio::time::Instant::now() < warm {
            let _ = tokio::time::timeout_at(warm, ws.next()).await;
        }
        let cpu0 = thread_cpu(&THREADS);
        let t0 = std::time::Instant::now();
        let end = tokio::time::Instant::now() + Duration::from_secs_f64(secs);
        let mut frames: std::collections::HashMap<u32, (usize, u64)> = Default::default();
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(end, ws.next()).await {
            if let WsMessage::Binary(b) = m {
                if b[0] == 1 {
                    let sub = u32::from_le_bytes(b[1..5].try_into().unwrap());
                    let e = frames.entry(sub).or_insert((b.len(), 0));
                    e.1 += 1;
                }
            }
        }
        let cpu = (thread_cpu(&THREADS) - cpu0) / t0.elapsed().as_secs_f64();
        (cpu, frames.into_values().collect::<Vec<_>>())
    });
    done.store(true, Ordering::Relaxed);
    publisher.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    (cpu, frames)
}

/// A plain WebSocket server thread writing frames of `streams`' lengths
/// at their rates (`(frame length, Hz)`) to one client for `secs`; its CPU
/// seconds per wall second.
fn websocket_cpu(streams: &[(usize, f64)], secs: f64) -> f64 {
    let port = free_port();
    let plan = streams.to_vec();
    let server = std::thread::Builder::new()
        .name("ws-plain".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
                let (tcp, _) = l.accept().await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                let bufs: Vec<Vec<u8>> = plan.iter().map(|(len, _)| vec![1u8; *len]).collect();
                let start = tokio::time::Instant::now();
                let end = start + Duration::from_secs_f64(secs + 1.0);
                let mut next = vec![start; plan.len()];
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                while tokio::time::Instant::now() < end {
                    tick.tick().await;
                    let now = tokio::time::Instant::now();
                    for (i, (_, hz)) in plan.iter().enumerate() {
                        if now >= next[i] {
                            next[i] += Duration::from_secs_f64(1.0 / hz);
                            ws.send(WsMessage::Binary(Bytes::copy_from_slice(&bufs[i])))
                                .await
                                .unwrap();
                        }
                    }
                }
                let _ = ws.close(None).await;
            })
        })
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cpu = rt.block_on(async {
        let mut ws = client(port, false).await;
        let warm = tokio::time::Instant::now() + Duration::from_millis(500);
        while tokio::time::Instant::now() < warm {
            let _ = tokio::time::timeout_at(warm, ws.next()).await;
        }
        let cpu0 = thread_cpu(&["ws-plain"]);
        let t0 = std::time::Instant::now();
        let end = tokio::time::Instant::now() + Duration::from_secs_f64(secs - 0.5);
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(end, ws.next()).await {}
        let cpu = (thread_cpu(&["ws-plain"]) - cpu0) / t0.elapsed().as_secs_f64();
        while let Some(Ok(_)) = ws.next().await {}
        cpu
    });
    server.join().unwrap();
    cpu
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("SAMPLES"))
        .unwrap_or(200);
    let cpu_secs: f64 = std::env::args()
        .nth(2)
        .map(|a| a.parse().expect("CPU_SECONDS"))
        .unwrap_or(10.0);
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

    let cpu_dom = Domain::new(
        "/dev/shm",
        &format!("bench-view-cpu-{}", std::process::id()),
    )
    .unwrap();
    let streams = demo_traffic();
    let (bridge, frames) = bridge_cpu(&cpu_dom, &streams, cpu_secs);
    // The same frame lengths at the same rates: each frame length the
    // client saw, at the rate it saw it.
    let plain: Vec<(usize, f64)> = frames
        .iter()
        .map(|&(len, count)| (len, (count as f64 / cpu_secs).max(0.5)))
        .collect();
    let bytes_per_s: f64 = plain.iter().map(|(l, hz)| *l as f64 * hz).sum();
    let msgs_per_s: f64 = plain.iter().map(|(_, hz)| hz).sum();
    let ws = websocket_cpu(&plain, cpu_secs);
    println!();
    println!(
        "CPU for the demo robot's traffic ({} topics, {msgs_per_s:.0} msg/s, {:.1} MB/s to one client subscribed to all), {cpu_secs} s",
        frames.len(),
        bytes_per_s / 1e6
    );
    println!(
        "{:<20} {:>14} {:>14} {:>8}",
        "", "bridge CPU", "websocket CPU", "ratio"
    );
    println!(
        "{:<20} {:>12.1} % {:>12.1} % {:>8.2}",
        "per wall second",
        bridge * 100.0,
        ws * 100.0,
        bridge / ws
    );
    if let Ok(files) =
        axon::inspect::segment_files(cpu_dom.dir(), axon::inspect::Scope::Domain(&cpu_dom))
    {
        for f in files {
            let _ = std::fs::remove_file(f.path);
        }
    }
}
