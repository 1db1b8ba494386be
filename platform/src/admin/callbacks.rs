//! `/admin/v1/subscribers/{sid}/callbacks` and `/queue` (issue 13 item 6): operators see and
//! manage the callback queue. Requests are listed newest first (filters `state`,
//! `subject_code`, `limit`), read one by one, cancelled (idempotent; a request being dialed
//! has its call ended) and moved to another time (idempotent; only a waiting request).
//! `/queue` gives each route's live counts; `/queue/accuracy` how far the wait estimates
//! were from the real waits, per route and hour of booking (item 5).

use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use subscriber_db::{
    AccuracyRow, Callback, CallbackFilter, CallbackId, CallbackState, RouteQueue, SubjectCode,
    SubscriberId,
};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, QueryParams, numeric_id, subscriber_id};
use crate::AppState;
use crate::queue::manage::{self, Which};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/subscribers/{sid}/callbacks", get(list))
        .route("/subscribers/{sid}/callbacks/{callback_id}", get(read))
        .route(
            "/subscribers/{sid}/callbacks/{callback_id}/cancel",
            post(cancel),
        )
        .route(
            "/subscribers/{sid}/callbacks/{callback_id}/move",
            post(move_to),
        )
        .route("/subscribers/{sid}/queue", get(queue))
        .route("/subscribers/{sid}/queue/accuracy", get(accuracy))
}

fn callback_path(
    caller: &Caller,
    sid: &str,
    id: &str,
) -> Result<(SubscriberId, CallbackId), ApiError> {
    let sid = subscriber_id(sid)?;
    caller.scope(&sid, "callback request")?;
    Ok((sid, CallbackId(numeric_id(id, "callback request")?)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Callback>>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let query = QueryParams::parse(query.as_deref(), &["state", "subject_code", "limit"])?;
    let filter = CallbackFilter {
        state: query.parse_as::<CallbackState>(
            "state",
            "a request state: waiting, dialing, done, cancelled or failed",
        )?,
        subject_code: query.parse_as::<SubjectCode>("subject_code", "a subject code")?,
        limit: query.limit(100, 1000)?,
    };
    let requests = state
        .with_db(move |db| db.list_callbacks(&sid, &filter))
        .await??;
    Ok(Json(requests))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, id)): Path<(String, String)>,
) -> Result<Json<Callback>, ApiError> {
    let (sid, id) = callback_path(&caller, &sid, &id)?;
    let request = state.with_db(move |db| db.get_callback(&sid, id)).await??;
    Ok(Json(request))
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, id)): Path<(String, String)>,
) -> Result<Json<Callback>, ApiError> {
    let (sid, id) = callback_path(&caller, &sid, &id)?;
    let request = manage::cancel(&state, Which::Id(sid, id), "operator").await??;
    Ok(Json(request))
}

/// The body of a move: the new time, and optionally the end of its slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveBody {
    pub(crate) due_at: DateTime<Utc>,
    #[serde(default)]
    pub(crate) slot_end: Option<DateTime<Utc>>,
}

async fn move_to(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<MoveBody>,
) -> Result<Json<Callback>, ApiError> {
    let (sid, id) = callback_path(&caller, &sid, &id)?;
    let now = Utc::now();
    let policy = {
        let sid = sid.clone();
        state.with_db(move |db| db.get_policy(&sid)).await??
    };
    let days = i64::from(policy.callback.slot_days.get());
    if body.due_at <= now || body.due_at > now + Duration::days(days) {
        return Err(ApiError::invalid_field(
            None,
            "due_at".to_owned(),
            format!(
                "field `due_at`: must be in the future and at most {days} days ahead (callback.slot_days)"
            ),
        ));
    }
    if body.slot_end.is_some_and(|end| end <= body.due_at) {
        return Err(ApiError::invalid_field(
            None,
            "slot_end".to_owned(),
            "field `slot_end`: must be after `due_at`".to_owned(),
        ));
    }
    let moved = manage::move_to(&state, sid, id, body.due_at, body.slot_end).await??;
    tracing::info!(subscriber = %moved.subscriber_id, callback = %moved.id, due_at = %moved.due_at, "callback request moved by an operator");
    Ok(Json(moved))
}

/// Each route's queue now, and the lines the policy gives a route.
#[derive(Debug, Serialize)]
struct Queues {
    lines_per_route: usize,
    routes: Vec<RouteQueue>,
}

async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<Json<Queues>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let now = Utc::now();
    let (policy, routes) = state
        .with_db(move |db| -> Result<_, subscriber_db::DbError> {
            Ok((db.get_policy(&sid)?, db.callback_queues(&sid, now)?))
        })
        .await??;
    Ok(Json(Queues {
        lines_per_route: crate::queue::lines(&policy),
        routes,
    }))
}

/// One row of the accuracy report, with the error as shares of the mean wait.
#[derive(Debug, Serialize)]
struct Accuracy {
    #[serde(flatten)]
    row: AccuracyRow,
    /// MAE ÷ mean wait (the target: at most 0.25).
    mae_share: Option<f64>,
    /// Bias ÷ mean wait (target: within ±0.10).
    bias_share: Option<f64>,
}

/// `?since=` / `?until=` (RFC 3339; default the last 24 hours).
async fn accuracy(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<Accuracy>>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let query = QueryParams::parse(query.as_deref(), &["since", "until"])?;
    let time = "an RFC 3339 time like 2026-01-31T09:00:00Z";
    let until = query
        .parse_as::<DateTime<Utc>>("until", time)?
        .unwrap_or_else(Utc::now);
    let since = query
        .parse_as::<DateTime<Utc>>("since", time)?
        .unwrap_or(until - Duration::hours(24));
    let rows = state
        .with_db(move |db| db.callback_accuracy(&sid, since, until))
        .await??;
    let share = |x: Option<f64>, mean: Option<f64>| match (x, mean) {
        (Some(x), Some(mean)) if mean > 0.0 => Some(x / mean),
        _ => None,
    };
    Ok(Json(
        rows.into_iter()
            .map(|row| Accuracy {
                mae_share: share(row.mae_secs, row.mean_wait_secs),
                bias_share: share(row.bias_secs, row.mean_wait_secs),
                row,
            })
            .collect(),
    ))
}
