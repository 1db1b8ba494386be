//! Agents through the admin API and the CLI: create, list, read, patch, reset the password,
//! delete; bad bodies answer 400 naming the field and change nothing; another subscriber's
//! key gets 404 for every agent endpoint and A's agents read back unchanged; no answer ever
//! carries a hash. The CLI creates (password from stdin or generated), lists and disables.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

mod admin_support;
use admin_support::{Admin, assert_error};

#[tokio::test(flavor = "multi_thread")]
async fn agents_crud_validation_and_tenant_isolation() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    admin.create_subscriber("acme", "Acme").await?;
    admin.create_subscriber("globex", "Globex").await?;
    let (_, acme_key) = admin.subscriber_key("acme").await?;
    let (_, globex_key) = admin.subscriber_key("globex").await?;
    let agents = "/subscribers/acme/agents";

    let ann = json!({"login": "ann", "display_name": "Ann Lee", "password": "ann-secret-pw-1",
                     "pin": "2580", "role": "supervisor"});
    let (status, created) = admin.post(agents, &acme_key, &ann).await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["login"], "ann");
    assert_eq!(created["role"], "supervisor");
    assert_eq!(created["active"], true);
    assert_eq!(created["has_pin"], true);
    let text = created.to_string();
    assert!(
        !text.contains("ann-secret-pw-1") && !text.contains("2580") && !text.contains("argon"),
        "{text}"
    );
    let id = created["id"].as_i64().expect("id");

    // Bad input: each answers 400 naming the field, and the list stays as it was.
    let before = admin.get_ok(agents, &acme_key).await?;
    let bad = [
        (
            json!({"login": "Ann", "display_name": "A", "password": "long enough 1"}),
            "login",
        ),
        (
            json!({"login": "bob", "display_name": "", "password": "long enough 1"}),
            "display_name",
        ),
        (
            json!({"login": "bob", "display_name": "Bob", "password": "short"}),
            "password",
        ),
        (
            json!({"login": "bob", "display_name": "Bob", "password": "long enough 1", "pin": "1"}),
            "pin",
        ),
        (
            json!({"login": "bob", "display_name": "Bob", "password": "long enough 1", "role": "boss"}),
            "role",
        ),
        (
            json!({"login": "bob", "display_name": "Bob", "password": "long enough 1", "pwd": "x"}),
            "pwd",
        ),
    ];
    for (body, field) in &bad {
        let answer = admin.post(agents, &acme_key, body).await?;
        assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{body}: {}", answer.1);
        assert!(
            answer.1["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{}",
            answer.1
        );
    }
    let short_pw = admin.post(agents, &acme_key, &bad[2].0).await?;
    assert!(
        !short_pw.1.to_string().contains("short"),
        "the refused password is echoed: {}",
        short_pw.1
    );
    // Login and PIN taken within acme: 409; the same login and PIN at globex are fine.
    let same_login =
        json!({"login": "ann", "display_name": "Ann Two", "password": "other-secret-2"});
    assert_error(
        &admin.post(agents, &acme_key, &same_login).await?,
        StatusCode::CONFLICT,
        &["login"],
    );
    let same_pin =
        json!({"login": "bob", "display_name": "Bob", "password": "other-secret-2", "pin": "2580"});
    assert_error(
        &admin.post(agents, &acme_key, &same_pin).await?,
        StatusCode::CONFLICT,
        &["PIN"],
    );
    assert_eq!(admin.get_ok(agents, &acme_key).await?, before);
    let (status, _) = admin
        .post("/subscribers/globex/agents", &globex_key, &ann)
        .await?;
    assert_eq!(status, StatusCode::CREATED);

    // Patch, then a bad patch changes nothing.
    let item = format!("{agents}/{id}");
    let (status, patched) = admin
        .patch(
            &item,
            &acme_key,
            &json!({"display_name": "Ann Lee-Smith", "role": "agent"}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        (patched["display_name"].as_str(), patched["role"].as_str()),
        (Some("Ann Lee-Smith"), Some("agent"))
    );
    assert_error(
        &admin
            .patch(&item, &acme_key, &json!({"role": "root"}))
            .await?,
        StatusCode::BAD_REQUEST,
        &["role"],
    );
    assert_error(
        &admin
            .patch(&item, &acme_key, &json!({"login": "x"}))
            .await?,
        StatusCode::BAD_REQUEST,
        &["login"],
    );
    assert_error(
        &admin
            .patch(&item, &acme_key, &json!({"pin": "12a"}))
            .await?,
        StatusCode::BAD_REQUEST,
        &["pin"],
    );
    assert_eq!(admin.get_ok(&item, &acme_key).await?, patched);
    // The PIN: null removes it, digits set it.
    let (_, cleared) = admin.patch(&item, &acme_key, &json!({"pin": null})).await?;
    assert_eq!(cleared["has_pin"], false, "{cleared}");
    let (_, set) = admin
        .patch(&item, &acme_key, &json!({"pin": "4711"}))
        .await?;
    assert_eq!(set["has_pin"], true, "{set}");
    let (status, reset) = admin
        .post(
            &format!("{item}/password"),
            &acme_key,
            &json!({"password": "a-new-secret-3"}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(
        reset, set,
        "a password reset changes nothing an answer shows"
    );
    assert_error(
        &admin
            .post(
                &format!("{item}/password"),
                &acme_key,
                &json!({"password": "tiny"}),
            )
            .await?,
        StatusCode::BAD_REQUEST,
        &["password"],
    );

    // Globex's key: every agent endpoint of acme answers 404, and nothing changed.
    let snapshot = (
        admin.get_ok(agents, &acme_key).await?,
        admin.get_ok(&item, &acme_key).await?,
    );
    let foreign: [(reqwest::Method, String, Option<Value>); 6] = [
        (reqwest::Method::GET, agents.to_owned(), None),
        (
            reqwest::Method::POST,
            agents.to_owned(),
            Some(json!({"login": "eve", "display_name": "Eve", "password": "eve-secret-99"})),
        ),
        (reqwest::Method::GET, item.clone(), None),
        (
            reqwest::Method::PATCH,
            item.clone(),
            Some(json!({"active": false})),
        ),
        (
            reqwest::Method::POST,
            format!("{item}/password"),
            Some(json!({"password": "eve-takes-over"})),
        ),
        (reqwest::Method::DELETE, item.clone(), None),
    ];
    for (method, path, body) in &foreign {
        let body = body
            .as_ref()
            .map_or(admin_support::Body::None, admin_support::Body::Json);
        let answer = admin
            .call(method.clone(), path, Some(&globex_key), body)
            .await?;
        assert_eq!(
            answer.0,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            answer.1
        );
    }
    // Globex's own agent id under acme's path, with acme's key: 404 too.
    let globex_agents = admin
        .get_ok("/subscribers/globex/agents", &globex_key)
        .await?;
    let globex_id = globex_agents[0]["id"].as_i64().expect("id");
    assert_eq!(
        admin
            .get(&format!("{agents}/{globex_id}"), &acme_key)
            .await?
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        snapshot,
        (
            admin.get_ok(agents, &acme_key).await?,
            admin.get_ok(&item, &acme_key).await?
        )
    );

    let (status, _) = admin.delete(&item, &acme_key).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(admin.get(&item, &acme_key).await?.0, StatusCode::NOT_FOUND);
    assert_eq!(admin.get_ok(agents, &acme_key).await?, json!([]));
    Ok(())
}

/// `callbond admin agent …` with the password on stdin; `admin.cb.cli` gives no stdin.
fn cli_with_stdin(
    admin: &Admin,
    args: &[&str],
    stdin: &str,
) -> anyhow::Result<(bool, String, String)> {
    let exe = env!("CARGO_BIN_EXE_callbond");
    let mut child = Command::new(exe)
        .arg("--config")
        .arg(admin.cb.dir().join("callbond.toml"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    Ok((
        out.status.success(),
        String::from_utf8(out.stdout)?,
        String::from_utf8(out.stderr)?,
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_creates_lists_disables_and_resets_agents() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    admin.create_subscriber("acme", "Acme").await?;
    let create = [
        "admin",
        "agent",
        "create",
        "--subscriber",
        "acme",
        "--login",
        "cara",
        "--name",
        "Cara Diaz",
        "--password-stdin",
    ];
    let (ok, out, err) = cli_with_stdin(&admin, &create, "cara-from-stdin-1\n")?;
    assert!(ok, "{err}");
    assert!(out.starts_with("agent id: "), "{out}");
    assert!(
        !out.contains("cara-from-stdin-1"),
        "a password from stdin is not printed back: {out}"
    );
    // Too short on stdin: refused, nothing stored.
    let dan = [
        "admin",
        "agent",
        "create",
        "--subscriber",
        "acme",
        "--login",
        "dan",
        "--name",
        "Dan",
        "--password-stdin",
    ];
    let (ok, _, err) = cli_with_stdin(&admin, &dan, "short\n")?;
    assert!(!ok && err.contains("password must be"), "{err}");
    assert!(!err.contains("short\n"), "{err}");
    // Generated: printed once.
    let out = admin.cb.cli(&[
        "admin",
        "agent",
        "create",
        "--subscriber",
        "acme",
        "--login",
        "eve",
        "--name",
        "Eve",
        "--role",
        "supervisor",
    ])?;
    let generated = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("password line");
    assert_eq!(generated.chars().count(), 20, "{out}");

    let list = admin
        .cb
        .cli(&["admin", "agent", "list", "--subscriber", "acme"])?;
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(
        rows[0][1..],
        ["cara", "agent", "active", "no pin", "Cara Diaz"]
    );
    assert_eq!(
        rows[1][1..],
        ["eve", "supervisor", "active", "no pin", "Eve"]
    );
    let api = admin
        .get_ok("/subscribers/acme/agents", admin.operator())
        .await?;
    assert_eq!(api[0]["id"].to_string(), rows[0][0]);

    let cara = rows[0][0];
    admin.cb.cli(&[
        "admin",
        "agent",
        "disable",
        "--subscriber",
        "acme",
        "--id",
        cara,
    ])?;
    let list = admin
        .cb
        .cli(&["admin", "agent", "list", "--subscriber", "acme"])?;
    assert!(
        list.lines()
            .next()
            .unwrap_or_default()
            .contains("\tdisabled\t"),
        "{list}"
    );
    let reset = [
        "admin",
        "agent",
        "reset-password",
        "--subscriber",
        "acme",
        "--id",
        cara,
    ];
    let out = admin.cb.cli(&reset)?;
    assert!(
        out.contains(&format!("agent {cara} password reset")),
        "{out}"
    );
    assert_eq!(
        out.lines()
            .find_map(|l| l.strip_prefix("password: "))
            .map(|p| p.len()),
        Some(20)
    );
    // Unknown subscriber: a sentence that says what to do.
    let err = admin
        .cb
        .cli(&["admin", "agent", "list", "--subscriber", "nobody"])
        .expect_err("unknown");
    assert!(
        err.to_string().contains("callbond admin subscriber create"),
        "{err}"
    );
    Ok(())
}
