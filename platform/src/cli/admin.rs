//! `callbond admin …`: the admin API's operations against the local database file, for the
//! operator at the server's shell (first set-up, scripts, demos). Secrets (keys, site secrets)
//! are printed once, as the API answers them. Output lines are `label: value` so scripts can
//! read them; `link` prints the bare URL.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use subscriber_db::{
    AccentColor, AgentId, AgentLogin, AgentName, AgentPassword, AgentRole, AgentUpdate,
    CallbackFilter, CallbackId, CallbackState, Db, DbError, E164, ImportMode, LogoUrl, NewAgent,
    NewSubscriber, Origin, PageContent, Policy, PromoHtml, SiteInput, SubjectCode, SubscriberId,
    SubscriberName, SubscriberUpdate, WhisperCode,
};

use crate::admin::pages::PageBody;
use crate::admin::{extract, route_file};
use crate::config::Config;
use crate::link::{self, SignedFields};

/// Longest validity of a printed link: a year. Links are meant to be re-signed when the
/// subscriber's page is rendered, not pasted once forever.
const MAX_LINK_TTL_SECS: u64 = 366 * 24 * 3600;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Creates the database if needed and, when it has no active operator key yet, prints a
    /// new one (shown once). Running it again mints nothing: see `operator-key create`.
    Init,
    /// Operator API keys: create, list, revoke.
    #[command(subcommand)]
    OperatorKey(OperatorKeyCommand),
    /// Subscribers (the businesses using the platform).
    #[command(subcommand)]
    Subscriber(SubscriberCommand),
    /// Subscriber API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sites: web origins allowed to carry speak-to-agent links.
    #[command(subcommand)]
    Site(SiteCommand),
    /// The network abstraction table (subject code → call-center number).
    #[command(subcommand)]
    Routes(RoutesCommand),
    /// Pages agents push by keying their DTMF keys.
    #[command(subcommand)]
    Page(PageCommand),
    /// The subscriber's policy (opening hours, caller countries, limits, texts).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Prints a signed speak-to-agent link for a site and subject code.
    Link(LinkArgs),
    /// Agents who sign in to the agent desk.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// The callback queue: requests booked while every line was busy.
    #[command(subcommand)]
    Callbacks(CallbacksCommand),
}

#[derive(Debug, Subcommand)]
pub enum SubscriberCommand {
    /// Creates a subscriber.
    Create {
        /// Id (SID): lowercase letters, digits and '-', e.g. `acme`.
        #[arg(long)]
        id: SubscriberId,
        /// Name shown to visitors, e.g. "Acme Insurance".
        #[arg(long)]
        name: SubscriberName,
        /// Create it switched off (its links show "not available").
        #[arg(long)]
        inactive: bool,
    },
    /// Sets what the visitor's pages show: logo, accent colour, promotional content. Options
    /// left out keep their value; `--clear-…` removes one.
    Brand {
        #[arg(long)]
        id: SubscriberId,
        /// https address of the logo image.
        #[arg(long, conflicts_with = "clear_logo")]
        logo_url: Option<LogoUrl>,
        #[arg(long)]
        clear_logo: bool,
        /// Accent colour `#rrggbb` (header and buttons; the text colour on it is chosen to
        /// stay readable).
        #[arg(long, conflicts_with = "clear_accent")]
        accent_color: Option<AccentColor>,
        #[arg(long)]
        clear_accent: bool,
        /// File of HTML shown sandboxed on the Connect page while the visitor waits.
        #[arg(long, conflicts_with = "clear_promo")]
        promo_file: Option<std::path::PathBuf>,
        #[arg(long)]
        clear_promo: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Creates an API key for a subscriber and prints it (shown once).
    Create {
        #[arg(long)]
        subscriber: SubscriberId,
    },
}

#[derive(Debug, Subcommand)]
pub enum OperatorKeyCommand {
    /// Creates another operator key and prints it (shown once).
    Create,
    /// Lists the operator keys: id, first characters, created, revoked.
    List,
    /// Revokes an operator key at once (not the last active one).
    Revoke {
        #[arg(long)]
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Registers a site and prints its id and link-signing secret (shown once).
    Create {
        #[arg(long)]
        subscriber: SubscriberId,
        /// The site's origin, e.g. https://www.acme.example
        #[arg(long)]
        origin: Origin,
        /// Also accept links without a signature from this site.
        #[arg(long)]
        accept_unsigned: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Imports routes from a CSV file (or JSON when the name ends in .json), all or nothing.
    Import {
        #[arg(long)]
        subscriber: SubscriberId,
        /// CSV with a header row: subject_code,center_number[,dnis][,whisper_template][,fallback_numbers]
        #[arg(long)]
        file: PathBuf,
        /// Delete the routes that are not in the file (default: keep them).
        #[arg(long)]
        replace: bool,
    },
}

/// Pages and policies are JSON documents, the same bodies the HTTP API takes, read and
/// checked by the same code.
#[derive(Debug, Subcommand)]
pub enum PageCommand {
    /// Adds a page from a JSON file: `{"keys": "1", "title": "…", "html": "…"}` (or `"url"`).
    Add {
        #[arg(long)]
        subscriber: SubscriberId,
        #[arg(long)]
        file: PathBuf,
    },
    /// Lists the pages: id, keys, title, and `html` or the URL.
    List {
        #[arg(long)]
        subscriber: SubscriberId,
    },
    /// Deletes a page by its id.
    Delete {
        #[arg(long)]
        subscriber: SubscriberId,
        #[arg(long)]
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Prints the policy as JSON (the defaults when none was set).
    Show {
        #[arg(long)]
        subscriber: SubscriberId,
    },
    /// Replaces the policy with the JSON file's (as `PUT …/policy`); prints what is stored.
    Set {
        #[arg(long)]
        subscriber: SubscriberId,
        #[arg(long)]
        file: PathBuf,
    },
    /// Goes back to the default policy.
    Reset {
        #[arg(long)]
        subscriber: SubscriberId,
    },
}

#[derive(Debug, clap::Args)]
pub struct LinkArgs {
    #[arg(long)]
    pub subscriber: SubscriberId,
    /// The site the link is for (its secret signs the link).
    #[arg(long)]
    pub origin: Origin,
    /// Subject code (`sc`), a key of the subscriber's network abstraction table.
    #[arg(long)]
    pub subject: SubjectCode,
    /// Whisper code (`wc`) spoken to the agent.
    #[arg(long)]
    pub whisper: Option<WhisperCode>,
    /// Callback number to prefill (`tel`), in international form.
    #[arg(long)]
    pub tel: Option<E164>,
    /// How long the link stays valid, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl_secs: u64,
}

pub fn run(config: &Config, command: AdminCommand) -> anyhow::Result<()> {
    let db = crate::open_db(config)?;
    let now = chrono::Utc::now();
    match command {
        AdminCommand::Init => match db.count_active_operator_keys()? {
            0 => {
                let key = db.create_operator_key(now)?;
                println!("operator key: {}", key.token.expose());
            }
            n => println!(
                "already initialised: {n} active operator key(s); \
                 `callbond admin operator-key create` makes another"
            ),
        },
        AdminCommand::OperatorKey(OperatorKeyCommand::Create) => {
            let key = db.create_operator_key(now)?;
            println!("key id: {}", key.key.id);
            println!("operator key: {}", key.token.expose());
        }
        AdminCommand::OperatorKey(OperatorKeyCommand::List) => {
            for key in db.list_operator_keys()? {
                let revoked = key.revoked_at.map_or_else(
                    || "active".to_owned(),
                    |at| format!("revoked {}", at.to_rfc3339()),
                );
                println!(
                    "{}\t{}…\tcreated {}\t{revoked}",
                    key.id,
                    key.prefix,
                    key.created_at.to_rfc3339()
                );
            }
        }
        AdminCommand::OperatorKey(OperatorKeyCommand::Revoke { id }) => {
            db.revoke_operator_key(subscriber_db::KeyId(id), now)?;
            println!("operator key {id} revoked");
        }
        AdminCommand::Subscriber(SubscriberCommand::Create { id, name, inactive }) => {
            let new = NewSubscriber {
                id,
                display_name: name,
                active: !inactive,
            };
            let created = db
                .create_subscriber(&new, now)
                .map_err(|e| explain(e, &new.id))?;
            println!("subscriber: {}", created.id);
        }
        AdminCommand::Subscriber(SubscriberCommand::Brand {
            id,
            logo_url,
            clear_logo,
            accent_color,
            clear_accent,
            promo_file,
            clear_promo,
        }) => {
            let promo_html = match promo_file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let html = PromoHtml::try_from(text)
                        .with_context(|| format!("promotional content in {}", path.display()))?;
                    Some(Some(html))
                }
                None => clear_promo.then_some(None),
            };
            let update = SubscriberUpdate {
                logo_url: logo_url.map(Some).or(clear_logo.then_some(None)),
                accent_color: accent_color.map(Some).or(clear_accent.then_some(None)),
                promo_html,
                ..SubscriberUpdate::default()
            };
            let updated = db
                .update_subscriber(&id, &update)
                .map_err(|e| explain(e, &id))?;
            let shown = |v: Option<String>| v.unwrap_or_else(|| "none".to_owned());
            println!("subscriber: {}", updated.id);
            println!("logo_url: {}", shown(updated.logo_url.map(String::from)));
            println!(
                "accent_color: {}",
                shown(updated.accent_color.map(|c| c.hex()))
            );
            println!(
                "promo_html: {}",
                shown(
                    updated
                        .promo_html
                        .map(|p| format!("{} bytes", p.as_str().len()))
                )
            );
        }
        AdminCommand::Key(KeyCommand::Create { subscriber }) => {
            let key = db
                .create_subscriber_key(&subscriber, now)
                .map_err(|e| explain(e, &subscriber))?;
            println!("key id: {}", key.key.id);
            println!("subscriber key: {}", key.token.expose());
        }
        AdminCommand::Site(SiteCommand::Create {
            subscriber,
            origin,
            accept_unsigned,
        }) => {
            let input = SiteInput {
                origin,
                accept_unsigned,
            };
            let site = db
                .create_site(&subscriber, &input, now)
                .map_err(|e| explain(e, &subscriber))?;
            println!("site id: {}", site.site.id);
            println!("site secret: {}", site.secret.to_hex());
        }
        AdminCommand::Routes(RoutesCommand::Import {
            subscriber,
            file,
            replace,
        }) => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("cannot read the route file {}", file.display()))?;
            let is_json = file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"));
            let rows = if is_json {
                route_file::parse_json(&bytes)
            } else {
                route_file::parse_csv(&bytes)
            }
            .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was imported", file.display()))?;
            let mode = if replace {
                ImportMode::Replace
            } else {
                ImportMode::Merge
            };
            let summary = db
                .import_routes(&subscriber, &rows, mode)
                .map_err(|e| match e {
                    DbError::Import(i) => {
                        anyhow::anyhow!("{}: {i}; nothing was imported", file.display())
                    }
                    other => explain(other, &subscriber),
                })?;
            println!("imported: {}", summary.imported);
            println!("removed: {}", summary.removed);
        }
        AdminCommand::Page(command) => page(&db, command)?,
        AdminCommand::Policy(command) => policy(&db, command)?,
        AdminCommand::Link(args) => {
            println!("{}", signed_link(config, &db, &args, now.timestamp())?);
        }
        AdminCommand::Agent(command) => agent(&db, command, now)?,
        AdminCommand::Callbacks(command) => callbacks(&db, command, now)?,
    }
    Ok(())
}

/// A JSON document from `file`, read as the HTTP API reads a body; its error says which field.
fn json_file<T: serde::de::DeserializeOwned>(file: &std::path::Path) -> anyhow::Result<T> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    extract::parse_json(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {}; nothing was changed", file.display(), e.message))
}

fn page(db: &Db, command: PageCommand) -> anyhow::Result<()> {
    match command {
        PageCommand::Add { subscriber, file } => {
            let input = json_file::<PageBody>(&file)?.into_input().map_err(|e| {
                anyhow::anyhow!("{}: {}; nothing was changed", file.display(), e.message)
            })?;
            let page = db
                .create_page(&subscriber, &input)
                .map_err(|e| explain(e, &subscriber))?;
            println!("page id: {}", page.id);
        }
        PageCommand::List { subscriber } => {
            for page in db
                .list_pages(&subscriber)
                .map_err(|e| explain(e, &subscriber))?
            {
                let content = match &page.content {
                    PageContent::Html(_) => "html".to_owned(),
                    PageContent::Url(url) => url.as_str().to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{content}",
                    page.id,
                    page.keys.as_str(),
                    page.title.as_str()
                );
            }
        }
        PageCommand::Delete { subscriber, id } => {
            db.delete_page(&subscriber, subscriber_db::PageId(id))
                .map_err(|e| explain(e, &subscriber))?;
            println!("page {id} deleted");
        }
    }
    Ok(())
}

fn policy(db: &Db, command: PolicyCommand) -> anyhow::Result<()> {
    let print = |policy: &Policy| -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(policy)?);
        Ok(())
    };
    match command {
        PolicyCommand::Show { subscriber } => {
            print(
                &db.get_policy(&subscriber)
                    .map_err(|e| explain(e, &subscriber))?,
            )?;
        }
        PolicyCommand::Set { subscriber, file } => {
            let policy: Policy = json_file(&file)?;
            let stored = db
                .put_policy(&subscriber, &policy)
                .map_err(|e| explain(e, &subscriber))?;
            print(&stored)?;
        }
        PolicyCommand::Reset { subscriber } => {
            db.reset_policy(&subscriber)
                .map_err(|e| explain(e, &subscriber))?;
            println!("policy of {subscriber} reset to the defaults");
        }
    }
    Ok(())
}

/// The signed speak-to-agent link `{public_base_url}/speak?sid=…&sc=…&wc=…&tel=…&exp=…&sig=…`.
fn signed_link(config: &Config, db: &Db, args: &LinkArgs, now: i64) -> anyhow::Result<String> {
    if args.ttl_secs == 0 || args.ttl_secs > MAX_LINK_TTL_SECS {
        bail!("--ttl-secs must be between 1 and {MAX_LINK_TTL_SECS} seconds (one year)");
    }
    let base = public_base_url(config)?;
    let sid = &args.subscriber;
    let site = db
        .find_site_for_origin(sid, &args.origin)
        .map_err(|e| match e {
            DbError::NotFound { .. } => anyhow::anyhow!(
                "subscriber {sid} has no site with origin {}; register it with `callbond admin site create --subscriber {sid} --origin {}`",
                args.origin.as_str(),
                args.origin.as_str()
            ),
            other => other.into(),
        })?;
    let secret = db.get_site_secret(sid, site.id)?;
    // A link to a subject the table lacks is legal (the visitor gets the "unknown subject"
    // page), but it is almost always a typo, so say so.
    if let Err(DbError::NotFound { .. }) = db.get_route(sid, &args.subject) {
        eprintln!(
            "warning: subscriber {sid} has no route for subject code {}; the link will show the unknown-subject page until one is imported",
            args.subject
        );
    }
    let exp = now.saturating_add(i64::try_from(args.ttl_secs).unwrap_or(i64::MAX));
    let fields = SignedFields {
        sid: sid.as_str(),
        sc: args.subject.as_str(),
        wc: args.whisper.as_ref().map(WhisperCode::as_str),
        tel: args.tel.as_ref().map(E164::as_str),
        exp,
    };
    let sig = link::sign(secret.as_bytes(), &fields);
    Ok(format!(
        "{base}/speak?{}",
        link::query_string(&fields, &sig)
    ))
}

/// Where browsers reach the server: `http.public_base_url`, else the listen address when it
/// has a fixed port.
fn public_base_url(config: &Config) -> anyhow::Result<String> {
    if let Some(url) = &config.http.public_base_url {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    let listen = config.http.listen;
    if listen.port() == 0 || listen.ip().is_unspecified() {
        bail!(
            "http.listen is {listen}, which browsers cannot reach; set http.public_base_url in the config or pass --public-url URL"
        );
    }
    Ok(format!("http://{listen}"))
}

/// A database error as a sentence for the operator.
fn explain(error: DbError, sid: &SubscriberId) -> anyhow::Error {
    match error {
        DbError::NotFound { what: "subscriber" } => anyhow::anyhow!(
            "subscriber {sid} does not exist; create it with `callbond admin subscriber create --id {sid} --name NAME`"
        ),
        DbError::Conflict { what } => {
            anyhow::anyhow!("this {what} already exists; choose another or use the existing one")
        }
        other => other.into(),
    }
}

// ---- callback queue (issue 13) ----

#[derive(Debug, Subcommand)]
pub enum CallbacksCommand {
    /// Lists requests, newest first: id, state, kind, attempts, subject, masked number, due
    /// time.
    List {
        #[arg(long)]
        subscriber: SubscriberId,
        /// Only this state: waiting, dialing, done, cancelled or failed.
        #[arg(long)]
        state: Option<CallbackState>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Each route's queue now: waiting, later (slots and retries not yet due), dialing, the
    /// oldest wait, lines busy.
    Queue {
        #[arg(long)]
        subscriber: SubscriberId,
    },
    /// Cancels a request (idempotent). A running server ends an attempt in progress only when
    /// cancelled through the API (`POST …/callbacks/{id}/cancel`); from here its call goes on.
    Cancel {
        #[arg(long)]
        subscriber: SubscriberId,
        #[arg(long)]
        id: i64,
    },
}

fn callbacks(
    db: &Db,
    command: CallbacksCommand,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    match command {
        CallbacksCommand::List {
            subscriber,
            state,
            limit,
        } => {
            let filter = CallbackFilter {
                state,
                subject_code: None,
                limit,
            };
            let requests = db
                .list_callbacks(&subscriber, &filter)
                .map_err(|e| explain(e, &subscriber))?;
            for r in requests {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    r.state,
                    r.kind,
                    r.attempts,
                    r.subject_code,
                    r.user_number.masked(),
                    r.due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
            }
        }
        CallbacksCommand::Queue { subscriber } => {
            let queues = db
                .callback_queues(&subscriber, now)
                .map_err(|e| explain(e, &subscriber))?;
            println!("subject\twaiting\tlater\tdialing\toldest_wait_secs\tlines_busy");
            for q in queues {
                let oldest = q.oldest_wait_secs.map_or("-".to_owned(), |s| s.to_string());
                println!(
                    "{}\t{}\t{}\t{}\t{oldest}\t{}",
                    q.subject_code, q.waiting, q.later, q.dialing, q.lines_busy
                );
            }
        }
        CallbacksCommand::Cancel { subscriber, id } => {
            let request = db
                .cancel_callback(&subscriber, CallbackId(id), now)
                .map_err(|e| explain(e, &subscriber))?;
            println!("callback {}: {}", request.id, request.state);
        }
    }
    Ok(())
}

// ---- agents (issue 12) ----

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Creates an agent. The password is read from standard input with `--password-stdin`,
    /// else generated and printed once; never an argument (shell history, `ps`).
    Create {
        #[arg(long)]
        subscriber: SubscriberId,
        /// Unique within the subscriber: lowercase letters, digits, '.', '_', '-', '@'.
        #[arg(long)]
        login: AgentLogin,
        /// Name shown on the console, e.g. "Ann Lee".
        #[arg(long)]
        name: AgentName,
        #[arg(long, default_value = "agent")]
        role: AgentRole,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lists the agents: id, login, role, active or disabled, whether a PIN is set, name.
    List {
        #[arg(long)]
        subscriber: SubscriberId,
    },
    /// Disables an agent: they can no longer sign in, and their console sessions end.
    Disable {
        #[arg(long)]
        subscriber: SubscriberId,
        #[arg(long)]
        id: i64,
    },
    /// Sets a new password (from `--password-stdin`, else generated and printed once).
    ResetPassword {
        #[arg(long)]
        subscriber: SubscriberId,
        #[arg(long)]
        id: i64,
        #[arg(long)]
        password_stdin: bool,
    },
}

fn agent(db: &Db, command: AgentCommand, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
    match command {
        AgentCommand::Create {
            subscriber,
            login,
            name,
            role,
            password_stdin,
        } => {
            let (password, generated) = agent_password(password_stdin)?;
            let new = NewAgent {
                login,
                display_name: name,
                password,
                pin: None,
                role,
                active: true,
            };
            let agent = db
                .create_agent(&subscriber, &new, now)
                .map_err(|e| explain(e, &subscriber))?;
            println!("agent id: {}", agent.id);
            if generated {
                println!("password: {}", new.password.expose());
            }
        }
        AgentCommand::List { subscriber } => {
            db.get_subscriber(&subscriber)
                .map_err(|e| explain(e, &subscriber))?;
            for a in db.list_agents(&subscriber)? {
                let active = if a.active { "active" } else { "disabled" };
                let pin = if a.has_pin { "pin" } else { "no pin" };
                println!(
                    "{}\t{}\t{}\t{active}\t{pin}\t{}",
                    a.id, a.login, a.role, a.display_name
                );
            }
        }
        AgentCommand::Disable { subscriber, id } => {
            let off = AgentUpdate {
                active: Some(false),
                ..AgentUpdate::default()
            };
            db.update_agent(&subscriber, AgentId(id), &off)
                .map_err(|e| explain(e, &subscriber))?;
            println!("agent {id} disabled");
        }
        AgentCommand::ResetPassword {
            subscriber,
            id,
            password_stdin,
        } => {
            let (password, generated) = agent_password(password_stdin)?;
            db.set_agent_password(&subscriber, AgentId(id), &password)
                .map_err(|e| explain(e, &subscriber))?;
            println!("agent {id} password reset");
            if generated {
                println!("password: {}", password.expose());
            }
        }
    }
    Ok(())
}

/// The password from stdin's first line, or a generated one (`true`: print it once).
fn agent_password(from_stdin: bool) -> anyhow::Result<(AgentPassword, bool)> {
    if !from_stdin {
        return Ok((AgentPassword::generate(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let line = line.trim_end_matches(['\r', '\n']);
    let password =
        AgentPassword::try_from(line).map_err(|e| anyhow::anyhow!("{e}; nothing was changed"))?;
    Ok((password, false))
}
