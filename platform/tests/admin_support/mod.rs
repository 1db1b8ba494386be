//! Shared setup for the admin API behaviour tests: the real binary (through `testkit`) and a
//! small JSON client with a timeout on every request. Each test file uses what it needs.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{Callbond, Options};

/// Every admin request gives up after this long, so a broken server fails the test instead of
/// hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) struct Admin {
    pub(crate) cb: Callbond,
    client: reqwest::Client,
}

/// A request body.
pub(crate) enum Body<'a> {
    None,
    Json(&'a Value),
    Csv(&'a str),
    Raw(&'a str, &'a str),
}

impl Admin {
    /// Starts the real binary with a fresh database and an operator key.
    pub(crate) fn start() -> anyhow::Result<Self> {
        let cb = Callbond::start(env!("CARGO_BIN_EXE_callbond"), Options::default())?;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Self { cb, client })
    }

    pub(crate) fn operator(&self) -> &str {
        &self.cb.operator_key
    }

    /// One request to `/admin/v1{path}`; answers the status and the JSON body (`Null` when
    /// the body is empty).
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Body<'_>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let url = self.cb.url(&format!("/admin/v1{path}"));
        let mut request = self.client.request(method.clone(), &url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request
                .header("content-type", "application/json")
                .body(value.to_string()),
            Body::Csv(text) => request
                .header("content-type", "text/csv")
                .body(text.to_owned()),
            Body::Raw(content_type, text) => request
                .header("content-type", content_type)
                .body(text.to_owned()),
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let text = response.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| {
                format!("{method} {path} answered {status} with non-JSON {text:?}")
            })?
        };
        Ok((status, value))
    }

    pub(crate) async fn get(&self, path: &str, key: &str) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::GET, path, Some(key), Body::None).await
    }

    pub(crate) async fn delete(
        &self,
        path: &str,
        key: &str,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::DELETE, path, Some(key), Body::None).await
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        key: &str,
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::POST, path, Some(key), Body::Json(body))
            .await
    }

    pub(crate) async fn put(
        &self,
        path: &str,
        key: &str,
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::PUT, path, Some(key), Body::Json(body))
            .await
    }

    pub(crate) async fn patch(
        &self,
        path: &str,
        key: &str,
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::PATCH, path, Some(key), Body::Json(body))
            .await
    }

    pub(crate) async fn post_csv(
        &self,
        path: &str,
        key: &str,
        csv: &str,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::POST, path, Some(key), Body::Csv(csv))
            .await
    }

    /// GET that must answer 200; the body.
    pub(crate) async fn get_ok(&self, path: &str, key: &str) -> anyhow::Result<Value> {
        let (status, body) = self.get(path, key).await?;
        anyhow::ensure!(status == StatusCode::OK, "GET {path}: {status} {body}");
        Ok(body)
    }

    /// Creates a subscriber with the operator key.
    pub(crate) async fn create_subscriber(&self, id: &str, name: &str) -> anyhow::Result<Value> {
        let (status, body) = self
            .post(
                "/subscribers",
                self.operator(),
                &json!({ "id": id, "display_name": name }),
            )
            .await?;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "create {id}: {status} {body}"
        );
        Ok(body)
    }

    /// A new key for `sid` made with the operator key: `(key id, token)`.
    pub(crate) async fn subscriber_key(&self, sid: &str) -> anyhow::Result<(i64, String)> {
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/subscribers/{sid}/keys"),
                Some(self.operator()),
                Body::None,
            )
            .await?;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "key for {sid}: {status} {body}"
        );
        let id = body["id"].as_i64().context("key id")?;
        let token = body["token"].as_str().context("token")?.to_owned();
        Ok((id, token))
    }

    /// All routes of `sid`, following `next_after` through pages of `limit`.
    pub(crate) async fn all_routes(
        &self,
        sid: &str,
        key: &str,
        limit: u32,
    ) -> anyhow::Result<Vec<Value>> {
        let mut routes = Vec::new();
        let mut path = format!("/subscribers/{sid}/routes?limit={limit}");
        loop {
            let page = self.get_ok(&path, key).await?;
            routes.extend(
                page["routes"]
                    .as_array()
                    .context("routes array")?
                    .iter()
                    .cloned(),
            );
            match page["next_after"].as_str() {
                Some(after) => {
                    path = format!("/subscribers/{sid}/routes?limit={limit}&after={after}")
                }
                None => break,
            }
        }
        Ok(routes)
    }
}

/// Asserts an error answer: the status, and that `error.message` is a sentence containing
/// each of `words`.
pub(crate) fn assert_error(answer: &(StatusCode, Value), status: StatusCode, words: &[&str]) {
    let (got, body) = answer;
    assert_eq!(*got, status, "body: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "no error message in {body}");
    for word in words {
        assert!(message.contains(word), "{word:?} not in {message:?}");
    }
}
