//! Through the HTTP admin API of the real binary: a subscriber, a site, 1,000 routes imported as
//! CSV, pages and a policy are created, then read back equal, field by field.

use std::time::Instant;

use anyhow::Context;
use reqwest::StatusCode;
use serde_json::{Value, json};

mod admin_support;
use admin_support::Admin;

const ROUTES: usize = 1000;

/// Route `i` as the API must answer it. The rows vary every optional field: with and without
/// DNIS, templates with commas, quotes and braces (CSV quoting), zero to three fallbacks.
fn expected_route(i: usize) -> Value {
    let fallbacks: Vec<String> = (0..i % 4)
        .map(|k| format!("+1212555{:04}", (i * 3 + k) % 10_000))
        .collect();
    json!({
        "subject_code": format!("sc-{i:04}"),
        "center_number": format!("+1201555{:04}", i % 10_000),
        "dnis": if i.is_multiple_of(3) { Value::Null } else { json!(format!("{}", 7000 + i)) },
        "whisper_template": if i.is_multiple_of(5) {
            String::new()
        } else {
            format!("Customer {{whisper_code}} about \"item {i}\", call back on {{number}}")
        },
        "fallback_numbers": fallbacks,
        // The context a route has when nothing says otherwise: fixed DNIS and UUI only.
        "context": {
            "dnis_range": null, "uui": true, "x_headers": false, "dtmf_ref": false,
            "x_header_names": {
                "ref": "X-Callbond-Ref", "subject": "X-Callbond-Subject",
                "whisper_code": "X-Callbond-Whisper-Code", "subscriber": "X-Callbond-Subscriber",
            },
        },
        // What the visitor's pages call the subject; every other route has none.
        "label": if i.is_multiple_of(2) { Value::Null } else { json!(format!("your item {i}")) },
    })
}

/// The same route as a CSV line, columns in a non-default order, fallbacks split by `;` or
/// spaces.
fn csv_line(route: &Value) -> String {
    let text = |k: &str| route[k].as_str().unwrap_or_default().to_owned();
    let fallbacks: Vec<&str> = route["fallback_numbers"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let separator = if text("subject_code").ends_with('7') {
        " "
    } else {
        ";"
    };
    let quoted = format!("\"{}\"", text("whisper_template").replace('"', "\"\""));
    format!(
        "{},{},{},{},{},{}\n",
        text("center_number"),
        text("subject_code"),
        quoted,
        fallbacks.join(separator),
        text("dnis"),
        text("label"),
    )
}

#[tokio::test]
async fn subscriber_site_routes_pages_and_policy_read_back_equal() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    let op = admin.operator().to_owned();

    let created = admin.create_subscriber("acme", "Acme Insurance").await?;
    assert_eq!(created["id"], "acme");
    assert_eq!(created["display_name"], "Acme Insurance");
    assert_eq!(created["active"], true);
    let (_, key) = admin.subscriber_key("acme").await?;

    // Site: the secret is answered once, never in reads.
    let (status, site) = admin
        .post(
            "/subscribers/acme/sites",
            &key,
            &json!({ "origin": "https://www.acme.example", "accept_unsigned": false }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{site}");
    let secret = site["secret"].as_str().context("secret")?;
    assert_eq!(hex::decode(secret)?.len(), 32);
    let site_id = site["id"].as_i64().context("site id")?;
    let read = admin
        .get_ok(&format!("/subscribers/acme/sites/{site_id}"), &key)
        .await?;
    assert_eq!(read["origin"], "https://www.acme.example");
    assert_eq!(read["accept_unsigned"], false);
    assert_eq!(read["subscriber_id"], "acme");
    assert!(
        read.get("secret").is_none(),
        "secret leaked in a read: {read}"
    );
    let listed = admin.get_ok("/subscribers/acme/sites", &key).await?;
    assert_eq!(listed, json!([read]));

    // 1,000 routes by CSV import.
    let expected: Vec<Value> = (0..ROUTES).map(expected_route).collect();
    let mut csv =
        String::from("center_number,subject_code,whisper_template,fallback_numbers,dnis,label\n");
    // Rows out of order: the listing must come back sorted by subject code anyway.
    for route in expected.iter().rev() {
        csv.push_str(&csv_line(route));
    }
    let started = Instant::now();
    let (status, summary) = admin
        .post_csv("/subscribers/acme/routes/import?mode=merge", &key, &csv)
        .await?;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary, json!({ "imported": ROUTES, "removed": 0 }));
    eprintln!(
        "imported {ROUTES} routes ({} bytes of CSV) over HTTP in {} ms",
        csv.len(),
        elapsed.as_millis()
    );

    // Read back through pagination (pages of 300: 4 pages) and compare every field.
    let routes = admin.all_routes("acme", &key, 300).await?;
    assert_eq!(routes.len(), ROUTES);
    for (got, want) in routes.iter().zip(&expected) {
        assert_eq!(got, want);
    }
    let first = admin
        .get_ok("/subscribers/acme/routes?limit=1", &key)
        .await?;
    assert_eq!(first["total"], ROUTES);
    assert_eq!(first["next_after"], "sc-0000");
    let next = admin
        .get_ok("/subscribers/acme/routes?limit=2&after=sc-0997", &key)
        .await?;
    assert_eq!(next["routes"], json!([expected[998], expected[999]]));
    assert!(next["next_after"].is_null(), "{}", next["next_after"]);
    for i in [0, 1, 2, 3, 7, 499, 999] {
        let one = admin
            .get_ok(&format!("/subscribers/acme/routes/sc-{i:04}"), &key)
            .await?;
        assert_eq!(one, expected[i], "route {i}");
    }

    // A single route edited and renamed, then one added as JSON.
    let mut renamed = expected_route(5);
    renamed["subject_code"] = json!("claims");
    renamed["dnis"] = json!("4711");
    let (status, body) = admin
        .put("/subscribers/acme/routes/sc-0005", &key, &renamed)
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        admin
            .get_ok("/subscribers/acme/routes/claims", &key)
            .await?,
        renamed
    );
    assert_eq!(
        admin.get("/subscribers/acme/routes/sc-0005", &key).await?.0,
        StatusCode::NOT_FOUND
    );

    // Every context channel set on one route reads back as sent.
    let mut channels = expected_route(6);
    channels["dnis"] = Value::Null;
    channels["context"] = json!({
        "dnis_range": "4700-4799", "uui": false, "x_headers": true, "dtmf_ref": true,
        "x_header_names": {
            "ref": "X-Acme-Session", "subject": "X-Acme-Topic",
            "whisper_code": "X-Acme-Code", "subscriber": "X-Acme-Tenant",
        },
    });
    let (status, body) = admin
        .put("/subscribers/acme/routes/sc-0006", &key, &channels)
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, channels);
    assert_eq!(
        admin
            .get_ok("/subscribers/acme/routes/sc-0006", &key)
            .await?,
        channels
    );

    // Pages: stored HTML and a URL.
    let html_page =
        json!({ "keys": "1", "title": "Your policy", "html": "<h1>Policy</h1><p>Details</p>" });
    let url_page =
        json!({ "keys": "2*", "title": "Claims form", "url": "https://www.acme.example/claims" });
    let mut page_ids = Vec::new();
    for page in [&html_page, &url_page] {
        let (status, body) = admin.post("/subscribers/acme/pages", &key, page).await?;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_i64().context("page id")?;
        let mut want = page.clone();
        want["id"] = json!(id);
        assert_eq!(body, want);
        let read = admin
            .get_ok(&format!("/subscribers/acme/pages/{id}"), &key)
            .await?;
        assert_eq!(read, want);
        page_ids.push(want);
    }
    assert_eq!(
        admin.get_ok("/subscribers/acme/pages", &key).await?,
        json!(page_ids)
    );

    // Policy: defaults first, then a full document read back equal.
    let defaults = admin.get_ok("/subscribers/acme/policy", &key).await?;
    assert_eq!(defaults["time_zone"], "UTC");
    let policy = json!({
        "time_zone": "Europe/Paris",
        "weekly_hours": {
            "monday": ["08:00-12:00", "13:00-18:00"],
            "tuesday": ["08:00-18:00"],
            "wednesday": [],
            "thursday": ["08:00-18:00"],
            "friday": ["08:00-17:00"],
            "saturday": ["09:00-12:00"],
            "sunday": []
        },
        "allowed_caller_countries": ["FR", "BE"],
        "default_country": "FR",
        "call_order": "center_first",
        "ring_timeout_user_secs": 25,
        "ring_timeout_center_secs": 40,
        "sign_on": { "mode": "pin", "pin": "4711" },
        "sign_on_timeout_secs": 15,
        "announcements": {
            "hold": "Merci de patienter.",
            "center_unreachable": "Aucun conseiller n'est disponible.",
            "goodbye": "Au revoir."
        },
        "max_concurrent_calls": 3,
        "max_call_length_secs": 1800,
        "max_link_lifetime_secs": 604800,
        "callback": {
            "offer": false,
            "lines_per_route": 2,
            "max_attempts": 4,
            "retry_gap_secs": 120,
            "initial_delay_secs": 10,
            "slot_days": 3,
            "slot_minutes": 60,
            "slot_capacity": 8,
            "consent": false,
            "consent_timeout_secs": 20,
            "default_handle_secs": 300
        }
    });
    let (status, body) = admin.put("/subscribers/acme/policy", &key, &policy).await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, policy);
    assert_eq!(
        admin.get_ok("/subscribers/acme/policy", &key).await?,
        policy
    );

    // The operator sees the same objects as the subscriber.
    assert_eq!(admin.get_ok("/subscribers/acme/policy", &op).await?, policy);
    assert_eq!(admin.all_routes("acme", &op, 1000).await?.len(), ROUTES);
    Ok(())
}
