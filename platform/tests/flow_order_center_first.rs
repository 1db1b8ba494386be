//! Call order "center first" (seed 002 step 206, policy `center_first`): the agent is reached
//! and signs on and hears the whisper before the user's phone is dialed; then the bridge,
//! the agent's pages and the end work as in the default order.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::dial_details;
use testkit::seed::{self, Seed};
use testkit::sipp::SippOptions;

#[tokio::test]
async fn center_first_dials_the_user_after_the_agent_signed_on() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            // Whisper, then the user is dialed and answers, before the agent keys.
            center: SippOptions::pausing(6000),
            seed: Seed::with_policy(json!({ "call_order": "center_first" })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(8), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "status:connecting",
            "status:calling",
            "status:agent_on_line",
            "page:Tariff overview",
            "page:Contract terms",
            "ended:agent_hung_up"
        ]
    );
    let (call, timeline) = rig
        .finished_after_phones(&session, Duration::from_secs(20), Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        call.end_cause.map(|c| c.to_string()).as_deref(),
        Some("agent_hung_up")
    );
    assert_in_order(
        &kinds(&timeline),
        &[
            "dialing",
            "answered",
            "sign_on_ok",
            "whisper_end",
            "dialing",
            "answered",
            "bridged",
            "page_pushed",
            "page_pushed",
            "finished",
        ],
    );
    let dials = dial_details(&timeline);
    assert!(
        dials[0].starts_with("center leg") && dials[1].starts_with("user leg"),
        "{dials:?}"
    );
    assert_eq!(rig.active_calls().unwrap(), 0);
}
