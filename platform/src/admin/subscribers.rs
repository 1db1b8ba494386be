//! `/admin/v1/subscribers`: operators create, list and delete subscribers; a subscriber key
//! reads and renames only its own subscriber.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use subscriber_db::{NewSubscriber, Subscriber, SubscriberUpdate};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, json_body};
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/subscribers", get(list).post(create))
        .route("/subscribers/{sid}", get(read).patch(update).delete(remove))
}

/// The operator check comes before the body is read, so a subscriber key gets 403 whatever
/// it sends.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<(StatusCode, Json<Subscriber>), ApiError> {
    caller.require_operator()?;
    let new: NewSubscriber = json_body(request, &state).await?;
    let created = state
        .with_db(move |db| db.create_subscriber(&new, Utc::now()))
        .await??;
    tracing::info!(subscriber = %created.id, "subscriber created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// Operators see every subscriber; a subscriber key sees a list holding only its own.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Subscriber>>, ApiError> {
    let own = caller.subscriber().cloned();
    let subscribers = state
        .with_db(move |db| match own {
            None => db.list_subscribers(),
            Some(sid) => db.get_subscriber(&sid).map(|s| vec![s]),
        })
        .await??;
    Ok(Json(subscribers))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<Json<Subscriber>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    Ok(Json(
        state.with_db(move |db| db.get_subscriber(&sid)).await??,
    ))
}

/// Subscribers may rename themselves; only an operator switches one on or off.
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    ApiJson(update): ApiJson<SubscriberUpdate>,
) -> Result<Json<Subscriber>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    if update.active.is_some() {
        caller.require_operator()?;
    }
    let updated = state
        .with_db(move |db| db.update_subscriber(&sid, &update))
        .await??;
    Ok(Json(updated))
}

/// Deletes the subscriber and everything it owns. Scope first: another subscriber's id is a
/// 404 even for this operator-only action, so a key learns nothing about other subscribers.
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    caller.require_operator()?;
    let deleted = sid.clone();
    state
        .with_db(move |db| db.delete_subscriber(&sid))
        .await??;
    tracing::info!(subscriber = %deleted, "subscriber deleted");
    Ok(StatusCode::NO_CONTENT)
}
