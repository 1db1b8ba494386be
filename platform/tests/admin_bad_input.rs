//! Bad admin requests are refused with a sentence naming what is wrong and change nothing:
//! a JSON value that does not fit names the field by its path, broken JSON is 400, a body that
//! is not JSON is 415, a taken name is 409, and a bad query parameter is named.

use reqwest::{Method, StatusCode};
use serde_json::json;

mod admin_support;
use admin_support::{Admin, Body, assert_error};

/// Everything `acme` has, read with its key.
async fn state(admin: &Admin, key: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut all = Vec::new();
    for path in ["", "/sites", "/routes", "/pages", "/policy"] {
        all.push(
            admin
                .get_ok(&format!("/subscribers/acme{path}"), key)
                .await?,
        );
    }
    Ok(all)
}

#[tokio::test]
async fn bad_bodies_and_parameters_name_the_field_and_change_nothing() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    let op = admin.operator().to_owned();
    admin.create_subscriber("acme", "Acme").await?;
    let (_, key) = admin.subscriber_key("acme").await?;
    let (status, _) = admin
        .post(
            "/subscribers/acme/sites",
            &key,
            &json!({ "origin": "https://acme.example" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED);
    let before = state(&admin, &key).await?;

    // (method, path, body, field, words)
    let cases = [
        (
            Method::POST,
            "/subscribers",
            json!({ "id": "Bad Id", "display_name": "X" }),
            "id",
            "subscriber id must be",
        ),
        (
            Method::POST,
            "/subscribers",
            json!({ "id": "beta" }),
            "",
            "missing field `display_name`",
        ),
        (
            Method::PATCH,
            "/subscribers/acme",
            json!({ "display_name": "" }),
            "display_name",
            "must not be empty",
        ),
        (
            Method::PATCH,
            "/subscribers/acme",
            json!({ "nickname": "x" }),
            "nickname",
            "unknown field `nickname`",
        ),
        (
            Method::POST,
            "/subscribers/acme/sites",
            json!({ "origin": "https://acme.example/path" }),
            "origin",
            "origin must be",
        ),
        (
            Method::POST,
            "/subscribers/acme/routes",
            json!({ "subject_code": "x", "center_number": "+12015550100", "fallback_numbers": ["+12015550101", "555"] }),
            "fallback_numbers[1]",
            "international form",
        ),
        (
            Method::POST,
            "/subscribers/acme/routes",
            json!({ "subject_code": "x", "center_number": "+12015550100", "dnis": "12-34" }),
            "dnis",
            "dnis must be 1 to 15 digits",
        ),
        // The route's context channels (issue 11 item 10).
        (
            Method::POST,
            "/subscribers/acme/routes",
            json!({ "subject_code": "x", "center_number": "+12015550100", "context": { "dnis_range": "4799-4700" } }),
            "context.dnis_range",
            "the first code must not be above the last",
        ),
        (
            Method::POST,
            "/subscribers/acme/routes",
            json!({ "subject_code": "x", "center_number": "+12015550100", "context": { "dnis_range": "0-99999" } }),
            "context.dnis_range",
            "same number of digits",
        ),
        (
            Method::POST,
            "/subscribers/acme/routes",
            json!({ "subject_code": "x", "center_number": "+12015550100", "dnis": "4711", "context": { "dnis_range": "4700-4709" } }),
            "dnis_range",
            "a fixed dnis or a dnis_range, not both",
        ),
        (
            Method::POST,
            "/subscribers/acme/routes",
            json!({ "subject_code": "x", "center_number": "+12015550100", "context": { "x_header_names": { "ref": "Subject" } } }),
            "context.x_header_names.ref",
            "starting with \"X-\"",
        ),
        (
            Method::POST,
            "/subscribers/acme/routes",
            json!({ "subject_code": "x", "center_number": "+12015550100", "context": { "x_header_names": { "ref": "X-A\r\nBYE sip:x SIP/2.0" } } }),
            "context.x_header_names.ref",
            "RFC 3261 token",
        ),
        (
            Method::POST,
            "/subscribers/acme/routes",
            json!({ "subject_code": "x", "center_number": "+12015550100", "context": { "x_header_names": { "ref": "X-Same", "subscriber": "x-same" } } }),
            "x_header_names",
            "each x-header needs its own name",
        ),
        (
            Method::POST,
            "/subscribers/acme/routes",
            json!({ "subject_code": "x", "center_number": "+12015550100", "context": { "dtmf_ref": "yes" } }),
            "context.dtmf_ref",
            "expected a boolean",
        ),
        (
            Method::POST,
            "/subscribers/acme/pages",
            json!({ "keys": "12a", "title": "T", "html": "<p>" }),
            "keys",
            "dtmf keys",
        ),
        (
            // `#` ends an agent's key run: a page under "1#" could never be keyed.
            Method::POST,
            "/subscribers/acme/pages",
            json!({ "keys": "1#", "title": "T", "html": "<p>" }),
            "keys",
            "could never be selected from the keypad",
        ),
        (
            Method::POST,
            "/subscribers/acme/pages",
            json!({ "keys": "1", "title": "T", "html": "<p>", "url": "https://acme.example/" }),
            "url",
            "not both",
        ),
        (
            Method::POST,
            "/subscribers/acme/pages",
            json!({ "keys": "1", "title": "T" }),
            "html",
            "needs `html`",
        ),
        (
            Method::PUT,
            "/subscribers/acme/policy",
            json!({ "time_zone": "Mars/Olympus" }),
            "time_zone",
            "IANA",
        ),
        (
            Method::PUT,
            "/subscribers/acme/policy",
            json!({ "weekly_hours": { "monday": ["18:00-09:00"] } }),
            "weekly_hours",
            "start before end",
        ),
        (
            Method::PUT,
            "/subscribers/acme/policy",
            json!({ "ring_timeout_user_secs": 2 }),
            "ring_timeout_user_secs",
            "between 5 and 120",
        ),
        (
            Method::PUT,
            "/subscribers/acme/policy",
            json!({ "sign_on": { "mode": "pin", "pin": "1" } }),
            "sign_on",
            "pin",
        ),
    ];
    for (method, path, body, field, words) in &cases {
        let answer = admin
            .call(method.clone(), path, Some(&op), Body::Json(body))
            .await?;
        assert_error(&answer, StatusCode::BAD_REQUEST, &[words]);
        if !field.is_empty() {
            let named = answer.1["error"]["field"].as_str().unwrap_or_default();
            assert!(
                named.starts_with(field),
                "{method} {path}: field {named:?}, want {field:?}"
            );
            let message = answer.1["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(field), "{message}");
        }
    }

    // Broken JSON, a body that is not JSON, and a taken origin.
    let broken = admin
        .call(
            Method::POST,
            "/subscribers/acme/sites",
            Some(&key),
            Body::Raw("application/json", "{\"origin\": "),
        )
        .await?;
    assert_error(&broken, StatusCode::BAD_REQUEST, &["body"]);
    let form = admin
        .call(
            Method::POST,
            "/subscribers/acme/sites",
            Some(&key),
            Body::Raw(
                "application/x-www-form-urlencoded",
                "origin=https://x.example",
            ),
        )
        .await?;
    assert_error(
        &form,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &["Content-Type: application/json"],
    );
    let taken = admin
        .post(
            "/subscribers/acme/sites",
            &key,
            &json!({ "origin": "https://acme.example" }),
        )
        .await?;
    assert_error(&taken, StatusCode::CONFLICT, &["already exists"]);
    let taken = admin
        .post(
            "/subscribers",
            &op,
            &json!({ "id": "acme", "display_name": "Again" }),
        )
        .await?;
    assert_error(&taken, StatusCode::CONFLICT, &["subscriber already exists"]);

    // Query parameters.
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("after=not%20a%20code", "after"),
        ("offset=1", "offset"),
        ("page=2", "page"),
    ] {
        let answer = admin
            .get(&format!("/subscribers/acme/routes?{query}"), &key)
            .await?;
        assert_error(&answer, StatusCode::BAD_REQUEST, &[field]);
        assert_eq!(answer.1["error"]["field"], field, "{query}");
    }

    // Unknown objects are 404 with a sentence, for the operator too.
    for path in [
        "/subscribers/nobody",
        "/subscribers/acme/sites/999",
        "/subscribers/acme/pages/x",
        "/subscribers/acme/routes/nope",
    ] {
        let answer = admin.get(path, &op).await?;
        assert_error(&answer, StatusCode::NOT_FOUND, &["not found"]);
    }

    assert_eq!(state(&admin, &key).await?, before);
    Ok(())
}
