//! Shared setup for the SIP tests: a real SIPp peer on loopback (scenarios in the shared
//! `tests/sipp/`, or `voice/tests/sipp/` for those only voice uses) and a [`Voice`] whose one
//! trunk points at it. Every test gets its own ports, so tests run in parallel and under
//! nextest.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part of this module

pub mod wire;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use tempfile::TempDir;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use voice::{
    Destination, EndCause, LegEvent, MediaConfig, OriginateRequest, Transport, Trunk, Voice,
    VoiceConfig,
};
use words::DtmfKey;

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The numbers `tests/sipp/uas_answer.xml` checks in the INVITE.
pub const CENTER_NUMBER: &str = "+4930123456";
pub const DNIS: &str = "7001";
pub const ANI: &str = "+15550001111";

/// The key for a keypad character, for expectations written as text.
pub fn key(c: char) -> DtmfKey {
    DtmfKey::from_char(c).unwrap_or_else(|| panic!("{c:?} is no DTMF key"))
}

/// The keys of a keypad string, in order: `keys("5#")`.
pub fn keys(text: &str) -> Vec<DtmfKey> {
    text.chars().map(key).collect()
}

/// A port nobody listens on right now: bind port 0, read it, let it go.
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind((LOOPBACK, 0)).expect("bind an ephemeral UDP port on loopback");
    socket
        .local_addr()
        .expect("local address of a bound socket")
        .port()
}

/// Blocks until some process holds `port` (SIPp, once bound), failing if SIPp exits first or
/// takes more than 10 s.
fn wait_until_bound(child: &mut Child, port: u16, tcp: bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let free = if tcp {
            std::net::TcpListener::bind((LOOPBACK, port)).is_ok()
        } else {
            UdpSocket::bind((LOOPBACK, port)).is_ok()
        };
        if !free {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("sipp exited ({status}) before binding port {port}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sipp did not bind port {port} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A scenario from `voice/tests/sipp/` (scenarios only these tests use), else from the shared
/// `tests/sipp/`.
fn scenario_path(name: &str) -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let own = manifest.join("tests/sipp").join(name);
    if own.is_file() {
        own
    } else {
        manifest.join("../tests/sipp").join(name)
    }
}

/// A running SIPp, killed when dropped.
pub struct Sipp {
    child: Option<Child>,
    pub port: u16,
    pub media_port: u16,
    dir: TempDir,
    scenario: String,
}

impl Sipp {
    /// SIPp as a UAS (call center, phone) on its own ports, one call.
    pub fn uas(scenario: &str, tcp: bool) -> Sipp {
        Self::start(scenario, tcp, None, &[], &[])
    }

    /// SIPp as a UAS over UDP that runs in its own temporary directory, holding `files`
    /// (name, contents) written before it starts, so a scenario can name them by relative path
    /// (e.g. `rtp_stream="audio.ul,1,0"`); `args` are extra command-line options.
    pub fn uas_with_files(scenario: &str, files: &[(&str, &[u8])], args: &[&str]) -> Sipp {
        Self::start(scenario, false, None, files, args)
    }

    /// SIPp as a UAC sending one call of `scenario` to `target`.
    pub fn uac(scenario: &str, target: SocketAddr) -> Sipp {
        Self::start(scenario, false, Some(target), &[], &[])
    }

    /// [`Sipp::uac`] over one TCP connection.
    pub fn uac_tcp(scenario: &str, target: SocketAddr) -> Sipp {
        Self::start(scenario, true, Some(target), &[], &[])
    }

    fn start(
        scenario: &str,
        tcp: bool,
        target: Option<SocketAddr>,
        files: &[(&str, &[u8])],
        args: &[&str],
    ) -> Sipp {
        require_sipp();
        let dir = tempfile::tempdir().expect("temporary directory for SIPp logs");
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).expect("write a file for SIPp");
        }
        let port = free_udp_port();
        let media_port = free_udp_port();
        let mut command = Command::new("sipp");
        if let Some(target) = target {
            command.arg(target.to_string());
        }
        command
            .arg("-sf")
            .arg(scenario_path(scenario))
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-mp", &media_port.to_string()])
            .args(["-m", "1", "-timeout", "40s", "-nostdin"])
            .args(["-trace_err", "-error_file"])
            .arg(dir.path().join("errors.log"))
            .args(["-trace_msg", "-message_file"])
            .arg(dir.path().join("messages.log"))
            .args(["-t", if tcp { "t1" } else { "u1" }])
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file(&dir, "screen.log"))
            .stderr(log_file(&dir, "stderr.log"));
        let mut child = command.spawn().expect("start sipp");
        // Wait until SIPp holds its port: under load it can take longer than a short ring
        // timeout, and an INVITE sent before it binds is lost until the next retransmission.
        wait_until_bound(&mut child, port, tcp);
        Sipp {
            child: Some(child),
            port,
            media_port,
            dir,
            scenario: scenario.to_string(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(LOOPBACK, self.port)
    }

    /// Wait for SIPp to finish its call; its exit code (0: the scenario passed).
    pub async fn exit_code(&mut self, limit: Duration) -> i32 {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let status = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll sipp"));
            if let Some(status) = status {
                self.child = None;
                return status.code().unwrap_or(-1);
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "sipp {} still running after {limit:?}\n{}",
                    self.scenario,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait for SIPp and fail the test, with its logs, unless the scenario passed.
    pub async fn assert_passed(mut self, limit: Duration) {
        let code = self.exit_code(limit).await;
        assert_eq!(
            code,
            0,
            "sipp scenario {} failed (exit {code})\n{}",
            self.scenario,
            self.logs()
        );
    }

    /// The Call-ID of every message SIPp logged (`-trace_msg`), in order.
    pub fn logged_call_ids(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.path().join("messages.log")).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                // RFC 3261 §20.8: `i` is Call-ID's compact form.
                let is_call_id = name.trim().eq_ignore_ascii_case("call-id")
                    || name.trim().eq_ignore_ascii_case("i");
                is_call_id.then(|| value.trim().to_string())
            })
            .collect()
    }

    pub fn logs(&self) -> String {
        read_logs(self.dir.path())
    }
}

fn log_file(dir: &TempDir, name: &str) -> Stdio {
    std::fs::File::create(dir.path().join(name))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

fn read_logs(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for name in ["stderr.log", "errors.log", "messages.log", "screen.log"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        out.push_str(&format!("--- {name}\n{text}\n"));
    }
    out
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn require_sipp() {
    let found = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "sipp is not installed; these tests need a real SIP peer: apt-get install sip-tester"
    );
}

/// Media ports for one test: a block of 40 from a counter spread over a wide range, so tests in
/// one process do not compete for the same ports (the engine skips taken ones anyway).
fn media_range() -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let block = NEXT.fetch_add(1, Ordering::Relaxed) % 500;
    let base = 20_000 + (std::process::id() as u16 % 50) * 800 + block * 40;
    (base, base + 39)
}

pub fn trunk_to(sipp: &Sipp, transport: Transport) -> Trunk {
    Trunk {
        prefix: String::new(),
        target: sipp.addr().to_string(),
        transport,
        username: None,
        password: None,
        from_domain: None,
        no_response_limit: voice::DEFAULT_NO_RESPONSE_LIMIT,
    }
}

/// A Voice on loopback port 0 with the given trunks; cancel the token to shut it down.
pub async fn start_voice(trunks: Vec<Trunk>) -> (Voice, CancellationToken) {
    start_voice_with_agent(trunks, None).await
}

/// [`start_voice`] with `user_agent` configured (sent as `User-Agent` and `Server`).
pub async fn start_voice_with_agent(
    trunks: Vec<Trunk>,
    user_agent: Option<&str>,
) -> (Voice, CancellationToken) {
    let (port_min, port_max) = media_range();
    let config = VoiceConfig {
        sip_listen: SocketAddr::new(LOOPBACK, 0),
        public_host: None,
        media: MediaConfig::new(LOOPBACK, LOOPBACK, port_min, port_max),
        trunks,
        user_agent: user_agent.map(str::to_owned),
        invite_journal: None,
    };
    let shutdown = CancellationToken::new();
    let voice = Voice::start(config, shutdown.clone())
        .await
        .expect("voice starts on loopback");
    (voice, shutdown)
}

/// The call-center INVITE `tests/sipp/uas_answer.xml` expects.
pub fn center_request(ring_timeout: Duration) -> OriginateRequest {
    OriginateRequest {
        to: Destination::Number(CENTER_NUMBER.parse().expect("CENTER_NUMBER is valid E.164")),
        request_user: Some(DNIS.to_string()),
        from_user: ANI.to_string(),
        from_display: Some("Callbond".to_string()),
        p_asserted_identity: Some(ANI.to_string()),
        user_to_user: Some(b"wc=42".to_vec()),
        extra_headers: vec![("X-Callbond-Session".to_string(), "s-42".to_string())],
        ring_timeout,
    }
}

/// Next event, or a test failure naming what we waited for.
pub async fn next_event(events: &mut mpsc::Receiver<LegEvent>, waiting_for: &str) -> LegEvent {
    match tokio::time::timeout(Duration::from_secs(20), events.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("event stream closed while waiting for {waiting_for}"),
        Err(_) => panic!("no event within 20 s while waiting for {waiting_for}"),
    }
}

/// Events up to and including `Answered`; fails on `HungUp` first.
pub async fn until_answered(events: &mut mpsc::Receiver<LegEvent>) -> Vec<LegEvent> {
    let mut seen = Vec::new();
    loop {
        let event = next_event(events, "Answered").await;
        let done = matches!(event, LegEvent::Answered { .. });
        if let LegEvent::HungUp(cause) = &event {
            panic!("leg ended before answer: {cause:?}; events so far {seen:?}");
        }
        seen.push(event);
        if done {
            return seen;
        }
    }
}

/// Events up to `HungUp`, returning the events before it and the cause.
pub async fn until_hung_up(events: &mut mpsc::Receiver<LegEvent>) -> (Vec<LegEvent>, EndCause) {
    let mut seen = Vec::new();
    loop {
        match next_event(events, "HungUp").await {
            LegEvent::HungUp(cause) => return (seen, cause),
            event => seen.push(event),
        }
    }
}

/// After `HungUp` the stream must end: no event follows the last one.
pub async fn assert_stream_ends(events: &mut mpsc::Receiver<LegEvent>) {
    let next = tokio::time::timeout(Duration::from_secs(5), events.recv()).await;
    assert!(
        matches!(next, Ok(None)),
        "expected the event stream to end after HungUp, got {next:?}"
    );
}
