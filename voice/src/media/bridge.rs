//! Bridging two running legs: what each receives is relayed into the other's stream.
//!
//! Owns only the handshake: it tells both legs' tasks about each other; the relaying itself is
//! in `task` (no per-packet channel). Each leg keeps its own SSRC, sequence and timestamp, so
//! unbridging and bridging again never breaks either stream.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::MediaError;
use super::leg::{Command, MediaHandle};

/// Bridge ids only grow, which lets a leg tell a stale bridge message from an early one.
static NEXT_BRIDGE_ID: AtomicU64 = AtomicU64::new(1);

/// A live bridge between two legs. Dropping it leaves the legs bridged; call
/// [`BridgeHandle::unbridge`] to return both to their own playout. A leg that stops, or is
/// bridged elsewhere, ends this bridge for its peer too.
#[derive(Debug)]
pub struct BridgeHandle {
    id: u64,
    a: mpsc::UnboundedSender<Command>,
    b: mpsc::UnboundedSender<Command>,
}

/// Relays media both ways between `a` and `b`; their own playout pauses meanwhile. Digits keep
/// coming out of each leg's own event stream; telephone-events are never relayed.
pub fn bridge(a: &MediaHandle, b: &MediaHandle) -> Result<BridgeHandle, MediaError> {
    if a.same_leg(b) {
        return Err(MediaError::SameLeg);
    }
    let (a, b) = (a.command_sender(), b.command_sender());
    if a.is_closed() || b.is_closed() {
        return Err(MediaError::LegStopped);
    }
    let id = NEXT_BRIDGE_ID.fetch_add(1, Ordering::Relaxed);
    b.send(Command::Bridge {
        id,
        peer: a.clone(),
    })
    .map_err(|_| MediaError::LegStopped)?;
    if a.send(Command::Bridge {
        id,
        peer: b.clone(),
    })
    .is_err()
    {
        let _ = b.send(Command::Unbridge { id });
        return Err(MediaError::LegStopped);
    }
    Ok(BridgeHandle {
        id,
        a: a.clone(),
        b: b.clone(),
    })
}

impl BridgeHandle {
    /// Ends the bridge; both legs go back to their own playout with continuous streams.
    pub fn unbridge(self) {
        let _ = self.a.send(Command::Unbridge { id: self.id });
        let _ = self.b.send(Command::Unbridge { id: self.id });
    }
}
