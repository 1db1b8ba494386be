//! The call runtime: one tokio task per call that feeds `voice` events into the call flow
//! (`crate::flow`) and executes its commands against `voice`, `pagepush` and `subscriber-db`.
//! It owns sockets and timers only through those crates; decisions stay in the flow.

use std::sync::Arc;

use pagepush::Hub;
use subscriber_db::{Db, E164, SubjectCode, SubscriberId, WhisperCode};
use tokio_util::sync::CancellationToken;
use voice::Voice;

use crate::config::Config;

/// What the web front hands over once the user confirmed a number and the call record exists.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub subscriber: SubscriberId,
    /// The call record id, also the browser session id (32 hex digits).
    pub session: subscriber_db::SessionId,
    pub subject: SubjectCode,
    pub whisper_code: Option<WhisperCode>,
    pub user_number: E164,
    /// The subscriber page the user came from (Referer), spoken in the whisper when known.
    pub page: Option<String>,
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
    #[allow(dead_code)]
    db: Arc<Db>,
    #[allow(dead_code)]
    hub: Hub,
    voice: Voice,
    shutdown: CancellationToken,
}

impl Runtime {
    pub fn new(
        db: Arc<Db>,
        hub: Hub,
        voice: Voice,
        _config: &Config,
        shutdown: CancellationToken,
    ) -> Self {
        Runtime {
            inner: Arc::new(Inner {
                db,
                hub,
                voice,
                shutdown,
            }),
        }
    }

    /// The SIP side, for commands such as `callbond call`.
    pub fn voice(&self) -> &Voice {
        &self.inner.voice
    }

    /// Starts the call for `request` in its own task and returns at once.
    pub fn start(&self, request: CallRequest) -> Result<(), StartError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(StartError::ShuttingDown);
        }
        // The call-flow issue (#5) puts the per-call task here.
        tracing::warn!(session = %request.session, "call runtime not built yet: no call placed");
        Ok(())
    }
}
