//! A robust desk (issue 12 item 6), visitor and agent in real Chromium, SIPp phones, the real
//! binary. Mid-bridge the agent reloads the console: the call is back on the desk, in this
//! tab, and stays up. A second tab of the same session opens read-only (banner, buttons
//! disabled), and a hang-up forced from a read-only tab is refused by the server and ends
//! nothing. "Use this tab" moves the desk: the new tab can act, the old one turns read-only by
//! itself, and the hang-up from the new tab ends the call. Screenshot console-read-only-1280.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::json;
use subscriber_db::{Db, NewAgent, SessionId};
use testkit::browser::{Browser, chrome_capabilities, desktop_capabilities};
use testkit::flow::{Rig, RigOptions};
use testkit::seed::{self, Seed};
use testkit::sipp::SippOptions;

mod web_support;
use web_support::{ask_for_call, rig_link};

const PASSWORD: &str = "two-Tabs-Secret-7";

/// Whether the read-only banner shows in the current tab; `None` while the page is being
/// replaced (the element went stale under the query).
async fn read_only(browser: &Browser) -> Option<bool> {
    browser
        .attr("read-only", "hidden")
        .await
        .ok()
        .map(|hidden| hidden.is_none())
}

/// Waits until the current tab's banner is shown (`true`) or hidden (`false`).
async fn wait_read_only(browser: &Browser, want: bool) {
    for _ in 0..200 {
        if read_only(browser).await == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the read-only banner never became {want}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_keeps_the_call_and_a_second_tab_is_read_only_until_it_takes_the_desk() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            // PIN 4711#, a page key later, then on the line until we hang up.
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

    let agent = Browser::start_with(desktop_capabilities()).await.unwrap();
    agent
        .sign_in_to_console(&rig.cb.url("/console"), "acme", "ann", PASSWORD)
        .await
        .unwrap();
    let first_tab = agent.client.window().await.unwrap();
    let visitor = Browser::start_with(chrome_capabilities()).await.unwrap();
    visitor.client.goto(&rig_link(&rig).unwrap()).await.unwrap();
    visitor.wait_for_text("h1", "Talk to").await.unwrap();
    let number = seed::user_number(71);
    let (_, session) = ask_for_call(&visitor, &number).await.unwrap();
    let session: SessionId = session.parse().unwrap();
    agent.wait_for_text("#pop-state", "bridged").await.unwrap();

    // Reload mid-bridge: the call is back, this tab still has the desk.
    let reloaded = Instant::now();
    agent.client.refresh().await.unwrap();
    agent.wait_for_text("#pop-number", &number).await.unwrap();
    let back_ms = reloaded.elapsed().as_millis();
    println!("console reload mid-bridge → call shown again: {back_ms} ms");
    assert_eq!(read_only(&agent).await, Some(false));
    assert_eq!(agent.attr("hangup-button", "disabled").await.unwrap(), None);

    // A second tab of the same session: read-only.
    let second = agent.client.new_window(true).await.unwrap();
    agent
        .client
        .switch_to_window(second.handle.clone())
        .await
        .unwrap();
    agent.client.goto(&rig.cb.url("/console")).await.unwrap();
    agent.wait_for_text("#pop-number", &number).await.unwrap();
    wait_read_only(&agent, true).await;
    assert!(
        agent
            .attr("hangup-button", "disabled")
            .await
            .unwrap()
            .is_some()
    );
    agent.screenshot("console-read-only-1280").await.unwrap();
    // Forced anyway: the server refuses, the call stays up.
    agent
        .client
        .execute(
            "var b = document.getElementById('hangup-button'); b.disabled = false; b.click();",
            vec![],
        )
        .await
        .unwrap();
    agent
        .wait_for_text("#notice", "This tab is read-only")
        .await
        .unwrap();
    assert_eq!(
        db.get_call(&rig.sid, &session).unwrap().state.to_string(),
        "bridged"
    );
    agent
        .client
        .switch_to_window(first_tab.clone())
        .await
        .unwrap();
    assert_eq!(
        read_only(&agent).await,
        Some(false),
        "the first tab keeps the desk"
    );

    // "Use this tab" in the second: it acts, the first turns read-only by itself.
    agent
        .client
        .switch_to_window(second.handle.clone())
        .await
        .unwrap();
    agent.click("take-over-button").await.unwrap();
    wait_read_only(&agent, false).await;
    agent.client.switch_to_window(first_tab).await.unwrap();
    wait_read_only(&agent, true).await;
    agent.client.switch_to_window(second.handle).await.unwrap();
    agent.wait_for_text("#pop-state", "bridged").await.unwrap();
    agent.click("hangup-button").await.unwrap();
    rig.wait_finished(&session, Duration::from_secs(20))
        .await
        .unwrap();
    visitor
        .wait_for_url(|u| u.ends_with("/ended"))
        .await
        .unwrap();
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    visitor.close().await.unwrap();
    agent.close().await.unwrap();
}
