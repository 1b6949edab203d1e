//! Report files (`--hgrm`, `--plot`) written whole or not at all.
//!
//! A regular file is written beside its final name under a name of its
//! own, then renamed over it, so a reader never sees half a file and an
//! interrupted run leaves the old one (or none). A path that names
//! something else is honoured as the shell would: a symbolic link is
//! followed (its target is replaced, the link stays), and a device or a
//! named pipe (`/dev/stdout`, `/dev/null`, a FIFO read by a plotter) is
//! written in place, never replaced by a regular file; so is anything
//! under `/dev` or `/proc` (`/dev/stdout` may lead to the file a shell
//! redirected the output to, which must not be swapped for another).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` as described in the module docs.
pub fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )),
        Ok(m) if !m.is_file() || path.starts_with("/dev") || path.starts_with("/proc") => {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(path)?;
            f.write_all(bytes)?;
            f.flush()
        }
        _ => replace(&resolve_links(path), bytes),
    }
}

/// Writes a sibling of `path`, then renames it over `path`.
fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = sibling(path);
    let written = fs::write(&tmp, bytes).and_then(|_| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// `path` with its symbolic links followed, even when the last one points
/// at a file not yet made; `path` itself when it is not a link.
fn resolve_links(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match fs::read_link(&p) {
            Ok(target) => {
                p = match p.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                }
            }
            Err(_) => return p,
        }
    }
    p
}

/// A hidden name beside `path`, unique to this process, that no user
/// file is likely to hold: `.NAME.PID.partial`.
fn sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn a_regular_file_is_replaced_and_no_partial_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.svg");
        fs::write(&p, b"old").unwrap();
        fs::write(dir.path().join("out.partial"), b"mine").unwrap();
        write_whole(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::read(dir.path().join("out.partial")).unwrap(), b"mine");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_link_is_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.hgrm");
        let link = dir.path().join("link.hgrm");
        std::os::unix::fs::symlink("real.hgrm", &link).unwrap();
        write_whole(&link, b"first").unwrap();
        write_whole(&link, b"second").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"second");
    }

    #[test]
    fn a_fifo_is_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_whole(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_whole(dir.path(), b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::IsADirectory);
    }
}
