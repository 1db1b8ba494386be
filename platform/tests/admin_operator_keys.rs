//! Operator keys can be listed, made and revoked, from the API and the CLI (issue 11 item 8),
//! and `admin init` mints a key only for a database without an active one: run again, it
//! prints no new key. The last active operator key cannot be revoked (409), so nobody locks
//! the platform's managers out; a subscriber key reaches none of this (403).

use reqwest::StatusCode;
use serde_json::json;

mod admin_support;
use admin_support::{Admin, assert_error};

#[tokio::test]
async fn operator_keys_are_listed_made_and_revoked() -> anyhow::Result<()> {
    // Admin::start ran `admin init` on the fresh database: one operator key.
    let admin = Admin::start()?;
    admin.create_subscriber("acme", "Acme").await?;
    let (_, subscriber_key) = admin.subscriber_key("acme").await?;
    let again = admin.cb.cli(&["admin", "init"])?;
    assert!(
        again.contains("already initialised: 1 active operator key"),
        "{again}"
    );
    assert!(
        !again.contains("operator key: cb_"),
        "init minted another key: {again}"
    );

    let listed = admin.get_ok("/operator/keys", admin.operator()).await?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let first_id = listed[0]["id"].as_i64().unwrap_or_default();
    assert!(listed[0].get("subscriber_id").is_none(), "{listed}");
    assert!(listed[0].get("token").is_none(), "{listed}");

    // A second key from the API; the first is then revoked with it.
    let (status, made) = admin
        .post("/operator/keys", admin.operator(), &json!({}))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let second = made["token"].as_str().unwrap_or_default().to_owned();
    let second_id = made["id"].as_i64().unwrap_or_default();
    assert!(second.starts_with("cb_"), "{made}");
    let (status, body) = admin
        .delete(&format!("/operator/keys/{first_id}"), &second)
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let answer = admin.get("/subscribers", admin.operator()).await?;
    assert_error(&answer, StatusCode::UNAUTHORIZED, &["revoked"]);

    // The last active key stays: 409 with the way out.
    let answer = admin
        .delete(&format!("/operator/keys/{second_id}"), &second)
        .await?;
    assert_error(&answer, StatusCode::CONFLICT, &["last active operator key"]);
    admin.get_ok("/subscribers", &second).await?;

    // A subscriber's key reaches no operator key.
    let answer = admin.get("/operator/keys", &subscriber_key).await?;
    assert_error(&answer, StatusCode::FORBIDDEN, &["operator key"]);
    let answer = admin
        .delete(&format!("/operator/keys/{second_id}"), &subscriber_key)
        .await?;
    assert_error(&answer, StatusCode::FORBIDDEN, &["operator key"]);

    // The CLI sees the same keys: the first revoked, the second active; it makes a third and
    // revokes the second with it in place.
    let list = admin.cb.cli(&["admin", "operator-key", "list"])?;
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(lines[0].starts_with(&format!("{first_id}\t")) && lines[0].contains("revoked"));
    assert!(lines[1].starts_with(&format!("{second_id}\t")) && lines[1].ends_with("active"));
    let made = admin.cb.cli(&["admin", "operator-key", "create"])?;
    assert!(made.contains("operator key: cb_"), "{made}");
    let revoked = admin.cb.cli(&[
        "admin",
        "operator-key",
        "revoke",
        "--id",
        &second_id.to_string(),
    ])?;
    assert!(revoked.contains("revoked"), "{revoked}");
    assert_eq!(
        admin.get("/subscribers", &second).await?.0,
        StatusCode::UNAUTHORIZED
    );
    Ok(())
}
