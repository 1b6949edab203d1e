//! CPU time over a transfer window: the client process's, from
//! `getrusage(2)`, and the server's as its results carry it.

use std::fmt::Write as _;

use serde::Serialize;

/// CPU time over an action (`getrusage(2)`), beside the wall-clock time
/// it took.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuUse {
    /// User-mode CPU seconds.
    pub user_seconds: f64,
    /// Kernel-mode CPU seconds.
    pub sys_seconds: f64,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// (user + sys) / wall: 1.0 is one core busy the whole time.
    pub cores: f64,
}

impl CpuUse {
    /// The CPU time between two `(user, sys)` readings over `wall` seconds.
    pub fn between(before: (f64, f64), after: (f64, f64), wall: f64) -> CpuUse {
        let user = (after.0 - before.0).max(0.0);
        let sys = (after.1 - before.1).max(0.0);
        CpuUse::of(user, sys, wall)
    }

    /// `user` and `sys` seconds over `wall` seconds.
    pub fn of(user: f64, sys: f64, wall: f64) -> CpuUse {
        CpuUse {
            user_seconds: user,
            sys_seconds: sys,
            wall_seconds: wall,
            cores: if wall > 0.0 { (user + sys) / wall } else { 0.0 },
        }
    }

    /// The CPU of several flows that ran side by side over `wall` seconds.
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a CpuUse>, wall: f64) -> CpuUse {
        let (user, sys) = all.into_iter().fold((0.0, 0.0), |(u, s), c| {
            (u + c.user_seconds, s + c.sys_seconds)
        });
        CpuUse::of(user, sys, wall)
    }

    /// The figures as a line's tail: `U s user + S s sys in W s: C of one core`.
    pub(super) fn text(&self) -> String {
        format!(
            "{:.3} s user + {:.3} s sys in {:.3} s: {:.2} of one core",
            self.user_seconds, self.sys_seconds, self.wall_seconds, self.cores
        )
    }
}

/// Each side's CPU over the transfer window, where it was measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CpuFigures {
    /// The client process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<CpuUse>,
    /// The server, as its results say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<CpuUse>,
}

impl CpuFigures {
    /// The client's CPU alone.
    pub fn client(c: CpuUse) -> CpuFigures {
        CpuFigures {
            client: Some(c),
            server: None,
        }
    }

    /// The lines of the text report, one per side measured.
    pub(super) fn write_text(&self, s: &mut String) {
        for (side, c) in [("client", &self.client), ("server", &self.server)] {
            if let Some(c) = c {
                let _ = writeln!(s, "  CPU {side:<7} {}", c.text());
            }
        }
    }
}
