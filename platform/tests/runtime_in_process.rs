//! The call runtime driven in-process (no HTTP): a real `Voice` on loopback, the real
//! database file and push hub, and SIPp as the user's phone and the call center. It proves
//! the runtime alone — route → TAG2 → both legs → sign-on → whisper → bridge → pages →
//! hang-up → record — independent of the web front that normally starts calls.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pagepush::{Delivered, Hub, HubConfig, PushEvent};
use platform::config::Config;
use platform::runtime::{CallRequest, Runtime};
use subscriber_db::{Db, NewCall, SessionId};
use testkit::seed::{self, Seed};
use testkit::sipp::{Sipp, SippOptions, header};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_runs_a_user_first_call_end_to_end() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,platform=debug,rsipstack=warn")
        .with_test_writer()
        .try_init();
    let mut user = Sipp::uas("flow_answer_wait_bye.xml", SippOptions::default()).unwrap();
    let mut center = Sipp::uas(
        "flow_center_agent.xml",
        SippOptions {
            pause_ms: 4000,
            ..SippOptions::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("callbond.db");
    let sid = seed::seed(&db_path, &Seed::default()).unwrap();
    let toml = format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\n[database]\npath = {db_path:?}\n{}",
        seed::trunks_config(user.addr, center.addr)
    );
    let config = Config::from_toml(&toml, &dir.path().join("callbond.toml")).unwrap();
    let db = Arc::new(Db::open(&db_path).unwrap());
    let shutdown = CancellationToken::new();
    let voice = voice::Voice::start(config.voice_config(), shutdown.child_token())
        .await
        .unwrap();
    let hub = Hub::new(HubConfig::default());
    let runtime = Runtime::new(db.clone(), hub.clone(), voice, shutdown.child_token());

    let session = SessionId::new_random();
    let user_number = seed::user_number(1);
    let new_call: NewCall = serde_json::from_value(serde_json::json!({
        "id": session.as_str(), "subject_code": seed::SUBJECT, "whisper_code": "4711",
        "user_number": user_number, "client_ip": "127.0.0.1", "state": "created",
        "session_ref": "1618033988",
    }))
    .unwrap();
    db.create_call(&sid, &new_call, chrono::Utc::now()).unwrap();
    let push_session: pagepush::SessionId = session.as_str().parse().unwrap();
    hub.open(&push_session);
    let mut stream = Box::pin(hub.subscribe(&push_session, None).unwrap());
    runtime
        .start(CallRequest {
            subscriber: sid.clone(),
            session: session.clone(),
            session_ref: new_call.session_ref.clone(),
            drawn_dnis: None,
            subject: new_call.subject_code.clone(),
            whisper_code: new_call.whisper_code.clone(),
            user_number: new_call.user_number.clone(),
            page: Some("/tariffs".into()),
            consent_key: None,
        })
        .unwrap();

    let mut events = Vec::new();
    let collect = async {
        while let Some(Delivered::Event { event, .. }) = stream.next().await {
            let end = matches!(event, PushEvent::Ended { .. });
            events.push(event);
            if end {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), collect)
        .await
        .expect("the call ends within 60 s");
    println!("push events: {events:?}");
    center.passed(Duration::from_secs(20)).await.unwrap();
    user.passed(Duration::from_secs(20)).await.unwrap();
    let pages: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            PushEvent::Page { title, .. } => Some(title.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(pages, seed::PAGE_TITLES, "events {events:?}");
    assert!(
        matches!(events.last(), Some(PushEvent::Ended { cause, .. }) if cause.to_string() == "agent_hung_up"),
        "{events:?}"
    );
    let invite = &center.received_invites()[0];
    assert!(
        invite.starts_with(&format!("INVITE sip:{}@", seed::DNIS)),
        "{invite}"
    );
    assert!(
        header(invite, "From").unwrap().contains(&user_number),
        "{invite}"
    );
    assert!(
        header(invite, "P-Asserted-Identity")
            .unwrap()
            .contains(&user_number)
    );
    let uui = header(invite, "User-to-User").unwrap();
    let want = hex::encode(format!("wc=4711;ref={}", new_call.session_ref));
    assert!(
        uui.starts_with(&want) && uui.ends_with(";encoding=hex"),
        "{uui}"
    );

    // The record closes once both legs confirmed their end.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while db.count_active_calls(&sid).unwrap() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "call record never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let call = db.get_call(&sid, &session).unwrap();
    assert_eq!(
        call.end_cause.map(|c| c.to_string()).as_deref(),
        Some("agent_hung_up")
    );
    assert_eq!(
        call.center_end_cause.map(|c| c.to_string()).as_deref(),
        Some("remote_hangup")
    );
    assert_eq!(
        call.user_end_cause.map(|c| c.to_string()).as_deref(),
        Some("local_hangup")
    );
    let kinds: Vec<String> = db
        .list_call_events(&sid, &session)
        .unwrap()
        .into_iter()
        .map(|e| e.kind().to_owned())
        .collect();
    println!("timeline: {kinds:?}");
    assert_eq!(runtime.active_calls(), 0);
    shutdown.cancel();
}
