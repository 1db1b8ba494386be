//! What went over the wire, seen by independent tools: `tshark` captures loopback traffic
//! filtered on one test's own ports (so parallel tests never see each other) and hands back
//! per-packet fields, RTP from a capture file or SIP dissected live ([`SipCapture`]); `sox`
//! decodes G.711 and `espeak-ng` renders reference speech. Nothing here uses the voice
//! crate's own codec, RTP or SIP code.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

/// A running `tshark -i lo -f FILTER -w FILE`, stopped with SIGINT so the file is complete.
pub struct Capture {
    child: Option<Child>,
    dir: Option<TempDir>,
    stderr: mpsc::Receiver<String>,
}

impl Capture {
    /// Starts tshark on loopback with a BPF capture `filter` and returns once it reports
    /// "Capturing on" (packets sent before that would be missed).
    pub fn start(filter: &str) -> Capture {
        let dir = tempfile::tempdir().expect("temporary directory for the capture");
        let file = dir.path().join("capture.pcap");
        let mut child = Command::new("tshark")
            .args(["-i", "lo", "-f", filter, "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tshark (apt tshark; capturing needs root or the wireshark group)");
        let stderr = child.stderr.take().expect("tshark stderr is piped");
        let (tx, rx) = mpsc::channel();
        // Drains stderr for the capture's whole life so tshark never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut capture = Capture {
            child: Some(child),
            dir: Some(dir),
            stderr: rx,
        };
        capture.wait_for_line("Capturing on", Duration::from_secs(15));
        capture
    }

    fn wait_for_line(&mut self, needle: &str, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(line) => seen.push(line),
                Err(_) => panic!("tshark did not say {needle:?} within {limit:?}: {seen:?}"),
            }
        }
    }

    /// Stops the capture (SIGINT: tshark flushes and closes the file) and returns its path.
    pub fn stop(mut self) -> CaptureFile {
        let mut child = self.child.take().expect("capture still running");
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "could not signal tshark");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if child.try_wait().expect("poll tshark").is_some() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "tshark did not stop within 15 s of SIGINT"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let dir = self.dir.take().expect("capture directory");
        CaptureFile {
            path: dir.path().join("capture.pcap"),
            _dir: dir,
        }
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

/// A finished capture file (deleted with its temporary directory).
pub struct CaptureFile {
    pub path: PathBuf,
    _dir: TempDir,
}

/// One RTP packet as tshark dissected it.
#[derive(Clone, Debug)]
pub struct RtpPacket {
    pub time: f64,
    pub src_port: u16,
    pub dst_port: u16,
    pub ssrc: u32,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub payload: Vec<u8>,
}

impl CaptureFile {
    /// Every packet to or from one of `rtp_ports`, dissected as RTP, in capture order.
    pub fn rtp_packets(&self, rtp_ports: &[u16]) -> Vec<RtpPacket> {
        let mut command = Command::new("tshark");
        command.arg("-r").arg(&self.path);
        for port in rtp_ports {
            command.args(["-d", &format!("udp.port=={port},rtp")]);
        }
        command.args(["-Y", "rtp", "-T", "fields", "-E", "separator=/t"]);
        for field in [
            "frame.time_relative",
            "udp.srcport",
            "udp.dstport",
            "rtp.ssrc",
            "rtp.p_type",
            "rtp.seq",
            "rtp.timestamp",
            "rtp.marker",
            "rtp.payload",
        ] {
            command.args(["-e", field]);
        }
        let output = command.output().expect("run tshark -r");
        assert!(
            output.status.success(),
            "tshark could not read {}: {}",
            self.path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(parse_fields)
            .collect()
    }

    /// tshark's own RTP stream analysis (`-q -z rtp,streams`), as printed.
    pub fn rtp_streams_report(&self, rtp_ports: &[u16]) -> String {
        let mut command = Command::new("tshark");
        command.arg("-r").arg(&self.path);
        for port in rtp_ports {
            command.args(["-d", &format!("udp.port=={port},rtp")]);
        }
        let output = command
            .args(["-q", "-z", "rtp,streams"])
            .output()
            .expect("run tshark -z rtp,streams");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// One SIP message as tshark dissected it.
#[derive(Clone, Debug)]
pub struct SipPacket {
    /// Capture time in seconds since the Unix epoch (the same clock as `SystemTime`).
    pub epoch: f64,
    pub src_port: u16,
    pub dst_port: u16,
    /// The request's method; `None` for a response.
    pub method: Option<String>,
    /// The response's status code; `None` for a request.
    pub status: Option<u16>,
    pub cseq_method: String,
    pub call_id: String,
    /// The `User-Agent` and `Server` header values, if the message has them.
    pub user_agent: Option<String>,
    pub server: Option<String>,
}

impl SipPacket {
    /// The first request with `method` in `packets` (retransmissions come later).
    pub fn first_request<'a>(packets: &'a [SipPacket], method: &str) -> &'a SipPacket {
        packets
            .iter()
            .find(|p| p.method.as_deref() == Some(method))
            .unwrap_or_else(|| panic!("no {method} in the capture: {packets:#?}"))
    }

    /// The first response with `status` to a request with `cseq_method`.
    pub fn first_response<'a>(
        packets: &'a [SipPacket],
        status: u16,
        cseq_method: &str,
    ) -> &'a SipPacket {
        packets
            .iter()
            .find(|p| p.status == Some(status) && p.cseq_method == cseq_method)
            .unwrap_or_else(|| panic!("no {status} to {cseq_method} in the capture: {packets:#?}"))
    }
}

/// A live `tshark` dissecting SIP on one port of loopback. dumpcap says "Capturing on" before
/// it really captures, and drops what it has not handed on when stopped, which loses a sparse
/// SIP exchange's first and last messages; so start and stop are confirmed with probe
/// datagrams on a port of our own: once a probe is printed, everything before it was too.
pub struct SipCapture {
    child: Child,
    lines: mpsc::Receiver<String>,
    probe: std::net::UdpSocket,
    sip_port: u16,
}

impl SipCapture {
    /// Starts capturing SIP to and from `sip_port` (over UDP) and returns once it is.
    pub fn start(sip_port: u16) -> SipCapture {
        let probe = std::net::UdpSocket::bind(("127.0.0.1", 0)).expect("bind a probe socket");
        let probe_port = probe.local_addr().expect("probe address").port();
        let mut child = Command::new("tshark")
            .args(["-i", "lo", "-l", "-n"])
            .args([
                "-f",
                &format!("udp port {sip_port} or udp port {probe_port}"),
            ])
            .args(["-d", &format!("udp.port=={sip_port},sip")])
            .args(["-T", "fields", "-E", "separator=/t"])
            .args(SIP_FIELDS.iter().flat_map(|f| ["-e", f]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tshark (apt tshark; capturing needs root or the wireshark group)");
        let stdout = child.stdout.take().expect("tshark stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut capture = SipCapture {
            child,
            lines,
            probe,
            sip_port,
        };
        capture.until_probe_seen(0.0, &mut Vec::new());
        capture
    }

    /// Stops the capture once everything sent so far is dissected; the SIP messages in order.
    pub fn stop(mut self) -> Vec<SipPacket> {
        let mut seen = Vec::new();
        // Probes still queued from `start` were sent before now and do not count.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("a time after 1970")
            .as_secs_f64();
        self.until_probe_seen(now, &mut seen);
        let _ = self.child.kill();
        let _ = self.child.wait();
        seen.into_iter()
            .map(|line| parse_sip_fields(&line))
            .filter(|p| p.src_port == self.sip_port || p.dst_port == self.sip_port)
            .collect()
    }

    /// Sends probes until tshark prints one sent at `after` (Unix seconds) or later, collecting
    /// the other lines it printed before.
    fn until_probe_seen(&mut self, after: f64, seen: &mut Vec<String>) {
        let probe_port = self.probe.local_addr().expect("probe address").port();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            self.probe
                .send_to(b"probe", ("127.0.0.1", probe_port))
                .expect("send a probe datagram");
            let wait_until = std::time::Instant::now() + Duration::from_millis(200);
            while let Ok(line) = self
                .lines
                .recv_timeout(wait_until.saturating_duration_since(std::time::Instant::now()))
            {
                let packet = parse_sip_fields(&line);
                if packet.dst_port != probe_port {
                    seen.push(line);
                } else if packet.epoch >= after {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "tshark printed no probe within 20 s"
            );
        }
    }
}

impl Drop for SipCapture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SIP_FIELDS: [&str; 9] = [
    "frame.time_epoch",
    "udp.srcport",
    "udp.dstport",
    "sip.Method",
    "sip.Status-Code",
    "sip.CSeq.method",
    "sip.Call-ID",
    "sip.User-Agent",
    "sip.Server",
];

fn parse_sip_fields(line: &str) -> SipPacket {
    let f: Vec<&str> = line.split('\t').map(str::trim).collect();
    // tshark may leave the trailing empty fields out.
    assert!(f.len() >= 7, "unexpected tshark line {line:?}");
    let optional = |i: usize| f.get(i).filter(|s| !s.is_empty()).map(|s| s.to_string());
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    SipPacket {
        epoch: f[0].parse().expect("frame.time_epoch in seconds"),
        src_port: f[1].parse().expect("UDP source port"),
        dst_port: f[2].parse().expect("UDP destination port"),
        method: text(f[3]),
        status: text(f[4]).map(|s| s.parse().expect("SIP status code")),
        cseq_method: f[5].to_string(),
        call_id: f[6].to_string(),
        user_agent: optional(7),
        server: optional(8),
    }
}

fn parse_fields(line: &str) -> RtpPacket {
    let f: Vec<&str> = line.split('\t').collect();
    assert!(f.len() >= 9, "unexpected tshark line {line:?}");
    let num = |s: &str| -> u64 {
        let s = s.trim();
        match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => s.parse(),
        }
        .unwrap_or_else(|_| panic!("not a number {s:?} in {line:?}"))
    };
    let payload_hex: String = f[8].chars().filter(|c| c.is_ascii_hexdigit()).collect();
    RtpPacket {
        time: f[0].trim().parse().expect("frame time"),
        src_port: num(f[1]) as u16,
        dst_port: num(f[2]) as u16,
        ssrc: num(f[3]) as u32,
        payload_type: num(f[4]) as u8,
        seq: num(f[5]) as u16,
        timestamp: num(f[6]) as u32,
        marker: matches!(f[7].trim(), "1" | "True" | "true"),
        payload: hex::decode(payload_hex).expect("hex payload"),
    }
}

/// Checks one stream: a single SSRC, sequence numbers each +1 (mod 2^16), timestamps that
/// always move forward and never further than the wall-clock gap (plus 100 ms of slack for
/// bursts), and an 8 kHz timestamp clock over the whole stream (within 5 % + 100 ms of the
/// capture's own clock). Returns how many timestamp steps were not exactly the previous
/// payload's length (pauses, skipped ticks, talk spurts).
pub fn assert_one_continuous_stream(packets: &[RtpPacket], what: &str) -> usize {
    assert!(packets.len() > 1, "{what}: fewer than two packets");
    let ssrcs: BTreeSet<u32> = packets.iter().map(|p| p.ssrc).collect();
    assert_eq!(ssrcs.len(), 1, "{what}: more than one SSRC: {ssrcs:x?}");
    let mut irregular = 0;
    let mut ts_span: u64 = 0;
    for pair in packets.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(
            b.seq,
            a.seq.wrapping_add(1),
            "{what}: sequence jumps from {} to {} at t={:.3}",
            a.seq,
            b.seq,
            b.time
        );
        let step = b.timestamp.wrapping_sub(a.timestamp);
        let wall = ((b.time - a.time) * 8000.0) as u64 + 800;
        assert!(
            step > 0 && u64::from(step) <= wall,
            "{what}: timestamp steps by {step} from seq {} to {} in {:.3} s",
            a.seq,
            b.seq,
            b.time - a.time
        );
        ts_span += u64::from(step);
        if step as usize != a.payload.len() {
            irregular += 1;
        }
    }
    let (first, last) = (&packets[0], &packets[packets.len() - 1]);
    let wall_span = last.time - first.time;
    let ts_secs = ts_span as f64 / 8000.0;
    assert!(
        (ts_secs - wall_span).abs() <= wall_span * 0.05 + 0.1,
        "{what}: timestamps cover {ts_secs:.3} s but the packets {wall_span:.3} s"
    );
    irregular
}

/// G.711 payload bytes → 16-bit samples, decoded by `sox` (`law` is "ul" or "al").
pub fn sox_decode_g711(bytes: &[u8], law: &str) -> Vec<i16> {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join(format!("in.{law}"));
    std::fs::write(&input, bytes).expect("write G.711 bytes");
    let output = dir.path().join("out.raw");
    let status = Command::new("sox")
        .args(["-t", law, "-r", "8000", "-c", "1"])
        .arg(&input)
        .args(["-t", "raw", "-e", "signed-integer", "-b", "16", "-L"])
        .arg(&output)
        .status()
        .expect("sox is installed (apt sox)");
    assert!(status.success(), "sox could not decode {law}");
    read_raw(&output)
}

/// The `espeak-ng` CLI's rendering of `text` with `args` (voice, speed), made 8 kHz by `sox`.
pub fn espeak_cli_8k(text: &str, args: &[&str]) -> Vec<i16> {
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = dir.path().join("ref.wav");
    let status = Command::new("espeak-ng")
        .args(args)
        .arg("-w")
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng CLI is installed (apt espeak-ng)");
    assert!(status.success(), "espeak-ng failed on {text:?}");
    let raw = dir.path().join("ref.raw");
    let status = Command::new("sox")
        .arg(&wav)
        .args(["-r", "8000", "-c", "1", "-t", "raw", "-e", "signed-integer"])
        .args(["-b", "16", "-L"])
        .arg(&raw)
        .status()
        .expect("sox is installed (apt sox)");
    assert!(
        status.success(),
        "sox could not resample the espeak-ng output"
    );
    read_raw(&raw)
}

fn read_raw(path: &Path) -> Vec<i16> {
    std::fs::read(path)
        .expect("sox wrote its output")
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Root-mean-square level of each 20 ms frame (160 samples at 8 kHz).
pub fn envelope(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks(160)
        .map(|c| {
            let sum: f64 = c.iter().map(|&s| f64::from(s).powi(2)).sum();
            (sum / c.len() as f64).sqrt()
        })
        .collect()
}

/// The samples from the first to the last 20 ms frame louder than `threshold` RMS.
pub fn trim_silence(samples: &[i16], threshold: f64) -> &[i16] {
    let env = envelope(samples);
    let first = env.iter().position(|&e| e > threshold);
    let last = env.iter().rposition(|&e| e > threshold);
    match (first, last) {
        (Some(a), Some(b)) => &samples[a * 160..((b + 1) * 160).min(samples.len())],
        _ => &[],
    }
}

/// Pearson correlation of two equally long series.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let (a, b) = (&a[..n], &b[..n]);
    let ma = a.iter().sum::<f64>() / n as f64;
    let mb = b.iter().sum::<f64>() / n as f64;
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        return 0.0;
    }
    cov / (va * vb).sqrt()
}

/// The best Pearson r of two envelopes over shifts of up to `max_shift` frames either way,
/// and the shift (frames `b` is delayed against `a`) that gave it.
pub fn best_aligned_correlation(a: &[f64], b: &[f64], max_shift: usize) -> (f64, isize) {
    let mut best = (f64::MIN, 0isize);
    for shift in -(max_shift as isize)..=(max_shift as isize) {
        let (x, y) = if shift >= 0 {
            (a, b.get(shift as usize..).unwrap_or(&[]))
        } else {
            (a.get((-shift) as usize..).unwrap_or(&[]), b)
        };
        let r = pearson(x, y);
        if r > best.0 {
            best = (r, shift);
        }
    }
    best
}
