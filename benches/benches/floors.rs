//! Criterion: the physical floors, one-way latency (`cargo bench -p axon-benches --bench floors`).

mod common;

use criterion::Criterion;

fn main() {
    axon_benches::run_child_if_requested();
    let mut c = Criterion::default().configure_from_args();
    let all = common::payloads(&common::SIZES);
    let small = common::payloads(&[axon_benches::HEADER_LEN]);
    common::bench_mechanism(&mut c, "floor/spin", &all);
    common::bench_mechanism(&mut c, "floor/futex", &small);
    common::bench_mechanism(&mut c, "floor/spin-futex", &small);
    common::bench_mechanism(&mut c, "floor/sem", &small);
    common::bench_mechanism(&mut c, "floor/unix", &all);
    common::bench_mechanism(&mut c, "floor/tcp", &all);
    c.final_summary();
}
