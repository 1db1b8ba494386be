//! The router: which path goes to which part, and the layers every request passes through
//! (body size limit, timeout, tracing). Handlers live in their own modules.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;

/// Bulk route imports are the largest bodies we accept.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The whole HTTP surface of the platform.
pub fn app(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config().http.request_timeout_secs);
    Router::new()
        .route("/healthz", get(healthz))
        .merge(crate::web::router())
        .merge(crate::admin::router())
        .merge(crate::console::router(&state.config().console))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The value of the request's cookie `name` (RFC 6265 §5.4: `name=value` pairs split by
/// `;`, in any `Cookie` header), as sent; callers check its shape.
pub(crate) fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

async fn healthz() -> &'static str {
    "ok\n"
}
