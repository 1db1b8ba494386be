//! Turning single agent key presses into decisions: the sign-on (`#` or a PIN with retries,
//! seed 002 step 213) and page-push key runs during the bridge (step 216). Pure values; the
//! caller owns the timers that surround them.

use std::time::{Duration, Instant};

use words::{DtmfKey, DtmfKeys, SignOnMode, SignOnPin};

/// What one key press did to the sign-on.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// A personal PIN was keyed (mode `agent_pin`): the caller finds whose it is and answers
    /// with [`SignOn::unknown_pin`] when it is nobody's.
    Identify(SignOnPin),
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

    pub(crate) fn key(&mut self, key: DtmfKey) -> SignOnStep {
        let hash = key == DtmfKey::HASH;
        let pin = match &self.mode {
            SignOnMode::None => return SignOnStep::Accepted,
            SignOnMode::Hash if hash => return SignOnStep::Accepted,
            SignOnMode::Hash | SignOnMode::Console => return SignOnStep::Ignored,
            SignOnMode::AgentPin => return self.personal_key(key),
            SignOnMode::Pin(pin) => pin.as_str(),
        };
        match key {
            // A `#` before any digit is a habit from `#` sign-on, not a PIN attempt.
            _ if hash && self.entered.is_empty() => return SignOnStep::Ignored,
            _ if hash => {}
            // Any other key is part of the attempt: a `*` or `A` makes it wrong, not skipped.
            _ => self.entered.push(key.as_char()),
        }
        if !hash && self.entered.len() < pin.len() {
            return SignOnStep::Collecting;
        }
        let right = self.entered == pin;
        self.entered.clear();
        if right {
            return SignOnStep::Accepted;
        }
        self.wrong()
    }

    /// A key of a personal PIN: PINs differ in length, so `#` ends one (or the longest a PIN
    /// can be). Anything that is no PIN (a `*`, one digit) is a wrong try at once.
    fn personal_key(&mut self, key: DtmfKey) -> SignOnStep {
        let hash = key == DtmfKey::HASH;
        if hash && self.entered.is_empty() {
            return SignOnStep::Ignored;
        }
        if !hash {
            self.entered.push(key.as_char());
            if self.entered.len() < SignOnPin::MAX_DIGITS {
                return SignOnStep::Collecting;
            }
        }
        match std::mem::take(&mut self.entered).parse::<SignOnPin>() {
            Ok(pin) => SignOnStep::Identify(pin),
            Err(_) => self.wrong(),
        }
    }

    /// The personal PIN the caller looked up belongs to no active agent: a wrong try.
    pub(crate) fn unknown_pin(&mut self) -> SignOnStep {
        self.wrong()
    }

    fn wrong(&mut self) -> SignOnStep {
        self.wrong += 1;
        match self.retries.checked_sub(self.wrong) {
            Some(retries_left) => SignOnStep::WrongPin { retries_left },
            None => SignOnStep::Failed,
        }
    }
}

/// Agent keys during the bridge, collected into runs so multi-key pages like `12` work. A run
/// holds page keys only ([`DtmfKey::is_page_key`]) and ends with `#` (not part of the run),
/// after an inter-key silence, or at [`DtmfKeys::MAX`] keys, so every run is a valid
/// [`DtmfKeys`].
#[derive(Debug, Clone, Default)]
pub(crate) struct PageDigits {
    run: Vec<DtmfKey>,
    deadline: Option<Instant>,
}

impl PageDigits {
    /// Adds a key; returns a finished run. Keys that are neither page keys nor `#` are the
    /// caller's to report; they leave the run as it is.
    pub(crate) fn key(
        &mut self,
        key: DtmfKey,
        now: Instant,
        silence: Duration,
    ) -> Option<DtmfKeys> {
        if key == DtmfKey::HASH {
            return self.take();
        }
        if !key.is_page_key() {
            return None;
        }
        self.run.push(key);
        if self.run.len() >= DtmfKeys::MAX {
            return self.take();
        }
        self.deadline = Some(now + silence);
        None
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The run, if its inter-digit silence has passed by `now`.
    pub(crate) fn fire(&mut self, now: Instant) -> Option<DtmfKeys> {
        match self.deadline {
            Some(at) if at <= now => self.take(),
            _ => None,
        }
    }

    /// Ends the run now (also used to drop it when the call ends).
    pub(crate) fn take(&mut self) -> Option<DtmfKeys> {
        self.deadline = None;
        DtmfKeys::from_keys(&std::mem::take(&mut self.run))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(text: &str) -> SignOnMode {
        SignOnMode::Pin(text.parse().expect("test PIN is valid"))
    }

    fn k(c: char) -> DtmfKey {
        DtmfKey::from_char(c).expect("test key")
    }

    /// Keys that are not DTMF keys at all never reach the flow (`DtmfKey` cannot hold them).
    fn feed(sign_on: &mut SignOn, keys: &str) -> Vec<SignOnStep> {
        keys.chars().map(|c| sign_on.key(k(c))).collect()
    }

    fn keys(text: &str) -> Option<DtmfKeys> {
        Some(text.parse().expect("test keys"))
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
                "#1#",
                &[Ignored, Collecting, WrongPin { retries_left: 2 }],
            ),
            (
                pin("12"),
                3,
                "*2",
                &[Collecting, WrongPin { retries_left: 2 }],
            ),
            (SignOnMode::Console, 3, "1#", &[Ignored, Ignored]),
            (
                SignOnMode::AgentPin,
                3,
                "#4711#",
                &[
                    Ignored,
                    Collecting,
                    Collecting,
                    Collecting,
                    Collecting,
                    Identify("4711".parse().expect("pin")),
                ],
            ),
            (
                SignOnMode::AgentPin,
                1,
                "1#*1#",
                &[
                    Collecting,
                    WrongPin { retries_left: 0 },
                    Collecting,
                    Collecting,
                    Failed,
                ],
            ),
            (
                SignOnMode::AgentPin,
                3,
                "12345678",
                &[
                    Collecting,
                    Collecting,
                    Collecting,
                    Collecting,
                    Collecting,
                    Collecting,
                    Collecting,
                    Identify("12345678".parse().expect("pin")),
                ],
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
    fn an_unknown_personal_pin_counts_as_a_wrong_try() {
        let mut sign_on = SignOn::new(SignOnMode::AgentPin, 1);
        assert_eq!(
            sign_on.unknown_pin(),
            SignOnStep::WrongPin { retries_left: 0 }
        );
        assert_eq!(sign_on.unknown_pin(), SignOnStep::Failed);
    }

    #[test]
    fn page_digits_end_on_hash_silence_and_length() {
        let t0 = Instant::now();
        let gap = Duration::from_millis(1500);
        let mut digits = PageDigits::default();
        assert_eq!(digits.key(k('1'), t0, gap), None);
        assert_eq!(digits.key(k('2'), t0 + Duration::from_secs(1), gap), None);
        assert_eq!(digits.deadline(), Some(t0 + Duration::from_millis(2500)));
        assert_eq!(digits.fire(t0 + Duration::from_millis(2499)), None);
        assert_eq!(digits.fire(t0 + Duration::from_millis(2500)), keys("12"));
        assert_eq!(digits.deadline(), None);

        assert_eq!(digits.key(k('#'), t0, gap), None, "a lone # pushes nothing");
        assert_eq!(digits.key(k('3'), t0, gap), None);
        assert_eq!(digits.key(k('A'), t0, gap), None, "A is no page key");
        assert_eq!(digits.key(k('*'), t0, gap), None);
        assert_eq!(digits.key(k('#'), t0, gap), keys("3*"));

        let run: Vec<_> = (0..8).map(|_| digits.key(k('9'), t0, gap)).collect();
        assert_eq!(run[7], keys("99999999"), "a run ends at DtmfKeys::MAX keys");
        assert!(run[..7].iter().all(Option::is_none));
    }
}
