//! Trunks that challenge: 401 (WWW-Authenticate) and 407 (Proxy-Authenticate). SIPp's
//! verifyauth checks the digest in the retried INVITE against trunkuser/trunkpass, so a wrong
//! password must fail both sides.

mod common;

use std::time::Duration;

use common::*;
use voice::{EndCause, Transport, Trunk};

fn trunk_with(sipp: &Sipp, password: &str) -> Trunk {
    Trunk {
        username: Some("trunkuser".to_string()),
        password: Some(password.to_string()),
        ..trunk_to(sipp, Transport::Udp)
    }
}

async fn answered_after_challenge(scenario: &str) {
    let sipp = Sipp::uas(scenario, false);
    let (voice, _shutdown) = start_voice(vec![trunk_with(&sipp, "trunkpass")]).await;
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
async fn digest_answer_to_401() {
    answered_after_challenge("uas_auth_401.xml").await;
}

#[tokio::test]
async fn digest_answer_to_407() {
    answered_after_challenge("uas_auth_407.xml").await;
}

#[tokio::test]
async fn wrong_password_is_rejected() {
    let sipp = Sipp::uas("uas_auth_401.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_with(&sipp, "not-the-password")]).await;
    let (_leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::Rejected(403));
    let mut sipp = sipp;
    let code = sipp.exit_code(Duration::from_secs(10)).await;
    assert_ne!(code, 0, "SIPp must have seen a wrong digest");
}

#[tokio::test]
async fn no_credentials_leave_the_challenge_final() {
    let sipp = Sipp::uas("uas_auth_401.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;
    let (_leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::Rejected(401));
}
