//! Free loopback ports for peers that cannot bind port 0 themselves (SIPp, chromedriver).

use std::net::{TcpListener, UdpSocket};

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
