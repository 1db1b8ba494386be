//! Stopping the service hangs up what is up: an answered leg gets a BYE before the SIP sockets
//! close (SIPp waits for it), and no new call is accepted.

mod common;

use std::time::Duration;

use common::*;
use voice::{EndCause, Transport, VoiceError};

#[tokio::test]
async fn shutdown_sends_bye_then_refuses_calls() {
    let sipp = Sipp::uas("uas_answer.xml", false);
    let (voice, shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (_leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;
    shutdown.cancel();
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    sipp.assert_passed(Duration::from_secs(10)).await;

    let again = voice
        .originate(center_request(Duration::from_secs(10)))
        .await;
    assert!(matches!(again, Err(VoiceError::ShutDown)));
}
