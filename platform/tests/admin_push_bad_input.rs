//! The push route `POST /admin/v1/calls/{id}/push` answers bad requests like every other
//! admin endpoint: a body that is not JSON is 415, broken JSON is 400, a value that does not
//! fit names its field, and every error is `{"error": {"code", "message", "field"?}}` — the
//! same answer, word for word, that another admin endpoint gives to the same body.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod admin_support;
use admin_support::{Admin, Body, assert_error};

/// The keys of an admin error object, sorted.
fn error_keys(body: &Value) -> Vec<String> {
    let mut keys: Vec<String> = body["error"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

#[tokio::test]
async fn push_errors_have_the_admin_shape_and_status() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    admin.create_subscriber("acme", "Acme").await?;
    let (_, key) = admin.subscriber_key("acme").await?;
    // No such call: body checks come first, so every case below is about the body.
    let push = format!("/calls/{}/push", "0".repeat(32));

    let text = Body::Raw("text/plain", "{\"digits\": \"1\"}");
    let plain = admin.call(Method::POST, &push, Some(&key), text).await?;
    assert_error(
        &plain,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &["Content-Type: application/json"],
    );
    assert_eq!(plain.1["error"]["code"], "unsupported_media_type");
    assert_eq!(error_keys(&plain.1), ["code", "message"]);
    // Word for word what a resource endpoint answers to the same body.
    let text = Body::Raw("text/plain", "{\"digits\": \"1\"}");
    let sites = admin
        .call(Method::POST, "/subscribers/acme/sites", Some(&key), text)
        .await?;
    assert_eq!(plain, sites);

    // A key is checked before the body is read.
    let text = Body::Raw("text/plain", "{\"digits\": \"1\"}");
    let anonymous = admin.call(Method::POST, &push, None, text).await?;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, &["API key"]);

    let broken = Body::Raw("application/json", "{\"digits\": ");
    let broken = admin.call(Method::POST, &push, Some(&key), broken).await?;
    assert_error(&broken, StatusCode::BAD_REQUEST, &["not valid JSON"]);
    assert_eq!(broken.1["error"]["code"], "bad_request");

    // (body, field named, words)
    let cases = [
        (json!({ "digits": "x1" }), Some("digits"), "dtmf"),
        (
            json!({ "url": "https://acme.example/" }),
            Some("url"),
            "unknown field `url`",
        ),
        (json!({ "page_id": "seven" }), Some("page_id"), "page_id"),
        (json!({}), None, "exactly one"),
        (json!({ "digits": "1", "page_id": 1 }), None, "exactly one"),
    ];
    for (body, field, words) in &cases {
        let answer = admin
            .call(Method::POST, &push, Some(&key), Body::Json(body))
            .await?;
        assert_error(&answer, StatusCode::BAD_REQUEST, &[words]);
        assert_eq!(answer.1["error"]["field"].as_str(), *field, "{body}");
    }

    // A good body for a call that does not exist (or is another subscriber's).
    let unknown = admin
        .call(
            Method::POST,
            &push,
            Some(&key),
            Body::Json(&json!({ "digits": "1" })),
        )
        .await?;
    assert_error(&unknown, StatusCode::NOT_FOUND, &["call not found"]);
    assert_eq!(unknown.1["error"]["code"], "not_found");
    assert_eq!(error_keys(&unknown.1), ["code", "message"]);
    Ok(())
}
