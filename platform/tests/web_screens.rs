//! Every page a visitor can meet, in real Chromium at a phone's 390 px and a desktop's
//! 1280 px, with SIPp as the visitor's phone (issue 11's checks): each is saved as
//! `test-output/screen-{page}-{width}.png` for a person to look at, and axe-core (from npm,
//! injected through WebDriver) finds no serious or critical violation on any of them. Along
//! the way: the subscriber's accent and text colour, the route label, country names, the
//! refusal pages' way back to the site, and the closed page's opening time in the visitor's
//! own time zone.
#![allow(clippy::unwrap_used)]

mod web_support;

use chrono::{Timelike, Utc};
use serde_json::json;
use subscriber_db::{MaxConcurrentCalls, Policy, Route, SubscriberUpdate, TimeRange, WeeklyHours};
use testkit::Browser;
use testkit::browser::{AxeViolation, chrome_capabilities, desktop_capabilities};
use testkit::flow::{Rig, RigOptions};
use testkit::seed;
use web_support::{ask_for_call, rebrand, rig_link};

/// The branding and label the pages are looked at with.
const ACCENT: &str = "#7a1f5c";
const LABEL: &str = "your tariff";

#[tokio::test(flavor = "multi_thread")]
async fn every_page_at_390_px() {
    every_page(chrome_capabilities(), 390).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_at_1280_px() {
    every_page(desktop_capabilities(), 1280).await;
}

/// Screenshot and axe check of the page the browser shows; the axe findings are collected.
async fn look(browser: &Browser, page: &str, width: u32, found: &mut Vec<String>) {
    let shot = browser
        .screenshot(&format!("screen-{page}-{width}"))
        .await
        .unwrap();
    let violations: Vec<AxeViolation> = browser.axe().await.unwrap();
    println!(
        "{page} at {width} px: {} axe violations ({} serious or critical), {}",
        violations.len(),
        violations.iter().filter(|v| v.is_serious()).count(),
        shot.display()
    );
    for v in violations {
        println!(
            "  {:?} {}: {} {:?}",
            v.impact.as_deref().unwrap_or("?"),
            v.id,
            v.help,
            v.nodes
        );
        if v.is_serious() {
            found.push(format!("{page}: {} ({}) at {:?}", v.id, v.help, v.nodes));
        }
    }
}

async fn every_page(caps: serde_json::Map<String, serde_json::Value>, width: u32) {
    let rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            // The visitor's phone rings until the cancel button cancels it.
            user_scenario: "uas_ring_forever.xml",
            ..RigOptions::default()
        },
    )
    .unwrap();
    let db = rebrand(
        &rig,
        &SubscriberUpdate {
            accent_color: Some(Some(ACCENT.parse().unwrap())),
            promo_html: Some(Some(
                "<h1>Winter tariff</h1><p>20% off the first year.</p>"
                    .parse()
                    .unwrap(),
            )),
            ..SubscriberUpdate::default()
        },
    )
    .unwrap();
    let mut route: Route = db
        .get_route(&rig.sid, &seed::SUBJECT.parse().unwrap())
        .unwrap();
    route.label = Some(LABEL.parse().unwrap());
    db.update_route(&rig.sid, &route.subject_code.clone(), &route)
        .unwrap();
    let mut policy = db.get_policy(&rig.sid).unwrap();
    policy.allowed_caller_countries = vec!["DE".parse().unwrap(), "AT".parse().unwrap()];
    db.put_policy(&rig.sid, &policy).unwrap();
    let link = rig_link(&rig).unwrap();
    let key = db
        .create_subscriber_key(&rig.sid, Utc::now())
        .unwrap()
        .token
        .expose()
        .to_owned();

    let browser = Browser::start_with(caps).await.unwrap();
    let mut found = Vec::new();

    // The check itself can fail: an image without a text alternative is a critical finding.
    browser
        .client
        .goto("data:text/html,<!DOCTYPE html><html lang=en><title>t</title><img src=x.png>")
        .await
        .unwrap();
    let control = browser.axe().await.unwrap();
    assert!(
        control
            .iter()
            .any(|v| v.id == "image-alt" && v.is_serious()),
        "axe did not report the missing alt: {control:?}"
    );

    // A link that is not one: its page, in the same card, no subscriber to go back to.
    browser
        .client
        .goto(&rig.cb.url("/speak?sid=acme"))
        .await
        .unwrap();
    browser
        .wait_for_text("h1", "This link does not work")
        .await
        .unwrap();
    look(&browser, "refusal-bad-link", width, &mut found).await;

    // Welcome: the label, not the code; country names; the subscriber's colours.
    browser.client.goto(&link).await.unwrap();
    let intro = browser.wait_for_text("#intro", LABEL).await.unwrap();
    assert!(!intro.contains(seed::SUBJECT), "{intro}");
    let hint = browser
        .wait_for_text("#number-hint", "Germany")
        .await
        .unwrap();
    assert!(
        hint.ends_with("We can call numbers in Germany and Austria."),
        "{hint}"
    );
    let colours = browser
        .client
        .execute(
            "var s = getComputedStyle(document.querySelector('header.brand')); \
             return [s.backgroundColor, s.color];",
            Vec::new(),
        )
        .await
        .unwrap();
    // #7a1f5c is rgb(122, 31, 92): 9.6:1 against white, so the text on it is white.
    assert_eq!(colours, json!(["rgb(122, 31, 92)", "rgb(255, 255, 255)"]));
    look(&browser, "welcome", width, &mut found).await;

    // A number the policy does not call: the form again with the reason.
    browser.retype("number", "+33142685300").await.unwrap();
    browser.click("call-me").await.unwrap();
    browser.wait_for_text("#error", "").await.unwrap();
    look(&browser, "welcome-refused-number", width, &mut found).await;

    // Connect: the phone rings; a page is pushed through the API.
    let (url, session) = ask_for_call(&browser, &seed::user_number(40 + width))
        .await
        .unwrap();
    look(&browser, "connect-calling", width, &mut found).await;
    let pushed = reqwest::Client::new()
        .post(rig.cb.url(&format!("/admin/v1/calls/{session}/push")))
        .bearer_auth(&key)
        .json(&json!({ "digits": "1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status().as_u16(), 200);
    browser
        .wait_for_text("#page-notice", seed::PAGE_TITLES[0])
        .await
        .unwrap();
    look(&browser, "connect-page", width, &mut found).await;

    // The one call the policy allows is taken: another visitor is told.
    let mut policy = db.get_policy(&rig.sid).unwrap();
    policy.max_concurrent_calls = MaxConcurrentCalls::new(1).unwrap();
    policy.callback.offer = false;
    db.put_policy(&rig.sid, &policy).unwrap();
    browser.client.goto(&link).await.unwrap();
    browser
        .wait_for_text("h1", "All agents are busy")
        .await
        .unwrap();
    let back = browser.attr("back-to-site", "href").await.unwrap();
    assert_eq!(back.as_deref(), Some(seed::ORIGIN));
    look(&browser, "refusal-busy", width, &mut found).await;

    // Cancel while it rings: the phone gets a CANCEL, the Disconnect page follows.
    browser.client.goto(&url).await.unwrap();
    browser.click("cancel").await.unwrap();
    browser
        .wait_for_text("#status", "The call was cancelled.")
        .await
        .unwrap();
    look(&browser, "disconnect", width, &mut found).await;
    let call_id: subscriber_db::SessionId = session.parse().unwrap();
    let call = rig
        .wait_finished(&call_id, std::time::Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        call.end_cause.map(|c| c.to_string()).as_deref(),
        Some("cancelled")
    );
    assert!(
        rig.user.received().iter().any(|m| m.starts_with("CANCEL ")),
        "{:?}",
        rig.user.received()
    );

    // Closed: open one hour a day, two hours from now in Tokyo; the visitor's own clock too.
    let tokyo = "Asia/Tokyo".parse::<subscriber_db::TimeZone>().unwrap();
    let hour = Utc::now().with_timezone(&tokyo.tz()).hour();
    let opens = ((hour + 2) % 24).min(22);
    let range: TimeRange = format!("{opens:02}:00-{:02}:00", opens + 1)
        .parse()
        .unwrap();
    let closed = Policy {
        time_zone: tokyo,
        weekly_hours: WeeklyHours::new(std::array::from_fn(|_| vec![range])).unwrap(),
        ..db.get_policy(&rig.sid).unwrap()
    };
    db.put_policy(&rig.sid, &closed).unwrap();
    browser.client.goto(&link).await.unwrap();
    let text = browser
        .wait_for_text("#message", "closed now")
        .await
        .unwrap();
    assert!(
        text.contains(&format!("at {opens:02}:00 (Asia/Tokyo time)")),
        "{text}"
    );
    let zone = browser
        .client
        .execute(
            "return Intl.DateTimeFormat().resolvedOptions().timeZone;",
            Vec::new(),
        )
        .await
        .unwrap();
    let zone = zone.as_str().unwrap_or_default().to_owned();
    if zone != "Asia/Tokyo" {
        let visitor: chrono_tz::Tz = zone.parse().unwrap();
        let at = Utc::now()
            .with_timezone(&tokyo.tz())
            .date_naive()
            .and_hms_opt(opens, 0, 0)
            .unwrap()
            .and_local_timezone(tokyo.tz())
            .unwrap()
            .with_timezone(&visitor);
        let local = browser
            .wait_for_text("#local-time", "your time")
            .await
            .unwrap();
        // Tomorrow's opening can fall on another weekday; the clock time is the same.
        assert!(
            local.contains(&at.format("%H:%M").to_string()) && local.contains(&zone),
            "{local} (expected {} in {zone})",
            at.format("%H:%M")
        );
    }
    look(&browser, "refusal-closed", width, &mut found).await;

    // Switched off.
    db.update_subscriber(
        &rig.sid,
        &SubscriberUpdate {
            active: Some(false),
            ..SubscriberUpdate::default()
        },
    )
    .unwrap();
    browser.client.goto(&link).await.unwrap();
    browser
        .wait_for_text("h1", "Call-back not available")
        .await
        .unwrap();
    look(&browser, "refusal-inactive", width, &mut found).await;
    browser.close().await.unwrap();
    assert!(
        found.is_empty(),
        "serious or critical axe violations:\n{}",
        found.join("\n")
    );
}
