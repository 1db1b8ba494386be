//! Which tab of a console session has the desk (issue 12 item 6). One session can be open in
//! several tabs or windows; one of them owns the desk and the others are read-only (they
//! still show the live desk, with a banner and a button to move the desk to them). A tab
//! names itself with an id the page keeps in `sessionStorage`, which a reload keeps and a new
//! tab does not.
//!
//! The first tab whose live channel opens owns the desk. The owner keeps it across a reload
//! or a laptop waking from sleep: its channel reconnects with the same id, and until
//! [`RECLAIM`] has passed with no channel of the owner open, no other tab takes the desk by
//! just opening. "Use this tab" moves it at once. In memory, per process: a restart lets the
//! first tab that reconnects own the desk again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::sessions::SessionToken;

/// How long a desk stays with a tab whose live channel closed (a reload takes well under a
/// second; a browser reconnects an event stream about 3 s after it broke).
pub(crate) const RECLAIM: Duration = Duration::from_secs(10);
/// Entries with no open channel are forgotten after this.
const FORGET: Duration = Duration::from_secs(3600);

/// A tab id as a page sends it: 8 to 64 letters, digits or `-`.
pub(crate) fn tab_id(text: &str) -> Option<String> {
    let ok = (8..=64).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then(|| text.to_owned())
}

struct Desk {
    owner: watch::Sender<String>,
    /// Open live channels per tab.
    live: HashMap<String, u32>,
    /// When the owner's last channel closed, while none is open.
    owner_left: Option<Instant>,
}

impl Desk {
    fn owner(&self) -> String {
        self.owner.borrow().clone()
    }

    fn open(&self) -> u32 {
        self.live.values().sum()
    }
}

/// The owners of every session's desk.
#[derive(Default)]
pub(crate) struct Tabs {
    desks: Mutex<HashMap<SessionToken, Desk>>,
}

/// Keeps a tab's live channel counted; dropping it (the channel closed) counts it out.
pub(crate) struct Joined {
    tabs: Arc<Tabs>,
    token: SessionToken,
    tab: String,
    /// The owner's tab id, changing when the desk moves.
    pub(crate) owner: watch::Receiver<String>,
}

impl Tabs {
    fn desks(&self) -> MutexGuard<'_, HashMap<SessionToken, Desk>> {
        self.desks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A live channel of `tab` opened in the session `token`.
    pub(crate) fn join(self: &Arc<Self>, token: &SessionToken, tab: &str, now: Instant) -> Joined {
        let mut desks = self.desks();
        desks.retain(|_, d| d.open() > 0 || d.owner_left.is_none_or(|t| now - t < FORGET));
        let desk = desks.entry(token.clone()).or_insert_with(|| Desk {
            owner: watch::channel(tab.to_owned()).0,
            live: HashMap::new(),
            owner_left: None,
        });
        let owner = desk.owner();
        let owner_gone = desk.live.get(&owner).copied().unwrap_or(0) == 0
            && desk.owner_left.is_none_or(|left| now - left >= RECLAIM);
        if owner != tab && owner_gone {
            desk.owner.send_replace(tab.to_owned());
        }
        *desk.live.entry(tab.to_owned()).or_insert(0) += 1;
        if desk.owner() == tab {
            desk.owner_left = None;
        }
        Joined {
            tabs: Arc::clone(self),
            token: token.clone(),
            tab: tab.to_owned(),
            owner: desk.owner.subscribe(),
        }
    }

    /// Moves the session's desk to `tab` ("Use this tab").
    pub(crate) fn take_over(&self, token: &SessionToken, tab: &str) {
        let mut desks = self.desks();
        let desk = desks.entry(token.clone()).or_insert_with(|| Desk {
            owner: watch::channel(tab.to_owned()).0,
            live: HashMap::new(),
            owner_left: None,
        });
        desk.owner.send_replace(tab.to_owned());
        desk.owner_left = (desk.live.get(tab).copied().unwrap_or(0) == 0).then(Instant::now);
    }

    /// Whether `tab` may change the desk: it owns it, or no tab does yet.
    pub(crate) fn may_act(&self, token: &SessionToken, tab: &str) -> bool {
        self.desks().get(token).is_none_or(|d| d.owner() == tab)
    }

    fn leave(&self, token: &SessionToken, tab: &str, now: Instant) {
        let mut desks = self.desks();
        let Some(desk) = desks.get_mut(token) else {
            return;
        };
        if let Some(n) = desk.live.get_mut(tab) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                desk.live.remove(tab);
            }
        }
        if desk.owner() == tab && !desk.live.contains_key(tab) {
            desk.owner_left = Some(now);
        }
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        self.tabs.leave(&self.token, &self.tab, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_tab_owns_the_desk_keeps_it_across_a_reload_and_gives_it_up_on_take_over() {
        let tabs = Arc::new(Tabs::default());
        let token = SessionToken::fresh();
        let t0 = Instant::now();
        let a = tabs.join(&token, "tab-aaaaaaaa", t0);
        let b = tabs.join(&token, "tab-bbbbbbbb", t0);
        assert_eq!(*b.owner.borrow(), "tab-aaaaaaaa");
        assert!(tabs.may_act(&token, "tab-aaaaaaaa"));
        assert!(!tabs.may_act(&token, "tab-bbbbbbbb"));
        // A reloads: its channel closes and opens again; B opening meanwhile takes nothing.
        drop(a);
        let c = tabs.join(&token, "tab-cccccccc", t0 + Duration::from_secs(1));
        assert_eq!(*c.owner.borrow(), "tab-aaaaaaaa");
        let a = tabs.join(&token, "tab-aaaaaaaa", t0 + Duration::from_secs(2));
        assert_eq!(*a.owner.borrow(), "tab-aaaaaaaa");
        // "Use this tab" in B.
        tabs.take_over(&token, "tab-bbbbbbbb");
        assert_eq!(*a.owner.borrow(), "tab-bbbbbbbb");
        assert!(!tabs.may_act(&token, "tab-aaaaaaaa"));
        // The owner gone past the grace: the next tab to open takes the desk.
        drop(b);
        let later = Instant::now() + RECLAIM + Duration::from_secs(1);
        let d = tabs.join(&token, "tab-dddddddd", later);
        assert_eq!(*d.owner.borrow(), "tab-dddddddd");
        drop((a, c, d));
        // Another session is another desk.
        assert!(tabs.may_act(&SessionToken::fresh(), "tab-aaaaaaaa"));
    }

    #[test]
    fn tab_ids_are_checked() {
        assert_eq!(tab_id("k3J9-aa01").as_deref(), Some("k3J9-aa01"));
        for bad in ["", "short", "has space!", &"x".repeat(65), "täb-12345"] {
            assert_eq!(tab_id(bad), None, "{bad:?}");
        }
    }
}
