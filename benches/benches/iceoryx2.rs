//! Criterion: iceoryx2 0.10 publish-subscribe, one-way latency
//! (`cargo bench -p axon-benches --bench iceoryx2`).

mod common;

use criterion::Criterion;

fn main() {
    axon_benches::run_child_if_requested();
    let mut c = Criterion::default().configure_from_args();
    let all = common::payloads(&common::SIZES);
    common::bench_mechanism(&mut c, "iceoryx2/poll", &all);
    common::bench_mechanism(&mut c, "iceoryx2/block", &all);
    c.final_summary();
}
