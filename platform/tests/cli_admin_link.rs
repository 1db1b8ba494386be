//! `callbond admin …` against the running server's database file: subscriber, site and route
//! import from the CLI, then `admin link` prints a speak-to-agent link whose query parses into
//! TAG1 fields that `platform::link::verify` accepts with the site's secret (and rejects when
//! altered or checked with another site's secret). Bad arguments fail with a sentence and a
//! non-zero exit, and change nothing.

use std::collections::HashMap;

use platform::link::{LinkError, SignedFields, verify};
use reqwest::Url;

mod admin_support;
use admin_support::Admin;

/// The value after `label: ` on one of `out`'s lines.
fn field(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {label:?} line in {out:?}"))
}

/// Runs the CLI expecting failure; answers its error text.
fn cli_error(admin: &Admin, args: &[&str]) -> String {
    match admin.cb.cli(args) {
        Ok(out) => panic!("callbond {args:?} succeeded: {out}"),
        Err(e) => format!("{e:#}"),
    }
}

/// `admin subscriber create --id ID --name NAME`.
fn subscriber_create<'a>(id: &'a str, name: &'a str) -> [&'a str; 7] {
    ["admin", "subscriber", "create", "--id", id, "--name", name]
}

/// `admin site create --subscriber acme --origin ORIGIN`.
fn site_create(origin: &str) -> [&str; 7] {
    [
        "admin",
        "site",
        "create",
        "--subscriber",
        "acme",
        "--origin",
        origin,
    ]
}

/// `admin routes import --subscriber acme [--replace] --file PATH`.
fn routes_import(path: &str, replace: bool) -> Vec<&str> {
    let mut args = vec!["admin", "routes", "import", "--subscriber", "acme"];
    if replace {
        args.push("--replace");
    }
    args.extend(["--file", path]);
    args
}

/// `--public-url BASE admin link --subscriber acme EXTRA…`.
fn link_args<'a>(base: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--public-url",
        base,
        "admin",
        "link",
        "--subscriber",
        "acme",
    ];
    args.extend_from_slice(extra);
    args
}

/// The link's query as a map.
fn link_query(out: &str) -> anyhow::Result<(Url, HashMap<String, String>)> {
    let url = Url::parse(out.trim())?;
    let query = url.query_pairs().into_owned().collect();
    Ok((url, query))
}

#[tokio::test]
async fn admin_link_is_verified_with_the_site_secret() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    let base = format!("http://{}", admin.cb.http);
    let cli = |args: &[&str]| admin.cb.cli(args);

    let out = cli(&subscriber_create("acme", "Acme Insurance"))?;
    assert_eq!(field(&out, "subscriber: "), "acme");
    let out = cli(&site_create("https://www.acme.example"))?;
    let secret = hex::decode(field(&out, "site secret: "))?;
    assert_eq!(secret.len(), 32);
    let out = cli(&site_create("https://other.acme.example"))?;
    let other_secret = hex::decode(field(&out, "site secret: "))?;
    let csv = admin.cb.dir().join("routes.csv");
    std::fs::write(
        &csv,
        "subject_code,center_number,dnis\nbilling,+12015550100,100\n",
    )?;
    let out = cli(&routes_import(csv.to_str().unwrap_or_default(), false))?;
    assert_eq!(field(&out, "imported: "), "1");
    // The server sees what the CLI wrote.
    let route = admin
        .get_ok("/subscribers/acme/routes/billing", admin.operator())
        .await?;
    assert_eq!(route["dnis"], "100");
    // A .json file is read as JSON; --replace drops routes not in it.
    let json_file = admin.cb.dir().join("routes.json");
    std::fs::write(
        &json_file,
        r#"[{"subject_code":"billing","center_number":"+12015550100","dnis":"100","fallback_numbers":["+12015550109"]},
            {"subject_code":"sales","center_number":"+12015550200"}]"#,
    )?;
    let out = cli(&routes_import(json_file.to_str().unwrap_or_default(), true))?;
    assert_eq!(field(&out, "imported: "), "2");
    assert_eq!(field(&out, "removed: "), "1");
    let route = admin
        .get_ok("/subscribers/acme/routes/billing", admin.operator())
        .await?;
    assert_eq!(
        route["fallback_numbers"],
        serde_json::json!(["+12015550109"])
    );

    let before = chrono::Utc::now().timestamp();
    let args = link_args(
        &base,
        &[
            "--origin",
            "https://www.acme.example",
            "--subject",
            "billing",
            "--whisper",
            "CUST-42",
            "--tel",
            "+12015550123",
            "--ttl-secs",
            "600",
        ],
    );
    let out = cli(&args)?;
    let (url, query) = link_query(&out)?;
    assert_eq!(format!("{}://{}", url.scheme(), url.authority()), base);
    assert_eq!(url.path(), "/speak");
    let names: Vec<&str> = {
        let mut n: Vec<&str> = query.keys().map(String::as_str).collect();
        n.sort_unstable();
        n
    };
    assert_eq!(names, ["exp", "sc", "sid", "sig", "tel", "wc"]);
    let exp: i64 = query["exp"].parse()?;
    assert!(
        (before + 600..=before + 660).contains(&exp),
        "exp {exp} vs now {before}"
    );
    let fields = SignedFields {
        sid: &query["sid"],
        sc: &query["sc"],
        wc: Some(&query["wc"]),
        tel: Some(&query["tel"]),
        exp,
    };
    assert_eq!(
        (fields.sid, fields.sc, fields.tel),
        ("acme", "billing", Some("+12015550123"))
    );
    assert_eq!(fields.wc, Some("CUST-42"));
    let now = chrono::Utc::now().timestamp();
    assert_eq!(verify(&secret, &fields, &query["sig"], now), Ok(()));
    assert_eq!(
        verify(&other_secret, &fields, &query["sig"], now),
        Err(LinkError::BadSignature)
    );
    let altered = SignedFields {
        sc: "sales",
        ..fields.clone()
    };
    assert_eq!(
        verify(&secret, &altered, &query["sig"], now),
        Err(LinkError::BadSignature)
    );
    assert_eq!(
        verify(&secret, &fields, &query["sig"], exp),
        Err(LinkError::Expired)
    );

    // Without the optional fields they are absent from the link, and the signature covers that.
    let args = link_args(
        &base,
        &[
            "--origin",
            "https://other.acme.example",
            "--subject",
            "billing",
        ],
    );
    let out = cli(&args)?;
    let (url, query) = link_query(&out)?;
    assert!(
        !query.contains_key("wc") && !query.contains_key("tel"),
        "{url}"
    );
    let bare = SignedFields {
        sid: "acme",
        sc: "billing",
        wc: None,
        tel: None,
        exp: query["exp"].parse()?,
    };
    assert_eq!(verify(&other_secret, &bare, &query["sig"], now), Ok(()));
    Ok(())
}

#[tokio::test]
async fn bad_cli_arguments_fail_with_a_sentence_and_change_nothing() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    let base = format!("http://{}", admin.cb.http);
    admin.cb.cli(&subscriber_create("acme", "Acme"))?;
    admin.cb.cli(&site_create("https://www.acme.example"))?;
    let link = |extra: &[&'static str]| link_args(&base, extra);
    let site = [
        "--origin",
        "https://www.acme.example",
        "--subject",
        "billing",
    ];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (link(&["--origin", "https://www.acme.example"]), "--subject"),
        (
            link(&[&site[..], &["--tel", "2015550123"]].concat()),
            "international form",
        ),
        (
            link(&[&site[..], &["--whisper", "two words"]].concat()),
            "whisper code",
        ),
        (
            link(&[&site[..], &["--ttl-secs", "0"]].concat()),
            "--ttl-secs must be between",
        ),
        (
            link(&[
                "--origin",
                "https://unknown.example",
                "--subject",
                "billing",
            ]),
            "has no site with origin",
        ),
        (
            link(&["--origin", "www.acme.example", "--subject", "billing"]),
            "origin must be http",
        ),
        (
            [
                "admin",
                "link",
                "--subscriber",
                "acme",
                "--origin",
                "https://www.acme.example",
                "--subject",
                "billing",
            ]
            .to_vec(),
            "public_base_url",
        ),
        (
            subscriber_create("Bad Id", "X").to_vec(),
            "subscriber id must be",
        ),
        (
            subscriber_create("acme", "Again").to_vec(),
            "already exists",
        ),
        (
            ["admin", "key", "create", "--subscriber", "nobody"].to_vec(),
            "subscriber nobody does not exist",
        ),
    ];
    for (args, expected) in &cases {
        let error = cli_error(&admin, args);
        assert!(
            error.contains(expected),
            "callbond {args:?}: {expected:?} not in {error}"
        );
    }

    // A route file with a bad row names it and imports nothing.
    let csv = admin.cb.dir().join("bad.csv");
    std::fs::write(
        &csv,
        "subject_code,center_number,dnis\nok,+12015550100,1\nbad,+12015550101,1x\n",
    )?;
    let path = csv.to_str().unwrap_or_default();
    let error = cli_error(&admin, &routes_import(path, false));
    assert!(error.contains("row 2, field dnis"), "{error}");
    assert!(error.contains("nothing was imported"), "{error}");
    let missing = cli_error(&admin, &routes_import("/nonexistent/r.csv", false));
    assert!(missing.contains("cannot read the route file"), "{missing}");
    let routes = admin
        .get_ok("/subscribers/acme/routes", admin.operator())
        .await?;
    assert_eq!(routes["total"], 0);
    let subscribers = admin.get_ok("/subscribers", admin.operator()).await?;
    assert_eq!(
        subscribers.as_array().map(Vec::len),
        Some(1),
        "{subscribers}"
    );
    assert_eq!(subscribers[0]["display_name"], "Acme");
    Ok(())
}
