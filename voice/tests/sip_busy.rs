//! 486 Busy Here becomes EndCause::Busy, with no Answered before it and the 486 ACKed
//! (the SIPp scenario waits for the ACK).

mod common;

use std::time::Duration;

use common::*;
use voice::{EndCause, LegEvent, Transport};

#[tokio::test]
async fn busy_is_reported_as_busy() {
    let sipp = Sipp::uas("uas_busy.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    let (before, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::Busy);
    assert!(
        !before
            .iter()
            .any(|e| matches!(e, LegEvent::Answered { .. })),
        "events {before:?}"
    );
    assert!(leg.media().is_none());
    assert_stream_ends(&mut events).await;
    sipp.assert_passed(Duration::from_secs(10)).await;
}
