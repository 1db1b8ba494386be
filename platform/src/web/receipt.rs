//! The visitor's receipt for a pushed page (issue 12 item 4): the Connect page's script posts
//! `event=N` to `POST /sessions/{id}/shown` once it displayed the page of push event N, and
//! the call's timeline gets one `page_shown` row for it, which the agent's console shows as
//! "shown at hh:mm:ss". The session id in the path is the browser's capability (as for every
//! page under it); only an event id this call really pushed a page with is recorded, once.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use subscriber_db::{Db, DbError, DbResult, SessionId, TimelineEvent};

use super::session::parse_session;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
struct ReceiptForm {
    #[serde(default)]
    event: String,
}

/// What a receipt did.
#[derive(Debug, PartialEq, Eq)]
enum Receipt {
    Recorded,
    /// Already recorded (a reconnect replays the event; the page is shown again).
    Again,
    /// This call pushed no page with that event id.
    Unknown,
}

fn record(db: &Db, session: &SessionId, event_id: u64) -> DbResult<Receipt> {
    let call = db.get_call_by_session(session)?;
    let events = db.list_call_events(&call.subscriber_id, session)?;
    let pushed = events.iter().any(
        |e| matches!(e.event, TimelineEvent::PagePushed { event_id: id, .. } if id == event_id),
    );
    if !pushed {
        return Ok(Receipt::Unknown);
    }
    let again = events
        .iter()
        .any(|e| matches!(e.event, TimelineEvent::PageShown { event_id: id } if id == event_id));
    if again {
        return Ok(Receipt::Again);
    }
    let row = TimelineEvent::PageShown { event_id };
    db.append_call_event(&call.subscriber_id, session, Utc::now(), &row)?;
    Ok(Receipt::Recorded)
}

pub(super) async fn shown(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let session = match parse_session(&raw) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let form: ReceiptForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Ok(event_id) = form.event.trim().parse::<u64>() else {
        return (
            StatusCode::BAD_REQUEST,
            "event must be the page event's id\n",
        )
            .into_response();
    };
    let id = session.clone();
    let recorded = state.with_db(move |db| record(db, &id, event_id)).await;
    match recorded {
        Ok(Ok(Receipt::Recorded)) => {
            state.runtime().desk().changed(&session);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(Ok(Receipt::Again)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Ok(Receipt::Unknown)) | Ok(Err(DbError::NotFound { .. })) => {
            (StatusCode::NOT_FOUND, "no such page push in this call\n").into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "page receipt not recorded");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
