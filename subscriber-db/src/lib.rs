//! The subscriber database: SQLite schema, migrations and typed queries. It is the only crate
//! that touches SQL and knows nothing of HTTP. Everything enters through validated types
//! ([`types`]) and every subscriber-scoped call takes the [`SubscriberId`] and answers
//! [`DbError::NotFound`] for another subscriber's object: tenant isolation lives here.
//!
//! The API is blocking; call it from `tokio::task::spawn_blocking` or a dedicated thread.
//! [`Db`] is `Send + Sync` (one connection behind a mutex).

mod error;
pub mod types;

pub use error::{DbError, DbResult, ImportError, ValidationError};
pub use types::*;
