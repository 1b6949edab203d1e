//! On-wire accounting: what a transfer costs on the link, layer by layer.
//!
//! Pure code, no sockets and no clock:
//! - [`wire`]: the model. Header sizes per layer (Ethernet, IPv4/IPv6, UDP,
//!   TCP), IP fragmentation, TCP segmentation, handshake, teardown and pure
//!   ACKs; it yields frames and bytes per layer for a transfer, and the
//!   frame lengths a capture tool would record.
//! - [`overhead`]: the report of the `overhead` command, built on the model:
//!   JSON keys and a readable table.
//! - [`beside`]: the report after a transfer: the model beside the kernel's
//!   own counts, and why they differ.

pub mod beside;
pub mod overhead;
pub mod wire;
