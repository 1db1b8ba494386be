//! Signing in and out of the console, and the signed-in page. Every refusal is a page that
//! says what to do; an unknown company id, an unknown login and a wrong password get the same
//! answer, and the lock applies to unknown logins too, so nothing tells which logins exist.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subscriber_db::{AgentLogin, AgentPassword, DbError, LoginCheck, SubscriberId};

use super::sessions::{Lookup, SessionToken};
use super::{ConsoleState, FORM_COOKIE, SESSION_COOKIE, cookie, read_cookie, see_other};
use crate::AppState;
use crate::web::brand::Brand;
use crate::web::html::{Nonce, Page};

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginHtml<'a> {
    nonce: Nonce,
    /// The console is Callbond's own page, not a subscriber's: the neutral look.
    brand: &'a Brand,
    csrf: &'a str,
    sid: &'a str,
    login: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct LoginForm {
    #[serde(default)]
    sid: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Debug, Default, Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

const REFUSED: &str = "The company id, login or password is not right. Check them and try again.";
const FORM_STALE: &str = "This sign-in form has expired or did not come from this page. Sign in again below (and allow cookies for this site).";

fn secure(state: &AppState) -> bool {
    state.public_base_url().starts_with("https://")
}

fn form_mac(console: &ConsoleState, form_cookie: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&console.form_key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(form_cookie.as_bytes());
    mac
}

fn form_token(console: &ConsoleState, form_cookie: &str) -> String {
    hex::encode(form_mac(console, form_cookie).finalize().into_bytes())
}

fn form_token_ok(console: &ConsoleState, form_cookie: Option<&str>, token: &str) -> bool {
    let (Some(form_cookie), Ok(given)) = (form_cookie, hex::decode(token)) else {
        return false;
    };
    form_mac(console, form_cookie).verify_slice(&given).is_ok()
}

/// The sign-in page with a fresh form cookie, keeping what the agent typed (never the password).
fn login_page(
    state: &AppState,
    console: &ConsoleState,
    status: StatusCode,
    typed: (&str, &str),
    notice: Option<&str>,
    error: Option<&str>,
) -> Response {
    let form_cookie = hex::encode(rand::random::<[u8; 16]>());
    let csrf = form_token(console, &form_cookie);
    let brand = Brand::neutral();
    let mut page = Page::render(status, &brand, |nonce| LoginHtml {
        nonce,
        brand: &brand,
        csrf: &csrf,
        sid: typed.0,
        login: typed.1,
        notice,
        error,
    });
    page.cookies
        .push(cookie(FORM_COOKIE, &form_cookie, 3600, secure(state)));
    page.into_response()
}

fn notice_text(console: &ConsoleState, word: Option<&str>) -> Option<String> {
    match word? {
        "idle" => Some(format!(
            "You were signed out after {} without activity. Sign in again to continue.",
            minutes(console.idle)
        )),
        "signed_out" => Some("You are signed out.".to_owned()),
        "ended" => {
            Some("Your session ended because your account was changed. Sign in again.".to_owned())
        }
        _ => None,
    }
}

pub(crate) async fn form(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let notice = notice_text(&console, query.notice.as_deref());
    login_page(
        &state,
        &console,
        StatusCode::OK,
        ("", ""),
        notice.as_deref(),
        None,
    )
}

/// "1 minute", "15 minutes": a duration rounded up to whole minutes, at least one.
fn minutes(duration: std::time::Duration) -> String {
    match duration.as_secs().div_ceil(60).max(1) {
        1 => "1 minute".to_owned(),
        n => format!("{n} minutes"),
    }
}

fn locked_message(wait: std::time::Duration) -> String {
    format!(
        "Too many failed sign-ins. Wait {}, then try again, or ask your supervisor to reset your password.",
        minutes(wait)
    )
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let typed = (form.sid.as_str(), form.login.as_str());
    let form_cookie = read_cookie(&headers, FORM_COOKIE);
    if !form_token_ok(&console, form_cookie.as_deref(), &form.csrf) {
        return login_page(
            &state,
            &console,
            StatusCode::FORBIDDEN,
            typed,
            None,
            Some(FORM_STALE),
        );
    }
    let refused = |status| login_page(&state, &console, status, typed, None, Some(REFUSED));
    // A company id or login that cannot exist is refused like a wrong password.
    let (Ok(sid), Ok(login), Ok(password)) = (
        form.sid.trim().parse::<SubscriberId>(),
        form.login.trim().to_lowercase().parse::<AgentLogin>(),
        AgentPassword::try_from(form.password),
    ) else {
        return refused(StatusCode::UNAUTHORIZED);
    };
    let ip = peer.ip();
    if let Some(wait) = console.throttle().locked(&sid, &login, ip, Instant::now()) {
        return locked(&state, &console, typed, wait);
    }
    let check = {
        let (sid, login) = (sid.clone(), login.clone());
        state
            .with_db(move |db| db.check_agent_login(&sid, &login, &password))
            .await
    };
    match check {
        Ok(Ok(LoginCheck::Accepted(agent))) => {
            console.throttle().succeeded(&sid, &login);
            let token =
                console
                    .sessions()
                    .open(sid, agent.id, agent.credential_version, Instant::now());
            tracing::info!(subscriber = %agent.subscriber_id, agent = %agent.id, "agent signed in");
            let cookies = [
                cookie(
                    SESSION_COOKIE,
                    token.as_str(),
                    console.idle.as_secs() + 86_400,
                    secure(&state),
                ),
                cookie(FORM_COOKIE, "", 0, secure(&state)),
            ];
            see_other("/console", &cookies)
        }
        Ok(Ok(LoginCheck::Disabled)) => login_page(
            &state,
            &console,
            StatusCode::FORBIDDEN,
            typed,
            None,
            Some("This agent account is disabled. Ask your supervisor to enable it."),
        ),
        Ok(Ok(LoginCheck::Refused)) => {
            let lock = console.throttle().failed(&sid, &login, ip, Instant::now());
            tracing::info!(subscriber = %sid, locked = lock.is_some(), "agent sign-in refused");
            match lock {
                Some(wait) => locked(&state, &console, typed, wait),
                None => refused(StatusCode::UNAUTHORIZED),
            }
        }
        Ok(Err(e)) => unavailable(&state, &console, typed, Some(e)),
        Err(_) => unavailable(&state, &console, typed, None),
    }
}

fn locked(
    state: &AppState,
    console: &ConsoleState,
    typed: (&str, &str),
    wait: std::time::Duration,
) -> Response {
    let text = locked_message(wait);
    let mut response = login_page(
        state,
        console,
        StatusCode::TOO_MANY_REQUESTS,
        typed,
        None,
        Some(&text),
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, v);
    }
    response
}

fn unavailable(
    state: &AppState,
    console: &ConsoleState,
    typed: (&str, &str),
    error: Option<DbError>,
) -> Response {
    tracing::error!(error = ?error, "agent sign-in could not be checked");
    login_page(
        state,
        console,
        StatusCode::SERVICE_UNAVAILABLE,
        typed,
        None,
        Some("Signing in is not possible right now. Try again in a minute."),
    )
}

/// The request's session, or where to send the browser instead.
pub(super) async fn session_of(
    state: &AppState,
    console: &ConsoleState,
    headers: &HeaderMap,
) -> Result<(SessionToken, super::sessions::Session, subscriber_db::Agent), Response> {
    let Some(value) = read_cookie(headers, SESSION_COOKIE) else {
        return Err(see_other("/console/login", &[]));
    };
    let token = SessionToken::from_cookie(&value);
    let lookup = console.sessions().touch(&token, Instant::now());
    let session = match lookup {
        Lookup::Active(session) => session,
        Lookup::TimedOut => return Err(see_other("/console/login?notice=idle", &[])),
        Lookup::Unknown => return Err(see_other("/console/login", &[])),
    };
    let (sid, id) = (session.subscriber.clone(), session.agent);
    let agent = state.with_db(move |db| db.get_agent(&sid, id)).await;
    match agent {
        Ok(Ok(agent)) if agent.active && agent.credential_version == session.credential_version => {
            Ok((token, session, agent))
        }
        Ok(Ok(_)) | Ok(Err(DbError::NotFound { .. })) => {
            console.sessions().close(&token);
            Err(see_other("/console/login?notice=ended", &[]))
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "console session check failed");
            Err(Page::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "The agent desk is not available",
                "The agent desk cannot be shown right now. Reload this page in a minute.",
            )
            .into_response())
        }
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE.into_response()),
    }
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LogoutForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some(value) = read_cookie(&headers, SESSION_COOKIE) else {
        return see_other("/console/login?notice=signed_out", &[]);
    };
    let token = SessionToken::from_cookie(&value);
    let lookup = console.sessions().touch(&token, Instant::now());
    match lookup {
        Lookup::Active(session) if session.csrf.as_bytes() == form.csrf.as_bytes() => {
            console.sessions().close(&token);
            tracing::info!(subscriber = %session.subscriber, agent = %session.agent, "agent signed out");
            let clear = [cookie(SESSION_COOKIE, "", 0, secure(&state))];
            see_other("/console/login?notice=signed_out", &clear)
        }
        Lookup::Active(_) => Page::message(
            StatusCode::FORBIDDEN,
            "Sign-out refused",
            "This sign-out did not come from your console page. Open the agent desk and use its Sign out button.",
        )
        .into_response(),
        Lookup::TimedOut => see_other("/console/login?notice=idle", &[]),
        Lookup::Unknown => see_other("/console/login?notice=signed_out", &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn waits_are_whole_minutes_rounded_up() {
        assert_eq!(minutes(Duration::from_secs(3)), "1 minute");
        assert_eq!(minutes(Duration::from_secs(61)), "2 minutes");
        assert_eq!(minutes(Duration::from_secs(900)), "15 minutes");
        assert!(
            locked_message(Duration::from_secs(900)).contains("Wait 15 minutes, then try again")
        );
    }
}
