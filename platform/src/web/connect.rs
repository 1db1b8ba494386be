//! The Connect page (seed 002 steps 205, 217): live status, elapsed time, the pushed page and
//! the list of pages pushed so far, the subscriber's promotional content, and the cancel
//! button; its event stream. The Disconnect page is `ended`, the sandboxed subscriber HTML
//! `session`.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use pagepush::{PushEvent, SessionId, Snapshot};
use serde::Deserialize;
use words::Word;

use super::WebState;
use super::brand::Brand;
use super::html::{Nonce, Page};
use super::session::{Pushed, known, open, parse_session};
use crate::AppState;

/// Seconds between reloads of the Connect page in browsers without JavaScript.
const NO_SCRIPT_REFRESH_SECS: u32 = 5;

/// `GET /sessions/{id}`: the Connect page.
pub(crate) async fn connect(
    State(state): State<AppState>,
    Extension(web): Extension<Arc<WebState>>,
    Path(raw): Path<String>,
) -> Response {
    let (session, known) = match open(&state, &raw).await {
        Ok(found) => found,
        Err(r) => return *r,
    };
    // `None`: the push channel forgot the session (ended and swept, or the platform
    // restarted); the page then only refreshes until the call record says it ended.
    let snapshot = state.hub().snapshot(&session).ok();
    let live = snapshot.as_ref().map(|s| Live {
        session: &session,
        after: s.last_event_id,
    });
    let snapshot = snapshot.unwrap_or_default();
    if snapshot.ended.is_some() || known.call.ended_at.is_some() {
        return Redirect::to(&format!("/sessions/{session}/ended")).into_response();
    }
    let (state_name, text) = status_of(&snapshot);
    let frame = match &snapshot.last_page {
        Some(PushEvent::Page {
            page_id,
            title,
            url,
        }) => Some(Frame {
            page_id: *page_id,
            title,
            url,
        }),
        _ => None,
    };
    let cancel_token = web.form_key.session_token(session.as_str());
    let mut page = Page::render(StatusCode::OK, &known.brand, |nonce| ConnectHtml {
        nonce,
        brand: &known.brand,
        session: &session,
        state: state_name,
        text: &text,
        frame,
        live,
        since_ms: known.call.created_at.timestamp_millis(),
        pushed: &known.pushed,
        promo: known.promo,
        cancel_token: &cancel_token,
        refresh_secs: NO_SCRIPT_REFRESH_SECS,
        html_sandbox: pagepush::frame_sandbox_for_html(),
        url_sandbox: pagepush::frame_sandbox_for_url(),
    });
    page.frames = true;
    page.into_response()
}

/// The Connect page (`templates/web/connect.html`, its script `templates/web/connect.js`).
#[derive(Template)]
#[template(path = "web/connect.html")]
struct ConnectHtml<'a> {
    nonce: Nonce,
    brand: &'a Brand,
    session: &'a SessionId,
    /// `data-state` of the status line, the same names the event stream sends.
    state: &'static str,
    text: &'a str,
    frame: Option<Frame<'a>>,
    /// Present while the push channel knows the session: the page then listens to it.
    /// Without it the page refreshes itself even with scripts on.
    live: Option<Live<'a>>,
    /// When the visitor asked for the call (unix ms), for the elapsed time.
    since_ms: i64,
    pushed: &'a [Pushed],
    /// Whether to frame the subscriber's promotional content.
    promo: bool,
    /// The cancel form's CSRF token.
    cancel_token: &'a str,
    refresh_secs: u32,
    html_sandbox: &'static str,
    url_sandbox: &'static str,
}

/// The last pushed page, in its frame.
struct Frame<'a> {
    page_id: i64,
    title: &'a str,
    url: &'a str,
}

impl Frame<'_> {
    /// Stored HTML is ours, served under the session; anything else is a subscriber URL (a
    /// protocol-relative `//host` is not ours).
    fn stored(&self) -> bool {
        self.url.starts_with("/sessions/")
    }

    /// Stored HTML runs with no script and an opaque origin; a subscriber URL may run its own
    /// script, never with our origin.
    fn sandbox(&self) -> &'static str {
        if self.stored() {
            pagepush::frame_sandbox_for_html()
        } else {
            pagepush::frame_sandbox_for_url()
        }
    }
}

/// Where the live script listens: the stream of `session`, after the events the server
/// already rendered; the browser's own reconnects carry `Last-Event-ID`.
struct Live<'a> {
    session: &'a SessionId,
    after: u64,
}

/// The status line for a snapshot; before the runtime's first status, say what happens next.
fn status_of(snapshot: &Snapshot) -> (&'static str, String) {
    match &snapshot.status {
        Some((s, text)) => (s.word(), text.clone()),
        None => (
            "calling",
            "We are calling you now. Please answer your phone.".to_owned(),
        ),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct EventsQuery {
    /// Where the page's server render stopped; `Last-Event-ID` wins when the browser sends it.
    pub(super) after: Option<u64>,
}

/// `GET /sessions/{id}/events`: the push channel (Server-Sent Events).
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    stream(&state, &raw, query.after, &headers, "session")
}

/// The push channel of the session `raw` names (a call's or a callback request's page) as
/// Server-Sent Events, from `after` unless the browser's `Last-Event-ID` says otherwise;
/// 404 naming `what` for an id the hub does not know.
pub(super) fn stream(
    state: &AppState,
    raw: &str,
    after: Option<u64>,
    headers: &HeaderMap,
    what: &str,
) -> Response {
    let Ok(session) = raw.parse::<SessionId>() else {
        return (StatusCode::NOT_FOUND, format!("unknown {what}\n")).into_response();
    };
    let from_query = after.map(HeaderValue::from);
    let last = headers.get("last-event-id").or(from_query.as_ref());
    match pagepush::sse_response(state.hub(), &session, last) {
        Ok(sse) => {
            let mut response = sse.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => (
            StatusCode::NOT_FOUND,
            format!("unknown or finished {what}\n"),
        )
            .into_response(),
    }
}

/// `POST /sessions/{id}/cancel` (form: `csrf`): the visitor ends the call. The flow cancels
/// the user's leg while it rings, hangs it up once answered, and ends the record as
/// `cancelled`. A browser without scripts lands on the Disconnect page once the call ended.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Extension(web): Extension<Arc<WebState>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let session = match parse_session(&raw) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    if !genuine_form(&web, &session, &body) {
        tracing::info!(%session, "cancel refused: form check");
        return Page::message(
            StatusCode::FORBIDDEN,
            "Please reload this page",
            "We could not confirm that this request came from your call's page. Reload the \
             page and press the button again.",
        )
        .into_response();
    }
    let known = match known(&state, &session).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    if known.call.ended_at.is_none() && state.runtime().cancel(&session) {
        tracing::info!(%session, "the visitor asked to cancel the call");
        // Give the flow a moment to end the legs and close the record, so the answer can be
        // the Disconnect page; the Connect page follows the end either way.
        for _ in 0..CANCEL_WAIT_STEPS {
            if ended(&state, &session).await {
                break;
            }
            tokio::time::sleep(CANCEL_WAIT_STEP).await;
        }
    }
    Redirect::to(&format!("/sessions/{session}/ended")).into_response()
}

/// How long `cancel` waits for the record to close: 30 × 100 ms.
const CANCEL_WAIT_STEPS: u32 = 30;
const CANCEL_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(100);

async fn ended(state: &AppState, session: &SessionId) -> bool {
    let id = session.clone();
    matches!(
        state.with_db(move |db| db.get_call_by_session(&id)).await,
        Ok(Ok(call)) if call.ended_at.is_some()
    )
}

#[derive(Debug, Default, Deserialize)]
struct CancelForm {
    csrf: Option<String>,
}

/// Whether a posted form (field `csrf`) came from a page we rendered for `session`.
pub(super) fn genuine_form(web: &WebState, session: &SessionId, body: &[u8]) -> bool {
    let form: CancelForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    form.csrf
        .as_deref()
        .is_some_and(|t| web.form_key.verify_session_token(session.as_str(), t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::html::hostile;

    fn session() -> SessionId {
        "0123456789abcdef0123456789abcdef"
            .parse()
            .expect("32 hex digits are a session id")
    }

    fn connect_page(frame: Option<Frame<'_>>, live: Option<Live<'_>>, text: &str) -> String {
        let brand = Brand {
            name: hostile::VALUE.to_owned(),
            ..Brand::neutral()
        };
        let pushed = [Pushed {
            page_id: 9,
            title: hostile::VALUE.to_owned(),
            url: format!("https://shop.example/{}", hostile::VALUE),
        }];
        let session = session();
        Page::render(StatusCode::OK, &brand, |nonce| ConnectHtml {
            nonce,
            brand: &brand,
            session: &session,
            state: "calling",
            text,
            frame,
            live,
            since_ms: 1_700_000_000_000,
            pushed: &pushed,
            promo: true,
            cancel_token: "c0ffee",
            refresh_secs: NO_SCRIPT_REFRESH_SECS,
            html_sandbox: pagepush::frame_sandbox_for_html(),
            url_sandbox: pagepush::frame_sandbox_for_url(),
        })
        .html()
        .to_owned()
    }

    #[test]
    fn every_connect_field_is_escaped() {
        let url = format!("https://shop.example/{}", hostile::VALUE);
        let frame = Frame {
            page_id: 7,
            title: hostile::VALUE,
            url: &url,
        };
        let session = session();
        let html = connect_page(
            Some(frame),
            Some(Live {
                session: &session,
                after: 3,
            }),
            hostile::VALUE,
        );
        // company ×5 (title, header, heading, promo heading and frame title), status text,
        // frame title ×2, URL ×2 (src, href), pushed list title and URL.
        hostile::assert_escaped(&html, 12);
        assert!(
            html.contains(&format!(
                "<iframe id=\"promo-frame\" title=\"From {}\" src=\"/sessions/{session}/promo\" sandbox=\"{}\"",
                "&#60;script&#62;alert(&#34;x&#34; &#38; &#39;y&#39;)&#60;/script&#62;",
                pagepush::frame_sandbox_for_html()
            )),
            "{html}"
        );
        assert!(
            html.contains(&format!(
                "<form method=\"post\" action=\"/sessions/{session}/cancel\" class=\"actions\">\n<input type=\"hidden\" name=\"csrf\" value=\"c0ffee\">"
            )),
            "{html}"
        );
    }

    #[test]
    fn frames_are_sandboxed_by_kind() {
        let stored = connect_page(
            Some(Frame {
                page_id: 1,
                title: "t",
                url: "/sessions/0123/pages/1",
            }),
            None,
            "s",
        );
        assert!(stored.contains(&format!(
            "sandbox=\"{}\"",
            pagepush::frame_sandbox_for_html()
        )));
        assert!(!stored.contains("page-open"));
        let url = connect_page(
            Some(Frame {
                page_id: 2,
                title: "t",
                url: "https://shop.example/a?b=c",
            }),
            None,
            "s",
        );
        assert!(url.contains(&format!(
            "sandbox=\"{}\"",
            pagepush::frame_sandbox_for_url()
        )));
        assert!(url.contains("page-open"));
        // A protocol-relative URL is not one of ours.
        let relative = Frame {
            page_id: 3,
            title: "t",
            url: "//evil.example/x",
        };
        assert!(!relative.stored());
        assert_eq!(relative.sandbox(), pagepush::frame_sandbox_for_url());
    }

    #[test]
    fn the_live_script_runs_only_while_the_channel_knows_the_session() {
        let session = session();
        let live = connect_page(
            None,
            Some(Live {
                session: &session,
                after: 42,
            }),
            "s",
        );
        let script = live.split("<script nonce=\"").nth(1).unwrap_or_default();
        assert!(
            script.contains(&format!(
                "data-events=\"/sessions/{session}/events?after=42\""
            )),
            "{live}"
        );
        assert!(script.contains("new EventSource(cfg.events)"), "{live}");
        assert!(
            live.contains(
                "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>\n</head>"
            )
        );
        let dead = connect_page(None, None, "s");
        assert!(!dead.contains("<script"), "{dead}");
        assert!(dead.contains("<meta http-equiv=\"refresh\" content=\"5\">\n</head>"));
    }
}
