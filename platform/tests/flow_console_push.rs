//! Act by click (issue 12 item 4), visitor and agent both in real Chromium: the agent who
//! claimed the call by PIN pushes page 1 with a button on the console and the visitor's
//! Connect page shows it; the visitor's browser acknowledges it and the console says "shown
//! at hh:mm:ss". The agent's keypad push (key 2) shows up on the console too, with its own
//! receipt. Then the agent hangs up from the console: both legs end and the visitor lands on
//! the Disconnect page. Screenshots: console-pushed-390, visitor-page-1280 in test-output/.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::json;
use subscriber_db::{Db, NewAgent, SessionId};
use testkit::browser::{Browser, chrome_capabilities, desktop_capabilities};
use testkit::flow::{Rig, RigOptions, kinds};
use testkit::seed::{self, PAGE_TITLES, Seed};
use testkit::sipp::SippOptions;

mod web_support;
use web_support::{ask_for_call, rig_link};

const PASSWORD: &str = "push-By-click-9";

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_pushes_by_click_sees_receipts_and_hangs_up_from_the_console() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center_scenario: "flow_center_agent_pin_page_wait_bye.xml",
            center: SippOptions::pausing(1000),
            seed: Seed::with_policy(json!({ "sign_on": { "mode": "agent_pin" } })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let db = Db::open(rig.cb.db_path()).unwrap();
    let ann: NewAgent = serde_json::from_value(json!({
        "login": "ann", "display_name": "Ann Lee", "password": PASSWORD, "pin": "4711",
    }))
    .unwrap();
    db.create_agent(&rig.sid, &ann, chrono::Utc::now()).unwrap();
    let pages = db.list_pages(&rig.sid).unwrap();
    let page_1 = pages
        .iter()
        .find(|p| p.title.as_str() == PAGE_TITLES[0])
        .unwrap()
        .id
        .0;

    let agent = Browser::start_with(chrome_capabilities()).await.unwrap();
    agent
        .sign_in_to_console(&rig.cb.url("/console"), "acme", "ann", PASSWORD)
        .await
        .unwrap();
    let visitor = Browser::start_with(desktop_capabilities()).await.unwrap();
    visitor.client.goto(&rig_link(&rig).unwrap()).await.unwrap();
    visitor.wait_for_text("h1", "Talk to").await.unwrap();
    let number = seed::user_number(51);
    let (_, session) = ask_for_call(&visitor, &number).await.unwrap();
    let session: SessionId = session.parse().unwrap();
    agent.wait_for_text("#pop-number", &number).await.unwrap();
    agent.wait_for_text("#pop-state", "bridged").await.unwrap();

    // Push by click: the visitor sees the page, the agent sees when it was shown.
    let clicked = Instant::now();
    agent.click(&format!("push-{page_1}")).await.unwrap();
    visitor
        .wait_for_text("#page-title", PAGE_TITLES[0])
        .await
        .unwrap();
    let click_to_page_ms = clicked.elapsed().as_millis();
    let pushed = agent.wait_for_text("#pushed", "shown at").await.unwrap();
    let click_to_receipt_ms = clicked.elapsed().as_millis();
    assert!(pushed.contains(PAGE_TITLES[0]), "{pushed}");
    assert!(pushed.contains("(console, sent "), "{pushed}");
    println!(
        "push click → page visible to the visitor: {click_to_page_ms} ms; → \"shown at\" on the console: {click_to_receipt_ms} ms"
    );

    // The keypad push (key 2, about seven seconds after the PIN) shows on the console too.
    visitor
        .wait_for_text("#page-title", PAGE_TITLES[1])
        .await
        .unwrap();
    let both = agent.wait_for_text("#pushed", "keys 2").await.unwrap();
    assert!(both.contains(PAGE_TITLES[1]), "{both}");
    for _ in 0..100 {
        if agent
            .text_of("pushed")
            .await
            .unwrap_or_default()
            .matches("shown at")
            .count()
            == 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let both = agent.text_of("pushed").await.unwrap();
    assert_eq!(both.matches("shown at").count(), 2, "{both}");
    agent
        .client
        .execute(
            "document.getElementById('pushed').scrollIntoView()",
            Vec::new(),
        )
        .await
        .unwrap();
    agent.screenshot("console-pushed-390").await.unwrap();
    visitor.screenshot("visitor-page-1280").await.unwrap();

    // Hang up from the console.
    agent.click("hangup-button").await.unwrap();
    visitor
        .wait_for_url(|u| u.ends_with("/ended"))
        .await
        .unwrap();
    let call = rig
        .wait_finished(&session, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(call.end_cause.unwrap().to_string(), "cancelled");
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    let timeline = rig.timeline(&session).unwrap();
    let steps = kinds(&timeline);
    assert_eq!(steps.iter().filter(|k| **k == "page_shown").count(), 2);
    agent
        .wait_for_text("#no-offers", "No call is waiting")
        .await
        .unwrap();
    agent.close().await.unwrap();
    visitor.close().await.unwrap();
}
