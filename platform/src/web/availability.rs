//! Seed 002 step 203: may this subscriber take a call now? Active, open in its own time zone,
//! under its concurrent-call limit. Answers with a page that says why not and what the user
//! can do, in the user's terms (the call center's local time and time zone name).

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use subscriber_db::{Db, DbResult, Policy, SubjectCode, Subscriber};

use super::brand::{Brand, possessive};
use super::html::{Message, Opening, Page};
use super::welcome::Facts;

/// Why no call can be taken now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unavailable {
    Inactive,
    /// Closed now; opens at the given instant (`None`: no opening hours at all).
    Closed {
        opens_at: Option<DateTime<Utc>>,
    },
    Busy,
}

/// Checks the preconditions for a call about `subject` now. Busy: the subscriber's calls are
/// at `max_concurrent_calls`, the route's at its `callback.lines_per_route`, or callback
/// requests of the route wait (a direct request does not go ahead of them). Blocking:
/// database.
pub(crate) fn check(
    db: &Db,
    subscriber: &Subscriber,
    policy: &Policy,
    subject: &SubjectCode,
    now: DateTime<Utc>,
) -> DbResult<Result<(), Unavailable>> {
    if !subscriber.active {
        return Ok(Err(Unavailable::Inactive));
    }
    if !policy.is_open_at(now) {
        return Ok(Err(Unavailable::Closed {
            opens_at: policy.next_opening_at(now),
        }));
    }
    if crate::queue::free_lines(db, policy, &subscriber.id, subject)? == 0 {
        return Ok(Err(Unavailable::Busy));
    }
    if db.count_callbacks_waiting(&subscriber.id, subject, now)? > 0 {
        return Ok(Err(Unavailable::Busy));
    }
    Ok(Ok(()))
}

/// Whether the visitor is offered a place in the callback queue instead of the refusal.
/// Busy, or closed with an opening ahead: the request waits and is dialed in its turn once
/// the center is open (the scheduler dials only then).
pub(crate) fn offers_queue(why: &Unavailable, policy: &Policy) -> bool {
    let waitable = match why {
        Unavailable::Busy => true,
        Unavailable::Closed { opens_at } => opens_at.is_some(),
        Unavailable::Inactive => false,
    };
    waitable && policy.callback.offer
}

/// What the Welcome page shows for a call about `subject` now, or why no call can be asked
/// for: busy with the callback queue offered is a Welcome page that says so. Blocking:
/// database.
pub(crate) fn welcome_facts(
    db: &Db,
    board: &crate::queue::Board,
    subscriber: &Subscriber,
    policy: &Policy,
    subject: &SubjectCode,
    came_from: Option<&str>,
    now: DateTime<Utc>,
) -> DbResult<Result<Facts, Unavailable>> {
    let queue = match check(db, subscriber, policy, subject, now)? {
        Ok(()) => None,
        Err(why) if offers_queue(&why, policy) => Some(why),
        Err(why) => return Ok(Err(why)),
    };
    let mut facts = Facts::load(db, subscriber, policy, subject, came_from, now)?;
    if let Some(why) = queue {
        add_queue_offer(
            db,
            board,
            (subscriber, policy),
            subject,
            &why,
            now,
            &mut facts,
        )?;
    }
    Ok(Ok(facts))
}

/// Puts the queue offer (its sentence and the slots to choose from) on the Welcome page's
/// facts. Blocking: database.
pub(crate) fn add_queue_offer(
    db: &Db,
    board: &crate::queue::Board,
    (subscriber, policy): (&Subscriber, &Policy),
    subject: &SubjectCode,
    why: &Unavailable,
    now: DateTime<Utc>,
    facts: &mut Facts,
) -> DbResult<()> {
    facts.queue = Some(queue_offer(
        db, board, subscriber, policy, subject, why, now,
    )?);
    facts.slots = super::callback::route_slots(db, &subscriber.id, subject, policy, now)?
        .iter()
        .map(|slot| super::callback::SlotOption::of(slot, policy))
        .collect();
    Ok(())
}

/// What the Welcome page says when every line is busy and the queue is offered: how many
/// wait and the estimate the visitor would be quoted now. Blocking: database.
fn queue_offer(
    db: &Db,
    board: &crate::queue::Board,
    subscriber: &Subscriber,
    policy: &Policy,
    subject: &SubjectCode,
    why: &Unavailable,
    now: DateTime<Utc>,
) -> DbResult<String> {
    let waiting = db.count_callbacks_waiting(&subscriber.id, subject, now)?;
    let estimate = crate::queue::quote(db, board, policy, &subscriber.id, subject, waiting, now)?;
    let ahead = match waiting {
        0 => "Nobody is waiting before you".to_owned(),
        1 => "1 person is waiting before you".to_owned(),
        n => format!("{n} people are waiting before you"),
    };
    let whose = possessive(subscriber.display_name.as_str());
    let wait = crate::queue::wait_words(estimate);
    Ok(match why {
        Unavailable::Closed { opens_at: Some(at) } => format!(
            "{whose} call center is closed now. It opens again {}. Leave your number and we \
             will call you back once it is open. {ahead}; estimated wait: {wait}.",
            when_local(*at, policy, now)
        ),
        _ => format!(
            "All of {whose} agents are busy right now. Leave your number and we will call you \
             back when a line is free for you. {ahead}; estimated wait: {wait}."
        ),
    })
}

/// The page for a refusal. 503 with `Retry-After`: the service is there, just not now.
pub(crate) fn page(
    why: &Unavailable,
    subscriber: &Subscriber,
    policy: &Policy,
    brand: &Brand,
    now: DateTime<Utc>,
) -> Page {
    let name = subscriber.display_name.as_str();
    let whose = possessive(name);
    let message = |heading: &str, text: &str, opens: Option<Opening>| {
        Message {
            brand,
            heading,
            text,
            opens,
        }
        .page(StatusCode::SERVICE_UNAVAILABLE)
    };
    match why {
        Unavailable::Inactive => message(
            "Call-back not available",
            &format!(
                "{name} does not offer call-backs through this service at the moment. \
                 Please contact {name} another way."
            ),
            None,
        ),
        Unavailable::Busy => {
            let mut page = message(
                "All agents are busy",
                &format!(
                    "All of {whose} agents are busy right now. Please try again in a few minutes."
                ),
                None,
            );
            page.retry_after = Some(120);
            page
        }
        Unavailable::Closed { opens_at } => {
            let text = match opens_at {
                Some(at) => format!(
                    "{whose} call center is closed now. It opens again {}. \
                     Please come back then and click the link again.",
                    when_local(*at, policy, now)
                ),
                None => format!(
                    "{whose} call center has no opening hours set, so it cannot call you back. \
                     Please contact {name} another way."
                ),
            };
            let opens = opens_at.map(|at| Opening {
                at: at.to_rfc3339_opts(SecondsFormat::Secs, true),
                zone: policy.time_zone.name().to_owned(),
            });
            let mut page = message("We are closed right now", &text, opens);
            page.retry_after = opens_at.map(|at| (at - now).num_seconds());
            page
        }
    }
}

/// "today at 09:00 (Europe/Paris time)", "tomorrow at…", or "on Monday 7 December at…", in
/// the call center's zone, which is the one its opening hours are set in.
pub(crate) fn when_local(at: DateTime<Utc>, policy: &Policy, now: DateTime<Utc>) -> String {
    let zone = policy.time_zone.tz();
    let local = at.with_timezone(&zone);
    let today = now.with_timezone(&zone).date_naive();
    let day = local.date_naive();
    let time = local.format("%H:%M");
    let name = policy.time_zone.name();
    if day == today {
        format!("today at {time} ({name} time)")
    } else if today.succ_opt() == Some(day) {
        format!("tomorrow at {time} ({name} time)")
    } else {
        format!("on {} at {time} ({name} time)", local.format("%A %-d %B"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn opening_time_in_the_centers_zone() {
        let policy = Policy {
            time_zone: "Europe/Paris".parse().unwrap(),
            ..Policy::default()
        };
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 20, 0, 0).unwrap(); // Tuesday 21:00 Paris
        let cases = [
            (
                Utc.with_ymd_and_hms(2026, 12, 1, 21, 30, 0).unwrap(),
                "today at 22:30 (Europe/Paris time)",
            ),
            (
                Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap(),
                "tomorrow at 09:00 (Europe/Paris time)",
            ),
            (
                Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap(),
                "on Monday 7 December at 09:00 (Europe/Paris time)",
            ),
        ];
        for (at, want) in cases {
            assert_eq!(when_local(at, &policy, now), want);
        }
    }
}
