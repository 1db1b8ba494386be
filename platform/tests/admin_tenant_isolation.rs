//! Tenant isolation through the HTTP admin API: every admin endpoint called with subscriber B's
//! key on subscriber A's objects answers 404 (never 403, so B learns nothing about A), and
//! afterwards A's objects read back exactly as before (with A's key) and A's site secret is
//! unchanged in the database. Operator-only actions with a subscriber key answer 403.

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use subscriber_db::{Db, NewCall, SessionId, SiteId, SubscriberId, TimelineEvent};

mod admin_support;
use admin_support::{Admin, Body, assert_error};

/// The session reference of A's call, and the DNIS it draws from its range `0470-0479`.
const ALPHA_REF: &str = "1414213562";
const ALPHA_DNIS: &str = "0470";

/// Everything A has, read with A's key.
async fn snapshot(
    admin: &Admin,
    sid: &str,
    key: &str,
    objects: Option<&Objects>,
) -> anyhow::Result<Vec<Value>> {
    let mut paths = vec![
        format!("/subscribers/{sid}"),
        format!("/subscribers/{sid}/keys"),
        format!("/subscribers/{sid}/sites"),
        format!("/subscribers/{sid}/routes?limit=1000"),
        format!("/subscribers/{sid}/pages"),
        format!("/subscribers/{sid}/policy"),
        format!("/subscribers/{sid}/dispositions"),
        format!("/subscribers/{sid}/calls"),
    ];
    if let Some(ids) = objects {
        paths.extend([
            format!("/subscribers/{sid}/sites/{}", ids.site),
            format!("/subscribers/{sid}/routes/{}", ids.route),
            format!("/subscribers/{sid}/pages/{}", ids.page),
            format!("/subscribers/{sid}/calls/{}", ids.call),
        ]);
    }
    let mut state = Vec::new();
    for path in paths {
        state.push(admin.get_ok(&path, key).await?);
    }
    Ok(state)
}

struct Objects {
    key: i64,
    site: i64,
    route: String,
    page: i64,
    call: String,
}

#[tokio::test]
async fn another_subscribers_key_gets_404_everywhere_and_changes_nothing() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    admin.create_subscriber("alpha", "Alpha").await?;
    admin.create_subscriber("bravo", "Bravo").await?;
    let (a_key_id, a_key) = admin.subscriber_key("alpha").await?;
    let (_, b_key) = admin.subscriber_key("bravo").await?;

    // A's objects: a site, routes, a page, a policy, and a call with a timeline (calls are
    // written by the call flow, so the test writes one straight into the database file).
    let (status, site) = admin
        .post(
            "/subscribers/alpha/sites",
            &a_key,
            &json!({ "origin": "https://alpha.example" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{site}");
    let a_site = site["id"].as_i64().unwrap_or_default();
    let a_secret = site["secret"].as_str().unwrap_or_default().to_owned();
    let (status, body) = admin
        .post_csv(
            "/subscribers/alpha/routes/import",
            &a_key,
            "subject_code,center_number,dnis\nalpha-only,+12015550100,100\nshared,+12015550101,101\n",
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, page) = admin
        .post(
            "/subscribers/alpha/pages",
            &a_key,
            &json!({ "keys": "1", "title": "Alpha page", "html": "<p>alpha</p>" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    let a_page = page["id"].as_i64().unwrap_or_default();
    let (status, body) = admin
        .put(
            "/subscribers/alpha/policy",
            &a_key,
            &json!({ "time_zone": "Europe/Berlin", "max_concurrent_calls": 2 }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = admin
        .put(
            "/subscribers/alpha/dispositions",
            &a_key,
            &json!({ "dispositions": [{ "code": "alpha-only", "label": "Alpha outcome" }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let call_id = SessionId::new_random();
    let alpha: SubscriberId = "alpha".parse()?;
    {
        let db = Db::open(admin.cb.db_path())?;
        let call = NewCall {
            id: call_id.clone(),
            subject_code: "alpha-only".parse()?,
            whisper_code: None,
            user_number: "+12015550199".parse()?,
            client_ip: "192.0.2.7".parse()?,
            form_token: None,
            session_ref: ALPHA_REF.parse()?,
            dnis_range: Some("0470-0479".parse()?),
        };
        db.create_call(&alpha, &call, Utc::now())?;
        db.append_call_event(&alpha, &call_id, Utc::now(), &TimelineEvent::Farewell {})?;
    }
    // B has a route with the same code, so a route answer cannot come from B's own table.
    let (status, body) = admin
        .post(
            "/subscribers/bravo/routes",
            &b_key,
            &json!({ "subject_code": "shared", "center_number": "+12015550300" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let o = Objects {
        key: a_key_id,
        site: a_site,
        route: "alpha-only".into(),
        page: a_page,
        call: call_id.as_str().to_owned(),
    };
    let a_before = snapshot(&admin, "alpha", &a_key, Some(&o)).await?;
    let b_before = snapshot(&admin, "bravo", &b_key, None).await?;

    let rename_body = json!({ "display_name": "Owned" });
    let site_body = json!({ "origin": "https://evil.example", "accept_unsigned": true });
    let route_body = json!({ "subject_code": "alpha-only", "center_number": "+12015550666" });
    let page_body = json!({ "keys": "9", "title": "Evil", "url": "https://evil.example/" });
    let policy_body = json!({ "time_zone": "UTC" });
    let dispositions_body = json!({ "dispositions": [] });
    let rows = json!([{ "subject_code": "evil", "center_number": "+12015550666" }]);
    let csv = "subject_code,center_number\nevil,+12015550666\n";
    let (a, b) = ("/subscribers/alpha", "/subscribers/bravo");
    let calls: Vec<(Method, String, Body<'_>)> = vec![
        // On A's subscriber id.
        (Method::GET, a.into(), Body::None),
        (Method::PATCH, a.into(), Body::Json(&rename_body)),
        (Method::DELETE, a.into(), Body::None),
        (Method::POST, format!("{a}/keys"), Body::None),
        (Method::GET, format!("{a}/keys"), Body::None),
        (Method::DELETE, format!("{a}/keys/{}", o.key), Body::None),
        (Method::POST, format!("{a}/sites"), Body::Json(&site_body)),
        (Method::GET, format!("{a}/sites"), Body::None),
        (Method::GET, format!("{a}/sites/{}", o.site), Body::None),
        (
            Method::PUT,
            format!("{a}/sites/{}", o.site),
            Body::Json(&site_body),
        ),
        (Method::DELETE, format!("{a}/sites/{}", o.site), Body::None),
        (
            Method::POST,
            format!("{a}/sites/{}/secret", o.site),
            Body::None,
        ),
        (Method::POST, format!("{a}/routes"), Body::Json(&route_body)),
        (Method::GET, format!("{a}/routes"), Body::None),
        (Method::GET, format!("{a}/routes/{}", o.route), Body::None),
        (
            Method::PUT,
            format!("{a}/routes/{}", o.route),
            Body::Json(&route_body),
        ),
        (
            Method::DELETE,
            format!("{a}/routes/{}", o.route),
            Body::None,
        ),
        (
            Method::POST,
            format!("{a}/routes/import?mode=replace"),
            Body::Csv(csv),
        ),
        (
            Method::POST,
            format!("{a}/routes/import?mode=merge"),
            Body::Json(&rows),
        ),
        (Method::POST, format!("{a}/pages"), Body::Json(&page_body)),
        (Method::GET, format!("{a}/pages"), Body::None),
        (Method::GET, format!("{a}/pages/{}", o.page), Body::None),
        (
            Method::PUT,
            format!("{a}/pages/{}", o.page),
            Body::Json(&page_body),
        ),
        (Method::DELETE, format!("{a}/pages/{}", o.page), Body::None),
        (Method::GET, format!("{a}/policy"), Body::None),
        (Method::PUT, format!("{a}/policy"), Body::Json(&policy_body)),
        (Method::DELETE, format!("{a}/policy"), Body::None),
        (Method::GET, format!("{a}/dispositions"), Body::None),
        (
            Method::PUT,
            format!("{a}/dispositions"),
            Body::Json(&dispositions_body),
        ),
        (Method::GET, format!("{a}/calls"), Body::None),
        (Method::GET, format!("{a}/calls/{}", o.call), Body::None),
        (Method::GET, format!("{a}/dnis/{ALPHA_DNIS}"), Body::None),
        // A's call by its session reference, which names no subscriber.
        (Method::GET, format!("/refs/{ALPHA_REF}"), Body::None),
        // On B's own subscriber id, naming A's objects.
        (Method::DELETE, format!("{b}/keys/{}", o.key), Body::None),
        (Method::GET, format!("{b}/sites/{}", o.site), Body::None),
        (
            Method::PUT,
            format!("{b}/sites/{}", o.site),
            Body::Json(&site_body),
        ),
        (Method::DELETE, format!("{b}/sites/{}", o.site), Body::None),
        (
            Method::POST,
            format!("{b}/sites/{}/secret", o.site),
            Body::None,
        ),
        (Method::GET, format!("{b}/routes/{}", o.route), Body::None),
        (
            Method::PUT,
            format!("{b}/routes/{}", o.route),
            Body::Json(&route_body),
        ),
        (
            Method::DELETE,
            format!("{b}/routes/{}", o.route),
            Body::None,
        ),
        (Method::GET, format!("{b}/pages/{}", o.page), Body::None),
        (
            Method::PUT,
            format!("{b}/pages/{}", o.page),
            Body::Json(&page_body),
        ),
        (Method::DELETE, format!("{b}/pages/{}", o.page), Body::None),
        (Method::GET, format!("{b}/calls/{}", o.call), Body::None),
        (Method::GET, format!("{b}/dnis/{ALPHA_DNIS}"), Body::None),
    ];
    let count = calls.len();
    for (method, path, body) in calls {
        let answer = admin
            .call(method.clone(), &path, Some(&b_key), body)
            .await?;
        assert_eq!(
            answer.0,
            StatusCode::NOT_FOUND,
            "{method} {path} with B's key: {}",
            answer.1
        );
        assert_error(&answer, StatusCode::NOT_FOUND, &["not found"]);
        assert!(
            !answer.1.to_string().contains("alpha-only"),
            "{method} {path} leaked A's data: {}",
            answer.1
        );
    }
    eprintln!("{count} endpoint calls with B's key on A's objects answered 404");

    // A's own key, and the operator's, resolve A's reference and drawn DNIS to A's call.
    let by_ref = admin.get_ok(&format!("/refs/{ALPHA_REF}"), &a_key).await?;
    assert_eq!(by_ref["id"], json!(o.call), "{by_ref}");
    assert_eq!(by_ref["session_ref"], json!(ALPHA_REF));
    let by_ref = admin
        .get_ok(&format!("/refs/{ALPHA_REF}"), admin.operator())
        .await?;
    assert_eq!(by_ref["subscriber_id"], json!("alpha"));
    let by_dnis = admin
        .get_ok(&format!("{a}/dnis/{ALPHA_DNIS}"), &a_key)
        .await?;
    assert_eq!(by_dnis["id"], json!(o.call), "{by_dnis}");
    assert_eq!(by_dnis["drawn_dnis"], json!(ALPHA_DNIS));

    assert_eq!(snapshot(&admin, "alpha", &a_key, Some(&o)).await?, a_before);
    assert_eq!(snapshot(&admin, "bravo", &b_key, None).await?, b_before);
    let db = Db::open(admin.cb.db_path())?;
    let secret = db.get_site_secret(&alpha, SiteId(a_site))?;
    assert_eq!(secret.to_hex(), a_secret, "A's site secret was rotated");

    // B's key lists only B; operator-only actions answer 403 on B's own subscriber.
    let listed = admin.get_ok("/subscribers", &b_key).await?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], "bravo");
    let forbidden = [
        (
            Method::POST,
            "/subscribers".to_owned(),
            Body::Json(&json!({ "id": "charlie", "display_name": "C" })),
        ),
        // Even with a body that would not parse: the key is refused before the body is read.
        (
            Method::POST,
            "/subscribers".to_owned(),
            Body::Json(&json!({ "id": 5 })),
        ),
        (Method::DELETE, b.to_owned(), Body::None),
        (
            Method::PATCH,
            b.to_owned(),
            Body::Json(&json!({ "active": false })),
        ),
    ];
    for (method, path, body) in forbidden {
        let answer = admin
            .call(method.clone(), &path, Some(&b_key), body)
            .await?;
        assert_error(&answer, StatusCode::FORBIDDEN, &["operator"]);
    }
    let bravo = admin.get_ok(b, &b_key).await?;
    assert_eq!(bravo["active"], true);
    let all = admin.get_ok("/subscribers", admin.operator()).await?;
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");
    Ok(())
}
