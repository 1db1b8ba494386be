//! The `Hub`: every open session's event history and the wake-up signal for its subscribers.
//! Owns ordering (ids 1, 2, 3, ...), replay after `Last-Event-ID`, and ending streams. It must
//! not read clocks: `sweep` takes `now`.
//!
//! Why no `broadcast` channel: each subscriber reads from the history by cursor ("every event
//! with id > what I delivered") and only waits on a `watch` of the newest id. Replay and live
//! delivery are therefore the same code path, so there is no race between them, no duplicate
//! and no gap, and a slow subscriber cannot lag out: it simply reads further back in the
//! history. Only if the history was truncated past its cursor does it get `Delivered::Reload`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::sync::watch;

use crate::event::{Delivered, EventId, PushEvent, QueueUpdate};
use words::CallStatus;
use words::SessionId;

/// Limits and timings for the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// Events kept per session for replay; older ones are dropped first.
    pub history_limit: usize,
    /// Interval of SSE keep-alive comments (used by [`crate::sse_response`]).
    pub keepalive: Duration,
    /// How long an ended session stays readable (for late reconnects and the no-JS page)
    /// before `sweep` drops it.
    pub idle_session_ttl: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            history_limit: 256,
            keepalive: Duration::from_secs(15),
            idle_session_ttl: Duration::from_secs(600),
        }
    }
}

/// Errors at the hub's boundary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("no open push channel for session {0}; open it before publishing or subscribing")]
    UnknownSession(SessionId),
    #[error("session {0} has ended; nothing more can be pushed to it")]
    SessionEnded(SessionId),
}

/// Current state of a session, for the no-JavaScript Connect page that refreshes itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Last `Status` published, if any.
    pub status: Option<(CallStatus, String)>,
    /// Last `Page` published, if any (always a `PushEvent::Page`).
    pub last_page: Option<PushEvent>,
    /// The `Ended` event, once published (always a `PushEvent::Ended`).
    pub ended: Option<PushEvent>,
    /// Last `Queue` update published, if any (a callback request's page).
    pub queue: Option<QueueUpdate>,
    /// Id of the newest event (0 before the first).
    pub last_event_id: EventId,
}

/// The push hub. Cheap to clone; all clones share the same sessions.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: HubConfig,
    sessions: Mutex<HashMap<SessionId, Session>>,
}

#[derive(Debug)]
struct Session {
    history: VecDeque<(EventId, PushEvent)>,
    snapshot: Snapshot,
    /// Newest event id; subscribers wait on changes of it.
    newest: watch::Sender<EventId>,
    /// First `sweep` that saw this session ended; the TTL counts from there.
    ended_seen_at: Option<Instant>,
}

/// What a subscriber finds when it looks past its cursor.
enum Catch {
    Next(EventId, PushEvent),
    /// Nothing after the cursor yet; `true` if nothing will ever come (session ended).
    Nothing {
        ended: bool,
    },
    Truncated(EventId),
    Gone,
}

impl Hub {
    pub fn new(config: HubConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                sessions: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Opens the channel for a session. Opening an open session changes nothing.
    pub fn open(&self, session: &SessionId) {
        self.lock()
            .entry(session.clone())
            .or_insert_with(|| Session {
                history: VecDeque::new(),
                snapshot: Snapshot::default(),
                newest: watch::Sender::new(0),
                ended_seen_at: None,
            });
    }

    /// Publishes an event and returns its id. Refused once `Ended` was published.
    pub fn publish(&self, session: &SessionId, event: PushEvent) -> Result<EventId, PushError> {
        let limit = self.inner.config.history_limit.max(1);
        let mut sessions = self.lock();
        let s = sessions
            .get_mut(session)
            .ok_or_else(|| PushError::UnknownSession(session.clone()))?;
        if s.snapshot.ended.is_some() {
            return Err(PushError::SessionEnded(session.clone()));
        }
        let id = s.snapshot.last_event_id + 1;
        match &event {
            PushEvent::Status { state, text } => s.snapshot.status = Some((*state, text.clone())),
            PushEvent::Page { .. } => s.snapshot.last_page = Some(event.clone()),
            PushEvent::Ended { .. } => s.snapshot.ended = Some(event.clone()),
            PushEvent::Queue(update) => s.snapshot.queue = Some(update.clone()),
        }
        s.snapshot.last_event_id = id;
        s.history.push_back((id, event));
        while s.history.len() > limit {
            s.history.pop_front();
        }
        s.newest.send_replace(id);
        Ok(id)
    }

    /// Subscribes from just after `last_event_id` (`None` = from the first event). An id the
    /// hub never issued (e.g. from before a platform restart) is treated as `None`.
    ///
    /// The stream yields every stored event after the cursor, then live events, each exactly
    /// once and in order. It ends after `Ended`, when the session is closed or swept, or after
    /// a `Delivered::Reload` when the history no longer reaches back to the cursor.
    pub fn subscribe(
        &self,
        session: &SessionId,
        last_event_id: Option<EventId>,
    ) -> Result<impl Stream<Item = Delivered> + Send + 'static, PushError> {
        let sessions = self.lock();
        let s = sessions
            .get(session)
            .ok_or_else(|| PushError::UnknownSession(session.clone()))?;
        let newest = s.newest.subscribe();
        let cursor = match last_event_id {
            Some(id) if id <= s.snapshot.last_event_id => id,
            _ => 0,
        };
        drop(sessions);
        let state = Cursor {
            hub: self.clone(),
            session: session.clone(),
            cursor,
            newest,
            done: false,
        };
        Ok(futures::stream::unfold(state, Cursor::next))
    }

    /// Current status, last page and end, for the page that renders without the stream.
    pub fn snapshot(&self, session: &SessionId) -> Result<Snapshot, PushError> {
        self.lock()
            .get(session)
            .map(|s| s.snapshot.clone())
            .ok_or_else(|| PushError::UnknownSession(session.clone()))
    }

    /// Drops a session; its live streams end. Returns whether it was open.
    pub fn close(&self, session: &SessionId) -> bool {
        self.lock().remove(session).is_some()
    }

    /// Drops sessions that ended at least `idle_session_ttl` before `now` (counted from the
    /// first sweep that saw them ended, so call this on an interval). Returns how many were
    /// dropped. Sessions that never end are the platform's to `close`.
    pub fn sweep(&self, now: Instant) -> usize {
        let ttl = self.inner.config.idle_session_ttl;
        let mut sessions = self.lock();
        let before = sessions.len();
        sessions.retain(|_, s| {
            if s.snapshot.ended.is_none() {
                return true;
            }
            let seen = *s.ended_seen_at.get_or_insert(now);
            now.saturating_duration_since(seen) < ttl
        });
        before - sessions.len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Session>> {
        // A panic while holding this lock cannot leave a session half-updated in a way that
        // breaks ids (the id is written last), so a poisoned lock is still usable.
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn catch_up(&self, session: &SessionId, cursor: EventId) -> Catch {
        let sessions = self.lock();
        let Some(s) = sessions.get(session) else {
            return Catch::Gone;
        };
        let Some((first, _)) = s.history.front() else {
            return Catch::Nothing {
                ended: s.snapshot.ended.is_some(),
            };
        };
        if *first > cursor + 1 {
            return Catch::Truncated(*first);
        }
        // Ids in the history are consecutive, so the event after the cursor is found by index.
        let index = usize::try_from(cursor + 1 - *first).unwrap_or(usize::MAX);
        match s.history.get(index) {
            Some((id, event)) => Catch::Next(*id, event.clone()),
            None => Catch::Nothing {
                ended: s.snapshot.ended.is_some(),
            },
        }
    }
}

/// One subscriber's position in a session.
struct Cursor {
    hub: Hub,
    session: SessionId,
    cursor: EventId,
    newest: watch::Receiver<EventId>,
    done: bool,
}

impl Cursor {
    async fn next(mut self) -> Option<(Delivered, Self)> {
        loop {
            if self.done {
                return None;
            }
            // Mark the current newest id as seen *before* reading the history, so an event
            // published in between wakes `changed()` below instead of being missed.
            self.newest.borrow_and_update();
            match self.hub.catch_up(&self.session, self.cursor) {
                Catch::Gone => return None,
                Catch::Truncated(first_available) => {
                    tracing::debug!(
                        session = %self.session,
                        cursor = self.cursor,
                        first_available,
                        "subscriber is behind the kept history; telling the browser to reload"
                    );
                    self.done = true;
                    return Some((Delivered::Reload { first_available }, self));
                }
                Catch::Next(id, event) => {
                    self.cursor = id;
                    self.done = matches!(event, PushEvent::Ended { .. });
                    return Some((Delivered::Event { id, event }, self));
                }
                Catch::Nothing { ended: true } => return None,
                Catch::Nothing { ended: false } => {}
            }
            if self.newest.changed().await.is_err() {
                // Sender dropped: the session was closed or swept. Deliver nothing more.
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests;
