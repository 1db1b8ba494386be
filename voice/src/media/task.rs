//! The per-leg RTP task: receives, detects digits, relays while bridged, and paces our own
//! playout at 20 ms.
//!
//! Owns the socket loop. Pacing uses `tokio::time::interval` with `MissedTickBehavior::Skip`:
//! deadlines stay on the grid laid from the start instant (no drift, unlike `Delay`) and a
//! stalled task does not answer with a burst of stale packets (unlike `Burst`); the timestamp
//! still advances by the real time that passed (`Outgoing::stamp_paced`).
//!
//! Bridge hot path: the leg that receives a packet transcodes it into a stack buffer, stamps it
//! with the *peer's* outgoing stream (one uncontended lock) and sends it on the peer's socket
//! itself: no allocation, no channel, no task hop per packet. While bridged a leg's own
//! playout pauses (its prompt resumes where it was after unbridge, and reports no
//! `PlayoutDone` meanwhile), because the peer feeds its stream; an announcement
//! (`Command::Announce`) is the exception: it plays to this leg's far end while the peer's
//! relay into the stream holds back, so only this party hears it. Telephone-events are consumed
//! here and never relayed; an in-band keypad tone is detected as a key and relayed as silence
//! (the packets that carry it), so the other party hears no keys either way.
//! Must not block: sends use `try_send_to` (UDP; a full buffer drops the packet).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{MissedTickBehavior, Sleep};

use super::codec::Codec;
use super::dtmf::EventReceiver;
use super::dtmf_send::{DigitSender, Tick, tone_frame};
use super::engine::PortLease;
use super::inband::ToneDetector;
use super::leg::Command;
use super::playout::Playout;
use super::rtp::{
    Counters, FRAME, Inbound, MAX_PACKET, MAX_PAYLOAD, Outgoing, RelayClock, RxTrack,
    SAMPLES_PER_FRAME, classify, write_packet,
};
use super::sdp::{Direction, Negotiated};
use super::{DigitSource, MediaEvent, RTP_TIMEOUT};

/// A leg's socket and outgoing stream, shared with a bridge peer that writes into it.
/// Field order matters: the socket closes before the lease returns the port.
pub(crate) struct Endpoint {
    socket: UdpSocket,
    out: Mutex<Outgoing>,
    counters: Arc<Counters>,
    _lease: PortLease,
}

impl Endpoint {
    pub(crate) fn new(
        socket: UdpSocket,
        out: Outgoing,
        counters: Arc<Counters>,
        lease: PortLease,
    ) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            socket,
            out: Mutex::new(out),
            counters,
            _lease: lease,
        })
    }

    fn out(&self) -> MutexGuard<'_, Outgoing> {
        // Outgoing is plain counters and addresses; a panic cannot leave it half-updated in a
        // way that matters more than one packet.
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, pkt: &[u8], dest: SocketAddr, counter: &std::sync::atomic::AtomicU64) {
        match self.socket.try_send_to(pkt, dest) {
            Ok(_) => Counters::bump(counter),
            Err(_) => Counters::bump(&self.counters.send_errors),
        }
    }
}

struct Bridged {
    id: u64,
    peer: mpsc::UnboundedSender<Command>,
    relay_to: Option<Arc<Endpoint>>,
    clock: RelayClock,
}

pub(crate) struct LegTask {
    // Dropped first when the task ends, so the port is back before `stopped()` resolves.
    ep: Arc<Endpoint>,
    cmd_rx: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<MediaEvent>,
    negotiated: Negotiated,
    playout: Playout,
    telephone_events: EventReceiver,
    /// Only for legs without telephone-event (RFC 4733 legs send digits as events).
    tones: Option<ToneDetector>,
    bridge: Option<Bridged>,
    /// An announcement plays to our far end (see [`Command::Announce`]).
    announcing: bool,
    /// Keys being sent to the far end; our playout waits meanwhile.
    digits: Option<(DigitSender, tokio::sync::oneshot::Sender<DigitSource>)>,
    /// An Attach that overtook its Bridge command (the two legs run on different threads).
    early_attach: Option<(u64, Arc<Endpoint>)>,
    rx_track: RxTrack,
    last_rx: Instant,
    timeout_reported: bool,
}

/// Far enough to mean "never" for a disarmed timer.
const IDLE: Duration = Duration::from_secs(3600);

impl LegTask {
    pub(crate) fn new(
        ep: Arc<Endpoint>,
        cmd_rx: mpsc::UnboundedReceiver<Command>,
        events: mpsc::Sender<MediaEvent>,
        negotiated: Negotiated,
        now: Instant,
    ) -> LegTask {
        LegTask {
            ep,
            cmd_rx,
            events,
            tones: negotiated
                .telephone_event_pt
                .is_none()
                .then(ToneDetector::default),
            negotiated,
            playout: Playout::default(),
            telephone_events: EventReceiver::default(),
            bridge: None,
            announcing: false,
            digits: None,
            early_attach: None,
            rx_track: RxTrack::default(),
            last_rx: now,
            timeout_reported: false,
        }
    }

    pub(crate) async fn run(mut self) {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now(), FRAME);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        // One timer for the lost-end and RTP timeouts, re-armed lazily (not per packet).
        let mut housekeeping: Pin<Box<Sleep>> = Box::pin(tokio::time::sleep(IDLE));
        let mut armed = Instant::now() + IDLE;
        let ep = self.ep.clone();
        let mut buf = [0u8; MAX_PACKET];
        loop {
            if let Some(due) = self.next_deadline()
                && due < armed
            {
                armed = due;
                housekeeping.as_mut().reset(due.into());
            }
            // Bridged, our playout pauses, except for an announcement to our far end.
            let paused = self.bridge.is_some() && !self.announcing;
            tokio::select! {
                cmd = self.cmd_rx.recv() => match cmd {
                    None | Some(Command::Stop) => break,
                    Some(cmd) => {
                        if self.on_command(cmd) {
                            // Own playout resumes a fresh 20 ms after the bridge's last packet.
                            ticker.reset();
                        }
                    }
                },
                received = ep.socket.recv_from(&mut buf) => match received {
                    Ok((n, source)) => self.on_datagram(&buf[..n], source, Instant::now()),
                    Err(e) => tracing::debug!(error = %e, "media: receive error"),
                },
                at = ticker.tick(), if !paused => self.on_tick(at.into_std()),
                () = housekeeping.as_mut() => {
                    self.on_deadline(Instant::now());
                    armed = self.next_deadline().unwrap_or_else(|| Instant::now() + IDLE);
                    housekeeping.as_mut().reset(armed.into());
                }
            }
            if self.events.is_closed() {
                break;
            }
        }
        self.leave_bridge();
    }

    /// Returns true when our own playout resumes (a bridge ended).
    fn on_command(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Play(prompt, looped) => {
                self.set_announcing(false);
                self.playout.play(prompt, looped);
            }
            Command::Announce(prompt) => {
                self.playout.play(prompt, false);
                self.set_announcing(true);
                // Bridged, the ticker was paused: it starts a fresh 20 ms grid now.
                return self.bridge.is_some();
            }
            Command::StopPlaying => {
                self.set_announcing(false);
                self.playout.stop();
            }
            Command::SendDigits(keys, done) => {
                // Bridged, our clock is paused and the peer feeds the stream: nothing to send
                // them with, so `done` is dropped and the owner hears they were not sent.
                if self.bridge.is_none() {
                    let events = self.negotiated.telephone_event_pt.is_some();
                    self.digits = Some((DigitSender::new(keys, events), done));
                }
            }
            Command::Digit(key) => self.emit(MediaEvent::Digit {
                key,
                source: DigitSource::SipInfo,
            }),
            Command::Remote(n) => {
                self.ep.out().apply(&n);
                self.tones = match (n.telephone_event_pt, self.tones.take()) {
                    (Some(_), _) => None,
                    (None, kept) => Some(kept.unwrap_or_default()),
                };
                self.negotiated = n;
                self.last_rx = Instant::now();
                self.timeout_reported = false;
            }
            Command::Stop => {} // handled by the loop
            Command::Bridge { id, peer } => {
                self.leave_bridge();
                if peer
                    .send(Command::Attach {
                        id,
                        endpoint: self.ep.clone(),
                    })
                    .is_err()
                {
                    return false; // the peer stopped already: stay on our own playout
                }
                let relay_to = self
                    .early_attach
                    .take()
                    .filter(|(early, _)| *early == id)
                    .map(|(_, ep)| ep);
                self.bridge = Some(Bridged {
                    id,
                    peer,
                    relay_to,
                    clock: RelayClock::default(),
                });
            }
            Command::Attach { id, endpoint } => match self.bridge.as_mut() {
                Some(b) if b.id == id => b.relay_to = Some(endpoint),
                // Bridge ids grow, so only a newer one can be early; older ones are stale.
                current if current.as_ref().is_none_or(|b| b.id < id) => {
                    self.early_attach = Some((id, endpoint))
                }
                _ => {}
            },
            Command::Unbridge { id } => {
                if self
                    .early_attach
                    .as_ref()
                    .is_some_and(|(early, _)| *early == id)
                {
                    self.early_attach = None;
                }
                if self.bridge.as_ref().is_some_and(|b| b.id == id) {
                    self.bridge = None;
                    return true;
                }
            }
        }
        false
    }

    /// Whether an announcement holds back the bridge peer's relay into our stream.
    fn set_announcing(&mut self, on: bool) {
        if self.announcing != on {
            self.announcing = on;
            self.ep.out().announcing = on;
        }
    }

    /// Tells the peer the bridge is over (we stop or join another bridge).
    fn leave_bridge(&mut self) {
        if let Some(b) = self.bridge.take() {
            let _ = b.peer.send(Command::Unbridge { id: b.id });
        }
    }

    fn on_tick(&mut self, at: Instant) {
        if let Some((plan, _)) = self.digits.as_mut() {
            match plan.next_tick() {
                Tick::Done => {
                    if let Some((plan, done)) = self.digits.take() {
                        let _ = done.send(plan.source());
                    }
                }
                tick => return self.send_digit_tick(at, tick),
            }
        }
        let mut pcm = [0i16; SAMPLES_PER_FRAME];
        let frame = self.playout.next_frame(&mut pcm);
        let mut payload = [0u8; SAMPLES_PER_FRAME];
        let mut pkt = [0u8; MAX_PACKET];
        let packet = {
            let mut out = self.ep.out();
            if out.send_allowed {
                if frame.audio {
                    out.codec.encode(&pcm, &mut payload);
                } else {
                    payload.fill(out.codec.silence_byte());
                }
                let stamp = out.stamp_paced(at, frame.started);
                write_packet(&mut pkt, out.codec.payload_type(), stamp, &payload)
                    .map(|n| (n, out.remote))
            } else {
                None
            }
        };
        if let Some((n, dest)) = packet {
            self.ep.send(&pkt[..n], dest, &self.ep.counters.sent);
        }
        if frame.finished {
            self.set_announcing(false);
            self.emit(MediaEvent::PlayoutDone);
        }
    }

    /// One tick of keys: a telephone-event packet or a frame of tones (or the gap between).
    fn send_digit_tick(&mut self, at: Instant, tick: Tick) {
        let mut pkt = [0u8; MAX_PACKET];
        let packet = {
            let mut out = self.ep.out();
            if !out.send_allowed {
                return;
            }
            match (tick, self.negotiated.telephone_event_pt) {
                (Tick::Event { payload, first }, Some(pt)) => {
                    let stamp = out.stamp_event(at, first);
                    write_packet(&mut pkt, pt, stamp, &payload)
                }
                (Tick::Tone { .. } | Tick::Silence, _) => {
                    let pcm = match tick {
                        Tick::Tone { key, frame } => tone_frame(key, frame),
                        _ => [0; SAMPLES_PER_FRAME],
                    };
                    let mut payload = [0u8; SAMPLES_PER_FRAME];
                    out.codec.encode(&pcm, &mut payload);
                    let stamp = out.stamp_paced(at, false);
                    write_packet(&mut pkt, out.codec.payload_type(), stamp, &payload)
                }
                // A re-offer took telephone-event away mid-run: this event is not sent.
                _ => None,
            }
            .map(|n| (n, out.remote))
        };
        if let Some((n, dest)) = packet {
            self.ep.send(&pkt[..n], dest, &self.ep.counters.sent);
        }
    }

    fn on_datagram(&mut self, data: &[u8], source: SocketAddr, now: Instant) {
        let counters = &self.ep.counters;
        let inbound = match classify(data, self.negotiated.telephone_event_pt) {
            Ok(Inbound::Unexpected) => return Counters::bump(&counters.unexpected_pt),
            Ok(inbound) => inbound,
            Err(_) => return Counters::bump(&counters.malformed),
        };
        let (ssrc, seq) = match inbound {
            Inbound::Audio { ssrc, seq, .. } | Inbound::Event { ssrc, seq, .. } => (ssrc, seq),
            Inbound::Unexpected => (0, 0),
        };
        if !self.ep.out().admit(source, ssrc, seq) {
            return Counters::bump(&counters.wrong_source);
        }
        Counters::bump(&counters.received);
        let (new_ssrc, lost) = self.rx_track.on_packet(ssrc, seq);
        if new_ssrc {
            Counters::bump(&counters.ssrc_changes);
        }
        Counters::add(&counters.lost, lost);
        self.last_rx = now;
        self.timeout_reported = false;
        match inbound {
            Inbound::Event { ts, payload, .. } => {
                for key in self
                    .telephone_events
                    .on_packet(ts, payload, now)
                    .into_iter()
                    .flatten()
                {
                    self.emit(MediaEvent::Digit {
                        key,
                        source: DigitSource::Rfc4733,
                    });
                }
            }
            Inbound::Audio {
                codec,
                ssrc,
                ts,
                marker,
                payload,
                ..
            } => {
                let mut in_tone = false;
                if let Some(detector) = self.tones.as_mut() {
                    let mut pcm = [0i16; MAX_PAYLOAD];
                    let pcm = &mut pcm[..payload.len()];
                    codec.decode(payload, pcm);
                    let key = detector.push(pcm);
                    in_tone = detector.in_tone();
                    if let Some(key) = key {
                        self.emit(MediaEvent::Digit {
                            key,
                            source: DigitSource::InBand,
                        });
                    }
                }
                if let Some(b) = self.bridge.as_mut()
                    && let Some(peer) = b.relay_to.as_ref()
                {
                    // A keypad tone is heard as a key, not relayed: silence in its place.
                    let mut quiet = [0u8; MAX_PAYLOAD];
                    let sent = if in_tone {
                        let quiet = &mut quiet[..payload.len()];
                        quiet.fill(codec.silence_byte());
                        Counters::bump(&self.ep.counters.tones_muted);
                        &*quiet
                    } else {
                        payload
                    };
                    relay(peer, &mut b.clock, codec, (ssrc, ts, marker), sent, now);
                }
            }
            Inbound::Unexpected => {}
        }
    }

    /// Only a sendrecv far end is held to the RTP timeout: one that holds us (sendonly) may
    /// legitimately send nothing, and hanging up a held call would be worse than waiting.
    fn expects_rtp(&self) -> bool {
        self.negotiated.direction == Direction::SendRecv && self.negotiated.remote_rtp.port() != 0
    }

    fn next_deadline(&self) -> Option<Instant> {
        let rtp =
            (self.expects_rtp() && !self.timeout_reported).then(|| self.last_rx + RTP_TIMEOUT);
        match (rtp, self.telephone_events.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_deadline(&mut self, now: Instant) {
        if let Some(key) = self.telephone_events.on_timeout(now) {
            self.emit(MediaEvent::Digit {
                key,
                source: DigitSource::Rfc4733,
            });
        }
        if self.expects_rtp() && !self.timeout_reported && now >= self.last_rx + RTP_TIMEOUT {
            self.timeout_reported = true;
            self.emit(MediaEvent::RtpTimeout);
        }
    }

    /// Events are rare (digits, prompt ends); a full queue must not stall the media loop, so
    /// the overflow waits in its own task (order may then differ, loss does not happen).
    fn emit(&self, event: MediaEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.events.try_send(event) {
            let events = self.events.clone();
            tokio::spawn(async move {
                let _ = events.send(event).await;
            });
        }
    }
}

/// Writes one received audio packet into the peer's stream and sends it on the peer's socket.
fn relay(
    peer: &Endpoint,
    clock: &mut RelayClock,
    from: Codec,
    (ssrc, ts, marker): (u32, u32, bool),
    payload: &[u8],
    now: Instant,
) {
    let mut body = [0u8; MAX_PAYLOAD];
    let body = &mut body[..payload.len()];
    let mut pkt = [0u8; MAX_PACKET];
    let (advance, new_spurt) = clock.advance(ssrc, ts, payload.len());
    let packet = {
        let mut out = peer.out();
        // The peer's own announcement plays to its far end: our audio waits it out (dropped).
        if !out.send_allowed || out.announcing {
            return;
        }
        from.transcode(out.codec, payload, body);
        let stamp = out.stamp_relayed(now, advance, marker, new_spurt);
        write_packet(&mut pkt, out.codec.payload_type(), stamp, body).map(|n| (n, out.remote))
    };
    if let Some((n, dest)) = packet {
        peer.send(&pkt[..n], dest, &peer.counters.relayed);
    }
}
