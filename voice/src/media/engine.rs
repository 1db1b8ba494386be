//! The process-wide media engine: the RTP port pool and the TTS worker.
//!
//! Owns port bookkeeping: even ports from the configured range (RFC 3550 §11), handed out
//! least-recently-used first so a port just freed is not reused while stray packets of the old
//! call may still arrive, and returned when the leg's socket closes. Must not run legs itself.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::UdpSocket;

use super::leg::MediaLeg;
use super::tts::Tts;
use super::{MediaConfig, MediaError};

/// One per process: owns the port pool and the TTS handle.
pub struct MediaEngine {
    cfg: MediaConfig,
    pool: Arc<PortPool>,
    tts: Tts,
}

impl std::fmt::Debug for MediaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEngine")
            .field("cfg", &self.cfg)
            .field("free_ports", &self.pool.free())
            .finish()
    }
}

impl MediaEngine {
    /// Checks the port range and starts TTS (fails early when `espeak-ng-data` is missing).
    pub fn new(cfg: MediaConfig) -> Result<Arc<MediaEngine>, MediaError> {
        let pool = Arc::new(PortPool::new(cfg.port_min, cfg.port_max)?);
        let tts = Tts::new(cfg.tts_data_dir.clone())?;
        Ok(Arc::new(MediaEngine { cfg, pool, tts }))
    }

    /// Binds an RTP socket on the next free even port of the range. Ports another process
    /// holds are skipped (and stay in the pool for later).
    pub async fn allocate(self: &Arc<Self>) -> Result<MediaLeg, MediaError> {
        let no_port = || MediaError::NoFreePort {
            min: self.cfg.port_min,
            max: self.cfg.port_max,
        };
        for _ in 0..self.pool.capacity {
            let lease = PortPool::take(&self.pool).ok_or_else(no_port)?;
            match UdpSocket::bind(SocketAddr::new(self.cfg.bind_ip, lease.port)).await {
                Ok(socket) => return Ok(MediaLeg::new(self.clone(), socket, lease)),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(MediaError::Bind(e)),
            }
        }
        Err(no_port())
    }

    pub fn tts(&self) -> &Tts {
        &self.tts
    }

    pub(crate) fn config(&self) -> &MediaConfig {
        &self.cfg
    }

    /// Ports currently free (for tests and diagnostics).
    pub fn free_ports(&self) -> usize {
        self.pool.free()
    }
}

#[derive(Debug)]
pub(crate) struct PortPool {
    free: Mutex<VecDeque<u16>>,
    capacity: usize,
}

impl PortPool {
    fn new(min: u16, max: u16) -> Result<PortPool, MediaError> {
        let first = min.checked_add(min % 2).filter(|&p| p != 0 && p <= max);
        let Some(first) = first else {
            return Err(MediaError::InvalidPortRange { min, max });
        };
        let ports: VecDeque<u16> = (first..=max).step_by(2).collect();
        Ok(PortPool {
            capacity: ports.len(),
            free: Mutex::new(ports),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<u16>> {
        // A plain list of numbers cannot be left inconsistent by a panic.
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(pool: &Arc<PortPool>) -> Option<PortLease> {
        let port = pool.lock().pop_front()?;
        Some(PortLease {
            port,
            pool: pool.clone(),
        })
    }

    fn free(&self) -> usize {
        self.lock().len()
    }
}

/// A port out of the pool; dropping it puts the port back at the end of the queue.
#[derive(Debug)]
pub(crate) struct PortLease {
    pub(crate) port: u16,
    pool: Arc<PortPool>,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool.lock().push_back(self.port);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_even_ports_only() {
        let cases: [(u16, u16, Result<usize, ()>); 6] = [
            (20000, 20009, Ok(5)),
            (20001, 20010, Ok(5)),
            (20000, 20000, Ok(1)),
            (20001, 20001, Err(())),
            (20010, 20000, Err(())),
            (0, 4, Err(())),
        ];
        for (min, max, want) in cases {
            let got = PortPool::new(min, max).map(|p| p.capacity).map_err(|_| ());
            assert_eq!(got, want, "{min}-{max}");
        }
        let p = Arc::new(PortPool::new(65534, 65535).unwrap());
        assert_eq!(PortPool::take(&p).map(|l| l.port), Some(65534));
    }

    #[test]
    fn leases_return_to_the_back_of_the_queue() {
        let pool = Arc::new(PortPool::new(1000, 1004).unwrap());
        let a = PortPool::take(&pool).unwrap();
        let b = PortPool::take(&pool).unwrap();
        let c = PortPool::take(&pool).unwrap();
        assert_eq!((a.port, b.port, c.port), (1000, 1002, 1004));
        assert!(PortPool::take(&pool).is_none());
        drop(b);
        drop(a);
        assert_eq!(PortPool::take(&pool).map(|l| l.port), Some(1002));
        assert_eq!(
            pool.free(),
            2,
            "the lease taken (and dropped) above came back too"
        );
    }
}
