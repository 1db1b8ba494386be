//! The user's side of the web front: the speak-to-agent link, Welcome, Connect and Disconnect
//! pages, the push channel and the pages served under a session.

use axum::Router;

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
}
