//! The callback queue end to end (issue 13), with the real binary, SIPp phones and Chromium:
//! a center at its one line → the next visitor is offered the queue on the Welcome page,
//! books, sees their place and a wait estimate that changes while the line stays busy, and
//! is called (the normal flow: their phone, then the center, bridged) as soon as the line
//! frees; a visitor who cancels from the page is never called, and a second cancel gets the
//! same answer.
//!
//! Call A holds the line: its phone (the rig's user SIPp, `uas_ring_forever.xml`) rings
//! until the test cancels A. Visitor B's number goes to a second SIPp through a trunk whose
//! prefix is that one number, so A's and B's INVITEs are counted apart.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

mod web_support;

use serde_json::json;
use subscriber_db::{CallbackState, Db, SessionId};
use testkit::Browser;
use testkit::flow::{Rig, RigOptions, SseEvent, hidden_inputs, parse_sse};
use testkit::seed::{self, Seed};
use testkit::sipp::{Sipp, SippOptions};
use web_support::rig_link;

/// One line, the queue offered, no consent digit (item 4 is not built yet), a user ring
/// timeout longer than the test so A rings until the test cancels it.
fn one_line_policy() -> serde_json::Value {
    json!({
        "max_concurrent_calls": 1,
        "ring_timeout_user_secs": 120,
        "callback": { "offer": true, "consent": false, "initial_delay_secs": 0 }
    })
}

/// The rig (A's phone rings for ever; the center answers and the agent signs on, then hangs
/// up) and B's phone behind its own one-number trunk, taking `b_calls` calls.
fn start(b_number: &str, b_scenario: &str) -> (Rig, Sipp) {
    start_with(b_number, b_scenario, 1, one_line_policy())
}

fn start_with(
    b_number: &str,
    b_scenario: &str,
    b_calls: u32,
    policy: serde_json::Value,
) -> (Rig, Sipp) {
    let b_options = SippOptions {
        calls: b_calls,
        ..SippOptions::default()
    };
    let b_phone = Sipp::uas(b_scenario, b_options).unwrap();
    let rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user_scenario: "uas_ring_forever.xml",
            seed: Seed::with_policy(policy),
            extra_trunks: format!(
                "[[trunks]]\nprefix = \"{b_number}\"\ntarget = \"{}\"\n",
                b_phone.addr
            ),
            ..RigOptions::default()
        },
    )
    .unwrap();
    (rig, b_phone)
}

/// Cancels a direct call with its Connect page's own form, as the visitor's button does.
async fn cancel_call(rig: &Rig, session: &SessionId) {
    let http = reqwest::Client::new();
    let page = http
        .get(rig.cb.url(&format!("/sessions/{}", session.as_str())))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = hidden_inputs(&page);
    let (_, csrf) = form.iter().find(|(k, _)| k == "csrf").unwrap();
    let answer = http
        .post(
            rig.cb
                .url(&format!("/sessions/{}/cancel", session.as_str())),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
}

/// Waits until the call's user leg rings (its `ringing` timeline row).
async fn wait_ringing(rig: &Rig, session: &SessionId) {
    let ringing = rig
        .wait_row(session, "ringing", Duration::from_secs(10))
        .await;
    assert!(ringing.is_ok(), "call A's phone never rang: {ringing:?}");
}

/// Reads `queue` events of a callback page's stream until `done` says so (or `limit`).
async fn queue_events(
    rig: &Rig,
    page: &str,
    limit: Duration,
    done: impl Fn(&[SseEvent]) -> bool,
) -> Vec<SseEvent> {
    let url = rig.cb.url(&format!("/callbacks/{page}/events"));
    let mut events = Vec::new();
    let read = async {
        let mut response = reqwest::get(&url).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let mut buffer = String::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if let Some(event) = parse_sse(&block).filter(|e| e.kind == "queue") {
                    events.push(event);
                    if done(&events) {
                        return;
                    }
                }
            }
        }
    };
    let _ = tokio::time::timeout(limit, read).await;
    events
}

/// Waits (at most 5 s) until the request of `page` is no longer open; returns it.
async fn wait_closed(db: &Db, page: &str) -> subscriber_db::Callback {
    wait_closed_within(db, page, Duration::from_secs(5)).await
}

async fn wait_closed_within(db: &Db, page: &str, limit: Duration) -> subscriber_db::Callback {
    let page: SessionId = page.parse().unwrap();
    let steps = limit.as_millis() / 100;
    for _ in 0..steps {
        let request = db.callback_by_page(&page).unwrap();
        if !request.state.is_open() {
            return request;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the request never closed: {:?}", db.callback_by_page(&page));
}

/// Visitor B in Chromium: the link, B's number on the busy Welcome page, then the queue
/// page at the head of the queue. Returns the browser, the page's URL and its page session.
async fn book_in_browser(rig: &Rig, number: &str) -> (Browser, String, String) {
    let browser = Browser::start().await.unwrap();
    browser.client.goto(&rig_link(rig).unwrap()).await.unwrap();
    browser.retype("number", number).await.unwrap();
    browser.click("call-me").await.unwrap();
    let url = browser
        .wait_for_url(|u| u.contains("/callbacks/"))
        .await
        .unwrap();
    let page = page_of(&url);
    browser
        .wait_for_text("#status", "You are next in the queue")
        .await
        .unwrap();
    (browser, url, page)
}

/// The call the queue page went to once its attempt was dialed.
async fn followed_call(browser: &Browser) -> SessionId {
    let call_url = browser
        .wait_for_url(|u| u.contains("/sessions/"))
        .await
        .unwrap();
    call_url
        .rsplit("/sessions/")
        .next()
        .unwrap()
        .trim_end_matches("/ended")
        .parse()
        .unwrap()
}

/// Waits (10 s) until the request of `page` has an attempt's call, then (30 s) until that
/// call bridged; returns the call. `why` says what should have dialed it.
async fn wait_dialed_and_bridged(rig: &Rig, db: &Db, page: &SessionId, why: &str) -> SessionId {
    let mut call = None;
    for _ in 0..100 {
        if let Some(id) = db.callback_by_page(page).unwrap().call_id {
            call = Some(id);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let call = call.unwrap_or_else(|| panic!("{why}"));
    let bridged = rig
        .wait_row(&call, "bridged", Duration::from_secs(30))
        .await;
    assert!(bridged.is_ok(), "never bridged: {bridged:?}");
    call
}

/// The CSRF token of the forms on the page the browser shows.
async fn page_csrf(browser: &Browser) -> String {
    let html = browser.client.source().await.unwrap();
    let form = hidden_inputs(&html);
    let (_, csrf) = form.iter().find(|(k, _)| k == "csrf").unwrap();
    csrf.clone()
}

fn page_of(url: &str) -> String {
    url.rsplit("/callbacks/").next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_visitor_sees_the_estimate_and_is_called_when_the_line_frees() {
    let b_number = seed::user_number(61);
    let (mut rig, mut b_phone) = start(&b_number, "flow_answer_wait_bye.xml");
    let a = rig.request_call(&seed::user_number(60)).await.unwrap();
    wait_ringing(&rig, &a).await;

    // B: the Welcome page offers the queue instead of refusing.
    let browser = Browser::start().await.unwrap();
    browser.client.goto(&rig_link(&rig).unwrap()).await.unwrap();
    let offer = browser
        .wait_for_text("#queue-offer", "agents are busy")
        .await
        .unwrap();
    assert!(
        offer.contains("Nobody is waiting before you") && offer.contains("estimated wait: about"),
        "{offer}"
    );
    let button = browser.text_of("call-me").await.unwrap();
    assert_eq!(button, "Call me back when an agent is free");
    browser.retype("number", &b_number).await.unwrap();
    browser.click("call-me").await.unwrap();
    let url = browser
        .wait_for_url(|u| u.contains("/callbacks/"))
        .await
        .unwrap();
    let page = page_of(&url);
    let status = browser
        .wait_for_text("#status", "You are next in the queue")
        .await
        .unwrap();
    assert!(status.contains("Estimated wait: about"), "{status}");
    let position = browser.text_of("position").await.unwrap();
    assert_eq!(position, "1");
    browser.screenshot("callback-queued-390").await.unwrap();
    let desktop = Browser::start_with(testkit::browser::desktop_capabilities())
        .await
        .unwrap();
    desktop.client.goto(&url).await.unwrap();
    desktop
        .wait_for_text("#status", "You are next")
        .await
        .unwrap();
    desktop.screenshot("callback-queued-1280").await.unwrap();
    desktop.close().await.unwrap();

    // The booking is durable and B's phone has not been called.
    let db = Db::open(rig.cb.db_path()).unwrap();
    let booked = db.callback_by_page(&page.parse().unwrap()).unwrap();
    assert_eq!(booked.state, CallbackState::Waiting);
    assert_eq!(booked.user_number.as_str(), b_number);
    assert_eq!(
        booked.whisper_code.as_ref().map(|w| w.as_str()),
        Some("4711")
    );
    let predicted = booked.predicted_wait_ms.unwrap();
    assert!(predicted > 0, "predicted {predicted} ms");
    assert!(b_phone.received_invites().is_empty());

    // While A holds the line the estimate is recomputed and pushed again as it moves
    // (the line's expected remaining time shrinks as A's call ages).
    let events = queue_events(&rig, &page, Duration::from_secs(12), |events| {
        let mut secs: Vec<u64> = events
            .iter()
            .filter_map(|e| e.data["estimate_secs"].as_u64())
            .collect();
        secs.dedup();
        secs.len() >= 2
    })
    .await;
    let secs: Vec<u64> = events
        .iter()
        .filter_map(|e| e.data["estimate_secs"].as_u64())
        .collect();
    println!("queue events' estimates (s): {secs:?}; predicted at booking: {predicted} ms");
    assert!(
        secs.windows(2).any(|w| w[1] < w[0]),
        "the estimate never moved: {events:?}"
    );
    assert!(events.iter().all(|e| e.data["position"] == 1), "{events:?}");

    // A ends: the line frees, B is called by the scheduler and follows the call's page.
    cancel_call(&rig, &a).await;
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    let call = followed_call(&browser).await;
    let bridged = rig
        .wait_row(&call, "bridged", Duration::from_secs(30))
        .await;
    assert!(bridged.is_ok(), "B's call never bridged: {bridged:?}");
    b_phone.passed(Duration::from_secs(60)).await.unwrap();
    rig.center.passed(Duration::from_secs(60)).await.unwrap();
    let finished = rig
        .wait_finished(&call, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(finished.user_number.as_str(), b_number);
    assert_eq!(
        finished.whisper_code.as_ref().map(|w| w.as_str()),
        Some("4711")
    );
    // Exactly one INVITE to B's phone, one to the center (A never reached it).
    assert_eq!(b_phone.received_invites().len(), 1);
    assert_eq!(rig.center.received_invites().len(), 1);
    // The scheduler settles the attempt on its next tick (1 s) after the record closed.
    let done = wait_closed(&db, &page).await;
    assert_eq!(done.state, CallbackState::Done);
    assert_eq!(done.attempts, 1);
    assert_eq!(done.call_id.as_ref(), Some(&call));
    println!(
        "predicted wait {predicted} ms, real wait {} ms",
        done.waited_ms().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_who_cancels_is_never_called_and_a_second_cancel_answers_the_same() {
    let b_number = seed::user_number(63);
    let (mut rig, b_phone) = start(&b_number, "flow_answer_wait_bye.xml");
    let a = rig.request_call(&seed::user_number(62)).await.unwrap();
    wait_ringing(&rig, &a).await;

    let (browser, _, page) = book_in_browser(&rig, &b_number).await;
    // The page's own form, read before the click, for the second cancel.
    let csrf = page_csrf(&browser).await;
    browser.click("cancel").await.unwrap();
    let status = browser
        .wait_for_text("#status", "You cancelled this callback request")
        .await
        .unwrap();
    assert_eq!(
        status,
        "You cancelled this callback request. Nobody will call you for it."
    );
    let first = browser.client.source().await.unwrap();
    assert!(
        !first.contains("id=\"cancel\""),
        "a cancelled request offers cancel again"
    );

    // The same cancel again: the same answer, nothing changes. A forged one is refused.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let again = http
        .post(rig.cb.url(&format!("/callbacks/{page}/cancel")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 303);
    assert_eq!(
        again.headers()["location"].to_str().unwrap(),
        format!("/callbacks/{page}")
    );
    let forged = http
        .post(rig.cb.url(&format!("/callbacks/{page}/cancel")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=00")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let db = Db::open(rig.cb.db_path()).unwrap();
    let cancelled = db.callback_by_page(&page.parse().unwrap()).unwrap();
    assert_eq!(cancelled.state, CallbackState::Cancelled);
    assert_eq!(cancelled.attempts, 0);
    assert_eq!(cancelled.call_id, None);
    let closed_at = cancelled.closed_at;

    // The line frees; the scheduler has nobody to call.
    cancel_call(&rig, &a).await;
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    rig.wait_finished(&a, Duration::from_secs(10))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        b_phone.received_invites().is_empty(),
        "the cancelled visitor was called"
    );
    assert!(rig.center.received_invites().is_empty());
    let after = db.callback_by_page(&page.parse().unwrap()).unwrap();
    assert_eq!(after.state, CallbackState::Cancelled);
    assert_eq!(
        after.closed_at, closed_at,
        "the second cancel changed the request"
    );
    assert_eq!(db.count_active_calls(&rig.sid).unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_visitor_is_tried_again_after_the_policys_gap_and_given_up_after_its_attempts() {
    // Two attempts, 30 s apart (the policy's smallest gap); B's phone is busy both times.
    let policy = json!({
        "max_concurrent_calls": 1,
        "ring_timeout_user_secs": 120,
        "callback": {
            "offer": true, "consent": false, "initial_delay_secs": 0,
            "max_attempts": 2, "retry_gap_secs": 30
        }
    });
    let b_number = seed::user_number(65);
    let (mut rig, mut b_phone) = start_with(&b_number, "uas_busy.xml", 2, policy);
    let a = rig.request_call(&seed::user_number(64)).await.unwrap();
    wait_ringing(&rig, &a).await;

    let (browser, url, page) = book_in_browser(&rig, &b_number).await;
    cancel_call(&rig, &a).await;
    rig.user.passed(Duration::from_secs(20)).await.unwrap();

    // The first attempt: B's page follows the call, which ends busy.
    browser
        .wait_for_url(|u| u.contains("/sessions/"))
        .await
        .unwrap();
    let db = Db::open(rig.cb.db_path()).unwrap();
    let page_id: SessionId = page.parse().unwrap();
    let mut retry = None;
    for _ in 0..100 {
        let request = db.callback_by_page(&page_id).unwrap();
        if request.state == CallbackState::Waiting && request.attempts == 1 {
            retry = Some(request);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let retry = retry.expect("the first attempt was never settled for a retry");
    let first_call = retry.call_id.clone().unwrap();
    let first = db.get_call(&rig.sid, &first_call).unwrap();
    assert_eq!(
        first.end_cause.map(|c| c.to_string()).as_deref(),
        Some("user_busy")
    );
    let gap = (retry.due_at - first.ended_at.unwrap()).num_milliseconds();
    // Due the gap after the tick that settled it (ticks are 1 s apart; 5 s allows a loaded
    // machine's late tick).
    assert!(
        (30_000..=35_000).contains(&gap),
        "next attempt due {gap} ms after the first ended"
    );
    // The attempt's Disconnect page leads back to the request, not to a new call; there
    // the queue page says when the next attempt comes.
    browser
        .wait_for_url(|u| u.ends_with("/ended"))
        .await
        .unwrap();
    let back = browser.attr("callback-request", "href").await.unwrap();
    assert_eq!(back.as_deref(), Some(format!("/callbacks/{page}").as_str()));
    assert_eq!(browser.text_of("call-again").await, None);
    browser.click("callback-request").await.unwrap();
    let status = browser
        .wait_for_text("#status", "could not reach you")
        .await
        .unwrap();
    assert_eq!(
        status,
        format!(
            "We called you but could not reach you. We will try again at {} UTC.",
            retry.due_at.format("%H:%M")
        )
    );

    // The second attempt at its time, then no more: the request failed after 2.
    let failed = wait_closed_within(&db, &page, Duration::from_secs(45)).await;
    assert_eq!(failed.state, CallbackState::Failed);
    assert_eq!(failed.attempts, 2);
    let second = db
        .get_call(&rig.sid, failed.call_id.as_ref().unwrap())
        .unwrap();
    assert_ne!(second.id, first_call);
    let waited = (second.created_at - first.ended_at.unwrap()).num_milliseconds();
    println!("second attempt dialed {waited} ms after the first ended (gap 30 s)");
    assert!(
        waited >= 30_000,
        "the second attempt came {waited} ms after the first"
    );
    b_phone.passed(Duration::from_secs(20)).await.unwrap();
    assert_eq!(b_phone.received_invites().len(), 2);
    assert!(rig.center.received_invites().is_empty());
    browser.client.goto(&url).await.unwrap();
    let status = browser
        .wait_for_text("#status", "We tried to call you")
        .await
        .unwrap();
    assert_eq!(
        status,
        "We tried to call you 2 times and could not reach you, so we stopped. Please ask again \
         from the company's page."
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_with_requests_queued_and_while_one_is_dialed_loses_none_and_dials_none_twice() {
    // One line held by A; three visitors queue. Their phones (one SIPp behind the prefix of
    // their three numbers) are busy, and one attempt each is allowed: every request is
    // dialed exactly once and then fails, so the INVITEs at the SIPp side count the dials.
    let policy = json!({
        "max_concurrent_calls": 1,
        "ring_timeout_user_secs": 120,
        "callback": {
            "offer": true, "consent": false, "initial_delay_secs": 0, "max_attempts": 1
        }
    });
    let numbers = [70, 71, 72].map(seed::user_number);
    let prefix = &numbers[0][..numbers[0].len() - 1]; // +49305550007: 70-79
    let (mut rig, mut b_phones) = start_with(prefix, "uas_busy.xml", 3, policy);
    let a = rig.request_call(&seed::user_number(69)).await.unwrap();
    wait_ringing(&rig, &a).await;
    let mut pages = Vec::new();
    for number in &numbers {
        pages.push(rig.request_callback(number).await.unwrap());
    }
    let db = Db::open(rig.cb.db_path()).unwrap();
    let booked: Vec<_> = pages
        .iter()
        .map(|p| db.callback_by_page(p).unwrap())
        .collect();
    assert!(booked.iter().all(|r| r.state == CallbackState::Waiting));

    // Kill 1: three waiting. After the restart all three are still there, nobody was called.
    tokio::task::block_in_place(|| rig.cb.kill()).unwrap();
    tokio::task::block_in_place(|| rig.cb.restart()).unwrap();
    assert!(b_phones.received_invites().is_empty());
    for (page, before) in pages.iter().zip(&booked) {
        let after = db.callback_by_page(page).unwrap();
        assert_eq!(after.id, before.id);
        assert!(after.state.is_open(), "{after:?}");
    }
    // The restart ended A (interrupted), which frees the line: the queue is dialed in order.
    rig.user.passed(Duration::from_secs(20)).await.unwrap();

    // Kill 2: as soon as the second request's attempt exists (its call record made, maybe
    // dialing, maybe already busy).
    let mut seen_dialing = false;
    for _ in 0..200 {
        let second = db.callback_by_page(&pages[1]).unwrap();
        if second.call_id.is_some() {
            seen_dialing = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_dialing, "the second request was never dialed");
    tokio::task::block_in_place(|| rig.cb.kill()).unwrap();
    let invites_at_kill = b_phones.received_invites().len();
    tokio::task::block_in_place(|| rig.cb.restart()).unwrap();

    // Every request closes; each number got exactly one INVITE.
    let mut states = Vec::new();
    for page in &pages {
        let closed = wait_closed_within(&db, page.as_str(), Duration::from_secs(30)).await;
        states.push((closed.state, closed.attempts));
    }
    b_phones.passed(Duration::from_secs(20)).await.unwrap();
    let invites = b_phones.received_invites();
    let mut dialed: Vec<String> = invites
        .iter()
        .filter_map(|m| m.lines().next())
        .filter_map(|l| l.split("sip:").nth(1))
        .filter_map(|u| u.split('@').next())
        .map(str::to_owned)
        .collect();
    dialed.sort();
    println!(
        "INVITEs at the second kill: {invites_at_kill}; after: {}; states {states:?}",
        invites.len()
    );
    assert_eq!(dialed, numbers, "each queued number dialed exactly once");
    assert!(
        states
            .iter()
            .all(|(s, n)| *s == CallbackState::Failed && *n == 1),
        "{states:?}"
    );
    assert!(rig.center.received_invites().is_empty());
}

/// A phone that answers, presses `key` (RFC 4733, SIPp's own capture of that digit) 300 ms
/// after the ACK, then waits for our BYE: `uas_press_5_wait_bye.xml` with the digit changed.
fn phone_pressing(key: char, dir: &std::path::Path) -> std::path::PathBuf {
    let template =
        std::fs::read_to_string(testkit::sipp::scenario_path("uas_press_5_wait_bye.xml")).unwrap();
    assert!(template.contains("dtmf_2833_5.pcap"));
    let scenario = template.replace("dtmf_2833_5.pcap", &format!("dtmf_2833_{key}.pcap"));
    let path = dir.join(format!("uas_press_{key}_wait_bye.xml"));
    std::fs::write(&path, scenario).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn the_visitor_presses_the_key_their_page_shows_and_only_then_the_center_is_called() {
    let policy = json!({
        "max_concurrent_calls": 1,
        "ring_timeout_user_secs": 120,
        "callback": { "offer": true, "consent": true, "consent_timeout_secs": 15 }
    });
    let b_number = seed::user_number(67);
    // B's phone must press the key the booking draws, so it starts after the booking, on
    // a port the trunk already points at.
    let (held, b_port) = testkit::sipp::reserve_udp_port().unwrap();
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user_scenario: "uas_ring_forever.xml",
            seed: Seed::with_policy(policy),
            extra_trunks: format!(
                "[[trunks]]\nprefix = \"{b_number}\"\ntarget = \"127.0.0.1:{b_port}\"\n"
            ),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let a = rig.request_call(&seed::user_number(66)).await.unwrap();
    wait_ringing(&rig, &a).await;

    let (browser, _, page) = book_in_browser(&rig, &b_number).await;
    let shown = browser.text_of("consent-key").await.unwrap();
    let key = shown.chars().next().unwrap();
    assert!(shown.len() == 1 && ('1'..='9').contains(&key), "{shown:?}");
    let db = Db::open(rig.cb.db_path()).unwrap();
    let booked = db.callback_by_page(&page.parse().unwrap()).unwrap();
    assert_eq!(booked.consent_key.map(|k| k.as_char()), Some(key));
    browser
        .screenshot("callback-consent-key-390")
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let scenario = phone_pressing(key, dir.path());
    drop(held);
    let mut b_phone = Sipp::uas(
        scenario.to_str().unwrap(),
        SippOptions {
            port: Some(b_port),
            ..SippOptions::default()
        },
    )
    .unwrap();

    cancel_call(&rig, &a).await;
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    let call = followed_call(&browser).await;
    let asked = rig
        .wait_row(&call, "consent_asked", Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(asked.detail()["key"], key.to_string());
    let given = rig
        .wait_row(&call, "consent_given", Duration::from_secs(20))
        .await
        .unwrap();
    let bridged = rig
        .wait_row(&call, "bridged", Duration::from_secs(30))
        .await;
    assert!(bridged.is_ok(), "B's call never bridged: {bridged:?}");
    // The center was dialed after the key, not before.
    let timeline = rig.timeline(&call).unwrap();
    let center_dialed = timeline
        .iter()
        .find(|e| e.kind() == "leg_dialed" && e.detail()["leg"] == "center")
        .unwrap();
    assert!(center_dialed.seq > given.seq, "{timeline:?}");
    b_phone.passed(Duration::from_secs(60)).await.unwrap();
    rig.center.passed(Duration::from_secs(60)).await.unwrap();
    assert_eq!(rig.center.received_invites().len(), 1);
    let done = wait_closed(&db, &page).await;
    assert_eq!(done.state, CallbackState::Done);
    assert_eq!(done.attempts, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_key_within_the_limit_means_no_center_call_and_the_attempt_counts_as_not_answered() {
    let policy = json!({
        "max_concurrent_calls": 1,
        "ring_timeout_user_secs": 120,
        "callback": {
            "offer": true, "consent": true, "consent_timeout_secs": 5, "max_attempts": 1
        }
    });
    // B's phone answers and never presses anything (a voicemail box would do the same).
    let b_number = seed::user_number(69);
    let (mut rig, mut b_phone) = start_with(&b_number, "flow_answer_wait_bye.xml", 1, policy);
    let a = rig.request_call(&seed::user_number(68)).await.unwrap();
    wait_ringing(&rig, &a).await;
    let page = rig.request_callback(&b_number).await.unwrap();
    cancel_call(&rig, &a).await;
    rig.user.passed(Duration::from_secs(20)).await.unwrap();

    let db = Db::open(rig.cb.db_path()).unwrap();
    let failed = wait_closed_within(&db, page.as_str(), Duration::from_secs(30)).await;
    assert_eq!(failed.state, CallbackState::Failed);
    assert_eq!(failed.attempts, 1);
    let call = db
        .get_call(&rig.sid, failed.call_id.as_ref().unwrap())
        .unwrap();
    assert_eq!(
        call.end_cause.map(|c| c.to_string()).as_deref(),
        Some("user_no_consent")
    );
    let kinds: Vec<String> = rig
        .timeline(&call.id)
        .unwrap()
        .iter()
        .map(|e| e.kind().to_owned())
        .collect();
    assert!(kinds.contains(&"consent_asked".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"consent_timeout".to_owned()), "{kinds:?}");
    assert!(!kinds.contains(&"consent_given".to_owned()), "{kinds:?}");
    // The phone got its BYE after the goodbye; the center never an INVITE.
    b_phone.passed(Duration::from_secs(30)).await.unwrap();
    assert_eq!(b_phone.received_invites().len(), 1);
    assert!(rig.center.received_invites().is_empty());
    assert!(
        call.legs.iter().all(|l| l.leg.to_string() == "user"),
        "{:?}",
        call.legs
    );
}

/// `POST /admin/v1{path}` with a bearer key and a JSON body: status and JSON answer.
async fn admin_post(
    rig: &Rig,
    key: &str,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let answer = reqwest::Client::new()
        .post(rig.cb.url(&format!("/admin/v1{path}")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (
        status,
        answer.json().await.unwrap_or(serde_json::Value::Null),
    )
}

async fn admin_get_with(rig: &Rig, key: &str, path: &str) -> (u16, serde_json::Value) {
    let answer = reqwest::Client::new()
        .get(rig.cb.url(&format!("/admin/v1{path}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (
        status,
        answer.json().await.unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_list_count_move_and_cancel_requests_and_read_the_estimates_accuracy() {
    let b_number = seed::user_number(75);
    let (mut rig, b_phone) = start(&b_number, "flow_answer_wait_bye.xml");
    let a = rig.request_call(&seed::user_number(74)).await.unwrap();
    wait_ringing(&rig, &a).await;
    let first = rig.request_callback(&b_number).await.unwrap();
    let second = rig.request_callback(&seed::user_number(76)).await.unwrap();
    let sid = rig.sid.as_str().to_owned();
    let operator = rig.cb.operator_key.clone();

    // The live counts: one line, busy with A; two waiting.
    let (status, queues) = rig
        .admin_get(&format!("/subscribers/{sid}/queue"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{queues}");
    assert_eq!(queues["lines_per_route"], 1);
    let route = &queues["routes"][0];
    assert_eq!(route["subject_code"], seed::SUBJECT);
    assert_eq!(
        (route["waiting"].as_u64(), route["lines_busy"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(route["oldest_wait_secs"].as_u64().is_some(), "{route}");

    // The list, newest first, and one request.
    let (status, listed) = rig
        .admin_get(&format!("/subscribers/{sid}/callbacks?state=waiting"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{listed}");
    let pages: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["page_session"].as_str().unwrap())
        .collect();
    assert_eq!(pages, [second.as_str(), first.as_str()]);
    let first_id = listed[1]["id"].as_i64().unwrap();
    let second_id = listed[0]["id"].as_i64().unwrap();
    let (status, bad) = rig
        .admin_get(&format!("/subscribers/{sid}/callbacks?state=sleeping"))
        .await
        .unwrap();
    assert_eq!(status, 400, "{bad}");

    // Another subscriber's key sees none of it and changes nothing.
    let (status, _) = admin_post(
        &rig,
        &operator,
        "/subscribers",
        json!({"id": "globex", "display_name": "Globex"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, key) = admin_post(&rig, &operator, "/subscribers/globex/keys", json!({})).await;
    assert_eq!(status, 201, "{key}");
    let other = key["token"].as_str().unwrap().to_owned();
    for path in [
        format!("/subscribers/{sid}/callbacks"),
        format!("/subscribers/{sid}/callbacks/{first_id}"),
        format!("/subscribers/{sid}/queue"),
    ] {
        let (status, _) = admin_get_with(&rig, &other, &path).await;
        assert!(status == 403 || status == 404, "{path}: {status}");
    }
    let (status, _) = admin_post(
        &rig,
        &other,
        &format!("/subscribers/{sid}/callbacks/{first_id}/cancel"),
        json!({}),
    )
    .await;
    assert!(
        status == 403 || status == 404,
        "cancel with another's key: {status}"
    );

    // Move the second an hour ahead (twice: the same answer); a time in the past is refused.
    let due = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let path = format!("/subscribers/{sid}/callbacks/{second_id}/move");
    let (status, moved) = admin_post(&rig, &operator, &path, json!({ "due_at": due })).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["kind"], "scheduled");
    let (status, again) = admin_post(&rig, &operator, &path, json!({ "due_at": due })).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["due_at"], moved["due_at"]);
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, refused) = admin_post(&rig, &operator, &path, json!({ "due_at": past })).await;
    assert_eq!(status, 400, "{refused}");
    let (_, queues) = rig
        .admin_get(&format!("/subscribers/{sid}/queue"))
        .await
        .unwrap();
    let route = &queues["routes"][0];
    assert_eq!(
        (route["waiting"].as_u64(), route["later"].as_u64()),
        (Some(1), Some(1))
    );

    // Cancel the first (twice: the same answer); when A ends nobody is called.
    let path = format!("/subscribers/{sid}/callbacks/{first_id}/cancel");
    let (status, cancelled) = admin_post(&rig, &operator, &path, json!({})).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    let (status, again) = admin_post(&rig, &operator, &path, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(again["closed_at"], cancelled["closed_at"]);
    cancel_call(&rig, &a).await;
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    rig.wait_finished(&a, Duration::from_secs(10))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(b_phone.received_invites().is_empty());

    // The accuracy report counts both requests of this hour: one cancelled, none dialed yet.
    let (status, report) = rig
        .admin_get(&format!("/subscribers/{sid}/queue/accuracy"))
        .await
        .unwrap();
    assert_eq!(status, 200, "{report}");
    let row = &report[0];
    assert_eq!(row["subject_code"], seed::SUBJECT);
    assert_eq!(
        (
            row["requests"].as_u64(),
            row["cancelled"].as_u64(),
            row["dialed"].as_u64()
        ),
        (Some(2), Some(1), Some(0))
    );
    assert!(row["mae_secs"].is_null(), "{row}");

    // The same from the shell: the queue, the list, and a cancel of the moved request.
    let cli = |args: &[&str]| tokio::task::block_in_place(|| rig.cb.cli(args)).unwrap();
    let queue = cli(&["admin", "callbacks", "queue", "--subscriber", &sid]);
    let rows: Vec<&str> = queue.lines().collect();
    assert_eq!(
        rows[0],
        "subject\twaiting\tlater\tdialing\toldest_wait_secs\tlines_busy"
    );
    assert_eq!(
        rows[1],
        format!("{}\t0\t1\t0\t-\t0", seed::SUBJECT),
        "{queue}"
    );
    let list = cli(&["admin", "callbacks", "list", "--subscriber", &sid]);
    let states: Vec<&str> = list
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(states, ["waiting", "cancelled"], "{list}");
    let id = second_id.to_string();
    let out = cli(&[
        "admin",
        "callbacks",
        "cancel",
        "--subscriber",
        &sid,
        "--id",
        &id,
    ]);
    assert_eq!(out.trim(), format!("callback {second_id}: cancelled"));
    let list = cli(&[
        "admin",
        "callbacks",
        "list",
        "--subscriber",
        &sid,
        "--state",
        "waiting",
    ]);
    assert_eq!(list.trim(), "", "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_the_visitor_queues_and_is_called_once_the_center_opens() {
    use chrono::Timelike;
    use subscriber_db::{TimeRange, WeeklyHours};
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            seed: Seed::with_policy(json!({
                "callback": { "offer": true, "consent": false }
            })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    // Open one hour a day (UTC), starting two hours from now.
    let db = Db::open(rig.cb.db_path()).unwrap();
    let opens = (chrono::Utc::now().hour() + 2) % 24;
    let range: TimeRange = format!("{opens:02}:00-{:02}:00", opens + 1)
        .parse()
        .unwrap();
    let mut policy = db.get_policy(&rig.sid).unwrap();
    policy.weekly_hours = WeeklyHours::new(std::array::from_fn(|_| vec![range])).unwrap();
    db.put_policy(&rig.sid, &policy).unwrap();

    // The Welcome page offers the queue, saying when the center opens.
    let welcome = reqwest::get(rig_link(&rig).unwrap()).await.unwrap();
    assert_eq!(welcome.status().as_u16(), 200);
    let html = welcome.text().await.unwrap();
    assert!(html.contains("id=\"queue-offer\""), "{html}");
    assert!(
        html.contains(&format!(
            "call center is closed now. It opens again today at {opens:02}:00"
        )) || html.contains(&format!("It opens again tomorrow at {opens:02}:00")),
        "{html}"
    );
    let number = seed::user_number(77);
    let page = rig.request_callback(&number).await.unwrap();
    let booked = db.callback_by_page(&page).unwrap();
    // Quoted from the opening: more than an hour away.
    let predicted = booked.predicted_wait_ms.unwrap();
    assert!(predicted > 3_600_000, "predicted {predicted} ms");

    // While closed nobody is called.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(rig.user.received_invites().is_empty());
    assert_eq!(
        db.callback_by_page(&page).unwrap().state,
        CallbackState::Waiting
    );

    // The center opens (hours changed, as at the opening time): the request is dialed.
    policy.weekly_hours = WeeklyHours::always_open();
    db.put_policy(&rig.sid, &policy).unwrap();
    wait_dialed_and_bridged(&rig, &db, &page, "not dialed within 10 s of opening").await;
    rig.user.passed(Duration::from_secs(60)).await.unwrap();
    rig.center.passed(Duration::from_secs(60)).await.unwrap();
    assert_eq!(rig.user.received_invites().len(), 1);
    let done = wait_closed(&db, page.as_str()).await;
    assert_eq!(done.state, CallbackState::Done);
}

#[tokio::test(flavor = "multi_thread")]
async fn bookings_count_toward_the_per_ip_limit_before_they_are_dialed() {
    // Three requests an hour from one address: A's call and two bookings; the third
    // booking is refused and stores nothing.
    let rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            user_scenario: "uas_ring_forever.xml",
            seed: Seed::with_policy(one_line_policy()),
            max_calls_per_ip_per_hour: 3,
            ..RigOptions::default()
        },
    )
    .unwrap();
    let a = rig.request_call(&seed::user_number(80)).await.unwrap();
    wait_ringing(&rig, &a).await;
    rig.request_callback(&seed::user_number(81)).await.unwrap();
    rig.request_callback(&seed::user_number(82)).await.unwrap();
    let refused = rig.submit_welcome(&seed::user_number(83)).await;
    let error = format!("{:#}", refused.unwrap_err());
    assert!(error.contains("429"), "{error}");
    assert!(
        error.contains("Too many call-backs were requested from your network"),
        "{error}"
    );
    let db = Db::open(rig.cb.db_path()).unwrap();
    let filter = subscriber_db::CallbackFilter {
        limit: 10,
        ..subscriber_db::CallbackFilter::default()
    };
    assert_eq!(db.list_callbacks(&rig.sid, &filter).unwrap().len(), 2);
    cancel_call(&rig, &a).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_visitor_moves_the_callback_to_a_slot_and_is_not_called_before_it() {
    let b_number = seed::user_number(85);
    let (mut rig, b_phone) = start(&b_number, "flow_answer_wait_bye.xml");
    let a = rig.request_call(&seed::user_number(84)).await.unwrap();
    wait_ringing(&rig, &a).await;
    let (browser, _, page) = book_in_browser(&rig, &b_number).await;

    // The page lists slots (always open: 30-minute slots from the next half hour on).
    let first = browser
        .client
        .find(testkit::browser::fantoccini::Locator::Css("#slot option"))
        .await
        .unwrap();
    let value = first.attr("value").await.unwrap().unwrap();
    let label = first.text().await.unwrap();
    let slot: chrono::DateTime<chrono::Utc> = value.parse().unwrap();
    assert!(slot > chrono::Utc::now(), "{value}");
    assert!(label.contains("(UTC time)"), "{label}");
    let csrf = page_csrf(&browser).await;
    browser.click("reschedule").await.unwrap();
    let status = browser
        .wait_for_text("#status", "Your callback is moved")
        .await
        .unwrap();
    assert_eq!(
        status,
        format!(
            "Your callback is moved: we will call you at {} UTC.",
            slot.format("%Y-%m-%d %H:%M")
        )
    );
    let db = Db::open(rig.cb.db_path()).unwrap();
    let moved = db.callback_by_page(&page.parse().unwrap()).unwrap();
    assert_eq!(moved.kind.to_string(), "scheduled");
    assert_eq!(moved.due_at, slot);
    assert_eq!(moved.slot_end, Some(slot + chrono::Duration::minutes(30)));

    // The same slot again answers the same; a time the page did not offer changes nothing.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |body: String| {
        http.post(rig.cb.url(&format!("/callbacks/{page}/reschedule")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let again = post(format!("csrf={csrf}&slot={}", value.replace('+', "%2B")))
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 303);
    let odd = (slot + chrono::Duration::minutes(7)).to_rfc3339();
    let refused = post(format!("csrf={csrf}&slot={}", odd.replace('+', "%2B")))
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 422);
    let forged = post(format!("csrf=00&slot={value}")).await.unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let after = db.callback_by_page(&page.parse().unwrap()).unwrap();
    assert_eq!(
        (after.due_at, after.slot_end),
        (moved.due_at, moved.slot_end)
    );

    // The line frees: the request waits for its slot, nobody is called now.
    cancel_call(&rig, &a).await;
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    rig.wait_finished(&a, Duration::from_secs(10))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(b_phone.received_invites().is_empty());
    let waiting = db.callback_by_page(&page.parse().unwrap()).unwrap();
    assert_eq!(waiting.state, CallbackState::Waiting);
    assert_eq!(waiting.attempts, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slot_booking_is_dialed_at_its_slot_on_the_test_clock() {
    let b_number = seed::user_number(87);
    let (mut rig, mut b_phone) = start(&b_number, "flow_answer_wait_bye.xml");
    let a = rig.request_call(&seed::user_number(86)).await.unwrap();
    wait_ringing(&rig, &a).await;
    let page = rig.request_callback(&b_number).await.unwrap();

    // The visitor's page lists the slots; the first is taken with the page's own form.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = http
        .get(rig.cb.url(&format!("/callbacks/{}", page.as_str())))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (_, csrf) = hidden_inputs(&html)
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .unwrap();
    let value = html
        .split("<option value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let slot: chrono::DateTime<chrono::Utc> = value.parse().unwrap();
    let moved = http
        .post(
            rig.cb
                .url(&format!("/callbacks/{}/reschedule", page.as_str())),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&slot={value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status().as_u16(), 303);

    // The line frees; before the slot nobody is called.
    cancel_call(&rig, &a).await;
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    rig.wait_finished(&a, Duration::from_secs(10))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(b_phone.received_invites().is_empty());

    // The platform restarts with its scheduler's clock an hour ahead, past the slot's start
    // (at most 30 minutes away): the request is dialed then, once.
    tokio::task::block_in_place(|| rig.cb.kill()).unwrap();
    let config = rig.cb.dir().join("callbond.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[testing]\nscheduler_clock_offset_secs = 3600\n");
    std::fs::write(&config, text).unwrap();
    tokio::task::block_in_place(|| rig.cb.restart()).unwrap();
    assert!(slot < chrono::Utc::now() + chrono::Duration::hours(1));
    let db = Db::open(rig.cb.db_path()).unwrap();
    wait_dialed_and_bridged(
        &rig,
        &db,
        &page,
        "the slot booking was not dialed on the shifted clock",
    )
    .await;
    b_phone.passed(Duration::from_secs(60)).await.unwrap();
    assert_eq!(b_phone.received_invites().len(), 1);
    let done = wait_closed(&db, page.as_str()).await;
    assert_eq!(done.state, CallbackState::Done);
    assert_eq!(done.kind.to_string(), "scheduled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kills_while_fifty_requests_drain_dial_each_exactly_once() {
    const REQUESTS: u32 = 50;
    const KILLS: u32 = 20;
    // Booked while A holds the only line; then three lines drain the queue while the
    // process is SIGKILLed at 20 points. The phones are busy and one attempt each is allowed,
    // so each request is dialed once and fails: distinct INVITE dialogs per number at the
    // SIPp side count the dials.
    let policy = json!({
        "max_concurrent_calls": 1,
        "ring_timeout_user_secs": 120,
        "callback": {
            "offer": true, "consent": false, "initial_delay_secs": 0, "max_attempts": 1
        }
    });
    let numbers: Vec<String> = (0..REQUESTS).map(|i| seed::user_number(100 + i)).collect();
    let prefix = "+4930555001"; // numbers 100-199
    assert!(numbers.iter().all(|n| n.starts_with(prefix)));
    let (mut rig, b_phones) = start_with(prefix, "uas_busy.xml", REQUESTS, policy);
    let a = rig.request_call(&seed::user_number(90)).await.unwrap();
    wait_ringing(&rig, &a).await;
    let mut pages = Vec::new();
    for number in &numbers {
        pages.push(rig.request_callback(number).await.unwrap());
    }
    let db = Db::open(rig.cb.db_path()).unwrap();
    let mut p = db.get_policy(&rig.sid).unwrap();
    p.max_concurrent_calls = subscriber_db::MaxConcurrentCalls::new(3).unwrap();
    db.put_policy(&rig.sid, &p).unwrap();
    cancel_call(&rig, &a).await;

    // Kill at 20 points 150-1050 ms apart (a fixed seed, so a failure can be replayed).
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut kill_points_ms = Vec::new();
    let mut open_at_kill = Vec::new();
    for _ in 0..KILLS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let pause = 150 + seed % 900;
        kill_points_ms.push(pause);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        tokio::task::block_in_place(|| rig.cb.kill()).unwrap();
        let open = pages
            .iter()
            .filter(|p| db.callback_by_page(p).unwrap().state.is_open())
            .count();
        open_at_kill.push(open);
        tokio::task::block_in_place(|| rig.cb.restart()).unwrap();
    }
    let mut states = Vec::new();
    for page in &pages {
        let closed = wait_closed_within(&db, page.as_str(), Duration::from_secs(90)).await;
        states.push(closed.state);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Distinct dialogs per number (a retransmitted INVITE repeats its Call-ID).
    let mut dialogs: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    for invite in b_phones.received_invites() {
        let number = invite
            .lines()
            .next()
            .and_then(|l| l.split("sip:").nth(1))
            .and_then(|u| u.split('@').next())
            .unwrap()
            .to_owned();
        let call_id = testkit::sipp::header(&invite, "Call-ID")
            .unwrap()
            .to_owned();
        dialogs.entry(number).or_default().insert(call_id);
    }
    let dialed: Vec<(&String, usize)> = dialogs.iter().map(|(n, d)| (n, d.len())).collect();
    println!(
        "kill points (ms apart): {kill_points_ms:?}; requests open at each kill: {open_at_kill:?}"
    );
    // The kills landed while the queue drained, not after.
    let during = open_at_kill.iter().filter(|n| **n > 0).count();
    assert!(
        during >= KILLS as usize / 2,
        "only {during} kills with requests open: {open_at_kill:?}"
    );
    let twice: Vec<_> = dialed.iter().filter(|(_, n)| *n > 1).collect();
    assert!(twice.is_empty(), "dialed more than once: {twice:?}");
    let missing: Vec<&String> = numbers
        .iter()
        .filter(|n| !dialogs.contains_key(*n))
        .collect();
    assert!(missing.is_empty(), "never dialed: {missing:?}");
    assert!(
        states.iter().all(|s| *s == CallbackState::Failed),
        "{states:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_visitor_books_a_slot_on_the_welcome_page() {
    let b_number = seed::user_number(89);
    let (mut rig, b_phone) = start(&b_number, "flow_answer_wait_bye.xml");
    let a = rig.request_call(&seed::user_number(88)).await.unwrap();
    wait_ringing(&rig, &a).await;

    // The busy Welcome page offers "as soon as a line is free" or a slot.
    let browser = Browser::start().await.unwrap();
    browser.client.goto(&rig_link(&rig).unwrap()).await.unwrap();
    browser
        .wait_for_text("#queue-offer", "agents are busy")
        .await
        .unwrap();
    let options = browser
        .client
        .find_all(testkit::browser::fantoccini::Locator::Css("#when option"))
        .await
        .unwrap();
    assert!(options.len() >= 2, "{} options", options.len());
    assert_eq!(
        options[0].attr("value").await.unwrap().as_deref(),
        Some("now")
    );
    let value = options[1].attr("value").await.unwrap().unwrap();
    let slot: chrono::DateTime<chrono::Utc> = value.parse().unwrap();
    browser.screenshot("welcome-queue-offer-390").await.unwrap();
    let desktop = Browser::start_with(testkit::browser::desktop_capabilities())
        .await
        .unwrap();
    desktop.client.goto(&rig_link(&rig).unwrap()).await.unwrap();
    desktop
        .wait_for_text("#queue-offer", "agents are busy")
        .await
        .unwrap();
    desktop
        .screenshot("welcome-queue-offer-1280")
        .await
        .unwrap();
    desktop.close().await.unwrap();
    options[1].click().await.unwrap();
    browser.retype("number", &b_number).await.unwrap();
    browser.click("call-me").await.unwrap();
    let url = browser
        .wait_for_url(|u| u.contains("/callbacks/"))
        .await
        .unwrap();
    let status = browser
        .wait_for_text("#status", "We will call you at")
        .await
        .unwrap();
    assert!(status.contains("(UTC time)"), "{status}");
    let db = Db::open(rig.cb.db_path()).unwrap();
    let booked = db
        .callback_by_page(&page_of(&url).parse().unwrap())
        .unwrap();
    assert_eq!(booked.kind.to_string(), "scheduled");
    assert_eq!(booked.due_at, slot);
    assert_eq!(booked.slot_end, Some(slot + chrono::Duration::minutes(30)));
    assert_eq!(booked.predicted_wait_ms, None);

    // A time the page did not list is refused and books nothing.
    let odd =
        (slot + chrono::Duration::minutes(7)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let refused = rig
        .submit_welcome_with(&seed::user_number(91), &[("when", &odd)])
        .await;
    let error = format!("{:#}", refused.unwrap_err());
    assert!(
        error.contains("422") && error.contains("That time is no longer available"),
        "{error}"
    );
    let filter = subscriber_db::CallbackFilter {
        limit: 10,
        ..subscriber_db::CallbackFilter::default()
    };
    assert_eq!(db.list_callbacks(&rig.sid, &filter).unwrap().len(), 1);

    // The line frees: the slot booking is not called before its slot.
    cancel_call(&rig, &a).await;
    rig.user.passed(Duration::from_secs(20)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(b_phone.received_invites().is_empty());
}
