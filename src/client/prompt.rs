//! The interactive prompt: the lab's friendly face.
//!
//! `quit` leaves; `stream` or `s` asks for an interval and starts a stream; a
//! whole number asks for a file of that many bytes; any other text is echoed.
//! Line editing and history come from `rustyline`; the end of input (Ctrl-D,
//! or the end of a pipe) quits, and Ctrl-C at the line drops the line;
//! Ctrl-C during a TCP command stops that command and the prompt goes on. One connection serves every command and is
//! opened again if the server drops it.

use std::io::Write;
use std::time::Duration;

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::{Client, ClientConfig, ClientError};
use crate::units::parse_duration;

/// One line typed at the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Leave.
    Quit,
    /// Start a stream (the interval is asked next).
    Stream,
    /// A file of this many bytes.
    File(u64),
    /// A whole number too large to be a size.
    TooLarge(String),
    /// Echo this text.
    Echo(String),
    /// Nothing typed.
    Empty,
}

/// Reads one prompt line.
pub fn parse_command(line: &str) -> Command {
    let t = line.trim();
    match t {
        "" => Command::Empty,
        // Only `quit` leaves: any other word, `exit` and `q` included, is
        // text to echo.
        "quit" => Command::Quit,
        "stream" | "s" => Command::Stream,
        _ if t.bytes().all(|b| b.is_ascii_digit()) => match t.parse() {
            Ok(n) => Command::File(n),
            Err(_) => Command::TooLarge(t.to_string()),
        },
        _ => Command::Echo(line.trim_end_matches(['\r', '\n']).to_string()),
    }
}

/// Settings the prompt uses for streams.
#[derive(Debug, Clone, Copy)]
pub struct StreamDefaults {
    /// Segments per stream.
    pub count: u32,
    /// Whole segment size.
    pub size: u32,
}

/// Runs the prompt until `quit` or the end of input; reports go to `out`.
pub fn run(
    config: &ClientConfig,
    stream: StreamDefaults,
    out: &mut dyn Write,
) -> Result<(), ClientError> {
    let mut rl = DefaultEditor::new().map_err(|e| ClientError::Io(std::io::Error::other(e)))?;
    let _ = writeln!(
        out,
        "ardei-lab client, {} server {}: type text to echo it, a number N for a file of N bytes, \
         `stream` (or `s`) for a stream, `quit` to leave",
        if config.udp.is_some() { "udp" } else { "tcp" },
        config.target
    );
    let mut client = Connection {
        client: None,
        opened: 0,
    };
    let r = prompt_loop(&mut rl, config, stream, out, &mut client);
    client.close();
    r
}

fn prompt_loop(
    rl: &mut DefaultEditor,
    config: &ClientConfig,
    stream: StreamDefaults,
    out: &mut dyn Write,
    client: &mut Connection,
) -> Result<(), ClientError> {
    loop {
        let line = match rl.readline("ardei> ") {
            Ok(l) => l,
            Err(ReadlineError::Eof) => return Ok(()),
            // Ctrl-C at the line drops what was typed, as a shell does;
            // leaving is `quit` or Ctrl-D.
            Err(ReadlineError::Interrupted) => {
                eprintln!("(Ctrl-C: line dropped; `quit` or Ctrl-D leaves)");
                continue;
            }
            Err(e) if not_text(&e) => {
                eprintln!("error: {NOT_TEXT}");
                continue;
            }
            Err(e) => return Err(ClientError::Io(std::io::Error::other(e))),
        };
        let cmd = parse_command(&line);
        if cmd != Command::Empty {
            let _ = rl.add_history_entry(line.as_str());
        }
        let result = match cmd {
            Command::Quit => return Ok(()),
            Command::Empty => continue,
            Command::TooLarge(t) => {
                eprintln!("error: {t} is too large for a file size");
                continue;
            }
            Command::Stream => {
                let Some(interval) = ask_interval(rl)? else {
                    continue;
                };
                with_client(client, config, |c| {
                    c.stream(interval, stream.count, stream.size)
                })
            }
            Command::File(n) => with_client(client, config, |c| c.file(n, None)),
            Command::Echo(text) => with_client(client, config, |c| {
                c.echo(text.as_bytes(), 1, Duration::ZERO)
            }),
        };
        match result {
            Ok(report) => {
                let _ = write!(out, "{}", report.render_text());
                let _ = out.flush();
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
}

fn ask_interval(rl: &mut DefaultEditor) -> Result<Option<Duration>, ClientError> {
    match rl.readline("interval (e.g. 5ms, 250us; a bare number is ms): ") {
        Ok(l) => match parse_duration(&l) {
            Ok(d) => Ok(Some(d)),
            Err(e) => {
                eprintln!("error: {e}");
                Ok(None)
            }
        },
        Err(ReadlineError::Eof | ReadlineError::Interrupted) => Ok(None),
        Err(e) if not_text(&e) => {
            eprintln!("error: {NOT_TEXT}");
            Ok(None)
        }
        Err(e) => Err(ClientError::Io(std::io::Error::other(e))),
    }
}

/// What the prompt says of a line that is not UTF-8 text.
const NOT_TEXT: &str = "that line is not UTF-8 text; it was skipped";

/// Whether reading a line failed because it is not UTF-8 (the line is
/// consumed, so the next one can be read).
fn not_text(e: &ReadlineError) -> bool {
    matches!(e, ReadlineError::Io(io) if io.kind() == std::io::ErrorKind::InvalidData)
}

/// The prompt's connection: opened at the first command, and again after
/// one that failed.
struct Connection {
    client: Option<Client>,
    /// Connections opened so far: the second and later write their model
    /// capture to a numbered file beside the first, never over it.
    opened: u32,
}

impl Connection {
    /// Closes the connection, its captures first (teardown frames, files
    /// flushed).
    fn close(&mut self) {
        if let Some(mut c) = self.client.take() {
            if let Err(e) = c.finish() {
                eprintln!("error: {e}");
            }
        }
    }
}

/// Runs `f` on the open connection, opening one first if needed. After any
/// failure but a refusal (the server answered with an error and the
/// conversation is where it was) the connection is dropped, so the next
/// command starts on a clean one: a file cut short or a wrong byte leaves
/// the rest of that file in the socket.
fn with_client<T>(
    conn: &mut Connection,
    config: &ClientConfig,
    f: impl FnOnce(&mut Client) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    if conn.client.is_none() {
        // Numbered by the connections that opened: one that failed to
        // connect wrote no capture, so it takes no number.
        let n = conn.opened + 1;
        let mut config = config.clone();
        if let Some(p) = &config.recording.pcap {
            let p = crate::instruments::numbered_path(p, n);
            if n > 1 {
                eprintln!("new connection: its model capture goes to {}", p.display());
            }
            config.recording.pcap = Some(p);
        }
        conn.client = Some(Client::connect(&config)?);
        conn.opened = n;
    }
    let Some(c) = conn.client.as_mut() else {
        return Err(ClientError::Protocol("no connection".to_string()));
    };
    let (r, stopped) = super::interrupt::run_abortable(c.abort_handle(), || f(c));
    if stopped {
        conn.close();
        return Err(ClientError::Interrupted);
    }
    if matches!(&r, Err(e) if !matches!(e, ClientError::Refused { .. } | ClientError::Usage(_))) {
        conn.close();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse_command("quit"), Command::Quit);
        assert_eq!(parse_command(" s "), Command::Stream);
        assert_eq!(parse_command("stream"), Command::Stream);
        assert_eq!(parse_command("1000"), Command::File(1000));
        assert_eq!(
            parse_command("hello there"),
            Command::Echo("hello there".into())
        );
        assert_eq!(parse_command("-5"), Command::Echo("-5".into()));
        assert_eq!(parse_command(""), Command::Empty);
        assert!(matches!(
            parse_command("99999999999999999999999"),
            Command::TooLarge(_)
        ));
    }
}
