//! The database file and its WAL and shared-memory files never hold a plaintext API key: every
//! token issued in this test (operator key from `admin init`, keys made over HTTP and by the
//! CLI) is looked for in the raw bytes while the server runs (so the WAL holds recent writes).

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::json;

mod admin_support;
use admin_support::Admin;

/// The bytes of the database and its `-wal` / `-shm` companions that exist.
fn database_files(db: &std::path::Path) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut files = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        if path.exists() {
            let bytes = std::fs::read(&path)?;
            files.push((path, bytes));
        }
    }
    Ok(files)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_no_tokens(db: &std::path::Path, tokens: &[String]) -> anyhow::Result<()> {
    let files = database_files(db)?;
    assert!(!files.is_empty(), "no database file at {}", db.display());
    // Control: the files are plain SQLite, so a value we stored is findable by the same search.
    assert!(
        files
            .iter()
            .any(|(_, b)| contains(b, b"Plaintext Check Inc")),
        "the subscriber name is not in the files, so the search would not find a token either"
    );
    for (path, bytes) in &files {
        for token in tokens {
            assert!(token.len() > 40, "short token {token:?}");
            assert!(
                !contains(bytes, token.as_bytes()),
                "{} holds a plaintext API key",
                path.display()
            );
            // Nor the random part alone (e.g. stored without the `cb_` prefix).
            let random = token.trim_start_matches("cb_");
            assert!(!contains(bytes, random.as_bytes()), "{}", path.display());
        }
    }
    Ok(())
}

#[tokio::test]
async fn database_files_hold_no_plaintext_key() -> anyhow::Result<()> {
    let admin = Admin::start()?;
    let mut tokens = vec![admin.operator().to_owned()];
    admin
        .create_subscriber("plain", "Plaintext Check Inc")
        .await?;
    for _ in 0..5 {
        tokens.push(admin.subscriber_key("plain").await?.1);
    }
    // A key made by the CLI against the same file.
    let out = admin
        .cb
        .cli(&["admin", "key", "create", "--subscriber", "plain"])?;
    let cli_token = out
        .lines()
        .find_map(|l| l.strip_prefix("subscriber key: "))
        .map(str::to_owned);
    let Some(cli_token) = cli_token else {
        panic!("no `subscriber key:` line in {out:?}");
    };
    tokens.push(cli_token.clone());
    // Use and revoke keys so their rows are read and rewritten.
    admin.get_ok("/subscribers/plain", &cli_token).await?;
    let (status, _) = admin
        .post(
            "/subscribers/plain/sites",
            &tokens[1],
            &json!({ "origin": "https://plain.example" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED);
    let keys = admin
        .get_ok("/subscribers/plain/keys", admin.operator())
        .await?;
    let first = keys[0]["id"].as_i64().unwrap_or_default();
    let (status, _) = admin
        .delete(
            &format!("/subscribers/plain/keys/{first}"),
            admin.operator(),
        )
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);

    assert_no_tokens(&admin.cb.db_path(), &tokens)?;
    Ok(())
}
