//! The far end holds and unholds with re-INVITEs. SIPp checks our 200s answer recvonly and then
//! sendrecv; the leg stays up through both and then reports the agent's BYE.

mod common;

use std::time::Duration;

use common::*;
use voice::{EndCause, Transport};

#[tokio::test]
async fn hold_and_unhold_keep_the_call() {
    let sipp = Sipp::uas("uas_reinvite_hold.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;
    let (between, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::RemoteHangup, "events {between:?}");
    assert!(leg.media().is_none());
    sipp.assert_passed(Duration::from_secs(10)).await;
}
