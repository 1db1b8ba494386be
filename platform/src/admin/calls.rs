//! `/admin/v1/subscribers/{sid}/calls`: call detail records, newest first, with filters, and
//! one call with its event timeline. Read-only: calls are written by the call flow.

use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use subscriber_db::{
    Call, CallEvent, CallFilter, DbError, MAX_CALLS_PER_PAGE, SessionId, SubjectCode,
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

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, call_id)): Path<(String, String)>,
) -> Result<Json<CallDetail>, ApiError> {
    let sid = subscriber_id(&sid)?;
    caller.scope(&sid, "call")?;
    let id: SessionId = call_id.parse().map_err(|_| ApiError::not_found("call"))?;
    let detail = state
        .with_db(move |db| {
            let call = db.get_call(&sid, &id)?;
            let events = db.list_call_events(&sid, &id)?;
            Ok::<_, DbError>(CallDetail { call, events })
        })
        .await??;
    Ok(Json(detail))
}
