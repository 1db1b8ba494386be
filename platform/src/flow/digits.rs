//! Turning single agent key presses into decisions: the sign-on (`#` or a PIN with retries,
//! seed 002 step 213) and page-push digit runs during the bridge (step 216). Pure values; the
//! caller owns the timers that surround them.

use std::fmt;
use std::time::{Duration, Instant};

use super::SignOnMode;

/// Longest page-push run; a stuck key must not grow a buffer without end.
const MAX_PAGE_DIGITS: usize = 16;

/// An agent sign-on PIN: 1–16 digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

/// Why a string is not a `Pin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("a sign-on PIN has 1 to 16 digits 0-9 (no * or #, which end the entry)")]
    BadDigits,
}

impl Pin {
    pub fn parse(text: &str) -> Result<Self, PinError> {
        if (1..=16).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(PinError::BadDigits)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hides the PIN so it never lands in a log through `{:?}`.
impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin(<{} digits>)", self.0.len())
    }
}

/// What one key press did to the sign-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignOnStep {
    /// Not a sign-on key in this mode.
    Ignored,
    /// Part of a PIN being entered.
    Collecting,
    Accepted,
    /// A wrong PIN; this many further tries remain.
    WrongPin {
        retries_left: u32,
    },
    /// A wrong PIN with no retries left.
    Failed,
}

/// The agent's sign-on entry for one center answer.
#[derive(Debug, Clone)]
pub(crate) struct SignOn {
    mode: SignOnMode,
    entered: String,
    wrong: u32,
    retries: u32,
}

impl SignOn {
    pub(crate) fn new(mode: SignOnMode, retries: u32) -> Self {
        Self {
            mode,
            entered: String::new(),
            wrong: 0,
            retries,
        }
    }

    pub(crate) fn key(&mut self, key: char) -> SignOnStep {
        let pin = match &self.mode {
            SignOnMode::None => return SignOnStep::Accepted,
            SignOnMode::Hash if key == '#' => return SignOnStep::Accepted,
            SignOnMode::Hash => return SignOnStep::Ignored,
            SignOnMode::Pin(pin) => pin.as_str(),
        };
        match key {
            // A `#` before any digit is a habit from `#` sign-on, not a PIN attempt.
            '#' if self.entered.is_empty() => return SignOnStep::Ignored,
            '#' => {}
            '0'..='9' | '*' | 'A'..='D' => self.entered.push(key),
            _ => return SignOnStep::Ignored,
        }
        if key != '#' && self.entered.len() < pin.len() {
            return SignOnStep::Collecting;
        }
        let right = self.entered == pin;
        self.entered.clear();
        if right {
            return SignOnStep::Accepted;
        }
        self.wrong += 1;
        match self.retries.checked_sub(self.wrong) {
            Some(retries_left) => SignOnStep::WrongPin { retries_left },
            None => SignOnStep::Failed,
        }
    }
}

/// Agent keys during the bridge, collected into runs so multi-key pages like `12` work. A run
/// ends with `#` (not part of the run), after an inter-digit silence, or at 16 keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageDigits {
    run: String,
    deadline: Option<Instant>,
}

impl PageDigits {
    /// Adds a key; returns a finished run.
    pub(crate) fn key(&mut self, key: char, now: Instant, silence: Duration) -> Option<String> {
        match key {
            '#' => return self.take(),
            '0'..='9' | '*' | 'A'..='D' => self.run.push(key),
            _ => return None,
        }
        if self.run.len() >= MAX_PAGE_DIGITS {
            return self.take();
        }
        self.deadline = Some(now + silence);
        None
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The run, if its inter-digit silence has passed by `now`.
    pub(crate) fn fire(&mut self, now: Instant) -> Option<String> {
        match self.deadline {
            Some(at) if at <= now => self.take(),
            _ => None,
        }
    }

    /// Ends the run now (also used to drop it when the call ends).
    pub(crate) fn take(&mut self) -> Option<String> {
        self.deadline = None;
        Some(std::mem::take(&mut self.run)).filter(|run| !run.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(text: &str) -> SignOnMode {
        SignOnMode::Pin(Pin::parse(text).expect("test PIN is valid"))
    }

    fn feed(sign_on: &mut SignOn, keys: &str) -> Vec<SignOnStep> {
        keys.chars().map(|k| sign_on.key(k)).collect()
    }

    #[test]
    fn pin_parse_table() {
        for (text, ok) in [
            ("1234", true),
            ("0", true),
            ("1234567890123456", true),
            ("", false),
            ("12345678901234567", false),
            ("12#", false),
            ("12a", false),
        ] {
            assert_eq!(Pin::parse(text).is_ok(), ok, "{text:?}");
        }
        assert_eq!(format!("{:?}", Pin::parse("4711")), "Ok(Pin(<4 digits>))");
    }

    #[test]
    fn sign_on_table() {
        use SignOnStep::*;
        let cases: &[(SignOnMode, u32, &str, &[SignOnStep])] = &[
            (SignOnMode::None, 3, "5", &[Accepted]),
            (
                SignOnMode::Hash,
                3,
                "12*#",
                &[Ignored, Ignored, Ignored, Accepted],
            ),
            (
                pin("4711"),
                3,
                "4711",
                &[Collecting, Collecting, Collecting, Accepted],
            ),
            (
                pin("4711"),
                3,
                "#47#",
                &[
                    Ignored,
                    Collecting,
                    Collecting,
                    WrongPin { retries_left: 2 },
                ],
            ),
            (
                pin("12"),
                1,
                "1312",
                &[
                    Collecting,
                    WrongPin { retries_left: 0 },
                    Collecting,
                    Accepted,
                ],
            ),
            (
                pin("12"),
                1,
                "1313",
                &[Collecting, WrongPin { retries_left: 0 }, Collecting, Failed],
            ),
            (pin("12"), 0, "99", &[Collecting, Failed]),
            (
                pin("12"),
                3,
                "x1y2",
                &[Ignored, Collecting, Ignored, Accepted],
            ),
        ];
        for (mode, retries, keys, want) in cases {
            let mut sign_on = SignOn::new(mode.clone(), *retries);
            assert_eq!(
                &feed(&mut sign_on, keys),
                want,
                "{mode:?} {retries} {keys:?}"
            );
        }
    }

    #[test]
    fn page_digits_end_on_hash_silence_and_length() {
        let t0 = Instant::now();
        let gap = Duration::from_millis(1500);
        let mut digits = PageDigits::default();
        assert_eq!(digits.key('1', t0, gap), None);
        assert_eq!(digits.key('2', t0 + Duration::from_secs(1), gap), None);
        assert_eq!(digits.deadline(), Some(t0 + Duration::from_millis(2500)));
        assert_eq!(digits.fire(t0 + Duration::from_millis(2499)), None);
        assert_eq!(
            digits.fire(t0 + Duration::from_millis(2500)),
            Some("12".into())
        );
        assert_eq!(digits.deadline(), None);

        assert_eq!(digits.key('#', t0, gap), None, "a lone # pushes nothing");
        assert_eq!(digits.key('3', t0, gap), None);
        assert_eq!(digits.key('#', t0, gap), Some("3".into()));

        let run: Vec<_> = (0..16).map(|_| digits.key('9', t0, gap)).collect();
        assert_eq!(run[15], Some("9".repeat(16)));
        assert!(run[..15].iter().all(Option::is_none));
    }
}
