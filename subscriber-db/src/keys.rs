//! API keys: bearer tokens for the admin API. A token is 256 random bits shown once at
//! creation; the database keeps only its SHA-256 and a short prefix for listing, so a copy of
//! the database file cannot be used to log in. Lookup is by hash: with 256 bits of entropy an
//! equality lookup leaks nothing useful through timing.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::{Db, changed, opt_col, opt_time_col, require_subscriber, time_col};
use crate::error::{DbError, DbResult};
use crate::types::SubscriberId;

/// Marks a string as a Callbond token (helps secret scanners and humans).
const TOKEN_PREFIX: &str = "cb_";
/// Characters of the token kept in clear for listing: `cb_` and 8 of the random part
/// (48 bits, not enough to help guess the other 208).
const LISTED_PREFIX_LEN: usize = 11;

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "subscriber_id", rename_all = "snake_case")]
pub enum Principal {
    /// Manages subscribers and everything else.
    Operator,
    /// Sees and changes only this subscriber's objects.
    Subscriber(SubscriberId),
}

/// An API key's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub i64);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What is listed about a key; never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: KeyId,
    pub principal: Principal,
    /// The first characters of the token, so an owner can tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A plaintext token. Only ever held in memory right after creation; `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ApiToken(String);

impl ApiToken {
    /// The token to hand to the owner, once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ApiToken({}…)",
            &self.0[..LISTED_PREFIX_LEN.min(self.0.len())]
        )
    }
}

/// A key just created: its listing and its token, which cannot be recovered later.
#[derive(Debug, Clone, Serialize)]
pub struct NewApiKey {
    pub key: ApiKey,
    pub token: ApiToken,
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

const COLUMNS: &str = "id, subscriber_id, prefix, created_at, revoked_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<ApiKey> {
    let subscriber: Option<SubscriberId> = opt_col(row, 1)?;
    Ok(ApiKey {
        id: KeyId(row.get(0)?),
        principal: subscriber.map_or(Principal::Operator, Principal::Subscriber),
        prefix: row.get(2)?,
        created_at: time_col(row, 3)?,
        revoked_at: opt_time_col(row, 4)?,
    })
}

impl Db {
    /// A new operator key. The token is in the answer and nowhere else.
    pub fn create_operator_key(&self, now: DateTime<Utc>) -> DbResult<NewApiKey> {
        self.insert_key(None, now)
    }

    /// A new key for one subscriber. The token is in the answer and nowhere else.
    pub fn create_subscriber_key(
        &self,
        sid: &SubscriberId,
        now: DateTime<Utc>,
    ) -> DbResult<NewApiKey> {
        self.insert_key(Some(sid), now)
    }

    fn insert_key(&self, sid: Option<&SubscriberId>, now: DateTime<Utc>) -> DbResult<NewApiKey> {
        let random: [u8; 32] = rand::random();
        let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(random));
        let prefix = &token[..LISTED_PREFIX_LEN];
        let conn = self.conn();
        if let Some(sid) = sid {
            require_subscriber(&conn, sid)?;
        }
        let id: i64 = conn.query_row(
            "INSERT INTO api_keys (subscriber_id, token_hash, prefix, created_at) VALUES (?1, ?2, ?3, ?4) RETURNING id",
            params![sid.map(SubscriberId::as_str), hash(&token), prefix, crate::db::millis(now)],
            |r| r.get(0),
        )?;
        let key = conn.query_row(
            &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
            [id],
            from_row,
        )?;
        Ok(NewApiKey {
            key,
            token: ApiToken(token),
        })
    }

    /// Who `token` speaks for; `Unauthorized` when it is unknown, malformed or revoked.
    pub fn authenticate(&self, token: &str) -> DbResult<Principal> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Err(DbError::Unauthorized);
        }
        let found = self
            .conn()
            .query_row(
                "SELECT subscriber_id FROM api_keys WHERE token_hash = ?1 AND revoked_at IS NULL",
                [hash(token)],
                |row| opt_col::<SubscriberId>(row, 0),
            )
            .optional()?;
        match found {
            Some(Some(sid)) => Ok(Principal::Subscriber(sid)),
            Some(None) => Ok(Principal::Operator),
            None => Err(DbError::Unauthorized),
        }
    }

    /// Revokes any key (operator action). Revoking twice keeps the first revocation time.
    pub fn revoke_key(&self, id: KeyId, now: DateTime<Utc>) -> DbResult<()> {
        let rows = self.conn().execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2) WHERE id = ?1",
            params![id.0, crate::db::millis(now)],
        )?;
        changed(rows, "api key")
    }

    /// Revokes an operator key; a subscriber's key is `NotFound` here. The last active operator
    /// key cannot be revoked ([`DbError::LastOperatorKey`]): nobody could manage the platform.
    /// Revoking a revoked key again keeps the first revocation time.
    pub fn revoke_operator_key(&self, id: KeyId, now: DateTime<Utc>) -> DbResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let active: Option<bool> = tx
            .query_row(
                "SELECT revoked_at IS NULL FROM api_keys WHERE id = ?1 AND subscriber_id IS NULL",
                [id.0],
                |r| r.get(0),
            )
            .optional()?;
        match active {
            None => {
                return Err(DbError::NotFound {
                    what: "operator key",
                });
            }
            Some(false) => return Ok(()),
            Some(true) => {}
        }
        let others: i64 = tx.query_row(
            "SELECT count(*) FROM api_keys WHERE subscriber_id IS NULL AND revoked_at IS NULL AND id <> ?1",
            [id.0],
            |r| r.get(0),
        )?;
        if others == 0 {
            return Err(DbError::LastOperatorKey);
        }
        tx.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1",
            params![id.0, crate::db::millis(now)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// How many operator keys are active (not revoked).
    pub fn count_active_operator_keys(&self) -> DbResult<u64> {
        let n: i64 = self.conn().query_row(
            "SELECT count(*) FROM api_keys WHERE subscriber_id IS NULL AND revoked_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Revokes one of this subscriber's keys; another subscriber's key is `NotFound`.
    pub fn revoke_subscriber_key(
        &self,
        sid: &SubscriberId,
        id: KeyId,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        let rows = self.conn().execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?3) WHERE id = ?1 AND subscriber_id = ?2",
            params![id.0, sid.as_str(), crate::db::millis(now)],
        )?;
        changed(rows, "api key")
    }

    /// This subscriber's keys, revoked ones included, oldest first.
    pub fn list_keys(&self, sid: &SubscriberId) -> DbResult<Vec<ApiKey>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE subscriber_id = ?1 ORDER BY id"
        ))?;
        let rows = statement.query_map([sid.as_str()], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The operator keys, revoked ones included, oldest first.
    pub fn list_operator_keys(&self) -> DbResult<Vec<ApiKey>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE subscriber_id IS NULL ORDER BY id"
        ))?;
        let rows = statement.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::{at, db_with, sid};
    use crate::{DbError, Principal};

    #[test]
    fn the_last_active_operator_key_cannot_be_revoked() {
        let db = db_with(&["alpha"]);
        let first = db.create_operator_key(at(0)).expect("operator");
        assert!(matches!(
            db.revoke_operator_key(first.key.id, at(1)),
            Err(DbError::LastOperatorKey)
        ));
        assert_eq!(db.count_active_operator_keys().expect("count"), 1);
        let second = db.create_operator_key(at(2)).expect("operator");
        db.revoke_operator_key(first.key.id, at(3)).expect("revoke");
        assert!(matches!(
            db.authenticate(first.token.expose()),
            Err(DbError::Unauthorized)
        ));
        // Again: the first revocation time stays; the other key is now the last one.
        db.revoke_operator_key(first.key.id, at(4)).expect("again");
        assert_eq!(
            db.list_operator_keys().expect("list")[0].revoked_at,
            Some(at(3))
        );
        assert!(matches!(
            db.revoke_operator_key(second.key.id, at(5)),
            Err(DbError::LastOperatorKey)
        ));
        // A subscriber's key is not an operator key.
        let sub = db.create_subscriber_key(&sid("alpha"), at(6)).expect("key");
        assert!(matches!(
            db.revoke_operator_key(sub.key.id, at(7)),
            Err(DbError::NotFound { .. })
        ));
        assert_eq!(db.count_active_operator_keys().expect("count"), 1);
    }

    #[test]
    fn tokens_authenticate_as_their_principal_until_revoked() {
        let db = db_with(&["alpha"]);
        let operator = db.create_operator_key(at(0)).expect("operator");
        let key = db.create_subscriber_key(&sid("alpha"), at(1)).expect("key");
        let token = key.token.expose();
        assert!(token.starts_with("cb_") && token.len() == 3 + 43, "{token}");
        assert_eq!(key.key.prefix, token[..11]);
        assert_eq!(
            db.authenticate(operator.token.expose()).expect("op"),
            Principal::Operator
        );
        assert_eq!(
            db.authenticate(token).expect("sub"),
            Principal::Subscriber(sid("alpha"))
        );

        db.revoke_subscriber_key(&sid("alpha"), key.key.id, at(2))
            .expect("revoke");
        assert!(matches!(db.authenticate(token), Err(DbError::Unauthorized)));
        let listed = db.list_keys(&sid("alpha")).expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].revoked_at, Some(at(2)));
        // Revoking again keeps the first time.
        db.revoke_key(key.key.id, at(9)).expect("revoke again");
        assert_eq!(
            db.list_keys(&sid("alpha")).expect("list")[0].revoked_at,
            Some(at(2))
        );
        assert_eq!(
            db.list_operator_keys().expect("ops"),
            vec![operator.key.clone()]
        );
        db.revoke_key(operator.key.id, at(3))
            .expect("revoke operator");
        assert!(matches!(
            db.authenticate(operator.token.expose()),
            Err(DbError::Unauthorized)
        ));
    }

    #[test]
    fn unknown_and_malformed_tokens_are_unauthorized() {
        let db = db_with(&["alpha"]);
        let key = db.create_subscriber_key(&sid("alpha"), at(0)).expect("key");
        let mut altered = key.token.expose().to_owned();
        let last = if altered.ends_with('A') { 'B' } else { 'A' };
        altered.pop();
        altered.push(last);
        for token in [
            "",
            "cb_",
            "Bearer x",
            altered.as_str(),
            &key.token.expose()[3..],
        ] {
            assert!(
                matches!(db.authenticate(token), Err(DbError::Unauthorized)),
                "{token:?}"
            );
        }
        assert!(matches!(
            db.create_subscriber_key(&sid("ghost"), at(0)),
            Err(DbError::NotFound { what: "subscriber" })
        ));
        assert!(
            format!("{:?}", key.token).len() < 30,
            "Debug must not print the token"
        );
    }
}
