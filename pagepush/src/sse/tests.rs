//! SSE wire format over a real axum server and a plain TCP client.

// In tests a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::event::PushEvent;
use crate::hub::HubConfig;
use words::CallStatus;

#[test]
fn last_event_id_header_parsing_never_fails() {
    let cases: &[(&[u8], Option<u64>)] = &[
        (b"7", Some(7)),
        (b" 42 ", Some(42)),
        (b"0", Some(0)),
        (b"", None),
        (b"-1", None),
        (b"+3", None),
        (b"1 2", None),
        (b"abc", None),
        (b"99999999999999999999999", None),
        (b"\xff\xfe", None),
        (b"1e3", None),
    ];
    for (raw, want) in cases {
        let value = HeaderValue::from_bytes(raw).unwrap();
        assert_eq!(parse_last_event_id(Some(&value)), *want, "{raw:?}");
    }
    assert_eq!(parse_last_event_id(None), None);
}

async fn events(State(hub): State<Hub>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let Ok(session) = id.parse::<SessionId>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match sse_response(&hub, &session, headers.get("last-event-id")) {
        Ok(sse) => sse.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn serve(hub: Hub) -> std::net::SocketAddr {
    let app = Router::new()
        .route("/sessions/{id}/events", get(events))
        .with_state(hub);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends a GET and returns (head, de-chunked body, whether the server finished the response)
/// read until the server closes or `limit`.
async fn get_raw(
    addr: std::net::SocketAddr,
    path: &str,
    extra: &str,
    limit: Duration,
) -> (String, String, bool) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{extra}\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let finished = tokio::time::timeout(limit, tcp.read_to_end(&mut raw))
        .await
        .is_ok();
    let raw = String::from_utf8(raw).unwrap();
    let (head, mut rest) = raw.split_once("\r\n\r\n").unwrap();
    let mut body = String::new();
    // RFC 9112 §7.1 chunked coding: size line, data, CRLF; a 0 size ends the body.
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
    (head.to_owned(), body, finished)
}

fn field_lines<'a>(body: &'a str, field: &str) -> Vec<&'a str> {
    let prefix = format!("{field}:");
    body.lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .map(str::trim)
        .collect()
}

#[tokio::test]
async fn stream_carries_ids_kinds_json_and_replays_after_last_event_id() {
    let hub = Hub::new(HubConfig::default());
    let s: SessionId = "abcdef0123456789abcdef0123456789".parse().unwrap();
    hub.open(&s);
    hub.publish(&s, PushEvent::status(CallStatus::Calling, "Calling you"))
        .unwrap();
    hub.publish(
        &s,
        PushEvent::Page {
            page_id: 9,
            title: "Offer".into(),
            url: "/x".into(),
        },
    )
    .unwrap();
    hub.publish(
        &s,
        PushEvent::Ended {
            cause: words::EndCause::AgentHungUp,
            text: "Bye".into(),
        },
    )
    .unwrap();
    let addr = serve(hub).await;
    let path = format!("/sessions/{s}/events");

    let (head, body, finished) = get_raw(addr, &path, "", Duration::from_secs(5)).await;
    assert!(finished, "the stream must end after `ended`");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );
    assert_eq!(field_lines(&body, "retry"), vec!["1000"]);
    assert_eq!(field_lines(&body, "id"), vec!["1", "2", "3"]);
    assert_eq!(field_lines(&body, "event"), vec!["status", "page", "ended"]);
    let data: Vec<serde_json::Value> = field_lines(&body, "data")
        .into_iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(data[0]["state"], "calling");
    assert_eq!(data[1]["page_id"], 9);
    assert_eq!(data[1]["url"], "/x");
    assert_eq!(data[2]["kind"], "ended");

    let (_, body, _) = get_raw(addr, &path, "Last-Event-ID: 1\r\n", Duration::from_secs(5)).await;
    assert_eq!(field_lines(&body, "id"), vec!["2", "3"]);
    let (_, body, _) = get_raw(
        addr,
        &path,
        "Last-Event-ID: junk\r\n",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(field_lines(&body, "id"), vec!["1", "2", "3"]);

    let (head, _, _) = get_raw(
        addr,
        "/sessions/ffffffffffffffffffffffffffffffff/events",
        "",
        Duration::from_secs(5),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[tokio::test]
async fn idle_stream_sends_keepalive_comments() {
    let hub = Hub::new(HubConfig {
        keepalive: Duration::from_millis(50),
        ..HubConfig::default()
    });
    let s: SessionId = "11111111111111111111111111111111".parse().unwrap();
    hub.open(&s);
    let addr = serve(hub).await;
    let (_, body, _) = get_raw(
        addr,
        &format!("/sessions/{s}/events"),
        "",
        Duration::from_millis(400),
    )
    .await;
    let comments = body.lines().filter(|l| l.starts_with(':')).count();
    assert!(comments >= 3, "expected keep-alive comments, got {body:?}");
    assert!(field_lines(&body, "id").is_empty());
}
