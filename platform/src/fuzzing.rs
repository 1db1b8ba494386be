//! Entry points for the fuzz targets in `tests/fuzz` (and the corpus replay test): each takes
//! raw bytes from outside, hands them to the code production runs on them, and asserts what
//! must hold whatever the bytes are. A failed assertion is a finding.
//!
//! Owns no parsing: the speak-to-agent link goes through `Tag1::parse` and `link`, the
//! Welcome form and its cookie through the real router (`POST /speak`, with a form the
//! router itself issued), admin bodies through the admin API's `parse_json` and
//! `route_file`, then into the real database. [`TARGETS`] names every target once, for the
//! fuzz crate and the replay test alike. Not part of the API; hidden from the docs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use axum::http::HeaderValue;
use chrono::{Duration, Utc};
use pagepush::{Hub, HubConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use subscriber_db::{
    Agent, AgentLogin, AgentRole, AgentUpdate, Db, ImportMode, LoginCheck, NewAgent, NewSubscriber,
    Policy, Route, RouteInput, SiteInput, SubscriberId, SubscriberUpdate, Window,
};
use tokio_util::sync::CancellationToken;

use crate::admin::agents::PasswordBody;
use crate::admin::{extract, route_file};
use crate::config::Config;
use crate::link::{self, SignedFields};
use crate::runtime::Runtime;
use crate::web::tag1::{Tag1, request_origin};
use crate::{AppState, app};

/// A fuzz target's entry point: bytes in, a panic when a property fails.
pub type Target = fn(&[u8]);

/// Every fuzz target: its name (the file under `tests/fuzz/fuzz_targets/` and the corpus
/// directory) and its entry point.
pub const TARGETS: &[(&str, Target)] = &[
    ("sip_edge", voice::fuzzing::sip_edge),
    ("sip_datagram", voice::fuzzing::sip_datagram),
    ("sip_stream", voice::fuzzing::sip_stream),
    ("sip_info", voice::fuzzing::sip_info),
    ("sdp", voice::fuzzing::sdp),
    ("rtp", voice::fuzzing::rtp),
    ("telephone_event", voice::fuzzing::telephone_event),
    ("tag1", tag1),
    ("welcome_form", welcome_form),
    ("admin_json", admin_json),
    ("route_import", route_import),
    ("push_channel", push_channel),
    ("config_toml", config_toml),
    ("console_forms", console_forms),
];

const SID: &str = "fuzzco";
const SUBJECT: &str = "billing";
const SECRET: &[u8] = b"a site's link-signing secret, 32";

/// A speak-to-agent link's query string, then a line with the `Origin` header and a line
/// with the `Referer`, as `GET /speak` reads them.
///
/// Properties: a link that parses is the same link when written again the way links are made
/// (`link::query_string`); its signature, made with a site secret, verifies before the expiry
/// and not after; the origin read from the headers reads back to itself.
pub fn tag1(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(3, '\n');
    let query = lines.next().unwrap_or("");
    let origin = lines.next();
    let referer = lines.next();
    if let Some(o) = request_origin(origin, referer) {
        let again: subscriber_db::Origin = o
            .as_str()
            .parse()
            .unwrap_or_else(|e| panic!("an origin we read must read again: {e}"));
        assert_eq!(again, o);
    }
    let Ok(parsed) = Tag1::parse(query) else {
        return;
    };
    let exp = parsed.signature.as_ref().map_or(1_900_000_000, |s| s.exp);
    let fields = SignedFields {
        sid: parsed.sid.as_str(),
        sc: parsed.sc.as_str(),
        wc: parsed.wc.as_ref().map(|w| w.as_str()),
        tel: parsed.tel.as_deref(),
        exp,
    };
    let sig = link::sign(SECRET, &fields);
    let written = link::query_string(&fields, &sig);
    let reread = Tag1::parse(&written)
        .unwrap_or_else(|e| panic!("a link we wrote must parse: {e}: {written}"));
    assert_eq!(
        (&reread.sid, &reread.sc, &reread.wc, &reread.tel),
        (&parsed.sid, &parsed.sc, &parsed.wc, &parsed.tel),
        "{written}"
    );
    assert_eq!(reread.signature.as_ref().map(|s| s.exp), Some(exp));
    assert_eq!(
        link::verify(SECRET, &fields, &sig, exp.saturating_sub(1)),
        Ok(())
    );
    assert_eq!(
        link::verify(SECRET, &fields, &sig, exp),
        Err(link::LinkError::Expired)
    );
    if let Some(s) = &parsed.signature
        && s.sig != sig
    {
        assert_eq!(
            link::verify(SECRET, &fields, &s.sig, exp.saturating_sub(1)),
            Err(link::LinkError::BadSignature),
            "a signature we did not make must not verify"
        );
    }
    let _ = parsed.check_lifetime(0, 30 * 86_400);
}

/// The app in this process for [`welcome_form`]: the real router served over loopback TCP
/// (so hyper reads each request as it reads a browser's), an in-memory database with one
/// subscriber whose site accepts unsigned links, and one Welcome form the app issued (its
/// cookie and hidden fields).
struct Web {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    db: Arc<Db>,
    cookie: String,
    form: String,
    _shutdown: CancellationToken,
}

fn web() -> &'static Web {
    static WEB: OnceLock<Web> = OnceLock::new();
    WEB.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a runtime for the fuzzed app: {e}"));
        let built = runtime.block_on(start_web());
        let (addr, db, cookie, form, shutdown) =
            built.unwrap_or_else(|e| panic!("the fuzzed app must start: {e}"));
        Web {
            runtime,
            addr,
            db,
            cookie,
            form,
            _shutdown: shutdown,
        }
    })
}

type Started = (SocketAddr, Arc<Db>, String, String, CancellationToken);

async fn start_web() -> Result<Started, String> {
    let mut config = Config::default();
    config.sip.listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let db = Arc::new(Db::open_in_memory().map_err(|e| e.to_string())?);
    seed(&db)?;
    let shutdown = CancellationToken::new();
    // In-memory database: nothing to journal beside it, and no crash to recover from.
    let mut voice_config = config.voice_config();
    voice_config.invite_journal = None;
    let voice = voice::Voice::start(voice_config, shutdown.child_token())
        .await
        .map_err(|e| e.to_string())?;
    let hub = Hub::new(HubConfig::default());
    let runtime = Runtime::new(Arc::clone(&db), hub.clone(), voice, shutdown.child_token());
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let state = AppState::new(
        config,
        format!("http://{addr}"),
        Arc::clone(&db),
        hub,
        runtime,
    );
    let router = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
    });
    // The Welcome form, as a browser gets it from an unsigned link on the subscriber's site.
    let (_, page) = http(
        addr,
        format!(
            "GET /speak?sid={SID}&sc={SUBJECT} HTTP/1.1\r\nHost: callbond.test\r\n\
             Origin: https://www.fuzzco.example\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let page = String::from_utf8_lossy(&page);
    let cookie = page
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .and_then(|l| l.split_once('='))
        .and_then(|(_, v)| v.split(';').next())
        .map(str::to_owned)
        .ok_or("the Welcome page sets its form cookie")?;
    let mut form = Vec::new();
    for name in ["sid", "sc", "iat", "csrf"] {
        let value = hidden_value(&page, name).ok_or(format!("hidden field {name}"))?;
        form.push((name, value));
    }
    let form = serde_urlencoded::to_string(&form).map_err(|e| e.to_string())?;
    Ok((addr, db, cookie, form, shutdown))
}

/// One HTTP/1.1 exchange on a fresh connection: the status code and the whole answer.
async fn http(addr: SocketAddr, request: &[u8]) -> Result<(u16, Vec<u8>), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    stream.write_all(request).await.map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    let status = answer
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status line: {}", String::from_utf8_lossy(&answer)))?;
    Ok((status, answer))
}

/// The value of `<input type="hidden" name="{name}" value="…">` (values we issued are plain
/// tokens, digits and codes: no entities to undo).
fn hidden_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let start = rest.find("value=\"")? + "value=\"".len();
    let end = rest[start..].find('"')?;
    Some(rest[start..start + end].to_owned())
}

fn seed(db: &Db) -> Result<(), String> {
    let now = Utc::now();
    let sid: SubscriberId = SID.parse().map_err(|e| format!("{e}"))?;
    let s = |e: subscriber_db::DbError| e.to_string();
    let v = |e: subscriber_db::ValidationError| e.to_string();
    db.create_subscriber(
        &NewSubscriber {
            id: sid.clone(),
            display_name: "Fuzz Company".parse().map_err(v)?,
            active: true,
        },
        now,
    )
    .map_err(s)?;
    db.create_site(
        &sid,
        &SiteInput {
            origin: "https://www.fuzzco.example".parse().map_err(v)?,
            accept_unsigned: true,
        },
        now,
    )
    .map_err(s)?;
    db.create_route(
        &sid,
        &Route {
            subject_code: SUBJECT.parse().map_err(v)?,
            center_number: "+12025550199".parse().map_err(v)?,
            dnis: None,
            whisper_template: Default::default(),
            fallback_numbers: Vec::new(),
            context: Default::default(),
            label: None,
        },
    )
    .map_err(s)?;
    Ok(())
}

/// `POST /speak` through the real router: the input's first line is the `Cookie` header,
/// the rest the form body. `{cookie}` in the first line and `{form}` in the body stand for
/// the cookie and the hidden fields of the one Welcome form the app issued, so inputs can
/// reach past the CSRF check into the number, policy and rate-limit checks.
///
/// Properties: no input gets a server error; a refused form stores nothing; one form makes
/// at most one call, however often it is sent (issue 10: single-use forms).
pub fn welcome_form(data: &[u8]) {
    let web = web();
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let cookie = String::from_utf8_lossy(&data[..split]).replace("{cookie}", &web.cookie);
    let body = String::from_utf8_lossy(data.get(split + 1..).unwrap_or(&[]))
        .replace("{form}", &web.form)
        .into_bytes();
    // A header value cannot hold CR or LF: a browser never sends one, and hyper would read
    // the rest as another header (its own parsing is not what this target is about).
    if cookie.contains(['\r', '\n']) {
        return;
    }
    let mut request = format!(
        "POST /speak HTTP/1.1\r\nHost: callbond.test\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nCookie: {cookie}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let since = Utc::now() - Duration::days(1);
    let calls = |db: &Db| {
        db.count_recent_requests_from_ip(IpAddr::V4(Ipv4Addr::LOCALHOST), since)
            .unwrap_or_else(|e| panic!("count calls: {e}"))
    };
    let before = calls(&web.db);
    let (status, answer) = web
        .runtime
        .block_on(http(web.addr, &request))
        .unwrap_or_else(|e| panic!("POST /speak: {e}"));
    assert!(
        status < 500 || status == 503,
        "POST /speak answered {status}: {}",
        String::from_utf8_lossy(&answer)
    );
    let after = calls(&web.db);
    if !(300..400).contains(&status) {
        assert_eq!(after, before, "a refused form ({status}) stored a call");
    }
    assert!(after <= 1, "one form made {after} calls");
}

fn db() -> &'static Db {
    static DB: OnceLock<Db> = OnceLock::new();
    DB.get_or_init(|| {
        let db = Db::open_in_memory().unwrap_or_else(|e| panic!("in-memory database: {e}"));
        seed(&db).unwrap_or_else(|e| panic!("seed: {e}"));
        db
    })
}

fn sid() -> SubscriberId {
    SubscriberId::try_from(SID.to_owned()).unwrap_or_else(|e| panic!("{e}"))
}

/// An admin API JSON body; the first byte picks the endpoint's body type (policy, route,
/// site, new subscriber, subscriber update, new agent, agent update, agent password, a
/// callback request's move, a disposition list), read with the API's own `parse_json`, then
/// stored as the handler stores it. Picks 0-8 keep the meaning they had before 9 was added
/// (the seeds start with 0-8).
///
/// Properties: a body that parses prints to JSON that parses to the same value; what the
/// database accepts reads back as stored; what it refuses leaves the stored value unchanged.
pub fn admin_json(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let db = db();
    let sid = sid();
    match pick % 10 {
        9 => dispositions_json(db, &sid, body),
        8 => move_json(db, &sid, body),
        0 => {
            let Some(policy) = round_trip::<Policy>(body) else {
                return;
            };
            let before = db
                .get_policy(&sid)
                .unwrap_or_else(|e| panic!("policy: {e}"));
            match db.put_policy(&sid, &policy) {
                Ok(stored) => {
                    assert_eq!(stored, policy, "the stored policy is the one sent");
                    let read = db
                        .get_policy(&sid)
                        .unwrap_or_else(|e| panic!("policy: {e}"));
                    assert_eq!(read, policy, "the policy reads back as stored");
                }
                Err(_) => assert_eq!(
                    db.get_policy(&sid)
                        .unwrap_or_else(|e| panic!("policy: {e}")),
                    before,
                    "a refused policy changed the stored one"
                ),
            }
        }
        1 => {
            let Some(route) = round_trip::<Route>(body) else {
                return;
            };
            let before = db.get_route(&sid, &route.subject_code).ok();
            match db.create_route(&sid, &route) {
                Ok(_) => {
                    let read = db
                        .get_route(&sid, &route.subject_code)
                        .unwrap_or_else(|e| panic!("created route: {e}"));
                    assert_eq!(read, route, "the route reads back as created");
                    db.delete_route(&sid, &route.subject_code)
                        .unwrap_or_else(|e| panic!("delete: {e}"));
                }
                Err(_) => assert_eq!(
                    db.get_route(&sid, &route.subject_code).ok(),
                    before,
                    "a refused route changed the table"
                ),
            }
        }
        2 => {
            if let Some(site) = round_trip::<SiteInput>(body)
                && let Ok(created) = db.create_site(&sid, &site, Utc::now())
            {
                assert_eq!(created.site.origin, site.origin);
                let _ = db.delete_site(&sid, created.site.id);
            }
        }
        3 => {
            let _ = round_trip::<NewSubscriber>(body);
        }
        5..=7 => agent_json(db, &sid, pick % 10, body),
        _ => {
            if let Some(update) = round_trip::<SubscriberUpdate>(body) {
                let before = db
                    .get_subscriber(&sid)
                    .unwrap_or_else(|e| panic!("subscriber: {e}"));
                if let Ok(after) = db.update_subscriber(&sid, &update) {
                    if let Some(name) = &update.display_name {
                        assert_eq!(&after.display_name, name);
                    }
                    // Put it back: the next input starts from the seeded subscriber.
                    let restore = SubscriberUpdate {
                        display_name: Some(before.display_name.clone()),
                        active: Some(before.active),
                        logo_url: Some(before.logo_url.clone()),
                        accent_color: Some(before.accent_color),
                        promo_html: Some(before.promo_html.clone()),
                    };
                    let _ = db.update_subscriber(&sid, &restore);
                }
            }
        }
    }
}

/// `admin_json`'s disposition list (`PUT …/dispositions`): what the database accepts reads
/// back in order; a refused list leaves the stored one as it was.
fn dispositions_json(db: &Db, sid: &SubscriberId, body: &[u8]) {
    let Some(list) = round_trip::<subscriber_db::DispositionList>(body) else {
        return;
    };
    let before = db
        .dispositions(sid)
        .unwrap_or_else(|e| panic!("dispositions: {e}"));
    match db.put_dispositions(sid, &list.dispositions, Utc::now()) {
        Ok(stored) => {
            assert_eq!(stored, list.dispositions, "the stored list is the one sent");
            // Put it back: the next input starts from the same list.
            let _ = db.put_dispositions(sid, &before, Utc::now());
        }
        Err(_) => assert_eq!(
            db.dispositions(sid)
                .unwrap_or_else(|e| panic!("dispositions: {e}")),
            before,
            "a refused list changed the stored one"
        ),
    }
}

/// `admin_json`'s move body (`POST …/callbacks/{id}/move`): a body that parses moves the
/// standing waiting request there, and a second move to the same time answers the same;
/// one the database refuses leaves the request as it was.
fn move_json(db: &Db, sid: &SubscriberId, body: &[u8]) {
    let Some(moved) = round_trip::<crate::admin::callbacks::MoveBody>(body) else {
        return;
    };
    let standing = standing_callback(db, sid);
    match db.reschedule_callback(sid, standing.id, moved.due_at, moved.slot_end) {
        Ok(after) => {
            assert_eq!(
                after.due_at.timestamp_millis(),
                moved.due_at.timestamp_millis()
            );
            assert_eq!(after.state, subscriber_db::CallbackState::Waiting);
            let again = db
                .reschedule_callback(sid, standing.id, moved.due_at, moved.slot_end)
                .unwrap_or_else(|e| panic!("the same move again: {e}"));
            assert_eq!(again, after, "the same move twice answered differently");
        }
        Err(_) => assert_eq!(
            db.get_callback(sid, standing.id)
                .unwrap_or_else(|e| panic!("callback: {e}")),
            standing,
            "a refused move changed the request"
        ),
    }
}

/// The one waiting request the move bodies act on, booked on first use.
fn standing_callback(db: &Db, sid: &SubscriberId) -> subscriber_db::Callback {
    let page: subscriber_db::SessionId = "00000000000000000000000000000001"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    if let Ok(found) = db.callback_by_page(&page) {
        return found;
    }
    let new = subscriber_db::NewCallback {
        subject_code: subscriber_db::SubjectCode::try_from("billing".to_owned())
            .unwrap_or_else(|e| panic!("{e}")),
        user_number: "+4930555000".parse().unwrap_or_else(|e| panic!("{e}")),
        page_session: page,
        kind: subscriber_db::CallbackKind::Queued,
        priority: 0,
        due_at: Utc::now(),
        slot_end: None,
        predicted_wait_ms: None,
        form_digest: None,
        whisper_code: None,
        came_from: None,
        client_ip: None,
        consent_key: None,
    };
    db.enqueue_callback(sid, &new, Utc::now())
        .unwrap_or_else(|e| panic!("standing callback: {e}"))
}

/// `admin_json`'s agent bodies. A created agent reads back as sent and signs in with its
/// password; an update or reset of the standing agent shows in it; a refused body changes
/// nothing.
fn agent_json(db: &Db, sid: &SubscriberId, pick: u8, body: &[u8]) {
    let standing = standing_agent(db, sid);
    let list = || {
        db.list_agents(sid)
            .unwrap_or_else(|e| panic!("agents: {e}"))
    };
    match pick {
        5 => {
            let Some(new) = round_trip::<NewAgent>(body) else {
                return;
            };
            let before = list();
            match db.create_agent(sid, &new, Utc::now()) {
                Ok(agent) => {
                    let read = db
                        .get_agent(sid, agent.id)
                        .unwrap_or_else(|e| panic!("created agent: {e}"));
                    assert_eq!(read, agent, "the agent reads back as created");
                    assert_eq!(
                        (&agent.login, &agent.display_name, agent.role, agent.active),
                        (&new.login, &new.display_name, new.role, new.active)
                    );
                    assert_eq!(agent.has_pin, new.pin.is_some());
                    let check = db
                        .check_agent_login(sid, &new.login, &new.password)
                        .unwrap_or_else(|e| panic!("login: {e}"));
                    let expected = if new.active { "accepted" } else { "disabled" };
                    let got = match check {
                        LoginCheck::Accepted(_) => "accepted",
                        LoginCheck::Disabled => "disabled",
                        LoginCheck::Refused => "refused",
                    };
                    assert_eq!(got, expected, "the agent signs in with its own password");
                    db.delete_agent(sid, agent.id)
                        .unwrap_or_else(|e| panic!("delete: {e}"));
                }
                Err(_) => assert_eq!(list(), before, "a refused agent changed the list"),
            }
        }
        6 => {
            let Some(update) = round_trip::<AgentUpdate>(body) else {
                return;
            };
            let after = match db.update_agent(sid, standing.id, &update) {
                Ok(after) => after,
                Err(_) => {
                    let read = db.get_agent(sid, standing.id);
                    assert_eq!(
                        read.ok(),
                        Some(standing),
                        "a refused update changed the agent"
                    );
                    return;
                }
            };
            assert_eq!(
                after.display_name,
                update.display_name.unwrap_or(standing.display_name.clone())
            );
            assert_eq!(after.role, update.role.unwrap_or(standing.role));
            assert_eq!(after.active, update.active.unwrap_or(standing.active));
            assert_eq!(
                after.has_pin,
                update.pin.map_or(standing.has_pin, |pin| pin.is_some())
            );
            let restore = AgentUpdate {
                display_name: Some(standing.display_name.clone()),
                role: Some(standing.role),
                active: Some(standing.active),
                pin: Some(None),
            };
            let _ = db.update_agent(sid, standing.id, &restore);
        }
        _ => {
            let Some(reset) = round_trip::<PasswordBody>(body) else {
                return;
            };
            db.set_agent_password(sid, standing.id, &reset.password)
                .unwrap_or_else(|e| panic!("reset: {e}"));
            let check = db
                .check_agent_login(sid, &standing.login, &reset.password)
                .unwrap_or_else(|e| panic!("login: {e}"));
            assert!(
                matches!(check, LoginCheck::Accepted(_)),
                "the new password signs in"
            );
        }
    }
}

/// The one agent every agent input may update, created on first use.
fn standing_agent(db: &Db, sid: &SubscriberId) -> Agent {
    let login: AgentLogin = "standing".parse().unwrap_or_else(|e| panic!("{e}"));
    if let Some(agent) = db
        .list_agents(sid)
        .unwrap_or_else(|e| panic!("agents: {e}"))
        .into_iter()
        .find(|a| a.login == login)
    {
        return agent;
    }
    let new = NewAgent {
        login,
        display_name: "Standing Agent"
            .try_into()
            .unwrap_or_else(|e| panic!("{e}")),
        password: "standing-password"
            .try_into()
            .unwrap_or_else(|e| panic!("{e}")),
        pin: None,
        role: AgentRole::Agent,
        active: true,
    };
    db.create_agent(sid, &new, Utc::now())
        .unwrap_or_else(|e| panic!("standing agent: {e}"))
}

/// Parses `body` as the admin API does; a value that parses must print and parse to itself.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
    body: &[u8],
) -> Option<T> {
    let value: T = extract::parse_json(body).ok()?;
    let printed = serde_json::to_vec(&value).unwrap_or_else(|e| panic!("print: {e}"));
    let again: T = extract::parse_json(&printed).unwrap_or_else(|e| {
        panic!(
            "printed JSON must parse again: {}: {}",
            e.message,
            String::from_utf8_lossy(&printed)
        )
    });
    assert_eq!(again, value, "{}", String::from_utf8_lossy(&printed));
    Some(value)
}

/// A route import file (`POST …/routes/import`): the first byte picks CSV or JSON and merge or
/// replace; the rest is the file, read by `route_file` and imported into the database.
///
/// Properties: a file that is refused (shape or values) leaves the table exactly as it was;
/// an accepted one leaves every row readable as validated (the last row of a subject code
/// wins), and after replace the table holds exactly the file's subject codes.
pub fn route_import(data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    // A file the reader refuses never reaches the database: read it first, so most inputs
    // cost no SQL.
    let rows = if pick & 1 == 0 {
        route_file::parse_csv(file)
    } else {
        route_file::parse_json(file)
    };
    let Ok(rows) = rows else {
        return;
    };
    let db = db();
    let sid = sid();
    let baseline = [RouteInput {
        subject_code: SUBJECT.to_owned(),
        center_number: "+12025550199".to_owned(),
        ..RouteInput::default()
    }];
    db.import_routes(&sid, &baseline, ImportMode::Replace)
        .unwrap_or_else(|e| panic!("baseline import: {e}"));
    let all = Window {
        limit: 10_000,
        offset: 0,
    };
    let list = || {
        db.list_routes(&sid, all)
            .unwrap_or_else(|e| panic!("list routes: {e}"))
    };
    let before = list();
    let mode = if pick & 2 == 0 {
        ImportMode::Merge
    } else {
        ImportMode::Replace
    };
    match db.import_routes(&sid, &rows, mode) {
        Err(_) => assert_eq!(list(), before, "a refused import changed the table"),
        Ok(summary) => {
            assert_eq!(summary.imported, rows.len());
            // The last row of each subject code is the one that stays.
            let mut last: std::collections::BTreeMap<_, Route> = std::collections::BTreeMap::new();
            for row in &rows {
                let route = row
                    .validate()
                    .unwrap_or_else(|e| panic!("an imported row must validate: {row:?}: {e:?}"));
                last.insert(route.subject_code.clone(), route);
            }
            for (code, route) in &last {
                let read = db
                    .get_route(&sid, code)
                    .unwrap_or_else(|e| panic!("imported route: {e}"));
                assert_eq!(&read, route, "the route reads back as the file's last row");
            }
            if mode == ImportMode::Replace {
                assert_eq!(list().len(), last.len(), "replace keeps only the file");
            }
        }
    }
}

/// The agent desk's forms (`/console/claim`, `push`, `presence`, `wrapup`, `takeover`) as
/// their handlers read them: the first byte picks the form, the rest is the posted body.
///
/// Properties: an accepted call reference is 3 or 4 digits; an accepted tab id is the text
/// sent, 8–64 letters, digits or `-`; an accepted presence word prints as sent; accepted
/// wrap-up values are those sent, with notes of at most 2,000 characters, line breaks as LF
/// and no other control characters than tab and CR.
pub fn console_forms(data: &[u8]) {
    let [pick, body @ ..] = data else {
        return;
    };
    crate::console::fuzz_form(*pick, body);
}

/// What a browser sends on the push channel: a `Last-Event-ID` header (first line) and the
/// session id of the path `/sessions/{id}/events` (second line).
///
/// Properties: an event id read prints to the same digits (leading zeros aside); a session
/// id that parses prints to itself.
pub fn push_channel(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    if let Ok(value) = HeaderValue::from_bytes(&data[..split])
        && let Some(id) = pagepush::parse_last_event_id(Some(&value))
    {
        let printed = id.to_string();
        let again = pagepush::parse_last_event_id(HeaderValue::from_str(&printed).ok().as_ref());
        assert_eq!(again, Some(id), "{printed}");
    }
    if let Ok(text) = std::str::from_utf8(data.get(split + 1..).unwrap_or(&[]))
        && let Ok(session) = text.parse::<pagepush::SessionId>()
    {
        assert_eq!(
            session.to_string().parse::<pagepush::SessionId>().ok(),
            Some(session)
        );
    }
}

/// The operator's config file (`callbond --config`), as `Config::from_toml` reads it, then
/// what start-up derives from it: the voice config and each trunk's target check.
///
/// Properties: an accepted config passes its own validation again, and start-up derives the
/// voice config from it without failing on anything but a trunk target it names.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::from_toml(text, std::path::Path::new("fuzz.toml")) else {
        return;
    };
    assert!(
        config.validate().is_ok(),
        "an accepted config must validate"
    );
    let voice = config.voice_config();
    assert_eq!(voice.trunks.len(), config.trunks.len());
    for trunk in &voice.trunks {
        let _ = voice::check_trunk_target(&trunk.target);
    }
}
