//! RTP (RFC 3550) packets for one leg: the outgoing stream's identity and clock (one SSRC for
//! the whole call, sequence and timestamp continuous whoever feeds it: our own playout or the
//! bridge), where to send (symmetric RTP latching), and sorting what arrives.
//!
//! Owns plain values behind one uncontended lock per leg; no sockets, no clock reads (instants
//! come in as arguments). Must not allocate per packet: everything writes into caller buffers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};

use super::codec::Codec;
use super::sdp::Negotiated;

/// 20 ms of 8 kHz audio: one packet (RFC 3551 §4.5: G.711 default packetisation is 20 ms).
pub(crate) const SAMPLES_PER_FRAME: usize = 160;
pub(crate) const FRAME: Duration = Duration::from_millis(20);
/// Receive/send buffer size: larger than any sane RTP packet over UDP on Ethernet.
pub(crate) const MAX_PACKET: usize = 1500;
/// RTP header without CSRCs or extension.
const HEADER_LEN: usize = 12;
/// Largest payload we relay; longer packets are dropped (they would not fit our buffer).
pub(crate) const MAX_PAYLOAD: usize = MAX_PACKET - HEADER_LEN;
/// A relayed timestamp jump above this is treated as a new stream, not a real gap (10 s).
const MAX_TS_JUMP: u32 = 80_000;

/// Header fields of one outgoing packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) ssrc: u32,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) marker: bool,
}

/// The outgoing stream of a leg plus where it goes. Shared between the leg's own task
/// (playout) and, while bridged, the peer leg's task (relay); only one of them feeds it at a
/// time, so the lock around it is uncontended.
#[derive(Debug)]
pub(crate) struct Outgoing {
    ssrc: u32,
    next_seq: u16,
    ts: u32,
    /// When the last packet left, and its media time; `None` before the first packet.
    last: Option<Instant>,
    pub(crate) codec: Codec,
    /// Where the far end's SDP says to send.
    sdp_remote: SocketAddr,
    /// The SDP address until latched, then the source of the far end's RTP.
    pub(crate) remote: SocketAddr,
    pub(crate) latched: bool,
    /// An unsignalled source on probation before we latch to it (a far end behind NAT).
    candidate: Option<Candidate>,
    /// The far end wants our RTP (direction and hold address allow it).
    pub(crate) send_allowed: bool,
    /// Our own announcement plays to the far end over a bridge: the peer's relay holds back.
    pub(crate) announcing: bool,
    /// The start timestamp of the telephone-event being sent.
    event_ts: u32,
}

impl Outgoing {
    /// A stream with random SSRC, sequence and timestamp origins (RFC 3550 §5.1, §8).
    pub(crate) fn new(ssrc: u32, seq: u16, ts: u32, n: &Negotiated) -> Outgoing {
        let mut out = Outgoing {
            ssrc,
            next_seq: seq,
            ts,
            last: None,
            codec: n.codec,
            sdp_remote: n.remote_rtp,
            remote: n.remote_rtp,
            latched: false,
            candidate: None,
            send_allowed: false,
            announcing: false,
            event_ts: ts,
        };
        out.apply(n);
        out
    }

    /// Takes a new answer or re-offer: new address un-latches, direction gates sending.
    pub(crate) fn apply(&mut self, n: &Negotiated) {
        if n.remote_rtp != self.sdp_remote {
            self.sdp_remote = n.remote_rtp;
            self.latched = false;
            self.candidate = None;
        }
        if !self.latched {
            self.remote = n.remote_rtp;
        }
        self.codec = n.codec;
        self.send_allowed = n.direction.far_end_receives()
            && !n.remote_rtp.ip().is_unspecified()
            && n.remote_rtp.port() != 0;
    }

    /// Symmetric RTP: from now on send where the far end's packets come from.
    pub(crate) fn latch(&mut self, source: SocketAddr) {
        self.remote = source;
        self.latched = true;
        self.candidate = None;
    }

    /// Whether a packet (already known to be RTP of a negotiated type) from `source` is the
    /// far end's, latching as it goes. The address the far end's SDP names is always its own
    /// and is latched to at once, even after an unsignalled source was learned. Any other
    /// source is taken only before latching and only after [`PROBATION`] packets of one SSRC
    /// in sequence (a far end behind NAT sends from an address its SDP cannot know). Without
    /// that, a stray stream that reaches a reused port first, or an attacker's, would take the
    /// leg: its packets heard, the far end's dropped (RTP bleed).
    pub(crate) fn admit(&mut self, source: SocketAddr, ssrc: u32, seq: u16) -> bool {
        if source == self.sdp_remote {
            if !self.latched || self.remote != source {
                self.latch(source);
            }
            return true;
        }
        if self.latched {
            return source == self.remote;
        }
        let seen = match &mut self.candidate {
            Some(c) if c.source == source && c.ssrc == ssrc && c.next_seq == seq => {
                c.seen = c.seen.saturating_add(1);
                c.next_seq = seq.wrapping_add(1);
                c.seen
            }
            other => {
                *other = Some(Candidate {
                    source,
                    ssrc,
                    next_seq: seq.wrapping_add(1),
                    seen: 1,
                });
                1
            }
        };
        if seen >= PROBATION {
            self.latch(source);
            return true;
        }
        false
    }

    /// Stamps a packet produced by our own 20 ms clock at grid instant `at`. The timestamp
    /// advances by the media time elapsed since the previous packet (20 ms normally, more after
    /// a bridge, a hold or a stalled task), rounded to whole frames so it stays on the grid.
    pub(crate) fn stamp_paced(&mut self, at: Instant, talkspurt: bool) -> Stamp {
        let advance = match self.last {
            None => 0,
            Some(last) => {
                let frames = (at.saturating_duration_since(last).as_micros() + 10_000) / 20_000;
                (frames.max(1) as u32).wrapping_mul(SAMPLES_PER_FRAME as u32)
            }
        };
        let gap = advance > SAMPLES_PER_FRAME as u32;
        self.stamp(at, advance, talkspurt || gap)
    }

    /// Stamps a packet relayed from the peer: `advance` is the peer stream's own timestamp
    /// step, so gaps the far end left (silence suppression) survive the bridge. On `resync`
    /// (the first packet of a bridge or of a new peer SSRC, whose step means nothing to our
    /// stream) the timestamp covers at least the real time since our previous packet, as
    /// RFC 3550 §5.1 wants of a sampling clock; the marker bit tells the far end to resync.
    pub(crate) fn stamp_relayed(
        &mut self,
        at: Instant,
        advance: u32,
        marker: bool,
        resync: bool,
    ) -> Stamp {
        let advance = match (resync, self.last) {
            (true, Some(last)) => {
                let elapsed = at.saturating_duration_since(last).as_micros() * 8 / 1000;
                advance.max(u32::try_from(elapsed).unwrap_or(u32::MAX))
            }
            _ => advance,
        };
        self.stamp(at, advance, marker || resync)
    }

    /// Stamps one telephone-event packet sent on our 20 ms clock at `at`. The stream's clock
    /// advances as for audio (so the audio after the event continues in time), but every
    /// packet of one event carries the event's start timestamp and only its first packet has
    /// the marker bit (RFC 4733 §2.5.1.1, §2.5.1.2).
    pub(crate) fn stamp_event(&mut self, at: Instant, first: bool) -> Stamp {
        let mut stamp = self.stamp_paced(at, first);
        if first {
            self.event_ts = stamp.ts;
        } else {
            stamp.ts = self.event_ts;
            stamp.marker = false;
        }
        stamp
    }

    fn stamp(&mut self, at: Instant, advance: u32, marker: bool) -> Stamp {
        let first = self.last.is_none();
        if !first {
            self.ts = self.ts.wrapping_add(advance);
        }
        let stamp = Stamp {
            ssrc: self.ssrc,
            seq: self.next_seq,
            ts: self.ts,
            marker: marker || first,
        };
        self.next_seq = self.next_seq.wrapping_add(1);
        self.last = Some(at);
        stamp
    }
}

/// Writes one RTP packet into `buf`; `None` if it does not fit.
pub(crate) fn write_packet(buf: &mut [u8], pt: u8, stamp: Stamp, payload: &[u8]) -> Option<usize> {
    RtpPacketBuilder::new()
        .payload_type(pt)
        .ssrc(stamp.ssrc)
        .sequence(Seq::from(stamp.seq))
        .timestamp(stamp.ts)
        .marked(stamp.marker)
        .payload(payload)
        .build_into(buf)
        .ok()
}

/// One received packet, sorted by what it carries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inbound<'a> {
    /// G.711 audio. Either law is accepted whatever we negotiated: RFC 3264 §5.1 lets the far
    /// end send any format of its answer, and decoding by payload type costs nothing.
    Audio {
        codec: Codec,
        ssrc: u32,
        seq: u16,
        ts: u32,
        marker: bool,
        payload: &'a [u8],
    },
    /// An RFC 4733 telephone-event payload.
    Event {
        ssrc: u32,
        seq: u16,
        ts: u32,
        payload: &'a [u8],
    },
    /// Valid RTP with a payload type we did not negotiate (comfort noise, a stray codec).
    Unexpected,
}

/// Why a datagram was not RTP we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// Parses a datagram; never panics on any input.
pub(crate) fn classify(buf: &[u8], te_pt: Option<u8>) -> Result<Inbound<'_>, Malformed> {
    let rtp = RtpReader::new(buf).map_err(|_| Malformed)?;
    let pt = rtp.payload_type();
    let payload = rtp.payload();
    if Some(pt) == te_pt {
        return Ok(Inbound::Event {
            ssrc: rtp.ssrc(),
            seq: rtp.sequence_number().into(),
            ts: rtp.timestamp(),
            payload,
        });
    }
    match Codec::from_payload_type(pt) {
        Some(_) if payload.len() > MAX_PAYLOAD => Err(Malformed),
        Some(codec) => Ok(Inbound::Audio {
            codec,
            ssrc: rtp.ssrc(),
            seq: rtp.sequence_number().into(),
            ts: rtp.timestamp(),
            marker: rtp.mark(),
            payload,
        }),
        None => Ok(Inbound::Unexpected),
    }
}

/// Follows the timestamps of a stream we relay, to carry its timing onto the other leg.
#[derive(Debug, Default)]
pub(crate) struct RelayClock {
    last: Option<(u32, u32)>,
}

impl RelayClock {
    /// The media time since the previous relayed packet, in samples. A new SSRC or an absurd
    /// jump restarts at one packet's worth and asks for the marker bit (a new talkspurt).
    pub(crate) fn advance(&mut self, ssrc: u32, ts: u32, samples: usize) -> (u32, bool) {
        let fallback = samples as u32;
        let result = match self.last {
            Some((s, prev)) if s == ssrc => {
                let d = ts.wrapping_sub(prev);
                if d == 0 || d > MAX_TS_JUMP {
                    (fallback, true)
                } else {
                    (d, false)
                }
            }
            _ => (fallback, true),
        };
        self.last = Some((ssrc, ts));
        result
    }
}

/// Watches the far end's stream for SSRC changes and sequence gaps (a simplified RFC 3550
/// §A.1/A.3: late or duplicate packets are not counted as loss).
#[derive(Debug, Default)]
pub(crate) struct RxTrack {
    last: Option<(u32, u16)>,
}

impl RxTrack {
    /// Returns (SSRC changed, packets missing before this one).
    pub(crate) fn on_packet(&mut self, ssrc: u32, seq: u16) -> (bool, u64) {
        let result = match self.last {
            None => (false, 0),
            Some((s, _)) if s != ssrc => (true, 0),
            Some((_, prev)) => {
                let d = seq.wrapping_sub(prev);
                if d == 0 || d >= 0x8000 {
                    return (false, 0); // duplicate or late: keep the newest as reference
                }
                (false, u64::from(d - 1))
            }
        };
        self.last = Some((ssrc, seq));
        result
    }
}

/// Packets of one SSRC in sequence an unsignalled source sends before a leg latches to it:
/// 80 ms of audio, as few as a stray or spoofed burst is unlikely to match.
pub(crate) const PROBATION: u8 = 4;

/// An unsignalled source being learned.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    source: SocketAddr,
    ssrc: u32,
    next_seq: u16,
    seen: u8,
}

/// Per-leg counters, readable while the leg runs.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) wrong_source: AtomicU64,
    pub(crate) unexpected_pt: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) relayed: AtomicU64,
    pub(crate) send_errors: AtomicU64,
    pub(crate) ssrc_changes: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) tones_muted: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::media::sdp::Direction;

    fn negotiated(remote: &str, direction: Direction) -> Negotiated {
        Negotiated {
            codec: Codec::Pcmu,
            telephone_event_pt: Some(101),
            remote_rtp: remote.parse().unwrap(), // test literal
            direction,
        }
    }

    #[test]
    fn paced_stream_is_continuous_and_marks_talkspurts_and_gaps() {
        let t0 = Instant::now();
        let mut out = Outgoing::new(
            7,
            65534,
            u32::MAX - 100,
            &negotiated("10.0.0.1:4000", Direction::SendRecv),
        );
        let a = out.stamp_paced(t0, false);
        assert_eq!(
            (a.seq, a.ts, a.marker, a.ssrc),
            (65534, u32::MAX - 100, true, 7),
            "first packet is marked"
        );
        let b = out.stamp_paced(t0 + FRAME, false);
        assert_eq!(
            (b.seq, b.ts, b.marker),
            (65535, a.ts.wrapping_add(160), false)
        );
        let c = out.stamp_paced(t0 + FRAME * 2 + Duration::from_millis(3), true);
        assert_eq!(
            (c.seq, c.ts, c.marker),
            (0, b.ts.wrapping_add(160), true),
            "seq and ts wrap"
        );
        // Relayed packets continue the same numbering with the peer's timing.
        let d = out.stamp_relayed(t0 + FRAME * 3, 160, false, false);
        assert_eq!((d.seq, d.ts, d.ssrc), (1, c.ts.wrapping_add(160), 7));
        // A relay that restarts 500 ms later (bridge start, new peer SSRC) covers the 500 ms.
        let r = out.stamp_relayed(
            t0 + FRAME * 3 + Duration::from_millis(500),
            240,
            false,
            true,
        );
        assert_eq!((r.seq, r.ts, r.marker), (2, d.ts.wrapping_add(4000), true));
        // Back to back it is the peer's own step.
        let d = out.stamp_relayed(
            t0 + FRAME * 3 + Duration::from_millis(500),
            240,
            false,
            false,
        );
        assert_eq!((d.seq, d.ts, d.marker), (3, r.ts.wrapping_add(240), false));
        // After a 1 s pause (a bridge that ended), the timestamp covers the pause.
        let e = out.stamp_paced(t0 + FRAME * 3 + Duration::from_millis(1500), false);
        assert_eq!((e.seq, e.ts, e.marker), (4, d.ts.wrapping_add(8000), true));
    }

    #[test]
    fn event_packets_keep_their_start_timestamp_and_audio_continues_after() {
        let t0 = Instant::now();
        let mut out = Outgoing::new(
            7,
            100,
            5000,
            &negotiated("10.0.0.1:4000", Direction::SendRecv),
        );
        let audio = out.stamp_paced(t0, false);
        let at = |n: u32| t0 + FRAME * n;
        // (first, want seq, want ts, want marker) per tick after the audio packet.
        let table = [
            (true, 101, 5160, true),
            (false, 102, 5160, false),
            (false, 103, 5160, false),
            (true, 104, 5640, true),
            (false, 105, 5640, false),
        ];
        for (n, (first, seq, ts, marker)) in table.into_iter().enumerate() {
            let s = out.stamp_event(at(n as u32 + 1), first);
            assert_eq!(
                (s.seq, s.ts, s.marker, s.ssrc),
                (seq, ts, marker, 7),
                "tick {n}"
            );
        }
        // The audio after the events is where the clock got to, not where the event began.
        let after = out.stamp_paced(at(6), false);
        assert_eq!((after.seq, after.ts), (106, audio.ts + 6 * 160));
    }

    #[test]
    fn sending_is_gated_by_direction_and_hold_address() {
        let cases = [
            ("10.0.0.1:4000", Direction::SendRecv, true),
            ("10.0.0.1:4000", Direction::RecvOnly, true),
            ("10.0.0.1:4000", Direction::SendOnly, false),
            ("10.0.0.1:4000", Direction::Inactive, false),
            ("0.0.0.0:4000", Direction::SendOnly, false),
        ];
        for (remote, dir, allowed) in cases {
            let out = Outgoing::new(1, 1, 1, &negotiated(remote, dir));
            assert_eq!(out.send_allowed, allowed, "{remote} {dir:?}");
        }
    }

    #[test]
    fn latching_survives_same_address_and_resets_on_new_one() {
        let mut out = Outgoing::new(1, 1, 1, &negotiated("10.0.0.1:4000", Direction::SendRecv));
        let nat: SocketAddr = "203.0.113.5:31000".parse().unwrap(); // test literal
        out.latch(nat);
        out.apply(&negotiated("10.0.0.1:4000", Direction::SendOnly));
        assert_eq!(
            (out.remote, out.latched, out.send_allowed),
            (nat, true, false)
        );
        out.apply(&negotiated("10.0.0.2:4002", Direction::SendRecv));
        assert_eq!(out.remote, "10.0.0.2:4002".parse().unwrap());
        assert!(!out.latched && out.send_allowed);
    }

    #[test]
    fn the_signalled_address_wins_and_strangers_need_probation() {
        let sdp: SocketAddr = "10.0.0.1:4000".parse().unwrap(); // test literal
        let stray: SocketAddr = "10.0.0.9:5000".parse().unwrap(); // test literal
        let nat: SocketAddr = "203.0.113.5:31000".parse().unwrap(); // test literal
        // A stray stream first, then the far end from its SDP address: the far end is taken
        // at once and the stray dropped from then on.
        let mut out = Outgoing::new(1, 1, 1, &negotiated("10.0.0.1:4000", Direction::SendRecv));
        let got: Vec<bool> = [
            (stray, 7, 10),
            (stray, 7, 11),
            (sdp, 3, 500),
            (stray, 7, 12),
        ]
        .into_iter()
        .map(|(src, ssrc, seq)| out.admit(src, ssrc, seq))
        .collect();
        assert_eq!(got, [false, false, true, false]);
        assert_eq!((out.remote, out.latched), (sdp, true));

        // Behind NAT: four in sequence latch; a gap or another SSRC restarts the count.
        let mut out = Outgoing::new(1, 1, 1, &negotiated("10.0.0.1:4000", Direction::SendRecv));
        let got: Vec<bool> = [
            (nat, 5, 1),
            (nat, 5, 2),
            (nat, 5, 4), // gap: starts again at 1
            (nat, 6, 5), // another SSRC: starts again
            (nat, 6, 6),
            (nat, 6, 7),
            (nat, 6, 8), // fourth in sequence: latched
            (stray, 9, 1),
            (nat, 6, 9),
        ]
        .into_iter()
        .map(|(src, ssrc, seq)| out.admit(src, ssrc, seq))
        .collect();
        assert_eq!(
            got,
            [false, false, false, false, false, false, true, false, true]
        );
        assert_eq!(out.remote, nat);
        // The signalled address still takes the leg back.
        assert!(out.admit(sdp, 3, 1));
        assert_eq!(out.remote, sdp);
        assert!(!out.admit(nat, 6, 10));
    }

    #[test]
    fn classify_sorts_and_rejects() {
        let stamp = Stamp {
            ssrc: 9,
            seq: 5,
            ts: 800,
            marker: true,
        };
        let mut buf = [0u8; MAX_PACKET];
        let n = write_packet(&mut buf, 0, stamp, &[0xFF; 160]).unwrap();
        assert_eq!(n, 172);
        match classify(&buf[..n], Some(101)) {
            Ok(Inbound::Audio {
                codec: Codec::Pcmu,
                ssrc: 9,
                seq: 5,
                ts: 800,
                marker: true,
                payload,
            }) => {
                assert_eq!(payload.len(), 160)
            }
            other => panic!("{other:?}"),
        }
        let n = write_packet(&mut buf, 8, stamp, &[0xD5; 160]).unwrap();
        assert!(matches!(
            classify(&buf[..n], None),
            Ok(Inbound::Audio {
                codec: Codec::Pcma,
                ..
            })
        ));
        let n = write_packet(&mut buf, 13, stamp, &[0x40]).unwrap();
        assert_eq!(
            classify(&buf[..n], Some(101)),
            Ok(Inbound::Unexpected),
            "comfort noise"
        );
        let n = write_packet(&mut buf, 101, stamp, &[1, 0x80, 0, 160]).unwrap();
        assert_eq!(
            classify(&buf[..n], Some(101)),
            Ok(Inbound::Event {
                ssrc: 9,
                seq: 5,
                ts: 800,
                payload: &[1, 0x80, 0, 160]
            })
        );
        assert_eq!(classify(&buf[..n], None), Ok(Inbound::Unexpected));
        // Short, wrong version, truncated CSRC list, bad padding.
        let bad: [&[u8]; 5] = [
            &[],
            &[0x80, 0, 0],
            &[0x40; 20],
            &[0x8F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            &[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200],
        ];
        for b in bad {
            assert_eq!(classify(b, Some(101)), Err(Malformed), "{b:?}");
        }
    }

    #[test]
    fn classify_never_panics_on_noise() {
        let mut state = 88172645463325252u64;
        let mut buf = [0u8; 64];
        for _ in 0..20000 {
            for b in buf.iter_mut() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state as u8;
            }
            let len = (state >> 40) as usize % buf.len();
            let _ = classify(&buf[..len], Some(101));
        }
    }

    #[test]
    fn relay_clock_follows_the_peer_timing() {
        let mut c = RelayClock::default();
        assert_eq!(c.advance(1, 1000, 160), (160, true));
        assert_eq!(c.advance(1, 1160, 160), (160, false));
        assert_eq!(
            c.advance(1, 1800, 160),
            (640, false),
            "silence-suppression gap kept"
        );
        assert_eq!(c.advance(2, 5, 160), (160, true), "new SSRC");
        assert_eq!(c.advance(2, 5 + 900_000, 160), (160, true), "absurd jump");
        assert_eq!(
            c.advance(2, 900_165, 160),
            (160, false),
            "continues from the jump"
        );
    }

    #[test]
    fn rx_track_counts_gaps_and_ssrc_changes() {
        let mut t = RxTrack::default();
        let steps = [
            ((1, 65534), (false, 0)),
            ((1, 65535), (false, 0)),
            ((1, 0), (false, 0)),
            ((1, 3), (false, 2)),
            ((1, 2), (false, 0)),
            ((1, 3), (false, 0)),
            ((2, 900), (true, 0)),
            ((2, 901), (false, 0)),
        ];
        for ((ssrc, seq), want) in steps {
            assert_eq!(t.on_packet(ssrc, seq), want, "{ssrc}/{seq}");
        }
    }
}
