//! Receive buffers handed to the endpoint whole: a GRO buffer of an
//! upload's datagrams is verified and counted datagram by datagram and
//! once as a buffer, and a buffer that is not an upload's goes the way of
//! single datagrams.

use super::*;
use crate::content;
use crate::proto::datagram::{self, Body, DgramHeader, FLAG_UPLOAD};

fn config() -> (Config, Instant) {
    let t0 = Instant::now();
    let config = Config {
        limits: Limits::default(),
        max_sessions: 4,
        max_per_client: 4,
        idle_timeout: Duration::from_secs(2),
        v6: false,
        epoch: Epoch::pin(t0, 1_700_000_000_000_000_000),
        max_time: Duration::from_secs(60),
        cpu: None,
        gro: true,
    };
    (config, t0)
}

fn hdr(session: u32, seq: u32, offset: u64) -> DgramHeader {
    DgramHeader {
        session,
        seq,
        offset,
        ..DgramHeader::default()
    }
}

fn drain(ep: &mut Endpoint, now: Instant) -> Vec<Body> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some((_, t)) = ep.poll_transmit(now, &mut buf) {
        let size = t.segment.unwrap_or(t.len).max(1);
        for d in buf[..t.len].chunks(size) {
            out.push(datagram::decode(d).unwrap().1);
        }
    }
    out
}

/// An endpoint with an upload of `size` bytes in `segment`-byte datagrams
/// open for session 7 of `peer`.
fn upload(size: u64, segment: u32) -> (Endpoint, Instant, SocketAddr) {
    let (c, t0) = config();
    let mut ep = Endpoint::new(c, t0);
    let peer = SocketAddr::from(([127, 0, 0, 1], 4000));
    ep.handle_datagram(t0, peer, &datagram::to_vec(&hdr(7, 0, 0), &Body::Hello));
    let [Body::Cookie { token }] = drain(&mut ep, t0)[..] else {
        panic!("no cookie");
    };
    let ask = Body::FileRequest {
        size,
        rate_bps: 0,
        segment,
        flags: FLAG_UPLOAD,
        token,
        time_ns: 0,
    };
    ep.handle_datagram(t0, peer, &datagram::to_vec(&hdr(7, 0, 0), &ask));
    assert!(matches!(drain(&mut ep, t0)[..], [Body::FileReady { .. }]));
    (ep, t0, peer)
}

/// Datagrams `seqs` of the file, `per` file bytes each, laid end to end
/// as a GRO buffer holds them.
fn gro_buffer(session: u32, seqs: std::ops::Range<u32>, per: u64) -> Vec<u8> {
    seqs.flat_map(|i| {
        let off = u64::from(i) * per;
        let data = content::fill_vec(off, per as usize);
        datagram::to_vec(&hdr(session, i, off), &Body::FileData { data })
    })
    .collect()
}

fn results(out: &[Body]) -> Vec<&crate::proto::Results> {
    out.iter()
        .filter_map(|b| match b {
            Body::Results(r) => Some(&**r),
            _ => None,
        })
        .collect()
}

#[test]
fn a_gro_buffer_of_an_upload_counts_every_datagram_and_one_buffer() {
    let (segment, per) = (64u32, 36u64);
    let (mut ep, t0, peer) = upload(10 * per, segment);
    let now = t0 + Duration::from_millis(1);
    let first = gro_buffer(7, 0..8, per);
    ep.handle_buffer(now, peer, &first, Some(segment as u16), None);
    // The last two, one of them again: a buffer each.
    for i in [8, 9, 9] {
        let one = gro_buffer(7, i..i + 1, per);
        ep.handle_buffer(now, peer, &one, None, None);
    }
    let end = Body::FileEnd {
        datagrams: 10,
        bytes: 10 * per,
        sent_with: None,
    };
    ep.handle_datagram(now, peer, &datagram::to_vec(&hdr(7, 10, 0), &end));
    let out = drain(&mut ep, now);
    let r = results(&out);
    assert_eq!(r.len(), RESULTS_COPIES as usize, "{out:?}");
    assert_eq!(r[0].datagrams, Some(10));
    assert_eq!(r[0].duplicates, Some(1));
    assert_eq!(r[0].lost, Some(0));
    assert_eq!(r[0].bytes, Some(10 * per));
    assert_eq!(r[0].buffers, Some(4));
    assert!(r[0].gro());
    assert!(ep.upload_seen().is_some());
}

/// A buffer whose datagrams are not all the upload's data: the run of
/// data is taken as one, the rest one by one (here a FileEnd of the same
/// size, as GRO could coalesce it).
#[test]
fn a_buffer_that_turns_into_other_datagrams_goes_on_one_by_one() {
    let (segment, per) = (64u32, 36u64);
    let (mut ep, t0, peer) = upload(3 * per, segment);
    let now = t0 + Duration::from_millis(1);
    let mut buf = gro_buffer(7, 0..3, per);
    let end = Body::FileEnd {
        datagrams: 3,
        bytes: 3 * per,
        sent_with: None,
    };
    buf.extend(datagram::to_vec(&hdr(7, 3, 0), &end));
    ep.handle_buffer(now, peer, &buf, Some(segment as u16), None);
    let out = drain(&mut ep, now);
    let r = results(&out);
    assert_eq!(r.len(), RESULTS_COPIES as usize, "{out:?}");
    assert_eq!((r[0].datagrams, r[0].buffers), (Some(3), Some(1)));
}

/// A wrong byte in the middle of a buffer ends the upload with its offset.
#[test]
fn a_wrong_byte_in_a_buffer_is_refused_with_its_offset() {
    let (segment, per) = (64u32, 36u64);
    let (mut ep, t0, peer) = upload(8 * per, segment);
    let mut buf = gro_buffer(7, 0..8, per);
    let at = 5 * segment as usize + datagram::DGRAM_HEADER + 3;
    buf[at] ^= 0xFF;
    ep.handle_buffer(t0, peer, &buf, Some(segment as u16), None);
    let out = drain(&mut ep, t0);
    let offset = 5 * per + 3;
    assert!(
        out.iter().any(|b| matches!(b, Body::Error { message, .. }
            if message.starts_with(&format!("upload: verification failed at offset {offset}")))),
        "{out:?}"
    );
}
