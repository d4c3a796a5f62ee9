//! `axon-zenoh`: a gateway between an axon domain and a Zenoh network.
//!
//! In axon mode, local topics that match `export` are put on the key
//! `axon/<zenoh domain>/<topic>` with the sample's bytes as the payload and
//! an [`attachment::Attachment`] (sequence number, source send stamp, type
//! fingerprint, payload length, type name); remote topics that match
//! `import` are republished here under the node name `zenoh:<name>`. The
//! type travels through a queryable per exported topic on
//! `axon/<zenoh domain>/@type/<topic>` ([`keys`]). Decisions (which topics,
//! type checks, limits, the loop rule) are the socket link's engine,
//! `axon::link::engine`. This is the only crate that compiles `zenoh`.
//!
//! In ROS 2 mode ([`ros2`], per topic pattern: `--ros2-export`,
//! `--ros2-import`), topics travel as rmw_zenoh does it (key
//! `<ROS domain>/<topic>/<DDS type>/<RIHS01 hash>`, CDR, rmw_zenoh's
//! attachment and liveliness tokens), so ROS 2 nodes on rmw_zenoh see them.
//!
//! Code map: [`args`] (command line), [`keys`] (key expressions),
//! [`attachment`] (the attachment's bytes), [`export`] (the one export
//! engine; a mode is an [`export::Mapping`]), [`inbox`] (the importers'
//! queue: drop oldest for best effort, wait for reliable), [`gateway`]
//! (axon mode: its mapping, the importer, `run`), [`ros2`] (ROS 2 mode), [`fuzzing`] (the fuzz entry
//! `attachment`; ROS 2 mode's attachment decoder is fuzzed in `axon-ros2`).

pub mod args;
pub mod attachment;
pub mod export;
pub mod gateway;
pub mod inbox;
pub mod keys;
pub mod ros2;

/// Fuzz entry points (see HELPERS.md's fuzz convention).
#[doc(hidden)]
pub mod fuzzing {
    /// Decodes an attachment, and re-encodes what decodes: never panics.
    pub fn attachment(data: &[u8]) {
        if let Ok(a) = crate::attachment::Attachment::decode(data) {
            assert_eq!(
                a.encode(),
                data,
                "a decoded attachment re-encodes to itself"
            );
        }
    }
}
