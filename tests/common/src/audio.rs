//! Checking speech that went over the wire: G.711 µ-law decoding, 20 ms energy envelopes,
//! and a reference rendering of the same text by the espeak-ng program (resampled to 8 kHz by
//! sox), compared by normalised cross-correlation of the envelopes. Independent of the
//! platform's own TTS code: the reference comes from the espeak-ng command-line tool.

use std::process::Command;

use anyhow::{Context, bail};

/// Samples per 20 ms frame at 8 kHz.
const FRAME: usize = 160;

/// ITU-T G.711 µ-law byte → linear sample.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    let value = if sign != 0 { -magnitude } else { magnitude };
    value as i16
}

/// RMS energy of each 20 ms frame.
pub fn envelope(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks(FRAME)
        .map(|frame| {
            let sum: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
            (sum / frame.len().max(1) as f64).sqrt()
        })
        .collect()
}

/// The envelope without its leading and trailing quiet frames (below 5 % of the peak).
pub fn trim(envelope: &[f64]) -> &[f64] {
    let peak = envelope.iter().cloned().fold(0.0, f64::max);
    let loud = |e: &f64| *e > peak * 0.05;
    let start = envelope.iter().position(loud).unwrap_or(0);
    let end = envelope.iter().rposition(loud).map_or(start, |i| i + 1);
    &envelope[start..end]
}

/// Highest Pearson correlation of `a` against `b` over shifts of up to `max_shift` frames.
pub fn best_correlation(a: &[f64], b: &[f64], max_shift: usize) -> f64 {
    let mut best = f64::MIN;
    for shift in -(max_shift as isize)..=(max_shift as isize) {
        let pairs: Vec<(f64, f64)> = (0..a.len())
            .filter_map(|i| {
                let j = i as isize + shift;
                (j >= 0 && (j as usize) < b.len()).then(|| (a[i], b[j as usize]))
            })
            .collect();
        if pairs.len() < 10 {
            continue;
        }
        let n = pairs.len() as f64;
        let (ma, mb) = (
            pairs.iter().map(|p| p.0).sum::<f64>() / n,
            pairs.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let cov: f64 = pairs.iter().map(|p| (p.0 - ma) * (p.1 - mb)).sum();
        let va: f64 = pairs.iter().map(|p| (p.0 - ma).powi(2)).sum();
        let vb: f64 = pairs.iter().map(|p| (p.1 - mb).powi(2)).sum();
        if va > 0.0 && vb > 0.0 {
            best = best.max(cov / (va.sqrt() * vb.sqrt()));
        }
    }
    best
}

/// `text` spoken by the espeak-ng program, as 8 kHz mono samples.
pub fn espeak_reference(text: &str) -> anyhow::Result<Vec<i16>> {
    let dir = tempfile::tempdir()?;
    let wav = dir.path().join("ref.wav");
    let raw = dir.path().join("ref.raw");
    let spoke = Command::new("espeak-ng")
        .arg("-w")
        .arg(&wav)
        .arg(text)
        .status()
        .context("running espeak-ng")?;
    if !spoke.success() {
        bail!("espeak-ng failed: {spoke}");
    }
    let converted = Command::new("sox")
        .arg(&wav)
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
        .arg(&raw)
        .status()
        .context("running sox")?;
    if !converted.success() {
        bail!("sox failed: {converted}");
    }
    let bytes = std::fs::read(&raw)?;
    Ok(bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_table_points() {
        // G.711: 0xFF and 0x7F are the two zeros, 0x00 and 0x80 the extremes.
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x7f), 0);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
    }

    #[test]
    fn correlation_finds_a_shifted_copy() {
        let a: Vec<f64> = (0..100).map(|i| ((i * 7) % 13) as f64).collect();
        let b: Vec<f64> = std::iter::repeat_n(0.0, 5)
            .chain(a.iter().cloned())
            .collect();
        assert!(best_correlation(&a, &b, 10) > 0.99);
        let flat = vec![1.0; 100];
        assert!(best_correlation(&a, &flat, 10) < 0.5);
    }
}
