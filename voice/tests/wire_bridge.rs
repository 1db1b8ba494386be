//! The bridge on the wire: two SIPp peers answer PCMA and each stream SIPp's own
//! `g711a.pcap` (236 packets) while bridged through `voice::bridge`; one of them then presses
//! 1 as RFC 4733 telephone-events. tshark captures loopback on the peers' media ports and
//! shows, per direction: every packet one peer sent us reaches the other peer, in order and
//! unchanged (same law, so no transcoding), in one stream from us with one SSRC and
//! continuous sequence numbers across our own playout → bridge → own playout; the key is reported on the presser's leg and no
//! telephone-event packet reaches the other peer.

mod common;

use std::time::Duration;

use common::wire::{self, Capture, RtpPacket};
use common::*;
use voice::{Codec, DigitVia, EndCause, LegEvent, bridge};

const PCMA: u8 = 8;
const TELEPHONE_EVENT: u8 = 101;

/// How many of `sent` (in order) arrive as one contiguous run inside `received`, at the best
/// offset: equal to `sent.len()` when nothing was lost, reordered or altered.
fn matched_in_order(sent: &[RtpPacket], received: &[&RtpPacket]) -> usize {
    if received.len() < sent.len() {
        return 0;
    }
    (0..=received.len() - sent.len())
        .map(|offset| {
            sent.iter()
                .zip(&received[offset..])
                .filter(|(s, r)| s.payload == r.payload)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn bridged_peers_hear_each_other_without_loss_and_no_tones() {
    let presser = Sipp::uas("uas_stream_g711a_dtmf.xml", false);
    let listener = Sipp::uas("uas_stream_g711a.xml", false);
    let (presser_media, listener_media) = (presser.media_port, listener.media_port);
    let capture = Capture::start(&format!(
        "udp and (port {presser_media} or port {listener_media})"
    ));
    let (voice, _shutdown) = start_voice(Vec::new()).await;

    let mut to_presser = center_request(Duration::from_secs(10));
    to_presser.to = voice::Destination::Uri(format!("sip:{DNIS}@{}", presser.addr()));
    let mut to_listener = center_request(Duration::from_secs(10));
    to_listener.to = voice::Destination::Uri(format!("sip:{DNIS}@{}", listener.addr()));
    let (presser_leg, mut presser_events) = voice.originate(to_presser).await.expect("leg 1");
    let (listener_leg, mut listener_events) = voice.originate(to_listener).await.expect("leg 2");
    for events in [&mut presser_events, &mut listener_events] {
        let seen = until_answered(events).await;
        assert!(
            seen.contains(&LegEvent::Answered { codec: Codec::Pcma }),
            "the peers answer PCMA: {seen:?}"
        );
    }
    // Both peers wait 1.5 s after the ACK before streaming: our own (silent) playout runs
    // first, so each stream from us crosses playout → bridge → playout.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let bridged = bridge(&presser_leg, &listener_leg).expect("bridge two answered legs");
    let our_presser_port = presser_leg.media().expect("answered").local_port();
    let our_listener_port = listener_leg.media().expect("answered").local_port();

    // The key comes after the presser's 7 s of audio.
    let mut presser_seen = Vec::new();
    loop {
        match next_event(&mut presser_events, "the pressed key").await {
            LegEvent::Digit { key, via } => {
                presser_seen.push((key, via));
                break;
            }
            LegEvent::HungUp(cause) => panic!("presser leg ended: {cause:?}"),
            _ => {}
        }
    }
    // Room for the rest of the key's packets (end repeated three times) to arrive.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let presser_stats = presser_leg.media().expect("still answered").stats();
    let listener_stats = listener_leg.media().expect("still answered").stats();
    bridged.unbridge();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let presser_after = presser_leg.media().expect("still answered").stats();
    let listener_after = listener_leg.media().expect("still answered").stats();
    presser_leg.hangup().expect("hang up leg 1");
    listener_leg.hangup().expect("hang up leg 2");
    let (rest, cause) = until_hung_up(&mut presser_events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    presser_seen.extend(rest.iter().filter_map(|e| match e {
        LegEvent::Digit { key, via } => Some((*key, *via)),
        _ => None,
    }));
    let (listener_rest, cause) = until_hung_up(&mut listener_events).await;
    assert_eq!(cause, EndCause::LocalHangup);
    presser.assert_passed(Duration::from_secs(15)).await;
    listener.assert_passed(Duration::from_secs(15)).await;
    let file = capture.stop();

    assert_eq!(
        presser_seen,
        vec![(key('1'), DigitVia::Rfc4733)],
        "the key is reported once on the presser's leg"
    );
    assert!(
        !listener_rest
            .iter()
            .any(|e| matches!(e, LegEvent::Digit { .. })),
        "the key showed up on the other leg: {listener_rest:?}"
    );

    let ports = [
        presser_media,
        listener_media,
        our_presser_port,
        our_listener_port,
    ];
    println!("{}", file.rtp_streams_report(&ports));
    let packets = file.rtp_packets(&ports);
    let between = |from: u16, to: u16| -> Vec<&RtpPacket> {
        packets
            .iter()
            .filter(|p| p.src_port == from && p.dst_port == to)
            .collect()
    };
    let presser_to_us = between(presser_media, our_presser_port);
    let listener_to_us = between(listener_media, our_listener_port);
    let us_to_presser = between(our_presser_port, presser_media);
    let us_to_listener = between(our_listener_port, listener_media);
    println!(
        "packets: presser→us {}, listener→us {}, us→presser {}, us→listener {}",
        presser_to_us.len(),
        listener_to_us.len(),
        us_to_presser.len(),
        us_to_listener.len()
    );
    println!("our counters: presser leg {presser_stats:?}\nlistener leg {listener_stats:?}");
    let other = packets.len()
        - presser_to_us.len()
        - listener_to_us.len()
        - us_to_presser.len()
        - us_to_listener.len();
    assert_eq!(
        other, 0,
        "RTP between other ports than the peers' and ours (SIPp sends from its media port)"
    );

    // What each peer sent: its audio, and for the presser the key's telephone-events.
    let audio = |v: &[&RtpPacket]| -> Vec<RtpPacket> {
        v.iter()
            .filter(|p| p.payload_type == PCMA)
            .map(|p| (*p).clone())
            .collect()
    };
    let presser_audio = audio(&presser_to_us);
    let listener_audio = audio(&listener_to_us);
    assert_eq!(
        presser_audio.len(),
        236,
        "the presser streamed all of g711a.pcap"
    );
    assert_eq!(
        listener_audio.len(),
        236,
        "the listener streamed all of g711a.pcap"
    );
    let presser_events = presser_to_us
        .iter()
        .filter(|p| p.payload_type == TELEPHONE_EVENT)
        .count();
    assert!(
        presser_events >= 8,
        "the presser sent the key as telephone-events ({presser_events} packets)"
    );

    // Nothing but audio comes from us, to either peer.
    for (name, stream) in [("presser", &us_to_presser), ("listener", &us_to_listener)] {
        let types: std::collections::BTreeSet<u8> = stream.iter().map(|p| p.payload_type).collect();
        assert_eq!(
            types,
            [PCMA].into(),
            "we sent {name} payload types {types:?}; a telephone-event ({TELEPHONE_EVENT}) \
             must never cross the bridge"
        );
        let owned: Vec<RtpPacket> = stream.iter().map(|p| (*p).clone()).collect();
        let irregular = wire::assert_one_continuous_stream(&owned, &format!("us → {name}"));
        println!(
            "us → {name}: one SSRC {:#010x}, {} packets, seq continuous, {irregular} timestamp \
             steps other than the payload length",
            owned[0].ssrc,
            owned.len()
        );
    }

    // Each side receives the other's packets: all of them, in order, unchanged.
    let heard_by_listener = matched_in_order(&presser_audio, &us_to_listener);
    let heard_by_presser = matched_in_order(&listener_audio, &us_to_presser);
    println!(
        "presser → listener: {heard_by_listener} of {} packets relayed; listener → presser: \
         {heard_by_presser} of {}",
        presser_audio.len(),
        listener_audio.len()
    );
    assert_eq!(
        heard_by_listener,
        presser_audio.len(),
        "loss presser → listener"
    );
    assert_eq!(
        heard_by_presser,
        listener_audio.len(),
        "loss listener → presser"
    );
    assert_eq!(
        presser_stats.lost + listener_stats.lost,
        0,
        "we counted loss"
    );
    // Our own playout sent before the bridge and again after it, within the same streams.
    for (name, before, after) in [
        ("presser", &presser_stats, &presser_after),
        ("listener", &listener_stats, &listener_after),
    ] {
        assert!(before.sent > 0, "{name}: no own packets before the bridge");
        assert!(
            after.sent > before.sent,
            "{name}: own playout did not resume"
        );
    }
}
