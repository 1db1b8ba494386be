//! Entry points for the fuzz targets in `tests/fuzz` (and the corpus replay test): each takes
//! raw bytes from outside, hands them to the code production runs on receipt, and asserts
//! the properties that must hold whatever the bytes are. A failed assertion is a finding.
//!
//! Owns no parsing of its own: every function here calls the stack's or this crate's real
//! parsers (rsipstack's `SipMessage` and TCP framing, `media::sdp`, `media::rtp`,
//! `media::dtmf`, `sip::message`). Not part of the API; hidden from the docs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rsipstack::dialog::DialogId;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Method, SipMessage};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transport::SipConnection;
use rsipstack::transport::stream::{SipCodec, SipCodecType};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::Decoder;
use words::DtmfKey;

use crate::media::Codec;
use crate::media::dtmf::EventReceiver;
use crate::media::inband::ToneDetector;
use crate::media::rtp::{self, Inbound, MAX_PACKET, MAX_PAYLOAD, Outgoing, RelayClock, RxTrack};
use crate::media::sdp::{self, Direction, LocalMedia};
use crate::sip::message::{content_type_is, parse_dtmf_relay};

/// One UDP datagram as the SIP edge receives it: keep-alives and blank datagrams skipped, the
/// edge's screen (`sip::lenient`: what it refuses or drops never reaches the stack), then
/// rsipstack's receive path on what it passes (`SipMessage::try_from`, the
/// `received`/`rport` update of the top Via), the transaction and dialog keys its endpoint
/// derives, and the headers voice's incoming-request checks and in-dialog handlers read.
///
/// Properties: a message that parses prints to bytes that parse again to the same message
/// (what we send back is what we read) — headers, body and start line alike. The
/// Request-URI's user part is left out: rsipstack 0.7.14 escapes it when printing but does
/// not unescape it when parsing, so `sip:a%22b@h` prints as `sip:a%2522b@h` (a finding,
/// pinned by a test below until upstream fixes it); versions compare as printed.
/// The SIP edge as it meets every received request before the stack (`sip::edge`):
/// `lenient::screen` as a datagram and as a stream message, the stateless refusal it would
/// send, and TCP framing (`lenient::frame`). Asserts: a screened request passed on is never
/// longer than the input plus a CR per bare LF and the one tag an RFC 2543 From may get; a refusal is a status line
/// of a 4xx/5xx that parses as a SIP response; a framed message lies inside the buffer.
pub fn sip_edge(data: &[u8]) {
    use crate::sip::lenient::{Carrier, Frame, Screened, frame, screen};
    let source = std::net::SocketAddr::from(([192, 0, 2, 1], 5060));
    for carrier in [Carrier::Datagram, Carrier::Stream] {
        match screen(data, carrier) {
            // Each bare LF may become CRLF, and an RFC 2543 From gains one tag.
            Screened::Pass(bytes) => {
                let bare_lf = data.iter().filter(|&&b| b == b'\n').count();
                assert!(
                    bytes.len() <= data.len() + bare_lf + 64,
                    "screened {} bytes into {}",
                    data.len(),
                    bytes.len()
                );
            }
            Screened::Refuse(refusal) => {
                assert!((400..700).contains(&refusal.status), "{}", refusal.status);
                let answer = refusal.to_bytes(source, None);
                let text = String::from_utf8_lossy(&answer);
                assert!(text.starts_with("SIP/2.0 "), "{text}");
                assert!(
                    matches!(
                        SipMessage::try_from(answer.as_slice()),
                        Ok(SipMessage::Response(_))
                    ),
                    "our refusal does not parse: {text:?}"
                );
            }
            Screened::Drop(_) => {}
        }
    }
    match frame(data) {
        Frame::Message(n) | Frame::Skip(n) => assert!(n > 0 && n <= data.len()),
        Frame::Ping => assert!(data.starts_with(b"\r\n\r\n")),
        _ => {}
    }
}

pub fn sip_datagram(data: &[u8]) {
    use crate::sip::lenient::{Carrier, Screened, screen};
    // rsipstack's UDP loop: CRLFCRLF / CRLF keep-alives and all-whitespace datagrams never
    // reach the parser.
    if data == b"\r\n\r\n" || data == b"\r\n" || data.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    // The SIP edge screens every datagram first; the stack sees only what it passes.
    let Screened::Pass(data) = screen(data, Carrier::Datagram) else {
        return;
    };
    let Ok(msg) = SipMessage::try_from(data.as_slice()) else {
        return;
    };
    let printed = msg.to_bytes();
    let again = SipMessage::try_from(printed.as_slice())
        .unwrap_or_else(|e| panic!("a parsed message must parse again once printed: {e}"));
    assert_eq!(
        comparable(&again),
        comparable(&msg),
        "a printed message must parse to what was read"
    );
    let source = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)), 5060);
    let Ok(msg) =
        SipConnection::update_msg_received(msg, source, rsipstack::sip::transport::Transport::Udp)
    else {
        return;
    };
    read_like_the_edge(&msg);
}

/// The message as compared across a print: without the Request-URI user (escaped again on
/// each print) and a response's own reason phrase (read, then printed as the standard one),
/// and with the version as printed (rsipstack reads `SIP/2.00` as `V(2, 0)`, which prints
/// `SIP/2.0` and reads back as `V2`).
fn without_uri_user(msg: &SipMessage) -> (SipMessage, String) {
    let mut msg = msg.clone();
    let version = match &mut msg {
        SipMessage::Request(r) => {
            r.uri.auth = None;
            std::mem::take(&mut r.version).to_string()
        }
        SipMessage::Response(r) => {
            r.wire_reason = None;
            std::mem::take(&mut r.version).to_string()
        }
    };
    (msg, version)
}

/// The message as compared across a print: [`without_uri_user`], printed, with each header
/// line as `name:value` lower-cased name and trimmed value. A header whose first line is empty
/// and that is folded with a bare LF and a tab (`f: \n\t<sip:…>`, the stored upstream input)
/// reads without the leading whitespace, then, printed and read again, with one space: the
/// value is the same, its whitespace not.
fn comparable(msg: &SipMessage) -> (Vec<String>, String, Vec<u8>) {
    let (msg, version) = without_uri_user(msg);
    let printed = msg.to_bytes();
    let split = printed
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(printed.len());
    let head = String::from_utf8_lossy(&printed[..split]);
    let mut lines = head.split("\r\n");
    let mut out: Vec<String> = lines.next().map(str::to_owned).into_iter().collect();
    out.extend(lines.map(|line| match line.split_once(':') {
        Some((name, value)) => format!("{}:{}", name.trim().to_ascii_lowercase(), value.trim()),
        None => line.to_owned(),
    }));
    let body = printed.get(split + 4..).unwrap_or(&[]).to_vec();
    (out, version, body)
}

/// What the endpoint and voice's edge read of every message that got past the transport.
fn read_like_the_edge(msg: &SipMessage) {
    match msg {
        SipMessage::Request(req) => {
            let _ = TransactionKey::from_request(req, TransactionRole::Server);
            let _ = DialogId::try_from((req, TransactionRole::Server));
            // incoming.rs: CSeq method against the request method, the URI scheme, `Require`,
            // the To tag (in-dialog or not).
            let cseq_method = req.cseq_header().ok().and_then(|c| c.method().ok());
            let _ = cseq_method.is_some_and(|m| m != req.method);
            let _ = req.uri.scheme.clone().unwrap_or_default();
            let _ = req.to_header().ok().and_then(|to| to.tag().ok().flatten());
            let _ = req.header_value("Require");
            // call.rs: INFO and re-INVITE bodies by their Content-Type.
            if let Some(ct) = req.header_value("Content-Type") {
                if content_type_is(&ct, "application/dtmf-relay") {
                    let _ = parse_dtmf_relay(&req.body);
                } else if content_type_is(&ct, "application/sdp")
                    && let Ok(text) = std::str::from_utf8(&req.body)
                {
                    let _ = sdp::answer_offer(text, &LOCAL, None);
                }
            }
        }
        SipMessage::Response(resp) => {
            let _ = TransactionKey::from_response(resp, TransactionRole::Client);
            let _ = DialogId::try_from((resp, TransactionRole::Client));
            let _ = resp.to_header().ok().and_then(|to| to.tag().ok().flatten());
            if resp
                .header_value("Content-Type")
                .is_some_and(|ct| content_type_is(&ct, "application/sdp"))
                && let Ok(text) = std::str::from_utf8(&resp.body)
            {
                let _ = sdp::parse_answer(text);
            }
        }
    }
}

/// A TCP byte stream through rsipstack's `SipCodec` (the framing its stream connections
/// use): the input's first two bytes pick where the stream is cut into three segments, the
/// rest is the stream.
///
/// Property: the SIP messages framed (and whether the codec gave up) do not depend on where
/// TCP segments end — they are the same as when the whole stream arrives at once.
///
/// Two rsipstack 0.7.14 findings are left out of the property until they are fixed upstream
/// (README, Fuzzing): keep-alives are classified by what has arrived so far, so a `CRLFCRLF`
/// ping cut after its first `CRLF` reads as two `CRLF` pongs (keep-alives are therefore not
/// compared); and `Content-Length` is added to the header length unchecked, which overflows
/// for values near `usize::MAX` (streams with a run of 19 or more digits are skipped; the
/// test `rsipstack_tcp_content_length_overflows` pins it).
pub fn sip_stream(data: &[u8]) {
    let [a, b, stream @ ..] = data else {
        return;
    };
    if stream
        .split(|b| !b.is_ascii_digit())
        .any(|run| run.len() >= 19)
    {
        return;
    }
    let len = stream.len().max(1);
    let (a, b) = (usize::from(*a) * len / 256, usize::from(*b) * len / 256);
    let cuts = [a.min(b), a.max(b)];
    let whole = sip_stream_frames(stream, &[]);
    let segmented = sip_stream_frames(stream, &cuts);
    assert_eq!(
        whole, segmented,
        "framing must not depend on where TCP segments end (cut at {cuts:?})"
    );
    for message in &whole.0 {
        if let Ok(msg) = SipMessage::try_from(message.as_slice()) {
            read_like_the_edge(&msg);
        }
    }
}

/// The printed SIP messages rsipstack's `SipCodec` frames from `stream` arriving in segments
/// that end at `cuts` (ascending offsets), keep-alives left out, and whether it stopped with
/// an error (the connection is then closed).
pub fn sip_stream_frames(stream: &[u8], cuts: &[usize]) -> (Vec<Vec<u8>>, bool) {
    let mut codec = SipCodec::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([stream.len()]) {
        let end = end.clamp(start, stream.len());
        buf.extend_from_slice(&stream[start..end]);
        start = end;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(SipCodecType::Message(msg))) => out.push(msg.to_bytes()),
                Ok(Some(SipCodecType::KeepaliveRequest | SipCodecType::KeepaliveResponse)) => {}
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

/// A SIP INFO from inside a dialog, as `call.rs` reads it: the input is `Content-Type`
/// value, a newline, then the body. The request goes through the real SIP parser first.
///
/// Properties: the body reaches the handler byte for byte; a key read from a dtmf-relay
/// body is read the same from the canonical body for that key.
pub fn sip_info(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (content_type, body) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    // Straight to the body parser as well: it must read any bytes.
    check_dtmf_relay(body);
    let mut wire = b"INFO sip:callbond@192.0.2.10:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-info-1\r\n\
        From: <sip:agent@192.0.2.7>;tag=far\r\n\
        To: <sip:callbond@192.0.2.10>;tag=near\r\n\
        Call-ID: fuzz-info@192.0.2.7\r\n\
        CSeq: 2 INFO\r\n\
        Max-Forwards: 70\r\n\
        Content-Type: "
        .to_vec();
    wire.extend_from_slice(content_type);
    wire.extend_from_slice(format!("\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
    wire.extend_from_slice(body);
    let Ok(SipMessage::Request(request)) = SipMessage::try_from(wire.as_slice()) else {
        return;
    };
    // A header line that is not UTF-8 ends rsipstack 0.7.14's header list there (a finding:
    // the headers after it, Content-Length among them, are dropped instead of the message
    // being refused; pinned by a test below), so only UTF-8 types are held to the property.
    let clean_type = std::str::from_utf8(content_type).is_ok()
        && !content_type
            .iter()
            .any(|&b| b == b'\r' || b == b'\n' || b == 0);
    if clean_type && request.method == Method::Info {
        assert_eq!(
            request.body, body,
            "the INFO body must reach the handler unchanged"
        );
    }
    match request.header_value("Content-Type") {
        Some(ct) if content_type_is(&ct, "application/dtmf-relay") => {
            check_dtmf_relay(&request.body);
        }
        _ => {}
    }
}

fn check_dtmf_relay(body: &[u8]) {
    let Some(key) = parse_dtmf_relay(body) else {
        return;
    };
    let canonical = format!("Signal={}\r\nDuration=160\r\n", key.as_char());
    assert_eq!(
        parse_dtmf_relay(canonical.as_bytes()),
        Some(key),
        "the key read must be read again from its canonical body"
    );
    let by_event = format!("Signal={}\r\n", key.event());
    if key.event() >= 10 && key.event() <= 11 {
        assert_eq!(parse_dtmf_relay(by_event.as_bytes()), Some(key));
    }
}

const LOCAL: LocalMedia = LocalMedia {
    advertise_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
    port: 20_000,
    session_id: 42,
    version: 2,
};

/// An SDP body as the far end sends it: read as the answer to our offer, and answered as a
/// re-offer (hold, unhold, new address). The first byte picks the codec already in use.
///
/// Properties: both readings agree on the stream; our answer is SDP we read back to the same
/// codec, telephone-event payload type, our address and the mirrored direction, with one
/// m-line per offered m-line (RFC 3264 §6); telephone-event never shares the codec's type.
pub fn sdp(data: &[u8]) {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let current = match pick % 3 {
        0 => None,
        1 => Some(Codec::Pcmu),
        _ => Some(Codec::Pcma),
    };
    let as_answer = sdp::parse_answer(text);
    if let Ok(n) = &as_answer {
        assert_ne!(n.telephone_event_pt, Some(n.codec.payload_type()));
    }
    let Ok((answer, negotiated)) = sdp::answer_offer(text, &LOCAL, current) else {
        assert!(
            as_answer.is_err(),
            "an SDP readable as an answer must be answerable as an offer"
        );
        return;
    };
    let as_answer = as_answer.unwrap_or_else(|e| panic!("answerable but not readable: {e}"));
    assert_eq!(as_answer.remote_rtp, negotiated.remote_rtp);
    assert_eq!(as_answer.direction, negotiated.direction);
    assert_eq!(as_answer.telephone_event_pt, negotiated.telephone_event_pt);
    if current.is_none() {
        assert_eq!(as_answer.codec, negotiated.codec);
    }
    let ours = sdp::parse_answer(&answer)
        .unwrap_or_else(|e| panic!("our own answer must be readable: {e}\n{answer}"));
    assert_eq!(ours.codec, negotiated.codec, "{answer}");
    assert_eq!(ours.telephone_event_pt, negotiated.telephone_event_pt);
    assert_eq!(
        ours.remote_rtp,
        SocketAddr::new(LOCAL.advertise_ip, LOCAL.port)
    );
    // RFC 3264 §6.1: sendonly is answered recvonly and the reverse.
    let mirrored = match negotiated.direction {
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        d => d,
    };
    assert_eq!(ours.direction, mirrored, "{answer}");
    let m_lines = |s: &str| {
        s.split('\n')
            .filter(|l| {
                l.trim_matches(|c: char| c == '\r' || c == ' ' || c == '\t')
                    .starts_with("m=")
            })
            .count()
    };
    assert_eq!(
        m_lines(&answer),
        m_lines(text),
        "one m-line per offered one"
    );
    assert!(
        answer.split("\r\n").all(|l| l.is_empty()
            || (l.len() >= 2 && l.as_bytes()[1] == b'=' && !l.contains('\n'))),
        "every line of our answer is <letter>=<value>: {answer:?}"
    );
}

/// Datagrams on a leg's RTP port, as the media task handles them: sorted by
/// `rtp::classify` (RTCP multiplexed on the port, RFC 5761, is among what arrives), loss and
/// SSRC tracking, RFC 4733 events, G.711 decoding for the in-band detector, and the relay
/// onto the other leg's stream (timing, transcoding, stamping, writing).
///
/// Input: one byte of leg setup (bit 7: telephone-event negotiated, as payload type
/// `bits 0-6`), then datagrams, each prefixed by its length (one byte).
///
/// Properties: only G.711 payload types are audio and only the negotiated one is an event;
/// RTCP packet types are never audio or events; what we relay reads back as RTP of the peer's
/// codec, SSRC and payload size, with sequence numbers that never skip.
pub fn rtp(data: &[u8]) {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let te_pt = (setup & 0x80 != 0).then_some(setup & 0x7f);
    let peer_codec = if setup & 0x01 == 0 {
        Codec::Pcmu
    } else {
        Codec::Pcma
    };
    let t0 = Instant::now();
    let negotiated = sdp::Negotiated {
        codec: peer_codec,
        telephone_event_pt: None,
        remote_rtp: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20)), 30_000),
        direction: Direction::SendRecv,
    };
    let mut peer = Outgoing::new(0x5eed, u16::MAX - 1, u32::MAX - 500, &negotiated);
    let mut clock = RelayClock::default();
    let mut track = RxTrack::default();
    let mut events = EventReceiver::default();
    let mut tones = ToneDetector::default();
    let mut last_seq: Option<u16> = None;
    let mut n: u32 = 0;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (datagram, tail) = tail.split_at(len);
        rest = tail;
        n += 1;
        let now = t0 + Duration::from_millis(u64::from(n) * 20);
        let inbound = rtp::classify(datagram, te_pt);
        let pt = datagram.get(1).map(|b| b & 0x7f);
        if pt.is_some_and(|pt| (72..=76).contains(&pt)) && te_pt != pt {
            assert!(
                !matches!(inbound, Ok(Inbound::Audio { .. } | Inbound::Event { .. })),
                "an RTCP packet is not media"
            );
        }
        let inbound = match inbound {
            Ok(Inbound::Unexpected) | Err(_) => continue,
            Ok(inbound) => inbound,
        };
        match inbound {
            Inbound::Event {
                ssrc,
                seq,
                ts,
                payload,
            } => {
                assert_eq!(pt, te_pt, "only the negotiated type is an event");
                let _ = track.on_packet(ssrc, seq);
                let _ = events.on_packet(ts, payload, now);
            }
            Inbound::Audio {
                codec,
                ssrc,
                seq,
                ts,
                marker,
                payload,
            } => {
                assert_eq!(pt, Some(codec.payload_type()), "only G.711 is audio");
                assert!(payload.len() <= MAX_PAYLOAD);
                let _ = track.on_packet(ssrc, seq);
                let mut pcm = [0i16; MAX_PAYLOAD];
                let pcm = &mut pcm[..payload.len()];
                codec.decode(payload, pcm);
                let _ = tones.push(pcm);
                let mut body = [0u8; MAX_PAYLOAD];
                let body = &mut body[..payload.len()];
                let (advance, new_spurt) = clock.advance(ssrc, ts, payload.len());
                codec.transcode(peer.codec, payload, body);
                let stamp = peer.stamp_relayed(now, advance, marker, new_spurt);
                let mut pkt = [0u8; MAX_PACKET];
                let Some(written) =
                    rtp::write_packet(&mut pkt, peer.codec.payload_type(), stamp, body)
                else {
                    panic!("a payload we accepted must fit the relay buffer");
                };
                match rtp::classify(&pkt[..written], None) {
                    Ok(Inbound::Audio {
                        codec: c,
                        ssrc: s,
                        seq: q,
                        payload: p,
                        ..
                    }) => {
                        assert_eq!((c, s, p.len()), (peer.codec, 0x5eed, payload.len()));
                        if let Some(last) = last_seq {
                            assert_eq!(q, last.wrapping_add(1), "relayed sequence skipped");
                        }
                        last_seq = Some(q);
                    }
                    other => panic!("what we relay must read as our audio: {other:?}"),
                }
            }
            Inbound::Unexpected => {}
        }
        if let Some(deadline) = events.poll_timeout() {
            let _ = events.on_timeout(deadline);
        }
    }
}

/// RFC 4733 telephone-event payloads of one stream through the leg's `EventReceiver`.
/// Input: records of 4 bytes of payload, 2 bytes of timestamp step (added to the previous
/// timestamp, so retransmissions, new events and late ones all occur) and 1 byte of time
/// step in 10 ms units (long steps fire the lost-end timeout).
///
/// Properties: every reported key is the key of an event that started and was not reported
/// yet (so no event is reported twice, retransmitted end packets included); the lost-end
/// timeout reports once.
pub fn telephone_event(data: &[u8]) {
    let t0 = Instant::now();
    let mut now = t0;
    let mut rx = EventReceiver::default();
    let mut ts: u32 = 1000;
    // Events that started and await their report: (start timestamp, key).
    let mut open: Vec<(u32, Option<DtmfKey>)> = Vec::new();
    // RFC 4733 §2.5.1.1: the timestamp names the event; a later one starts a new event, an
    // earlier one is a late retransmission.
    let mut current: Option<u32> = None;
    for record in data.chunks_exact(7) {
        let payload = &record[..4];
        ts = ts.wrapping_add(u32::from(u16::from_be_bytes([record[4], record[5]])));
        if record[4] & 0x80 != 0 {
            // A late packet of an older event.
            ts = ts.wrapping_sub(3000);
        }
        now += Duration::from_millis(u64::from(record[6]) * 10);
        if let Some(deadline) = rx.poll_timeout()
            && now >= deadline
        {
            if let Some(key) = rx.on_timeout(now) {
                take_report(&mut open, key);
            }
            assert_eq!(rx.on_timeout(now), None, "a timeout reports once");
            assert_eq!(rx.poll_timeout(), None, "nothing left to time out");
        }
        if current.is_none_or(|c| (ts.wrapping_sub(c) as i32) > 0) {
            current = Some(ts);
            open.push((ts, DtmfKey::from_event(payload[0])));
        }
        for key in rx.on_packet(ts, payload, now).into_iter().flatten() {
            take_report(&mut open, key);
        }
    }
}

/// Matches a reported key to the oldest open event with that key.
fn take_report(open: &mut Vec<(u32, Option<DtmfKey>)>, key: DtmfKey) {
    let Some(i) = open.iter().position(|(_, k)| *k == Some(key)) else {
        panic!("{key} reported but no unreported event had that key: {open:?}");
    };
    open.remove(i);
}

#[cfg(test)]
mod tests {
    //! rsipstack 0.7.14 findings of these targets, pinned: each test shows the defect as it
    //! is today and fails once upstream fixes it, so the target's exclusion can go.

    use super::*;

    const OPTIONS_HEADERS: &str = "Via: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bK-1\r\n\
        From: <sip:a@203.0.113.5>;tag=x\r\nTo: <sip:b@192.0.2.10>\r\n";

    /// `transport/stream.rs`: `headers_end + 4 + content_length` unchecked. With overflow
    /// checks the connection's task panics; in release the sum wraps and the message is cut.
    #[test]
    #[should_panic(expected = "overflow")]
    fn rsipstack_tcp_content_length_overflows() {
        let stream =
            b"OPTIONS sip:192.0.2.10 SIP/2.0\r\nContent-Length: 18446744073709551615\r\n\r\n";
        let _ = sip_stream_frames(stream, &[]);
    }

    /// `sip/uri.rs`: the user part is percent-escaped when printed, not unescaped when read.
    #[test]
    fn rsipstack_request_uri_user_is_escaped_again_on_every_print() {
        let wire = format!(
            "OPTIONS sip:a%22b@192.0.2.10 SIP/2.0\r\n{OPTIONS_HEADERS}Call-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"
        );
        let msg = SipMessage::try_from(wire.as_str()).expect("parses");
        let printed = String::from_utf8(msg.to_bytes()).expect("utf-8");
        assert!(printed.starts_with("OPTIONS sip:a%2522b@"), "{printed}");
    }

    /// `sip/parser.rs`: a header line that is not UTF-8 ends the header list; the headers
    /// after it (here Call-ID, CSeq and Content-Length) and so the body are silently lost.
    #[test]
    fn rsipstack_non_utf8_header_line_drops_the_rest() {
        let mut wire = format!("INFO sip:c@192.0.2.10 SIP/2.0\r\n{OPTIONS_HEADERS}").into_bytes();
        wire.extend_from_slice(b"X-Bad: \xff\r\nCall-ID: c\r\nCSeq: 2 INFO\r\n");
        wire.extend_from_slice(
            b"Content-Type: application/dtmf-relay\r\nContent-Length: 8\r\n\r\nSignal=5",
        );
        let Ok(SipMessage::Request(req)) = SipMessage::try_from(wire.as_slice()) else {
            panic!("rsipstack accepts it");
        };
        assert!(req.body.is_empty());
        assert!(req.call_id_header().is_err());
    }

    /// `sip/version.rs`: `SIP/2.00` (and `SIP/02.0`) read as `V(2, 0)`, a value other than
    /// `V2` that prints as `SIP/2.0`: code comparing with `Version::V2` treats the same
    /// version two ways.
    #[test]
    fn rsipstack_version_2_00_is_not_v2() {
        let v: rsipstack::sip::Version = "SIP/2.00".parse().expect("parses");
        assert_ne!(v, rsipstack::sip::Version::V2);
        assert_eq!(v.to_string(), "SIP/2.0");
    }

    /// `sip/message.rs`: a response's own reason phrase is kept when read (`wire_reason`) but
    /// printed as the standard text for the code.
    #[test]
    fn rsipstack_prints_the_standard_reason_phrase() {
        let wire =
            format!("SIP/2.0 200 Fine\r\n{OPTIONS_HEADERS}Call-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n");
        let SipMessage::Response(resp) = SipMessage::try_from(wire.as_str()).expect("parses")
        else {
            panic!("a response");
        };
        assert_eq!(resp.wire_reason.as_deref(), Some("Fine"));
        let printed = String::from_utf8(resp.to_bytes()).expect("utf-8");
        assert!(printed.starts_with("SIP/2.0 200 OK\r\n"), "{printed}");
    }

    /// `sip/uri.rs`: a Request-URI whose host ends in `>` before an empty parameter list
    /// (`sip:a@h>;`) reads with the `>` in the host, and prints as `sip:a@h>`, which reads
    /// back without it. The input that found it
    /// (tests/fuzz/upstream/sip_datagram) never reaches the stack: the edge drops it (no
    /// usable Via), and with a usable Via refuses it (416, its scheme is `sip}}NS}`); a SIP
    /// URI like it gets 400 (`lenient` tests).
    #[test]
    fn rsipstack_request_uri_with_a_bracket_does_not_read_back_and_the_edge_stops_it() {
        use crate::sip::lenient::{Carrier, Screened, screen};
        let wire = format!(
            "OPTIONS sip:a@h>; SIP/2.0\r\n{OPTIONS_HEADERS}Call-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"
        );
        let read = SipMessage::try_from(wire.as_str()).expect("rsipstack accepts it");
        let again = SipMessage::try_from(read.to_bytes().as_slice()).expect("parses again");
        let uri = |m: &SipMessage| match m {
            SipMessage::Request(r) => r.uri.to_string(),
            SipMessage::Response(_) => panic!("a request"),
        };
        assert_ne!(
            uri(&read),
            uri(&again),
            "{}",
            String::from_utf8_lossy(&read.to_bytes())
        );
        assert!(matches!(
            screen(wire.as_bytes(), Carrier::Datagram),
            Screened::Refuse(_)
        ));
        let found = include_bytes!(
            "../../tests/fuzz/upstream/sip_datagram/request_uri_print_adds_angle_bracket"
        );
        assert!(matches!(
            screen(found, Carrier::Datagram),
            Screened::Drop(_)
        ));
        sip_datagram(found);
    }

    /// The input that stopped `sip_datagram` at 31k executions: it fails a comparison of the
    /// parsed values and passes [`comparable`]'s (see tests/fuzz/upstream/sip_datagram).
    #[test]
    fn upstream_folded_input_passes_the_whitespace_blind_comparison() {
        sip_datagram(include_bytes!(
            "../../tests/fuzz/upstream/sip_datagram/folded_empty_value_keeps_leading_space"
        ));
    }

    /// The targets' own properties hold on a well-formed message (the replay test runs the
    /// committed corpora; this pins the entry points against a silent early return).
    #[test]
    fn a_well_formed_info_reaches_the_dtmf_parser() {
        let wire = format!(
            "INFO sip:c@192.0.2.10 SIP/2.0\r\n{OPTIONS_HEADERS}Call-ID: c\r\nCSeq: 2 INFO\r\n\
             Content-Type: application/dtmf-relay\r\nContent-Length: 8\r\n\r\nSignal=5"
        );
        let Ok(SipMessage::Request(req)) = SipMessage::try_from(wire.as_str()) else {
            panic!("parses");
        };
        assert_eq!(parse_dtmf_relay(&req.body).map(DtmfKey::as_char), Some('5'));
        sip_datagram(wire.as_bytes());
        sip_info(b"application/dtmf-relay\nSignal=5");
    }
}
