//! The user answers, hears the hold announcement and hangs up while the center still rings:
//! the platform CANCELs the center leg and the call ends as `user_left_before_bridge`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use testkit::flow::{Rig, RigOptions, assert_in_order, kinds, summary};
use testkit::seed;

#[tokio::test]
async fn user_hanging_up_on_hold_cancels_the_ringing_center() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user_scenario: "flow_answer_then_bye.xml",
            center_scenario: "uas_ring_forever.xml",
            ..RigOptions::default()
        },
    )
    .unwrap();
    let session = rig.request_call(&seed::user_number(4)).await.unwrap();
    let events = rig
        .sse_until_ended(&session, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        summary(&events),
        [
            "status:calling",
            "status:connecting",
            "ended:user_left_before_bridge"
        ]
    );
    rig.user.passed(Duration::from_secs(10)).await.unwrap();
    // The center got our CANCEL (the scenario fails without it).
    rig.center.passed(Duration::from_secs(10)).await.unwrap();
    let call = rig
        .wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(call.end_cause.as_deref(), Some("user_left_before_bridge"));
    assert_eq!(call.user_end_cause.as_deref(), Some("remote_hangup"));
    assert_eq!(call.center_end_cause.as_deref(), Some("cancelled"));
    let timeline = rig.timeline(&session).unwrap();
    assert_in_order(
        &kinds(&timeline),
        &[
            "answered", "dialing", "hung_up", "ending", "cancel", "finished",
        ],
    );
    assert_eq!(rig.active_calls().unwrap(), 0);
}
