//! On-wire accounting: what a transfer costs on the link, layer by layer.
//!
//! Pure code, no sockets and no clock:
//! - [`overhead`]: the report of the `overhead` command, built on the model:
//!   JSON keys and a readable table.
//! - [`beside`]: the report after a transfer: the model beside the kernel's
//!   own counts, and why they differ.

pub mod beside;
pub mod overhead;
