//! The INVITE journal: every initial INVITE (and its retry after a digest challenge) is
//! appended to a file *before* it goes on the wire, so a process killed between sending an
//! INVITE and storing the leg's dialog still leaves what a restart needs to CANCEL it. Every
//! 2xx to an INVITE is appended as it is received, *before* the stack ACKs it, so a process
//! killed after answering a leg but before storing that answer leaves what a restart needs
//! to BYE it instead (the far end, ACKed, no longer repeats the 2xx).
//!
//! One line per INVITE: the request without its body, hex-encoded (any byte a header may hold
//! survives, and a torn last line is just skipped). Appending is one `write(2)` on an
//! `O_APPEND` file: it survives SIGKILL (the page cache is the kernel's). The file rotates at
//! [`ROTATE_AT`] to `<path>.1`, so at most two generations exist; the platform stores each
//! leg's dialog within milliseconds of its INVITE, so anything older than a generation is long
//! covered. A start reads both generations, ends the INVITEs it has no stored dialog for, and
//! clears them.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Method, Request, Response, SipMessage, StatusCodeKind};

use crate::config::Transport;
use crate::record::DialogSnapshot;

use super::snapshot;

/// Size at which the journal moves to `<path>.1` and starts again (about 1,000 INVITEs).
pub(crate) const ROTATE_AT: u64 = 1 << 20;

/// The open journal, shared by the endpoint's message inspector.
#[derive(Debug)]
pub(crate) struct InviteJournal {
    path: PathBuf,
    file: Mutex<(File, u64)>,
}

impl InviteJournal {
    /// Opens (creating) the journal at `path` for appending.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let file = append(path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            file: Mutex::new((file, len)),
        })
    }

    /// Appends `request` if it is an INVITE that starts a dialog (no To tag). Called on the
    /// send path, before the bytes leave; a failed write is logged, the INVITE still goes.
    pub(crate) fn record(&self, request: &Request) {
        if request.method != Method::Invite || has_to_tag(request) {
            return;
        }
        let mut head = request.clone();
        head.body.clear();
        self.append(&SipMessage::Request(head));
    }

    /// Appends `response` if it is a 2xx to an INVITE. Called on the receive path, before the
    /// stack's transaction sees (and ACKs) it; a failed write is logged, the 2xx still goes
    /// up. A 2xx repeated because its ACK was lost is appended again; reading takes the last.
    pub(crate) fn record_answer(&self, response: &Response) {
        if response.status_code.kind() != StatusCodeKind::Successful
            || !response
                .cseq_header()
                .is_ok_and(|c| c.method().is_ok_and(|m| m == Method::Invite))
        {
            return;
        }
        let mut head = response.clone();
        head.body.clear();
        self.append(&SipMessage::Response(head));
    }

    /// One line: the message's text, hex-encoded, then a newline; one `write(2)`.
    fn append(&self, message: &SipMessage) {
        let mut line = hex::encode(message.to_string());
        line.push('\n');
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = guard.0.write_all(line.as_bytes()) {
            tracing::warn!(error = %e, path = %self.path.display(), "voice: INVITE journal not written; a crash now could leave this leg up or unended");
            return;
        }
        guard.1 += line.len() as u64;
        if guard.1 >= ROTATE_AT {
            match rotate(&self.path) {
                Ok(file) => *guard = (file, 0),
                Err(e) => tracing::warn!(error = %e, "voice: INVITE journal not rotated"),
            }
        }
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn older(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

fn rotate(path: &Path) -> io::Result<File> {
    std::fs::rename(path, older(path))?;
    append(path)
}

fn has_to_tag(request: &Request) -> bool {
    request
        .to_header()
        .ok()
        .and_then(|to| to.tag().ok().flatten())
        .is_some()
}

/// The dialogs of every INVITE in the journal at `path` (older generation first), the latest
/// per Call-ID (a retry after a challenge replaces the first), each with the 2xx the journal
/// holds for it applied (its To tag, Contact and Record-Route: see
/// [`DialogSnapshot::is_answered`]). A 2xx counts for the INVITE as last sent (same Call-ID
/// and CSeq number). Lines that do not read back (a torn last write) are skipped.
pub fn read_invite_journal(path: &Path) -> Vec<DialogSnapshot> {
    let mut found: Vec<DialogSnapshot> = Vec::new();
    for file in [older(path), path.to_owned()] {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for line in text.lines() {
            match parse_line(line) {
                Some(Entry::Invite(dialog)) => {
                    found.retain(|d| d.call_id != dialog.call_id);
                    found.push(dialog);
                }
                Some(Entry::Answer(answer)) => {
                    let of = |d: &&mut DialogSnapshot| {
                        answer
                            .call_id_header()
                            .is_ok_and(|c| c.value() == d.call_id)
                            && answer
                                .cseq_header()
                                .is_ok_and(|c| c.seq().is_ok_and(|n| n == d.cseq))
                    };
                    if let Some(dialog) = found.iter_mut().find(|d| of(d)) {
                        snapshot::apply_answer(dialog, &answer);
                    }
                }
                None => {
                    tracing::debug!(path = %file.display(), "voice: unreadable INVITE journal line skipped");
                }
            }
        }
    }
    found
}

/// Empties the journal at `path` (both generations), once a start has ended what it held.
pub fn clear_invite_journal(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(older(path)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    File::create(path).map(drop)
}

/// One journal line read back.
enum Entry {
    Invite(DialogSnapshot),
    Answer(Response),
}

fn parse_line(line: &str) -> Option<Entry> {
    let bytes = hex::decode(line.trim()).ok()?;
    let invite = match SipMessage::try_from(bytes.as_slice()).ok()? {
        SipMessage::Request(invite) => invite,
        SipMessage::Response(answer) => return Some(Entry::Answer(answer)),
    };
    let via = invite.top_via_header().ok()?.value().to_ascii_uppercase();
    let transport = if via.contains("/TCP") {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    snapshot::from_invite(&invite, transport).map(Entry::Invite)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn invite(call_id: &str, cseq: u32, branch: &str, to_tag: bool) -> Request {
        let tag = if to_tag { ";tag=far" } else { "" };
        let text = format!(
            "INVITE sip:+4930555000@127.0.0.1:5070 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport\r\n\
             Call-ID: {call_id}\r\n\
             From: <sip:+4940123@127.0.0.1>;tag=ours\r\n\
             To: <sip:+4930555000@127.0.0.1:5070>{tag}\r\n\
             CSeq: {cseq} INVITE\r\n\
             Max-Forwards: 70\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: 4\r\n\r\nv=0\n"
        );
        match SipMessage::try_from(text.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => unreachable!(),
        }
    }

    #[test]
    fn initial_invites_read_back_as_their_dialogs_latest_per_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("invites");
        let journal = InviteJournal::open(&path).unwrap();
        journal.record(&invite("a@h", 1, "z9hG4bKa1", false));
        // A re-INVITE inside a dialog (To tag) is no new leg.
        journal.record(&invite("b@h", 5, "z9hG4bKb5", true));
        journal.record(&invite("c@h", 1, "z9hG4bKc1", false));
        // The retry after a 407: new CSeq and branch, same Call-ID.
        journal.record(&invite("a@h", 2, "z9hG4bKa2", false));
        let got = read_invite_journal(&path);
        let ids: Vec<(&str, u32, &str)> = got
            .iter()
            .map(|d| (d.call_id.as_str(), d.cseq, d.via_branch.as_str()))
            .collect();
        assert_eq!(ids, [("c@h", 1, "z9hG4bKc1"), ("a@h", 2, "z9hG4bKa2")]);
        assert_eq!(got[0].destination, "127.0.0.1:5070");
        assert_eq!(got[0].transport, Transport::Udp);
        // A torn last line is skipped, the rest still reads.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"494e56")
            .unwrap();
        assert_eq!(read_invite_journal(&path).len(), 2);
        clear_invite_journal(&path).unwrap();
        assert!(read_invite_journal(&path).is_empty());
    }

    fn response(status: &str, call_id: &str, cseq: &str, contact: bool) -> Response {
        let contact = if contact {
            "Contact: <sip:phone@192.0.2.4:5062>\r\nRecord-Route: <sip:p1.example;lr>\r\n"
        } else {
            ""
        };
        let text = format!(
            "SIP/2.0 {status}\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx;rport\r\n\
             Call-ID: {call_id}\r\n\
             From: <sip:+4940123@127.0.0.1>;tag=ours\r\n\
             To: <sip:+4930555000@127.0.0.1:5070>;tag=theirs\r\n\
             CSeq: {cseq}\r\n{contact}\
             Content-Type: application/sdp\r\n\
             Content-Length: 4\r\n\r\nv=0\n"
        );
        match SipMessage::try_from(text.as_bytes()).unwrap() {
            SipMessage::Response(r) => r,
            SipMessage::Request(_) => unreachable!(),
        }
    }

    #[test]
    fn a_2xx_to_the_invite_as_last_sent_marks_its_dialog_answered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("invites");
        let journal = InviteJournal::open(&path).unwrap();
        journal.record(&invite("a@h", 1, "z9hG4bKa1", false));
        journal.record(&invite("b@h", 1, "z9hG4bKb1", false));
        journal.record(&invite("c@h", 1, "z9hG4bKc1", false));
        journal.record(&invite("c@h", 2, "z9hG4bKc2", false));
        // Not journaled: a provisional, a failure, a 2xx to a BYE.
        journal.record_answer(&response("180 Ringing", "a@h", "1 INVITE", true));
        journal.record_answer(&response("486 Busy Here", "b@h", "1 INVITE", false));
        journal.record_answer(&response("200 OK", "b@h", "2 BYE", false));
        // The 2xx of the INVITE before a challenge's retry does not count for the retry.
        journal.record_answer(&response("200 OK", "c@h", "1 INVITE", true));
        // The answer of a@h, repeated because its ACK was lost: read once.
        journal.record_answer(&response("200 OK", "a@h", "1 INVITE", true));
        journal.record_answer(&response("200 OK", "a@h", "1 INVITE", true));
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(lines, 4 + 3, "four INVITEs and three 2xx to INVITEs");
        let got = read_invite_journal(&path);
        let answered: Vec<(&str, bool)> = got
            .iter()
            .map(|d| (d.call_id.as_str(), d.is_answered()))
            .collect();
        assert_eq!(answered, [("a@h", true), ("b@h", false), ("c@h", false)]);
        let a = &got[0];
        assert_eq!(a.remote_tag.as_deref(), Some("theirs"));
        assert_eq!(a.remote_target.as_deref(), Some("sip:phone@192.0.2.4:5062"));
        assert_eq!(a.route_set, ["<sip:p1.example;lr>"]);
        assert_eq!((a.cseq, a.via_branch.as_str()), (1, "z9hG4bKa1"));
    }

    #[test]
    fn the_journal_rotates_and_both_generations_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("invites");
        let journal = InviteJournal::open(&path).unwrap();
        let mut n = 0;
        while !older(&path).exists() {
            journal.record(&invite(&format!("{n}@h"), 1, &format!("z9hG4bK{n}"), false));
            n += 1;
        }
        journal.record(&invite("last@h", 1, "z9hG4bKlast", false));
        let got = read_invite_journal(&path);
        assert_eq!(got.len(), n + 1, "both generations");
        assert_eq!(got.last().unwrap().call_id, "last@h");
        assert!(std::fs::metadata(&path).unwrap().len() < ROTATE_AT);
        clear_invite_journal(&path).unwrap();
        assert!(!older(&path).exists());
    }
}
