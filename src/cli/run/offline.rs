//! The commands that send no traffic: `overhead` (the wire model),
//! `pcap summary` (a capture read back) and `pcap plot` (one TCP flow of a
//! capture drawn as a time-sequence graph).

use std::net::SocketAddr;
use std::path::Path;

use super::failure::Failure;
use crate::account::overhead;
use crate::cli::plan::OverheadPlan;
use crate::pcap::tsg::TsgError;
use crate::pcap::{PcapError, Summary};

/// Prints what the payload costs on the wire; the model's refusals of its
/// inputs are usage errors.
pub fn overhead(plan: &OverheadPlan) -> Result<(), Failure> {
    let report = overhead::compute(&plan.request).map_err(|e| Failure::usage(e.to_string()))?;
    if plan.json {
        let s = crate::schema::to_pretty(&report).map_err(Failure::other)?;
        println!("{s}");
    } else {
        print!("{}", overhead::render_text(&report));
    }
    Ok(())
}

/// Prints the summary of a capture. A file cut in the middle of a record
/// still gets the summary of the frames before the cut, and a failure status.
/// With `json`, stdout gets exactly one object: the summary, the summary
/// with an `error` key (a cut file), or `{"error": …}`.
pub fn pcap_summary(file: &Path, json: bool) -> Result<(), Failure> {
    let print = |s: &Summary, error: Option<&str>| {
        if json {
            let Ok(mut v) = serde_json::to_value(s) else {
                return;
            };
            if let (Some(e), Some(obj)) = (error, v.as_object_mut()) {
                obj.insert("error".into(), e.into());
            }
            if let Ok(text) = crate::schema::to_pretty(&v) {
                println!("{text}");
            }
        } else {
            print!("{}", crate::pcap::render_text(s));
        }
    };
    match crate::pcap::summarize_path(file) {
        Ok(s) => {
            print(&s, None);
            Ok(())
        }
        Err(PcapError::Truncated {
            frames,
            partial: Some(s),
        }) => {
            let message = format!(
                "{}: the file ends in the middle of a record; the summary covers the {frames} whole frames before it",
                file.display()
            );
            print(&s, Some(&message));
            Err(Failure::other(message))
        }
        Err(e) => {
            let f = Failure::other(e);
            if json {
                if let Ok(line) = crate::schema::to_line(&serde_json::json!({ "error": f.message }))
                {
                    println!("{line}");
                }
            }
            Err(f)
        }
    }
}

/// Draws flow `flow` of the capture (or its busiest TCP flow) as a
/// time-sequence graph into `out`, and says on stdout what it drew. A flow
/// number that does not fit the capture is a usage error; a capture without
/// TCP, or one that cannot be read, a failure.
pub fn pcap_plot(file: &Path, out: &Path, flow: Option<usize>) -> Result<(), Failure> {
    let g = crate::pcap::tsg::time_sequence_path(file, flow).map_err(|e| match e {
        // The reader's errors name the file already.
        TsgError::Pcap(e) => Failure::other(e),
        e if e.is_usage() => Failure::usage(format!("{}: {e}", file.display())),
        e => Failure::other(format!("{}: {e}", file.display())),
    })?;
    let (src, dst) = (SocketAddr::from(g.src), SocketAddr::from(g.dst));
    let title = format!("time-sequence graph: flow {}, {src} to {dst}", g.flow);
    let svg = crate::plot::tsg::time_sequence_svg(&title, &g).map_err(Failure::other)?;
    crate::outfile::write_whole(out, svg.as_bytes())
        .map_err(|e| Failure::other(format!("cannot write {}: {e}", out.display())))?;
    println!(
        "flow {} ({src} to {dst}): {} data segments, {} retransmitted, {} ACKs; time-sequence graph written to {}",
        g.flow,
        g.segments.len(),
        g.retransmissions(),
        g.acks.len(),
        out.display()
    );
    Ok(())
}
