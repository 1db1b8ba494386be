//! The call's record in the database while the runtime runs it: timeline rows (stamped when
//! they happened, written in order in one blocking task per batch), the record's state, and
//! closing the record at the end or when the tables do not allow the call. Failures to write
//! are logged, never fatal: the call itself goes on.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use subscriber_db::{CallEnd, Db, SessionId, SubscriberId};
use tracing::warn;

use super::CallRequest;
use super::call_task::Shared;

/// A timeline row waiting to be written.
struct Row {
    at: DateTime<Utc>,
    kind: &'static str,
    detail: serde_json::Value,
}

/// One call's pending timeline rows and where they go.
pub(super) struct Timeline {
    db: Arc<Db>,
    sid: SubscriberId,
    call: SessionId,
    rows: Vec<Row>,
}

impl Timeline {
    pub(super) fn new(db: &Arc<Db>, request: &CallRequest) -> Self {
        Self {
            db: Arc::clone(db),
            sid: request.subscriber.clone(),
            call: request.session.clone(),
            rows: Vec::new(),
        }
    }

    /// Queues a row stamped now; [`Timeline::flush`] writes it.
    pub(super) fn row(&mut self, kind: &'static str, detail: serde_json::Value) {
        self.rows.push(Row {
            at: Utc::now(),
            kind,
            detail,
        });
    }

    /// Writes the queued rows in order.
    pub(super) async fn flush(&mut self) {
        if self.rows.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.rows);
        let (db, sid, call) = (Arc::clone(&self.db), self.sid.clone(), self.call.clone());
        let written = tokio::task::spawn_blocking(move || {
            rows.iter()
                .map(|r| db.append_call_event(&sid, &call, r.at, r.kind, &r.detail))
                .find_map(Result::err)
        })
        .await;
        match written {
            Ok(None) => {}
            Ok(Some(e)) => warn!(error = %e, "timeline rows not written"),
            Err(_) => warn!("timeline task did not finish"),
        }
    }

    /// The record's state while the call runs.
    pub(super) async fn write_state(&self, state: &'static str) {
        let (db, sid, call) = (Arc::clone(&self.db), self.sid.clone(), self.call.clone());
        let result =
            tokio::task::spawn_blocking(move || db.update_call_state(&sid, &call, state)).await;
        if let Ok(Err(e)) = result {
            warn!(error = %e, state, "call state not written");
        }
    }
}

/// The tables do not allow this call: tell the browser and close the record.
pub(super) async fn fail_setup(
    shared: &Shared,
    request: &CallRequest,
    session: Option<pagepush::SessionId>,
    cause: &'static str,
    error: String,
) {
    warn!(cause, %error, "call not started");
    if let Some(session) = &session {
        let _ = shared.hub.publish(
            session,
            pagepush::PushEvent::Ended {
                cause: cause.to_owned(),
                text: "Sorry, this call cannot be placed right now. Please try again later."
                    .to_owned(),
            },
        );
    }
    let db = Arc::clone(&shared.db);
    let (sid, call) = (request.subscriber.clone(), request.session.clone());
    let detail = json!({ "cause": cause, "error": error });
    let _ = tokio::task::spawn_blocking(move || {
        db.append_call_event(&sid, &call, Utc::now(), "setup_failed", &detail)
    })
    .await;
    let end = CallEnd {
        state: "ended".into(),
        cause: cause.to_owned(),
        user_leg_cause: None,
        center_leg_cause: None,
    };
    finish(&shared.db, request, end).await;
}

pub(super) async fn finish(db: &Arc<Db>, request: &CallRequest, end: CallEnd) {
    let db = Arc::clone(db);
    let (sid, call) = (request.subscriber.clone(), request.session.clone());
    let result =
        tokio::task::spawn_blocking(move || db.finish_call(&sid, &call, &end, Utc::now())).await;
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => warn!(error = %e, "call record not finished"),
        Err(_) => warn!("call record task did not finish"),
    }
}
