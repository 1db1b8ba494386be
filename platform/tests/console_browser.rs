//! The agent desk's sign-in in a real headless Chromium at phone (390 px) and desktop
//! (1280 px) width: the agent types company id, login and password, presses Sign in and sees
//! "Signed in as NAME (role)"; then signs out. Screenshots of both pages at both widths go to
//! test-output/ (console-login-390.png, console-home-1280.png, …).

use serde_json::json;
use testkit::browser::{Browser, PHONE_WIDTH, chrome_capabilities};
use testkit::{Callbond, Options};

const PASSWORD: &str = "browser-Secret-77";

/// Capabilities for a Chromium whose viewport is `width` CSS pixels wide.
fn caps(width: u32) -> serde_json::Map<String, serde_json::Value> {
    let mut caps = chrome_capabilities();
    let height = if width == PHONE_WIDTH { 844 } else { 800 };
    let options = caps
        .get_mut("goog:chromeOptions")
        .and_then(|o| o.as_object_mut());
    if let Some(options) = options {
        options.insert(
            "mobileEmulation".into(),
            json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1}}),
        );
        if let Some(args) = options.get_mut("args").and_then(|a| a.as_array_mut()) {
            args.retain(|a| !a.as_str().unwrap_or_default().starts_with("--window-size"));
            args.push(json!(format!("--window-size={width},{height}")));
        }
    }
    caps
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_signs_in_and_out_in_chromium_at_both_widths() -> anyhow::Result<()> {
    let cb = Callbond::start(env!("CARGO_BIN_EXE_callbond"), Options::default())?;
    let http = reqwest::Client::new();
    let created = http
        .post(cb.url("/admin/v1/subscribers"))
        .bearer_auth(&cb.operator_key)
        .json(&json!({"id": "acme", "display_name": "Acme"}))
        .send()
        .await?;
    anyhow::ensure!(created.status().is_success(), "{}", created.text().await?);
    let agent = http
        .post(cb.url("/admin/v1/subscribers/acme/agents"))
        .bearer_auth(&cb.operator_key)
        .json(&json!({"login": "ann", "display_name": "Ann Lee", "password": PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(agent.status().is_success(), "{}", agent.text().await?);

    for width in [PHONE_WIDTH, 1280] {
        let browser = Browser::start_with(caps(width)).await?;
        browser.client.goto(&cb.url("/console")).await?;
        browser
            .wait_for_url(|u| u.ends_with("/console/login"))
            .await?;
        browser.wait_for_text("h1", "Agent desk").await?;
        browser.retype("sid", "acme").await?;
        browser.retype("login", "ann").await?;
        browser.retype("password", PASSWORD).await?;
        browser
            .screenshot(&format!("console-login-{width}"))
            .await?;
        browser.click("sign-in-button").await?;
        let who = browser.wait_for_text("#who", "Signed in as").await?;
        assert_eq!(who, "Signed in as Ann Lee (agent)");
        browser.screenshot(&format!("console-home-{width}")).await?;
        browser.click("sign-out-button").await?;
        browser
            .wait_for_text("#notice", "You are signed out.")
            .await?;
        browser
            .screenshot(&format!("console-signed-out-{width}"))
            .await?;
        browser.client.goto(&cb.url("/console")).await?;
        browser
            .wait_for_url(|u| u.ends_with("/console/login"))
            .await?;
        browser.close().await?;
    }
    Ok(())
}
