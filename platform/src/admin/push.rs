//! `POST /admin/v1/calls/{call_id}/push`: a call center's computer pushes a page to the
//! caller's browser (seed 002's "IP messaging" path). Body `{"digits":"1"}` or
//! `{"page_id":7}`. A subscriber key reaches only its own calls (others answer 404); an
//! operator key any call. The same `push::push_page` serves the agent's DTMF path; this file
//! only reads the request and answers in the admin API's shape.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use subscriber_db::{DbError, DtmfKeys, PageId, Principal, SessionId};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::ApiJson;
use crate::AppState;
use crate::push::{PushPageError, PushSource, PushTarget, push_page};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/calls/{call_id}/push", post(push))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PushBody {
    digits: Option<String>,
    page_id: Option<i64>,
}

/// What was pushed: the page, the push channel's event id and the URL the browser loads.
#[derive(Debug, Serialize)]
struct Pushed {
    page_id: i64,
    event_id: u64,
    url: String,
}

async fn push(
    State(state): State<AppState>,
    caller: Caller,
    Path(call_id): Path<String>,
    ApiJson(body): ApiJson<PushBody>,
) -> Result<Json<Pushed>, ApiError> {
    let target = target(body)?;
    let call: SessionId = call_id.parse().map_err(|_| ApiError::not_found("call"))?;
    let hub = state.hub().clone();
    let pushed = state
        .with_db(move |db| {
            // An operator names no subscriber; the call says whose it is.
            let subscriber = match caller.0 {
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
        .map_err(push_error)?;
    Ok(Json(Pushed {
        page_id: pushed.page_id.0,
        event_id: pushed.event_id,
        url: pushed.url,
    }))
}

/// Exactly one of the two ways to name a page.
fn target(body: PushBody) -> Result<PushTarget, ApiError> {
    match (body.digits, body.page_id) {
        (Some(digits), None) => digits
            .parse::<DtmfKeys>()
            .map(PushTarget::Digits)
            .map_err(|e| ApiError::invalid_field(None, "digits", e.to_string())),
        (None, Some(id)) => Ok(PushTarget::Page(PageId(id))),
        _ => Err(ApiError::bad_request(
            "give exactly one of \"digits\" (the page's DTMF keys) or \"page_id\"",
        )),
    }
}

fn push_error(e: PushPageError) -> ApiError {
    match e {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_target_and_the_field_named() {
        let body = |digits: Option<&str>, page_id| PushBody {
            digits: digits.map(str::to_owned),
            page_id,
        };
        assert!(matches!(
            target(body(Some("12"), None)),
            Ok(PushTarget::Digits(_))
        ));
        assert!(matches!(
            target(body(None, Some(7))),
            Ok(PushTarget::Page(PageId(7)))
        ));
        for (digits, page_id) in [(None, None), (Some("1"), Some(1))] {
            let e = target(body(digits, page_id)).err();
            assert_eq!(e.map(|e| e.status), Some(StatusCode::BAD_REQUEST));
        }
        let e = target(body(Some("x"), None)).err();
        assert_eq!(e.and_then(|e| e.field).as_deref(), Some("digits"));
    }
}
