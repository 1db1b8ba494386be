//! A line that dies during the bridge (issue 11 item 3): the agent's phone streams 2 s of
//! audio and goes silent with no BYE, as when its link drops. After the media timeout (30 s
//! without RTP) the platform hangs up both legs, and the record and the browser say the
//! agent's line was lost, not that the agent hung up.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use subscriber_db::Word;
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::{assert_end_causes, assert_no_debug_output};
use testkit::seed::{self, Seed};

#[tokio::test]
async fn an_agent_line_gone_silent_is_lost_not_hung_up() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user_scenario: "flow_answer_stream_wait_bye.xml",
            center_scenario: "flow_answer_stream_then_silent.xml",
            seed: Seed::with_policy(json!({ "sign_on": { "mode": "none" } })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    // 2 s of audio, then the 30 s media timeout, then the hang-ups.
    let (session, events) = rig
        .call_until_ended(&seed::user_number(16), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "status:calling",
            "status:connecting",
            "status:agent_on_line",
            "ended:agent_line_lost"
        ]
    );
    // Both phones got our BYE (each scenario fails without one).
    rig.center.passed(Duration::from_secs(10)).await.unwrap();
    rig.user.passed(Duration::from_secs(10)).await.unwrap();
    let call = rig
        .wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    // The center leg ended on the network (no RTP), the user's by us.
    assert_end_causes(&call, "agent_line_lost", "local_hangup", "network_error");
    assert_eq!(call.hung_up_first.map(|h| h.word()), Some("platform"));
    let timeline = rig.timeline(&session).unwrap();
    assert_no_debug_output(&timeline);
    assert_in_order(
        &kinds(&timeline),
        &["bridged", "hung_up", "ending", "finished"],
    );
    let lost = timeline.iter().find(|e| e.kind() == "hung_up").unwrap();
    assert_eq!(lost.detail()["leg"], "center");
    assert_eq!(lost.detail()["end"], "network_error");
    assert!(
        rig.cb.logs().contains("no RTP from the far end"),
        "the operator sees why"
    );
}
