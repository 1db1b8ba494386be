//! `/admin/v1/subscribers/{sid}/sites`: the web origins allowed to carry speak-to-agent links.
//! The link-signing secret is answered (as hex) at creation and on rotation, never in reads.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Serialize;
use subscriber_db::{Site, SiteId, SiteInput, SiteWithSecret, SubscriberId};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, numeric_id, subscriber_id};
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/subscribers/{sid}/sites", get(list).post(create))
        .route(
            "/subscribers/{sid}/sites/{site_id}",
            get(read).put(update).delete(remove),
        )
        .route("/subscribers/{sid}/sites/{site_id}/secret", post(rotate))
}

/// The subscriber and site of a path, after the caller's scope is checked.
fn site_path(
    caller: &Caller,
    sid: &str,
    site_id: &str,
) -> Result<(SubscriberId, SiteId), ApiError> {
    let sid = subscriber_id(sid)?;
    caller.scope(&sid, "site")?;
    Ok((sid, SiteId(numeric_id(site_id, "site")?)))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    ApiJson(input): ApiJson<SiteInput>,
) -> Result<(StatusCode, Json<SiteWithSecret>), ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let created = state
        .with_db(move |db| db.create_site(&sid, &input, Utc::now()))
        .await??;
    tracing::info!(subscriber = %created.site.subscriber_id, site = %created.site.id, "site created");
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<Json<Vec<Site>>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let sites = state
        .with_db(move |db| {
            db.get_subscriber(&sid)?;
            db.list_sites(&sid)
        })
        .await??;
    Ok(Json(sites))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, site_id)): Path<(String, String)>,
) -> Result<Json<Site>, ApiError> {
    let (sid, id) = site_path(&caller, &sid, &site_id)?;
    Ok(Json(state.with_db(move |db| db.get_site(&sid, id)).await??))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, site_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<SiteInput>,
) -> Result<Json<Site>, ApiError> {
    let (sid, id) = site_path(&caller, &sid, &site_id)?;
    let site = state
        .with_db(move |db| db.update_site(&sid, id, &input))
        .await??;
    Ok(Json(site))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, site_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (sid, id) = site_path(&caller, &sid, &site_id)?;
    state.with_db(move |db| db.delete_site(&sid, id)).await??;
    Ok(StatusCode::NO_CONTENT)
}

/// The answer to a rotation: links signed with the old secret stop verifying at once.
#[derive(Debug, Serialize)]
struct RotatedSecret {
    id: SiteId,
    secret: String,
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, site_id)): Path<(String, String)>,
) -> Result<Json<RotatedSecret>, ApiError> {
    let (sid, id) = site_path(&caller, &sid, &site_id)?;
    let secret = state
        .with_db(move |db| db.rotate_site_secret(&sid, id))
        .await??;
    tracing::info!(site = %id, "site secret rotated");
    Ok(Json(RotatedSecret {
        id,
        secret: secret.to_hex(),
    }))
}
