//! A queue to watch, `NETNS:IFACE` (`--qdisc`): an interface's qdiscs in a
//! named network namespace, read with `tc -n NETNS -s -j qdisc show dev
//! IFACE` (iproute2's own JSON, which [`queue_from_tc_json`] reads). `tc -n`
//! enters the namespace itself, as `ip netns exec` would, without
//! remounting `/sys`. Each reading starts one `tc` process, a few
//! milliseconds on a loaded machine: a sample waits for it.
//!
//! [`QdiscTarget::check`] says before a run whether the queue can be read
//! at all: root (entering a namespace needs `CAP_SYS_ADMIN`), the namespace
//! (`/run/netns/NETNS`, where `ip netns add` puts it) and the interface in
//! it, each with its own error.

use std::path::Path;
use std::process::{Command, Output};
use std::str::FromStr;

use crate::timeline::{
    QdiscParseError, QueueReading, htb_rate_from_tc_classes, queue_from_tc_json, rate_from_tc_json,
};

/// Where named namespaces live.
const NETNS_DIR: &str = "/run/netns";

/// A namespace and an interface in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QdiscTarget {
    /// The namespace's name, as `ip netns list` shows it.
    pub netns: String,
    /// The interface's name inside it.
    pub iface: String,
}

/// Why a queue cannot be watched or read.
#[derive(Debug, thiserror::Error)]
pub enum QdiscError {
    /// Not `NETNS:IFACE`.
    #[error(
        "--qdisc '{0}': expected NETNS:IFACE, a network namespace and an interface in it (lab-r:to-a)"
    )]
    Syntax(String),
    /// Not running as root.
    #[error("--qdisc {0}: reading a queue in another network namespace needs root")]
    NotRoot(String),
    /// No such namespace.
    #[error("--qdisc {target}: there is no network namespace '{netns}' (see `ip netns list`)")]
    NoNamespace {
        /// The target as given.
        target: String,
        /// The namespace.
        netns: String,
    },
    /// No such interface in the namespace.
    #[error("--qdisc {target}: namespace '{netns}' has no interface '{iface}'")]
    NoInterface {
        /// The target as given.
        target: String,
        /// The namespace.
        netns: String,
        /// The interface.
        iface: String,
    },
    /// `tc` could not be run, or failed.
    #[error("--qdisc {target}: tc failed: {message}")]
    Tc {
        /// The target as given.
        target: String,
        /// What went wrong, tc's own words where it said any.
        message: String,
    },
    /// `tc` printed something that is not a queue.
    #[error("--qdisc {target}: {source}")]
    Parse {
        /// The target as given.
        target: String,
        /// Why.
        source: QdiscParseError,
    },
}

impl FromStr for QdiscTarget {
    type Err = QdiscError;

    fn from_str(s: &str) -> Result<QdiscTarget, QdiscError> {
        let ok = |n: &str| {
            !n.is_empty()
                && !n.contains('/')
                && n != "."
                && n != ".."
                && !n.contains(char::is_whitespace)
        };
        match s.split_once(':') {
            Some((netns, iface)) if ok(netns) && ok(iface) && iface.len() < 16 => Ok(QdiscTarget {
                netns: netns.to_string(),
                iface: iface.to_string(),
            }),
            _ => Err(QdiscError::Syntax(s.to_string())),
        }
    }
}

impl std::fmt::Display for QdiscTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.netns, self.iface)
    }
}

impl QdiscTarget {
    /// Whether the queue can be read: root, the namespace, the interface.
    pub fn check(&self) -> Result<(), QdiscError> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err(QdiscError::NotRoot(self.to_string()));
        }
        if !Path::new(NETNS_DIR).join(&self.netns).exists() {
            return Err(QdiscError::NoNamespace {
                target: self.to_string(),
                netns: self.netns.clone(),
            });
        }
        let out = self.run(&["link", "show", "dev", &self.iface], "ip")?;
        if !out.status.success() {
            return Err(QdiscError::NoInterface {
                target: self.to_string(),
                netns: self.netns.clone(),
                iface: self.iface.clone(),
            });
        }
        self.read().map(|_| ())
    }

    /// The queue's counters now.
    pub fn read(&self) -> Result<QueueReading, QdiscError> {
        queue_from_tc_json(&self.tc_json()?).map_err(|source| QdiscError::Parse {
            target: self.to_string(),
            source,
        })
    }

    /// The rate the interface's shaper lets through, bit/s (see
    /// [`rate_from_tc_json`]); an htb's from its leaf classes, as `tc
    /// class show` prints them ([`htb_rate_from_tc_classes`]); `None` when
    /// none there shapes.
    pub fn rate_bps(&self) -> Result<Option<u64>, QdiscError> {
        let qdiscs = self.tc_json()?;
        if let Some(r) = rate_from_tc_json(&qdiscs) {
            return Ok(Some(r));
        }
        if !qdiscs.contains("\"kind\":\"htb\"") {
            return Ok(None);
        }
        // tc prints no JSON for htb's classes: their text is read.
        let out = self.run(&["class", "show", "dev", &self.iface], "tc")?;
        Ok(out
            .status
            .success()
            .then(|| htb_rate_from_tc_classes(&String::from_utf8_lossy(&out.stdout)))
            .flatten())
    }

    /// What `tc -s -j qdisc show dev IFACE` prints in the namespace.
    fn tc_json(&self) -> Result<String, QdiscError> {
        let out = self.run(&["-s", "-j", "qdisc", "show", "dev", &self.iface], "tc")?;
        if !out.status.success() {
            return Err(QdiscError::Tc {
                target: self.to_string(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `PROGRAM -n NETNS ARGS…` (`ip` or `tc`).
    fn run(&self, args: &[&str], program: &str) -> Result<Output, QdiscError> {
        Command::new(program)
            .arg("-n")
            .arg(&self.netns)
            .args(args)
            .output()
            .map_err(|e| QdiscError::Tc {
                target: self.to_string(),
                message: format!("cannot run {program}: {e}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_a_namespace_and_an_interface() {
        let t: QdiscTarget = "lab-r:to-a".parse().unwrap();
        assert_eq!((t.netns.as_str(), t.iface.as_str()), ("lab-r", "to-a"));
        assert_eq!(t.to_string(), "lab-r:to-a");
        for bad in [
            "lab-r",
            ":to-a",
            "lab-r:",
            "../x:eth0",
            "a:b c",
            "a:waytoolonginterface",
        ] {
            let e = bad.parse::<QdiscTarget>().unwrap_err();
            assert!(matches!(e, QdiscError::Syntax(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn a_missing_namespace_or_root_is_named() {
        let t: QdiscTarget = "no-such-netns-here:eth0".parse().unwrap();
        let e = t.check().unwrap_err();
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            assert!(matches!(e, QdiscError::NoNamespace { .. }), "{e}");
            assert!(e.to_string().contains("no-such-netns-here"), "{e}");
        } else {
            assert!(matches!(e, QdiscError::NotRoot(_)), "{e}");
        }
    }
}
