//! SIGINT and SIGTERM in the client: a clear end instead of a silent one.
//!
//! Without a handler, Ctrl-C ends the client with no word: no report, no
//! JSON object where `--json` promised one, a progress bar left half drawn.
//! [`install`] starts a thread that waits for either signal and then, once:
//! closes the model capture (so the file is whole), finishes the live
//! capture (it keeps up to 64 KiB of frames in memory as it goes, and waits
//! at most [`LIVE_FINISH_WAIT`] for them to be written), clears the progress
//! bar's line on a terminal, prints what the caller gives it (a sentence on
//! stderr, the JSON error object on stdout), and ends the process by the
//! signal itself, so a shell shows status 130 (SIGINT) or 143 (SIGTERM) and
//! a script running the client in a loop stops at Ctrl-C as well.
//!
//! At the prompt, SIGINT during a command that [`run_abortable`] runs stops
//! that command (its connection is shut down) and the prompt goes on.
//!
//! The client's own end and the handler's never both print: whichever
//! claims the output first with [`claim_output`] prints, and a signal that
//! comes after the client has claimed it waits for the client to finish
//! (a second signal then ends the process at once).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::instruments::ModelFile;
use crate::pcap::capture::CaptureStopper;

/// Who prints the run's end: [`NOBODY`] yet, the [`CLIENT`] or the
/// [`HANDLER`].
static CLAIMED: AtomicU8 = AtomicU8::new(NOBODY);
const NOBODY: u8 = 0;
const CLIENT: u8 = 1;
const HANDLER: u8 = 2;
/// The model capture to close on a signal, once one is open.
static MODEL: Mutex<Option<ModelFile>> = Mutex::new(None);
/// The live capture to finish on a signal, once one runs.
static LIVE: Mutex<Option<CaptureStopper>> = Mutex::new(None);

/// How long an interrupted client waits for its live capture to write the
/// frames already queued and finish the file.
pub const LIVE_FINISH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Installs the handler. `report` gets the signal's name (`SIGINT`,
/// `SIGTERM`), the model capture's path if one was closed and whether a
/// live capture was finished, and prints the end of the run; the signal
/// then ends the process.
pub fn install<F>(report: F) -> std::io::Result<()>
where
    F: Fn(&'static str, Option<&std::path::Path>, bool) + Send + 'static,
{
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        for sig in signals.forever() {
            // Ctrl-C while the prompt runs a command it can stop: stop
            // that command, not the process.
            if sig == SIGINT {
                let abort = ABORT.lock().ok().and_then(|mut a| a.take());
                if let Some(abort) = abort {
                    ABORTED.store(true, Ordering::SeqCst);
                    abort();
                    continue;
                }
            }
            if CLAIMED
                .compare_exchange(NOBODY, HANDLER, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                // The client is printing its own end: let it finish, unless
                // this is the second signal since then.
                if SECOND.swap(true, Ordering::SeqCst) {
                    std::process::exit(128 + sig);
                }
                continue;
            }
            // Held until the process ends: a client closing its captures
            // itself finishes first, and none opens after this.
            let _closing = CLOSING.lock().unwrap_or_else(|p| p.into_inner());
            let model = MODEL.lock().ok().and_then(|mut m| m.take());
            if let Some(m) = &model {
                // Closed, not only flushed: a transfer still running on
                // another thread can then add no frame, whole or half,
                // before the process ends.
                let _ = m.finish();
            }
            let live = LIVE.lock().ok().and_then(|mut l| l.take());
            let live_finished = live
                .as_ref()
                .is_some_and(|l| l.stop_and_wait(LIVE_FINISH_WAIT));
            if std::io::stderr().is_terminal() {
                // Erase a progress bar (or an echoed ^C) from the line, so
                // the sentence starts on a clean one.
                let _ = std::io::stderr().write_all(b"\r\x1b[2K");
            }
            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
            // No flush of stdout here: with --print-file the client's thread
            // holds stdout's lock for the whole file, and a slow reader can
            // keep it blocked in a write. A JSON line is flushed by its
            // newline.
            report(name, model.as_ref().map(ModelFile::path), live_finished);
            // Ended by the signal itself, not a plain exit: a shell running
            // the client in a loop then stops at Ctrl-C too.
            let _ = signal_hook::low_level::emulate_default_handler(sig);
            std::process::exit(128 + sig);
        }
    });
    Ok(())
}

/// A signal that came after the client had claimed the output.
static SECOND: AtomicBool = AtomicBool::new(false);

/// Hands the handler the model capture to close on a signal.
pub fn watch_model(model: ModelFile) {
    if let Ok(mut m) = MODEL.lock() {
        *m = Some(model);
    }
}

/// How to stop the command the prompt runs now, while it runs one that
/// can be stopped.
type Abort = Box<dyn FnOnce() + Send>;
static ABORT: Mutex<Option<Abort>> = Mutex::new(None);
/// Whether SIGINT stopped the command [`run_abortable`] ran.
static ABORTED: AtomicBool = AtomicBool::new(false);

/// Runs `f` (a command at the prompt) so that SIGINT meanwhile calls
/// `abort` instead of ending the process; `abort` must make `f` return
/// soon (shutting its connection down does). Returns `f`'s result and
/// whether SIGINT stopped it. Without `abort`, SIGINT ends the process as
/// in any run.
pub fn run_abortable<T>(abort: Option<Abort>, f: impl FnOnce() -> T) -> (T, bool) {
    ABORTED.store(false, Ordering::SeqCst);
    if let Ok(mut a) = ABORT.lock() {
        *a = abort;
    }
    let r = f();
    if let Ok(mut a) = ABORT.lock() {
        *a = None;
    }
    (r, ABORTED.swap(false, Ordering::SeqCst))
}

/// Held while captures close: by a client closing its own (see
/// [`closing`]) and by the handler from the signal to the exit, so the
/// process never ends in the middle of a file's last writes.
static CLOSING: Mutex<()> = Mutex::new(());

/// Closes captures by their owner's hand: holds off the handler until the
/// returned guard drops, and hands it nothing more to close (a capture
/// closed twice is closed once: the second close finds it gone).
pub fn closing() -> std::sync::MutexGuard<'static, ()> {
    let guard = CLOSING.lock().unwrap_or_else(|p| p.into_inner());
    if let Ok(mut m) = MODEL.lock() {
        *m = None;
    }
    if let Ok(mut l) = LIVE.lock() {
        *l = None;
    }
    guard
}

/// Hands the handler the live capture to finish on a signal.
pub fn watch_live(live: CaptureStopper) {
    if let Ok(mut l) = LIVE.lock() {
        *l = Some(live);
    }
}

/// Claims for the client the right to print the run's end (again and
/// again: the claim holds). `false`: the handler has it (a signal came, and
/// the process is about to exit).
pub fn claim_output() -> bool {
    match CLAIMED.compare_exchange(NOBODY, CLIENT, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => true,
        Err(who) => who == CLIENT,
    }
}

/// Claims the output with [`claim_output`], or, when the handler has it,
/// waits for the handler to end the process.
pub fn claim_or_wait() {
    if !claim_output() {
        loop {
            std::thread::park();
        }
    }
}
