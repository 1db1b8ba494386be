//! What a subscriber sets for its visitor's pages through the admin API (issue 11 item 11):
//! logo (https only), accent colour (#rrggbb) and promotional content on the subscriber, a
//! label per route (API and import file). Bad values answer 400 naming the field and change
//! nothing; good ones show on the Welcome page, whose CSP then allows exactly that logo. The
//! Welcome page also tells a wait, but only from enough real calls: none, then the median of
//! three bridged calls seeded into the call records.
#![allow(clippy::unwrap_used)]

mod web_support;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use subscriber_db::{NewCall, SessionId, TimelineEvent};
use web_support::{Fixture, SUBJECT, Setup, http};

const LOGO: &str = "https://cdn.acme.example/logo.svg";

async fn patch(fx: &Fixture, body: Value) -> (u16, Value) {
    let response = http()
        .patch(fx.cb.url("/admin/v1/subscribers/acme"))
        .bearer_auth(&fx.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn subscriber(fx: &Fixture) -> Value {
    http()
        .get(fx.cb.url("/admin/v1/subscribers/acme"))
        .bearer_auth(&fx.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn branding_is_validated_stored_and_shown() -> anyhow::Result<()> {
    let fx = Fixture::start(Setup::default()).await?;
    let before = subscriber(&fx).await;
    assert_eq!(before["logo_url"], Value::Null, "{before}");
    for (body, field) in [
        (
            json!({ "logo_url": "http://cdn.acme.example/logo.svg" }),
            "logo_url",
        ),
        (
            json!({ "logo_url": "https://cdn.acme.example/a b.svg" }),
            "logo_url",
        ),
        (
            json!({ "logo_url": "https://cdn.acme.example/x.svg; script-src *" }),
            "logo_url",
        ),
        (json!({ "accent_color": "blue" }), "accent_color"),
        (json!({ "accent_color": "#12345" }), "accent_color"),
        (json!({ "promo_html": "" }), "promo_html"),
        // One bad field refuses the whole body: the good colour is not stored either.
        (
            json!({ "accent_color": "#7a1f5c", "logo_url": "ftp://x" }),
            "logo_url",
        ),
    ] {
        let (status, answer) = patch(&fx, body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        let text = answer.to_string();
        assert!(text.contains(field), "{body} → {answer}");
        assert_eq!(
            subscriber(&fx).await,
            before,
            "{body} changed the subscriber"
        );
    }

    let (status, answer) = patch(
        &fx,
        json!({ "display_name": "Jones Brothers", "logo_url": LOGO, "accent_color": "#FFCC00" }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["logo_url"], LOGO);
    assert_eq!(answer["accent_color"], "#ffcc00");

    // Route labels: the import file's `label` column.
    let import = http()
        .post(
            fx.cb
                .url("/admin/v1/subscribers/acme/routes/import?mode=merge"),
        )
        .bearer_auth(&fx.key)
        .header("content-type", "text/csv")
        .body(format!(
            "subject_code,center_number,label\n{SUBJECT},+12025550199,your November bill\n"
        ))
        .send()
        .await?;
    assert_eq!(import.status().as_u16(), 200, "{}", import.text().await?);
    let too_long = http()
        .put(
            fx.cb
                .url(&format!("/admin/v1/subscribers/acme/routes/{SUBJECT}")),
        )
        .bearer_auth(&fx.key)
        .json(&json!({
            "subject_code": SUBJECT, "center_number": "+12025550199", "label": "x".repeat(81)
        }))
        .send()
        .await?;
    assert_eq!(too_long.status().as_u16(), 400);
    assert!(too_long.text().await?.contains("label"));

    let welcome = http()
        .get(fx.signed_link(SUBJECT, None, None))
        .send()
        .await?;
    let csp = welcome.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    assert!(
        csp.contains(&format!("img-src 'self' data: {LOGO};")),
        "{csp}"
    );
    let html = welcome.text().await?;
    for want in [
        format!("<img class=\"logo\" src=\"{LOGO}\" alt=\"\""),
        // #ffcc00 is 1.51:1 against white: the text on it is black.
        ":root{--accent:#ffcc00;--on-accent:#000000}".to_owned(),
        "about <strong id=\"subject\">your November bill</strong>".to_owned(),
        "<strong>Your phone will show</strong>+1 202-555-0199".to_owned(),
        "kept with Jones Brothers&#39; record of the call".to_owned(),
        "We can call numbers in the United States.".to_owned(),
    ] {
        assert!(html.contains(&want), "no {want:?} in\n{html}");
    }
    // No call has reached an agent yet: no wait is promised.
    assert!(!html.contains("id=\"wait\""), "{html}");

    // Three calls that reached the bridge 40, 50 and 90 s after they were asked for.
    let db = fx.db();
    for (n, secs) in [(1, 40), (2, 50), (3, 90)] {
        let asked = Utc::now() - Duration::minutes(30 - n);
        let id = SessionId::new_random();
        db.create_call(
            &fx.sid,
            &NewCall {
                id: id.clone(),
                subject_code: SUBJECT.parse()?,
                whisper_code: None,
                user_number: "+12015550123".parse()?,
                client_ip: "127.0.0.1".parse()?,
                form_token: None,
                session_ref: format!("27182818{n:02}").parse()?,
                dnis_range: None,
            },
            asked,
        )?;
        db.append_call_event(
            &fx.sid,
            &id,
            asked + Duration::seconds(secs),
            &TimelineEvent::Bridged {},
        )?;
    }
    let html = http()
        .get(fx.signed_link(SUBJECT, None, None))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        html.contains("Usually an agent is on the line about 50 seconds after you ask (the middle of Jones Brothers&#39; last 3 calls)."),
        "{html}"
    );

    // null removes the logo again, and the CSP names no outside image.
    let (status, answer) = patch(&fx, json!({ "logo_url": null })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["logo_url"], Value::Null);
    assert_eq!(answer["accent_color"], "#ffcc00");
    let welcome = http()
        .get(fx.signed_link(SUBJECT, None, None))
        .send()
        .await?;
    let csp = welcome.headers()["content-security-policy"]
        .to_str()?
        .to_owned();
    assert!(csp.contains("img-src 'self' data:;"), "{csp}");
    Ok(())
}
