//! The demo's stand-in phones: two local SIPp user agent servers, one answering as the user's
//! phone and one as the call center (the demo agent keys their personal PIN, so the call pops
//! on their console, listens to the whisper, presses 1 and later 2, and hangs up 25 s later
//! unless the call was ended first). Used only while no trunk is configured, so a first
//! run shows the whole flow with nothing but `scripts/run`. The scenarios are the test
//! suite's own, built into the binary and written to a temp directory at start.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::config::{TrunkConfig, TrunkTransport};

use super::data::CENTER_NUMBER;

const USER_SCENARIO: &str = include_str!("../../../tests/sipp/flow_answer_stream_wait_bye.xml");
const CENTER_SCENARIO: &str = include_str!("../../../tests/sipp/demo_center_agent.xml");
const AGENT_KEYS: &[u8] = include_bytes!("../../../tests/sipp/pcap/agent_pin_then_pages_1_2.pcap");
const TONE: &[u8] = include_bytes!("../../../tests/sipp/audio/tone_ulaw.wav");

/// Why the demo phones did not start.
#[derive(Debug, thiserror::Error)]
pub enum PhonesError {
    #[error("cannot prepare the demo phones' files: {0}")]
    Files(std::io::Error),
    #[error(
        "cannot start sipp for the demo phones ({0}); run scripts/install, or configure a trunk"
    )]
    Spawn(std::io::Error),
}

/// The two SIPp processes; killed when dropped.
pub(crate) struct Phones {
    children: Vec<Child>,
    dir: PathBuf,
    pub(crate) user: SocketAddr,
    pub(crate) center: SocketAddr,
}

impl Phones {
    pub(crate) fn start() -> Result<Self, PhonesError> {
        let dir = std::env::temp_dir().join(format!("callbond-demo-{}", std::process::id()));
        let write = |name: &str, bytes: &[u8]| -> Result<(), PhonesError> {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(PhonesError::Files)?;
            }
            std::fs::write(path, bytes).map_err(PhonesError::Files)
        };
        write("user.xml", USER_SCENARIO.as_bytes())?;
        write("center.xml", CENTER_SCENARIO.as_bytes())?;
        write("pcap/agent_pin_then_pages_1_2.pcap", AGENT_KEYS)?;
        write("audio/tone_ulaw.wav", TONE)?;
        let mut phones = Self {
            children: Vec::new(),
            dir,
            user: SocketAddr::from(([127, 0, 0, 1], 0)),
            center: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        phones.user = spawn(&phones.dir, "user.xml", 1000, &mut phones.children)?;
        // The scenario times itself (its keys are one capture); the default pause is unused.
        phones.center = spawn(&phones.dir, "center.xml", 0, &mut phones.children)?;
        Ok(phones)
    }

    /// Trunks to the demo phones: the demo center number to the center, all else to the user.
    pub(crate) fn trunks(&self) -> Vec<TrunkConfig> {
        let trunk = |prefix: &str, target: SocketAddr| TrunkConfig {
            prefix: prefix.to_owned(),
            target: target.to_string(),
            transport: TrunkTransport::Udp,
            username: None,
            password: None,
            from_domain: None,
            no_response_ms: 5000,
        };
        vec![trunk(CENTER_NUMBER, self.center), trunk("", self.user)]
    }
}

impl Drop for Phones {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(
    dir: &Path,
    scenario: &str,
    pause_ms: u32,
    children: &mut Vec<Child>,
) -> Result<SocketAddr, PhonesError> {
    let port = free_port().map_err(PhonesError::Spawn)?;
    let media = free_port().map_err(PhonesError::Spawn)?;
    let child = Command::new("sipp")
        .current_dir(dir)
        .args(["-sf", scenario, "-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-p", &port.to_string(), "-mp", &media.to_string()])
        .args(["-d", &pause_ms.to_string(), "-t", "u1", "-nostdin"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(PhonesError::Spawn)?;
    children.push(child);
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn free_port() -> std::io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}
