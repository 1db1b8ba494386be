//! Reading admin requests: JSON bodies whose errors name the field (axum's own `Json` rejection
//! says where in the text it failed, not which field), query strings read by hand so a bad
//! parameter is named, and the ids in paths. Nothing here touches the database.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use subscriber_db::SubscriberId;

use super::error::ApiError;

/// A JSON request body; `Content-Type: application/json` required (415 otherwise), and a value
/// that does not fit answers 400 naming the field by its path (`fallback_numbers[2]`).
#[derive(Debug)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        json_body(req, state).await.map(ApiJson)
    }
}

/// What [`ApiJson`] does, for handlers that must check something (such as an operator key)
/// before they read the body.
pub(crate) async fn json_body<S: Send + Sync, T: DeserializeOwned>(
    req: Request,
    state: &S,
) -> Result<T, ApiError> {
    if body_kind(req.headers()) != Some(BodyKind::Json) {
        return Err(ApiError::unsupported_media_type(
            "send the body as JSON with `Content-Type: application/json`",
        ));
    }
    let bytes = read_body(req, state).await?;
    parse_json(&bytes)
}

/// The body media types the admin API reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    Json,
    Csv,
}

/// The request's body kind from its `Content-Type`, ignoring parameters such as `charset`.
pub(crate) fn body_kind(headers: &HeaderMap) -> Option<BodyKind> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Some(BodyKind::Json),
        "text/csv" => Some(BodyKind::Csv),
        _ => None,
    }
}

/// The whole body, within the router's size limit.
pub(crate) async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection| ApiError::new(rejection.status(), "bad_body", rejection.body_text()))
}

/// Parses JSON, naming the field that did not fit.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!(
                "the body is not valid JSON ({inner}); send one JSON document"
            ))
        } else if path == "." || path.is_empty() {
            ApiError::bad_request(format!("the body is not valid here: {inner}"))
        } else {
            ApiError::invalid_field(None, path.clone(), format!("field `{path}`: {inner}"))
        }
    })
}

/// A query string as name/value pairs; unknown names are refused so a typo is not silently
/// ignored.
#[derive(Debug, Default)]
pub(crate) struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Reads `raw` (`None` when the URL has no `?`) accepting only the `known` names.
    pub(crate) fn parse(raw: Option<&str>, known: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("the query string is not readable: {e}")))?;
        if let Some((name, _)) = pairs.iter().find(|(n, _)| !known.contains(&n.as_str())) {
            return Err(ApiError::invalid_field(
                None,
                name.clone(),
                format!(
                    "unknown query parameter `{name}`; this endpoint takes {}",
                    known.join(", ")
                ),
            ));
        }
        Ok(Self { pairs })
    }

    /// The last value given for `name`, if any (empty values count as absent).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// `name` parsed with `FromStr`; a bad value is a 400 naming `name` and saying `expected`.
    pub(crate) fn parse_as<T: std::str::FromStr>(
        &self,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(name)
            .map(|text| {
                text.parse::<T>().map_err(|e| {
                    ApiError::invalid_field(
                        None,
                        name,
                        format!("query parameter `{name}` must be {expected}, got {text:?} ({e})"),
                    )
                })
            })
            .transpose()
    }

    /// `limit` within `1..=max`, `default` when absent.
    pub(crate) fn limit(&self, default: u32, max: u32) -> Result<u32, ApiError> {
        let expected = format!("a whole number from 1 to {max}");
        let limit = self.parse_as::<u32>("limit", &expected)?.unwrap_or(default);
        if !(1..=max).contains(&limit) {
            return Err(ApiError::invalid_field(
                None,
                "limit",
                format!("query parameter `limit` must be {expected}, got {limit}"),
            ));
        }
        Ok(limit)
    }
}

/// The `{sid}` of a path. A malformed id cannot name a stored subscriber, so it is a 404 like
/// an unknown one.
pub(crate) fn subscriber_id(text: &str) -> Result<SubscriberId, ApiError> {
    text.parse().map_err(|_| ApiError::not_found("subscriber"))
}

/// A numeric object id of a path (`{site_id}`, `{page_id}`, `{key_id}`); malformed is 404.
pub(crate) fn numeric_id(text: &str, what: &str) -> Result<i64, ApiError> {
    text.parse().map_err(|_| ApiError::not_found(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn content_types() {
        let cases = [
            ("application/json", Some(BodyKind::Json)),
            ("Application/JSON; charset=utf-8", Some(BodyKind::Json)),
            ("text/csv", Some(BodyKind::Csv)),
            ("text/csv;header=present", Some(BodyKind::Csv)),
            ("text/plain", None),
            ("application/x-www-form-urlencoded", None),
        ];
        for (value, expected) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(body_kind(&headers), expected, "{value}");
        }
        assert_eq!(body_kind(&HeaderMap::new()), None);
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        numbers: Vec<subscriber_db::E164>,
    }

    #[test]
    fn json_errors_name_the_field_path() {
        let e = parse_json::<Sample>(br#"{"name":"a","numbers":["+12015550100","12"]}"#)
            .expect_err("bad number");
        assert_eq!(e.field.as_deref(), Some("numbers[1]"));
        assert!(e.message.contains("numbers[1]"), "{}", e.message);
        assert!(e.message.contains("international"), "{}", e.message);
        let e = parse_json::<Sample>(br#"{"name":"a","numbers":[],"x":1}"#).expect_err("unknown");
        assert!(e.message.contains("unknown field `x`"), "{}", e.message);
        let e = parse_json::<Sample>(b"{").expect_err("truncated");
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn query_names_bad_and_unknown_parameters() {
        let q = QueryParams::parse(Some("limit=5&offset=2"), &["limit", "offset"]).expect("ok");
        assert_eq!(q.limit(100, 1000).expect("limit"), 5);
        let q = QueryParams::parse(Some("limit=0"), &["limit"]).expect("ok");
        assert_eq!(
            q.limit(100, 1000).expect_err("zero").field.as_deref(),
            Some("limit")
        );
        let q = QueryParams::parse(Some("limit=x"), &["limit"]).expect("ok");
        assert_eq!(
            q.limit(100, 1000).expect_err("text").field.as_deref(),
            Some("limit")
        );
        let e = QueryParams::parse(Some("limt=5"), &["limit"]).expect_err("typo");
        assert_eq!(e.field.as_deref(), Some("limt"));
        assert_eq!(
            QueryParams::parse(None, &["limit"])
                .expect("empty")
                .limit(7, 10)
                .expect("default"),
            7
        );
    }
}
