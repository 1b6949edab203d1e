//! A plain-text peer, as `nc` is, against a real server process: `stream`
//! then an interval in milliseconds streams lines, `quit` closes.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use common::Server;

#[test]
fn text_stream_then_quit_over_a_real_socket() {
    let server = Server::v4(&["--max-segments", "5"]);
    let mut s = server.raw();
    s.write_all(b"hello\nstream\n10\n").unwrap();
    let mut lines = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    let mut next = |line: &mut String| {
        line.clear();
        lines.read_line(line).unwrap();
        line.trim_end().to_string()
    };
    assert_eq!(next(&mut line), "hello");
    let mut stamps = Vec::new();
    for seq in 0..5u64 {
        let l = next(&mut line);
        let (n, sent) = l.split_once(' ').unwrap_or_else(|| panic!("{l:?}"));
        assert_eq!(n.parse::<u64>().unwrap(), seq, "{l:?}");
        stamps.push(sent.parse::<u64>().unwrap());
    }
    assert_eq!(next(&mut line), "end 5");
    // Segments 10 ms apart on the server's clock (a wake-up may be late).
    for w in stamps.windows(2) {
        let gap = Duration::from_nanos(w[1] - w[0]);
        assert!(gap >= Duration::from_millis(9), "{gap:?}");
    }
    s.write_all(b"quit\n").unwrap();
    assert_eq!(next(&mut line), "", "quit closes the connection");
    server.assert_alive();
}
