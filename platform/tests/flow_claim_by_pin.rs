//! Claim by personal PIN (issue 12 item 2a, policy `sign_on: agent_pin`): the digits the agent
//! keys after answering say which of the subscriber's active agents has the call. A known PIN
//! signs on, the call bridges and its record (and the admin API's call detail) names that
//! agent; a PIN nobody has counts as a wrong PIN with the usual retries. Real binary, SIPp as
//! both phones, the agent's keys from RFC 4733 captures (`tests/sipp/pcap/make_dtmf.py`).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};
use subscriber_db::{Db, NewAgent};
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::{assert_end_causes, assert_no_debug_output};
use testkit::seed::{self, Seed};
use testkit::sipp::SippOptions;

/// The PIN the agent keys in `flow_center_agent_pin.xml` (its capture is "4711#").
const ANN_PIN: &str = "4711";

fn agent_pin_policy() -> Seed {
    Seed::with_policy(json!({ "sign_on": { "mode": "agent_pin" } }))
}

/// Two agents of the subscriber; the keyed PIN is Ann's. Returns Ann's id.
fn add_agents(rig: &Rig) -> i64 {
    let db = Db::open(rig.cb.db_path()).unwrap();
    let agent = |login: &str, name: &str, pin: &str| -> NewAgent {
        serde_json::from_value(json!({
            "login": login, "display_name": name, "password": "a long password 1", "pin": pin,
        }))
        .unwrap()
    };
    let now = chrono::Utc::now();
    let ann = db
        .create_agent(&rig.sid, &agent("ann", "Ann Lee", ANN_PIN), now)
        .unwrap();
    db.create_agent(&rig.sid, &agent("bob", "Bob Roe", "1234"), now)
        .unwrap();
    ann.id.0
}

async fn admin_get(rig: &Rig, path: &str) -> Value {
    let (status, body) = rig.admin_get(path).await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn the_agent_whose_pin_it_is_has_the_call() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center_scenario: "flow_center_agent_pin.xml",
            center: SippOptions::pausing(3000),
            seed: agent_pin_policy(),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let ann = add_agents(&rig);
    let (session, events) = rig
        .call_until_ended(&seed::user_number(21), Duration::from_secs(60))
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
    let (call, timeline) = rig
        .finished_after_phones(&session, Duration::from_secs(20), Duration::from_secs(20))
        .await
        .unwrap();
    assert_no_debug_output(&timeline);
    let steps = kinds(&timeline);
    assert_in_order(
        &steps,
        &[
            "sign_on_waiting",
            "claimed",
            "sign_on_ok",
            "whisper_start",
            "bridged",
        ],
    );
    assert!(!steps.contains(&"sign_on_wrong_pin"), "{steps:?}");
    let claimed = timeline.iter().find(|e| e.kind() == "claimed").unwrap();
    assert_eq!(claimed.detail(), json!({ "agent_id": ann, "how": "pin" }));
    // The PIN itself is in no timeline row.
    let rows = serde_json::to_string(&timeline.iter().map(|e| e.detail()).collect::<Vec<_>>());
    assert!(!rows.unwrap().contains(ANN_PIN));
    let agent = call.agent.as_ref().unwrap();
    assert_eq!(agent.id.0, ann);

    let detail = admin_get(&rig, &format!("/subscribers/acme/calls/{session}")).await;
    assert_eq!(
        detail["agent"],
        json!({ "id": ann, "display_name": "Ann Lee" }),
        "{detail}"
    );
}

#[tokio::test]
async fn a_pin_nobody_has_is_refused_like_a_wrong_pin() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center_scenario: "flow_center_agent_pin_wrong.xml",
            seed: agent_pin_policy(),
            ..RigOptions::default()
        },
    )
    .unwrap();
    add_agents(&rig);
    let (session, events) = rig
        .call_until_ended(&seed::user_number(22), Duration::from_secs(60))
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
    assert_end_causes(&call, "sign_on_failed", "local_hangup", "local_hangup");
    let steps = kinds(&timeline);
    // Three tries in all: two wrong with a retry, the third ends the call.
    assert_eq!(
        steps.iter().filter(|k| **k == "sign_on_wrong_pin").count(),
        2,
        "{steps:?}"
    );
    assert_in_order(&steps, &["sign_on_failed", "ending", "finished"]);
    assert!(!steps.contains(&"claimed") && !steps.contains(&"bridged"));
    assert!(call.agent.is_none());
    let detail = admin_get(&rig, &format!("/subscribers/acme/calls/{session}")).await;
    assert_eq!(detail["agent"], Value::Null, "{detail}");
}
