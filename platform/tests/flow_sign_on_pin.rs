//! Sign-on by PIN (seed 002 step 213, policy `sign_on: pin`): a wrong PIN gets the "wrong PIN"
//! prompt and another try, the right one starts the whisper and the bridge; three wrong PINs
//! end the call as `sign_on_failed` with both legs hung up, and the user never bridged to an
//! agent who did not sign on.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::{assert_end_causes, assert_no_debug_output};
use testkit::seed::{self, Seed};
use testkit::sipp::SippOptions;

fn pin_policy() -> Seed {
    Seed::with_policy(json!({ "sign_on": { "mode": "pin", "pin": "34" } }))
}

#[tokio::test]
async fn right_pin_at_the_second_try_bridges() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center_scenario: "flow_center_pin_retry.xml",
            center: SippOptions::pausing(4000),
            seed: pin_policy(),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(12), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "status:calling",
            "status:connecting",
            "status:agent_on_line",
            "ended:agent_hung_up"
        ]
    );
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    let timeline = rig.timeline(&session).unwrap();
    assert_no_debug_output(&timeline);
    let steps = kinds(&timeline);
    assert_in_order(
        &steps,
        &[
            "sign_on_waiting",
            "sign_on_wrong_pin",
            "sign_on_ok",
            "whisper_start",
            "bridged",
        ],
    );
    assert_eq!(
        steps.iter().filter(|k| **k == "sign_on_wrong_pin").count(),
        1
    );
    // PIN digits never reach the timeline (digit rows read "center leg key N").
    assert!(
        !timeline
            .iter()
            .any(|e| e.detail().to_string().contains(" key ")),
        "{timeline:?}"
    );
}

#[tokio::test]
async fn three_wrong_pins_end_the_call() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center_scenario: "flow_center_pin_wrong.xml",
            seed: pin_policy(),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(13), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "status:calling",
            "status:connecting",
            "ended:sign_on_failed"
        ]
    );
    let (call, timeline) = rig
        .finished_after_phones(&session, Duration::from_secs(20), Duration::from_secs(40))
        .await
        .unwrap();
    assert_no_debug_output(&timeline);
    assert_end_causes(&call, "sign_on_failed", "local_hangup", "local_hangup");
    let steps = kinds(&timeline);
    assert_eq!(
        steps.iter().filter(|k| **k == "sign_on_wrong_pin").count(),
        2
    );
    assert_in_order(
        &steps,
        &["sign_on_failed", "ending", "farewell", "finished"],
    );
    assert!(!steps.contains(&"bridged"));
    assert_eq!(rig.active_calls().unwrap(), 0);
}
