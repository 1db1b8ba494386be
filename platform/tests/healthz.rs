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

/// Logs written to a file (here: the binary's stderr redirected by the test kit) are plain
/// text: no ANSI colour codes for an operator's grep to trip over.
#[tokio::test]
async fn logs_to_a_file_have_no_colour_codes() -> anyhow::Result<()> {
    let cb = Callbond::start(env!("CARGO_BIN_EXE_callbond"), Options::default())?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    client.get(cb.url("/healthz")).send().await?;
    let logs = cb.logs();
    assert!(logs.contains(" INFO "), "the start was logged: {logs}");
    assert!(!logs.contains('\u{1b}'), "{logs:?}");
    Ok(())
}
