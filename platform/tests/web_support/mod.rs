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
/// The route's label, which the visitor's pages show instead of [`SUBJECT`].
pub const ROUTE_LABEL: &str = "your bill";
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

/// A change to the default test policy.
pub type PolicyChange = Box<dyn FnOnce(&mut Policy)>;

/// How to set the subscriber up.
#[derive(Default)]
pub struct Setup {
    /// Policy changes on top of the defaults (US, always open).
    pub policy: Option<PolicyChange>,
    /// Extra TOML for the platform.
    pub extra_config: String,
    /// Whether the subscriber's site accepts unsigned links.
    pub site_accepts_unsigned: bool,
    /// The one trunk's prefix; empty: it carries every number.
    pub trunk_prefix: &'static str,
}

impl Setup {
    /// The default setup with `change` applied to the default policy.
    pub fn with_policy(change: impl FnOnce(&mut Policy) + 'static) -> Self {
        Self {
            policy: Some(Box::new(change)),
            ..Self::default()
        }
    }
}

impl Fixture {
    pub async fn start(setup: Setup) -> anyhow::Result<Self> {
        let black_hole = UdpSocket::bind("127.0.0.1:0")?;
        let trunk = black_hole.local_addr()?;
        let cb = Callbond::start(
            env!("CARGO_BIN_EXE_callbond"),
            Options {
                extra_config: format!(
                    "[[trunks]]\nprefix = \"{}\"\ntarget = \"{trunk}\"\n{}",
                    setup.trunk_prefix, setup.extra_config
                ),
                ..Options::default()
            },
        )?;
        let site = Site::start().await?;
        let db = Db::open(cb.db_path()).context("opening the platform's database")?;
        let seeded = seed(
            &db,
            &site.origin(),
            setup.site_accepts_unsigned,
            setup.policy,
        )?;
        Ok(Self {
            cb,
            sid: seeded.sid,
            secret: seeded.secret,
            key: seeded.key,
            pages: seeded.pages,
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
        signed_link(&self.cb.url(""), &self.secret, sc, wc, tel, exp)
    }
}

/// `{base}/speak?…` signed with `secret`.
pub fn signed_link(
    base: &str,
    secret: &SiteSecret,
    sc: &str,
    wc: Option<&str>,
    tel: Option<&str>,
    exp: i64,
) -> String {
    let fields = SignedFields {
        sid: SID,
        sc,
        wc,
        tel,
        exp,
    };
    let sig = sign(secret.as_bytes(), &fields);
    let mut query = vec![("sid", SID.to_owned()), ("sc", sc.to_owned())];
    if let Some(wc) = wc {
        query.push(("wc", wc.to_owned()));
    }
    if let Some(tel) = tel {
        query.push(("tel", tel.to_owned()));
    }
    query.push(("exp", exp.to_string()));
    query.push(("sig", sig));
    format!(
        "{base}/speak?{}",
        serde_urlencoded::to_string(&query).unwrap()
    )
}

impl Fixture {
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

/// What [`seed`] wrote.
pub struct Seeded {
    pub sid: SubscriberId,
    pub secret: SiteSecret,
    pub key: String,
    pub pages: Vec<PageId>,
}

/// Writes the test subscriber: two sites (one at `site_origin`, whose secret signs links), the
/// route for [`SUBJECT`], the policy, pages "1" and "2" and a subscriber key.
pub fn seed(
    db: &Db,
    site_origin: &str,
    accept_unsigned: bool,
    policy_change: Option<PolicyChange>,
) -> anyhow::Result<Seeded> {
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
            origin: site_origin.parse()?,
            accept_unsigned,
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
            context: Default::default(),
            label: Some(ROUTE_LABEL.parse()?),
        },
    )?;
    let mut policy = Policy {
        ring_timeout_user_secs: subscriber_db::RingTimeoutSecs::new(120)?,
        ..Policy::default()
    };
    if let Some(change) = policy_change {
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
    Ok(Seeded {
        sid,
        secret: created.secret,
        key,
        pages,
    })
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
    fx.site
        .serve_link(&fx.signed_link(SUBJECT, Some("C42"), Some(USER_NUMBER)));
    browser.client.goto(&fx.site.url()).await?;
    browser.click("speak").await?;
    browser
        .wait_for_text("h1", &format!("Talk to {COMPANY}"))
        .await?;
    if let Some(number) = number {
        browser.retype("number", number).await?;
    }
    browser.click("call-me").await?;
    let url = browser.wait_for_url(|u| u.contains("/sessions/")).await?;
    // The status text is the runtime's to choose once it places calls; the heading is ours.
    browser.wait_for_text("h1", "Your call with").await?;
    Ok(session_of(&url))
}

/// A Welcome form as a browser would submit it, fetched over plain HTTP.
pub struct WelcomeForm {
    pub cookie: String,
    /// Hidden fields plus `number`, by name.
    pub fields: Vec<(String, String)>,
}

impl WelcomeForm {
    /// GETs `link` and reads the form cookie and fields from the Welcome page.
    pub async fn fetch(link: &str) -> anyhow::Result<Self> {
        let response = http().get(link).send().await?;
        anyhow::ensure!(
            response.status() == 200,
            "Welcome answered {}",
            response.status()
        );
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("cb_form="))
            .and_then(|v| v.split(';').next())
            .context("no cb_form cookie")?
            .to_owned();
        let html = response.text().await?;
        let mut fields = Vec::new();
        for input in html.split("<input").skip(1) {
            let attr = |name: &str| {
                let start = input.find(&format!("{name}=\""))? + name.len() + 2;
                let end = input[start..].find('"')? + start;
                Some(html_unescape(&input[start..end]))
            };
            if let (Some(name), Some(value)) = (attr("name"), attr("value")) {
                fields.push((name, value));
            }
        }
        Ok(Self { cookie, fields })
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.fields.retain(|(n, _)| n != name);
        self.fields.push((name.to_owned(), value.to_owned()));
    }

    /// Fetches the Welcome form of `link` and submits it to `{base}/speak` with `number`;
    /// returns status, `Location` and body.
    pub async fn submit_number(
        link: &str,
        base: &str,
        number: &str,
    ) -> anyhow::Result<(u16, Option<String>, String)> {
        let mut form = Self::fetch(link).await?;
        form.set("number", number);
        form.submit(base).await
    }

    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| n != name);
    }

    /// POSTs the form to `{base}/speak`; returns status, `Location` and body.
    pub async fn submit(&self, base: &str) -> anyhow::Result<(u16, Option<String>, String)> {
        let response = http()
            .post(format!("{base}/speak"))
            .header("cookie", format!("cb_form={}", self.cookie))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&self.fields)?)
            .send()
            .await?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((status, location, response.text().await?))
    }
}

/// An HTTP client that does not follow redirects (tests look at them).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Decodes the character references an HTML escaper writes, named (`&quot;`) or numeric
/// (`&#34;`, askama's), as a browser reads an attribute value.
fn html_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// Creates a call session over plain HTTP (Welcome → POST); returns the session id.
pub async fn request_call(fx: &Fixture, number: &str) -> anyhow::Result<String> {
    let (status, location, body) =
        WelcomeForm::submit_number(&fx.signed_link(SUBJECT, None, None), &fx.cb.url(""), number)
            .await?;
    anyhow::ensure!(status == 303, "POST /speak answered {status}: {body}");
    Ok(session_of(&location.context("no Location")?))
}

/// One Server-Sent Event as it came over the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<u64>,
    pub event: String,
    pub data: String,
}

/// Reads `/sessions/{id}/events` until `enough` says the events so far are enough (or fails
/// after 20 s). Then drops the connection, like a browser tab that goes away.
pub async fn read_events(
    base: &str,
    session: &str,
    last_event_id: Option<u64>,
    enough: impl Fn(&[SseEvent]) -> bool,
) -> anyhow::Result<Vec<SseEvent>> {
    let mut request = reqwest::Client::new().get(format!("{base}/sessions/{session}/events"));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    let mut response = request.send().await?;
    anyhow::ensure!(
        response.status() == 200,
        "events answered {}",
        response.status()
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut buffer = String::new();
    let mut events = Vec::new();
    loop {
        // Frames end with a blank line (WHATWG HTML §9.2.6).
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut event = SseEvent {
                id: None,
                event: "message".to_owned(),
                data: String::new(),
            };
            let mut has_data = false;
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    event.id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event.event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    event.data.push_str(v.trim_start());
                    has_data = true;
                }
            }
            if has_data {
                events.push(event);
            }
        }
        if enough(&events) {
            return Ok(events);
        }
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .with_context(|| format!("not enough events within 20 s: {events:?}"))??;
        match chunk {
            Some(bytes) => buffer.push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
            None => return Ok(events),
        }
    }
}

/// A signed speak-to-agent link (whisper code 4711, ten minutes) for the subscriber a flow
/// [`testkit::flow::Rig`] seeded: it is [`SID`] too.
pub fn rig_link(rig: &testkit::flow::Rig) -> anyhow::Result<String> {
    let secret = testkit::seed::site_secret(&rig.cb.db_path(), &rig.sid)?;
    let exp = Utc::now().timestamp() + 600;
    Ok(signed_link(
        &rig.cb.url(""),
        &secret,
        testkit::seed::SUBJECT,
        Some("4711"),
        None,
        exp,
    ))
}

/// On the Welcome page: types `number`, asks for the call and waits for the Connect page to
/// count the time. Returns its URL and the session id.
pub async fn ask_for_call(
    browser: &testkit::Browser,
    number: &str,
) -> anyhow::Result<(String, String)> {
    browser.retype("number", number).await?;
    browser.click("call-me").await?;
    let url = browser.wait_for_url(|u| u.contains("/sessions/")).await?;
    browser
        .wait_for_text("#elapsed", "Time since you asked: 0:0")
        .await?;
    let session = session_of(&url);
    Ok((url, session))
}

/// Applies `update` to the subscriber a flow rig seeded, as `PATCH /admin/v1/subscribers`
/// would; returns the database for more changes.
pub fn rebrand(
    rig: &testkit::flow::Rig,
    update: &subscriber_db::SubscriberUpdate,
) -> anyhow::Result<Db> {
    let db = Db::open(rig.cb.db_path())?;
    db.update_subscriber(&rig.sid, update)?;
    Ok(db)
}
