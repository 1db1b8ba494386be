//! What the visitor's page and the operators' API do to a callback request besides the
//! scheduler: cancel (one path for both, so both end a running attempt and tell the page) and
//! move to another time.

use chrono::{DateTime, Utc};
use pagepush::PushEvent;
use subscriber_db::{Callback, CallbackId, CallbackState, Db, DbError, SubscriberId};

use super::scheduler::closed_update;
use crate::{AppState, DbTaskError};

/// What a request operation answers: the request, a database refusal, or no database task.
pub(crate) type Outcome = Result<Result<Callback, DbError>, DbTaskError>;

/// Which request: by its page session (the visitor) or by id under a subscriber (operators).
pub(crate) enum Which {
    Page(subscriber_db::SessionId),
    Id(SubscriberId, CallbackId),
}

fn find(db: &Db, which: &Which) -> Result<Callback, DbError> {
    match which {
        Which::Page(page) => db.callback_by_page(page),
        Which::Id(sid, id) => db.get_callback(sid, *id),
    }
}

/// Cancels the request; idempotent (a closed one is answered as it is). A request being
/// dialed has its call ended; the visitor's page is told; a waiting one teaches the
/// estimator that a request left undialed. `who` names the canceller in the log.
pub(crate) async fn cancel(state: &AppState, which: Which, who: &'static str) -> Outcome {
    let now = Utc::now();
    let found = state
        .with_db(move |db| -> Result<_, DbError> {
            let before = find(db, &which)?;
            let after = db.cancel_callback(&before.subscriber_id, before.id, now)?;
            let policy = db.get_policy(&before.subscriber_id)?;
            Ok((before, after, policy))
        })
        .await?;
    let (before, after, policy) = match found {
        Ok(found) => found,
        Err(e) => return Ok(Err(e)),
    };
    if before.state.is_open() && after.state == CallbackState::Cancelled {
        tracing::info!(
            subscriber = %after.subscriber_id,
            callback = %after.id,
            was = %before.state,
            by = who,
            "callback request cancelled"
        );
        if before.state == CallbackState::Waiting {
            let waited = (now - before.wanted_at).to_std().unwrap_or_default();
            let (sid, subject) = (&after.subscriber_id, &after.subject_code);
            state
                .queues()
                .left_queue(sid, subject, &policy, false, waited);
        }
        if before.state == CallbackState::Dialing
            && let Some(call) = &before.call_id
        {
            state.runtime().cancel(call);
        }
        let update = closed_update(CallbackState::Cancelled, after.attempts);
        let _ = state
            .hub()
            .publish(&after.page_session, PushEvent::Queue(update));
    }
    Ok(Ok(after))
}

/// Moves a waiting request to `due_at` (a slot from then to `slot_end`). Idempotent; a
/// request no longer waiting is a `Conflict`. The page shows the new time at the next load.
pub(crate) async fn move_to(
    state: &AppState,
    sid: SubscriberId,
    id: CallbackId,
    due_at: DateTime<Utc>,
    slot_end: Option<DateTime<Utc>>,
) -> Outcome {
    let moved = state
        .with_db(move |db| db.reschedule_callback(&sid, id, due_at, slot_end))
        .await?;
    let moved = match moved {
        Ok(moved) => moved,
        Err(e) => return Ok(Err(e)),
    };
    let mut update = closed_update(CallbackState::Waiting, moved.attempts);
    update.text = format!(
        "Your callback is moved: we will call you at {} UTC.",
        moved.due_at.format("%Y-%m-%d %H:%M")
    );
    let _ = state
        .hub()
        .publish(&moved.page_session, PushEvent::Queue(update));
    Ok(Ok(moved))
}
