//! The main flow across a phone network that loses 10 % of its packets (issue 10): 100 full
//! flows (seed 002 steps 201–219: link → Welcome form → user leg answered → hold → center
//! leg → sign-on `#` → whisper → bridge → the agent keys 1, 2, 3 and 4 → four pages pushed →
//! the agent hangs up), 10 at a time. At least 99 reach the bridge, and at least 99 % of
//! the agent's keys push their page exactly once: a key pushed twice fails like a lost one,
//! and the keys of a flow that never bridged count as sent and lost.
//!
//! Topology: both SIPp phones (the user's phone, streaming a tone, and the call center) run
//! in a network namespace of their own, reached from the host through a router namespace
//! that drops each packet it forwards with probability [`LOSS`], each way (iptables
//! `statistic`, real kernel drops, silent to both ends as on a real network). SIP over UDP
//! and RTP (the agent's RFC 4733 events, the user's audio, our hold audio and whisper) all
//! cross it. The real binary runs on the host and meets the phones on the host's end of the
//! link. The test's HTTP client — the browser — reaches the binary over loopback, loss free:
//! the issue is about the phone network, not the visitor's.
//!
//! Read from outside: the browser's push stream (statuses, pages, end), the call records and
//! timelines in the database, the messages each SIPp phone received and sent (repeats are
//! SIP retransmissions) and the router's drop counters (the loss really happened).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use subscriber_db::{EndCause, SessionId, Word};
use testkit::flow::{PhoneNetwork, Rig, RigOptions, SseEvent, kinds, summary};
use testkit::netns::LossyLink;
use testkit::seed::{self, Seed};
use testkit::sipp::SippOptions;

/// Probability that the link drops a packet, each direction.
const LOSS: f64 = 0.10;
/// Full flows through one running binary.
const FLOWS: u32 = 100;
/// Flows in progress at once.
const CONCURRENCY: usize = 10;
/// The keys the agent presses in each flow (`flow_center_lossy.xml`), and the page each one
/// names. Pages 1 and 2 are the seed's; 3 and 4 are added here.
const AGENT_KEYS: [(&str, &str); 4] = [
    ("1", seed::PAGE_TITLES[0]),
    ("2", seed::PAGE_TITLES[1]),
    ("3", "Roaming prices"),
    ("4", "Invoice archive"),
];
/// The agent listens this long after `#` before the first key: the whisper "Customer 4 7 1 1
/// about billing" lasts about 3 s, and keys pressed before the bridge are ignored.
const WHISPER_PAUSE_MS: u64 = 5000;
/// At least this many flows must reach the bridge.
const MIN_BRIDGED: usize = 99;
/// At least this share of the agent's keys must push their page exactly once.
const MIN_PUSHED_ONCE: f64 = 0.99;

/// What one flow looked like from outside.
#[derive(Debug)]
struct Flow {
    n: u32,
    session: Option<SessionId>,
    /// The browser's events as `summary` spells them.
    events: Vec<String>,
    /// Page events per title in the browser's stream.
    pages: BTreeMap<String, usize>,
    /// The timeline's steps.
    steps: Vec<String>,
    /// SIP Call-IDs of the legs placed, from the timeline.
    call_ids: Vec<String>,
    end_cause: Option<EndCause>,
    finished: bool,
    error: Option<String>,
}

impl Flow {
    /// The bridge, as the browser saw it (`agent_on_line`) and as the timeline wrote it.
    fn bridged(&self) -> bool {
        self.events.iter().any(|e| e == "status:agent_on_line")
            && self.steps.iter().any(|s| s == "bridged")
    }

    fn pushes_of(&self, title: &str) -> usize {
        self.pages.get(title).copied().unwrap_or(0)
    }
}

async fn one_flow(rig: &Rig, n: u32) -> Flow {
    let mut flow = Flow {
        n,
        session: None,
        events: Vec::new(),
        pages: BTreeMap::new(),
        steps: Vec::new(),
        call_ids: Vec::new(),
        end_cause: None,
        finished: false,
        error: None,
    };
    let number = seed::user_number(1000 + n);
    let session = match rig.request_call(&number).await {
        Ok(session) => session,
        Err(e) => {
            flow.error = Some(format!("request: {e:#}"));
            return flow;
        }
    };
    flow.session = Some(session.clone());
    // A flow takes about 18 s; retransmissions after losses add seconds, not minutes.
    match rig
        .sse_until_ended(&session, Duration::from_secs(120))
        .await
    {
        Ok(events) => {
            flow.pages = page_counts(&events);
            flow.events = summary(&events);
        }
        Err(e) => flow.error = Some(format!("stream: {e:#}")),
    }
    // The record is final soon after `ended`; a BYE whose 200 was lost may take a few more
    // retransmissions.
    match rig.wait_finished(&session, Duration::from_secs(40)).await {
        Ok(call) => {
            flow.finished = true;
            flow.end_cause = call.end_cause;
        }
        Err(e) => {
            let first_line = e.to_string().lines().next().unwrap_or("").to_owned();
            flow.error.get_or_insert(format!("record: {first_line}"));
        }
    }
    if let Ok(timeline) = rig.timeline(&session) {
        flow.steps = kinds(&timeline).into_iter().map(str::to_owned).collect();
        flow.call_ids = timeline
            .iter()
            .filter(|e| e.kind() == "leg_dialed")
            .filter_map(|e| e.detail()["call_id"].as_str().map(str::to_owned))
            .collect();
    }
    flow
}

/// The binary's own SIP retransmissions, from its log: rsipstack logs every UDP datagram it
/// sends (`udp send … raw_message="…"`), and a retransmission repeats a datagram byte for
/// byte (RFC 3261 §17.1.1.2, §17.1.2.2; a re-sent ACK for a retransmitted 200 too). Per
/// method or status line: (sent again, sent in all).
fn retransmissions_in_log(log: &str) -> BTreeMap<String, (usize, usize)> {
    let mut seen = std::collections::HashSet::new();
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for line in log.lines().filter(|l| l.contains("udp send")) {
        let plain = strip_ansi(line);
        let Some((_, raw)) = plain.split_once("raw_message=") else {
            continue;
        };
        let raw = raw.trim_start_matches('"');
        let kind = match raw.split_whitespace().next() {
            Some("SIP/2.0") => raw.split_whitespace().nth(1).unwrap_or("?").to_owned(),
            Some(method) => method.to_owned(),
            None => continue,
        };
        let entry = out.entry(kind).or_default();
        entry.1 += 1;
        if !seen.insert(raw.to_owned()) {
            entry.0 += 1;
        }
    }
    out
}

/// `text` without terminal colour codes (`ESC [ … m`), which the log carries.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn page_counts(events: &[SseEvent]) -> BTreeMap<String, usize> {
    let mut pages = BTreeMap::new();
    for event in events.iter().filter(|e| e.kind == "page") {
        let title = event.data["title"].as_str().unwrap_or("?").to_owned();
        *pages.entry(title).or_insert(0) += 1;
    }
    pages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_flows_across_ten_percent_loss_bridge_and_push_each_key_once() {
    let link = LossyLink::create(LOSS).unwrap();
    let phone = SippOptions {
        calls: FLOWS,
        pause_ms: WHISPER_PAUSE_MS,
        timeout: Duration::from_secs(900),
        port: None,
    };
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user_scenario: "flow_answer_stream_wait_bye_lossy.xml",
            user: phone.clone(),
            center_scenario: "flow_center_lossy.xml",
            center: phone,
            seed: Seed::default(),
            user_trunk_auth: None,
            extra_trunks: String::new(),
            max_calls_per_ip_per_hour: 10_000,
            network: Some(PhoneNetwork {
                phones: link.phones(),
                platform_ip: link.host_ip.into(),
            }),
        },
    )
    .unwrap();
    for (keys, title) in &AGENT_KEYS[2..] {
        seed::add_page(&rig.cb.db_path(), &rig.sid, keys, title).unwrap();
    }
    println!(
        "{FLOWS} flows, {CONCURRENCY} at a time, {} agent keys each, loss {:.0} % each way on \
         {} ({} ↔ {})",
        AGENT_KEYS.len(),
        LOSS * 100.0,
        link.netns(),
        link.host_ip,
        link.peer_ip
    );

    let started = Instant::now();
    let rig_ref = &rig;
    let mut flows: Vec<Flow> = futures::stream::iter(0..FLOWS)
        .map(|n| one_flow(rig_ref, n))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    flows.sort_by_key(|f| f.n);
    let elapsed = started.elapsed();

    // The phones' verdicts: SIPp fails a call whose signalling went wrong (no ACK for its
    // 200, no 200 for its BYE after its retransmissions). A phone that got fewer calls than
    // FLOWS waits for the rest; it is not waited for long.
    let center_exit = rig.center.exit_code(Duration::from_secs(20)).await;
    let user_exit = rig.user.exit_code(Duration::from_secs(20)).await;
    let exit_word = |exit: &anyhow::Result<i32>| match exit {
        Ok(code) => format!("exit {code}"),
        Err(_) => "still running".to_owned(),
    };
    let (user_exit, center_exit) = (exit_word(&user_exit), exit_word(&center_exit));
    // Our retransmissions the phones saw (a lower bound: a retransmission of a lost original
    // is no repeat), and the phones' own (200s whose ACK, BYEs whose 200 was lost).
    let ours = (rig.user.received_repeats(), rig.center.received_repeats());
    let theirs = (rig.user.sent_repeats(), rig.center.sent_repeats());
    let ours_in_log = retransmissions_in_log(&rig.cb.logs());
    let counts = link.counts().unwrap();

    let bridged = flows.iter().filter(|f| f.bridged()).count();
    let keys_sent = flows.len() * AGENT_KEYS.len();
    let (mut once, mut twice, mut lost) = (0, 0, 0);
    for flow in &flows {
        for (_, title) in AGENT_KEYS {
            match flow.pushes_of(title) {
                0 => lost += 1,
                1 => once += 1,
                _ => twice += 1,
            }
        }
    }
    let mut causes: BTreeMap<String, usize> = BTreeMap::new();
    for flow in &flows {
        let cause = flow.end_cause.map_or("none", |c| c.word());
        *causes.entry(cause.to_owned()).or_insert(0) += 1;
    }
    let unfinished = flows.iter().filter(|f| !f.finished).count();
    let active = rig.active_calls().unwrap();
    println!(
        "{FLOWS} flows in {elapsed:?}: bridged {bridged}; keys sent {keys_sent}, pushed once \
         {once}, pushed twice or more {twice}, lost {lost}; end causes {causes:?}; records not \
         final {unfinished}, active calls {active}"
    );
    println!(
        "SIP repeats from the platform seen by the phones: user {}, center {}; sent again by \
         the phones: user {}, center {}; SIPp: user {user_exit}, center {center_exit}",
        ours.0, ours.1, theirs.0, theirs.1
    );
    println!("the platform's SIP sends (sent again, in all) from its log: {ours_in_log:?}");
    println!(
        "link: to the phones {} packets, {} dropped ({:.2} %); from the phones {} packets, {} \
         dropped ({:.2} %)",
        counts.inbound,
        counts.inbound_dropped,
        counts.inbound_loss() * 100.0,
        counts.outbound,
        counts.outbound_dropped,
        counts.outbound_loss() * 100.0
    );
    // What went wrong, with both sides' view of each leg, so a rare failure can be read
    // from one run's output.
    let troubled: Vec<&Flow> = flows
        .iter()
        .filter(|f| {
            !f.bridged() || f.error.is_some() || AGENT_KEYS.iter().any(|(_, t)| f.pushes_of(t) != 1)
        })
        .collect();
    for f in &troubled {
        println!(
            "--- flow {} ({:?}): {:?}; events {:?}; timeline {:?}",
            f.n,
            f.session.as_ref().map(SessionId::as_str),
            f.error,
            f.events,
            f.steps
        );
        if let Some(session) = &f.session {
            println!("callbond:\n{}", rig.call_logs(session).join("\n"));
        }
        for call_id in &f.call_ids {
            println!(
                "user phone, {call_id}:\n{}\ncall center, {call_id}:\n{}",
                rig.user.trace_of(call_id),
                rig.center.trace_of(call_id)
            );
        }
    }
    for (phone, errors) in [("user", rig.user.errors()), ("center", rig.center.errors())] {
        if !errors.trim().is_empty() {
            println!("--- {phone} phone's SIPp errors:\n{errors}");
        }
    }

    // The premise: the router did drop about LOSS of a real amount of traffic both ways
    // (tens of thousands of RTP packets; a rule that never matched would show 0 %).
    for (way, packets, loss) in [
        ("to the phones", counts.inbound, counts.inbound_loss()),
        ("from the phones", counts.outbound, counts.outbound_loss()),
    ] {
        assert!(packets > 10_000, "only {packets} packets went {way}");
        assert!(
            (LOSS * 0.7..LOSS * 1.3).contains(&loss),
            "{way}: {:.2} % dropped, not about {:.0} %",
            loss * 100.0,
            LOSS * 100.0
        );
    }
    // SIP suffered too, both ways: the phones sent messages again (a 200 whose ACK was lost,
    // a BYE whose 200 was lost), and so did the platform (an INVITE or BYE lost on the way).
    let platform_again: usize = ours_in_log.values().map(|(again, _)| again).sum();
    assert!(theirs.0 + theirs.1 > 0, "the phones never retransmitted");
    assert!(platform_again > 0, "the platform never retransmitted");
    assert!(
        bridged >= MIN_BRIDGED,
        "only {bridged} of {FLOWS} flows reached the bridge"
    );
    assert!(
        once as f64 >= MIN_PUSHED_ONCE * keys_sent as f64,
        "only {once} of {keys_sent} agent keys pushed their page exactly once ({twice} twice \
         or more, {lost} lost)"
    );
    // Every flow ends: no record left open, no leg left counted against capacity.
    assert_eq!(unfinished, 0, "records never final");
    assert_eq!(active, 0, "calls still active");
}

#[test]
fn log_retransmissions_are_repeated_datagrams() {
    let log = concat!(
        "t \u{1b}[32m INFO\u{1b}[0m rsipstack::transport::udp: udp send len=9 ",
        "\u{1b}[3mraw_message\u{1b}[0m\u{1b}[2m=\u{1b}[0m\"INVITE sip:a@h SIP/2.0\\r\\nCSeq: 1\"\n",
        "t INFO rsipstack::transport::udp: udp send len=9 raw_message=\"INVITE sip:a@h SIP/2.0\\r\\nCSeq: 1\"\n",
        "t INFO rsipstack::transport::udp: udp send len=9 raw_message=\"SIP/2.0 200 OK\\r\\nCSeq: 9\"\n",
        "t INFO platform::runtime: leg dialed\n",
    );
    let got = retransmissions_in_log(log);
    assert_eq!(got.get("INVITE"), Some(&(1, 2)));
    assert_eq!(got.get("200"), Some(&(0, 1)));
    assert_eq!(got.len(), 2);
}
