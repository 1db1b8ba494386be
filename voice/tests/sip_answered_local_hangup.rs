//! A call center answers; we hang up. The INVITE carries the TAG2 headers (checked by the
//! SIPp scenario), the leg reports Ringing then Answered with PCMU, and our BYE ends it.

mod common;

use std::time::Duration;

use common::*;
use voice::{Codec, EndCause, LegEvent, Transport, VoiceError};

#[tokio::test]
async fn answered_call_then_local_hangup() {
    let sipp = Sipp::uas("uas_answer.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    // Media commands need an answered leg; before that they say so.
    assert!(matches!(leg.stop_playing(), Err(VoiceError::NotAnswered)));
    let before = until_answered(&mut events).await;
    assert!(before.contains(&LegEvent::Ringing), "events {before:?}");
    assert_eq!(
        before.last(),
        Some(&LegEvent::Answered { codec: Codec::Pcmu })
    );
    assert!(leg.media().is_some(), "an answered leg has media");

    leg.hangup().expect("hangup accepted");
    let (rest, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup, "events after answer {rest:?}");
    assert!(leg.media().is_none(), "media is released when the leg ends");
    assert_stream_ends(&mut events).await;
    assert!(matches!(leg.hangup(), Err(VoiceError::LegEnded)));
    sipp.assert_passed(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn dropping_an_answered_leg_hangs_up() {
    let sipp = Sipp::uas("uas_answer.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;
    let clone = leg.clone();
    drop(leg);
    // A clone keeps the call: nothing ends while one handle lives.
    let early = tokio::time::timeout(Duration::from_millis(500), events.recv()).await;
    assert!(
        early.is_err(),
        "leg ended while a clone was alive: {early:?}"
    );
    drop(clone);
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    sipp.assert_passed(Duration::from_secs(10)).await;
}
