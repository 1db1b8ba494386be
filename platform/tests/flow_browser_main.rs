//! The main flow as the user sees it, in headless Chromium: a signed speak-to-agent link →
//! Welcome → the number typed and "Call me now" → the Connect page shows the call's progress
//! → the agent's digit 1 shows page 1, digit 2 replaces it with page 2 → the agent hangs up
//! → the browser lands on the Disconnect page. The phones are SIPp (see `flow_main.rs` for
//! the wire-level checks of the same flow).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use platform::link::{SignedFields, sign};
use testkit::Browser;
use testkit::browser::fantoccini::Locator;
use testkit::flow::{Rig, RigOptions};
use testkit::seed;
use testkit::sipp::SippOptions;

#[tokio::test(flavor = "multi_thread")]
async fn browser_sees_pages_one_and_two_then_the_disconnect_page() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center: SippOptions::pausing(5000),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let secret = seed::site_secret(&rig.cb.db_path(), &rig.sid).unwrap();
    let exp = chrono::Utc::now().timestamp() + 600;
    let fields = SignedFields {
        sid: rig.sid.as_str(),
        sc: seed::SUBJECT,
        wc: Some("4711"),
        tel: None,
        exp,
    };
    let sig = sign(secret.as_bytes(), &fields);
    let link = rig.cb.url(&format!(
        "/speak?sid={}&sc={}&wc=4711&exp={exp}&sig={sig}",
        rig.sid.as_str(),
        seed::SUBJECT
    ));
    let browser = Browser::start().await.unwrap();
    browser.client.goto(&link).await.unwrap();
    browser.wait_for_text("h1", "Talk to").await.unwrap();
    let field = browser.client.find(Locator::Id("number")).await.unwrap();
    field.send_keys(&seed::user_number(11)).await.unwrap();
    browser.click("call-me").await.unwrap();
    let url = browser
        .wait_for_url(|u| u.contains("/sessions/"))
        .await
        .unwrap();
    // The agent signs on, hears the whisper and is bridged: the page says so.
    let status = browser
        .wait_for_text("#status", "agent is on the line")
        .await
        .unwrap();
    assert!(!status.is_empty());
    browser
        .wait_for_text("#page-title", seed::PAGE_TITLES[0])
        .await
        .unwrap();
    let src = browser
        .attr("page-frame", "src")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(src.contains("/pages/"), "page 1 frame src {src}");
    browser.screenshot("flow_page_1").await.unwrap();
    browser
        .wait_for_text("#page-title", seed::PAGE_TITLES[1])
        .await
        .unwrap();
    browser.screenshot("flow_page_2").await.unwrap();
    // The agent hangs up: the platform ends the user leg and the browser shows Disconnect.
    let ended_url = browser
        .wait_for_url(|u| u.ends_with("/ended"))
        .await
        .unwrap();
    assert!(
        ended_url.starts_with(url.trim_end_matches('/')),
        "{ended_url}"
    );
    browser.wait_for_text("h1", "Call ended").await.unwrap();
    browser.screenshot("flow_disconnect").await.unwrap();
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    assert_eq!(rig.active_calls().unwrap(), 0);
    browser.close().await.unwrap();
}
