//! Signing in to the agent desk over HTTP with a cookie jar, against the real binary: the
//! session cookie's flags, "Signed in as NAME (role)", sign-out, CSRF refusals, the same
//! answer for an unknown login and a wrong password, the lock after too many failures and
//! its end, a disabled agent, the idle timeout, and no password or PIN in the database file,
//! its WAL or the log.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::json;
use testkit::{Callbond, Options};

const PASSWORD: &str = "plain-Secret-4242";
const WRONG: &str = "wrong-Secret-4242";
const PIN: &str = "913746";

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()?)
}

/// The value of hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let rest = html.split(&marker).nth(1)?;
    Some(rest.split('"').next()?.to_owned())
}

/// GET the sign-in form (sets its cookie in the jar), answer its CSRF token.
async fn login_form(cb: &Callbond, client: &reqwest::Client) -> anyhow::Result<String> {
    let html = client
        .get(cb.url("/console/login"))
        .send()
        .await?
        .text()
        .await?;
    hidden(&html, "csrf").ok_or_else(|| anyhow::anyhow!("no csrf in {html}"))
}

/// POSTs a sign-in with a fresh form; answers status, Location, Set-Cookie values and body.
async fn sign_in(
    cb: &Callbond,
    client: &reqwest::Client,
    sid: &str,
    login: &str,
    password: &str,
) -> anyhow::Result<(StatusCode, String, Vec<String>, String)> {
    let csrf = login_form(cb, client).await?;
    let response = client
        .post(cb.url("/console/login"))
        .form(&[
            ("sid", sid),
            ("login", login),
            ("password", password),
            ("csrf", &csrf),
        ])
        .send()
        .await?;
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let cookies = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    Ok((status, location, cookies, response.text().await?))
}

async fn create_agent(cb: &Callbond, body: serde_json::Value) -> anyhow::Result<i64> {
    let response = client()?
        .post(cb.url("/admin/v1/subscribers/acme/agents"))
        .bearer_auth(&cb.operator_key)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == StatusCode::CREATED,
        "create agent: {}",
        response.text().await?
    );
    let value: serde_json::Value = response.json().await?;
    value["id"].as_i64().ok_or_else(|| anyhow::anyhow!("no id"))
}

async fn start(extra: &str) -> anyhow::Result<Callbond> {
    let cb = Callbond::start(
        env!("CARGO_BIN_EXE_callbond"),
        Options {
            extra_config: extra.to_owned(),
            ..Options::default()
        },
    )?;
    let response = client()?
        .post(cb.url("/admin/v1/subscribers"))
        .bearer_auth(&cb.operator_key)
        .json(&json!({"id": "acme", "display_name": "Acme"}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == StatusCode::CREATED);
    Ok(cb)
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_out_lockout_disabled_csrf_and_no_plain_secrets() -> anyhow::Result<()> {
    // Three failures lock a login for three seconds, so the test can wait the lock out.
    let cb = start("[console]\nmax_failures_per_login = 3\nlockout_secs = 3\n").await?;
    let id = create_agent(&cb, json!({"login": "ann", "display_name": "Ann Lee", "password": PASSWORD, "pin": PIN, "role": "supervisor"})).await?;
    let browser = client()?;

    // Not signed in: /console sends to the sign-in form.
    let response = browser.get(cb.url("/console")).send().await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/login");

    // Signing in: 303 to /console with the session cookie and its flags.
    let (status, location, cookies, _) = sign_in(&cb, &browser, "acme", "ann", PASSWORD).await?;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console")
    );
    let session = cookies
        .iter()
        .find(|c| c.starts_with("cb_console="))
        .expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(session.contains(flag), "{session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain http public URL: no Secure flag: {session}"
    );
    let home = browser.get(cb.url("/console")).send().await?;
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await?;
    assert!(
        html.contains("Signed in as <strong>Ann Lee</strong> (supervisor)"),
        "{html}"
    );
    let csrf = hidden(&html, "csrf").expect("logout csrf");

    // Sign-out without the page's token is refused and the session stays.
    let response = browser
        .post(cb.url("/console/logout"))
        .form(&[("csrf", "")])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get(cb.url("/console")).send().await?.status(),
        StatusCode::OK
    );
    let response = browser
        .post(cb.url("/console/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/console/login?notice=signed_out"
    );
    let after = browser.get(cb.url("/console")).send().await?;
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "signed out: no console"
    );

    // A sign-in without the form's CSRF token is refused and opens no session.
    let response = browser
        .post(cb.url("/console/login"))
        .form(&[("sid", "acme"), ("login", "ann"), ("password", PASSWORD)])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let no_session = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .all(|c| !c.to_str().unwrap_or_default().starts_with("cb_console="));
    assert!(no_session);
    assert!(
        response
            .text()
            .await?
            .contains("did not come from this page")
    );

    // Unknown login and wrong password: one answer (status and sentence).
    let unknown = sign_in(&cb, &browser, "acme", "nobody", PASSWORD).await?;
    let wrong = sign_in(&cb, &browser, "acme", "ann", WRONG).await?;
    let no_company = sign_in(&cb, &browser, "initech", "ann", PASSWORD).await?;
    for answer in [&unknown, &wrong, &no_company] {
        assert_eq!(answer.0, StatusCode::UNAUTHORIZED);
        assert!(
            answer
                .3
                .contains("The company id, login or password is not right."),
            "{}",
            answer.3
        );
    }
    // The third failure for ann locks her login; the right password is refused while locked.
    let (status, _, _, _) = sign_in(&cb, &browser, "acme", "ann", WRONG).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _, body) = sign_in(&cb, &browser, "acme", "ann", WRONG).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body.contains("Too many failed sign-ins. Wait 1 minute"),
        "{body}"
    );
    let (status, _, _, _) = sign_in(&cb, &browser, "acme", "ann", PASSWORD).await?;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked: even the right password waits"
    );
    // An unknown login locks the same way (a lock says nothing about which logins exist).
    for _ in 0..2 {
        sign_in(&cb, &browser, "acme", "ghost", WRONG).await?;
    }
    assert_eq!(
        sign_in(&cb, &browser, "acme", "ghost", WRONG).await?.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let (status, location, _, _) = sign_in(&cb, &browser, "acme", "ann", PASSWORD).await?;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/console"),
        "the lock ended"
    );

    // Disabling the agent ends the open session and refuses the next sign-in.
    let response = client()?
        .patch(cb.url(&format!("/admin/v1/subscribers/acme/agents/{id}")))
        .bearer_auth(&cb.operator_key)
        .json(&json!({"active": false}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let ended = browser.get(cb.url("/console")).send().await?;
    assert_eq!(ended.headers()[LOCATION], "/console/login?notice=ended");
    let (status, _, _, body) = sign_in(&cb, &browser, "acme", "ann", PASSWORD).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("This agent account is disabled."), "{body}");

    // Neither the password, the wrong one, nor the PIN is in the database, its WAL or the log.
    let db = std::fs::read(cb.db_path())?;
    let wal = std::fs::read(cb.dir().join("callbond.db-wal")).unwrap_or_default();
    assert!(
        !wal.is_empty(),
        "the WAL has the agent rows, so searching it means something"
    );
    let log = cb.logs();
    assert!(
        log.contains("agent sign-in refused"),
        "the log has the sign-ins:\n{log}"
    );
    for secret in [PASSWORD, WRONG, PIN] {
        for (name, bytes) in [
            ("callbond.db", &db),
            ("callbond.db-wal", &wal),
            ("stderr log", &log.as_bytes().to_vec()),
        ] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret:?} found in {name}"
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_ends() -> anyhow::Result<()> {
    // Two idle seconds end a session; a request within them keeps it.
    let cb = start("[console]\nidle_timeout_secs = 2\n").await?;
    create_agent(
        &cb,
        json!({"login": "bob", "display_name": "Bob", "password": PASSWORD}),
    )
    .await?;
    let browser = client()?;
    let (status, _, _, _) = sign_in(&cb, &browser, "acme", "bob", PASSWORD).await?;
    assert_eq!(status, StatusCode::SEE_OTHER);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(
            browser.get(cb.url("/console")).send().await?.status(),
            StatusCode::OK
        );
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let response = browser.get(cb.url("/console")).send().await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/login?notice=idle");
    let page = browser
        .get(cb.url("/console/login?notice=idle"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        page.contains("You were signed out after 1 minutes without activity")
            || page.contains("signed out after"),
        "{page}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_https_the_session_cookie_is_secure() -> anyhow::Result<()> {
    let options = Options {
        args: vec!["--public-url=https://callbond.example".to_owned()],
        ..Options::default()
    };
    let cb = Callbond::start(env!("CARGO_BIN_EXE_callbond"), options)?;
    let response = client()?
        .post(cb.url("/admin/v1/subscribers"))
        .bearer_auth(&cb.operator_key)
        .json(&json!({"id": "acme", "display_name": "Acme"}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    create_agent(
        &cb,
        json!({"login": "cy", "display_name": "Cy", "password": PASSWORD}),
    )
    .await?;
    // reqwest's jar keeps Secure cookies away from http://, so the form cookie is sent by hand.
    let browser = client()?;
    let form = browser.get(cb.url("/console/login")).send().await?;
    let form_cookie = form
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(form_cookie.ends_with("; Secure"), "{form_cookie}");
    let pair = form_cookie.split(';').next().unwrap_or_default().to_owned();
    let csrf = hidden(&form.text().await?, "csrf").expect("csrf");
    let response = browser
        .post(cb.url("/console/login"))
        .header("cookie", pair)
        .form(&[
            ("sid", "acme"),
            ("login", "cy"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let session = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("cb_console="))
        .unwrap_or_default()
        .to_owned();
    assert!(
        session.contains("HttpOnly; SameSite=Strict; Secure"),
        "{session}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ip_that_sprays_logins_is_locked_for_every_login() -> anyhow::Result<()> {
    // Three failures from one IP, each for a different login, lock the IP for 60 s.
    let cb = start("[console]\nmax_failures_per_ip = 3\nlockout_secs = 60\n").await?;
    create_agent(
        &cb,
        json!({"login": "dee", "display_name": "Dee", "password": PASSWORD}),
    )
    .await?;
    let browser = client()?;
    for login in ["x1", "x2"] {
        assert_eq!(
            sign_in(&cb, &browser, "acme", login, WRONG).await?.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, _, _, body) = sign_in(&cb, &browser, "acme", "x3", WRONG).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("Wait 1 minute,"), "{body}");
    // dee never failed, but her sign-in comes from the locked IP (the test's 127.0.0.1).
    let (status, _, _, _) = sign_in(&cb, &browser, "acme", "dee", PASSWORD).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_reset_ends_the_open_session() -> anyhow::Result<()> {
    let cb = start("").await?;
    let id = create_agent(
        &cb,
        json!({"login": "eli", "display_name": "Eli", "password": PASSWORD}),
    )
    .await?;
    let browser = client()?;
    assert_eq!(
        sign_in(&cb, &browser, "acme", "eli", PASSWORD).await?.0,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        browser.get(cb.url("/console")).send().await?.status(),
        StatusCode::OK
    );
    let reset = client()?
        .post(cb.url(&format!("/admin/v1/subscribers/acme/agents/{id}/password")))
        .bearer_auth(&cb.operator_key)
        .json(&json!({"password": "eli-new-Secret-5"}))
        .send()
        .await?;
    assert_eq!(reset.status(), StatusCode::OK);
    let ended = browser.get(cb.url("/console")).send().await?;
    assert_eq!(ended.headers()[LOCATION], "/console/login?notice=ended");
    assert_eq!(
        sign_in(&cb, &browser, "acme", "eli", PASSWORD).await?.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&cb, &browser, "acme", "eli", "eli-new-Secret-5")
            .await?
            .0,
        StatusCode::SEE_OTHER
    );
    Ok(())
}
