//! The context channels of a route (issue 11 item 10) against the real binary, with SIPp as
//! the user's phone and the call center and tshark on loopback reading the center leg: each
//! channel a route switches on carries the call's one session reference (the 10 digits on
//! its record), the same on all of them: the Request-URI DNIS drawn from the route's range
//! (which the admin API maps back to the call), `User-to-User`, the `X-` headers, and the
//! RFC 4733 telephone-events keyed to the agent after sign-on, which reach the center before
//! the first packet of whisper speech. A range with every code held refuses the next call.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{Value, json};
use subscriber_db::{Call, Db, Route, SessionId};
use testkit::capture::{Capture, RtpEvent, SipInvite};
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::seed;
use testkit::sipp::{SippOptions, sdp_audio_port};

/// The agent listens this long after signing on: ten keys (about 2 s) and the whisper.
const CENTER_LISTENS_MS: u64 = 7000;

fn rig(calls: u32) -> Rig {
    let center = SippOptions {
        calls,
        ..SippOptions::pausing(CENTER_LISTENS_MS)
    };
    let user = SippOptions {
        calls,
        ..SippOptions::default()
    };
    Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center,
            user,
            ..RigOptions::default()
        },
    )
    .unwrap()
}

/// Gives the seeded route this fixed DNIS (or none) and context, as the admin API would.
fn set_route(rig: &Rig, dnis: Option<&str>, context: Value) {
    let db = Db::open(rig.cb.db_path()).unwrap();
    let code = seed::SUBJECT.parse().unwrap();
    let mut route: Route = db.get_route(&rig.sid, &code).unwrap();
    route.dnis = dnis.map(|d| d.parse().unwrap());
    route.context = serde_json::from_value(context).unwrap();
    db.update_route(&rig.sid, &code, &route).unwrap();
}

fn record(rig: &Rig, session: &SessionId) -> Call {
    Db::open(rig.cb.db_path())
        .unwrap()
        .get_call(&rig.sid, session)
        .unwrap()
}

async fn admin_get(rig: &Rig, path: &str) -> (u16, Value) {
    rig.admin_get(path).await.unwrap()
}

/// What went over the center leg of one call.
struct Wire {
    invite: SipInvite,
    /// Telephone-events from our center leg to the call center.
    events: Vec<RtpEvent>,
    /// When the first voiced audio packet (the whisper) left our center leg, ms since epoch.
    first_speech_ms: Option<i64>,
}

/// Reads the center leg of the one call from the capture: tshark decodes the INVITE to the
/// center SIPp, the telephone-events (payload type 101, the SDP's) and the audio.
fn center_wire(rig: &Rig, capture: &mut Capture) -> Wire {
    let invites = capture.sip_invites(rig.center.addr.port()).unwrap();
    assert_eq!(invites.len(), 1, "{invites:?}");
    let invite = invites.into_iter().next().unwrap();
    let ours = sdp_audio_port(&rig.center.received_invites()[0]).unwrap();
    let phone = rig.center.media_port;
    let events = capture
        .rtp_events(&[ours, phone], 101)
        .unwrap()
        .into_iter()
        .filter(|e| e.src_port == ours && e.dst_port == phone)
        .collect();
    let rtp = capture.stop_rtp(&[ours, phone]).unwrap();
    // G.711 µ-law silence is 0xFF/0x7F; speech is not.
    let first_speech_ms = rtp
        .iter()
        .filter(|p| p.src_port == ours && p.dst_port == phone && p.payload_type == 0)
        .find(|p| {
            p.payload
                .iter()
                .filter(|b| !matches!(b, 0xff | 0x7f))
                .count()
                > 40
        })
        .map(|p| p.at_ms);
    Wire {
        invite,
        events,
        first_speech_ms,
    }
}

/// The keys the events carry: one per event (its start timestamp), read from its end packets
/// as a receiver does; checks each key's packets as RFC 4733 §2.5 wants them.
fn keyed(events: &[RtpEvent]) -> String {
    let mut keys = String::new();
    let mut starts: Vec<u32> = events.iter().map(|e| e.timestamp).collect();
    starts.dedup();
    for ts in starts {
        let key: Vec<&RtpEvent> = events.iter().filter(|e| e.timestamp == ts).collect();
        assert!(key[0].marker && !key[0].end, "first packet marked: {key:?}");
        assert!(key[1..].iter().all(|e| !e.marker), "{key:?}");
        let ends: Vec<&&RtpEvent> = key.iter().filter(|e| e.end).collect();
        assert_eq!(ends.len(), 3, "the end sent three times: {key:?}");
        assert!(ends.iter().all(|e| e.duration == ends[0].duration));
        assert!(key.windows(2).all(|w| w[0].duration <= w[1].duration));
        let digit = char::from_digit(u32::from(key[0].event), 10).unwrap();
        keys.push(digit);
    }
    keys
}

/// The `User-to-User` value as the center reads it: hex before `;encoding=hex`, decoded.
fn uui_text(value: &str) -> String {
    let hex = value.split(';').next().unwrap_or("");
    String::from_utf8(hex::decode(hex).unwrap()).unwrap()
}

/// `Name: value` of the INVITE's header `name`, as tshark showed the message header.
fn header_value(invite: &SipInvite, name: &str) -> Option<String> {
    // tshark separates header lines with the two characters `\r\n` escaped, or real ones.
    let text = invite.headers.replace("\\r\\n", "\n").replace("\r\n", "\n");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
}

/// One call from user number `n` to its end: its session reference and its center leg.
async fn one_call(rig: &mut Rig, n: u32) -> (String, Wire) {
    let mut capture = Capture::start().unwrap();
    let session = rig.request_call(&seed::user_number(n)).await.unwrap();
    rig.sse_until_ended(&session, Duration::from_secs(60))
        .await
        .unwrap();
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    let reference = record(rig, &session).session_ref.unwrap().to_string();
    (reference, center_wire(rig, &mut capture))
}

#[tokio::test]
async fn all_channels_carry_the_same_reference_and_the_digits_come_before_the_whisper() {
    let mut rig = rig(1);
    set_route(
        &rig,
        None,
        json!({ "dnis_range": "4700-4709", "uui": true, "x_headers": true, "dtmf_ref": true }),
    );
    let mut capture = Capture::start().unwrap();
    let session = rig.request_call(&seed::user_number(11)).await.unwrap();
    let call = record(&rig, &session);
    let reference = call.session_ref.clone().unwrap().to_string();
    let dnis = call.drawn_dnis.clone().unwrap().to_string();
    // A fresh range draws its first code.
    assert_eq!(dnis, "4700");
    // While the call is in progress the admin API finds it by reference and by DNIS.
    rig.wait_state(&session, "bridged", Duration::from_secs(30))
        .await
        .unwrap();
    let (status, by_ref) = admin_get(&rig, &format!("/refs/{reference}")).await;
    assert_eq!((status, &by_ref["id"]), (200, &json!(session.as_str())));
    let (status, by_dnis) = admin_get(&rig, &format!("/subscribers/acme/dnis/{dnis}")).await;
    assert_eq!((status, &by_dnis["id"]), (200, &json!(session.as_str())));
    assert_eq!(by_dnis["session_ref"], json!(reference));
    rig.sse_until_ended(&session, Duration::from_secs(60))
        .await
        .unwrap();
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    // Ended, the code no longer names the call. The record is finished once every leg has
    // confirmed its end, a moment after the browser heard `ended` (a CI run asked in between
    // and got 200): wait for the record itself.
    rig.wait_finished(&session, Duration::from_secs(20))
        .await
        .unwrap();
    let (status, _) = admin_get(&rig, &format!("/subscribers/acme/dnis/{dnis}")).await;
    assert_eq!(status, 404);

    let wire = center_wire(&rig, &mut capture);
    let uui = uui_text(&wire.invite.user_to_user);
    let x_ref = header_value(&wire.invite, "X-Callbond-Ref");
    let digits = keyed(&wire.events);
    println!(
        "center leg: Request-URI user {}, User-to-User {uui:?}, X-Callbond-Ref {x_ref:?}, \
         telephone-events {digits:?} ({} packets); reference {reference}, DNIS {dnis}",
        wire.invite.request_user,
        wire.events.len()
    );
    assert_eq!(wire.invite.request_user, dnis);
    assert_eq!(uui, format!("wc=4711;ref={reference}"));
    assert_eq!(x_ref.as_deref(), Some(reference.as_str()));
    assert_eq!(
        header_value(&wire.invite, "X-Callbond-Subject").as_deref(),
        Some(seed::SUBJECT)
    );
    assert_eq!(
        header_value(&wire.invite, "X-Callbond-Whisper-Code").as_deref(),
        Some("4711")
    );
    assert_eq!(
        header_value(&wire.invite, "X-Callbond-Subscriber").as_deref(),
        Some("acme")
    );
    assert_eq!(digits, reference);
    // Ten keys of seven packets each.
    assert_eq!(wire.events.len(), 70);
    let last_digit = wire.events.iter().map(|e| e.at_ms).max().unwrap();
    let first_digit = wire.events.iter().map(|e| e.at_ms).min().unwrap();
    let speech = wire
        .first_speech_ms
        .expect("the whisper reached the center");
    println!(
        "digits from {first_digit} to {last_digit} ({} ms), first whisper speech {} ms after \
         the last digit packet",
        last_digit - first_digit,
        speech - last_digit
    );
    assert!(
        speech > last_digit,
        "speech at {speech}, last digit at {last_digit}"
    );

    let timeline = rig.timeline(&session).unwrap();
    assert_in_order(
        &kinds(&timeline),
        &[
            "dnis_drawn",
            "sign_on_ok",
            "ref_digits_start",
            "ref_digits_end",
            "whisper_start",
            "whisper_end",
            "bridged",
        ],
    );
    let end = timeline
        .iter()
        .find(|e| e.kind() == "ref_digits_end")
        .unwrap();
    assert_eq!(end.detail(), json!({ "via": "rfc4733" }));
    let start = timeline
        .iter()
        .find(|e| e.kind() == "ref_digits_start")
        .unwrap();
    assert_eq!(start.detail(), json!({ "keys": reference }));
}

#[tokio::test]
async fn x_headers_alone_carry_the_reference() {
    let mut rig = rig(1);
    set_route(
        &rig,
        Some("8001"),
        json!({ "uui": false, "x_headers": true, "x_header_names": { "ref": "X-Acme-Session" } }),
    );
    let (reference, wire) = one_call(&mut rig, 12).await;
    println!(
        "center leg: Request-URI user {}, X-Acme-Session {:?}, User-to-User {:?}, {} events",
        wire.invite.request_user,
        header_value(&wire.invite, "X-Acme-Session"),
        wire.invite.user_to_user,
        wire.events.len()
    );
    assert_eq!(wire.invite.request_user, "8001");
    assert_eq!(
        header_value(&wire.invite, "X-Acme-Session").as_deref(),
        Some(reference.as_str())
    );
    assert_eq!(header_value(&wire.invite, "X-Callbond-Ref"), None);
    assert_eq!(wire.invite.user_to_user, "", "uui switched off");
    assert!(wire.events.is_empty(), "no digits: {:?}", wire.events);
}

#[tokio::test]
async fn dtmf_alone_carries_the_reference_before_the_whisper() {
    let mut rig = rig(1);
    set_route(
        &rig,
        Some("8001"),
        json!({ "uui": false, "dtmf_ref": true }),
    );
    let (reference, wire) = one_call(&mut rig, 13).await;
    let digits = keyed(&wire.events);
    let last_digit = wire.events.iter().map(|e| e.at_ms).max().unwrap();
    let speech = wire.first_speech_ms.unwrap();
    println!(
        "center leg: telephone-events {digits:?}, reference {reference}; speech {} ms after \
         the last digit",
        speech - last_digit
    );
    assert_eq!(digits, reference);
    assert!(speech > last_digit);
    assert_eq!(wire.invite.user_to_user, "");
    assert_eq!(header_value(&wire.invite, "X-Callbond-Ref"), None);
}

#[tokio::test]
async fn concurrent_calls_draw_different_dnis_and_a_full_range_refuses_the_next() {
    let mut rig = rig(2);
    set_route(&rig, None, json!({ "dnis_range": "4700-4701" }));
    let mut capture = Capture::start().unwrap();
    let first = rig.request_call(&seed::user_number(21)).await.unwrap();
    let second = rig.request_call(&seed::user_number(22)).await.unwrap();
    // Both codes are held: the third visitor is told, and nothing is stored or dialed.
    let third = rig.request_call(&seed::user_number(23)).await.unwrap_err();
    let third = third.to_string();
    assert!(
        third.contains("503") && third.contains("All lines are busy"),
        "{third}"
    );
    assert_eq!(rig.active_calls().unwrap(), 2);

    let (a, b) = (record(&rig, &first), record(&rig, &second));
    let drawn = |c: &Call| c.drawn_dnis.as_ref().unwrap().to_string();
    assert_eq!(
        (drawn(&a), drawn(&b)),
        ("4700".to_owned(), "4701".to_owned())
    );
    for (call, session) in [(&a, &first), (&b, &second)] {
        let (status, found) =
            admin_get(&rig, &format!("/subscribers/acme/dnis/{}", drawn(call))).await;
        assert_eq!((status, &found["id"]), (200, &json!(session.as_str())));
        let reference = call.session_ref.as_ref().unwrap();
        let (status, found) = admin_get(&rig, &format!("/refs/{reference}")).await;
        assert_eq!((status, &found["id"]), (200, &json!(session.as_str())));
    }
    for session in [&first, &second] {
        rig.sse_until_ended(session, Duration::from_secs(60))
            .await
            .unwrap();
    }
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    let mut users: Vec<String> = capture
        .sip_invites(rig.center.addr.port())
        .unwrap()
        .into_iter()
        .map(|i| i.request_user)
        .collect();
    users.sort();
    println!("center INVITEs to Request-URI users {users:?}");
    assert_eq!(users, ["4700", "4701"]);
}
