//! What travels over the push channel: the events the platform publishes and what a subscriber
//! receives. Plain values; their JSON form is what the browser's script reads.

use serde::Serialize;
use words::{CallStatus, CallbackState, EndCause};

/// Per-session event id: 1, 2, 3, ... in publish order. Sent as the SSE `id:` field so a
/// reconnecting browser can say where it stopped (`Last-Event-ID`).
pub type EventId = u64;

/// An event the platform publishes to a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PushEvent {
    /// Where the call is, in the words the call record uses; `Ended` comes as [`PushEvent::Ended`].
    Status { state: CallStatus, text: String },
    /// A page from the subscriber's page table; `url` is what the browser frame loads
    /// (see [`crate::PageLink`]).
    Page {
        page_id: i64,
        title: String,
        url: String,
    },
    /// The call is over; the stream ends after this event and the hub refuses further publishes.
    Ended { cause: EndCause, text: String },
    /// Where a callback request is (the visitor's queue page, issue 13): its place in the
    /// route's queue and the wait estimate, or that its call is being placed.
    Queue(QueueUpdate),
}

/// One update of a visitor's queue page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueUpdate {
    pub state: CallbackState,
    /// 1 for the head of the queue; `None` when not waiting (or waiting for a slot).
    pub position: Option<u32>,
    /// Requests of the route waiting now, this one included.
    pub waiting: u32,
    /// The estimated wait from now, in seconds; `None`: no honest estimate (no line at all).
    pub estimate_secs: Option<u64>,
    /// The estimate as the page says it ("about 4 minutes").
    pub estimate_words: String,
    /// While dialing: the attempt's Connect page, where the page goes.
    pub call_url: Option<String>,
    /// The sentence the page shows.
    pub text: String,
}

impl PushEvent {
    /// Shorthand for a `Status` event.
    pub fn status(state: CallStatus, text: impl Into<String>) -> Self {
        PushEvent::Status {
            state,
            text: text.into(),
        }
    }

    /// SSE `event:` name, so the browser can `addEventListener("page", ...)`.
    pub fn kind(&self) -> &'static str {
        match self {
            PushEvent::Status { .. } => "status",
            PushEvent::Page { .. } => "page",
            PushEvent::Ended { .. } => "ended",
            PushEvent::Queue(_) => "queue",
        }
    }
}

/// What a subscriber's stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Event {
        id: EventId,
        event: PushEvent,
    },
    /// The subscriber is so far behind that events it needs were dropped from the history
    /// (`HubConfig::history_limit`). The stream ends after this; the browser must reload the
    /// Connect page (which renders the current snapshot) instead of reconnecting the stream.
    Reload {
        first_available: EventId,
    },
}
