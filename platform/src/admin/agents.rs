//! `/admin/v1/subscribers/{sid}/agents`: the people of a subscriber's call center who sign in
//! to the agent desk. Answers never carry a password or PIN, not even hashed; a password is
//! taken on create and on `POST …/{agent_id}/password` only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use subscriber_db::{Agent, AgentId, AgentPassword, AgentUpdate, NewAgent, SubscriberId};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{ApiJson, numeric_id, subscriber_id};
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/subscribers/{sid}/agents", get(list).post(create))
        .route(
            "/subscribers/{sid}/agents/{agent_id}",
            get(read).patch(update).delete(remove),
        )
        .route(
            "/subscribers/{sid}/agents/{agent_id}/password",
            post(reset_password),
        )
}

/// The body of a password reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordBody {
    pub(crate) password: AgentPassword,
}

fn agent_path(
    caller: &Caller,
    sid: &str,
    agent_id: &str,
) -> Result<(SubscriberId, AgentId), ApiError> {
    let sid = subscriber_id(sid)?;
    caller.scope(&sid, "agent")?;
    Ok((sid, AgentId(numeric_id(agent_id, "agent")?)))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
    ApiJson(body): ApiJson<NewAgent>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let now = chrono::Utc::now();
    let agent = state
        .with_db(move |db| db.create_agent(&sid, &body, now))
        .await??;
    tracing::info!(subscriber = %agent.subscriber_id, agent = %agent.id, "agent created");
    Ok((StatusCode::CREATED, Json(agent)))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(sid): Path<String>,
) -> Result<Json<Vec<Agent>>, ApiError> {
    let sid = caller.subscriber_in_path(&sid)?;
    let agents = state
        .with_db(move |db| {
            db.get_subscriber(&sid)?;
            db.list_agents(&sid)
        })
        .await??;
    Ok(Json(agents))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, agent_id)): Path<(String, String)>,
) -> Result<Json<Agent>, ApiError> {
    let (sid, id) = agent_path(&caller, &sid, &agent_id)?;
    Ok(Json(
        state.with_db(move |db| db.get_agent(&sid, id)).await??,
    ))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, agent_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<AgentUpdate>,
) -> Result<Json<Agent>, ApiError> {
    let (sid, id) = agent_path(&caller, &sid, &agent_id)?;
    let agent = state
        .with_db(move |db| db.update_agent(&sid, id, &body))
        .await??;
    Ok(Json(agent))
}

async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, agent_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Json<Agent>, ApiError> {
    let (sid, id) = agent_path(&caller, &sid, &agent_id)?;
    let agent = state
        .with_db(move |db| db.set_agent_password(&sid, id, &body.password))
        .await??;
    tracing::info!(subscriber = %agent.subscriber_id, agent = %agent.id, "agent password reset");
    Ok(Json(agent))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((sid, agent_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (sid, id) = agent_path(&caller, &sid, &agent_id)?;
    state.with_db(move |db| db.delete_agent(&sid, id)).await??;
    Ok(StatusCode::NO_CONTENT)
}
