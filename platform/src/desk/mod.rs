//! The agent desk's live side (issue 12 items 2–3): the calls offered on the consoles of a
//! subscriber's agents, their short call references, and the news every console listens to.
//! The runtime puts offers here and takes them away; the console reads them, scoped to the
//! signed-in agent's subscriber, and hands a claim to the call it names. Which agent wins a
//! claim is not decided here but by the call record's one conditional UPDATE
//! (`Db::claim_call`); this registry only finds the call a reference names.
//!
//! In memory: an offer lives as long as its call task, in this process.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use subscriber_db::{AgentId, SessionId, SubscriberId};
use tokio::sync::{broadcast, mpsc};

/// How many random references of three digits are tried before the free ones are taken in order.
const SHORT_TRIES: usize = 64;

/// What a console shows of an offer: never the visitor's full number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct OfferView {
    pub(crate) reference: String,
    pub(crate) subject: String,
    pub(crate) label: Option<String>,
    /// The visitor's number through `words::mask`.
    pub(crate) number: String,
    /// When the visitor asked for the call (RFC 3339), so the console can show the wait.
    pub(crate) since: DateTime<Utc>,
}

/// An open offer: what consoles see and where a claim goes.
pub(crate) struct Offer {
    pub(crate) subscriber: SubscriberId,
    pub(crate) session: SessionId,
    pub(crate) view: OfferView,
    /// The call task's claim inbox.
    pub(crate) claims: mpsc::UnboundedSender<AgentId>,
}

/// An offer as the registry keeps it: once withdrawn it is off the consoles but still found
/// by its reference until the call ends, so a late claim hears "taken", not "no such call".
struct Kept {
    offer: Offer,
    shown: bool,
}

/// News for consoles. Each console keeps only its own subscriber's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeskNews {
    /// The subscriber's open offers changed.
    Offers(SubscriberId),
    /// This agent has a call now (a claim by PIN or on the console).
    Claimed(SubscriberId, AgentId),
    /// Something changed on the call this agent has (its timeline grew, it ended).
    CallChanged(SubscriberId, AgentId),
}

struct Holder {
    subscriber: SubscriberId,
    agent: AgentId,
    whisper: String,
}

#[derive(Default)]
struct Registry {
    reserved: HashSet<(SubscriberId, String)>,
    offers: HashMap<(SubscriberId, String), Kept>,
    /// Who has which running call, and its whisper text, for the screen-pop.
    holders: HashMap<SessionId, Holder>,
}

/// The desk's registry and news channel. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Desk {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Mutex<Registry>,
    news: broadcast::Sender<DeskNews>,
}

impl Default for Desk {
    fn default() -> Self {
        Self::new()
    }
}

impl Desk {
    pub(crate) fn new() -> Self {
        let (news, _) = broadcast::channel(256);
        Desk {
            inner: Arc::new(Inner {
                registry: Mutex::default(),
                news,
            }),
        }
    }

    // Each change to the registry is one insert or remove: a panic leaves it consistent.
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn tell(&self, news: DeskNews) {
        // No console listening is no error.
        let _ = self.inner.news.send(news);
    }

    pub(crate) fn listen(&self) -> broadcast::Receiver<DeskNews> {
        self.inner.news.subscribe()
    }

    /// A call reference no other running call of the subscriber holds: three digits while
    /// they last, else four. Held until the reservation is dropped.
    pub(crate) fn reserve(&self, sid: &SubscriberId) -> Reservation {
        let mut registry = self.registry();
        let taken = |r: &String| registry.reserved.contains(&(sid.clone(), r.clone()));
        // Random first (a reference says nothing about how busy the desk is), then the free
        // ones in order, so three digits are used up before the fourth comes in.
        let short = (0..SHORT_TRIES)
            .map(|_| rand::random_range(100..1000u32))
            .chain(100..1000)
            .map(|r| r.to_string())
            .find(|r| !taken(r));
        let reference = short.unwrap_or_else(|| {
            (0..)
                .map(|_| rand::random_range(1000..10_000u32).to_string())
                .find(|r| !taken(r))
                .unwrap_or_default()
        });
        registry.reserved.insert((sid.clone(), reference.clone()));
        Reservation {
            desk: self.clone(),
            subscriber: sid.clone(),
            reference,
        }
    }

    pub(crate) fn offer(&self, offer: Offer) {
        let sid = offer.subscriber.clone();
        let key = (sid.clone(), offer.view.reference.clone());
        let kept = Kept { offer, shown: true };
        self.registry().offers.insert(key, kept);
        self.tell(DeskNews::Offers(sid));
    }

    /// Takes the offer off the consoles (claimed, or no longer claimable).
    pub(crate) fn withdraw(&self, sid: &SubscriberId, reference: &str) {
        let gone = self
            .registry()
            .offers
            .get_mut(&(sid.clone(), reference.to_owned()))
            .is_some_and(|kept| std::mem::take(&mut kept.shown));
        if gone {
            self.tell(DeskNews::Offers(sid.clone()));
        }
    }

    /// The subscriber's open offers, oldest first.
    pub(crate) fn offers(&self, sid: &SubscriberId) -> Vec<OfferView> {
        let mut views: Vec<OfferView> = self
            .registry()
            .offers
            .iter()
            .filter(|((s, _), kept)| s == sid && kept.shown)
            .map(|(_, kept)| kept.offer.view.clone())
            .collect();
        views.sort_by(|a, b| (a.since, &a.reference).cmp(&(b.since, &b.reference)));
        views
    }

    /// The call the subscriber's offer `reference` is for (shown or already withdrawn), and
    /// its claim inbox. Another subscriber's offer with the same reference is not found: the
    /// scope check.
    pub(crate) fn offered_call(
        &self,
        sid: &SubscriberId,
        reference: &str,
    ) -> Option<(SessionId, mpsc::UnboundedSender<AgentId>)> {
        self.registry()
            .offers
            .get(&(sid.clone(), reference.to_owned()))
            .map(|kept| (kept.offer.session.clone(), kept.offer.claims.clone()))
    }

    /// `agent` has the subscriber's call `session` now; their console shows it with the
    /// text the whisper says.
    pub(crate) fn held(
        &self,
        sid: &SubscriberId,
        session: &SessionId,
        agent: AgentId,
        whisper: String,
    ) {
        let holder = Holder {
            subscriber: sid.clone(),
            agent,
            whisper,
        };
        self.registry().holders.insert(session.clone(), holder);
        self.tell(DeskNews::Claimed(sid.clone(), agent));
    }

    /// The whisper text of a running call the subscriber's `agent` holds.
    pub(crate) fn whisper(
        &self,
        sid: &SubscriberId,
        agent: AgentId,
        session: &SessionId,
    ) -> Option<String> {
        self.registry()
            .holders
            .get(session)
            .filter(|h| &h.subscriber == sid && h.agent == agent)
            .map(|h| h.whisper.clone())
    }

    /// The call changed: its holder's console refreshes what it shows.
    pub(crate) fn changed(&self, session: &SessionId) {
        let holder = self
            .registry()
            .holders
            .get(session)
            .map(|h| (h.subscriber.clone(), h.agent));
        if let Some((sid, agent)) = holder {
            self.tell(DeskNews::CallChanged(sid, agent));
        }
    }

    fn release(&self, sid: &SubscriberId, reference: &str) {
        let key = (sid.clone(), reference.to_owned());
        let offered = {
            let mut registry = self.registry();
            registry.reserved.remove(&key);
            registry.offers.remove(&key).is_some_and(|kept| kept.shown)
        };
        if offered {
            self.tell(DeskNews::Offers(sid.clone()));
        }
    }

    /// The call is over: nobody holds it any more.
    pub(crate) fn ended(&self, session: &SessionId) {
        let holder = self.registry().holders.remove(session);
        if let Some(h) = holder {
            self.tell(DeskNews::CallChanged(h.subscriber, h.agent));
        }
    }
}

/// A call's reference, held while the call runs; dropping it frees the reference and takes
/// any offer under it off the consoles (also when the call task panics).
pub(crate) struct Reservation {
    desk: Desk,
    subscriber: SubscriberId,
    reference: String,
}

impl Reservation {
    pub(crate) fn reference(&self) -> &str {
        &self.reference
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.desk.release(&self.subscriber, &self.reference);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> SubscriberId {
        s.parse().expect("sid")
    }

    #[test]
    fn references_are_unique_per_subscriber_and_offers_scoped() {
        let desk = Desk::new();
        let held: Vec<Reservation> = (0..900).map(|_| desk.reserve(&sid("acme"))).collect();
        let mut refs: Vec<&str> = held.iter().map(Reservation::reference).collect();
        refs.sort_unstable();
        refs.dedup();
        assert_eq!(refs.len(), 900, "every reference distinct");
        assert!(refs.iter().all(|r| r.len() == 3 || r.len() == 4));
        let extra = desk.reserve(&sid("acme"));
        assert_eq!(extra.reference().len(), 4, "three digits are all taken");

        let r = held[0].reference().to_owned();
        let (claims, _inbox) = mpsc::unbounded_channel();
        desk.offer(Offer {
            subscriber: sid("acme"),
            session: SessionId::new_random(),
            view: OfferView {
                reference: r.clone(),
                subject: "billing".into(),
                label: None,
                number: "+49 *** 01".into(),
                since: Utc::now(),
            },
            claims,
        });
        assert_eq!(desk.offers(&sid("acme")).len(), 1);
        assert!(desk.offers(&sid("other")).is_empty());
        assert!(desk.offered_call(&sid("other"), &r).is_none());
        assert!(desk.offered_call(&sid("acme"), &r).is_some());
        desk.withdraw(&sid("acme"), &r);
        assert!(desk.offers(&sid("acme")).is_empty(), "off the consoles");
        assert!(
            desk.offered_call(&sid("acme"), &r).is_some(),
            "a late claim finds it"
        );
        drop(held);
        assert!(
            desk.offers(&sid("acme")).is_empty(),
            "released with its call"
        );
    }
}
