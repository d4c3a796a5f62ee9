//! Criterion glue shared by the bench targets: one session per (mechanism, payload), measured
//! with `iter_custom` (total of `iters` round trips / 2 = one way).

use std::time::Duration;

use axon_benches::{find_mechanism, Payload, Session, SessionOptions, Touch, HEADER_LEN};
use criterion::{BenchmarkId, Criterion, Throughput};

/// Payload sizes of the benchmark issue.
pub const SIZES: [usize; 5] = [HEADER_LEN, 1 << 10, 64 << 10, 1 << 20, 8 << 20];

/// 8 B once, and both touch variants of every larger size.
pub fn payloads(sizes: &[usize]) -> Vec<Payload> {
    let mut v = vec![];
    for &s in sizes {
        v.push(Payload::new(s, Touch::Header));
        if s > HEADER_LEN {
            v.push(Payload::new(s, Touch::All));
        }
    }
    v
}

/// One criterion group for `mechanism`, one benchmark per payload.
pub fn bench_mechanism(c: &mut Criterion, mechanism: &str, payloads: &[Payload]) {
    let m = find_mechanism(mechanism).expect("mechanism is registered");
    let mut group = c.benchmark_group(mechanism);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for &payload in payloads {
        let mut session = Session::start(m, payload, SessionOptions::default())
            .unwrap_or_else(|e| panic!("{mechanism} {payload}: {e:#}"));
        group.throughput(Throughput::Bytes(payload.size as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(payload.to_string().replace(' ', "-")),
            &payload,
            |b, _| {
                b.iter_custom(|iters| {
                    session
                        .one_way_batch(iters)
                        .unwrap_or_else(|e| panic!("{mechanism} {payload}: {e:#}"))
                })
            },
        );
        session
            .finish()
            .unwrap_or_else(|e| panic!("{mechanism} {payload}: {e:#}"));
    }
    group.finish();
}
