//! `POST /speak`: the user asks to be called (seed 002 steps 204–205). Checks the form's CSRF
//! token, the preconditions again, the number (region, line type) and the rate limits; then
//! creates the call record, opens the push channel, hands the call to the runtime and sends
//! the browser to the Connect page. Every refusal re-renders the Welcome form with the reason
//! and stores nothing.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use subscriber_db::{
    CallEnd, CallbackKind, Db, DbError, Dnis, E164, NewCall, NewCallback, SessionId, SessionRef,
    SubjectCode, SubscriberId, WhisperCode,
};

use super::WebState;
use super::availability::{self, Unavailable};
use super::form::{self, FormContext};
use super::html::{Message, Page};
use super::number;
use super::welcome::{Facts, Welcome};
use crate::AppState;
use crate::config::{DialingConfig, TrunkConfig, WebConfig};
use crate::destinations::BlockList;
use crate::runtime::CallRequest;
use sha2::{Digest, Sha256};
use words::{EndCause, TimelineEvent, mask};

#[cfg(test)]
mod proptests;

/// The form as submitted; all optional so a missing field gets our page, not a framework's.
#[derive(Debug, Default, Deserialize)]
struct Submitted {
    sid: Option<String>,
    sc: Option<String>,
    wc: Option<String>,
    page: Option<String>,
    iat: Option<String>,
    csrf: Option<String>,
    number: Option<String>,
    /// With the queue offered: `now` (the next free line) or a listed slot's RFC 3339 start.
    when: Option<String>,
}

/// A request whose form passed the CSRF check: what the user asked for, typed. It travels to
/// the database thread and back, so nothing needs copying for the pages after it.
struct Ask {
    /// The signed context, to show the form again.
    ctx: FormContext,
    csrf: String,
    sid: SubscriberId,
    sc: SubjectCode,
    wc: Option<WhisperCode>,
    /// The number as the user typed it.
    typed: String,
    /// A slot start the visitor chose instead of the next free line (queue offered only).
    when: Option<String>,
    client_ip: IpAddr,
    /// SHA-256 of the form's token, stored with the call so one form makes one call.
    form_digest: String,
}

/// Why the number was refused; the form is shown again with the sentence.
enum Refusal {
    Number {
        status: StatusCode,
        text: String,
    },
    Unavailable(Unavailable),
    /// This form already asked for a call: a replay or a second click.
    FormUsed,
    /// Every DNIS of the route's range is held by a call in progress.
    LinesBusy,
}

/// What the accepted request created.
pub(crate) struct Created {
    pub(crate) session: SessionId,
    pub(crate) number: E164,
    pub(crate) session_ref: SessionRef,
    pub(crate) drawn_dnis: Option<Dnis>,
}

/// What an accepted request is: a call placed now, or a callback request in the route's
/// queue (its page session).
enum Accepted {
    Call(Created),
    Queued(SessionId),
}

/// What a call record is made of: a direct request's form, or a callback attempt's booking.
pub(crate) struct CallInputs<'a> {
    pub(crate) sid: &'a SubscriberId,
    pub(crate) subject: &'a SubjectCode,
    pub(crate) whisper_code: Option<WhisperCode>,
    pub(crate) number: E164,
    pub(crate) client_ip: IpAddr,
    /// The form token's digest (one form, one call); `None` for a callback attempt.
    pub(crate) form_token: Option<String>,
    pub(crate) page: Option<String>,
    /// A callback attempt's consent key; `None` for a direct call.
    pub(crate) consent_key: Option<words::DtmfKey>,
}

impl CallInputs<'_> {
    /// The runtime's request for the record `created` made from these inputs.
    pub(crate) fn request(&self, created: &Created) -> CallRequest {
        CallRequest {
            subscriber: self.sid.clone(),
            session: created.session.clone(),
            session_ref: created.session_ref.clone(),
            drawn_dnis: created.drawn_dnis.clone(),
            subject: self.subject.clone(),
            whisper_code: self.whisper_code.clone(),
            user_number: created.number.clone(),
            page: self.page.clone(),
            consent_key: self.consent_key,
        }
    }
}

/// Every DNIS of the route's range is held by a call in progress: no record was made.
pub(crate) struct RangeExhausted;

/// Makes the call record (drawing the route's DNIS and a session reference) and its first
/// timeline rows. Blocking: database.
pub(crate) fn create_record(
    db: &Db,
    inputs: &CallInputs<'_>,
    now: DateTime<Utc>,
) -> Result<Result<Created, RangeExhausted>, DbError> {
    let route = db.get_route(inputs.sid, inputs.subject)?;
    let session = SessionId::new_random();
    let mut new_call = NewCall {
        id: session.clone(),
        subject_code: inputs.subject.clone(),
        whisper_code: inputs.whisper_code.clone(),
        user_number: inputs.number.clone(),
        client_ip: inputs.client_ip,
        form_token: inputs.form_token.clone(),
        session_ref: SessionRef::new_random(),
        dnis_range: route.context.dnis_range.clone(),
    };
    let mut draws = 1;
    let call = loop {
        match db.create_call(inputs.sid, &new_call, now) {
            Err(DbError::Conflict { what }) if what.contains("session reference") => {
                if draws == SESSION_REF_DRAWS {
                    return Err(DbError::Conflict { what });
                }
                draws += 1;
                new_call.session_ref = SessionRef::new_random();
            }
            Err(DbError::DnisRangeExhausted { range }) => {
                tracing::warn!(
                    subscriber = %inputs.sid,
                    subject = %inputs.subject,
                    %range,
                    "every DNIS of the route's range is in use; no call record made"
                );
                return Ok(Err(RangeExhausted));
            }
            other => break other?,
        }
    };
    let created = TimelineEvent::SessionCreated {
        subject_code: inputs.subject.clone(),
        page: inputs.page.clone(),
        number_type: inputs.number.number_type(),
    };
    db.append_call_event(inputs.sid, &session, now, &created)?;
    if let Some(dnis) = &call.drawn_dnis {
        let drawn = TimelineEvent::DnisDrawn {
            dnis: dnis.to_string(),
        };
        db.append_call_event(inputs.sid, &session, now, &drawn)?;
    }
    Ok(Ok(Created {
        session,
        number: inputs.number.clone(),
        session_ref: new_call.session_ref,
        drawn_dnis: call.drawn_dnis,
    }))
}

/// Draws of a session reference before giving up: each meets a stored one with a chance
/// below one in a million until there are thousands of millions of calls.
const SESSION_REF_DRAWS: usize = 5;

struct Context {
    subscriber: subscriber_db::Subscriber,
    policy: subscriber_db::Policy,
    /// What the Welcome page shows again after a refusal.
    facts: Facts,
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    Extension(web): Extension<Arc<WebState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = Utc::now();
    let ask = match read_ask(&state, &web, &headers, &body, peer.ip(), now) {
        Ok(ask) => ask,
        Err(page) => return page.into_response(),
    };
    let (db_state, db_web) = (state.clone(), Arc::clone(&web));
    let outcome = state
        .with_db(move |db| {
            let config = db_state.config();
            let rules = (&config.web, &config.dialing, config.trunks.as_slice());
            let decided = decide_and_create(db, &db_web, db_state.queues(), rules, &ask, now);
            (ask, decided)
        })
        .await;
    let (ask, (context, result)) = match outcome {
        Ok((ask, Ok(decided))) => (ask, decided),
        Ok((_, Err(e))) => return db_failure(&e),
        Err(_) => return unavailable(),
    };
    match result {
        Ok(Accepted::Call(created)) => start_call(&state, ask, created).await,
        Ok(Accepted::Queued(page)) => {
            // The channel is the queue page's; the scheduler's next tick fills it.
            state.hub().open(&page);
            Redirect::to(&format!("/callbacks/{page}")).into_response()
        }
        Err(refusal) => refused(&ask, &context, refusal, now).into_response(),
    }
}

/// The form, its CSRF token and the typed context. A form that does not pass is answered
/// with the page that says why.
fn read_ask(
    state: &AppState,
    web: &WebState,
    headers: &HeaderMap,
    body: &[u8],
    client_ip: IpAddr,
    now: DateTime<Utc>,
) -> Result<Ask, Box<Page>> {
    let form: Submitted = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let (ctx, token) = match form_context(&form) {
        Some(ctx) => (ctx, form.csrf.as_deref()),
        None => (empty_context(), None),
    };
    if let Err(e) = web.form_key.verify(
        form::read_cookie(headers).as_deref(),
        &ctx,
        token.filter(|t| !t.is_empty()),
        now.timestamp(),
        i64::from(state.config().web.form_ttl_secs),
    ) {
        tracing::info!(reason = %e, "call request refused: form check");
        return Err(Box::new(Page::message(
            StatusCode::FORBIDDEN,
            "Please open the link again",
            &super::speak::capitalized(&e.to_string()),
        )));
    }
    // The context was signed by us, so these parse; refuse quietly if they somehow do not.
    let (Ok(sid), Ok(sc)) = (
        ctx.sid.parse::<SubscriberId>(),
        ctx.sc.parse::<SubjectCode>(),
    ) else {
        return Err(Box::new(bad_form()));
    };
    let Ok(wc) = ctx.wc.as_deref().map(str::parse::<WhisperCode>).transpose() else {
        return Err(Box::new(bad_form()));
    };
    let csrf = form.csrf.unwrap_or_default();
    let form_digest = hex::encode(Sha256::digest(csrf.as_bytes()));
    Ok(Ask {
        ctx,
        csrf,
        form_digest,
        sid,
        sc,
        wc,
        typed: form.number.unwrap_or_default(),
        when: form.when.filter(|w| !w.is_empty() && w != "now"),
        client_ip,
    })
}

/// The Welcome form again with the reason, or the page for a subscriber that cannot take
/// calls now.
fn refused(ask: &Ask, context: &Context, refusal: Refusal, now: DateTime<Utc>) -> Page {
    match refusal {
        Refusal::Unavailable(why) => {
            let brand = &context.facts.brand;
            availability::page(&why, &context.subscriber, &context.policy, brand, now)
        }
        Refusal::FormUsed => {
            tracing::info!(sid = %ask.sid, "call request refused: the form was used already");
            let brand = &context.facts.brand;
            Message {
                brand,
                heading: "This form has already asked for a call",
                text: &format!(
                    "Each call-back form asks for one call, and this one already did. To ask for \
                     another call, go back to {} page and click the link again.",
                    brand.possessive()
                ),
                opens: None,
            }
            .page(StatusCode::CONFLICT)
        }
        Refusal::LinesBusy => Page::message(
            StatusCode::SERVICE_UNAVAILABLE,
            "All lines are busy",
            "Every line the company has for this subject is taken right now, so nobody was \
             called. Please try again in a few minutes.",
        ),
        Refusal::Number { status, text } => {
            tracing::info!(sid = %ask.sid, number = %mask(&ask.typed), reason = %text, "call request refused");
            Welcome {
                facts: &context.facts,
                ctx: &ask.ctx,
                csrf: &ask.csrf,
                number: &ask.typed,
                error: Some(&text),
            }
            .page(status)
        }
    }
}

/// Opens the push channel, hands the call to the runtime and sends the browser to the Connect
/// page; if the call cannot start, its record is finished as failed.
async fn start_call(state: &AppState, ask: Ask, created: Created) -> Response {
    let inputs = CallInputs {
        sid: &ask.sid,
        subject: &ask.sc,
        whisper_code: ask.wc.clone(),
        number: created.number.clone(),
        client_ip: ask.client_ip,
        form_token: None,
        page: ask.ctx.page.clone(),
        consent_key: None,
    };
    tracing::info!(session = %created.session, sid = %ask.sid, number = %created.number.masked(), "call session created");
    let push_session = created.session.clone();
    state.hub().open(&push_session);
    if let Err(e) = state.runtime().start(inputs.request(&created)) {
        tracing::error!(session = %created.session, error = %e, "call runtime refused the call");
        state.hub().close(&push_session);
        return fail_start(state, ask.sid, created.session, e.to_string()).await;
    }
    Redirect::to(&format!("/sessions/{}", created.session)).into_response()
}

/// Everything that needs the database, under one lock so two simultaneous requests cannot
/// both slip under a rate limit. Blocking.
fn decide_and_create(
    db: &Db,
    web: &WebState,
    board: &crate::queue::Board,
    (limits, dialing, trunks): (&WebConfig, &DialingConfig, &[TrunkConfig]),
    ask: &Ask,
    now: DateTime<Utc>,
) -> Result<(Context, Result<Accepted, Refusal>), DbError> {
    let _guard = web
        .create_lock
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let subscriber = db.get_subscriber(&ask.sid)?;
    let policy = db.get_policy(&ask.sid)?;
    // The route may have been removed since the Welcome page was shown: `Facts` reads it
    // for the page, and the DNIS draw below needs its context.
    db.get_route(&ask.sid, &ask.sc)?;
    let facts = Facts::load(
        db,
        &subscriber,
        &policy,
        &ask.sc,
        ask.ctx.page.as_deref(),
        now,
    )?;
    let context = Context {
        subscriber,
        policy,
        facts,
    };
    // Under the create lock, so two copies of one form sent at once make one call; the unique
    // index on the stored digest backs this up.
    if db.form_used(&ask.form_digest)? {
        return Ok((context, Err(Refusal::FormUsed)));
    }
    let mut context = context;
    let mut queue = false;
    match availability::check(db, &context.subscriber, &context.policy, &ask.sc, now)? {
        Ok(()) => {}
        Err(why) if availability::offers_queue(&why, &context.policy) => {
            queue = true;
            // A refusal below shows the Welcome page again, offer and slots included.
            let who = (&context.subscriber, &context.policy);
            availability::add_queue_offer(db, board, who, &ask.sc, &why, now, &mut context.facts)?;
        }
        Err(why) => return Ok((context, Err(Refusal::Unavailable(why)))),
    }
    let blocked = BlockList::new(&dialing.blocked_prefixes);
    let number = match number::check(&ask.typed, &context.policy, &blocked) {
        Ok(n) => n,
        Err(text) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok((context, Err(Refusal::Number { status, text })));
        }
    };
    // Allowed, but no trunk reaches it: the platform knows before dialing that the call
    // cannot be placed, so the visitor hears it now rather than "we could not reach you".
    if !trunks
        .iter()
        .any(|t| voice::trunk_prefix_carries(&t.prefix, &number))
    {
        tracing::warn!(
            subscriber = %ask.sid,
            number = %number.masked(),
            "web: no trunk carries the callback number; refused at the form"
        );
        let text = "We have no telephone line that reaches this number, so we cannot call it. \
                    Please enter another number."
            .to_owned();
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok((context, Err(Refusal::Number { status, text })));
    }
    if let Some(text) = over_rate_limit(db, limits, &number, ask.client_ip, now)? {
        let status = StatusCode::TOO_MANY_REQUESTS;
        return Ok((context, Err(Refusal::Number { status, text })));
    }
    let inputs = CallInputs {
        sid: &ask.sid,
        subject: &ask.sc,
        whisper_code: ask.wc.clone(),
        number,
        client_ip: ask.client_ip,
        form_token: Some(ask.form_digest.clone()),
        page: ask.ctx.page.clone(),
        consent_key: None,
    };
    if queue {
        return match book(db, board, &context.policy, &inputs, ask, now)? {
            Booked::Page(page) => Ok((context, Ok(Accepted::Queued(page)))),
            Booked::FormUsed => Ok((context, Err(Refusal::FormUsed))),
            Booked::SlotGone => {
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                let text = "That time is no longer available. Choose another time, or the \
                            next free line."
                    .to_owned();
                Ok((context, Err(Refusal::Number { status, text })))
            }
        };
    }
    match create_record(db, &inputs, now)? {
        Ok(created) => Ok((context, Ok(Accepted::Call(created)))),
        Err(RangeExhausted) => Ok((context, Err(Refusal::LinesBusy))),
    }
}

/// What a booking did.
enum Booked {
    Page(SessionId),
    /// This form booked already.
    FormUsed,
    /// The chosen slot is full or no longer offered: nothing stored.
    SlotGone,
}

/// Books a callback request in the route's queue, committed before the visitor sees its
/// page, with the wait estimate the page will show first; at a slot when the visitor chose
/// one of those the page listed.
/// A number that already waits in the route's queue gets its own request's page again,
/// not a second request.
fn book(
    db: &Db,
    board: &crate::queue::Board,
    policy: &subscriber_db::Policy,
    inputs: &CallInputs<'_>,
    ask: &Ask,
    now: DateTime<Utc>,
) -> Result<Booked, DbError> {
    if let Some(open) = db.open_callback_for_number(inputs.sid, inputs.subject, &inputs.number)? {
        tracing::info!(subscriber = %inputs.sid, callback = %open.id, "call request: the number already waits; its page again");
        return Ok(Booked::Page(open.page_session));
    }
    let slot = match &ask.when {
        None => None,
        Some(start) => {
            let slots = super::callback::route_slots(db, inputs.sid, inputs.subject, policy, now)?;
            let wanted = DateTime::parse_from_rfc3339(start)
                .ok()
                .map(|t| t.with_timezone(&Utc));
            match slots.into_iter().find(|s| Some(s.start) == wanted) {
                Some(slot) => Some(slot),
                None => return Ok(Booked::SlotGone),
            }
        }
    };
    let waiting = db.count_callbacks_waiting(inputs.sid, inputs.subject, now)?;
    let predicted =
        crate::queue::quote(db, board, policy, inputs.sid, inputs.subject, waiting, now)?;
    let digest: Option<[u8; 32]> = Sha256::digest(ask.csrf.as_bytes())
        .as_slice()
        .try_into()
        .ok();
    let page = SessionId::new_random();
    let delay = Duration::seconds(i64::from(policy.callback.initial_delay_secs.get()));
    let (kind, due_at, slot_end, predicted) = match slot {
        Some(slot) => (CallbackKind::Scheduled, slot.start, Some(slot.end), None),
        None => (CallbackKind::Queued, now + delay, None, predicted),
    };
    let new = NewCallback {
        subject_code: inputs.subject.clone(),
        user_number: inputs.number.clone(),
        page_session: page.clone(),
        kind,
        priority: 0,
        due_at,
        slot_end,
        predicted_wait_ms: predicted.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        form_digest: digest,
        whisper_code: inputs.whisper_code.clone(),
        came_from: inputs.page.clone(),
        client_ip: Some(inputs.client_ip),
        consent_key: policy.callback.consent.then(consent_key),
    };
    match db.enqueue_callback(inputs.sid, &new, now) {
        Ok(booked) => {
            tracing::info!(
                subscriber = %inputs.sid,
                subject = %inputs.subject,
                callback = %booked.id,
                number = %inputs.number.masked(),
                position = waiting + 1,
                predicted_ms = ?booked.predicted_wait_ms,
                "callback request booked"
            );
            Ok(Booked::Page(page))
        }
        Err(DbError::Conflict { .. }) => Ok(Booked::FormUsed),
        Err(e) => Err(e),
    }
}

/// A fresh consent key, 1 to 9 (no 0, so a key pressed by accident or a tone on the line
/// rarely matches; never * or #).
fn consent_key() -> words::DtmfKey {
    let digit = rand::random_range(1..=9u8);
    words::DtmfKey::from_char(char::from(b'0' + digit)).unwrap_or(words::DtmfKey::HASH)
}

/// The sentence for a request over the per-number or per-IP limit of the last hour, if it is.
fn over_rate_limit(
    db: &Db,
    limits: &WebConfig,
    number: &E164,
    client_ip: IpAddr,
    now: DateTime<Utc>,
) -> Result<Option<String>, DbError> {
    let hour_ago = now - Duration::hours(1);
    if db.count_recent_requests_to_number(number, hour_ago)?
        >= u64::from(limits.max_calls_per_number_per_hour)
    {
        return Ok(Some(format!(
            "This number has already been called {} times in the last hour, which is the most \
             we allow. Please try again later.",
            limits.max_calls_per_number_per_hour
        )));
    }
    if db.count_recent_requests_from_ip(client_ip, hour_ago)?
        >= u64::from(limits.max_calls_per_ip_per_hour)
    {
        return Ok(Some(
            "Too many call-backs were requested from your network in the last hour. \
             Please try again later."
                .to_owned(),
        ));
    }
    Ok(None)
}

fn form_context(form: &Submitted) -> Option<FormContext> {
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    Some(FormContext {
        sid: nonempty(&form.sid)?,
        sc: nonempty(&form.sc)?,
        wc: nonempty(&form.wc),
        page: nonempty(&form.page),
        iat: form.iat.as_deref()?.parse().ok()?,
    })
}

fn empty_context() -> FormContext {
    FormContext {
        sid: String::new(),
        sc: String::new(),
        wc: None,
        page: None,
        iat: 0,
    }
}

fn bad_form() -> Page {
    Page::message(
        StatusCode::BAD_REQUEST,
        "Please open the link again",
        "This form could not be read. Open the call-back link again from the company's page.",
    )
}

/// The call record exists but no call will be placed: finish it as failed, say so.
async fn fail_start(
    state: &AppState,
    sid: SubscriberId,
    session: SessionId,
    cause: String,
) -> Response {
    let _ = state
        .with_db(move |db| {
            let now = Utc::now();
            let end = CallEnd::before_dialing(EndCause::StartFailed);
            if let Err(e) = db.finish_call(&sid, &session, &end, now) {
                tracing::error!(%session, error = %e, "could not mark the call failed");
            }
            let event = TimelineEvent::StartFailed { error: cause };
            let _ = db.append_call_event(&sid, &session, now, &event);
        })
        .await;
    Page::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "We cannot call you right now",
        "The service could not place your call. Nobody was called. \
         Please go back and try again in a minute.",
    )
    .into_response()
}

fn unavailable() -> Response {
    Page::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is not available right now",
        "Nobody was called. Please try again in a moment.",
    )
    .into_response()
}

fn db_failure(e: &DbError) -> Response {
    match e {
        DbError::NotFound { .. } => Page::message(
            StatusCode::NOT_FOUND,
            "This call-back service is gone",
            "The company no longer offers this call-back. Nobody was called.",
        )
        .into_response(),
        other => {
            tracing::error!(error = %other, "database error on a call request");
            unavailable()
        }
    }
}
