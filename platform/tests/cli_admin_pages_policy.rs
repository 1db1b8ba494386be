//! `callbond admin page …` and `admin policy …`: the operator sets a subscriber's pages and
//! policy from the shell with the same JSON documents the HTTP API takes, checked by the same
//! code; what the CLI stores the API reads back, and a refused document changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

mod admin_support;
use admin_support::{Admin, Body};

fn cli_error(admin: &Admin, args: &[&str]) -> String {
    match admin.cb.cli(args) {
        Ok(out) => panic!("callbond {args:?} succeeded: {out}"),
        Err(e) => format!("{e:#}"),
    }
}

/// Writes `json` to a file in the binary's directory and answers its path.
fn json_file(admin: &Admin, name: &str, json: &serde_json::Value) -> String {
    let path = admin.cb.dir().join(name);
    std::fs::write(&path, json.to_string()).expect("write the JSON file");
    path.to_string_lossy().into_owned()
}

/// `admin policy show --subscriber acme`, parsed.
fn policy_shown(admin: &Admin) -> serde_json::Value {
    let out = admin
        .cb
        .cli(&["admin", "policy", "show", "--subscriber", "acme"])
        .expect("policy show");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `admin page list --subscriber acme`.
fn pages_listed(admin: &Admin) -> String {
    admin
        .cb
        .cli(&["admin", "page", "list", "--subscriber", "acme"])
        .expect("page list")
}

/// `admin page add --subscriber acme --file FILE`'s error text.
fn page_add_error(admin: &Admin, file: &str) -> String {
    cli_error(
        admin,
        &[
            "admin",
            "page",
            "add",
            "--subscriber",
            "acme",
            "--file",
            file,
        ],
    )
}

#[tokio::test]
async fn pages_and_policy_from_the_cli_are_what_the_api_serves() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    admin.cb.cli(&[
        "admin",
        "subscriber",
        "create",
        "--id",
        "acme",
        "--name",
        "Acme",
    ])?;

    // A page, added and listed.
    let page = json_file(
        &admin,
        "tariffs.json",
        &json!({"keys": "12", "title": "Tariffs", "url": "https://acme.example/tariffs"}),
    );
    let out = admin.cb.cli(&[
        "admin",
        "page",
        "add",
        "--subscriber",
        "acme",
        "--file",
        &page,
    ])?;
    let id = out
        .strip_prefix("page id: ")
        .map(str::trim)
        .unwrap_or_else(|| panic!("{out:?}"))
        .to_owned();
    assert_eq!(
        pages_listed(&admin),
        format!("{id}\t12\tTariffs\thttps://acme.example/tariffs\n")
    );
    let (status, pages) = admin
        .call(
            Method::GET,
            "/subscribers/acme/pages",
            Some(admin.operator()),
            Body::None,
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pages[0]["keys"], "12");
    assert_eq!(pages[0]["url"], "https://acme.example/tariffs");

    // Refused as the API refuses it: a page key run holding # can never be keyed.
    let hash = json_file(
        &admin,
        "hash.json",
        &json!({"keys": "1#", "title": "Never", "html": "<p>x</p>"}),
    );
    let error = page_add_error(&admin, &hash);
    assert!(error.contains("# ends the key run"), "{error}");
    assert!(error.contains("nothing was changed"), "{error}");
    let both = json_file(
        &admin,
        "both.json",
        &json!({"keys": "3", "title": "Both", "html": "<p>x</p>", "url": "https://a.example/"}),
    );
    let error = page_add_error(&admin, &both);
    assert!(error.contains("not both"), "{error}");
    assert_eq!(pages_listed(&admin).lines().count(), 1);

    // The policy: set from a partial document (the rest defaults), shown, and served.
    let policy = json_file(
        &admin,
        "policy.json",
        &json!({"time_zone": "Europe/Berlin", "default_country": "DE",
                "allowed_caller_countries": ["DE", "AT"], "ring_timeout_center_secs": 25}),
    );
    let stored = admin.cb.cli(&[
        "admin",
        "policy",
        "set",
        "--subscriber",
        "acme",
        "--file",
        &policy,
    ])?;
    let stored: serde_json::Value = serde_json::from_str(&stored)?;
    assert_eq!(stored["time_zone"], "Europe/Berlin");
    assert_eq!(stored["ring_timeout_center_secs"], 25);
    let shown = policy_shown(&admin);
    assert_eq!(shown, stored);
    let (status, served) = admin
        .call(
            Method::GET,
            "/subscribers/acme/policy",
            Some(admin.operator()),
            Body::None,
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, stored);

    // A wrong field is named, and the stored policy stays as it was.
    let wrong = json_file(
        &admin,
        "wrong.json",
        &json!({"ring_timeout_center_secs": 0}),
    );
    let error = cli_error(
        &admin,
        &[
            "admin",
            "policy",
            "set",
            "--subscriber",
            "acme",
            "--file",
            &wrong,
        ],
    );
    assert!(error.contains("ring_timeout_center_secs"), "{error}");
    let after = policy_shown(&admin);
    assert_eq!(after, stored);

    // Deleting the page and resetting the policy.
    admin.cb.cli(&[
        "admin",
        "page",
        "delete",
        "--subscriber",
        "acme",
        "--id",
        &id,
    ])?;
    assert_eq!(pages_listed(&admin), "");
    admin
        .cb
        .cli(&["admin", "policy", "reset", "--subscriber", "acme"])?;
    let reset = policy_shown(&admin);
    assert_eq!(reset["time_zone"], "UTC");
    // An unknown subscriber is a sentence that says what to do.
    let error = cli_error(
        &admin,
        &["admin", "policy", "show", "--subscriber", "nobody"],
    );
    assert!(error.contains("admin subscriber create"), "{error}");
    Ok(())
}
