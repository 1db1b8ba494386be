//! A subscriber's call policy: business hours in its time zone, which callers are allowed, call
//! order, timeouts, sign-on, announcement texts and capacity. One per subscriber; a subscriber
//! without one gets [`Policy::default`]. Stored as one JSON document and typed on the way in
//! and out, so every field is validated by its type (and again when read back).

use chrono::{DateTime, LocalResult, TimeZone as _, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::db::{Db, require_subscriber};
use crate::error::{DbError, DbResult, ValidationError};
use crate::types::{AnnouncementText, CountryCode, SignOnPin, SubscriberId, TimeZone, WeeklyHours};

/// Declares a `u32` newtype limited to `min..=max`, validated by serde and `new`.
macro_rules! bounded_number {
    ($(#[$meta:meta])* $name:ident, $field:literal, $min:literal, $max:literal, $default:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "u32", into = "u32")]
        pub struct $name(u32);

        impl $name {
            pub const MIN: u32 = $min;
            pub const MAX: u32 = $max;

            pub fn new(value: u32) -> Result<Self, ValidationError> {
                if ($min..=$max).contains(&value) {
                    Ok(Self(value))
                } else {
                    Err(ValidationError::OutOfRange { field: $field, min: $min, max: $max, got: value })
                }
            }

            pub fn get(self) -> u32 {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self($default)
            }
        }

        impl TryFrom<u32> for $name {
            type Error = ValidationError;
            fn try_from(value: u32) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for u32 {
            fn from(value: $name) -> u32 {
                value.0
            }
        }
    };
}

bounded_number!(
    /// Seconds a leg may ring before it counts as no answer: 5 to 120, default 30.
    RingTimeoutSecs, "ring timeout seconds", 5, 120, 30
);
bounded_number!(
    /// Seconds the agent has to sign on after answering: 5 to 120, default 20.
    SignOnTimeoutSecs, "sign_on_timeout_secs", 5, 120, 20
);
bounded_number!(
    /// Calls of one subscriber in progress at once: 1 to 10000, default 10.
    MaxConcurrentCalls, "max_concurrent_calls", 1, 10000, 10
);
bounded_number!(
    /// Longest call in seconds, after which the platform hangs up: 60 to 86400, default 3600.
    MaxCallLengthSecs, "max_call_length_secs", 60, 86400, 3600
);

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
}

/// Texts spoken to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Announcements {
    /// Looped while the caller waits for the agent.
    pub hold: AnnouncementText,
    /// When no center number answers.
    pub center_unreachable: AnnouncementText,
    /// Before the platform hangs up.
    pub goodbye: AnnouncementText,
}

fn text(default: &str) -> AnnouncementText {
    AnnouncementText::try_from(default)
        .unwrap_or_else(|_| unreachable!("default texts are short and non-empty"))
}

impl Default for Announcements {
    fn default() -> Self {
        Self {
            hold: text("Please hold, we are connecting you to an agent."),
            center_unreachable: text(
                "Sorry, no agent is available right now. Please try again later.",
            ),
            goodbye: text("Thank you for calling. Goodbye."),
        }
    }
}

/// A subscriber's policy. Every field has a default, so a partial JSON document is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    pub time_zone: TimeZone,
    /// Opening hours in `time_zone`.
    pub weekly_hours: WeeklyHours,
    /// Regions callers may be in; empty allows all.
    pub allowed_caller_countries: Vec<CountryCode>,
    /// Region used to read numbers typed without `+`.
    pub default_country: CountryCode,
    pub call_order: CallOrder,
    pub ring_timeout_user_secs: RingTimeoutSecs,
    pub ring_timeout_center_secs: RingTimeoutSecs,
    pub sign_on: SignOnMode,
    pub sign_on_timeout_secs: SignOnTimeoutSecs,
    pub announcements: Announcements,
    pub max_concurrent_calls: MaxConcurrentCalls,
    pub max_call_length_secs: MaxCallLengthSecs,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            time_zone: TimeZone::UTC,
            weekly_hours: WeeklyHours::always_open(),
            allowed_caller_countries: Vec::new(),
            default_country: "US"
                .parse()
                .unwrap_or_else(|_| unreachable!("US has a numbering plan")),
            call_order: CallOrder::default(),
            ring_timeout_user_secs: RingTimeoutSecs::default(),
            ring_timeout_center_secs: RingTimeoutSecs::default(),
            sign_on: SignOnMode::default(),
            sign_on_timeout_secs: SignOnTimeoutSecs::default(),
            announcements: Announcements::default(),
            max_concurrent_calls: MaxConcurrentCalls::default(),
            max_call_length_secs: MaxCallLengthSecs::default(),
        }
    }
}

impl Policy {
    /// Whether the call center is open at `now`, in the subscriber's time zone.
    pub fn is_open_at(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.time_zone.tz()).naive_local();
        self.weekly_hours.is_open(local)
    }

    /// When the call center next opens (`now` when open), `None` when it never does.
    pub fn next_opening_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let zone = self.time_zone.tz();
        let local = now.with_timezone(&zone).naive_local();
        let opening = self.weekly_hours.next_opening(local)?;
        if opening == local {
            return Some(now);
        }
        match zone.from_local_datetime(&opening) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
            // Opening time falls in a DST gap: the clocks jump past it, so the center is open
            // from the first instant after the jump.
            LocalResult::None => (1..=3)
                .filter_map(|h| {
                    zone.from_local_datetime(&(opening + chrono::Duration::hours(h)))
                        .earliest()
                })
                .next()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// Whether a caller in `region` may be called (unknown region: only when all are allowed).
    pub fn allows_caller_country(&self, region: Option<CountryCode>) -> bool {
        self.allowed_caller_countries.is_empty()
            || region.is_some_and(|r| self.allowed_caller_countries.contains(&r))
    }
}

impl Db {
    /// The subscriber's policy, or the defaults when it never set one.
    pub fn get_policy(&self, sid: &SubscriberId) -> DbResult<Policy> {
        let conn = self.conn();
        require_subscriber(&conn, sid)?;
        let body: Option<String> = conn
            .query_row(
                "SELECT body FROM policies WHERE subscriber_id = ?1",
                [sid.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        match body {
            None => Ok(Policy::default()),
            Some(json) => serde_json::from_str(&json).map_err(|source| DbError::CorruptJson {
                what: "policy",
                source,
            }),
        }
    }

    /// Stores the whole policy, replacing the previous one.
    pub fn put_policy(&self, sid: &SubscriberId, policy: &Policy) -> DbResult<Policy> {
        let json = serde_json::to_string(policy).map_err(|source| DbError::CorruptJson {
            what: "policy",
            source,
        })?;
        let conn = self.conn();
        require_subscriber(&conn, sid)?;
        conn.execute(
            "INSERT INTO policies (subscriber_id, body) VALUES (?1, ?2)
             ON CONFLICT (subscriber_id) DO UPDATE SET body = excluded.body",
            params![sid.as_str(), json],
        )?;
        Ok(policy.clone())
    }

    /// Forgets the stored policy: the defaults apply again.
    pub fn reset_policy(&self, sid: &SubscriberId) -> DbResult<()> {
        let conn = self.conn();
        require_subscriber(&conn, sid)?;
        conn.execute(
            "DELETE FROM policies WHERE subscriber_id = ?1",
            [sid.as_str()],
        )?;
        Ok(())
    }
}
