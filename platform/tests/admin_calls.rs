//! Call detail records through the admin API: the list filters by state, time window and
//! subject code, newest first, and one call answers with its event timeline in order. The
//! calls are written into the database file as the call flow would write them.

use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use subscriber_db::{
    CallEnd, CallOrder, Db, EndCause, HungUpFirst, Leg, LegEndCause, NewCall, SessionId,
    SubscriberId, TimelineEvent,
};

mod admin_support;
use admin_support::{Admin, assert_error};

fn ids(calls: &Value) -> Vec<String> {
    calls
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn calls_list_filters_and_detail_with_timeline() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    admin.create_subscriber("acme", "Acme").await?;
    let (_, key) = admin.subscriber_key("acme").await?;
    let acme: SubscriberId = "acme".parse()?;
    let t0 = Utc
        .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .unwrap_or_default();
    let mut made = Vec::new();
    {
        let db = Db::open(admin.cb.db_path())?;
        for (i, subject) in ["billing", "sales", "billing"].into_iter().enumerate() {
            let id = SessionId::new_random();
            let call = NewCall {
                id: id.clone(),
                subject_code: subject.parse()?,
                whisper_code: Some("W1".parse()?),
                user_number: "+12015550123".parse()?,
                client_ip: "192.0.2.1".parse()?,
                form_token: None,
                session_ref: format!("31415926{i:02}").parse()?,
                dnis_range: None,
            };
            let at = t0 + Duration::hours(i as i64);
            db.create_call(&acme, &call, at)?;
            let steps = [
                TimelineEvent::Started {
                    call_order: CallOrder::UserFirst,
                },
                TimelineEvent::Answered { leg: Leg::User },
                TimelineEvent::Answered { leg: Leg::Center },
            ];
            for (k, step) in steps.iter().enumerate() {
                db.append_call_event(&acme, &id, at + Duration::seconds(k as i64), step)?;
            }
            made.push(id.as_str().to_owned());
        }
        let end = CallEnd {
            cause: EndCause::UserHungUp,
            user_leg_cause: Some(LegEndCause::RemoteHangup),
            center_leg_cause: None,
            hung_up_first: Some(HungUpFirst::User),
        };
        db.finish_call(
            &acme,
            &SessionId::try_from(made[0].as_str())?,
            &end,
            t0 + Duration::minutes(5),
        )?;
    }
    let path = "/subscribers/acme/calls";

    let all = admin.get_ok(path, &key).await?;
    assert_eq!(
        ids(&all),
        [made[2].clone(), made[1].clone(), made[0].clone()]
    );
    let ended = admin.get_ok(&format!("{path}?state=ended"), &key).await?;
    assert_eq!(ids(&ended), [made[0].clone()]);
    assert_eq!(ended[0]["end_cause"], "user_hung_up");
    assert_eq!(ended[0]["user_end_cause"], "remote_hangup");
    assert_eq!(ended[0]["hung_up_first"], "user");
    let billing = admin
        .get_ok(&format!("{path}?subject_code=billing"), &key)
        .await?;
    assert_eq!(ids(&billing), [made[2].clone(), made[0].clone()]);
    let window = admin
        .get_ok(
            &format!("{path}?since=2026-03-01T09:30:00Z&until=2026-03-01T11:00:00Z"),
            &key,
        )
        .await?;
    assert_eq!(ids(&window), [made[1].clone()]);
    let paged = admin
        .get_ok(&format!("{path}?limit=1&offset=1"), &key)
        .await?;
    assert_eq!(ids(&paged), [made[1].clone()]);

    let detail = admin.get_ok(&format!("{path}/{}", made[0]), &key).await?;
    assert_eq!(detail["id"], made[0].as_str());
    assert_eq!(detail["subject_code"], "billing");
    assert_eq!(detail["user_number"], "+12015550123");
    let kinds: Vec<&str> = detail["events"]
        .as_array()
        .map(|e| e.iter().filter_map(|x| x["kind"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, ["started", "answered", "answered"]);
    assert_eq!(
        detail["events"][0]["detail"],
        json!({ "call_order": "user_first" })
    );
    assert_eq!(detail["events"][2]["detail"], json!({ "leg": "center" }));

    // Bad filters are named; an unknown call is 404.
    let answer = admin.get(&format!("{path}?since=yesterday"), &key).await?;
    assert_error(&answer, StatusCode::BAD_REQUEST, &["since", "RFC 3339"]);
    assert_eq!(answer.1["error"]["field"], "since");
    let answer = admin.get(&format!("{path}?limit=5000"), &key).await?;
    assert_error(&answer, StatusCode::BAD_REQUEST, &["limit", "1 to 1000"]);
    let answer = admin.get(&format!("{path}?number=+1201"), &key).await?;
    assert_error(
        &answer,
        StatusCode::BAD_REQUEST,
        &["unknown query parameter `number`"],
    );
    let unknown = SessionId::new_random();
    let answer = admin
        .get(&format!("{path}/{}", unknown.as_str()), &key)
        .await?;
    assert_error(&answer, StatusCode::NOT_FOUND, &["call not found"]);
    Ok(())
}
