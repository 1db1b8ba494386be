//! The screen-pop on a claim by personal PIN (issue 12 item 3), with both sides in real
//! Chromium: the visitor asks for a call on the Welcome page and watches the Connect page; the
//! agent's console is open; the agent keys 4711# on the phone (SIPp) and, without touching the
//! console, it shows that call: subject, whisper code, the visitor's full number, the wait,
//! the whisper text, the timeline and the visitor's earlier call with this subscriber. After
//! the call the desk is back to waiting. Screenshots: console-pop-pin-1280, visitor-bridged-390,
//! console-after-call-1280 in test-output/.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use subscriber_db::{CallEnd, Db, EndCause, NewAgent, NewCall, SessionId, SessionRef};
use testkit::browser::{Browser, chrome_capabilities, desktop_capabilities};
use testkit::flow::{Rig, RigOptions};
use testkit::seed::{self, Seed};
use testkit::sipp::SippOptions;

mod web_support;
use web_support::{ask_for_call, rig_link};

const PASSWORD: &str = "screen-Pop-pass-5";

#[tokio::test(flavor = "multi_thread")]
async fn a_pin_claim_pops_the_call_on_that_agents_console() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center_scenario: "flow_center_agent_pin.xml",
            center: SippOptions::pausing(6000),
            seed: Seed::with_policy(json!({ "sign_on": { "mode": "agent_pin" } })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let number = seed::user_number(41);
    let db = Db::open(rig.cb.db_path()).unwrap();
    let ann: NewAgent = serde_json::from_value(json!({
        "login": "ann", "display_name": "Ann Lee", "password": PASSWORD, "pin": "4711",
    }))
    .unwrap();
    db.create_agent(&rig.sid, &ann, chrono::Utc::now()).unwrap();
    // The visitor called once before, a week ago, and hung up.
    let before = chrono::Utc::now() - chrono::Duration::days(7);
    let earlier = NewCall {
        id: SessionId::new_random(),
        subject_code: seed::SUBJECT.parse().unwrap(),
        whisper_code: None,
        user_number: number.parse().unwrap(),
        client_ip: "192.0.2.9".parse().unwrap(),
        form_token: None,
        session_ref: SessionRef::new_random(),
        dnis_range: None,
    };
    db.create_call(&rig.sid, &earlier, before).unwrap();
    let end = CallEnd {
        cause: EndCause::UserHungUp,
        ..CallEnd::before_dialing(EndCause::UserHungUp)
    };
    db.finish_call(&rig.sid, &earlier.id, &end, before).unwrap();

    let agent = Browser::start_with(desktop_capabilities()).await.unwrap();
    agent
        .sign_in_to_console(&rig.cb.url("/console"), "acme", "ann", PASSWORD)
        .await
        .unwrap();

    let visitor = Browser::start_with(chrome_capabilities()).await.unwrap();
    visitor.client.goto(&rig_link(&rig).unwrap()).await.unwrap();
    visitor.wait_for_text("h1", "Talk to").await.unwrap();
    let (_, session) = ask_for_call(&visitor, &number).await.unwrap();
    let session: SessionId = session.parse().unwrap();

    // The console pops the call by itself once the PIN says who has it.
    let shown = agent.wait_for_text("#pop-number", &number).await.unwrap();
    let seen_at = chrono::Utc::now();
    assert_eq!(shown, number, "the claiming agent sees the full number");
    let claimed = rig
        .wait_row(&session, "claimed", Duration::from_secs(5))
        .await
        .unwrap();
    let pop_ms = (seen_at - claimed.at).num_milliseconds();
    println!("PIN claim recorded → screen-pop visible on the console: {pop_ms} ms");
    assert_eq!(agent.text_of("pop-subject").await.unwrap(), seed::SUBJECT);
    assert_eq!(agent.text_of("pop-whisper-code").await.unwrap(), "4711");
    assert_eq!(
        agent.text_of("pop-whisper").await.unwrap(),
        "Customer 4 7 1 1 about billing"
    );
    assert!(agent.text_of("pop-waited").await.unwrap().ends_with(" s"));
    let history = agent.text_of("pop-history").await.unwrap();
    assert!(history.contains("user hung up"), "{history}");
    assert!(
        history.contains(&before.format("%Y-%m-%d").to_string()),
        "{history}"
    );
    // The timeline is live: the bridge shows up after the pop without a click.
    agent
        .wait_for_text("#pop-timeline", "bridged")
        .await
        .unwrap();
    agent.screenshot("console-pop-pin-1280").await.unwrap();
    visitor
        .wait_for_text("#status", "agent is on the line")
        .await
        .unwrap();
    visitor.screenshot("visitor-bridged-390").await.unwrap();

    // After the call the desk waits for the next one.
    rig.wait_finished(&session, Duration::from_secs(40))
        .await
        .unwrap();
    agent
        .wait_for_text("#no-offers", "No call is waiting")
        .await
        .unwrap();
    for _ in 0..100 {
        if agent.text_of("pop").await.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        agent.text_of("pop").await.is_none(),
        "the pop goes with the call"
    );
    agent.screenshot("console-after-call-1280").await.unwrap();
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    visitor.close().await.unwrap();
    agent.close().await.unwrap();
}
