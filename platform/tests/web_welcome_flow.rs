//! The user's path through the web front in a real headless Chromium: the subscriber's page
//! with a signed speak-to-agent link → Welcome (company name, subject, number prefilled from
//! `tel`) → number typed in national form → Connect page; the call record holds TAG1, the
//! E.164 number and the client IP, and its timeline starts with `session_created`.
#![allow(clippy::unwrap_used)]

mod web_support;

use testkit::Browser;
use testkit::browser::fantoccini::Locator;
use web_support::{COMPANY, Fixture, ROUTE_LABEL, SUBJECT, Setup, USER_NUMBER, session_of};

#[tokio::test(flavor = "multi_thread")]
async fn link_to_welcome_to_connect() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::default()).await?;
    let browser = Browser::start().await?;
    fx.site
        .serve_link(&fx.signed_link(SUBJECT, Some("C42"), Some(USER_NUMBER)));

    browser.client.goto(&fx.site.url()).await?;
    browser.click("speak").await?;
    let heading = browser
        .wait_for_text("h1", &format!("Talk to {COMPANY}"))
        .await?;
    assert_eq!(heading, format!("Talk to {COMPANY}"));
    let card = browser
        .client
        .find(Locator::Css(".card p"))
        .await?
        .text()
        .await?;
    // The route's label, not its subject code.
    assert!(
        card.contains(COMPANY) && card.contains(ROUTE_LABEL) && !card.contains(SUBJECT),
        "{card}"
    );
    let field = browser.client.find(Locator::Id("number")).await?;
    assert_eq!(field.prop("value").await?.as_deref(), Some(USER_NUMBER));
    // The label is tied to the field (a screen reader names it).
    let label = browser
        .client
        .find(Locator::Css("label[for=number]"))
        .await?
        .text()
        .await?;
    assert_eq!(label, "Your phone number");
    let lang = browser
        .client
        .find(Locator::Css("html"))
        .await?
        .attr("lang")
        .await?;
    assert_eq!(lang.as_deref(), Some("en"));
    // Phone width: nothing wider than the viewport.
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            vec![],
        )
        .await?;
    assert_eq!(overflow, serde_json::json!(false), "Welcome overflows");
    let shot = browser.screenshot("welcome").await?;
    eprintln!("Welcome screenshot: {}", shot.display());
    assert!(fx.calls().is_empty(), "showing Welcome stored a call");

    // National form, read with the policy's default country (US).
    field.clear().await?;
    field.send_keys("(201) 555-0123").await?;
    browser.click("call-me").await?;
    let url = browser.wait_for_url(|u| u.contains("/sessions/")).await?;
    let connect_heading = browser.wait_for_text("h1", "Your call with").await?;
    assert_eq!(connect_heading, format!("Your call with {COMPANY}"));
    // Before the runtime's first status the page says what happens next; after it, the
    // runtime's words (its state is "calling" while the user's phone rings).
    let status = browser.client.find(Locator::Id("status")).await?;
    assert!(!status.text().await?.is_empty());
    assert_eq!(status.attr("data-state").await?.as_deref(), Some("calling"));
    let shot = browser.screenshot("connect").await?;
    eprintln!("Connect screenshot: {}", shot.display());

    let session = session_of(&url);
    assert_eq!(session.len(), 32, "128-bit hex session id: {session}");
    let calls = fx.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(call.id.as_str(), session);
    assert_eq!(call.user_number.as_str(), USER_NUMBER);
    assert_eq!(call.subject_code.as_str(), SUBJECT);
    assert_eq!(call.whisper_code.as_ref().map(|w| w.as_str()), Some("C42"));
    assert!(call.client_ip.is_loopback());
    let events = fx.db().list_call_events(&fx.sid, &call.id)?;
    assert_eq!(events[0].kind(), "session_created", "{events:?}");
    assert_eq!(
        events[0].detail()["page"],
        serde_json::json!(fx.site.url()),
        "the page the user came from is kept for the whisper"
    );
    browser.close().await?;
    Ok(())
}
