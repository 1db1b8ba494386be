//! Turns a hub subscription into an axum Server-Sent Events response (WHATWG HTML §9.2,
//! "Server-sent events"). Owns the wire format: `id:` = event id, `event:` = `status` | `page` |
//! `ended` | `queue` | `reload`, `data:` = JSON, a `retry:` hint, keep-alive comments. No routing here.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};

use crate::event::{Delivered, EventId};
use crate::hub::{Hub, PushError};
use words::SessionId;

/// Reconnection delay the browser is told to use (`retry:` field).
pub const RETRY_HINT: Duration = Duration::from_millis(1000);

/// Reads a `Last-Event-ID` header. Anything that is not a plain decimal event id (non-ASCII,
/// signs, spaces inside, overflow, empty) counts as absent: the browser then gets the whole
/// history again, which is what it would see on a first connect, rather than an error.
pub fn parse_last_event_id(header: Option<&HeaderValue>) -> Option<EventId> {
    let text = header?.to_str().ok()?.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The SSE response for `GET /sessions/{id}/events`.
///
/// The stream starts with a `retry:` hint, replays what the browser missed after
/// `Last-Event-ID`, then sends live events, and ends after `ended`. A `reload` event (no `id:`,
/// data `{"first_available":N}`) means events the browser needs are gone from the history:
/// the page script must reload the Connect page (which renders the snapshot) and must not just
/// reconnect.
pub fn sse_response(
    hub: &Hub,
    session: &SessionId,
    last_event_id: Option<&HeaderValue>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + Send + 'static>, PushError> {
    let events = hub.subscribe(session, parse_last_event_id(last_event_id))?;
    let hint = futures::stream::once(async { Event::default().retry(RETRY_HINT) });
    let frames = hint.chain(events.map(frame)).map(Ok);
    Ok(Sse::new(frames).keep_alive(KeepAlive::new().interval(hub.config().keepalive)))
}

fn frame(delivered: Delivered) -> Event {
    match delivered {
        Delivered::Event { id, event } => {
            let data = json_or_null(&event);
            Event::default()
                .id(id.to_string())
                .event(event.kind())
                .data(data)
        }
        Delivered::Reload { first_available } => Event::default().event("reload").data(
            json_or_null(&serde_json::json!({ "first_available": first_available })),
        ),
    }
}

fn json_or_null<T: serde::Serialize>(value: &T) -> String {
    // Our event types serialize to JSON without fallible parts (no maps with non-string keys),
    // so the fallback is never hit; it exists so a future type change cannot panic a stream.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[cfg(test)]
mod tests;
