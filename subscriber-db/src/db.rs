//! Opening the database: connection settings (WAL, foreign keys, busy timeout), migrations by
//! `PRAGMA user_version`, and the small helpers every table module uses to read typed columns.
//! Table modules add their methods to [`Db`] in their own `impl` blocks.

use std::path::Path;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row};

use crate::error::{DbError, DbResult};
use crate::schema::MIGRATIONS;
use crate::types::SubscriberId;

/// How long a writer waits for another connection's lock (the CLI and the server may share a
/// file) before SQLite answers `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The subscriber database. One connection behind a mutex: SQLite serializes writers anyway,
/// and the platform calls it from blocking threads.
pub struct Db {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> DbResult<Self> {
        Self::setup(Connection::open(path)?)
    }

    /// A private in-memory database with the full schema, for tests and tools.
    pub fn open_in_memory() -> DbResult<Self> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> DbResult<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets readers (admin API listings) run while the call flow writes events. An
        // in-memory database answers "memory" here, which is fine.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        // NORMAL is durable across application crashes in WAL mode and much faster than FULL;
        // a power cut may lose the last transactions, acceptable for CDRs and admin edits.
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// The schema version (`PRAGMA user_version`), equal to the number of migrations applied.
    pub fn schema_version(&self) -> DbResult<i64> {
        Ok(user_version(&self.conn())?)
    }

    /// SQLite's `PRAGMA integrity_check`: `["ok"]` for a sound file, else one line per
    /// problem found (at most 100).
    pub fn integrity_check(&self) -> DbResult<Vec<String>> {
        let conn = self.conn();
        let mut statement = conn.prepare("PRAGMA integrity_check")?;
        let lines = statement
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(lines)
    }

    /// The connection. A panic in another thread while it held the lock cannot leave a
    /// transaction open (rusqlite rolls back on drop), so a poisoned lock is still usable.
    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies every migration past the file's `user_version`, each in its own transaction together
/// with the version bump, so a crash leaves the file at a whole version.
fn migrate(conn: &mut Connection) -> DbResult<()> {
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    let found = user_version(conn)?;
    if found > known {
        return Err(DbError::SchemaTooNew { found, known });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        // PRAGMA takes no bound parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", index + 1))?;
        tx.commit()?;
        tracing::info!(version = index + 1, "subscriber database migrated");
    }
    Ok(())
}

/// Reads a text column into a validated type; a stored value that no longer parses is a
/// conversion error rather than a panic.
pub(crate) fn col<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = row.get(idx)?;
    text.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// Like [`col`] for a nullable column.
pub(crate) fn opt_col<T>(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<T>>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: Option<String> = row.get(idx)?;
    text.map(|t| {
        t.parse()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
    })
    .transpose()
}

/// Unix milliseconds as stored.
pub(crate) fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// Reads a unix-milliseconds column.
pub(crate) fn time_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let ms: i64 = row.get(idx)?;
    DateTime::from_timestamp_millis(ms).ok_or(rusqlite::Error::IntegralValueOutOfRange(idx, ms))
}

/// Like [`time_col`] for a nullable column.
pub(crate) fn opt_time_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let ms: Option<i64> = row.get(idx)?;
    ms.map(|ms| {
        DateTime::from_timestamp_millis(ms).ok_or(rusqlite::Error::IntegralValueOutOfRange(idx, ms))
    })
    .transpose()
}

/// `NotFound { what: "subscriber" }` unless the subscriber exists. Used before inserting a
/// subscriber-owned row, so the caller gets a clear error instead of a foreign-key failure.
pub(crate) fn require_subscriber(conn: &Connection, sid: &SubscriberId) -> DbResult<()> {
    conn.query_row(
        "SELECT 1 FROM subscribers WHERE id = ?1",
        [sid.as_str()],
        |_| Ok(()),
    )
    .optional()?
    .ok_or(DbError::NotFound { what: "subscriber" })
}

/// `Ok` when a statement changed a row, `NotFound { what }` when it matched none (absent, or
/// another subscriber's).
pub(crate) fn changed(rows: usize, what: &'static str) -> DbResult<()> {
    if rows == 0 {
        Err(DbError::NotFound { what })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_has_every_migration_and_reopening_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("callbond.db");
        let known = MIGRATIONS.len() as i64;
        let first = Db::open(&path).expect("first open");
        assert_eq!(first.schema_version().expect("version"), known);
        drop(first);
        let second = Db::open(&path).expect("second open");
        assert_eq!(second.schema_version().expect("version"), known);
        let conn = second.conn();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal");
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .expect("foreign keys");
        assert_eq!(fk, 1);
        drop(conn);
        assert_eq!(second.integrity_check().expect("check"), ["ok"]);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("future.db");
        drop(Db::open(&path).expect("create"));
        let conn = Connection::open(&path).expect("raw open");
        conn.execute_batch("PRAGMA user_version = 999")
            .expect("bump");
        drop(conn);
        match Db::open(&path) {
            Err(DbError::SchemaTooNew { found: 999, .. }) => {}
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }
}
