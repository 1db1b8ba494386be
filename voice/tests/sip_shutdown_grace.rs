//! A shutdown keeps the SIP transport open while legs end: the BYE of an answered leg gets its
//! 200 even when the far end takes 300 ms to send it, so the leg reports its hang-up at once
//! instead of waiting out the BYE timeout on a closed socket.

mod common;

use std::time::{Duration, Instant};

use common::*;
use voice::{EndCause, Transport};

#[tokio::test]
async fn shutdown_waits_for_the_bye_answer() {
    let sipp = Sipp::uas("uas_answer_slow_bye_ok.xml", false);
    let (voice, shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (_leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;
    let started = Instant::now();
    shutdown.cancel();
    let (_, cause) = until_hung_up(&mut events).await;
    let took = started.elapsed();
    assert_eq!(cause, EndCause::LocalHangup);
    // The 200 to the BYE comes 300 ms after it; with the transport closed at once the leg
    // would only give up on its BYE after 8 s.
    assert!(
        (Duration::from_millis(300)..Duration::from_secs(3)).contains(&took),
        "HungUp {took:?} after shutdown"
    );
    sipp.assert_passed(Duration::from_secs(10)).await;
}
