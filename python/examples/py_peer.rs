//! The Rust side of the Python package's cross-process tests
//! (python/tests): a plain Rust node publishing or receiving one message
//! and writing its exact bytes to a file, so the tests compare bytes.
//!
//! `py_peer pub-image TOPIC N OUT`, `py_peer sub-image TOPIC OUT`,
//! `py_peer pub-wheel TOPIC OUT`, `py_peer sub-wheel TOPIC OUT`;
//! services: `py_peer serve-add SERVICE N` (answers N AddRequests with
//! a + b), `py_peer serve-hang SERVICE` (takes one, never answers),
//! `py_peer call-add SERVICE A B` (prints the sum); work queues:
//! `py_peer produce QUEUE N` (jobs id = i, value = i * 1.5), `py_peer work
//! QUEUE N` (acks N jobs, printing `id value delivery_count` per job).
//! Every wait has a 20 s watchdog (exit 3).

use std::time::{Duration, Instant};

use axon::zerocopy::IntoBytes;
use axon::Node;
use axon_msgs::{Encoding, Header, Image};

/// The custom type the tests declare in Python too.
#[axon::message]
#[derive(Debug, Clone, Copy)]
struct Wheel {
    left: f64,
    right: f64,
    id: u32,
    flags: [u16; 2],
}

/// The service types the tests declare in Python too.
#[axon::message]
#[derive(Debug, Clone, Copy)]
struct AddRequest {
    a: i64,
    b: i64,
}

#[axon::message]
#[derive(Debug, Clone, Copy)]
struct AddResponse {
    sum: i64,
}

/// The job type the tests declare in Python too.
#[axon::message]
#[derive(Debug, Clone, Copy)]
struct Job {
    id: u64,
    value: f64,
}

const WATCHDOG: Duration = Duration::from_secs(20);

/// Waits until `ready`; `false` if SIGTERM/SIGINT came first (the caller
/// returns, so the topic is left cleanly).
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !ready() {
        if axon::shutdown_requested() {
            return false;
        }
        if start.elapsed() > WATCHDOG {
            eprintln!("py_peer: timed out waiting for {what}");
            std::process::exit(3);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let node = Node::new("py_peer")?;
    match args.get(1).map(String::as_str) {
        Some("pub-image") => {
            let n: usize = args[3].parse()?;
            let publisher = node.publisher::<Image>(&args[2]).max_len(n).create()?;
            if !wait_for("a subscriber", || publisher.raw().subscriber_count() > 0) {
                return Ok(());
            }
            let mut img = publisher.loan_slice(n)?;
            img.header = Header {
                seq: 42,
                ..Header::default()
            };
            img.encoding = Encoding::new("mono8");
            img.width = 1024;
            img.height = (n / 1024) as u32;
            img.step = 1024;
            img.is_bigendian = 0;
            img._pad = [0; 3];
            for (i, b) in img.data.iter_mut().enumerate() {
                *b = (i.wrapping_mul(7).wrapping_add(3) % 251) as u8;
            }
            std::fs::write(&args[4], img.as_bytes())?;
            img.send();
            // Stay until the reader is gone, so the topic outlives its read.
            wait_for("the subscriber to leave", || {
                publisher.raw().subscriber_count() == 0
            });
        }
        Some("sub-image") => {
            let sub = node.subscriber::<Image>(&args[2]).create()?;
            println!("ready");
            let s = match sub.recv_timeout(WATCHDOG) {
                Err(axon::WaitError::Shutdown) => return Ok(()),
                r => r?,
            };
            std::fs::write(&args[3], s.as_bytes())?;
        }
        Some("pub-wheel") => {
            let publisher = node.publisher::<Wheel>(&args[2]).create()?;
            if !wait_for("a subscriber", || publisher.raw().subscriber_count() > 0) {
                return Ok(());
            }
            let w = Wheel {
                left: 0.5,
                right: -1.25,
                id: 7,
                flags: [1, 65535],
            };
            std::fs::write(&args[3], w.as_bytes())?;
            publisher.publish(&w)?;
            wait_for("the subscriber to leave", || {
                publisher.raw().subscriber_count() == 0
            });
        }
        Some("sub-wheel") => {
            let sub = node.subscriber::<Wheel>(&args[2]).create()?;
            println!("ready");
            let s = match sub.recv_timeout(WATCHDOG) {
                Err(axon::WaitError::Shutdown) => return Ok(()),
                r => r?,
            };
            std::fs::write(&args[3], s.as_bytes())?;
        }
        Some("serve-add") => {
            let n: usize = args[3].parse()?;
            let server = node.service::<AddRequest, AddResponse>(&args[2]).create()?;
            println!("ready");
            for _ in 0..n {
                let req = match server.recv_request_timeout(WATCHDOG) {
                    Err(axon::ServeError::Shutdown) => return Ok(()),
                    r => r?,
                };
                let sum = req.a.wrapping_add(req.b);
                req.reply(&AddResponse { sum })?;
            }
        }
        Some("serve-hang") => {
            // Takes one request and never answers (the test SIGKILLs it).
            let server = node.service::<AddRequest, AddResponse>(&args[2]).create()?;
            println!("ready");
            let req = server.recv_request_timeout(WATCHDOG)?;
            println!("took {}", req.a);
            std::thread::sleep(WATCHDOG);
            std::process::exit(3);
        }
        Some("call-add") => {
            let client = node.client::<AddRequest, AddResponse>(&args[2]).create()?;
            client.wait_for_service(WATCHDOG)?;
            let req = AddRequest {
                a: args[3].parse()?,
                b: args[4].parse()?,
            };
            let resp = client.call(&req, WATCHDOG)?;
            println!("{}", resp.sum);
        }
        Some("produce") => {
            let n: u64 = args[3].parse()?;
            let producer = node.queue_producer::<Job>(&args[2]).create()?;
            for i in 0..n {
                producer.send_timeout(
                    &Job {
                        id: i,
                        value: i as f64 * 1.5,
                    },
                    Some(WATCHDOG),
                )?;
            }
            println!("sent");
        }
        Some("work") => {
            let n: usize = args[3].parse()?;
            let worker = node.queue_worker::<Job>(&args[2]).create()?;
            println!("ready");
            for _ in 0..n {
                let d = match worker.recv_timeout(WATCHDOG) {
                    Err(axon::QueueRecvError::Shutdown) => return Ok(()),
                    r => r?,
                };
                println!("{} {} {}", d.id, d.value, d.delivery_count());
                d.ack()?;
            }
        }
        _ => {
            eprintln!("usage: py_peer pub-image|sub-image|pub-wheel|sub-wheel TOPIC ... | serve-add|call-add SERVICE ... | produce|work QUEUE N");
            std::process::exit(2);
        }
    }
    Ok(())
}
