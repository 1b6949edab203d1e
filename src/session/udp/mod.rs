//! The lab's exchanges over UDP, as pure sessions: datagrams in, datagrams
//! out, time passed in.

pub mod client;
