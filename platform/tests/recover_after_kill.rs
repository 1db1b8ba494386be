//! The platform killed hard (SIGKILL) in the middle of calls and started again on the same
//! database and trunks: before it serves anyone, it CANCELs every leg the dead process left
//! ringing and BYEs every leg it left answered (the SIPp phones pass only if that request
//! comes, within 35 s of the restart), gives up on a far end that is gone after Timer F,
//! closes every record as `interrupted`, and frees the concurrent-call slots, so ten crashes
//! in a row do not turn the eleventh visitor away.
//!
//! The kill points are a table, one row a point: dialing (no answer at all, ringing, early
//! media, a digest challenge), on hold, sign-on awaited (`#` and PIN), whisper, bridged,
//! after a page push, and ending (a BYE outstanding), in each of the three call orders where
//! the order changes what is up. Each row says which phones must get which request after the
//! restart and how the record must then name each leg's end.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use subscriber_db::{Call, CallEvent, Db, SessionId, TimelineEvent, Word};
use testkit::flow::{Rig, RigOptions};
use testkit::seed::{self, Seed};
use testkit::sipp::{Sipp, SippOptions, header};

/// How soon after the restart the far end must get our CANCEL or BYE.
const RECOVERY_LIMIT: Duration = Duration::from_secs(35);

/// One of the two phones of a rig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phone {
    User,
    Center,
}

impl Phone {
    fn leg(self) -> &'static str {
        match self {
            Phone::User => "user",
            Phone::Center => "center",
        }
    }
}

/// What happens to one leg across the kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Across {
    /// It was dialed and not answered: the restarted platform CANCELs it (the far end's 487
    /// closes its CDR).
    Cancel,
    /// It was answered: the restarted platform BYEs it.
    Bye,
    /// It had ended before the kill, with this cause; nothing is sent for it.
    EndedBefore(&'static str),
    /// It was never dialed.
    NotDialed,
}

/// A condition on what the dead process had done when it is killed.
#[derive(Debug, Clone, Copy)]
enum Mark {
    /// The timeline has a row of this kind, for this leg when one is named.
    Row(&'static str, Option<Phone>),
    /// The phone received a request with this method.
    PhoneGot(Phone, &'static str),
}

/// One kill point: the call's set-up, when it is killed, and what must follow.
#[derive(Debug, Clone)]
struct Point {
    name: &'static str,
    user_scenario: &'static str,
    center_scenario: &'static str,
    /// The subscriber's policy fields (merged over the defaults).
    policy: Value,
    whisper_template: &'static str,
    user_trunk_auth: Option<(&'static str, &'static str)>,
    /// Killed once all of these hold.
    kill_when: &'static [Mark],
    user: Across,
    center: Across,
    /// The record's `hung_up_first` after recovery.
    hung_up_first: Option<&'static str>,
}

const NO_SIGN_ON: &str = "none";

fn policy(order: &str, sign_on: &str) -> Value {
    let sign_on = match sign_on {
        "pin" => json!({ "mode": "pin", "pin": "34" }),
        mode => json!({ "mode": mode }),
    };
    json!({ "call_order": order, "sign_on": sign_on })
}

/// Every kill point, in the order a call passes them (user first), then the points the other
/// call orders add.
fn points() -> Vec<Point> {
    use Across::{Bye, Cancel, EndedBefore, NotDialed};
    use Mark::{PhoneGot, Row};
    use Phone::{Center, User};
    let point = |name, user_scenario, center_scenario, policy| Point {
        name,
        user_scenario,
        center_scenario,
        policy,
        whisper_template: "",
        user_trunk_auth: None,
        kill_when: &[],
        user: NotDialed,
        center: NotDialed,
        hung_up_first: None,
    };
    let user_first = |sign_on| policy("user_first", sign_on);
    let center_first = policy("center_first", NO_SIGN_ON);
    let simultaneous = policy("simultaneous", NO_SIGN_ON);
    vec![
        Point {
            // The leg is stored too: a kill before that is the journal's case (its own test).
            kill_when: &[PhoneGot(User, "INVITE"), Row("leg_dialed", Some(User))],
            user: Cancel,
            ..point(
                "user dialed, no response at all",
                "uas_silent_until_cancel.xml",
                "flow_center_agent.xml",
                user_first(NO_SIGN_ON),
            )
        },
        Point {
            kill_when: &[Row("ringing", Some(User))],
            user: Cancel,
            ..point(
                "user ringing",
                "uas_ring_forever.xml",
                "flow_center_agent.xml",
                user_first(NO_SIGN_ON),
            )
        },
        Point {
            kill_when: &[Row("ringing", Some(User))],
            user: Cancel,
            ..point(
                "user's network plays early media",
                "uas_early_media_until_cancel.xml",
                "flow_center_agent.xml",
                user_first(NO_SIGN_ON),
            )
        },
        Point {
            user_trunk_auth: Some(("trunkuser", "trunkpass")),
            kill_when: &[Row("ringing", Some(User))],
            user: Cancel,
            ..point(
                "user ringing after a 407 digest challenge",
                "uas_auth_407_until_cancel.xml",
                "flow_center_agent.xml",
                user_first(NO_SIGN_ON),
            )
        },
        Point {
            kill_when: &[
                Row("answered", Some(User)),
                PhoneGot(Center, "INVITE"),
                Row("leg_dialed", Some(Center)),
            ],
            user: Bye,
            center: Cancel,
            hung_up_first: Some("platform"),
            ..point(
                "user on hold, center dialed, no response",
                "flow_answer_wait_bye.xml",
                "uas_silent_until_cancel.xml",
                user_first(NO_SIGN_ON),
            )
        },
        Point {
            kill_when: &[Row("ringing", Some(Center))],
            user: Bye,
            center: Cancel,
            hung_up_first: Some("platform"),
            ..point(
                "user on hold, center ringing",
                "flow_answer_wait_bye.xml",
                "uas_ring_forever.xml",
                user_first(NO_SIGN_ON),
            )
        },
        Point {
            kill_when: &[Row("sign_on_waiting", None)],
            user: Bye,
            center: Bye,
            hung_up_first: Some("platform"),
            ..point(
                "agent answered, sign-on by # awaited",
                "flow_answer_wait_bye.xml",
                "flow_answer_wait_bye.xml",
                user_first("hash"),
            )
        },
        Point {
            kill_when: &[Row("sign_on_waiting", None)],
            user: Bye,
            center: Bye,
            hung_up_first: Some("platform"),
            ..point(
                "agent answered, PIN awaited",
                "flow_answer_wait_bye.xml",
                "flow_answer_wait_bye.xml",
                user_first("pin"),
            )
        },
        Point {
            whisper_template: "Customer {whisper_code} about {subject}, calling from the web site",
            kill_when: &[Row("whisper_start", None)],
            user: Bye,
            center: Bye,
            hung_up_first: Some("platform"),
            ..point(
                "whisper playing to the agent",
                "flow_answer_wait_bye.xml",
                "flow_center_sign_on_wait_bye.xml",
                user_first("hash"),
            )
        },
        Point {
            kill_when: &[Row("bridged", None)],
            user: Bye,
            center: Bye,
            hung_up_first: Some("platform"),
            ..point(
                "bridged",
                "flow_answer_stream_wait_bye.xml",
                "flow_answer_stream_wait_bye.xml",
                user_first(NO_SIGN_ON),
            )
        },
        Point {
            kill_when: &[Row("page_pushed", None)],
            user: Bye,
            center: Bye,
            hung_up_first: Some("platform"),
            ..point(
                "bridged, the agent's page pushed",
                "flow_answer_stream_wait_bye.xml",
                "flow_center_page_wait_bye.xml",
                user_first("hash"),
            )
        },
        Point {
            kill_when: &[Row("hung_up", Some(User)), PhoneGot(Center, "BYE")],
            user: EndedBefore("remote_hangup"),
            center: Bye,
            hung_up_first: Some("user"),
            ..point(
                "ending: the user hung up, the BYE to the agent unanswered",
                "flow_answer_stream_then_bye.xml",
                "flow_answer_ignore_bye_then_answer.xml",
                user_first(NO_SIGN_ON),
            )
        },
        Point {
            kill_when: &[PhoneGot(Center, "INVITE"), Row("leg_dialed", Some(Center))],
            center: Cancel,
            ..point(
                "center first: center dialed, no response",
                "flow_answer_wait_bye.xml",
                "uas_silent_until_cancel.xml",
                center_first.clone(),
            )
        },
        Point {
            kill_when: &[Row("ringing", Some(Center))],
            center: Cancel,
            ..point(
                "center first: center ringing",
                "flow_answer_wait_bye.xml",
                "uas_ring_forever.xml",
                center_first.clone(),
            )
        },
        Point {
            kill_when: &[Row("answered", Some(Center)), Row("ringing", Some(User))],
            user: Cancel,
            center: Bye,
            hung_up_first: Some("platform"),
            ..point(
                "center first: agent answered, user ringing",
                "uas_ring_forever.xml",
                "flow_answer_wait_bye.xml",
                center_first.clone(),
            )
        },
        Point {
            kill_when: &[Row("bridged", None)],
            user: Bye,
            center: Bye,
            hung_up_first: Some("platform"),
            ..point(
                "center first: bridged",
                "flow_answer_stream_wait_bye.xml",
                "flow_answer_stream_wait_bye.xml",
                center_first,
            )
        },
        Point {
            kill_when: &[Row("ringing", Some(User)), Row("ringing", Some(Center))],
            user: Cancel,
            center: Cancel,
            ..point(
                "simultaneous: both ringing",
                "uas_ring_forever.xml",
                "uas_ring_forever.xml",
                simultaneous.clone(),
            )
        },
        Point {
            kill_when: &[Row("answered", Some(User)), Row("ringing", Some(Center))],
            user: Bye,
            center: Cancel,
            hung_up_first: Some("platform"),
            ..point(
                "simultaneous: user answered, center ringing",
                "flow_answer_wait_bye.xml",
                "uas_ring_forever.xml",
                simultaneous.clone(),
            )
        },
        Point {
            kill_when: &[Row("answered", Some(Center)), Row("ringing", Some(User))],
            user: Cancel,
            center: Bye,
            hung_up_first: Some("platform"),
            ..point(
                "simultaneous: agent answered, user ringing",
                "uas_ring_forever.xml",
                "flow_answer_wait_bye.xml",
                simultaneous.clone(),
            )
        },
        Point {
            kill_when: &[Row("bridged", None)],
            user: Bye,
            center: Bye,
            hung_up_first: Some("platform"),
            ..point(
                "simultaneous: bridged",
                "flow_answer_stream_wait_bye.xml",
                "flow_answer_stream_wait_bye.xml",
                simultaneous,
            )
        },
    ]
}

impl Point {
    fn options(&self) -> RigOptions {
        RigOptions {
            user_scenario: self.user_scenario,
            center_scenario: self.center_scenario,
            // The agent's bare `<pause/>` before keying 1 after the sign-on.
            center: SippOptions::pausing(500),
            seed: Seed {
                whisper_template: self.whisper_template.to_owned(),
                policy: self.policy.clone(),
                ..Seed::default()
            },
            user_trunk_auth: self.user_trunk_auth,
            ..RigOptions::default()
        }
    }

    fn across(&self, phone: Phone) -> Across {
        match phone {
            Phone::User => self.user,
            Phone::Center => self.center,
        }
    }

    /// The legs the restarted platform must end, with the request each phone must get.
    fn to_end(&self) -> Vec<(Phone, &'static str)> {
        [Phone::User, Phone::Center]
            .into_iter()
            .filter_map(|phone| match self.across(phone) {
                Across::Cancel => Some((phone, "CANCEL")),
                Across::Bye => Some((phone, "BYE")),
                Across::EndedBefore(_) | Across::NotDialed => None,
            })
            .collect()
    }
}

/// What one point measured, for the test's report.
#[derive(Debug)]
struct Measured {
    point: &'static str,
    /// Seconds from the restart to each phone's CANCEL or BYE.
    recovered_after: Vec<(&'static str, f64)>,
}

fn phone(rig: &mut Rig, phone: Phone) -> &mut Sipp {
    match phone {
        Phone::User => &mut rig.user,
        Phone::Center => &mut rig.center,
    }
}

/// Whether the dead-to-be process has done everything `marks` name.
fn reached(rig: &Rig, session: &SessionId, marks: &[Mark]) -> bool {
    let timeline = rig.timeline(session).unwrap_or_default();
    marks.iter().all(|mark| match *mark {
        Mark::Row(kind, leg) => has_row(&timeline, kind, leg),
        Mark::PhoneGot(who, method) => {
            let sipp = match who {
                Phone::User => &rig.user,
                Phone::Center => &rig.center,
            };
            sipp.first_received_at(method).is_some()
        }
    })
}

fn has_row(timeline: &[CallEvent], kind: &str, leg: Option<Phone>) -> bool {
    timeline
        .iter()
        .any(|e| e.kind() == kind && leg.is_none_or(|leg| e.detail()["leg"] == leg.leg()))
}

/// A call is started, the binary killed at `point`, started again, and everything checked.
async fn kill_and_restart(point: Point, n: u32) -> Measured {
    let exe = env!("CARGO_BIN_EXE_callbond");
    let options = point.options();
    let mut rig = tokio::task::spawn_blocking(move || Rig::start(exe, options))
        .await
        .unwrap()
        .unwrap();
    let name = point.name;
    let session = rig.request_call(&seed::user_number(n)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while !reached(&rig, &session, point.kill_when) {
        assert!(
            std::time::Instant::now() < deadline,
            "{name}: never reached {:?}\n{:?}\n{}",
            point.kill_when,
            testkit::flow::kinds(&rig.timeline(&session).unwrap_or_default()),
            rig.cb.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::task::block_in_place(|| rig.cb.kill()).unwrap();
    // The dead process left its record open: that is what takes a slot for good.
    assert_eq!(rig.active_calls().unwrap(), 1, "{name}");

    let restarted = SystemTime::now();
    tokio::task::block_in_place(|| rig.cb.restart()).unwrap();
    let mut recovered_after = Vec::new();
    for (who, method) in point.to_end() {
        let sipp = phone(&mut rig, who);
        // Each scenario fails unless the request comes (and, for CANCEL, unless its 487 is
        // ACKed).
        if let Err(e) = sipp.passed(RECOVERY_LIMIT).await {
            panic!("{name}: {who:?} phone: {e}\n{}", sipp.logs());
        }
        let (at, request) = sipp
            .last_received(method)
            .unwrap_or_else(|| panic!("{name}: no {method} at the {who:?} phone"));
        let at = at.unwrap_or_else(|| panic!("{name}: {method} without a time"));
        // The request is the restarted process's, not one the dead process sent.
        let after = at
            .duration_since(restarted)
            .unwrap_or_else(|_| panic!("{name}: the last {method} came before the restart"));
        assert!(after < RECOVERY_LIMIT, "{name}: {method} after {after:?}");
        recovered_after.push((method, after.as_secs_f64()));
        assert_matches_invite(method, &request, sipp);
    }

    // The record is closed, as `interrupted`, before the restarted binary said it was ready.
    let db = Db::open(rig.cb.db_path()).unwrap();
    let call = db.get_call(&rig.sid, &session).unwrap();
    assert_closed(&point, &call);
    let timeline = db.list_call_events(&rig.sid, &session).unwrap();
    let legs_ended = u32::try_from(point.to_end().len()).unwrap();
    assert_eq!(
        timeline.last().map(|e| &e.event),
        Some(&TimelineEvent::Interrupted { legs_ended }),
        "{name}"
    );
    assert_eq!(db.count_active_calls(&rig.sid).unwrap(), 0, "{name}");
    assert_eq!(db.integrity_check().unwrap(), ["ok"], "{name}");
    let logged = rig
        .call_logs(&session)
        .iter()
        .filter(|l| l.contains("recovery:") && l.contains("sent for a leg left open"))
        .count();
    assert_eq!(logged, legs_ended as usize, "{name}\n{}", rig.cb.logs());

    // The visitor's Connect page now shows the Disconnect page, with the reason.
    let page = reqwest::get(rig.cb.url(&format!("/sessions/{}", session.as_str())))
        .await
        .unwrap();
    assert!(
        page.url().path().ends_with("/ended"),
        "{name}: {}",
        page.url()
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("cut off by a fault on our side"),
        "{name}: {html}"
    );
    Measured {
        point: name,
        recovered_after,
    }
}

/// The record as each point must leave it: final, `interrupted`, every dial ended, each leg's
/// end named as the point says.
fn assert_closed(point: &Point, call: &Call) {
    let name = point.name;
    assert!(call.ended_at.is_some(), "{name}: record left open");
    assert_eq!(
        call.end_cause.map(|c| c.word()),
        Some("interrupted"),
        "{name}"
    );
    assert!(
        call.legs.iter().all(|l| l.ended_at.is_some()),
        "{name}: {call:?}"
    );
    for who in [Phone::User, Phone::Center] {
        let cause = match who {
            Phone::User => call.user_end_cause,
            Phone::Center => call.center_end_cause,
        }
        .map(|c| c.word());
        // The leg's last dial (a digest challenge is one dial: the stack retries it).
        let cdr = call.legs.iter().rev().find(|l| l.leg.word() == who.leg());
        let status = cdr.and_then(|c| c.final_status);
        match point.across(who) {
            Across::Cancel => {
                assert_eq!(cause, Some("cancelled"), "{name}: {who:?}");
                // The far end's 487 to the INVITE, after our CANCEL.
                assert_eq!(status, Some(487), "{name}: {who:?}");
            }
            Across::Bye => {
                assert_eq!(cause, Some("local_hangup"), "{name}: {who:?}");
                assert_eq!(status, Some(200), "{name}: {who:?}");
            }
            Across::EndedBefore(before) => assert_eq!(cause, Some(before), "{name}: {who:?}"),
            Across::NotDialed => {
                assert_eq!(cause, None, "{name}: {who:?}");
                assert!(cdr.is_none(), "{name}: {who:?} dialed: {cdr:?}");
            }
        }
    }
    assert_eq!(
        call.hung_up_first.map(|h| h.word()),
        point.hung_up_first,
        "{name}"
    );
}

/// The restarted platform's request belongs to the dead one's INVITE: a CANCEL repeats its
/// Request-URI, top Via, From, To, Call-ID and CSeq number (RFC 3261 §9.1); a BYE goes to the
/// phone's Contact with both tags and a CSeq 100 above the INVITE's.
///
/// The INVITE is the last one the phone got: after a digest challenge, the retried one.
fn assert_matches_invite(method: &str, request: &str, phone: &Sipp) {
    let invites = phone.received_invites();
    let invite = invites.last().expect("the phone got an INVITE");
    let same = |name: &str| assert_eq!(header(request, name), header(invite, name), "{name}");
    same("Call-ID");
    same("From");
    let cseq = |m: &str| -> u32 {
        let value = header(m, "CSeq").unwrap();
        value.split_whitespace().next().unwrap().parse().unwrap()
    };
    let request_uri = |m: &str| m.split_whitespace().nth(1).unwrap().to_owned();
    if method == "CANCEL" {
        // The same Via: sent-by and parameters, in whatever order they are written.
        let via = |m: &str| {
            let value = header(m, "Via").unwrap();
            let mut parts: Vec<&str> = value.split(';').map(str::trim).collect();
            parts[1..].sort_unstable();
            parts.join(";")
        };
        assert_eq!(via(request), via(invite), "Via");
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

/// Starts a rig with `options`, requests a call for user number `n`, waits until the user's
/// phone rings and kills the binary (SIGKILL).
async fn killed_while_the_user_rings(
    exe: &'static str,
    options: RigOptions,
    n: u32,
) -> (Rig, SessionId) {
    let mut rig = tokio::task::spawn_blocking(move || Rig::start(exe, options))
        .await
        .unwrap()
        .unwrap();
    let session = rig.request_call(&seed::user_number(n)).await.unwrap();
    wait_ringing(&rig, &session, "user").await;
    tokio::task::block_in_place(|| rig.cb.kill()).unwrap();
    (rig, session)
}

/// The user's phone rang when the platform died and is gone too when it comes back: after 4 s
/// of listening for a repeated final response, the CANCEL goes and is given up after Timer F
/// (64·T1 = 32 s, RFC 3261 §17.1.2.2), and the record is
/// closed all the same, so a dead far end cannot keep a slot either. Returns the seconds the
/// restart took until ready.
async fn far_end_gone(n: u32) -> f64 {
    let exe = env!("CARGO_BIN_EXE_callbond");
    let options = RigOptions {
        user_scenario: "uas_ring_forever.xml",
        seed: Seed::with_policy(policy("user_first", NO_SIGN_ON)),
        ..RigOptions::default()
    };
    let (mut rig, session) = killed_while_the_user_rings(exe, options, n).await;
    rig.user.kill().unwrap();
    let restarted = std::time::Instant::now();
    tokio::task::block_in_place(|| rig.cb.restart()).unwrap();
    let took = restarted.elapsed();
    // 4 s listening for a final response the far end might repeat, then the CANCEL's
    // Timer F (32 s).
    assert!(
        (Duration::from_secs(34)..Duration::from_secs(40)).contains(&took),
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

/// Runs the points whose names start with `prefix` (or, for `None`, the user-first ones), one
/// rig each and all at once. Numbers from `first` keep the rigs' user numbers apart.
async fn run_points(prefix: Option<&str>, first: u32) {
    let orders = ["center first:", "simultaneous:"];
    let chosen: Vec<Point> = points()
        .into_iter()
        .filter(|p| match prefix {
            Some(prefix) => p.name.starts_with(prefix),
            None => !orders.iter().any(|o| p.name.starts_with(o)),
        })
        .collect();
    assert!(!chosen.is_empty(), "no point starts with {prefix:?}");
    // One task per rig: a restart blocks its own task, and must not stall the HTTP and SIP
    // waits of the others.
    let runs = chosen
        .into_iter()
        .zip(first..)
        .map(|(point, n)| tokio::spawn(kill_and_restart(point, n)))
        .collect::<Vec<_>>();
    for run in runs {
        let measured = run.await.unwrap();
        eprintln!(
            "recovered: {}: {:?}",
            measured.point, measured.recovered_after
        );
    }
}

#[test]
fn the_table_kills_at_twenty_points_or_more() {
    // The issue asks for at least 20; with the far end gone below, the tests kill at one more.
    let points = points();
    assert!(points.len() >= 20, "{} points", points.len());
    let mut names: Vec<_> = points.iter().map(|p| p.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), points.len(), "two points share a name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_ends_every_leg_a_killed_platform_left_open_user_first() {
    let gone = tokio::spawn(far_end_gone(99));
    run_points(None, 1).await;
    let gone = gone.await.unwrap();
    eprintln!("far end gone: restart ready after {gone:.3} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_ends_every_leg_a_killed_platform_left_open_center_first() {
    run_points(Some("center first:"), 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_ends_every_leg_a_killed_platform_left_open_simultaneous() {
    run_points(Some("simultaneous:"), 40).await;
}

/// Killed between sending an INVITE and writing its leg (one database write after the send):
/// the state that leaves is made here by removing the leg's stored rows from the dead
/// process's database. The INVITE journal, appended before the INVITE left, is what the
/// restart CANCELs it from; afterwards the journal is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_sent_but_never_stored_is_cancelled_from_the_journal() {
    let exe = env!("CARGO_BIN_EXE_callbond");
    let options = RigOptions {
        user_scenario: "uas_ring_forever.xml",
        seed: Seed::with_policy(policy("user_first", NO_SIGN_ON)),
        ..RigOptions::default()
    };
    let (mut rig, session) = killed_while_the_user_rings(exe, options, 120).await;
    let journal = {
        let mut name = rig.cb.db_path().into_os_string();
        name.push(".invites");
        std::path::PathBuf::from(name)
    };
    let journaled = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(journaled.lines().count(), 1, "one INVITE journaled");
    // The rows the dead process would not have written yet.
    let conn = rusqlite::Connection::open(rig.cb.db_path()).unwrap();
    let removed = conn
        .execute(
            "DELETE FROM leg_dialogs WHERE call_id = ?1",
            [session.as_str()],
        )
        .unwrap()
        + conn
            .execute(
                "DELETE FROM call_legs WHERE call_id = ?1",
                [session.as_str()],
            )
            .unwrap();
    assert_eq!(removed, 2, "the user leg's dialog and CDR rows");
    drop(conn);

    let restarted = SystemTime::now();
    tokio::task::block_in_place(|| rig.cb.restart()).unwrap();
    // The phone's scenario passes only with our CANCEL and the 487 ACKed.
    rig.user.passed(RECOVERY_LIMIT).await.unwrap();
    let (at, cancel) = rig.user.last_received("CANCEL").unwrap();
    let after = at.unwrap().duration_since(restarted).unwrap();
    assert!(after < RECOVERY_LIMIT, "CANCEL after {after:?}");
    assert_matches_invite("CANCEL", &cancel, &rig.user);
    let logs = rig.cb.logs();
    assert!(
        logs.lines().any(|l| l
            .contains("an INVITE the dead process sent but never stored was ended")
            && l.contains("sent=CANCEL")),
        "{logs}"
    );
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap(),
        "",
        "journal cleared"
    );
    let db = Db::open(rig.cb.db_path()).unwrap();
    let call = db.get_call(&rig.sid, &session).unwrap();
    assert_eq!(call.end_cause.map(|c| c.word()), Some("interrupted"));
    assert_eq!(db.count_active_calls(&rig.sid).unwrap(), 0);
    eprintln!(
        "unstored INVITE cancelled {:.3} s after the restart",
        after.as_secs_f64()
    );
}

/// A kill after the user's 2xx was received and ACKed but before its leg was stored as
/// answered: the phone no longer repeats the 2xx, but the INVITE journal holds it (written on
/// receipt, before the ACK), so the restart ends that leg with a BYE, not a CANCEL (the
/// phone's scenario fails on a CANCEL), and CANCELs the center, which was ringing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_acked_but_never_stored_is_hung_up_from_the_journal() {
    let exe = env!("CARGO_BIN_EXE_callbond");
    let options = RigOptions {
        user_scenario: "flow_answer_wait_bye.xml",
        center_scenario: "uas_ring_forever.xml",
        seed: Seed::with_policy(policy("user_first", NO_SIGN_ON)),
        ..RigOptions::default()
    };
    let mut rig = tokio::task::spawn_blocking(move || Rig::start(exe, options))
        .await
        .unwrap()
        .unwrap();
    let session = rig.request_call(&seed::user_number(123)).await.unwrap();
    wait_ringing(&rig, &session, "center").await;
    tokio::task::block_in_place(|| rig.cb.kill()).unwrap();
    // What the dead process would not have written yet: the user's answer.
    let conn = rusqlite::Connection::open(rig.cb.db_path()).unwrap();
    let changed = conn
        .execute(
            "UPDATE leg_dialogs SET state = 'ringing', remote_tag = NULL, remote_target = NULL,
                 route_set = '[]'
             WHERE call_id = ?1 AND leg = 'user' AND state = 'answered'",
            [session.as_str()],
        )
        .unwrap();
    assert_eq!(changed, 1, "the user leg's dialog was stored answered");
    drop(conn);

    tokio::task::block_in_place(|| rig.cb.restart()).unwrap();
    rig.user.passed(RECOVERY_LIMIT).await.unwrap();
    rig.center.passed(RECOVERY_LIMIT).await.unwrap();
    assert!(rig.user.last_received("CANCEL").is_none());
    let (_, bye) = rig.user.last_received("BYE").unwrap();
    assert_matches_invite("BYE", &bye, &rig.user);
    assert!(rig.center.last_received("CANCEL").is_some());
    let logs = rig.cb.logs();
    assert!(
        logs.contains("recovery: a leg stored as ringing was answered (its 2xx is in the journal)"),
        "{logs}"
    );
    let db = Db::open(rig.cb.db_path()).unwrap();
    let call = db.get_call(&rig.sid, &session).unwrap();
    assert_eq!(call.end_cause.map(|c| c.word()), Some("interrupted"));
    assert_eq!(call.user_end_cause.map(|c| c.word()), Some("local_hangup"));
    assert_eq!(call.center_end_cause.map(|c| c.word()), Some("cancelled"));
    assert_eq!(call.hung_up_first.map(|h| h.word()), Some("platform"));
    assert_eq!(db.count_active_calls(&rig.sid).unwrap(), 0);
}

/// The user's phone rang when the platform died, and ended the INVITE itself while no
/// platform process ran. The far end repeats its final response until it is ACKed (RFC 3261
/// §17.2.1), so the restarted platform hears it, ACKs it and sends no CANCEL (both phones'
/// scenarios fail on one); an answer is then ended with a BYE. Returns what the phone got.
async fn final_came_while_down(
    scenario: &'static str,
    n: u32,
    final_line: &'static str,
) -> (Rig, Call) {
    let exe = env!("CARGO_BIN_EXE_callbond");
    let options = RigOptions {
        user_scenario: scenario,
        seed: Seed::with_policy(policy("user_first", NO_SIGN_ON)),
        ..RigOptions::default()
    };
    let (mut rig, session) = killed_while_the_user_rings(exe, options, n).await;
    // Down until the phone has sent its final response (2 s after its 180) to nobody.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !rig.user.sent().iter().any(|m| m.starts_with(final_line)) {
        assert!(std::time::Instant::now() < deadline, "{}", rig.user.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::task::block_in_place(|| rig.cb.restart()).unwrap();
    rig.user.passed(RECOVERY_LIMIT).await.unwrap();
    assert!(
        rig.user.last_received("CANCEL").is_none(),
        "{}",
        rig.user.logs()
    );
    let repeats = rig.user.sent_repeats();
    assert!(
        repeats >= 1,
        "the final response was repeated {repeats} times"
    );
    let logs = rig.cb.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("recovery: ACK sent for a leg left open")),
        "{logs}"
    );
    let db = Db::open(rig.cb.db_path()).unwrap();
    let call = db.get_call(&rig.sid, &session).unwrap();
    assert_eq!(call.end_cause.map(|c| c.word()), Some("interrupted"));
    assert!(call.legs.iter().all(|l| l.ended_at.is_some()), "{call:?}");
    assert_eq!(db.count_active_calls(&rig.sid).unwrap(), 0);
    (rig, call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_that_came_while_the_platform_was_down_is_acked_not_cancelled() {
    let (_rig, call) = final_came_while_down("uas_ring_then_busy.xml", 121, "SIP/2.0 486").await;
    assert_eq!(call.user_end_cause.map(|c| c.word()), Some("busy"));
    let user = call.legs.iter().find(|l| l.leg.word() == "user").unwrap();
    assert_eq!(user.final_status, Some(486));
    assert_eq!(call.center_end_cause, None, "the center was never dialed");
    assert_eq!(call.hung_up_first, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_came_while_the_platform_was_down_is_acked_and_hung_up() {
    let (rig, call) =
        final_came_while_down("uas_ring_then_answer_wait_bye.xml", 122, "SIP/2.0 200").await;
    assert!(rig.user.last_received("BYE").is_some());
    assert_eq!(call.user_end_cause.map(|c| c.word()), Some("local_hangup"));
    let user = call.legs.iter().find(|l| l.leg.word() == "user").unwrap();
    assert_eq!(user.final_status, Some(200));
    assert_eq!(call.hung_up_first.map(|h| h.word()), Some("platform"));
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
