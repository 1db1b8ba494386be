//! Property tests for what the admin API reads from operators' requests: route import files
//! (CSV and JSON) and query strings. Arbitrary or mutated input gives rows or an error that
//! names a row within the file, never a panic; a table we write reads back unchanged.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use axum::http::StatusCode;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use subscriber_db::RouteInput;

use super::extract::{QueryParams, numeric_id, subscriber_id};
use super::route_file::{CSV_COLUMNS, parse_csv, parse_json};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x00ca_11b0_d5d9),
        ..Config::default()
    }
}

/// A text with 1-6 random byte edits (overwrite, insert, delete).
fn mutate(seed: String, edits: Vec<(prop::sample::Index, u8, u8)>) -> Vec<u8> {
    let mut bytes = seed.into_bytes();
    for (pos, op, byte) in edits {
        let at = pos.index(bytes.len() + 1);
        match op % 3 {
            0 if at < bytes.len() => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            _ if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.push(byte),
        }
    }
    bytes
}

/// Rows as an operator's table has them: trimmed text, fallback numbers without separators.
fn route_rows() -> impl Strategy<Value = Vec<RouteInput>> {
    let text = "([!-~]([ -~]{0,10}[!-~])?)?"; // no leading or trailing blank (the CSV is trimmed)
    prop::collection::vec(
        (
            "[A-Za-z0-9_.-]{1,12}",
            "\\+[0-9]{6,14}",
            "[0-9]{0,6}",
            text,
            prop::collection::vec("\\+[0-9]{6,12}", 0..3),
            (
                "([0-9]{1,4}-[0-9]{1,4})?",
                "(true|false|yes|no|)",
                "(true|false|on|off|)",
                "((ref|subject)=X-[A-Za-z]{1,6})?",
                "(1|0|)",
            ),
            text,
        )
            .prop_map(
                |(
                    subject_code,
                    center_number,
                    dnis,
                    whisper_template,
                    fallback_numbers,
                    c,
                    label,
                )| {
                    let (dnis_range, uui, x_headers, x_header_names, dtmf_ref) = c;
                    RouteInput {
                        subject_code,
                        center_number,
                        dnis,
                        whisper_template,
                        fallback_numbers,
                        dnis_range,
                        uui,
                        x_headers,
                        x_header_names,
                        dtmf_ref,
                        label,
                    }
                },
            ),
        0..6,
    )
}

fn write_csv(rows: &[RouteInput], order: &[usize], sep: &str) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(order.iter().map(|&i| CSV_COLUMNS[i]))
        .unwrap();
    for r in rows {
        let fallbacks = r.fallback_numbers.join(sep);
        let cells = [
            &r.subject_code,
            &r.center_number,
            &r.dnis,
            &r.whisper_template,
            &fallbacks,
            &r.dnis_range,
            &r.uui,
            &r.x_headers,
            &r.x_header_names,
            &r.dtmf_ref,
            &r.label,
        ];
        w.write_record(order.iter().map(|&i| cells[i].as_str()))
            .unwrap();
    }
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

fn all_columns() -> impl Strategy<Value = Vec<usize>> {
    Just((0..CSV_COLUMNS.len()).collect::<Vec<usize>>()).prop_shuffle()
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn csv_tables_round_trip(rows in route_rows(), order in all_columns(), semi in any::<bool>()) {
        let csv = write_csv(&rows, &order, if semi { ";" } else { " " });
        prop_assert_eq!(parse_csv(csv.as_bytes()).unwrap(), rows);
    }

    #[test]
    fn json_tables_round_trip(rows in route_rows()) {
        let json = serde_json::to_vec(&rows).unwrap();
        prop_assert_eq!(parse_json(&json).unwrap(), rows);
    }

    #[test]
    fn mutated_import_files_give_rows_or_a_row_error(
        rows in route_rows(),
        order in all_columns(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u8>()), 1..6),
        raw in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let csv = mutate(write_csv(&rows, &order, ";"), edits.clone());
        let json = mutate(serde_json::to_string(&rows).unwrap(), edits);
        for (bytes, is_csv) in [(&csv, true), (&raw, true), (&json, false), (&raw, false)] {
            let result = if is_csv { parse_csv(bytes) } else { parse_json(bytes) };
            if let Err(e) = result {
                // The row named is in the file (CSV counts the header as row 0, JSON rows from 1).
                let lines = bytes.iter().filter(|&&b| b == b'\n' || b == b'\r').count() + 1;
                let limit = if is_csv { lines } else { bytes.len() };
                prop_assert!(e.row <= limit, "{} > {}: {}", e.row, limit, e);
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    /// Query strings: a 400 naming the problem or the parameters; `limit` in range or a 400.
    #[test]
    fn query_strings_parse_or_refuse(
        raw in prop_oneof![
            "(?s).{0,60}",
            "((limit|subject_code|from|to|x|)=([0-9a-z+%=&-]|%[0-9A-F]{2}){0,10}&?){0,5}",
        ],
        path in "(?s).{0,30}",
    ) {
        let known = ["limit", "subject_code", "from", "to"];
        match QueryParams::parse(Some(&raw), &known) {
            Ok(q) => match q.limit(50, 500) {
                Ok(limit) => prop_assert!((1..=500).contains(&limit)),
                Err(e) => {
                    prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
                    prop_assert_eq!(e.field.as_deref(), Some("limit"));
                }
            },
            Err(e) => prop_assert_eq!(e.status, StatusCode::BAD_REQUEST),
        }
        for e in [subscriber_id(&path).err(), numeric_id(&path, "site").err()].into_iter().flatten() {
            prop_assert_eq!(e.status, StatusCode::NOT_FOUND);
        }
    }

    #[test]
    fn query_values_round_trip(limit in 1u32..=500, code in "[ -~]{1,20}") {
        let raw = serde_urlencoded::to_string([("subject_code", code.as_str()), ("limit", &limit.to_string())]).unwrap();
        let q = QueryParams::parse(Some(&raw), &["limit", "subject_code"]).unwrap();
        prop_assert_eq!(q.limit(50, 500).unwrap(), limit);
        prop_assert_eq!(q.get("subject_code"), Some(code.as_str()));
    }
}
