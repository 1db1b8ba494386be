//! The agent answers and hangs up before signing on: the user, on hold, hears the goodbye
//! announcement and is hung up; the call ends as `agent_left_before_bridge` — the user is
//! never left on hold with nobody coming.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::{assert_end_causes, assert_no_debug_output, first_at_ms};
use testkit::seed;

#[tokio::test]
async fn agent_hanging_up_before_the_bridge_ends_the_call_with_a_goodbye() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            // Answers, then sends BYE after a second.
            center_scenario: "uas_remote_bye.xml",
            ..RigOptions::default()
        },
    )
    .unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(16), Duration::from_secs(40))
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "status:calling",
            "status:connecting",
            "ended:agent_left_before_bridge"
        ]
    );
    // The center hung up; the user heard the goodbye and then got our BYE.
    let (call, timeline) = rig
        .finished_after_phones(&session, Duration::from_secs(10), Duration::from_secs(40))
        .await
        .unwrap();
    assert_no_debug_output(&timeline);
    assert_end_causes(
        &call,
        "agent_left_before_bridge",
        "local_hangup",
        "remote_hangup",
    );
    let steps = kinds(&timeline);
    assert_in_order(
        &steps,
        &[
            "sign_on_waiting",
            "hung_up",
            "ending",
            "farewell",
            "hangup",
            "finished",
        ],
    );
    assert!(!steps.contains(&"bridged"));
    // The goodbye played to its end before the hang-up (not cut at once).
    let at = |k: &str| first_at_ms(&timeline, k);
    let farewell_ms = at("finished") - at("farewell");
    assert!(farewell_ms >= 1000, "goodbye lasted {farewell_ms} ms");
    assert_eq!(rig.active_calls().unwrap(), 0);
}
