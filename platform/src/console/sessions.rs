//! Console sessions and the sign-in throttle, as plain values: time comes in as an `Instant`,
//! randomness only in [`SessionToken::fresh`]. No I/O, no HTTP.
//!
//! Sessions live in memory, not in the database: a session token is a bearer secret, and
//! memory keeps it off the disk (database file, WAL, backups); a restart signs agents out,
//! which the console survives by showing the sign-in page. One process serves one database,
//! so there is no second server that would need to see the session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use subscriber_db::{AgentId, AgentLogin, SubscriberId};

/// The cookie value that names a session: 256 random bits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct SessionToken(String);

impl SessionToken {
    pub(crate) fn fresh() -> Self {
        Self(hex::encode(rand::random::<[u8; 32]>()))
    }

    pub(crate) fn from_cookie(value: &str) -> Self {
        Self(value.to_owned())
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<hidden>)")
    }
}

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) subscriber: SubscriberId,
    pub(crate) agent: AgentId,
    /// The agent's credential version at sign-in; a password reset ends the session.
    pub(crate) credential_version: i64,
    /// The token every state-changing form of this session carries (CSRF).
    pub(crate) csrf: String,
    last_seen: Instant,
}

/// Every open console session.
#[derive(Debug)]
pub(crate) struct Sessions {
    idle: Duration,
    open: HashMap<SessionToken, Session>,
}

/// What a request's session cookie led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    Active(Session),
    /// It existed but was idle too long; it is gone now.
    TimedOut,
    Unknown,
}

impl Sessions {
    pub(crate) fn new(idle: Duration) -> Self {
        Self {
            idle,
            open: HashMap::new(),
        }
    }

    pub(crate) fn open(
        &mut self,
        subscriber: SubscriberId,
        agent: AgentId,
        credential_version: i64,
        now: Instant,
    ) -> SessionToken {
        self.expire(now);
        let token = SessionToken::fresh();
        let session = Session {
            subscriber,
            agent,
            credential_version,
            csrf: hex::encode(rand::random::<[u8; 16]>()),
            last_seen: now,
        };
        self.open.insert(token.clone(), session);
        token
    }

    /// The session, touched (its idle time starts again), unless it has been idle too long.
    pub(crate) fn touch(&mut self, token: &SessionToken, now: Instant) -> Lookup {
        let Some(session) = self.open.get_mut(token) else {
            return Lookup::Unknown;
        };
        if now.saturating_duration_since(session.last_seen) > self.idle {
            self.open.remove(token);
            return Lookup::TimedOut;
        }
        session.last_seen = now;
        Lookup::Active(session.clone())
    }

    pub(crate) fn close(&mut self, token: &SessionToken) {
        self.open.remove(token);
    }

    fn expire(&mut self, now: Instant) {
        let idle = self.idle;
        self.open
            .retain(|_, s| now.saturating_duration_since(s.last_seen) <= idle);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.len()
    }
}

/// What is counted: one login of one subscriber, or one client IP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Counted {
    Login(SubscriberId, AgentLogin),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed sign-ins per login and per IP, with a lock after too many. Unknown logins are
/// counted and locked like known ones, so a lock says nothing about whether a login exists.
#[derive(Debug)]
pub(crate) struct Throttle {
    per_login: u32,
    per_ip: u32,
    lockout: Duration,
    failures: HashMap<Counted, Failures>,
}

/// Above this many tracked keys, forgotten ones are pruned on the next failure.
const PRUNE_ABOVE: usize = 10_000;

impl Throttle {
    pub(crate) fn new(per_login: u32, per_ip: u32, lockout: Duration) -> Self {
        Self {
            per_login,
            per_ip,
            lockout,
            failures: HashMap::new(),
        }
    }

    /// How long until a sign-in for this login from this IP may be tried, if it is locked.
    pub(crate) fn locked(
        &self,
        sid: &SubscriberId,
        login: &AgentLogin,
        ip: IpAddr,
        now: Instant,
    ) -> Option<Duration> {
        [Counted::Login(sid.clone(), login.clone()), Counted::Ip(ip)]
            .iter()
            .filter_map(|key| self.failures.get(key)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    /// Counts a failed sign-in; answers the lock it caused, if any.
    pub(crate) fn failed(
        &mut self,
        sid: &SubscriberId,
        login: &AgentLogin,
        ip: IpAddr,
        now: Instant,
    ) -> Option<Duration> {
        if self.failures.len() > PRUNE_ABOVE {
            let lockout = self.lockout;
            self.failures.retain(|_, f| {
                now.saturating_duration_since(f.last) <= lockout
                    || f.locked_until.is_some_and(|u| u > now)
            });
        }
        let keys = [
            (Counted::Login(sid.clone(), login.clone()), self.per_login),
            (Counted::Ip(ip), self.per_ip),
        ];
        let mut lock = None;
        for (key, limit) in keys {
            let entry = self.failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
            // Failures older than the lockout, and a lock that ran out, are forgotten.
            let stale = now.saturating_duration_since(entry.last) > self.lockout;
            let lock_over = entry.locked_until.is_some_and(|u| u <= now);
            if stale || lock_over {
                *entry = Failures {
                    count: 0,
                    last: now,
                    locked_until: None,
                };
            }
            entry.count += 1;
            entry.last = now;
            if entry.count >= limit {
                entry.locked_until = Some(now + self.lockout);
                lock = Some(self.lockout);
            }
        }
        lock
    }

    /// A successful sign-in forgets the login's failures (not the IP's: one right password
    /// must not reset a spray across many logins).
    pub(crate) fn succeeded(&mut self, sid: &SubscriberId, login: &AgentLogin) {
        self.failures
            .remove(&Counted::Login(sid.clone(), login.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid() -> SubscriberId {
        "acme".parse().expect("sid")
    }

    fn login(text: &str) -> AgentLogin {
        text.parse().expect("login")
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    #[test]
    fn sessions_end_after_idle_time_and_touching_extends_them() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(Duration::from_secs(60));
        let token = sessions.open(sid(), AgentId(1), 0, t0);
        let at = |s| t0 + Duration::from_secs(s);
        assert!(matches!(sessions.touch(&token, at(50)), Lookup::Active(_)));
        assert!(matches!(sessions.touch(&token, at(110)), Lookup::Active(_)));
        assert_eq!(sessions.touch(&token, at(171)), Lookup::TimedOut);
        assert_eq!(sessions.touch(&token, at(172)), Lookup::Unknown);
        let other = sessions.open(sid(), AgentId(2), 0, at(200));
        sessions.close(&other);
        assert_eq!(sessions.touch(&other, at(201)), Lookup::Unknown);
        assert_eq!(sessions.len(), 0);
    }

    #[test]
    fn tokens_are_long_and_fresh() {
        let a = SessionToken::fresh();
        assert_eq!(a.as_str().len(), 64);
        assert!(a != SessionToken::fresh());
        assert!(!format!("{a:?}").contains(a.as_str()));
    }

    #[test]
    fn a_login_locks_after_the_limit_and_unlocks_after_the_lockout() {
        let t0 = Instant::now();
        let lockout = Duration::from_secs(30);
        let mut throttle = Throttle::new(3, 100, lockout);
        let ann = login("ann");
        assert_eq!(throttle.failed(&sid(), &ann, IP, t0), None);
        assert_eq!(throttle.failed(&sid(), &ann, IP, t0), None);
        assert_eq!(throttle.locked(&sid(), &ann, IP, t0), None);
        assert_eq!(throttle.failed(&sid(), &ann, IP, t0), Some(lockout));
        assert_eq!(throttle.locked(&sid(), &ann, IP, t0), Some(lockout));
        // Another login from the same IP is not locked by ann's failures.
        assert_eq!(throttle.locked(&sid(), &login("bob"), IP, t0), None);
        let later = t0 + lockout + Duration::from_millis(1);
        assert_eq!(throttle.locked(&sid(), &ann, IP, later), None);
        // After the lock the count starts again.
        assert_eq!(throttle.failed(&sid(), &ann, IP, later), None);
        throttle.succeeded(&sid(), &ann);
        assert_eq!(throttle.failed(&sid(), &ann, IP, later), None);
        assert_eq!(throttle.failed(&sid(), &ann, IP, later), None);
    }

    #[test]
    fn an_ip_spraying_many_logins_is_locked_for_all() {
        let t0 = Instant::now();
        let mut throttle = Throttle::new(5, 4, Duration::from_secs(60));
        for name in ["a1", "a2", "a3"] {
            assert_eq!(throttle.failed(&sid(), &login(name), IP, t0), None);
        }
        assert!(throttle.failed(&sid(), &login("a4"), IP, t0).is_some());
        assert!(throttle.locked(&sid(), &login("a5"), IP, t0).is_some());
        let elsewhere = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(throttle.locked(&sid(), &login("a5"), elsewhere, t0), None);
    }
}
