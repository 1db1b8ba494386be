//! Benchmark of the agent desk (issue 12): the release binary, SIPp as both phones, and two
//! headless Chromium sessions (the visitor and an agent with console claim). For each of N
//! calls (default 100) it measures, on the machine's one clock:
//!
//! - center answer → offer visible: the center leg's `answered_at` (CDR) to the moment the
//!   offer's button appears on the desk (a `MutationObserver` in the agent's page);
//! - claim → screen-pop visible: the click (as the page saw it) to the `DOMContentLoaded` of
//!   the desk its answer loads (the screen-pop is rendered by the server, so it is on screen
//!   then);
//! - push click → page visible to the visitor: the click (as the agent's page saw it) to the
//!   moment the visitor's Connect page shows the page's title (an observer in that page);
//! - receipt → agent screen: the visitor's receipt (`page_shown` row) to the desk reloaded
//!   with "shown at".
//!
//! Clicks are timed in the page (a capturing listener), not from the WebDriver command, which
//! itself takes about 170 ms here. `BENCH_DESK_DETAIL=1` prints each claim's navigation
//! timing. Prints p50 / p99 / max per measure beside the issue's targets. Not a test:
//! asserts nothing about speed. Usage: scripts/bench-desk [CALLS].

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use subscriber_db::{Db, NewAgent, SessionId};
use testkit::browser::{Browser, chrome_capabilities, desktop_capabilities};
use testkit::flow::{Rig, RigOptions};
use testkit::seed::{self, PAGE_TITLES, Seed};
use testkit::sipp::SippOptions;

const PASSWORD: &str = "bench-Desk-Secret-1";

/// Makes the page note when the next click happens (epoch ms, in `sessionStorage`, which
/// outlives the navigation the click starts): the moment the agent's click reaches the page,
/// without WebDriver's own command time (about 170 ms here) before it.
async fn arm_click_clock(browser: &Browser) {
    browser
        .client
        .execute(
            "sessionStorage.removeItem('bench-click');              document.addEventListener('click', () =>                  sessionStorage.setItem('bench-click', String(Date.now())),                  { capture: true, once: true });",
            vec![],
        )
        .await
        .unwrap();
}

/// When the click [`arm_click_clock`] watched for happened.
async fn clicked_at(browser: &Browser) -> f64 {
    browser
        .client
        .execute(
            "return Number(sessionStorage.getItem('bench-click'));",
            vec![],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

/// Resolves with the epoch milliseconds at which an element matching `css` whose text
/// contains `needle` is first in the page (at once if it already is).
async fn appears_at(browser: &Browser, css: &str, needle: &str) -> f64 {
    let script = r#"
        const [css, needle, done] = arguments;
        const found = () => Array.from(document.querySelectorAll(css))
            .some(e => e.textContent.includes(needle));
        if (found()) { done(Date.now()); return; }
        const watch = new MutationObserver(() => {
            if (found()) { watch.disconnect(); done(Date.now()); }
        });
        watch.observe(document.documentElement, { subtree: true, childList: true, characterData: true });
    "#;
    browser
        .client
        .execute_async(script, vec![json!(css), json!(needle)])
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

/// The current document's time origin (epoch ms): a new document has a new one.
async fn origin(browser: &Browser) -> f64 {
    browser
        .client
        .execute("return performance.timeOrigin;", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

/// The `DOMContentLoaded` (epoch ms) of the first document after the one whose time origin
/// is `before` that has an element matching `css`, polled every 10 ms (the desk reloads
/// itself no sooner than 40 ms after news, so the first such document is the one caught).
async fn first_load_after(browser: &Browser, before: f64, css: &str) -> f64 {
    let script = "const n = performance.getEntriesByType('navigation')[0];         return [performance.timeOrigin, n ? performance.timeOrigin + n.domContentLoadedEventEnd : 0,                 document.querySelector(arguments[0]) !== null, document.readyState];";
    for _ in 0..3000 {
        if let Ok(v) = browser.client.execute(script, vec![json!(css)]).await {
            let origin = v[0].as_f64().unwrap_or(before);
            let loaded = v[1].as_f64().unwrap_or(0.0);
            if origin != before && v[2].as_bool() == Some(true) && loaded > 0.0 {
                return loaded;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no new document with {css} came");
}

/// The current page's `DOMContentLoaded` as epoch milliseconds.
async fn loaded_at(browser: &Browser) -> f64 {
    browser
        .client
        .execute(
            "const n = performance.getEntriesByType('navigation')[0]; \
             return performance.timeOrigin + n.domContentLoadedEventEnd;",
            vec![],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let exe = args
        .next()
        .expect("usage: bench_desk CALLBOND_BINARY [CALLS]");
    let calls: u32 = args.next().map_or(100, |n| n.parse().expect("CALLS"));
    let rig = Rig::start(
        &exe,
        RigOptions {
            center_scenario: "flow_answer_wait_bye.xml",
            center: SippOptions {
                calls,
                timeout: Duration::from_secs(3600),
                ..SippOptions::default()
            },
            user: SippOptions {
                calls,
                timeout: Duration::from_secs(3600),
                ..SippOptions::default()
            },
            seed: Seed::with_policy(json!({ "sign_on": { "mode": "console" } })),
            max_calls_per_ip_per_hour: 100_000,
            ..RigOptions::default()
        },
    )
    .unwrap();
    let db = Db::open(rig.cb.db_path()).unwrap();
    let new: NewAgent = serde_json::from_value(json!({
        "login": "ann", "display_name": "Ann Lee", "password": PASSWORD,
    }))
    .unwrap();
    db.create_agent(&rig.sid, &new, chrono::Utc::now()).unwrap();
    let page_1 = db
        .list_pages(&rig.sid)
        .unwrap()
        .into_iter()
        .find(|p| p.title.as_str() == PAGE_TITLES[0])
        .unwrap()
        .id
        .0;
    let agent = Browser::start_with(desktop_capabilities()).await.unwrap();
    agent
        .sign_in_to_console(&rig.cb.url("/console"), "acme", "ann", PASSWORD)
        .await
        .unwrap();
    let visitor = Browser::start_with(chrome_capabilities()).await.unwrap();

    let (mut offer, mut pop, mut push, mut receipt) = (vec![], vec![], vec![], vec![]);
    for n in 0..calls {
        // The Welcome form is not measured here: it is sent over HTTP, and the visitor's
        // Chromium watches the call's Connect page.
        let number = seed::user_number(1000 + n);
        let session: SessionId = rig.request_call(&number).await.unwrap();
        visitor
            .client
            .goto(&rig.cb.url(&format!("/sessions/{}", session.as_str())))
            .await
            .unwrap();
        let offered = rig
            .wait_row(&session, "offered", Duration::from_secs(30))
            .await
            .unwrap();
        let reference = offered.detail()["reference"].as_str().unwrap().to_owned();
        let seen = appears_at(&agent, &format!("#claim-{reference}"), &reference).await;
        let call = db.get_call(&rig.sid, &session).unwrap();
        let answered = call
            .legs
            .iter()
            .rev()
            .find(|l| l.leg.to_string() == "center")
            .and_then(|l| l.answered_at)
            .unwrap();
        offer.push(seen - answered.timestamp_millis() as f64);

        let before = origin(&agent).await;
        arm_click_clock(&agent).await;
        agent.click(&format!("claim-{reference}")).await.unwrap();
        let loaded = first_load_after(&agent, before, "#pop-number").await;
        agent.wait_for_text("#pop-number", &number).await.unwrap();
        let clicked = clicked_at(&agent).await;
        if std::env::var("BENCH_DESK_DETAIL").is_ok() {
            let detail = agent
                .client
                .execute(
                    "const n = performance.getEntriesByType('navigation')[0];                      return [performance.timeOrigin, n.redirectStart, n.redirectEnd, n.fetchStart,                              n.requestStart, n.responseStart, n.responseEnd, n.domContentLoadedEventEnd];",
                    vec![],
                )
                .await
                .unwrap();
            println!("claim: clicked {clicked} navigation {detail}");
        }
        pop.push(loaded - clicked);
        agent.wait_for_text("#pop-state", "bridged").await.unwrap();

        arm_click_clock(&agent).await;
        let button = format!("push-{page_1}");
        let (shown, clicked_ok) = tokio::join!(
            appears_at(&visitor, "#page-title", PAGE_TITLES[0]),
            agent.click(&button),
        );
        clicked_ok.unwrap();
        let clicked = clicked_at(&agent).await;
        push.push(shown - clicked);
        // The desk that first lists the receipt.
        let row = rig
            .wait_row(&session, "page_shown", Duration::from_secs(10))
            .await
            .unwrap();
        let mut shown_on_desk = None;
        for _ in 0..3000 {
            let text = agent.text_of("pushed").await.unwrap_or_default();
            if text.contains("shown at") {
                shown_on_desk = Some(loaded_at(&agent).await);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        receipt.push(
            shown_on_desk.expect("the receipt reached the desk") - row.at.timestamp_millis() as f64,
        );

        agent.click("hangup-button").await.unwrap();
        rig.wait_finished(&session, Duration::from_secs(30))
            .await
            .unwrap();
        agent
            .wait_for_text("#no-offers", "No call is waiting")
            .await
            .unwrap();
    }
    println!("agent desk, {calls} calls (release binary, SIPp phones, two headless Chromium)");
    println!("| measure | p50 ms | p99 ms | max ms | target p99 |");
    println!("|---|---:|---:|---:|---:|");
    for (name, values, target) in [
        ("center answer → offer visible", &mut offer, "≤ 200"),
        ("claim → screen-pop visible", &mut pop, "≤ 100"),
        (
            "push click → page visible to the visitor",
            &mut push,
            "≤ 300",
        ),
        ("receipt → agent screen", &mut receipt, "-"),
    ] {
        values.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {target} |",
            percentile(values, 50.0),
            percentile(values, 99.0),
            values.last().copied().unwrap_or(f64::NAN),
        );
    }
    visitor.close().await.unwrap();
    agent.close().await.unwrap();
}
