//! The subscribers table: the businesses using the platform. Operator-level calls; deleting a
//! subscriber removes everything it owns (foreign keys cascade).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::db::{Db, changed, col, millis, opt_col, time_col};
use crate::error::{DbError, DbResult};
use crate::types::{AccentColor, LogoUrl, PromoHtml, SubscriberId, SubscriberName};

/// A subscriber as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscriber {
    pub id: SubscriberId,
    pub display_name: SubscriberName,
    /// An inactive subscriber's links get the "not available" page; its keys still work so it
    /// can be reconfigured.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// The visitor's pages show this image beside the name (https only).
    pub logo_url: Option<LogoUrl>,
    /// The pages' header and buttons take this colour, with a text colour readable on it.
    pub accent_color: Option<AccentColor>,
    /// Shown sandboxed on the Connect page while the visitor waits (seed 002 step 205).
    pub promo_html: Option<PromoHtml>,
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

/// A partial update: fields left out keep their value. The branding fields also take `null`,
/// which removes them (`Some(None)`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberUpdate {
    #[serde(default)]
    pub display_name: Option<SubscriberName>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub logo_url: Option<Option<LogoUrl>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub accent_color: Option<Option<AccentColor>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub promo_html: Option<Option<PromoHtml>>,
}

/// A field that is present, `null` included: `Some(None)` for `null`, `Some(Some(v))` for a
/// value; a field left out stays `None` through `#[serde(default)]`.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

const COLUMNS: &str = "id, display_name, active, created_at, logo_url, accent_color, promo_html";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Subscriber> {
    Ok(Subscriber {
        id: col(row, 0)?,
        display_name: col(row, 1)?,
        active: row.get(2)?,
        created_at: time_col(row, 3)?,
        logo_url: opt_col(row, 4)?,
        accent_color: opt_col(row, 5)?,
        promo_html: opt_col(row, 6)?,
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
        // For each branding field: ?N = whether it is set at all, ?N+1 = its new value.
        let set = |field: bool| i64::from(field);
        let rows = self.conn().execute(
            "UPDATE subscribers SET display_name = coalesce(?2, display_name), active = coalesce(?3, active),
                 logo_url = CASE WHEN ?4 THEN ?5 ELSE logo_url END,
                 accent_color = CASE WHEN ?6 THEN ?7 ELSE accent_color END,
                 promo_html = CASE WHEN ?8 THEN ?9 ELSE promo_html END
             WHERE id = ?1",
            params![
                sid.as_str(),
                update.display_name.as_ref().map(|n| n.as_str()),
                update.active,
                set(update.logo_url.is_some()),
                update.logo_url.clone().flatten().map(String::from),
                set(update.accent_color.is_some()),
                update.accent_color.flatten().map(|c| c.hex()),
                set(update.promo_html.is_some()),
                update.promo_html.clone().flatten().map(String::from),
            ],
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
            active: Some(false),
            ..SubscriberUpdate::default()
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
            ..SubscriberUpdate::default()
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
    fn branding_is_set_kept_and_removed_by_null() {
        let db = db_with(&["acme"]);
        let set: SubscriberUpdate = serde_json::from_str(
            r##"{"logo_url":"https://cdn.acme.example/logo.svg","accent_color":"#C0FFEE","promo_html":"<p>10% off</p>"}"##,
        )
        .expect("json");
        let after = db.update_subscriber(&sid("acme"), &set).expect("set");
        assert_eq!(
            after.logo_url.as_ref().map(LogoUrl::as_str),
            Some("https://cdn.acme.example/logo.svg")
        );
        assert_eq!(
            after.accent_color.map(|c| c.hex()).as_deref(),
            Some("#c0ffee")
        );
        assert_eq!(
            after.promo_html.as_ref().map(PromoHtml::as_str),
            Some("<p>10% off</p>")
        );
        // A rename leaves the branding alone.
        let rename: SubscriberUpdate =
            serde_json::from_str(r#"{"display_name":"Acme 2"}"#).expect("json");
        let renamed = db.update_subscriber(&sid("acme"), &rename).expect("rename");
        assert_eq!(renamed.logo_url, after.logo_url);
        assert_eq!(renamed.promo_html, after.promo_html);
        // null removes one field and keeps the others.
        let clear: SubscriberUpdate = serde_json::from_str(r#"{"logo_url":null}"#).expect("json");
        assert_eq!(clear.logo_url, Some(None));
        let cleared = db.update_subscriber(&sid("acme"), &clear).expect("clear");
        assert_eq!(cleared.logo_url, None);
        assert_eq!(cleared.accent_color, after.accent_color);
        for bad in [
            r#"{"logo_url":"http://cdn.acme.example/logo.svg"}"#,
            r#"{"accent_color":"blue"}"#,
            r#"{"promo_html":""}"#,
        ] {
            assert!(
                serde_json::from_str::<SubscriberUpdate>(bad).is_err(),
                "{bad}"
            );
        }
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
