//! One call leg's media: [`MediaLeg`] (a bound socket doing offer/answer, not yet running) and
//! [`MediaHandle`] (the running leg's remote control).
//!
//! Owns the SDP state of a leg and the command channel to its task. Commands are the control
//! plane only (a handful per call); media never travels through a channel. Must not touch
//! packets: that is `task`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rand::Rng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use words::DtmfKey;

use super::codec::Codec;
use super::engine::{MediaEngine, PortLease};
use super::playout::Prompt;
use super::rtp::{Counters, Outgoing};
use super::sdp::{self, Direction, LocalMedia, Negotiated, SdpError};
use super::task::{Endpoint, LegTask};
use super::tts::{Tts, TtsError};
use super::{DigitSource, MediaEvent};

/// Control messages to a leg's task.
pub(crate) enum Command {
    Play(Prompt, bool),
    /// Play to this leg's far end even while bridged: the peer's audio to it is held back
    /// until the prompt ends (the other party does not hear it).
    Announce(Prompt),
    StopPlaying,
    Digit(DtmfKey),
    /// Key these to the far end (before any bridge); the sender hears how they went once the
    /// last one was sent, and is dropped unsent when the leg is bridged or stops.
    SendDigits(Vec<DtmfKey>, oneshot::Sender<DigitSource>),
    Remote(Negotiated),
    Stop,
    /// Start bridge `id` with the leg behind `peer`: pause our playout and give the peer our
    /// endpoint so it can write into our stream.
    Bridge {
        id: u64,
        peer: mpsc::UnboundedSender<Command>,
    },
    /// The peer's endpoint for bridge `id`: relay what we receive into it.
    Attach {
        id: u64,
        endpoint: Arc<Endpoint>,
    },
    /// End bridge `id` (from the bridge handle, or from a peer that stopped).
    Unbridge {
        id: u64,
    },
}

/// A bound RTP socket doing offer/answer; [`MediaLeg::start`] turns it into a running leg.
/// Dropping it returns the port.
pub struct MediaLeg {
    engine: Arc<MediaEngine>,
    socket: UdpSocket,
    lease: PortLease,
    negotiated: Option<Negotiated>,
    /// `o=` session id and version of our last offer.
    session: Mutex<(u64, u64)>,
}

impl std::fmt::Debug for MediaLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaLeg")
            .field("port", &self.lease.port)
            .field("negotiated", &self.negotiated)
            .finish()
    }
}

impl MediaLeg {
    pub(crate) fn new(engine: Arc<MediaEngine>, socket: UdpSocket, lease: PortLease) -> MediaLeg {
        MediaLeg {
            engine,
            socket,
            lease,
            negotiated: None,
            session: Mutex::new((0, 0)),
        }
    }

    pub fn local_port(&self) -> u16 {
        self.lease.port
    }

    fn local(&self, session_id: u64, version: u64) -> LocalMedia {
        LocalMedia {
            advertise_ip: self.engine.config().advertise_ip,
            port: self.lease.port,
            session_id,
            version,
        }
    }

    /// Our SDP offer: PCMU, PCMA, telephone-event/8000 (pt 101), ptime 20, sendrecv.
    pub fn sdp_offer(&self, session_id: u64, version: u64) -> String {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = (session_id, version);
        sdp::build_offer(&self.local(session_id, version))
    }

    /// Reads the far end's answer; may be called again (an early-media answer, then the final).
    pub fn apply_answer(&mut self, sdp: &str) -> Result<Negotiated, SdpError> {
        let n = sdp::parse_answer(sdp)?;
        self.negotiated = Some(n);
        Ok(n)
    }

    /// Spawns the leg's RTP task on the current tokio runtime. Without an applied answer the
    /// leg sends nothing until [`MediaHandle::answer_reoffer`] gives it an address.
    pub fn start(self, events: mpsc::Sender<MediaEvent>) -> MediaHandle {
        let negotiated = self.negotiated.unwrap_or_else(|| {
            tracing::warn!(
                port = self.lease.port,
                "media: leg started without an SDP answer"
            );
            Negotiated {
                codec: Codec::Pcmu,
                telephone_event_pt: None,
                remote_rtp: std::net::SocketAddr::new(self.engine.config().advertise_ip, 0),
                direction: Direction::Inactive,
            }
        });
        let (session_id, version) = *self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let local = self.local(session_id, version);
        let counters = Arc::new(Counters::default());
        let mut rng = rand::rng();
        // RFC 3550 §5.1: random SSRC and random initial sequence number and timestamp.
        let out = Outgoing::new(rng.random(), rng.random(), rng.random(), &negotiated);
        let (cmd, cmd_rx) = mpsc::unbounded_channel();
        let endpoint = Endpoint::new(self.socket, out, counters.clone(), self.lease);
        let task = LegTask::new(endpoint, cmd_rx, events, negotiated, Instant::now());
        tokio::spawn(task.run());
        MediaHandle {
            inner: Arc::new(HandleInner {
                cmd,
                sdp: Mutex::new(SdpState {
                    local,
                    codec: negotiated.codec,
                }),
                counters,
                tts: self.engine.tts().clone(),
                local_port: local.port,
            }),
        }
    }
}

struct SdpState {
    local: LocalMedia,
    codec: Codec,
}

struct HandleInner {
    cmd: mpsc::UnboundedSender<Command>,
    sdp: Mutex<SdpState>,
    counters: Arc<Counters>,
    tts: Tts,
    local_port: u16,
}

/// Remote control of a running leg. Cheap to clone. The leg runs until [`MediaHandle::stop`]
/// or until every handle (and any bridge holding it) is gone, or its event receiver is dropped.
#[derive(Clone)]
pub struct MediaHandle {
    inner: Arc<HandleInner>,
}

impl std::fmt::Debug for MediaHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaHandle")
            .field("port", &self.inner.local_port)
            .finish()
    }
}

/// Counters of a leg since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaStats {
    /// Valid RTP accepted from the far end.
    pub received: u64,
    /// Datagrams that were not valid RTP (dropped).
    pub malformed: u64,
    /// RTP from another source after latching (dropped).
    pub wrong_source: u64,
    /// RTP with a payload type we did not negotiate (dropped).
    pub unexpected_pt: u64,
    /// Packets our own playout sent.
    pub sent: u64,
    /// Packets the bridge wrote into this leg's stream.
    pub relayed: u64,
    /// Sends the socket refused.
    pub send_errors: u64,
    /// Times the far end's SSRC changed (0 for a well-behaved peer).
    pub ssrc_changes: u64,
    /// Sequence numbers the far end skipped (packets lost on the way).
    pub lost: u64,
    /// Packets from the far end that carried an in-band keypad tone and were relayed as
    /// silence.
    pub tones_muted: u64,
}

impl MediaHandle {
    fn send(&self, cmd: Command) {
        // A stopped leg ignores commands: there is nothing left to act on.
        let _ = self.inner.cmd.send(cmd);
    }

    pub(crate) fn command_sender(&self) -> &mpsc::UnboundedSender<Command> {
        &self.inner.cmd
    }

    pub(crate) fn same_leg(&self, other: &MediaHandle) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub fn local_port(&self) -> u16 {
        self.inner.local_port
    }

    /// Answers a far-end re-offer (hold, unhold, new address) and applies it to the running
    /// leg. An unusable offer changes nothing (RFC 3261 §14.2) and returns the error.
    pub fn answer_reoffer(&self, sdp: &str) -> Result<String, SdpError> {
        let mut state = self
            .inner
            .sdp
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let local = LocalMedia {
            version: state.local.version + 1,
            ..state.local
        };
        let (answer, negotiated) = sdp::answer_offer(sdp, &local, Some(state.codec))?;
        state.local = local;
        state.codec = negotiated.codec;
        self.send(Command::Remote(negotiated));
        Ok(answer)
    }

    /// Plays `audio` from its start, replacing what plays; `PlayoutDone` follows the end
    /// unless `looped`.
    pub fn play(&self, audio: Prompt, looped: bool) {
        self.send(Command::Play(audio, looped));
    }

    /// Renders `text` (cached) and plays it.
    pub async fn say(&self, text: &str, looped: bool) -> Result<(), TtsError> {
        let prompt = self.inner.tts.render(text).await?;
        self.play(prompt, looped);
        Ok(())
    }

    /// Renders `text` and plays it once to this leg's far end only, bridged or not: while it
    /// plays, the bridge peer's audio to this leg is held back (dropped, not queued), so the
    /// other party hears nothing of it and this one hears the prompt, then the peer again.
    /// `PlayoutDone` reports its end.
    pub async fn announce(&self, text: &str) -> Result<(), TtsError> {
        let prompt = self.inner.tts.render(text).await?;
        self.send(Command::Announce(prompt));
        Ok(())
    }

    pub fn stop_playing(&self) {
        self.send(Command::StopPlaying);
    }

    /// Reports a digit that arrived by SIP INFO through this leg's event stream, so all digits
    /// come out of one place. The SIP half parsed the body into a key already.
    pub fn inject_digit(&self, key: DtmfKey) {
        self.send(Command::Digit(key));
    }

    /// Keys `keys` to the far end: RFC 4733 telephone-events with the payload type its answer
    /// gave, else in-band tones. What plays waits meanwhile. The receiver gets how they went
    /// after the last key (about 200 ms a key); it errs when the leg is bridged or stops
    /// first, which sends nothing more.
    pub fn send_digits(&self, keys: Vec<DtmfKey>) -> oneshot::Receiver<DigitSource> {
        let (done, sent) = oneshot::channel();
        self.send(Command::SendDigits(keys, done));
        sent
    }

    /// Ends the leg's task; the socket closes and the port returns to the pool.
    pub fn stop(&self) {
        self.send(Command::Stop);
    }

    /// Resolves once the leg's task has ended (its port is back in the pool unless a bridge
    /// peer still writes into it for a moment).
    pub async fn stopped(&self) {
        self.inner.cmd.closed().await;
    }

    pub fn stats(&self) -> MediaStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.inner.counters;
        MediaStats {
            received: c.received.load(Relaxed),
            malformed: c.malformed.load(Relaxed),
            wrong_source: c.wrong_source.load(Relaxed),
            unexpected_pt: c.unexpected_pt.load(Relaxed),
            sent: c.sent.load(Relaxed),
            relayed: c.relayed.load(Relaxed),
            send_errors: c.send_errors.load(Relaxed),
            ssrc_changes: c.ssrc_changes.load(Relaxed),
            tones_muted: c.tones_muted.load(Relaxed),
            lost: c.lost.load(Relaxed),
        }
    }
}
