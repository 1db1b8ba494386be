//! The callback scheduler (issue 13 item 2): once a second it settles the attempts whose
//! calls ended (reached, try again after the policy's gap, or given up), starts the normal
//! call flow for the head of every route's queue while the route has a free line, teaches
//! the estimator the handle times of the calls that ended, and recomputes every waiting
//! request's place and wait estimate, pushing it to the visitor's page when it changed.
//!
//! Every step is a database transition first (`claim_next_callback`, `link_callback_call`,
//! `callback_attempt_ended`), so a process killed between two of them leaves a state the
//! next start settles (`settle_interrupted_callbacks`): never lost, never dialed twice.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pagepush::{PushEvent, QueueUpdate};
use subscriber_db::{
    AttemptOutcome, Callback, CallbackState, Db, DbError, DbResult, EndCause, Leg, Policy,
    SessionId, SubjectCode, SubscriberId,
};
use tokio_util::sync::CancellationToken;

use super::board::{self, Board, wait_words};
use crate::AppState;
use crate::runtime::CallRequest;
use crate::web::request::{CallInputs, RangeExhausted, create_record};

/// How often the scheduler runs.
pub(crate) const TICK: Duration = Duration::from_secs(1);

/// A waiting visitor's estimate is pushed again when it moved by at least this much (it is
/// recomputed every tick); a new place in the queue is pushed at once.
const ESTIMATE_STEP_SECS: u64 = 5;

/// How long a closed request's channel stays open for the page's last update.
const CLOSED_CHANNEL_SECS: u64 = 60;

/// What was last pushed to each waiting visitor's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shown {
    position: Option<u32>,
    estimate_secs: Option<u64>,
}

/// What one tick decided, done after the database work: pushes and calls to start.
#[derive(Default)]
struct Actions {
    pushes: Vec<(SessionId, QueueUpdate)>,
    starts: Vec<CallRequest>,
    /// Pages of requests that closed: their channel closes a little later.
    closed: Vec<SessionId>,
}

/// Starts the scheduler on the runtime; it stops with `shutdown`.
pub(crate) fn spawn(state: AppState, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut shown: HashMap<SessionId, Shown> = HashMap::new();
        // The test clock (`testing.scheduler_clock_offset_secs`, 0 in service).
        let offset = chrono::Duration::seconds(state.config().testing.scheduler_clock_offset_secs);
        if offset != chrono::Duration::zero() {
            tracing::warn!(
                offset_secs = offset.num_seconds(),
                "callback scheduler runs on a shifted test clock"
            );
        }
        let mut learned_until = Utc::now() + offset;
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = interval.tick() => {}
            }
            let now = Utc::now() + offset;
            let db_state = state.clone();
            let known = std::mem::take(&mut shown);
            let since = learned_until;
            let outcome = state
                .with_db(move |db| {
                    let mut known = known;
                    let result = tick(db, &db_state, &mut known, since, now);
                    (known, result)
                })
                .await;
            let actions = match outcome {
                Ok((known, Ok(actions))) => {
                    shown = known;
                    learned_until = now;
                    actions
                }
                Ok((known, Err(e))) => {
                    shown = known;
                    tracing::error!(error = %e, "callback scheduler: database error; next tick tries again");
                    continue;
                }
                Err(_) => break,
            };
            act(&state, actions).await;
        }
        tracing::info!("callback scheduler stopped");
    });
}

/// Pushes the updates and starts the calls a tick decided on.
async fn act(state: &AppState, actions: Actions) {
    for (page, update) in actions.pushes {
        // A channel the hub forgot (swept) is opened again: the page reconnects to it.
        state.hub().open(&page);
        let _ = state.hub().publish(&page, PushEvent::Queue(update));
    }
    for request in actions.starts {
        state.hub().open(&request.session);
        let (sid, session) = (request.subscriber.clone(), request.session.clone());
        if let Err(e) = state.runtime().start(request) {
            // The record is finished as failed; the next tick settles the attempt.
            tracing::error!(%session, error = %e, "callback attempt: the runtime refused the call");
            state.hub().close(&session);
            let _ = state
                .with_db(move |db| {
                    let end = subscriber_db::CallEnd::before_dialing(EndCause::StartFailed);
                    db.finish_call(&sid, &session, &end, Utc::now())
                })
                .await;
        }
    }
    for page in actions.closed {
        let hub = state.hub().clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(CLOSED_CHANNEL_SECS)).await;
            hub.close(&page);
        });
    }
}

/// One tick's database work. Blocking.
fn tick(
    db: &Db,
    state: &AppState,
    shown: &mut HashMap<SessionId, Shown>,
    learned_since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DbResult<Actions> {
    let mut actions = Actions::default();
    let mut policies: HashMap<SubscriberId, Policy> = HashMap::new();
    let board = state.queues();
    for ended in db.calls_ended_between(learned_since, now)? {
        let sid = &ended.subscriber_id;
        let policy = policy_of(db, &mut policies, sid)?;
        let handle = (ended.ended_at - ended.created_at)
            .to_std()
            .unwrap_or_default();
        board.call_ended(sid, &ended.subject_code, policy, handle);
    }
    for request in db.callbacks_dialing()? {
        settle(db, &mut policies, &request, now, &mut actions)?;
    }
    for (sid, subject) in db.callback_routes_due(now)? {
        let policy = policy_of(db, &mut policies, &sid)?.clone();
        dial_free_lines(db, state, &policy, &sid, &subject, now, &mut actions)?;
        show_places(db, board, &policy, &sid, &subject, now, shown, &mut actions)?;
    }
    for page in &actions.closed {
        shown.remove(page);
    }
    Ok(actions)
}

fn policy_of<'a>(
    db: &Db,
    policies: &'a mut HashMap<SubscriberId, Policy>,
    sid: &SubscriberId,
) -> DbResult<&'a Policy> {
    if !policies.contains_key(sid) {
        let policy = db.get_policy(sid)?;
        policies.insert(sid.clone(), policy);
    }
    policies
        .get(sid)
        .ok_or(DbError::NotFound { what: "policy" })
}

/// Settles a request's attempt once its call ended: the visitor's phone answered → done;
/// the visitor cancelled on the call's page → cancelled; otherwise the next attempt after the
/// policy's gap, or failed after the last one.
fn settle(
    db: &Db,
    policies: &mut HashMap<SubscriberId, Policy>,
    request: &Callback,
    now: DateTime<Utc>,
    actions: &mut Actions,
) -> DbResult<()> {
    let Some(call_id) = &request.call_id else {
        return Ok(()); // its record is being made this very tick
    };
    let call = match db.get_call(&request.subscriber_id, call_id) {
        Ok(call) => call,
        Err(DbError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    if call.ended_at.is_none() {
        return Ok(());
    }
    let sid = &request.subscriber_id;
    // Reached: the visitor's phone answered and, when consent was asked, they pressed the
    // key (only then is the center dialed). A voicemail box answers too.
    let answered = call
        .legs
        .iter()
        .any(|l| l.leg == Leg::User && l.answered_at.is_some())
        && (request.consent_key.is_none() || call.legs.iter().any(|l| l.leg == Leg::Center));
    let policy = policy_of(db, policies, sid)?;
    let settled = if call.end_cause == Some(EndCause::Cancelled) && !answered {
        db.cancel_callback(sid, request.id, now)?
    } else {
        let outcome = if answered {
            AttemptOutcome::Reached
        } else if request.attempts < policy.callback.max_attempts.get() {
            let gap = chrono::Duration::seconds(i64::from(policy.callback.retry_gap_secs.get()));
            AttemptOutcome::RetryAt(now + gap)
        } else {
            AttemptOutcome::GaveUp
        };
        db.callback_attempt_ended(sid, request.id, outcome, now)?
    };
    tracing::info!(
        subscriber = %sid,
        callback = %settled.id,
        call = %call_id,
        attempts = settled.attempts,
        end_cause = ?call.end_cause,
        state = %settled.state,
        "callback attempt settled"
    );
    let mut update = closed_update(settled.state, settled.attempts);
    if settled.state == CallbackState::Waiting {
        update.text = format!(
            "We called you but could not reach you. We will try again at {} UTC.",
            settled.due_at.format("%H:%M")
        );
    }
    actions.pushes.push((settled.page_session.clone(), update));
    if !settled.state.is_open() {
        actions.closed.push(settled.page_session);
    }
    Ok(())
}

/// The page's update for a request in `state` that is not waiting in the queue.
pub(crate) fn closed_update(state: CallbackState, attempts: u32) -> QueueUpdate {
    QueueUpdate {
        state,
        position: None,
        waiting: 0,
        estimate_secs: None,
        estimate_words: String::new(),
        call_url: None,
        text: closed_text(state, attempts),
    }
}

/// What the page of a closed request says.
pub(crate) fn closed_text(state: CallbackState, attempts: u32) -> String {
    match state {
        CallbackState::Done => "We called you back. This request is done.".to_owned(),
        CallbackState::Cancelled => {
            "You cancelled this callback request. Nobody will call you for it.".to_owned()
        }
        CallbackState::Failed => format!(
            "We tried to call you {attempts} {} and could not reach you, so we stopped. \
             Please ask again from the company's page.",
            if attempts == 1 { "time" } else { "times" }
        ),
        CallbackState::Waiting | CallbackState::Dialing => String::new(),
    }
}

/// Takes the head of the route's queue for each free line and makes its call record; the
/// calls start after the tick.
fn dial_free_lines(
    db: &Db,
    state: &AppState,
    policy: &Policy,
    sid: &SubscriberId,
    subject: &SubjectCode,
    now: DateTime<Utc>,
    actions: &mut Actions,
) -> DbResult<()> {
    let subscriber = db.get_subscriber(sid)?;
    if !subscriber.active || !policy.is_open_at(now) {
        return Ok(());
    }
    let free = board::free_lines(db, policy, sid, subject)?;
    for _ in 0..free {
        let Some(request) = db.claim_next_callback(sid, subject, now)? else {
            break;
        };
        let waited = (now - request.wanted_at).to_std().unwrap_or_default();
        state
            .queues()
            .left_queue(sid, subject, policy, true, waited);
        let inputs = CallInputs {
            sid,
            subject,
            whisper_code: request.whisper_code.clone(),
            number: request.user_number.clone(),
            client_ip: request
                .client_ip
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            form_token: None,
            page: request.came_from.clone(),
            consent_key: request.consent_key,
        };
        let created = match create_record(db, &inputs, now)? {
            Ok(created) => created,
            Err(RangeExhausted) => {
                db.release_callback(sid, request.id)?;
                break;
            }
        };
        db.link_callback_call(sid, request.id, &created.session)?;
        tracing::info!(
            subscriber = %sid,
            subject = %subject,
            callback = %request.id,
            call = %created.session,
            attempt = request.attempts,
            waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
            predicted_ms = ?request.predicted_wait_ms,
            "callback attempt: dialing"
        );
        let call_url = format!("/sessions/{}", created.session);
        actions.pushes.push((
            request.page_session.clone(),
            QueueUpdate {
                state: CallbackState::Dialing,
                position: None,
                waiting: 0,
                estimate_secs: None,
                estimate_words: String::new(),
                call_url: Some(call_url),
                text: match request.consent_key {
                    Some(key) => format!(
                        "A line is free: we are calling you now. When you answer, press {key} \
                         to be connected to an agent."
                    ),
                    None => "A line is free: we are calling you now. Please answer your phone."
                        .to_owned(),
                },
            },
        ));
        actions.starts.push(inputs.request(&created));
    }
    Ok(())
}

/// Recomputes the place and estimate of every request waiting in the route's queue and
/// pushes those that changed.
#[allow(clippy::too_many_arguments)] // one tick's context, passed as it is
fn show_places(
    db: &Db,
    board: &Board,
    policy: &Policy,
    sid: &SubscriberId,
    subject: &SubjectCode,
    now: DateTime<Utc>,
    shown: &mut HashMap<SessionId, Shown>,
    actions: &mut Actions,
) -> DbResult<()> {
    let pages = db.callback_queue_pages(sid, subject, now)?;
    if pages.is_empty() {
        return Ok(());
    }
    let busy = board::busy_for(db, sid, subject, now)?;
    // Closed: the lines start freeing for the queue when the center opens.
    let closed = board::closed_for(policy, now);
    let estimates = board
        .estimates(sid, subject, policy, &busy, pages.len())
        .and_then(|e| closed.map(|c| e.into_iter().map(|w| w + c).collect::<Vec<_>>()));
    let waiting = u32::try_from(pages.len()).unwrap_or(u32::MAX);
    for (i, (_, page)) in pages.into_iter().enumerate() {
        let position = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let estimate = estimates.as_ref().and_then(|e| e.get(i).copied());
        let now_shown = Shown {
            position: Some(position),
            estimate_secs: estimate.map(|d| d.as_secs()),
        };
        let changed = match shown.get(&page) {
            None => true,
            Some(before) => {
                before.position != now_shown.position
                    || match (before.estimate_secs, now_shown.estimate_secs) {
                        (Some(a), Some(b)) => a.abs_diff(b) >= ESTIMATE_STEP_SECS,
                        (a, b) => a != b,
                    }
            }
        };
        if !changed {
            continue;
        }
        shown.insert(page.clone(), now_shown);
        actions
            .pushes
            .push((page, place_update(position, waiting, estimate)));
    }
    Ok(())
}

/// A waiting request's update: its place and the estimate in words.
pub(crate) fn place_update(position: u32, waiting: u32, estimate: Option<Duration>) -> QueueUpdate {
    let words = wait_words(estimate);
    QueueUpdate {
        state: CallbackState::Waiting,
        position: Some(position),
        waiting,
        estimate_secs: estimate.map(|d| d.as_secs()),
        text: place_text(position, &words),
        estimate_words: words,
        call_url: None,
    }
}

/// "You are number 2 in the queue. Estimated wait: about 4 minutes."
pub(crate) fn place_text(position: u32, words: &str) -> String {
    let place = if position == 1 {
        "You are next in the queue.".to_owned()
    } else {
        format!("You are number {position} in the queue.")
    };
    format!("{place} Estimated wait: {words}. We will call you when an agent line frees.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_says_place_and_wait() {
        let update = place_update(1, 3, Some(Duration::from_secs(200)));
        assert_eq!(
            update.text,
            "You are next in the queue. Estimated wait: about 4 minutes. We will call you when \
             an agent line frees."
        );
        assert_eq!(update.estimate_secs, Some(200));
        assert_eq!(update.position, Some(1));
        let update = place_update(3, 3, None);
        assert_eq!(
            update.text,
            "You are number 3 in the queue. Estimated wait: not known yet. We will call you \
             when an agent line frees."
        );
        assert_eq!(
            closed_text(CallbackState::Failed, 1),
            "We tried to call you 1 time and could not reach you, so we stopped. Please ask again from the company's page."
        );
    }
}
