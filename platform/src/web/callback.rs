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
use crate::queue::slots::{Slot, open_slots};

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
    /// Times a waiting request can be moved to.
    slots: &'a [SlotOption],
}

/// One slot in a page's list of times (this page's "another time", the Welcome page's
/// "when").
pub(crate) struct SlotOption {
    /// RFC 3339 start, what the form sends.
    pub(crate) value: String,
    /// The start in the center's zone, as a person reads it.
    pub(crate) label: String,
}

impl SlotOption {
    pub(super) fn of(slot: &Slot, policy: &subscriber_db::Policy) -> Self {
        SlotOption {
            value: slot
                .start
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            label: slot_label(slot.start, policy),
        }
    }
}

/// Slots the page lists at most.
const SLOTS_SHOWN: usize = 12;

struct Known {
    request: Callback,
    brand: Brand,
    /// The latest attempt's call is still in progress.
    call_running: bool,
    policy: subscriber_db::Policy,
    /// For a waiting request: the slots it can move to.
    slots: Vec<Slot>,
}

/// A route's slots with room left now, as many as a page lists. Blocking: database.
pub(super) fn route_slots(
    db: &subscriber_db::Db,
    sid: &subscriber_db::SubscriberId,
    subject: &subscriber_db::SubjectCode,
    policy: &subscriber_db::Policy,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<Slot>, DbError> {
    let until = now + chrono::Duration::days(i64::from(policy.callback.slot_days.get()) + 1);
    let booked = db.slot_bookings(sid, subject, now, until)?;
    let count = |start| {
        booked
            .iter()
            .find(|(at, _)| *at == start)
            .map_or(0, |(_, n)| *n)
    };
    Ok(open_slots(policy, now, &count, SLOTS_SHOWN))
}

/// A slot's start as the pages show it: in the center's zone, named.
pub(super) fn slot_label(at: chrono::DateTime<Utc>, policy: &subscriber_db::Policy) -> String {
    let local = at.with_timezone(&policy.time_zone.tz());
    format!(
        "{} ({} time)",
        local.format("%a %-d %b, %H:%M"),
        policy.time_zone.name()
    )
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
            let policy = db.get_policy(&subscriber.id)?;
            let slots = if request.state == CallbackState::Waiting {
                let (sid, subject) = (&request.subscriber_id, &request.subject_code);
                route_slots(db, sid, subject, &policy, Utc::now())?
            } else {
                Vec::new()
            };
            Ok(Known {
                brand: Brand::of(&subscriber, site),
                request,
                call_running,
                policy,
                slots,
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
                "We will call you at {}.",
                slot_label(request.due_at, &known.policy)
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
    let slots: Vec<SlotOption> = known
        .slots
        .iter()
        .map(|slot| SlotOption {
            value: slot
                .start
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            label: slot_label(slot.start, &known.policy),
        })
        .collect();
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
        slots: &slots,
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
    let page = match checked_form(&web, &raw, &body, "cancel") {
        Ok(page) => page,
        Err(refused) => return *refused,
    };
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

#[derive(Debug, Default, serde::Deserialize)]
struct RescheduleForm {
    slot: Option<String>,
}

/// `POST /callbacks/{page}/reschedule` (form: `csrf`, `slot`): the visitor moves a waiting
/// request to one of the slots the page listed. Idempotent: the slot it is already at
/// answers the same. A slot that is full or gone meanwhile is refused and changes nothing.
pub(crate) async fn reschedule(
    State(state): State<AppState>,
    Extension(web): Extension<Arc<WebState>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let page = match checked_form(&web, &raw, &body, "reschedule") {
        Ok(page) => page,
        Err(refused) => return *refused,
    };
    let form: RescheduleForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let wanted = form
        .slot
        .as_deref()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    let known = match load(&state, &raw).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let request = &known.request;
    let chosen = wanted.and_then(|start| {
        if request.due_at == start && request.slot_end.is_some() {
            return Some((start, request.slot_end));
        }
        known
            .slots
            .iter()
            .find(|s| s.start == start)
            .map(|s| (s.start, Some(s.end)))
    });
    let Some((start, end)) = chosen.filter(|_| request.state == CallbackState::Waiting) else {
        return Page::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That time is not available",
            "Your callback was not moved: that time is full, past, or no longer offered. Go \
             back and choose another time.",
        )
        .into_response();
    };
    let (sid, id) = (request.subscriber_id.clone(), request.id);
    match crate::queue::manage::move_to(&state, sid, id, start, end).await {
        Ok(Ok(moved)) => {
            tracing::info!(callback = %moved.id, due_at = %moved.due_at, "the visitor moved a callback request");
            Redirect::to(&format!("/callbacks/{page}")).into_response()
        }
        Ok(Err(DbError::Conflict { .. })) => Page::message(
            StatusCode::CONFLICT,
            "Your callback can no longer be moved",
            "It is being placed or is over. Reload the page to see where it is.",
        )
        .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "database error on a callback reschedule");
            unavailable()
        }
        Err(_) => unavailable(),
    }
}

/// The page session a posted form names, if the form came from the page we rendered for it.
fn checked_form(
    web: &WebState,
    raw: &str,
    body: &[u8],
    what: &str,
) -> Result<SessionId, Box<Response>> {
    let Ok(page) = raw.parse::<SessionId>() else {
        return Err(Box::new(not_found()));
    };
    if !super::connect::genuine_form(web, &page, body) {
        return Err(Box::new(forged(&page, what)));
    }
    Ok(page)
}

/// A form that did not come from the page we rendered for this request.
fn forged(page: &SessionId, what: &str) -> Response {
    tracing::info!(%page, action = what, "callback page form refused: form check");
    Page::message(
        StatusCode::FORBIDDEN,
        "Please reload this page",
        "We could not confirm that this request came from your callback page. Reload the \
         page and try again.",
    )
    .into_response()
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
