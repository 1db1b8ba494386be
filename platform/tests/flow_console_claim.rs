//! Console claim (issue 12 item 2b, policy `sign_on: console`): when the center answers, the
//! call is offered live on the console of every signed-in agent of that subscriber with a
//! short call reference; two agents claiming it at once in two real Chromium sessions, exactly
//! one wins (the call bridges and its record names the winner) and the other is told it was
//! taken. An agent of another subscriber never sees the offer and cannot claim it by its
//! reference. Real binary, SIPp as both phones. Screenshots: console-offer-390/1280,
//! console-taken-*, console-pop-* in test-output/.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::json;
use subscriber_db::{Db, NewAgent, NewSubscriber};
use testkit::browser::{Browser, PHONE_WIDTH, chrome_capabilities, desktop_capabilities};
use testkit::flow::{Rig, RigOptions, assert_in_order, hidden_inputs, kinds};
use testkit::seed::{self, Seed};
use testkit::sipp::SippOptions;

const PASSWORD: &str = "console-Secret-88";

/// Creates an agent; returns its id.
fn agent(db: &Db, sid: &str, login: &str, name: &str) -> i64 {
    let new: NewAgent = serde_json::from_value(json!({
        "login": login, "display_name": name, "password": PASSWORD,
    }))
    .unwrap();
    db.create_agent(&sid.parse().unwrap(), &new, chrono::Utc::now())
        .unwrap()
        .id
        .0
}

/// The CSRF token of the first form on a page.
fn csrf_of(html: &str) -> String {
    hidden_inputs(html)
        .into_iter()
        .find(|(n, _)| n == "csrf")
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread")]
async fn two_agents_race_for_one_call_and_exactly_one_wins() {
    let mut rig = Rig::start(
        env!("CARGO_BIN_EXE_callbond"),
        RigOptions {
            center_scenario: "flow_center_console_agent.xml",
            center: SippOptions::pausing(14_000),
            seed: Seed::with_policy(json!({ "sign_on": { "mode": "console" } })),
            ..RigOptions::default()
        },
    )
    .unwrap();
    let db = Db::open(rig.cb.db_path()).unwrap();
    let ann = agent(&db, "acme", "ann", "Ann Lee");
    let bob = agent(&db, "acme", "bob", "Bob Roe");
    let other: NewSubscriber =
        serde_json::from_value(json!({"id": "globex", "display_name": "Globex"})).unwrap();
    db.create_subscriber(&other, chrono::Utc::now()).unwrap();
    agent(&db, "globex", "eve", "Eve Other");

    let console = rig.cb.url("/console");
    let ann_browser = Browser::start_with(chrome_capabilities()).await.unwrap();
    let bob_browser = Browser::start_with(desktop_capabilities()).await.unwrap();
    ann_browser
        .sign_in_to_console(&console, "acme", "ann", PASSWORD)
        .await
        .unwrap();
    bob_browser
        .sign_in_to_console(&console, "acme", "bob", PASSWORD)
        .await
        .unwrap();
    let eve = rig.console_client("globex", "eve", PASSWORD).await.unwrap();

    let number = seed::user_number(31);
    let session = rig.request_call(&number).await.unwrap();
    rig.wait_state(&session, "awaiting_sign_on", Duration::from_secs(20))
        .await
        .unwrap();
    let answered = Instant::now();
    // The offer arrives by the push channel on both consoles, without a reload.
    let seen = ann_browser
        .wait_for_text("#offer-list", "billing")
        .await
        .unwrap();
    let offer_ms = answered.elapsed().as_millis();
    bob_browser
        .wait_for_text("#offer-list", "billing")
        .await
        .unwrap();
    let reference: String = seen.split_whitespace().next().unwrap().to_owned();
    assert!(
        reference.len() == 3 && reference.bytes().all(|b| b.is_ascii_digit()),
        "{seen:?}"
    );
    // The reference on the console is the one the call record offered.
    let offered = rig
        .wait_row(&session, "offered", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(offered.detail(), json!({ "reference": reference }));
    // The visitor's number is masked in the offer: its last three digits only.
    assert!(!seen.contains(&number[1..]), "{seen:?}");
    assert!(seen.contains(&number[number.len() - 3..]), "{seen:?}");
    for (browser, width) in [(&ann_browser, PHONE_WIDTH), (&bob_browser, 1280)] {
        browser
            .screenshot(&format!("console-offer-{width}"))
            .await
            .unwrap();
    }

    // Another subscriber's agent: no offer on the desk, and the reference claims nothing.
    let eve_desk = eve
        .get(&console)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(eve_desk.contains("No call is waiting"), "{eve_desk}");
    assert!(
        !eve_desk.contains(&format!("claim-{reference}")),
        "{eve_desk}"
    );
    let eve_csrf = csrf_of(&eve_desk);
    let refused = eve
        .post(rig.cb.url("/console/claim"))
        .form(&[
            ("csrf", eve_csrf.as_str()),
            ("reference", reference.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 404);
    let text = refused.text().await.unwrap();
    assert!(text.contains(&format!("No call with reference {reference} is waiting")));

    // The race: both type the reference they heard and claim at the same moment.
    for browser in [&ann_browser, &bob_browser] {
        browser.retype("reference", &reference).await.unwrap();
    }
    let claimed = Instant::now();
    let (a, b) = tokio::join!(
        ann_browser.click("claim-reference-button"),
        bob_browser.click("claim-reference-button"),
    );
    a.unwrap();
    b.unwrap();
    let outcome = |browser: &'static str| {
        let browser = if browser == "ann" {
            &ann_browser
        } else {
            &bob_browser
        };
        async move {
            for _ in 0..200 {
                if browser.text_of("pop").await.is_some() {
                    return "won";
                }
                if let Some(notice) = browser.text_of("notice").await
                    && notice.contains("was taken by another agent")
                {
                    return "taken";
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            "neither"
        }
    };
    let (ann_got, bob_got) = tokio::join!(outcome("ann"), outcome("bob"));
    let pop_ms = claimed.elapsed().as_millis();
    let mut got = [ann_got, bob_got];
    got.sort_unstable();
    assert_eq!(got, ["taken", "won"], "ann {ann_got}, bob {bob_got}");
    let (winner, winner_browser, loser_browser) = if ann_got == "won" {
        (ann, &ann_browser, &bob_browser)
    } else {
        (bob, &bob_browser, &ann_browser)
    };
    let loser_notice = loser_browser
        .wait_for_text("#notice", "taken")
        .await
        .unwrap();
    assert_eq!(
        loser_notice,
        format!("Call {reference} was taken by another agent.")
    );
    // The winner's screen-pop: the full number, the subject.
    let full = winner_browser
        .wait_for_text("#pop-number", &number)
        .await
        .unwrap();
    assert_eq!(full, number);
    // The page the visitor came from (the rig's Welcome request carries it as Referer).
    assert_eq!(
        winner_browser.text_of("pop-page").await.unwrap(),
        format!("{}/tariffs", seed::ORIGIN)
    );
    for browser in [&ann_browser, &bob_browser] {
        let width = if std::ptr::eq(browser, &ann_browser) {
            PHONE_WIDTH
        } else {
            1280
        };
        let state = if std::ptr::eq(browser, winner_browser) {
            "pop"
        } else {
            "taken"
        };
        browser
            .screenshot(&format!("console-{state}-{width}"))
            .await
            .unwrap();
    }
    println!(
        "center answer → offer visible: {offer_ms} ms; claim click → screen-pop or answer: {pop_ms} ms"
    );

    let call = rig
        .wait_finished(&session, Duration::from_secs(40))
        .await
        .unwrap();
    assert_eq!(call.agent.as_ref().unwrap().id.0, winner);
    let timeline = rig.timeline(&session).unwrap();
    let steps = kinds(&timeline);
    assert_in_order(
        &steps,
        &[
            "sign_on_waiting",
            "offered",
            "claimed",
            "sign_on_ok",
            "whisper_start",
            "bridged",
        ],
    );
    assert_eq!(steps.iter().filter(|k| **k == "claimed").count(), 1);
    let claim = timeline.iter().find(|e| e.kind() == "claimed").unwrap();
    assert_eq!(
        claim.detail(),
        json!({ "agent_id": winner, "how": "console" })
    );
    rig.center.passed(Duration::from_secs(20)).await.unwrap();
    ann_browser.close().await.unwrap();
    bob_browser.close().await.unwrap();
}
