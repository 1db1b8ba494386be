//! The subscribers table: the businesses using the platform. Operator-level calls; deleting a
//! subscriber removes everything it owns (foreign keys cascade).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::db::{Db, changed, col, millis, time_col};
use crate::error::{DbError, DbResult};
use crate::types::{SubscriberId, SubscriberName};

/// A subscriber as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriber {
    pub id: SubscriberId,
    pub display_name: SubscriberName,
    /// An inactive subscriber's links get the "not available" page; its keys still work so it
    /// can be reconfigured.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// What it takes to create a subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscriber {
    pub id: SubscriberId,
    pub display_name: SubscriberName,
    #[serde(default = "active_by_default")]
    pub active: bool,
}

fn active_by_default() -> bool {
    true
}

/// A partial update: fields left `None` keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberUpdate {
    #[serde(default)]
    pub display_name: Option<SubscriberName>,
    #[serde(default)]
    pub active: Option<bool>,
}

const COLUMNS: &str = "id, display_name, active, created_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Subscriber> {
    Ok(Subscriber {
        id: col(row, 0)?,
        display_name: col(row, 1)?,
        active: row.get(2)?,
        created_at: time_col(row, 3)?,
    })
}

impl Db {
    pub fn create_subscriber(
        &self,
        new: &NewSubscriber,
        now: DateTime<Utc>,
    ) -> DbResult<Subscriber> {
        self.conn()
            .execute(
                "INSERT INTO subscribers (id, display_name, active, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![new.id.as_str(), new.display_name.as_str(), new.active, millis(now)],
            )
            .map_err(|e| DbError::conflict_or(e, "subscriber"))?;
        self.get_subscriber(&new.id)
    }

    pub fn get_subscriber(&self, sid: &SubscriberId) -> DbResult<Subscriber> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM subscribers WHERE id = ?1"),
                [sid.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "subscriber" })
    }

    /// Every subscriber, ordered by id.
    pub fn list_subscribers(&self) -> DbResult<Vec<Subscriber>> {
        let conn = self.conn();
        let mut statement =
            conn.prepare(&format!("SELECT {COLUMNS} FROM subscribers ORDER BY id"))?;
        let rows = statement.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn update_subscriber(
        &self,
        sid: &SubscriberId,
        update: &SubscriberUpdate,
    ) -> DbResult<Subscriber> {
        let rows = self.conn().execute(
            "UPDATE subscribers SET display_name = coalesce(?2, display_name), active = coalesce(?3, active) WHERE id = ?1",
            params![sid.as_str(), update.display_name.as_ref().map(|n| n.as_str()), update.active],
        )?;
        changed(rows, "subscriber")?;
        self.get_subscriber(sid)
    }

    /// Deletes the subscriber with its keys, sites, routes, pages, policy and call records.
    pub fn delete_subscriber(&self, sid: &SubscriberId) -> DbResult<()> {
        let rows = self
            .conn()
            .execute("DELETE FROM subscribers WHERE id = ?1", [sid.as_str()])?;
        changed(rows, "subscriber")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{at, db_with, sid};

    #[test]
    fn create_get_list_update_delete() {
        let db = db_with(&["beta"]);
        let new: NewSubscriber =
            serde_json::from_str(r#"{"id":"alpha","display_name":"Alpha"}"#).expect("json");
        let created = db.create_subscriber(&new, at(5)).expect("create");
        assert!(created.active);
        assert_eq!(created.created_at, at(5));
        assert!(matches!(
            db.create_subscriber(&new, at(6)),
            Err(DbError::Conflict { .. })
        ));
        let ids: Vec<_> = db
            .list_subscribers()
            .expect("list")
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, vec![sid("alpha"), sid("beta")]);

        let update = SubscriberUpdate {
            display_name: None,
            active: Some(false),
        };
        let updated = db
            .update_subscriber(&sid("alpha"), &update)
            .expect("update");
        assert_eq!(
            (updated.active, updated.display_name.as_str()),
            (false, "Alpha")
        );
        let rename = SubscriberUpdate {
            display_name: Some("Alpha 2".try_into().expect("n")),
            active: None,
        };
        let renamed = db
            .update_subscriber(&sid("alpha"), &rename)
            .expect("rename");
        assert_eq!(
            (renamed.active, renamed.display_name.as_str()),
            (false, "Alpha 2")
        );
        assert!(matches!(
            db.update_subscriber(&sid("ghost"), &rename),
            Err(DbError::NotFound { .. })
        ));

        db.delete_subscriber(&sid("alpha")).expect("delete");
        assert!(matches!(
            db.get_subscriber(&sid("alpha")),
            Err(DbError::NotFound { .. })
        ));
    }

    #[test]
    fn input_json_is_validated() {
        for bad in [
            r#"{"id":"Alpha","display_name":"A"}"#,
            r#"{"id":"alpha","display_name":""}"#,
            r#"{"id":"alpha","display_name":"A","extra":1}"#,
        ] {
            assert!(serde_json::from_str::<NewSubscriber>(bad).is_err(), "{bad}");
        }
    }
}
