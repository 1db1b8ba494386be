//! Call order "simultaneous" (policy `simultaneous`): both legs are dialed at once; the user,
//! who answers first, waits on hold until the agent signed on and heard the whisper; then the
//! bridge, pages and end.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::dial_details;
use testkit::seed::{self, Seed};
use testkit::sipp::SippOptions;

#[tokio::test]
async fn simultaneous_dials_both_legs_at_once() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center: SippOptions::pausing(5000),
            seed: Seed::with_policy(json!({ "call_order": "simultaneous" })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(9), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "status:calling",
            "status:connecting",
            "status:agent_on_line",
            "page:Tariff overview",
            "page:Contract terms",
            "ended:agent_hung_up"
        ]
    );
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    let timeline = rig.timeline(&session).unwrap();
    let steps = kinds(&timeline);
    // Both dials come before any answer.
    assert_in_order(
        &steps,
        &["started", "dialing", "dialing", "answered", "answered"],
    );
    assert_in_order(
        &steps,
        &[
            "sign_on_ok",
            "whisper_end",
            "bridged",
            "page_pushed",
            "page_pushed",
        ],
    );
    let dials = dial_details(&timeline);
    assert_eq!(dials.len(), 2);
    assert!(dials[0].starts_with("user leg") && dials[1].starts_with("center leg"));
    let call = rig
        .wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        call.end_cause.map(|c| c.to_string()).as_deref(),
        Some("agent_hung_up")
    );
    assert_eq!(rig.active_calls().unwrap(), 0);
}
