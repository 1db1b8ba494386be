//! Test-only: real audio from the real tools (`sox`, the `espeak-ng` CLI) as 8 kHz linear
//! samples, so detector and TTS tests run against independent references, not our own output.

use std::path::Path;
use std::process::Command;

/// Reads a raw little-endian 16-bit file.
fn read_raw(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).expect("sox wrote the raw file");
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Runs `sox <inputs...> -r 8000 -c 1 -b 16 -e signed-integer -t raw OUT <effects...>`.
pub(crate) fn sox_8k(inputs: &[&str], effects: &[&str]) -> Vec<i16> {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.raw");
    let status = Command::new("sox")
        .args(inputs)
        .args([
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-t",
            "raw",
        ])
        .arg(&out)
        .args(effects)
        .status()
        .expect("sox is installed (apt sox)");
    assert!(status.success(), "sox failed: {inputs:?} {effects:?}");
    read_raw(&out)
}

/// A DTMF key as `sox` synthesises it: both tones, `ms` long, mixed to one channel at -6 dB.
pub(crate) fn sox_dtmf(low: u32, high: u32, ms: u32) -> Vec<i16> {
    let secs = format!("{:.3}", f64::from(ms) / 1000.0);
    let (low, high) = (low.to_string(), high.to_string());
    sox_8k(
        &["-n"],
        &[
            "synth", &secs, "sine", &low, "sine", &high, "remix", "-", "gain", "-6",
        ],
    )
}

/// The `espeak-ng` CLI's own rendering of `text` (with extra CLI args such as a voice),
/// converted to 8 kHz by `sox`.
pub(crate) fn espeak_cli_8k(text: &str, extra: &[&str]) -> Vec<i16> {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("speech.wav");
    let status = Command::new("espeak-ng")
        .args(extra)
        .arg("-w")
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng CLI is installed (apt espeak-ng)");
    assert!(status.success(), "espeak-ng failed");
    let wav = wav.to_string_lossy().into_owned();
    sox_8k(&[&wav], &[])
}

/// Root-mean-square level.
pub(crate) fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// Samples between the first and last 20 ms block louder than `threshold` RMS.
pub(crate) fn trim_silence(samples: &[i16], threshold: f64) -> &[i16] {
    let loud: Vec<usize> = samples
        .chunks(160)
        .enumerate()
        .filter(|(_, c)| rms(c) > threshold)
        .map(|(i, _)| i)
        .collect();
    match (loud.first(), loud.last()) {
        (Some(&a), Some(&b)) => &samples[a * 160..((b + 1) * 160).min(samples.len())],
        _ => &[],
    }
}
