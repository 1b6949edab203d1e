//! The commands that send no traffic: `overhead` (the wire model) and
//! `pcap summary` (a capture read back).

use std::path::Path;

use super::failure::Failure;
use crate::account::overhead;
use crate::cli::plan::OverheadPlan;
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
