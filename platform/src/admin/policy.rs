//! `/admin/v1/subscribers/{sid}/policy`: the subscriber's call policy. GET answers the defaults
//! when none is stored; PUT takes a whole or partial document (missing fields get their
//! defaults); DELETE forgets the stored policy so the defaults apply again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use subscriber_db::Policy;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::ApiJson;
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(
        "/subscribers/{sid}/policy",
        get(read).put(replace).delete(reset),
    )
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<Json<Policy>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    Ok(Json(state.with_db(move |db| db.get_policy(&sid)).await??))
}

async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    ApiJson(policy): ApiJson<Policy>,
) -> Result<Json<Policy>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    Ok(Json(
        state
            .with_db(move |db| db.put_policy(&sid, &policy))
            .await??,
    ))
}

async fn reset(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    state.with_db(move |db| db.reset_policy(&sid)).await??;
    Ok(StatusCode::NO_CONTENT)
}
