//! The user's phone rings and nobody answers: at the policy's ring timeout the platform
//! CANCELs it (SIPp answers 487) and the call ends as `user_no_answer`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::{assert_no_debug_output, first_at_ms};
use testkit::seed::{self, Seed};

#[tokio::test]
async fn unanswered_user_is_cancelled_at_the_ring_timeout() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user_scenario: "uas_ring_forever.xml",
            seed: Seed::with_policy(json!({ "ring_timeout_user_secs": 5 })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(3), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(events, ["status:calling", "ended:user_no_answer"]);
    // SIPp saw our CANCEL and ended the INVITE with 487: nothing rings on.
    rig.user.passed(Duration::from_secs(10)).await.unwrap();
    let call = rig
        .wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        call.end_cause.map(|c| c.to_string()).as_deref(),
        Some("user_no_answer")
    );
    assert_eq!(
        call.user_end_cause.map(|c| c.to_string()).as_deref(),
        Some("no_answer")
    );
    assert!(rig.center.received_invites().is_empty());
    let timeline = rig.timeline(&session).unwrap();
    assert_no_debug_output(&timeline);
    assert_in_order(
        &kinds(&timeline),
        &["dialing", "ringing", "no_answer", "ending", "finished"],
    );
    // The timeout was the policy's, not a default: 5 s between dialing and giving up.
    let waited = first_at_ms(&timeline, "no_answer") - first_at_ms(&timeline, "dialing");
    assert!((4500..8000).contains(&waited), "rang {waited} ms");
    assert_eq!(rig.active_calls().unwrap(), 0);
}
