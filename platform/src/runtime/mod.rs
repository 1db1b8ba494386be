//! The call runtime: one tokio task per call that feeds `voice` events into the call flow
//! (`crate::flow`) and executes its commands against `voice`, `pagepush` and `subscriber-db`.
//! It owns sockets and timers only through those crates; decisions stay in the flow.
//! This module holds the handle the web front uses to start calls and the count of calls in
//! progress, so a shutdown can wait for every call to hang up its legs and close its record,
//! and the start-up recovery that ends what a process which died left open (`recover`).

mod call_task;
mod legs;
mod record;
mod recover;
mod sentences;
mod spec;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pagepush::Hub;

use crate::desk::Desk;
use subscriber_db::{CallEnd, Db, E164, SubjectCode, SubscriberId, WhisperCode};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, error, info_span};
use voice::Voice;

pub use recover::{Recovery, recover_interrupted_calls};
pub use spec::SpecError;

/// What the web front hands over once the user confirmed a number and the call record exists.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub subscriber: SubscriberId,
    /// The call record id, also the browser session id (32 hex digits).
    pub session: subscriber_db::SessionId,
    /// The session reference every context channel carries (10 digits).
    pub session_ref: subscriber_db::SessionRef,
    /// The DNIS the call drew from its route's range; `None`: the route's fixed DNIS.
    pub drawn_dnis: Option<subscriber_db::Dnis>,
    pub subject: SubjectCode,
    pub whisper_code: Option<WhisperCode>,
    pub user_number: E164,
    /// The subscriber page the user came from (Referer), spoken in the whisper when known.
    pub page: Option<String>,
    /// A callback attempt with consent: the key the visitor must press (their page shows it)
    /// before the center is dialed.
    pub consent_key: Option<words::DtmfKey>,
}

/// Why a call could not be started. The call record is marked failed by the caller.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the platform is shutting down")]
    ShuttingDown,
}

/// Starts and tracks calls. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    shared: call_task::Shared,
    /// Every call's supervisor task, so a shutdown can wait for them.
    calls: TaskTracker,
    /// Each running call's cancel signal, by session: the visitor's cancel button.
    cancels: Arc<Mutex<HashMap<subscriber_db::SessionId, CancellationToken>>>,
}

impl Runtime {
    pub fn new(db: Arc<Db>, hub: Hub, voice: Voice, shutdown: CancellationToken) -> Self {
        // Ended calls' push channels stay readable for late reconnects, then go: the hub
        // drops them after its idle TTL, counted from the first sweep that saw them ended.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(sweep_push_channels(hub.clone(), shutdown.clone()));
        }
        Runtime {
            inner: Arc::new(Inner {
                shared: call_task::Shared {
                    db,
                    hub,
                    voice,
                    shutdown,
                    desk: Desk::new(),
                },
                calls: TaskTracker::new(),
                cancels: Arc::default(),
            }),
        }
    }

    /// The offers and claims the agents' consoles see.
    pub(crate) fn desk(&self) -> &Desk {
        &self.inner.shared.desk
    }

    /// Calls whose task is still running.
    pub fn active_calls(&self) -> usize {
        self.inner.calls.len()
    }

    /// Starts the call for `request` in its own task and returns at once. The task ends the
    /// call when the platform shuts down.
    pub fn start(&self, request: CallRequest) -> Result<(), StartError> {
        if self.inner.shared.shutdown.is_cancelled() {
            return Err(StartError::ShuttingDown);
        }
        let span = info_span!("call", session = %request.session);
        let shared = self.inner.shared.clone();
        let cancel = CancellationToken::new();
        self.cancels()
            .insert(request.session.clone(), cancel.clone());
        let cancels = Arc::clone(&self.inner.cancels);
        let call = tokio::spawn(
            call_task::run(shared.clone(), request.clone(), cancel).instrument(span.clone()),
        );
        // A supervisor per call: if the call task panics (a bug, never a peer's doing), its
        // legs were dropped, which hangs them up; the record is closed here so the call does
        // not count against the subscriber's limit for ever.
        self.inner.calls.spawn(
            async move {
                let result = call.await;
                cancels
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .remove(&request.session);
                if let Err(e) = result {
                    error!(error = %e, "call task failed; closing its record");
                    let end = CallEnd::before_dialing(words::EndCause::InternalError);
                    record::finish(&shared.db, &request, end).await;
                }
            }
            .instrument(span),
        );
        Ok(())
    }

    /// Asks the running call of `session` to end (the visitor's cancel button): the flow ends
    /// it as `cancelled`, cancelling or hanging up each leg it dialed. `false`: no such call
    /// is running (it ended already, or another process placed it).
    pub fn cancel(&self, session: &subscriber_db::SessionId) -> bool {
        match self.cancels().get(session) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    fn cancels(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<subscriber_db::SessionId, CancellationToken>> {
        // A panic while holding the map leaves it consistent (inserts and removes only).
        self.inner
            .cancels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until no call is in progress, at most `limit`; returns whether none is. Used at
    /// shutdown after the token was cancelled, so calls can hang up and close their records.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        // Closing only means "wait for those running": `start` refuses new calls by the
        // shutdown token, not by the tracker.
        self.inner.calls.close();
        tokio::time::timeout(limit, self.inner.calls.wait())
            .await
            .is_ok()
    }
}

/// How often ended push channels are looked at.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

async fn sweep_push_channels(hub: Hub, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let dropped = hub.sweep(std::time::Instant::now());
                if dropped > 0 {
                    tracing::debug!(dropped, "ended push channels dropped");
                }
            }
        }
    }
}
