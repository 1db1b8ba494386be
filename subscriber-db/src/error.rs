//! The errors this crate hands to its callers: one [`DbError`] for every database call, the
//! [`ValidationError`] a value gets when it is parsed at the edge, and the [`ImportError`] that
//! names the row and field of a rejected route import. Every message is a sentence a subscriber
//! or operator can act on; nothing here knows about HTTP status codes.

use thiserror::Error;

pub use words::ValidationError;

/// Why a route import stored nothing: the first bad data row (1-based, not counting a CSV
/// header) and the field in it.
#[derive(Debug, Clone, PartialEq, Eq, Error, serde::Serialize)]
#[error("row {row}, field {field}: {message}")]
pub struct ImportError {
    pub row: usize,
    pub field: &'static str,
    pub message: String,
}

/// Every way a database call can fail.
#[derive(Debug, Error)]
pub enum DbError {
    /// The object does not exist, or belongs to another subscriber (the caller cannot tell the
    /// two apart on purpose: tenant isolation).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A unique key is already taken (subscriber id, site origin, subject code, page keys...).
    #[error("{what} already exists")]
    Conflict { what: &'static str },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Every DNIS of the route's range is held by a call in progress: the range is the
    /// route's concurrent-call limit, and no call is created.
    #[error("every DNIS of the range {range} is held by a call in progress")]
    DnisRangeExhausted { range: words::DnisRange },
    /// Revoking this operator key would leave none active: nobody could manage the platform.
    #[error(
        "this is the last active operator key; create another first (`callbond admin operator-key create`)"
    )]
    LastOperatorKey,
    /// Unknown or revoked API key. Deliberately says nothing about which.
    #[error("the API key is unknown or revoked")]
    Unauthorized,
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The file was written by a newer Callbond than this one.
    #[error(
        "the database schema version is {found}, newer than the {known} this program knows; upgrade Callbond"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// A stored value no longer parses: the file was edited by hand or by a buggy version.
    #[error("stored {what} is not valid: {source}")]
    Corrupt {
        what: &'static str,
        source: ValidationError,
    },
    /// A stored JSON column no longer parses.
    #[error("stored {what} is not valid JSON: {source}")]
    CorruptJson {
        what: &'static str,
        source: serde_json::Error,
    },
    /// argon2 refused to hash: only its own parameter limits can cause this, never the input.
    #[error("the password could not be hashed; try again, and report it if it persists")]
    PasswordHash,
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl DbError {
    /// A UNIQUE or PRIMARY KEY violation becomes `Conflict { what }`; everything else stays a
    /// SQLite error.
    pub(crate) fn conflict_or(error: rusqlite::Error, what: &'static str) -> Self {
        if let rusqlite::Error::SqliteFailure(code, _) = &error {
            let unique = rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE;
            let primary = rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
            if code.extended_code == unique || code.extended_code == primary {
                return Self::Conflict { what };
            }
        }
        Self::Sqlite(error)
    }
}

/// Shorthand for this crate's results.
pub type DbResult<T> = Result<T, DbError>;
