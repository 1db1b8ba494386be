//! The receive path in front of rsipstack: voice reads every UDP datagram and every inbound TCP
//! byte itself, lets [`lenient::screen`] look at each message first, answers what it refuses
//! (400 with the reason, 501, 505) and hands the rest to the stack unchanged in meaning. This
//! is the "wrapper" issue 10 allows instead of patching rsipstack, whose transports drop a
//! datagram, or close a TCP connection, on anything its parser rejects.
//!
//! Hooks, all public rsipstack 0.7.14 API: UDP through `UdpConnection::attach` over our own
//! [`rsipstack::platform::net::UdpSocket`]; TCP by accepting connections ourselves, taking the
//! read half of each `TcpConnection` (its write half still sends the stack's answers) and
//! feeding parsed messages in through a `ChannelConnection`, the stack's channel transport.
//! Answers made here count against the same per-source budget as the stack's
//! ([`SourceBudget`]), so a flood of garbage buys no more answers than a flood of OPTIONS.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rsipstack::sip::SipMessage;
use rsipstack::sip::transport::Transport;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::{SipAddr, SipConnection, TransportEvent};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::incoming::SourceBudget;
use super::lenient::{self, Carrier, Frame, Screened};
use super::unreachable::{self, Notices};

/// Inbound TCP connections one source may hold at once, and all sources together: beyond
/// either a new connection is closed as soon as it is accepted, so idle or slow connections
/// cannot grow memory without bound (issue 10). Trunks are exempt.
pub(super) const MAX_TCP_PER_SOURCE: usize = 16;
pub(super) const MAX_TCP: usize = 1024;

/// How long a connection whose framing is lost stays open for answers already on their way.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// What the edge does with one message after [`lenient::screen`].
enum Action {
    /// The stack gets these bytes.
    Deliver(Vec<u8>),
    /// We send these bytes back to the source.
    Answer(Vec<u8>),
    /// Nothing: dropped, or the source is over its budget.
    Nothing,
}

/// The screening shared by both transports: the budget, our product token for `Server`, and
/// counts for the log.
pub(super) struct Screen {
    budget: Arc<SourceBudget>,
    server: Option<String>,
    refused: AtomicU64,
    dropped: AtomicU64,
}

impl Screen {
    pub(super) fn new(budget: Arc<SourceBudget>, server: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            budget,
            server,
            refused: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    fn inspect(&self, bytes: &[u8], source: SocketAddr, carrier: Carrier) -> Action {
        match lenient::screen(bytes, carrier) {
            Screened::Pass(bytes) => Action::Deliver(bytes),
            Screened::Refuse(refusal) => {
                if !self.budget.admit(source.ip(), Instant::now()) {
                    self.count_drop(source, "over the source's budget");
                    return Action::Nothing;
                }
                let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
                debug!(%source, status = refusal.status, reason = refusal.reason, "voice: request refused at the SIP edge");
                if refused.is_power_of_two() {
                    info!(
                        refused,
                        "voice: malformed or unsupported requests answered at the SIP edge"
                    );
                }
                Action::Answer(refusal.to_bytes(source, self.server.as_deref()))
            }
            Screened::Drop(reason) => {
                self.count_drop(source, reason);
                Action::Nothing
            }
        }
    }

    fn count_drop(&self, source: SocketAddr, reason: &'static str) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        debug!(%source, reason, "voice: message dropped at the SIP edge");
        if dropped.is_power_of_two() {
            info!(
                dropped,
                "voice: messages dropped unanswered at the SIP edge"
            );
        }
    }
}

/// Our UDP socket as rsipstack's: `recv_from` returns only datagrams the stack may parse.
pub(super) struct EdgeUdp {
    socket: UdpSocket,
    screen: Arc<Screen>,
    unreached: Notices,
}

impl EdgeUdp {
    pub(super) fn new(socket: UdpSocket, screen: Arc<Screen>, unreached: Notices) -> Self {
        Self {
            socket,
            screen,
            unreached,
        }
    }

    async fn next_for_stack(&self, buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        loop {
            let (n, source) = match self.socket.recv_from(buf).await {
                Ok(received) => received,
                // An ICMP error for something we sent: the socket is fine; tell the legs.
                Err(error) if unreachable::is_queued_error(&error) => {
                    unreachable::drain(&self.socket, &self.unreached);
                    continue;
                }
                Err(error) => return Err(error.into()),
            };
            match self.screen.inspect(&buf[..n], source, Carrier::Datagram) {
                Action::Deliver(bytes) if bytes.len() <= buf.len() => {
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    return Ok((bytes.len(), source));
                }
                // Tightened and tagged it no longer fits the stack's buffer: as received.
                Action::Deliver(_) => return Ok((n, source)),
                Action::Answer(answer) => {
                    if let Err(error) = self.socket.send_to(&answer, source).await {
                        debug!(%source, %error, "voice: could not send an edge answer");
                    }
                }
                Action::Nothing => {}
            }
        }
    }
}

type StackFuture<'a, T> = Pin<Box<dyn Future<Output = rsipstack::Result<T>> + Send + 'a>>;

// The trait is declared with `async_trait`; this is its expansion, written out so voice needs
// no macro crate of its own.
impl rsipstack::platform::net::UdpSocket for EdgeUdp {
    fn recv_from<'s, 'b, 'f>(&'s self, buf: &'b mut [u8]) -> StackFuture<'f, (usize, SocketAddr)>
    where
        's: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(self.next_for_stack(buf))
    }

    fn send_to<'s, 'b, 'f>(&'s self, buf: &'b [u8], addr: SocketAddr) -> StackFuture<'f, usize>
    where
        's: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move { Ok(self.socket.send_to(buf, addr).await?) })
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
}

/// The inbound TCP connections open now, per source address.
pub(super) struct Connections {
    limits: (usize, usize),
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it frees its place.
pub(super) struct Slot {
    connections: Arc<Connections>,
    ip: IpAddr,
}

impl Connections {
    /// At most `per_source` connections from one address and `total` in all.
    pub(super) fn new(per_source: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            limits: (per_source, total),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A place for a new connection from `ip`, or `None` when it or everyone is at the limit.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let total: usize = held.values().sum();
        let from_ip = held.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.limits.0 || total >= self.limits.1 {
            return None;
        }
        held.insert(ip, from_ip + 1);
        Some(Slot {
            connections: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self
            .connections
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// Where TCP messages go once screened: into the stack through its channel transport.
#[derive(Clone)]
pub(super) struct TcpEdge {
    pub(super) local: SipAddr,
    pub(super) inject: UnboundedSender<TransportEvent>,
    pub(super) screen: Arc<Screen>,
    pub(super) connections: Arc<Connections>,
    pub(super) token: CancellationToken,
    /// A connection that sends nothing for this long is closed (rsipstack's stream default).
    pub(super) idle: Duration,
}

/// Accept inbound TCP connections until `edge.token` is cancelled.
pub(super) async fn serve_tcp(listener: TcpListener, edge: TcpEdge) {
    loop {
        let accepted = tokio::select! {
            () = edge.token.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                let slot = if edge.screen.budget.is_trunk(remote.ip()) {
                    None
                } else {
                    match edge.connections.admit(remote.ip()) {
                        Some(slot) => Some(slot),
                        None => {
                            // Dropping the stream closes it.
                            edge.screen
                                .count_drop(remote, "over the TCP connection limit");
                            continue;
                        }
                    }
                };
                tokio::spawn(serve_stream(stream, remote, edge.clone(), slot));
            }
            Err(error) => debug!(%error, "voice: TCP accept failed"),
        }
    }
}

/// Serve one connection until it closes, fails, idles or loses its framing; `_slot` holds its
/// place in [`Connections`] until then.
async fn serve_stream(stream: TcpStream, remote: SocketAddr, edge: TcpEdge, _slot: Option<Slot>) {
    let token = edge.token.child_token();
    let Ok(conn) = TcpConnection::from_stream(stream, edge.local.clone(), Some(token.clone()))
    else {
        return;
    };
    let Some(mut reader) = conn.inner.read_half.lock().await.take() else {
        return;
    };
    let stream = Stream {
        remote,
        remote_sip: SipAddr {
            r#type: Some(Transport::Tcp),
            addr: remote.into(),
        },
        sip: SipConnection::Tcp(conn.clone()),
        conn,
        edge,
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 8192];
    loop {
        let read = tokio::select! {
            () = token.cancelled() => break,
            read = tokio::time::timeout(stream.edge.idle, reader.read(&mut chunk)) => read,
        };
        let n = match read {
            Ok(Ok(n)) if n > 0 => n,
            _ => break, // closed, failed or idle
        };
        buf.extend_from_slice(&chunk[..n]);
        if !stream.drain(&mut buf).await {
            break;
        }
    }
    token.cancel();
    let _ = stream.conn.inner.close().await;
}

/// One inbound TCP connection: the stack answers on `sip` (its write half).
struct Stream {
    remote: SocketAddr,
    remote_sip: SipAddr,
    sip: SipConnection,
    conn: TcpConnection,
    edge: TcpEdge,
}

impl Stream {
    /// Handle every whole message in `buf`; false when the connection must close.
    async fn drain(&self, buf: &mut Vec<u8>) -> bool {
        loop {
            match lenient::frame(buf) {
                Frame::Incomplete => return true,
                Frame::Skip(n) => {
                    buf.drain(..n);
                }
                Frame::Ping => {
                    buf.drain(..4);
                    if self.conn.inner.send_raw(b"\r\n").await.is_err() {
                        return false;
                    }
                }
                Frame::Message(n) => {
                    let message: Vec<u8> = buf.drain(..n).collect();
                    if !self.handle(&message).await {
                        return false;
                    }
                }
                Frame::Unframeable(head) => {
                    // RFC 4475 §3.1.2.3: answer if possible, then close; the stream's framing
                    // is lost.
                    let head = &buf[..head.min(buf.len())];
                    if let Action::Answer(answer) =
                        self.edge.screen.inspect(head, self.remote, Carrier::Stream)
                    {
                        let _ = self.conn.inner.send_raw(&answer).await;
                    }
                    // The stack may still be answering the messages before it on this
                    // connection (RFC 4475 §3.1.1.8 "dblreq" over TCP).
                    tokio::time::sleep(CLOSE_GRACE).await;
                    return false;
                }
            }
        }
    }

    async fn handle(&self, message: &[u8]) -> bool {
        match self
            .edge
            .screen
            .inspect(message, self.remote, Carrier::Stream)
        {
            Action::Deliver(bytes) => {
                let parsed = SipMessage::try_from(bytes.as_slice())
                    .map_err(|e| e.to_string())
                    .and_then(|m| {
                        SipConnection::update_msg_received(m, self.remote, Transport::Tcp)
                            .map_err(|e| e.to_string())
                    });
                match parsed {
                    Ok(msg) => {
                        let event = TransportEvent::Incoming(
                            msg,
                            self.sip.clone(),
                            self.remote_sip.clone(),
                        );
                        self.edge.inject.send(event).is_ok()
                    }
                    Err(error) => {
                        // A response the stack cannot read: RFC 3261 §18.1.2 discards it.
                        debug!(remote = %self.remote, %error, "voice: unparsable TCP message dropped");
                        true
                    }
                }
            }
            Action::Answer(answer) => self.conn.inner.send_raw(&answer).await.is_ok(),
            Action::Nothing => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_limited_per_source_and_in_all_and_freed_when_dropped() {
        let connections = Connections::new(2, 3);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let a1 = connections.admit(a).expect("first from a");
        let _a2 = connections.admit(a).expect("second from a");
        assert!(connections.admit(a).is_none(), "a third from one source");
        let _b1 = connections.admit(b).expect("b has its own count");
        assert!(connections.admit(b).is_none(), "three in all");
        drop(a1);
        assert!(connections.admit(a).is_some(), "a place freed");
    }
}
