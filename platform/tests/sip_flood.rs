//! Bounded cost per source on the SIP edge (issue 10): 20,000 unsolicited INVITEs from one
//! address (SIPp on 127.0.0.2, never ACKing) while a real call runs through the trunks on
//! 127.0.0.1. The binary's memory stays under the bound, the flood is dropped past the
//! per-source limit, and the trunk call completes as if nothing happened.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::flow::{Rig, RigOptions};
use testkit::seed;
use testkit::sipp::scenario_path;

#[tokio::test(flavor = "multi_thread")]
async fn an_invite_flood_costs_bounded_memory_and_trunk_calls_go_on() {
    let rig = Rig::start(env!("CARGO_BIN_EXE_callbond"), RigOptions::default()).unwrap();
    let before = rig.cb.rss_kib().unwrap();
    // Started at the same time: the flood from another address, and a visitor's call.
    let sip = rig.cb.sip.unwrap();
    let flood_calls = 20_000;
    let mut flood = Command::new("sipp")
        .arg(sip.to_string())
        .arg("-sf")
        .arg(scenario_path("uac_invite_flood.xml"))
        .args(["-i", "127.0.0.2", "-p", "0", "-mi", "127.0.0.2"])
        .args(["-m", &flood_calls.to_string(), "-r", "2000", "-l", "0"])
        .args(["-nr", "-bg", "-trace_err"])
        .current_dir(tempfile::tempdir().unwrap().keep())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let number = seed::user_number(41);
    let call = rig.call_until_ended(&number, Duration::from_secs(60));
    let mut peak = before;
    let sample = async {
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            peak = peak.max(rig.cb.rss_kib().unwrap());
        }
    };
    let ((session, events), ()) = tokio::join!(async { call.await.unwrap() }, sample);
    let _ = flood.wait();
    // The call is bridged and ends as the agent ends it. Which pages it shows depends on when
    // the center's scripted keys land against the whisper under a CPU-starved flood (a key
    // before the bridge is ignored by design), so the pages are only printed.
    println!("browser saw: {events:?}");
    assert_eq!(
        events[..3],
        [
            "status:calling",
            "status:connecting",
            "status:agent_on_line"
        ]
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("ended:agent_hung_up")
    );
    rig.wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    let growth = peak.saturating_sub(before);
    println!("RSS before {before} KiB, peak {peak} KiB during the flood (+{growth} KiB)");
    // 256 lingering refusals of ~16 KiB each, plus one call: far below what 20,000 held.
    assert!(
        growth < 48 * 1024,
        "RSS grew by {growth} KiB under the flood"
    );
    let logs = rig.cb.logs();
    assert!(
        logs.contains("requests over a source's limit dropped unanswered"),
        "the flood was not limited"
    );
    assert_eq!(
        rig.active_calls().unwrap(),
        0,
        "no call came from the flood"
    );
}
