//! SIPp as a real, independent SIP peer standing in for the user's phone or the call center.
//! Scenarios live in `tests/sipp/`; each peer gets its own signalling and media ports, its
//! logs in a temp directory (`-trace_msg` keeps every message, so a test can read what the
//! platform sent), and is killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};

use crate::net::{Place, free_udp_port};

/// How to run one SIPp peer.
#[derive(Debug, Clone)]
pub struct SippOptions {
    /// Calls to take before SIPp exits (`-m`).
    pub calls: u32,
    /// Length of a bare `<pause/>` in the scenario, in milliseconds (`-d`).
    pub pause_ms: u64,
    /// How long SIPp runs at most before it gives up (`-timeout`).
    pub timeout: Duration,
    /// The signalling port to bind; `None`: a free one. A test that must configure the
    /// platform toward a phone before it knows the phone's scenario reserves a port with
    /// [`reserve_udp_port`] and passes it here.
    pub port: Option<u16>,
}

impl Default for SippOptions {
    fn default() -> Self {
        Self {
            calls: 1,
            pause_ms: 1000,
            timeout: Duration::from_secs(150),
            port: None,
        }
    }
}

impl SippOptions {
    /// One call whose bare `<pause/>` lasts `pause_ms` (e.g. before the agent keys `#`).
    pub fn pausing(pause_ms: u64) -> Self {
        Self {
            pause_ms,
            ..Self::default()
        }
    }
}

/// A running SIPp user agent server.
pub struct Sipp {
    child: Option<Child>,
    dir: tempfile::TempDir,
    scenario: String,
    pub addr: SocketAddr,
    /// Where SIPp receives (and plays) RTP.
    pub media_port: u16,
}

/// A loopback UDP port held until the returned socket is dropped: drop it just before
/// starting the SIPp that binds it ([`SippOptions::port`]), so nothing else takes it meanwhile.
pub fn reserve_udp_port() -> anyhow::Result<(std::net::UdpSocket, u16)> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let port = socket.local_addr()?.port();
    Ok((socket, port))
}

/// `tests/sipp/NAME` (an absolute path is taken as it is).
pub fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sipp")
        .join(name)
}

impl Sipp {
    /// Starts SIPp as a UAS with `scenario` (a file name in `tests/sipp/`) on loopback.
    pub fn uas(scenario: &str, options: SippOptions) -> anyhow::Result<Self> {
        Self::uas_at(scenario, options, &Place::loopback())
    }

    /// Starts SIPp as a UAS with `scenario` at `place` (e.g. in a lossy network namespace),
    /// signalling and media bound to its address.
    pub fn uas_at(scenario: &str, options: SippOptions, place: &Place) -> anyhow::Result<Self> {
        let found = Command::new("sipp")
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            bail!("sipp is not installed; these tests need a real SIP peer: scripts/install");
        }
        // A port free a moment ago can be taken by the time SIPp binds it (other peers start
        // in parallel): then SIPp exits at once, and another pair of ports is tried.
        let mut attempt = 1;
        loop {
            match Self::spawn(scenario, &options, place)? {
                Ok(sipp) => return Ok(sipp),
                // A fixed port is the caller's: another one would not be where it points.
                Err(early_exit) if attempt < START_ATTEMPTS && options.port.is_none() => {
                    attempt += 1;
                    eprintln!("{early_exit}; trying other ports");
                }
                Err(early_exit) => bail!("{early_exit}"),
            }
        }
    }

    /// One start on fresh ports: the running SIPp, or (inner `Err`) why it exited at once.
    fn spawn(
        scenario: &str,
        options: &SippOptions,
        place: &Place,
    ) -> anyhow::Result<Result<Self, String>> {
        let dir = tempfile::tempdir()?;
        // Free on the host a moment ago; in a fresh namespace only this test's peers bind, and
        // a clash there exits SIPp at once like one here.
        let port = match options.port {
            Some(port) => port,
            None => free_udp_port()?,
        };
        let media_port = free_udp_port()?;
        let ip = place.ip.to_string();
        let log = |name: &str| -> anyhow::Result<Stdio> {
            Ok(Stdio::from(std::fs::File::create(dir.path().join(name))?))
        };
        let mut child = place
            .command("sipp")
            // Scenarios name their own pcaps relative to `tests/sipp/`.
            .current_dir(scenario_path(""))
            .arg("-sf")
            .arg(scenario_path(scenario))
            .args(["-i", &ip, "-mi", &ip])
            .args(["-p", &port.to_string(), "-mp", &media_port.to_string()])
            .args(["-m", &options.calls.to_string()])
            .args(["-d", &options.pause_ms.to_string()])
            .args(["-timeout", &format!("{}s", options.timeout.as_secs())])
            .args(["-t", "u1", "-nostdin"])
            .args(["-trace_err", "-error_file"])
            .arg(dir.path().join("errors.log"))
            .args(["-trace_msg", "-message_file"])
            .arg(dir.path().join("messages.log"))
            .stdin(Stdio::null())
            .stdout(log("screen.log")?)
            .stderr(log("stderr.log")?)
            .spawn()
            .context("starting sipp")?;
        // Wait until SIPp holds its port: under load it can take longer than a short ring
        // timeout, and an INVITE sent before it binds is lost until the next retransmission.
        // Looked up in /proc rather than by binding the port: a probe holding it for a moment
        // could be what makes SIPp's own bind fail.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sipp_bound(&child, place, port) {
            if let Some(status) = child.try_wait()? {
                let stderr =
                    std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
                return Ok(Err(format!(
                    "sipp exited ({status}) before binding port {port}: {}",
                    stderr.trim()
                )));
            }
            if Instant::now() > deadline {
                bail!("sipp did not bind port {port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Ok(Self {
            child: Some(child),
            dir,
            scenario: scenario.to_owned(),
            addr: SocketAddr::new(place.ip, port),
            media_port,
        }))
    }

    /// Kills SIPp at once, as a far end that went away: nothing answers on its port any more.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Waits for SIPp to exit and fails, with its logs, unless every call passed.
    pub async fn passed(&mut self, limit: Duration) -> anyhow::Result<()> {
        let code = self.exit_code(limit).await?;
        if code != 0 {
            bail!(
                "sipp {} failed (exit {code})\n{}",
                self.scenario,
                self.logs()
            );
        }
        Ok(())
    }

    /// Waits for SIPp to exit; its exit code (0: all calls passed).
    pub async fn exit_code(&mut self, limit: Duration) -> anyhow::Result<i32> {
        let deadline = Instant::now() + limit;
        loop {
            let Some(child) = self.child.as_mut() else {
                bail!("sipp {} was already waited for", self.scenario);
            };
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status.code().unwrap_or(-1));
            }
            if Instant::now() >= deadline {
                bail!(
                    "sipp {} still running after {limit:?}\n{}",
                    self.scenario,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every SIP message SIPp received, in order, as text.
    pub fn received(&self) -> Vec<String> {
        let text =
            std::fs::read_to_string(self.dir.path().join("messages.log")).unwrap_or_default();
        split_messages(&text, "message received")
    }

    /// Every SIP message SIPp sent, in order, as text (its retransmissions included).
    pub fn sent(&self) -> Vec<String> {
        let text =
            std::fs::read_to_string(self.dir.path().join("messages.log")).unwrap_or_default();
        split_messages(&text, "message sent")
    }

    /// When SIPp received the first request with `method` (its `-trace_msg` time, to the
    /// microsecond), if it did.
    pub fn first_received_at(&self, method: &str) -> Option<SystemTime> {
        self.received_requests(method)
            .into_iter()
            .next()
            .and_then(|(at, _)| at)
    }

    /// The last request with `method` SIPp received: when (its `-trace_msg` time) and its text.
    pub fn last_received(&self, method: &str) -> Option<(Option<SystemTime>, String)> {
        self.received_requests(method).pop()
    }

    /// Every request with `method` SIPp received, in order, with its `-trace_msg` time.
    fn received_requests(&self, method: &str) -> Vec<(Option<SystemTime>, String)> {
        let text =
            std::fs::read_to_string(self.dir.path().join("messages.log")).unwrap_or_default();
        let prefix = format!("{method} ");
        timed_messages(&text, "message received")
            .into_iter()
            .filter(|(_, m)| m.starts_with(&prefix))
            .collect()
    }

    /// Messages SIPp received more than once byte for byte: the far end's retransmissions
    /// (RFC 3261 §17: a retransmission repeats the message unchanged), counted once per
    /// repeat. A lower bound: a retransmission whose original was lost is no repeat here.
    pub fn received_repeats(&self) -> usize {
        repeats(self.received())
    }

    /// Messages SIPp sent more than once byte for byte: its own retransmissions (of a 200
    /// whose ACK did not come, of a BYE whose 200 did not come), and the responses it sent
    /// again to a retransmitted request.
    pub fn sent_repeats(&self) -> usize {
        repeats(self.sent())
    }

    /// SIPp's trace of one dialog, both directions with times (for failure messages).
    pub fn trace_of(&self, call_id: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("messages.log")).unwrap_or_default();
        text.split("----------------------------------------------- ")
            .filter(|entry| entry.contains(call_id))
            .collect::<Vec<_>>()
            .join("---\n")
    }

    /// SIPp's error log: the calls it failed and why.
    pub fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("errors.log")).unwrap_or_default()
    }

    /// The INVITEs SIPp received.
    pub fn received_invites(&self) -> Vec<String> {
        self.received()
            .into_iter()
            .filter(|m| m.starts_with("INVITE "))
            .collect()
    }

    /// All SIPp logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["stderr.log", "errors.log", "screen.log", "messages.log"] {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            out.push_str(&format!("--- sipp {} {name}\n{text}\n", self.scenario));
        }
        out
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts of SIPp on fresh ports before giving up.
const START_ATTEMPTS: u32 = 3;

/// Whether SIPp (`child`, started at `place`) holds `port`. Here: any process's socket on
/// the port, from `/proc/net/udp`. Behind a prefix: once the prefix has exec'd SIPp (`ip netns
/// exec` joins the namespace, then execs), the sockets of SIPp's own namespace.
fn sipp_bound(child: &Child, place: &Place, port: u16) -> bool {
    if !place.is_prefixed() {
        return udp_port_bound(port);
    }
    let proc = format!("/proc/{}", child.id());
    let comm = std::fs::read_to_string(format!("{proc}/comm")).unwrap_or_default();
    comm.trim() == "sipp" && udp_port_bound_in(&format!("{proc}/net/udp"), port)
}

/// Whether a UDP socket of any process is bound to `port` (IPv4), from `/proc/net/udp`.
fn udp_port_bound(port: u16) -> bool {
    udp_port_bound_in("/proc/net/udp", port)
}

/// Whether the UDP socket table at `table` (a `/proc/…/net/udp`) has `port` bound.
fn udp_port_bound_in(table: &str, port: u16) -> bool {
    let table = std::fs::read_to_string(table).unwrap_or_default();
    let wanted = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1))
        .any(|local| local.ends_with(&wanted))
}

/// How many of `messages` repeat an earlier one byte for byte.
fn repeats(messages: Vec<String>) -> usize {
    let mut seen = std::collections::HashSet::new();
    messages
        .into_iter()
        .filter(|m| !seen.insert(m.clone()))
        .count()
}

/// Splits SIPp's `-trace_msg` log into the messages whose banner contains `direction`.
fn split_messages(log: &str, direction: &str) -> Vec<String> {
    timed_messages(log, direction)
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

/// Like [`split_messages`], with the time of each entry's banner.
fn timed_messages(log: &str, direction: &str) -> Vec<(Option<SystemTime>, String)> {
    // Each entry starts with a dashed line and a local timestamp (`2026-12-02
    // 02:14:20.244320`), then "UDP message received [N] bytes :" (or "sent"), an empty line,
    // and the message itself.
    let mut out = Vec::new();
    for entry in log.split("----------------------------------------------- ") {
        let Some((banner, rest)) = entry.split_once(direction) else {
            continue;
        };
        if banner.contains('\n') && banner.lines().count() > 2 {
            continue;
        }
        let at = banner.lines().next().and_then(|line| {
            chrono::NaiveDateTime::parse_from_str(line.trim(), "%Y-%m-%d %H:%M:%S%.f")
                .ok()?
                .and_local_timezone(chrono::Local)
                .single()
                .map(SystemTime::from)
        });
        let body = rest.split_once('\n').map(|(_, b)| b).unwrap_or("");
        out.push((at, body.trim_start_matches(['\n', '\r']).to_owned()));
    }
    out
}

/// The media port of an SDP body's first `m=audio` line.
pub fn sdp_audio_port(message: &str) -> Option<u16> {
    message
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|port| port.parse().ok())
}

/// The value of the first header `name` (case-insensitive) in a SIP message.
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_trace_log() {
        let log = "----------------------------------------------- 2026-12-01\tUDP message received [10] bytes :\n\nINVITE sip:8001@127.0.0.1 SIP/2.0\nFrom: <sip:+49@x>;tag=1\n\n\
                   ----------------------------------------------- 2026-12-01\tUDP message sent (5 bytes):\n\nSIP/2.0 180 Ringing\n\n";
        let got = split_messages(log, "message received");
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("INVITE sip:8001@"));
        assert_eq!(header(&got[0], "from"), Some("<sip:+49@x>;tag=1"));
    }

    #[test]
    fn counts_repeated_messages() {
        let bye = "BYE sip:a@h SIP/2.0\nCSeq: 10 BYE".to_owned();
        let other = "BYE sip:a@h SIP/2.0\nCSeq: 11 BYE".to_owned();
        assert_eq!(repeats(vec![bye.clone(), other, bye.clone(), bye]), 2);
        assert_eq!(repeats(Vec::new()), 0);
    }

    #[test]
    fn sees_a_bound_udp_port() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = socket.local_addr().expect("addr").port();
        assert!(udp_port_bound(port));
        drop(socket);
        assert!(!udp_port_bound(port));
    }

    #[test]
    fn reads_the_trace_times() {
        let log = "----------------------------------------------- 2026-12-02 02:14:20.244320\nUDP message received [10] bytes :\n\nCANCEL sip:8001@127.0.0.1 SIP/2.0\n\n";
        let got = timed_messages(log, "message received");
        let want = chrono::NaiveDate::from_ymd_opt(2026, 12, 2)
            .and_then(|d| d.and_hms_micro_opt(2, 14, 20, 244_320))
            .and_then(|t| t.and_local_timezone(chrono::Local).single())
            .map(SystemTime::from);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, want);
        assert!(want.is_some());
        assert!(got[0].1.starts_with("CANCEL "));
    }
}
