//! Filling a route's whisper template (seed 002 step 214) from TAG1: the text the agent hears
//! before the bridge. Digit runs in the filled values are spelled one by one so TTS says
//! "four seven one one", not "four thousand seven hundred eleven". Pure string work.

/// The values a whisper template may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhisperVars<'a> {
    /// `{subject}`: the subject code or its label.
    pub subject: &'a str,
    /// `{whisper_code}`: the subscriber's code from the link (`wc`).
    pub whisper_code: &'a str,
    /// `{page}`: the page the user came from.
    pub page: &'a str,
    /// `{number}`: the user's number.
    pub number: &'a str,
}

/// Replaces `{subject}`, `{whisper_code}`, `{page}` and `{number}`; any other `{…}` stays as
/// written so a typo in a template is heard, not silently dropped. Only the filled values are
/// spelled digit by digit; the template's own text is left to its author.
pub fn fill_whisper(template: &str, vars: &WhisperVars<'_>) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let value = match &after[..close] {
                "subject" => vars.subject,
                "whisper_code" => vars.whisper_code,
                "page" => vars.page,
                "number" => vars.number,
                _ => return None,
            };
            Some((value, close))
        });
        match value {
            Some((value, close)) => {
                push_spelled(&mut out, value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Appends `value` with a space between consecutive digits.
fn push_spelled(out: &mut String, value: &str) {
    let mut previous_digit = false;
    for c in value.chars() {
        let digit = c.is_ascii_digit();
        if digit && previous_digit {
            out.push(' ');
        }
        out.push(c);
        previous_digit = digit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: WhisperVars<'static> = WhisperVars {
        subject: "billing",
        whisper_code: "4711",
        page: "/tariffs/2024",
        number: "+4930123",
    };

    #[test]
    fn fill_table() {
        for (template, want) in [
            ("", ""),
            ("no placeholders 42", "no placeholders 42"),
            ("{subject}", "billing"),
            ("Customer {whisper_code}", "Customer 4 7 1 1"),
            (
                "{subject} call from {number} on {page}",
                "billing call from +4 9 3 0 1 2 3 on /tariffs/2 0 2 4",
            ),
            ("{whisper_code}{whisper_code}", "4 7 1 14 7 1 1"),
            ("{unknown} {subject}", "{unknown} billing"),
            ("open { brace {subject}", "open { brace billing"),
            ("unclosed {subject", "unclosed {subject"),
            ("{{subject}}", "{billing}"),
            ("{}", "{}"),
            ("Kunde {whisper_code} – Grüße", "Kunde 4 7 1 1 – Grüße"),
        ] {
            assert_eq!(fill_whisper(template, &VARS), want, "{template:?}");
        }
    }

    #[test]
    fn spelling_leaves_non_digit_runs_alone() {
        let vars = WhisperVars {
            whisper_code: "A12B3",
            ..VARS
        };
        assert_eq!(fill_whisper("{whisper_code}", &vars), "A1 2B3");
        let empty = WhisperVars {
            whisper_code: "",
            ..VARS
        };
        assert_eq!(fill_whisper("code {whisper_code}.", &empty), "code .");
    }
}
