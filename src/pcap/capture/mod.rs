//! Live capture: the real frames of one flow, read from an `AF_PACKET`
//! socket on the interface that carries it and written as pcapng, beside
//! the lab's own model of the same traffic.
//!
//! - [`filter`]: the flow as a classic BPF program and as a Rust predicate.

pub mod filter;
