//! The one `Config` of the platform: a TOML file (`callbond.toml`), CLI overrides on top, and
//! defaults that run on loopback with nothing configured. It owns parsing and checking values;
//! typed parts are handed down to the libraries, which never read files or the environment.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[cfg(test)]
mod proptests;

/// Why a configuration could not be used. Each message names the key and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: key `{key}`: {message}")]
    Value {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("config key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct Config {
    pub http: HttpConfig,
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub database: DatabaseConfig,
    pub trunks: Vec<TrunkConfig>,
    pub log: LogConfig,
    pub web: WebConfig,
    pub dialing: DialingConfig,
    pub console: crate::console::ConsoleConfig,
    pub testing: TestingConfig,
}

/// Knobs for tests that must see time pass without waiting for it. Leave unset in service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TestingConfig {
    /// Seconds added to the callback scheduler's clock: a test books a slot, then restarts
    /// the platform with the clock past the slot's start to see it dialed, instead of
    /// sleeping until then. Only the scheduler reads it (dialing, retries, estimates).
    pub scheduler_clock_offset_secs: i64,
}

/// Platform-wide dialing rules that apply whatever a subscriber's policy allows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialingConfig {
    /// Number prefixes never called back, on top of the built-in non-geographic ranges
    /// (satellite, international networks, international premium and shared cost), e.g.
    /// ranges the operator's fraud desk lists as high-risk: `["+5399", "+881"]`.
    pub blocked_prefixes: Vec<crate::destinations::DialPrefix>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where the web front and the admin API listen.
    pub listen: SocketAddr,
    /// The URL browsers reach us at; links and pages are built from it. Empty: derived from
    /// `listen` once bound.
    pub public_base_url: Option<String>,
    /// Requests that take longer than this are answered 503 (SSE streams are exempt).
    pub request_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// UDP and TCP listen address for SIP.
    pub listen: SocketAddr,
    /// Host name or address put in Contact/Via when it differs from `listen`.
    pub public_host: Option<String>,
    /// Product token sent as `User-Agent` in requests and `Server` in responses. Unset (the
    /// default): neither header is sent, so scanners get no fingerprint (issue 10).
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    pub bind_ip: IpAddr,
    /// Address written into SDP; defaults to `bind_ip`.
    pub advertise_ip: Option<IpAddr>,
    pub port_min: u16,
    pub port_max: u16,
    /// Where `espeak-ng-data` lives; empty: Debian's `espeak-ng-data` package location.
    pub tts_data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub path: PathBuf,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TrunkTransport {
    Udp,
    Tcp,
}

/// A SIP trunk: numbers starting with `prefix` are sent to `target`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// E.164 prefix including `+`, e.g. `+1` or `+4420`; `""` matches every number.
    pub prefix: String,
    /// `host:port` of the trunk.
    pub target: String,
    #[serde(default = "default_transport")]
    pub transport: TrunkTransport,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from_domain: Option<String>,
    /// Milliseconds an INVITE may go without any response (not even 100 Trying) before this
    /// trunk counts as unreachable and the next fallback number is dialed at once, instead of
    /// after the ring timeout. 500 to 60000; default 5000.
    #[serde(default = "default_no_response_ms")]
    pub no_response_ms: u64,
}

fn default_transport() -> TrunkTransport {
    TrunkTransport::Udp
}

fn default_no_response_ms() -> u64 {
    u64::try_from(voice::DEFAULT_NO_RESPONSE_LIMIT.as_millis()).unwrap_or(5000)
}

/// The shortest no-response limit: one RFC 3261 T1, the first INVITE retransmission.
const MIN_NO_RESPONSE_MS: u64 = 500;
const MAX_NO_RESPONSE_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `callbond=debug,info`.
    pub filter: String,
}

/// The user-facing web front: abuse limits and form lifetime.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Calls to one phone number per rolling hour, whichever site or IP asks (protects the
    /// number's owner from being called repeatedly).
    pub max_calls_per_number_per_hour: u32,
    /// Call requests from one client IP per rolling hour.
    pub max_calls_per_ip_per_hour: u32,
    /// How long a Welcome form stays valid after it was shown.
    pub form_ttl_secs: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            max_calls_per_number_per_hour: 3,
            max_calls_per_ip_per_hour: 20,
            form_ttl_secs: 1800,
        }
    }
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(LOOPBACK, 8080),
            public_base_url: None,
            request_timeout_secs: 30,
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(LOOPBACK, 5060),
            public_host: None,
            user_agent: None,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            bind_ip: LOOPBACK,
            advertise_ip: None,
            port_min: 20000,
            port_max: 29999,
            tts_data_dir: None,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("var/callbond.db"),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info,rsipstack=warn".to_owned(),
        }
    }
}

impl Config {
    /// Reads `path` if given; without a file the defaults apply.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses TOML text; errors name the key path (`http.listen`) and the problem.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Value {
            path: path.to_owned(),
            key: String::from("(syntax)"),
            message: e.message().to_owned(),
        })?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Value {
                path: path.to_owned(),
                key,
                message: e.into_inner().message().to_owned(),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The typed part handed to the `voice` crate.
    pub fn voice_config(&self) -> voice::VoiceConfig {
        let mut media = voice::MediaConfig::new(
            self.media.bind_ip,
            self.media.advertise_ip.unwrap_or(self.media.bind_ip),
            self.media.port_min,
            self.media.port_max,
        );
        media.tts_data_dir = self.media.tts_data_dir.clone();
        voice::VoiceConfig {
            sip_listen: self.sip.listen,
            public_host: self.sip.public_host.clone(),
            media,
            trunks: self
                .trunks
                .iter()
                .map(|t| voice::Trunk {
                    prefix: t.prefix.clone(),
                    target: t.target.clone(),
                    transport: match t.transport {
                        TrunkTransport::Udp => voice::Transport::Udp,
                        TrunkTransport::Tcp => voice::Transport::Tcp,
                    },
                    username: t.username.clone(),
                    password: t.password.clone(),
                    from_domain: t.from_domain.clone(),
                    no_response_limit: std::time::Duration::from_millis(t.no_response_ms),
                })
                .collect(),
            user_agent: self.sip.user_agent.clone(),
            invite_journal: Some(self.invite_journal_path()),
        }
    }

    /// Where the server journals each INVITE before sending it: beside the database,
    /// `<database.path>.invites` (and `.invites.1`), read and cleared by the next start.
    pub fn invite_journal_path(&self) -> PathBuf {
        let mut name = self.database.path.as_os_str().to_owned();
        name.push(".invites");
        PathBuf::from(name)
    }

    /// Checks the relations between values that serde cannot see.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.media.port_min > self.media.port_max {
            return Err(ConfigError::Invalid {
                key: "media.port_min",
                message: format!(
                    "must not be above media.port_max ({} > {})",
                    self.media.port_min, self.media.port_max
                ),
            });
        }
        if u32::from(self.media.port_max) - u32::from(self.media.port_min) < 2 {
            return Err(ConfigError::Invalid {
                key: "media.port_max",
                message: "the media port range needs room for at least two RTP ports".to_owned(),
            });
        }
        if self.http.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "http.request_timeout_secs",
                message: "must be at least 1".to_owned(),
            });
        }
        self.console.validate()?;
        if self.web.form_ttl_secs < 60 {
            return Err(ConfigError::Invalid {
                key: "web.form_ttl_secs",
                message: "must be at least 60 so people have time to type their number".to_owned(),
            });
        }
        if let Some(url) = &self.http.public_base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                key: "http.public_base_url",
                message: format!("must start with http:// or https://, got {url:?}"),
            });
        }
        for trunk in &self.trunks {
            let prefix_ok = trunk.prefix.is_empty()
                || (trunk.prefix.starts_with('+')
                    && trunk.prefix[1..].chars().all(|c| c.is_ascii_digit()));
            if !prefix_ok {
                return Err(ConfigError::Invalid {
                    key: "trunks.prefix",
                    message: format!(
                        "must be empty or `+` followed by digits, got {:?}",
                        trunk.prefix
                    ),
                });
            }
            // The same rule `voice` applies when it dials: a target it would refuse must stop
            // the start, not fail every call through this trunk (found by a property test).
            if !trunk.target.contains(':') || voice::check_trunk_target(&trunk.target).is_err() {
                return Err(ConfigError::Invalid {
                    key: "trunks.target",
                    message: format!(
                        "must be host:port (letters, digits, '.', '-', and [..] around an IPv6 address), got {:?}",
                        trunk.target
                    ),
                });
            }
            if !(MIN_NO_RESPONSE_MS..=MAX_NO_RESPONSE_MS).contains(&trunk.no_response_ms) {
                return Err(ConfigError::Invalid {
                    key: "trunks.no_response_ms",
                    message: format!(
                        "must be {MIN_NO_RESPONSE_MS} to {MAX_NO_RESPONSE_MS} milliseconds, got {}",
                        trunk.no_response_ms
                    ),
                });
            }
            if trunk.username.is_some() != trunk.password.is_some() {
                return Err(ConfigError::Invalid {
                    key: "trunks.password",
                    message: "give both username and password, or neither".to_owned(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("callbond.toml"))
    }

    #[test]
    fn empty_file_gives_loopback_defaults() {
        let c = parse("").expect("empty config is valid");
        assert!(c.http.listen.ip().is_loopback());
        assert!(c.sip.listen.ip().is_loopback());
        assert_eq!(c.database.path, PathBuf::from("var/callbond.db"));
        assert!(c.trunks.is_empty());
    }

    #[test]
    fn no_user_agent_unless_configured() {
        assert_eq!(parse("").expect("valid").voice_config().user_agent, None);
        let c = parse("[sip]\nuser_agent = \"Acme-Edge/9\"\n").expect("valid");
        assert_eq!(c.voice_config().user_agent.as_deref(), Some("Acme-Edge/9"));
    }

    #[test]
    fn full_file_is_read() {
        let c = parse(
            r#"
            [http]
            listen = "127.0.0.1:9000"
            public_base_url = "https://cb.example"
            [sip]
            listen = "127.0.0.1:5080"
            [media]
            bind_ip = "127.0.0.1"
            port_min = 30000
            port_max = 30100
            [database]
            path = "/tmp/x.db"
            [[trunks]]
            prefix = "+1"
            target = "127.0.0.1:5070"
            transport = "tcp"
            username = "u"
            password = "p"
            "#,
        )
        .expect("valid");
        assert_eq!(c.http.listen.port(), 9000);
        assert_eq!(c.trunks.len(), 1);
        assert_eq!(c.trunks[0].transport, TrunkTransport::Tcp);
    }

    #[test]
    fn blocked_prefixes_are_read_and_checked() {
        let c = parse("[dialing]\nblocked_prefixes = [\"+5399\", \"+447\"]").expect("valid");
        let texts: Vec<String> = c
            .dialing
            .blocked_prefixes
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(texts, ["+5399", "+447"]);
        let error = parse("[dialing]\nblocked_prefixes = [\"881\"]").expect_err("no +");
        let text = error.to_string();
        assert!(text.contains("dialing.blocked_prefixes"), "{text}");
        assert!(text.contains("+ and 1 to 8 digits"), "{text}");
    }

    #[test]
    fn wrong_values_name_their_key() {
        let cases = [
            ("[http]\nlisten = \"nonsense\"", "http.listen"),
            ("[http]\nlistne = \"127.0.0.1:1\"", "http"),
            ("[media]\nport_min = 70000", "media.port_min"),
            (
                "[media]\nport_min = 3000\nport_max = 2000",
                "media.port_min",
            ),
            (
                "[[trunks]]\nprefix = \"1\"\ntarget = \"h:1\"",
                "trunks.prefix",
            ),
            (
                "[[trunks]]\nprefix = \"+1\"\ntarget = \"h\"",
                "trunks.target",
            ),
            (
                "[[trunks]]\nprefix = \"+1\"\ntarget = \"h:1\"\nusername = \"u\"",
                "trunks.password",
            ),
            (
                "[[trunks]]\nprefix = \"+1\"\ntarget = \"h:1\"\nno_response_ms = 100",
                "trunks.no_response_ms",
            ),
            (
                "[[trunks]]\nprefix = \"+1\"\ntarget = \"h:1\"\nno_response_ms = 600000",
                "trunks.no_response_ms",
            ),
            ("[log]\nformat = \"xml\"", "log.format"),
            ("[web]\nform_ttl_secs = 5", "web.form_ttl_secs"),
            (
                "[web]\nmax_calls_per_number_per_hour = -1",
                "web.max_calls_per_number_per_hour",
            ),
        ];
        for (text, key) in cases {
            let err = parse(text).expect_err(text).to_string();
            assert!(
                err.contains(key),
                "{text:?} gave {err:?}, expected key {key}"
            );
        }
    }
}
