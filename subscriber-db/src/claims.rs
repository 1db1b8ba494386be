//! Which agent has a call (issue 12 item 2): the claim, by personal PIN or on the console.
//! A claim is one conditional UPDATE of the call's row — only while nobody holds the call, it
//! has not ended, and the agent is an active agent of the same subscriber — so of two agents
//! claiming at once exactly one wins, whatever process or thread each request runs on.
//!
//! What this module must not do: decide whether a call is still waiting for its sign-on
//! (the runtime knows that) or talk to anyone about the outcome.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::agents::AgentId;
use crate::calls::{COLUMNS, Call, complete, from_row};
use crate::db::{Db, col};
use crate::error::{DbError, DbResult};
use crate::types::{AgentName, E164, SessionId, SubscriberId};

/// The agent a call record names: id and the display name it has now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallAgent {
    pub id: AgentId,
    /// `None` only while a record is being read (filled from the agents table).
    pub display_name: Option<AgentName>,
}

impl CallAgent {
    pub(crate) fn unnamed(id: AgentId) -> Self {
        Self {
            id,
            display_name: None,
        }
    }
}

/// How a claim went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This agent has the call now.
    Won,
    /// Another agent (or this one, earlier) already has it.
    Taken(AgentId),
    /// The call ended, or it is not this subscriber's, or the agent may not claim (disabled,
    /// another subscriber's): nothing to claim.
    Closed,
}

pub(crate) fn display_name(conn: &Connection, id: AgentId) -> DbResult<Option<AgentName>> {
    Ok(conn
        .query_row(
            "SELECT display_name FROM agents WHERE id = ?1",
            [id.0],
            |r| col(r, 0),
        )
        .optional()?)
}

/// `None`: no such call of the subscriber; `Some(None)`: nobody holds it.
fn holder(
    conn: &Connection,
    sid: &SubscriberId,
    id: &SessionId,
) -> DbResult<Option<Option<AgentId>>> {
    let holder: Option<Option<i64>> = conn
        .query_row(
            "SELECT agent_id FROM calls WHERE id = ?1 AND subscriber_id = ?2",
            params![id.as_str(), sid.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(holder.map(|agent| agent.map(AgentId)))
}

impl Db {
    /// Gives the subscriber's call `id` to `agent` unless someone has it already.
    pub fn claim_call(
        &self,
        sid: &SubscriberId,
        id: &SessionId,
        agent: AgentId,
    ) -> DbResult<Claim> {
        let conn = self.conn();
        let rows = conn.execute(
            "UPDATE calls SET agent_id = ?3
             WHERE id = ?1 AND subscriber_id = ?2 AND agent_id IS NULL AND ended_at IS NULL
               AND EXISTS (SELECT 1 FROM agents a
                           WHERE a.id = ?3 AND a.subscriber_id = ?2 AND a.active = 1)",
            params![id.as_str(), sid.as_str(), agent.0],
        )?;
        if rows == 1 {
            return Ok(Claim::Won);
        }
        match holder(&conn, sid, id)? {
            Some(Some(holder)) => Ok(Claim::Taken(holder)),
            Some(None) | None => Ok(Claim::Closed),
        }
    }

    /// The call this agent has now: the newest unfinished call they claimed.
    pub fn held_call(&self, sid: &SubscriberId, agent: AgentId) -> DbResult<Option<Call>> {
        let conn = self.conn();
        let call = conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM calls WHERE subscriber_id = ?1 AND agent_id = ?2
                     AND ended_at IS NULL ORDER BY created_at DESC LIMIT 1"
                ),
                params![sid.as_str(), agent.0],
                from_row,
            )
            .optional()?;
        call.map(|c| complete(&conn, c)).transpose()
    }

    /// The visitor's earlier calls with this subscriber (same number, newest first, at most
    /// `limit`), leaving out the call `except`: the screen-pop's history, with each wrap-up.
    pub fn earlier_calls(
        &self,
        sid: &SubscriberId,
        number: &E164,
        except: &SessionId,
        limit: u32,
    ) -> DbResult<Vec<Call>> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM calls WHERE subscriber_id = ?1 AND user_number = ?2
               AND id <> ?3 ORDER BY created_at DESC LIMIT ?4"
        ))?;
        let mut calls = statement
            .query_map(
                params![sid.as_str(), number.as_str(), except.as_str(), limit],
                from_row,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        // The wrap-up's label as the list names its code now.
        for call in &mut calls {
            if let Some(wrap_up) = &mut call.wrap_up {
                wrap_up.label = crate::wrapup::label_now(&conn, sid, &wrap_up.disposition)?;
            }
        }
        Ok(calls)
    }

    /// The agent holding the subscriber's call, if any.
    pub fn call_agent(&self, sid: &SubscriberId, id: &SessionId) -> DbResult<Option<AgentId>> {
        holder(&self.conn(), sid, id)?.ok_or(DbError::NotFound { what: "call" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewAgent;
    use crate::tests::{at, db_with, new_call, sid};

    fn agent(db: &Db, sid: &SubscriberId, login: &str) -> AgentId {
        let new: NewAgent = serde_json::from_value(serde_json::json!({
            "login": login, "display_name": format!("Agent {login}"), "password": "a long password 1",
        }))
        .expect("agent json");
        db.create_agent(sid, &new, at(0)).expect("agent").id
    }

    #[test]
    fn one_claim_wins_and_the_scope_holds() {
        let db = db_with(&["acme", "other"]);
        let (acme, other) = (sid("acme"), sid("other"));
        let id: SessionId = "0123456789abcdef0123456789abcdef".parse().expect("id");
        db.create_call(&acme, &new_call(&id, "+493055500001"), at(1))
            .expect("call");
        let (ann, bob, eve) = (
            agent(&db, &acme, "ann"),
            agent(&db, &acme, "bob"),
            agent(&db, &other, "eve"),
        );
        // Another subscriber's agent cannot claim, through either subscriber.
        assert_eq!(
            db.claim_call(&other, &id, eve).expect("claim"),
            Claim::Closed
        );
        assert_eq!(
            db.claim_call(&acme, &id, eve).expect("claim"),
            Claim::Closed
        );
        assert_eq!(db.claim_call(&acme, &id, ann).expect("claim"), Claim::Won);
        assert_eq!(
            db.claim_call(&acme, &id, bob).expect("claim"),
            Claim::Taken(ann)
        );
        assert_eq!(db.call_agent(&acme, &id).expect("holder"), Some(ann));
        let held = db.held_call(&acme, ann).expect("held").expect("ann's call");
        assert_eq!(held.id, id);
        assert!(db.held_call(&acme, bob).expect("held").is_none());
        assert!(db.held_call(&other, ann).expect("held").is_none());
        let number = "+493055500001".parse().expect("number");
        let other_id: SessionId = "1123456789abcdef0123456789abcdef".parse().expect("id");
        db.create_call(&acme, &new_call(&other_id, "+493055500001"), at(2))
            .expect("call");
        let earlier = db
            .earlier_calls(&acme, &number, &other_id, 5)
            .expect("history");
        assert_eq!(earlier.len(), 1);
        assert_eq!(earlier[0].id, id);
        assert!(
            db.earlier_calls(&other, &number, &other_id, 5)
                .expect("history")
                .is_empty()
        );
        assert!(db.call_agent(&other, &id).is_err());
        let call = db.get_call(&acme, &id).expect("call");
        let named = call.agent.expect("agent on the record");
        assert_eq!(named.id, ann);
        assert_eq!(
            named.display_name.map(|n| n.as_str().to_owned()).as_deref(),
            Some("Agent ann")
        );
    }
}
