//! The agent answers but never keys the sign-on `#`: at the policy's sign-on timeout the
//! platform hangs up the center, says goodbye to the user, hangs up, and the call ends as
//! `agent_never_signed_on`. The user never hears an unattended agent line.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::{assert_end_causes, assert_no_debug_output};
use testkit::seed::{self, Seed};

#[tokio::test]
async fn silent_agent_is_released_at_the_sign_on_timeout() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center_scenario: "flow_answer_wait_bye.xml",
            seed: Seed::with_policy(json!({ "sign_on_timeout_secs": 5 })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(6), Duration::from_secs(40))
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "status:calling",
            "status:connecting",
            "ended:agent_never_signed_on"
        ]
    );
    // Both phones got our BYE.
    let (call, timeline) = rig
        .finished_after_phones(&session, Duration::from_secs(10), Duration::from_secs(40))
        .await
        .unwrap();
    assert_no_debug_output(&timeline);
    assert_end_causes(
        &call,
        "agent_never_signed_on",
        "local_hangup",
        "local_hangup",
    );
    let steps = kinds(&timeline);
    assert_in_order(
        &steps,
        &[
            "sign_on_waiting",
            "sign_on_timeout",
            "ending",
            "hangup",
            "farewell",
            "hangup",
            "finished",
        ],
    );
    assert!(!steps.contains(&"bridged") && !steps.contains(&"whisper_start"));
    assert_eq!(rig.active_calls().unwrap(), 0);
}
