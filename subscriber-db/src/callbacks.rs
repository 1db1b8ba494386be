//! The callback queue (issue 13): every request a visitor books when the center is full or
//! closed, durable from the moment it is accepted. One FIFO per route (subscriber and
//! subject code), higher priority first; a scheduled request joins its route's queue when
//! its slot opens; a retry when its next attempt is due.
//!
//! The scheduler takes the head with [`Db::claim_next_callback`] (waiting → dialing, one
//! transaction), makes the attempt's call record and links it with
//! [`Db::link_callback_call`], and settles the attempt with [`Db::callback_attempt_ended`].
//! A process that dies leaves some requests in `dialing`: [`Db::settle_interrupted_callbacks`]
//! at the next start puts each back in the queue unless its call had dialed a leg, so a
//! request is never lost and never dialed twice.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::db::{Db, col, millis, opt_col, opt_time_col, require_subscriber, time_col};
use crate::error::{DbError, DbResult};
use crate::types::{
    CallbackKind, CallbackState, DtmfKey, E164, SessionId, SubjectCode, SubscriberId, WhisperCode,
    Word,
};

/// A callback request's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallbackId(pub i64);

impl fmt::Display for CallbackId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What the web front books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCallback {
    pub subject_code: SubjectCode,
    pub user_number: E164,
    /// The visitor's queue page (its link and push channel).
    pub page_session: SessionId,
    pub kind: CallbackKind,
    /// Higher is served first; 0 normally.
    pub priority: i32,
    /// When it may be dialed: now for a queued request, the slot's start for a scheduled one.
    pub due_at: DateTime<Utc>,
    pub slot_end: Option<DateTime<Utc>>,
    /// The wait estimate the visitor was shown when it was booked, in ms.
    pub predicted_wait_ms: Option<u64>,
    /// The digest of the Welcome form's token: one form books at most one request.
    pub form_digest: Option<[u8; 32]>,
    /// The link's whisper code, for the attempt's call.
    pub whisper_code: Option<WhisperCode>,
    /// The subscriber page the visitor came from, spoken in the whisper.
    pub came_from: Option<String>,
    /// The visitor's address, kept on each attempt's call record.
    pub client_ip: Option<IpAddr>,
    /// The key the visitor presses before the center is dialed; `None`: no consent asked.
    pub consent_key: Option<DtmfKey>,
}

/// A stored callback request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Callback {
    pub id: CallbackId,
    pub subscriber_id: SubscriberId,
    pub subject_code: SubjectCode,
    pub user_number: E164,
    pub page_session: SessionId,
    pub kind: CallbackKind,
    pub priority: i32,
    pub state: CallbackState,
    pub queued_at: DateTime<Utc>,
    /// When the visitor wanted the call: when it was booked, or its slot's start.
    pub wanted_at: DateTime<Utc>,
    /// When it may next be dialed (moves with each retry).
    pub due_at: DateTime<Utc>,
    pub slot_end: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub predicted_wait_ms: Option<u64>,
    /// When the first attempt was dialed: the request's real wait ends here.
    pub first_dialed_at: Option<DateTime<Utc>>,
    /// The latest attempt's call record.
    pub call_id: Option<SessionId>,
    /// When it was done, cancelled or failed.
    pub closed_at: Option<DateTime<Utc>>,
    pub whisper_code: Option<WhisperCode>,
    pub came_from: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub consent_key: Option<DtmfKey>,
}

impl Callback {
    /// The real wait: from when the visitor wanted the call to its first dial.
    pub fn waited_ms(&self) -> Option<u64> {
        let ms = (self.first_dialed_at? - self.wanted_at).num_milliseconds();
        Some(u64::try_from(ms).unwrap_or(0))
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The visitor answered (and consented): the request is done.
    Reached,
    /// Not answered, busy or no consent: try again at this time.
    RetryAt(DateTime<Utc>),
    /// Not answered and no attempt left.
    GaveUp,
}

/// Which requests `list_callbacks` returns, newest first. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackFilter {
    pub state: Option<CallbackState>,
    pub subject_code: Option<SubjectCode>,
    /// At most 1000.
    pub limit: u32,
}

/// One route's queue now, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteQueue {
    pub subject_code: SubjectCode,
    /// Requests waiting and due (slots and retries not yet due are in `later`).
    pub waiting: u64,
    pub later: u64,
    pub dialing: u64,
    /// How long the oldest due request has waited, in seconds.
    pub oldest_wait_secs: Option<u64>,
    /// Calls of the route in progress: its lines in use.
    pub lines_busy: u64,
}

/// How the estimates of one route's requests booked in one hour came out (issue 13 item 5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccuracyRow {
    pub subject_code: SubjectCode,
    /// The hour the requests were booked in (UTC, at its start).
    pub hour: DateTime<Utc>,
    pub requests: u64,
    /// Reached (the visitor answered an attempt).
    pub answered: u64,
    /// Closed without being reached (every attempt unanswered).
    pub abandoned: u64,
    pub cancelled: u64,
    /// Requests dialed at least once: the ones whose real wait is known.
    pub dialed: u64,
    /// Mean real wait (booking or slot start to first dial) of the dialed ones, in seconds.
    pub mean_wait_secs: Option<f64>,
    /// Mean absolute error of the estimate shown at booking against the real wait, seconds.
    pub mae_secs: Option<f64>,
    /// Mean of estimate minus real wait, seconds: positive means estimates were too long.
    pub bias_secs: Option<f64>,
}

/// What the restart did with the requests a dead process left in `dialing`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettledCallbacks {
    /// Put back in the queue: their attempt had dialed nobody.
    pub requeued: usize,
    /// Closed as failed: their attempt had dialed, so they are not dialed again.
    pub closed: usize,
}

const COLUMNS: &str = "id, subscriber_id, subject_code, user_number, page_session, kind, priority,
     state, queued_at, due_at, slot_end, attempts, predicted_wait_ms, first_dialed_at, call_id,
     closed_at, wanted_at, whisper_code, came_from, client_ip, consent_key";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Callback> {
    let attempts: i64 = row.get(11)?;
    let predicted: Option<i64> = row.get(12)?;
    let call_id: Option<String> = row.get(14)?;
    let call_id = call_id
        .map(|id| {
            id.parse().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    14,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })
        })
        .transpose()?;
    Ok(Callback {
        id: CallbackId(row.get(0)?),
        subscriber_id: col(row, 1)?,
        subject_code: col(row, 2)?,
        user_number: col(row, 3)?,
        page_session: col(row, 4)?,
        kind: col(row, 5)?,
        priority: row.get(6)?,
        state: col(row, 7)?,
        queued_at: time_col(row, 8)?,
        due_at: time_col(row, 9)?,
        slot_end: opt_time_col(row, 10)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        predicted_wait_ms: predicted.and_then(|p| u64::try_from(p).ok()),
        first_dialed_at: opt_time_col(row, 13)?,
        call_id,
        closed_at: opt_time_col(row, 15)?,
        wanted_at: time_col(row, 16)?,
        whisper_code: opt_col(row, 17)?,
        came_from: row.get(18)?,
        // Written only from a parsed address; an unreadable one is treated as unknown.
        client_ip: row
            .get::<_, Option<String>>(19)?
            .and_then(|ip| ip.parse().ok()),
        consent_key: row
            .get::<_, Option<String>>(20)?
            .and_then(|k| k.chars().next())
            .and_then(DtmfKey::from_char),
    })
}

fn get(conn: &rusqlite::Connection, sid: &SubscriberId, id: CallbackId) -> DbResult<Callback> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM callback_requests WHERE id = ?1 AND subscriber_id = ?2"),
        params![id.0, sid.as_str()],
        from_row,
    )
    .optional()?
    .ok_or(DbError::NotFound {
        what: "callback request",
    })
}

impl Db {
    /// Books a request; it is committed when this returns. A second request from the same
    /// Welcome form, or for the same page session, is a `Conflict` and stores nothing.
    pub fn enqueue_callback(
        &self,
        sid: &SubscriberId,
        new: &NewCallback,
        now: DateTime<Utc>,
    ) -> DbResult<Callback> {
        let conn = self.conn();
        require_subscriber(&conn, sid)?;
        let predicted = new
            .predicted_wait_ms
            .map(|p| i64::try_from(p).unwrap_or(i64::MAX));
        let id: i64 = conn
            .query_row(
                "INSERT INTO callback_requests (subscriber_id, subject_code, user_number,
                     page_session, kind, priority, state, queued_at, due_at, slot_end,
                     predicted_wait_ms, form_digest, wanted_at, whisper_code, came_from,
                     client_ip, consent_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'waiting', ?7, ?8, ?9, ?10, ?11, ?8, ?12, ?13,
                     ?14, ?15)
                 RETURNING id",
                params![
                    sid.as_str(),
                    new.subject_code.as_str(),
                    new.user_number.as_str(),
                    new.page_session.as_str(),
                    new.kind.word(),
                    new.priority,
                    millis(now),
                    millis(new.due_at),
                    new.slot_end.map(millis),
                    predicted,
                    new.form_digest.as_ref().map(|d| d.as_slice()),
                    new.whisper_code.as_ref().map(WhisperCode::as_str),
                    new.came_from,
                    new.client_ip.map(|ip| ip.to_string()),
                    new.consent_key.map(|k| k.as_char().to_string()),
                ],
                |r| r.get(0),
            )
            .map_err(|e| DbError::conflict_or(e, "callback request for this form"))?;
        get(&conn, sid, CallbackId(id))
    }

    pub fn get_callback(&self, sid: &SubscriberId, id: CallbackId) -> DbResult<Callback> {
        get(&self.conn(), sid, id)
    }

    /// The request behind a visitor's queue page (the page session is the visitor's
    /// capability; it names one request of one subscriber).
    pub fn callback_by_page(&self, page: &SessionId) -> DbResult<Callback> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM callback_requests WHERE page_session = ?1"),
                [page.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound {
                what: "callback request",
            })
    }

    /// How many open requests of the route are booked at each slot start from `since` to
    /// `until` (a slot's capacity counts them).
    pub fn slot_bookings(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> DbResult<Vec<(DateTime<Utc>, u32)>> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT due_at, count(*) FROM callback_requests
             WHERE subscriber_id = ?1 AND subject_code = ?2 AND kind = 'scheduled'
               AND state IN ('waiting', 'dialing') AND due_at >= ?3 AND due_at < ?4
             GROUP BY due_at ORDER BY due_at",
        )?;
        let rows = statement.query_map(
            params![sid.as_str(), subject.as_str(), millis(since), millis(until)],
            |row| {
                let n: i64 = row.get(1)?;
                Ok((time_col(row, 0)?, u32::try_from(n).unwrap_or(u32::MAX)))
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The request whose latest attempt is this call, if any.
    pub fn callback_by_call(&self, call: &SessionId) -> DbResult<Option<Callback>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM callback_requests WHERE call_id = ?1"),
                [call.as_str()],
                from_row,
            )
            .optional()?)
    }

    /// The route's queue as the scheduler serves it: waiting requests that are due by `now`,
    /// higher priority first, then oldest due first.
    pub fn callback_queue(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<Callback>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM callback_requests
             WHERE subscriber_id = ?1 AND subject_code = ?2 AND state = 'waiting' AND due_at <= ?3
             ORDER BY priority DESC, due_at, id"
        ))?;
        let rows = statement.query_map(
            params![sid.as_str(), subject.as_str(), millis(now)],
            from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The same queue, only each request's id and page session, in order: what a tick needs
    /// to push every visitor its position and estimate (reading whole rows parses every
    /// number again, about 25 µs a row).
    pub fn callback_queue_pages(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<(CallbackId, SessionId)>> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT id, page_session FROM callback_requests
             WHERE subscriber_id = ?1 AND subject_code = ?2 AND state = 'waiting' AND due_at <= ?3
             ORDER BY priority DESC, due_at, id",
        )?;
        let rows = statement.query_map(
            params![sid.as_str(), subject.as_str(), millis(now)],
            |row| Ok((CallbackId(row.get(0)?), col(row, 1)?)),
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every route with a waiting request due by `now`: what a scheduler tick serves.
    pub fn callback_routes_due(
        &self,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<(SubscriberId, SubjectCode)>> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT DISTINCT subscriber_id, subject_code FROM callback_requests
             WHERE state = 'waiting' AND due_at <= ?1
             ORDER BY subscriber_id, subject_code",
        )?;
        let rows = statement.query_map([millis(now)], |row| Ok((col(row, 0)?, col(row, 1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many requests of the route wait and are due by `now`: a direct request must not
    /// go ahead of them.
    pub fn count_callbacks_waiting(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
        now: DateTime<Utc>,
    ) -> DbResult<u64> {
        let n: i64 = self.conn().query_row(
            "SELECT count(*) FROM callback_requests
             WHERE subscriber_id = ?1 AND subject_code = ?2 AND state = 'waiting'
               AND due_at <= ?3",
            params![sid.as_str(), subject.as_str(), millis(now)],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Every request an attempt is running for, oldest first: the scheduler settles each when
    /// its call has ended.
    pub fn callbacks_dialing(&self) -> DbResult<Vec<Callback>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM callback_requests WHERE state = 'dialing' ORDER BY id"
        ))?;
        let rows = statement.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The page sessions of every request still open (waiting or dialing), so a restarted
    /// process opens their push channels again before the scheduler publishes to them.
    pub fn open_callback_pages(&self) -> DbResult<Vec<SessionId>> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT page_session FROM callback_requests
             WHERE state IN ('waiting', 'dialing') ORDER BY id",
        )?;
        let rows = statement.query_map([], |row| col(row, 0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The subscriber's requests, newest first.
    pub fn list_callbacks(
        &self,
        sid: &SubscriberId,
        filter: &CallbackFilter,
    ) -> DbResult<Vec<Callback>> {
        let conn = self.conn();
        require_subscriber(&conn, sid)?;
        let mut statement = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM callback_requests
             WHERE subscriber_id = ?1 AND (?2 IS NULL OR state = ?2)
               AND (?3 IS NULL OR subject_code = ?3)
             ORDER BY id DESC LIMIT ?4"
        ))?;
        let rows = statement.query_map(
            params![
                sid.as_str(),
                filter.state.map(|s| s.word()),
                filter.subject_code.as_ref().map(SubjectCode::as_str),
                filter.limit.clamp(1, 1000),
            ],
            from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every route of the subscriber with open requests or calls in progress: its queue now.
    pub fn callback_queues(
        &self,
        sid: &SubscriberId,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<RouteQueue>> {
        let conn = self.conn();
        require_subscriber(&conn, sid)?;
        let mut statement = conn.prepare(
            "WITH subjects AS (
                 SELECT subject_code FROM callback_requests
                 WHERE subscriber_id = ?1 AND state IN ('waiting', 'dialing')
                 UNION
                 SELECT subject_code FROM calls WHERE subscriber_id = ?1 AND ended_at IS NULL)
             SELECT s.subject_code,
                 (SELECT count(*) FROM callback_requests c WHERE c.subscriber_id = ?1
                    AND c.subject_code = s.subject_code AND c.state = 'waiting' AND c.due_at <= ?2),
                 (SELECT count(*) FROM callback_requests c WHERE c.subscriber_id = ?1
                    AND c.subject_code = s.subject_code AND c.state = 'waiting' AND c.due_at > ?2),
                 (SELECT count(*) FROM callback_requests c WHERE c.subscriber_id = ?1
                    AND c.subject_code = s.subject_code AND c.state = 'dialing'),
                 (SELECT min(c.wanted_at) FROM callback_requests c WHERE c.subscriber_id = ?1
                    AND c.subject_code = s.subject_code AND c.state = 'waiting' AND c.due_at <= ?2),
                 (SELECT count(*) FROM calls k WHERE k.subscriber_id = ?1
                    AND k.subject_code = s.subject_code AND k.ended_at IS NULL)
             FROM subjects s ORDER BY s.subject_code",
        )?;
        let now_ms = millis(now);
        let rows = statement.query_map(params![sid.as_str(), now_ms], |row| {
            let count = |i| -> rusqlite::Result<u64> {
                Ok(u64::try_from(row.get::<_, i64>(i)?).unwrap_or(0))
            };
            let oldest: Option<i64> = row.get(4)?;
            Ok(RouteQueue {
                subject_code: col(row, 0)?,
                waiting: count(1)?,
                later: count(2)?,
                dialing: count(3)?,
                oldest_wait_secs: oldest.map(|at| u64::try_from((now_ms - at) / 1000).unwrap_or(0)),
                lines_busy: count(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Per route and hour of booking, from `since` to `until`: what became of the requests
    /// and how far the estimate each was shown at booking was from its real wait.
    pub fn callback_accuracy(
        &self,
        sid: &SubscriberId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> DbResult<Vec<AccuracyRow>> {
        let conn = self.conn();
        require_subscriber(&conn, sid)?;
        let mut statement = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM callback_requests
             WHERE subscriber_id = ?1 AND queued_at >= ?2 AND queued_at < ?3
             ORDER BY subject_code, queued_at"
        ))?;
        let rows = statement.query_map(
            params![sid.as_str(), millis(since), millis(until)],
            from_row,
        )?;
        let mut out: Vec<AccuracyRow> = Vec::new();
        // (sum of waits, of |errors|, of errors, how many had an estimate), per output row.
        let mut sums: Vec<(f64, f64, f64, u64)> = Vec::new();
        for request in rows {
            let request = request?;
            let hour_ms = request.queued_at.timestamp_millis().div_euclid(3_600_000) * 3_600_000;
            let hour = DateTime::<Utc>::from_timestamp_millis(hour_ms).unwrap_or(request.queued_at);
            let same = out
                .last()
                .is_some_and(|r| r.subject_code == request.subject_code && r.hour == hour);
            if !same {
                out.push(AccuracyRow {
                    subject_code: request.subject_code.clone(),
                    hour,
                    requests: 0,
                    answered: 0,
                    abandoned: 0,
                    cancelled: 0,
                    dialed: 0,
                    mean_wait_secs: None,
                    mae_secs: None,
                    bias_secs: None,
                });
                sums.push((0.0, 0.0, 0.0, 0));
            }
            let (Some(row), Some(sum)) = (out.last_mut(), sums.last_mut()) else {
                continue;
            };
            row.requests += 1;
            match request.state {
                CallbackState::Done => row.answered += 1,
                CallbackState::Failed => row.abandoned += 1,
                CallbackState::Cancelled => row.cancelled += 1,
                CallbackState::Waiting | CallbackState::Dialing => {}
            }
            if let Some(waited) = request.waited_ms() {
                row.dialed += 1;
                let waited = waited as f64 / 1000.0;
                sum.0 += waited;
                if let Some(predicted) = request.predicted_wait_ms {
                    let error = predicted as f64 / 1000.0 - waited;
                    sum.1 += error.abs();
                    sum.2 += error;
                    sum.3 += 1;
                }
            }
        }
        for (row, (waits, abs, signed, estimated)) in out.iter_mut().zip(sums) {
            if row.dialed > 0 {
                row.mean_wait_secs = Some(waits / row.dialed as f64);
            }
            if estimated > 0 {
                row.mae_secs = Some(abs / estimated as f64);
                row.bias_secs = Some(signed / estimated as f64);
            }
        }
        Ok(out)
    }

    /// The route's open request (waiting or dialing) for this number, if there is one: a
    /// visitor who books again is shown that request, not given a second one.
    pub fn open_callback_for_number(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
        number: &E164,
    ) -> DbResult<Option<Callback>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM callback_requests
                     WHERE subscriber_id = ?1 AND subject_code = ?2 AND user_number = ?3
                       AND state IN ('waiting', 'dialing')
                     ORDER BY id LIMIT 1"
                ),
                params![sid.as_str(), subject.as_str(), number.as_str()],
                from_row,
            )
            .optional()?)
    }

    /// Gives back a request taken for an attempt that dialed nobody (no call record could be
    /// made): waiting again at its place, the attempt not counted.
    pub fn release_callback(&self, sid: &SubscriberId, id: CallbackId) -> DbResult<Callback> {
        let conn = self.conn();
        let rows = conn.execute(
            "UPDATE callback_requests
             SET state = 'waiting', attempts = attempts - 1,
                 first_dialed_at = CASE WHEN attempts = 1 THEN NULL ELSE first_dialed_at END
             WHERE id = ?1 AND subscriber_id = ?2 AND state = 'dialing' AND call_id IS NULL",
            params![id.0, sid.as_str()],
        )?;
        crate::db::changed(rows, "callback request being dialed")?;
        get(&conn, sid, id)
    }

    /// Takes the head of the route's queue for an attempt: it is `dialing`, its attempts
    /// counted, in one transaction, so two schedulers never take the same request. `None`
    /// when nothing is due.
    pub fn claim_next_callback(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
        now: DateTime<Utc>,
    ) -> DbResult<Option<Callback>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let head: Option<i64> = tx
            .query_row(
                "SELECT id FROM callback_requests
                 WHERE subscriber_id = ?1 AND subject_code = ?2 AND state = 'waiting'
                   AND due_at <= ?3
                 ORDER BY priority DESC, due_at, id LIMIT 1",
                params![sid.as_str(), subject.as_str(), millis(now)],
                |r| r.get(0),
            )
            .optional()?;
        let Some(id) = head else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE callback_requests
             SET state = 'dialing', attempts = attempts + 1,
                 first_dialed_at = COALESCE(first_dialed_at, ?2)
             WHERE id = ?1 AND state = 'waiting'",
            params![id, millis(now)],
        )?;
        let claimed = get(&tx, sid, CallbackId(id))?;
        tx.commit()?;
        Ok(Some(claimed))
    }

    /// Names the call record of the request's current attempt.
    pub fn link_callback_call(
        &self,
        sid: &SubscriberId,
        id: CallbackId,
        call: &SessionId,
    ) -> DbResult<()> {
        let rows = self.conn().execute(
            "UPDATE callback_requests SET call_id = ?3
             WHERE id = ?1 AND subscriber_id = ?2 AND state = 'dialing'",
            params![id.0, sid.as_str(), call.as_str()],
        )?;
        crate::db::changed(rows, "callback request being dialed")
    }

    /// Settles the current attempt. Only a request in `dialing` changes.
    pub fn callback_attempt_ended(
        &self,
        sid: &SubscriberId,
        id: CallbackId,
        outcome: AttemptOutcome,
        now: DateTime<Utc>,
    ) -> DbResult<Callback> {
        let conn = self.conn();
        let (state, due) = match outcome {
            AttemptOutcome::Reached => (CallbackState::Done, None),
            AttemptOutcome::RetryAt(at) => (CallbackState::Waiting, Some(at)),
            AttemptOutcome::GaveUp => (CallbackState::Failed, None),
        };
        let closed = (!state.is_open()).then(|| millis(now));
        let rows = conn.execute(
            "UPDATE callback_requests
             SET state = ?3, due_at = COALESCE(?4, due_at), closed_at = ?5
             WHERE id = ?1 AND subscriber_id = ?2 AND state = 'dialing'",
            params![id.0, sid.as_str(), state.word(), due.map(millis), closed],
        )?;
        crate::db::changed(rows, "callback request being dialed")?;
        get(&conn, sid, id)
    }

    /// Cancels a request that has not been reached. Idempotent: cancelling a cancelled
    /// request answers it unchanged. A request already done or failed is answered as it is
    /// (nothing to cancel); one being dialed is cancelled too (the runtime ends its call).
    pub fn cancel_callback(
        &self,
        sid: &SubscriberId,
        id: CallbackId,
        now: DateTime<Utc>,
    ) -> DbResult<Callback> {
        let conn = self.conn();
        conn.execute(
            "UPDATE callback_requests SET state = 'cancelled', closed_at = ?3
             WHERE id = ?1 AND subscriber_id = ?2 AND state IN ('waiting', 'dialing')",
            params![id.0, sid.as_str(), millis(now)],
        )?;
        get(&conn, sid, id)
    }

    /// Moves a waiting request to another time (a new slot). Idempotent: the same slot twice
    /// answers the same request. A request that is not waiting is a `Conflict`.
    pub fn reschedule_callback(
        &self,
        sid: &SubscriberId,
        id: CallbackId,
        due_at: DateTime<Utc>,
        slot_end: Option<DateTime<Utc>>,
    ) -> DbResult<Callback> {
        let conn = self.conn();
        let current = get(&conn, sid, id)?;
        if current.state != CallbackState::Waiting {
            return Err(DbError::Conflict {
                what: "callback request that is no longer waiting",
            });
        }
        conn.execute(
            "UPDATE callback_requests
             SET kind = 'scheduled', due_at = ?3, wanted_at = ?3, slot_end = ?4
             WHERE id = ?1 AND subscriber_id = ?2 AND state = 'waiting'",
            params![id.0, sid.as_str(), millis(due_at), slot_end.map(millis)],
        )?;
        get(&conn, sid, id)
    }

    /// At start, before the scheduler runs: every request a dead process left in `dialing`
    /// goes back to the queue (its attempt uncounted) when its attempt's call dialed no leg,
    /// and is closed as failed when it did (the visitor's phone may have rung: never twice).
    /// `dialed_numbers` are numbers INVITEs went to that no leg row names (the process died
    /// between sending the INVITE and storing the leg; the INVITE journal knows them): a
    /// request for one of them counts as dialed too.
    pub fn settle_interrupted_callbacks(
        &self,
        now: DateTime<Utc>,
        dialed_numbers: &[String],
    ) -> DbResult<SettledCallbacks> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut journal_closed = 0;
        for number in dialed_numbers {
            journal_closed += tx.execute(
                "UPDATE callback_requests SET state = 'failed', closed_at = ?1
                 WHERE state = 'dialing' AND user_number = ?2",
                params![millis(now), number],
            )?;
        }
        let dialed_sql =
            "EXISTS (SELECT 1 FROM call_legs l WHERE l.call_id = callback_requests.call_id)";
        let closed = tx.execute(
            &format!(
                "UPDATE callback_requests SET state = 'failed', closed_at = ?1
                 WHERE state = 'dialing' AND call_id IS NOT NULL AND {dialed_sql}"
            ),
            [millis(now)],
        )?;
        let requeued = tx.execute(
            "UPDATE callback_requests
             SET state = 'waiting', attempts = attempts - 1,
                 first_dialed_at = CASE WHEN attempts = 1 THEN NULL ELSE first_dialed_at END
             WHERE state = 'dialing'",
            [],
        )?;
        tx.commit()?;
        Ok(SettledCallbacks {
            requeued,
            closed: closed + journal_closed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{at, db_with, new_call, sid};
    use crate::{Leg, LegCdr};

    fn booking(page: &SessionId, number: &str, due: i64, priority: i32) -> NewCallback {
        NewCallback {
            subject_code: "sales".parse().expect("code"),
            user_number: number.parse().expect("number"),
            page_session: page.clone(),
            kind: CallbackKind::Queued,
            priority,
            due_at: at(due),
            slot_end: None,
            predicted_wait_ms: Some(90_000),
            form_digest: None,
            whisper_code: None,
            came_from: None,
            client_ip: None,
            consent_key: None,
        }
    }

    fn sales() -> SubjectCode {
        "sales".parse().expect("code")
    }

    #[test]
    fn the_queue_is_fifo_by_priority_and_holds_only_what_is_due() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let pages: Vec<SessionId> = (0..4).map(|_| SessionId::new_random()).collect();
        let first = db
            .enqueue_callback(&a, &booking(&pages[0], "+12015550101", 10, 0), at(10))
            .expect("first");
        let second = db
            .enqueue_callback(&a, &booking(&pages[1], "+12015550102", 20, 0), at(20))
            .expect("second");
        let urgent = db
            .enqueue_callback(&a, &booking(&pages[2], "+12015550103", 30, 5), at(30))
            .expect("urgent");
        // A slot at +3600 s is not in the queue before then.
        let mut slot = booking(&pages[3], "+12015550104", 3600, 0);
        slot.kind = CallbackKind::Scheduled;
        slot.slot_end = Some(at(3600 + 900));
        let scheduled = db.enqueue_callback(&a, &slot, at(40)).expect("slot");
        assert_eq!(first.state, CallbackState::Waiting);
        assert_eq!(first.predicted_wait_ms, Some(90_000));
        let ids = |now| -> Vec<CallbackId> {
            db.callback_queue(&a, &sales(), at(now))
                .expect("queue")
                .iter()
                .map(|c| c.id)
                .collect()
        };
        assert_eq!(ids(100), [urgent.id, first.id, second.id]);
        let pages_in_order: Vec<(CallbackId, SessionId)> = db
            .callback_queue_pages(&a, &sales(), at(100))
            .expect("pages");
        assert_eq!(
            pages_in_order,
            [
                (urgent.id, pages[2].clone()),
                (first.id, pages[0].clone()),
                (second.id, pages[1].clone())
            ]
        );
        assert_eq!(ids(3600), [urgent.id, first.id, second.id, scheduled.id]);
        assert_eq!(
            db.callback_by_page(&pages[3]).expect("by page").id,
            scheduled.id
        );
        // What a scheduler tick and a direct request see.
        assert_eq!(db.callback_routes_due(at(5)).expect("due"), []);
        assert_eq!(
            db.callback_routes_due(at(100)).expect("due"),
            [(a.clone(), sales())]
        );
        assert_eq!(
            db.count_callbacks_waiting(&a, &sales(), at(100))
                .expect("n"),
            3
        );
        assert_eq!(
            db.count_callbacks_waiting(&a, &sales(), at(3600))
                .expect("n"),
            4
        );
        assert_eq!(db.open_callback_pages().expect("open").len(), 4);
    }

    #[test]
    fn a_booking_keeps_what_its_attempts_need() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let page = SessionId::new_random();
        let mut new = booking(&page, "+12015550101", 10, 0);
        new.whisper_code = Some("w42".parse().expect("whisper code"));
        new.came_from = Some("https://shop.example/help?q=1".to_owned());
        new.client_ip = Some("198.51.100.7".parse().expect("ip"));
        new.consent_key = DtmfKey::from_char('7');
        let stored = db.enqueue_callback(&a, &new, at(10)).expect("booked");
        let read = db.callback_by_page(&page).expect("read");
        assert_eq!(read, stored);
        assert_eq!(read.whisper_code.as_ref().map(|w| w.as_str()), Some("w42"));
        assert_eq!(
            read.came_from.as_deref(),
            Some("https://shop.example/help?q=1")
        );
        assert_eq!(read.client_ip, Some("198.51.100.7".parse().expect("ip")));
        assert_eq!(read.consent_key.map(DtmfKey::as_char), Some('7'));
        // A booking counts toward the rate limits until its call exists (then the call does).
        let ip: IpAddr = "198.51.100.7".parse().expect("ip");
        let number: E164 = "+12015550101".parse().expect("number");
        assert_eq!(db.count_recent_requests_from_ip(ip, at(0)).expect("ip"), 1);
        assert_eq!(
            db.count_recent_requests_to_number(&number, at(0))
                .expect("n"),
            1
        );
        let claimed = db.claim_next_callback(&a, &sales(), at(20)).expect("claim");
        assert_eq!(claimed.map(|c| c.id), Some(stored.id));
        let call = SessionId::new_random();
        db.create_call(&a, &new_call(&call, "+12015550101"), at(20))
            .expect("call");
        db.link_callback_call(&a, stored.id, &call).expect("link");
        assert_eq!(
            db.count_recent_requests_to_number(&number, at(0))
                .expect("n"),
            1,
            "the booking and its attempt's call are one request"
        );
        let by_call = db.callback_by_call(&call).expect("by call");
        assert_eq!(by_call.map(|c| c.id), Some(stored.id));
        assert_eq!(
            db.callback_by_call(&SessionId::new_random()).expect("none"),
            None
        );
        let dialing = db.callbacks_dialing().expect("dialing");
        assert_eq!(
            dialing.iter().map(|c| c.id).collect::<Vec<_>>(),
            [stored.id]
        );
        assert_eq!(dialing[0].state, CallbackState::Dialing);
    }

    #[test]
    fn an_attempt_takes_the_head_once_and_settles_as_the_call_went() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let (p1, p2) = (SessionId::new_random(), SessionId::new_random());
        let one = db
            .enqueue_callback(&a, &booking(&p1, "+12015550101", 0, 0), at(0))
            .expect("one");
        let two = db
            .enqueue_callback(&a, &booking(&p2, "+12015550102", 1, 0), at(1))
            .expect("two");
        let claimed = db
            .claim_next_callback(&a, &sales(), at(60))
            .expect("claim")
            .expect("due");
        assert_eq!(
            (claimed.id, claimed.state, claimed.attempts),
            (one.id, CallbackState::Dialing, 1)
        );
        assert_eq!(claimed.waited_ms(), Some(60_000));
        // The next claim takes the next request, never the one being dialed.
        let next = db
            .claim_next_callback(&a, &sales(), at(61))
            .expect("claim")
            .expect("due");
        assert_eq!(next.id, two.id);
        assert_eq!(
            db.claim_next_callback(&a, &sales(), at(62)).expect("claim"),
            None
        );

        // Not answered: back in the queue at the retry time, the first dial time kept.
        let retry = db
            .callback_attempt_ended(&a, one.id, AttemptOutcome::RetryAt(at(180)), at(90))
            .expect("retry");
        assert_eq!(
            (retry.state, retry.due_at),
            (CallbackState::Waiting, at(180))
        );
        assert_eq!(
            db.claim_next_callback(&a, &sales(), at(179))
                .expect("claim"),
            None
        );
        let again = db
            .claim_next_callback(&a, &sales(), at(180))
            .expect("claim")
            .expect("due");
        assert_eq!((again.id, again.attempts), (one.id, 2));
        assert_eq!(again.waited_ms(), Some(60_000));
        let done = db
            .callback_attempt_ended(&a, one.id, AttemptOutcome::Reached, at(200))
            .expect("reached");
        assert_eq!(
            (done.state, done.closed_at),
            (CallbackState::Done, Some(at(200)))
        );
        let failed = db
            .callback_attempt_ended(&a, two.id, AttemptOutcome::GaveUp, at(201))
            .expect("gave up");
        assert_eq!(failed.state, CallbackState::Failed);
        // A settled attempt cannot be settled again.
        assert!(matches!(
            db.callback_attempt_ended(&a, one.id, AttemptOutcome::GaveUp, at(202)),
            Err(DbError::NotFound { .. })
        ));
    }

    #[test]
    fn cancel_and_reschedule_are_idempotent_and_one_form_books_once() {
        let db = db_with(&["alpha", "beta"]);
        let (a, b) = (sid("alpha"), sid("beta"));
        let page = SessionId::new_random();
        let mut new = booking(&page, "+12015550101", 0, 0);
        new.form_digest = Some([7; 32]);
        let booked = db.enqueue_callback(&a, &new, at(0)).expect("booked");
        // The same form again (another page session): refused, nothing stored.
        let mut replay = new.clone();
        replay.page_session = SessionId::new_random();
        assert!(matches!(
            db.enqueue_callback(&a, &replay, at(1)),
            Err(DbError::Conflict { .. })
        ));
        assert_eq!(
            db.callback_queue(&a, &sales(), at(5)).expect("queue").len(),
            1
        );

        let moved = db
            .reschedule_callback(&a, booked.id, at(7200), Some(at(8100)))
            .expect("moved");
        let twice = db
            .reschedule_callback(&a, booked.id, at(7200), Some(at(8100)))
            .expect("moved twice");
        assert_eq!(moved, twice);
        assert_eq!(
            (moved.kind, moved.due_at),
            (CallbackKind::Scheduled, at(7200))
        );
        // Another subscriber can neither see nor cancel it.
        assert!(matches!(
            db.cancel_callback(&b, booked.id, at(10)),
            Err(DbError::NotFound { .. })
        ));
        let cancelled = db.cancel_callback(&a, booked.id, at(10)).expect("cancel");
        let again = db
            .cancel_callback(&a, booked.id, at(20))
            .expect("cancel twice");
        assert_eq!(cancelled, again);
        assert_eq!(
            (again.state, again.closed_at),
            (CallbackState::Cancelled, Some(at(10)))
        );
        assert!(matches!(
            db.reschedule_callback(&a, booked.id, at(9000), None),
            Err(DbError::Conflict { .. })
        ));
        assert_eq!(
            db.claim_next_callback(&a, &sales(), at(9000))
                .expect("claim"),
            None
        );
    }

    #[test]
    fn a_restart_requeues_attempts_that_dialed_nobody_and_never_redials_one_that_did() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let pages: Vec<SessionId> = (0..3).map(|_| SessionId::new_random()).collect();
        for (i, page) in pages.iter().enumerate() {
            let number = format!("+1201555010{i}");
            db.enqueue_callback(&a, &booking(page, &number, 0, 0), at(0))
                .expect("booked");
        }
        let claim = || {
            db.claim_next_callback(&a, &sales(), at(10))
                .expect("claim")
                .expect("due")
        };
        // 1: killed before its call record existed.
        let unlinked = claim();
        // 2: its call record exists, no leg dialed yet.
        let undialed = claim();
        let call2 = SessionId::new_random();
        db.create_call(&a, &new_call(&call2, "+12015550101"), at(10))
            .expect("call 2");
        db.link_callback_call(&a, undialed.id, &call2)
            .expect("link 2");
        // 3: its call dialed the visitor.
        let dialed = claim();
        let call3 = SessionId::new_random();
        db.create_call(&a, &new_call(&call3, "+12015550102"), at(10))
            .expect("call 3");
        db.link_callback_call(&a, dialed.id, &call3)
            .expect("link 3");
        let user_leg = LegCdr {
            leg: Leg::User,
            attempt: 0,
            number: "+12015550102".parse().expect("number"),
            trunk: None,
            sip_call_id: "callback-3@test".into(),
            invite_at: at(11),
            first_provisional_at: None,
            answered_at: None,
            ended_at: None,
            final_status: None,
            final_reason: None,
            end_cause: None,
        };
        db.upsert_call_leg(&a, &call3, &user_leg).expect("leg");

        let settled = db
            .settle_interrupted_callbacks(at(30), &[])
            .expect("settle");
        assert_eq!(
            settled,
            SettledCallbacks {
                requeued: 2,
                closed: 1
            }
        );
        let read = |id| db.get_callback(&a, id).expect("read");
        for id in [unlinked.id, undialed.id] {
            let c = read(id);
            assert_eq!(
                (c.state, c.attempts, c.first_dialed_at),
                (CallbackState::Waiting, 0, None)
            );
        }
        assert_eq!(read(dialed.id).state, CallbackState::Failed);
        // Served again in their original order.
        let queue: Vec<CallbackId> = db
            .callback_queue(&a, &sales(), at(31))
            .expect("queue")
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(queue, [unlinked.id, undialed.id]);
        // Settling again changes nothing.
        assert_eq!(
            db.settle_interrupted_callbacks(at(40), &[])
                .expect("settle"),
            SettledCallbacks::default()
        );
    }

    #[test]
    fn an_invite_only_the_journal_knows_counts_as_dialed() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let pages: Vec<SessionId> = (0..2).map(|_| SessionId::new_random()).collect();
        for (i, page) in pages.iter().enumerate() {
            let number = format!("+1201555020{i}");
            db.enqueue_callback(&a, &booking(page, &number, 0, 0), at(0))
                .expect("booked");
        }
        // Both taken and linked to a call record; neither has a leg row. The journal says an
        // INVITE went to the first one's number.
        for n in 0..2 {
            let taken = db
                .claim_next_callback(&a, &sales(), at(10))
                .expect("claim")
                .expect("due");
            let call = SessionId::new_random();
            db.create_call(&a, &new_call(&call, &format!("+1201555020{n}")), at(10))
                .expect("call");
            db.link_callback_call(&a, taken.id, &call).expect("link");
        }
        let journal = ["+12015550200".to_owned()];
        let settled = db
            .settle_interrupted_callbacks(at(30), &journal)
            .expect("settle");
        assert_eq!(
            settled,
            SettledCallbacks {
                requeued: 1,
                closed: 1
            }
        );
        let state = |p| db.callback_by_page(p).expect("read").state;
        assert_eq!(state(&pages[0]), CallbackState::Failed);
        assert_eq!(state(&pages[1]), CallbackState::Waiting);
    }

    #[test]
    fn operators_see_the_queue_and_how_far_estimates_were_from_real_waits() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        // Three booked at 10 s (estimate 90 s each, `booking`), one slot not yet due.
        let pages: Vec<SessionId> = (0..4).map(|_| SessionId::new_random()).collect();
        for (i, page) in pages.iter().take(3).enumerate() {
            let number = format!("+1201555030{i}");
            db.enqueue_callback(&a, &booking(page, &number, 10, 0), at(10))
                .expect("booked");
        }
        let mut slot = booking(&pages[3], "+12015550309", 7200, 0);
        slot.kind = CallbackKind::Scheduled;
        db.enqueue_callback(&a, &slot, at(10)).expect("slot");
        let queues = db.callback_queues(&a, at(70)).expect("queues");
        assert_eq!(
            queues,
            [RouteQueue {
                subject_code: sales(),
                waiting: 3,
                later: 1,
                dialing: 0,
                oldest_wait_secs: Some(60),
                lines_busy: 0,
            }]
        );
        // The first dialed after 60 s (estimate 90: +30), the second after 130 s (−40) and
        // reached; the third is cancelled undialed.
        let first = db
            .claim_next_callback(&a, &sales(), at(70))
            .expect("claim")
            .expect("due");
        db.callback_attempt_ended(&a, first.id, AttemptOutcome::GaveUp, at(80))
            .expect("settle");
        let second = db
            .claim_next_callback(&a, &sales(), at(140))
            .expect("claim")
            .expect("due");
        db.callback_attempt_ended(&a, second.id, AttemptOutcome::Reached, at(150))
            .expect("settle");
        let third = db.callback_by_page(&pages[2]).expect("third");
        db.cancel_callback(&a, third.id, at(160)).expect("cancel");
        let rows = db.callback_accuracy(&a, at(0), at(3600)).expect("accuracy");
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        assert_eq!(row.hour, at(0));
        assert_eq!(
            (
                row.requests,
                row.answered,
                row.abandoned,
                row.cancelled,
                row.dialed
            ),
            (4, 1, 1, 1, 2)
        );
        assert_eq!(row.mean_wait_secs, Some(95.0));
        assert_eq!(row.mae_secs, Some(35.0));
        assert_eq!(row.bias_secs, Some(-5.0));
        let listed = db
            .list_callbacks(
                &a,
                &CallbackFilter {
                    state: Some(CallbackState::Cancelled),
                    limit: 10,
                    ..CallbackFilter::default()
                },
            )
            .expect("list");
        assert_eq!(listed.iter().map(|c| c.id).collect::<Vec<_>>(), [third.id]);
        assert_eq!(
            db.list_callbacks(
                &a,
                &CallbackFilter {
                    limit: 10,
                    ..CallbackFilter::default()
                }
            )
            .expect("all")
            .len(),
            4
        );
    }
}
