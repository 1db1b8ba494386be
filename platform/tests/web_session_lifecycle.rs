//! A call session's life as the browser sees it, with the app in-process (real router,
//! database, push hub and runtime) so the test can play the publisher the call runtime will be
//! (issue 5):
//! - a status published on the channel updates the Connect page in place, over a stream older
//!   than the request timeout, and the `ended` event takes the browser to the Disconnect page
//!   (seed 002 step 219), in a real Chromium;
//! - a call the push channel forgot (as after a restart) refreshes until its record ends;
//! - a call the runtime refuses to start is finished as failed and says nobody was called.
#![allow(clippy::unwrap_used)]

mod web_support;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Utc;
use pagepush::{CallStatus, EndCause, Hub, HubConfig, PushEvent};
use platform::config::Config;
use platform::runtime::Runtime;
use platform::{AppState, app, open_db};
use subscriber_db::{CallEnd, Db};
use testkit::Browser;
use tokio_util::sync::CancellationToken;
use web_support::{COMPANY, SUBJECT, Seeded, WelcomeForm, http, seed, signed_link};

/// The platform's app in this process: real router, database, push hub and runtime.
struct InProcess {
    _dir: tempfile::TempDir,
    base: String,
    db: Arc<Db>,
    hub: Hub,
    shutdown: CancellationToken,
    /// Stops only the call runtime (as when the platform is shutting down).
    runtime_stop: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The trunk the real runtime dials: it never answers, so calls stay in progress while
    /// the test plays the publisher.
    _trunk: std::net::UdpSocket,
}

impl InProcess {
    async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::default();
        config.http.listen = "127.0.0.1:0".parse()?;
        config.sip.listen = "127.0.0.1:0".parse()?;
        config.database.path = dir.path().join("callbond.db");
        // Requests time out after a second; the event stream must not.
        config.http.request_timeout_secs = 1;
        let trunk = std::net::UdpSocket::bind("127.0.0.1:0")?;
        config.trunks = vec![platform::config::TrunkConfig {
            prefix: String::new(),
            target: trunk.local_addr()?.to_string(),
            transport: platform::config::TrunkTransport::Udp,
            username: None,
            password: None,
            from_domain: None,
            no_response_ms: 5000,
        }];
        let db = Arc::new(open_db(&config)?);
        let shutdown = CancellationToken::new();
        let voice = voice::Voice::start(config.voice_config(), shutdown.child_token()).await?;
        let hub = Hub::new(HubConfig::default());
        let runtime_stop = shutdown.child_token();
        let runtime = Runtime::new(Arc::clone(&db), hub.clone(), voice, runtime_stop.clone());
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
        Ok(Self {
            _dir: dir,
            base,
            db,
            hub,
            shutdown,
            runtime_stop,
            server,
            _trunk: trunk,
        })
    }

    /// Seeds the test subscriber (site `https://www.acme.example`) and signs a link to it,
    /// valid for ten minutes, with `tel` prefilled.
    fn seed_with_link(&self, tel: Option<&str>) -> anyhow::Result<(Seeded, String)> {
        let seeded = seed(&self.db, "https://www.acme.example", false, None)?;
        let link = signed_link(
            &self.base,
            &seeded.secret,
            SUBJECT,
            None,
            tel,
            Utc::now().timestamp() + 600,
        );
        Ok((seeded, link))
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.server.await??;
        Ok(())
    }
}

/// How a call the test ends is recorded: ended with `cause`, no leg causes.
fn ended_by(cause: EndCause) -> CallEnd {
    CallEnd::before_dialing(cause)
}

#[tokio::test(flavor = "multi_thread")]
async fn status_updates_in_place_and_the_end_shows_the_disconnect_page() -> anyhow::Result<()> {
    let app = InProcess::start().await?;
    let (base, db, hub) = (app.base.clone(), Arc::clone(&app.db), app.hub.clone());
    let (seeded, link) = app.seed_with_link(Some("+12015550123"))?;

    let browser = Browser::start().await?;
    browser.client.goto(&link).await?;
    browser.click("call-me").await?;
    let connect = browser.wait_for_url(|u| u.contains("/sessions/")).await?;
    browser.wait_for_text("h1", COMPANY).await?;
    let session: pagepush::SessionId = web_support::session_of(&connect).parse()?;

    // One connection, held past the request timeout, still gets the next event.
    let (events, published) = tokio::join!(
        // The real runtime publishes "calling" first; wait for the test's own event.
        web_support::read_events(&base, session.as_str(), None, |e| {
            e.iter().any(|e| e.data.contains("agent_on_line"))
        }),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
            hub.publish(
                &session,
                PushEvent::status(CallStatus::AgentOnLine, "An agent is on the line."),
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
    let state = browser.attr("status", "data-state").await?;
    assert_eq!(state.as_deref(), Some("agent_on_line"));
    assert_eq!(
        browser.client.current_url().await?.as_str(),
        connect,
        "updated in place"
    );

    hub.publish(
        &session,
        PushEvent::Ended {
            cause: EndCause::AgentHungUp,
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
        &ended_by(EndCause::AgentHungUp),
        Utc::now(),
    )?;
    hub.close(&session);
    browser.client.goto(&connect).await?;
    browser.wait_for_url(|u| u.ends_with("/ended")).await?;
    browser
        .wait_for_text("#status", "The call has ended.")
        .await?;

    browser.close().await?;
    app.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_the_channel_forgot_refreshes_until_it_ends() -> anyhow::Result<()> {
    let app = InProcess::start().await?;
    let (seeded, link) = app.seed_with_link(None)?;
    let (status, location, body) =
        WelcomeForm::submit_number(&link, &app.base, "+12015550123").await?;
    assert_eq!(status, 303, "{body}");
    let session = web_support::session_of(&location.unwrap());
    let url = format!("{}/sessions/{session}", app.base);

    // As after a restart: the call record is open but the push channel does not know it.
    assert!(app.hub.close(&session.parse()?));
    let page = http().get(&url).send().await?.text().await?;
    assert!(
        page.contains("<meta http-equiv=\"refresh\" content=\"5\">\n</head>"),
        "refreshes even with scripts on: {page}"
    );
    assert!(!page.contains("<noscript>"), "{page}");
    assert!(!page.contains("<script"), "no stream to listen to: {page}");
    let events = http().get(format!("{url}/events")).send().await?;
    assert_eq!(events.status(), 404);

    let call_id: subscriber_db::SessionId = session.parse()?;
    app.db.finish_call(
        &seeded.sid,
        &call_id,
        &ended_by(EndCause::Cancelled),
        Utc::now(),
    )?;
    let response = http().get(&url).send().await?;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"].to_str()?,
        format!("/sessions/{session}/ended")
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_the_runtime_cannot_start_is_recorded_as_failed() -> anyhow::Result<()> {
    let app = InProcess::start().await?;
    let (seeded, link) = app.seed_with_link(None)?;
    let mut form = WelcomeForm::fetch(&link).await?;
    form.set("number", "+12015550123");
    app.runtime_stop.cancel();
    let (status, location, body) = form.submit(&app.base).await?;
    assert_eq!(status, 503, "{body}");
    assert!(location.is_none());
    assert!(body.contains("Nobody was called"), "{body}");
    let calls = app
        .db
        .list_calls(&seeded.sid, &subscriber_db::CallFilter::default())?;
    assert_eq!(calls.len(), 1);
    // The record ends with the cause that says no call was placed (before the typed record,
    // this was a separate state word "failed").
    assert_eq!(calls[0].state.to_string(), "ended");
    assert_eq!(
        calls[0].end_cause.map(|c| c.to_string()).as_deref(),
        Some("start_failed")
    );
    assert!(calls[0].ended_at.is_some(), "not left in progress");
    let kinds: Vec<String> = app
        .db
        .list_call_events(&seeded.sid, &calls[0].id)?
        .into_iter()
        .map(|e| e.kind().to_owned())
        .collect();
    assert_eq!(kinds, ["session_created", "start_failed"]);
    let session: pagepush::SessionId = calls[0].id.as_str().parse()?;
    assert!(app.hub.snapshot(&session).is_err(), "push channel closed");
    app.stop().await
}
