//! Point 8's library side (`callbond call --say`): once answered, `say` speaks the text to the
//! far end and the leg reports PlayoutDone when it finished.

mod common;

use std::time::{Duration, Instant};

use common::*;
use voice::{EndCause, LegEvent, Transport};

#[tokio::test]
async fn say_plays_to_the_end() {
    let sipp = Sipp::uas("uas_answer.xml", false);
    let (voice, _shutdown) = start_voice(vec![trunk_to(&sipp, Transport::Udp)]).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate");
    until_answered(&mut events).await;
    let started = Instant::now();
    leg.say("Connecting you to an agent now", false)
        .await
        .expect("say");
    loop {
        match next_event(&mut events, "PlayoutDone").await {
            LegEvent::PlayoutDone => break,
            LegEvent::HungUp(cause) => panic!("hung up during the prompt: {cause:?}"),
            _ => {}
        }
    }
    // Six words of speech last about two seconds; a prompt that ends at once played nothing.
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "prompt ended after {:?}",
        started.elapsed()
    );
    leg.hangup().expect("hangup");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    sipp.assert_passed(Duration::from_secs(10)).await;
}
