//! Property tests for the TOML config: any text, and the documented example with random
//! edits, gives a config or an error naming a key, never a panic; an accepted config hands
//! `voice` a usable configuration; values written out read back unchanged.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use proptest::prelude::*;
use proptest::test_runner::{Config as RunConfig, RngSeed};

use super::*;

fn config(cases: u32) -> RunConfig {
    RunConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x00ca_11b0_d5d9),
        ..RunConfig::default()
    }
}

const EXAMPLE: &str = r#"[http]
listen = "127.0.0.1:8080"
public_base_url = "https://callbond.example"
request_timeout_secs = 30

[sip]
listen = "127.0.0.1:5060"

[media]
bind_ip = "127.0.0.1"
port_min = 20000
port_max = 29999

[database]
path = "var/callbond.db"

[[trunks]]
prefix = "+1"
target = "sip.carrier.example:5060"
transport = "udp"
username = "acct"
password = "secret"

[log]
format = "text"
filter = "info,rsipstack=warn"

[web]
max_calls_per_number_per_hour = 3
max_calls_per_ip_per_hour = 20
form_ttl_secs = 1800
"#;

fn check(text: &str) {
    let path = Path::new("callbond.toml");
    match Config::from_toml(text, path) {
        Ok(config) => {
            assert!(config.validate().is_ok());
            for trunk in &config.trunks {
                // Accepted at start-up means usable at call time, not a failure on every call.
                assert!(
                    voice::check_trunk_target(&trunk.target).is_ok(),
                    "{:?}",
                    trunk.target
                );
            }
            let voice = config.voice_config();
            assert!(voice.media.port_min <= voice.media.port_max);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn any_toml_gives_a_config_or_an_error(text in "(?s).{0,120}") {
        check(&text);
    }

    #[test]
    fn edited_example_gives_a_config_or_an_error(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, "[ -~\n]"), 1..6),
    ) {
        let mut text = EXAMPLE.to_owned();
        for (pos, op, piece) in edits {
            let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let at = boundaries[pos.index(boundaries.len())];
            match op {
                0 => text.insert_str(at, &piece),
                _ if at < text.len() => {
                    text.remove(at);
                }
                _ => text.push_str(&piece),
            }
        }
        check(&text);
    }

    #[test]
    fn written_values_read_back(
        http_port in any::<u16>(),
        port_min in any::<u16>(),
        span in 0u16..2000,
        ttl in any::<u32>(),
        per_number in any::<u32>(),
        prefix in "(\\+[0-9]{0,4})?",
        host in "[a-z0-9.-]{1,20}",
        trunk_port in any::<u16>(),
    ) {
        let port_max = port_min.saturating_add(span);
        let text = format!(
            "[http]\nlisten = \"127.0.0.1:{http_port}\"\n[media]\nport_min = {port_min}\nport_max = {port_max}\n\
             [web]\nform_ttl_secs = {ttl}\nmax_calls_per_number_per_hour = {per_number}\n\
             [[trunks]]\nprefix = \"{prefix}\"\ntarget = \"{host}:{trunk_port}\"\n"
        );
        let parsed = Config::from_toml(&text, Path::new("c.toml"));
        let valid = port_max - port_min >= 2 && ttl >= 60;
        prop_assert_eq!(parsed.is_ok(), valid, "{}", text);
        if let Ok(c) = parsed {
            prop_assert_eq!(c.http.listen.port(), http_port);
            prop_assert_eq!((c.media.port_min, c.media.port_max), (port_min, port_max));
            prop_assert_eq!(c.web.form_ttl_secs, ttl);
            prop_assert_eq!(c.web.max_calls_per_number_per_hour, per_number);
            prop_assert_eq!(&c.trunks[0].prefix, &prefix);
            prop_assert_eq!(&c.trunks[0].target, &format!("{host}:{trunk_port}"));
        }
    }

    #[test]
    fn trunk_targets_accepted_are_usable(target in prop_oneof!["(?s).{0,24}", "[a-z.]{1,10}:[0-9]{1,5}[;/@ ]?[a-z=]{0,8}"]) {
        let text = format!("[[trunks]]\nprefix = \"+1\"\ntarget = {}\n", toml_string(&target));
        check(&text);
    }
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
