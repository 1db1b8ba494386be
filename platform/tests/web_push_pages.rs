//! Page push (seed 002 steps 216–217) through the admin API into a real browser: the pushed
//! page appears in the Connect page's sandboxed frame, a second push replaces it, a tab that
//! goes away and comes back shows what was pushed meanwhile; a raw event-stream client that
//! reconnects with `Last-Event-ID` gets exactly the events it missed. Tenant isolation and
//! error answers of the push API.
#![allow(clippy::unwrap_used)]

mod web_support;

use serde_json::json;
use testkit::Browser;
use testkit::browser::fantoccini::Locator;
use web_support::{Fixture, Setup, USER_NUMBER, click_through, read_events, request_call};

async fn frame_text(browser: &Browser, css: &str) -> anyhow::Result<String> {
    browser.client.clone().enter_frame(0).await?;
    let text = browser.wait_for_text(css, "page").await;
    browser.client.clone().enter_parent_frame().await?;
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn pushed_pages_show_in_the_browser() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::default()).await?;
    let browser = Browser::start().await?;
    let session = click_through(&fx, &browser, None).await?;
    let connect_url = browser.client.current_url().await?.to_string();

    let (status, body) = fx.push(&session, json!({ "page_id": fx.pages[0].0 })).await;
    assert_eq!(status, 200, "{body}");
    browser.wait_for_text("#page-title", "Your bill").await?;
    let sandbox = browser.attr("page-frame", "sandbox").await?;
    assert_eq!(sandbox.as_deref(), Some(pagepush::frame_sandbox_for_html()));
    assert!(
        frame_text(&browser, "#content")
            .await?
            .contains("First page")
    );

    // A second push, by the agent's digits this time, replaces the first.
    let (status, body) = fx.push(&session, json!({ "digits": "2" })).await;
    assert_eq!(status, 200, "{body}");
    browser.wait_for_text("#page-title", "Payment plan").await?;
    assert!(
        frame_text(&browser, "#content")
            .await?
            .contains("Second page")
    );
    let frames = browser.client.find_all(Locator::Css("iframe")).await?;
    assert_eq!(frames.len(), 1, "one frame, showing the latest page");
    browser.screenshot("connect-pushed-page").await?;

    // The tab goes away (its event stream closes), a page is pushed meanwhile, it comes back.
    browser.client.goto(&fx.site.url()).await?;
    let (status, first_again) = fx.push(&session, json!({ "page_id": fx.pages[0].0 })).await;
    assert_eq!(status, 200);
    browser.client.goto(&connect_url).await?;
    browser.wait_for_text("#page-title", "Your bill").await?;
    assert!(
        frame_text(&browser, "#content")
            .await?
            .contains("First page")
    );
    // Live again: the next push arrives over the new stream with the next id, once.
    let (status, second_again) = fx.push(&session, json!({ "digits": "2" })).await;
    assert_eq!(status, 200);
    browser.wait_for_text("#page-title", "Payment plan").await?;
    let last_seen = browser
        .client
        .find(Locator::Css("body"))
        .await?
        .attr("data-last-event-id")
        .await?;
    assert_eq!(
        last_seen,
        Some(second_again["event_id"].to_string()),
        "the browser's stream resumed after event {}",
        first_again["event_id"]
    );

    // Every push is on the call's timeline with its event id.
    let call_id: subscriber_db::SessionId = session.parse()?;
    let pushed: Vec<_> = fx
        .db()
        .list_call_events(&fx.sid, &call_id)?
        .into_iter()
        .filter(|e| e.kind() == "page_pushed")
        .collect();
    assert_eq!(pushed.len(), 4, "{pushed:?}");
    assert!(pushed.iter().all(|e| e.detail()["source"] == "api"));
    assert_eq!(pushed[3].detail()["event_id"], second_again["event_id"]);
    browser.close().await?;
    Ok(())
}

fn page_ids(events: &[web_support::SseEvent]) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e.event == "page")
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.data).unwrap()["page_id"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reconnecting_stream_loses_and_repeats_nothing() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::default()).await?;
    let session = request_call(&fx, USER_NUMBER).await?;
    let base = fx.cb.url("");
    let (p1, p2) = (fx.pages[0].0, fx.pages[1].0);

    for page in [p1, p2] {
        let (status, body) = fx.push(&session, json!({ "page_id": page })).await;
        assert_eq!(status, 200, "{body}");
    }
    let first = read_events(&base, &session, None, |e| page_ids(e).len() >= 2).await?;
    assert_eq!(page_ids(&first), vec![p1, p2]);
    let last = first.iter().filter_map(|e| e.id).max().unwrap();

    // Disconnected: two more pushes happen.
    let mut pushed_ids = Vec::new();
    for page in [p2, p1] {
        let (status, body) = fx.push(&session, json!({ "page_id": page })).await;
        assert_eq!(status, 200, "{body}");
        pushed_ids.push(body["event_id"].as_u64().unwrap());
    }
    let resumed = read_events(&base, &session, Some(last), |e| page_ids(e).len() >= 2).await?;
    assert_eq!(
        page_ids(&resumed),
        vec![p2, p1],
        "exactly the missed pages, in order"
    );
    let ids: Vec<u64> = resumed.iter().filter_map(|e| e.id).collect();
    assert!(
        ids.iter().all(|id| *id > last),
        "nothing repeated: {ids:?} after {last}"
    );
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "nothing lost: {ids:?}"
    );
    assert!(
        pushed_ids.iter().all(|id| ids.contains(id)),
        "{pushed_ids:?} in {ids:?}"
    );

    // A live event arrives on an open stream too (not only on replay).
    let live_session = session.clone();
    let (events, push) = tokio::join!(
        read_events(&base, &live_session, Some(*ids.last().unwrap()), |e| {
            !page_ids(e).is_empty()
        }),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            fx.push(&session, json!({ "digits": "1" })).await
        }
    );
    assert_eq!(push.0, 200);
    assert_eq!(page_ids(&events?), vec![p1]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_push_api_answers_only_for_own_calls() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::default()).await?;
    let session = request_call(&fx, USER_NUMBER).await?;
    let db = fx.db();
    let now = chrono::Utc::now();
    let other: subscriber_db::SubscriberId = "globex".parse()?;
    db.create_subscriber(
        &subscriber_db::NewSubscriber {
            id: other.clone(),
            display_name: "Globex".parse()?,
            active: true,
        },
        now,
    )?;
    let other_key = db
        .create_subscriber_key(&other, now)?
        .token
        .expose()
        .to_owned();
    let client = reqwest::Client::new();
    let push = |key: String, body: serde_json::Value, session: String| {
        let client = client.clone();
        let url = fx.cb.url(&format!("/admin/v1/calls/{session}/push"));
        async move {
            let r = client
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };

    // Another subscriber's key: as if the call did not exist, and nothing is pushed.
    let (status, body) = push(other_key, json!({ "digits": "1" }), session.clone()).await;
    assert_eq!(status, 404, "{body}");
    // No key, a wrong key.
    let r = client
        .post(fx.cb.url(&format!("/admin/v1/calls/{session}/push")))
        .json(&json!({ "digits": "1" }))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let (status, _) = push(
        "cbk_nonsense".into(),
        json!({ "digits": "1" }),
        session.clone(),
    )
    .await;
    assert_eq!(status, 401);
    // Unknown call, unknown page, bad bodies.
    let (status, _) = push(fx.key.clone(), json!({ "digits": "1" }), "0".repeat(32)).await;
    assert_eq!(status, 404);
    let (status, body) = push(fx.key.clone(), json!({ "digits": "9" }), session.clone()).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = push(fx.key.clone(), json!({ "page_id": 99999 }), session.clone()).await;
    assert_eq!(status, 404, "{body}");
    for bad in [
        json!({}),
        json!({ "digits": "1", "page_id": 1 }),
        json!({ "digits": "x" }),
        json!({ "url": "y" }),
    ] {
        let (status, body) = push(fx.key.clone(), bad.clone(), session.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 10,
            "{body}"
        );
    }
    let call_id: subscriber_db::SessionId = session.parse()?;
    let pushed = db
        .list_call_events(&fx.sid, &call_id)?
        .into_iter()
        .filter(|e| e.kind() == "page_pushed")
        .count();
    assert_eq!(pushed, 0, "refused pushes left no trace");

    // The operator may push to any call; the subscriber to its own.
    let (status, body) = push(
        fx.cb.operator_key.clone(),
        json!({ "digits": "1" }),
        session.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = push(
        fx.key.clone(),
        json!({ "page_id": fx.pages[1].0 }),
        session.clone(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["url"],
        json!(format!("/sessions/{session}/pages/{}", fx.pages[1].0))
    );
    Ok(())
}
