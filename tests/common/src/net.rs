//! Free loopback ports for peers that cannot bind port 0 themselves (SIPp, chromedriver), and
//! where a peer runs ([`Place`]: on the host's loopback, or behind a command prefix such as
//! `ip netns exec NS` on another address).

use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::process::Command;

/// A UDP port that was free a moment ago on 127.0.0.1.
pub fn free_udp_port() -> anyhow::Result<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    Ok(socket.local_addr()?.port())
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_tcp_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Where a peer process runs: the command prefix that puts it there (empty: here) and the
/// address it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub prefix: Vec<String>,
    pub ip: IpAddr,
}

impl Default for Place {
    fn default() -> Self {
        Self::loopback()
    }
}

impl Place {
    /// This host's 127.0.0.1, no prefix: where every peer ran before namespaces.
    pub fn loopback() -> Self {
        Self {
            prefix: Vec::new(),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    /// Whether peers here run behind a prefix (in another network namespace).
    pub fn is_prefixed(&self) -> bool {
        !self.prefix.is_empty()
    }

    /// `program` started here: behind the prefix when there is one.
    pub fn command(&self, program: &str) -> Command {
        match self.prefix.split_first() {
            None => Command::new(program),
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(program);
                command
            }
        }
    }
}
