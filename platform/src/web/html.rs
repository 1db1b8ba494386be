//! The HTML shell of every page Callbond shows to a user: escaping, the common layout (language,
//! viewport, inline style) and the response headers that go with it (a nonce-based
//! Content-Security-Policy, no referrer, no caching). Pages build their body with [`esc`] on
//! every value that did not come from this file; nothing here knows about calls.

use std::fmt::Write as _;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A fresh CSP nonce: 128 random bits, hex (CSP3 §2.3.1 wants at least 128 bits, base64 or hex
/// characters only).
pub(crate) fn new_nonce() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// One of our pages, ready to answer.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) title: String,
    /// Body HTML, already escaped where needed.
    pub(crate) body: String,
    /// Extra `<head>` HTML (e.g. the no-script refresh), already escaped.
    pub(crate) head: String,
    /// Inline script, run with the page's nonce.
    pub(crate) script: Option<String>,
    /// Extra `frame-src` sources for pages that frame subscriber content.
    pub(crate) frames: bool,
    /// `Set-Cookie` values.
    pub(crate) cookies: Vec<String>,
    /// `Retry-After` seconds, for "come back later" answers.
    pub(crate) retry_after: Option<i64>,
}

impl Page {
    pub(crate) fn new(status: StatusCode, title: impl Into<String>, body: String) -> Self {
        Page {
            status,
            title: title.into(),
            body,
            head: String::new(),
            script: None,
            frames: false,
            cookies: Vec::new(),
            retry_after: None,
        }
    }

    /// A page that says what went wrong and what to do: a heading and one paragraph.
    pub(crate) fn message(status: StatusCode, heading: &str, text: &str) -> Self {
        Self::new(
            status,
            heading,
            format!(
                "<h1>{}</h1>\n<p class=\"msg\">{}</p>\n",
                esc(heading),
                esc(text)
            ),
        )
    }
}

/// Shared look: readable on a phone, large touch targets, no external resources.
const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;padding:1rem;\
line-height:1.5;color:#1a1a1a;background:#f6f7f9;max-width:40rem;margin-inline:auto}\
h1{font-size:1.5rem;margin:.5rem 0 1rem}\
.card{background:#fff;border-radius:.75rem;padding:1rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}\
label{display:block;font-weight:600;margin-bottom:.25rem}\
input[type=tel]{width:100%;box-sizing:border-box;font-size:1.25rem;padding:.6rem;\
border:1px solid #888;border-radius:.5rem}\
button{margin-top:1rem;width:100%;font-size:1.15rem;padding:.75rem;border:0;border-radius:.5rem;\
background:#0b5fff;color:#fff}\
.error{color:#a00000;font-weight:600}\
.hint{color:#555;font-size:.9rem}\
.status{font-size:1.2rem;font-weight:600}\
iframe{width:100%;height:60vh;border:1px solid #ccc;border-radius:.5rem;background:#fff;\
margin-top:1rem}\
";

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let nonce = new_nonce();
        let mut html = String::with_capacity(self.body.len() + 2048);
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"referrer\" content=\"no-referrer\">\n\
             <title>{title}</title>\n<style nonce=\"{nonce}\">{STYLE}</style>\n{head}</head>\n\
             <body>\n<main>\n{body}</main>\n",
            title = esc(&self.title),
            head = self.head,
            body = self.body,
        );
        if let Some(script) = &self.script {
            let _ = writeln!(html, "<script nonce=\"{nonce}\">{script}</script>");
        }
        html.push_str("</body>\n</html>\n");

        // Our pages run only our own inline code (by nonce) and talk only to us. Frames: URL
        // pages may come from any http(s) site; stored pages come from us.
        let frame_src = if self.frames {
            "'self' https: http:"
        } else {
            "'none'"
        };
        let csp = format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
             connect-src 'self'; img-src 'self' data:; frame-src {frame_src}; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        );
        let mut response = (self.status, html).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            headers.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        // The session id in our URLs is the user's capability: never leak it to framed pages.
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        for cookie in &self.cookies {
            if let Ok(v) = HeaderValue::from_str(cookie) {
                headers.append(header::SET_COOKIE, v);
            }
        }
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        for (input, want) in [
            ("plain", "plain"),
            ("<script>", "&lt;script&gt;"),
            ("a&b", "a&amp;b"),
            ("\"x\" 'y'", "&quot;x&quot; &#39;y&#39;"),
            ("Café ☎", "Café ☎"),
        ] {
            assert_eq!(esc(input), want);
        }
    }

    #[test]
    fn nonces_are_fresh_and_long() {
        let a = new_nonce();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_nonce());
    }
}
