//! A TCP trunk: the INVITE goes over TCP (SIPp runs with -t t1 and only listens on TCP) with
//! the same TAG2 headers, and both hang-up directions work over it.

mod common;

use std::time::Duration;

use common::*;
use voice::{EndCause, Transport};

#[tokio::test]
async fn answered_over_tcp_then_local_hangup() {
    let sipp = Sipp::uas("uas_answer.xml", true);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Tcp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;
    leg.hangup().expect("hangup");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    sipp.assert_passed(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn remote_bye_over_tcp() {
    let sipp = Sipp::uas("uas_remote_bye.xml", true);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Tcp)]).await;

    let (_leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::RemoteHangup);
    sipp.assert_passed(Duration::from_secs(10)).await;
}
