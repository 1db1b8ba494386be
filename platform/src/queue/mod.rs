//! The callback queue's logic without I/O (issue 13): the wait estimator. The scheduler, the
//! durable queue (subscriber-db) and the visitor's page build on it.
//!
//! Words: a *callback request* waits in a route's FIFO queue for one of the route's *lines*
//! (its maximum of simultaneous calls toward the center); its *wait* is the time from being
//! queued to being dialed; the *wait estimate* (EWT) is what the visitor is told, recomputed
//! while the request waits.

pub mod board;
pub mod estimate;
pub(crate) mod manage;
pub(crate) mod scheduler;
pub mod slots;

#[cfg(test)]
mod simulation;

pub use board::{Board, busy_for, closed_for, free_lines, lines, quote, wait_words};
pub use estimate::{Learned, QueueState, estimate_waits};
