//! The user hangs up during the bridge (seed 002 step 218): the platform hangs up the agent's
//! leg at once, the browser gets `ended` (Disconnect), and the record says `user_hung_up` with
//! the user leg ended by the far end and the center leg by us.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::{assert_end_causes, assert_no_debug_output};
use testkit::seed::{self, Seed};

#[tokio::test]
async fn user_hanging_up_in_the_bridge_releases_the_agent() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user_scenario: "flow_answer_stream_then_bye.xml",
            center_scenario: "flow_answer_stream_wait_bye.xml",
            seed: Seed::with_policy(json!({ "sign_on": { "mode": "none" } })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(15), Duration::from_secs(40))
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "status:calling",
            "status:connecting",
            "status:agent_on_line",
            "ended:user_hung_up"
        ]
    );
    rig.user.passed(Duration::from_secs(10)).await.unwrap();
    // The agent's phone got our BYE (its scenario fails without one).
    rig.center.passed(Duration::from_secs(10)).await.unwrap();
    let call = rig
        .wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    assert_end_causes(&call, "user_hung_up", "remote_hangup", "local_hangup");
    let timeline = rig.timeline(&session).unwrap();
    assert_no_debug_output(&timeline);
    assert_in_order(
        &kinds(&timeline),
        &["bridged", "hung_up", "ending", "hangup", "finished"],
    );
    assert_eq!(rig.active_calls().unwrap(), 0);
}
