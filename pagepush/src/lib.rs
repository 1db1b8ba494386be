//! Per-session push channel to the user's browser (Server-Sent Events), plus the pure helpers for
//! resolving and sandboxing pushed pages. Knows nothing of SIP or of the database: the platform
//! publishes events here and writes its own timeline rows.

mod event;
mod hub;
mod page;
#[cfg(test)]
mod proptests;
mod sse;

pub use event::{Delivered, EventId, PushEvent, QueueUpdate};
pub use hub::{Hub, HubConfig, PushError, Snapshot};
pub use page::{PageLink, frame_sandbox_for_html, frame_sandbox_for_url, sandbox_csp};
pub use sse::{RETRY_HINT, parse_last_event_id, sse_response};
pub use words::{CallStatus, EndCause, SessionId};
