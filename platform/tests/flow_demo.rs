//! `callbond demo` (what `scripts/run` starts) with nothing configured: the printed demo
//! subscriber page's first link goes, in headless Chromium, through Welcome and the Connect
//! page to both pushed pages and the Disconnect page — the local SIPp phones standing in for
//! the user and the call center. In a second Chromium, the demo agent signs in to the agent
//! desk with the printed password: the stand-in agent's PIN pops the call there, both keypad
//! pushes show with their receipts, and the agent hangs up from the console (issue 12 item
//! 7). Stopping the demo stops its phones.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::Browser;
use testkit::browser::desktop_capabilities;
use testkit::browser::fantoccini::Locator;
use testkit::net::free_tcp_port;

/// The demo process; stopped with SIGTERM (so it can stop its phones) when dropped.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Process ids of the SIPp processes `pid` started.
fn sipp_children(pid: u32) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string(), "sipp"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_link_reaches_pushed_pages_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_callbond"))
        .current_dir(dir.path())
        .args(["--db", "var/callbond.db"])
        .args(["--http-listen", &format!("127.0.0.1:{http}")])
        .args(["--sip-listen", "127.0.0.1:0", "demo"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let demo = Demo(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let Some(rest) = line.split("open ").nth(1) else {
                continue;
            };
            let url = rest.split_whitespace().next().unwrap_or("").to_owned();
            let password = line.split("password ").nth(1).map(|p| p.trim().to_owned());
            let _ = tx.send((url, password));
        }
    });
    let (page, _) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the demo prints its page URL");
    let (console, password) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the demo prints the agent desk and its sign-in");
    let password = password.expect("the sign-in line names the password");
    assert_eq!(console, format!("http://127.0.0.1:{http}/console"));
    let phones = sipp_children(demo.0.id());
    assert_eq!(phones.len(), 2, "two stand-in phones");

    let agent = Browser::start_with(desktop_capabilities()).await.unwrap();
    agent
        .sign_in_to_console(&console, "demo", "agent", &password)
        .await
        .unwrap();
    let browser = Browser::start().await.unwrap();
    browser.client.goto(&page).await.unwrap();
    // A subscriber's help centre, not a list of links: its own header, navigation, topics.
    browser.wait_for_text("h1", "Help & support").await.unwrap();
    // Its footer links the agent's side for the demo's second tab.
    assert_eq!(
        browser.attr("agent-desk", "href").await.unwrap().as_deref(),
        Some(console.as_str())
    );
    let topics = browser
        .client
        .find_all(Locator::Css("nav[aria-label=Main] a, .topic a.speak"))
        .await
        .unwrap();
    assert_eq!(topics.len(), 6, "four menu entries and two call-me buttons");
    browser.screenshot("screen-demo-site-390").await.unwrap();
    let serious: Vec<_> = browser
        .axe()
        .await
        .unwrap()
        .into_iter()
        .filter(|v| v.is_serious())
        .collect();
    assert!(serious.is_empty(), "axe on the demo site: {serious:?}");
    browser
        .client
        .find(Locator::Css("a.speak"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text("h1", "Talk to Demo Telecom")
        .await
        .unwrap();
    browser
        .wait_for_text("#subject", "your tariff or contract")
        .await
        .unwrap();
    browser.screenshot("screen-demo-welcome-390").await.unwrap();
    let field = browser.client.find(Locator::Id("number")).await.unwrap();
    field.send_keys("+12015550123").await.unwrap();
    browser.click("call-me").await.unwrap();
    browser
        .wait_for_url(|u| u.contains("/sessions/"))
        .await
        .unwrap();
    // The demo agent's PIN pops the call on the console.
    agent
        .wait_for_text("#pop-number", "+12015550123")
        .await
        .unwrap();
    browser
        .wait_for_text("#page-title", "Your tariff")
        .await
        .unwrap();
    browser
        .wait_for_text("#page-title", "Your contract")
        .await
        .unwrap();
    // Both keypad pushes on the console, each with the visitor's receipt.
    let pushed = agent
        .wait_for_text("#pushed", "Your contract (keys 2")
        .await
        .unwrap();
    assert!(pushed.contains("Your tariff (keys 1"), "{pushed}");
    for _ in 0..100 {
        let pushed = agent.text_of("pushed").await.unwrap_or_default();
        if pushed.matches("shown at").count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pushed = agent.text_of("pushed").await.unwrap_or_default();
    assert_eq!(pushed.matches("shown at").count(), 2, "{pushed}");
    agent.screenshot("screen-demo-console-1280").await.unwrap();
    // The agent ends the call from the console; the visitor's page follows.
    agent.click("hangup-button").await.unwrap();
    browser
        .wait_for_url(|u| u.ends_with("/ended"))
        .await
        .unwrap();
    browser.wait_for_text("h1", "Call ended").await.unwrap();
    browser.close().await.unwrap();
    agent.close().await.unwrap();

    drop(demo);
    let running: Vec<u32> = phones
        .into_iter()
        .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    assert!(
        running.is_empty(),
        "stand-in phones left running: {running:?}"
    );
}
