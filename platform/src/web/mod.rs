//! The user's side of the web front: the speak-to-agent link, Welcome, Connect and Disconnect
//! pages, the push channel and the pages served under a session. Pages are askama templates
//! under `platform/templates/web/`. The push API that feeds the channel
//! (`POST /admin/v1/calls/{id}/push`) is part of the admin API (`admin::push`), with its keys,
//! errors and content-type rules.
//!
//! Routes (stable: other parts and tests depend on them):
//! - `GET /speak?sid&sc[&wc][&tel][&exp&sig]` → Welcome (or a page saying why not)
//! - `POST /speak` (form: `number`, `csrf` and the hidden context) → 303 `/sessions/{id}`
//! - `GET /sessions/{id}` Connect, `GET /sessions/{id}/events` SSE,
//!   `POST /sessions/{id}/cancel` (form: `csrf`) ends the call, `POST /sessions/{id}/shown`
//!   (form: `event`) the browser displayed a pushed page (see `receipt`),
//!   `GET /sessions/{id}/pages/{page_id}` stored page, `GET /sessions/{id}/promo` the
//!   subscriber's promotional content, `GET /sessions/{id}/ended` Disconnect,
//!   `GET /sessions/{id}/again` a new Welcome form once the call ended
//! - `GET /callbacks/{page}` the queue page of a callback request booked when every line
//!   was busy, `GET /callbacks/{page}/events` SSE, `POST /callbacks/{page}/cancel` (form:
//!   `csrf`, idempotent), `POST /callbacks/{page}/reschedule` (form: `csrf`, `slot`, one
//!   of the slots the page lists; idempotent)

mod availability;
pub(crate) mod brand;
pub(crate) mod callback;
mod connect;
mod ended;
mod form;
pub(crate) mod html;
mod number;
mod receipt;
pub(crate) mod request;
mod session;
mod speak;
pub(crate) mod tag1;
mod welcome;

use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::AppState;

#[cfg(test)]
pub(crate) use html::hostile;

/// State the web front keeps for itself.
pub(crate) struct WebState {
    form_key: form::FormKey,
    /// Held while rate limits are counted and the call row is written, so two simultaneous
    /// requests cannot both pass a limit that only one of them fits under.
    create_lock: Mutex<()>,
}

pub(crate) fn router() -> Router<AppState> {
    let web = Arc::new(WebState {
        form_key: form::FormKey::random(),
        create_lock: Mutex::new(()),
    });
    Router::new()
        .route("/speak", get(speak::speak).post(request::submit))
        .route("/sessions/{id}", get(connect::connect))
        .route("/sessions/{id}/events", get(connect::events))
        .route("/sessions/{id}/cancel", post(connect::cancel))
        .route("/sessions/{id}/shown", post(receipt::shown))
        .route("/sessions/{id}/ended", get(ended::ended))
        .route("/sessions/{id}/again", get(ended::again))
        .route("/sessions/{id}/promo", get(session::promo))
        .route("/sessions/{id}/pages/{page_id}", get(session::stored_page))
        .route("/callbacks/{page}", get(callback::show))
        .route("/callbacks/{page}/events", get(callback::events))
        .route("/callbacks/{page}/cancel", post(callback::cancel))
        .route("/callbacks/{page}/reschedule", post(callback::reschedule))
        .layer(Extension(web))
}
