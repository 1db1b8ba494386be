//! Agents of a subscriber (issue 12, the agent desk): who may sign in to the console, with
//! which role, and the personal PIN that will say which agent took a call.
//!
//! Secrets never reach the file in plain:
//! - the password is kept as an argon2id PHC string (RFC 9106; memory-hard, so a stolen file
//!   costs an attacker ~19 MiB and two passes per guess; the string names its algorithm,
//!   parameters and salt, so stronger parameters later verify old hashes unchanged);
//! - the PIN is kept as HMAC-SHA256 under a random per-database key (`local_secrets`) over the
//!   subscriber and the PIN. A salted hash could not be looked up or kept unique: a PIN is
//!   2–8 digits, at most 10^8 values, so uniqueness within the subscriber must be decidable by
//!   equality, and a keyed hash is deterministic per database while useless without its key.
//!
//! What this module must not do: decide about sessions, lockouts or HTTP; those are the
//! console's. Every call is scoped by [`SubscriberId`]; another subscriber's agent is
//! `NotFound`.

use std::fmt;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::db::{Db, changed, col, millis, require_subscriber, time_col};
use crate::error::{DbError, DbResult};
use crate::types::{
    AgentLogin, AgentName, AgentPassword, AgentRole, Presence, SignOnPin, SubscriberId,
};

/// An agent's database id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub i64);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An agent as listed: never a hash, only whether a PIN is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    pub id: AgentId,
    pub subscriber_id: SubscriberId,
    pub login: AgentLogin,
    pub display_name: AgentName,
    pub role: AgentRole,
    pub active: bool,
    pub has_pin: bool,
    /// Whether the agent takes calls, as set on the desk (`available` for an agent created
    /// now).
    pub presence: Presence,
    pub created_at: DateTime<Utc>,
    /// Goes up on every password reset; a console session remembers the one it began with.
    #[serde(skip)]
    pub credential_version: i64,
}

/// What it takes to create an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    pub login: AgentLogin,
    pub display_name: AgentName,
    pub password: AgentPassword,
    #[serde(default)]
    pub pin: Option<SignOnPin>,
    #[serde(default = "default_role")]
    pub role: AgentRole,
    #[serde(default = "active_by_default")]
    pub active: bool,
}

fn default_role() -> AgentRole {
    AgentRole::Agent
}

fn active_by_default() -> bool {
    true
}

/// A partial update: fields left `None` keep their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentUpdate {
    #[serde(default)]
    pub display_name: Option<AgentName>,
    #[serde(default)]
    pub role: Option<AgentRole>,
    #[serde(default)]
    pub active: Option<bool>,
    /// Absent: keep the PIN; `null`: remove it; digits: the new PIN (unique as on create).
    #[serde(
        default,
        deserialize_with = "crate::subscribers::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub pin: Option<Option<SignOnPin>>,
}

/// The outcome of checking a login and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginCheck {
    /// The password is right and the agent is active.
    Accepted(Agent),
    /// The password is right but the agent is disabled. Only someone who knows the password
    /// learns this, so it tells an attacker nothing.
    Disabled,
    /// Unknown login or wrong password: deliberately one answer.
    Refused,
}

const COLUMNS: &str = "id, subscriber_id, login, display_name, role, active, pin_hmac IS NOT NULL, created_at, credential_version, presence";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Agent> {
    Ok(Agent {
        id: AgentId(row.get(0)?),
        subscriber_id: col(row, 1)?,
        login: col(row, 2)?,
        display_name: col(row, 3)?,
        role: col(row, 4)?,
        active: row.get(5)?,
        has_pin: row.get(6)?,
        created_at: time_col(row, 7)?,
        credential_version: row.get(8)?,
        presence: col(row, 9)?,
    })
}

/// The argon2id PHC string of `password` with a fresh random salt. Argon2's default
/// parameters are RFC 9106's second recommendation as OWASP lists it (m = 19 MiB, t = 2, p = 1).
fn hash_password(password: &AgentPassword) -> DbResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| DbError::PasswordHash)
}

/// Whether `password` matches the stored PHC string (constant time inside argon2).
fn password_matches(stored: &str, password: &AgentPassword) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.expose().as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash no password matches, verified for unknown logins so they take as long as known
/// ones (no user enumeration by timing).
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let password = AgentPassword::generate();
        hash_password(&password).unwrap_or_default()
    })
}

fn pin_key(conn: &Connection) -> DbResult<Vec<u8>> {
    Ok(conn.query_row(
        "SELECT value FROM local_secrets WHERE name = 'agent_pin_key'",
        [],
        |r| r.get(0),
    )?)
}

fn pin_hmac(key: &[u8], sid: &SubscriberId, pin: &SignOnPin) -> Vec<u8> {
    // HMAC takes a key of any length; new_from_slice fails for none.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(sid.as_str().as_bytes());
    mac.update(&[0]);
    mac.update(pin.as_str().as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// A UNIQUE violation named by the index it hit: the PIN's or the login's.
fn agent_conflict(error: rusqlite::Error) -> DbError {
    let pin = error.to_string().contains("pin_hmac");
    DbError::conflict_or(
        error,
        if pin {
            "agent with this PIN"
        } else {
            "agent with this login"
        },
    )
}

impl Db {
    /// Adds an agent. Its login and PIN must be unused within the subscriber (`Conflict`).
    pub fn create_agent(
        &self,
        sid: &SubscriberId,
        new: &NewAgent,
        now: DateTime<Utc>,
    ) -> DbResult<Agent> {
        // Hashing takes tens of milliseconds: not while holding the connection.
        let password_hash = hash_password(&new.password)?;
        let id: i64 = {
            let conn = self.conn();
            require_subscriber(&conn, sid)?;
            let pin = match &new.pin {
                Some(pin) => Some(pin_hmac(&pin_key(&conn)?, sid, pin)),
                None => None,
            };
            conn.query_row(
                "INSERT INTO agents (subscriber_id, login, display_name, password_hash, pin_hmac, role, active, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                params![
                    sid.as_str(),
                    new.login.as_str(),
                    new.display_name.as_str(),
                    password_hash,
                    pin,
                    new.role.to_string(),
                    new.active,
                    millis(now)
                ],
                |r| r.get(0),
            )
            .map_err(agent_conflict)?
        };
        self.get_agent(sid, AgentId(id))
    }

    pub fn get_agent(&self, sid: &SubscriberId, id: AgentId) -> DbResult<Agent> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM agents WHERE id = ?1 AND subscriber_id = ?2"),
                params![id.0, sid.as_str()],
                from_row,
            )
            .optional()?
            .ok_or(DbError::NotFound { what: "agent" })
    }

    /// The subscriber's agents ordered by login.
    pub fn list_agents(&self, sid: &SubscriberId) -> DbResult<Vec<Agent>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM agents WHERE subscriber_id = ?1 ORDER BY login"
        ))?;
        let rows = statement.query_map([sid.as_str()], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn update_agent(
        &self,
        sid: &SubscriberId,
        id: AgentId,
        update: &AgentUpdate,
    ) -> DbResult<Agent> {
        let rows = {
            let conn = self.conn();
            let pin = match &update.pin {
                Some(Some(pin)) => Some(pin_hmac(&pin_key(&conn)?, sid, pin)),
                _ => None,
            };
            conn.execute(
                "UPDATE agents SET display_name = COALESCE(?3, display_name), role = COALESCE(?4, role), \
                 active = COALESCE(?5, active), pin_hmac = CASE WHEN ?6 THEN ?7 ELSE pin_hmac END \
                 WHERE id = ?1 AND subscriber_id = ?2",
                params![
                    id.0,
                    sid.as_str(),
                    update.display_name.as_ref().map(|n| n.as_str()),
                    update.role.map(|r| r.to_string()),
                    update.active,
                    update.pin.is_some(),
                    pin
                ],
            )
            .map_err(agent_conflict)?
        };
        changed(rows, "agent")?;
        self.get_agent(sid, id)
    }

    /// Replaces the agent's password; sessions opened with the old one stop working.
    pub fn set_agent_password(
        &self,
        sid: &SubscriberId,
        id: AgentId,
        password: &AgentPassword,
    ) -> DbResult<Agent> {
        let password_hash = hash_password(password)?;
        let rows = self.conn().execute(
            "UPDATE agents SET password_hash = ?3, credential_version = credential_version + 1 \
             WHERE id = ?1 AND subscriber_id = ?2",
            params![id.0, sid.as_str(), password_hash],
        )?;
        changed(rows, "agent")?;
        self.get_agent(sid, id)
    }

    pub fn delete_agent(&self, sid: &SubscriberId, id: AgentId) -> DbResult<()> {
        let rows = self.conn().execute(
            "DELETE FROM agents WHERE id = ?1 AND subscriber_id = ?2",
            params![id.0, sid.as_str()],
        )?;
        changed(rows, "agent")
    }

    /// Checks a console sign-in. Unknown logins cost one argon2 verification like known ones.
    pub fn check_agent_login(
        &self,
        sid: &SubscriberId,
        login: &AgentLogin,
        password: &AgentPassword,
    ) -> DbResult<LoginCheck> {
        let found: Option<(i64, String)> = self
            .conn()
            .query_row(
                "SELECT id, password_hash FROM agents WHERE subscriber_id = ?1 AND login = ?2",
                params![sid.as_str(), login.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((id, stored)) = found else {
            let _ = password_matches(decoy_hash(), password);
            return Ok(LoginCheck::Refused);
        };
        if !password_matches(&stored, password) {
            return Ok(LoginCheck::Refused);
        }
        // Re-read: the agent may have been disabled or reset while argon2 ran.
        match self.get_agent(sid, AgentId(id)) {
            Ok(agent) if agent.active => Ok(LoginCheck::Accepted(agent)),
            Ok(_) => Ok(LoginCheck::Disabled),
            Err(DbError::NotFound { .. }) => Ok(LoginCheck::Refused),
            Err(e) => Err(e),
        }
    }

    /// The agent whose personal PIN this is, if any (claim by PIN, a later slice).
    pub fn find_agent_by_pin(&self, sid: &SubscriberId, pin: &SignOnPin) -> DbResult<Agent> {
        let conn = self.conn();
        let hmac = pin_hmac(&pin_key(&conn)?, sid, pin);
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM agents WHERE subscriber_id = ?1 AND pin_hmac = ?2"),
            params![sid.as_str(), hmac],
            from_row,
        )
        .optional()?
        .ok_or(DbError::NotFound { what: "agent" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{at, db_with, sid};

    fn new_agent(login: &str, password: &str, pin: Option<&str>) -> NewAgent {
        NewAgent {
            login: login.parse().expect("login"),
            display_name: "Ann Lee".try_into().expect("name"),
            password: password.try_into().expect("password"),
            pin: pin.map(|p| p.parse().expect("pin")),
            role: AgentRole::Agent,
            active: true,
        }
    }

    #[test]
    fn logins_and_pins_are_unique_within_a_subscriber_only() {
        let db = db_with(&["alpha", "beta"]);
        let (a, b) = (sid("alpha"), sid("beta"));
        let ann = db
            .create_agent(&a, &new_agent("ann", "first password", Some("2580")), at(0))
            .expect("create");
        assert!(ann.has_pin);
        let same_login = db.create_agent(&a, &new_agent("ann", "other password", None), at(1));
        assert!(
            matches!(
                same_login,
                Err(DbError::Conflict {
                    what: "agent with this login"
                })
            ),
            "{same_login:?}"
        );
        let same_pin =
            db.create_agent(&a, &new_agent("bob", "other password", Some("2580")), at(1));
        assert!(
            matches!(
                same_pin,
                Err(DbError::Conflict {
                    what: "agent with this PIN"
                })
            ),
            "{same_pin:?}"
        );
        // Another subscriber may use both.
        db.create_agent(&b, &new_agent("ann", "first password", Some("2580")), at(2))
            .expect("beta's ann");
        assert_eq!(db.list_agents(&a).expect("list").len(), 1);
        assert_eq!(
            db.find_agent_by_pin(&a, &"2580".parse().expect("pin"))
                .expect("by pin")
                .id,
            ann.id
        );
        assert!(matches!(
            db.get_agent(&b, ann.id),
            Err(DbError::NotFound { .. })
        ));
        // PATCH-style PIN changes: taken is a conflict, null removes, digits set.
        let bob = db
            .create_agent(&a, &new_agent("bob", "bob password", None), at(3))
            .expect("bob");
        let take: AgentUpdate = serde_json::from_str(r#"{"pin":"2580"}"#).expect("json");
        assert!(matches!(
            db.update_agent(&a, bob.id, &take),
            Err(DbError::Conflict {
                what: "agent with this PIN"
            })
        ));
        let clear: AgentUpdate = serde_json::from_str(r#"{"pin":null}"#).expect("json");
        assert!(!db.update_agent(&a, ann.id, &clear).expect("clear").has_pin);
        assert!(db.update_agent(&a, bob.id, &take).expect("take").has_pin);
        let keep: AgentUpdate = serde_json::from_str(r#"{"role":"supervisor"}"#).expect("json");
        assert!(db.update_agent(&a, bob.id, &keep).expect("keep").has_pin);
        assert_eq!(
            db.find_agent_by_pin(&a, &"2580".parse().expect("pin"))
                .expect("by pin")
                .id,
            bob.id
        );
    }

    #[test]
    fn login_checks_password_and_active_and_reset_bumps_the_version() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let ann = db
            .create_agent(&a, &new_agent("ann", "first password", None), at(0))
            .expect("create");
        let login: AgentLogin = "ann".parse().expect("login");
        let right: AgentPassword = "first password".try_into().expect("pw");
        let wrong: AgentPassword = "wrong password".try_into().expect("pw");
        assert!(matches!(
            db.check_agent_login(&a, &login, &right).expect("check"),
            LoginCheck::Accepted(_)
        ));
        assert_eq!(
            db.check_agent_login(&a, &login, &wrong).expect("check"),
            LoginCheck::Refused
        );
        let nobody: AgentLogin = "nobody".parse().expect("login");
        assert_eq!(
            db.check_agent_login(&a, &nobody, &right).expect("check"),
            LoginCheck::Refused
        );
        let off = AgentUpdate {
            active: Some(false),
            ..AgentUpdate::default()
        };
        db.update_agent(&a, ann.id, &off).expect("disable");
        assert_eq!(
            db.check_agent_login(&a, &login, &right).expect("check"),
            LoginCheck::Disabled
        );
        let fresh: AgentPassword = "second password".try_into().expect("pw");
        let reset = db.set_agent_password(&a, ann.id, &fresh).expect("reset");
        assert_eq!(reset.credential_version, ann.credential_version + 1);
        assert_eq!(
            db.check_agent_login(&a, &login, &right).expect("check"),
            LoginCheck::Refused,
            "the old password no longer works"
        );
        let on = AgentUpdate {
            active: Some(true),
            ..AgentUpdate::default()
        };
        db.update_agent(&a, ann.id, &on).expect("enable");
        assert_eq!(
            db.check_agent_login(&a, &login, &right).expect("check"),
            LoginCheck::Refused
        );
        assert!(matches!(
            db.check_agent_login(&a, &login, &fresh).expect("check"),
            LoginCheck::Accepted(_)
        ));
    }

    #[test]
    fn stored_columns_hold_no_plain_secret() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        db.create_agent(
            &a,
            &new_agent("ann", "plain-password-77", Some("913746")),
            at(0),
        )
        .expect("create");
        let conn = db.conn();
        let (hash, pin): (String, Vec<u8>) = conn
            .query_row("SELECT password_hash, pin_hmac FROM agents", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("row");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("plain-password-77"));
        assert_eq!(pin.len(), 32);
        assert!(!String::from_utf8_lossy(&pin).contains("913746"));
        drop(conn);
        let json = serde_json::to_string(&db_agent(&db, &a)).expect("json");
        assert!(
            !json.contains("argon2") && !json.contains("credential"),
            "{json}"
        );
    }

    fn db_agent(db: &Db, sid: &SubscriberId) -> Agent {
        db.list_agents(sid).expect("list").remove(0)
    }

    #[test]
    fn agent_json_is_validated() {
        for bad in [
            r#"{"login":"Ann","display_name":"Ann","password":"long enough pw"}"#,
            r#"{"login":"ann","display_name":"","password":"long enough pw"}"#,
            r#"{"login":"ann","display_name":"Ann","password":"short"}"#,
            r#"{"login":"ann","display_name":"Ann","password":"long enough pw","pin":"1"}"#,
            r#"{"login":"ann","display_name":"Ann","password":"long enough pw","role":"boss"}"#,
            r#"{"login":"ann","display_name":"Ann","password":"long enough pw","x":1}"#,
        ] {
            assert!(serde_json::from_str::<NewAgent>(bad).is_err(), "{bad}");
        }
        let good: NewAgent = serde_json::from_str(
            r#"{"login":"ann","display_name":"Ann","password":"long enough pw"}"#,
        )
        .expect("defaults");
        assert_eq!(
            (good.role, good.active, good.pin),
            (AgentRole::Agent, true, None)
        );
    }
}
