//! The shell of every page Callbond shows to a user: rendering a page template and the response
//! headers that go with it (a nonce-based Content-Security-Policy, no referrer, no caching).
//! The common layout (language, viewport, style) is `templates/web/page.html`; every value a
//! template prints is HTML-escaped by askama, so no page builds markup by hand. Nothing here
//! knows about calls.

use std::fmt;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::brand::Brand;

/// A CSP nonce: 128 random bits, hex (CSP3 §2.3.1 wants at least 128 bits, base64 or hex
/// characters only). One per response, printed on our `<style>` and `<script>` elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Nonce(String);

impl Nonce {
    fn fresh() -> Self {
        Nonce(hex::encode(rand::random::<[u8; 16]>()))
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of our pages, rendered and ready to answer.
pub(crate) struct Page {
    status: StatusCode,
    /// The nonce the page was rendered with, for the CSP header.
    nonce: Nonce,
    html: Result<String, askama::Error>,
    /// Extra `frame-src` sources for pages that frame subscriber content.
    pub(crate) frames: bool,
    /// The subscriber's logo, the one image from outside the page may load (`img-src`).
    logo: Option<String>,
    /// `Set-Cookie` values.
    pub(crate) cookies: Vec<String>,
    /// `Retry-After` seconds, for "come back later" answers.
    pub(crate) retry_after: Option<i64>,
}

/// A page that says what went wrong and what to do: a heading, one paragraph and the way
/// forward (back to the subscriber's site when we know it).
pub(crate) struct Message<'a> {
    pub(crate) brand: &'a Brand,
    pub(crate) heading: &'a str,
    pub(crate) text: &'a str,
    /// When a closed call center opens again, for the visitor's own clock.
    pub(crate) opens: Option<Opening>,
}

/// An opening time the page also shows in the visitor's time zone (client-side `Intl`); the
/// server's sentence in the call center's zone is what a browser without scripts reads.
pub(crate) struct Opening {
    /// RFC 3339, UTC.
    pub(crate) at: String,
    /// The call center's IANA zone, so the script says nothing when the visitor shares it.
    pub(crate) zone: String,
}

/// [`Message`]'s template.
#[derive(Template)]
#[template(path = "web/message.html")]
struct MessageHtml<'a> {
    nonce: Nonce,
    brand: &'a Brand,
    m: &'a Message<'a>,
}

impl Message<'_> {
    pub(crate) fn page(&self, status: StatusCode) -> Page {
        Page::render(status, self.brand, |nonce| MessageHtml {
            nonce,
            brand: self.brand,
            m: self,
        })
    }
}

impl Page {
    /// Renders the template `build` makes with this response's nonce. The nonce is handed in
    /// rather than chosen by the caller so the page and its CSP header cannot disagree; so is
    /// the brand, whose logo the CSP must allow.
    pub(crate) fn render<T: Template>(
        status: StatusCode,
        brand: &Brand,
        build: impl FnOnce(Nonce) -> T,
    ) -> Self {
        let nonce = Nonce::fresh();
        let html = build(nonce.clone()).render();
        Page {
            status,
            nonce,
            html,
            frames: false,
            logo: brand.logo_url.clone(),
            cookies: Vec::new(),
            retry_after: None,
        }
    }

    /// A page that belongs to no subscriber we know, saying what went wrong and what to do.
    pub(crate) fn message(status: StatusCode, heading: &str, text: &str) -> Self {
        Message {
            brand: &Brand::neutral(),
            heading,
            text,
            opens: None,
        }
        .page(status)
    }
}

#[cfg(test)]
impl Page {
    /// The rendered HTML (empty if it did not render), for the templates' tests.
    pub(crate) fn html(&self) -> &str {
        self.html.as_deref().unwrap_or_default()
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let html = match self.html {
            Ok(html) => html,
            Err(e) => {
                // Only a failing `Display` of a printed value gets here; ours do not fail.
                tracing::error!(error = %e, "a page template did not render");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "This page could not be shown. Please reload it in a moment.\n",
                )
                    .into_response();
            }
        };
        let nonce = &self.nonce;
        // Our pages run only our own inline code (by nonce) and talk only to us. Frames: URL
        // pages may come from any http(s) site; stored pages come from us.
        let frame_src = if self.frames {
            "'self' https: http:"
        } else {
            "'none'"
        };
        // The logo is named exactly (a source with a path matches that URL only, CSP3
        // §6.7.2.11); `LogoUrl` holds no character that could end the source or directive.
        let logo = self
            .logo
            .as_deref()
            .map(|l| format!(" {l}"))
            .unwrap_or_default();
        let csp = format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
             connect-src 'self'; img-src 'self' data:{logo}; frame-src {frame_src}; \
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

/// Shared by the templates' tests: a value that breaks out of element content and of either
/// quoting of an attribute if it is printed raw.
#[cfg(test)]
pub(crate) mod hostile {
    pub(crate) const VALUE: &str = "<script>alert(\"x\" & 'y')</script>";
    /// [`VALUE`] as askama's HTML escaper writes it.
    const ESCAPED: &str = "&#60;script&#62;alert(&#34;x&#34; &#38; &#39;y&#39;)&#60;/script&#62;";

    /// `html` printed [`VALUE`] exactly `times` times, escaped each time, and never raw. The
    /// raw checks are what fail when escaping is switched off (`|safe`, `escape = "none"`).
    pub(crate) fn assert_escaped(html: &str, times: usize) {
        assert!(!html.contains("<script>alert"), "raw markup in:\n{html}");
        assert!(!html.contains("\"x\""), "raw double quotes in:\n{html}");
        assert!(!html.contains("'y'"), "raw single quotes in:\n{html}");
        assert!(!html.contains(" & "), "raw ampersand in:\n{html}");
        assert_eq!(html.matches(ESCAPED).count(), times, "in:\n{html}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(page: Page) -> (Response<()>, String) {
        let response = page.into_response();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        (
            Response::from_parts(parts, ()),
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    #[tokio::test]
    async fn message_escapes_heading_and_text() {
        let page = Page::message(StatusCode::BAD_REQUEST, hostile::VALUE, hostile::VALUE);
        let (_, html) = body_of(page).await;
        // Title, heading, paragraph.
        hostile::assert_escaped(&html, 3);
        let brand = Brand {
            name: hostile::VALUE.to_owned(),
            site: Some(format!("https://shop.example/{}", hostile::VALUE)),
            ..Brand::neutral()
        };
        let page = Message {
            brand: &brand,
            heading: "h",
            text: "t",
            opens: Some(Opening {
                at: hostile::VALUE.to_owned(),
                zone: hostile::VALUE.to_owned(),
            }),
        }
        .page(StatusCode::OK);
        let (_, html) = body_of(page).await;
        // Header name, back link href and its text (possessive), opening time and zone.
        hostile::assert_escaped(&html, 5);
        assert!(
            html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n"),
            "{html}"
        );
    }

    #[tokio::test]
    async fn the_csp_nonce_is_the_one_on_the_style() {
        let (response, html) = body_of(Page::message(StatusCode::OK, "a", "b")).await;
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        let nonce = html
            .split("<style nonce=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default();
        assert_eq!(nonce.len(), 32, "{html}");
        assert!(csp.contains(&format!("style-src 'nonce-{nonce}'")), "{csp}");
        assert!(csp.contains("frame-src 'none'"), "{csp}");
        assert!(csp.contains("img-src 'self' data:;"), "{csp}");
    }

    #[tokio::test]
    async fn a_logo_is_the_one_outside_image_allowed() {
        let brand = Brand {
            name: "Acme".to_owned(),
            logo_url: Some("https://cdn.acme.example/logo.svg".to_owned()),
            ..Brand::neutral()
        };
        let page = Message {
            brand: &brand,
            heading: "h",
            text: "t",
            opens: None,
        }
        .page(StatusCode::OK);
        let (response, html) = body_of(page).await;
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            csp.contains("img-src 'self' data: https://cdn.acme.example/logo.svg;"),
            "{csp}"
        );
        assert!(
            html.contains("<img class=\"logo\" src=\"https://cdn.acme.example/logo.svg\" alt=\"\""),
            "{html}"
        );
    }

    #[test]
    fn nonces_are_fresh_and_long() {
        let a = Nonce::fresh();
        assert_eq!(a.to_string().len(), 32);
        assert_ne!(a, Nonce::fresh());
    }
}
