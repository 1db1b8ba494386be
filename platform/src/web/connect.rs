//! The pages under a call session (seed 002 steps 205, 217, 219): the Connect page with live
//! status and the pushed page, its event stream, the stored subscriber pages served sandboxed,
//! and the Disconnect page. The 128-bit session id in the path is the browser's capability;
//! our pages never send it on as a referrer.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use pagepush::{PushEvent, SessionId, Snapshot};
use serde::Deserialize;
use subscriber_db::{Call, DbError, PageContent, PageId};
use words::Word;

use super::html::{Nonce, Page};
use crate::AppState;

/// Seconds between reloads of the Connect page in browsers without JavaScript.
const NO_SCRIPT_REFRESH_SECS: u32 = 5;

/// What the database knows about a session, for titles and for sessions the hub forgot.
struct Known {
    call: Call,
    company: String,
}

async fn known(state: &AppState, session: &SessionId) -> Result<Known, Response> {
    let Ok(id) = session.as_str().parse::<subscriber_db::SessionId>() else {
        return Err(not_found());
    };
    let found = state
        .with_db(move |db| {
            let call = db.get_call_by_session(&id)?;
            let subscriber = db.get_subscriber(&call.subscriber_id)?;
            Ok::<_, DbError>(Known {
                call,
                company: subscriber.display_name.as_str().to_owned(),
            })
        })
        .await;
    match found {
        Ok(Ok(k)) => Ok(k),
        Ok(Err(DbError::NotFound { .. })) => Err(not_found()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "database error on a session page");
            Err(unavailable())
        }
        Err(_) => Err(unavailable()),
    }
}

fn parse_session(raw: &str) -> Result<SessionId, Box<Response>> {
    raw.parse().map_err(|_| Box::new(not_found()))
}

fn not_found() -> Response {
    Page::message(
        StatusCode::NOT_FOUND,
        "Call not found",
        "We do not know this call. If you asked for a call-back, open the company's link again.",
    )
    .into_response()
}

fn unavailable() -> Response {
    Page::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is not available right now",
        "Please reload this page in a moment.",
    )
    .into_response()
}

/// `GET /sessions/{id}`: the Connect page.
pub(crate) async fn connect(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let session = match parse_session(&raw) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let known = match known(&state, &session).await {
        Ok(k) => k,
        Err(r) => return r,
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
    let mut page = Page::render(StatusCode::OK, |nonce| ConnectHtml {
        nonce,
        company: &known.company,
        state: state_name,
        text: &text,
        frame,
        live,
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
    company: &'a str,
    /// `data-state` of the status line, the same names the event stream sends.
    state: &'static str,
    text: &'a str,
    frame: Option<Frame<'a>>,
    /// Present while the push channel knows the session: the page then listens to it.
    /// Without it the page refreshes itself even with scripts on.
    live: Option<Live<'a>>,
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
    after: Option<u64>,
}

/// `GET /sessions/{id}/events`: the push channel (Server-Sent Events).
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(query): Query<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    let Ok(session) = raw.parse::<SessionId>() else {
        return (StatusCode::NOT_FOUND, "unknown session\n").into_response();
    };
    let from_query = query.after.map(HeaderValue::from);
    let last = headers.get("last-event-id").or(from_query.as_ref());
    match pagepush::sse_response(state.hub(), &session, last) {
        Ok(sse) => {
            let mut response = sse.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => (StatusCode::NOT_FOUND, "unknown or finished session\n").into_response(),
    }
}

/// `GET /sessions/{id}/pages/{page_id}`: a stored page of the session's subscriber, served
/// with the sandboxing CSP so its scripts never run with our origin, even opened directly.
pub(crate) async fn stored_page(
    State(state): State<AppState>,
    Path((raw, page_id)): Path<(String, String)>,
) -> Response {
    let (Ok(session), Ok(page_id)) = (raw.parse::<SessionId>(), page_id.parse::<i64>()) else {
        return (StatusCode::NOT_FOUND, "page not found\n").into_response();
    };
    let known = match known(&state, &session).await {
        Ok(k) => k,
        Err(_) => return (StatusCode::NOT_FOUND, "page not found\n").into_response(),
    };
    let sid = known.call.subscriber_id.clone();
    let page = state
        .with_db(move |db| db.get_page(&sid, PageId(page_id)))
        .await;
    let html = match page {
        Ok(Ok(p)) => match p.content {
            PageContent::Html(html) => html.as_str().to_owned(),
            PageContent::Url(_) => {
                return (StatusCode::NOT_FOUND, "page not found\n").into_response();
            }
        },
        _ => return (StatusCode::NOT_FOUND, "page not found\n").into_response(),
    };
    let mut response = (StatusCode::OK, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(pagepush::sandbox_csp()),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /sessions/{id}/ended`: the Disconnect page.
pub(crate) async fn ended(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let session = match parse_session(&raw) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let known = match known(&state, &session).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let pushed = state.hub().snapshot(&session).ok().and_then(|s| s.ended);
    let text = match (&pushed, &known.call.ended_at) {
        (Some(PushEvent::Ended { text, .. }), _) => text.clone(),
        (_, Some(_)) => "The call has ended.".to_owned(),
        // Still in progress: this page is not the right one yet.
        _ => return Redirect::to(&format!("/sessions/{session}")).into_response(),
    };
    Page::render(StatusCode::OK, |nonce| EndedHtml {
        nonce,
        text: &text,
        company: &known.company,
    })
    .into_response()
}

/// The Disconnect page (`templates/web/ended.html`).
#[derive(Template)]
#[template(path = "web/ended.html")]
struct EndedHtml<'a> {
    nonce: Nonce,
    text: &'a str,
    company: &'a str,
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
        Page::render(StatusCode::OK, |nonce| ConnectHtml {
            nonce,
            company: hostile::VALUE,
            state: "calling",
            text,
            frame,
            live,
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
        // company ×2 (title, heading), status text, frame title ×2, URL ×2 (src, href).
        hostile::assert_escaped(&html, 7);
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

    #[test]
    fn ended_escapes_text_and_company() {
        let html = Page::render(StatusCode::OK, |nonce| EndedHtml {
            nonce,
            text: hostile::VALUE,
            company: hostile::VALUE,
        })
        .html()
        .to_owned();
        hostile::assert_escaped(&html, 2);
    }
}
