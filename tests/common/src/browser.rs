//! Headless Chromium driven through chromedriver (WebDriver) with fantoccini: the user's real
//! browser in behaviour tests. Each `Browser` runs its own chromedriver on a free port in its
//! own process group, so dropping it ends chromedriver and the Chromium it started, and tests
//! can run in parallel.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

pub use fantoccini;

/// Where Debian puts the browser and its driver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Phone-sized window (CSS pixels), the size the pages are designed for first.
pub const PHONE_WIDTH: u32 = 390;
pub const PHONE_HEIGHT: u32 = 844;

/// How long a wait for something on a page may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// WebDriver capabilities for a headless Chromium at phone size that talks to nothing but
/// the test's own servers.
pub fn chrome_capabilities() -> serde_json::Map<String, Value> {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    // No WebDriver command may outlast a test's patience (the default page load is 300 s).
    caps.insert(
        "timeouts".into(),
        json!({ "pageLoad": 20_000, "script": 20_000, "implicit": 0 }),
    );
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                format!("--window-size={PHONE_WIDTH},{PHONE_HEIGHT}"),
            ],
            // Headless windows are at least 500 px wide; the device metrics give the page a
            // real phone-sized viewport (and screenshots of that size).
            "mobileEmulation": {
                "deviceMetrics": { "width": PHONE_WIDTH, "height": PHONE_HEIGHT, "pixelRatio": 1 }
            },
        }),
    );
    caps
}

/// Desktop-sized window (CSS pixels), the other size every page is looked at in.
pub const DESKTOP_WIDTH: u32 = 1280;
pub const DESKTOP_HEIGHT: u32 = 900;

/// [`chrome_capabilities`] for a desktop window of [`DESKTOP_WIDTH`] × [`DESKTOP_HEIGHT`].
pub fn desktop_capabilities() -> serde_json::Map<String, Value> {
    let mut caps = chrome_capabilities();
    if let Some(options) = caps
        .get_mut("goog:chromeOptions")
        .and_then(Value::as_object_mut)
    {
        options.insert(
            "mobileEmulation".into(),
            json!({
                "deviceMetrics": { "width": DESKTOP_WIDTH, "height": DESKTOP_HEIGHT, "pixelRatio": 1 }
            }),
        );
        if let Some(args) = options.get_mut("args").and_then(Value::as_array_mut) {
            for arg in args.iter_mut() {
                if arg
                    .as_str()
                    .is_some_and(|a| a.starts_with("--window-size="))
                {
                    *arg = json!(format!("--window-size={DESKTOP_WIDTH},{DESKTOP_HEIGHT}"));
                }
            }
        }
    }
    caps
}

/// axe-core as `scripts/install` put it (npm ci in `tests/`); never downloaded by a test.
pub fn axe_script() -> anyhow::Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (run scripts/install, which runs npm ci in tests/)",
            path.display()
        )
    })
}

/// One axe-core rule the page breaks, as a test prints it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AxeViolation {
    pub id: String,
    pub impact: Option<String>,
    pub help: String,
    /// CSS selectors of the offending elements.
    pub nodes: Vec<String>,
}

impl AxeViolation {
    /// "serious" or "critical": what the accessibility check refuses.
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

/// `test-output/` at the workspace root (gitignored): screenshots and other artefacts a
/// person may want to look at after a run.
pub fn test_output_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../test-output")
        .components()
        .collect()
}

/// A chromedriver with one Chromium session.
pub struct Browser {
    pub client: Client,
    driver: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a session.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(chrome_capabilities()).await
    }

    /// Starts with the given capabilities (start from [`chrome_capabilities`]).
    pub async fn start_with(caps: serde_json::Map<String, Value>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("chromedriver.log");
        // A port can be taken between probing and binding; try a few.
        let mut last_error = None;
        for _ in 0..3 {
            let port = crate::net::free_tcp_port()?;
            let mut command = Command::new(CHROMEDRIVER);
            command
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // Own process group: dropping the browser ends chromedriver and its Chromium.
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            let mut driver = command.spawn().context("starting chromedriver")?;
            if !wait_for_port(port, Duration::from_secs(20)) {
                kill_group(&mut driver);
                last_error = Some(anyhow::anyhow!("chromedriver did not listen on {port}"));
                continue;
            }
            let client = ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            match client {
                Ok(client) => {
                    return Ok(Self {
                        client,
                        driver,
                        log,
                        _dir: dir,
                    });
                }
                Err(e) => {
                    kill_group(&mut driver);
                    last_error = Some(anyhow::anyhow!(
                        "chromedriver session failed: {e}; log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("chromedriver did not start")))
    }

    /// Ends the session (Chromium exits) and chromedriver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let result = self.client.clone().close().await;
        kill_group(&mut self.driver);
        result.context("closing the WebDriver session")
    }

    /// Waits until the element at `css` exists and its text contains `needle`; returns the
    /// text. Fails with the page source after [`WAIT`].
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
                && text.contains(needle)
            {
                return Ok(text);
            }
            if Instant::now() > deadline {
                let source = self.client.source().await.unwrap_or_default();
                bail!("no {css:?} containing {needle:?} within {WAIT:?}; page:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the current URL satisfies `ok`; returns it.
    pub async fn wait_for_url(&self, ok: impl Fn(&str) -> bool) -> anyhow::Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.client.current_url().await?.to_string();
            if ok(&url) {
                return Ok(url);
            }
            if Instant::now() > deadline {
                bail!("the browser stayed at {url} for {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element with this `id` (a link or button), as the user does.
    pub async fn click(&self, id: &str) -> anyhow::Result<()> {
        self.client.find(Locator::Id(id)).await?.click().await?;
        Ok(())
    }

    /// Signs in to the agent desk at `console_url` (`…/console`) and waits for the desk.
    pub async fn sign_in_to_console(
        &self,
        console_url: &str,
        sid: &str,
        login: &str,
        password: &str,
    ) -> anyhow::Result<()> {
        self.client.goto(console_url).await?;
        self.wait_for_url(|u| u.ends_with("/console/login")).await?;
        self.retype("sid", sid).await?;
        self.retype("login", login).await?;
        self.retype("password", password).await?;
        self.click("sign-in-button").await?;
        self.wait_for_text("#who", "Signed in as").await?;
        Ok(())
    }

    /// The text of the element with this `id`, if the page has one now.
    pub async fn text_of(&self, id: &str) -> Option<String> {
        let element = self.client.find(Locator::Id(id)).await.ok()?;
        element.text().await.ok()
    }

    /// Empties the field with this `id` and types `text` into it.
    pub async fn retype(&self, id: &str, text: &str) -> anyhow::Result<()> {
        let field = self.client.find(Locator::Id(id)).await?;
        field.clear().await?;
        field.send_keys(text).await?;
        Ok(())
    }

    /// The attribute `name` of the element with this `id` (None: no such attribute).
    pub async fn attr(&self, id: &str, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self.client.find(Locator::Id(id)).await?.attr(name).await?)
    }

    /// Saves a PNG screenshot of the viewport as `test-output/NAME.png`; returns the path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = test_output_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Runs axe-core on the current page and answers every violation (all impacts). The
    /// script goes in through WebDriver's execute, which the page's CSP does not govern, so
    /// our nonce-only script policy stays as strict as it is. Framed subscriber content is
    /// not ours to check and sits in sandboxed frames axe cannot enter.
    pub async fn axe(&self) -> anyhow::Result<Vec<AxeViolation>> {
        let axe = axe_script()?;
        let script = format!(
            "{axe}\n;return axe.run(document, {{ iframes: false, resultTypes: ['violations'] }})\
             .then(function (r) {{ return r.violations.map(function (v) {{ return {{ id: v.id, \
             impact: v.impact, help: v.help, nodes: v.nodes.map(function (n) {{ \
             return n.target.join(' '); }}) }}; }}); }});"
        );
        let value = self.client.execute(&script, Vec::new()).await?;
        Ok(serde_json::from_value(value)?)
    }

    /// chromedriver's log so far (for failure messages).
    pub fn driver_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}

fn wait_for_port(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Ends chromedriver's process group (chromedriver and the Chromium processes it started),
/// then reaps chromedriver.
fn kill_group(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", child.id()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
    }
    let _ = child.wait();
}
