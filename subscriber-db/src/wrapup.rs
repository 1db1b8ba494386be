//! Wrap-up and presence (issue 12 item 5): the subscriber's list of dispositions, the
//! disposition and notes an agent gives a call after it ended, and whether an agent takes
//! calls. A subscriber with a list requires a wrap-up: from the moment its first list is put
//! (`subscribers.wrap_up_since`), the newest call an agent claimed that has ended without one
//! keeps that agent in wrap-up, and an agent in wrap-up, on a call or away is offered no call.
//!
//! The wrap-up is one conditional UPDATE (the agent's own ended call, not wrapped up yet, a
//! code of the list), so a second submit or another agent's changes nothing.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::agents::AgentId;
use crate::calls::{COLUMNS, Call, complete, from_row};
use crate::db::{Db, col, millis, opt_col, require_subscriber, time_col};
use crate::error::{DbError, DbResult};
use crate::types::{
    DispositionCode, DispositionLabel, Presence, SessionId, SubscriberId, ValidationError,
    WrapUpNotes,
};

/// Longest disposition list: a desk shows it as one choice.
pub const MAX_DISPOSITIONS: usize = 50;

/// One entry of a subscriber's disposition list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disposition {
    pub code: DispositionCode,
    pub label: DispositionLabel,
}

/// The list as the admin API reads and writes it, in the order the desk shows it. An empty
/// list turns the wrap-up off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispositionList {
    pub dispositions: Vec<Disposition>,
}

/// The wrap-up a call record carries once the agent gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrapUp {
    pub disposition: DispositionCode,
    /// The code's label in the list now; `None` once the code left the list.
    pub label: Option<DispositionLabel>,
    pub notes: WrapUpNotes,
    pub at: DateTime<Utc>,
}

/// How a wrap-up went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapUpOutcome {
    Stored,
    /// The code is not in the subscriber's list.
    UnknownDisposition,
    /// The call is not this agent's ended call waiting for its wrap-up (another agent's, still
    /// running, wrapped up already, or no such call).
    NotPending,
}

/// What an agent can take now, the desk's presence.
#[derive(Debug, Clone, PartialEq)]
pub enum DeskState {
    /// Has a call (the screen-pop shows it).
    OnCall(SessionId),
    /// A call ended and its wrap-up is due.
    WrapUp(Box<Call>),
    /// As the agent set it.
    Set(Presence),
}

impl DeskState {
    /// Offers go to this agent.
    pub fn takes_offers(&self) -> bool {
        matches!(self, DeskState::Set(Presence::Available))
    }
}

fn disposition_from_row(row: &Row<'_>) -> rusqlite::Result<Disposition> {
    Ok(Disposition {
        code: col(row, 0)?,
        label: col(row, 1)?,
    })
}

impl Db {
    /// The subscriber's disposition list, in its order.
    pub fn dispositions(&self, sid: &SubscriberId) -> DbResult<Vec<Disposition>> {
        let conn = self.conn();
        require_subscriber(&conn, sid)?;
        let mut statement = conn.prepare_cached(
            "SELECT code, label FROM dispositions WHERE subscriber_id = ?1 ORDER BY position",
        )?;
        let list = statement
            .query_map([sid.as_str()], disposition_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(list)
    }

    /// Replaces the list. At most [`MAX_DISPOSITIONS`], codes unique. The first non-empty
    /// list starts requiring wrap-ups (calls ended before are not asked for one); an empty
    /// list stops it.
    pub fn put_dispositions(
        &self,
        sid: &SubscriberId,
        list: &[Disposition],
        now: DateTime<Utc>,
    ) -> DbResult<Vec<Disposition>> {
        if list.len() > MAX_DISPOSITIONS {
            return Err(DbError::Invalid(ValidationError::TooMany {
                field: "dispositions",
                max: MAX_DISPOSITIONS,
                got: list.len(),
            }));
        }
        for (i, d) in list.iter().enumerate() {
            if list[..i].iter().any(|e| e.code == d.code) {
                return Err(DbError::Conflict {
                    what: "disposition code",
                });
            }
        }
        let mut conn = self.conn();
        require_subscriber(&conn, sid)?;
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM dispositions WHERE subscriber_id = ?1",
            [sid.as_str()],
        )?;
        for (position, d) in list.iter().enumerate() {
            tx.execute(
                "INSERT INTO dispositions (subscriber_id, position, code, label)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    sid.as_str(),
                    i64::try_from(position).unwrap_or(i64::MAX),
                    d.code.as_str(),
                    d.label.as_str()
                ],
            )?;
        }
        if list.is_empty() {
            tx.execute(
                "UPDATE subscribers SET wrap_up_since = NULL WHERE id = ?1",
                [sid.as_str()],
            )?;
        } else {
            tx.execute(
                "UPDATE subscribers SET wrap_up_since = coalesce(wrap_up_since, ?2) WHERE id = ?1",
                params![sid.as_str(), millis(now)],
            )?;
        }
        tx.commit()?;
        drop(conn);
        self.dispositions(sid)
    }

    /// The agent's newest claimed call if it ended without the wrap-up its subscriber asks
    /// for.
    pub fn pending_wrap_up(&self, sid: &SubscriberId, agent: AgentId) -> DbResult<Option<Call>> {
        let conn = self.conn();
        let call = conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM calls c
                     WHERE c.id = (SELECT id FROM calls WHERE subscriber_id = ?1 AND agent_id = ?2
                                   ORDER BY created_at DESC LIMIT 1)
                       AND c.ended_at IS NOT NULL AND c.wrapped_up_at IS NULL
                       AND c.ended_at >= (SELECT wrap_up_since FROM subscribers WHERE id = ?1)"
                ),
                params![sid.as_str(), agent.0],
                from_row,
            )
            .optional()?;
        call.map(|c| complete(&conn, c)).transpose()
    }

    /// Stores the agent's wrap-up of `call`: see [`WrapUpOutcome`].
    pub fn wrap_up(
        &self,
        sid: &SubscriberId,
        agent: AgentId,
        call: &SessionId,
        disposition: &DispositionCode,
        notes: &WrapUpNotes,
        now: DateTime<Utc>,
    ) -> DbResult<WrapUpOutcome> {
        let conn = self.conn();
        let known: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM dispositions WHERE subscriber_id = ?1 AND code = ?2)",
            params![sid.as_str(), disposition.as_str()],
            |row| row.get(0),
        )?;
        if !known {
            return Ok(WrapUpOutcome::UnknownDisposition);
        }
        let rows = conn.execute(
            "UPDATE calls SET disposition = ?4, notes = ?5, wrapped_up_at = ?6
             WHERE id = ?1 AND subscriber_id = ?2 AND agent_id = ?3
               AND ended_at IS NOT NULL AND wrapped_up_at IS NULL",
            params![
                call.as_str(),
                sid.as_str(),
                agent.0,
                disposition.as_str(),
                notes.as_str(),
                millis(now)
            ],
        )?;
        Ok(if rows == 1 {
            WrapUpOutcome::Stored
        } else {
            WrapUpOutcome::NotPending
        })
    }

    /// Sets whether the agent takes calls.
    pub fn set_presence(
        &self,
        sid: &SubscriberId,
        agent: AgentId,
        presence: Presence,
    ) -> DbResult<()> {
        let rows = self.conn().execute(
            "UPDATE agents SET presence = ?3 WHERE id = ?1 AND subscriber_id = ?2",
            params![agent.0, sid.as_str(), crate::types::Word::word(&presence)],
        )?;
        if rows == 0 {
            return Err(DbError::NotFound { what: "agent" });
        }
        Ok(())
    }

    /// What the agent can take now: a call they have, a wrap-up due, or their presence.
    pub fn desk_state(&self, sid: &SubscriberId, agent: AgentId) -> DbResult<DeskState> {
        if let Some(call) = self.held_call(sid, agent)? {
            return Ok(DeskState::OnCall(call.id));
        }
        if let Some(call) = self.pending_wrap_up(sid, agent)? {
            return Ok(DeskState::WrapUp(Box::new(call)));
        }
        let presence = self
            .conn()
            .query_row(
                "SELECT presence FROM agents WHERE id = ?1 AND subscriber_id = ?2",
                params![agent.0, sid.as_str()],
                |row| col::<Presence>(row, 0),
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "agent" })?;
        Ok(DeskState::Set(presence))
    }
}

/// The label `code` has in the subscriber's list now.
pub(crate) fn label_now(
    conn: &Connection,
    sid: &SubscriberId,
    code: &DispositionCode,
) -> DbResult<Option<DispositionLabel>> {
    let label: Option<String> = conn
        .query_row(
            "SELECT label FROM dispositions WHERE subscriber_id = ?1 AND code = ?2",
            params![sid.as_str(), code.as_str()],
            |row| row.get(0),
        )
        .optional()?;
    Ok(label.and_then(|l| DispositionLabel::try_from(l).ok()))
}

/// The wrap-up columns of a call row (`disposition, notes, wrapped_up_at` at `first`), with
/// the label the code has in the list now filled in later.
pub(crate) fn wrap_up_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Option<WrapUp>> {
    let Some(disposition) = opt_col::<DispositionCode>(row, first)? else {
        return Ok(None);
    };
    let notes: Option<WrapUpNotes> = opt_col(row, first + 1)?;
    Ok(Some(WrapUp {
        disposition,
        label: None,
        notes: notes.unwrap_or_default(),
        at: time_col(row, first + 2)?,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::NewAgent;
    use crate::tests::{db_with, new_call, sid};

    fn db_with_subscriber() -> (Db, SubscriberId) {
        (db_with(&["acme"]), sid("acme"))
    }

    fn list(codes: &[(&str, &str)]) -> Vec<Disposition> {
        codes
            .iter()
            .map(|(code, label)| Disposition {
                code: code.parse().unwrap(),
                label: (*label).try_into().unwrap(),
            })
            .collect()
    }

    #[test]
    fn a_list_is_put_in_order_and_bad_lists_change_nothing() {
        let (db, sid) = db_with_subscriber();
        let now = Utc::now();
        let put = db
            .put_dispositions(
                &sid,
                &list(&[("sale", "Sale made"), ("info", "Information")]),
                now,
            )
            .unwrap();
        assert_eq!(put, list(&[("sale", "Sale made"), ("info", "Information")]));
        let twice = list(&[("sale", "A"), ("sale", "B")]);
        assert!(matches!(
            db.put_dispositions(&sid, &twice, now),
            Err(DbError::Conflict { .. })
        ));
        let many: Vec<Disposition> = (0..=MAX_DISPOSITIONS)
            .map(|i| Disposition {
                code: format!("c{i}").parse().unwrap(),
                label: "x".try_into().unwrap(),
            })
            .collect();
        assert!(matches!(
            db.put_dispositions(&sid, &many, now),
            Err(DbError::Invalid(ValidationError::TooMany { got: 51, .. }))
        ));
        assert_eq!(db.dispositions(&sid).unwrap(), put);
        for bad in ["Sale", "", "a b", &"x".repeat(33)] {
            assert!(bad.parse::<DispositionCode>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_newest_ended_claimed_call_waits_for_its_wrap_up_once_a_list_exists() {
        let (db, sid) = db_with_subscriber();
        let new: NewAgent = serde_json::from_value(serde_json::json!({
            "login": "ann", "display_name": "Ann", "password": "wrap-up-Secret-1",
        }))
        .unwrap();
        let ann = db.create_agent(&sid, &new, Utc::now()).unwrap().id;
        let id: SessionId = "2123456789abcdef0123456789abcdef".parse().unwrap();
        db.create_call(&sid, &new_call(&id, "+14155550123"), Utc::now())
            .unwrap();
        assert_eq!(db.claim_call(&sid, &id, ann).unwrap(), crate::Claim::Won);
        assert!(matches!(
            db.desk_state(&sid, ann).unwrap(),
            DeskState::OnCall(_)
        ));
        db.conn()
            .execute(
                "UPDATE calls SET ended_at = created_at + 1000, state = 'ended' WHERE id = ?1",
                [id.as_str()],
            )
            .unwrap();
        // No list: no wrap-up.
        assert_eq!(
            db.desk_state(&sid, ann).unwrap(),
            DeskState::Set(Presence::Available)
        );
        // A list put after the call ended asks nothing of it.
        let later = Utc::now() + chrono::Duration::hours(1);
        db.put_dispositions(&sid, &list(&[("sale", "Sale made")]), later)
            .unwrap();
        assert!(db.pending_wrap_up(&sid, ann).unwrap().is_none());
        // With the list in force from before the call, it is due.
        db.conn()
            .execute("UPDATE subscribers SET wrap_up_since = 0", [])
            .unwrap();
        assert!(matches!(
            db.desk_state(&sid, ann).unwrap(),
            DeskState::WrapUp(_)
        ));
        let notes: WrapUpNotes = "Wants a call back\nabout the contract".try_into().unwrap();
        let sale: DispositionCode = "sale".parse().unwrap();
        let unknown: DispositionCode = "nope".parse().unwrap();
        let now = Utc::now();
        assert_eq!(
            db.wrap_up(&sid, ann, &id, &unknown, &notes, now).unwrap(),
            WrapUpOutcome::UnknownDisposition
        );
        assert_eq!(
            db.wrap_up(&sid, ann, &id, &sale, &notes, now).unwrap(),
            WrapUpOutcome::Stored
        );
        assert_eq!(
            db.wrap_up(&sid, ann, &id, &sale, &notes, now).unwrap(),
            WrapUpOutcome::NotPending,
            "a second submit changes nothing"
        );
        let stored = db.get_call(&sid, &id).unwrap().wrap_up.unwrap();
        assert_eq!(stored.disposition, sale);
        assert_eq!(stored.label.unwrap().as_str(), "Sale made");
        assert_eq!(stored.notes, notes);
        db.set_presence(&sid, ann, Presence::Away).unwrap();
        let state = db.desk_state(&sid, ann).unwrap();
        assert_eq!(state, DeskState::Set(Presence::Away));
        assert!(!state.takes_offers());
    }
}
