//! `GET /speak`: the speak-to-agent link (seed 002 steps 201–203). Parses TAG1, checks the link
//! against the subscriber's sites and the preconditions, and answers with the Welcome page and
//! its form cookie — or a page saying why not. Stores nothing.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use subscriber_db::{DbError, Origin, Policy, Subscriber};

use super::WebState;
use super::availability::{self, Unavailable};
use super::brand::{self, Brand};
use super::form::{self, FormContext};
use super::html::Page;
use super::tag1::{Tag1, Tag1Error, request_origin};
use super::welcome::{Facts, Welcome};
use crate::AppState;
use crate::link::LinkError;

/// Longest Referer we keep as "the page the user came from" (it is spoken in the whisper).
const PAGE_MAX_CHARS: usize = 512;

/// What the database said about a link that passed the check.
enum Outcome {
    Welcome(Box<Facts>),
    Unavailable(Box<Closed>),
}

/// Why a subscriber takes no call now, with what its page needs.
struct Closed {
    why: Unavailable,
    subscriber: Subscriber,
    policy: Policy,
    brand: Brand,
}

pub(crate) async fn speak(
    State(state): State<AppState>,
    Extension(web): Extension<Arc<WebState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let tag1 = match Tag1::parse(query.as_deref().unwrap_or("")) {
        Ok(t) => t,
        Err(e) => return link_error_page(&e).into_response(),
    };
    let header_str = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let origin = request_origin(header_str(header::ORIGIN), header_str(header::REFERER));
    let now = Utc::now();
    let referer = header_str(header::REFERER).map(str::to_owned);
    let facts = match check_link(&state, &tag1, origin, referer, now).await {
        Ok(Outcome::Welcome(facts)) => facts,
        Ok(Outcome::Unavailable(closed)) => {
            let Closed {
                why,
                subscriber,
                policy,
                brand,
            } = *closed;
            tracing::info!(sid = %tag1.sid, ?why, "speak link: subscriber unavailable");
            return availability::page(&why, &subscriber, &policy, &brand, now).into_response();
        }
        Err(e) => {
            tracing::info!(sid = %tag1.sid, sc = %tag1.sc, reason = %e, "speak link refused");
            return link_error_page(&e).into_response();
        }
    };
    let cookie = form::read_cookie(&headers).unwrap_or_else(form::new_cookie_value);
    let ctx = FormContext {
        sid: tag1.sid.as_str().to_owned(),
        sc: tag1.sc.as_str().to_owned(),
        wc: tag1.wc.as_ref().map(|w| w.as_str().to_owned()),
        page: came_from(header_str(header::REFERER)),
        iat: now.timestamp(),
    };
    let number = tag1.tel.as_deref().unwrap_or("");
    welcome(&state, &web, &cookie, &ctx, &facts, number).into_response()
}

/// The page the user came from, from the Referer, when it is one we may keep and speak.
fn came_from(referer: Option<&str>) -> Option<String> {
    referer
        .filter(|r| r.starts_with("http://") || r.starts_with("https://"))
        .filter(|r| r.chars().count() <= PAGE_MAX_CHARS && !r.chars().any(char::is_control))
        .map(str::to_owned)
}

/// The link against the subscriber's sites, then the preconditions. Blocking part on the
/// database thread.
async fn check_link(
    state: &AppState,
    tag1: &Tag1,
    origin: Option<Origin>,
    referer: Option<String>,
    now: DateTime<Utc>,
) -> Result<Outcome, Tag1Error> {
    let checked = tag1.clone();
    let board_state = state.clone();
    let outcome = state
        .with_db(move |db| -> Result<Outcome, Tag1Error> {
            checked.check(db, origin.as_ref(), now.timestamp())?;
            let db_error = |e: DbError| {
                tracing::error!(error = %e, "database error on the speak page");
                Tag1Error::Database
            };
            let subscriber = db.get_subscriber(&checked.sid).map_err(db_error)?;
            let policy = db.get_policy(&checked.sid).map_err(db_error)?;
            checked.check_lifetime(now.timestamp(), policy.max_link_lifetime_secs.get())?;
            let came_from = referer.as_deref();
            let board = board_state.queues();
            let verdict = availability::welcome_facts(
                db,
                board,
                &subscriber,
                &policy,
                &checked.sc,
                came_from,
                now,
            )
            .map_err(db_error)?;
            Ok(match verdict {
                Ok(facts) => Outcome::Welcome(Box::new(facts)),
                Err(why) => {
                    let site = brand::site_for(db, &subscriber.id, came_from).map_err(db_error)?;
                    let brand = Brand::of(&subscriber, site);
                    Outcome::Unavailable(Box::new(Closed {
                        why,
                        subscriber,
                        policy,
                        brand,
                    }))
                }
            })
        })
        .await;
    outcome.unwrap_or(Err(Tag1Error::Database))
}

/// The Welcome page with a fresh form for `ctx` (the number field holding `number`), and the
/// cookie its token is bound to.
pub(super) fn welcome(
    state: &AppState,
    web: &WebState,
    cookie: &str,
    ctx: &FormContext,
    facts: &Facts,
    number: &str,
) -> Page {
    let csrf = web.form_key.token(cookie, ctx);
    let mut page = Welcome {
        facts,
        ctx,
        csrf: &csrf,
        number,
        error: None,
    }
    .page(StatusCode::OK);
    page.cookies.push(form::set_cookie(
        cookie,
        form::cookie_max_age(state.config().web.form_ttl_secs),
        state.public_base_url().starts_with("https://"),
    ));
    page
}

/// The page for a link that cannot be used, with the status that says why.
pub(crate) fn link_error_page(e: &Tag1Error) -> Page {
    let (status, heading) = match e {
        Tag1Error::Missing(_) | Tag1Error::Invalid { .. } => {
            (StatusCode::BAD_REQUEST, "This link does not work")
        }
        Tag1Error::Unknown => (
            StatusCode::NOT_FOUND,
            "We cannot find this call-back service",
        ),
        Tag1Error::Link(LinkError::Expired) => (StatusCode::GONE, "This link has expired"),
        Tag1Error::Link(LinkError::BadSignature) => {
            (StatusCode::FORBIDDEN, "This link is not valid")
        }
        Tag1Error::UnsignedNotAllowed => (StatusCode::FORBIDDEN, "This link is not valid here"),
        Tag1Error::LivesTooLong { .. } => (StatusCode::FORBIDDEN, "This link is not valid"),
        Tag1Error::Database => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is not available right now",
        ),
    };
    Page::message(status, heading, &capitalized(&e.to_string()))
}

/// Error sentences start lower-case (they compose in logs); a page shows them as sentences.
pub(crate) fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}
