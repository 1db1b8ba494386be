//! The call detail record of a leg that never answered: busy (486 "Busy Here"), a refusal with
//! the trunk's own reason phrase, the ring timeout and a cancel (CANCEL is the end, the 487
//! that follows is the final status) and a trunk that never responds (no final status at
//! all). None of them has an answer time or a side that hung up; each has its end time by the
//! time `HungUp` arrives, and a 100 Trying alone is no provisional response for the post-dial
//! delay.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::wire::{SipCapture, SipPacket};
use common::*;
use voice::{Destination, EndCause, LegEvent, LegRecord, Transport, Trunk};

fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -(e.duration().as_secs_f64() * 1000.0),
    }
}

/// What every unanswered leg's record shares.
fn assert_unanswered(record: &LegRecord) {
    assert_eq!(record.answered_at, None, "{record:#?}");
    assert_eq!(record.hung_up_by, None, "{record:#?}");
    let ended = record.ended_at.expect("ended_at is set before HungUp");
    assert!(ended >= record.invite_at, "{record:#?}");
    if let Some(first) = record.first_provisional_at {
        assert!(record.invite_at <= first && first <= ended, "{record:#?}");
    }
}

#[tokio::test]
async fn busy_records_486_busy_here() {
    let mut sipp = Sipp::uas("uas_busy.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::Busy);
    let record = leg.record();
    let code = sipp.exit_code(Duration::from_secs(10)).await;
    assert_eq!(code, 0, "sipp failed\n{}", sipp.logs());

    assert_eq!(record.final_status, Some(486));
    assert_eq!(record.final_reason.as_deref(), Some("Busy Here"));
    assert_eq!(record.trunk, Some(sipp.addr().to_string()));
    // uas_busy.xml sends only 100 Trying before the 486.
    assert_eq!(record.first_provisional_at, None, "{record:#?}");
    assert_unanswered(&record);
    let sipp_call_ids = sipp.logged_call_ids();
    assert!(
        !sipp_call_ids.is_empty() && sipp_call_ids.iter().all(|id| *id == record.call_id),
        "record Call-ID {:?}, SIPp logged {sipp_call_ids:?}",
        record.call_id
    );
}

#[tokio::test]
async fn reason_phrase_is_kept_as_received_and_a_uri_has_no_trunk() {
    let sipp = Sipp::uas("uas_reject_reason.xml", false);
    let (voice, _shutdown) = start_voice(Vec::new()).await;

    let mut request = center_request(Duration::from_secs(10));
    request.to = Destination::Uri(format!("sip:{DNIS}@{}", sipp.addr()));
    request.request_user = None;
    let (leg, mut events) = voice.originate(request).await.expect("originate");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::Rejected(503));
    let record = leg.record();
    sipp.assert_passed(Duration::from_secs(10)).await;

    assert_eq!(record.final_status, Some(503));
    // Not rsipstack's "Service Unavailable": the phrase the trunk sent.
    assert_eq!(
        record.final_reason.as_deref(),
        Some("Trunk Under Maintenance")
    );
    assert_eq!(record.trunk, None);
    assert_unanswered(&record);
}

#[tokio::test]
async fn ring_timeout_ends_at_the_cancel_with_487() {
    let sipp = Sipp::uas("uas_ring_forever.xml", false);
    let capture = SipCapture::start(sipp.port);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let ring_timeout = Duration::from_millis(1500);
    let (leg, mut events) = voice
        .originate(center_request(ring_timeout))
        .await
        .expect("originate");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::NoAnswer);
    let record = leg.record();
    sipp.assert_passed(Duration::from_secs(10)).await;
    let wire = capture.stop();

    assert_eq!(record.final_status, Some(487));
    assert_eq!(record.final_reason.as_deref(), Some("Request Terminated"));
    assert!(record.first_provisional_at.is_some(), "{record:#?}");
    assert_unanswered(&record);
    let ended = record.ended_at.expect("ended");
    let rang_ms = ms_between(record.invite_at, ended);
    assert!(
        (1500.0..2000.0).contains(&rang_ms),
        "ended {rang_ms:.3} ms after the INVITE, ring timeout 1500 ms"
    );
    // The end is the CANCEL we sent, not the 487 that answered it.
    let cancel = SipPacket::first_request(&wire, "CANCEL");
    let terminated = SipPacket::first_response(&wire, 487, "INVITE");
    let ended_secs = ended
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let to_cancel_ms = (cancel.epoch - ended_secs) * 1000.0;
    eprintln!(
        "CANCEL on the wire {to_cancel_ms:+.3} ms after ended_at; 487 {:+.3} ms",
        (terminated.epoch - ended_secs) * 1000.0
    );
    assert!(
        to_cancel_ms.abs() <= 10.0,
        "ended_at is {to_cancel_ms:+.3} ms from the CANCEL"
    );
}

#[tokio::test]
async fn cancel_while_ringing_records_487() {
    let sipp = Sipp::uas("uas_ring_forever.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(30)))
        .await
        .expect("originate");
    loop {
        if next_event(&mut events, "Ringing").await == LegEvent::Ringing {
            break;
        }
    }
    leg.cancel().expect("cancel accepted");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::Cancelled);
    let record = leg.record();
    sipp.assert_passed(Duration::from_secs(10)).await;

    assert_eq!(record.final_status, Some(487));
    assert_eq!(record.final_reason.as_deref(), Some("Request Terminated"));
    assert!(record.first_provisional_at.is_some(), "{record:#?}");
    assert_unanswered(&record);
}

#[tokio::test]
async fn silent_trunk_has_no_final_status() {
    let silent = tokio::net::UdpSocket::bind((LOOPBACK, 0))
        .await
        .expect("silent peer");
    let target = silent.local_addr().expect("address").to_string();
    let trunk = Trunk {
        prefix: String::new(),
        target: target.clone(),
        transport: Transport::Udp,
        username: None,
        password: None,
        from_domain: None,
        no_response_limit: voice::DEFAULT_NO_RESPONSE_LIMIT,
    };
    let (voice, _shutdown) = start_voice(vec![trunk]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_millis(1000)))
        .await
        .expect("originate");
    let (_, cause) = until_hung_up(&mut events).await;
    // Nothing ever answered, so it was never a phone left ringing (issue 11, item 2).
    assert_eq!(cause, EndCause::Unreachable(voice::Unreachable::NoResponse));
    let record = leg.record();

    assert_eq!(record.final_status, None, "{record:#?}");
    assert_eq!(record.final_reason, None);
    assert_eq!(record.first_provisional_at, None);
    assert_eq!(record.trunk, Some(target));
    assert_unanswered(&record);
    let gave_up_ms = ms_between(record.invite_at, record.ended_at.expect("ended"));
    assert!(
        (1000.0..1500.0).contains(&gave_up_ms),
        "ended {gave_up_ms:.3} ms after the INVITE, ring timeout 1000 ms"
    );
}
