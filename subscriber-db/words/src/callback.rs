//! The callback queue's words (issue 13): how a callback request was booked and where it is.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::call_record::{UnknownWord, Word, word_enum};

word_enum!(
    /// How the visitor asked to be called back.
    CallbackKind {
        /// Wait in the route's queue: dialed when one of the route's lines frees.
        Queued => "queued",
        /// At a chosen slot: dialed when the slot opens (and a line is free).
        Scheduled => "scheduled",
    }
);

word_enum!(
    /// Where a callback request is.
    CallbackState {
        /// Waiting for its turn (or its slot, or its next attempt).
        Waiting => "waiting",
        /// Taken by the scheduler for an attempt; its call record is being made or runs.
        Dialing => "dialing",
        /// Reached: the visitor answered an attempt (the call's own record says the rest).
        Done => "done",
        /// The visitor cancelled it.
        Cancelled => "cancelled",
        /// Every attempt the policy allows went unanswered, or the process died during an
        /// attempt that had already dialed (it is never dialed twice).
        Failed => "failed",
    }
);

impl CallbackState {
    /// Whether the request can still be dialed.
    pub fn is_open(self) -> bool {
        matches!(self, CallbackState::Waiting | CallbackState::Dialing)
    }
}
