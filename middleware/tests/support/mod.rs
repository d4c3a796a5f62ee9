//! Helpers shared by the multi-process test binaries (`mod support;`).

use axon::layout::{Layout, SegmentHeader, TopicConfig};
use axon::{Node, TopicName};

/// `topic`'s segment in `node`'s domain, mapped writable, as a hostile or
/// crashed peer leaves it, with its config and layout (copied out once, as
/// an opener does).
#[allow(dead_code)] // not every test binary writes into segments
pub fn map_segment(node: &Node, topic: &str) -> (memmap2::MmapRaw, TopicConfig, Layout) {
    let path = node.domain().segment_path(&TopicName::new(topic).unwrap());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let map = memmap2::MmapRaw::map_raw(&file).unwrap();
    // SAFETY: the mapping starts with a SegmentHeader (the topic exists and
    // was validated by `node`'s participants); we copy out its immutable
    // config.
    let config =
        unsafe { std::ptr::read_volatile(&(*(map.as_ptr() as *const SegmentHeader)).config) };
    let layout = Layout::compute(&config).unwrap();
    (map, config, layout)
}
