//! The one place a failure becomes what the user sees: the sentence for
//! stderr, the exit status (0 success, 2 usage, 3 refused by the server, 4
//! verification failed, 1 any other failure), and for a client's `--json`
//! the error object with what is known of the action.

use std::net::SocketAddr;

use crate::cli::plan::{PlanError, Reporting};
use crate::client::ClientError;
use crate::client::report::{FindRate, FlowFigures};

/// A failure: the sentence for stderr and the exit status, and for a
/// client's `--json` error object what is known of the action.
#[derive(Debug)]
pub struct Failure {
    /// The sentence, without the program's name.
    pub message: String,
    /// The exit status.
    pub code: u8,
    /// The action (`echo`, `file`, `stream`), once known.
    pub mode: Option<&'static str>,
    /// The server's IP version, once the target is known.
    pub ip: Option<u8>,
    /// Payload bytes received before the failure, where the error says
    /// (`null` in the JSON when it does not; with several flows, `null`
    /// and each flow's own in `flows`).
    pub bytes: Option<u64>,
    /// With several flows: what each got, and why it failed if it did.
    pub flows: Vec<FlowFigures>,
    /// `--find-rate` that found no rate: its trials.
    pub find_rate: Option<Box<FindRate>>,
}

impl Failure {
    /// A command line that cannot be carried out: status 2.
    pub fn usage(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            code: 2,
            mode: None,
            ip: None,
            bytes: None,
            flows: Vec::new(),
            find_rate: None,
        }
    }

    /// Anything else: status 1.
    pub fn other(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            code: 1,
            mode: None,
            ip: None,
            bytes: None,
            flows: Vec::new(),
            find_rate: None,
        }
    }

    /// A client's failure during `mode` against `target`, with the status
    /// the error calls for.
    pub fn client(
        e: ClientError,
        mode: Option<&'static str>,
        target: SocketAddr,
        udp: bool,
    ) -> Failure {
        Failure {
            mode,
            ip: Some(ip_version(target)),
            bytes: match &e {
                // Nothing of the action arrived before the refusal.
                ClientError::Refused { .. } => Some(0),
                ClientError::Short { got, .. } => Some(*got),
                // A TCP file arrives in order: the first wrong byte's offset is
                // what came before it. UDP datagrams come in any order.
                ClientError::Verify(m) if !udp => Some(m.offset),
                _ => None,
            },
            flows: match &e {
                ClientError::Flows(f) => f.flows.clone(),
                _ => Vec::new(),
            },
            find_rate: match &e {
                ClientError::NoRate(f) => Some(f.clone()),
                _ => None,
            },
            message: e.to_string(),
            code: e.exit_code() as u8,
        }
    }

    /// Says the failure: the JSON object on stdout where JSON was asked
    /// for, the sentence on stderr. Returns the exit status.
    pub fn tell(&self, how: Reporting) -> u8 {
        if how.json {
            if let Ok(line) = crate::schema::to_line(&self.json(how.transport)) {
                println!("{line}");
            }
        }
        eprintln!("ardei-lab: {}", self.message);
        self.code
    }

    /// The one JSON object a failed command prints: a client's says what is
    /// known of the action (`transport` given), the others' only the error.
    pub fn json(&self, transport: Option<&str>) -> serde_json::Value {
        match transport {
            Some(t) => {
                let mut v = serde_json::json!({
                    "error": self.message,
                    "mode": self.mode,
                    "transport": t,
                    "ip": self.ip,
                    "bytes": self.bytes,
                });
                if self.mode == Some("file") {
                    v["verified"] = false.into();
                }
                if !self.flows.is_empty() {
                    v["flows"] = serde_json::to_value(&self.flows).unwrap_or_default();
                }
                if let Some(f) = &self.find_rate {
                    v["find_rate"] = serde_json::to_value(f).unwrap_or_default();
                }
                v
            }
            None => serde_json::json!({ "error": self.message }),
        }
    }
}

impl From<PlanError> for Failure {
    fn from(e: PlanError) -> Failure {
        let (mode, ip) = e.context();
        Failure {
            mode,
            ip,
            ..Failure::usage(e)
        }
    }
}

/// 4 or 6.
pub fn ip_version(target: SocketAddr) -> u8 {
    if target.is_ipv6() { 6 } else { 4 }
}
