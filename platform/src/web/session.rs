//! What every page under a call session reads from the database (the call, the subscriber's
//! branding, the pages pushed so far) and the subscriber HTML served there, sandboxed: stored
//! pages and the promotional content. The 128-bit session id in the path is the browser's
//! capability; our pages never send it on as a referrer.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pagepush::SessionId;
use subscriber_db::{Call, Db, DbError, DbResult, PageContent, PageId, TimelineEvent};

use super::brand::{self, Brand};
use super::html::Page;
use crate::AppState;

/// A session as its pages show it.
pub(super) struct Known {
    pub(super) call: Call,
    pub(super) brand: Brand,
    /// Whether the subscriber has promotional content for the Connect page.
    pub(super) promo: bool,
    /// The subscriber page the visitor came from (the Referer the call was asked from).
    pub(super) came_from: Option<String>,
    /// Every page pushed in this call, once each, in the order first shown.
    pub(super) pushed: Vec<Pushed>,
}

/// A page the agent showed, as the visitor can open it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pushed {
    pub(super) page_id: i64,
    pub(super) title: String,
    pub(super) url: String,
}

pub(super) async fn known(state: &AppState, session: &SessionId) -> Result<Known, Response> {
    let id = session.clone();
    match state.with_db(move |db| load(db, &id)).await {
        Ok(Ok(k)) => Ok(k),
        Ok(Err(DbError::NotFound { .. })) => Err(not_found()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "database error on a session page");
            Err(unavailable())
        }
        Err(_) => Err(unavailable()),
    }
}

/// Blocking: database.
fn load(db: &Db, id: &SessionId) -> DbResult<Known> {
    let call = db.get_call_by_session(id)?;
    let sid = call.subscriber_id.clone();
    let subscriber = db.get_subscriber(&sid)?;
    let mut came_from = None;
    let mut pushed: Vec<Pushed> = Vec::new();
    for event in db.list_call_events(&sid, id)? {
        match event.event {
            TimelineEvent::SessionCreated { page, .. } => came_from = page,
            TimelineEvent::PagePushed { page_id, .. }
                if !pushed.iter().any(|p| p.page_id == page_id) =>
            {
                // A page deleted since is no longer the subscriber's to show.
                match db.get_page(&sid, PageId(page_id)) {
                    Ok(page) => pushed.push(Pushed {
                        page_id,
                        title: page.title.as_str().to_owned(),
                        url: match &page.content {
                            PageContent::Html(_) => format!("/sessions/{id}/pages/{page_id}"),
                            PageContent::Url(url) => url.as_str().to_owned(),
                        },
                    }),
                    Err(DbError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            _ => {}
        }
    }
    let site = brand::site_for(db, &sid, came_from.as_deref())?;
    Ok(Known {
        call,
        brand: Brand::of(&subscriber, site),
        promo: subscriber.promo_html.is_some(),
        came_from,
        pushed,
    })
}

/// The session named by the path, with what its pages show; the answer for an unknown one.
pub(super) async fn open(state: &AppState, raw: &str) -> Result<(SessionId, Known), Box<Response>> {
    let session = parse_session(raw)?;
    let known = known(state, &session).await.map_err(Box::new)?;
    Ok((session, known))
}

pub(super) fn parse_session(raw: &str) -> Result<SessionId, Box<Response>> {
    raw.parse().map_err(|_| Box::new(not_found()))
}

pub(super) fn not_found() -> Response {
    Page::message(
        StatusCode::NOT_FOUND,
        "Call not found",
        "We do not know this call. If you asked for a call-back, open the company's link again.",
    )
    .into_response()
}

pub(super) fn unavailable() -> Response {
    Page::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is not available right now",
        "Please reload this page in a moment.",
    )
    .into_response()
}

fn page_not_found() -> Response {
    (StatusCode::NOT_FOUND, "page not found\n").into_response()
}

/// `GET /sessions/{id}/pages/{page_id}`: a stored page of the session's subscriber, served
/// with the sandboxing CSP so its scripts never run with our origin, even opened directly.
/// It stays readable after the call ends: the visitor keeps what the agent showed.
pub(crate) async fn stored_page(
    State(state): State<AppState>,
    Path((raw, page_id)): Path<(String, String)>,
) -> Response {
    let (Ok(session), Ok(page_id)) = (raw.parse::<SessionId>(), page_id.parse::<i64>()) else {
        return page_not_found();
    };
    let found = state
        .with_db(move |db| {
            let call = db.get_call_by_session(&session)?;
            db.get_page(&call.subscriber_id, PageId(page_id))
        })
        .await;
    match found {
        Ok(Ok(page)) => match page.content {
            PageContent::Html(html) => sandboxed(html.as_str().to_owned()),
            PageContent::Url(_) => page_not_found(),
        },
        _ => page_not_found(),
    }
}

/// `GET /sessions/{id}/promo`: the subscriber's promotional content (seed 002 step 205), served
/// exactly as a stored page is: subscriber HTML, sandboxed.
pub(crate) async fn promo(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let Ok(session) = raw.parse::<SessionId>() else {
        return page_not_found();
    };
    let found = state
        .with_db(move |db| {
            let call = db.get_call_by_session(&session)?;
            db.get_subscriber(&call.subscriber_id)
        })
        .await;
    match found {
        Ok(Ok(subscriber)) => match subscriber.promo_html {
            Some(html) => sandboxed(String::from(html)),
            None => page_not_found(),
        },
        _ => page_not_found(),
    }
}

/// Subscriber HTML with the sandboxing CSP and the headers that keep it from sniffing,
/// referring or caching.
fn sandboxed(html: String) -> Response {
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
