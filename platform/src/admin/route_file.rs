//! Route import files (the network abstraction table in bulk) read into `RouteInput` rows, as
//! CSV or JSON. Only the file's shape is checked here: a CSV syntax error, an unknown or
//! missing column, or a JSON value of the wrong type is named by row and field. The values
//! themselves are validated by `subscriber_db::Db::import_routes`, which names row and field
//! the same way. Rows are numbered from 1; the CSV header is row 0.
//!
//! CSV columns (header row required, any order): `subject_code` and `center_number` required;
//! `dnis`, `whisper_template`, `fallback_numbers`, `label` and the context columns `dnis_range`
//! (`4700-4799`), `uui`, `x_headers`, `dtmf_ref` (true/false) and `x_header_names`
//! (`ref=X-…;subject=X-…`) optional. Fallback numbers are separated by spaces or `;`.

use subscriber_db::{ImportError, RouteInput};

/// The CSV columns, in the order written by tools that export a table.
pub(crate) const CSV_COLUMNS: [&str; 11] = [
    "subject_code",
    "center_number",
    "dnis",
    "whisper_template",
    "fallback_numbers",
    "dnis_range",
    "uui",
    "x_headers",
    "x_header_names",
    "dtmf_ref",
    "label",
];
const REQUIRED_COLUMNS: [&str; 2] = ["subject_code", "center_number"];

/// Reads a CSV import file.
pub(crate) fn parse_csv(bytes: &[u8]) -> Result<Vec<RouteInput>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| csv_error(&e, &[]))?
        .iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let columns = column_map(&header)?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&e, &header))?;
        let value = |column: usize| {
            columns[column]
                .and_then(|i| record.get(i))
                .unwrap_or("")
                .to_owned()
        };
        let fallbacks = value(4);
        rows.push(RouteInput {
            subject_code: value(0),
            center_number: value(1),
            dnis: value(2),
            whisper_template: value(3),
            fallback_numbers: fallbacks
                .split(|c: char| c == ';' || c.is_whitespace())
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
            dnis_range: value(5),
            uui: value(6),
            x_headers: value(7),
            x_header_names: value(8),
            dtmf_ref: value(9),
            label: value(10),
        });
    }
    Ok(rows)
}

/// For each of [`CSV_COLUMNS`], its index in the header; unknown, repeated and missing
/// required columns are refused.
fn column_map(header: &[String]) -> Result<[Option<usize>; 11], ImportError> {
    let mut map = [None; 11];
    for (index, name) in header.iter().enumerate() {
        let Some(column) = CSV_COLUMNS.iter().position(|c| c == name) else {
            return Err(header_error(
                name,
                format!(
                    "unknown column {name:?}; the columns are {}",
                    CSV_COLUMNS.join(", ")
                ),
            ));
        };
        if map[column].replace(index).is_some() {
            return Err(header_error(name, format!("column {name:?} appears twice")));
        }
    }
    for required in REQUIRED_COLUMNS {
        let column = CSV_COLUMNS.iter().position(|c| *c == required).unwrap_or(0);
        if map[column].is_none() {
            return Err(header_error(
                required,
                format!(
                    "the header row has no {required:?} column; the first line must name the columns, e.g. {}",
                    CSV_COLUMNS.join(",")
                ),
            ));
        }
    }
    Ok(map)
}

fn header_error(field: &str, message: String) -> ImportError {
    ImportError {
        row: 0,
        field: column_name(field),
        message: format!("header row: {message}"),
    }
}

/// `ImportError::field` is `&'static str`: known column names map to themselves, anything
/// else to a fixed word (the message repeats the actual text).
fn column_name(name: &str) -> &'static str {
    CSV_COLUMNS
        .iter()
        .find(|c| **c == name)
        .copied()
        .unwrap_or("column")
}

/// A CSV syntax error as a row and field. The csv crate numbers records from 0 with the header
/// as record 0, which is exactly our row numbering.
fn csv_error(error: &csv::Error, header: &[String]) -> ImportError {
    let row = error
        .position()
        .map_or(0, |p| usize::try_from(p.record()).unwrap_or(usize::MAX));
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            let missing = usize::try_from(*len).unwrap_or(usize::MAX);
            let field = header.get(missing).map_or("column", |n| column_name(n));
            ImportError {
                row,
                field,
                message: format!(
                    "row {row} has {len} fields but the header has {expected_len}; quote values that contain commas"
                ),
            }
        }
        csv::ErrorKind::Utf8 { err, .. } => {
            let field = header.get(err.field()).map_or("column", |n| column_name(n));
            ImportError {
                row,
                field,
                message: format!(
                    "row {row}: field {field} is not UTF-8 text; save the file as UTF-8"
                ),
            }
        }
        _ => ImportError {
            row,
            field: "row",
            message: format!("row {row} is not valid CSV: {error}"),
        },
    }
}

/// Reads a JSON import file: an array of objects with the CSV column names as keys
/// (`fallback_numbers` an array of strings).
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Vec<RouteInput>, ImportError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let (row, field) = json_position(error.path());
        let inner = error.into_inner();
        ImportError {
            row,
            field,
            message: if row == 0 {
                format!("the body must be a JSON array of route objects: {inner}")
            } else {
                format!("row {row}, field {field}: {inner}")
            },
        }
    })
}

/// Row (1-based array index) and column from a path like `[3].dnis`.
fn json_position(path: &serde_path_to_error::Path) -> (usize, &'static str) {
    use serde_path_to_error::Segment;
    let mut segments = path.iter();
    let row = match segments.next() {
        Some(Segment::Seq { index }) => index.saturating_add(1),
        _ => return (0, "body"),
    };
    let field = match segments.next() {
        Some(Segment::Map { key }) => column_name(key),
        _ => "row",
    };
    (row, field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_any_column_order_and_optional_columns() {
        let text = "center_number, subject_code ,fallback_numbers\n\
                    +12015550100,billing,+12015550101; +12015550102\n\
                    +12015550103,\"sales\",\n";
        let rows = parse_csv(text.as_bytes()).expect("valid");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].subject_code, "billing");
        assert_eq!(rows[0].center_number, "+12015550100");
        assert_eq!(rows[0].fallback_numbers, ["+12015550101", "+12015550102"]);
        assert_eq!(rows[1].subject_code, "sales");
        assert!(rows[1].fallback_numbers.is_empty());
        assert_eq!(rows[1].dnis, "");
    }

    #[test]
    fn csv_from_a_spreadsheet_with_bom_and_crlf() {
        let text = "\u{feff}subject_code,center_number\r\nbilling,+12015550100\r\n";
        let rows = parse_csv(text.as_bytes()).expect("valid");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].subject_code, "billing");
        assert_eq!(rows[0].center_number, "+12015550100");
    }

    #[test]
    fn csv_shape_errors_name_row_and_field() {
        let cases: [(&str, usize, &str); 5] = [
            ("subject_code,center_number,colour\n", 0, "column"),
            ("subject_code\nbilling\n", 0, "center_number"),
            (
                "subject_code,center_number,subject_code\n",
                0,
                "subject_code",
            ),
            (
                "subject_code,center_number,dnis\na,+12015550100,1\nb,+12015550100\n",
                2,
                "dnis",
            ),
            (
                "subject_code,center_number\na,+12015550100,extra\n",
                1,
                "column",
            ),
        ];
        for (text, row, field) in cases {
            let e = parse_csv(text.as_bytes()).expect_err(text);
            assert_eq!((e.row, e.field), (row, field), "{text}: {}", e.message);
        }
        let e = parse_csv(b"subject_code,center_number\na,\xff\n").expect_err("utf8");
        assert_eq!((e.row, e.field), (1, "center_number"), "{}", e.message);
    }

    #[test]
    fn context_columns_in_csv_and_json() {
        let text = "subject_code,center_number,dnis_range,uui,x_headers,x_header_names,dtmf_ref\n\
                    billing,+12015550100,4700-4799,no,yes,ref=X-Acme-Ref,1\n";
        let rows = parse_csv(text.as_bytes()).expect("valid");
        let route = rows[0].validate().expect("valid row");
        let c = &route.context;
        assert_eq!(
            c.dnis_range.as_ref().map(|r| r.to_string()).as_deref(),
            Some("4700-4799")
        );
        assert!(!c.uui && c.x_headers && c.dtmf_ref);
        assert_eq!(c.x_header_names.session_ref.as_str(), "X-Acme-Ref");
        let json = br#"[{"subject_code":"a","center_number":"+12015550100","uui":false,"dtmf_ref":"true"}]"#;
        let route = parse_json(json).expect("valid")[0]
            .validate()
            .expect("valid row");
        assert!(!route.context.uui && route.context.dtmf_ref);
        // Bad context values name their column.
        for (cell, field) in [
            ("dnis_range\n4799-4700", "dnis_range"),
            ("uui\nmaybe", "uui"),
            ("x_header_names\nref=Subject", "x_header_names"),
            ("x_header_names\nref=X-A;subject=x-a", "x_header_names"),
        ] {
            let text = format!(
                "subject_code,center_number,{}",
                cell.replace('\n', "\na,+12015550100,")
            );
            let rows = parse_csv(text.as_bytes()).expect("shape is fine");
            let (got, _) = rows[0].validate().expect_err(cell);
            assert_eq!(got, field, "{cell}");
        }
        let text = "subject_code,center_number,dnis,dnis_range\na,+12015550100,4711,4700-4701\n";
        let (got, _) = parse_csv(text.as_bytes()).expect("shape")[0]
            .validate()
            .expect_err("both");
        assert_eq!(got, "dnis_range");
    }

    #[test]
    fn json_errors_name_row_and_field() {
        let e = parse_json(br#"[{"subject_code":"a","center_number":"+1"},{"subject_code":"b","center_number":"+1","dnis":5}]"#)
            .expect_err("number dnis");
        assert_eq!((e.row, e.field), (2, "dnis"), "{}", e.message);
        let e = parse_json(br#"{"routes":[]}"#).expect_err("object");
        assert_eq!(e.row, 0);
        let rows = parse_json(br#"[{"subject_code":"a","center_number":"+12015550100","fallback_numbers":["+12015550101"]}]"#)
            .expect("valid");
        assert_eq!(rows[0].fallback_numbers, ["+12015550101"]);
    }
}
