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
        if let Some(mut child) = self.child.take() {
            // SIGINT lets tshark flush the file.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let mut command = Command::new("tshark");
        command.arg("-r").arg(self.file());
        for port in ports {
            command.args(["-d", &format!("udp.port=={port},rtp")]);
        }
        let out = command
            .args(["-Y", "rtp", "-T", "fields", "-e", "frame.time_epoch"])
            .args(["-e", "udp.srcport", "-e", "udp.dstport"])
            .args(["-e", "rtp.p_type", "-e", "rtp.ssrc", "-e", "rtp.seq"])
            .args(["-e", "rtp.payload"])
            .output()
            .context("reading the capture with tshark")?;
        if !out.status.success() {
            bail!("tshark -r failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout);
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
