//! The agent desk's web console (issue 12): signing in and out, the session and its idle
//! timeout, the sign-in throttle (`login`, `sessions`), and the desk itself — offers, claims,
//! the screen-pop and its live channel (`desk`).
//!
//! Routes:
//! - `GET /console/login[?notice=idle|signed_out|ended]` the sign-in form
//! - `POST /console/login` (form: `sid`, `login`, `password`, `csrf`) → 303 `/console`
//! - `GET /console` "Signed in as NAME (role)", the agent's call and the offers (see `desk`),
//!   else 303 to the sign-in form
//! - `GET /console/events`, `POST /console/claim|push|hangup`: see `desk`
//! - `POST /console/logout` (form: `csrf`) → 303 `/console/login?notice=signed_out`
//!
//! Cookies: `cb_console` (the session, HttpOnly, SameSite=Strict, Secure behind https, Path
//! /console) and `cb_console_form` (ties the sign-in form to its browser, same flags). CSRF:
//! the sign-in form carries HMAC(process key, form cookie); every form of a session carries
//! the session's own random token. SameSite=Strict alone would do in today's browsers; the
//! tokens also cover older ones and same-site subdomains.

pub mod config;
mod desk;
pub(crate) use desk::fuzz_form;
mod login;
mod sessions;
mod tabs;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

pub use config::ConsoleConfig;

use crate::AppState;
use sessions::{Sessions, Throttle};

pub(crate) const SESSION_COOKIE: &str = "cb_console";
pub(crate) const FORM_COOKIE: &str = "cb_console_form";

/// What the console keeps in memory.
pub(crate) struct ConsoleState {
    sessions: Mutex<Sessions>,
    throttle: Mutex<Throttle>,
    /// Signs the sign-in form's CSRF token; random per process.
    form_key: [u8; 32],
    idle: Duration,
    /// Which tab of each session has the desk (item 6).
    pub(crate) tabs: Arc<tabs::Tabs>,
}

impl ConsoleState {
    fn new(config: &ConsoleConfig) -> Self {
        let idle = Duration::from_secs(config.idle_timeout_secs);
        Self {
            sessions: Mutex::new(Sessions::new(idle)),
            throttle: Mutex::new(Throttle::new(
                config.max_failures_per_login,
                config.max_failures_per_ip,
                Duration::from_secs(config.lockout_secs),
            )),
            form_key: rand::random(),
            idle,
            tabs: Arc::new(tabs::Tabs::default()),
        }
    }

    // Neither map is left half-changed by a panic (each change is one insert or remove).
    fn sessions(&self) -> MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn throttle(&self) -> MutexGuard<'_, Throttle> {
        self.throttle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn router(config: &ConsoleConfig) -> Router<AppState> {
    let state = Arc::new(ConsoleState::new(config));
    Router::new()
        .route("/console", get(desk::home))
        .route("/console/events", get(desk::events))
        .route("/console/claim", post(desk::claim))
        .route("/console/push", post(desk::push))
        .route("/console/hangup", post(desk::hangup))
        .route("/console/presence", post(desk::presence))
        .route("/console/wrapup", post(desk::wrap_up))
        .route("/console/takeover", post(desk::take_over))
        .route("/console/login", get(login::form).post(login::submit))
        .route("/console/logout", post(login::logout))
        .layer(Extension(state))
}

/// The value of cookie `name`, if the browser sent one.
fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    crate::http::cookie(headers, name)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A `Set-Cookie` value for a console cookie; `max_age_secs` 0 deletes it.
fn cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path=/console; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
    )
}

/// A 303 to `location` with these cookies set.
fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            headers.append(SET_COOKIE, v);
        }
    }
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::COOKIE;

    #[test]
    fn cookies_carry_the_security_flags() {
        let set = cookie(SESSION_COOKIE, "ab12", 1800, true);
        assert_eq!(
            set,
            "cb_console=ab12; Path=/console; Max-Age=1800; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!cookie(SESSION_COOKIE, "ab12", 1800, false).contains("Secure"));
    }

    #[test]
    fn only_hex_cookie_values_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("cb_form=00; cb_console=beef01; other=x"),
        );
        assert_eq!(
            read_cookie(&headers, SESSION_COOKIE).as_deref(),
            Some("beef01")
        );
        headers.insert(COOKIE, HeaderValue::from_static("cb_console=<script>"));
        assert_eq!(read_cookie(&headers, SESSION_COOKIE), None);
        assert_eq!(read_cookie(&HeaderMap::new(), SESSION_COOKIE), None);
    }
}
