//! Hub behaviour: replay, fan-out, reconnect, lag, end of stream.

// In tests a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures::StreamExt;

use super::*;

fn sid(n: u8) -> SessionId {
    format!("{n:032x}").parse().unwrap()
}

fn page(n: i64) -> PushEvent {
    PushEvent::Page {
        page_id: n,
        title: format!("p{n}"),
        url: format!("/p/{n}"),
    }
}

fn ended() -> PushEvent {
    PushEvent::Ended {
        cause: words::EndCause::UserHungUp,
        text: "Call ended".into(),
    }
}

fn ids(items: &[Delivered]) -> Vec<EventId> {
    items
        .iter()
        .map(|d| match d {
            Delivered::Event { id, .. } => *id,
            Delivered::Reload { .. } => panic!("unexpected reload"),
        })
        .collect()
}

fn hub_with(history_limit: usize) -> Hub {
    Hub::new(HubConfig {
        history_limit,
        ..HubConfig::default()
    })
}

#[tokio::test]
async fn replay_after_last_event_id_gives_exactly_the_missing_events() {
    let hub = hub_with(256);
    let s = sid(1);
    hub.open(&s);
    for n in 1..=5 {
        assert_eq!(hub.publish(&s, page(n)).unwrap(), n as u64);
    }
    hub.publish(&s, ended()).unwrap();
    let got: Vec<_> = hub.subscribe(&s, Some(3)).unwrap().collect().await;
    assert_eq!(ids(&got), vec![4, 5, 6]);
    assert_eq!(
        got[0],
        Delivered::Event {
            id: 4,
            event: page(4)
        }
    );
    // From the start, and past the end (stream ends at once because the session ended).
    let all: Vec<_> = hub.subscribe(&s, None).unwrap().collect().await;
    assert_eq!(ids(&all), vec![1, 2, 3, 4, 5, 6]);
    let none: Vec<_> = hub.subscribe(&s, Some(6)).unwrap().collect().await;
    assert!(none.is_empty());
}

#[tokio::test]
async fn two_subscribers_both_see_all_live_events_then_end() {
    let hub = hub_with(256);
    let s = sid(2);
    hub.open(&s);
    let a = tokio::spawn(hub.subscribe(&s, None).unwrap().collect::<Vec<_>>());
    let b = tokio::spawn(hub.subscribe(&s, None).unwrap().collect::<Vec<_>>());
    for n in 1..=50 {
        hub.publish(&s, page(n)).unwrap();
        tokio::task::yield_now().await;
    }
    hub.publish(&s, ended()).unwrap();
    let want: Vec<u64> = (1..=51).collect();
    assert_eq!(ids(&a.await.unwrap()), want);
    assert_eq!(ids(&b.await.unwrap()), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_mid_stream_loses_and_repeats_nothing() {
    let hub = hub_with(10_000);
    let s = sid(3);
    hub.open(&s);
    let publisher = {
        let (hub, s) = (hub.clone(), s.clone());
        tokio::spawn(async move {
            for n in 1..=2000 {
                hub.publish(&s, page(n)).unwrap();
                if n % 7 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            hub.publish(&s, ended()).unwrap();
        })
    };
    let mut seen = Vec::new();
    let mut last = None;
    // Drop the stream every 37 events and resume from the last id seen.
    'outer: loop {
        let mut stream = Box::pin(hub.subscribe(&s, last).unwrap());
        for _ in 0..37 {
            match stream.next().await {
                Some(Delivered::Event { id, .. }) => {
                    seen.push(id);
                    last = Some(id);
                }
                Some(Delivered::Reload { .. }) => panic!("history is large enough"),
                None => break 'outer,
            }
        }
    }
    publisher.await.unwrap();
    assert_eq!(seen, (1..=2001).collect::<Vec<_>>());
}

#[tokio::test]
async fn slow_subscriber_gets_everything_still_in_history() {
    let hub = hub_with(300);
    let s = sid(4);
    hub.open(&s);
    let mut stream = Box::pin(hub.subscribe(&s, None).unwrap());
    // Far more than any channel buffer, published before the subscriber reads anything.
    for n in 1..=299 {
        hub.publish(&s, page(n)).unwrap();
    }
    hub.publish(&s, ended()).unwrap();
    let mut got = Vec::new();
    while let Some(d) = stream.next().await {
        got.push(d);
    }
    assert_eq!(ids(&got), (1..=300).collect::<Vec<_>>());
}

#[tokio::test]
async fn subscriber_behind_truncated_history_is_told_to_reload() {
    let hub = hub_with(4);
    let s = sid(5);
    hub.open(&s);
    let stream = hub.subscribe(&s, None).unwrap();
    for n in 1..=10 {
        hub.publish(&s, page(n)).unwrap();
    }
    let got: Vec<_> = stream.collect().await;
    assert_eq!(got, vec![Delivered::Reload { first_available: 7 }]);
    // A reconnect with an id still covered works.
    let mut tail = Box::pin(hub.subscribe(&s, Some(8)).unwrap());
    assert_eq!(
        tail.next().await,
        Some(Delivered::Event {
            id: 9,
            event: page(9)
        })
    );
}

#[tokio::test]
async fn publish_after_ended_refused_and_unknown_session_reported() {
    let hub = hub_with(16);
    let s = sid(6);
    assert_eq!(
        hub.publish(&s, page(1)),
        Err(PushError::UnknownSession(s.clone()))
    );
    assert!(hub.subscribe(&s, None).is_err());
    hub.open(&s);
    hub.publish(&s, ended()).unwrap();
    assert_eq!(
        hub.publish(&s, page(2)),
        Err(PushError::SessionEnded(s.clone()))
    );
    assert_eq!(
        hub.publish(&s, ended()),
        Err(PushError::SessionEnded(s.clone()))
    );
}

#[tokio::test]
async fn unissued_last_event_id_replays_from_start() {
    let hub = hub_with(16);
    let s = sid(7);
    hub.open(&s);
    hub.publish(&s, page(1)).unwrap();
    hub.publish(&s, ended()).unwrap();
    let got: Vec<_> = hub.subscribe(&s, Some(999)).unwrap().collect().await;
    assert_eq!(ids(&got), vec![1, 2]);
}

#[tokio::test]
async fn snapshot_tracks_status_page_and_end_and_open_is_idempotent() {
    let hub = hub_with(2);
    let s = sid(8);
    hub.open(&s);
    hub.publish(&s, PushEvent::status(CallStatus::Calling, "Calling you"))
        .unwrap();
    hub.publish(&s, page(3)).unwrap();
    hub.open(&s);
    for _ in 0..3 {
        hub.publish(&s, PushEvent::status(CallStatus::AgentOnLine, "On"))
            .unwrap();
    }
    let snap = hub.snapshot(&s).unwrap();
    assert_eq!(snap.status, Some((CallStatus::AgentOnLine, "On".into())));
    assert_eq!(
        snap.last_page,
        Some(page(3)),
        "kept although the history was truncated"
    );
    assert_eq!(snap.ended, None);
    assert_eq!(snap.last_event_id, 5);
    hub.publish(&s, ended()).unwrap();
    assert_eq!(hub.snapshot(&s).unwrap().ended, Some(ended()));
}

#[tokio::test]
async fn close_ends_live_streams_and_sweep_drops_only_ended_sessions_after_ttl() {
    let hub = Hub::new(HubConfig {
        idle_session_ttl: Duration::from_secs(60),
        ..Default::default()
    });
    let (live, done, closing) = (sid(9), sid(10), sid(11));
    for s in [&live, &done, &closing] {
        hub.open(s);
    }
    let waiting = tokio::spawn(hub.subscribe(&closing, None).unwrap().collect::<Vec<_>>());
    tokio::task::yield_now().await;
    assert!(hub.close(&closing));
    assert!(waiting.await.unwrap().is_empty());

    hub.publish(&done, ended()).unwrap();
    let t0 = Instant::now();
    assert_eq!(hub.sweep(t0), 0);
    assert_eq!(hub.sweep(t0 + Duration::from_secs(59)), 0);
    assert_eq!(hub.sweep(t0 + Duration::from_secs(60)), 1);
    assert!(hub.snapshot(&done).is_err());
    assert!(hub.snapshot(&live).is_ok());
    assert_eq!(hub.sweep(t0 + Duration::from_secs(6000)), 0);
}

/// Lock-step publish/receive on two threads: an event published while the subscriber is
/// between "history has nothing new" and "wait for a change" must still wake it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_event_published_during_catch_up_is_not_missed() {
    let hub = hub_with(8);
    let s = sid(12);
    hub.open(&s);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = Box::pin(hub.subscribe(&s, None).unwrap());
    tokio::spawn(async move {
        while let Some(Delivered::Event { id, .. }) = stream.next().await {
            if tx.send(id).is_err() {
                break;
            }
        }
    });
    for n in 1..=500 {
        let id = hub.publish(&s, page(n)).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await;
        assert_eq!(got, Ok(Some(id)), "event {id} was not delivered live");
    }
}
