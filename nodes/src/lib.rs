//! Shared helpers of the demo nodes (being written).
