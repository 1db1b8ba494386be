//! A subscriber's call policy: business hours in its time zone, which callers are allowed, call
//! order, timeouts, sign-on, announcement texts and capacity. One per subscriber; a subscriber
//! without one gets [`Policy::default`]. Stored as one JSON document and typed on the way in
//! and out, so every field is validated by its type (and again when read back).

use chrono::{DateTime, LocalResult, TimeZone as _, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::db::{Db, require_subscriber};
use crate::error::{DbError, DbResult, ValidationError};
use crate::types::{
    AnnouncementText, CallOrder, CountryCode, SignOnMode, SubscriberId, TimeZone, WeeklyHours,
};

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
bounded_number!(
    /// Longest a signed speak-to-agent link may stay valid, in seconds from now: a link whose
    /// expiry lies further ahead is refused, so a leaked link cannot be replayed for years.
    /// 60 s to 365 days, default 30 days.
    MaxLinkLifetimeSecs, "max_link_lifetime_secs", 60, 31_536_000, 2_592_000
);

bounded_number!(
    /// Calls toward one route's center at once: the route's lines, 1 to 10000. A request
    /// beyond them waits in the route's callback queue.
    LinesPerRoute, "callback.lines_per_route", 1, 10000, 10
);
bounded_number!(
    /// Attempts to reach a visitor who booked a callback: 1 to 10, default 3.
    CallbackAttempts, "callback.max_attempts", 1, 10, 3
);
bounded_number!(
    /// Seconds between two attempts: 30 s to a day, default 300.
    RetryGapSecs, "callback.retry_gap_secs", 30, 86400, 300
);
bounded_number!(
    /// Seconds a queued request waits at least before its first attempt: 0 to 3600, default 0.
    InitialDelaySecs, "callback.initial_delay_secs", 0, 3600, 0
);
bounded_number!(
    /// Days ahead a callback slot may be booked: 1 to 30, default 7.
    SlotDays, "callback.slot_days", 1, 30, 7
);
bounded_number!(
    /// Length of one callback slot in minutes: 15 to 240, default 30.
    SlotMinutes, "callback.slot_minutes", 15, 240, 30
);
bounded_number!(
    /// Callbacks one slot takes: 1 to 1000, default 5.
    SlotCapacity, "callback.slot_capacity", 1, 1000, 5
);
bounded_number!(
    /// Seconds the visitor has to press the consent digit: 5 to 60, default 15.
    ConsentTimeoutSecs, "callback.consent_timeout_secs", 5, 60, 15
);
bounded_number!(
    /// What the wait estimate takes a call to last before it has learned from the route's
    /// own calls, in seconds: 30 to 3600, default 240.
    DefaultHandleSecs, "callback.default_handle_secs", 30, 3600, 240
);

/// The callback queue (issue 13): what a visitor is offered when the center is full or
/// closed, and how a booked callback is dialed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackPolicy {
    /// Offer a callback (queue or slot) instead of refusing when full or closed.
    pub offer: bool,
    /// The lines of each route; none: only `max_concurrent_calls` limits.
    pub lines_per_route: Option<LinesPerRoute>,
    pub max_attempts: CallbackAttempts,
    pub retry_gap_secs: RetryGapSecs,
    pub initial_delay_secs: InitialDelaySecs,
    pub slot_days: SlotDays,
    pub slot_minutes: SlotMinutes,
    pub slot_capacity: SlotCapacity,
    /// Ask the visitor to press a digit (shown on the page) before the center is dialed.
    pub consent: bool,
    pub consent_timeout_secs: ConsentTimeoutSecs,
    pub default_handle_secs: DefaultHandleSecs,
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        Self {
            offer: true,
            lines_per_route: None,
            max_attempts: CallbackAttempts::default(),
            retry_gap_secs: RetryGapSecs::default(),
            initial_delay_secs: InitialDelaySecs::default(),
            slot_days: SlotDays::default(),
            slot_minutes: SlotMinutes::default(),
            slot_capacity: SlotCapacity::default(),
            consent: true,
            consent_timeout_secs: ConsentTimeoutSecs::default(),
            default_handle_secs: DefaultHandleSecs::default(),
        }
    }
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
    /// Regions callers may be in; empty allows only `default_country`, the subscriber's own
    /// (default-deny: a country is called back only when the subscriber names it).
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
    pub max_link_lifetime_secs: MaxLinkLifetimeSecs,
    pub callback: CallbackPolicy,
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
            max_link_lifetime_secs: MaxLinkLifetimeSecs::default(),
            callback: CallbackPolicy::default(),
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
            // from the first instant after the jump (gaps are whole minutes, at most hours).
            LocalResult::None => (1..=180)
                .filter_map(|m| {
                    zone.from_local_datetime(&(opening + chrono::Duration::minutes(m)))
                        .earliest()
                })
                .next()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// Whether a caller in `region` may be called. A number with no region (the
    /// non-geographic +800, +881…) never is.
    pub fn allows_caller_country(&self, region: Option<CountryCode>) -> bool {
        region.is_some_and(|r| self.caller_countries().contains(&r))
    }

    /// The regions callers may be in: the listed ones, or the subscriber's own when none are.
    pub fn caller_countries(&self) -> Vec<CountryCode> {
        if self.allowed_caller_countries.is_empty() {
            vec![self.default_country]
        } else {
            self.allowed_caller_countries.clone()
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{at, db_with, sid};

    #[test]
    fn defaults_until_put_then_what_was_put() {
        let db = db_with(&["alpha"]);
        let a = sid("alpha");
        let defaults = db.get_policy(&a).expect("defaults");
        assert_eq!(defaults, Policy::default());
        assert_eq!(defaults.time_zone.name(), "UTC");
        assert_eq!(defaults.default_country.as_str(), "US");
        assert_eq!(defaults.call_order, CallOrder::UserFirst);
        assert_eq!(defaults.sign_on, SignOnMode::Hash);
        assert_eq!(
            (
                defaults.ring_timeout_user_secs.get(),
                defaults.sign_on_timeout_secs.get()
            ),
            (30, 20)
        );
        assert_eq!(defaults.max_concurrent_calls.get(), 10);
        assert!(defaults.is_open_at(at(0)));
        let cb = &defaults.callback;
        assert!(cb.offer && cb.consent);
        assert_eq!(cb.lines_per_route, None);
        assert_eq!(
            (
                cb.max_attempts.get(),
                cb.retry_gap_secs.get(),
                cb.slot_days.get(),
                cb.slot_minutes.get(),
                cb.slot_capacity.get(),
                cb.default_handle_secs.get()
            ),
            (3, 300, 7, 30, 5, 240)
        );

        let json = r#"{
            "time_zone": "Europe/Paris",
            "weekly_hours": {"monday": ["09:00-17:00"]},
            "allowed_caller_countries": ["FR", "BE"],
            "default_country": "FR",
            "call_order": "center_first",
            "ring_timeout_center_secs": 45,
            "sign_on": {"mode": "pin", "pin": "4711"},
            "announcements": {"hold": "Un instant."},
            "callback": {"lines_per_route": 4, "max_attempts": 2}
        }"#;
        let policy: Policy = serde_json::from_str(json).expect("valid policy");
        assert_eq!(
            policy.ring_timeout_user_secs.get(),
            30,
            "missing fields take defaults"
        );
        assert_eq!(
            policy.announcements.goodbye,
            Announcements::default().goodbye
        );
        assert_eq!(
            (
                policy.callback.lines_per_route.map(LinesPerRoute::get),
                policy.callback.max_attempts.get(),
                policy.callback.retry_gap_secs.get()
            ),
            (Some(4), 2, 300),
            "callback fields set and defaulted"
        );
        db.put_policy(&a, &policy).expect("put");
        assert_eq!(db.get_policy(&a).expect("get"), policy);
        db.reset_policy(&a).expect("reset");
        assert_eq!(db.get_policy(&a).expect("get"), Policy::default());
        assert!(matches!(
            db.get_policy(&sid("ghost")),
            Err(DbError::NotFound { .. })
        ));
    }

    #[test]
    fn invalid_fields_are_refused_with_their_name() {
        let cases = [
            (r#"{"time_zone":"Mars/Base"}"#, "time zone"),
            (r#"{"ring_timeout_user_secs":4}"#, "between 5 and 120"),
            (r#"{"max_concurrent_calls":0}"#, "max_concurrent_calls"),
            (r#"{"max_call_length_secs":10}"#, "max_call_length_secs"),
            (r#"{"sign_on":{"mode":"pin","pin":"1"}}"#, "sign-on pin"),
            (r#"{"default_country":"XX"}"#, "country"),
            (r#"{"allowed_caller_countries":["fr"]}"#, "country"),
            (r#"{"call_order":"random"}"#, "user_first"),
            (
                r#"{"weekly_hours":{"monday":["10:00-09:00"]}}"#,
                "opening hours",
            ),
            (r#"{"announcements":{"hold":""}}"#, "must not be empty"),
            (r#"{"unknown":1}"#, "unknown"),
            (
                r#"{"callback":{"lines_per_route":0}}"#,
                "callback.lines_per_route",
            ),
            (
                r#"{"callback":{"max_attempts":11}}"#,
                "callback.max_attempts",
            ),
            (
                r#"{"callback":{"retry_gap_secs":5}}"#,
                "callback.retry_gap_secs",
            ),
            (
                r#"{"callback":{"slot_minutes":10}}"#,
                "callback.slot_minutes",
            ),
            (r#"{"callback":{"offer":"yes"}}"#, "boolean"),
            (r#"{"callback":{"later":1}}"#, "unknown field"),
        ];
        for (json, needle) in cases {
            let error = serde_json::from_str::<Policy>(json)
                .expect_err(json)
                .to_string();
            assert!(error.contains(needle), "{json}: {error}");
        }
    }

    #[test]
    fn hours_follow_the_time_zone_and_dst() {
        let policy = Policy {
            time_zone: "America/New_York".parse().expect("zone"),
            weekly_hours: serde_json::from_str(
                r#"{"monday":["09:00-17:00"],"sunday":["02:30-04:00"]}"#,
            )
            .expect("hours"),
            ..Policy::default()
        };
        // at(0) is Monday 12:00 UTC = 07:00 in New York (EST, UTC-5).
        assert!(!policy.is_open_at(at(0)));
        assert!(policy.is_open_at(at(2 * 3600)));
        assert_eq!(policy.next_opening_at(at(0)), Some(at(2 * 3600)));
        assert_eq!(policy.next_opening_at(at(3 * 3600)), Some(at(3 * 3600)));
        // Sunday 2027-03-14 02:30 does not exist in New York (clocks jump 02:00 → 03:00):
        // the center opens at 03:00 EDT = 07:00 UTC.
        let before = DateTime::parse_from_rfc3339("2027-03-14T05:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        let expected = DateTime::parse_from_rfc3339("2027-03-14T07:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        assert_eq!(policy.next_opening_at(before), Some(expected));
    }

    #[test]
    fn caller_country_filter() {
        let mut policy = Policy::default();
        let fr: CountryCode = "FR".parse().expect("FR");
        let us: CountryCode = "US".parse().expect("US");
        // Default-deny (issue 10): with no list, only the subscriber's own country.
        assert_eq!(policy.default_country, us);
        assert!(policy.allows_caller_country(Some(us)));
        assert!(!policy.allows_caller_country(Some(fr)));
        assert!(!policy.allows_caller_country(None), "no region: never");
        assert_eq!(policy.caller_countries(), [us]);
        policy.allowed_caller_countries = vec![fr];
        assert!(policy.allows_caller_country(Some(fr)));
        assert!(!policy.allows_caller_country(Some(us)));
        assert!(!policy.allows_caller_country(None));
    }
}
