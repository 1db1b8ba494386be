//! Sites: the web origins a subscriber allows to carry speak-to-agent links, each with the
//! random secret that signs those links (TAG1 `sig`). The secret is generated here, never chosen
//! by a user, and is left out of the default [`Site`] view so listing sites does not spread it.

use std::fmt;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize, Serializer};

use crate::db::{Db, changed, col, millis, require_subscriber, time_col};
use crate::error::{DbError, DbResult};
use crate::types::{Origin, SubscriberId};

/// A site's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SiteId(pub i64);

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A site without its secret: what listings and lookups return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub id: SiteId,
    pub subscriber_id: SubscriberId,
    pub origin: Origin,
    /// Whether links without `exp`/`sig` are accepted from this origin.
    pub accept_unsigned: bool,
    pub created_at: DateTime<Utc>,
}

/// What a subscriber sets on a site (create and full update).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteInput {
    pub origin: Origin,
    #[serde(default)]
    pub accept_unsigned: bool,
}

/// A site's 256-bit link-signing key. Serialized as lower-case hex for its owner; `Debug`
/// hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SiteSecret([u8; 32]);

impl SiteSecret {
    fn random() -> Self {
        Self(rand::random())
    }

    /// The key bytes for HMAC.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for SiteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SiteSecret(…)")
    }
}

impl Serialize for SiteSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

/// A site with its secret: answered once at creation (and on purpose by `get_site_secret`).
#[derive(Debug, Clone, Serialize)]
pub struct SiteWithSecret {
    #[serde(flatten)]
    pub site: Site,
    pub secret: SiteSecret,
}

const COLUMNS: &str = "id, subscriber_id, origin, accept_unsigned, created_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Site> {
    Ok(Site {
        id: SiteId(row.get(0)?),
        subscriber_id: col(row, 1)?,
        origin: col(row, 2)?,
        accept_unsigned: row.get(3)?,
        created_at: time_col(row, 4)?,
    })
}

fn secret_from_row(row: &Row<'_>) -> rusqlite::Result<SiteSecret> {
    let bytes: Vec<u8> = row.get(0)?;
    let array: [u8; 32] = bytes.try_into().map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, "secret".into(), rusqlite::types::Type::Blob)
    })?;
    Ok(SiteSecret(array))
}

impl Db {
    /// Registers an origin with a fresh secret. The same origin twice for one subscriber is a
    /// `Conflict`.
    pub fn create_site(
        &self,
        sid: &SubscriberId,
        input: &SiteInput,
        now: DateTime<Utc>,
    ) -> DbResult<SiteWithSecret> {
        let secret = SiteSecret::random();
        let id: i64 = {
            let conn = self.conn();
            require_subscriber(&conn, sid)?;
            conn.query_row(
                "INSERT INTO sites (subscriber_id, origin, secret, accept_unsigned, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                params![
                    sid.as_str(),
                    input.origin.as_str(),
                    secret.0,
                    input.accept_unsigned,
                    millis(now)
                ],
                |r| r.get(0),
            )
            .map_err(|e| DbError::conflict_or(e, "site with this origin"))?
        };
        let site = self.get_site(sid, SiteId(id))?;
        Ok(SiteWithSecret { site, secret })
    }

    pub fn get_site(&self, sid: &SubscriberId, id: SiteId) -> DbResult<Site> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM sites WHERE id = ?1 AND subscriber_id = ?2"),
                params![id.0, sid.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "site" })
    }

    /// The subscriber's sites ordered by origin.
    pub fn list_sites(&self, sid: &SubscriberId) -> DbResult<Vec<Site>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM sites WHERE subscriber_id = ?1 ORDER BY origin"
        ))?;
        let rows = statement.query_map([sid.as_str()], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Changes origin and `accept_unsigned`; the secret stays.
    pub fn update_site(&self, sid: &SubscriberId, id: SiteId, input: &SiteInput) -> DbResult<Site> {
        let rows = self
            .conn()
            .execute(
                "UPDATE sites SET origin = ?3, accept_unsigned = ?4 WHERE id = ?1 AND subscriber_id = ?2",
                params![id.0, sid.as_str(), input.origin.as_str(), input.accept_unsigned],
            )
            .map_err(|e| DbError::conflict_or(e, "site with this origin"))?;
        changed(rows, "site")?;
        self.get_site(sid, id)
    }

    pub fn delete_site(&self, sid: &SubscriberId, id: SiteId) -> DbResult<()> {
        let rows = self.conn().execute(
            "DELETE FROM sites WHERE id = ?1 AND subscriber_id = ?2",
            params![id.0, sid.as_str()],
        )?;
        changed(rows, "site")
    }

    /// The subscriber's site registered for this origin (the browser's `Origin`/`Referer`),
    /// `NotFound` when the origin is not registered.
    pub fn find_site_for_origin(&self, sid: &SubscriberId, origin: &Origin) -> DbResult<Site> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM sites WHERE subscriber_id = ?1 AND origin = ?2"),
                params![sid.as_str(), origin.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "site" })
    }

    /// The site's link-signing secret, for verifying TAG1 signatures or showing it to its owner.
    pub fn get_site_secret(&self, sid: &SubscriberId, id: SiteId) -> DbResult<SiteSecret> {
        self.conn()
            .query_row(
                "SELECT secret FROM sites WHERE id = ?1 AND subscriber_id = ?2",
                params![id.0, sid.as_str()],
                secret_from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "site" })
    }

    /// Replaces the secret (after a leak); links signed with the old one stop verifying.
    pub fn rotate_site_secret(&self, sid: &SubscriberId, id: SiteId) -> DbResult<SiteSecret> {
        let secret = SiteSecret::random();
        let rows = self.conn().execute(
            "UPDATE sites SET secret = ?3 WHERE id = ?1 AND subscriber_id = ?2",
            params![id.0, sid.as_str(), secret.0],
        )?;
        changed(rows, "site")?;
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{at, db_with, sid};

    fn input(origin: &str, accept_unsigned: bool) -> SiteInput {
        SiteInput {
            origin: origin.parse().expect("origin"),
            accept_unsigned,
        }
    }

    #[test]
    fn create_returns_a_random_secret_that_listings_do_not_show() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let first = db
            .create_site(&a, &input("https://shop.example", false), at(1))
            .expect("site");
        let second = db
            .create_site(&a, &input("https://other.example", true), at(2))
            .expect("site");
        assert_ne!(first.secret, second.secret);
        assert_eq!(
            db.get_site_secret(&a, first.site.id).expect("secret"),
            first.secret
        );

        let json = serde_json::to_value(&first).expect("with secret");
        assert_eq!(json["secret"], first.secret.to_hex());
        assert_eq!(json["origin"], "https://shop.example");
        let listed = serde_json::to_string(&db.list_sites(&a).expect("list")).expect("json");
        assert!(!listed.contains(&first.secret.to_hex()) && !listed.contains("secret"));
        assert!(!format!("{:?}", first.secret).contains(&first.secret.to_hex()[..8]));

        let rotated = db.rotate_site_secret(&a, first.site.id).expect("rotate");
        assert_ne!(rotated, first.secret);
        assert_eq!(
            db.get_site_secret(&a, first.site.id).expect("secret"),
            rotated
        );
    }

    #[test]
    fn origins_are_unique_per_subscriber_and_found_normalized() {
        let db = db_with(&["alpha", "beta"]);
        let (a, b) = (sid("alpha"), sid("beta"));
        let site = db
            .create_site(&a, &input("https://Shop.Example:443/", false), at(1))
            .expect("site")
            .site;
        assert!(matches!(
            db.create_site(&a, &input("https://shop.example", true), at(2)),
            Err(DbError::Conflict { .. })
        ));
        db.create_site(&b, &input("https://shop.example", true), at(2))
            .expect("same origin for b");
        let browser_origin: Origin = "https://shop.example".parse().expect("origin");
        assert_eq!(
            db.find_site_for_origin(&a, &browser_origin)
                .expect("find")
                .id,
            site.id
        );
        let other: Origin = "http://shop.example".parse().expect("origin");
        assert!(matches!(
            db.find_site_for_origin(&a, &other),
            Err(DbError::NotFound { .. })
        ));

        let updated = db
            .update_site(&a, site.id, &input("https://new.example", true))
            .expect("update");
        assert!(updated.accept_unsigned);
        assert_eq!(updated.origin.as_str(), "https://new.example");
        db.delete_site(&a, site.id).expect("delete");
        assert!(matches!(
            db.get_site(&a, site.id),
            Err(DbError::NotFound { .. })
        ));
    }
}
