//! Cross-cutting tests against a real SQLite database: tenant isolation across every
//! subscriber-scoped object, API keys never reaching the file, cascading deletes. Also the
//! fixtures the per-module tests share.

use chrono::{DateTime, Utc};

use crate::*;

/// A fixed instant (2026-11-23T12:00:00Z, a Monday) plus `seconds`.
pub(crate) fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_435_200 + seconds, 0).expect("in range")
}

pub(crate) fn sid(text: &str) -> SubscriberId {
    text.parse().expect("test subscriber id")
}

/// An in-memory database with these subscribers.
pub(crate) fn db_with(subscribers: &[&str]) -> Db {
    let db = Db::open_in_memory().expect("open");
    for id in subscribers {
        let new = NewSubscriber {
            id: sid(id),
            display_name: format!("{id} Inc.").as_str().try_into().expect("name"),
            active: true,
        };
        db.create_subscriber(&new, at(0))
            .expect("create subscriber");
    }
    db
}

pub(crate) fn route(code: &str, number: &str) -> Route {
    Route {
        subject_code: code.parse().expect("code"),
        center_number: number.parse().expect("number"),
        dnis: Some("4711".parse().expect("dnis")),
        whisper_template: "Customer asks about {sc}".try_into().expect("template"),
        fallback_numbers: vec!["+12015550188".parse().expect("fallback")],
        context: Default::default(),
        label: None,
    }
}

pub(crate) fn new_call(id: &SessionId, number: &str) -> NewCall {
    NewCall {
        id: id.clone(),
        subject_code: "sales".parse().expect("code"),
        whisper_code: Some("order-42".parse().expect("wc")),
        user_number: number.parse().expect("number"),
        client_ip: "192.0.2.7".parse().expect("ip"),
        form_token: None,
        session_ref: crate::SessionRef::new_random(),
        dnis_range: None,
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: DbResult<T>, what: &str) {
    match result {
        Err(DbError::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

#[test]
fn db_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Db>();
}

#[test]
fn subscriber_b_cannot_see_or_change_a_objects() {
    let db = db_with(&["alpha", "beta"]);
    let (a, b) = (sid("alpha"), sid("beta"));
    let site_input = SiteInput {
        origin: "https://shop.example".parse().expect("origin"),
        accept_unsigned: false,
    };
    let site = db.create_site(&a, &site_input, at(1)).expect("site").site;
    let code: SubjectCode = "sales".parse().expect("code");
    let stored_route = db
        .create_route(&a, &route("sales", "+12015550123"))
        .expect("route");
    let page_input = PageInput {
        keys: "1".parse().expect("keys"),
        title: "Offer".try_into().expect("title"),
        content: PageContent::Url("https://shop.example/offer".parse().expect("url")),
    };
    let page = db.create_page(&a, &page_input).expect("page");
    let call_id = new_session_id();
    let call = db
        .create_call(&a, &new_call(&call_id, "+12015550123"), at(2))
        .expect("call");
    db.append_call_event(&a, &call_id, at(3), &TimelineEvent::Farewell {})
        .expect("event");
    let key = db.create_subscriber_key(&a, at(4)).expect("key");

    let other_site = SiteInput {
        origin: "https://evil.example".parse().expect("origin"),
        accept_unsigned: true,
    };
    let other_page = PageInput {
        keys: "9".parse().expect("keys"),
        title: "Evil".try_into().expect("title"),
        content: PageContent::Url("https://evil.example/".parse().expect("url")),
    };
    let end = CallEnd::before_dialing(EndCause::Cancelled);
    assert_not_found(db.get_site(&b, site.id), "get site");
    assert_not_found(db.update_site(&b, site.id, &other_site), "update site");
    assert_not_found(db.get_site_secret(&b, site.id), "site secret");
    assert_not_found(db.rotate_site_secret(&b, site.id), "rotate secret");
    assert_not_found(db.find_site_for_origin(&b, &site.origin), "find site");
    assert_not_found(db.delete_site(&b, site.id), "delete site");
    assert_not_found(db.get_route(&b, &code), "get route");
    assert_not_found(
        db.update_route(&b, &code, &route("sales", "+12015550177")),
        "update route",
    );
    assert_not_found(db.delete_route(&b, &code), "delete route");
    assert_not_found(db.get_page(&b, page.id), "get page");
    assert_not_found(db.update_page(&b, page.id, &other_page), "update page");
    assert_not_found(db.find_page_by_keys(&b, &page.keys), "find page");
    assert_not_found(db.delete_page(&b, page.id), "delete page");
    assert_not_found(db.get_call(&b, &call_id), "get call");
    assert_not_found(
        db.update_call_state(&b, &call_id, CallState::Bridged),
        "call state",
    );
    assert_not_found(db.finish_call(&b, &call_id, &end, at(5)), "finish call");
    assert_not_found(db.list_call_events(&b, &call_id), "call events");
    assert_not_found(
        db.append_call_event(&b, &call_id, at(5), &TimelineEvent::Farewell {}),
        "append event",
    );
    assert_not_found(
        db.revoke_subscriber_key(&b, key.key.id, at(5)),
        "revoke key",
    );
    assert!(db.list_sites(&b).expect("list").is_empty());
    assert!(
        db.list_routes(&b, Window::default())
            .expect("list")
            .is_empty()
    );
    assert!(db.list_pages(&b).expect("list").is_empty());
    assert!(
        db.list_calls(&b, &CallFilter::default())
            .expect("list")
            .is_empty()
    );
    assert!(db.list_keys(&b).expect("list").is_empty());
    assert_eq!(db.count_active_calls(&b).expect("count"), 0);

    // A's objects are unchanged.
    assert_eq!(db.get_site(&a, site.id).expect("site"), site);
    assert_eq!(db.get_route(&a, &code).expect("route"), stored_route);
    assert_eq!(db.get_page(&a, page.id).expect("page"), page);
    assert_eq!(db.get_call(&a, &call_id).expect("call"), call);
    assert_eq!(db.list_call_events(&a, &call_id).expect("events").len(), 1);
    assert_eq!(
        db.authenticate(key.token.expose()).expect("key"),
        Principal::Subscriber(a)
    );
}

#[test]
fn api_tokens_never_reach_the_database_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.db");
    let db = Db::open(&path).expect("open");
    let new = NewSubscriber {
        id: sid("alpha"),
        display_name: "Alpha".try_into().expect("name"),
        active: true,
    };
    db.create_subscriber(&new, at(0)).expect("subscriber");
    let operator = db.create_operator_key(at(1)).expect("operator key");
    let subscriber = db
        .create_subscriber_key(&sid("alpha"), at(2))
        .expect("subscriber key");
    let tokens = [
        operator.token.expose().to_owned(),
        subscriber.token.expose().to_owned(),
    ];
    assert_eq!(
        db.authenticate(&tokens[0]).expect("operator"),
        Principal::Operator
    );
    drop(db);

    let mut scanned = 0;
    for entry in std::fs::read_dir(dir.path()).expect("read dir") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read file");
        scanned += bytes.len();
        for token in &tokens {
            let secret_part = &token.as_bytes()[3..];
            let found = bytes.windows(secret_part.len()).any(|w| w == secret_part);
            assert!(!found, "a token's random part is in the database files");
        }
    }
    assert!(scanned > 0, "the database wrote nothing to scan");
    // The keys still work after reopening: the hash, not the token, was stored.
    let db = Db::open(&path).expect("reopen");
    assert_eq!(
        db.authenticate(&tokens[1]).expect("subscriber"),
        Principal::Subscriber(sid("alpha"))
    );
}

#[test]
fn deleting_a_subscriber_removes_what_it_owns() {
    let db = db_with(&["alpha", "beta"]);
    let (a, b) = (sid("alpha"), sid("beta"));
    db.create_route(&a, &route("sales", "+12015550123"))
        .expect("route a");
    db.create_route(&b, &route("sales", "+12015550123"))
        .expect("route b");
    let key = db.create_subscriber_key(&a, at(1)).expect("key");
    db.delete_subscriber(&a).expect("delete");
    assert_not_found(db.get_subscriber(&a), "subscriber");
    assert!(matches!(
        db.authenticate(key.token.expose()),
        Err(DbError::Unauthorized)
    ));
    assert_eq!(db.count_routes(&b).expect("count"), 1);
    assert_not_found(
        db.create_route(&a, &route("x", "+12015550123")),
        "route of deleted",
    );
    assert_not_found(db.delete_subscriber(&a), "delete twice");
}
