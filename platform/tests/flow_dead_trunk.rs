//! A trunk that cannot carry the call costs a moment, not the ring timeout (issue 11, item 2).
//! The route's center number goes to a dead trunk and its fallbacks to a live SIPp center: with
//! no SIP server at the trunk's address (ICMP port unreachable) the fallback is dialed as soon
//! as the ICMP error comes back; with a trunk that takes the INVITE and says nothing, after the
//! trunk's `no_response_ms`. A dead trunk to the visitor's phone ends the call at once as
//! `user_unreachable` and tells the visitor it was the phone network, not their number.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use subscriber_db::{CallEvent, LegCdr, Word};
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds, summary};
use testkit::flow_steps::{assert_no_debug_output, first_at_ms};
use testkit::net::free_udp_port;
use testkit::seed::{self, Seed};
use testkit::sipp::{Sipp, SippOptions};

/// A trunk table sending exactly `number` to `target`, with its own no-response limit.
fn trunk_for(number: &str, target: &str, no_response_ms: u64) -> String {
    format!(
        "[[trunks]]\nprefix = \"{number}\"\ntarget = \"{target}\"\nno_response_ms = {no_response_ms}\n"
    )
}

/// When the center was first dialed (the user's dial is the first `dialing`), Unix ms.
fn center_dialed_at_ms(timeline: &[CallEvent]) -> i64 {
    timeline
        .iter()
        .filter(|e| e.kind() == "dialing")
        .nth(1)
        .unwrap_or_else(|| panic!("the center was never dialed: {timeline:?}"))
        .at
        .timestamp_millis()
}

/// The CDR rows of the center's dials, in attempt order.
fn center_dials(legs: &[LegCdr]) -> Vec<&LegCdr> {
    let mut dials: Vec<&LegCdr> = legs.iter().filter(|l| l.leg.word() == "center").collect();
    dials.sort_by_key(|l| l.attempt);
    dials
}

/// What a call whose route's center number goes to a dead trunk came to.
struct FellBack {
    timeline: Vec<CallEvent>,
    /// The center's dials in attempt order: the dead trunk's, then the fallback's.
    dials: Vec<LegCdr>,
    /// How the dead trunk's dial ended, as the timeline's `failed` row says.
    failed_end: String,
    /// From the center's first dial to the fallback's, in ms (platform timestamps).
    fell_back_after_ms: i64,
}

/// One call for user number `n`: the route's center number goes to `dead` (with
/// `no_response_ms`), its one fallback to the rig's live SIPp center, whose agent takes the
/// call, keys a page and hangs up.
async fn call_with_dead_center_trunk(dead: &str, no_response_ms: u64, n: u32) -> FellBack {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            seed: Seed {
                fallbacks: vec![seed::FALLBACK_NUMBERS[0].to_string()],
                ..Seed::default()
            },
            extra_trunks: trunk_for(seed::CENTER_NUMBER, dead, no_response_ms),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(n), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        events.contains(&"status:agent_on_line".to_string()),
        "{events:?}"
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("ended:agent_hung_up")
    );
    // The live center got exactly the fallback's INVITE.
    rig.center.passed(Duration::from_secs(10)).await.unwrap();
    assert_eq!(rig.center.received_invites().len(), 1);
    let call = rig
        .wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    let timeline = rig.timeline(&session).unwrap();
    assert_no_debug_output(&timeline);
    assert_in_order(
        &kinds(&timeline),
        &[
            "dialing", "failed", "fallback", "dialing", "bridged", "finished",
        ],
    );
    let failed = timeline.iter().find(|e| e.kind() == "failed").unwrap();
    let failed_end = failed.detail()["end"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let fell_back_after_ms = first_at_ms(&timeline, "fallback") - center_dialed_at_ms(&timeline);
    let dials: Vec<LegCdr> = center_dials(&call.legs).into_iter().cloned().collect();
    assert_eq!(dials.len(), 2, "{:?}", call.legs);
    assert_eq!(dials[1].number.as_str(), seed::FALLBACK_NUMBERS[0]);
    assert_eq!(dials[1].final_status, Some(200));
    assert_eq!(rig.active_calls().unwrap(), 0);
    FellBack {
        timeline,
        dials,
        failed_end,
        fell_back_after_ms,
    }
}

#[tokio::test]
async fn a_center_trunk_with_no_sip_server_is_skipped_at_once() {
    // Nothing listens on this port: the kernel answers each INVITE with ICMP port unreachable.
    let dead = format!("127.0.0.1:{}", free_udp_port().unwrap());
    // So long that only the ICMP error can explain a quick fallback.
    let no_response_ms = 20_000;
    let call = call_with_dead_center_trunk(&dead, no_response_ms, 31).await;
    println!(
        "ICMP port unreachable: fell back after {} ms",
        call.fell_back_after_ms
    );
    assert_eq!(call.failed_end, "unreachable", "{:?}", call.timeline);
    assert!(
        call.fell_back_after_ms < 20_000,
        "the fallback came {} ms after the first dial: not from the ICMP error",
        call.fell_back_after_ms
    );
    assert_eq!(
        call.dials[0].end_cause.map(|c| c.word()),
        Some("unreachable")
    );
    assert_eq!(call.dials[0].trunk.as_deref(), Some(dead.as_str()));
    assert_eq!(
        call.dials[0].final_status, None,
        "no SIP response came back"
    );
}

#[tokio::test]
async fn a_silent_center_trunk_is_given_up_after_its_no_response_limit() {
    // A real SIP peer that takes the INVITE and never answers, not even 100 Trying.
    let silent = Sipp::uas("uas_silent_until_cancel.xml", SippOptions::default()).unwrap();
    let call = call_with_dead_center_trunk(&silent.addr.to_string(), 2_000, 32).await;
    println!(
        "silent trunk, 2000 ms limit: fell back after {} ms",
        call.fell_back_after_ms
    );
    // The silent trunk did get the INVITE, retransmitted while it said nothing (Timer A).
    assert!(!silent.received_invites().is_empty(), "{}", silent.logs());
    assert_eq!(call.failed_end, "no_response", "{:?}", call.timeline);
    // Given up at the 2 s limit; the route's ring timeout (the seed's policy) is 30 s.
    assert!(
        (2_000..5_000).contains(&call.fell_back_after_ms),
        "gave up the silent trunk after {} ms",
        call.fell_back_after_ms
    );
    assert_eq!(
        call.dials[0].end_cause.map(|c| c.word()),
        Some("no_response")
    );
    assert_eq!(call.dials[0].first_provisional_at, None);
}

#[tokio::test]
async fn a_dead_trunk_to_the_visitor_ends_the_call_at_once_and_says_why() {
    let number = seed::user_number(33);
    let dead = format!("127.0.0.1:{}", free_udp_port().unwrap());
    let rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            extra_trunks: trunk_for(&number, &dead, 20_000),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let session = rig.request_call(&number).await.unwrap();
    let events = rig
        .sse_until_ended(&session, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(
        summary(&events),
        ["status:calling", "ended:user_unreachable"]
    );
    // What the visitor reads names the phone network, not their number.
    let text = events.last().unwrap().data["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("could not get through to the phone network"),
        "{:?}",
        events.last()
    );
    let call = rig
        .wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(call.user_end_cause.map(|c| c.word()), Some("unreachable"));
    assert_eq!(call.end_cause.map(|c| c.word()), Some("user_unreachable"));
    assert!(
        call.legs.iter().all(|l| l.leg.word() == "user"),
        "{:?}",
        call.legs
    );
    // Nobody dialed the phones or the center.
    assert!(rig.user.received_invites().is_empty());
    assert!(rig.center.received_invites().is_empty());
    assert_eq!(rig.active_calls().unwrap(), 0);
}
