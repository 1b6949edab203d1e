//! Runs files through a fuzz target without libFuzzer, on stable Rust:
//! `cargo run --release --bin replay -- TARGET PATH…`, where each PATH is a
//! file or a directory of files (a corpus, or crash artifacts).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<&str> = ardei_lab_fuzz::TARGETS.iter().map(|t| t.0).collect();
    let Some((target, paths)) = args.split_first() else {
        eprintln!(
            "usage: replay TARGET PATH…  (targets: {})",
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let Some(&(_, run)) = ardei_lab_fuzz::TARGETS.iter().find(|t| t.0 == target) else {
        eprintln!(
            "replay: no target {target:?} (targets: {})",
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let mut files = Vec::new();
    for p in paths {
        if let Err(e) = collect(Path::new(p), &mut files) {
            eprintln!("replay: {p}: {e}");
            return ExitCode::from(1);
        }
    }
    files.sort();
    for f in &files {
        match std::fs::read(f) {
            Ok(data) => run(&data),
            Err(e) => {
                eprintln!("replay: {}: {e}", f.display());
                return ExitCode::from(1);
            }
        }
    }
    eprintln!("replay: {target}: {} inputs, no failure", files.len());
    ExitCode::SUCCESS
}

fn collect(p: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    if p.is_dir() {
        for e in std::fs::read_dir(p)? {
            collect(&e?.path(), out)?;
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}
