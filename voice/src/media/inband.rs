//! In-band DTMF detection (Goertzel) for legs that did not negotiate telephone-event.
//!
//! Owns the per-leg detector state only: 8 kHz linear samples in, keys out. Each 20 ms block
//! (160 samples) is tested at the 8 DTMF frequencies (ITU-T Q.23) and must pass, in order:
//! a minimum level per tone, a dominant row and column (the other frequencies of each group well
//! below), a twist limit (Q.24), and a relative-energy test (the two tones carry most of the
//! block's energy; speech spreads its energy over many harmonics). A key is reported when two
//! consecutive blocks (≥ 40 ms) agree, and only once per tone burst.

use words::DtmfKey;

use super::rtp::SAMPLES_PER_FRAME;

const BLOCK: usize = SAMPLES_PER_FRAME;
const SAMPLE_RATE: f32 = 8000.0;
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad by row and column frequency (ITU-T Q.23).
const KEYS: [[DtmfKey; 4]; 4] = [
    [key('1'), key('2'), key('3'), key('A')],
    [key('4'), key('5'), key('6'), key('B')],
    [key('7'), key('8'), key('9'), key('C')],
    [key('*'), key('0'), key('#'), key('D')],
];

/// A keypad entry. Evaluated while compiling `KEYS`, so a character that is no key fails the
/// build, never a call.
const fn key(c: char) -> DtmfKey {
    match DtmfKey::from_char(c) {
        Some(key) => key,
        None => panic!("the keypad table holds a character that is no DTMF key"),
    }
}

/// The row and column frequency of a key (ITU-T Q.23), for sending it as tones.
pub(crate) fn frequencies(wanted: DtmfKey) -> (f32, f32) {
    for (r, row) in KEYS.iter().enumerate() {
        for (c, k) in row.iter().enumerate() {
            if *k == wanted {
                return (ROWS[r], COLS[c]);
            }
        }
    }
    // KEYS holds all sixteen keys, so every DtmfKey is found above.
    (ROWS[0], COLS[0])
}

/// Minimum amplitude of each tone (linear 16-bit): about -38 dBFS, well below the -25 dBm0
/// per-tone level Q.24 receivers must accept.
const MIN_TONE_AMPLITUDE: f32 = 400.0;
/// The other frequencies of a group must be at least 8 dB below the strongest one.
const PEAK_MARGIN: f32 = 0.158;
/// Q.24 twist: the high tone may be up to 8 dB below the low tone (normal twist) or 4 dB above
/// it (reverse twist). Power ratios.
const MAX_NORMAL_TWIST: f32 = 0.158;
const MAX_REVERSE_TWIST: f32 = 2.51;
/// Share of the block's energy the two tones must carry.
const MIN_TONE_SHARE: f32 = 0.75;
/// Consecutive agreeing blocks before a key counts (2 × 20 ms = 40 ms, the Q.24 minimum).
const MIN_BLOCKS: u8 = 2;

#[derive(Debug)]
pub(crate) struct ToneDetector {
    coeffs: [f32; 8],
    block: [f32; BLOCK],
    fill: usize,
    /// Key seen in the previous block and how many blocks in a row.
    candidate: Option<DtmfKey>,
    run: u8,
    /// The key already reported for the current burst.
    reported: Option<DtmfKey>,
}

impl Default for ToneDetector {
    fn default() -> Self {
        let mut coeffs = [0.0; 8];
        for (c, f) in coeffs.iter_mut().zip(ROWS.iter().chain(COLS.iter())) {
            *c = 2.0 * (2.0 * std::f32::consts::PI * f / SAMPLE_RATE).cos();
        }
        ToneDetector {
            coeffs,
            block: [0.0; BLOCK],
            fill: 0,
            candidate: None,
            run: 0,
            reported: None,
        }
    }
}

impl ToneDetector {
    /// Feeds samples of any length; returns a key when a burst is confirmed. At most one key
    /// per call when called with up to one packet (a key needs two blocks).
    pub(crate) fn push(&mut self, samples: &[i16]) -> Option<DtmfKey> {
        let mut found = None;
        for &s in samples {
            self.block[self.fill] = f32::from(s);
            self.fill += 1;
            if self.fill == BLOCK {
                self.fill = 0;
                let key = self.analyse();
                if let Some(k) = self.on_block(key) {
                    found = Some(k);
                }
            }
        }
        found
    }

    /// Whether the last full block held a key tone: the audio it came in carries a keypad
    /// tone, which the bridge replaces with silence rather than relay (the other party hears
    /// no agent's keys, as with RFC 4733 events).
    pub(crate) fn in_tone(&self) -> bool {
        self.candidate.is_some()
    }

    fn on_block(&mut self, key: Option<DtmfKey>) -> Option<DtmfKey> {
        if key.is_some() && key == self.candidate {
            self.run = self.run.saturating_add(1);
        } else {
            self.candidate = key;
            self.run = u8::from(key.is_some());
        }
        match key {
            // A block without the reported key ends its burst.
            None => {
                self.reported = None;
                None
            }
            Some(k) if self.run >= MIN_BLOCKS && self.reported != Some(k) => {
                self.reported = Some(k);
                Some(k)
            }
            Some(_) => None,
        }
    }

    /// The key this block holds, if it passes every test.
    fn analyse(&self) -> Option<DtmfKey> {
        let energy: f32 = self.block.iter().map(|x| x * x).sum();
        if energy <= 0.0 {
            return None;
        }
        let mut power = [0.0f32; 8];
        for (p, &coeff) in power.iter_mut().zip(self.coeffs.iter()) {
            *p = goertzel_power(&self.block, coeff);
        }
        let (rows, cols) = power.split_at(4);
        let (r, pr) = strongest(rows)?;
        let (c, pc) = strongest(cols)?;
        // |X|² of a sine of amplitude A over N samples is (A·N/2)².
        let min_power = (MIN_TONE_AMPLITUDE * BLOCK as f32 / 2.0).powi(2);
        if pr < min_power || pc < min_power {
            return None;
        }
        let twist = pc / pr;
        if !(MAX_NORMAL_TWIST..=MAX_REVERSE_TWIST).contains(&twist) {
            return None;
        }
        // A sine's energy over the block is 2·|X|²/N.
        let share = 2.0 * (pr + pc) / (BLOCK as f32 * energy);
        if share < MIN_TONE_SHARE {
            return None;
        }
        Some(KEYS[r][c])
    }
}

/// Index and power of the dominant frequency of a group, if every other one is far below it.
fn strongest(group: &[f32]) -> Option<(usize, f32)> {
    let (best, &p) = group.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let clear = group
        .iter()
        .enumerate()
        .all(|(i, &q)| i == best || q <= p * PEAK_MARGIN);
    clear.then_some((best, p))
}

/// Squared magnitude of the DFT of `x` at the frequency whose `coeff` is 2·cos(2πf/fs).
fn goertzel_power(x: &[f32], coeff: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    /// Linear samples of a dual tone plus optional noise.
    fn tone(key: char, ms: usize, amp: f32, twist_db: f32) -> Vec<i16> {
        let (r, c) = KEYS
            .iter()
            .enumerate()
            .find_map(|(r, row)| row.iter().position(|k| k.as_char() == key).map(|c| (r, c)))
            .unwrap(); // every key in the table
        let hi = amp * 10f32.powf(twist_db / 20.0);
        (0..ms * 8)
            .map(|n| {
                let t = n as f32 / SAMPLE_RATE;
                let v = amp * (2.0 * std::f32::consts::PI * ROWS[r] * t).sin()
                    + hi * (2.0 * std::f32::consts::PI * COLS[c] * t).sin();
                v as i16
            })
            .collect()
    }

    fn run(det: &mut ToneDetector, samples: &[i16]) -> String {
        samples
            .chunks(160)
            .filter_map(|f| det.push(f))
            .map(DtmfKey::as_char)
            .collect()
    }

    #[test]
    fn every_key_once_per_burst() {
        let mut det = ToneDetector::default();
        let mut audio = Vec::new();
        for key in "123A456B789C*0#D".chars() {
            audio.extend(tone(key, 100, 6000.0, 0.0));
            audio.extend(std::iter::repeat_n(0, 8 * 60));
        }
        assert_eq!(run(&mut det, &audio), "123A456B789C*0#D");
    }

    #[test]
    fn repeated_key_needs_a_gap_and_long_tone_is_one_key() {
        let mut det = ToneDetector::default();
        let mut audio = tone('5', 1000, 6000.0, 0.0);
        audio.extend(std::iter::repeat_n(0, 8 * 60));
        audio.extend(tone('5', 80, 6000.0, 0.0));
        assert_eq!(run(&mut det, &audio), "55");
    }

    #[test]
    fn level_twist_and_duration_limits() {
        struct Case {
            name: &'static str,
            ms: usize,
            amp: f32,
            twist_db: f32,
            expect: &'static str,
        }
        let cases = [
            Case {
                name: "loud",
                ms: 100,
                amp: 14000.0,
                twist_db: 0.0,
                expect: "8",
            },
            Case {
                name: "-25 dBm0 per tone",
                ms: 100,
                amp: 1300.0,
                twist_db: 0.0,
                expect: "8",
            },
            Case {
                name: "too quiet",
                ms: 100,
                amp: 200.0,
                twist_db: 0.0,
                expect: "",
            },
            Case {
                name: "normal twist 6 dB",
                ms: 100,
                amp: 6000.0,
                twist_db: -6.0,
                expect: "8",
            },
            Case {
                name: "reverse twist 3 dB",
                ms: 100,
                amp: 4000.0,
                twist_db: 3.0,
                expect: "8",
            },
            Case {
                name: "normal twist 12 dB",
                ms: 100,
                amp: 6000.0,
                twist_db: -12.0,
                expect: "",
            },
            Case {
                name: "reverse twist 8 dB",
                ms: 100,
                amp: 3000.0,
                twist_db: 8.0,
                expect: "",
            },
            Case {
                name: "20 ms blip",
                ms: 20,
                amp: 6000.0,
                twist_db: 0.0,
                expect: "",
            },
            Case {
                name: "45 ms",
                ms: 45,
                amp: 6000.0,
                twist_db: 0.0,
                expect: "8",
            },
        ];
        for c in cases {
            let mut det = ToneDetector::default();
            let mut audio = tone('8', c.ms, c.amp, c.twist_db);
            audio.extend(std::iter::repeat_n(0, 400));
            assert_eq!(run(&mut det, &audio), c.expect, "{}", c.name);
        }
    }

    /// A single tone, a chord of three, and white noise are not keys.
    #[test]
    fn non_dtmf_signals_are_rejected() {
        let single: Vec<i16> = (0..8000)
            .map(|n| {
                (8000.0 * (2.0 * std::f32::consts::PI * 697.0 * n as f32 / SAMPLE_RATE).sin())
                    as i16
            })
            .collect();
        let mut det = ToneDetector::default();
        assert_eq!(run(&mut det, &single), "");
        let mut chord = tone('1', 500, 5000.0, 0.0);
        for (n, s) in chord.iter_mut().enumerate() {
            *s += (5000.0 * (2.0 * std::f32::consts::PI * 1336.0 * n as f32 / SAMPLE_RATE).sin())
                as i16;
        }
        assert_eq!(run(&mut det, &chord), "");
        let mut state = 1u32;
        let noise: Vec<i16> = (0..80000)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as i16
            })
            .collect();
        assert_eq!(run(&mut det, &noise), "");
    }

    /// Packets of odd sizes (10 ms, 30 ms) still build 20 ms blocks.
    #[test]
    fn odd_packet_sizes() {
        let mut det = ToneDetector::default();
        let mut audio = tone('#', 120, 6000.0, 0.0);
        audio.extend(std::iter::repeat_n(0, 800));
        let got: String = audio
            .chunks(240)
            .filter_map(|f| det.push(f))
            .map(DtmfKey::as_char)
            .collect();
        assert_eq!(got, "#");
        let got: String = tone('D', 120, 6000.0, 0.0)
            .chunks(80)
            .filter_map(|f| det.push(f))
            .map(DtmfKey::as_char)
            .collect();
        assert_eq!(got, "D");
    }

    /// Both laws on the wire, as the leg sees them after decoding.
    fn over_the_wire(samples: &[i16], codec: crate::media::Codec) -> Vec<i16> {
        let mut enc = vec![0u8; samples.len()];
        let mut dec = vec![0i16; samples.len()];
        codec.encode(samples, &mut enc);
        codec.decode(&enc, &mut dec);
        dec
    }

    /// Tones made by `sox` (an independent generator) for all 16 keys: each exactly once.
    #[test]
    fn sox_tones_each_key_once() {
        for codec in [crate::media::Codec::Pcmu, crate::media::Codec::Pcma] {
            let mut audio = Vec::new();
            let mut want = String::new();
            for (r, row) in KEYS.iter().enumerate() {
                for (c, &key) in row.iter().enumerate() {
                    audio.extend(crate::media::test_audio::sox_dtmf(
                        ROWS[r] as u32,
                        COLS[c] as u32,
                        100,
                    ));
                    audio.extend(std::iter::repeat_n(0, 800));
                    want.push(key.as_char());
                }
            }
            let mut det = ToneDetector::default();
            assert_eq!(
                run(&mut det, &over_the_wire(&audio, codec)),
                want,
                "{codec:?}"
            );
        }
    }

    /// About 58 s of espeak-ng speech in three voices (talk-off): no digit at all.
    #[test]
    fn speech_gives_no_digits() {
        let text = "Thank you for calling. Your call is important to us. An agent will be with you \
            shortly. Please have your account number ready, and remember that our office hours are \
            Monday to Friday from nine in the morning until six in the evening. The weather today \
            is sunny with a light breeze from the west, and tomorrow we expect some rain showers \
            in the afternoon.";
        let mut speech = Vec::new();
        for voice in [
            &["-v", "en"][..],
            &["-v", "en-us", "-p", "80"],
            &["-v", "en+f3", "-s", "150"],
        ] {
            speech.extend(crate::media::test_audio::espeak_cli_8k(text, voice));
        }
        assert!(
            speech.len() >= 8000 * 30,
            "at least 30 s of speech, got {} samples",
            speech.len()
        );
        for codec in [crate::media::Codec::Pcmu, crate::media::Codec::Pcma] {
            let mut det = ToneDetector::default();
            assert_eq!(
                run(&mut det, &over_the_wire(&speech, codec)),
                "",
                "{codec:?}"
            );
        }
    }
}
