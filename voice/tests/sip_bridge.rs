//! Two answered legs bridged through the public API: bridging needs answered legs, the agent's
//! keys keep being reported on the agent's leg while bridged (and never on the other leg), and
//! unbridge then hang-up ends both cleanly.

mod common;

use std::time::Duration;

use common::*;
use voice::{EndCause, LegEvent, VoiceError, bridge};

#[tokio::test]
async fn bridged_legs_keep_their_own_digits() {
    let agent = Sipp::uas("uas_dtmf_rfc4733.xml", false);
    let user = Sipp::uas("uas_answer.xml", false);
    let (voice, _shutdown) = start_voice(Vec::new()).await;

    let mut to_agent = center_request(Duration::from_secs(10));
    to_agent.to = voice::Destination::Uri(format!("sip:{DNIS}@{}", agent.addr()));
    let mut to_user = center_request(Duration::from_secs(10));
    to_user.to = voice::Destination::Uri(format!("sip:{DNIS}@{}", user.addr()));

    let (agent_leg, mut agent_events) = voice.originate(to_agent).await.expect("agent leg");
    let (user_leg, mut user_events) = voice.originate(to_user).await.expect("user leg");
    until_answered(&mut user_events).await;
    // Not answered yet on the agent side, or answered: either way bridging must be refused
    // only for a leg without media.
    if agent_leg.media().is_none() {
        assert!(matches!(
            bridge(&agent_leg, &user_leg),
            Err(VoiceError::NotAnswered)
        ));
    }
    until_answered(&mut agent_events).await;
    let bridged = bridge(&agent_leg, &user_leg).expect("bridge two answered legs");

    let mut digits = Vec::new();
    while digits.len() < 12 {
        match next_event(&mut agent_events, "agent digits").await {
            LegEvent::Digit { key, .. } => digits.push(key),
            LegEvent::HungUp(cause) => panic!("agent leg ended: {cause:?}"),
            _ => {}
        }
    }
    assert_eq!(digits, keys("1023456789*#"));
    bridged.unbridge();
    // The agent's scenario pauses after its last key before it expects our BYE.
    tokio::time::sleep(Duration::from_millis(800)).await;

    agent_leg.hangup().expect("hang up agent");
    user_leg.hangup().expect("hang up user");
    let (_, agent_cause) = until_hung_up(&mut agent_events).await;
    let (user_seen, user_cause) = until_hung_up(&mut user_events).await;
    assert_eq!(agent_cause, EndCause::LocalHangup);
    assert_eq!(user_cause, EndCause::LocalHangup);
    assert!(
        !user_seen
            .iter()
            .any(|e| matches!(e, LegEvent::Digit { .. })),
        "agent keys leaked to the user leg: {user_seen:?}"
    );
    agent.assert_passed(Duration::from_secs(15)).await;
    user.assert_passed(Duration::from_secs(10)).await;
}
