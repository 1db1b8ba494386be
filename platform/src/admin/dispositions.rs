//! `/admin/v1/subscribers/{sid}/dispositions`: the subscriber's wrap-up list (issue 12 item
//! 5). GET answers the list in its order (empty: no wrap-up asked); PUT replaces it with
//! `{"dispositions": [{"code": "sale", "label": "Sale made"}, …]}` (at most 50, codes unique).
//! Putting the first non-empty list makes every agent give a disposition after each call they
//! claim from then on; putting an empty one stops that.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use subscriber_db::DispositionList;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::ApiJson;
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/subscribers/{sid}/dispositions", get(read).put(replace))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<Json<DispositionList>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let dispositions = state.with_db(move |db| db.dispositions(&sid)).await??;
    Ok(Json(DispositionList { dispositions }))
}

async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    ApiJson(body): ApiJson<DispositionList>,
) -> Result<Json<DispositionList>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let now = chrono::Utc::now();
    let log_sid = sid.clone();
    let dispositions = state
        .with_db(move |db| db.put_dispositions(&sid, &body.dispositions, now))
        .await??;
    tracing::info!(subscriber = %log_sid, count = dispositions.len(), "wrap-up dispositions replaced");
    Ok(Json(DispositionList { dispositions }))
}
