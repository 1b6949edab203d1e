//! Where a downloaded file's bytes go in file order (`--print-file`), and
//! the error that says how much of the file it holds when the transfer
//! cannot end whole.

use std::io::Write;

use super::ClientError;
use crate::session::udp::client::FileReceive;

/// Where a file's bytes go in file order (`--print-file`), and how much of
/// the file it holds.
pub(super) struct Sink<'a> {
    pub(super) w: &'a mut dyn Write,
    /// Bytes written, from the file's start.
    pub(super) written: u64,
    pub(super) size: u64,
}

impl Sink<'_> {
    /// Writes the bytes the session made ready in file order.
    pub(super) fn write(&mut self, f: &mut FileReceive) -> Result<(), ClientError> {
        let ready = f.ready_bytes();
        if ready.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.w.write_all(ready) {
            return Err(self.incomplete(format!("writing the file out failed: {e}")));
        }
        self.written += ready.len() as u64;
        f.consume_ready();
        Ok(())
    }

    /// The error for a file the sink got only the start of.
    pub(super) fn incomplete(&self, reason: String) -> ClientError {
        ClientError::Incomplete {
            written: self.written,
            size: self.size,
            reason,
        }
    }
}
