//! Longest prefix picks the trunk on the wire: +49 numbers go to the German trunk (answers),
//! everything else to the default trunk (busy).

mod common;

use std::time::Duration;

use common::*;
use voice::{Destination, EndCause, Transport, Trunk};

#[tokio::test]
async fn longest_prefix_trunk_carries_the_call() {
    let german = Sipp::uas("uas_answer.xml", false);
    let default = Sipp::uas("uas_busy.xml", false);
    let trunks = vec![
        Trunk {
            prefix: String::new(),
            ..trunk_to(&default, Transport::Udp)
        },
        Trunk {
            prefix: "+49".to_string(),
            ..trunk_to(&german, Transport::Udp)
        },
    ];
    let (voice, _shutdown) = start_voice(trunks).await;

    let (leg, mut events) = voice
        .originate(center_request(Duration::from_secs(10)))
        .await
        .expect("originate to +49");
    until_answered(&mut events).await;
    leg.hangup().expect("hangup");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    german.assert_passed(Duration::from_secs(10)).await;

    let mut french = center_request(Duration::from_secs(10));
    french.to = Destination::Number("+33123456789".parse().expect("a valid French number"));
    let (_leg, mut events) = voice.originate(french).await.expect("originate to +33");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::Busy);
    default.assert_passed(Duration::from_secs(10)).await;
}
