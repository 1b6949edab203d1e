//! The endpoint's marking and its new requests on virtual time: answers
//! carry the asker's DSCP, an upload with ECN counts every datagram's ECN
//! field, and `--max-time` bounds a timed transfer.

use super::*;
use crate::content;
use crate::proto::ErrorCode;
use crate::proto::datagram::{
    self, Body, DgramHeader, FLAG_ECN, FLAG_RESULTS, FLAG_UPLOAD, KIND_FILE_DATA,
};

fn endpoint() -> (Endpoint, Instant) {
    let t0 = Instant::now();
    let config = Config {
        limits: Limits::default(),
        max_sessions: 8,
        max_per_client: 8,
        idle_timeout: Duration::from_secs(2),
        v6: false,
        epoch: Epoch::pin(t0, 1_700_000_000_000_000_000),
        max_time: Duration::from_secs(10),
        cpu: None,
        gro: false,
    };
    (Endpoint::new(config, t0), t0)
}

const PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 5000);

fn hdr(session: u32, seq: u32) -> DgramHeader {
    DgramHeader {
        session,
        seq,
        ..DgramHeader::default()
    }
}

/// Everything due at `now`: bodies and TOS bytes.
fn drain(ep: &mut Endpoint, now: Instant) -> Vec<(Body, Option<u8>)> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Some((_, t, tos)) = ep.poll_transmit_tos(now, &mut buf) {
        for d in buf[..t.len].chunks(t.segment.unwrap_or(t.len).max(1)) {
            out.push((datagram::decode(d).unwrap().1, tos));
        }
    }
    out
}

fn ask(ep: &mut Endpoint, now: Instant, body: &Body, tos: u8) -> Vec<(Body, Option<u8>)> {
    let d = datagram::to_vec(&hdr(9, 0), body);
    ep.handle_datagram_tos(now, PEER.into(), &d, Some(tos));
    drain(ep, now)
}

fn token(ep: &mut Endpoint, now: Instant, tos: u8) -> u64 {
    match &ask(ep, now, &Body::Hello, tos)[..] {
        [(Body::Cookie { token }, _)] => *token,
        other => panic!("{other:?}"),
    }
}

#[test]
fn answers_carry_the_askers_dscp_and_ect0_only_when_it_was_ecn_capable() {
    let (mut ep, t0) = endpoint();
    // DSCP 46 (EF), ECT(0): the Cookie is EF and ECT(0).
    let out = ask(&mut ep, t0, &Body::Hello, 0xBA);
    assert_eq!(out[0].1, Some(0xBA));
    // DSCP 10, Not-ECT: the echo comes back DSCP 10, Not-ECT.
    let echo = Body::EchoRequest {
        data: b"hi".to_vec(),
    };
    assert_eq!(ask(&mut ep, t0, &echo, 10 << 2)[0].1, Some(10 << 2));
    // Not read: the socket's own.
    ep.handle_datagram(t0, PEER.into(), &datagram::to_vec(&hdr(1, 0), &Body::Hello));
    assert_eq!(drain(&mut ep, t0)[0].1, None);
}

#[test]
fn an_upload_with_ecn_counts_every_datagram_and_answers_ect0() {
    let (mut ep, t0) = endpoint();
    let tok = token(&mut ep, t0, 8 << 2 | 2);
    let request = Body::FileRequest {
        size: 1000,
        rate_bps: 0,
        segment: 128,
        flags: FLAG_UPLOAD | FLAG_RESULTS | FLAG_ECN,
        token: tok,
        time_ns: 0,
    };
    // The request itself is Not-ECT; the answers still go ECT(0).
    let out = ask(&mut ep, t0, &request, 8 << 2);
    assert!(
        matches!(
            out[..],
            [(
                Body::FileReady {
                    size: 1000,
                    segment: 128,
                    datagrams: 10
                },
                Some(0x22)
            )]
        ),
        "{out:?}"
    );
    for seq in 0..10u64 {
        let mut d = Vec::new();
        let h = DgramHeader {
            session: 9,
            seq: seq as u32,
            offset: seq * 100,
            sent_ns: 0,
        };
        datagram::append_header(&mut d, KIND_FILE_DATA, &h);
        let n = 100.min(1000 - seq as usize * 100);
        d.extend(content::fill_vec(seq * 100, n));
        // Two of them CE, the rest ECT(0).
        let tos = if seq < 2 { 8 << 2 | 3 } else { 8 << 2 | 2 };
        ep.handle_datagram_tos(t0, PEER.into(), &d, Some(tos));
    }
    let end = Body::FileEnd {
        datagrams: 10,
        bytes: 1000,
        sent_with: None,
    };
    let out = ask(&mut ep, t0, &end, 8 << 2 | 2);
    assert_eq!(out.len(), RESULTS_COPIES as usize, "{out:?}");
    let (Body::Results(r), Some(0x22)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (r.bytes, r.datagrams, r.lost),
        (Some(1000), Some(10), Some(0))
    );
    // Request, 10 data, End: 12 datagrams of the session.
    assert_eq!(
        (r.not_ect, r.ect0, r.ect1, r.ce),
        (Some(1), Some(9), Some(0), Some(2))
    );
    // A later End copy gets one more copy.
    assert_eq!(ask(&mut ep, t0, &end, 0).len(), 1);
}

#[test]
fn a_timed_transfer_longer_than_max_time_is_refused() {
    let (mut ep, t0) = endpoint();
    let tok = token(&mut ep, t0, 0);
    for flags in [0, FLAG_UPLOAD] {
        let request = Body::FileRequest {
            size: 0,
            rate_bps: 0,
            segment: 1200,
            flags,
            token: tok,
            time_ns: 11_000_000_000,
        };
        match &ask(&mut ep, t0, &request, 0)[..] {
            [(Body::Error { code, message }, _)] => {
                assert_eq!(*code, ErrorCode::BadInterval);
                assert!(message.contains("--max-time 10 s"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
