//! Requests that reach us unasked. In-dialog requests go to their dialog (rsipstack answers BYE
//! and hands INFO, re-INVITE and OPTIONS to the leg task). Outside a dialog we are
//! outbound-only: an INVITE is refused with 403 and creates nothing, OPTIONS is answered, and
//! everything else gets 481 or 405. Nothing here places or changes a call.
//!
//! Unsolicited traffic has a bounded cost (issue 10: a 20,000-INVITE burst grew the process
//! from 18 MB to 386 MB): requests from one source address beyond [`SourceLimits`] are dropped
//! unanswered, and at most [`MAX_LINGERING`] refused INVITEs keep their transaction for the
//! ACK; beyond that the 403 is sent once and the transaction let go. Trunks are exempt, so
//! their traffic keeps priority during a flood. The budget ([`SourceBudget`]) is shared with
//! the receive path (`edge`), whose own answers to what the stack cannot parse count too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use rsipstack::transaction::TransactionReceiver;
use rsipstack::transaction::transaction::Transaction;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use super::{ALLOWED, Inner};

/// Longest a refused INVITE's transaction is kept to retransmit its 403 until the ACK
/// (RFC 3261 §17.2.1 Timer H = 64·T1).
const REFUSED_INVITE_LINGER: Duration = Duration::from_secs(32);
/// Refused INVITEs whose transaction lingers for the ACK at once, whoever sent them: the
/// bound on what unsolicited INVITEs can hold (about 16 KiB each).
pub(crate) const MAX_LINGERING: usize = 256;

/// Out-of-dialog requests one source address may send per window before the rest of the
/// window is dropped unanswered (scanners get silence, as from a closed port).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SourceLimits {
    pub(crate) per_window: u32,
    pub(crate) window: Duration,
    /// Sources tracked at once; beyond it the table starts over (a spoofed-source flood
    /// cannot grow it without bound).
    pub(crate) max_sources: usize,
}

pub(crate) const SOURCE_LIMITS: SourceLimits = SourceLimits {
    per_window: 20,
    window: Duration::from_secs(1),
    max_sources: 10_000,
};

/// Per-source counts of the current window.
struct Sources {
    limits: SourceLimits,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Sources {
    fn new(limits: SourceLimits) -> Self {
        Self {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request from `ip` at `now`; false once the source is over its limit.
    fn admit(&self, ip: IpAddr, now: Instant) -> bool {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() >= self.limits.max_sources && !windows.contains_key(&ip) {
            windows.retain(|_, (start, _)| now.duration_since(*start) < self.limits.window);
            if windows.len() >= self.limits.max_sources {
                windows.clear();
            }
        }
        let (start, count) = windows.entry(ip).or_insert((now, 0));
        if now.duration_since(*start) >= self.limits.window {
            *start = now;
            *count = 0;
        }
        *count = count.saturating_add(1);
        *count <= self.limits.per_window
    }
}

/// The per-source budget of out-of-dialog traffic, shared by this loop and the receive path
/// (`edge`), whose own answers (400, 501, 505) count against it too. Trunks are exempt.
pub(super) struct SourceBudget {
    sources: Sources,
    trunks: RwLock<Vec<IpAddr>>,
}

impl SourceBudget {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            sources: Sources::new(SOURCE_LIMITS),
            trunks: RwLock::new(Vec::new()),
        })
    }

    /// Counts one message from `ip` at `now`; false once the source is over its limit.
    pub(super) fn admit(&self, ip: IpAddr, now: Instant) -> bool {
        self.is_trunk(ip) || self.sources.admit(ip, now)
    }

    pub(super) fn is_trunk(&self, ip: IpAddr) -> bool {
        self.trunks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&ip)
    }
}

/// What the loop shares with each request's task.
struct Edge {
    inner: Arc<Inner>,
    budget: Arc<SourceBudget>,
    lingering: Arc<Semaphore>,
}

pub(super) async fn serve(
    inner: Arc<Inner>,
    mut incoming: TransactionReceiver,
    budget: Arc<SourceBudget>,
) {
    let trunks = trunk_addresses(&inner).await;
    *budget
        .trunks
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = trunks;
    let edge = Arc::new(Edge {
        inner,
        budget,
        lingering: Arc::new(Semaphore::new(MAX_LINGERING)),
    });
    let mut dropped: u64 = 0;
    while let Some(tx) = incoming.recv().await {
        if !edge.admitted(&tx) {
            dropped += 1;
            if dropped.is_power_of_two() {
                info!(
                    dropped,
                    "voice: requests over a source's limit dropped unanswered"
                );
            }
            continue;
        }
        // Each request on its own task: a dialog waiting for its leg task to answer an INFO or
        // re-INVITE must not hold up the next request.
        tokio::spawn(handle(Arc::clone(&edge), tx));
    }
    debug!("voice: incoming request loop ended");
}

impl Edge {
    /// In-dialog requests and trunks always pass; other sources within their limit.
    fn admitted(&self, tx: &Transaction) -> bool {
        let Some(ip) = source_ip(tx) else {
            return true;
        };
        if self.budget.is_trunk(ip) || self.inner.dialogs.match_dialog(tx).is_some() {
            return true;
        }
        self.budget.sources.admit(ip, Instant::now())
    }
}

/// The trunks' addresses, resolved once at start (a name that does not resolve in 2 s is
/// left out: its traffic is then limited like anyone's, which is logged).
async fn trunk_addresses(inner: &Inner) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for trunk in &inner.config.trunks {
        let target = if trunk.target.contains(':') {
            trunk.target.clone()
        } else {
            format!("{}:5060", trunk.target)
        };
        match tokio::time::timeout(Duration::from_secs(2), tokio::net::lookup_host(&target)).await {
            Ok(Ok(addrs)) => out.extend(addrs.map(|a| a.ip())),
            _ => {
                warn!(target = %trunk.target, "voice: trunk address not resolved; not exempt from source limits")
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn source_ip(tx: &Transaction) -> Option<IpAddr> {
    tx.connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .and_then(|a| a.get_socketaddr().ok())
        .map(|a| a.ip())
}

async fn handle(edge: Arc<Edge>, mut tx: Transaction) {
    let inner = &edge.inner;
    let method = tx.original.method;
    if let Some(mut dialog) = inner.dialogs.match_dialog(&tx) {
        if let Err(e) = dialog.handle(&mut tx).await {
            debug!(%method, error = %e, "voice: in-dialog request failed");
        }
        return;
    }
    let source = tx
        .connection
        .as_ref()
        .and_then(|c| c.get_remote_addr())
        .map(|a| a.to_string())
        .unwrap_or_default();
    let in_dialog = to_tag(&tx).is_some();
    if let Some(refusal) = nonconformant(&tx) {
        debug!(%method, %source, status = %refusal.status, "voice: request refused as malformed or unsupported");
        if method != Method::Ack
            && let Err(e) = tx.reply_with(refusal.status, refusal.headers, None).await
        {
            debug!(%method, %source, error = %e, "voice: could not answer request");
        }
        return;
    }
    let result = match method {
        Method::Invite if !in_dialog => {
            // Outbound-only (ARCHITECTURE.md "SIP and media"): no call is ever created here.
            warn!(%source, "voice: refused unsolicited INVITE with 403");
            let sent = tx.reply(StatusCode::Forbidden).await;
            // Within the bound, keep the transaction for the ACK (a lost 403 is resent);
            // beyond it, the 403 went once and the transaction goes.
            if let Ok(_permit) = Arc::clone(&edge.lingering).try_acquire_owned() {
                linger_for_ack(&mut tx).await;
            }
            sent
        }
        Method::Options => {
            tx.reply_with(StatusCode::OK, capability_headers(), None)
                .await
        }
        // An ACK without a transaction belongs to nothing we sent; RFC 3261 §17.2.3 drops it.
        Method::Ack => Ok(()),
        // RFC 3261 §12.2.2: a request naming a dialog we do not have.
        _ if in_dialog => tx.reply(StatusCode::CallTransactionDoesNotExist).await,
        _ => {
            debug!(%method, %source, "voice: method not allowed outside a dialog");
            tx.reply_with(StatusCode::MethodNotAllowed, vec![allow_header()], None)
                .await
        }
    };
    if let Err(e) = result {
        debug!(%method, %source, error = %e, "voice: could not answer request");
    }
}

/// A request a UAS must refuse before looking at what it asks (RFC 3261 §8.2), and how.
struct Refusal {
    status: StatusCode,
    headers: Vec<Header>,
}

/// RFC 3261 §8.2.2.1: a Request-URI scheme we do not serve is 416; §8.2.2.3: a `Require`
/// naming any extension is 420 with those tags in `Unsupported` (we support none); §8.1.1.5
/// / §20.16: a CSeq whose method is not the request's is a malformed request, 400. ACK and
/// CANCEL are never refused for `Require` (§8.2.2.3).
fn nonconformant(tx: &Transaction) -> Option<Refusal> {
    let request = &tx.original;
    let cseq_method = request.cseq_header().ok().and_then(|c| c.method().ok());
    if cseq_method.is_some_and(|m| m != request.method) {
        return Some(Refusal {
            status: StatusCode::BadRequest,
            headers: vec![Header::Other(
                "Warning".into(),
                "399 - \"CSeq method does not match the request method\"".into(),
            )],
        });
    }
    if let rsipstack::sip::Scheme::Other(_) = request.uri.scheme.clone().unwrap_or_default() {
        return Some(Refusal {
            status: StatusCode::UnsupportedUriScheme,
            headers: Vec::new(),
        });
    }
    if !matches!(request.method, Method::Ack | Method::Cancel) {
        let required: Vec<String> = request
            .headers
            .iter()
            .filter_map(|h| match h {
                Header::Require(value) => Some(value.value().to_owned()),
                _ => None,
            })
            .flat_map(|v| {
                v.split(',')
                    .map(|t| t.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .filter(|t| !t.is_empty())
            .collect();
        if !required.is_empty() {
            return Some(Refusal {
                status: StatusCode::BadExtension,
                headers: vec![Header::Unsupported(required.join(", ").into())],
            });
        }
    }
    None
}

fn to_tag(tx: &Transaction) -> Option<String> {
    let to = tx.original.to_header().ok()?;
    let tag = to.tag().ok()??;
    Some(tag.value().to_string())
}

/// Keep a rejected INVITE's server transaction until its ACK so a lost 403 is retransmitted.
async fn linger_for_ack(tx: &mut Transaction) {
    let drained = async { while tx.receive().await.is_some() {} };
    let _ = tokio::time::timeout(REFUSED_INVITE_LINGER, drained).await;
}

/// RFC 3261 §11.2: an OPTIONS answer lists what we accept.
fn capability_headers() -> Vec<Header> {
    vec![
        allow_header(),
        Header::Accept("application/sdp, application/dtmf-relay".into()),
    ]
}

fn allow_header() -> Header {
    let methods: Vec<String> = ALLOWED.iter().map(|m| m.to_string()).collect();
    Header::Allow(methods.join(", ").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_limited_per_window_and_others_are_not() {
        let limits = SourceLimits {
            per_window: 3,
            window: Duration::from_secs(1),
            max_sources: 4,
        };
        let sources = Sources::new(limits);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let got: Vec<bool> = (0..5).map(|_| sources.admit(a, t0)).collect();
        assert_eq!(got, [true, true, true, false, false]);
        assert!(sources.admit(b, t0), "another source has its own window");
        assert!(
            sources.admit(a, t0 + Duration::from_secs(1)),
            "a new window"
        );
    }

    #[test]
    fn the_source_table_stays_bounded() {
        let limits = SourceLimits {
            per_window: 1,
            window: Duration::from_secs(60),
            max_sources: 100,
        };
        let sources = Sources::new(limits);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            assert!(
                sources.admit(ip, t0),
                "a new source gets its first request in"
            );
        }
        let held = sources.windows.lock().expect("lock").len();
        assert!(held <= 100, "{held} sources held");
    }
}
