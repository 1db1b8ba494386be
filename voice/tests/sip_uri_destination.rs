//! Routing: a full SIP URI bypasses trunk selection (no trunk configured at all), while a
//! number with no matching trunk is refused before anything is sent.

mod common;

use std::time::Duration;

use common::*;
use voice::{Destination, EndCause, VoiceError};

#[tokio::test]
async fn uri_destination_needs_no_trunk() {
    let sipp = Sipp::uas("uas_answer.xml", false);
    let (voice, _shutdown) = start_voice(Vec::new()).await;

    let mut request = center_request(Duration::from_secs(10));
    request.to = Destination::Uri(format!("sip:{DNIS}@{}", sipp.addr()));
    request.request_user = None;
    let (leg, mut events) = voice.originate(request).await.expect("originate");
    until_answered(&mut events).await;
    leg.hangup().expect("hangup");
    let (_, cause) = until_hung_up(&mut events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    sipp.assert_passed(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn unroutable_number_is_an_error() {
    let (voice, _shutdown) = start_voice(Vec::new()).await;
    let result = voice
        .originate(center_request(Duration::from_secs(10)))
        .await;
    assert!(
        matches!(&result, Err(VoiceError::NoTrunk { masked }) if masked.ends_with("456") && !masked.contains("4930")),
        "{:?}",
        result.map(|(leg, _)| leg)
    );

    let mut bad = center_request(Duration::from_secs(10));
    bad.to = Destination::Uri("not a uri".to_string());
    assert!(matches!(
        voice.originate(bad).await,
        Err(VoiceError::InvalidUri { .. })
    ));
}
