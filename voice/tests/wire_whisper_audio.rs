//! Spoken audio is real: what `say` puts on the wire, captured by tshark on loopback and
//! decoded by sox, is espeak-ng's own rendering of the same text — same duration (within 10 %)
//! and the same energy envelope (Pearson r ≥ 0.8 on 20 ms RMS frames after the best alignment
//! within ±200 ms). The same check rejects a different sentence, so it can fail. The stream
//! itself has one SSRC and continuous sequence numbers and timestamps.

mod common;

use std::time::Duration;

use common::wire::{self, Capture};
use common::*;
use voice::{EndCause, LegEvent, Transport};

/// A whisper-like sentence with its codes already spelled digit by digit: that is how voice
/// receives a whisper, since spelling is the platform's whisper's job (platform/src/flow/
/// whisper.rs, the platform's one digit speller) and voice, which may not depend on the
/// platform, speaks text as given. Written out here so the reference espeak-ng renders is
/// the very text said.
const TEXT: &str = "Caller for order 4 7 1 1, subject code 4 2, from the pricing page.";
/// A different sentence of about the same length (so duration alone cannot tell them apart):
/// the negative control.
const OTHER_TEXT: &str =
    "Good morning, the weather is sunny and mild today, with a light breeze from the west coast.";
/// Our Tts selects the voice `en` at espeak-ng's default rate (175 words a minute); the CLI
/// gets the same settings explicitly.
const ESPEAK_ARGS: &[&str] = &["-v", "en", "-s", "175"];
/// RMS of a 20 ms frame above which it counts as speech, not silence.
const SILENCE: f64 = 300.0;
/// ±200 ms in 20 ms frames.
const MAX_SHIFT_FRAMES: usize = 10;

struct Verdict {
    duration_ratio: f64,
    r: f64,
    shift_ms: isize,
}

impl Verdict {
    fn matches(&self) -> bool {
        (0.9..=1.1).contains(&self.duration_ratio) && self.r >= 0.8
    }
}

fn compare(wire_audio: &[i16], reference: &[i16]) -> Verdict {
    let ours = wire::trim_silence(wire_audio, SILENCE);
    let theirs = wire::trim_silence(reference, SILENCE);
    assert!(!theirs.is_empty(), "espeak-ng rendered only silence");
    let (r, shift) = wire::best_aligned_correlation(
        &wire::envelope(ours),
        &wire::envelope(theirs),
        MAX_SHIFT_FRAMES,
    );
    Verdict {
        duration_ratio: ours.len() as f64 / theirs.len() as f64,
        r,
        shift_ms: shift * 20,
    }
}

#[tokio::test]
async fn said_text_on_the_wire_is_espeaks_rendering() {
    let sipp = Sipp::uas("uas_answer.xml", false);
    let media_port = sipp.media_port;
    // Only the far end's media port: what we send to it, nothing of other tests.
    let capture = Capture::start(&format!("udp and dst port {media_port}"));
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    let answered = until_answered(&mut events).await;
    assert!(
        answered.contains(&LegEvent::Answered {
            codec: voice::Codec::Pcmu
        }),
        "the SIPp peer answers PCMU: {answered:?}"
    );
    leg.say(TEXT, false).await.expect("say");
    loop {
        match next_event(&mut events, "PlayoutDone").await {
            LegEvent::PlayoutDone => break,
            LegEvent::HungUp(cause) => panic!("hung up during the prompt: {cause:?}"),
            _ => {}
        }
    }
    // A few frames of silence after the prompt, so the capture holds all of it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    leg.hangup().expect("hangup");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    sipp.assert_passed(Duration::from_secs(10)).await;
    let file = capture.stop();

    let packets = file.rtp_packets(&[media_port]);
    println!(
        "captured {} RTP packets to the peer\n{}",
        packets.len(),
        file.rtp_streams_report(&[media_port])
    );
    assert!(
        packets.iter().all(|p| p.payload_type == 0),
        "every packet is PCMU (payload type 0)"
    );
    let irregular = wire::assert_one_continuous_stream(&packets, "our stream to the peer");
    println!(
        "one SSRC {:#010x}, {} packets, seq continuous, {irregular} timestamp steps other than 160",
        packets[0].ssrc,
        packets.len()
    );

    let bytes: Vec<u8> = packets.iter().flat_map(|p| p.payload.clone()).collect();
    let on_wire = wire::sox_decode_g711(&bytes, "ul");
    let reference = wire::espeak_cli_8k(TEXT, ESPEAK_ARGS);
    let voiced = wire::trim_silence(&on_wire, SILENCE);
    let ref_voiced = wire::trim_silence(&reference, SILENCE);
    println!(
        "speech on the wire {:.3} s, espeak-ng reference {:.3} s (voiced parts)",
        voiced.len() as f64 / 8000.0,
        ref_voiced.len() as f64 / 8000.0
    );
    let same = compare(&on_wire, &reference);
    println!(
        "same text: duration ratio {:.3}, envelope r = {:.5} at shift {} ms",
        same.duration_ratio, same.r, same.shift_ms
    );
    assert!(
        same.matches(),
        "the audio on the wire is not espeak-ng's rendering of the text: duration ratio {:.3}, r = {:.3}",
        same.duration_ratio,
        same.r
    );

    // Negative control: the same check must reject another sentence.
    let other = wire::espeak_cli_8k(OTHER_TEXT, ESPEAK_ARGS);
    let different = compare(&on_wire, &other);
    println!(
        "other text: duration ratio {:.3}, envelope r = {:.5} at shift {} ms",
        different.duration_ratio, different.r, different.shift_ms
    );
    assert!(
        !different.matches(),
        "the check cannot tell a different sentence apart: ratio {:.3}, r = {:.3}",
        different.duration_ratio,
        different.r
    );
    assert!(
        different.r < 0.8,
        "another sentence correlates as well as the same one (r = {:.3}); the check proves little",
        different.r
    );
}
