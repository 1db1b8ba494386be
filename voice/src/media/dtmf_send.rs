//! Sending keys to a leg's far end (the session reference keyed to the call center before
//! the whisper): the plan of what each 20 ms tick sends, as RFC 4733 telephone-events when
//! the far end answered `telephone-event`, else as in-band DTMF tones (ITU-T Q.23) in the
//! audio. SIP INFO would need the dialog, which the SIP half owns; tones reach any G.711
//! far end, as a phone's keypad would.
//!
//! Owns the plan only: keys in, one [`Tick`] per frame out. Must not stamp, encode or send
//! (the leg task does, with the stream's own sequence and clock).

use words::DtmfKey;

use super::DigitSource;
use super::inband;
use super::rtp::SAMPLES_PER_FRAME;

/// Frames a key sounds: 100 ms, well above the 40 ms an ITU-T Q.24 receiver needs.
pub(crate) const TONE_FRAMES: u16 = 5;
/// Frames of silence after each key: 100 ms, so a receiver sees the keys apart.
pub(crate) const GAP_FRAMES: u16 = 5;
/// RFC 4733 §2.5.1.4: the end packet is sent three times.
pub(crate) const END_PACKETS: u16 = 3;
/// RFC 4733 §2.3.2: volume in -dBm0; 10 is what keypads commonly send.
const VOLUME: u8 = 10;
/// Each tone's amplitude: about -9 dBFS, leaving headroom for the sum of two.
const TONE_AMPLITUDE: f32 = 8000.0;

/// What one tick sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// A telephone-event packet. All packets of one key carry the key's start timestamp;
    /// `first` is its first packet (marker bit, and the timestamp to keep).
    Event { payload: [u8; 4], first: bool },
    /// Audio: the `frame`-th 20 ms of a key's tones (see [`tone_frame`]).
    Tone { key: DtmfKey, frame: u16 },
    /// Audio: silence between keys.
    Silence,
    /// Every key was sent; nothing is sent for this tick by the plan.
    Done,
}

/// The plan for one run of keys.
#[derive(Debug, Clone)]
pub(crate) struct DigitSender {
    keys: Vec<DtmfKey>,
    events: bool,
    key: usize,
    frame: u16,
}

impl DigitSender {
    /// `events`: the far end answered `telephone-event`; otherwise tones go in the audio.
    pub(crate) fn new(keys: Vec<DtmfKey>, events: bool) -> Self {
        Self {
            keys,
            events,
            key: 0,
            frame: 0,
        }
    }

    /// How the keys travel.
    pub(crate) fn source(&self) -> DigitSource {
        if self.events {
            DigitSource::Rfc4733
        } else {
            DigitSource::InBand
        }
    }

    /// The next tick's content.
    pub(crate) fn next_tick(&mut self) -> Tick {
        let Some(&key) = self.keys.get(self.key) else {
            return Tick::Done;
        };
        // RFC 4733 §2.5.1.3: the last packet of the key is the end, repeated; tones just
        // sound for as long.
        let sounding = if self.events {
            TONE_FRAMES - 1 + END_PACKETS
        } else {
            TONE_FRAMES
        };
        let frame = self.frame;
        self.frame += 1;
        if self.frame == sounding + GAP_FRAMES {
            self.frame = 0;
            self.key += 1;
        }
        if frame >= sounding {
            return Tick::Silence;
        }
        if self.events {
            // The duration so far (§2.5.1.2), in timestamp units; it stops growing at the end.
            let elapsed = (frame + 1).min(TONE_FRAMES) * SAMPLES_PER_FRAME as u16;
            let end = frame + 1 >= TONE_FRAMES;
            Tick::Event {
                payload: event_payload(key.event(), end, elapsed),
                first: frame == 0,
            }
        } else {
            Tick::Tone { key, frame }
        }
    }
}

/// An RFC 4733 §2.3 telephone-event payload: event, E bit and volume, duration.
pub(crate) fn event_payload(code: u8, end: bool, duration: u16) -> [u8; 4] {
    let [hi, lo] = duration.to_be_bytes();
    [code, if end { 0x80 } else { 0 } | VOLUME, hi, lo]
}

/// The `frame`-th 20 ms of `key`'s two tones, phase-continuous across frames.
pub(crate) fn tone_frame(key: DtmfKey, frame: u16) -> [i16; SAMPLES_PER_FRAME] {
    let (low, high) = inband::frequencies(key);
    let mut out = [0i16; SAMPLES_PER_FRAME];
    let start = usize::from(frame) * SAMPLES_PER_FRAME;
    for (i, sample) in out.iter_mut().enumerate() {
        let t = (start + i) as f32 / 8000.0;
        let tau = 2.0 * std::f32::consts::PI * t;
        let v = TONE_AMPLITUDE * ((tau * low).sin() + (tau * high).sin());
        *sample = v as i16;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::media::codec::Codec;
    use crate::media::dtmf::EventReceiver;
    use crate::media::inband::ToneDetector;

    fn keys(text: &str) -> Vec<DtmfKey> {
        text.chars()
            .map(|c| DtmfKey::from_char(c).unwrap())
            .collect()
    }

    fn all_ticks(sender: &mut DigitSender) -> Vec<Tick> {
        let mut ticks = Vec::new();
        loop {
            let tick = sender.next_tick();
            if tick == Tick::Done {
                return ticks;
            }
            ticks.push(tick);
        }
    }

    /// Each key's packets as (code, end, duration, first), then its silent frames.
    #[test]
    fn one_key_as_telephone_events() {
        let mut sender = DigitSender::new(keys("7"), true);
        assert_eq!(sender.source(), DigitSource::Rfc4733);
        let ticks = all_ticks(&mut sender);
        let events: Vec<(u8, bool, u16, bool)> = ticks
            .iter()
            .filter_map(|t| match t {
                Tick::Event { payload, first } => Some((
                    payload[0],
                    payload[1] & 0x80 != 0,
                    u16::from_be_bytes([payload[2], payload[3]]),
                    *first,
                )),
                _ => None,
            })
            .collect();
        assert_eq!(
            events,
            [
                (7, false, 160, true),
                (7, false, 320, false),
                (7, false, 480, false),
                (7, false, 640, false),
                (7, true, 800, false),
                (7, true, 800, false),
                (7, true, 800, false),
            ]
        );
        let silent = ticks.iter().filter(|t| **t == Tick::Silence).count();
        assert_eq!(silent, usize::from(GAP_FRAMES));
        assert_eq!(ticks.len(), 7 + usize::from(GAP_FRAMES));
        assert_eq!(sender.next_tick(), Tick::Done, "done stays done");
    }

    #[test]
    fn payload_table() {
        for (code, end, duration, want) in [
            (0, false, 160, [0, 10, 0, 160]),
            (11, true, 800, [11, 0x8a, 3, 32]),
            (15, false, 0xffff, [15, 10, 0xff, 0xff]),
        ] {
            assert_eq!(event_payload(code, end, duration), want, "{code} {end}");
        }
    }

    /// What the plan sends, fed to the receiver the platform hears agents with, gives the
    /// keys back: one per key, in order, repeated keys included. Timestamps as the leg task
    /// stamps them: the stream advances 160 per tick, an event keeps its first packet's.
    #[test]
    fn telephone_events_round_trip_through_the_receiver() {
        for text in ["2718281828", "#", "1*0", "55"] {
            let mut sender = DigitSender::new(keys(text), true);
            let mut rx = EventReceiver::default();
            let t0 = Instant::now();
            let (mut ts, mut event_ts, mut got) = (1_000u32, 0u32, String::new());
            for (n, tick) in all_ticks(&mut sender).into_iter().enumerate() {
                let now = t0 + Duration::from_millis(20 * n as u64);
                if let Tick::Event { payload, first } = tick {
                    if first {
                        event_ts = ts;
                    }
                    for key in rx.on_packet(event_ts, &payload, now).into_iter().flatten() {
                        got.push(key.as_char());
                    }
                }
                ts = ts.wrapping_add(160);
            }
            assert_eq!(got, text);
        }
    }

    /// The in-band plan, through G.711 µ-law and back, fed to the platform's own Goertzel
    /// detector, gives the keys back.
    #[test]
    fn tones_round_trip_through_the_detector() {
        for text in ["2718281828", "#*", "00", "159D"] {
            let mut sender = DigitSender::new(keys(text), false);
            assert_eq!(sender.source(), DigitSource::InBand);
            let mut detector = ToneDetector::default();
            let mut got = String::new();
            for tick in all_ticks(&mut sender) {
                let pcm = match tick {
                    Tick::Tone { key, frame } => tone_frame(key, frame),
                    Tick::Silence => [0; SAMPLES_PER_FRAME],
                    other => panic!("tones travel as audio, got {other:?}"),
                };
                let (mut law, mut heard) = ([0u8; SAMPLES_PER_FRAME], [0i16; SAMPLES_PER_FRAME]);
                Codec::Pcmu.encode(&pcm, &mut law);
                Codec::Pcmu.decode(&law, &mut heard);
                if let Some(key) = detector.push(&heard) {
                    got.push(key.as_char());
                }
            }
            assert_eq!(got, text);
        }
    }
}
