//! Packet capture on loopback with tshark, so a test can check what actually went over the
//! wire (RTP payload types, who sent audio to whom). Started before the traffic, stopped and
//! read afterwards; the capture file lives in a temp directory.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct Capture {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

/// One RTP packet as tshark decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// Capture time, milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_type: u8,
    pub ssrc: u32,
    pub seq: u16,
    pub payload: Vec<u8>,
}

/// One RFC 4733 telephone-event packet as tshark's `rtpevent` dissector read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpEvent {
    /// Capture time, milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub src_port: u16,
    pub dst_port: u16,
    pub timestamp: u32,
    pub marker: bool,
    /// The event code (0–9 digits, 10 `*`, 11 `#`).
    pub event: u8,
    pub end: bool,
    pub duration: u16,
}

/// One INVITE as tshark's SIP dissector read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipInvite {
    pub src_port: u16,
    pub dst_port: u16,
    /// The Request-URI's user part.
    pub request_user: String,
    /// The `User-to-User` header value as sent (hex and parameters).
    pub user_to_user: String,
    /// Every header line as tshark shows the message header.
    pub headers: String,
}

impl Capture {
    /// Captures UDP on `lo` until [`Capture::stop`]; waits until tshark is capturing.
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("capture.pcapng");
        let log = std::fs::File::create(dir.path().join("tshark.log"))?;
        let child = Command::new("tshark")
            .args(["-i", "lo", "-f", "udp", "-q", "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .context("starting tshark (apt-get install tshark)")?;
        let capture = Self {
            child: Some(child),
            dir,
        };
        // tshark says "Capturing on 'Loopback: lo'" once packets are being taken.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !capture.log().contains("Capturing on") {
            if Instant::now() > deadline {
                bail!("tshark did not start capturing: {}", capture.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(capture)
    }

    /// Stops capturing and returns the RTP packets sent to or from `ports`.
    pub fn stop_rtp(&mut self, ports: &[u16]) -> anyhow::Result<Vec<RtpPacket>> {
        let mut args = rtp_ports(ports);
        args.extend(["-Y", "rtp"].map(str::to_owned));
        let text = self.fields(
            args,
            &[
                "frame.time_epoch",
                "udp.srcport",
                "udp.dstport",
                "rtp.p_type",
                "rtp.ssrc",
                "rtp.seq",
                "rtp.payload",
            ],
        )?;
        let packets = text
            .lines()
            .filter_map(|line| {
                let mut f = line.split('\t');
                let at: f64 = f.next()?.parse().ok()?;
                Some(RtpPacket {
                    at_ms: (at * 1000.0) as i64,
                    src_port: f.next()?.parse().ok()?,
                    dst_port: f.next()?.parse().ok()?,
                    payload_type: f.next()?.parse().ok()?,
                    ssrc: parse_u32(f.next()?)?,
                    seq: f.next()?.parse().ok()?,
                    payload: hex_bytes(f.next().unwrap_or("")),
                })
            })
            .collect();
        Ok(packets)
    }

    /// Stops capturing (once); the file stays readable until the capture is dropped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT lets tshark flush the file.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The telephone-events (payload type `pt`) on RTP to or from `ports`, decoded by tshark
    /// (`-d rtp.pt==PT,rtpevent`). Stops the capture first.
    pub fn rtp_events(&mut self, ports: &[u16], pt: u8) -> anyhow::Result<Vec<RtpEvent>> {
        let mut args = rtp_ports(ports);
        args.extend([
            "-d".into(),
            format!("rtp.pt=={pt},rtpevent"),
            "-Y".into(),
            "rtpevent".into(),
        ]);
        let text = self.fields(
            args,
            &[
                "frame.time_epoch",
                "udp.srcport",
                "udp.dstport",
                "rtp.timestamp",
                "rtp.marker",
                "rtpevent.event_id",
                "rtpevent.end_of_event",
                "rtpevent.duration",
            ],
        )?;
        let flag = |t: &str| matches!(t, "1" | "True" | "true");
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut f = line.split('\t');
                let at: f64 = f.next()?.parse().ok()?;
                Some(RtpEvent {
                    at_ms: (at * 1000.0) as i64,
                    src_port: f.next()?.parse().ok()?,
                    dst_port: f.next()?.parse().ok()?,
                    timestamp: f.next()?.parse().ok()?,
                    marker: flag(f.next()?),
                    event: f.next()?.parse().ok()?,
                    end: flag(f.next()?),
                    duration: f.next()?.parse().ok()?,
                })
            })
            .collect())
    }

    /// The INVITEs sent to `sip_port` (a SIPp peer's), decoded by tshark. Stops the capture
    /// first.
    pub fn sip_invites(&mut self, sip_port: u16) -> anyhow::Result<Vec<SipInvite>> {
        let filter = format!("sip.Method == \"INVITE\" && udp.dstport == {sip_port}");
        let args = vec![
            "-d".into(),
            format!("udp.port=={sip_port},sip"),
            "-Y".into(),
            filter,
        ];
        let text = self.fields(
            args,
            &[
                "udp.srcport",
                "udp.dstport",
                "sip.r-uri.user",
                "sip.uui",
                "sip.msg_hdr",
            ],
        )?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut f = line.split('\t');
                Some(SipInvite {
                    src_port: f.next()?.parse().ok()?,
                    dst_port: f.next()?.parse().ok()?,
                    request_user: f.next()?.to_owned(),
                    user_to_user: f.next()?.to_owned(),
                    headers: f.next().unwrap_or("").to_owned(),
                })
            })
            .collect())
    }

    /// Stops capturing and runs `tshark -r FILE ARGS -T fields -e …` over the file: one line
    /// per packet, fields separated by tabs.
    fn fields(&mut self, args: Vec<String>, fields: &[&str]) -> anyhow::Result<String> {
        self.stop();
        let out = Command::new("tshark")
            .arg("-r")
            .arg(self.file())
            .args(args)
            .args(["-T", "fields", "-E", "separator=/t"])
            .args(fields.iter().flat_map(|f| ["-e", f]))
            .output()
            .context("reading the capture with tshark")?;
        if !out.status.success() {
            bail!("tshark -r failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("capture.pcapng")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tshark.log")).unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `-d udp.port==P,rtp` for each port: decode them as RTP.
fn rtp_ports(ports: &[u16]) -> Vec<String> {
    ports
        .iter()
        .flat_map(|p| ["-d".to_owned(), format!("udp.port=={p},rtp")])
        .collect()
}

/// `0x1234abcd` or decimal.
fn parse_u32(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// `aa:bb:cc` or `aabbcc` → bytes.
fn hex_bytes(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(char::is_ascii_hexdigit).collect();
    (0..digits.len() / 2)
        .filter_map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_with_or_without_colons() {
        assert_eq!(super::hex_bytes("ff:7f:00"), [0xff, 0x7f, 0x00]);
        assert_eq!(super::hex_bytes("0a0b"), [0x0a, 0x0b]);
        assert!(super::hex_bytes("").is_empty());
    }
}
