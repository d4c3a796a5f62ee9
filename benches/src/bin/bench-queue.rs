//! Work-queue benchmark: jobs per second (1 producer, 1 and 4 workers, an
//! ack per job) and job latency (send to worker receipt), for 8 B and
//! 64 KiB jobs, through an axon queue (transient, in `/dev/shm`). Workers
//! are threads of this process, each with its own queue handle (its own
//! open file and record, as separate processes would have). The producer
//! writes every byte of each job into its loaned slot (no copy beyond that).
//!
//! Beside it, the same runs through RabbitMQ on this machine (a transient,
//! non-durable queue on the default exchange, manual acks, the same
//! prefetch, one connection and channel per worker thread, the `lapin`
//! AMQP client), if a broker answers at `AMQP_URL` (default
//! `amqp://127.0.0.1:5672/%2f`; `apt-get install rabbitmq-server`).
//!
//! **Durable rows**: an axon durable queue (a file in `AXON_BENCH_DIR`,
//! default `target/`, which must be a real file system) with `sync(true)`
//! (a send returns once the job is on disk: one `msync`, shared by
//! concurrent senders), and with `sync_unless_acked(true)` (on disk, or
//! acknowledged by a worker within `ACK_GRACE`: a RabbitMQ confirm's
//! meaning for a persistent message), beside a
//! RabbitMQ durable queue with persistent messages (delivery mode 2) and
//! publisher confirms, the producer awaiting each confirm before the next
//! publish (the broker's "on disk"); same prefetch, manual acks.
//!
//! `cargo run --release -p axon-benches --bin bench-queue [-- --quick]`

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axon::{Domain, Node};

#[axon::message]
#[derive(Clone, Copy)]
struct Small {
    stamp_ns: u64,
}

#[axon::message]
#[derive(Clone, Copy)]
struct Large {
    stamp_ns: u64,
    data: [u8; 65528],
}

const PREFETCH: u32 = 8;

fn node(domain: &str, name: &str) -> Node {
    Node::builder(name)
        .domain(Domain::new("/dev/shm", domain).unwrap())
        .no_signal_handlers()
        .create()
        .unwrap()
}

trait Job: axon::Message + Sized {
    fn stamp(&self) -> u64;
    fn set_stamp(&mut self, ns: u64);
    /// Writes the rest of the job (as RabbitMQ's publisher hands over every byte).
    fn fill(&mut self, byte: u8);
}
impl Job for Small {
    fn fill(&mut self, _: u8) {}
    fn stamp(&self) -> u64 {
        self.stamp_ns
    }
    fn set_stamp(&mut self, ns: u64) {
        self.stamp_ns = ns;
    }
}
impl Job for Large {
    fn fill(&mut self, byte: u8) {
        self.data.fill(byte);
    }
    fn stamp(&self) -> u64 {
        self.stamp_ns
    }
    fn set_stamp(&mut self, ns: u64) {
        self.stamp_ns = ns;
    }
}

/// Jobs per second through the queue with `workers` workers, and the
/// latency histogram (send to receipt) when `paced` (one job at a time).
fn durable_path() -> std::path::PathBuf {
    let dir = std::env::var_os("AXON_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("target"));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("bench-queue-{}.queue", std::process::id()))
}

/// `durable`: 0 transient, 1 `sync(true)`, 2 `sync_unless_acked(true)`.
fn run<J: Job>(
    workers: usize,
    jobs: u64,
    paced: bool,
    durable_mode: u8,
) -> (f64, hdrhistogram::Histogram<u64>) {
    let durable = durable_mode > 0;
    let domain = format!("bq{}", std::process::id());
    let q = "/bench";
    let n = node(&domain, "producer");
    let file = durable_path();
    let _ = std::fs::remove_file(&file);
    let mut b = n.queue_producer::<J>(q).capacity(256);
    if durable_mode == 1 {
        b = b.durable(&file).sync(true);
    } else if durable_mode == 2 {
        b = b.durable(&file).sync_unless_acked(true);
    }
    let producer = b.create().unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..workers)
        .map(|i| {
            let (domain, acked, stop) = (domain.clone(), acked.clone(), stop.clone());
            let file = file.clone();
            std::thread::spawn(move || {
                let n = node(&domain, &format!("worker{i}"));
                let mut b = n.queue_worker::<J>(q).prefetch(PREFETCH);
                if durable {
                    b = b.durable(&file);
                }
                let w = b.create().unwrap();
                let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(job) = w.recv_timeout(Duration::from_millis(50)) {
                        let now = axon::monotonic_ns();
                        let _ = h.record(now.saturating_sub(job.stamp()));
                        job.ack().unwrap();
                        acked.fetch_add(1, Ordering::Release);
                    }
                }
                h
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    for k in 0..jobs {
        let mut loan = producer.loan_timeout(Duration::from_secs(10)).unwrap();
        loan.fill(k as u8);
        loan.set_stamp(axon::monotonic_ns());
        loan.send().unwrap();
        if paced {
            while acked.load(Ordering::Acquire) <= k {
                std::hint::spin_loop();
            }
        }
    }
    while acked.load(Ordering::Acquire) < jobs {
        std::thread::yield_now();
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    for h in handles {
        hist.add(h.join().unwrap()).unwrap();
    }
    drop(producer);
    let path = axon::queue::queue_path(
        &Domain::new("/dev/shm", &domain).unwrap(),
        &axon::TopicName::new(q).unwrap(),
    );
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(&file);
    (jobs as f64 / secs, hist)
}

mod rabbit {
    use super::*;
    use futures_lite::StreamExt;
    use lapin::options::*;
    use lapin::types::FieldTable;
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    pub fn url() -> String {
        std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://127.0.0.1:5672/%2f".into())
    }

    pub fn available() -> bool {
        async_global_executor::block_on(Connection::connect(
            &url(),
            ConnectionProperties::default(),
        ))
        .is_ok()
    }

    /// Like `super::run`, through RabbitMQ with `size`-byte jobs.
    pub fn run(
        size: usize,
        workers: usize,
        jobs: u64,
        paced: bool,
        durable: bool,
    ) -> (f64, hdrhistogram::Histogram<u64>) {
        let queue = format!("axon-bench-{}-{durable}", std::process::id());
        let acked = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        async_global_executor::block_on(async {
            let conn = Connection::connect(&url(), ConnectionProperties::default())
                .await
                .unwrap();
            let ch = conn.create_channel().await.unwrap();
            ch.queue_declare(
                &queue,
                QueueDeclareOptions {
                    durable,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
            if durable {
                ch.confirm_select(ConfirmSelectOptions::default())
                    .await
                    .unwrap();
            }
            let props = if durable {
                BasicProperties::default().with_delivery_mode(2)
            } else {
                BasicProperties::default()
            };
            let handles: Vec<_> = (0..workers)
                .map(|i| {
                    let (queue, acked, stop) = (queue.clone(), acked.clone(), stop.clone());
                    std::thread::spawn(move || {
                        async_global_executor::block_on(async move {
                            let conn = Connection::connect(&url(), ConnectionProperties::default())
                                .await
                                .unwrap();
                            let ch = conn.create_channel().await.unwrap();
                            ch.basic_qos(PREFETCH as u16, BasicQosOptions::default())
                                .await
                                .unwrap();
                            let mut consumer = ch
                                .basic_consume(
                                    &queue,
                                    &format!("w{i}"),
                                    BasicConsumeOptions::default(),
                                    FieldTable::default(),
                                )
                                .await
                                .unwrap();
                            let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
                            while !stop.load(Ordering::Relaxed) {
                                let next = futures_lite::future::or(
                                    async { consumer.next().await },
                                    async {
                                        async_io::Timer::after(Duration::from_millis(50)).await;
                                        None
                                    },
                                )
                                .await;
                                if let Some(Ok(d)) = next {
                                    let now = axon::monotonic_ns();
                                    let stamp = u64::from_le_bytes(d.data[..8].try_into().unwrap());
                                    let _ = h.record(now.saturating_sub(stamp));
                                    d.ack(BasicAckOptions::default()).await.unwrap();
                                    acked.fetch_add(1, Ordering::Release);
                                }
                            }
                            let _ = conn.close(0, "done").await;
                            h
                        })
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(300));
            let mut payload = vec![0u8; size];
            let start = Instant::now();
            for k in 0..jobs {
                payload[..8].copy_from_slice(&axon::monotonic_ns().to_le_bytes());
                let confirm = ch
                    .basic_publish(
                        "",
                        &queue,
                        BasicPublishOptions::default(),
                        &payload,
                        props.clone(),
                    )
                    .await
                    .unwrap();
                if durable {
                    // On disk (the broker's word) before the next publish.
                    assert!(confirm.await.unwrap().is_ack(), "publish nacked");
                }
                if paced {
                    while acked.load(Ordering::Acquire) <= k {
                        std::hint::spin_loop();
                    }
                }
            }
            while acked.load(Ordering::Acquire) < jobs {
                std::thread::sleep(Duration::from_micros(100));
            }
            let secs = start.elapsed().as_secs_f64();
            stop.store(true, Ordering::Relaxed);
            let mut hist = hdrhistogram::Histogram::<u64>::new(3).unwrap();
            for h in handles {
                hist.add(h.join().unwrap()).unwrap();
            }
            let _ = ch.queue_delete(&queue, QueueDeleteOptions::default()).await;
            let _ = conn.close(0, "done").await;
            (jobs as f64 / secs, hist)
        })
    }
}

fn row(what: &str, one: f64, four: f64, lat: &hdrhistogram::Histogram<u64>) {
    println!(
        "| {what} | {:.0} | {:.0} | {:.1} us / {:.1} us |",
        one,
        four,
        lat.value_at_quantile(0.5) as f64 / 1e3,
        lat.value_at_quantile(0.99) as f64 / 1e3
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 10 } else { 1 };
    let rabbit = rabbit::available();
    let durable_only = std::env::args().any(|a| a == "--durable");
    println!("| queue, job size | jobs/s, 1 worker | jobs/s, 4 workers | latency p50 / p99 (1 worker, one job at a time) |");
    println!("|---|---|---|---|");
    for durable in [false, true] {
        if durable_only && !durable {
            continue;
        }
        // Durable sends wait for the disk: fewer jobs.
        let cut = if durable { 20 } else { 1 };
        for (size, n, paced) in [(8usize, 200_000u64, 20_000u64), (65536, 20_000, 5_000)] {
            let (n, paced) = ((n / scale / cut).max(100), (paced / scale / cut).max(50));
            let label = match (size, durable) {
                (8, false) => "transient, 8 B",
                (_, false) => "transient, 64 KiB",
                (8, true) => "durable + sync, 8 B",
                _ => "durable + sync, 64 KiB",
            };
            let modes: &[u8] = if durable { &[1, 2] } else { &[0] };
            for &mode in modes {
                let (one, four, lat) = if size == 8 {
                    (
                        run::<Small>(1, n, false, mode).0,
                        run::<Small>(4, n, false, mode).0,
                        run::<Small>(1, paced, true, mode).1,
                    )
                } else {
                    (
                        run::<Large>(1, n, false, mode).0,
                        run::<Large>(4, n, false, mode).0,
                        run::<Large>(1, paced, true, mode).1,
                    )
                };
                let how = if mode == 2 { " (unless acked)" } else { "" };
                row(&format!("axon, {label}{how}"), one, four, &lat);
            }
            if rabbit {
                let (n, paced) = ((n / 10).max(100), (paced / 10).max(50));
                let one = rabbit::run(size, 1, n, false, durable).0;
                let four = rabbit::run(size, 4, n, false, durable).0;
                let lat = rabbit::run(size, 1, paced, true, durable).1;
                row(&format!("RabbitMQ, {label}"), one, four, &lat);
            } else {
                println!("| RabbitMQ, {label} | no broker at {} | | |", rabbit::url());
            }
        }
    }
}
