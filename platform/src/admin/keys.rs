//! `/admin/v1/subscribers/{sid}/keys`: a subscriber's API keys, and `/admin/v1/operator/keys`:
//! the operator's (operator keys only). The token is answered once, at creation; listings show
//! only its first characters. Revoking is immediate: the next request with that key gets 401.
//! The last active operator key cannot be revoked (409): nobody could manage the platform.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use subscriber_db::{ApiKey, KeyId, SubscriberId};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{numeric_id, subscriber_id};
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/subscribers/{sid}/keys", get(list).post(create))
        .route("/subscribers/{sid}/keys/{key_id}", delete(revoke))
        .route("/operator/keys", get(list_operator).post(create_operator))
        .route("/operator/keys/{key_id}", delete(revoke_operator))
}

/// A key as listed: never the token. `subscriber_id` is absent for an operator key.
#[derive(Debug, Serialize)]
pub(crate) struct KeyView {
    id: KeyId,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscriber_id: Option<SubscriberId>,
    prefix: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl KeyView {
    fn new(sid: Option<&SubscriberId>, key: ApiKey) -> Self {
        KeyView {
            id: key.id,
            subscriber_id: sid.cloned(),
            prefix: key.prefix,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A key just made, with its token (shown this once).
#[derive(Debug, Serialize)]
pub(crate) struct CreatedKey {
    #[serde(flatten)]
    key: KeyView,
    token: String,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let owner = sid.clone();
    let new = state
        .with_db(move |db| db.create_subscriber_key(&owner, Utc::now()))
        .await??;
    tracing::info!(subscriber = %sid, key = %new.key.id, "subscriber key created");
    let token = new.token.expose().to_owned();
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: KeyView::new(Some(&sid), new.key),
            token,
        }),
    ))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let owner = sid.clone();
    let keys = state
        .with_db(move |db| {
            db.get_subscriber(&owner)?;
            db.list_keys(&owner)
        })
        .await??;
    Ok(Json(
        keys.into_iter()
            .map(|k| KeyView::new(Some(&sid), k))
            .collect(),
    ))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let sid = subscriber_id(&sid)?;
    caller.scope(&sid, "api key")?;
    let id = KeyId(numeric_id(&key_id, "api key")?);
    state
        .with_db(move |db| db.revoke_subscriber_key(&sid, id, Utc::now()))
        .await??;
    tracing::info!(key = %id, "subscriber key revoked");
    Ok(StatusCode::NO_CONTENT)
}

async fn create_operator(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    caller.require_operator()?;
    let new = state
        .with_db(move |db| db.create_operator_key(Utc::now()))
        .await??;
    tracing::info!(key = %new.key.id, "operator key created");
    let token = new.token.expose().to_owned();
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: KeyView::new(None, new.key),
            token,
        }),
    ))
}

async fn list_operator(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    caller.require_operator()?;
    let keys = state.with_db(|db| db.list_operator_keys()).await??;
    Ok(Json(
        keys.into_iter().map(|k| KeyView::new(None, k)).collect(),
    ))
}

async fn revoke_operator(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_operator()?;
    let id = KeyId(numeric_id(&key_id, "operator key")?);
    state
        .with_db(move |db| db.revoke_operator_key(id, Utc::now()))
        .await??;
    tracing::info!(key = %id, "operator key revoked");
    Ok(StatusCode::NO_CONTENT)
}
