//! Agent keys from a telephone-event stream whose timestamps go back under one SSRC (issue 11
//! item 6): the call center signs on with SIPp's stock `#` capture, whose timestamp is later
//! than the stock `1` and `2` played after it. Each key counts once: the pages for 1 and 2
//! are pushed, and the platform logs that it read a restarted stream.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use testkit::flow::{Rig, RigOptions, summary};
use testkit::seed;
use testkit::sipp::SippOptions;

#[tokio::test]
async fn keys_after_a_timestamp_jump_back_still_push_pages() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center_scenario: "flow_center_agent_stock_pcaps.xml",
            // Time for the whisper "Customer 4 7 1 1 about billing" before the agent keys.
            center: SippOptions::pausing(5000),
            user_scenario: "flow_answer_stream_wait_bye.xml",
            ..RigOptions::default()
        },
    )
    .unwrap();
    let session = rig.request_call(&seed::user_number(17)).await.unwrap();
    let events = rig
        .sse_until_ended(&session, Duration::from_secs(60))
        .await
        .unwrap();
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    assert_eq!(
        summary(&events),
        [
            "status:calling",
            "status:connecting",
            "status:agent_on_line",
            "page:Tariff overview",
            "page:Contract terms",
            "ended:agent_hung_up",
        ],
        "{events:?}"
    );
    assert!(
        rig.cb
            .logs()
            .contains("a restarted stream, read as a new key"),
        "the operator sees the jump"
    );
}
