//! The call center hangs up first: its BYE is answered 200 (SIPp checks) and the leg reports
//! RemoteHangup, exactly once, as its last event.

mod common;

use std::time::Duration;

use common::*;
use voice::{EndCause, Transport};

#[tokio::test]
async fn remote_bye_ends_the_leg() {
    let sipp = Sipp::uas("uas_remote_bye.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;
    let (between, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::RemoteHangup, "events {between:?}");
    assert!(leg.media().is_none());
    assert_stream_ends(&mut events).await;
    sipp.assert_passed(Duration::from_secs(10)).await;
}
