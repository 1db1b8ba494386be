//! The call's record in the database while the runtime runs it: timeline rows (stamped when
//! they happened, written in order in one blocking task per batch), each leg's call detail
//! record and SIP dialog, the record's state, and closing the record at the end or when the
//! tables do not allow the call. Failures to write are logged, never fatal: the call itself
//! goes on.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use subscriber_db::{CallEnd, Db, LegCdr, LegDialog, SessionId, SubscriberId};
use tracing::warn;
use words::{CallState, EndCause, TimelineEvent};

use super::CallRequest;
use super::call_task::Shared;

/// A timeline row waiting to be written.
struct Row {
    at: DateTime<Utc>,
    event: TimelineEvent,
}

/// One call's pending timeline rows, leg CDRs and dialogs, and where they go.
pub(super) struct Timeline {
    db: Arc<Db>,
    sid: SubscriberId,
    call: SessionId,
    rows: Vec<Row>,
    legs: Vec<(LegCdr, Option<LegDialog>)>,
    /// While the flow handles a leg event voice timed on the wire, its rows carry that time.
    stamp: Option<DateTime<Utc>>,
    /// The latest time a row carries: rows never go back in time, even when a wire time is
    /// older than a row written in between (the event waited in the leg's queue).
    last_at: Option<DateTime<Utc>>,
}

impl Timeline {
    pub(super) fn new(db: &Arc<Db>, request: &CallRequest) -> Self {
        Self {
            db: Arc::clone(db),
            sid: request.subscriber.clone(),
            call: request.session.clone(),
            rows: Vec::new(),
            legs: Vec::new(),
            stamp: None,
            last_at: None,
        }
    }

    /// Rows queued until [`Timeline::unstamp`] carry `at` (when voice saw the event).
    pub(super) fn stamp(&mut self, at: Option<DateTime<Utc>>) {
        self.stamp = at;
    }

    pub(super) fn unstamp(&mut self) {
        self.stamp = None;
    }

    /// Queues a dial's call detail record and SIP dialog (written, or rewritten, with the next
    /// flush): the dialog as a restart after a crash would need it to end the leg.
    pub(super) fn leg(&mut self, (cdr, dialog): (LegCdr, Option<LegDialog>)) {
        self.legs.push((cdr, dialog));
    }

    /// Queues a row stamped now; [`Timeline::flush`] writes it.
    pub(super) fn row(&mut self, event: TimelineEvent) {
        let at = self.stamp.unwrap_or_else(Utc::now);
        self.row_at(at, event);
    }

    /// Queues a row stamped when it happened (e.g. on the wire, as voice saw it).
    pub(super) fn row_at(&mut self, at: DateTime<Utc>, event: TimelineEvent) {
        let at = self.last_at.map_or(at, |last| at.max(last));
        self.last_at = Some(at);
        self.rows.push(Row { at, event });
    }

    /// Writes the queued legs and dialogs, then the rows in order. Dialogs first: a process
    /// killed between the two writes must not leave a timeline that is ahead of the dialog
    /// state the restart ends legs from (a `bridged` row beside a center dialog still stored
    /// as ringing got that leg a CANCEL instead of its BYE).
    pub(super) async fn flush(&mut self) {
        if self.rows.is_empty() && self.legs.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.rows);
        let legs = std::mem::take(&mut self.legs);
        let (db, sid, call) = (Arc::clone(&self.db), self.sid.clone(), self.call.clone());
        let written = tokio::task::spawn_blocking(move || {
            let rows = rows
                .iter()
                .map(|r| db.append_call_event(&sid, &call, r.at, &r.event).map(drop));
            let legs = legs.iter().flat_map(|(cdr, dialog)| {
                let dialog = dialog
                    .as_ref()
                    .map(|d| db.upsert_leg_dialog(&sid, &call, cdr.leg, cdr.attempt, d));
                std::iter::once(db.upsert_call_leg(&sid, &call, cdr)).chain(dialog)
            });
            legs.chain(rows).find_map(Result::err)
        })
        .await;
        match written {
            Ok(None) => {}
            Ok(Some(e)) => warn!(error = %e, "timeline rows not written"),
            Err(_) => warn!("timeline task did not finish"),
        }
    }

    /// The record's state while the call runs.
    pub(super) async fn write_state(&self, state: CallState) {
        let (db, sid, call) = (Arc::clone(&self.db), self.sid.clone(), self.call.clone());
        let result =
            tokio::task::spawn_blocking(move || db.update_call_state(&sid, &call, state)).await;
        if let Ok(Err(e)) = result {
            warn!(error = %e, %state, "call state not written");
        }
    }
}

/// The tables do not allow this call: tell the browser and close the record.
pub(super) async fn fail_setup(
    shared: &Shared,
    request: &CallRequest,
    cause: EndCause,
    error: String,
) {
    warn!(%cause, %error, "call not started");
    let text = super::sentences::ended_text(cause).to_owned();
    let _ = shared
        .hub
        .publish(&request.session, pagepush::PushEvent::Ended { cause, text });
    let db = Arc::clone(&shared.db);
    let (sid, call) = (request.subscriber.clone(), request.session.clone());
    let event = TimelineEvent::SetupFailed { cause, error };
    let _ =
        tokio::task::spawn_blocking(move || db.append_call_event(&sid, &call, Utc::now(), &event))
            .await;
    finish(&shared.db, request, CallEnd::before_dialing(cause)).await;
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
