//! A phone that rings forever. The ring timeout, an explicit cancel and a dropped CallLeg all
//! send CANCEL; SIPp answers it and ends the INVITE with 487, which must be ACKed.

mod common;

use std::time::Duration;

use common::*;
use voice::{EndCause, LegEvent, Transport};

#[tokio::test]
async fn ring_timeout_cancels_and_reports_no_answer() {
    let sipp = Sipp::uas("uas_ring_forever.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let started = std::time::Instant::now();
    let (_leg, mut events) = voice
        .originate(center_request(Duration::from_millis(1500)))
        .await
        .expect("originate");
    let (before, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::NoAnswer, "events {before:?}");
    assert!(before.contains(&LegEvent::Ringing), "events {before:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "ended before the ring timeout: {:?}",
        started.elapsed()
    );
    assert_stream_ends(&mut events).await;
    sipp.assert_passed(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn cancel_while_ringing_reports_cancelled() {
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
    sipp.assert_passed(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn dropping_the_leg_while_ringing_cancels_the_call() {
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
    drop(leg);
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::Cancelled);
    sipp.assert_passed(Duration::from_secs(10)).await;
}
