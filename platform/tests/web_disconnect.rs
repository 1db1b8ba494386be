//! The Connect page follows the call to its end (seed 002 step 219) in a real browser: a status
//! published on the session's channel updates the status line in place, and the `ended` event
//! takes the browser to the Disconnect page. Until the call runtime publishes these for real
//! calls (issue 5), the test holds the platform's own `Hub` — the app runs in-process with the
//! real router, database and push channel — and publishes what the runtime will publish.
//! The stream is older than the request timeout when the events arrive: it is not cut.
#![allow(clippy::unwrap_used)]

mod web_support;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use pagepush::{Hub, HubConfig, PushEvent, SessionStatus};
use platform::config::Config;
use platform::runtime::Runtime;
use platform::{AppState, app, open_db};
use subscriber_db::CallEnd;
use testkit::Browser;
use testkit::browser::fantoccini::Locator;
use tokio_util::sync::CancellationToken;
use web_support::{COMPANY, SUBJECT, seed, signed_link};

#[tokio::test(flavor = "multi_thread")]
async fn status_updates_in_place_and_the_end_shows_the_disconnect_page() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::default();
    config.http.listen = "127.0.0.1:0".parse()?;
    config.sip.listen = "127.0.0.1:0".parse()?;
    config.database.path = dir.path().join("callbond.db");
    // Requests time out after a second; the event stream must not.
    config.http.request_timeout_secs = 1;
    let db = Arc::new(open_db(&config)?);
    let shutdown = CancellationToken::new();
    let voice = voice::Voice::start(config.voice_config(), shutdown.child_token()).await?;
    let hub = Hub::new(HubConfig::default());
    let runtime = Runtime::new(
        Arc::clone(&db),
        hub.clone(),
        voice,
        &config,
        shutdown.child_token(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let state = AppState::new(config, base.clone(), Arc::clone(&db), hub.clone(), runtime);
    let server = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            axum::serve(
                listener,
                app(state).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
        }
    });
    let seeded = seed(&db, "https://www.acme.example", false, None)?;
    let link = signed_link(
        &base,
        &seeded.secret,
        SUBJECT,
        None,
        Some("+12015550123"),
        Utc::now().timestamp() + 600,
    );

    let browser = Browser::start().await?;
    browser.client.goto(&link).await?;
    browser
        .client
        .find(Locator::Id("call-me"))
        .await?
        .click()
        .await?;
    let connect = browser.wait_for_url(|u| u.contains("/sessions/")).await?;
    browser.wait_for_text("h1", COMPANY).await?;
    let session: pagepush::SessionId = web_support::session_of(&connect).parse()?;

    // One connection, held past the request timeout, still gets the next event.
    let (events, published) = tokio::join!(
        web_support::read_events(&base, session.as_str(), None, |e| {
            e.iter().any(|e| e.event == "status")
        }),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
            hub.publish(
                &session,
                PushEvent::status(SessionStatus::AgentOnLine, "An agent is on the line."),
            )
        }
    );
    published?;
    let events = events?;
    assert!(
        events.iter().any(|e| e.data.contains("agent_on_line")),
        "the stream was cut before the event: {events:?}"
    );
    browser
        .wait_for_text("#status", "An agent is on the line.")
        .await?;
    let state = browser
        .client
        .find(Locator::Id("status"))
        .await?
        .attr("data-state")
        .await?;
    assert_eq!(state.as_deref(), Some("agent_on_line"));
    assert_eq!(
        browser.client.current_url().await?.as_str(),
        connect,
        "updated in place"
    );

    hub.publish(
        &session,
        PushEvent::Ended {
            cause: "center_hung_up".to_owned(),
            text: "The agent ended the call.".to_owned(),
        },
    )?;
    let ended = browser.wait_for_url(|u| u.ends_with("/ended")).await?;
    assert_eq!(ended, format!("{connect}/ended"));
    browser.wait_for_text("h1", "Call ended").await?;
    browser
        .wait_for_text("#status", "The agent ended the call.")
        .await?;
    browser.screenshot("disconnect").await?;
    // Going back to the Connect page lands on the Disconnect page again.
    browser.client.goto(&connect).await?;
    browser.wait_for_url(|u| u.ends_with("/ended")).await?;

    // A call the database says is over shows the Disconnect page even when the push channel
    // forgot it (e.g. after a restart).
    let call_id: subscriber_db::SessionId = session.as_str().parse()?;
    db.finish_call(
        &seeded.sid,
        &call_id,
        &CallEnd {
            state: "ended".to_owned(),
            cause: "center_hung_up".to_owned(),
            user_leg_cause: None,
            center_leg_cause: None,
        },
        Utc::now(),
    )?;
    hub.close(&session);
    browser.client.goto(&connect).await?;
    browser.wait_for_url(|u| u.ends_with("/ended")).await?;
    browser
        .wait_for_text("#status", "The call has ended.")
        .await?;

    browser.close().await?;
    shutdown.cancel();
    server.await??;
    Ok(())
}
