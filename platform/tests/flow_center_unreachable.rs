//! Every center number is busy: the platform tries the route's number, then each fallback in
//! order (each INVITE with the same TAG2), then tells the user and ends as
//! `center_unreachable`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use testkit::flow::{Rig, RigOptions, assert_in_order, kinds};
use testkit::flow_steps::{assert_end_causes, assert_no_debug_output, dial_details};
use testkit::seed::{self, Seed};
use testkit::sipp::{SippOptions, header};

#[tokio::test]
async fn busy_center_and_fallbacks_end_with_an_announcement() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center_scenario: "uas_busy.xml",
            center: SippOptions {
                calls: 3,
                ..SippOptions::default()
            },
            seed: Seed {
                fallbacks: seed::FALLBACK_NUMBERS.map(String::from).to_vec(),
                ..Seed::default()
            },
            ..RigOptions::default()
        },
    )
    .unwrap();
    let number = seed::user_number(5);
    let (session, events) = rig
        .call_until_ended(&number, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "status:calling",
            "status:connecting",
            "ended:center_unreachable"
        ]
    );
    rig.center.passed(Duration::from_secs(10)).await.unwrap();
    // The user heard the announcement and was then hung up (the scenario waits for our BYE).
    rig.user.passed(Duration::from_secs(40)).await.unwrap();
    let invites = rig.center.received_invites();
    assert_eq!(invites.len(), 3, "{}", rig.center.logs());
    for invite in &invites {
        assert!(
            invite.starts_with(&format!("INVITE sip:{}@", seed::DNIS)),
            "{invite}"
        );
        assert!(
            header(invite, "P-Asserted-Identity")
                .unwrap()
                .contains(&number)
        );
    }
    let call = rig
        .wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    assert_end_causes(&call, "center_unreachable", "local_hangup", "busy");
    let timeline = rig.timeline(&session).unwrap();
    assert_no_debug_output(&timeline);
    let steps = kinds(&timeline);
    assert_in_order(
        &steps,
        &[
            "dialing",
            "failed",
            "fallback",
            "dialing",
            "failed",
            "fallback",
            "dialing",
            "failed",
            "center_unreachable",
            "farewell",
            "hangup",
            "finished",
        ],
    );
    // The dials went to the route's number, then the fallbacks, in order (masked: last 3).
    let dialed = dial_details(&timeline);
    let tails: Vec<&str> = [seed::CENTER_NUMBER]
        .into_iter()
        .chain(seed::FALLBACK_NUMBERS)
        .map(|n| &n[n.len() - 3..])
        .collect();
    for (detail, tail) in dialed[1..].iter().zip(tails) {
        assert!(detail.contains(tail), "{detail} should dial …{tail}");
    }
    assert_eq!(rig.active_calls().unwrap(), 0);
}
