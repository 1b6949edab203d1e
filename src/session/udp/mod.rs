//! The lab's exchanges over UDP, as pure state machines.
//!
//! - [`server`]: the server's datagram endpoint: cookies, amplification
//!   budgets, limits, the session table, echo and text answers, and the
//!   send side of files and streams.

pub mod server;
