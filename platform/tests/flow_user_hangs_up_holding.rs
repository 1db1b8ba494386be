//! The user answers, hears the hold announcement and hangs up while the center still rings:
//! the platform CANCELs the center leg and the call ends as `user_left_before_bridge`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::{assert_end_causes, assert_no_debug_output};
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
    let (session, events) = rig
        .call_until_ended(&seed::user_number(4), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        events,
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
    assert_end_causes(
        &call,
        "user_left_before_bridge",
        "remote_hangup",
        "cancelled",
    );
    let timeline = rig.timeline(&session).unwrap();
    assert_no_debug_output(&timeline);
    assert_in_order(
        &kinds(&timeline),
        &[
            "answered", "dialing", "hung_up", "ending", "cancel", "finished",
        ],
    );
    assert_eq!(rig.active_calls().unwrap(), 0);
}
