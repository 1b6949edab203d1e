//! The lines that say where a run's captures went: the model capture's file
//! and frames, and the live capture's interface, file, frames and drops.

use std::fmt::Write as _;

use super::CapturesReport;

/// The capture lines of the text report, one per capture taken.
pub(super) fn write(s: &mut String, c: &CapturesReport) {
    if let Some(m) = &c.model {
        match m.kernel_times {
            Some(k) => {
                let _ = writeln!(
                    s,
                    "  model capture: {} ({} frames, {k} of them at the kernel's stamps t1 and t4, the rest at the application's clock)",
                    m.path, m.frames
                );
            }
            None => {
                let _ = writeln!(s, "  model capture: {} ({} frames)", m.path, m.frames);
            }
        }
    }
    if let Some(l) = &c.live {
        let _ = writeln!(
            s,
            "  live capture on {}: {} ({} frames, {} bytes, {} dropped by the kernel)",
            l.iface, l.path, l.frames, l.bytes, l.dropped
        );
    }
}
