//! RFC 4733 telephone-event receiver: turns a stream of event packets into key presses, each
//! reported exactly once.
//!
//! Owns the per-leg event state only; values in, digits out, time passed in as an `Instant`.
//! The in-band (Goertzel) detector lives in `inband`; SIP INFO digits never come here. What a
//! key is comes from `words::DtmfKey`, the platform's one key set.

use std::time::{Duration, Instant};

use words::DtmfKey;

/// If neither an end packet nor a newer event arrives for this long, the end was lost
/// (senders repeat updates every 50 ms or so while a key is held, RFC 4733 §2.5.1.2).
pub(crate) const LOST_END_TIMEOUT: Duration = Duration::from_millis(400);

/// An event packet with an older (or the same) start timestamp that comes this long after the
/// last packet of an event that already ended is a new key from a restarted stream (a phone
/// or a player that starts its timestamps again under the same SSRC), not a late copy: a
/// sender repeats its end packet within tens of milliseconds (RFC 4733 §2.5.1.4), and jitter
/// that late would have dropped the packet anyway.
pub(crate) const STREAM_RESTART_GAP: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy)]
struct Current {
    /// RFC 4733 §2.5.1.1: every packet of one event carries the event's start timestamp.
    ts: u32,
    /// The event code as sent; an event keeps its code (RFC 4733 §2.3.1).
    code: u8,
    /// `None` for event codes that are no key (RFC 4733 §3.2: flash is 16); such an event is
    /// tracked so its packets are not mistaken for a new event, but reports nothing.
    key: Option<DtmfKey>,
    reported: bool,
    last_seen: Instant,
}

/// Digits that one packet or timeout produced (a lost end plus a new event can give two).
pub(crate) type Digits = [Option<DtmfKey>; 2];

#[derive(Debug, Default)]
pub(crate) struct EventReceiver {
    current: Option<Current>,
}

impl EventReceiver {
    /// Takes one telephone-event payload with its RTP timestamp.
    pub(crate) fn on_packet(&mut self, ts: u32, payload: &[u8], now: Instant) -> Digits {
        let mut out = [None, None];
        // RFC 4733 §2.3: event (8 bits), E|R|volume (8 bits), duration (16 bits). Only the
        // first block matters: further blocks are redundancy for older events.
        let [code, flags, ..] = payload else {
            return out;
        };
        if payload.len() < 4 {
            return out;
        }
        let end = flags & 0x80 != 0;
        let key = DtmfKey::from_event(*code);
        // Once an event ended and the line was quiet, a packet that is no copy of it starts a
        // new event whatever its timestamp (see STREAM_RESTART_GAP).
        let restarted = self.current.is_some_and(|cur| {
            cur.reported && now.saturating_duration_since(cur.last_seen) >= STREAM_RESTART_GAP
        });
        match &mut self.current {
            Some(cur) if cur.ts == ts && cur.code == *code && !restarted => {
                cur.last_seen = now;
                // RFC 4733 §2.5.1.3: the end packet is sent three times; report it once.
                if end && !cur.reported {
                    cur.reported = true;
                    out[0] = cur.key;
                }
            }
            // A retransmission of an older event arriving late: it was handled already.
            Some(cur) if (ts.wrapping_sub(cur.ts) as i32) < 0 && !restarted => {
                tracing::debug!(
                    ts,
                    current_ts = cur.ts,
                    "media: late telephone-event packet of an earlier event dropped"
                );
            }
            current => {
                if let Some(cur) = current
                    .as_ref()
                    .filter(|c| (ts.wrapping_sub(c.ts) as i32) <= 0)
                {
                    tracing::info!(
                        ts,
                        previous_ts = cur.ts,
                        "media: telephone-event timestamp went back or repeated after an ended \
                         event: a restarted stream, read as a new key"
                    );
                }
                // A new event while the previous one never saw its end: the end was lost.
                if let Some(prev) = current.as_ref().filter(|c| !c.reported) {
                    out[0] = prev.key;
                }
                *current = Some(Current {
                    ts,
                    code: *code,
                    key,
                    reported: end,
                    last_seen: now,
                });
                if end {
                    out[1] = key;
                }
            }
        }
        out
    }

    /// When [`EventReceiver::on_timeout`] should next be called, if ever.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.current
            .filter(|c| !c.reported)
            .map(|c| c.last_seen + LOST_END_TIMEOUT)
    }

    /// Reports an event whose end packets were all lost.
    pub(crate) fn on_timeout(&mut self, now: Instant) -> Option<DtmfKey> {
        let cur = self.current.as_mut()?;
        if cur.reported || now < cur.last_seen + LOST_END_TIMEOUT {
            return None;
        }
        cur.reported = true;
        cur.key
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn pkt(code: u8, end: bool, duration: u16) -> [u8; 4] {
        let d = duration.to_be_bytes();
        [code, if end { 0x80 | 10 } else { 10 }, d[0], d[1]]
    }

    /// The keys as characters, so expectations read like a keypad. The event code → key table
    /// itself is `words::DtmfKey::from_event`'s, tested there.
    fn flat(d: Digits) -> Vec<char> {
        d.into_iter().flatten().map(DtmfKey::as_char).collect()
    }

    /// The usual sequence: start, updates, three end packets; then the next key.
    #[test]
    fn each_event_reported_once_on_end() {
        let t = Instant::now();
        let mut rx = EventReceiver::default();
        let mut got = Vec::new();
        for (i, code) in [1u8, 11, 1].into_iter().enumerate() {
            let ts = 1000 + i as u32 * 2000;
            for d in [160, 320, 480] {
                got.extend(flat(rx.on_packet(ts, &pkt(code, false, d), t)));
            }
            assert!(got.len() == i, "nothing before the end");
            for _ in 0..3 {
                got.extend(flat(rx.on_packet(ts, &pkt(code, true, 640), t)));
            }
        }
        assert_eq!(
            got,
            ['1', '#', '1'],
            "same key twice is two presses (new timestamps)"
        );
        assert_eq!(rx.poll_timeout(), None);
    }

    #[test]
    fn lost_end_is_reported_by_next_event_or_timeout() {
        let t = Instant::now();
        let mut rx = EventReceiver::default();
        assert!(flat(rx.on_packet(100, &pkt(5, false, 160), t)).is_empty());
        // Next event starts without any end for '5'.
        assert_eq!(flat(rx.on_packet(900, &pkt(7, false, 160), t)), ['5']);
        // Late end retransmission of the old event changes nothing.
        assert!(flat(rx.on_packet(100, &pkt(5, true, 800), t)).is_empty());
        // '7' loses all its end packets: the timeout reports it, exactly once.
        let deadline = rx.poll_timeout().unwrap();
        assert_eq!(deadline, t + LOST_END_TIMEOUT);
        assert_eq!(rx.on_timeout(t + Duration::from_millis(100)), None);
        assert_eq!(rx.on_timeout(deadline).map(DtmfKey::as_char), Some('7'));
        assert_eq!(rx.on_timeout(deadline + LOST_END_TIMEOUT), None);
        assert!(
            flat(rx.on_packet(900, &pkt(7, true, 800), t)).is_empty(),
            "late end after timeout"
        );
    }

    #[test]
    fn a_restarted_stream_is_read_as_new_keys() {
        // SIPp's stock captures played in a row under one SSRC: '#' (timestamp 33120), then
        // '1' (13280, earlier), then '1' again (13280 once more).
        let t = Instant::now();
        let later = |ms| t + Duration::from_millis(ms);
        let mut rx = EventReceiver::default();
        let mut got = Vec::new();
        for (at, ts, code) in [(0, 33_120, 11u8), (600, 13_280, 1), (1_200, 13_280, 1)] {
            got.extend(flat(rx.on_packet(ts, &pkt(code, false, 160), later(at))));
            for i in 0..3 {
                got.extend(flat(rx.on_packet(
                    ts,
                    &pkt(code, true, 800),
                    later(at + 20 + i * 20),
                )));
            }
        }
        assert_eq!(got, ['#', '1', '1']);
        // A late copy of the previous event's end, within the restart gap, is still a copy.
        let mut rx = EventReceiver::default();
        assert_eq!(flat(rx.on_packet(500, &pkt(4, true, 800), t)), ['4']);
        assert_eq!(
            flat(rx.on_packet(900, &pkt(6, true, 800), later(100))),
            ['6']
        );
        assert!(flat(rx.on_packet(500, &pkt(4, true, 800), later(150))).is_empty());
        assert!(flat(rx.on_packet(900, &pkt(6, true, 800), later(160))).is_empty());
        // The same timestamp with another code is another event.
        assert_eq!(
            flat(rx.on_packet(900, &pkt(8, true, 800), later(180))),
            ['8']
        );
    }

    #[test]
    fn only_end_packets_and_odd_payloads() {
        let t = Instant::now();
        let mut rx = EventReceiver::default();
        // All start packets lost, and the previous event's end too.
        assert!(flat(rx.on_packet(10, &pkt(2, false, 160), t)).is_empty());
        assert_eq!(flat(rx.on_packet(500, &pkt(3, true, 800), t)), ['2', '3']);
        // Too short, and flash (16) which is not a key.
        assert!(flat(rx.on_packet(900, &[1, 0x80], t)).is_empty());
        assert!(flat(rx.on_packet(1300, &pkt(16, true, 800), t)).is_empty());
        // Timestamp wrap-around is a newer event, not an old one.
        let mut rx = EventReceiver::default();
        assert_eq!(
            flat(rx.on_packet(u32::MAX - 10, &pkt(9, true, 800), t)),
            ['9']
        );
        assert_eq!(flat(rx.on_packet(150, &pkt(0, true, 800), t)), ['0']);
        assert!(flat(rx.on_packet(u32::MAX - 10, &pkt(9, true, 800), t)).is_empty());
    }
}
