//! The bridge (seed 002 step 215) on the wire: both phones talk (a looped tone each), and
//! during the bridge each one's audio reaches the other through the platform; toward each
//! phone the platform keeps one SSRC with sequence numbers that never jump for the whole
//! call, from the hold announcement through the bridge (RFC 3550 §5.1).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::json;
use testkit::capture::{Capture, RtpPacket};
use testkit::flow::{Rig, RigOptions};
use testkit::flow_steps::first_at_ms;
use testkit::seed::{self, Seed};
use testkit::sipp::sdp_audio_port;

#[tokio::test]
async fn audio_flows_both_ways_with_one_continuous_stream_per_leg() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user_scenario: "flow_answer_stream_wait_bye.xml",
            center_scenario: "flow_answer_stream_then_bye.xml",
            seed: Seed {
                policy: json!({ "sign_on": { "mode": "none" } }),
                whisper_template: String::new(),
                ..Seed::default()
            },
            ..RigOptions::default()
        },
    )
    .unwrap();
    let mut capture = Capture::start().unwrap();
    let (session, events) = rig
        .call_until_ended(&seed::user_number(14), Duration::from_secs(40))
        .await
        .unwrap();
    assert_eq!(
        events,
        [
            "status:calling",
            "status:connecting",
            "status:agent_on_line",
            "ended:agent_hung_up"
        ]
    );
    rig.center.passed(Duration::from_secs(10)).await.unwrap();
    rig.user.passed(Duration::from_secs(10)).await.unwrap();
    let timeline = rig.timeline(&session).unwrap();
    let at = |k: &str| first_at_ms(&timeline, k);
    let (bridged, hung_up) = (at("bridged"), at("hung_up"));
    let user_leg = sdp_audio_port(&rig.user.received_invites()[0]).unwrap();
    let center_leg = sdp_audio_port(&rig.center.received_invites()[0]).unwrap();
    let mut rtp = capture.stop_rtp(&[user_leg, center_leg]).unwrap();
    // The capture sees all of lo. Keep what involves this test's phones: their media ports
    // are held by SIPp for the whole test, whereas another test's binary may have used our
    // leg's port number before this call took it or after it gave it back.
    let phones = [rig.user.media_port, rig.center.media_port];
    rtp.retain(|p| phones.contains(&p.src_port) || phones.contains(&p.dst_port));

    let voiced = |p: &&RtpPacket| {
        p.payload_type == 0
            && (bridged + 200..hung_up - 200).contains(&p.at_ms)
            && p.payload
                .iter()
                .filter(|b| !matches!(b, 0xff | 0x7f))
                .count()
                > p.payload.len() / 2
    };
    let to_user = rtp
        .iter()
        .filter(|p| p.src_port == user_leg)
        .filter(voiced)
        .count();
    let to_agent = rtp
        .iter()
        .filter(|p| p.src_port == center_leg)
        .filter(voiced)
        .count();
    let expected = ((hung_up - bridged - 400) / 20) as usize;
    println!(
        "bridge of {} ms: {to_user} voiced packets to the user, {to_agent} to the agent, of {expected}",
        hung_up - bridged
    );
    assert!(
        to_user >= expected * 8 / 10,
        "{to_user} of {expected} reached the user"
    );
    assert!(
        to_agent >= expected * 8 / 10,
        "{to_agent} of {expected} reached the agent"
    );

    for port in [user_leg, center_leg] {
        let sent: Vec<&RtpPacket> = rtp.iter().filter(|p| p.src_port == port).collect();
        assert!(
            sent.len() > 100,
            "only {} packets from port {port}",
            sent.len()
        );
        let ssrcs: std::collections::BTreeSet<u32> = sent.iter().map(|p| p.ssrc).collect();
        assert_eq!(ssrcs.len(), 1, "SSRCs toward one phone: {ssrcs:?}");
        let jumps = sent
            .windows(2)
            .filter(|w| w[1].seq != w[0].seq.wrapping_add(1))
            .count();
        assert_eq!(
            jumps, 0,
            "sequence numbers jump {jumps} times toward port {port}"
        );
    }
}
