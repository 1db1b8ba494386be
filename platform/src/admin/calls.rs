//! `/admin/v1/subscribers/{sid}/calls`: call detail records, newest first, with filters, and
//! one call with its event timeline; the same call found by what the call center was sent:
//! `/admin/v1/refs/{ref}` (the session reference, any channel) and
//! `/admin/v1/subscribers/{sid}/dnis/{dnis}` (the DNIS a call in progress drew from its
//! route's range). Read-only: calls are written by the call flow.

use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use subscriber_db::{
    Call, CallEvent, CallFilter, DbError, Dnis, MAX_CALLS_PER_PAGE, SessionId, SessionRef,
    SubjectCode,
};
use words::CallState;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{QueryParams, subscriber_id};
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/subscribers/{sid}/calls", get(list))
        .route("/subscribers/{sid}/calls/{call_id}", get(read))
        .route("/subscribers/{sid}/dnis/{dnis}", get(by_dnis))
        .route("/refs/{session_ref}", get(by_ref))
}

const FILTERS: [&str; 6] = ["state", "since", "until", "subject_code", "limit", "offset"];

/// `?state=`, `?since=` / `?until=` (RFC 3339 times; since inclusive, until exclusive),
/// `?subject_code=`, `?limit=` (1 to 1000, default 100), `?offset=`.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Call>>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let query = QueryParams::parse(query.as_deref(), &FILTERS)?;
    let time = "an RFC 3339 time like 2026-01-31T09:00:00Z";
    let filter = CallFilter {
        state: query.parse_as::<CallState>("state", "a call state such as bridged or ended")?,
        since: query.parse_as::<DateTime<Utc>>("since", time)?,
        until: query.parse_as::<DateTime<Utc>>("until", time)?,
        subject_code: query.parse_as::<SubjectCode>("subject_code", "a subject code")?,
        limit: query.limit(100, MAX_CALLS_PER_PAGE)?,
        offset: query
            .parse_as::<u32>("offset", "a whole number from 0")?
            .unwrap_or(0),
    };
    let calls = state
        .with_db(move |db| {
            db.get_subscriber(&sid)?;
            db.list_calls(&sid, &filter)
        })
        .await??;
    Ok(Json(calls))
}

/// A call with its timeline.
#[derive(Debug, Serialize)]
struct CallDetail {
    #[serde(flatten)]
    call: Call,
    events: Vec<CallEvent>,
}

/// A call found one way or another, with its timeline.
fn with_events(db: &subscriber_db::Db, call: Call) -> Result<CallDetail, DbError> {
    let events = db.list_call_events(&call.subscriber_id, &call.id)?;
    Ok(CallDetail { call, events })
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, call_id)): Path<(String, String)>,
) -> Result<Json<CallDetail>, ApiError> {
    let sid = subscriber_id(&sid)?;
    caller.scope(&sid, "call")?;
    let id: SessionId = call_id.parse().map_err(|_| ApiError::not_found("call"))?;
    let detail = state
        .with_db(move |db| with_events(db, db.get_call(&sid, &id)?))
        .await??;
    Ok(Json(detail))
}

/// The call a session reference names: an operator key finds any subscriber's, a subscriber
/// key only its own (another's answers 404, as an unknown reference does).
async fn by_ref(
    State(state): State<AppState>,
    caller: Caller,
    Path(text): Path<String>,
) -> Result<Json<CallDetail>, ApiError> {
    let session_ref: SessionRef = text.parse().map_err(|_| ApiError::not_found("call"))?;
    let owner = caller.subscriber().cloned();
    let detail = state
        .with_db(move |db| with_events(db, db.get_call_by_ref(owner.as_ref(), &session_ref)?))
        .await??;
    Ok(Json(detail))
}

/// The subscriber's call in progress that holds this DNIS of a route's range; 404 once it
/// ended (the code may then be drawn by the next call).
async fn by_dnis(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, dnis)): Path<(String, String)>,
) -> Result<Json<CallDetail>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let what = "call in progress with this DNIS";
    let dnis: Dnis = dnis.parse().map_err(|_| ApiError::not_found(what))?;
    let detail = state
        .with_db(move |db| with_events(db, db.get_active_call_by_dnis(&sid, &dnis)?))
        .await??;
    Ok(Json(detail))
}
