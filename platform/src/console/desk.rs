//! The signed-in console (issue 12 items 2b and 3): the calls waiting for a claim, the claim
//! itself, the live news channel, and the screen-pop of the call the agent has. Everything is
//! scoped to the session's subscriber: offers, claims and calls of another subscriber are
//! never found, whatever reference or id a request names.
//!
//! Routes:
//! - `GET /console` the desk: the agent's call (screen-pop), the offers, claim by reference
//! - `GET /console/events` SSE: `offers` (the subscriber's open offers, JSON) whenever they
//!   change, `call` when the agent's own call changed (the page then reloads its screen-pop);
//!   the first `call` carries `{"seq": N}`, the newest timeline row now, and the page reloads
//!   only if it showed another
//! - `POST /console/claim` (form: `csrf`, `reference`) → 303 `/console`, or the desk with a
//!   notice saying why not (409 taken by another agent, 404 no such call waiting)
//! - `POST /console/push` (form: `csrf`, `page_id`) pushes a page to the agent's call
//! - `POST /console/hangup` (form: `csrf`) ends the agent's call

use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Deserialize;
use subscriber_db::{
    Agent, AgentId, Call, CallEvent, Claim, Db, DbResult, DeskState, Disposition, PageId,
    PushSource, SubscriberId, TimelineEvent,
};
use tokio::sync::broadcast::error::RecvError;

use super::login::session_of;
use super::sessions::{Session, SessionToken};
use super::{ConsoleState, see_other};
use crate::AppState;
use crate::desk::{Desk, DeskNews, OfferView};
use crate::push::{PushPageError, PushTarget, push_page};
use crate::web::brand::Brand;
use crate::web::html::{Nonce, Page};

/// Earlier calls of the visitor the screen-pop lists.
const HISTORY: u32 = 5;

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomeHtml<'a> {
    nonce: Nonce,
    brand: &'a Brand,
    name: &'a str,
    role: &'a str,
    csrf: &'a str,
    notice: Option<&'a str>,
    offers: &'a [OfferView],
    pop: Option<&'a ScreenPop>,
    /// What the agent is now, as the desk's presence line says it.
    presence: &'a str,
    /// The agent set themselves away (the presence button then offers "available").
    away: bool,
    /// Why no call is offered to this agent now; `None` when calls are offered.
    not_offered: Option<&'a str>,
    wrap_up: Option<&'a WrapUpForm>,
}

/// The wrap-up due for the agent's last call (item 5).
struct WrapUpForm {
    call: String,
    subject: String,
    number: String,
    ended: String,
    dispositions: Vec<Disposition>,
}

/// What the claiming agent sees of the call they have (item 3).
struct ScreenPop {
    subject: String,
    label: Option<String>,
    whisper_code: Option<String>,
    /// The page the visitor came from, as the session stored it.
    came_from: Option<String>,
    /// In full: only the agent who has the call sees it.
    number: String,
    /// From the visitor's request to the claim (or to now while unclaimed on record).
    waited: String,
    state: String,
    whisper: Option<String>,
    timeline: Vec<Row>,
    history: Vec<Earlier>,
    /// The subscriber's page table, to push by click.
    pages: Vec<PageButton>,
    /// The newest timeline row shown, so the live channel can tell the page it is behind.
    seq: i64,
    /// Every page pushed in this call (keypad, console, API) and when the visitor's browser
    /// displayed it.
    pushed: Vec<PushedRow>,
}

struct PageButton {
    id: i64,
    title: String,
    keys: String,
}

struct PushedRow {
    event_id: u64,
    title: String,
    how: String,
    at: String,
    shown: Option<String>,
}

struct Row {
    at: String,
    what: String,
}

struct Earlier {
    date: String,
    subject: String,
    outcome: String,
    /// The agent's wrap-up: disposition label (or code) and notes.
    disposition: Option<String>,
    notes: String,
}

#[derive(Debug, Default, Deserialize)]
struct ClaimForm {
    #[serde(default)]
    csrf: String,
    /// The tab the form was sent from (set by desk.js; empty without scripts).
    #[serde(default)]
    tab: String,
    #[serde(default)]
    reference: String,
}

fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S").to_string()
}

/// "42 s", "3 min 05 s".
fn wait_text(secs: i64) -> String {
    let secs = secs.max(0);
    match secs / 60 {
        0 => format!("{secs} s"),
        min => format!("{min} min {:02} s", secs % 60),
    }
}

fn row(event: &CallEvent) -> Row {
    let detail = event.detail();
    let fields = detail
        .as_object()
        .map(|fields| {
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| match v.as_str() {
                    Some(text) => format!("{k} {text}"),
                    None => format!("{k} {v}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let what = event.kind().replace('_', " ");
    Row {
        at: clock(event.at),
        what: if fields.is_empty() {
            what
        } else {
            format!("{what} ({fields})")
        },
    }
}

/// The screen-pop of the call this agent has, if any: blocking reads.
fn screen_pop(
    db: &Db,
    desk: &Desk,
    sid: &SubscriberId,
    agent: AgentId,
) -> DbResult<Option<ScreenPop>> {
    let Some(call) = db.held_call(sid, agent)? else {
        return Ok(None);
    };
    let events = db.list_call_events(sid, &call.id)?;
    let came_from = events.iter().find_map(|e| match &e.event {
        TimelineEvent::SessionCreated { page, .. } => page.clone(),
        _ => None,
    });
    let claimed_at = events
        .iter()
        .find(|e| e.kind() == "claimed")
        .map_or_else(Utc::now, |e| e.at);
    let label = db
        .get_route(sid, &call.subject_code)
        .ok()
        .and_then(|r| r.label.map(|l| l.as_str().to_owned()));
    let history = db
        .earlier_calls(sid, &call.user_number, &call.id, HISTORY)?
        .iter()
        .map(earlier)
        .collect();
    let pages = db.list_pages(sid)?;
    let pushed = pushed_rows(&events, &pages);
    let pages = pages
        .iter()
        .map(|p| PageButton {
            id: p.id.0,
            title: p.title.as_str().to_owned(),
            keys: p.keys.to_string(),
        })
        .collect();
    Ok(Some(ScreenPop {
        subject: call.subject_code.to_string(),
        label,
        whisper_code: call.whisper_code.as_ref().map(ToString::to_string),
        came_from,
        number: call.user_number.to_string(),
        waited: wait_text((claimed_at - call.created_at).num_seconds()),
        state: call.state.to_string().replace('_', " "),
        whisper: desk.whisper(sid, agent, &call.id),
        timeline: events.iter().map(row).collect(),
        history,
        pages,
        pushed,
        seq: events.last().map_or(0, |e| e.seq),
    }))
}

/// The newest timeline row of the call this agent has (0: no call): what a freshly rendered
/// desk showed, compared when its live channel opens, since news sent between the render and
/// the channel's opening never reaches it.
fn call_seq(db: &Db, sid: &SubscriberId, agent: AgentId) -> DbResult<i64> {
    let Some(call) = db.held_call(sid, agent)? else {
        return Ok(0);
    };
    Ok(db
        .list_call_events(sid, &call.id)?
        .last()
        .map_or(0, |e| e.seq))
}

fn pushed_rows(events: &[CallEvent], pages: &[subscriber_db::Page]) -> Vec<PushedRow> {
    let shown_at = |wanted: u64| {
        events.iter().find_map(|e| match e.event {
            TimelineEvent::PageShown { event_id } if event_id == wanted => Some(clock(e.at)),
            _ => None,
        })
    };
    events
        .iter()
        .filter_map(|e| match &e.event {
            TimelineEvent::PagePushed {
                page_id,
                keys,
                source,
                event_id,
            } => Some(PushedRow {
                event_id: *event_id,
                title: pages
                    .iter()
                    .find(|p| p.id.0 == *page_id)
                    .map_or_else(|| format!("page {keys}"), |p| p.title.as_str().to_owned()),
                how: match source {
                    PushSource::Dtmf => format!("keys {keys}"),
                    PushSource::Console => "console".to_owned(),
                    PushSource::Api => "API".to_owned(),
                },
                at: clock(e.at),
                shown: shown_at(*event_id),
            }),
            _ => None,
        })
        .collect()
}

fn earlier(call: &Call) -> Earlier {
    let wrap_up = call.wrap_up.as_ref();
    Earlier {
        date: call.created_at.format("%Y-%m-%d %H:%M").to_string(),
        subject: call.subject_code.to_string(),
        outcome: call.end_cause.map_or_else(
            || "in progress".to_owned(),
            |c| c.to_string().replace('_', " "),
        ),
        disposition: wrap_up.map(|w| {
            w.label
                .as_ref()
                .map_or_else(|| w.disposition.to_string(), ToString::to_string)
        }),
        notes: wrap_up.map(|w| w.notes.to_string()).unwrap_or_default(),
    }
}

/// What the desk shows of the agent's state: the presence line, whether they set themselves
/// away, why no call is offered (if none is), and the wrap-up form when one is due.
struct DeskView {
    presence: &'static str,
    away: bool,
    not_offered: Option<&'static str>,
    wrap_up: Option<WrapUpForm>,
}

fn desk_view(db: &Db, sid: &SubscriberId, agent: AgentId) -> DbResult<DeskView> {
    Ok(match db.desk_state(sid, agent)? {
        DeskState::OnCall(_) => DeskView {
            presence: "On a call",
            away: false,
            not_offered: Some("You have a call: no other call is offered to you until it ends."),
            wrap_up: None,
        },
        DeskState::WrapUp(call) => DeskView {
            presence: "Wrap-up",
            away: false,
            not_offered: Some(
                "Give the outcome of your last call below: calls are offered to you again once you have.",
            ),
            wrap_up: Some(WrapUpForm {
                call: call.id.to_string(),
                subject: call.subject_code.to_string(),
                number: call.user_number.to_string(),
                ended: call.ended_at.map(clock).unwrap_or_default(),
                dispositions: db.dispositions(sid)?,
            }),
        },
        DeskState::Set(subscriber_db::types::Presence::Away) => DeskView {
            presence: "Away",
            away: true,
            not_offered: Some(
                "You are away: no call is offered to you. Set yourself available to take calls.",
            ),
            wrap_up: None,
        },
        DeskState::Set(subscriber_db::types::Presence::Available) => DeskView {
            presence: "Available",
            away: false,
            not_offered: None,
            wrap_up: None,
        },
    })
}

/// Whether this agent takes offers now; an unreadable state counts as no.
async fn takes_offers(state: &AppState, sid: &SubscriberId, agent: AgentId) -> bool {
    let sid = sid.clone();
    matches!(
        state.with_db(move |db| db.desk_state(&sid, agent)).await,
        Ok(Ok(desk)) if desk.takes_offers()
    )
}

/// The answer to a change sent from a read-only tab: another tab of this session has the desk
/// (item 6). `None` when `tab` may act: it owns the desk, no tab does, or the form came from a
/// page without scripts (no tab id), which acts as before.
async fn read_only(
    state: &AppState,
    console: &ConsoleState,
    token: &SessionToken,
    session: &Session,
    agent: &Agent,
    tab: &str,
) -> Option<Response> {
    let tab = super::tabs::tab_id(tab)?;
    if console.tabs.may_act(token, &tab) {
        return None;
    }
    let text = "This tab is read-only: the desk is open in another tab or window. Use \"Use this tab\" to work here.";
    Some(desk_page(state, session, agent, StatusCode::CONFLICT, Some(text)).await)
}

/// The desk page for this session, with a notice when a claim did not go through.
async fn desk_page(
    state: &AppState,
    session: &Session,
    agent: &Agent,
    status: StatusCode,
    notice: Option<&str>,
) -> Response {
    let desk = state.runtime().desk().clone();
    let (sid, id) = (session.subscriber.clone(), agent.id);
    let read = state
        .with_db(move |db| {
            Ok::<_, subscriber_db::DbError>((
                screen_pop(db, &desk, &sid, id)?,
                desk_view(db, &sid, id)?,
            ))
        })
        .await;
    let (pop, view) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "screen-pop not read");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let offers = if view.not_offered.is_none() {
        state.runtime().desk().offers(&session.subscriber)
    } else {
        Vec::new()
    };
    let brand = Brand::neutral();
    Page::render(status, &brand, |nonce| HomeHtml {
        nonce,
        brand: &brand,
        name: agent.display_name.as_str(),
        role: subscriber_db::Word::word(&agent.role),
        csrf: &session.csrf,
        notice,
        offers: &offers,
        pop: pop.as_ref(),
        presence: view.presence,
        away: view.away,
        not_offered: view.not_offered,
        wrap_up: view.wrap_up.as_ref(),
    })
    .into_response()
}

pub(crate) async fn home(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    headers: HeaderMap,
) -> Response {
    match session_of(&state, &console, &headers).await {
        Ok((_, session, agent)) => desk_page(&state, &session, &agent, StatusCode::OK, None).await,
        Err(redirect) => redirect,
    }
}

/// A reference as an agent types it: 3 or 4 digits, spaces allowed ("4 2 7" is what they
/// heard).
fn typed_reference(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (matches!(digits.len(), 3 | 4) && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

pub(crate) async fn claim(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (token, session, agent) = match session_of(&state, &console, &headers).await {
        Ok(found) => found,
        Err(redirect) => return redirect,
    };
    let form: ClaimForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if session.csrf.as_bytes() != form.csrf.as_bytes() {
        let text = "This claim did not come from your console page. Reload the agent desk and claim again.";
        return desk_page(&state, &session, &agent, StatusCode::FORBIDDEN, Some(text)).await;
    }
    if let Some(answer) = read_only(&state, &console, &token, &session, &agent, &form.tab).await {
        return answer;
    }
    let Some(reference) = typed_reference(&form.reference) else {
        let text = "A call reference is the 3 or 4 digits you hear on the line. Type them and claim again.";
        return desk_page(
            &state,
            &session,
            &agent,
            StatusCode::BAD_REQUEST,
            Some(text),
        )
        .await;
    };
    // Offers go to agents who take calls now: not away, not in wrap-up, not on a call.
    if !takes_offers(&state, &session.subscriber, agent.id).await {
        let text = "No call can be claimed now: see your state above.";
        return desk_page(&state, &session, &agent, StatusCode::CONFLICT, Some(text)).await;
    }
    let desk = state.runtime().desk().clone();
    // The scope check: only this subscriber's offers are looked at.
    let Some((call, inbox)) = desk.offered_call(&session.subscriber, &reference) else {
        let text = format!(
            "No call with reference {reference} is waiting. Check the digits you heard; the caller may have hung up."
        );
        return desk_page(&state, &session, &agent, StatusCode::NOT_FOUND, Some(&text)).await;
    };
    let (sid, id) = (session.subscriber.clone(), agent.id);
    let claimed = state
        .with_db(move |db| db.claim_call(&sid, &call, id))
        .await;
    match claimed {
        Ok(Ok(Claim::Won)) => {
            desk.withdraw(&session.subscriber, &reference);
            // The call task signs the agent on; if it is gone, its end clears the record.
            let _ = inbox.send(agent.id);
            tracing::info!(subscriber = %session.subscriber, agent = %agent.id, "call claimed on the console");
            see_other("/console", &[])
        }
        Ok(Ok(Claim::Taken(holder))) if holder == agent.id => see_other("/console", &[]),
        Ok(Ok(Claim::Taken(_))) => {
            let text = format!("Call {reference} was taken by another agent.");
            desk_page(&state, &session, &agent, StatusCode::CONFLICT, Some(&text)).await
        }
        Ok(Ok(Claim::Closed)) => {
            let text = format!("Call {reference} is no longer waiting.");
            desk_page(&state, &session, &agent, StatusCode::GONE, Some(&text)).await
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "claim not stored");
            let text = "The claim could not be stored. Try again in a moment.";
            desk_page(
                &state,
                &session,
                &agent,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(text),
            )
            .await
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ActForm {
    #[serde(default)]
    csrf: String,
    /// The tab the form was sent from (set by desk.js; empty without scripts).
    #[serde(default)]
    tab: String,
    #[serde(default)]
    page_id: String,
}

/// The form, the session, the agent and the call they have now, for an action on that call;
/// or the answer to give instead (sign-in, CSRF refusal, no call).
async fn acting_on_call(
    state: &AppState,
    console: &ConsoleState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(ActForm, Session, Agent, Call), Response> {
    let form: ActForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let (token, session, agent) = session_of(state, console, headers).await?;
    if session.csrf.as_bytes() != form.csrf.as_bytes() {
        let text =
            "This action did not come from your console page. Reload the agent desk and try again.";
        return Err(desk_page(state, &session, &agent, StatusCode::FORBIDDEN, Some(text)).await);
    }
    if let Some(answer) = read_only(state, console, &token, &session, &agent, &form.tab).await {
        return Err(answer);
    }
    let (sid, id) = (session.subscriber.clone(), agent.id);
    let held = state.with_db(move |db| db.held_call(&sid, id)).await;
    match held {
        Ok(Ok(Some(call))) => Ok((form, session, agent, call)),
        Ok(Ok(None)) => {
            let text = "You have no call right now: it has ended.";
            Err(desk_page(state, &session, &agent, StatusCode::CONFLICT, Some(text)).await)
        }
        Ok(Err(_)) | Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE.into_response()),
    }
}

/// `POST /console/push` (form: `csrf`, `page_id`): pushes that page of the subscriber's page
/// table to the visitor of the agent's call, the same way the keypad does.
pub(crate) async fn push(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, session, agent, call) = match acting_on_call(&state, &console, &headers, &body).await
    {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let Ok(page_id) = form.page_id.trim().parse::<i64>() else {
        let text = "Choose one of the pages below to push.";
        return desk_page(
            &state,
            &session,
            &agent,
            StatusCode::BAD_REQUEST,
            Some(text),
        )
        .await;
    };
    let hub = state.hub().clone();
    let sid = session.subscriber.clone();
    let pushed = state
        .with_db(move |db| {
            let target = PushTarget::Page(PageId(page_id));
            push_page(
                db,
                &hub,
                &sid,
                &call.id,
                &target,
                PushSource::Console,
                Utc::now(),
            )
            .map(|_| call.id)
        })
        .await;
    match pushed {
        Ok(Ok(call)) => {
            state.runtime().desk().changed(&call);
            see_other("/console", &[])
        }
        Ok(Err(PushPageError::NoPage(_))) => {
            let text = "That page is no longer in the page table. Choose another.";
            desk_page(&state, &session, &agent, StatusCode::NOT_FOUND, Some(text)).await
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "console push failed");
            let text =
                "The page could not be pushed: the visitor's page is closed or the call ended.";
            desk_page(&state, &session, &agent, StatusCode::CONFLICT, Some(text)).await
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct PresenceForm {
    #[serde(default)]
    csrf: String,
    /// The tab the form was sent from (set by desk.js; empty without scripts).
    #[serde(default)]
    tab: String,
    #[serde(default)]
    presence: String,
}

/// A desk form's CSRF token and tab id.
trait DeskForm: serde::de::DeserializeOwned + Default {
    fn fields(&self) -> (&str, &str);
}

/// Each of these forms has its `csrf` and `tab` fields.
macro_rules! desk_forms {
    ($($form:ty),*) => {
        $(impl DeskForm for $form {
            fn fields(&self) -> (&str, &str) {
                (&self.csrf, &self.tab)
            }
        })*
    };
}

desk_forms!(PresenceForm, WrapUpBody, TakeOverForm);

/// The form, session token, session and agent of a state change on the desk, or the answer
/// to give instead (sign-in, CSRF refusal, a read-only tab unless `any_tab`).
async fn desk_form<F: DeskForm>(
    state: &AppState,
    console: &ConsoleState,
    headers: &HeaderMap,
    body: &[u8],
    any_tab: bool,
) -> Result<(F, SessionToken, Session, Agent), Response> {
    let form: F = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let (token, session, agent) = session_of(state, console, headers).await?;
    let (csrf, tab) = form.fields();
    if session.csrf.as_bytes() != csrf.as_bytes() {
        let text =
            "This change did not come from your console page. Reload the agent desk and try again.";
        return Err(desk_page(state, &session, &agent, StatusCode::FORBIDDEN, Some(text)).await);
    }
    if !any_tab && let Some(answer) = read_only(state, console, &token, &session, &agent, tab).await
    {
        return Err(answer);
    }
    Ok((form, token, session, agent))
}

#[derive(Debug, Default, Deserialize)]
struct TakeOverForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tab: String,
}

/// `POST /console/takeover` (form: `csrf`, `tab`): "Use this tab" — the desk moves to this
/// tab; the tab that had it turns read-only at once (its live channel says so).
pub(crate) async fn take_over(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, token, session, agent) =
        match desk_form::<TakeOverForm>(&state, &console, &headers, &body, true).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let Some(tab) = super::tabs::tab_id(&form.tab) else {
        let text = "This tab could not be named. Reload the agent desk and try again.";
        return desk_page(
            &state,
            &session,
            &agent,
            StatusCode::BAD_REQUEST,
            Some(text),
        )
        .await;
    };
    console.tabs.take_over(&token, &tab);
    tracing::info!(subscriber = %session.subscriber, agent = %agent.id, "agent desk moved to another tab");
    see_other("/console", &[])
}

/// `POST /console/presence` (form: `csrf`, `presence` = `available` | `away`): whether the
/// agent takes calls. The agent's desk reloads, with the offers or without them.
pub(crate) async fn presence(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, _, session, agent) =
        match desk_form::<PresenceForm>(&state, &console, &headers, &body, false).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let Ok(presence) = form.presence.parse::<subscriber_db::types::Presence>() else {
        let text = "Choose available or away.";
        return desk_page(
            &state,
            &session,
            &agent,
            StatusCode::BAD_REQUEST,
            Some(text),
        )
        .await;
    };
    let (sid, id) = (session.subscriber.clone(), agent.id);
    match state
        .with_db(move |db| db.set_presence(&sid, id, presence))
        .await
    {
        Ok(Ok(())) => {
            tracing::info!(subscriber = %session.subscriber, agent = %agent.id, presence = %subscriber_db::Word::word(&presence), "agent presence set");
            see_other("/console", &[])
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "presence not stored");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct WrapUpBody {
    #[serde(default)]
    csrf: String,
    /// The tab the form was sent from (set by desk.js; empty without scripts).
    #[serde(default)]
    tab: String,
    #[serde(default)]
    call: String,
    #[serde(default)]
    disposition: String,
    #[serde(default)]
    notes: String,
}

/// The wrap-up form's typed values, or the text of its refusal. Browsers send line breaks as
/// CRLF; the notes keep them as LF.
fn wrap_up_values(
    form: &WrapUpBody,
) -> Result<
    (
        subscriber_db::SessionId,
        subscriber_db::types::DispositionCode,
        subscriber_db::types::WrapUpNotes,
    ),
    &'static str,
> {
    let call = form
        .call
        .parse()
        .map_err(|_| "This wrap-up names no call of yours. Reload the agent desk.")?;
    let disposition = form
        .disposition
        .parse()
        .map_err(|_| "Choose the outcome of the call.")?;
    let notes = subscriber_db::types::WrapUpNotes::try_from(form.notes.replace("\r\n", "\n"))
        .map_err(|_| "Notes can be at most 2,000 characters, without control characters.")?;
    Ok((call, disposition, notes))
}

/// The console's forms as their handlers read them, for the `console_forms` fuzz target:
/// `pick` chooses the form (claim, push, presence, wrap-up, take-over), `body` is what the
/// browser posted. Asserts what an accepted form must be; never touches state.
pub(crate) fn fuzz_form(pick: u8, body: &[u8]) {
    match pick % 5 {
        0 => {
            let form: ClaimForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
            if let Some(reference) = typed_reference(&form.reference) {
                assert!(matches!(reference.len(), 3 | 4), "{reference:?}");
                assert!(
                    reference.bytes().all(|b| b.is_ascii_digit()),
                    "{reference:?}"
                );
            }
            check_tab(&form.tab);
        }
        1 => {
            let form: ActForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
            let _ = form.page_id.trim().parse::<i64>();
            check_tab(&form.tab);
        }
        2 => {
            let form: PresenceForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
            if let Ok(p) = form.presence.parse::<subscriber_db::types::Presence>() {
                assert_eq!(subscriber_db::Word::word(&p), form.presence);
            }
            check_tab(&form.tab);
        }
        3 => {
            let form: WrapUpBody = serde_urlencoded::from_bytes(body).unwrap_or_default();
            if let Ok((call, disposition, notes)) = wrap_up_values(&form) {
                assert_eq!(call.as_str(), form.call);
                assert_eq!(disposition.as_str(), form.disposition);
                assert!(!notes.as_str().contains("\r\n"));
                assert!(notes.as_str().chars().count() <= 2000);
                assert!(
                    notes
                        .as_str()
                        .chars()
                        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
                );
            }
            check_tab(&form.tab);
        }
        _ => {
            let form: TakeOverForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
            check_tab(&form.tab);
        }
    }
}

fn check_tab(text: &str) {
    if let Some(tab) = super::tabs::tab_id(text) {
        assert_eq!(tab, text);
        assert!((8..=64).contains(&tab.len()));
        assert!(tab.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }
}

/// `POST /console/wrapup` (form: `csrf`, `call`, `disposition`, `notes`): the outcome of the
/// agent's last call. Stored once; the agent is offered calls again.
pub(crate) async fn wrap_up(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, _, session, agent) =
        match desk_form::<WrapUpBody>(&state, &console, &headers, &body, false).await {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let refuse = |status, text: &'static str| {
        let (state, session, agent) = (&state, &session, &agent);
        async move { desk_page(state, session, agent, status, Some(text)).await }
    };
    let (call, disposition, notes) = match wrap_up_values(&form) {
        Ok(values) => values,
        Err(text) => return refuse(StatusCode::BAD_REQUEST, text).await,
    };
    let (sid, id, now) = (session.subscriber.clone(), agent.id, Utc::now());
    let stored = state
        .with_db(move |db| db.wrap_up(&sid, id, &call, &disposition, &notes, now))
        .await;
    match stored {
        Ok(Ok(subscriber_db::WrapUpOutcome::Stored)) => {
            tracing::info!(subscriber = %session.subscriber, agent = %agent.id, "call wrapped up");
            // The desk reloads: offers again, and a live channel that sends them.
            see_other("/console", &[])
        }
        Ok(Ok(subscriber_db::WrapUpOutcome::UnknownDisposition)) => {
            refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "That outcome is not in the list any more. Choose one of those shown.",
            )
            .await
        }
        Ok(Ok(subscriber_db::WrapUpOutcome::NotPending)) => {
            refuse(
                StatusCode::CONFLICT,
                "That call has no wrap-up waiting from you.",
            )
            .await
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "wrap-up not stored");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// `POST /console/hangup` (form: `csrf`): ends the agent's call, both legs.
pub(crate) async fn hangup(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_, session, agent, call) = match acting_on_call(&state, &console, &headers, &body).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if !state.runtime().cancel(&call.id) {
        let text = "This call is not running here any more; it is ending.";
        return desk_page(&state, &session, &agent, StatusCode::CONFLICT, Some(text)).await;
    }
    tracing::info!(subscriber = %session.subscriber, agent = %agent.id, "agent hung up from the console");
    see_other("/console", &[])
}

/// The subscriber's open offers as an SSE event, or an empty list for an agent who takes no
/// call now (away, in wrap-up, on a call).
async fn offers_event(state: &AppState, desk: &Desk, sid: &SubscriberId, agent: AgentId) -> Event {
    let offers = if takes_offers(state, sid, agent).await {
        desk.offers(sid)
    } else {
        Vec::new()
    };
    let data = serde_json::to_string(&offers).unwrap_or_else(|_| "[]".to_owned());
    Event::default().event("offers").data(data)
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    tab: String,
}

/// `tab` event: whether this tab has the desk (item 6).
fn tab_event(owner: &str, tab: &str) -> Event {
    Event::default()
        .event("tab")
        .data(serde_json::json!({ "owner": owner == tab }).to_string())
}

pub(crate) async fn events(
    State(state): State<AppState>,
    Extension(console): Extension<Arc<ConsoleState>>,
    axum::extract::Query(query): axum::extract::Query<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    let (token, session, agent) = match session_of(&state, &console, &headers).await {
        Ok(found) => found,
        Err(_) => {
            return (
                StatusCode::UNAUTHORIZED,
                "Sign in to the agent desk again.\n",
            )
                .into_response();
        }
    };
    let desk = state.runtime().desk().clone();
    let (sid, me) = (session.subscriber, agent.id);
    // Listening first, then reading: a change after the read still arrives as news.
    let news = desk.listen();
    let first = offers_event(&state, &desk, &sid, me).await;
    let seq = {
        let sid = sid.clone();
        state.with_db(move |db| call_seq(db, &sid, me)).await
    };
    // Unreadable now: say nothing rather than have the page reload in a loop.
    let now = match seq {
        Ok(Ok(seq)) => Some(
            Event::default()
                .event("call")
                .data(serde_json::json!({ "seq": seq }).to_string()),
        ),
        _ => None,
    };
    let rest = futures::stream::unfold(news, move |mut news| {
        let (desk, sid, state) = (desk.clone(), sid.clone(), state.clone());
        async move {
            loop {
                let event = match news.recv().await {
                    Ok(DeskNews::Offers(s)) if s == sid => {
                        offers_event(&state, &desk, &sid, me).await
                    }
                    Ok(DeskNews::Claimed(s, a) | DeskNews::CallChanged(s, a))
                        if s == sid && a == me =>
                    {
                        Event::default().event("call").data("{}")
                    }
                    Ok(_) => continue,
                    // Missed news: the whole list again says everything the page needs.
                    Err(RecvError::Lagged(_)) => offers_event(&state, &desk, &sid, me).await,
                    Err(RecvError::Closed) => return None,
                };
                return Some((event, news));
            }
        }
    });
    // A page that names its tab takes part in the desk's ownership: it hears whether it has
    // the desk now and whenever that changes; its channel closing counts it out.
    let ownership = super::tabs::tab_id(&query.tab).map(|tab| {
        let joined = console.tabs.join(&token, &tab, std::time::Instant::now());
        let now = tab_event(&joined.owner.borrow(), &tab);
        let changes = futures::stream::unfold((joined, tab), |(mut joined, tab)| async move {
            joined.owner.changed().await.ok()?;
            let event = tab_event(&joined.owner.borrow_and_update(), &tab);
            Some((event, (joined, tab)))
        });
        futures::stream::once(async move { now }).chain(changes)
    });
    let news = futures::stream::iter(std::iter::once(first).chain(now)).chain(rest);
    let frames = match ownership {
        Some(ownership) => futures::stream::select(news, ownership).boxed(),
        None => news.boxed(),
    }
    .map(Ok::<_, Infallible>);
    Sse::new(frames)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_as_heard() {
        assert_eq!(typed_reference("427").as_deref(), Some("427"));
        assert_eq!(typed_reference(" 4 2 7 ").as_deref(), Some("427"));
        assert_eq!(typed_reference("1234").as_deref(), Some("1234"));
        for bad in ["", "42", "12345", "42a", "４２７"] {
            assert_eq!(typed_reference(bad), None, "{bad:?}");
        }
        assert_eq!(wait_text(42), "42 s");
        assert_eq!(wait_text(185), "3 min 05 s");
    }
}
