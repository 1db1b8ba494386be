//! `POST /admin/v1/calls/{id}/push`: a call center's computer pushes a page to the caller's
//! browser (seed 002's "IP messaging" path). Body `{"digits":"1"}` or `{"page_id":7}`. A
//! subscriber key reaches only its own calls (others answer 404); an operator key any call.
//! The same `push::push_page` serves the agent's DTMF path.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use subscriber_db::{DbError, DtmfKeys, PageId, Principal, SessionId};

use crate::AppState;
use crate::admin::auth::Caller;
use crate::admin::error::ApiError;
use crate::push::{PushPageError, PushSource, PushTarget, push_page};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PushBody {
    digits: Option<String>,
    page_id: Option<i64>,
}

pub(crate) async fn push(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    body: Result<Json<PushBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::bad_request(format!(
            "send JSON {{\"digits\": \"1\"}} or {{\"page_id\": 7}}: {}",
            e.body_text()
        ))
    })?;
    let target = match (body.digits, body.page_id) {
        (Some(d), None) => PushTarget::Digits(d.parse::<DtmfKeys>().map_err(|e| ApiError {
            field: Some("digits".to_owned()),
            ..ApiError::bad_request(e.to_string())
        })?),
        (None, Some(id)) => PushTarget::Page(PageId(id)),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"digits\" (the page's DTMF keys) or \"page_id\"",
            ));
        }
    };
    let call: SessionId = raw.parse().map_err(|_| ApiError::not_found("call"))?;
    let hub = state.hub().clone();
    let principal = caller.0.clone();
    let pushed = state
        .with_db(move |db| {
            let subscriber = match principal {
                Principal::Subscriber(sid) => sid,
                Principal::Operator => match db.get_call_by_session(&call) {
                    Ok(c) => c.subscriber_id,
                    Err(DbError::NotFound { .. }) => return Err(PushPageError::NoCall),
                    Err(e) => return Err(PushPageError::Db(e)),
                },
            };
            push_page(
                db,
                &hub,
                &subscriber,
                &call,
                &target,
                PushSource::Api,
                Utc::now(),
            )
        })
        .await?
        .map_err(|e| match e {
            PushPageError::NoCall => ApiError::not_found("call"),
            PushPageError::NoPage(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no page for {what}; add it to the page table first"),
            ),
            PushPageError::SessionEnded => ApiError::new(
                StatusCode::CONFLICT,
                "session_ended",
                "the caller's web session has ended; nothing can be shown to them any more",
            ),
            PushPageError::Db(e) => ApiError::from(e),
        })?;
    Ok((
        StatusCode::OK,
        Json(json!({
            "page_id": pushed.page_id.0,
            "event_id": pushed.event_id,
            "url": pushed.url,
        })),
    ))
}
