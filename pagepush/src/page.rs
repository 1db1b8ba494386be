//! Pushed-page helpers, pure: the URL a browser frame loads for a page, the
//! Content-Security-Policy for serving stored subscriber HTML, and the iframe `sandbox` values.
//!
//! Why these values: stored subscriber HTML is served from Callbond's own origin, under the
//! session path. If any script in it ran with that origin it could read the session page,
//! call the session API with the user's cookies, or push itself elsewhere. The CSP `sandbox`
//! directive (CSP3 §6.3.2, HTML "sandboxing flag set") without `allow-same-origin` gives the
//! document an opaque origin even when opened directly (not only inside our iframe), and
//! without `allow-scripts` no script runs at all; `default-src 'none'` blocks scripts,
//! connections and frames a second time. Images, styles and fonts may load from anywhere so
//! subscriber pages look right. `frame-ancestors 'self'` lets only our Connect page embed it.
//! Popups may escape the sandbox so "open in a new tab" links work normally.
//!
//! URL pages are the subscriber's own site on its own origin: scripts and forms there cannot
//! reach Callbond (the same-origin policy already separates them), so the frame allows
//! `allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox` — but never
//! `allow-same-origin`: a URL that happens to point at our own origin then still runs with an
//! opaque origin (no cookies, no session API), and scripts plus same-origin together would
//! let a framed page remove its own sandbox (HTML "iframe sandbox" security note).

use words::SessionId;

/// Builds the URLs under which pushed pages are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLink {
    base: String,
}

impl PageLink {
    /// `base` is the path prefix the platform mounts sessions under, e.g. `""` or `"/cb"`;
    /// trailing slashes are ignored.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// `{base}/sessions/{sid}/pages/{page_id}`: where stored HTML for this session is served.
    /// The session id is hex and the page id a number, so nothing needs escaping.
    pub fn stored_page(&self, session: &SessionId, page_id: i64) -> String {
        format!("{}/sessions/{}/pages/{}", self.base, session, page_id)
    }
}

/// `Content-Security-Policy` for responses that carry stored subscriber HTML.
pub fn sandbox_csp() -> &'static str {
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; \
     img-src * data:; style-src 'unsafe-inline' *; font-src *; frame-ancestors 'self'"
}

/// iframe `sandbox` attribute for stored HTML: no scripts, opaque origin.
pub fn frame_sandbox_for_html() -> &'static str {
    "allow-popups allow-popups-to-escape-sandbox"
}

/// iframe `sandbox` attribute for a subscriber URL page: its scripts and forms may run, but
/// never with `allow-same-origin`.
pub fn frame_sandbox_for_url() -> &'static str {
    "allow-scripts allow-forms allow-popups allow-popups-to-escape-sandbox"
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn sid() -> SessionId {
        "0123456789abcdef0123456789abcdef".parse().unwrap()
    }

    #[test]
    fn stored_page_url_under_base() {
        let cases = [
            ("", "/sessions/0123456789abcdef0123456789abcdef/pages/7"),
            (
                "/cb/",
                "/cb/sessions/0123456789abcdef0123456789abcdef/pages/7",
            ),
        ];
        for (base, want) in cases {
            assert_eq!(PageLink::new(base).stored_page(&sid(), 7), want);
        }
    }

    #[test]
    fn stored_html_can_never_run_script_with_our_origin() {
        let csp = sandbox_csp();
        let sandbox = csp.split(';').next().unwrap();
        assert!(sandbox.trim().starts_with("sandbox "));
        for forbidden in ["allow-same-origin", "allow-scripts"] {
            assert!(!csp.contains(forbidden), "{forbidden} in CSP");
            assert!(!frame_sandbox_for_html().contains(forbidden));
        }
        assert!(csp.contains("default-src 'none'"));
        assert!(!frame_sandbox_for_url().contains("allow-same-origin"));
    }
}
