//! SIP as it went over loopback, dissected live by `tshark` on a test's own SIP ports, so a
//! test can compare what the platform recorded (Call-IDs, times of INVITE, 180, 200, BYE) with
//! the wire. dumpcap reports "Capturing on" before it really captures and drops what it has
//! not handed on when stopped, which loses a sparse SIP exchange's first and last messages; so
//! start and stop are confirmed with probe datagrams to a port of our own: once tshark prints
//! a probe, everything sent before it was printed too.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

/// One SIP message as tshark decoded it.
#[derive(Debug, Clone, PartialEq)]
pub struct SipPacket {
    /// Capture time, seconds since the Unix epoch (the clock `SystemTime` reads).
    pub epoch: f64,
    pub src_port: u16,
    pub dst_port: u16,
    /// The request method (`INVITE`, `BYE`...), or `None` for a response.
    pub method: Option<String>,
    /// The response status code, or `None` for a request.
    pub status: Option<u16>,
    /// The CSeq method, so a response can be matched to its request.
    pub cseq_method: String,
    pub call_id: String,
}

/// A running `tshark -l` printing SIP fields for the given UDP ports.
pub struct SipCapture {
    child: Child,
    lines: mpsc::Receiver<String>,
    probe: UdpSocket,
    ports: Vec<u16>,
}

const FIELDS: [&str; 7] = [
    "frame.time_epoch",
    "udp.srcport",
    "udp.dstport",
    "sip.Method",
    "sip.Status-Code",
    "sip.CSeq.method",
    "sip.Call-ID",
];

impl SipCapture {
    /// Starts capturing SIP over UDP to and from `ports` and returns once it is capturing.
    pub fn start(ports: &[u16]) -> anyhow::Result<Self> {
        let probe = UdpSocket::bind(("127.0.0.1", 0))?;
        let probe_port = probe.local_addr()?.port();
        let filter = ports
            .iter()
            .chain([&probe_port])
            .map(|p| format!("udp port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut command = Command::new("tshark");
        command.args(["-i", "lo", "-l", "-n", "-f", &filter]);
        for port in ports {
            command.args(["-d", &format!("udp.port=={port},sip")]);
        }
        let mut child = command
            .args(["-T", "fields", "-E", "separator=/t"])
            .args(FIELDS.iter().flat_map(|f| ["-e", f]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting tshark (apt-get install tshark; capturing needs root)")?;
        let stdout = child.stdout.take().context("tshark stdout is piped")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut capture = Self {
            child,
            lines,
            probe,
            ports: ports.to_vec(),
        };
        capture.until_probe_seen(0.0, &mut Vec::new())?;
        Ok(capture)
    }

    /// Stops once everything sent so far is dissected; the SIP messages in capture order.
    pub fn stop(mut self) -> anyhow::Result<Vec<SipPacket>> {
        let mut seen = Vec::new();
        // Probes still queued from `start` were sent before now and do not count.
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
        self.until_probe_seen(now, &mut seen)?;
        let _ = self.child.kill();
        let _ = self.child.wait();
        Ok(seen
            .iter()
            .filter_map(|line| parse(line))
            .filter(|p| self.ports.contains(&p.src_port) || self.ports.contains(&p.dst_port))
            .filter(|p| !p.call_id.is_empty())
            .collect())
    }

    /// Sends probes until tshark prints one captured at `after` (Unix seconds) or later,
    /// keeping the other lines printed before it.
    fn until_probe_seen(&mut self, after: f64, seen: &mut Vec<String>) -> anyhow::Result<()> {
        let probe_port = self.probe.local_addr()?.port();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.probe.send_to(b"probe", ("127.0.0.1", probe_port))?;
            let wait_until = Instant::now() + Duration::from_millis(200);
            while let Ok(line) = self
                .lines
                .recv_timeout(wait_until.saturating_duration_since(Instant::now()))
            {
                match parse(&line) {
                    Some(p) if p.dst_port == probe_port && p.epoch >= after => return Ok(()),
                    Some(p) if p.dst_port == probe_port => {}
                    _ => seen.push(line),
                }
            }
            if Instant::now() >= deadline {
                bail!("tshark printed no probe within 20 s");
            }
        }
    }
}

impl Drop for SipCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first request with `method` (retransmissions come later).
pub fn first_request<'a>(packets: &'a [SipPacket], method: &str) -> Option<&'a SipPacket> {
    packets.iter().find(|p| p.method.as_deref() == Some(method))
}

/// The first response with `status` to a request with `cseq_method`.
pub fn first_response<'a>(
    packets: &'a [SipPacket],
    status: u16,
    cseq_method: &str,
) -> Option<&'a SipPacket> {
    packets
        .iter()
        .find(|p| p.status == Some(status) && p.cseq_method == cseq_method)
}

fn parse(line: &str) -> Option<SipPacket> {
    let f: Vec<&str> = line.split('\t').map(str::trim).collect();
    if f.len() < FIELDS.len() {
        return None;
    }
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Some(SipPacket {
        epoch: f[0].parse().ok()?,
        src_port: f[1].parse().ok()?,
        dst_port: f[2].parse().ok()?,
        method: text(f[3]),
        status: text(f[4]).and_then(|s| s.parse().ok()),
        cseq_method: f[5].to_owned(),
        call_id: f[6].to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_of_a_request_and_a_response() {
        let invite = super::parse("1764633600.5\t5060\t5070\tINVITE\t\tINVITE\tabc@h")
            .expect("a request line");
        assert_eq!(invite.method.as_deref(), Some("INVITE"));
        assert_eq!(invite.status, None);
        let ok =
            super::parse("1764633601.25\t5070\t5060\t\t200\tINVITE\tabc@h").expect("a response");
        assert_eq!((ok.status, ok.epoch), (Some(200), 1_764_633_601.25));
        assert!(super::parse("1764633600.5\t5060").is_none());
    }
}
