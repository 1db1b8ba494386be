//! What the callback queue knows beyond the database: each route's learned handle times and
//! give-up rate ([`Learned`]), kept in memory and shared by the web front (the estimate a
//! visitor is quoted when booking) and the scheduler (which teaches it and recomputes every
//! waiting request's estimate). After a restart it learns again; until then the policy's
//! default handle time stands in.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use subscriber_db::{Db, DbResult, Policy, SubjectCode, SubscriberId};

use super::estimate::{Learned, QueueState, estimate_waits};

type Route = (SubscriberId, SubjectCode);

/// Every route's estimator state.
#[derive(Debug, Default)]
pub struct Board {
    routes: Mutex<HashMap<Route, Learned>>,
}

impl Board {
    fn lock(&self) -> MutexGuard<'_, HashMap<Route, Learned>> {
        // Learned values are plain numbers updated in place; a panic elsewhere cannot leave
        // one half-written in a way that breaks an estimate.
        self.routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn with<T>(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
        policy: &Policy,
        f: impl FnOnce(&mut Learned) -> T,
    ) -> T {
        let mut routes = self.lock();
        let learned = routes
            .entry((sid.clone(), subject.clone()))
            .or_insert_with(|| Learned::new(default_handle(policy)));
        f(learned)
    }

    /// A call of the route ended after holding its line for `handle`.
    pub fn call_ended(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
        policy: &Policy,
        handle: Duration,
    ) {
        self.with(sid, subject, policy, |l| l.call_ended(handle));
    }

    /// A request left the route's queue after `waited`: dialed, or gone undialed.
    pub fn left_queue(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
        policy: &Policy,
        dialed: bool,
        waited: Duration,
    ) {
        self.with(sid, subject, policy, |l| {
            l.request_left_queue(dialed, waited)
        });
    }

    /// The estimated wait of each of `waiting` requests, head first; `None`: no line.
    pub fn estimates(
        &self,
        sid: &SubscriberId,
        subject: &SubjectCode,
        policy: &Policy,
        busy_for: &[Duration],
        waiting: usize,
    ) -> Option<Vec<Duration>> {
        let queue = QueueState {
            lines: lines(policy),
            busy_for,
            waiting,
        };
        self.with(sid, subject, policy, |l| estimate_waits(queue, l))
    }
}

fn default_handle(policy: &Policy) -> Duration {
    Duration::from_secs(u64::from(policy.callback.default_handle_secs.get()))
}

/// The route's lines: its `callback.lines_per_route`, never more than the subscriber's
/// `max_concurrent_calls`.
pub fn lines(policy: &Policy) -> usize {
    let most = usize::try_from(policy.max_concurrent_calls.get()).unwrap_or(usize::MAX);
    policy.callback.lines_per_route.map_or(most, |l| {
        most.min(usize::try_from(l.get()).unwrap_or(usize::MAX))
    })
}

/// Lines free for one more call of the route now: under both the subscriber's limit and the
/// route's. Blocking: database.
pub fn free_lines(
    db: &Db,
    policy: &Policy,
    sid: &SubscriberId,
    subject: &SubjectCode,
) -> DbResult<usize> {
    let most = u64::from(policy.max_concurrent_calls.get());
    let subscriber_free = most.saturating_sub(db.count_active_calls(sid)?);
    let route_free = match policy.callback.lines_per_route {
        Some(l) => u64::from(l.get()).saturating_sub(db.count_active_route_calls(sid, subject)?),
        None => u64::MAX,
    };
    Ok(usize::try_from(subscriber_free.min(route_free)).unwrap_or(usize::MAX))
}

/// How long each of the route's calls in progress has held its line. Blocking: database.
pub fn busy_for(
    db: &Db,
    sid: &SubscriberId,
    subject: &SubjectCode,
    now: DateTime<Utc>,
) -> DbResult<Vec<Duration>> {
    Ok(db
        .active_route_call_starts(sid, subject)?
        .into_iter()
        .map(|at| (now - at).to_std().unwrap_or_default())
        .collect())
}

/// How long until the center opens, when it is closed at `now` (the queue's estimates
/// start from then); zero when open, `None` when it never opens (no honest estimate).
pub fn closed_for(policy: &Policy, now: DateTime<Utc>) -> Option<Duration> {
    if policy.is_open_at(now) {
        return Some(Duration::ZERO);
    }
    policy
        .next_opening_at(now)
        .map(|at| (at - now).to_std().unwrap_or_default())
}

/// The wait a request joining the route's queue behind `waiting` others is quoted (from the
/// opening when the center is closed). Blocking: database.
pub fn quote(
    db: &Db,
    board: &Board,
    policy: &Policy,
    sid: &SubscriberId,
    subject: &SubjectCode,
    waiting: u64,
    now: DateTime<Utc>,
) -> DbResult<Option<Duration>> {
    let busy = busy_for(db, sid, subject, now)?;
    let n = usize::try_from(waiting).unwrap_or(usize::MAX - 1) + 1;
    let closed = closed_for(policy, now);
    Ok(board
        .estimates(sid, subject, policy, &busy, n)
        .and_then(|w| w.last().copied())
        .and_then(|w| closed.map(|c| w + c)))
}

/// An estimate as the visitor's page says it: whole minutes, rounded up, so nobody is told
/// "about 0 minutes".
pub fn wait_words(estimate: Option<Duration>) -> String {
    let Some(wait) = estimate else {
        return "not known yet".to_owned();
    };
    let secs = wait.as_secs();
    if secs < 60 {
        return "less than a minute".to_owned();
    }
    let minutes = secs.div_ceil(60);
    match minutes {
        0..=1 => "about 1 minute".to_owned(),
        2..=89 => format!("about {minutes} minutes"),
        _ => {
            let (h, m) = (minutes / 60, minutes % 60);
            let hours = if h == 1 { "hour" } else { "hours" };
            match m {
                0 => format!("about {h} {hours}"),
                _ => format!("about {h} {hours} {m} min"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_in_words() {
        let words = |secs: Option<u64>| wait_words(secs.map(Duration::from_secs));
        assert_eq!(words(None), "not known yet");
        assert_eq!(words(Some(0)), "less than a minute");
        assert_eq!(words(Some(59)), "less than a minute");
        assert_eq!(words(Some(60)), "about 1 minute");
        assert_eq!(words(Some(61)), "about 2 minutes");
        assert_eq!(words(Some(240)), "about 4 minutes");
        assert_eq!(words(Some(89 * 60)), "about 89 minutes");
        assert_eq!(words(Some(90 * 60)), "about 1 hour 30 min");
        assert_eq!(words(Some(120 * 60)), "about 2 hours");
        assert_eq!(words(Some(150 * 60 + 1)), "about 2 hours 31 min");
    }

    #[test]
    fn a_routes_lines_never_exceed_the_subscribers() {
        let mut policy = Policy {
            max_concurrent_calls: subscriber_db::MaxConcurrentCalls::new(3).expect("3 calls"),
            ..Policy::default()
        };
        assert_eq!(lines(&policy), 3);
        policy.callback.lines_per_route =
            Some(subscriber_db::LinesPerRoute::new(2).expect("2 lines"));
        assert_eq!(lines(&policy), 2);
        policy.callback.lines_per_route =
            Some(subscriber_db::LinesPerRoute::new(8).expect("8 lines"));
        assert_eq!(lines(&policy), 3);
    }
}
