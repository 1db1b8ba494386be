//! A visitor who leaves the Welcome form open past its lifetime and then submits it (real
//! Chromium, which drops a cookie at its Max-Age): the page says the form is too old and how
//! to get a fresh one, not that cookies are blocked, and no call is stored.
#![allow(clippy::unwrap_used)]

mod web_support;

use std::time::Duration;

use testkit::Browser;
use testkit::browser::fantoccini::Locator;
use web_support::{Fixture, SUBJECT, Setup};

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_form_says_it_is_too_old() -> anyhow::Result<()> {
    // The shortest form lifetime the config accepts.
    let form_ttl_secs = 60;
    let fx = Fixture::start(Setup {
        extra_config: format!("[web]\nform_ttl_secs = {form_ttl_secs}\n"),
        ..Setup::default()
    })
    .await?;
    fx.site
        .serve_link(&fx.signed_link(SUBJECT, None, Some("+12015550123")));
    let browser = Browser::start().await?;
    browser.client.goto(&fx.site.url()).await?;
    browser.click("speak").await?;
    browser.client.find(Locator::Id("number")).await?;
    // The visitor waits past the form's lifetime, then presses the button.
    tokio::time::sleep(Duration::from_secs(form_ttl_secs + 3)).await;
    browser.click("call-me").await?;
    // Both refusals end with this advice; which one it is, is the point.
    let body = browser
        .wait_for_text("body", "open the call-back link again")
        .await?;
    assert!(body.contains("This form is too old"), "{body}");
    assert!(!body.contains("allow cookies"), "{body}");
    assert!(fx.calls().is_empty(), "an expired form stored a call");
    let shot = browser.screenshot("welcome-expired").await?;
    eprintln!("expired-form screenshot: {}", shot.display());
    Ok(())
}
