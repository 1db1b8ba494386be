//! A bridged call that nobody ends: a quarter of the way before the policy's maximum call
//! length (60 s, its lowest value) both parties are warned, each on its own leg (issue 11
//! item 9); at the maximum the platform hangs up both legs and the call ends as
//! `max_call_length`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::{assert_end_causes, assert_no_debug_output, first_at_ms};
use testkit::seed::{self, Seed};

#[tokio::test]
async fn bridged_call_is_ended_at_the_maximum_length() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            // Both phones keep sending audio, as people on a call do, so only the limit ends it.
            user_scenario: "flow_answer_stream_wait_bye.xml",
            center_scenario: "flow_answer_stream_wait_bye.xml",
            seed: Seed::with_policy(
                json!({ "max_call_length_secs": 60, "sign_on": { "mode": "none" } }),
            ),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(7), Duration::from_secs(90))
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "status:calling",
            "status:connecting",
            "status:agent_on_line",
            "ended:max_call_length"
        ]
    );
    let (call, timeline) = rig
        .finished_after_phones(&session, Duration::from_secs(10), Duration::from_secs(10))
        .await
        .unwrap();
    assert_no_debug_output(&timeline);
    assert_end_causes(&call, "max_call_length", "local_hangup", "local_hangup");
    assert_in_order(
        &kinds(&timeline),
        &[
            "started",
            "bridged",
            "max_duration_warning",
            "max_duration",
            "ending",
            "finished",
        ],
    );
    let warned = timeline
        .iter()
        .find(|e| e.kind() == "max_duration_warning")
        .unwrap();
    assert_eq!(warned.detail()["secs_left"], 15);
    let warned_after =
        first_at_ms(&timeline, "max_duration_warning") - first_at_ms(&timeline, "started");
    assert!(
        (44_500..50_000).contains(&warned_after),
        "warned after {warned_after} ms"
    );
    let lasted = first_at_ms(&timeline, "max_duration") - first_at_ms(&timeline, "started");
    assert!((59_500..65_000).contains(&lasted), "lasted {lasted} ms");
    assert_eq!(rig.active_calls().unwrap(), 0);
}
