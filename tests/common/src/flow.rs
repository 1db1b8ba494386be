//! A whole speak-to-agent rig for call-flow tests: the real `callbond` binary whose trunks
//! send user numbers to one SIPp (the user's phone) and call-center numbers to another (the
//! call center), seeded test data, and a plain HTTP client that walks the web front as a
//! browser without JavaScript does: the speak-to-agent link, the Welcome form (cookie and
//! CSRF token), the Connect page and its Server-Sent Events. Reads results from the database
//! file and the push stream; pretends to be no peer.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use subscriber_db::{Call, CallEvent, Db, SessionId, SubscriberId, Word};

use crate::net::Place;
use crate::seed::{self, Seed};
use crate::sipp::{Sipp, SippOptions};
use crate::{Callbond, Options};

/// Which SIPp scenarios stand in for the phones, and what is seeded.
#[derive(Debug, Clone)]
pub struct RigOptions {
    pub user_scenario: &'static str,
    pub user: SippOptions,
    pub center_scenario: &'static str,
    pub center: SippOptions,
    pub seed: Seed,
    /// Digest credentials (username, password) on the trunk to the user's phone.
    pub user_trunk_auth: Option<(&'static str, &'static str)>,
    /// Where the phones run; `None`: on loopback beside the binary.
    pub network: Option<PhoneNetwork>,
    /// More `[[trunks]]` tables, appended to the config as they are: a longer prefix than
    /// the rig's own trunks sends some numbers elsewhere (e.g. to a dead trunk).
    pub extra_trunks: String,
    /// The binary's `web.max_calls_per_ip_per_hour`: every rig request comes from loopback,
    /// so a rig allows many unless a test says otherwise.
    pub max_calls_per_ip_per_hour: u32,
}

/// Phones somewhere else than the binary's loopback (e.g. across a lossy link): how they are
/// started, and the binary's address toward them, where its SIP listens and its media binds.
/// The browser still reaches the binary on loopback.
#[derive(Debug, Clone)]
pub struct PhoneNetwork {
    pub phones: Place,
    pub platform_ip: IpAddr,
}

impl Default for RigOptions {
    fn default() -> Self {
        Self {
            user_scenario: "flow_answer_wait_bye.xml",
            user: SippOptions::default(),
            center_scenario: "flow_center_agent.xml",
            center: SippOptions::default(),
            seed: Seed::default(),
            user_trunk_auth: None,
            network: None,
            extra_trunks: String::new(),
            max_calls_per_ip_per_hour: 10_000,
        }
    }
}

pub struct Rig {
    pub cb: Callbond,
    pub user: Sipp,
    pub center: Sipp,
    pub sid: SubscriberId,
    http: reqwest::Client,
}

/// One event read from `/sessions/{id}/events`.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<u64>,
    pub kind: String,
    pub data: serde_json::Value,
}

impl Rig {
    /// Starts both SIPp peers, then the binary with trunks to them, then seeds the database.
    pub fn start(exe: &str, options: RigOptions) -> anyhow::Result<Self> {
        let phones = options
            .network
            .as_ref()
            .map_or_else(Place::loopback, |n| n.phones.clone());
        let user = Sipp::uas_at(options.user_scenario, options.user, &phones)?;
        let center = Sipp::uas_at(options.center_scenario, options.center, &phones)?;
        let mut extra_config = format!(
            "{}[web]\nmax_calls_per_ip_per_hour = {}\nmax_calls_per_number_per_hour = 100\n",
            seed::trunks_config_with(user.addr, center.addr, options.user_trunk_auth),
            options.max_calls_per_ip_per_hour
        );
        extra_config.push_str(&options.extra_trunks);
        let mut args = Vec::new();
        if let Some(network) = &options.network {
            let ip = network.platform_ip;
            args.push(format!("--sip-listen={}", SocketAddr::new(ip, 0)));
            extra_config.push_str(&format!("[media]\nbind_ip = \"{ip}\"\n"));
        }
        let cb = Callbond::start(exe, Options { extra_config, args })?;
        let sid = seed::seed(&cb.db_path(), &options.seed)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // No idle connections: a test can count the binary's open sockets.
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(20))
            .build()?;
        Ok(Self {
            cb,
            user,
            center,
            sid,
            http,
        })
    }

    /// Follows the speak-to-agent link and submits `number` on the Welcome form; returns
    /// where the answer redirects (a call's Connect page, or a callback request's page when
    /// every line is busy and the queue is offered).
    pub async fn submit_welcome(&self, number: &str) -> anyhow::Result<String> {
        self.submit_welcome_with(number, &[]).await
    }

    /// [`Rig::submit_welcome`] with more form fields (e.g. the queue's `when`).
    pub async fn submit_welcome_with(
        &self,
        number: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<String> {
        let link = self.cb.url(&format!(
            "/speak?sid={}&sc={}&wc=4711",
            self.sid.as_str(),
            seed::SUBJECT
        ));
        let welcome = self
            .http
            .get(&link)
            .header("referer", format!("{}/tariffs", seed::ORIGIN))
            .send()
            .await?;
        let status = welcome.status();
        let cookie = welcome
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .collect::<Vec<_>>()
            .join("; ");
        let html = welcome.text().await?;
        if !status.is_success() {
            bail!("the speak-to-agent link answered {status}: {html}");
        }
        let mut fields = hidden_inputs(&html);
        fields.push(("number".into(), number.into()));
        fields.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let body = serde_urlencoded::to_string(&fields)?;
        let answer = self
            .http
            .post(self.cb.url("/speak"))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        let status = answer.status();
        let location = answer
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Some(location) = location.filter(|_| status.is_redirection()) else {
            bail!(
                "the form was refused ({status}): {}",
                answer.text().await.unwrap_or_default()
            );
        };
        Ok(location)
    }

    /// Books a callback for `number` (every line busy, the queue offered); returns the
    /// request's page session from the redirect to `/callbacks/{page}`.
    pub async fn request_callback(&self, number: &str) -> anyhow::Result<SessionId> {
        let location = self.submit_welcome(number).await?;
        let page = location
            .strip_prefix("/callbacks/")
            .with_context(|| format!("redirect {location} is not to /callbacks/{{page}}"))?;
        SessionId::try_from(page).map_err(|e| anyhow::anyhow!("bad page id {page}: {e}"))
    }

    /// Follows the speak-to-agent link, submits `number` on the Welcome form and returns the
    /// session id from the redirect to the Connect page (which it also loads).
    pub async fn request_call(&self, number: &str) -> anyhow::Result<SessionId> {
        let location = self.submit_welcome(number).await?;
        let id = location
            .strip_prefix("/sessions/")
            .context("redirect is not to /sessions/{id}")?;
        let connect = self.http.get(self.cb.url(&location)).send().await?;
        // A call that already ended (a busy phone answers 486 within a millisecond) sends the
        // browser on to its Disconnect page: that is the Connect page doing its job.
        let ended = format!("{location}/ended");
        let to_ended = connect
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l == ended);
        let shown =
            connect.status().is_success() || (connect.status().is_redirection() && to_ended);
        if !shown {
            bail!("the Connect page answered {}", connect.status());
        }
        SessionId::try_from(id).map_err(|e| anyhow::anyhow!("bad session id {id}: {e}"))
    }

    /// Reads the session's push stream from the start until `ended` (or `limit`).
    pub async fn sse_until_ended(
        &self,
        session: &SessionId,
        limit: Duration,
    ) -> anyhow::Result<Vec<SseEvent>> {
        let url = self
            .cb
            .url(&format!("/sessions/{}/events", session.as_str()));
        let client = reqwest::Client::builder().build()?;
        let read = async {
            let mut response = client.get(&url).send().await?;
            if !response.status().is_success() {
                bail!("event stream answered {}", response.status());
            }
            let mut buffer = String::new();
            let mut events = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    if let Some(event) = parse_sse(&block) {
                        let done = event.kind == "ended";
                        events.push(event);
                        if done {
                            return Ok(events);
                        }
                    }
                }
            }
            bail!("event stream closed before `ended`; got {events:?}")
        };
        tokio::time::timeout(limit, read)
            .await
            .with_context(|| format!("no `ended` event within {limit:?}"))?
    }

    /// Waits until the call record is finished; returns it.
    pub async fn wait_finished(
        &self,
        session: &SessionId,
        limit: Duration,
    ) -> anyhow::Result<Call> {
        let db = self.db()?;
        let deadline = Instant::now() + limit;
        loop {
            let call = db.get_call(&self.sid, session)?;
            if call.ended_at.is_some() {
                return Ok(call);
            }
            if Instant::now() >= deadline {
                bail!(
                    "call still {:?} after {limit:?}\n{}",
                    call.state,
                    self.cb.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the call record is in `state` (the runtime writes each flow state).
    pub async fn wait_state(
        &self,
        session: &SessionId,
        state: &str,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let db = self.db()?;
        let deadline = Instant::now() + limit;
        loop {
            let call = db.get_call(&self.sid, session)?;
            if call.state.word() == state {
                return Ok(());
            }
            if call.ended_at.is_some() || Instant::now() >= deadline {
                bail!(
                    "call is {:?}, never {state:?}\n{}",
                    call.state,
                    self.cb.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The call's timeline as written.
    pub fn timeline(&self, session: &SessionId) -> anyhow::Result<Vec<CallEvent>> {
        Ok(self.db()?.list_call_events(&self.sid, session)?)
    }

    /// The call's first timeline row of this kind, waiting up to `limit` for it: rows are
    /// written in batches, a moment after what they describe was sent to browsers.
    pub async fn wait_row(
        &self,
        session: &SessionId,
        kind: &str,
        limit: Duration,
    ) -> anyhow::Result<CallEvent> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(row) = self
                .timeline(session)?
                .into_iter()
                .find(|e| e.kind() == kind)
            {
                return Ok(row);
            }
            if Instant::now() >= deadline {
                bail!("no {kind:?} row within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An HTTP client signed in to the agent desk as `login` of subscriber `sid` with
    /// `password` (cookies kept, redirects not followed): the login form's CSRF token, then
    /// the form posted, which must answer 303.
    pub async fn console_client(
        &self,
        sid: &str,
        login: &str,
        password: &str,
    ) -> anyhow::Result<reqwest::Client> {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let form = client
            .get(self.cb.url("/console/login"))
            .send()
            .await?
            .text()
            .await?;
        let csrf = hidden_inputs(&form)
            .into_iter()
            .find(|(n, _)| n == "csrf")
            .map(|(_, v)| v)
            .ok_or_else(|| anyhow::anyhow!("the login form has no csrf field"))?;
        let answer = client
            .post(self.cb.url("/console/login"))
            .form(&[
                ("sid", sid),
                ("login", login),
                ("password", password),
                ("csrf", csrf.as_str()),
            ])
            .send()
            .await?;
        anyhow::ensure!(
            answer.status().as_u16() == 303,
            "console sign-in of {login} answered {}",
            answer.status()
        );
        Ok(client)
    }

    /// `GET /admin/v1{path}` with the operator key: status and JSON (`null` when none).
    pub async fn admin_get(&self, path: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        let answer = self
            .http
            .get(self.cb.url(&format!("/admin/v1{path}")))
            .bearer_auth(&self.cb.operator_key)
            .send()
            .await?;
        let status = answer.status().as_u16();
        Ok((
            status,
            answer.json().await.unwrap_or(serde_json::Value::Null),
        ))
    }

    pub fn active_calls(&self) -> anyhow::Result<u64> {
        Ok(self.db()?.count_active_calls(&self.sid)?)
    }

    /// Sockets the binary holds open (media ports, SIP, HTTP), from `/proc/PID/fd`.
    pub fn open_sockets(&self) -> anyhow::Result<usize> {
        let mut count = 0;
        for entry in std::fs::read_dir(format!("/proc/{}/fd", self.cb.pid()))? {
            let target = std::fs::read_link(entry?.path()).unwrap_or_default();
            if target.to_string_lossy().starts_with("socket:") {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Waits until the binary holds at most `want` sockets; the count it settled at.
    pub async fn sockets_settle(&self, want: usize, limit: Duration) -> anyhow::Result<usize> {
        let deadline = Instant::now() + limit;
        loop {
            let now = self.open_sockets()?;
            if now <= want || Instant::now() >= deadline {
                return Ok(now);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runtime log lines `leg dialed` and `leg ended` in the whole log: every leg placed must
    /// be seen to end.
    pub fn legs_dialed_and_ended(&self) -> (usize, usize) {
        let logs = self.cb.logs();
        let runtime = |needle: &str| {
            logs.lines()
                .filter(|l| l.contains("platform::runtime") && l.contains(needle))
                .count()
        };
        (runtime("leg dialed"), runtime("leg ended"))
    }

    /// Log lines of the binary that mention `session`.
    pub fn call_logs(&self, session: &SessionId) -> Vec<String> {
        self.cb
            .logs()
            .lines()
            .filter(|l| l.contains(session.as_str()))
            .map(str::to_owned)
            .collect()
    }

    fn db(&self) -> anyhow::Result<Db> {
        Db::open(self.cb.db_path()).context("opening the binary's database")
    }
}

/// The push events as `status:STATE`, `page:TITLE` and `ended:CAUSE`, for assertions.
pub fn summary(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e.kind.as_str() {
            "status" => format!("status:{}", e.data["state"].as_str().unwrap_or("?")),
            "page" => format!("page:{}", e.data["title"].as_str().unwrap_or("?")),
            other => format!("{other}:{}", e.data["cause"].as_str().unwrap_or("?")),
        })
        .collect()
}

/// Fails unless `want` appear in `kinds` in this order (other kinds may sit between).
pub fn assert_in_order(kinds: &[&str], want: &[&str]) {
    let mut at = 0;
    for kind in want {
        match kinds[at..].iter().position(|k| k == kind) {
            Some(i) => at += i + 1,
            None => panic!("timeline lacks {kind} after step {at}: {kinds:?}"),
        }
    }
}

/// Kinds of a timeline, in order.
pub fn kinds(timeline: &[CallEvent]) -> Vec<&str> {
    timeline.iter().map(|e| e.kind()).collect()
}

/// `<input type="hidden" name=".." value="..">` pairs of a page, unescaped.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for tag in html.split("<input").skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        if !tag.contains("type=\"hidden\"") {
            continue;
        }
        if let (Some(name), Some(value)) = (attribute(tag, "name"), attribute(tag, "value")) {
            out.push((name, value));
        }
    }
    out
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// One block of a Server-Sent Events stream (up to its blank line), if it is an event.
pub fn parse_sse(block: &str) -> Option<SseEvent> {
    let mut id = None;
    let mut kind = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("event:") {
            kind = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
    let kind = kind?;
    let data = serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data));
    Some(SseEvent { id, kind, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hidden_fields_and_sse_blocks() {
        let html = r#"<form><input type="hidden" name="sid" value="acme">
            <input type="hidden" name="page" value="http://a/?x=1&amp;y=2"><input type="tel" name="number" value=""></form>"#;
        assert_eq!(
            hidden_inputs(html),
            [
                ("sid".to_owned(), "acme".to_owned()),
                ("page".to_owned(), "http://a/?x=1&y=2".to_owned())
            ]
        );
        let event =
            parse_sse("id: 3\nevent: page\ndata: {\"title\":\"T\"}\n\n").expect("an event block");
        assert_eq!(event.id, Some(3));
        assert_eq!(event.kind, "page");
        assert_eq!(event.data["title"], "T");
        assert_eq!(parse_sse(": keep-alive\n\n"), None);
    }
}
