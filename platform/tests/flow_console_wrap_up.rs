//! Presence and wrap-up on the agent desk (issue 12 item 5), visitor and agent each in a real
//! Chromium, SIPp as both phones, the real binary. The subscriber has a disposition list
//! (admin API), so a wrap-up is required:
//! - Ann sets herself away: the visitor's call is offered (Bob's desk has it) but not to her;
//!   back to available, the offer appears on her desk by itself and she claims it.
//! - She hangs up from the console; her desk then asks for the outcome and offers no call,
//!   though the next call of the same visitor waits on Bob's desk, and a claim by its
//!   reference is refused.
//! - She gives "Call back later" with notes: her desk offers the waiting call again, she
//!   claims it, and its screen-pop lists the first call with that outcome and her notes; the
//!   call record (admin API) carries them.
//!
//! Screenshots: console-away-1280, console-away-390, console-wrap-up-1280, console-wrap-up-390,
//! console-history-1280 in test-output/.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use subscriber_db::{Db, NewAgent, SessionId};
use testkit::browser::{Browser, PHONE_WIDTH, chrome_capabilities, desktop_capabilities};
use testkit::flow::{Rig, RigOptions};
use testkit::seed::{self, Seed};
use testkit::sipp::SippOptions;

mod web_support;
use web_support::{ask_for_call, rig_link};

const PASSWORD: &str = "wrap-Up-Secret-42";

fn agent(db: &Db, login: &str, name: &str) {
    let new: NewAgent = serde_json::from_value(json!({
        "login": login, "display_name": name, "password": PASSWORD,
    }))
    .unwrap();
    db.create_agent(&"acme".parse().unwrap(), &new, chrono::Utc::now())
        .unwrap();
}

/// The reference of the call offered on Bob's desk, once there is one.
async fn offered_on(client: &reqwest::Client, rig: &Rig) -> String {
    for _ in 0..200 {
        let desk = client
            .get(rig.cb.url("/console"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if let Some(at) = desk.find("id=\"claim-") {
            let rest = &desk[at + "id=\"claim-".len()..];
            return rest[..rest.find('"').unwrap()].to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no call was offered on Bob's desk");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_away_agent_is_offered_nothing_and_one_in_wrap_up_only_after_giving_the_outcome() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            // The center answers each call and stays on the line until we hang up.
            center_scenario: "flow_answer_wait_bye.xml",
            center: SippOptions {
                calls: 2,
                ..SippOptions::default()
            },
            // The visitor's phone takes both calls.
            user: SippOptions {
                calls: 2,
                ..SippOptions::default()
            },
            seed: Seed::with_policy(json!({ "sign_on": { "mode": "console" } })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let db = Db::open(rig.cb.db_path()).unwrap();
    agent(&db, "ann", "Ann Lee");
    agent(&db, "bob", "Bob Roe");
    let http = reqwest::Client::new();
    let list = json!({ "dispositions": [
        { "code": "sale", "label": "Sale made" },
        { "code": "callback", "label": "Call back later" },
    ]});
    let put = http
        .put(rig.cb.url("/admin/v1/subscribers/acme/dispositions"))
        .bearer_auth(&rig.cb.operator_key)
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    assert_eq!(put.json::<serde_json::Value>().await.unwrap(), list);
    // A list with a code twice is refused and changes nothing.
    let twice = json!({ "dispositions": [
        { "code": "sale", "label": "Sale made" }, { "code": "sale", "label": "Again" },
    ]});
    let refused = http
        .put(rig.cb.url("/admin/v1/subscribers/acme/dispositions"))
        .bearer_auth(&rig.cb.operator_key)
        .json(&twice)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 409);
    let (status, read) = rig
        .admin_get("/subscribers/acme/dispositions")
        .await
        .unwrap();
    assert_eq!((status, read), (200, list.clone()));

    let console = rig.cb.url("/console");
    let ann = Browser::start_with(desktop_capabilities()).await.unwrap();
    ann.sign_in_to_console(&console, "acme", "ann", PASSWORD)
        .await
        .unwrap();
    let bob = rig.console_client("acme", "bob", PASSWORD).await.unwrap();
    ann.click("presence-button").await.unwrap();
    ann.wait_for_text("#presence", "Away").await.unwrap();

    // Call 1, asked for by the visitor in Chromium: offered, but not to Ann while away.
    let visitor = Browser::start_with(chrome_capabilities()).await.unwrap();
    visitor.client.goto(&rig_link(&rig).unwrap()).await.unwrap();
    visitor.wait_for_text("h1", "Talk to").await.unwrap();
    let number = seed::user_number(61);
    let (_, first) = ask_for_call(&visitor, &number).await.unwrap();
    let first: SessionId = first.parse().unwrap();
    rig.wait_state(&first, "awaiting_sign_on", Duration::from_secs(20))
        .await
        .unwrap();
    let reference = offered_on(&bob, &rig).await;
    let not_offered = ann.text_of("not-offered").await.unwrap();
    assert!(not_offered.starts_with("You are away"), "{not_offered}");
    assert!(ann.text_of(&format!("claim-{reference}")).await.is_none());
    ann.screenshot("console-away-1280").await.unwrap();
    let narrow = Browser::start_with(chrome_capabilities()).await.unwrap();
    narrow
        .sign_in_to_console(&console, "acme", "ann", PASSWORD)
        .await
        .unwrap();
    narrow.wait_for_text("#presence", "Away").await.unwrap();
    narrow
        .screenshot(&format!("console-away-{PHONE_WIDTH}"))
        .await
        .unwrap();
    narrow.close().await.unwrap();
    // Available again: the offer shows up without another click.
    ann.click("presence-button").await.unwrap();
    ann.wait_for_text("#presence", "Available").await.unwrap();
    ann.wait_for_text("#offer-list", &reference).await.unwrap();
    ann.click(&format!("claim-{reference}")).await.unwrap();
    ann.wait_for_text("#pop-number", &number).await.unwrap();
    ann.wait_for_text("#pop-state", "bridged").await.unwrap();
    visitor
        .wait_for_text("#status", "agent is on the line")
        .await
        .unwrap();

    // Ann hangs up: her desk asks for the outcome and offers nothing.
    ann.click("hangup-button").await.unwrap();
    rig.wait_finished(&first, Duration::from_secs(20))
        .await
        .unwrap();
    ann.wait_for_text("#wrap-up-heading", "Wrap-up of your last call")
        .await
        .unwrap();
    assert_eq!(ann.text_of("presence").await.unwrap(), "Wrap-up");
    let call_line = ann.text_of("wrap-up-call").await.unwrap();
    assert!(call_line.contains(&number), "{call_line}");

    // Call 2 of the same visitor waits on Bob's desk; Ann is not offered it and cannot claim
    // it by its reference.
    let second = rig.request_call(&number).await.unwrap();
    rig.wait_state(&second, "awaiting_sign_on", Duration::from_secs(20))
        .await
        .unwrap();
    let reference = offered_on(&bob, &rig).await;
    let not_offered = ann.text_of("not-offered").await.unwrap();
    assert!(
        not_offered.starts_with("Give the outcome of your last call"),
        "{not_offered}"
    );
    assert!(ann.text_of(&format!("claim-{reference}")).await.is_none());
    ann.retype("reference", &reference).await.unwrap();
    ann.click("claim-reference-button").await.unwrap();
    ann.wait_for_text("#notice", "No call can be claimed now")
        .await
        .unwrap();
    ann.screenshot("console-wrap-up-1280").await.unwrap();
    let narrow = Browser::start_with(chrome_capabilities()).await.unwrap();
    narrow
        .sign_in_to_console(&console, "acme", "ann", PASSWORD)
        .await
        .unwrap();
    narrow
        .wait_for_text("#wrap-up-heading", "Wrap-up")
        .await
        .unwrap();
    narrow
        .screenshot(&format!("console-wrap-up-{PHONE_WIDTH}"))
        .await
        .unwrap();
    narrow.close().await.unwrap();

    // The outcome given: the waiting call is offered to Ann again.
    let notes = "Wants the new contract sent by post";
    ann.click("disposition-callback").await.unwrap();
    ann.retype("notes", notes).await.unwrap();
    ann.click("wrap-up-button").await.unwrap();
    ann.wait_for_text("#presence", "Available").await.unwrap();
    ann.wait_for_text("#offer-list", &reference).await.unwrap();
    let record = db.get_call(&rig.sid, &first).unwrap();
    let wrap_up = record.wrap_up.unwrap();
    assert_eq!(wrap_up.disposition.as_str(), "callback");
    assert_eq!(wrap_up.notes.as_str(), notes);
    let (status, api) = rig
        .admin_get(&format!("/subscribers/acme/calls/{first}"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(api["wrap_up"]["disposition"], "callback");
    assert_eq!(api["wrap_up"]["label"], "Call back later");
    assert_eq!(api["wrap_up"]["notes"], notes);

    // Ann claims call 2: its screen-pop shows the first call's outcome and notes.
    ann.click(&format!("claim-{reference}")).await.unwrap();
    let history = ann.wait_for_text("#pop-history", notes).await.unwrap();
    assert!(history.contains("Call back later"), "{history}");
    ann.screenshot("console-history-1280").await.unwrap();
    ann.click("hangup-button").await.unwrap();
    rig.wait_finished(&second, Duration::from_secs(20))
        .await
        .unwrap();
    ann.wait_for_text("#wrap-up-heading", "Wrap-up")
        .await
        .unwrap();
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    visitor.close().await.unwrap();
    ann.close().await.unwrap();
}
