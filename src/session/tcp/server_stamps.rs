//! The kernel stamps of a server session: which clock takes them, what its
//! driver read of its kernel (a read's RX stamp, a send's TX stamp), and
//! which send asks for a TX stamp: a stamped echo's reply, or a stamped
//! stream's segment, whose stamps the next write carries.

use super::server::{FramedServer, ServerSession};
use super::server_reply::Reply;
use super::stream_stamps::SentStamps;
use crate::proto::stamps::StampsKind;

impl ServerSession {
    /// Which clock takes this connection's kernel stamps (none: its
    /// socket does not stamp).
    pub fn set_stamps_kind(&mut self, kind: StampsKind) {
        match self {
            ServerSession::Framed(s) => s.stamps.set_kind(kind),
            ServerSession::Undecided { stamps, .. } => *stamps = kind,
            ServerSession::Text(_) => {}
        }
    }

    /// The read about to be handed over returned at `app_ns` (Unix-epoch
    /// ns), with the kernel's RX stamp `rx_ns` when one came.
    pub fn handle_read_stamp(&mut self, rx_ns: Option<u64>, app_ns: u64) {
        match self {
            ServerSession::Framed(s) => s.stamps.read(rx_ns, app_ns),
            ServerSession::Undecided { read, .. } => *read = Some((rx_ns, app_ns)),
            ServerSession::Text(_) => {}
        }
    }

    /// The TX stamp of stamped reply `seq` (t3), or of segment `seq` of a
    /// stamped stream, from the error queue.
    pub fn handle_tx_stamp(&mut self, seq: u32, ns: u64) {
        if let ServerSession::Framed(s) = self {
            match s.stream_stamps() {
                Some(st) => st.tx(seq, ns),
                None => s.stamps.tx(seq, ns),
            }
        }
    }

    /// The stamped reply or segment the transmit just polled carries, once:
    /// its send asks for a TX stamp.
    pub fn take_stamped_reply(&mut self) -> Option<u32> {
        match self {
            ServerSession::Framed(s) => match s.stream_stamps() {
                Some(st) => st.take_pending(),
                None => s.stamps.take_pending(),
            },
            _ => None,
        }
    }

    /// Whether a stamped stream is going out: its driver reads the TX
    /// stamps before each write, which carries the previous segment's.
    pub fn wants_tx_stamps(&mut self) -> bool {
        match self {
            ServerSession::Framed(s) => s.stream_stamps().is_some(),
            _ => false,
        }
    }
}

impl FramedServer {
    /// The TX stamps of the stamped stream going out, if one is.
    pub(super) fn stream_stamps(&mut self) -> Option<&mut SentStamps> {
        match self.out.reply.as_mut()? {
            Reply::Stream(s) => s.stamps_mut(),
            _ => None,
        }
    }
}
