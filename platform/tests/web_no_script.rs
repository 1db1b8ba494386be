//! The Connect page without JavaScript (issue 4, point 8). chromedriver cannot drive a Chromium
//! with scripts switched off (its commands hang), so this reads the page as such a browser
//! does: the refresh fallback is in a `<noscript>` (ignored by browsers running scripts), and
//! each reload renders the current snapshot — status, and the last pushed page in its
//! sandboxed frame.
#![allow(clippy::unwrap_used)]

mod web_support;

use serde_json::json;
use web_support::{Fixture, Setup, USER_NUMBER, http, request_call};

#[tokio::test(flavor = "multi_thread")]
async fn each_reload_shows_the_current_snapshot() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::default()).await?;
    let session = request_call(&fx, USER_NUMBER).await?;
    let url = fx.cb.url(&format!("/sessions/{session}"));

    let response = http().get(&url).send().await?;
    // Our pages run only our own inline code: the CSP's nonce is the one on our script.
    let csp = response.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    let before = response.text().await?;
    let nonce_at = before.find("<script nonce=\"").unwrap() + "<script nonce=\"".len();
    let nonce = &before[nonce_at..nonce_at + 32];
    assert!(
        csp.contains(&format!("script-src 'nonce-{nonce}'")),
        "{csp}"
    );
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    let again = http().get(&url).send().await?.text().await?;
    assert!(!again.contains(nonce), "a nonce is never reused");
    let refresh = "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>";
    assert!(before.contains(refresh), "{before}");
    assert!(before.contains("id=\"status\""), "{before}");
    assert!(!before.contains("<iframe"), "no page before a push");

    let (status, body) = fx.push(&session, json!({ "digits": "1" })).await;
    assert_eq!(status, 200, "{body}");
    let after = http().get(&url).send().await?.text().await?;
    let frame = format!(
        "<iframe id=\"page-frame\" title=\"Your bill\" src=\"/sessions/{session}/pages/{}\" \
         sandbox=\"{}\"",
        fx.pages[0].0,
        pagepush::frame_sandbox_for_html()
    );
    assert!(after.contains(&frame), "{after}");
    assert!(after.contains(refresh));

    let (status, second) = fx.push(&session, json!({ "digits": "2" })).await;
    assert_eq!(status, 200);
    let latest = http().get(&url).send().await?.text().await?;
    assert!(latest.contains("title=\"Payment plan\""), "{latest}");
    assert_eq!(latest.matches("<iframe").count(), 1);
    // The live script starts after what the page already shows, so it repeats nothing.
    assert_eq!(
        json!(rendered_after(&latest)),
        second["event_id"],
        "the stream resumes after the last event the page shows"
    );
    Ok(())
}

/// The event id the page's live script resumes after.
fn rendered_after(html: &str) -> u64 {
    let start = html.find("/events?after=").unwrap() + "/events?after=".len();
    html[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}
