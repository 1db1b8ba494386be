//! The demo subscriber's own web page, served on its own port as a subscriber's site would
//! be: a support page with signed speak-to-agent links to Callbond (TAG1: subject, whisper
//! code, expiry, signature). It stands in for the subscriber's website only; Callbond's pages
//! are served by Callbond.

use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::response::Html;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::link::{SignedFields, sign};

/// How long the demo page's links stay valid.
const LINK_LIFETIME_SECS: i64 = 24 * 3600;

/// A signed `/speak` link on `base` for the demo subscriber.
pub(crate) fn speak_link(base: &str, sid: &str, sc: &str, wc: &str, secret: &[u8]) -> String {
    let exp = chrono::Utc::now().timestamp() + LINK_LIFETIME_SECS;
    let fields = SignedFields {
        sid,
        sc,
        wc: Some(wc),
        tel: None,
        exp,
    };
    let sig = sign(secret, &fields);
    format!("{base}/speak?sid={sid}&sc={sc}&wc={wc}&exp={exp}&sig={sig}")
}

/// The page's template (`templates/demo/page.html`).
#[derive(Template)]
#[template(path = "demo/page.html")]
struct DemoHtml<'a> {
    links: &'a [(&'a str, String)],
    /// The agent desk, for the demo's second tab.
    console: &'a str,
}

/// The page's HTML with `links` (label, URL) and a footer link to the agent desk `console`.
pub(crate) fn html(links: &[(&str, String)], console: &str) -> String {
    DemoHtml { links, console }.render().unwrap_or_else(|e| {
        // Only a failing `Display` of a printed value gets here; `str`'s does not fail.
        tracing::error!(error = %e, "the demo page did not render");
        String::new()
    })
}

/// Serves `page` at `/` on 127.0.0.1 (port chosen by the system) until `shutdown`.
pub(crate) async fn serve(
    page: String,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let app = Router::new().route("/", get(move || async move { Html(page.clone()) }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::verify;

    #[test]
    fn links_are_signed_for_the_site() {
        let secret = [7u8; 32];
        let link = speak_link("http://127.0.0.1:8080", "demo", "support", "D1", &secret);
        let query = link.split_once('?').map(|(_, q)| q).unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let exp: i64 = get("exp").and_then(|e| e.parse().ok()).unwrap_or(0);
        let fields = SignedFields {
            sid: "demo",
            sc: "support",
            wc: Some("D1"),
            tel: None,
            exp,
        };
        let sig = get("sig").unwrap_or_default();
        assert!(verify(&secret, &fields, &sig, chrono::Utc::now().timestamp()).is_ok());
        let page = html(
            &[("Talk to us", link.clone())],
            "http://127.0.0.1:8080/console",
        );
        // In an attribute the link's `&` is written as a character reference.
        assert!(page.contains(&link.replace('&', "&#38;")), "{page}");
        assert!(
            page.contains(r#"<a id="agent-desk" href="http://127.0.0.1:8080/console">"#),
            "{page}"
        );
    }

    #[test]
    fn labels_and_links_are_escaped() {
        let evil = crate::web::hostile::VALUE;
        let page = html(&[(evil, evil.to_owned())], "http://127.0.0.1:8080/console");
        crate::web::hostile::assert_escaped(&page, 3);
    }
}
