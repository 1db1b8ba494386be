//! How a call is placed, as a subscriber's policy chooses it and the call flow runs it: which
//! leg is dialed first and how the agent signs on. One type each, shared by the policy in the
//! database and the pure flow, so nothing maps between two copies by hand.

use serde::{Deserialize, Serialize};

use crate::SignOnPin;

/// Which leg the platform dials first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOrder {
    /// Call the user, hold them with an announcement, then call the center (seed 002 flow).
    #[default]
    UserFirst,
    /// Reach an agent first, then call the user.
    CenterFirst,
    Simultaneous,
}

/// How the agent tells the platform a person is listening before the whisper.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "pin", rename_all = "snake_case")]
pub enum SignOnMode {
    /// Whisper as soon as the center answers.
    None,
    /// Wait for the `#` key.
    #[default]
    Hash,
    /// Wait for these digits.
    Pin(SignOnPin),
    /// The agent keys a personal PIN and `#`: the PIN says which of the subscriber's
    /// active agents has the call (claim by PIN).
    AgentPin,
    /// The call is offered on the consoles of the subscriber's signed-in agents with a
    /// short call reference the agent hears; the one who claims it there has the call.
    Console,
}
