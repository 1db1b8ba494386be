//! The SIP side of `voice`: one rsipstack endpoint (UDP and TCP on one address) with its
//! dialog layer, the loop that answers incoming requests, and one task per outbound leg.
//! rsipstack does the protocol work (transactions, retransmissions, ACK, CANCEL, digest auth);
//! this module is glue and must not hand-build SIP messages the stack can build. The one
//! exception is the receive path (`edge`, `lenient`, `syntax`): stateless answers to requests
//! the stack cannot parse or would accept against RFC 3261.

mod call;
mod edge;
mod identity;
mod incoming;
mod invite;
mod journal;
pub(crate) mod lenient;
pub(crate) mod message;
#[cfg(test)]
mod proptests;
mod recover;
mod snapshot;
mod syntax;
pub(crate) mod trunk;
mod unreachable;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::Method;
use rsipstack::sip::transport::Transport;
use rsipstack::transport::channel::ChannelConnection;
use rsipstack::transport::udp::{UdpConnection, UdpInner};
use rsipstack::transport::{SipAddr, SipConnection, TransportLayer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::config::VoiceConfig;
use crate::error::VoiceError;
use crate::leg::{CallLeg, LegEvent, OriginateRequest};
use crate::media::MediaEngine;
use crate::record::DialogSnapshot;

pub use journal::{clear_invite_journal, read_invite_journal};
pub use recover::{FarEndAnswer, LegEnded, RecoveryRequest};
pub use unreachable::Unreachable;

/// Methods we answer, advertised in `Allow` (RFC 3261 §20.5).
pub(crate) const ALLOWED: [Method; 6] = [
    Method::Invite,
    Method::Ack,
    Method::Bye,
    Method::Cancel,
    Method::Options,
    Method::Info,
];

/// Ports tried when the configured SIP port is 0 (any) and TCP finds one taken.
const MAX_ANY_PORT_ATTEMPTS: u32 = 8;

/// How long a shutdown waits for legs to send their BYE or CANCEL before the transport closes.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The telephony unit: places outbound calls over the configured trunks.
///
/// Cheap to clone; all clones share one SIP endpoint. Cancelling the `shutdown` token given
/// to [`Voice::start`] hangs up every leg and then closes the SIP sockets.
#[derive(Clone)]
pub struct Voice {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: VoiceConfig,
    pub(crate) media: Arc<MediaEngine>,
    pub(crate) dialogs: Arc<DialogLayer>,
    /// Host for From, Contact and P-Asserted-Identity.
    pub(crate) host: String,
    pub(crate) sip_addr: SocketAddr,
    pub(crate) shutdown: CancellationToken,
    /// The live leg tasks (spawned through it), so a shutdown can wait for their BYEs.
    legs: TaskTracker,
    /// ICMP errors for datagrams we sent, as the UDP edge reads them.
    pub(crate) unreached: unreachable::Notices,
}

impl Voice {
    /// Bind UDP and TCP on `config.sip_listen`, start the endpoint and the incoming-request
    /// loop. Returns once both sockets are bound.
    pub async fn start(
        config: VoiceConfig,
        shutdown: CancellationToken,
    ) -> Result<Voice, VoiceError> {
        // A bad trunk is a config error: say so at start, not on the first call through it.
        for trunk in &config.trunks {
            trunk::check_target(&trunk.target)?;
        }
        let media = MediaEngine::new(config.media.clone())?;
        let journal =
            match &config.invite_journal {
                Some(path) => Some(journal::InviteJournal::open(path).map_err(|error| {
                    VoiceError::Journal {
                        path: path.clone(),
                        error,
                    }
                })?),
                None => None,
            };
        // The transport outlives `shutdown` by the grace period so legs can still send BYE.
        let transport_token = CancellationToken::new();
        let transport = TransportLayer::new(transport_token.clone());

        let budget = incoming::SourceBudget::new();
        let screen = edge::Screen::new(budget.clone(), config.user_agent.clone());
        let unreached = unreachable::Notices::new();
        let udp_addr = bind_transports(
            config.sip_listen,
            &transport_token,
            &transport,
            &screen,
            &unreached,
        )
        .await?;

        let endpoint = EndpointBuilder::new()
            .with_cancel_token(transport_token.clone())
            .with_transport_layer(transport)
            .with_allows(ALLOWED.to_vec())
            .with_inspector(Box::new(identity::Identity::new(
                config.user_agent.clone(),
                journal,
            )))
            .build();
        let incoming = endpoint
            .incoming_transactions()
            .map_err(|e| VoiceError::Stack(Box::new(e)))?;
        let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let host = config
            .public_host
            .clone()
            .unwrap_or_else(|| udp_addr.ip().to_string());

        let inner = Arc::new(Inner {
            media,
            dialogs,
            host,
            sip_addr: udp_addr,
            shutdown: shutdown.clone(),
            legs: TaskTracker::new(),
            unreached,
            config,
        });
        info!(sip = %udp_addr, "voice: SIP listening on UDP and TCP");

        tokio::spawn(async move { endpoint.serve().await });
        tokio::spawn(incoming::serve(inner.clone(), incoming, budget));
        tokio::spawn(close_after_legs(inner.clone(), transport_token));
        Ok(Voice { inner })
    }

    /// The bound UDP address (TCP listens on the same port).
    pub fn sip_addr(&self) -> SocketAddr {
        self.inner.sip_addr
    }

    /// End a leg that a process which died left open, from its stored dialog alone: CANCEL
    /// when it was ringing, BYE when `answered`. Returns once the far end answered or the
    /// transaction gave up (Timer F, about 34 s at most). Call it before placing calls: it
    /// shares the SIP endpoint with them.
    pub async fn end_left_open(&self, dialog: &DialogSnapshot, answered: bool) -> LegEnded {
        recover::end_left_open(&self.inner, dialog, answered).await
    }

    /// Place an outbound call. Events arrive on the returned receiver until
    /// [`LegEvent::HungUp`]; dropping the receiver does not end the call.
    pub async fn originate(
        &self,
        request: OriginateRequest,
    ) -> Result<(CallLeg, mpsc::Receiver<LegEvent>), VoiceError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(VoiceError::ShutDown);
        }
        call::originate(self.inner.clone(), request).await
    }
}

/// Bind UDP on `listen` and TCP on the port UDP got, put both behind the edge (`edge.rs`),
/// add them to `transport`, and return the UDP address. With port 0 that port may already be
/// taken for TCP by another program; then take another UDP port rather than fail a start that
/// asked for "any port".
async fn bind_transports(
    listen: SocketAddr,
    token: &CancellationToken,
    transport: &TransportLayer,
    screen: &Arc<edge::Screen>,
    unreached: &unreachable::Notices,
) -> Result<SocketAddr, VoiceError> {
    let mut attempt = 0;
    let (udp, tcp, bound) = loop {
        attempt += 1;
        let udp = std::net::UdpSocket::bind(listen).map_err(|error| VoiceError::Listen {
            addr: listen,
            error,
        })?;
        let port = udp
            .local_addr()
            .map_err(|error| VoiceError::Listen {
                addr: listen,
                error,
            })?
            .port();
        let bound = SocketAddr::new(listen.ip(), port);
        match TcpListener::bind(bound) {
            Ok(tcp) => break (udp, tcp, bound),
            Err(error) if listen.port() == 0 && attempt < MAX_ANY_PORT_ATTEMPTS => {
                debug!(%bound, %error, "SIP port taken for TCP; trying another");
            }
            Err(error) => return Err(VoiceError::Listen { addr: bound, error }),
        }
    };
    let listen_err = |error| VoiceError::Listen { addr: bound, error };
    udp.set_nonblocking(true).map_err(listen_err)?;
    tcp.set_nonblocking(true).map_err(listen_err)?;
    // Without it the kernel drops the ICMP errors a dead trunk sends back (ip(7)).
    unreachable::enable(&udp, bound.is_ipv6()).map_err(listen_err)?;
    let udp = tokio::net::UdpSocket::from_std(udp).map_err(listen_err)?;
    let tcp = tokio::net::TcpListener::from_std(tcp).map_err(listen_err)?;
    // As rsipstack's own UDP transport names itself: 0.0.0.0 becomes an interface address.
    let udp_addr = SipConnection::resolve_bind_address(bound);
    let udp = UdpConnection::attach(
        UdpInner {
            conn: Arc::new(edge::EdgeUdp::new(udp, screen.clone(), unreached.clone())),
            addr: SipAddr {
                r#type: Some(Transport::Udp),
                addr: udp_addr.into(),
            },
        },
        None,
        Some(token.child_token()),
    )
    .await;
    transport.add_transport(udp.into());

    // Screened TCP messages enter the stack through its channel transport, registered under
    // our own TCP address (no peer is ever looked up there).
    let tcp_local = SipAddr {
        r#type: Some(Transport::Tcp),
        addr: bound.into(),
    };
    let (inject, injected) = mpsc::unbounded_channel();
    let (unused, _) = mpsc::unbounded_channel();
    let channel = ChannelConnection::create_connection(
        injected,
        unused,
        tcp_local.clone(),
        Some(token.child_token()),
    )
    .await
    .map_err(|e| listen_error(bound, e))?;
    transport.add_connection(SipConnection::Channel(channel));
    tokio::spawn(edge::serve_tcp(
        tcp,
        edge::TcpEdge {
            local: tcp_local,
            inject,
            screen: screen.clone(),
            connections: edge::Connections::new(edge::MAX_TCP_PER_SOURCE, edge::MAX_TCP),
            token: token.child_token(),
            idle: transport.stream_idle_timeout(),
        },
    ));
    Ok(udp_addr)
}

fn listen_error(addr: SocketAddr, e: rsipstack::Error) -> VoiceError {
    let error = match e {
        rsipstack::Error::IoError(io) => io,
        other => std::io::Error::other(other.to_string()),
    };
    VoiceError::Listen { addr, error }
}

/// After `shutdown`, wait for the legs to finish their BYE/CANCEL (bounded), then close the
/// SIP sockets.
async fn close_after_legs(inner: Arc<Inner>, transport: CancellationToken) {
    inner.shutdown.cancelled().await;
    // `wait` returns once the tracker is closed and empty. A leg spawned after this (an
    // originate that passed its shutdown check just before) is still waited for.
    inner.legs.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, inner.legs.wait())
        .await
        .is_err()
    {
        warn!(
            legs = inner.legs.len(),
            "voice: legs still ending at shutdown; closing SIP anyway"
        );
    }
    transport.cancel();
}
