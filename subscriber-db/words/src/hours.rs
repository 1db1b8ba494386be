//! Weekly opening hours of a subscriber's call center, in its local time: per weekday, a list
//! of `HH:MM-HH:MM` ranges. Pure functions only; converting "now" into the subscriber's time
//! zone is the caller's job (see `Policy::is_open_at`).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDateTime, NaiveTime, Timelike};

use crate::{ValidationError, shown};

const MINUTES_PER_DAY: u16 = 24 * 60;
const DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// One opening range within a day, `start` inclusive, `end` exclusive, in minutes after
/// midnight. `end` may be 24:00 (1440) so a day can be open to its very end.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct TimeRange {
    start: u16,
    end: u16,
}

impl TimeRange {
    /// The whole day, 00:00-24:00.
    pub const ALL_DAY: TimeRange = TimeRange {
        start: 0,
        end: MINUTES_PER_DAY,
    };

    fn contains_second(&self, second_of_day: u32) -> bool {
        u32::from(self.start) * 60 <= second_of_day && second_of_day < u32::from(self.end) * 60
    }
}

/// `HH:MM` with 00 ≤ HH ≤ 24, 00 ≤ MM ≤ 59, and 24 only as 24:00; in minutes after midnight.
fn parse_clock(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    let two_digits = |t: &str| t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hours) || !two_digits(minutes) {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= MINUTES_PER_DAY).then_some(total)
}

impl FromStr for TimeRange {
    type Err = ValidationError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ValidationError::HoursRange(shown(text));
        let (start, end) = text.split_once('-').ok_or_else(error)?;
        let start = parse_clock(start.trim()).ok_or_else(error)?;
        let end = parse_clock(end.trim()).ok_or_else(error)?;
        if start >= end {
            return Err(error());
        }
        Ok(Self { start, end })
    }
}

impl TryFrom<String> for TimeRange {
    type Error = ValidationError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<TimeRange> for String {
    fn from(range: TimeRange) -> String {
        range.to_string()
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clock = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", clock(self.start), clock(self.end))
    }
}

/// Opening hours for each weekday, Monday first. Ranges within a day are sorted and do not
/// overlap (touching, as in 09:00-12:00 and 12:00-17:00, is allowed). A day with no range is
/// closed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "WeekFields", into = "WeekFields")]
pub struct WeeklyHours {
    days: [Vec<TimeRange>; 7],
}

/// The serde shape: one list per weekday, a missing day is closed.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WeekFields {
    #[serde(default)]
    monday: Vec<TimeRange>,
    #[serde(default)]
    tuesday: Vec<TimeRange>,
    #[serde(default)]
    wednesday: Vec<TimeRange>,
    #[serde(default)]
    thursday: Vec<TimeRange>,
    #[serde(default)]
    friday: Vec<TimeRange>,
    #[serde(default)]
    saturday: Vec<TimeRange>,
    #[serde(default)]
    sunday: Vec<TimeRange>,
}

impl TryFrom<WeekFields> for WeeklyHours {
    type Error = ValidationError;
    fn try_from(w: WeekFields) -> Result<Self, Self::Error> {
        Self::new([
            w.monday,
            w.tuesday,
            w.wednesday,
            w.thursday,
            w.friday,
            w.saturday,
            w.sunday,
        ])
    }
}

impl From<WeeklyHours> for WeekFields {
    fn from(hours: WeeklyHours) -> Self {
        let [
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
        ] = hours.days;
        Self {
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
        }
    }
}

impl Default for WeeklyHours {
    /// Always open: the default when a subscriber sets no hours.
    fn default() -> Self {
        Self::always_open()
    }
}

impl WeeklyHours {
    /// Open around the clock, every day.
    pub fn always_open() -> Self {
        Self {
            days: std::array::from_fn(|_| vec![TimeRange::ALL_DAY]),
        }
    }

    /// Builds the week from per-day ranges (Monday first), sorting each day and refusing
    /// overlapping ranges.
    pub fn new(mut days: [Vec<TimeRange>; 7]) -> Result<Self, ValidationError> {
        for (index, ranges) in days.iter_mut().enumerate() {
            ranges.sort();
            let overlapping = ranges.windows(2).any(|pair| pair[1].start < pair[0].end);
            if overlapping {
                let text = ranges.iter().map(ToString::to_string).collect::<Vec<_>>();
                return Err(ValidationError::OpeningHours {
                    day: DAY_NAMES[index],
                    text: shown(&text.join(", ")),
                    reason: "ranges must not overlap",
                });
            }
        }
        Ok(Self { days })
    }

    /// The ranges of one weekday.
    pub fn ranges(&self, day: chrono::Weekday) -> &[TimeRange] {
        &self.days[day.num_days_from_monday() as usize]
    }

    /// Whether the call center is open at this local time.
    pub fn is_open(&self, local: NaiveDateTime) -> bool {
        let second = local.time().num_seconds_from_midnight();
        self.ranges(local.weekday())
            .iter()
            .any(|range| range.contains_second(second))
    }

    /// The first local time at or after `local` when the call center is open: `local` itself
    /// when open now, `None` when the week has no opening at all.
    pub fn next_opening(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        if self.is_open(local) {
            return Some(local);
        }
        // A week and a day covers "opens later today" through "opens next week on this weekday,
        // earlier than now".
        (0..=7u64).find_map(|offset| {
            let date = local.date().checked_add_days(Days::new(offset))?;
            self.ranges(date.weekday()).iter().find_map(|range| {
                let hour = u32::from(range.start / 60);
                let minute = u32::from(range.start % 60);
                let start = date.and_time(NaiveTime::from_hms_opt(hour, minute, 0)?);
                (start > local).then_some(start)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect(text)
    }

    fn ranges(texts: &[&str]) -> Vec<TimeRange> {
        texts.iter().map(|t| t.parse().expect(t)).collect()
    }

    /// Mon-Fri 09:00-12:00 and 13:00-17:30, Saturday 10:00-24:00, Sunday closed.
    fn office() -> WeeklyHours {
        let weekday = ranges(&["13:00-17:30", "09:00-12:00"]);
        WeeklyHours::new([
            weekday.clone(),
            weekday.clone(),
            weekday.clone(),
            weekday.clone(),
            weekday,
            ranges(&["10:00-24:00"]),
            vec![],
        ])
        .expect("valid week")
    }

    #[test]
    fn time_range_table() {
        let cases: &[(&str, bool)] = &[
            ("09:00-17:00", true),
            ("00:00-24:00", true),
            ("23:59-24:00", true),
            ("9:00-17:00", false),
            ("09:00-09:00", false),
            ("17:00-09:00", false),
            ("24:00-24:00", false),
            ("09:60-10:00", false),
            ("09:00-24:01", false),
            ("09:00", false),
            ("", false),
        ];
        for (text, valid) in cases {
            let parsed = text.parse::<TimeRange>();
            assert_eq!(parsed.is_ok(), *valid, "{text}: {parsed:?}");
            if let Ok(range) = parsed {
                assert_eq!(range.to_string(), *text);
            }
        }
    }

    #[test]
    fn overlapping_ranges_are_refused_and_touching_ones_accepted() {
        let mut days: [Vec<TimeRange>; 7] = Default::default();
        days[2] = ranges(&["09:00-12:00", "11:00-13:00"]);
        let error = WeeklyHours::new(days.clone()).expect_err("overlap");
        assert!(error.to_string().contains("wednesday"), "{error}");
        days[2] = ranges(&["09:00-12:00", "12:00-13:00"]);
        assert!(WeeklyHours::new(days).is_ok());
    }

    #[test]
    fn is_open_table() {
        let hours = office();
        // 2026-11-23 is a Monday.
        let cases: &[(&str, bool)] = &[
            ("2026-11-23 08:59:59", false),
            ("2026-11-23 09:00:00", true),
            ("2026-11-23 11:59:59", true),
            ("2026-11-23 12:00:00", false),
            ("2026-11-23 13:00:00", true),
            ("2026-11-23 17:29:59", true),
            ("2026-11-23 17:30:00", false),
            ("2026-11-28 09:59:00", false),
            ("2026-11-28 23:59:59", true),
            ("2026-11-29 12:00:00", false),
        ];
        for (time, open) in cases {
            assert_eq!(hours.is_open(at(time)), *open, "{time}");
        }
        assert!(WeeklyHours::always_open().is_open(at("2026-11-29 03:00:00")));
        let closed = WeeklyHours::new(Default::default()).expect("empty week");
        assert!(!closed.is_open(at("2026-11-23 12:00:00")));
    }

    #[test]
    fn next_opening_table() {
        let hours = office();
        let cases: &[(&str, &str)] = &[
            ("2026-11-23 07:00:00", "2026-11-23 09:00:00"),
            ("2026-11-23 10:00:00", "2026-11-23 10:00:00"),
            ("2026-11-23 12:30:00", "2026-11-23 13:00:00"),
            ("2026-11-23 18:00:00", "2026-11-24 09:00:00"),
            ("2026-11-27 18:00:00", "2026-11-28 10:00:00"),
            ("2026-11-29 08:00:00", "2026-11-30 09:00:00"),
        ];
        for (now, next) in cases {
            assert_eq!(hours.next_opening(at(now)), Some(at(next)), "from {now}");
        }
        // Open only Monday 09:00-10:00: from Monday 11:00 the next opening is a week later.
        let mut days: [Vec<TimeRange>; 7] = Default::default();
        days[0] = ranges(&["09:00-10:00"]);
        let weekly = WeeklyHours::new(days).expect("valid");
        assert_eq!(
            weekly.next_opening(at("2026-11-23 11:00:00")),
            Some(at("2026-11-30 09:00:00"))
        );
        let closed = WeeklyHours::new(Default::default()).expect("empty week");
        assert_eq!(closed.next_opening(at("2026-11-23 11:00:00")), None);
    }

    #[test]
    fn serde_shape_and_validation() {
        let json = r#"{"monday":["09:00-17:00"],"saturday":["10:00-12:00","08:00-09:00"]}"#;
        let hours: WeeklyHours = serde_json::from_str(json).expect("valid");
        assert_eq!(hours.ranges(chrono::Weekday::Sat).len(), 2);
        assert!(hours.ranges(chrono::Weekday::Sun).is_empty());
        let back = serde_json::to_value(&hours).expect("ser");
        assert_eq!(back["saturday"][0], "08:00-09:00");
        let again: WeeklyHours = serde_json::from_value(back).expect("round trip");
        assert_eq!(again, hours);
        let overlap = r#"{"friday":["09:00-12:00","10:00-11:00"]}"#;
        assert!(serde_json::from_str::<WeeklyHours>(overlap).is_err());
        assert!(serde_json::from_str::<WeeklyHours>(r#"{"funday":[]}"#).is_err());
        assert!(serde_json::from_str::<WeeklyHours>(r#"{"monday":["17:00-09:00"]}"#).is_err());
    }
}
