//! The subscriber database: SQLite schema, migrations and typed queries. It is the only crate
//! that touches SQL and knows nothing of HTTP. Everything enters through validated types
//! ([`types`]) and every subscriber-scoped call takes the [`SubscriberId`] and answers
//! [`DbError::NotFound`] for another subscriber's object: tenant isolation lives here.
//!
//! The API is blocking; call it from `tokio::task::spawn_blocking` or a dedicated thread.
//! [`Db`] is `Send + Sync` (one connection behind a mutex). Functions that need "now" take it
//! as a parameter.

mod agents;
mod callbacks;
mod calls;
mod claims;
mod db;
mod dialogs;
mod error;
mod import;
mod keys;
mod pages;
mod policy;
mod route_context;
mod routes;
mod schema;
mod sites;
mod subscribers;
mod wrapup;
/// The product words, re-exported so callers of this crate need only one import path.
pub use words as types;

pub use agents::{Agent, AgentId, AgentUpdate, LoginCheck, NewAgent};
pub use callbacks::{
    AccuracyRow, AttemptOutcome, Callback, CallbackFilter, CallbackId, NewCallback, RouteQueue,
    SettledCallbacks,
};
pub use calls::{
    Call, CallEnd, CallEvent, CallFilter, EndedCall, LegCdr, MAX_CALLS_PER_PAGE, NewCall,
};
pub use claims::{CallAgent, Claim};
pub use db::Db;
pub use dialogs::{EndedDial, InterruptedCall, LegDialog, OpenDial};
pub use error::{DbError, DbResult, ImportError, ValidationError};
pub use import::{ImportMode, ImportSummary, RouteInput};
pub use keys::{ApiKey, ApiToken, KeyId, NewApiKey, Principal};
pub use pages::{Page, PageContent, PageId, PageInput};
pub use policy::{
    Announcements, CallbackAttempts, CallbackPolicy, ConsentTimeoutSecs, DefaultHandleSecs,
    InitialDelaySecs, LinesPerRoute, MaxCallLengthSecs, MaxConcurrentCalls, MaxLinkLifetimeSecs,
    Policy, RetryGapSecs, RingTimeoutSecs, SignOnTimeoutSecs, SlotCapacity, SlotDays, SlotMinutes,
};
pub use route_context::{RouteContext, XHeaderNames};
pub use routes::{MAX_FALLBACK_NUMBERS, Route, Window};
pub use sites::{Site, SiteId, SiteInput, SiteSecret, SiteWithSecret};
pub use subscribers::{NewSubscriber, Subscriber, SubscriberUpdate};
pub use words::*;
pub use wrapup::{
    DeskState, Disposition, DispositionList, MAX_DISPOSITIONS, WrapUp, WrapUpOutcome,
};

#[cfg(test)]
mod tests;
