//! Criterion: axon's own software path, in one thread, with no cache line crossing CPUs:
//! `loan_slice` + write + `send`, then `try_recv` + read + drop, on a history-1 `[u8]` topic
//! (`cargo bench -p axon-benches --bench software_path`).
//!
//! The cross-process rows (`bench-gate`) pay this path once per one-way trip on top of the
//! cache-line transfer floor, so it is what a change to `publisher.rs` / `subscriber.rs` moves.
//! Single-threaded, it is nearly free of the machine's noise (a few % between runs), which
//! makes it the place to see a small change. The receive here takes the hazard with a fence
//! (`protect`); a waiting reader arms it ahead instead (protocol step 3').

use criterion::{BenchmarkId, Criterion, Throughput};

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let run = axon_benches::RunId::fresh();
    let domain = axon_benches::bench_domain("sw", &run.0).expect("domain");
    let node = axon::Node::builder("software-path")
        .domain(domain.clone())
        .create()
        .expect("node");
    let mut group = c.benchmark_group("axon/software-path");
    for len in [8usize, 1 << 10] {
        let topic = format!("/sw{len}");
        let publisher = node
            .publisher::<[u8]>(&topic)
            .history(1)
            .max_len(len)
            .create()
            .expect("publisher");
        let subscriber = node
            .subscriber::<[u8]>(&topic)
            .history(1)
            .max_len(len)
            .create()
            .expect("subscriber");
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::from_parameter(len), &len, |b, &len| {
            let mut seq = 0u64;
            b.iter(|| {
                seq += 1;
                let mut loan = publisher.loan_slice(len).expect("loan");
                loan[..8].copy_from_slice(&seq.to_le_bytes());
                loan.send();
                let sample = subscriber.try_recv().expect("recv").expect("a sample");
                assert_eq!(sample[..8], seq.to_le_bytes());
            })
        });
    }
    group.finish();
    drop(node);
    axon_benches::remove_domain_segments(&domain);
    c.final_summary();
}
