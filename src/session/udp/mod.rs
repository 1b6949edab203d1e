//! The lab's exchanges over UDP, as pure state machines: datagrams in,
//! datagrams out, time passed in.
//!
//! - [`client`]: the client's sessions: the cookie round trip, echo, file
//!   and stream receive, and a file sender for uploads.
//! - [`server`]: the server's datagram endpoint: cookies, amplification
//!   budgets, limits, the session table, echo and text answers, and the
//!   send side of files and streams.

pub mod client;
pub mod server;
