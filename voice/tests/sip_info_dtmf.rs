//! The agent's switch relays keys as SIP INFO application/dtmf-relay. Each INFO is answered
//! 200 (an unknown body type 415, checked by SIPp) and each key reported once, as SipInfo.

mod common;

use std::time::Duration;

use common::*;
use voice::{DigitVia, EndCause, LegEvent, Transport};

#[tokio::test]
async fn info_digits_reported_once() {
    let sipp = Sipp::uas("uas_info_dtmf.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;

    let mut digits = Vec::new();
    while digits.len() < 2 {
        match next_event(&mut events, "INFO digits").await {
            LegEvent::Digit { key, via } => {
                assert_eq!(via, DigitVia::SipInfo, "key {key}");
                digits.push(key);
            }
            LegEvent::HungUp(cause) => panic!("hung up ({cause:?}) after digits {digits:?}"),
            _ => {}
        }
    }
    // The 415 INFO comes after; it must not produce a digit.
    tokio::time::sleep(Duration::from_millis(800)).await;
    leg.hangup().expect("hangup");
    let (rest, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    for event in rest {
        if let LegEvent::Digit { key, .. } = event {
            digits.push(key);
        }
    }
    assert_eq!(digits, keys("5#"));
    sipp.assert_passed(Duration::from_secs(10)).await;
}
