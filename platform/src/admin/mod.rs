//! The admin API under `/admin/v1`: JSON over HTTP with bearer API keys. Operator keys manage
//! subscribers; a subscriber key sees and changes only its own subscriber's objects.

pub(crate) mod auth;
pub(crate) mod error;

use axum::Router;

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
}
