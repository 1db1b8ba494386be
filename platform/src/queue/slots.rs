//! Callback slots (issue 13 item 1b): the times a visitor may move their request to. Logic
//! without I/O: from the policy's opening hours, slot length, days ahead and capacity, and
//! how many requests each slot already holds.

use chrono::{DateTime, Duration, Utc};
use subscriber_db::Policy;

/// One slot a request can be moved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Requests it can still take.
    pub free: u32,
}

/// The next `most` slots after `now` within `callback.slot_days`: starts on multiples of
/// `callback.slot_minutes` (counted from the Unix epoch, so whole-hour zones see them on the
/// hour), each wholly inside the opening hours, each with room left after `booked` (the
/// requests already at a start).
pub fn open_slots(
    policy: &Policy,
    now: DateTime<Utc>,
    booked: &dyn Fn(DateTime<Utc>) -> u32,
    most: usize,
) -> Vec<Slot> {
    let minutes = i64::from(policy.callback.slot_minutes.get());
    let length = Duration::minutes(minutes);
    let capacity = policy.callback.slot_capacity.get();
    let horizon = now + Duration::days(i64::from(policy.callback.slot_days.get()));
    let step_ms = minutes * 60_000;
    let first = (now.timestamp_millis() / step_ms + 1) * step_ms;
    let Some(mut start) = DateTime::<Utc>::from_timestamp_millis(first) else {
        return Vec::new();
    };
    let mut slots = Vec::new();
    while start < horizon && slots.len() < most {
        let end = start + length;
        let inside = policy.is_open_at(start) && policy.is_open_at(end - Duration::seconds(1));
        if inside {
            let free = capacity.saturating_sub(booked(start));
            if free > 0 {
                slots.push(Slot { start, end, free });
            }
        }
        start = end;
    }
    slots
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use chrono::TimeZone as _;
    use subscriber_db::{TimeRange, WeeklyHours};

    fn policy(hours: &str, minutes: u32, capacity: u32) -> Policy {
        let range: TimeRange = hours.parse().unwrap();
        let mut p = Policy {
            weekly_hours: WeeklyHours::new(std::array::from_fn(|_| vec![range])).unwrap(),
            ..Policy::default()
        };
        p.callback.slot_minutes = minutes.try_into().unwrap();
        p.callback.slot_capacity = capacity.try_into().unwrap();
        p.callback.slot_days = 2.try_into().unwrap();
        p
    }

    #[test]
    fn slots_lie_inside_the_hours_and_skip_full_ones() {
        // Open 09:00-10:00 UTC daily, 30-minute slots of 2; at 09:10 on 3 Dec.
        let p = policy("09:00-10:00", 30, 2);
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 9, 10, 0).unwrap();
        let at = |d, h, m| Utc.with_ymd_and_hms(2026, 12, d, h, m, 0).unwrap();
        let none = |_| 0;
        let starts: Vec<_> = open_slots(&p, now, &none, 10)
            .iter()
            .map(|s| s.start)
            .collect();
        // 09:30 today, then 09:00 and 09:30 on the next day; the day after is past 2 days
        // only at 09:10, so its 09:00 slot is still in.
        assert_eq!(
            starts,
            [at(3, 9, 30), at(4, 9, 0), at(4, 9, 30), at(5, 9, 0)]
        );
        let full_at = at(4, 9, 0);
        let booked = move |t: DateTime<Utc>| if t == full_at { 2 } else { 1 };
        let slots = open_slots(&p, now, &booked, 10);
        assert_eq!(
            slots.iter().map(|s| (s.start, s.free)).collect::<Vec<_>>(),
            [(at(3, 9, 30), 1), (at(4, 9, 30), 1), (at(5, 9, 0), 1)]
        );
        assert_eq!(open_slots(&p, now, &none, 2).len(), 2);
        assert!(
            slots
                .iter()
                .all(|s| s.end - s.start == Duration::minutes(30))
        );
    }
}
