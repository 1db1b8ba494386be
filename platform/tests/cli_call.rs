//! `callbond call` against real SIPp phones: the real binary, a temporary config whose trunk
//! points at SIPp, and its printed events and exit code. Answered calls say the text, print
//! the events and the key SIPp presses and exit 0, whether we hang up after the listen window
//! or the phone hangs up first; a busy phone, a number no trunk serves and a `--to` that is no
//! phone number exit non-zero with a message saying why.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

fn free_udp_port() -> u16 {
    UdpSocket::bind(("127.0.0.1", 0))
        .and_then(|s| s.local_addr())
        .expect("an ephemeral UDP port on loopback")
        .port()
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/sipp")
        .join(name)
}

/// Waits for `child` up to `limit`, killing it after; its exit code (None: killed).
fn wait(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            return status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One SIPp phone on its own ports, answering one call with `scenario`; killed when dropped.
struct Phone {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Phone {
    fn start(name: &str) -> Phone {
        let dir = tempfile::tempdir().expect("temp dir for SIPp logs");
        let port = free_udp_port();
        let child = Command::new("sipp")
            .arg("-sf")
            .arg(scenario(name))
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-mp", &free_udp_port().to_string()])
            .args(["-m", "1", "-timeout", "40s", "-nostdin", "-trace_err"])
            .arg("-error_file")
            .arg(dir.path().join("errors.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp is installed (apt sip-tester)");
        // SIPp binds within milliseconds; our INVITE is retransmitted if it comes early.
        std::thread::sleep(Duration::from_millis(150));
        Phone { child, port, dir }
    }

    /// The scenario ran to its end (SIPp exit 0), or the test fails with SIPp's errors.
    fn assert_passed(mut self) {
        let code = wait(&mut self.child, Duration::from_secs(20));
        let errors =
            std::fs::read_to_string(self.dir.path().join("errors.log")).unwrap_or_default();
        assert_eq!(code, Some(0), "SIPp scenario failed:\n{errors}");
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `callbond --config C call ARGS` with a config whose one trunk serves `prefix` through
/// `trunk_port` on loopback; SIP on a free port, media in a range of its own.
fn callbond_call(prefix: &str, trunk_port: u16, args: &[&str]) -> Run {
    callbond_call_with(prefix, trunk_port, "", args)
}

/// As [`callbond_call`], with `media_extra` lines added to the `[media]` table.
fn callbond_call_with(prefix: &str, trunk_port: u16, media_extra: &str, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let media_min = 32_000 + (std::process::id() % 200) as u16 * 40;
    let config = format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\n\
         [media]\nport_min = {media_min}\nport_max = {}\n{media_extra}\n\
         [log]\nfilter = \"warn\"\n\
         [[trunks]]\nprefix = \"{prefix}\"\ntarget = \"127.0.0.1:{trunk_port}\"\n",
        media_min + 39
    );
    let config_path = dir.path().join("callbond.toml");
    std::fs::write(&config_path, config).expect("write config");
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_callbond"))
        .arg("--config")
        .arg(&config_path)
        .arg("call")
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("start callbond");
    let code = wait(&mut child, Duration::from_secs(40));
    Run {
        code,
        stdout: std::fs::read_to_string(out).unwrap_or_default(),
        stderr: std::fs::read_to_string(err).unwrap_or_default(),
    }
}

fn lines(run: &Run) -> Vec<&str> {
    run.stdout.lines().map(str::trim).collect()
}

impl Run {
    /// The call ended well: exit 0, or the test fails showing both outputs.
    fn assert_succeeded(&self) {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
    }

    /// The call failed: a non-zero exit, or the test fails showing the exit and stdout.
    fn assert_failed(&self) {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "exit {:?}\n{}",
            self.code,
            self.stdout
        );
    }
}

/// `call` arguments: dial `to`, say `text`, then listen `listen_secs` seconds.
fn say_and_listen<'a>(to: &'a str, text: &'a str, listen_secs: &'a str) -> [&'a str; 6] {
    ["--to", to, "--say", text, "--listen-secs", listen_secs]
}

/// A loopback UDP socket a trunk may point at, to prove nothing is sent there.
struct Watched(UdpSocket);

impl Watched {
    fn bind() -> Watched {
        let socket = UdpSocket::bind(("127.0.0.1", 0)).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        Watched(socket)
    }

    fn port(&self) -> u16 {
        self.0.local_addr().expect("addr").port()
    }

    /// Fails with `what` if a datagram arrived within the read timeout.
    fn assert_nothing_sent(&self, what: &str) {
        let mut buf = [0u8; 2048];
        assert!(self.0.recv_from(&mut buf).is_err(), "{what}");
    }
}

#[test]
fn answered_call_says_the_text_prints_the_key_and_hangs_up_after_listening() {
    let phone = Phone::start("uas_press_5_wait_bye.xml");
    let started = Instant::now();
    let run = callbond_call(
        "+49",
        phone.port,
        &say_and_listen("+4930111222", "This is a test call from Callbond", "1"),
    );
    let took = started.elapsed();
    run.assert_succeeded();
    let lines = lines(&run);
    // Each event once, in this order; `said` (PlayoutDone) proves the text was played out.
    let expected = [
        "ringing",
        "answered codec=PCMU",
        "digit 5 via rfc4733",
        "said",
        "hung up: local hangup",
    ];
    let positions: Vec<Option<usize>> = expected
        .iter()
        .map(|e| lines.iter().position(|l| l == e))
        .collect();
    assert!(
        positions.iter().all(Option::is_some) && positions.is_sorted(),
        "expected {expected:?} in order, got {lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("digit")).count(),
        1,
        "the key is printed once: {lines:?}"
    );
    // The sentence lasts about two seconds, then one second of listening.
    assert!(
        took >= Duration::from_secs(2),
        "the call took only {took:?}"
    );
    phone.assert_passed();
}

#[test]
fn far_end_hanging_up_ends_the_call_before_the_listen_window() {
    let phone = Phone::start("uas_press_5_then_bye.xml");
    let started = Instant::now();
    let run = callbond_call(
        "",
        phone.port,
        &say_and_listen("+14155550123", "Hello", "30"),
    );
    run.assert_succeeded();
    let lines = lines(&run);
    assert!(lines.contains(&"digit 5 via rfc4733"), "{lines:?}");
    assert_eq!(lines.last(), Some(&"hung up: remote hangup"), "{lines:?}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the call waited for the listen window although the phone hung up"
    );
    phone.assert_passed();
}

#[test]
fn busy_phone_exits_non_zero_and_says_busy() {
    let phone = Phone::start("uas_busy.xml");
    let run = callbond_call(
        "+49",
        phone.port,
        &["--to", "+4930111222", "--say", "Hello"],
    );
    run.assert_failed();
    assert!(lines(&run).contains(&"hung up: busy"), "{}", run.stdout);
    assert!(
        !lines(&run).iter().any(|l| l.starts_with("answered")),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("busy"), "stderr: {}", run.stderr);
    phone.assert_passed();
}

#[test]
fn number_without_a_trunk_is_a_clear_error_and_calls_nobody() {
    // The only trunk serves +49 and points at a socket we watch: nothing may arrive there.
    let watched = Watched::bind();
    let run = callbond_call(
        "+49",
        watched.port(),
        &["--to", "+14155550123", "--say", "Hello"],
    );
    run.assert_failed();
    assert!(
        run.stderr.contains("no trunk serves number") && run.stderr.contains("[[trunks]]"),
        "stderr: {}",
        run.stderr
    );
    assert!(run.stdout.trim().is_empty(), "stdout: {}", run.stdout);
    watched.assert_nothing_sent("something was sent to the +49 trunk");
}

#[test]
fn a_to_that_is_no_phone_number_is_a_clear_error_and_calls_nobody() {
    // A catch-all trunk points at a socket we watch: a number read loosely would be dialled.
    let watched = Watched::bind();
    for bad in ["4930111222", "+1555"] {
        let run = callbond_call("", watched.port(), &["--to", bad, "--say", "Hello"]);
        run.assert_failed();
        assert!(
            run.stderr
                .contains("--to must be a phone number like +4930123456 or a sip: URI")
                && run.stderr.contains(bad),
            "stderr for {bad:?}: {}",
            run.stderr
        );
        assert!(run.stdout.trim().is_empty(), "stdout: {}", run.stdout);
    }
    watched.assert_nothing_sent("a malformed --to was dialled");
}

#[test]
fn sip_uri_destination_is_called_as_is() {
    let phone = Phone::start("uas_press_5_wait_bye.xml");
    // The configured trunk points elsewhere: the URI must not need it.
    let run = callbond_call(
        "",
        free_udp_port(),
        &say_and_listen(&format!("sip:7001@127.0.0.1:{}", phone.port), "Hello", "1"),
    );
    run.assert_succeeded();
    let lines = lines(&run);
    assert!(lines.contains(&"answered codec=PCMU"), "{lines:?}");
    assert!(lines.contains(&"said"), "{lines:?}");
    assert_eq!(lines.last(), Some(&"hung up: local hangup"), "{lines:?}");
    phone.assert_passed();
}

/// The binary reads espeak-ng's voice data from `media.tts_data_dir`, not from its build tree:
/// data reached through a directory of our own speaks, and a directory without data stops the
/// call before it is placed, naming the directory and the key.
#[test]
fn speech_data_comes_from_the_configured_directory() {
    let data = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(
        "/usr/lib/x86_64-linux-gnu/espeak-ng-data",
        data.path().join("espeak-ng-data"),
    )
    .expect("link the Debian espeak-ng-data");
    let phone = Phone::start("uas_press_5_wait_bye.xml");
    let run = callbond_call_with(
        "",
        phone.port,
        &format!("tts_data_dir = \"{}\"", data.path().display()),
        &say_and_listen("+14155550123", "Hello", "1"),
    );
    run.assert_succeeded();
    assert!(lines(&run).contains(&"said"), "{}", run.stdout);
    phone.assert_passed();

    let empty = tempfile::tempdir().expect("temp dir");
    let watched = Watched::bind();
    let run = callbond_call_with(
        "",
        watched.port(),
        &format!("tts_data_dir = \"{}\"", empty.path().display()),
        &["--to", "+14155550123", "--say", "Hello"],
    );
    run.assert_failed();
    let dir = empty.path().display().to_string();
    assert!(
        run.stderr.contains("espeak-ng-data not found")
            && run.stderr.contains(&dir)
            && run.stderr.contains("media.tts_data_dir"),
        "stderr: {}",
        run.stderr
    );
    watched.assert_nothing_sent("a call was placed");
}
