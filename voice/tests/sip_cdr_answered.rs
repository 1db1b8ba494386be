//! The call detail record of an answered leg, held against what tshark saw on the wire: the
//! Call-ID is the one SIPp received, the trunk is the configured target, the final status is
//! 200 "OK", the INVITE, first 180, 200 OK and BYE times match their packets within a few ms
//! (post-dial delay runs to the 180, not the 100 Trying), and the side that sent the BYE is
//! the one that hung up. The record is already updated when `Answered` and `HungUp` arrive.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::wire::{SipCapture, SipPacket};
use common::*;
use voice::{EndCause, HangupSide, LegEvent, LegRecord, Transport};

/// How far a record's time may lie from the capture's stamp of the same packet. Both read the
/// system clock; the leg task stamps the INVITE just before the stack sends it and a response
/// just after the stack parsed it, which on a loaded two-core machine takes a few ms.
const WIRE_SLACK_MS: f64 = 10.0;

/// `uas_cdr_answer.xml` sends 180 Ringing this long after its 100 Trying.
const SCENARIO_PDD_MS: f64 = 300.0;

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .expect("a time after 1970")
        .as_secs_f64()
}

fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    (epoch_secs(to) - epoch_secs(from)) * 1000.0
}

/// Asserts that `recorded` is within [`WIRE_SLACK_MS`] of the packet's capture time; returns
/// the difference (record − capture) in ms.
fn assert_on_wire(what: &str, recorded: Option<SystemTime>, packet: &SipPacket) -> f64 {
    let recorded = recorded.unwrap_or_else(|| panic!("{what}: not set in the record"));
    let diff_ms = (epoch_secs(recorded) - packet.epoch) * 1000.0;
    eprintln!("{what}: record - capture = {diff_ms:+.3} ms");
    assert!(
        diff_ms.abs() <= WIRE_SLACK_MS,
        "{what}: record {:.6} s, capture {:.6} s, {diff_ms:+.3} ms apart",
        epoch_secs(recorded),
        packet.epoch
    );
    diff_ms
}

fn assert_ordered(record: &LegRecord) {
    let times = [
        Some(record.invite_at),
        record.first_provisional_at,
        record.answered_at,
        record.ended_at,
    ];
    let times: Vec<SystemTime> = times
        .into_iter()
        .map(|t| t.expect("an answered, ended leg has every time"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "invite ≤ first provisional ≤ answered ≤ ended does not hold: {record:#?}"
    );
}

#[tokio::test]
async fn answered_leg_we_hang_up_is_recorded_as_on_the_wire() {
    let mut sipp = Sipp::uas("uas_cdr_answer.xml", false);
    let capture = SipCapture::start(sipp.port);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    let before = until_answered(&mut events).await;
    assert!(before.contains(&LegEvent::Ringing), "events {before:?}");
    let at_answer = leg.record();
    assert!(at_answer.answered_at.is_some(), "{at_answer:#?}");
    assert_eq!(at_answer.final_status, Some(200));
    assert_eq!(at_answer.ended_at, None, "{at_answer:#?}");
    assert_eq!(at_answer.hung_up_by, None);

    tokio::time::sleep(Duration::from_millis(300)).await;
    leg.hangup().expect("hangup accepted");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    let record = leg.record();

    let code = sipp.exit_code(Duration::from_secs(10)).await;
    assert_eq!(code, 0, "sipp failed\n{}", sipp.logs());
    let sipp_call_ids = sipp.logged_call_ids();
    let wire = capture.stop();

    assert_eq!(record.call_id, leg.call_id());
    assert!(
        !sipp_call_ids.is_empty() && sipp_call_ids.iter().all(|id| *id == record.call_id),
        "record Call-ID {:?}, SIPp logged {sipp_call_ids:?}",
        record.call_id
    );
    assert_eq!(record.trunk, Some(sipp.addr().to_string()));
    assert_eq!(record.final_status, Some(200));
    assert_eq!(record.final_reason.as_deref(), Some("OK"));
    assert_eq!(record.hung_up_by, Some(HangupSide::Local));
    assert_eq!(record.answered_at, at_answer.answered_at);
    assert_ordered(&record);

    let invite = SipPacket::first_request(&wire, "INVITE");
    let trying = SipPacket::first_response(&wire, 100, "INVITE");
    let ringing = SipPacket::first_response(&wire, 180, "INVITE");
    let ok = SipPacket::first_response(&wire, 200, "INVITE");
    let bye = SipPacket::first_request(&wire, "BYE");
    assert!(
        wire.iter().all(|p| p.call_id == record.call_id),
        "a Call-ID on the wire differs from {:?}: {wire:#?}",
        record.call_id
    );
    assert_on_wire("INVITE", Some(record.invite_at), invite);
    assert_on_wire(
        "first provisional (180)",
        record.first_provisional_at,
        ringing,
    );
    assert_on_wire("answer (200 OK)", record.answered_at, ok);
    assert_on_wire("end (our BYE)", record.ended_at, bye);

    // Post-dial delay: to the 180 that came 300 ms after the 100, not to the 100.
    let pdd_record = ms_between(record.invite_at, record.first_provisional_at.expect("set"));
    let pdd_wire = (ringing.epoch - invite.epoch) * 1000.0;
    let trying_wire = (trying.epoch - invite.epoch) * 1000.0;
    eprintln!(
        "PDD: record {pdd_record:.3} ms, capture {pdd_wire:.3} ms (100 Trying after {trying_wire:.3} ms)"
    );
    assert!(
        pdd_record >= SCENARIO_PDD_MS && trying_wire < SCENARIO_PDD_MS,
        "PDD {pdd_record:.3} ms; the 100 came after {trying_wire:.3} ms"
    );
    assert!(
        (pdd_record - pdd_wire).abs() <= WIRE_SLACK_MS,
        "PDD from the record {pdd_record:.3} ms, from the capture {pdd_wire:.3} ms"
    );
}

#[tokio::test]
async fn far_end_bye_is_recorded_as_remote() {
    let sipp = Sipp::uas("uas_remote_bye.xml", false);
    let capture = SipCapture::start(sipp.port);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::RemoteHangup);
    let record = leg.record();
    sipp.assert_passed(Duration::from_secs(10)).await;
    let wire = capture.stop();

    assert_eq!(record.final_status, Some(200));
    assert_eq!(record.final_reason.as_deref(), Some("OK"));
    assert_eq!(record.hung_up_by, Some(HangupSide::Remote));
    assert_ordered(&record);
    let bye = SipPacket::first_request(&wire, "BYE");
    assert_eq!(bye.call_id, record.call_id);
    assert_on_wire("end (their BYE)", record.ended_at, bye);
    // uas_remote_bye.xml talks for 1 s after the ACK before its BYE.
    let talked = ms_between(
        record.answered_at.expect("answered"),
        record.ended_at.expect("ended"),
    );
    assert!(talked >= 1000.0, "answered for {talked:.3} ms");
}
