//! 183 Session Progress with SDP is reported as EarlyMedia; when the 200 carries no SDP the
//! early answer is the answer, so the leg is Answered with the codec it chose (PCMA).

mod common;

use std::time::Duration;

use common::*;
use voice::{Codec, EndCause, LegEvent, Transport};

#[tokio::test]
async fn early_media_answer_carries_into_the_call() {
    let sipp = Sipp::uas("uas_early_media.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    let before = until_answered(&mut events).await;
    assert!(before.contains(&LegEvent::EarlyMedia), "events {before:?}");
    assert!(!before.contains(&LegEvent::Ringing), "events {before:?}");
    assert_eq!(
        before.last(),
        Some(&LegEvent::Answered { codec: Codec::Pcma })
    );
    leg.hangup().expect("hangup");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    sipp.assert_passed(Duration::from_secs(10)).await;
}
