//! The user's phone is busy (486): the call ends at once as `user_busy`, the browser hears
//! so, the center is never dialed and nothing is left open.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::assert_no_debug_output;
use testkit::seed;

#[tokio::test]
async fn busy_user_ends_the_call_without_dialing_the_center() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user_scenario: "uas_busy.xml",
            ..RigOptions::default()
        },
    )
    .unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(2), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(events, ["status:calling", "ended:user_busy"]);
    rig.user.passed(Duration::from_secs(10)).await.unwrap();
    let call = rig
        .wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        call.end_cause.map(|c| c.to_string()).as_deref(),
        Some("user_busy")
    );
    assert_eq!(
        call.user_end_cause.map(|c| c.to_string()).as_deref(),
        Some("busy")
    );
    assert_eq!(call.center_end_cause, None);
    assert!(rig.center.received_invites().is_empty());
    let timeline = rig.timeline(&session).unwrap();
    assert_no_debug_output(&timeline);
    assert_in_order(
        &kinds(&timeline),
        &["started", "dialing", "failed", "ending", "finished"],
    );
    assert!(!kinds(&timeline).contains(&"bridged"));
    assert_eq!(rig.active_calls().unwrap(), 0);
}
