//! The Disconnect page (seed 002 step 219) and the way on from it: the pages the agent showed
//! (still readable), back to the subscriber's site, and a new call with the same context
//! (`GET /sessions/{id}/again`, a fresh Welcome form; the session id is the capability the
//! first, checked link gave this browser).

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use pagepush::PushEvent;
use subscriber_db::DbError;

use super::WebState;
use super::availability;
use super::brand::Brand;
use super::form::{self, FormContext};
use super::html::{Nonce, Page};
use super::session::{Pushed, not_found, open, unavailable};
use crate::AppState;

/// `GET /sessions/{id}/ended`: the Disconnect page.
pub(crate) async fn ended(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let (session, known) = match open(&state, &raw).await {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let pushed = state.hub().snapshot(&session).ok().and_then(|s| s.ended);
    let text = match (&pushed, &known.call.ended_at) {
        (Some(PushEvent::Ended { text, .. }), _) => text.clone(),
        (_, Some(_)) => "The call has ended.".to_owned(),
        // Still in progress: this page is not the right one yet.
        _ => return Redirect::to(&format!("/sessions/{session}")).into_response(),
    };
    let again = format!("/sessions/{session}/again");
    // An attempt of a callback request: the way on is the request's page (a retry may come),
    // not a new call.
    let call = session.clone();
    let request = match state.with_db(move |db| db.callback_by_call(&call)).await {
        Ok(Ok(found)) => found.map(|r| format!("/callbacks/{}", r.page_session)),
        _ => None,
    };
    Page::render(StatusCode::OK, &known.brand, |nonce| EndedHtml {
        nonce,
        brand: &known.brand,
        text: &text,
        pushed: &known.pushed,
        again: &again,
        request: request.as_deref(),
    })
    .into_response()
}

/// The Disconnect page (`templates/web/ended.html`).
#[derive(Template)]
#[template(path = "web/ended.html")]
struct EndedHtml<'a> {
    nonce: Nonce,
    brand: &'a Brand,
    text: &'a str,
    pushed: &'a [Pushed],
    /// Where "Call me again" leads.
    again: &'a str,
    /// The callback request this call was an attempt of: its page instead of "Call me again".
    request: Option<&'a str>,
}

/// `GET /sessions/{id}/again`: a new Welcome form for the same subscriber, subject and
/// whisper code, once this call has ended; the preconditions are checked as for a link.
pub(crate) async fn again(
    State(state): State<AppState>,
    Extension(web): Extension<Arc<WebState>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let (session, known) = match open(&state, &raw).await {
        Ok(found) => found,
        Err(r) => return *r,
    };
    if known.call.ended_at.is_none() {
        return Redirect::to(&format!("/sessions/{session}")).into_response();
    }
    let now = Utc::now();
    let call = known.call.clone();
    let came_from = known.came_from.clone();
    let brand = known.brand.clone();
    let board_state = state.clone();
    let decided = state
        .with_db(move |db| {
            let subscriber = db.get_subscriber(&call.subscriber_id)?;
            let policy = db.get_policy(&call.subscriber_id)?;
            let board = board_state.queues();
            let came_from = came_from.as_deref();
            let subject = &call.subject_code;
            Ok(
                match availability::welcome_facts(
                    db,
                    board,
                    &subscriber,
                    &policy,
                    subject,
                    came_from,
                    now,
                )? {
                    Ok(facts) => Ok(facts),
                    Err(why) => Err(availability::page(&why, &subscriber, &policy, &brand, now)),
                },
            )
        })
        .await;
    let facts = match decided {
        Ok(Ok(Ok(facts))) => facts,
        Ok(Ok(Err(page))) => return page.into_response(),
        Ok(Err(DbError::NotFound { .. })) => return not_found(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "database error on the call-again page");
            return unavailable();
        }
        Err(_) => return unavailable(),
    };
    let ctx = FormContext {
        sid: known.call.subscriber_id.as_str().to_owned(),
        sc: known.call.subject_code.as_str().to_owned(),
        wc: known
            .call
            .whisper_code
            .as_ref()
            .map(|w| w.as_str().to_owned()),
        page: known.came_from.clone(),
        iat: now.timestamp(),
    };
    let cookie = form::read_cookie(&headers).unwrap_or_else(form::new_cookie_value);
    // The number is not filled in again: this URL may be seen by others than the visitor.
    super::speak::welcome(&state, &web, &cookie, &ctx, &facts, "").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::hostile;

    #[test]
    fn ended_escapes_text_company_pages_and_links() {
        let brand = Brand {
            name: hostile::VALUE.to_owned(),
            site: Some(format!("https://shop.example/{}", hostile::VALUE)),
            ..Brand::neutral()
        };
        let pushed = [Pushed {
            page_id: 3,
            title: hostile::VALUE.to_owned(),
            url: "/sessions/0123456789abcdef0123456789abcdef/pages/3".to_owned(),
        }];
        let html = Page::render(StatusCode::OK, &brand, |nonce| EndedHtml {
            nonce,
            brand: &brand,
            text: hostile::VALUE,
            pushed: &pushed,
            again: "/sessions/0123456789abcdef0123456789abcdef/again",
            request: None,
        })
        .html()
        .to_owned();
        // Header, thanks, back link (href, possessive), status text, pushed page title.
        hostile::assert_escaped(&html, 6);
        assert!(html.contains(
            "<a class=\"button secondary\" id=\"call-again\" href=\"/sessions/0123456789abcdef0123456789abcdef/again\">Call me again</a>"
        ));
    }
}
