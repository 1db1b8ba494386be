//! Call detail records and their event timeline. The platform creates a record when the user
//! submits a callback number, moves its state as the flow runs, appends events for every step,
//! and finishes it with end causes. Also the counts behind the capacity precondition and the
//! rate limits. Times come in as parameters: no clock in here.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::db::{Db, col, millis, opt_col, opt_time_col, require_subscriber, time_col};
use crate::error::{DbError, DbResult, ValidationError};
use crate::types::{E164, SessionId, SubjectCode, SubscriberId, WhisperCode};

/// Longest state, event kind or end-cause text: they are machine words, not prose.
const LABEL_MAX_CHARS: usize = 200;
/// Most rows one listing returns.
pub const MAX_CALLS_PER_PAGE: u32 = 1000;

/// A call as the platform creates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCall {
    pub id: SessionId,
    pub subject_code: SubjectCode,
    pub whisper_code: Option<WhisperCode>,
    pub user_number: E164,
    pub client_ip: IpAddr,
    /// The flow's state name at creation.
    pub state: String,
}

/// A call detail record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub id: SessionId,
    pub subscriber_id: SubscriberId,
    pub subject_code: SubjectCode,
    pub whisper_code: Option<WhisperCode>,
    pub user_number: E164,
    pub client_ip: IpAddr,
    pub state: String,
    pub created_at: DateTime<Utc>,
    /// `None` while the call is in progress.
    pub ended_at: Option<DateTime<Utc>>,
    pub end_cause: Option<String>,
    pub user_end_cause: Option<String>,
    pub center_end_cause: Option<String>,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEnd {
    /// The final state name stored in `state`.
    pub state: String,
    pub cause: String,
    pub user_leg_cause: Option<String>,
    pub center_leg_cause: Option<String>,
}

/// Which calls `list_calls` returns, newest first. Empty filter fields match everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallFilter {
    pub state: Option<String>,
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
    pub kind: String,
    pub detail: serde_json::Value,
}

fn check_label(field: &'static str, text: &str) -> Result<(), ValidationError> {
    if text.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    let got = text.chars().count();
    if got > LABEL_MAX_CHARS {
        return Err(ValidationError::TooLong {
            field,
            max: LABEL_MAX_CHARS,
            got,
        });
    }
    if text.chars().any(char::is_control) {
        return Err(ValidationError::ControlCharacter { field });
    }
    Ok(())
}

const COLUMNS: &str =
    "id, subscriber_id, subject_code, whisper_code, user_number, client_ip, state,
     created_at, ended_at, end_cause, user_end_cause, center_end_cause";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Call> {
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
        state: row.get(6)?,
        created_at: time_col(row, 7)?,
        ended_at: opt_time_col(row, 8)?,
        end_cause: row.get(9)?,
        user_end_cause: row.get(10)?,
        center_end_cause: row.get(11)?,
    })
}

impl Db {
    /// Records a new call. A session id already used is a `Conflict`.
    pub fn create_call(
        &self,
        sid: &SubscriberId,
        call: &NewCall,
        now: DateTime<Utc>,
    ) -> DbResult<Call> {
        check_label("state", &call.state)?;
        {
            let conn = self.conn();
            require_subscriber(&conn, sid)?;
            conn.execute(
                "INSERT INTO calls (id, subscriber_id, subject_code, whisper_code, user_number, client_ip, state, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    call.id.as_str(),
                    sid.as_str(),
                    call.subject_code.as_str(),
                    call.whisper_code.as_ref().map(WhisperCode::as_str),
                    call.user_number.as_str(),
                    call.client_ip.to_string(),
                    call.state,
                    millis(now)
                ],
            )
            .map_err(|e| DbError::conflict_or(e, "call with this session id"))?;
        }
        self.get_call(sid, &call.id)
    }

    pub fn get_call(&self, sid: &SubscriberId, id: &SessionId) -> DbResult<Call> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM calls WHERE id = ?1 AND subscriber_id = ?2"),
                params![id.as_str(), sid.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "call" })
    }

    /// A call by session id alone, for the platform's runtime (the session id is the
    /// unguessable capability the browser holds). Never expose this through the admin API.
    pub fn get_call_by_session(&self, id: &SessionId) -> DbResult<Call> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM calls WHERE id = ?1"),
                [id.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "call" })
    }

    /// Moves a call in progress to a new state; a finished call is a `Conflict`.
    pub fn update_call_state(
        &self,
        sid: &SubscriberId,
        id: &SessionId,
        state: &str,
    ) -> DbResult<()> {
        check_label("state", state)?;
        let rows = self.conn().execute(
            "UPDATE calls SET state = ?3 WHERE id = ?1 AND subscriber_id = ?2 AND ended_at IS NULL",
            params![id.as_str(), sid.as_str(), state],
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
        check_label("state", &end.state)?;
        check_label("end_cause", &end.cause)?;
        for cause in [&end.user_leg_cause, &end.center_leg_cause]
            .into_iter()
            .flatten()
        {
            check_label("leg end cause", cause)?;
        }
        let rows = self.conn().execute(
            "UPDATE calls SET state = ?3, ended_at = ?4, end_cause = ?5, user_end_cause = ?6, center_end_cause = ?7
             WHERE id = ?1 AND subscriber_id = ?2 AND ended_at IS NULL",
            params![
                id.as_str(),
                sid.as_str(),
                end.state,
                millis(now),
                end.cause,
                end.user_leg_cause,
                end.center_leg_cause
            ],
        )?;
        self.changed_unless_ended(rows, sid, id)?;
        self.get_call(sid, id)
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
                filter.state,
                filter.since.map(millis),
                filter.until.map(millis),
                filter.subject_code.as_ref().map(SubjectCode::as_str),
                filter.limit.min(MAX_CALLS_PER_PAGE),
                filter.offset
            ],
            from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Calls of the subscriber not yet finished: the capacity precondition.
    pub fn count_active_calls(&self, sid: &SubscriberId) -> DbResult<u64> {
        self.count(
            "SELECT count(*) FROM calls WHERE subscriber_id = ?1 AND ended_at IS NULL",
            params![sid.as_str()],
        )
    }

    /// Calls to this number created at or after `since`, across all subscribers (a rate limit
    /// protects the person who owns the number, whoever's site asked).
    pub fn count_recent_calls_to_number(
        &self,
        number: &E164,
        since: DateTime<Utc>,
    ) -> DbResult<u64> {
        self.count(
            "SELECT count(*) FROM calls WHERE user_number = ?1 AND created_at >= ?2",
            params![number.as_str(), millis(since)],
        )
    }

    /// Calls requested from this client IP at or after `since`, across all subscribers.
    pub fn count_recent_calls_from_ip(&self, ip: IpAddr, since: DateTime<Utc>) -> DbResult<u64> {
        self.count(
            "SELECT count(*) FROM calls WHERE client_ip = ?1 AND created_at >= ?2",
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
        kind: &str,
        detail: &serde_json::Value,
    ) -> DbResult<i64> {
        check_label("kind", kind)?;
        let detail = detail.to_string();
        self.conn()
            .query_row(
                "INSERT INTO call_events (call_id, at, kind, detail)
                 SELECT id, ?3, ?4, ?5 FROM calls WHERE id = ?1 AND subscriber_id = ?2 RETURNING seq",
                params![id.as_str(), sid.as_str(), millis(at), kind, detail],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "call" })
    }

    /// The call's timeline in the order it was written.
    pub fn list_call_events(&self, sid: &SubscriberId, id: &SessionId) -> DbResult<Vec<CallEvent>> {
        self.get_call(sid, id)?;
        let conn = self.conn();
        let mut statement = conn.prepare_cached(
            "SELECT seq, at, kind, detail FROM call_events WHERE call_id = ?1 ORDER BY seq",
        )?;
        let rows = statement.query_map([id.as_str()], |row| {
            let detail: String = row.get(3)?;
            let detail = serde_json::from_str(&detail).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(3, Type::Text, Box::new(e))
            })?;
            Ok(CallEvent {
                seq: row.get(0)?,
                at: time_col(row, 1)?,
                kind: row.get(2)?,
                detail,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::new_session_id;
    use crate::tests::{at, db_with, new_call, sid};

    fn end(cause: &str) -> CallEnd {
        CallEnd {
            state: "ended".into(),
            cause: cause.into(),
            user_leg_cause: Some("bye".into()),
            center_leg_cause: None,
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
            (created.state.as_str(), created.ended_at),
            ("dialing_user", None)
        );
        assert!(matches!(
            db.create_call(&a, &new_call(&id, "+12015550123"), at(1)),
            Err(DbError::Conflict { .. })
        ));
        assert_eq!(db.count_active_calls(&a).expect("count"), 1);
        db.update_call_state(&a, &id, "bridged").expect("state");
        assert_eq!(
            db.get_call_by_session(&id).expect("by session").state,
            "bridged"
        );

        let finished = db
            .finish_call(&a, &id, &end("user_hangup"), at(90))
            .expect("finish");
        assert_eq!(finished.ended_at, Some(at(90)));
        assert_eq!(finished.end_cause.as_deref(), Some("user_hangup"));
        assert_eq!(finished.user_end_cause.as_deref(), Some("bye"));
        assert_eq!(db.count_active_calls(&a).expect("count"), 0);
        assert!(matches!(
            db.finish_call(&a, &id, &end("again"), at(91)),
            Err(DbError::Conflict { .. })
        ));
        assert!(matches!(
            db.update_call_state(&a, &id, "late"),
            Err(DbError::Conflict { .. })
        ));
        assert_eq!(
            db.get_call(&a, &id).expect("get").end_cause.as_deref(),
            Some("user_hangup")
        );
        assert!(matches!(
            db.update_call_state(&a, &id, ""),
            Err(DbError::Invalid(ValidationError::Empty { field: "state" }))
        ));
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
        db.finish_call(&a, &ids[0], &end("done"), at(10))
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
            state: Some("ended".into()),
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
            db.count_recent_calls_to_number(&number, at(0))
                .expect("count"),
            3,
            "across subscribers"
        );
        assert_eq!(
            db.count_recent_calls_to_number(&number, at(31))
                .expect("count"),
            1
        );
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        let v6: IpAddr = "2001:db8::1".parse().expect("ip");
        assert_eq!(db.count_recent_calls_from_ip(v4, at(0)).expect("count"), 3);
        assert_eq!(db.count_recent_calls_from_ip(v6, at(0)).expect("count"), 1);
        assert_eq!(db.get_call(&a, &ids[2]).expect("get").client_ip, v6);
    }

    #[test]
    fn events_keep_order_and_millisecond_times() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let id = new_session_id();
        db.create_call(&a, &new_call(&id, "+12015550123"), at(0))
            .expect("create");
        let other = new_session_id();
        db.create_call(&a, &new_call(&other, "+12015550123"), at(0))
            .expect("create");
        let t1 = at(1) + chrono::Duration::milliseconds(123);
        let kinds = ["dialing_user", "user_answered", "bridged"];
        for (i, kind) in kinds.iter().enumerate() {
            let detail = serde_json::json!({ "step": i, "leg": "user" });
            db.append_call_event(&a, &id, t1, kind, &detail)
                .expect("append");
            db.append_call_event(&a, &other, t1, "noise", &serde_json::json!(null))
                .expect("append");
        }
        let events = db.list_call_events(&a, &id).expect("events");
        let got: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(got, kinds);
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(events[0].at, t1);
        assert_eq!(events[2].detail["step"], 2);
        let missing = new_session_id();
        assert!(matches!(
            db.append_call_event(&a, &missing, t1, "x", &serde_json::json!({})),
            Err(DbError::NotFound { .. })
        ));
    }
}
