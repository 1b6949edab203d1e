//! A plain-text peer: echo, files, refusals, `stream` and `quit`.

use super::*;

fn text_exchange(lines: &[u8]) -> (ServerSession, String) {
    let (s, out) = serve_raw(lines, true);
    (s, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn text_mode_echoes_serves_files_and_refuses_in_a_line() {
    let (s, out) = text_exchange(b"hello\n12\n-5\nlast");
    assert_eq!(
        out,
        format!(
            "hello\n{}error: a file size cannot be negative\nlast\n",
            String::from_utf8(content::fill_vec(0, 12)).unwrap()
        )
    );
    let f = s.figures();
    assert_eq!((f.mode, f.requests, f.refused), ("text", 4, 1));
    assert_eq!(s.ended().unwrap().why, "closed by the client");
}

#[test]
fn text_quit_closes_the_connection_from_the_server() {
    let (s, out) = text_exchange(b"hi\nquit\nnot answered\n");
    assert_eq!(out, "hi\n");
    assert_eq!(
        s.ended(),
        Some(&Ended {
            why: "the client said quit".into(),
            by_client: false
        })
    );
}

#[test]
fn text_stream_sends_lines_on_its_interval_up_to_the_segment_limit() {
    let t = base();
    let limits = Limits {
        max_segments: 5,
        ..Limits::default()
    };
    let mut s = ServerSession::new(1, limits, epoch(t));
    s.handle_bytes(t, b"stream\n10\n");
    let (mut out, mut buf, mut now) = (Vec::new(), Vec::new(), t);
    while s.ended().is_none() {
        while let Some(tx) = s.poll_transmit(now, &mut buf) {
            out.extend_from_slice(&buf[..tx.len]);
        }
        match s.poll_timeout() {
            Some(next) => now = next,
            None => s.handle_eof(now),
        }
    }
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    for (i, l) in lines[..5].iter().enumerate() {
        assert_eq!(l.len(), 31);
        let (seq, sent) = l.split_once(' ').unwrap();
        assert_eq!(seq.parse::<u32>().unwrap(), i as u32);
        let at = epoch(t).unix_ns_of(t + 10 * MS * i as u32);
        assert_eq!(sent.parse::<u64>().unwrap(), at);
    }
    assert_eq!(lines[5], "end 5");
    assert_eq!(now, t + 40 * MS);
    assert_eq!(s.figures().bytes_out, 5 * 32);
}

#[test]
fn text_stream_refuses_a_bad_interval_and_stops_with_the_server() {
    let (_, out) = text_exchange(b"stream\nsoon\n");
    assert!(
        out.starts_with("error: a stream's interval is a whole number"),
        "{out}"
    );
    let (_, out) = text_exchange(b"stream\n0\n");
    assert!(out.starts_with("error: a stream interval of 0ns"), "{out}");
    let t = base();
    let mut s = ServerSession::new(1, Limits::default(), epoch(t));
    s.handle_bytes(t, b"stream\n1000\n");
    let mut buf = Vec::new();
    assert!(s.poll_transmit(t, &mut buf).is_some());
    s.handle_stop();
    let tx = s.poll_transmit(t, &mut buf).unwrap();
    assert_eq!(&buf[..tx.len], b"end 1\n");
}
