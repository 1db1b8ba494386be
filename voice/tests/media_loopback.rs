//! Media legs on loopback, driven through the public `voice::media` API: a prompt between two
//! legs, what goes on the wire (payload, sequence, timestamp, marker, pacing), the bridge with
//! µ-law ↔ A-law transcoding and telephone-events consumed, hold by re-offer, hostile packets,
//! and the port pool. The outer peers of the bridge are plain UDP sockets: this is the
//! unit-level check; the SIPp tests exercise the same paths through SIP.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use voice::media::{
    Codec, DigitSource, MediaConfig, MediaEngine, MediaError, MediaEvent, Prompt, bridge,
};
use words::DtmfKey;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn engine(port_min: u16, port_max: u16) -> Arc<MediaEngine> {
    MediaEngine::new(MediaConfig::new(LOCALHOST, LOCALHOST, port_min, port_max))
        .expect("engine starts (espeak-ng-data installed)")
}

/// The SDP a plain peer at `port` would answer with.
fn peer_sdp(port: u16, formats: &str, direction: &str) -> String {
    let te = if formats.contains("101") {
        "a=rtpmap:101 telephone-event/8000\r\n"
    } else {
        ""
    };
    format!(
        "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {formats}\r\n{te}a={direction}\r\n"
    )
}

#[derive(Debug, Clone)]
struct Captured {
    at: Instant,
    from: SocketAddr,
    pt: u8,
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
    payload: Vec<u8>,
}

type Capture = Arc<Mutex<Vec<Captured>>>;

fn capture(sock: Arc<UdpSocket>) -> (Capture, JoinHandle<()>) {
    let got: Capture = Arc::default();
    let sink = got.clone();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let Ok(rtp) = RtpReader::new(&buf[..n]) else {
                continue;
            };
            sink.lock().unwrap().push(Captured {
                at: Instant::now(),
                from,
                pt: rtp.payload_type(),
                ssrc: rtp.ssrc(),
                seq: rtp.sequence_number().into(),
                ts: rtp.timestamp(),
                marker: rtp.mark(),
                payload: rtp.payload().to_vec(),
            });
        }
    });
    (got, task)
}

fn rtp(pt: u8, ssrc: u32, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    RtpPacketBuilder::new()
        .payload_type(pt)
        .ssrc(ssrc)
        .sequence(Seq::from(seq))
        .timestamp(ts)
        .payload(payload)
        .build()
        .unwrap()
}

/// One SSRC and every sequence number exactly once, in order.
fn assert_continuous(packets: &[Captured], what: &str) {
    assert!(!packets.is_empty(), "{what}: nothing received");
    let ssrc = packets[0].ssrc;
    for w in packets.windows(2) {
        assert_eq!(w[1].ssrc, ssrc, "{what}: SSRC changed");
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "{what}: sequence gap after {}",
            w[0].seq
        );
    }
}

async fn next_event(rx: &mut mpsc::Receiver<MediaEvent>, within: Duration) -> Option<MediaEvent> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

fn drain(rx: &mut mpsc::Receiver<MediaEvent>) -> Vec<MediaEvent> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_between_two_legs_keeps_one_ssrc_and_continuous_sequence() {
    let engine = engine(41000, 41019);
    let mut a = engine.allocate().await.unwrap();
    let mut b = engine.allocate().await.unwrap();
    let (offer_a, offer_b) = (a.sdp_offer(1, 1), b.sdp_offer(2, 1));
    let na = a.apply_answer(&offer_b).unwrap();
    b.apply_answer(&offer_a).unwrap();
    assert_eq!((na.codec, na.telephone_event_pt), (Codec::Pcmu, Some(101)));
    let (ta, mut ea) = mpsc::channel(16);
    let (tb, mut eb) = mpsc::channel(16);
    let (ha, hb) = (a.start(ta), b.start(tb));

    let prompt = engine
        .tts()
        .render("Hello agent, subject code 4 2")
        .await
        .unwrap();
    let started = Instant::now();
    ha.play(prompt.clone(), false);
    assert_eq!(
        next_event(&mut ea, prompt.duration() + Duration::from_secs(2)).await,
        Some(MediaEvent::PlayoutDone)
    );
    let took = started.elapsed().as_secs_f64() / prompt.duration().as_secs_f64();
    assert!(
        (0.9..1.2).contains(&took),
        "playout took {took:.2}× the prompt's duration"
    );

    hb.say("Thank you", false).await.unwrap();
    assert_eq!(
        next_event(&mut eb, Duration::from_secs(5)).await,
        Some(MediaEvent::PlayoutDone)
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (sa, sb) = (ha.stats(), hb.stats());
    let min_packets = (prompt.duration().as_millis() / 20) as u64;
    assert!(
        sb.received >= min_packets,
        "B got {} packets, the prompt alone is {min_packets}",
        sb.received
    );
    assert_eq!(
        (sb.ssrc_changes, sb.lost, sb.malformed),
        (0, 0, 0),
        "B saw {sb:?}"
    );
    assert_eq!(
        (sa.ssrc_changes, sa.lost, sa.malformed),
        (0, 0, 0),
        "A saw {sa:?}"
    );
    assert!(
        sa.sent >= sb.received,
        "A sent {} and B received {}",
        sa.sent,
        sb.received
    );
    assert!(
        drain(&mut ea).is_empty() && drain(&mut eb).is_empty(),
        "no digits from speech"
    );
    ha.stop();
    hb.stop();
    ha.stopped().await;
    hb.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_on_the_wire_is_the_prompt_paced_at_20ms() {
    let engine = engine(41020, 41039);
    let peer = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let mut leg = engine.allocate().await.unwrap();
    leg.sdp_offer(7, 1);
    let n = leg
        .apply_answer(&peer_sdp(
            peer.local_addr().unwrap().port(),
            "8",
            "sendrecv",
        ))
        .unwrap();
    assert_eq!((n.codec, n.telephone_event_pt), (Codec::Pcma, None));
    let (cap, task) = capture(peer.clone());
    let (tx, mut events) = mpsc::channel(16);
    let h = leg.start(tx);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // 0.5 s of a 440 Hz tone, then silence again.
    let tone: Vec<i16> = (0..4000)
        .map(|i| (8000.0 * (i as f64 * 440.0 * std::f64::consts::TAU / 8000.0).sin()) as i16)
        .collect();
    h.play(Prompt::from_samples(tone.clone()), false);
    assert_eq!(
        next_event(&mut events, Duration::from_secs(2)).await,
        Some(MediaEvent::PlayoutDone)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.stop();
    h.stopped().await;
    task.abort();
    let got = cap.lock().unwrap().clone();

    assert_continuous(&got, "leg → peer");
    assert!(
        got.iter()
            .all(|p| p.pt == 8 && p.from.port() == h.local_port())
    );
    // Every step is one 20 ms frame. Ticks the runtime could not serve in time (a starved
    // task on a loaded 2-core box) are skipped by design, one or several at once: the
    // timestamp then covers the real time with a step of k frames (k >= 2) and marks the
    // packet. Any such marked step is accepted, never an unmarked one or one that is not a
    // whole number of frames; and at most MAX_SKIPPED_FRAMES frames in all, so a pacer that
    // skips as a habit still fails.
    const FRAME_TS: u32 = 160;
    const MAX_SKIPPED_FRAMES: u32 = 4;
    let mut skipped = Vec::new();
    let mut skipped_frames = 0;
    for w in got.windows(2) {
        let step = w[1].ts.wrapping_sub(w[0].ts);
        let frames = step / FRAME_TS;
        match (step % FRAME_TS, frames) {
            (0, 1) => {}
            (0, 2..) => {
                assert!(
                    w[1].marker,
                    "{} skipped ticks are marked (seq {})",
                    frames - 1,
                    w[1].seq
                );
                skipped.push(w[1].seq);
                skipped_frames += frames - 1;
            }
            _ => panic!("timestamp step {step} at seq {}", w[1].seq),
        }
    }
    assert!(
        skipped_frames <= MAX_SKIPPED_FRAMES,
        "{skipped_frames} frames skipped, at seq {skipped:?}"
    );
    let silence = Codec::Pcma.silence_byte();
    let first = got
        .iter()
        .position(|p| p.payload.iter().any(|&b| b != silence))
        .expect("the tone arrived");
    assert!(
        got[0].marker && got[first].marker,
        "stream start and talkspurt start are marked"
    );
    let markers = got.iter().filter(|p| p.marker).count();
    let talkspurt_skipped = skipped.contains(&got[first].seq);
    assert_eq!(
        markers,
        2 + skipped.len() - usize::from(talkspurt_skipped),
        "markers only at stream start, talkspurt start and skipped ticks"
    );
    let mut expected = vec![0u8; tone.len()];
    Codec::Pcma.encode(&tone, &mut expected);
    let sent: Vec<u8> = got[first..first + 25]
        .iter()
        .flat_map(|p| p.payload.clone())
        .collect();
    assert_eq!(
        sent, expected,
        "the tone's 25 packets carry exactly the encoded tone"
    );
    assert!(
        got[first + 25..]
            .iter()
            .all(|p| p.payload.iter().all(|&b| b == silence))
    );
    // No drift: packet k leaves k × 20 ms after the first (loopback, a loaded 2-core box).
    let span = got
        .last()
        .unwrap()
        .at
        .duration_since(got[0].at)
        .as_secs_f64();
    let nominal = (got.len() - 1) as f64 * 0.020 + f64::from(skipped_frames) * 0.020;
    assert!(
        (span - nominal).abs() < 0.060,
        "{} packets over {span:.3} s, nominal {nominal:.3} s",
        got.len()
    );
}

/// Sends `count` audio packets every 20 ms (with a telephone-event '5' in the middle if
/// `digit_pt` is set) and returns the payloads sent.
async fn stream(
    sock: Arc<UdpSocket>,
    to: SocketAddr,
    pt: u8,
    ssrc: u32,
    count: u8,
    digit_pt: Option<u8>,
) -> Vec<Vec<u8>> {
    let mut seq = 100u16;
    let mut sent = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for i in 0..count {
        tick.tick().await;
        // Distinct non-silence codes, one per packet, so each arrival can be identified.
        let payload = vec![0x10 + i; 160];
        sock.send_to(&rtp(pt, ssrc, seq, 1000 + 160 * u32::from(i), &payload), to)
            .await
            .unwrap();
        seq = seq.wrapping_add(1);
        sent.push(payload);
        if let (Some(te), 20..=25) = (digit_pt, i) {
            // RFC 4733: event 5, start timestamp fixed, end bit on the last three.
            let end = if i >= 23 { 0x80 } else { 0 };
            let duration = (u16::from(i) - 19) * 160;
            let ev = [5, end | 10, (duration >> 8) as u8, duration as u8];
            sock.send_to(&rtp(te, ssrc, seq, 1000 + 160 * 20, &ev), to)
                .await
                .unwrap();
            seq = seq.wrapping_add(1);
        }
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_relays_both_ways_transcodes_and_consumes_telephone_events() {
    let engine = engine(41040, 41059);
    let ext_a = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let ext_b = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let mut leg1 = engine.allocate().await.unwrap();
    let mut leg2 = engine.allocate().await.unwrap();
    leg1.sdp_offer(1, 1);
    leg2.sdp_offer(2, 1);
    leg1.apply_answer(&peer_sdp(
        ext_a.local_addr().unwrap().port(),
        "0 101",
        "sendrecv",
    ))
    .unwrap();
    leg2.apply_answer(&peer_sdp(
        ext_b.local_addr().unwrap().port(),
        "8",
        "sendrecv",
    ))
    .unwrap();
    let (to1, to2) = (
        SocketAddr::new(LOCALHOST, leg1.local_port()),
        SocketAddr::new(LOCALHOST, leg2.local_port()),
    );
    let (t1, mut e1) = mpsc::channel(16);
    let (t2, mut e2) = mpsc::channel(16);
    let (h1, h2) = (leg1.start(t1), leg2.start(t2));
    let (cap_a, task_a) = capture(ext_a.clone());
    let (cap_b, task_b) = capture(ext_b.clone());
    tokio::time::sleep(Duration::from_millis(150)).await;

    let br = bridge(&h1, &h2).unwrap();
    assert!(matches!(bridge(&h1, &h1), Err(MediaError::SameLeg)));
    tokio::time::sleep(Duration::from_millis(60)).await;
    let (from_a, from_b) = tokio::join!(
        stream(ext_a.clone(), to1, 0, 0xA, 50, Some(101)),
        stream(ext_b.clone(), to2, 8, 0xB, 50, None),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    br.unbridge();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s1, s2) = (h1.stats(), h2.stats());
    h1.stop();
    h2.stop();
    h1.stopped().await;
    h2.stopped().await;
    task_a.abort();
    task_b.abort();
    let (at_a, at_b) = (cap_a.lock().unwrap().clone(), cap_b.lock().unwrap().clone());

    // Each outer peer sees one stream: own silence, then the relay, then own silence again.
    assert_continuous(&at_a, "leg1 → A");
    assert_continuous(&at_b, "leg2 → B");
    assert!(at_a.iter().all(|p| p.pt == 0), "A negotiated PCMU only");
    assert!(
        at_b.iter().all(|p| p.pt == 8),
        "B negotiated PCMA; telephone-events never reach B"
    );
    let relayed = |got: &[Captured], silence: u8| -> Vec<Captured> {
        got.iter()
            .filter(|p| p.payload.iter().any(|&b| b != silence))
            .cloned()
            .collect()
    };
    let (to_b, to_a) = (
        relayed(&at_b, Codec::Pcma.silence_byte()),
        relayed(&at_a, Codec::Pcmu.silence_byte()),
    );
    let transcode = |from: Codec, to: Codec, p: &[u8]| {
        let mut out = vec![0u8; p.len()];
        from.transcode(to, p, &mut out);
        out
    };
    let want_b: Vec<Vec<u8>> = from_a
        .iter()
        .map(|p| transcode(Codec::Pcmu, Codec::Pcma, p))
        .collect();
    let want_a: Vec<Vec<u8>> = from_b
        .iter()
        .map(|p| transcode(Codec::Pcma, Codec::Pcmu, p))
        .collect();
    assert_eq!(
        (to_b.len(), to_a.len()),
        (50, 50),
        "every packet relayed once, no loss"
    );
    for (i, (got, want)) in to_b.iter().zip(&want_b).enumerate() {
        assert!(
            got.payload == *want,
            "A → B packet {i}: not A's payload as A-law, in order"
        );
    }
    for (i, (got, want)) in to_a.iter().zip(&want_a).enumerate() {
        assert!(
            got.payload == *want,
            "B → A packet {i}: not B's payload as µ-law, in order"
        );
    }
    for w in to_b.windows(2) {
        assert_eq!(
            w[1].ts.wrapping_sub(w[0].ts),
            160,
            "relayed timing follows A's timestamps"
        );
    }
    assert!(to_b[0].marker, "the relay starts a talkspurt");
    assert_eq!(
        (s1.received, s1.lost, s2.received, s2.lost),
        (56, 0, 50, 0),
        "{s1:?} {s2:?}"
    );
    assert_eq!(
        (s1.relayed, s2.relayed),
        (50, 50),
        "each leg's stream carried the other side's 50"
    );
    assert_eq!(
        drain(&mut e1),
        [MediaEvent::Digit {
            key: DtmfKey::from_char('5').expect("a DTMF key"),
            source: DigitSource::Rfc4733
        }]
    );
    assert!(drain(&mut e2).is_empty(), "B pressed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_by_reoffer_pauses_sending_and_resumes_the_same_stream() {
    let engine = engine(41060, 41079);
    let peer = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let port = peer.local_addr().unwrap().port();
    let mut leg = engine.allocate().await.unwrap();
    leg.sdp_offer(3, 1);
    leg.apply_answer(&peer_sdp(port, "0 8 101", "sendrecv"))
        .unwrap();
    let (cap, task) = capture(peer.clone());
    let (tx, _events) = mpsc::channel(16);
    let h = leg.start(tx);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = h
        .answer_reoffer(&peer_sdp(port, "0 8 101", "sendonly"))
        .unwrap();
    assert!(
        answer.contains("a=recvonly\r\n") && answer.contains("o=- 3 2 IN IP4 127.0.0.1"),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = cap.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        cap.lock().unwrap().len(),
        before,
        "nothing is sent while the far end holds us"
    );
    assert!(
        h.answer_reoffer("garbage").is_err(),
        "an unusable re-offer is refused"
    );
    let answer = h
        .answer_reoffer(&peer_sdp(port, "0 8 101", "sendrecv"))
        .unwrap();
    assert!(
        answer.contains("a=sendrecv\r\n") && answer.contains("o=- 3 3 "),
        "{answer}"
    );
    // Long enough for several packets even on a loaded machine (seen failing at 200 ms).
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.stop();
    h.stopped().await;
    task.abort();
    let got = cap.lock().unwrap().clone();
    assert!(got.len() > before + 5, "sending resumed");
    assert_continuous(&got, "across hold");
    let resumed = &got[before];
    let gap = resumed.ts.wrapping_sub(got[before - 1].ts);
    assert!(resumed.marker, "the first packet after hold is marked");
    assert!(
        (3200..=8000).contains(&gap),
        "timestamp covers the ~0.5 s hold: {gap}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_packets_are_dropped_and_counted_and_digits_from_info_arrive() {
    let engine = engine(41080, 41099);
    let peer = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let stranger = UdpSocket::bind((LOCALHOST, 0)).await.unwrap();
    let mut leg = engine.allocate().await.unwrap();
    leg.sdp_offer(4, 1);
    leg.apply_answer(&peer_sdp(
        peer.local_addr().unwrap().port(),
        "0 101",
        "sendrecv",
    ))
    .unwrap();
    let to = SocketAddr::new(LOCALHOST, leg.local_port());
    let (tx, mut events) = mpsc::channel(16);
    let h = leg.start(tx);
    let garbage: [&[u8]; 5] = [
        &[],
        &[0x80],
        &[0x40; 40],
        &[0x8F; 20],
        b"INVITE sip:x SIP/2.0\r\n\r\n",
    ];
    for g in garbage {
        peer.send_to(g, to).await.unwrap();
    }
    peer.send_to(&rtp(18, 1, 1, 0, &[0; 20]), to).await.unwrap(); // G.729: not negotiated
    peer.send_to(&rtp(0, 1, 2, 160, &[0xFF; 160]), to)
        .await
        .unwrap(); // latches to `peer`
    tokio::time::sleep(Duration::from_millis(50)).await;
    stranger
        .send_to(&rtp(0, 2, 9, 0, &[0xFF; 160]), to)
        .await
        .unwrap();
    let end_of_7 = rtp(101, 2, 10, 0, &[7, 0x80, 0, 160]);
    stranger.send_to(&end_of_7, to).await.unwrap();
    // Only keys can be injected (a `DtmfKey`): an INFO body naming anything else is refused
    // by the SIP half's parser (answered 400) and never reaches the media task.
    h.inject_digit(DtmfKey::HASH);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = h.stats();
    assert_eq!(
        (s.malformed, s.unexpected_pt, s.received, s.wrong_source),
        (5, 1, 1, 2),
        "{s:?}"
    );
    assert_eq!(
        drain(&mut events),
        [MediaEvent::Digit {
            key: DtmfKey::HASH,
            source: DigitSource::SipInfo
        }]
    );
    assert!(s.sent > 0, "the leg kept running");
    h.stop();
    h.stopped().await;
}

/// Found in CI: a SIPp phone of an earlier call still streaming to a port the engine had
/// handed out again took the new leg (the first packet latched), so the agent's sign-on `#`
/// from the real far end was dropped. The far end's SDP address always wins, even over a
/// source already learned; a source the SDP does not name (NAT) is learned only after four
/// packets of one SSRC in sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_stream_cannot_take_a_leg_and_a_peer_behind_nat_is_learned() {
    let engine = engine(41160, 41179);
    let peer = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let stray = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let (peer_heard, peer_capture) = capture(peer.clone());
    let mut leg = engine.allocate().await.unwrap();
    leg.sdp_offer(4, 1);
    leg.apply_answer(&peer_sdp(
        peer.local_addr().unwrap().port(),
        "0 101",
        "sendrecv",
    ))
    .unwrap();
    let to = SocketAddr::new(LOCALHOST, leg.local_port());
    let (tx, mut events) = mpsc::channel(16);
    let h = leg.start(tx);
    // The stray stream: 10 packets in sequence, one SSRC, before the far end sends anything.
    // The first 3 are on probation (dropped), then the stray is taken for a far end behind NAT.
    for seq in 0..10u16 {
        stray
            .send_to(&rtp(0, 0x5757, seq, u32::from(seq) * 160, &[0xFF; 160]), to)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s = h.stats();
    assert_eq!((s.received, s.wrong_source), (7, 3), "{s:?}");
    // The far end, from the address its SDP names: a `#` (event 11, end bit, 3 times). It
    // takes the leg back at its first packet.
    for seq in 300..303u16 {
        peer.send_to(&rtp(101, 0xF00D, seq, 8000, &[11, 0x80, 0, 160]), to)
            .await
            .unwrap();
    }
    assert_eq!(
        next_event(&mut events, Duration::from_secs(2)).await,
        Some(MediaEvent::Digit {
            key: DtmfKey::HASH,
            source: DigitSource::Rfc4733
        })
    );
    // The stray keeps sending: all 4 dropped, and our RTP goes to the far end.
    let before = peer_heard.lock().unwrap().len();
    for seq in 10..14u16 {
        stray
            .send_to(&rtp(0, 0x5757, seq, u32::from(seq) * 160, &[0xFF; 160]), to)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = h.stats();
    assert_eq!((s.received, s.wrong_source), (7 + 3, 3 + 4), "{s:?}");
    assert!(
        peer_heard.lock().unwrap().len() >= before + 5,
        "our RTP goes to the far end again"
    );
    h.stop();
    h.stopped().await;
    peer_capture.abort();

    // Behind NAT: the SDP names a port nobody sends from; the far end's real source is
    // learned after four packets in sequence and our RTP then goes there.
    let natted = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let (heard, capturing) = capture(natted.clone());
    let mut leg = engine.allocate().await.unwrap();
    leg.sdp_offer(4, 1);
    leg.apply_answer(&peer_sdp(9, "0 101", "sendrecv")).unwrap(); // 127.0.0.1:9, discard
    let to = SocketAddr::new(LOCALHOST, leg.local_port());
    let (tx, _events) = mpsc::channel(16);
    let h = leg.start(tx);
    for seq in 0..3u16 {
        natted
            .send_to(&rtp(0, 0xABCD, seq, u32::from(seq) * 160, &[0xFF; 160]), to)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        heard.lock().unwrap().len(),
        0,
        "not latched after 3 packets"
    );
    natted
        .send_to(&rtp(0, 0xABCD, 3, 480, &[0xFF; 160]), to)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let s = h.stats();
    assert_eq!((s.received, s.wrong_source), (1, 3), "{s:?}");
    assert!(
        heard.lock().unwrap().len() >= 5,
        "our RTP reaches the learned source: {} packets",
        heard.lock().unwrap().len()
    );
    h.stop();
    h.stopped().await;
    capturing.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_come_from_the_range_and_return_when_a_leg_stops() {
    let engine = engine(41100, 41105); // 41100, 41102, 41104
    let mut legs = Vec::new();
    for _ in 0..3 {
        legs.push(engine.allocate().await.unwrap());
    }
    let mut ports: Vec<u16> = legs.iter().map(|l| l.local_port()).collect();
    ports.sort_unstable();
    assert_eq!(ports, [41100, 41102, 41104]);
    assert!(matches!(
        engine.allocate().await,
        Err(MediaError::NoFreePort { .. })
    ));
    // A started leg returns its port when stopped.
    let (tx, _events) = mpsc::channel(16);
    let h = legs.pop().unwrap().start(tx);
    let freed = h.local_port();
    h.stop();
    h.stopped().await;
    let again = engine
        .allocate()
        .await
        .expect("the stopped leg's port is free again");
    assert_eq!(again.local_port(), freed);
    // A leg dropped before it started returns its port too.
    drop(legs.pop());
    assert_eq!(engine.free_ports(), 1);
    let _last = engine.allocate().await.unwrap();
    assert_eq!(engine.free_ports(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_over_the_bridge_reaches_only_its_own_far_end() {
    let engine = engine(41120, 41139);
    let ext_a = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let ext_b = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let mut leg1 = engine.allocate().await.unwrap();
    let mut leg2 = engine.allocate().await.unwrap();
    leg1.sdp_offer(1, 1);
    leg2.sdp_offer(2, 1);
    for (leg, ext) in [(&mut leg1, &ext_a), (&mut leg2, &ext_b)] {
        let port = ext.local_addr().unwrap().port();
        leg.apply_answer(&peer_sdp(port, "0", "sendrecv")).unwrap();
    }
    let (to1, to2) = (
        SocketAddr::new(LOCALHOST, leg1.local_port()),
        SocketAddr::new(LOCALHOST, leg2.local_port()),
    );
    let (t1, mut e1) = mpsc::channel(16);
    let (t2, mut e2) = mpsc::channel(16);
    let (h1, h2) = (leg1.start(t1), leg2.start(t2));
    let (cap_a, task_a) = capture(ext_a.clone());
    let (cap_b, task_b) = capture(ext_b.clone());
    let _bridge = bridge(&h1, &h2).unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;

    // Both far ends talk for 3 s (150 packets); half a second in, leg 2's far end (the agent)
    // gets a notice the other party must not hear.
    let packets = 150;
    let talk = tokio::spawn(stream(ext_a.clone(), to1, 0, 0xA, packets, None));
    let other = tokio::spawn(stream(ext_b.clone(), to2, 0, 0xB, packets, None));
    tokio::time::sleep(Duration::from_millis(500)).await;
    h2.announce("No page for three").await.unwrap();
    let done = next_event(&mut e2, Duration::from_secs(5)).await;
    assert_eq!(
        done,
        Some(MediaEvent::PlayoutDone),
        "the notice's end is reported"
    );
    let (from_a, from_b) = (talk.await.unwrap(), other.await.unwrap());
    tokio::time::sleep(Duration::from_millis(150)).await;
    h1.stop();
    h2.stop();
    h1.stopped().await;
    h2.stopped().await;
    task_a.abort();
    task_b.abort();
    let (at_a, at_b) = (cap_a.lock().unwrap().clone(), cap_b.lock().unwrap().clone());

    // B's far end: one continuous stream of A's voice, then the notice alone (A held back),
    // then A's voice again.
    assert_continuous(&at_b, "leg2 → B");
    let silence = Codec::Pcmu.silence_byte();
    let kind = |p: &Captured| {
        if from_a.contains(&p.payload) {
            'a'
        } else if p.payload.iter().all(|&b| b == silence) {
            's'
        } else {
            'n'
        }
    };
    let mut runs: Vec<char> = at_b.iter().map(kind).filter(|&k| k != 's').collect();
    let notice = runs.iter().filter(|&&k| k == 'n').count();
    runs.dedup();
    assert_eq!(
        runs,
        ['a', 'n', 'a'],
        "A's voice, the notice, A's voice again"
    );
    // "No page for three" is about a second of speech.
    assert!((20..150).contains(&notice), "{notice} packets of notice");
    let heard_a = at_b.iter().filter(|p| kind(p) == 'a').count();
    assert!(
        heard_a + notice <= usize::from(packets) + 5,
        "A's audio was held back, not mixed or queued: {heard_a} + {notice}"
    );
    // A's far end heard all of B and nothing of the notice.
    assert_continuous(&at_a, "leg1 → A");
    let heard_b = at_a.iter().filter(|p| from_b.contains(&p.payload)).count();
    let other_audio = at_a
        .iter()
        .filter(|p| !from_b.contains(&p.payload) && p.payload.iter().any(|&b| b != silence))
        .count();
    assert_eq!((heard_b, other_audio), (usize::from(packets), 0));
    assert!(drain(&mut e1).is_empty(), "leg 1 played nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_band_key_tones_are_heard_as_keys_and_relayed_as_silence() {
    let engine = engine(41140, 41159);
    let ext_a = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let ext_b = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
    let mut leg1 = engine.allocate().await.unwrap();
    let mut leg2 = engine.allocate().await.unwrap();
    leg1.sdp_offer(1, 1);
    leg2.sdp_offer(2, 1);
    // PCMU without telephone-event on both: keys can only come as tones.
    for (leg, ext) in [(&mut leg1, &ext_a), (&mut leg2, &ext_b)] {
        let port = ext.local_addr().unwrap().port();
        leg.apply_answer(&peer_sdp(port, "0", "sendrecv")).unwrap();
    }
    let to1 = SocketAddr::new(LOCALHOST, leg1.local_port());
    let (t1, mut e1) = mpsc::channel(16);
    let (t2, _e2) = mpsc::channel(16);
    let (h1, h2) = (leg1.start(t1), leg2.start(t2));
    let (cap_b, task_b) = capture(ext_b.clone());
    let _bridge = bridge(&h1, &h2).unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;

    // The agent's phone: 10 packets of a 440 Hz voice-like tone, 5 packets (100 ms) of the key
    // 5 (770 Hz + 1336 Hz, ITU-T Q.23), 10 packets of 440 Hz again; 160 samples each.
    let sine = |f: f32, amp: f32, n: usize| -> f32 {
        amp * (2.0 * std::f32::consts::PI * f * n as f32 / 8000.0).sin()
    };
    let frame = |i: usize, key: bool| -> Vec<u8> {
        let pcm: Vec<i16> = (0..160)
            .map(|k| {
                let n = i * 160 + k;
                let v = if key {
                    sine(770.0, 7000.0, n) + sine(1336.0, 7000.0, n)
                } else {
                    sine(440.0, 9000.0, n)
                };
                v as i16
            })
            .collect();
        let mut out = vec![0u8; 160];
        Codec::Pcmu.encode(&pcm, &mut out);
        out
    };
    let plan: Vec<bool> = (0..25).map(|i| (10..15).contains(&i)).collect();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut voice_sent = Vec::new();
    for (i, &key) in plan.iter().enumerate() {
        tick.tick().await;
        let payload = frame(i, key);
        let seq = 500 + i as u16;
        ext_a
            .send_to(&rtp(0, 0xA, seq, 160 * i as u32, &payload), to1)
            .await
            .unwrap();
        if !key {
            voice_sent.push(payload);
        }
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let stats = h1.stats();
    h1.stop();
    h2.stop();
    h1.stopped().await;
    h2.stopped().await;
    task_b.abort();
    let at_b = cap_b.lock().unwrap().clone();

    // The key was heard once, as a key.
    assert_eq!(
        drain(&mut e1),
        [MediaEvent::Digit {
            key: DtmfKey::from_char('5').expect("a DTMF key"),
            source: DigitSource::InBand
        }]
    );
    // B heard all 20 voice packets as sent and none of the tone: the 5 tone packets came as
    // silence.
    let silence = Codec::Pcmu.silence_byte();
    let voice_heard = at_b
        .iter()
        .filter(|p| voice_sent.contains(&p.payload))
        .count();
    assert_eq!(voice_heard, 20);
    let tone_heard = at_b
        .iter()
        .filter(|p| !voice_sent.contains(&p.payload) && p.payload.iter().any(|&b| b != silence))
        .count();
    assert_eq!(tone_heard, 0, "the key tone reached the other party");
    assert_eq!(stats.tones_muted, 5, "{stats:?}");
}
