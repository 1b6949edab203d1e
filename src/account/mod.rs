//! On-wire accounting: what a transfer costs on the link, layer by layer.
//!
//! Pure code, no sockets and no clock, built on the wire model
//! ([`crate::wire`]):
//! - [`overhead`]: the report of the `overhead` command, built on the model:
//!   JSON keys and a readable table.
//! - [`beside`]: the report after a transfer: the model beside the kernel's
//!   own counts, and why they differ.
//! - [`kernel`]: those counts (`TCP_INFO`, `/proc/net/snmp`) as plain
//!   values, which the socket layer fills in.

pub mod beside;
pub mod kernel;
pub mod overhead;
