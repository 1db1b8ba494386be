//! The main speak-to-agent flow end to end (seed 002 steps 201–219) against the real binary:
//! link → Welcome form → number → user leg answered (SIPp phone) → center leg with TAG2
//! (SIPp call center) → sign-on `#` → whisper → bridge → agent digits 1 and 2 push pages 1
//! and 2 → the agent hangs up → the user leg is hung up → `ended` in the browser's stream and
//! the Disconnect page; the call record and its timeline are complete and ordered.
//! The browser is a plain HTTP client reading the Server-Sent Events stream; tshark on
//! loopback checks the media: the agent's telephone-events never reach the user, and the
//! user's audio reaches the agent during the bridge.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use testkit::audio::{best_correlation, envelope, espeak_reference, trim, ulaw_to_linear};
use testkit::capture::Capture;
use testkit::flow::{Rig, RigOptions, assert_in_order, kinds, summary};
use testkit::flow_steps::{assert_end_causes, assert_no_debug_output, dial_details, first_at_ms};
use testkit::seed;
use testkit::sipp::{SippOptions, header, sdp_audio_port};

#[tokio::test]
async fn user_first_call_pushes_pages_and_ends_cleanly() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            // Time for the whisper "Customer 4 7 1 1 about billing" before the agent keys.
            center: SippOptions::pausing(5000),
            // The user talks (a looped tone) for the whole call.
            user_scenario: "flow_answer_stream_wait_bye.xml",
            ..RigOptions::default()
        },
    )
    .unwrap();
    let mut capture = Capture::start().unwrap();
    let number = seed::user_number(1);
    let session = rig.request_call(&number).await.unwrap();
    let events = rig
        .sse_until_ended(&session, Duration::from_secs(60))
        .await
        .unwrap();
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    rig.user.passed(Duration::from_secs(20)).await.unwrap();

    // The browser saw the statuses in order, both pages, then the end.
    assert_eq!(
        summary(&events),
        [
            "status:calling",
            "status:connecting",
            "status:agent_on_line",
            "page:Tariff overview",
            "page:Contract terms",
            "ended:agent_hung_up",
        ],
        "{events:?}"
    );
    let ids: Vec<u64> = events.iter().filter_map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "event ids {ids:?}");

    // TAG2 on the wire (step 210): DNIS in Request-URI and To, ANI in From and PAI, UUI.
    let invites = rig.center.received_invites();
    assert_eq!(invites.len(), 1, "{}", rig.center.logs());
    let invite = &invites[0];
    assert!(
        invite.starts_with(&format!("INVITE sip:{}@", seed::DNIS)),
        "{invite}"
    );
    assert!(
        header(invite, "To")
            .unwrap()
            .contains(&format!("sip:{}@", seed::DNIS)),
        "{invite}"
    );
    assert!(
        header(invite, "From")
            .unwrap()
            .contains(&format!("sip:{number}@"))
    );
    assert!(
        header(invite, "P-Asserted-Identity")
            .unwrap()
            .contains(&format!("sip:{number}@"))
    );
    // UUI carries the call's numeric session reference (never the browser's session id);
    // a route that says nothing else sends UUI and no X- headers.
    let reference = subscriber_db::Db::open(rig.cb.db_path())
        .unwrap()
        .get_call(&rig.sid, &session)
        .unwrap()
        .session_ref
        .unwrap();
    let uui = header(invite, "User-to-User").unwrap();
    let want = hex::encode(format!("wc=4711;ref={reference}"));
    assert_eq!(uui, format!("{want};encoding=hex"));
    assert!(!invite.contains(session.as_str()), "{invite}");
    assert_eq!(header(invite, "X-Callbond-Ref"), None, "{invite}");
    // The user's phone was called at the number typed, showing the call center's number.
    let user_invite = &rig.user.received_invites()[0];
    assert!(
        user_invite.starts_with(&format!("INVITE sip:{number}@")),
        "{user_invite}"
    );
    assert!(
        header(user_invite, "From")
            .unwrap()
            .contains(seed::CENTER_NUMBER)
    );

    // The record: finished with each leg's cause.
    let call = rig
        .wait_finished(&session, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(call.state.to_string(), "ended");
    assert_end_causes(&call, "agent_hung_up", "local_hangup", "remote_hangup");

    // The timeline holds every step, in order, with non-decreasing timestamps.
    let timeline = rig.timeline(&session).unwrap();
    assert_no_debug_output(&timeline);
    let steps = kinds(&timeline);
    let want = [
        "started",
        "dialing",
        "answered",
        "dialing",
        "answered",
        "sign_on_waiting",
        "sign_on_ok",
        "whisper_start",
        "whisper_end",
        "bridged",
        "page_pushed",
        "page_pushed",
        "hung_up",
        "hangup",
        "finished",
    ];
    assert_in_order(&steps, &want);
    assert!(
        timeline
            .windows(2)
            .all(|w| w[0].at <= w[1].at && w[0].seq < w[1].seq),
        "{timeline:?}"
    );
    // Call order user first (the default): the user is dialed and answers before the center.
    let dials = dial_details(&timeline);
    assert!(
        dials[0].starts_with("user leg") && dials[1].starts_with("center leg"),
        "{dials:?}"
    );
    // Digit 3 names no page: logged on the timeline, nothing pushed (the stream above shows
    // two pages only).
    let unknown: Vec<String> = timeline
        .iter()
        .filter(|e| e.kind() == "page_unknown")
        .filter_map(|e| e.detail()["keys"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(unknown, ["3"], "{steps:?}");
    // ... and the agent alone is told so ("No page for 3.", over the bridge).
    let notified: Vec<String> = timeline
        .iter()
        .filter(|e| e.kind() == "agent_notified")
        .filter_map(|e| e.detail()["keys"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(notified, ["3"], "{steps:?}");
    assert_in_order(&kinds(&timeline), &["page_unknown", "agent_notified"]);
    let pushed: Vec<i64> = timeline
        .iter()
        .filter(|e| e.kind() == "page_pushed")
        .map(|e| e.detail()["page_id"].as_i64().unwrap())
        .collect();
    assert_eq!(pushed.len(), 2);
    assert!(
        timeline
            .iter()
            .filter(|e| e.kind() == "page_pushed")
            .all(|e| e.detail()["source"] == "dtmf")
    );

    // The Disconnect page reads the end.
    let ended = reqwest::get(rig.cb.url(&format!("/sessions/{}/ended", session.as_str())))
        .await
        .unwrap();
    assert_eq!(ended.status(), 200);
    let html = ended.text().await.unwrap();
    assert!(html.contains("Call ended"), "{html}");

    // Every leg dialed was seen to end, and the numbers stayed masked in the logs.
    let logs = rig.call_logs(&session);
    let dialed = logs.iter().filter(|l| l.contains("leg dialed")).count();
    let ended = logs
        .iter()
        .filter(|l| l.contains("leg ended") && l.contains("platform::runtime"))
        .count();
    assert_eq!((dialed, ended), (2, 2), "{logs:#?}");
    assert!(
        !logs
            .iter()
            .any(|l| l.contains("platform::runtime") && l.contains(&number)),
        "a runtime log line shows the whole number"
    );
    assert_eq!(rig.active_calls().unwrap(), 0);

    // The media on the wire. Our port on each leg is in the SDP offer each phone received.
    let user_leg = sdp_audio_port(user_invite).unwrap();
    let center_leg = sdp_audio_port(invite).unwrap();
    let mut rtp = capture.stop_rtp(&[user_leg, center_leg]).unwrap();
    // The capture sees all of lo. Keep what involves this test's phones: their media ports
    // are held by SIPp for the whole test, whereas another test's binary may have used our
    // leg's port number before this call took it or after it gave it back.
    let phones = [rig.user.media_port, rig.center.media_port];
    rtp.retain(|p| phones.contains(&p.src_port) || phones.contains(&p.dst_port));
    let events_from_agent = rtp
        .iter()
        .filter(|p| p.dst_port == center_leg && p.payload_type == 101)
        .count();
    assert!(
        events_from_agent >= 3 * 8,
        "agent sent {events_from_agent} telephone-events"
    );
    let events_to_user = rtp
        .iter()
        .filter(|p| p.src_port == user_leg && p.payload_type == 101)
        .count();
    assert_eq!(events_to_user, 0, "telephone-events reached the user leg");
    let at = |k: &str| first_at_ms(&timeline, k);
    let (bridged, hung_up) = (at("bridged"), at("hung_up"));
    // G.711 µ-law silence is 0xFF/0x7F; the user's tone is not.
    let voiced = |p: &&testkit::capture::RtpPacket| {
        p.payload
            .iter()
            .filter(|b| !matches!(b, 0xff | 0x7f))
            .count()
            > p.payload.len() / 2
    };
    let to_agent_in_bridge = rtp
        .iter()
        .filter(|p| p.src_port == center_leg && p.payload_type == 0)
        .filter(|p| (bridged + 100..hung_up - 100).contains(&p.at_ms))
        .filter(voiced)
        .count();
    let bridge_ms = hung_up - bridged;
    println!(
        "media: {events_from_agent} telephone-event packets from the agent, {events_to_user} to \
         the user; {to_agent_in_bridge} voiced packets to the agent in {bridge_ms} ms of bridge"
    );
    // 50 packets a second; allow for start-up and jitter, but most of the bridge must carry it.
    assert!(
        to_agent_in_bridge as i64 >= bridge_ms / 20 / 2,
        "only {to_agent_in_bridge} voiced packets reached the agent in {bridge_ms} ms of bridge"
    );

    // The whisper (step 214) on the wire is the route's text, to the agent only: the agent's
    // audio between whisper start and end matches espeak-ng's own rendering of the filled
    // template, the user's audio in the same time does not (the user hears hold audio).
    let (whisper_start, whisper_end) = (at("whisper_start"), at("whisper_end"));
    let heard = |port: u16| -> Vec<i16> {
        rtp.iter()
            .filter(|p| p.src_port == port && p.payload_type == 0)
            .filter(|p| (whisper_start..whisper_end).contains(&p.at_ms))
            .flat_map(|p| p.payload.iter().map(|&b| ulaw_to_linear(b)))
            .collect()
    };
    let reference = envelope(&espeak_reference("Customer 4 7 1 1 about billing").unwrap());
    let reference = trim(&reference);
    let agent = envelope(&heard(center_leg));
    let agent = trim(&agent);
    let user = envelope(&heard(user_leg));
    let user = trim(&user);
    let agent_match = best_correlation(agent, reference, 25);
    let user_match = best_correlation(user, reference, 25);
    let ratio = agent.len() as f64 / reference.len().max(1) as f64;
    println!(
        "whisper: {} ms on the wire, reference {} ms (ratio {ratio:.2}); envelope correlation \
         agent {agent_match:.2}, user {user_match:.2}",
        agent.len() * 20,
        reference.len() * 20
    );
    assert!(
        (0.9..=1.1).contains(&ratio),
        "whisper lasts {ratio:.2} × the reference"
    );
    assert!(
        agent_match > 0.7,
        "the agent heard something else ({agent_match:.2})"
    );
    assert!(
        user_match < agent_match - 0.2,
        "the user heard the whisper ({user_match:.2})"
    );

    // The notice for the unknown key 3 on the wire: the agent's audio right after the
    // `agent_notified` row is espeak-ng's "No page for 3.", over the bridge; the user's audio
    // in the same time is not.
    let notice_ref = envelope(&espeak_reference("No page for 3.").unwrap());
    let notice_ref = trim(&notice_ref);
    let notified = at("agent_notified");
    let window = notified..notified + notice_ref.len() as i64 * 20 + 400;
    let heard_in = |port: u16| -> Vec<i16> {
        rtp.iter()
            .filter(|p| p.src_port == port && p.payload_type == 0)
            .filter(|p| window.contains(&p.at_ms))
            .flat_map(|p| p.payload.iter().map(|&b| ulaw_to_linear(b)))
            .collect()
    };
    let agent = envelope(&heard_in(center_leg));
    let agent = trim(&agent);
    let user = envelope(&heard_in(user_leg));
    let user = trim(&user);
    let agent_match = best_correlation(agent, notice_ref, 25);
    let user_match = best_correlation(user, notice_ref, 25);
    println!(
        "notice: envelope correlation agent {agent_match:.2}; user {} voiced frames{}",
        user.len(),
        if user.is_empty() {
            " (silence)".to_owned()
        } else {
            format!(", {user_match:.2}")
        }
    );
    assert!(
        agent_match > 0.7,
        "the agent did not hear the notice ({agent_match:.2})"
    );
    assert!(
        user_match < agent_match - 0.2,
        "the user heard the agent's notice ({user_match:.2})"
    );
}
