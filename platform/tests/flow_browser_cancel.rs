//! The visitor's side of a call in headless Chromium at phone size (390 px), with SIPp phones
//! (issue 11 item 12): the Welcome page says which number will call; the Connect page counts
//! the time, shows the subscriber's promotional content sandboxed, and when the agent's key 1
//! pushes a page it announces it and brings it into view; the visitor's "Cancel the call"
//! ends the call (the answered user's phone and the agent get a BYE, the record ends as
//! `cancelled`) while a forged cancel changes nothing; the Disconnect page still lists the
//! page, which still opens, leads back to the subscriber's site and offers a new call.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

mod web_support;

use serde_json::Value;
use subscriber_db::SubscriberUpdate;
use testkit::Browser;
use testkit::browser::fantoccini::Locator;
use testkit::flow::{Rig, RigOptions};
use testkit::seed;
use testkit::sipp::SippOptions;
use web_support::{ask_for_call, rebrand, rig_link};

/// The subscriber's promotional content, as its admin set it.
const PROMO: &str = "<h1 id=\"offer\">Winter tariff: 20% off</h1>";

#[tokio::test(flavor = "multi_thread")]
async fn the_visitor_cancels_a_bridged_call_and_keeps_the_pushed_page() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            // The user answers and waits for our BYE; the agent signs on, presses 1 once the
            // whisper is over (5 s after the sign-on) and waits for our BYE.
            user_scenario: "flow_answer_wait_bye.xml",
            center_scenario: "flow_center_page_wait_bye.xml",
            center: SippOptions::pausing(5000),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let db = rebrand(
        &rig,
        &SubscriberUpdate {
            promo_html: Some(Some(PROMO.parse().unwrap())),
            ..SubscriberUpdate::default()
        },
    )
    .unwrap();
    let link = rig_link(&rig).unwrap();
    let browser = Browser::start().await.unwrap();
    browser.client.goto(&link).await.unwrap();
    // The user leg's From is the route's center number (seed::CENTER_NUMBER, +494012345600).
    let caller_id = browser
        .wait_for_text("#caller-id", "Your phone will show")
        .await
        .unwrap();
    assert!(caller_id.contains("+49 40 12345600"), "{caller_id}");
    let (_, session) = ask_for_call(&browser, &seed::user_number(21))
        .await
        .unwrap();
    let promo_sandbox = browser.attr("promo-frame", "sandbox").await.unwrap();
    assert_eq!(
        promo_sandbox.as_deref(),
        Some(pagepush::frame_sandbox_for_html())
    );

    // The agent's key 1: the page arrives, is announced, listed and in view on the phone.
    let notice = browser
        .wait_for_text("#page-notice", seed::PAGE_TITLES[0])
        .await
        .unwrap();
    assert_eq!(
        notice,
        format!("The agent sent you a page: {}", seed::PAGE_TITLES[0])
    );
    let live = browser.attr("page-notice", "aria-live").await.unwrap();
    assert_eq!(live.as_deref(), Some("assertive"));
    browser
        .wait_for_text("#pushed-list", seed::PAGE_TITLES[0])
        .await
        .unwrap();
    let frame_box = browser
        .client
        .execute(
            "var r = document.getElementById('page-frame').getBoundingClientRect(); \
             return [r.top, r.bottom, window.innerHeight];",
            Vec::new(),
        )
        .await
        .unwrap();
    let [top, bottom, height] = [0, 1, 2].map(|i| frame_box[i].as_f64().unwrap_or(-1.0));
    assert!(
        top >= 0.0 && top < height * 0.5 && bottom > top,
        "the pushed page is not in view at 390 px: top {top}, bottom {bottom}, viewport {height}"
    );
    browser
        .screenshot("connect-page-arrived-390")
        .await
        .unwrap();

    // A cancel from anywhere but the page (no token, a wrong one) is refused and ends nothing.
    let http = reqwest::Client::new();
    for body in ["", "csrf=00", "csrf=not-hex"] {
        let forged = http
            .post(rig.cb.url(&format!("/sessions/{session}/cancel")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status().as_u16(), 403, "cancel with {body:?}");
    }
    let call_id: subscriber_db::SessionId = session.parse().unwrap();
    let call = db.get_call_by_session(&call_id).unwrap();
    assert!(call.ended_at.is_none(), "a forged cancel ended the call");
    assert_eq!(call.state.to_string(), "bridged");

    browser.click("cancel").await.unwrap();
    browser
        .wait_for_url(|u| u.ends_with("/ended"))
        .await
        .unwrap();
    let status = browser.wait_for_text("#status", "cancelled").await.unwrap();
    assert_eq!(status, "The call was cancelled.");
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    let call = rig
        .wait_finished(&call_id, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        call.end_cause.map(|c| c.to_string()).as_deref(),
        Some("cancelled")
    );
    assert_eq!(
        call.hung_up_first.map(|h| h.to_string()).as_deref(),
        Some("platform")
    );
    let user_leg = call
        .legs
        .iter()
        .find(|l| l.leg.to_string() == "user")
        .unwrap();
    let leg: Value = serde_json::to_value(user_leg).unwrap();
    assert_eq!(leg["end_cause"], "local_hangup", "{leg}");
    assert!(rig.user.received().iter().any(|m| m.starts_with("BYE ")));

    // The Disconnect page: the pushed page stays listed and readable, the way back and on.
    let listed = browser
        .wait_for_text("#pushed-list", seed::PAGE_TITLES[0])
        .await
        .unwrap();
    assert_eq!(listed, seed::PAGE_TITLES[0]);
    let back = browser.attr("back-to-site", "href").await.unwrap();
    assert_eq!(back.as_deref(), Some(seed::ORIGIN));
    let back_text = browser
        .wait_for_text("#back-to-site", "site")
        .await
        .unwrap();
    assert_eq!(back_text, "Back to Acme Telecom's site");
    browser
        .screenshot("disconnect-cancelled-390")
        .await
        .unwrap();
    let page_link = browser
        .client
        .find(Locator::Css("#pushed-list a"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let stored = http
        .get(rig.cb.url(page_link.trim_start_matches(&rig.cb.url(""))))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status().as_u16(), 200, "{page_link}");
    let csp = stored.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(csp, pagepush::sandbox_csp());
    let body = stored.text().await.unwrap();
    assert!(body.contains(seed::PAGE_TITLES[0]), "{body}");

    // "Call me again": a fresh Welcome form for the same subject, the number not filled in.
    browser.click("call-again").await.unwrap();
    browser
        .wait_for_text("h1", "Talk to Acme Telecom")
        .await
        .unwrap();
    let number = browser.attr("number", "value").await.unwrap();
    assert_eq!(number.as_deref(), Some(""));
    let subject = browser
        .wait_for_text("#subject", seed::SUBJECT)
        .await
        .unwrap();
    assert_eq!(subject, seed::SUBJECT);
    assert_eq!(rig.active_calls().unwrap(), 0);
    browser.close().await.unwrap();
}
