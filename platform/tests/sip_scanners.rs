//! The SIP edge as SIPVicious sees it (issue 10): the scanners an attacker runs first, against
//! the real binary while a visitor's call runs through the trunks on 127.0.0.1. Each is told
//! to send from 127.0.0.3 (not a trunk's address, so the per-source limits apply); Debian's
//! svwar 0.3.3 ignores `-b` and sends from 127.0.0.1, so its scans are exempt and every one
//! of its requests is answered, which makes "no extension told apart" the stronger check.
//!
//! - `svmap` finds a SIP device but no fingerprint: no `User-Agent` or `Server` header names
//!   the product or its version.
//! - `svwar` (REGISTER and INVITE scans of 200 extensions) finds no extension: every
//!   extension gets the same answer, so there is nothing to enumerate, and no call is placed.
//! - `svcrack` (5,000 passwords for user 100) finds no password: nothing ever challenges it.
//! - The binary's memory grows by less than the bound, the trunk call completes, and an
//!   OPTIONS probe from a fresh address is answered afterwards.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use testkit::flow::{Rig, RigOptions};
use testkit::seed;
use testkit::sipp::scenario_path;

/// Where the scanners send from: not a trunk's address, so the per-source limits apply.
const ATTACKER: &str = "127.0.0.3";

/// Runs a SIPVicious tool against `sip` with `args` (at most `limit`), returns what it printed.
fn sipvicious(tool: &str, sip: SocketAddr, args: &[&str], limit: Duration) -> String {
    let output = Command::new("timeout")
        .arg(limit.as_secs().to_string())
        .arg(tool)
        .args(["-b", ATTACKER, "-p", &sip.port().to_string()])
        .args(args)
        .arg(sip.ip().to_string())
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} did not start (scripts/install installs sipvicious): {e}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!(
        "--- {tool} {args:?} (exit {:?})\n{text}",
        output.status.code()
    );
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn sipvicious_finds_no_fingerprint_no_extension_and_no_password() {
    let rig = Rig::start(env!("CARGO_BIN_EXE_callbond"), RigOptions::default()).unwrap();
    let sip = rig.cb.sip.unwrap();
    let before = rig.cb.rss_kib().unwrap();

    let scans = tokio::task::spawn_blocking(move || {
        let map = sipvicious("svmap", sip, &[], Duration::from_secs(30));
        let register = sipvicious(
            "svwar",
            sip,
            &["-m", "REGISTER", "-e", "100-299"],
            Duration::from_secs(90),
        );
        let invite = sipvicious(
            "svwar",
            sip,
            &["-m", "INVITE", "-e", "100-299"],
            Duration::from_secs(90),
        );
        let crack = sipvicious(
            "svcrack",
            sip,
            &["-u", "100", "-r", "1-5000"],
            Duration::from_secs(90),
        );
        (map, register, invite, crack)
    });
    // Meanwhile a visitor's call runs through the trunks.
    let number = seed::user_number(43);
    let (session, events) = rig
        .call_until_ended(&number, Duration::from_secs(90))
        .await
        .unwrap();
    let (map, register, invite, crack) = scans.await.unwrap();
    let peak = rig.cb.rss_kib().unwrap();

    // svmap sees a device at our address, with no product name in its user-agent column.
    let listed = map.lines().find(|l| l.contains(&sip.to_string()));
    let listed = listed.unwrap_or_else(|| panic!("svmap did not list {sip}:\n{map}"));
    assert!(!listed.contains("Callbond"), "fingerprint: {listed}");
    assert!(!map.contains(env!("CARGO_PKG_VERSION")), "{map}");
    // Neither scan tells one extension from another; svcrack never gets a challenge.
    for (scan, out) in [("REGISTER", &register), ("INVITE", &invite)] {
        assert!(
            out.contains("found nothing"),
            "svwar {scan} found extensions:\n{out}"
        );
    }
    assert!(crack.contains("found nothing"), "svcrack:\n{crack}");

    // The visitor's call went through as if nothing happened; no call came from the scans.
    assert_eq!(
        events.last().map(String::as_str),
        Some("ended:agent_hung_up"),
        "{events:?}"
    );
    rig.wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(rig.active_calls().unwrap(), 0);
    let growth = peak.saturating_sub(before);
    eprintln!("RSS before {before} KiB, after the scans {peak} KiB (+{growth} KiB)");
    assert!(growth < 48 * 1024, "RSS grew by {growth} KiB");

    // A fresh address still gets its OPTIONS answered (the scenario fails without a 200).
    let probe = Command::new("sipp")
        .arg(sip.to_string())
        .arg("-sf")
        .arg(scenario_path("uac_options.xml"))
        .args([
            "-i",
            "127.0.0.4",
            "-p",
            "0",
            "-m",
            "1",
            "-timeout",
            "10s",
            "-nostdin",
        ])
        .current_dir(tempfile::tempdir().unwrap().keep())
        .output()
        .unwrap();
    assert!(probe.status.success(), "OPTIONS probe: {probe:?}");
}
