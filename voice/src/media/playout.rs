//! Announcements: a [`Prompt`] (8 kHz linear audio) and the per-leg cursor that cuts it into
//! 20 ms frames, once or looped.
//!
//! Owns the cursor only; the leg task asks for a frame on each clock tick and decides what to
//! do with it. Must not encode, send or sleep.

use std::sync::Arc;
use std::time::Duration;

use super::rtp::SAMPLES_PER_FRAME;

/// 8 kHz mono 16-bit linear audio. Cheap to clone (shared).
#[derive(Clone, PartialEq, Eq)]
pub struct Prompt(Arc<[i16]>);

impl Prompt {
    /// Wraps 8 kHz mono samples.
    pub fn from_samples(samples: Vec<i16>) -> Prompt {
        Prompt(samples.into())
    }

    pub fn samples(&self) -> &[i16] {
        &self.0
    }

    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.0.len() as u64 * 125)
    }
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prompt({} ms)", self.duration().as_millis())
    }
}

/// What one frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The frame carries prompt audio (else silence).
    pub(crate) audio: bool,
    /// First frame of a prompt: a talkspurt starts (RFC 3551 §4.1 marker bit).
    pub(crate) started: bool,
    /// A non-looped prompt ended in this frame: report `PlayoutDone` after sending it.
    pub(crate) finished: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Playout {
    current: Option<Playing>,
}

#[derive(Debug)]
struct Playing {
    prompt: Prompt,
    pos: usize,
    looped: bool,
    started: bool,
}

impl Playout {
    /// Replaces whatever plays with `prompt` from its start.
    pub(crate) fn play(&mut self, prompt: Prompt, looped: bool) {
        self.current = Some(Playing {
            prompt,
            pos: 0,
            looped,
            started: false,
        });
    }

    pub(crate) fn stop(&mut self) {
        self.current = None;
    }

    /// Fills `out` with the next 20 ms (silence when idle or past the end).
    pub(crate) fn next_frame(&mut self, out: &mut [i16; SAMPLES_PER_FRAME]) -> Frame {
        out.fill(0);
        let Some(p) = self.current.as_mut() else {
            return Frame {
                audio: false,
                started: false,
                finished: false,
            };
        };
        let samples = p.prompt.samples();
        let started = !p.started;
        p.started = true;
        if samples.is_empty() {
            // Nothing to loop over; a looped empty prompt is silence until replaced.
            let finished = !p.looped;
            if finished {
                self.current = None;
            }
            return Frame {
                audio: false,
                started: false,
                finished,
            };
        }
        let mut filled = 0;
        while filled < out.len() {
            let take = (samples.len() - p.pos).min(out.len() - filled);
            out[filled..filled + take].copy_from_slice(&samples[p.pos..p.pos + take]);
            filled += take;
            p.pos += take;
            if p.pos == samples.len() {
                if !p.looped {
                    self.current = None;
                    return Frame {
                        audio: true,
                        started,
                        finished: true,
                    };
                }
                p.pos = 0;
            }
        }
        Frame {
            audio: true,
            started,
            finished: false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn ramp(n: usize) -> Prompt {
        Prompt::from_samples((1..=n as i16).collect())
    }

    #[test]
    fn once_plays_every_sample_then_silence() {
        let mut p = Playout::default();
        p.play(ramp(400), false);
        let mut buf = [0i16; 160];
        let mut got = Vec::new();
        let mut frames = Vec::new();
        for _ in 0..4 {
            frames.push(p.next_frame(&mut buf));
            got.extend_from_slice(&buf);
        }
        assert_eq!(&got[..400], ramp(400).samples());
        assert!(
            got[400..].iter().all(|&s| s == 0),
            "padding after the end is silence"
        );
        assert_eq!(
            frames[0],
            Frame {
                audio: true,
                started: true,
                finished: false
            }
        );
        assert_eq!(
            frames[1],
            Frame {
                audio: true,
                started: false,
                finished: false
            }
        );
        assert_eq!(
            frames[2],
            Frame {
                audio: true,
                started: false,
                finished: true
            }
        );
        assert_eq!(
            frames[3],
            Frame {
                audio: false,
                started: false,
                finished: false
            }
        );
    }

    #[test]
    fn looped_wraps_without_gap_and_stop_silences() {
        let mut p = Playout::default();
        p.play(ramp(100), true);
        let mut buf = [0i16; 160];
        let mut got = Vec::new();
        for _ in 0..5 {
            assert!(!p.next_frame(&mut buf).finished);
            got.extend_from_slice(&buf);
        }
        for (i, s) in got.iter().enumerate() {
            assert_eq!(*s, (i % 100) as i16 + 1);
        }
        p.stop();
        assert!(!p.next_frame(&mut buf).audio);
        assert!(buf.iter().all(|&s| s == 0));
    }

    #[test]
    fn replacing_restarts_and_empty_prompts_finish() {
        let mut p = Playout::default();
        let mut buf = [0i16; 160];
        p.play(ramp(1000), false);
        p.next_frame(&mut buf);
        p.play(ramp(1000), false);
        assert!(p.next_frame(&mut buf).started);
        assert_eq!(buf[0], 1);
        p.play(Prompt::from_samples(Vec::new()), false);
        assert!(p.next_frame(&mut buf).finished);
        p.play(Prompt::from_samples(Vec::new()), true);
        for _ in 0..3 {
            assert_eq!(
                p.next_frame(&mut buf),
                Frame {
                    audio: false,
                    started: false,
                    finished: false
                }
            );
        }
        assert_eq!(ramp(8000).duration(), Duration::from_secs(1));
    }
}
