//! Call detail records and their event timeline. The platform creates a record when the user
//! submits a callback number, moves its state as the flow runs, appends typed events for every
//! step, writes one CDR row per dialed leg (`call_legs`), and finishes the record with its end
//! causes. Also the counts behind the capacity precondition and the rate limits. Times come in
//! as parameters: no clock in here.
//!
//! The call-level CDR times (sign-on, whisper end, bridge) are read from the timeline itself,
//! so the record and the timeline agree by construction.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::agents::AgentId;
use crate::claims::CallAgent;
use crate::db::{Db, col, millis, opt_col, opt_time_col, require_subscriber, time_col};
use crate::error::{DbError, DbResult};
use crate::types::{
    CallState, Dnis, DnisRange, E164, EndCause, HungUpFirst, Leg, LegEndCause, SessionId,
    SessionRef, SubjectCode, SubscriberId, TimelineEvent, WhisperCode, Word,
};
use crate::wrapup::WrapUp;

/// Most rows one listing returns.
pub const MAX_CALLS_PER_PAGE: u32 = 1000;

/// A call as the platform creates it; its state starts as [`CallState::Starting`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCall {
    pub id: SessionId,
    pub subject_code: SubjectCode,
    pub whisper_code: Option<WhisperCode>,
    pub user_number: E164,
    pub client_ip: IpAddr,
    /// A digest of the Welcome form's token that asked for this call (the web front's
    /// business which one); a second call with the same value is a `Conflict`.
    pub form_token: Option<String>,
    /// The session reference every context channel carries; one already stored is a
    /// `Conflict` (draw another).
    pub session_ref: SessionRef,
    /// The route's DNIS range: the call draws a code from it no call of the subscriber in
    /// progress holds, or is not created ([`DbError::DnisRangeExhausted`]).
    #[serde(default)]
    pub dnis_range: Option<DnisRange>,
}

/// A call detail record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub id: SessionId,
    pub subscriber_id: SubscriberId,
    pub subject_code: SubjectCode,
    pub whisper_code: Option<WhisperCode>,
    pub user_number: E164,
    pub client_ip: IpAddr,
    /// The session reference on every context channel; `None` for calls stored before it
    /// existed.
    pub session_ref: Option<SessionRef>,
    /// The DNIS this call drew from its route's range; `None` when the route has no range.
    pub drawn_dnis: Option<Dnis>,
    pub state: CallState,
    pub created_at: DateTime<Utc>,
    /// `None` while the call is in progress.
    pub ended_at: Option<DateTime<Utc>>,
    pub end_cause: Option<EndCause>,
    pub user_end_cause: Option<LegEndCause>,
    pub center_end_cause: Option<LegEndCause>,
    /// Who ended the answered call first; `None` when it never got that far.
    pub hung_up_first: Option<HungUpFirst>,
    /// When the agent signed on (step 213), from the timeline.
    pub signed_on_at: Option<DateTime<Utc>>,
    /// When the whisper ended (or timed out) (step 214), from the timeline.
    pub whisper_ended_at: Option<DateTime<Utc>>,
    /// When the legs were bridged (step 215), from the timeline.
    pub bridged_at: Option<DateTime<Utc>>,
    /// The agent who claimed the call (personal PIN or console); `None` while unclaimed.
    #[serde(default)]
    pub agent: Option<CallAgent>,
    /// The agent's disposition and notes, once given after the call (issue 12 item 5).
    #[serde(default)]
    pub wrap_up: Option<WrapUp>,
    /// One CDR per dialed leg, in the order they were dialed; serialized with each leg's
    /// post-dial delay and billable seconds.
    #[serde(serialize_with = "legs_with_derived")]
    pub legs: Vec<LegCdr>,
}

/// A leg's CDR as the API shows it: the stored fields and the two derived from them.
#[derive(Serialize)]
struct LegOut<'a> {
    #[serde(flatten)]
    cdr: &'a LegCdr,
    post_dial_delay_ms: Option<i64>,
    billable_secs: f64,
}

fn legs_with_derived<S: serde::Serializer>(legs: &[LegCdr], out: S) -> Result<S::Ok, S::Error> {
    out.collect_seq(legs.iter().map(|cdr| LegOut {
        cdr,
        post_dial_delay_ms: cdr.post_dial_delay_ms(),
        billable_secs: cdr.billable_secs(),
    }))
}

/// How a call ended. Its state becomes [`CallState::Ended`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEnd {
    pub cause: EndCause,
    pub user_leg_cause: Option<LegEndCause>,
    pub center_leg_cause: Option<LegEndCause>,
    pub hung_up_first: Option<HungUpFirst>,
}

impl CallEnd {
    /// An end before any leg was dialed.
    pub fn before_dialing(cause: EndCause) -> Self {
        Self {
            cause,
            user_leg_cause: None,
            center_leg_cause: None,
            hung_up_first: None,
        }
    }
}

/// The call detail record of one dial of one leg: what was dialed, through which trunk, the
/// SIP Call-ID, and the times and final status seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegCdr {
    pub leg: Leg,
    /// 0 for the leg's first number, 1 for the first fallback, and so on.
    pub attempt: u32,
    pub number: E164,
    /// The trunk's target; `None` when dialed by SIP URI.
    pub trunk: Option<String>,
    pub sip_call_id: String,
    pub invite_at: DateTime<Utc>,
    /// First 180/183 (RFC 6076 §4.1).
    pub first_provisional_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub final_status: Option<u16>,
    pub final_reason: Option<String>,
    pub end_cause: Option<LegEndCause>,
}

impl LegCdr {
    /// Post-dial delay (RFC 6076 §4.1): INVITE to the first provisional response, in ms.
    pub fn post_dial_delay_ms(&self) -> Option<i64> {
        self.first_provisional_at
            .map(|t| (t - self.invite_at).num_milliseconds())
    }

    /// Answered time: from the 200 OK to the end, in seconds with millisecond precision.
    pub fn billable_secs(&self) -> f64 {
        match (self.answered_at, self.ended_at) {
            (Some(answered), Some(ended)) if ended > answered => {
                (ended - answered).num_milliseconds() as f64 / 1000.0
            }
            _ => 0.0,
        }
    }
}

/// A call that ended: its route and how long it held its line (creation to end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedCall {
    pub subscriber_id: SubscriberId,
    pub subject_code: SubjectCode,
    pub created_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

/// Which calls `list_calls` returns, newest first. Empty filter fields match everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallFilter {
    pub state: Option<CallState>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    pub subject_code: Option<SubjectCode>,
    /// At most [`MAX_CALLS_PER_PAGE`]; larger values are clamped.
    pub limit: u32,
    pub offset: u32,
}

impl Default for CallFilter {
    fn default() -> Self {
        Self {
            state: None,
            since: None,
            until: None,
            subject_code: None,
            limit: 100,
            offset: 0,
        }
    }
}

/// One step of a call's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    /// Increases with every event in the database, so it orders events within a call.
    pub seq: i64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: TimelineEvent,
}

impl CallEvent {
    /// The event's stored word, e.g. `bridged`.
    pub fn kind(&self) -> &'static str {
        self.event.kind()
    }

    /// The event's structured detail as stored.
    pub fn detail(&self) -> serde_json::Value {
        self.event.detail()
    }
}

pub(crate) const COLUMNS: &str =
    "id, subscriber_id, subject_code, whisper_code, user_number, client_ip, state,
     created_at, ended_at, end_cause, user_end_cause, center_end_cause, hung_up_first,
     session_ref, drawn_dnis, agent_id, disposition, notes, wrapped_up_at";

pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Call> {
    let ip: String = row.get(5)?;
    let client_ip = ip
        .parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(5, Type::Text, Box::new(e)))?;
    Ok(Call {
        id: col(row, 0)?,
        subscriber_id: col(row, 1)?,
        subject_code: col(row, 2)?,
        whisper_code: opt_col(row, 3)?,
        user_number: col(row, 4)?,
        client_ip,
        session_ref: opt_col(row, 13)?,
        drawn_dnis: opt_col(row, 14)?,
        state: col(row, 6)?,
        created_at: time_col(row, 7)?,
        ended_at: opt_time_col(row, 8)?,
        end_cause: opt_col(row, 9)?,
        user_end_cause: opt_col(row, 10)?,
        center_end_cause: opt_col(row, 11)?,
        hung_up_first: opt_col(row, 12)?,
        signed_on_at: None,
        whisper_ended_at: None,
        bridged_at: None,
        agent: row
            .get::<_, Option<i64>>(15)?
            .map(|id| CallAgent::unnamed(AgentId(id))),
        wrap_up: crate::wrapup::wrap_up_from_row(row, 16)?,
        legs: Vec::new(),
    })
}

const LEG_COLUMNS: &str = "leg, attempt, number, trunk, sip_call_id, invite_at,
     first_provisional_at, answered_at, ended_at, final_status, final_reason, end_cause";

fn leg_from_row(row: &Row<'_>) -> rusqlite::Result<LegCdr> {
    Ok(LegCdr {
        leg: col(row, 0)?,
        attempt: row.get(1)?,
        number: col(row, 2)?,
        trunk: row.get(3)?,
        sip_call_id: row.get(4)?,
        invite_at: time_col(row, 5)?,
        first_provisional_at: opt_time_col(row, 6)?,
        answered_at: opt_time_col(row, 7)?,
        ended_at: opt_time_col(row, 8)?,
        final_status: row.get(9)?,
        final_reason: row.get(10)?,
        end_cause: opt_col(row, 11)?,
    })
}

/// Fills the parts of a record that live in other tables: leg CDRs and timeline times.
pub(crate) fn complete(conn: &Connection, mut call: Call) -> DbResult<Call> {
    let mut legs = conn.prepare_cached(&format!(
        "SELECT {LEG_COLUMNS} FROM call_legs WHERE call_id = ?1 ORDER BY invite_at, leg, attempt"
    ))?;
    call.legs = legs
        .query_map([call.id.as_str()], leg_from_row)?
        .collect::<Result<_, _>>()?;
    let first = |kinds: &[&str]| -> DbResult<Option<DateTime<Utc>>> {
        let mut statement = conn.prepare_cached(
            "SELECT min(at) FROM call_events WHERE call_id = ?1 AND kind IN (?2, ?3)",
        )?;
        let (a, b) = (kinds[0], kinds.get(1).copied().unwrap_or(kinds[0]));
        Ok(statement.query_row(params![call.id.as_str(), a, b], |r| opt_time_col(r, 0))?)
    };
    call.signed_on_at = first(&["sign_on_ok"])?;
    call.whisper_ended_at = first(&["whisper_end", "whisper_timeout"])?;
    call.bridged_at = first(&["bridged"])?;
    if let Some(agent) = &mut call.agent {
        agent.display_name = crate::claims::display_name(conn, agent.id)?;
    }
    if let Some(wrap_up) = &mut call.wrap_up {
        wrap_up.label = crate::wrapup::label_now(conn, &call.subscriber_id, &wrap_up.disposition)?;
    }
    Ok(call)
}

/// Finishes the call's row unless it already ended; the number of rows changed (0 or 1).
pub(crate) fn finish_row(
    conn: &Connection,
    sid: &SubscriberId,
    id: &SessionId,
    end: &CallEnd,
    now: DateTime<Utc>,
) -> rusqlite::Result<usize> {
    let word = |w: Option<&dyn Word>| w.map(Word::word);
    conn.execute(
        "UPDATE calls SET state = ?3, ended_at = ?4, end_cause = ?5, user_end_cause = ?6,
             center_end_cause = ?7, hung_up_first = ?8
         WHERE id = ?1 AND subscriber_id = ?2 AND ended_at IS NULL",
        params![
            id.as_str(),
            sid.as_str(),
            CallState::Ended.word(),
            millis(now),
            end.cause.word(),
            word(end.user_leg_cause.as_ref().map(|c| c as &dyn Word)),
            word(end.center_leg_cause.as_ref().map(|c| c as &dyn Word)),
            word(end.hung_up_first.as_ref().map(|c| c as &dyn Word)),
        ],
    )
}

/// Appends a timeline row to the subscriber's call; its `seq`, or `None` for no such call.
pub(crate) fn append_event(
    conn: &Connection,
    sid: &SubscriberId,
    id: &SessionId,
    at: DateTime<Utc>,
    event: &TimelineEvent,
) -> rusqlite::Result<Option<i64>> {
    let detail = event.detail().to_string();
    conn.query_row(
        "INSERT INTO call_events (call_id, at, kind, detail)
         SELECT id, ?3, ?4, ?5 FROM calls WHERE id = ?1 AND subscriber_id = ?2 RETURNING seq",
        params![id.as_str(), sid.as_str(), millis(at), event.kind(), detail],
        |r| r.get(0),
    )
    .optional()
}

/// The code a new call of `sid` draws from `range`: the first after the subscriber's most
/// recently drawn one (wrapping) that no call in progress holds. Going round rather than
/// taking the lowest free code leaves a code just released unused for as long as possible,
/// so an ACD that looks a session up a little late does not find the next caller's.
fn draw_dnis(conn: &Connection, sid: &SubscriberId, range: &DnisRange) -> DbResult<Dnis> {
    let mut held = conn.prepare_cached(
        "SELECT drawn_dnis FROM calls
         WHERE subscriber_id = ?1 AND ended_at IS NULL AND drawn_dnis IS NOT NULL",
    )?;
    let held: std::collections::HashSet<String> = held
        .query_map([sid.as_str()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let last: Option<String> = conn
        .query_row(
            "SELECT drawn_dnis FROM calls WHERE subscriber_id = ?1 AND drawn_dnis IS NOT NULL
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
            [sid.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    let codes: Vec<Dnis> = range.codes().collect();
    let start = last
        .and_then(|l| codes.iter().position(|c| c.as_str() == l))
        .map_or(0, |i| i + 1);
    (0..codes.len())
        .map(|i| &codes[(start + i) % codes.len()])
        .find(|code| !held.contains(code.as_str()))
        .cloned()
        .ok_or_else(|| DbError::DnisRangeExhausted {
            range: range.clone(),
        })
}

impl Db {
    /// Records a new call, drawing its DNIS when the route has a range. A session id, form
    /// or session reference already used is a `Conflict`; a range with no free code is
    /// [`DbError::DnisRangeExhausted`] and nothing is stored. One transaction: two calls
    /// created at once never draw the same code.
    pub fn create_call(
        &self,
        sid: &SubscriberId,
        call: &NewCall,
        now: DateTime<Utc>,
    ) -> DbResult<Call> {
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            require_subscriber(&tx, sid)?;
            let ref_taken: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM calls WHERE session_ref = ?1",
                    [call.session_ref.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if ref_taken.is_some() {
                return Err(DbError::Conflict {
                    what: "call with this session reference",
                });
            }
            let drawn = call
                .dnis_range
                .as_ref()
                .map(|range| draw_dnis(&tx, sid, range))
                .transpose()?;
            tx.execute(
                "INSERT INTO calls (id, subscriber_id, subject_code, whisper_code, user_number, client_ip, state, created_at, form_token, session_ref, drawn_dnis)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    call.id.as_str(),
                    sid.as_str(),
                    call.subject_code.as_str(),
                    call.whisper_code.as_ref().map(WhisperCode::as_str),
                    call.user_number.as_str(),
                    call.client_ip.to_string(),
                    CallState::Starting.word(),
                    millis(now),
                    call.form_token,
                    call.session_ref.as_str(),
                    drawn.as_ref().map(Dnis::as_str),
                ],
            )
            .map_err(|e| DbError::conflict_or(e, "call with this session id or form"))?;
            tx.commit()?;
        }
        self.get_call(sid, &call.id)
    }

    /// The call with this session reference: any subscriber's for `None` (an operator), else
    /// only `sid`'s (another subscriber's answers `NotFound`).
    pub fn get_call_by_ref(&self, sid: Option<&SubscriberId>, r: &SessionRef) -> DbResult<Call> {
        let conn = self.conn();
        let call = conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM calls WHERE session_ref = ?1
                     AND (?2 IS NULL OR subscriber_id = ?2)"
                ),
                params![r.as_str(), sid.map(SubscriberId::as_str)],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "call" })?;
        complete(&conn, call)
    }

    /// The subscriber's call in progress that holds this drawn DNIS (at most one does).
    pub fn get_active_call_by_dnis(&self, sid: &SubscriberId, dnis: &Dnis) -> DbResult<Call> {
        let conn = self.conn();
        let call = conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM calls WHERE subscriber_id = ?1 AND drawn_dnis = ?2
                     AND ended_at IS NULL ORDER BY created_at DESC LIMIT 1"
                ),
                params![sid.as_str(), dnis.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound {
                what: "call in progress with this DNIS",
            })?;
        complete(&conn, call)
    }

    pub fn get_call(&self, sid: &SubscriberId, id: &SessionId) -> DbResult<Call> {
        let conn = self.conn();
        let call = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM calls WHERE id = ?1 AND subscriber_id = ?2"),
                params![id.as_str(), sid.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "call" })?;
        complete(&conn, call)
    }

    /// A call by session id alone, for the platform's runtime (the session id is the
    /// unguessable capability the browser holds). Never expose this through the admin API.
    pub fn get_call_by_session(&self, id: &SessionId) -> DbResult<Call> {
        let conn = self.conn();
        let call = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM calls WHERE id = ?1"),
                [id.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "call" })?;
        complete(&conn, call)
    }

    /// Whether a call was already created from the form with this token digest.
    pub fn form_used(&self, form_token: &str) -> DbResult<bool> {
        let found: Option<i64> = self
            .conn()
            .query_row(
                "SELECT 1 FROM calls WHERE form_token = ?1",
                [form_token],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Moves a call in progress to a new state; a finished call is a `Conflict`.
    pub fn update_call_state(
        &self,
        sid: &SubscriberId,
        id: &SessionId,
        state: CallState,
    ) -> DbResult<()> {
        let rows = self.conn().execute(
            "UPDATE calls SET state = ?3 WHERE id = ?1 AND subscriber_id = ?2 AND ended_at IS NULL",
            params![id.as_str(), sid.as_str(), state.word()],
        )?;
        self.changed_unless_ended(rows, sid, id)
    }

    /// Ends a call; finishing twice is a `Conflict` and keeps the first end.
    pub fn finish_call(
        &self,
        sid: &SubscriberId,
        id: &SessionId,
        end: &CallEnd,
        now: DateTime<Utc>,
    ) -> DbResult<Call> {
        let rows = finish_row(&self.conn(), sid, id, end, now)?;
        self.changed_unless_ended(rows, sid, id)?;
        self.get_call(sid, id)
    }

    /// Whether a dial with this SIP Call-ID was stored for any call (its CDR row). A start
    /// after a crash asks it of each INVITE the journal holds: one that is not stored was sent
    /// by a process killed before it could write the leg.
    pub fn knows_sip_call_id(&self, sip_call_id: &str) -> DbResult<bool> {
        let found: Option<i64> = self
            .conn()
            .query_row(
                "SELECT 1 FROM call_legs WHERE sip_call_id = ?1 LIMIT 1",
                [sip_call_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Writes (or rewrites, as the leg progresses) the CDR of one dial of a call's leg.
    pub fn upsert_call_leg(
        &self,
        sid: &SubscriberId,
        id: &SessionId,
        cdr: &LegCdr,
    ) -> DbResult<()> {
        let conn = self.conn();
        let owned: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM calls WHERE id = ?1 AND subscriber_id = ?2",
                params![id.as_str(), sid.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        if owned.is_none() {
            return Err(DbError::NotFound { what: "call" });
        }
        let opt = |t: Option<DateTime<Utc>>| t.map(millis);
        conn.execute(
            &format!(
                "INSERT OR REPLACE INTO call_legs (call_id, {LEG_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ),
            params![
                id.as_str(),
                cdr.leg.word(),
                cdr.attempt,
                cdr.number.as_str(),
                cdr.trunk,
                cdr.sip_call_id,
                millis(cdr.invite_at),
                opt(cdr.first_provisional_at),
                opt(cdr.answered_at),
                opt(cdr.ended_at),
                cdr.final_status,
                cdr.final_reason,
                cdr.end_cause.map(|c| c.word()),
            ],
        )?;
        Ok(())
    }

    /// After an update guarded by `ended_at IS NULL` touched no row: `NotFound` when the call
    /// is not this subscriber's, `Conflict` when it already ended.
    fn changed_unless_ended(
        &self,
        rows: usize,
        sid: &SubscriberId,
        id: &SessionId,
    ) -> DbResult<()> {
        if rows > 0 {
            return Ok(());
        }
        self.get_call(sid, id)?;
        Err(DbError::Conflict {
            what: "finished call",
        })
    }

    /// Calls matching the filter, newest first.
    pub fn list_calls(&self, sid: &SubscriberId, filter: &CallFilter) -> DbResult<Vec<Call>> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM calls WHERE subscriber_id = ?1
               AND (?2 IS NULL OR state = ?2)
               AND (?3 IS NULL OR created_at >= ?3)
               AND (?4 IS NULL OR created_at < ?4)
               AND (?5 IS NULL OR subject_code = ?5)
             ORDER BY created_at DESC, id LIMIT ?6 OFFSET ?7"
        ))?;
        let rows = statement.query_map(
            params![
                sid.as_str(),
                filter.state.map(|s| s.word()),
                filter.since.map(millis),
                filter.until.map(millis),
                filter.subject_code.as_ref().map(SubjectCode::as_str),
                filter.limit.min(MAX_CALLS_PER_PAGE),
                filter.offset
            ],
            from_row,
        )?;
        let calls: Vec<Call> = rows.collect::<Result<_, _>>()?;
        calls.into_iter().map(|c| complete(&conn, c)).collect()
    }

    /// Calls of the subscriber not yet finished: the capacity precondition.
    pub fn count_active_calls(&self, sid: &SubscriberId) -> DbResult<u64> {
        self.count(
            "SELECT count(*) FROM calls WHERE subscriber_id = ?1 AND ended_at IS NULL",
            params![sid.as_str()],
        )
    }

    /// Calls of one route (subscriber and subject) not yet finished: its lines in use.
    pub fn count_active_route_calls(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
    ) -> DbResult<u64> {
        self.count(
            "SELECT count(*) FROM calls
             WHERE subscriber_id = ?1 AND subject_code = ?2 AND ended_at IS NULL",
            params![sid.as_str(), subject.as_str()],
        )
    }

    /// When each unfinished call of the route was created, oldest first: how long each of
    /// its lines has been busy, for the wait estimate.
    pub fn active_route_call_starts(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
    ) -> DbResult<Vec<DateTime<Utc>>> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT created_at FROM calls
             WHERE subscriber_id = ?1 AND subject_code = ?2 AND ended_at IS NULL
             ORDER BY created_at",
        )?;
        let rows = statement.query_map(params![sid.as_str(), subject.as_str()], |row| {
            time_col(row, 0)
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every call that ended at or after `since` and before `until`, with its route and when
    /// it was created and ended: how long each held its line, for the wait estimate.
    pub fn calls_ended_between(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> DbResult<Vec<EndedCall>> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT subscriber_id, subject_code, created_at, ended_at FROM calls
             WHERE ended_at >= ?1 AND ended_at < ?2 ORDER BY ended_at",
        )?;
        let rows = statement.query_map(params![millis(since), millis(until)], |row| {
            Ok(EndedCall {
                subscriber_id: col(row, 0)?,
                subject_code: col(row, 1)?,
                created_at: time_col(row, 2)?,
                ended_at: time_col(row, 3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// For the subscriber's latest `limit` calls created at or after `since` that reached the
    /// bridge: milliseconds from the request (the call's creation, when the visitor sent the
    /// Welcome form) to the first `bridged` row of its timeline. Newest first.
    pub fn recent_request_to_bridge_millis(
        &self,
        sid: &SubscriberId,
        since: DateTime<Utc>,
        limit: u32,
    ) -> DbResult<Vec<i64>> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(
            "SELECT min(e.at) - c.created_at FROM calls c
             JOIN call_events e ON e.call_id = c.id AND e.kind = 'bridged'
             WHERE c.subscriber_id = ?1 AND c.created_at >= ?2
             GROUP BY c.id ORDER BY c.created_at DESC LIMIT ?3",
        )?;
        let rows = statement.query_map(params![sid.as_str(), millis(since), limit], |r| {
            r.get::<_, i64>(0)
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Requests for calls to this number at or after `since`, across all subscribers (a rate
    /// limit protects the person who owns the number, whoever's site asked): calls created,
    /// and callback requests booked and not dialed yet (once dialed, their call counts).
    pub fn count_recent_requests_to_number(
        &self,
        number: &E164,
        since: DateTime<Utc>,
    ) -> DbResult<u64> {
        self.count(
            "SELECT (SELECT count(*) FROM calls WHERE user_number = ?1 AND created_at >= ?2)
                  + (SELECT count(*) FROM callback_requests
                     WHERE user_number = ?1 AND queued_at >= ?2 AND call_id IS NULL)",
            params![number.as_str(), millis(since)],
        )
    }

    /// Requests from this client IP at or after `since`, across all subscribers: calls
    /// created, and callback requests booked and not dialed yet.
    pub fn count_recent_requests_from_ip(&self, ip: IpAddr, since: DateTime<Utc>) -> DbResult<u64> {
        self.count(
            "SELECT (SELECT count(*) FROM calls WHERE client_ip = ?1 AND created_at >= ?2)
                  + (SELECT count(*) FROM callback_requests
                     WHERE client_ip = ?1 AND queued_at >= ?2 AND call_id IS NULL)",
            params![ip.to_string(), millis(since)],
        )
    }

    fn count(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> DbResult<u64> {
        let count: i64 = self.conn().query_row(sql, params, |r| r.get(0))?;
        Ok(count.max(0) as u64)
    }

    /// Adds a step to the call's timeline and returns its sequence number.
    pub fn append_call_event(
        &self,
        sid: &SubscriberId,
        id: &SessionId,
        at: DateTime<Utc>,
        event: &TimelineEvent,
    ) -> DbResult<i64> {
        append_event(&self.conn(), sid, id, at, event)?.ok_or(DbError::NotFound { what: "call" })
    }

    /// The call's timeline in the order it was written. A row written by an older Callbond
    /// whose kind or detail no longer reads is left out with a warning naming its `seq`.
    pub fn list_call_events(&self, sid: &SubscriberId, id: &SessionId) -> DbResult<Vec<CallEvent>> {
        self.get_call(sid, id)?;
        let conn = self.conn();
        let mut statement = conn.prepare_cached(
            "SELECT seq, at, kind, detail FROM call_events WHERE call_id = ?1 ORDER BY seq",
        )?;
        let rows = statement.query_map([id.as_str()], |row| {
            let seq: i64 = row.get(0)?;
            let kind: String = row.get(2)?;
            let detail: String = row.get(3)?;
            Ok((seq, time_col(row, 1)?, kind, detail))
        })?;
        let mut events = Vec::new();
        for row in rows {
            let (seq, at, kind, detail) = row?;
            let parsed = serde_json::from_str(&detail)
                .and_then(|detail| TimelineEvent::from_row(&kind, detail));
            match parsed {
                Ok(event) => events.push(CallEvent { seq, at, event }),
                Err(error) => {
                    tracing::warn!(seq, kind, %error, "timeline row not readable; left out");
                }
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::new_session_id;
    use crate::tests::{at, db_with, new_call, sid};
    use crate::types::{CallOrder, CallStatus};

    /// A call of `sid` drawing from `range`, with the reference given.
    fn ranged(db: &Db, sid: &SubscriberId, range: &str, r: &str) -> DbResult<Call> {
        let mut call = new_call(&new_session_id(), "+12015550123");
        call.dnis_range = Some(range.parse().expect("range"));
        call.session_ref = r.parse().expect("ref");
        db.create_call(sid, &call, at(0))
    }

    #[test]
    fn dnis_draws_go_round_the_range_and_skip_codes_in_use() {
        let db = db_with(&["alpha", "beta"]);
        let (a, b) = (sid("alpha"), sid("beta"));
        let drawn = |c: &Call| c.drawn_dnis.as_ref().map(|d| d.to_string());
        let first = ranged(&db, &a, "0470-0472", "1000000001").expect("first");
        assert_eq!(drawn(&first).as_deref(), Some("0470"));
        assert_eq!(
            first.session_ref.as_ref().map(|r| r.as_str()),
            Some("1000000001")
        );
        let second = ranged(&db, &a, "0470-0472", "1000000002").expect("second");
        assert_eq!(drawn(&second).as_deref(), Some("0471"));
        // Another subscriber's calls hold nothing of alpha's range.
        let other = ranged(&db, &b, "0470-0472", "1000000003").expect("other");
        assert_eq!(drawn(&other).as_deref(), Some("0470"));
        // 0470 ends: the next draw still goes on to 0472, then back round to the free 0470.
        db.finish_call(&a, &first.id, &end(EndCause::UserHungUp), at(1))
            .expect("finish");
        let third = ranged(&db, &a, "0470-0472", "1000000004").expect("third");
        assert_eq!(drawn(&third).as_deref(), Some("0472"));
        let fourth = ranged(&db, &a, "0470-0472", "1000000005").expect("fourth");
        assert_eq!(drawn(&fourth).as_deref(), Some("0470"));
        // All three held: refused, nothing stored.
        let before = db.count_active_calls(&a).expect("count");
        match ranged(&db, &a, "0470-0472", "1000000006") {
            Err(DbError::DnisRangeExhausted { range }) => {
                assert_eq!(range.to_string(), "0470-0472")
            }
            other => panic!("expected exhaustion, got {other:?}"),
        }
        assert_eq!(db.count_active_calls(&a).expect("count"), before);
        // The drawn code finds the call in progress, for its subscriber only.
        let dnis: Dnis = "0471".parse().expect("dnis");
        assert_eq!(
            db.get_active_call_by_dnis(&a, &dnis).expect("by dnis").id,
            second.id
        );
        assert!(matches!(
            db.get_active_call_by_dnis(&b, &dnis),
            Err(DbError::NotFound { .. })
        ));
        let released: Dnis = "0470".parse().expect("dnis");
        assert_eq!(
            db.get_active_call_by_dnis(&a, &released)
                .expect("held again")
                .id,
            fourth.id,
            "an ended call no longer answers for its code"
        );
    }

    #[test]
    fn session_refs_are_unique_and_resolve_per_tenant() {
        let db = db_with(&["alpha", "beta"]);
        let (a, b) = (sid("alpha"), sid("beta"));
        let r: SessionRef = "2718281828".parse().expect("ref");
        let mut call = new_call(&new_session_id(), "+12015550123");
        call.session_ref = r.clone();
        let created = db.create_call(&a, &call, at(0)).expect("create");
        let mut again = new_call(&new_session_id(), "+12015550123");
        again.session_ref = r.clone();
        assert!(matches!(
            db.create_call(&b, &again, at(0)),
            Err(DbError::Conflict { what }) if what.contains("session reference")
        ));
        assert_eq!(
            db.get_call_by_ref(None, &r).expect("operator").id,
            created.id
        );
        assert_eq!(
            db.get_call_by_ref(Some(&a), &r).expect("own").id,
            created.id
        );
        assert!(matches!(
            db.get_call_by_ref(Some(&b), &r),
            Err(DbError::NotFound { .. })
        ));
    }

    fn end(cause: EndCause) -> CallEnd {
        CallEnd {
            cause,
            user_leg_cause: Some(LegEndCause::RemoteHangup),
            center_leg_cause: None,
            hung_up_first: Some(HungUpFirst::User),
        }
    }

    #[test]
    fn call_lifecycle_and_active_count() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let id = new_session_id();
        let created = db
            .create_call(&a, &new_call(&id, "+12015550123"), at(0))
            .expect("create");
        assert_eq!(
            (created.state, created.ended_at),
            (CallState::Starting, None)
        );
        assert!(matches!(
            db.create_call(&a, &new_call(&id, "+12015550123"), at(1)),
            Err(DbError::Conflict { .. })
        ));
        assert_eq!(db.count_active_calls(&a).expect("count"), 1);
        db.update_call_state(&a, &id, CallState::Bridged)
            .expect("state");
        assert_eq!(
            db.get_call_by_session(&id).expect("by session").state,
            CallState::Bridged
        );

        let finished = db
            .finish_call(&a, &id, &end(EndCause::UserHungUp), at(90))
            .expect("finish");
        assert_eq!(finished.ended_at, Some(at(90)));
        assert_eq!(finished.state, CallState::Ended);
        assert_eq!(finished.end_cause, Some(EndCause::UserHungUp));
        assert_eq!(finished.user_end_cause, Some(LegEndCause::RemoteHangup));
        assert_eq!(finished.hung_up_first, Some(HungUpFirst::User));
        assert_eq!(db.count_active_calls(&a).expect("count"), 0);
        assert!(matches!(
            db.finish_call(&a, &id, &end(EndCause::Cancelled), at(91)),
            Err(DbError::Conflict { .. })
        ));
        assert!(matches!(
            db.update_call_state(&a, &id, CallState::Ending),
            Err(DbError::Conflict { .. })
        ));
        assert_eq!(
            db.get_call(&a, &id).expect("get").end_cause,
            Some(EndCause::UserHungUp)
        );
    }

    #[test]
    fn one_form_creates_at_most_one_call() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let mut first = new_call(&new_session_id(), "+12015550123");
        first.form_token = Some("f00d".into());
        assert!(!db.form_used("f00d").expect("query"));
        db.create_call(&a, &first, at(0)).expect("first call");
        assert!(db.form_used("f00d").expect("query"));
        let mut again = new_call(&new_session_id(), "+12015550123");
        again.form_token = Some("f00d".into());
        assert!(matches!(
            db.create_call(&a, &again, at(1)),
            Err(DbError::Conflict { .. })
        ));
        // Calls without a form (the CLI, tests) never collide.
        for _ in 0..2 {
            db.create_call(&a, &new_call(&new_session_id(), "+12015550123"), at(2))
                .expect("formless call");
        }
    }

    #[test]
    fn list_filters_and_rate_limit_counts() {
        let db = db_with(&["alpha", "beta"]);
        let (a, b) = (sid("alpha"), sid("beta"));
        let mut ids = Vec::new();
        for (i, number) in ["+12015550123", "+12015550123", "+12015550124"]
            .iter()
            .enumerate()
        {
            let id = new_session_id();
            let mut call = new_call(&id, number);
            if i == 2 {
                call.subject_code = "support".parse().expect("code");
                call.client_ip = "2001:db8::1".parse().expect("ip");
            }
            db.create_call(&a, &call, at(i as i64 * 60))
                .expect("create");
            ids.push(id);
        }
        db.create_call(&b, &new_call(&new_session_id(), "+12015550123"), at(30))
            .expect("b's call");
        db.finish_call(&a, &ids[0], &end(EndCause::AgentHungUp), at(10))
            .expect("finish");

        let listed = |filter: CallFilter| -> Vec<SessionId> {
            db.list_calls(&a, &filter)
                .expect("list")
                .into_iter()
                .map(|c| c.id)
                .collect()
        };
        assert_eq!(
            listed(CallFilter::default()),
            vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]
        );
        let state = CallFilter {
            state: Some(CallState::Ended),
            ..CallFilter::default()
        };
        assert_eq!(listed(state), vec![ids[0].clone()]);
        let window = CallFilter {
            since: Some(at(60)),
            until: Some(at(120)),
            ..CallFilter::default()
        };
        assert_eq!(listed(window), vec![ids[1].clone()]);
        let subject = CallFilter {
            subject_code: Some("support".parse().expect("sc")),
            ..CallFilter::default()
        };
        assert_eq!(listed(subject), vec![ids[2].clone()]);
        let page = CallFilter {
            limit: 1,
            offset: 1,
            ..CallFilter::default()
        };
        assert_eq!(listed(page), vec![ids[1].clone()]);

        let number: E164 = "+12015550123".parse().expect("number");
        assert_eq!(
            db.count_recent_requests_to_number(&number, at(0))
                .expect("count"),
            3,
            "across subscribers"
        );
        assert_eq!(
            db.count_recent_requests_to_number(&number, at(31))
                .expect("count"),
            1
        );
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        let v6: IpAddr = "2001:db8::1".parse().expect("ip");
        assert_eq!(
            db.count_recent_requests_from_ip(v4, at(0)).expect("count"),
            3
        );
        assert_eq!(
            db.count_recent_requests_from_ip(v6, at(0)).expect("count"),
            1
        );
        assert_eq!(db.get_call(&a, &ids[2]).expect("get").client_ip, v6);
    }

    #[test]
    fn events_keep_order_typed_detail_and_millisecond_times() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let id = new_session_id();
        db.create_call(&a, &new_call(&id, "+12015550123"), at(0))
            .expect("create");
        let other = new_session_id();
        db.create_call(&a, &new_call(&other, "+12015550123"), at(0))
            .expect("create");
        let t1 = at(1) + chrono::Duration::milliseconds(123);
        let events = [
            TimelineEvent::Started {
                call_order: CallOrder::UserFirst,
            },
            TimelineEvent::Status {
                status: CallStatus::Calling,
            },
            TimelineEvent::Bridged {},
        ];
        for event in &events {
            db.append_call_event(&a, &id, t1, event).expect("append");
            db.append_call_event(&a, &other, t1, &TimelineEvent::Farewell {})
                .expect("append");
        }
        let stored = db.list_call_events(&a, &id).expect("events");
        let got: Vec<&TimelineEvent> = stored.iter().map(|e| &e.event).collect();
        assert_eq!(got, events.iter().collect::<Vec<_>>());
        assert!(stored.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(stored[0].at, t1);
        let json = serde_json::to_value(&stored[1]).expect("json");
        assert_eq!(json["kind"], "status");
        assert_eq!(json["detail"]["status"], "calling");
        assert_eq!(db.get_call(&a, &id).expect("call").bridged_at, Some(t1));
        let missing = new_session_id();
        assert!(matches!(
            db.append_call_event(&a, &missing, t1, &TimelineEvent::Farewell {}),
            Err(DbError::NotFound { .. })
        ));
    }

    #[test]
    fn a_legacy_timeline_row_is_left_out_not_fatal() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let id = new_session_id();
        db.create_call(&a, &new_call(&id, "+12015550123"), at(0))
            .expect("create");
        db.conn()
            .execute(
                "INSERT INTO call_events (call_id, at, kind, detail) VALUES (?1, 0, 'hung_up', '{\"detail\":\"user leg: HungUpByPeer\"}')",
                [id.as_str()],
            )
            .expect("legacy row");
        db.append_call_event(&a, &id, at(1), &TimelineEvent::Farewell {})
            .expect("append");
        let events = db.list_call_events(&a, &id).expect("events");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, TimelineEvent::Farewell {});
    }

    #[test]
    fn leg_cdrs_are_written_per_attempt_and_rewritten_as_the_leg_ends() {
        let db = db_with(&["alpha", "beta"]);
        let (a, b) = (sid("alpha"), sid("beta"));
        let id = new_session_id();
        db.create_call(&a, &new_call(&id, "+12015550123"), at(0))
            .expect("create");
        let ms = |n: i64| at(0) + chrono::Duration::milliseconds(n);
        let mut user = LegCdr {
            leg: Leg::User,
            attempt: 0,
            number: "+12015550123".parse().expect("number"),
            trunk: Some("127.0.0.1:5070".into()),
            sip_call_id: "a84b4c76e66710@pc33".into(),
            invite_at: ms(1000),
            first_provisional_at: None,
            answered_at: None,
            ended_at: None,
            final_status: None,
            final_reason: None,
            end_cause: None,
        };
        db.upsert_call_leg(&a, &id, &user).expect("dialed");
        user.first_provisional_at = Some(ms(1250));
        user.answered_at = Some(ms(3000));
        user.ended_at = Some(ms(15_500));
        user.final_status = Some(200);
        user.final_reason = Some("OK".into());
        user.end_cause = Some(LegEndCause::RemoteHangup);
        db.upsert_call_leg(&a, &id, &user).expect("ended");
        let center = LegCdr {
            leg: Leg::Center,
            attempt: 1,
            number: "+12015550188".parse().expect("number"),
            sip_call_id: "other@pc33".into(),
            invite_at: ms(3100),
            first_provisional_at: None,
            answered_at: None,
            final_status: Some(486),
            final_reason: Some("Busy Here".into()),
            end_cause: Some(LegEndCause::Busy),
            ended_at: Some(ms(3200)),
            ..user.clone()
        };
        db.upsert_call_leg(&a, &id, &center).expect("center");
        let legs = db.get_call(&a, &id).expect("call").legs;
        assert_eq!(legs, vec![user.clone(), center.clone()]);
        assert_eq!(legs[0].post_dial_delay_ms(), Some(250));
        assert_eq!(legs[0].billable_secs(), 12.5);
        assert_eq!(legs[1].billable_secs(), 0.0);
        let json = serde_json::to_value(db.get_call(&a, &id).expect("call")).expect("json");
        assert_eq!(json["legs"][0]["post_dial_delay_ms"], 250);
        assert_eq!(json["legs"][0]["billable_secs"], 12.5);
        assert_eq!(json["legs"][0]["sip_call_id"], "a84b4c76e66710@pc33");
        assert_eq!(json["legs"][1]["final_reason"], "Busy Here");
        assert!(matches!(
            db.upsert_call_leg(&b, &id, &user),
            Err(DbError::NotFound { .. })
        ));
    }
}
