//! In-band DTMF from a real SIPp peer. The peer answers with PCMU only (no telephone-event),
//! so the leg must find keys in the audio itself (Goertzel), then streams audio as RTP with
//! SIPp's own RTP streamer (`tests/sipp/uas_inband_tones.xml`) and hangs up when it is done.
//!
//! - `sox_tones_every_key_once_in_order`: `sox` makes the twelve keys 0-9, `*`, `#` (100 ms dual
//!   tone, 100 ms silence, each tone at -10 dBFS) as 8 kHz µ-law; each key must be reported
//!   exactly once, in order, as `DigitVia::InBand`, and nothing else.
//! - `speech_gives_no_digit`: espeak-ng speech (several seconds, no tones) over the same path
//!   must produce no digit at all, while the leg demonstrably received the whole stream.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use voice::{Codec, DigitVia, EndCause, LegEvent, Transport};
use words::DtmfKey;

/// 8 kHz µ-law: one byte per sample, one RTP packet (20 ms) per 160 bytes.
const BYTES_PER_MS: usize = 8;
const PACKET: usize = 160;

/// The DTMF frequency pair of a key (ITU-T Q.23), written out here independently of the
/// detector's own table.
fn key_frequencies(key: char) -> (u32, u32) {
    let low = match key {
        '1' | '2' | '3' => 697,
        '4' | '5' | '6' => 770,
        '7' | '8' | '9' => 852,
        '*' | '0' | '#' => 941,
        _ => panic!("not a keypad key: {key}"),
    };
    let high = match key {
        '1' | '4' | '7' | '*' => 1209,
        '2' | '5' | '8' | '0' => 1336,
        '3' | '6' | '9' | '#' => 1477,
        _ => panic!("not a keypad key: {key}"),
    };
    (low, high)
}

/// Runs `sox` and fails the test with its arguments if it does not succeed.
fn sox(args: &[&str]) {
    let status = Command::new("sox")
        .args(args)
        .status()
        .expect("sox is installed (apt-get install sox)");
    assert!(status.success(), "sox {args:?} failed");
}

/// Raw 8 kHz µ-law output options for `sox`.
fn ulaw_out(path: &Path) -> Vec<String> {
    [
        "-r", "8000", "-c", "1", "-e", "mu-law", "-b", "8", "-t", "raw",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([path.to_string_lossy().into_owned()])
    .collect()
}

/// Each key as `sox` synthesises it: both sines for 100 ms mixed to one channel (each at half
/// scale), 4 dB down (each tone -10 dBFS), then 100 ms of silence; keys concatenated.
fn sox_key_tones(keys: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary directory for sox");
    let mut audio = Vec::new();
    for (i, key) in keys.chars().enumerate() {
        let (low, high) = key_frequencies(key);
        let path = dir.path().join(format!("key{i}.ul"));
        let (low, high) = (low.to_string(), high.to_string());
        let mut args: Vec<String> = vec!["-V1".into(), "-n".into()];
        args.extend(ulaw_out(&path));
        args.extend(
            [
                "synth", "0.1", "sine", &low, "sine", &high, "remix", "-", "gain", "-4", "pad",
                "0", "0.1",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        sox(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let bytes = std::fs::read(&path).expect("sox wrote the key");
        assert_eq!(
            bytes.len(),
            200 * BYTES_PER_MS,
            "key {key}: 200 ms of µ-law"
        );
        audio.extend(bytes);
    }
    audio
}

/// The `espeak-ng` CLI's speech, converted by `sox` to 8 kHz µ-law.
fn espeak_speech(text: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temporary directory for espeak-ng");
    let wav = dir.path().join("speech.wav");
    let status = Command::new("espeak-ng")
        .arg("-w")
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng is installed (apt-get install espeak-ng)");
    assert!(status.success(), "espeak-ng failed");
    let out = dir.path().join("speech.ul");
    let mut args = vec!["-V1".to_string(), wav.to_string_lossy().into_owned()];
    args.extend(ulaw_out(&out));
    sox(&args.iter().map(String::as_str).collect::<Vec<_>>());
    std::fs::read(&out).expect("sox wrote the speech")
}

/// What the leg reported while the peer streamed `audio` to it.
struct Heard {
    /// Digits with their time after `Answered`.
    digits: Vec<(DtmfKey, DigitVia, Duration)>,
    /// Every other event between `Answered` and `HungUp`.
    others: Vec<LegEvent>,
    /// RTP packets the leg accepted from the peer, and packets it dropped as malformed or
    /// with a payload type it did not negotiate.
    received: u64,
    dropped: u64,
}

/// Streams `audio` (raw µ-law) from a SIPp peer that negotiated PCMU only, until it hangs up.
async fn stream_to_leg(audio: &[u8]) -> Heard {
    let audio_ms = audio.len() / BYTES_PER_MS;
    // The peer's bare <pause/> lasts -d: the whole stream plus a margin for the last packets.
    let pause = (audio_ms + 1000).to_string();
    let sipp = Sipp::uas_with_files(
        "uas_inband_tones.xml",
        &[("audio.ul", audio)],
        &["-d", &pause],
    );
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    let answered = until_answered(&mut events).await;
    let answered_at = Instant::now();
    assert!(
        matches!(
            answered.last(),
            Some(LegEvent::Answered { codec: Codec::Pcmu })
        ),
        "the peer offered PCMU only: {answered:?}"
    );
    // Kept past the hang-up: its counters outlive the call.
    let media = leg.media().expect("an answered leg has media");

    let mut heard = Heard {
        digits: Vec::new(),
        others: Vec::new(),
        received: 0,
        dropped: 0,
    };
    let cause = loop {
        match next_event(&mut events, "digits or the peer's BYE").await {
            LegEvent::Digit { key, via } => heard.digits.push((key, via, answered_at.elapsed())),
            LegEvent::HungUp(cause) => break cause,
            other => heard.others.push(other),
        }
    };
    assert_eq!(
        cause,
        EndCause::RemoteHangup,
        "the peer hangs up after its stream; heard {:?}",
        heard.digits
    );
    assert_stream_ends(&mut events).await;
    let stats = media.stats();
    heard.received = stats.received;
    heard.dropped = stats.malformed + stats.unexpected_pt + stats.wrong_source;
    sipp.assert_passed(Duration::from_secs(15)).await;
    eprintln!(
        "streamed {audio_ms} ms ({} packets); leg received {} RTP packets, dropped {}; \
         digits (key, via, after answer): {:?}",
        audio.len().div_ceil(PACKET),
        heard.received,
        heard.dropped,
        heard.digits
    );
    heard
}

/// The leg got (nearly) the whole stream as PCMU, so what it reports is about this audio.
fn assert_stream_arrived(heard: &Heard, audio: &[u8]) {
    let packets = audio.len().div_ceil(PACKET) as u64;
    assert!(
        heard.received * 10 >= packets * 9,
        "only {} of {packets} RTP packets reached the leg",
        heard.received
    );
    assert_eq!(heard.dropped, 0, "the peer's RTP was all valid PCMU");
}

#[tokio::test]
async fn sox_tones_every_key_once_in_order() {
    let keys = "0123456789*#";
    let audio = sox_key_tones(keys);
    let heard = stream_to_leg(&audio).await;
    assert_stream_arrived(&heard, &audio);

    let got: String = heard
        .digits
        .iter()
        .map(|(key, _, _)| key.as_char())
        .collect();
    assert_eq!(got, keys, "every key exactly once, in order");
    for (key, via, _) in &heard.digits {
        assert_eq!(*via, DigitVia::InBand, "key {key} came from the audio");
    }
    assert!(
        heard.others.is_empty(),
        "nothing but digits between answer and hang-up: {:?}",
        heard.others
    );
}

#[tokio::test]
async fn speech_gives_no_digit() {
    let text = "Thank you for calling. Your call is important to us. An agent will be with you \
        shortly. Please have your account number ready, and remember that our office hours are \
        Monday to Friday from nine in the morning until six in the evening.";
    let audio = espeak_speech(text);
    assert!(
        audio.len() >= 8 * 1000 * BYTES_PER_MS,
        "at least 8 s of speech, got {} ms",
        audio.len() / BYTES_PER_MS
    );
    let heard = stream_to_leg(&audio).await;
    assert_stream_arrived(&heard, &audio);

    assert!(
        heard.digits.is_empty(),
        "speech must not give digits: {:?}",
        heard.digits
    );
    assert!(
        heard.others.is_empty(),
        "nothing between answer and hang-up: {:?}",
        heard.others
    );
}
