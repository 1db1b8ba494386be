//! The visitor's queue page (issue 13 item 3): where a callback request is, its place in the
//! route's queue and the wait estimate, kept current over the push channel (the scheduler
//! publishes `queue` events), and the cancel button. The page session in the link is the
//! visitor's capability: it names one request; the page can be closed and opened again.
//!
//! Routes: `GET /callbacks/{page}`, `GET /callbacks/{page}/events` (SSE),
//! `POST /callbacks/{page}/cancel` (form: `csrf`; idempotent).

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use pagepush::{QueueUpdate, SessionId};
use subscriber_db::{Callback, CallbackState, DbError};
use words::Word;

use super::WebState;
use super::brand::{self, Brand};
use super::html::{Nonce, Page};
use crate::AppState;
use crate::queue::scheduler::{closed_update, place_update};

/// Seconds between reloads of the page in browsers without JavaScript.
const NO_SCRIPT_REFRESH_SECS: u32 = 5;

/// The page (`templates/web/callback.html`, its script `templates/web/callback.js`).
#[derive(Template)]
#[template(path = "web/callback.html")]
struct CallbackHtml<'a> {
    nonce: Nonce,
    brand: &'a Brand,
    page: &'a SessionId,
    /// The request's state word, the same the event stream sends.
    state: &'static str,
    text: &'a str,
    position: Option<u32>,
    estimate: &'a str,
    /// Whether the request can still be cancelled (and the page listens for updates).
    open: bool,
    /// Where the live script listens, after the events already rendered.
    after: Option<u64>,
    cancel_token: &'a str,
    refresh_secs: u32,
    number: String,
    /// The key the visitor presses when called, before an agent is dialed.
    consent_key: Option<char>,
}

struct Known {
    request: Callback,
    brand: Brand,
    /// The latest attempt's call is still in progress.
    call_running: bool,
}

async fn load(state: &AppState, raw: &str) -> Result<Known, Response> {
    let Ok(page) = raw.parse::<SessionId>() else {
        return Err(not_found());
    };
    let found = state
        .with_db(move |db| -> Result<Known, DbError> {
            let request = db.callback_by_page(&page)?;
            let subscriber = db.get_subscriber(&request.subscriber_id)?;
            let site = brand::site_for(db, &subscriber.id, request.came_from.as_deref())?;
            let call_running = match &request.call_id {
                Some(call) => db.get_call(&subscriber.id, call)?.ended_at.is_none(),
                None => false,
            };
            Ok(Known {
                brand: Brand::of(&subscriber, site),
                request,
                call_running,
            })
        })
        .await;
    match found {
        Ok(Ok(known)) => Ok(known),
        Ok(Err(DbError::NotFound { .. })) => Err(not_found()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "database error on a callback page");
            Err(unavailable())
        }
        Err(_) => Err(unavailable()),
    }
}

/// `GET /callbacks/{page}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(web): Extension<Arc<WebState>>,
    Path(raw): Path<String>,
) -> Response {
    let known = match load(&state, &raw).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let request = &known.request;
    let page = &request.page_session;
    // An attempt is running: the visitor belongs on its call's page.
    if request.state == CallbackState::Dialing
        && known.call_running
        && let Some(call) = &request.call_id
    {
        return Redirect::to(&format!("/sessions/{call}")).into_response();
    }
    let open = request.state.is_open();
    if open {
        state.hub().open(page);
    }
    let snapshot = state.hub().snapshot(page).ok();
    let after = snapshot.as_ref().map(|s| s.last_event_id);
    let update: QueueUpdate = match snapshot.and_then(|s| s.queue) {
        Some(update) if update.state == request.state => update,
        _ if open && request.due_at > Utc::now() => QueueUpdate {
            text: format!(
                "We will call you at {} UTC.",
                request.due_at.format("%H:%M")
            ),
            ..place_update(0, 0, None)
        },
        _ if open => QueueUpdate {
            text: "You are in the queue. Your place and the estimated wait appear here in a \
                   moment."
                .to_owned(),
            ..place_update(0, 0, None)
        },
        _ => closed_update(request.state, request.attempts),
    };
    let cancel_token = web.form_key.session_token(page.as_str());
    let estimate = if update.position.is_some_and(|p| p > 0) {
        update.estimate_words.as_str()
    } else {
        ""
    };
    Page::render(StatusCode::OK, &known.brand, |nonce| CallbackHtml {
        nonce,
        brand: &known.brand,
        page,
        state: request.state.word(),
        text: &update.text,
        position: update.position.filter(|p| *p > 0),
        estimate,
        open,
        after: after.filter(|_| open),
        cancel_token: &cancel_token,
        refresh_secs: NO_SCRIPT_REFRESH_SECS,
        number: request.user_number.masked(),
        consent_key: request
            .consent_key
            .map(words::DtmfKey::as_char)
            .filter(|_| open),
    })
    .into_response()
}

/// `GET /callbacks/{page}/events`: the page's push channel (Server-Sent Events).
pub(crate) async fn events(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(query): Query<super::connect::EventsQuery>,
    headers: HeaderMap,
) -> Response {
    super::connect::stream(&state, &raw, query.after, &headers, "callback request")
}

/// `POST /callbacks/{page}/cancel` (form: `csrf`): the visitor cancels the request. A
/// request being dialed is cancelled too and its call ended. Idempotent: a second cancel
/// answers the same page; a request already done or failed stays as it is.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Extension(web): Extension<Arc<WebState>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(page) = raw.parse::<SessionId>() else {
        return not_found();
    };
    if !super::connect::genuine_form(&web, &page, &body) {
        tracing::info!(%page, "callback cancel refused: form check");
        return Page::message(
            StatusCode::FORBIDDEN,
            "Please reload this page",
            "We could not confirm that this request came from your callback page. Reload the \
             page and press the button again.",
        )
        .into_response();
    }
    let which = crate::queue::manage::Which::Page(page.clone());
    match crate::queue::manage::cancel(&state, which, "visitor").await {
        Ok(Ok(_)) => {}
        Ok(Err(DbError::NotFound { .. })) => return not_found(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "database error on a callback cancel");
            return unavailable();
        }
        Err(_) => return unavailable(),
    }
    Redirect::to(&format!("/callbacks/{page}")).into_response()
}

fn not_found() -> Response {
    Page::message(
        StatusCode::NOT_FOUND,
        "Callback request not found",
        "We do not know this callback request. To ask for a call, open the company's link \
         again.",
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
