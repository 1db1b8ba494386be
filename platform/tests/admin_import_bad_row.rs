//! A route import with one bad row (bad E.164, a letter in a DNIS, a duplicate subject code, a
//! CSV syntax error, an unknown column, a JSON value of the wrong type) answers 400 naming the
//! row and field, and stores nothing from the file: in merge and in replace mode the routes
//! already there survive unchanged.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

mod admin_support;
use admin_support::{Admin, Body, assert_error};

const GOOD_ROWS: usize = 50;

fn header() -> &'static str {
    "subject_code,center_number,dnis,whisper_template,fallback_numbers\n"
}

/// 50 good rows for subject codes `new-0000`…, with row `bad_row` (1-based) replaced.
fn file_with(bad_row: usize, bad_line: &str) -> String {
    let mut csv = String::from(header());
    for row in 1..=GOOD_ROWS {
        if row == bad_row {
            csv.push_str(bad_line);
        } else {
            csv.push_str(&format!(
                "new-{row:04},+1201555{row:04},{row},About {row},+12125550100\n"
            ));
        }
        csv.push('\n');
    }
    csv.replace("\n\n", "\n")
}

#[tokio::test]
async fn a_bad_row_names_row_and_field_and_stores_nothing() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    admin.create_subscriber("acme", "Acme").await?;
    let (_, key) = admin.subscriber_key("acme").await?;

    // The table before: three routes that must survive every rejected import.
    let existing = "subject_code,center_number,dnis\nbilling,+12015550100,100\nsales,+12015550101,\nnew-0001,+12015550102,555\n";
    let (status, body) = admin
        .post_csv("/subscribers/acme/routes/import", &key, existing)
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = admin.all_routes("acme", &key, 1000).await?;
    assert_eq!(before.len(), 3);

    // (file, row, field, words the message must contain)
    let cases: Vec<(String, u64, &str, Vec<&str>)> = vec![
        (
            file_with(17, "new-0017,+1201555,17,About,\n"),
            17,
            "center_number",
            vec!["row 17", "center_number", "+1201555"],
        ),
        (
            file_with(23, "new-0023,2015550123,23,About,\n"),
            23,
            "center_number",
            vec!["row 23", "international"],
        ),
        (
            file_with(3, "new-0003,+12015550103,12a4,About,\n"),
            3,
            "dnis",
            vec!["row 3", "dnis", "12a4"],
        ),
        (
            file_with(40, "new-0002,+12015550140,40,About,\n"),
            40,
            "subject_code",
            vec!["row 40", "new-0002", "row 2"],
        ),
        (
            file_with(9, "new-0009,+12015550109,9,About,+1201555 +44\n"),
            9,
            "fallback_numbers",
            vec!["row 9", "fallback_numbers"],
        ),
        (
            file_with(31, "new-0031,+12015550131,31\n"),
            31,
            "whisper_template",
            vec!["row 31", "fields"],
        ),
        (
            format!(
                "subject_code,center_number,colour\n{}",
                "x,+12015550100,red\n"
            ),
            0,
            "column",
            vec!["header", "colour"],
        ),
    ];

    for mode in ["merge", "replace"] {
        for (file, row, field, words) in &cases {
            let answer = admin
                .post_csv(
                    &format!("/subscribers/acme/routes/import?mode={mode}"),
                    &key,
                    file,
                )
                .await?;
            assert_error(&answer, StatusCode::BAD_REQUEST, words);
            let error = &answer.1["error"];
            assert_eq!(error["row"], json!(row), "{mode}: {error}");
            assert_eq!(error["field"], json!(field), "{mode}: {error}");
            let after = admin.all_routes("acme", &key, 1000).await?;
            assert_eq!(
                after, before,
                "{mode} import of a bad file changed the table: {error}"
            );
        }
    }

    // The same all-or-nothing rule for JSON: row 2's dnis has a letter.
    let rows = json!([
        { "subject_code": "j1", "center_number": "+12015550150" },
        { "subject_code": "j2", "center_number": "+12015550151", "dnis": "9x" },
    ]);
    let answer = admin
        .post("/subscribers/acme/routes/import?mode=replace", &key, &rows)
        .await?;
    assert_error(&answer, StatusCode::BAD_REQUEST, &["row 2", "dnis"]);
    assert_eq!(answer.1["error"]["row"], 2);
    assert_eq!(answer.1["error"]["field"], "dnis");
    // A JSON value of the wrong type is named the same way.
    let rows = json!([{ "subject_code": "j1", "center_number": 12015550150u64 }]);
    let answer = admin
        .post("/subscribers/acme/routes/import", &key, &rows)
        .await?;
    assert_error(
        &answer,
        StatusCode::BAD_REQUEST,
        &["row 1", "center_number"],
    );
    assert_eq!(answer.1["error"]["field"], "center_number");
    assert_eq!(admin.all_routes("acme", &key, 1000).await?, before);

    // Neither CSV nor JSON: 415 with a sentence, nothing stored; a bad mode: 400 naming it.
    let answer = admin
        .call(
            Method::POST,
            "/subscribers/acme/routes/import",
            Some(&key),
            Body::Raw("text/plain", &file_with(0, "")),
        )
        .await?;
    assert_error(
        &answer,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &["text/csv", "application/json"],
    );
    let answer = admin
        .post_csv(
            "/subscribers/acme/routes/import?mode=overwrite",
            &key,
            &file_with(0, ""),
        )
        .await?;
    assert_error(
        &answer,
        StatusCode::BAD_REQUEST,
        &["mode", "merge or replace"],
    );
    assert_eq!(admin.all_routes("acme", &key, 1000).await?, before);

    // Control: the same file without its bad row is accepted, and replace removes the three
    // routes that were there before, so the checks above could have seen a change.
    let (status, summary) = admin
        .post_csv(
            "/subscribers/acme/routes/import?mode=replace",
            &key,
            &file_with(0, ""),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary, json!({ "imported": GOOD_ROWS, "removed": 3 }));
    let after: Vec<Value> = admin.all_routes("acme", &key, 1000).await?;
    assert_eq!(after.len(), GOOD_ROWS);
    assert!(after.iter().all(|r| r["subject_code"] != "billing"));
    Ok(())
}
