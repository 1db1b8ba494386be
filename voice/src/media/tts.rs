//! Text to speech: espeak-ng on one dedicated worker thread (espeak has global state), its
//! 22050 Hz output resampled to 8 kHz with `rubato`, and a bounded cache of rendered prompts
//! keyed by text. It speaks text as given: spelling codes digit by digit is the platform's
//! whisper (one speller for the whole platform), not ours.
//!
//! Where the voice data comes from: `espeak-rs-sys` builds espeak-ng with its data installed
//! into Cargo's `OUT_DIR` and compiles that build-tree path in as the default, which does not
//! exist once the binary is installed elsewhere. So [`Tts::new`] always passes an explicit
//! directory: the configured one, else Debian's `espeak-ng-data` package location
//! [`DEFAULT_DATA_DIR`]. Debian's 1.51 data works with the bundled 1.52 library (same
//! phoneme-data version, 0x014801). Must not touch espeak from async code or other threads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use rubato::{FftFixedIn, Resampler};
use tokio::sync::oneshot;

use super::espeak::Espeak;
use super::playout::Prompt;

/// Debian's `espeak-ng-data` package installs here (apt `espeak-ng-data`, pulled by `espeak-ng`).
pub const DEFAULT_DATA_DIR: &str = "/usr/lib/x86_64-linux-gnu/espeak-ng-data";
/// Longest text we speak in one prompt; longer texts are refused (they are a bug upstream).
pub const MAX_TEXT_LEN: usize = 4000;
/// Rendered audio kept in the cache, in 8 kHz samples (10 minutes, about 10 MB).
const CACHE_CAP_SAMPLES: usize = 8000 * 60 * 10;
const OUTPUT_RATE: usize = 8000;

/// Why speech could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error(
        "espeak-ng-data not found at {path}; install the espeak-ng-data package or point media.tts_data_dir at it"
    )]
    DataNotFound { path: PathBuf },
    #[error(
        "text to speech already runs with data from {running}; one process uses one espeak-ng-data (asked for {requested})"
    )]
    DataDirConflict {
        running: PathBuf,
        requested: PathBuf,
    },
    #[error(
        "espeak-ng failed to start with data from {path} (code {code}); check that the data matches espeak-ng 1.5x"
    )]
    Init { path: PathBuf, code: i32 },
    #[error(
        "espeak-ng has no English voice (code {code}); the espeak-ng-data install is incomplete"
    )]
    Voice { code: i32 },
    #[error("espeak-ng could not speak the text (code {code})")]
    Synth { code: i32 },
    #[error("the text contains a NUL character; remove it")]
    TextHasNul,
    #[error("the text is empty; there is nothing to say")]
    EmptyText,
    #[error("the text is {len} characters long; at most {max} can be spoken at once")]
    TextTooLong { len: usize, max: usize },
    #[error("resampling speech to 8 kHz failed")]
    Resample,
    #[error("cannot start the text-to-speech thread: {0}")]
    Thread(std::io::Error),
    #[error("the text-to-speech thread has stopped")]
    WorkerGone,
}

/// Renders text to 8 kHz prompts. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Tts {
    worker: Worker,
    cache: Arc<Mutex<PromptCache>>,
}

impl std::fmt::Debug for Tts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tts")
            .field("data_dir", &self.worker.data_dir)
            .finish()
    }
}

impl Tts {
    /// Starts (or joins) the process-wide espeak worker with data from `data_dir` (the
    /// directory holding `espeak-ng-data`, or that directory itself), default
    /// [`DEFAULT_DATA_DIR`]. Blocks until espeak-ng has initialised.
    pub fn new(data_dir: Option<PathBuf>) -> Result<Tts, TtsError> {
        let dir = data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if !holds_espeak_data(&dir) {
            return Err(TtsError::DataNotFound { path: dir });
        }
        let worker = Worker::get_or_start(dir)?;
        Ok(Tts {
            worker,
            cache: Arc::new(Mutex::new(PromptCache::default())),
        })
    }

    /// Speaks `text` as 8 kHz mono; repeated texts come from the cache.
    pub async fn render(&self, text: &str) -> Result<Prompt, TtsError> {
        if text.trim().is_empty() {
            return Err(TtsError::EmptyText);
        }
        if text.len() > MAX_TEXT_LEN {
            return Err(TtsError::TextTooLong {
                len: text.len(),
                max: MAX_TEXT_LEN,
            });
        }
        if text.contains('\0') {
            return Err(TtsError::TextHasNul);
        }
        if let Some(p) = self.cache_lock().get(text) {
            return Ok(p);
        }
        let (reply, rx) = oneshot::channel();
        self.worker
            .jobs
            .send(Job {
                text: text.to_owned(),
                reply,
            })
            .map_err(|_| TtsError::WorkerGone)?;
        let samples = rx.await.map_err(|_| TtsError::WorkerGone)??;
        let prompt = Prompt::from_samples(samples);
        self.cache_lock().insert(text.to_owned(), prompt.clone());
        Ok(prompt)
    }

    fn cache_lock(&self) -> std::sync::MutexGuard<'_, PromptCache> {
        // The cache holds plain data; a panic elsewhere cannot leave it inconsistent.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn holds_espeak_data(dir: &Path) -> bool {
    dir.join("phontab").is_file() || dir.join("espeak-ng-data").join("phontab").is_file()
}

struct Job {
    text: String,
    reply: oneshot::Sender<Result<Vec<i16>, TtsError>>,
}

#[derive(Clone)]
struct Worker {
    data_dir: PathBuf,
    jobs: mpsc::Sender<Job>,
}

/// espeak's state is per process, so there is one worker per process whatever the number of
/// engines (tests start several).
static WORKER: Mutex<Option<Worker>> = Mutex::new(None);

impl Worker {
    fn get_or_start(dir: PathBuf) -> Result<Worker, TtsError> {
        let mut slot = WORKER
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(w) = slot.as_ref() {
            if w.data_dir == dir {
                return Ok(w.clone());
            }
            return Err(TtsError::DataDirConflict {
                running: w.data_dir.clone(),
                requested: dir,
            });
        }
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), TtsError>>(1);
        let thread_dir = dir.clone();
        std::thread::Builder::new()
            .name("espeak".into())
            .spawn(move || run_worker(&thread_dir, &ready_tx, &job_rx))
            .map_err(TtsError::Thread)?;
        ready_rx.recv().map_err(|_| TtsError::WorkerGone)??;
        let worker = Worker {
            data_dir: dir,
            jobs,
        };
        *slot = Some(worker.clone());
        Ok(worker)
    }
}

fn run_worker(
    dir: &Path,
    ready: &mpsc::SyncSender<Result<(), TtsError>>,
    jobs: &mpsc::Receiver<Job>,
) {
    let mut espeak = match Espeak::init(dir) {
        Ok(e) => e,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    // The worker lives as long as the process: the static keeps a sender alive.
    while let Ok(job) = jobs.recv() {
        let rate = espeak.sample_rate();
        let result = espeak
            .synth(&job.text)
            .and_then(|raw| resample_to_8k(&raw, rate));
        let _ = job.reply.send(result);
    }
}

/// Band-limited resampling to 8 kHz; the output length is the input duration exactly.
pub(crate) fn resample_to_8k(input: &[i16], rate: u32) -> Result<Vec<i16>, TtsError> {
    let rate = rate as usize;
    if rate == OUTPUT_RATE {
        return Ok(input.to_vec());
    }
    let mut r =
        FftFixedIn::<f32>::new(rate, OUTPUT_RATE, 1024, 2, 1).map_err(|_| TtsError::Resample)?;
    let delay = r.output_delay();
    let expected = input.len() * OUTPUT_RATE / rate;
    let samples: Vec<f32> = input.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let mut out: Vec<f32> = Vec::with_capacity(expected + delay + 2048);
    let mut buf = r.output_buffer_allocate(true);
    let mut pos = 0;
    // Each call yields one output chunk; the bound only guards against a resampler that
    // stops producing, which would otherwise spin forever.
    let max_calls = samples.len() / 64 + 64;
    for _ in 0..max_calls {
        if out.len() >= expected + delay {
            break;
        }
        let need = r.input_frames_next();
        let (_, n) = if pos + need <= samples.len() {
            let res = r.process_into_buffer(&[&samples[pos..pos + need]], &mut buf, None);
            pos += need;
            res
        } else if pos < samples.len() {
            let res = r.process_partial_into_buffer(Some(&[&samples[pos..]]), &mut buf, None);
            pos = samples.len();
            res
        } else {
            r.process_partial_into_buffer(None::<&[&[f32]]>, &mut buf, None)
        }
        .map_err(|_| TtsError::Resample)?;
        out.extend_from_slice(&buf[0][..n]);
    }
    let tail = out.get(delay..).ok_or(TtsError::Resample)?;
    Ok(tail
        .iter()
        .take(expected)
        .map(|&s| (s * 32768.0).clamp(-32768.0, 32767.0) as i16)
        .collect())
}

/// Least-recently-used prompts, bounded by total samples.
#[derive(Default)]
struct PromptCache {
    entries: HashMap<String, (Prompt, u64)>,
    total: usize,
    clock: u64,
}

impl PromptCache {
    fn get(&mut self, text: &str) -> Option<Prompt> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(text).map(|(p, used)| {
            *used = clock;
            p.clone()
        })
    }

    fn insert(&mut self, text: String, prompt: Prompt) {
        self.clock += 1;
        self.total += prompt.samples().len();
        if let Some((old, _)) = self.entries.insert(text, (prompt, self.clock)) {
            self.total -= old.samples().len();
        }
        while self.total > CACHE_CAP_SAMPLES && self.entries.len() > 1 {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((p, _)) = self.entries.remove(&oldest) {
                self.total -= p.samples().len();
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn resample_keeps_duration_and_frequency() {
        // 1 s of 440 Hz at 22050 Hz → 8000 samples whose zero crossings still say 440 Hz.
        let input: Vec<i16> = (0..22050)
            .map(|n| {
                (10000.0 * (2.0 * std::f32::consts::PI * 440.0 * n as f32 / 22050.0).sin()) as i16
            })
            .collect();
        let out = resample_to_8k(&input, 22050).unwrap();
        assert_eq!(out.len(), 8000);
        let crossings = out.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!(
            (870..=890).contains(&crossings),
            "{crossings} zero crossings"
        );
        let peak = out[400..7600]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0);
        assert!((9000..=11000).contains(&peak), "level kept: {peak}");
        // 5 kHz is above the new Nyquist frequency and must be filtered out, not aliased.
        let high: Vec<i16> = (0..22050)
            .map(|n| {
                (10000.0 * (2.0 * std::f32::consts::PI * 5000.0 * n as f32 / 22050.0).sin()) as i16
            })
            .collect();
        let out = resample_to_8k(&high, 22050).unwrap();
        let peak = out[400..7600]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap_or(0);
        assert!(peak < 500, "aliasing: {peak}");
    }

    #[test]
    fn cache_evicts_least_recently_used_by_size() {
        let mut c = PromptCache::default();
        let big = || Prompt::from_samples(vec![0; CACHE_CAP_SAMPLES / 2]);
        c.insert("a".into(), big());
        c.insert("b".into(), big());
        assert!(c.get("a").is_some()); // a is now more recent than b
        c.insert("c".into(), big());
        assert!(c.get("b").is_none(), "b was least recently used");
        assert!(c.get("a").is_some() && c.get("c").is_some());
        assert!(c.total <= CACHE_CAP_SAMPLES);
    }

    /// Energy envelope in 20 ms blocks.
    fn envelope(samples: &[i16]) -> Vec<f64> {
        samples
            .chunks(160)
            .map(crate::media::test_audio::rms)
            .collect()
    }

    fn correlation(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let ma = a.iter().sum::<f64>() / n as f64;
        let mb = b.iter().sum::<f64>() / n as f64;
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }

    /// Our rendering is real speech: as long as the espeak-ng CLI's own rendering of the same
    /// text (within 10 %) with the same energy envelope, and cached on the second call.
    #[tokio::test]
    async fn renders_like_the_espeak_cli() {
        let tts = Tts::new(None).expect("Debian espeak-ng-data is installed");
        let text = "Hello agent, subject code 4 2";
        let prompt = tts.render(text).await.expect("render");
        let ours = prompt.samples();
        let cli = crate::media::test_audio::espeak_cli_8k(text, &[]);
        let ratio = ours.len() as f64 / cli.len() as f64;
        assert!(
            (0.9..=1.1).contains(&ratio),
            "duration {} vs CLI {} samples",
            ours.len(),
            cli.len()
        );
        assert!(
            (1.0..6.0).contains(&prompt.duration().as_secs_f64()),
            "{:?}",
            prompt.duration()
        );
        let (ours_t, cli_t) = (
            crate::media::test_audio::trim_silence(ours, 300.0),
            crate::media::test_audio::trim_silence(&cli, 300.0),
        );
        let ratio = ours_t.len() as f64 / cli_t.len() as f64;
        assert!(
            (0.9..=1.1).contains(&ratio),
            "voiced part {} vs {}",
            ours_t.len(),
            cli_t.len()
        );
        assert!(
            crate::media::test_audio::rms(ours_t) > 1000.0,
            "not silence"
        );
        let r = correlation(&envelope(ours_t), &envelope(cli_t));
        assert!(r > 0.8, "energy envelopes differ: r = {r:.2}");
        let again = tts.render(text).await.expect("render");
        assert!(
            std::ptr::eq(again.samples(), prompt.samples()),
            "second render comes from the cache"
        );
    }

    #[tokio::test]
    async fn refuses_bad_text_and_missing_data() {
        let tts = Tts::new(None).expect("Debian espeak-ng-data is installed");
        assert!(matches!(tts.render("  ").await, Err(TtsError::EmptyText)));
        assert!(matches!(
            tts.render("a\0b").await,
            Err(TtsError::TextHasNul)
        ));
        let long = "a ".repeat(MAX_TEXT_LEN);
        assert!(matches!(
            tts.render(&long).await,
            Err(TtsError::TextTooLong { .. })
        ));
        let missing = Tts::new(Some(PathBuf::from("/nonexistent/espeak")));
        assert!(matches!(missing, Err(TtsError::DataNotFound { .. })));
    }
}
