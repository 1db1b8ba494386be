//! API keys end when revoked: the next request with a revoked key answers 401, as do an unknown
//! key and a missing header, while the subscriber's other keys keep working. Listings show the
//! revocation time and never a token.

use reqwest::{Method, StatusCode};

mod admin_support;
use admin_support::{Admin, Body, assert_error};

#[tokio::test]
async fn a_revoked_key_gets_401() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    admin.create_subscriber("acme", "Acme").await?;
    let (first_id, first) = admin.subscriber_key("acme").await?;
    let (second_id, second) = admin.subscriber_key("acme").await?;
    let (third_id, third) = admin.subscriber_key("acme").await?;
    admin.get_ok("/subscribers/acme", &first).await?;

    // The operator revokes the first key.
    let (status, body) = admin
        .delete(
            &format!("/subscribers/acme/keys/{first_id}"),
            admin.operator(),
        )
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    for path in [
        "/subscribers/acme",
        "/subscribers/acme/routes",
        "/subscribers",
    ] {
        let answer = admin.get(path, &first).await?;
        assert_error(&answer, StatusCode::UNAUTHORIZED, &["API key", "revoked"]);
    }
    // A write with the revoked key is refused before it reaches the table.
    let answer = admin
        .post_csv(
            "/subscribers/acme/routes/import",
            &first,
            "subject_code,center_number\nx,+12015550100\n",
        )
        .await?;
    assert_error(&answer, StatusCode::UNAUTHORIZED, &["Bearer"]);

    // A subscriber revokes one of its own keys with another.
    let (status, body) = admin
        .delete(&format!("/subscribers/acme/keys/{second_id}"), &third)
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        admin.get("/subscribers/acme", &second).await?.0,
        StatusCode::UNAUTHORIZED
    );
    let routes = admin.get_ok("/subscribers/acme/routes", &third).await?;
    assert_eq!(routes["total"], 0);

    // The listing marks both revoked and shows no token.
    let keys = admin.get_ok("/subscribers/acme/keys", &third).await?;
    let listed = keys.as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 3, "{keys}");
    for key in &listed {
        let id = key["id"].as_i64().unwrap_or_default();
        let revoked = !key["revoked_at"].is_null();
        assert_eq!(revoked, id == first_id || id == second_id, "{key}");
        assert!(key.get("token").is_none(), "{key}");
        assert_eq!(key["prefix"].as_str().map(str::len), Some(11), "{key}");
    }
    let text = keys.to_string();
    for token in [&first, &second, &third] {
        assert!(!text.contains(token.as_str()), "a token is listed");
    }
    assert!(listed.iter().any(|k| k["id"] == third_id));

    // Unknown, malformed and missing keys.
    let unknown = format!("cb_{}", "A".repeat(43));
    for key in [unknown.as_str(), "not-a-key", ""] {
        let answer = admin.get("/subscribers/acme", key).await?;
        assert_error(
            &answer,
            StatusCode::UNAUTHORIZED,
            &["Authorization: Bearer"],
        );
    }
    let answer = admin
        .call(Method::GET, "/subscribers/acme", None, Body::None)
        .await?;
    assert_error(
        &answer,
        StatusCode::UNAUTHORIZED,
        &["Authorization: Bearer"],
    );
    // RFC 6750 §3: the 401 names the scheme.
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?
        .get(admin.cb.url("/admin/v1/subscribers/acme"))
        .bearer_auth(&first)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(challenge.starts_with("Bearer"), "{challenge:?}");
    Ok(())
}
