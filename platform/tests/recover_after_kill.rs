//! The platform killed hard (SIGKILL) in the middle of calls and started again on the same
//! database and trunks: before it serves anyone, it CANCELs every leg the dead process left
//! ringing and BYEs every leg it left answered (the SIPp phones pass only if that request
//! comes, within 35 s of the restart), gives up on a far end that is gone after Timer F,
//! closes every record as `interrupted`, and frees the concurrent-call slots, so ten crashes
//! in a row do not turn the eleventh visitor away.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use serde_json::json;
use subscriber_db::{Call, Db, SessionId, TimelineEvent, Word};
use testkit::flow::{Rig, RigOptions};
use testkit::seed::{self, Seed};
use testkit::sipp::{Sipp, SippOptions, header};

/// How soon after the restart the far end must get our CANCEL or BYE.
const RECOVERY_LIMIT: Duration = Duration::from_secs(35);

/// Where a call is when the platform is killed.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// The user's phone rings (it never answers).
    UserRinging,
    /// The user listens to the hold announcement while the call center rings.
    UserOnHold,
    /// User and agent talk.
    Bridged,
}

impl Phase {
    fn options(self) -> RigOptions {
        let (user, center) = match self {
            Phase::UserRinging => ("uas_ring_forever.xml", "flow_center_agent.xml"),
            Phase::UserOnHold => ("flow_answer_wait_bye.xml", "uas_ring_forever.xml"),
            Phase::Bridged => (
                "flow_answer_stream_wait_bye.xml",
                "flow_answer_stream_wait_bye.xml",
            ),
        };
        RigOptions {
            user_scenario: user,
            center_scenario: center,
            seed: Seed {
                whisper_template: String::new(),
                policy: json!({ "sign_on": { "mode": "none" } }),
                ..Seed::default()
            },
            ..RigOptions::default()
        }
    }

    /// The phones that must get a request from the restarted platform, and which.
    fn expected(self, rig: &mut Rig) -> Vec<(&'static str, &mut Sipp)> {
        match self {
            Phase::UserRinging => vec![("CANCEL", &mut rig.user)],
            Phase::UserOnHold => vec![("BYE", &mut rig.user), ("CANCEL", &mut rig.center)],
            Phase::Bridged => vec![("BYE", &mut rig.user), ("BYE", &mut rig.center)],
        }
    }
}

/// What one phase measured, for the test's report.
#[derive(Debug)]
struct Measured {
    phase: Phase,
    /// Seconds from the restart to each phone's CANCEL or BYE.
    recovered_after: Vec<(&'static str, f64)>,
}

/// A call is started, the binary killed in `phase`, started again, and everything checked.
async fn kill_and_restart(phase: Phase, n: u32) -> Measured {
    let exe = env!("CARGO_BIN_EXE_callbond");
    let mut rig = tokio::task::spawn_blocking(move || Rig::start(exe, phase.options()))
        .await
        .unwrap()
        .unwrap();
    let session = rig.request_call(&seed::user_number(n)).await.unwrap();
    match phase {
        Phase::UserRinging => wait_ringing(&rig, &session, "user").await,
        Phase::UserOnHold => wait_ringing(&rig, &session, "center").await,
        Phase::Bridged => rig
            .wait_state(&session, "bridged", Duration::from_secs(30))
            .await
            .unwrap(),
    }
    tokio::task::block_in_place(|| rig.cb.kill()).unwrap();
    // The dead process left its record open: that is what takes a slot for good.
    assert_eq!(rig.active_calls().unwrap(), 1, "{phase:?}");

    let restarted = SystemTime::now();
    tokio::task::block_in_place(|| rig.cb.restart()).unwrap();
    let mut recovered_after = Vec::new();
    for (method, phone) in phase.expected(&mut rig) {
        // Each scenario fails unless the request comes (and, for CANCEL, unless its 487 is
        // ACKed).
        phone.passed(RECOVERY_LIMIT).await.unwrap();
        let at = phone
            .first_received_at(method)
            .unwrap_or_else(|| panic!("{phase:?}: no {method} at the phone"));
        let after = at.duration_since(restarted).unwrap_or_default();
        assert!(
            after < RECOVERY_LIMIT,
            "{phase:?}: {method} after {after:?}"
        );
        recovered_after.push((method, after.as_secs_f64()));
        assert_matches_invite(method, phone);
    }

    // The record is closed, as `interrupted`, before the restarted binary said it was ready.
    let db = Db::open(rig.cb.db_path()).unwrap();
    let call = db.get_call(&rig.sid, &session).unwrap();
    assert_closed(phase, &call);
    let timeline = db.list_call_events(&rig.sid, &session).unwrap();
    let legs_ended = match phase {
        Phase::UserRinging => 1,
        Phase::UserOnHold | Phase::Bridged => 2,
    };
    assert_eq!(
        timeline.last().map(|e| &e.event),
        Some(&TimelineEvent::Interrupted { legs_ended }),
        "{phase:?}"
    );
    assert_eq!(db.count_active_calls(&rig.sid).unwrap(), 0, "{phase:?}");
    assert_eq!(db.integrity_check().unwrap(), ["ok"], "{phase:?}");
    let logged = rig
        .call_logs(&session)
        .iter()
        .filter(|l| l.contains("recovery:") && l.contains("sent for a leg left open"))
        .count();
    assert_eq!(logged, legs_ended as usize, "{phase:?}\n{}", rig.cb.logs());

    for line in rig.cb.logs().lines().filter(|l| l.contains("recovery:")) {
        eprintln!("{phase:?}: {line}");
    }

    // The visitor's Connect page now shows the Disconnect page, with the reason.
    let page = reqwest::get(rig.cb.url(&format!("/sessions/{}", session.as_str())))
        .await
        .unwrap();
    assert!(
        page.url().path().ends_with("/ended"),
        "{phase:?}: {}",
        page.url()
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("cut off by a fault on our side"), "{html}");
    Measured {
        phase,
        recovered_after,
    }
}

/// The record as each phase must leave it: final, `interrupted`, every dial ended.
fn assert_closed(phase: Phase, call: &Call) {
    assert!(call.ended_at.is_some(), "{phase:?}: record left open");
    assert_eq!(call.end_cause.map(|c| c.word()), Some("interrupted"));
    assert!(call.legs.iter().all(|l| l.ended_at.is_some()), "{call:?}");
    let word = |c: Option<subscriber_db::LegEndCause>| c.map(|c| c.word());
    let cdr = |leg: &str| {
        call.legs
            .iter()
            .find(|l| l.leg.word() == leg)
            .unwrap_or_else(|| panic!("{phase:?}: no {leg} leg CDR"))
    };
    match phase {
        Phase::UserRinging => {
            assert_eq!(word(call.user_end_cause), Some("cancelled"));
            assert_eq!(call.center_end_cause, None);
            // The far end's 487 to the INVITE, after our CANCEL.
            assert_eq!(cdr("user").final_status, Some(487));
            assert_eq!(call.hung_up_first, None);
        }
        Phase::UserOnHold => {
            assert_eq!(word(call.user_end_cause), Some("local_hangup"));
            assert_eq!(word(call.center_end_cause), Some("cancelled"));
            assert_eq!(cdr("user").final_status, Some(200));
            assert_eq!(cdr("center").final_status, Some(487));
            assert_eq!(call.hung_up_first.map(|h| h.word()), Some("platform"));
        }
        Phase::Bridged => {
            assert_eq!(word(call.user_end_cause), Some("local_hangup"));
            assert_eq!(word(call.center_end_cause), Some("local_hangup"));
            assert!(call.legs.iter().all(|l| l.billable_secs() > 0.0));
            assert_eq!(call.hung_up_first.map(|h| h.word()), Some("platform"));
        }
    }
}

/// The restarted platform's request belongs to the dead one's INVITE: a CANCEL repeats its
/// Request-URI, top Via, From, To, Call-ID and CSeq number (RFC 3261 §9.1); a BYE goes to the
/// phone's Contact with both tags and a CSeq 100 above the INVITE's.
fn assert_matches_invite(method: &str, phone: &Sipp) {
    let received = phone.received();
    let invite = &phone.received_invites()[0];
    let request = received
        .iter()
        .find(|m| m.starts_with(&format!("{method} ")))
        .unwrap();
    let same = |name: &str| assert_eq!(header(request, name), header(invite, name), "{name}");
    same("Call-ID");
    same("From");
    let cseq = |m: &str| -> u32 {
        let value = header(m, "CSeq").unwrap();
        value.split_whitespace().next().unwrap().parse().unwrap()
    };
    let request_uri = |m: &str| m.split_whitespace().nth(1).unwrap().to_owned();
    if method == "CANCEL" {
        same("Via");
        same("To");
        assert_eq!(cseq(request), cseq(invite));
        assert_eq!(request_uri(request), request_uri(invite));
    } else {
        let to = header(request, "To").unwrap();
        assert!(
            to.starts_with(header(invite, "To").unwrap()) && to.contains(";tag="),
            "{to}"
        );
        assert_eq!(cseq(request), cseq(invite) + 100);
        let contact = format!("sip:{}", phone.addr);
        assert!(request_uri(request).starts_with(&contact), "{request}");
    }
}

/// Waits until the timeline shows `leg` ringing (a provisional response: a CANCEL may go).
async fn wait_ringing(rig: &Rig, session: &SessionId, leg: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rang = rig
            .timeline(session)
            .unwrap()
            .iter()
            .any(|e| e.kind() == "ringing" && e.detail()["leg"] == leg);
        if rang {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{leg} leg never rang\n{}",
            rig.cb.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The user's phone rang when the platform died and is gone too when it comes back: the
/// CANCEL is given up after Timer F (64·T1 = 32 s, RFC 3261 §17.1.2.2) and the record is
/// closed all the same, so a dead far end cannot keep a slot either. Returns the seconds the
/// restart took until ready.
async fn far_end_gone(n: u32) -> f64 {
    let exe = env!("CARGO_BIN_EXE_callbond");
    let options = Phase::UserRinging.options();
    let mut rig = tokio::task::spawn_blocking(move || Rig::start(exe, options))
        .await
        .unwrap()
        .unwrap();
    let session = rig.request_call(&seed::user_number(n)).await.unwrap();
    wait_ringing(&rig, &session, "user").await;
    tokio::task::block_in_place(|| rig.cb.kill()).unwrap();
    rig.user.kill().unwrap();
    let restarted = std::time::Instant::now();
    tokio::task::block_in_place(|| rig.cb.restart()).unwrap();
    let took = restarted.elapsed();
    assert!(
        (Duration::from_secs(30)..RECOVERY_LIMIT).contains(&took),
        "ready after {took:?}"
    );
    let db = Db::open(rig.cb.db_path()).unwrap();
    let call = db.get_call(&rig.sid, &session).unwrap();
    assert_eq!(call.end_cause.map(|c| c.word()), Some("interrupted"));
    assert_eq!(call.user_end_cause.map(|c| c.word()), Some("network_error"));
    assert!(call.legs.iter().all(|l| l.ended_at.is_some()), "{call:?}");
    assert_eq!(db.count_active_calls(&rig.sid).unwrap(), 0);
    let gave_up = rig
        .call_logs(&session)
        .iter()
        .any(|l| l.contains("no answer") && l.contains("may still hold it"));
    assert!(gave_up, "{}", rig.cb.logs());
    took.as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_ends_every_leg_a_killed_platform_left_open() {
    // One task per rig: a restart blocks its own task (up to 32 s for the gone far end), and
    // must not stall the HTTP and SIP waits of the others.
    let phases = [Phase::UserRinging, Phase::UserOnHold, Phase::Bridged]
        .into_iter()
        .zip(1..)
        .map(|(phase, n)| tokio::spawn(kill_and_restart(phase, n)))
        .collect::<Vec<_>>();
    let gone = tokio::spawn(far_end_gone(4));
    for phase in phases {
        let measured = phase.await.unwrap();
        eprintln!(
            "recovered: {:?} {:?}",
            measured.phase, measured.recovered_after
        );
    }
    let gone = gone.await.unwrap();
    eprintln!("far end gone: restart ready after {gone:.3} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_kills_in_a_row_leave_the_capacity_free() {
    const KILLS: u32 = 10;
    let exe = env!("CARGO_BIN_EXE_callbond");
    let options = RigOptions {
        user_scenario: "uas_ring_forever.xml",
        user: SippOptions {
            calls: KILLS + 1,
            ..SippOptions::default()
        },
        // The policy's default limit: ten calls at once.
        seed: Seed::with_policy(json!({ "max_concurrent_calls": 10 })),
        ..RigOptions::default()
    };
    let mut rig = tokio::task::spawn_blocking(move || Rig::start(exe, options))
        .await
        .unwrap()
        .unwrap();
    let mut after = Vec::new();
    for n in 0..KILLS {
        let session = rig.request_call(&seed::user_number(100 + n)).await.unwrap();
        wait_ringing(&rig, &session, "user").await;
        tokio::task::block_in_place(|| rig.cb.kill()).unwrap();
        let restarted = std::time::Instant::now();
        tokio::task::block_in_place(|| rig.cb.restart()).unwrap();
        after.push(restarted.elapsed().as_secs_f64());
        let db = Db::open(rig.cb.db_path()).unwrap();
        let call = db.get_call(&rig.sid, &session).unwrap();
        assert_eq!(
            call.end_cause.map(|c| c.word()),
            Some("interrupted"),
            "kill {n}"
        );
        assert_eq!(db.count_active_calls(&rig.sid).unwrap(), 0, "kill {n}");
    }
    eprintln!("restart to ready (records closed), s: {after:.3?}");
    // The eleventh visitor gets a Welcome page and a call: its phone rings.
    let session = rig
        .request_call(&seed::user_number(100 + KILLS))
        .await
        .unwrap();
    wait_ringing(&rig, &session, "user").await;
    tokio::task::block_in_place(|| rig.cb.terminate(Duration::from_secs(20))).unwrap();
    // Every one of the eleven calls got its CANCEL: ten from restarts, the last at shutdown.
    rig.user.passed(RECOVERY_LIMIT).await.unwrap();
    let db = Db::open(rig.cb.db_path()).unwrap();
    assert_eq!(db.count_active_calls(&rig.sid).unwrap(), 0);
    assert_eq!(db.integrity_check().unwrap(), ["ok"]);
}
