//! Shared fixtures for the web behaviour tests (`web_*.rs`): the real binary with a subscriber,
//! site, route, pages and keys written straight into its database (WAL makes that safe while
//! it runs), signed speak-to-agent links, a tiny HTTP server playing the subscriber's own web
//! site, and a look into the calls table.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use chrono::Utc;
use platform::link::{SignedFields, sign};
use subscriber_db::{
    CallFilter, Db, NewSubscriber, PageContent, PageId, PageInput, Policy, Route, SiteInput,
    SiteSecret, SubscriberId,
};
use testkit::{Callbond, Options};

/// The test subscriber's id and name as the pages should show it.
pub const SID: &str = "acme";
pub const COMPANY: &str = "Acme Energy";
pub const SUBJECT: &str = "billing";
/// A valid ordinary US landline-or-mobile number (NANP 201 area, 555-01xx is fictional but
/// libphonenumber's metadata accepts 201-555-0123 as fixed-line-or-mobile).
pub const USER_NUMBER: &str = "+12015550123";

/// A running platform with one subscriber set up.
pub struct Fixture {
    pub cb: Callbond,
    pub sid: SubscriberId,
    pub secret: SiteSecret,
    /// A subscriber API key for the push API.
    pub key: String,
    /// Page ids by DTMF keys "1", "2", "3".
    pub pages: Vec<PageId>,
    /// A UDP socket the trunk points at that never answers: once the call runtime places
    /// calls, the user leg rings here (up to the policy's ring timeout) instead of failing at
    /// once, so sessions stay open for the length of a test. Nothing pretends to be a phone.
    _black_hole: UdpSocket,
    /// The subscriber's own web site, registered as one of its sites.
    pub site: Site,
}

/// How to set the subscriber up.
#[derive(Default)]
pub struct Setup {
    /// Policy changes on top of the defaults (US, always open).
    pub policy: Option<Box<dyn FnOnce(&mut Policy)>>,
    /// Extra TOML for the platform.
    pub extra_config: String,
    /// Whether the subscriber's site accepts unsigned links.
    pub site_accepts_unsigned: bool,
}

impl Fixture {
    pub async fn start(setup: Setup) -> anyhow::Result<Self> {
        let black_hole = UdpSocket::bind("127.0.0.1:0")?;
        let trunk = black_hole.local_addr()?;
        let cb = Callbond::start(
            env!("CARGO_BIN_EXE_callbond"),
            Options {
                extra_config: format!(
                    "[[trunks]]\nprefix = \"\"\ntarget = \"{trunk}\"\n{}",
                    setup.extra_config
                ),
                ..Options::default()
            },
        )?;
        let site = Site::start().await?;
        let db = Db::open(cb.db_path()).context("opening the platform's database")?;
        let now = Utc::now();
        let sid: SubscriberId = SID.parse()?;
        db.create_subscriber(
            &NewSubscriber {
                id: sid.clone(),
                display_name: COMPANY.parse()?,
                active: true,
            },
            now,
        )?;
        // The signing site; a second site whose secret must not matter.
        db.create_site(
            &sid,
            &SiteInput {
                origin: "https://other.acme.example".parse()?,
                accept_unsigned: false,
            },
            now,
        )?;
        let created = db.create_site(
            &sid,
            &SiteInput {
                origin: site.origin().parse()?,
                accept_unsigned: setup.site_accepts_unsigned,
            },
            now,
        )?;
        db.create_route(
            &sid,
            &Route {
                subject_code: SUBJECT.parse()?,
                center_number: "+12025550199".parse()?,
                dnis: Some("4711".parse()?),
                whisper_template: Default::default(),
                fallback_numbers: Vec::new(),
            },
        )?;
        let mut policy = Policy {
            ring_timeout_user_secs: subscriber_db::RingTimeoutSecs::new(120)?,
            ..Policy::default()
        };
        if let Some(change) = setup.policy {
            change(&mut policy);
        }
        db.put_policy(&sid, &policy)?;
        let mut pages = Vec::new();
        for (keys, title, body) in [
            (
                "1",
                "Your bill",
                "<h1 id=\"content\">First page: your bill for November</h1>",
            ),
            (
                "2",
                "Payment plan",
                "<h1 id=\"content\">Second page: a payment plan</h1>",
            ),
        ] {
            let page = db.create_page(
                &sid,
                &PageInput {
                    keys: keys.parse()?,
                    title: title.parse()?,
                    content: PageContent::Html(body.parse()?),
                },
            )?;
            pages.push(page.id);
        }
        let key = db
            .create_subscriber_key(&sid, now)?
            .token
            .expose()
            .to_owned();
        Ok(Self {
            cb,
            sid,
            secret: created.secret,
            key,
            pages,
            _black_hole: black_hole,
            site,
        })
    }

    pub fn db(&self) -> Db {
        Db::open(self.cb.db_path()).unwrap()
    }

    /// A signed speak-to-agent link valid for an hour.
    pub fn signed_link(&self, sc: &str, wc: Option<&str>, tel: Option<&str>) -> String {
        self.link_expiring(sc, wc, tel, Utc::now().timestamp() + 3600)
    }

    pub fn link_expiring(&self, sc: &str, wc: Option<&str>, tel: Option<&str>, exp: i64) -> String {
        let fields = SignedFields {
            sid: SID,
            sc,
            wc,
            tel,
            exp,
        };
        let sig = sign(self.secret.as_bytes(), &fields);
        let mut query = vec![("sid", SID.to_owned()), ("sc", sc.to_owned())];
        if let Some(wc) = wc {
            query.push(("wc", wc.to_owned()));
        }
        if let Some(tel) = tel {
            query.push(("tel", tel.to_owned()));
        }
        query.push(("exp", exp.to_string()));
        query.push(("sig", sig));
        self.cb.url(&format!(
            "/speak?{}",
            serde_urlencoded::to_string(&query).unwrap()
        ))
    }

    /// Every call record of the test subscriber.
    pub fn calls(&self) -> Vec<subscriber_db::Call> {
        self.db()
            .list_calls(&self.sid, &CallFilter::default())
            .unwrap()
    }

    /// Pushes a page through the admin API with the subscriber key; returns the status and body.
    pub async fn push(&self, session: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .post(self.cb.url(&format!("/admin/v1/calls/{session}/push")))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or_default())
    }
}

/// A small HTTP server playing the subscriber's web site: serves whatever HTML the test sets
/// at `/`, from its own origin (a different port from Callbond's, so cross-origin).
pub struct Site {
    pub addr: SocketAddr,
    html: Arc<Mutex<String>>,
    /// Paths and queries of every request to `/leak` (a sandbox probe reports here).
    leaks: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    pub async fn start() -> anyhow::Result<Self> {
        let html = Arc::new(Mutex::new(String::from(
            "<!DOCTYPE html><title>empty</title>",
        )));
        let served = Arc::clone(&html);
        let leaks = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&leaks);
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(move || {
                    let served = Arc::clone(&served);
                    async move { axum::response::Html(served.lock().unwrap().clone()) }
                }),
            )
            .route(
                "/leak",
                axum::routing::get(move |uri: axum::http::Uri| {
                    let recorded = Arc::clone(&recorded);
                    async move {
                        recorded.lock().unwrap().push(uri.to_string());
                        "noted"
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            html,
            leaks,
            task,
        })
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Serves `html` as is at `/`.
    pub fn serve(&self, html: &str) {
        *self.html.lock().unwrap() = html.to_owned();
    }

    /// Requests that reached `/leak` so far.
    pub fn leaks(&self) -> Vec<String> {
        self.leaks.lock().unwrap().clone()
    }

    /// Serves a page with one speak-to-agent link (`id="speak"`).
    pub fn serve_link(&self, link: &str) {
        *self.html.lock().unwrap() = format!(
            "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Acme</title>\
             </head><body><h1>Acme Energy</h1>\
             <p><a id=\"speak\" href=\"{}\">Talk to an agent</a></p></body></html>",
            link.replace('&', "&amp;").replace('"', "&quot;")
        );
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The session id from a Connect page URL `.../sessions/{id}`.
pub fn session_of(url: &str) -> String {
    url.rsplit("/sessions/")
        .next()
        .unwrap()
        .split(['/', '?', '#'])
        .next()
        .unwrap()
        .to_owned()
}

/// Clicks the speak-to-agent link on the subscriber's page, submits `number` on the Welcome
/// page (or the prefilled one when `None`) and waits for the Connect page. Returns the session
/// id.
pub async fn click_through(
    fx: &Fixture,
    browser: &testkit::Browser,
    number: Option<&str>,
) -> anyhow::Result<String> {
    use testkit::browser::fantoccini::Locator;
    fx.site
        .serve_link(&fx.signed_link(SUBJECT, Some("C42"), Some(USER_NUMBER)));
    browser.client.goto(&fx.site.url()).await?;
    browser
        .client
        .find(Locator::Id("speak"))
        .await?
        .click()
        .await?;
    browser
        .wait_for_text("h1", &format!("Talk to {COMPANY}"))
        .await?;
    if let Some(number) = number {
        let field = browser.client.find(Locator::Id("number")).await?;
        field.clear().await?;
        field.send_keys(number).await?;
    }
    browser
        .client
        .find(Locator::Id("call-me"))
        .await?
        .click()
        .await?;
    let url = browser.wait_for_url(|u| u.contains("/sessions/")).await?;
    browser.wait_for_text("#status", "calling you").await?;
    Ok(session_of(&url))
}
