//! The kernel timestamps of a UDP echo on the client's side: the socket's
//! switch, each stamped request's send (its call time and TX stamp, t1),
//! and each reply's RX stamp (t4) with the time its receive returned,
//! handed to the echo session ([`crate::session::udp::client::echo`]).
//!
//! A request's TX stamp is read from the error queue once its reply is in,
//! outside the round trip (the kernel queued it within the send call on
//! loopback, at the device's completion elsewhere, long before a reply can
//! come). The read stops once every awaited stamp came, so a stamped echo
//! costs one look into the error queue, not a last one that finds it empty.

use std::io;

use super::UdpClient;
use crate::client::ClientError;
use crate::net::timestamping::{self, Matched, TxKeys, TxStamp};
use crate::pcap::model::Direction;
use crate::session::Transmit;
use crate::session::stamps::ClientStamp;
use crate::session::udp::client::ClientSession;

/// How long a client waits, at most, for the kernel to turn RX stamping on
/// before the first stamped request ([`timestamping::settle`]).
pub(crate) const SETTLE: std::time::Duration = std::time::Duration::from_millis(200);

/// A stamping socket's awaited TX stamps.
#[derive(Debug)]
pub(super) struct Stamping {
    keys: TxKeys,
    drained: Vec<TxStamp>,
    matched: Vec<Matched>,
}

impl UdpClient {
    /// Whether echoes should read the kernel's timestamps.
    pub fn set_timestamps(&mut self, on: bool) {
        self.timestamps = on;
    }

    /// Whether stamped echo requests ask for the queueing discipline's
    /// stamp too (`--stamp-qdisc`).
    pub fn set_stamp_qdisc(&mut self, on: bool) {
        self.stamp_qdisc = on;
    }

    /// Turns the socket's stamps on for an echo, if asked: `Err` is why
    /// there are none.
    pub(super) fn start_stamps(&mut self) -> Result<(), String> {
        if !self.timestamps {
            return Err("turned off (--no-timestamps)".to_string());
        }
        if self.stamping.is_none() {
            timestamping::enable(&self.sock, true)
                .map_err(|e| format!("this kernel refused SO_TIMESTAMPING: {e}"))?;
            timestamping::settle(SETTLE);
            self.inbox.set_stamps(true);
            self.stamping = Some(Stamping {
                keys: TxKeys::new(false),
                drained: Vec::new(),
                matched: Vec::new(),
            });
        }
        Ok(())
    }

    /// Sends `t` as a stamped echo request when `s` is a stamped echo with
    /// a request out: `false` when it is not one, and `t` is for
    /// [`UdpClient::transmit`].
    pub(super) fn transmit_stamped(
        &mut self,
        s: &mut ClientSession,
        t: Transmit,
    ) -> Result<bool, ClientError> {
        let (Some(st), ClientSession::Echo(e)) = (self.stamping.as_mut(), s) else {
            return Ok(false);
        };
        let Some(seq) = e.stamped_outstanding() else {
            return Ok(false);
        };
        let bytes = &self.out[..t.len];
        let app_ns = timestamping::now_ns();
        let flags = if self.stamp_qdisc {
            timestamping::TX_FLAGS_QDISC
        } else {
            timestamping::TX_FLAGS
        };
        if let Err(e) = timestamping::send_stamped_asking(&self.sock, bytes, None, None, flags) {
            return Err(self.io_error(e));
        }
        e.handle_stamp(ClientStamp::Sent { seq, app_ns });
        st.keys.sent(bytes.len(), Some(seq));
        self.instruments
            .send(Direction::ToServer, bytes, || super::describe(bytes));
        Ok(true)
    }

    /// Tells a stamped echo of the datagram about to be handed over: its
    /// RX stamp, and when its receive returned; and of the TX stamps its
    /// requests got so far, read now that the reply is in, outside the
    /// round trip.
    ///
    /// A stamped stream is told each datagram's RX stamp.
    pub(super) fn received_stamp(&mut self, s: &mut ClientSession, rx_ns: Option<u64>) {
        if let ClientSession::Stream(st) = s {
            return st.rx_stamp(rx_ns);
        }
        let (Some(st), ClientSession::Echo(e)) = (self.stamping.as_mut(), s) else {
            return;
        };
        if st.keys.pending() > 0 {
            st.drained.clear();
            let want = st.keys.pending();
            if timestamping::read_tx_up_to(&self.sock, &mut st.drained, want).is_ok() {
                st.matched.clear();
                st.keys.take(&st.drained, &mut st.matched);
                for m in &st.matched {
                    if let Some(s) = m.sched {
                        e.handle_stamp(ClientStamp::Sched {
                            seq: m.tag,
                            ns: s.ns,
                        });
                    }
                    e.handle_stamp(ClientStamp::Tx {
                        seq: m.tag,
                        ns: m.sent.ns,
                    });
                }
            }
        }
        e.handle_stamp(ClientStamp::Received {
            seq: 0,
            rx_ns,
            app_ns: self.read_ns,
        });
    }

    /// Turns the socket's stamps off after an echo.
    pub(super) fn stop_stamps(&mut self) -> io::Result<()> {
        if self.stamping.take().is_some() {
            self.inbox.set_stamps(false);
            return timestamping::enable(&self.sock, false);
        }
        Ok(())
    }
}
