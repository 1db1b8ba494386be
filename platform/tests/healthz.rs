//! `GET /healthz` on the real binary answers `ok` once the ready line is printed.

use std::time::Duration;

use testkit::{Callbond, Options};

#[tokio::test]
async fn healthz_answers_ok() -> anyhow::Result<()> {
    let cb = Callbond::start(env!("CARGO_BIN_EXE_callbond"), Options::default())?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let response = client.get(cb.url("/healthz")).send().await?;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    assert_eq!(response.text().await?.trim(), "ok");
    Ok(())
}
