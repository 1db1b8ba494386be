//! A lossy link for phones: the phones' network namespace, reached from the host through a
//! router namespace that drops a given share of the packets it forwards in each direction
//! (iptables `statistic` in FORWARD; `tc netem` is not on every kernel). Dropping in transit
//! keeps loss silent, as on a real network: a drop in a sender's own OUTPUT chain would fail
//! its `sendto` with EPERM, which no lossy network does. Peers run inside with
//! `ip netns exec NS`; the binary stays on the host and meets them on the host's end of the
//! first veth pair. Names and addresses are unique per process and link, and everything is
//! removed on drop, also when the test panics; links left by a killed test process are
//! removed by the next one. Needs root (CAP_NET_ADMIN): without it [`LossyLink::create`]
//! fails saying so — it never skips.
//!
//! ```text
//! host (binary)  hN ── rN  router (FORWARD drops)  sN ── pN  phones (SIPp)
//!   100.64.x.1/30      .2                          .5/30     .6
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail};

use crate::net::Place;

/// Prefix of every namespace this module makes: `cbloss-PID-N-phones` and `…-router`.
const NETNS_PREFIX: &str = "cbloss-";

/// Links made by this process so far (names and subnets stay apart within it).
static LINKS: AtomicU32 = AtomicU32::new(0);

/// The phones' namespace behind a router namespace that drops `loss` of the packets it
/// forwards each way.
#[derive(Debug)]
pub struct LossyLink {
    phones_ns: String,
    router_ns: String,
    host_if: String,
    router_host_if: String,
    router_phones_if: String,
    /// The host's end: where the binary listens for the phones.
    pub host_ip: Ipv4Addr,
    /// The phones' address.
    pub peer_ip: Ipv4Addr,
    router_host_ip: Ipv4Addr,
    router_phones_ip: Ipv4Addr,
    /// Probability that a packet is dropped, each direction.
    pub loss: f64,
}

/// Packets the router forwarded or dropped, each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCounts {
    /// Packets from the host to the phones (delivered or dropped).
    pub inbound: u64,
    pub inbound_dropped: u64,
    /// Packets from the phones to the host (delivered or dropped).
    pub outbound: u64,
    pub outbound_dropped: u64,
}

impl LinkCounts {
    /// Share of packets to the phones dropped.
    pub fn inbound_loss(&self) -> f64 {
        self.inbound_dropped as f64 / self.inbound.max(1) as f64
    }

    /// Share of packets from the phones dropped.
    pub fn outbound_loss(&self) -> f64 {
        self.outbound_dropped as f64 / self.outbound.max(1) as f64
    }
}

impl LossyLink {
    /// Makes both namespaces, two veth pairs with addresses from a fresh /29 of
    /// 100.64.0.0/10 (shared address space, never routed on the Internet), the routes and the
    /// drop rules.
    pub fn create(loss: f64) -> anyhow::Result<Self> {
        if !(0.0..1.0).contains(&loss) {
            bail!("loss probability {loss} is not in [0, 1)");
        }
        remove_stale_links();
        let pid = std::process::id();
        let n = LINKS.fetch_add(1, Ordering::Relaxed);
        // One /29 per (process, link): pid·4 + n spreads over the 2^19 /29s of
        // 100.64.0.0/10, so two live processes rarely meet (and then `ip` fails loudly).
        let subnet = (pid.wrapping_mul(4).wrapping_add(n)) % (1 << 19);
        let base = u32::from(Ipv4Addr::new(100, 64, 0, 0)) + subnet * 8;
        let link = Self {
            phones_ns: format!("{NETNS_PREFIX}{pid}-{n}-phones"),
            router_ns: format!("{NETNS_PREFIX}{pid}-{n}-router"),
            host_if: host_if(pid, n),
            router_host_if: format!("cbl{pid}r{n}"),
            router_phones_if: format!("cbl{pid}s{n}"),
            host_ip: Ipv4Addr::from(base + 1),
            router_host_ip: Ipv4Addr::from(base + 2),
            router_phones_ip: Ipv4Addr::from(base + 5),
            peer_ip: Ipv4Addr::from(base + 6),
            loss,
        };
        // From here on, a failed step leaves cleaning to `Drop`.
        link.set_up().with_context(|| {
            format!(
                "cannot make the lossy network namespaces {} and {} (needs root, iproute2 and \
                 iptables: scripts/install)",
                link.router_ns, link.phones_ns
            )
        })?;
        Ok(link)
    }

    fn set_up(&self) -> anyhow::Result<()> {
        let in_ns = |ns: &str, args: &[&str]| -> anyhow::Result<()> {
            let mut all = vec!["netns", "exec", ns];
            all.extend_from_slice(args);
            run("ip", &all)
        };
        let (router, phones) = (self.router_ns.as_str(), self.phones_ns.as_str());
        let (host_if, r_host, r_phones) = (
            self.host_if.as_str(),
            self.router_host_if.as_str(),
            self.router_phones_if.as_str(),
        );
        let phones_if = "eth0";
        let cidr = |ip: Ipv4Addr| format!("{ip}/30");
        let phones_net = format!("{}/30", Ipv4Addr::from(u32::from(self.peer_ip) - 2));
        let host_net = format!("{}/30", Ipv4Addr::from(u32::from(self.host_ip) - 1));
        run("ip", &["netns", "add", router])?;
        run("ip", &["netns", "add", phones])?;
        // Host ↔ router.
        run(
            "ip",
            &[
                "link", "add", host_if, "type", "veth", "peer", "name", r_host,
            ],
        )?;
        run("ip", &["link", "set", r_host, "netns", router])?;
        run("ip", &["addr", "add", &cidr(self.host_ip), "dev", host_if])?;
        run("ip", &["link", "set", host_if, "up"])?;
        in_ns(
            router,
            &[
                "ip",
                "addr",
                "add",
                &cidr(self.router_host_ip),
                "dev",
                r_host,
            ],
        )?;
        in_ns(router, &["ip", "link", "set", r_host, "up"])?;
        // Router ↔ phones: made inside the router, one end moved to the phones.
        in_ns(
            router,
            &[
                "ip", "link", "add", r_phones, "type", "veth", "peer", "name", phones_if,
            ],
        )?;
        in_ns(router, &["ip", "link", "set", phones_if, "netns", phones])?;
        in_ns(
            router,
            &[
                "ip",
                "addr",
                "add",
                &cidr(self.router_phones_ip),
                "dev",
                r_phones,
            ],
        )?;
        in_ns(router, &["ip", "link", "set", r_phones, "up"])?;
        in_ns(
            phones,
            &["ip", "addr", "add", &cidr(self.peer_ip), "dev", phones_if],
        )?;
        in_ns(phones, &["ip", "link", "set", phones_if, "up"])?;
        in_ns(phones, &["ip", "link", "set", "lo", "up"])?;
        // Routes: the host reaches the phones' /30 through the router, the phones reach the
        // host's through it; the router forwards.
        let via_router = self.router_host_ip.to_string();
        run(
            "ip",
            &[
                "route",
                "add",
                &phones_net,
                "via",
                &via_router,
                "dev",
                host_if,
            ],
        )?;
        let via_router = self.router_phones_ip.to_string();
        in_ns(
            phones,
            &[
                "ip",
                "route",
                "add",
                &host_net,
                "via",
                &via_router,
                "dev",
                phones_if,
            ],
        )?;
        in_ns(router, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])?;
        // The rules live in the router's own tables: the host's firewall is not touched. Each
        // way, a random drop, then an accept that counts what passed.
        let probability = format!("{:.4}", self.loss);
        for (from, to) in [(r_host, r_phones), (r_phones, r_host)] {
            in_ns(
                router,
                &[
                    "iptables",
                    "-A",
                    "FORWARD",
                    "-i",
                    from,
                    "-o",
                    to,
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &probability,
                    "-j",
                    "DROP",
                ],
            )?;
            in_ns(
                router,
                &[
                    "iptables", "-A", "FORWARD", "-i", from, "-o", to, "-j", "ACCEPT",
                ],
            )?;
        }
        Ok(())
    }

    /// Where the phones run: inside their namespace, bound to its address.
    pub fn phones(&self) -> Place {
        Place {
            prefix: vec![
                "ip".to_owned(),
                "netns".to_owned(),
                "exec".to_owned(),
                self.phones_ns.clone(),
            ],
            ip: IpAddr::V4(self.peer_ip),
        }
    }

    /// The phones' namespace.
    pub fn netns(&self) -> &str {
        &self.phones_ns
    }

    /// What the router forwarded and dropped so far, each way, from its rules' counters.
    pub fn counts(&self) -> anyhow::Result<LinkCounts> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.router_ns])
            .args(["iptables", "-L", "FORWARD", "-v", "-x", "-n"])
            .output()?;
        if !out.status.success() {
            bail!(
                "reading the router's counters: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let listing = String::from_utf8(out.stdout)?;
        // `pkts bytes target prot opt in out source destination …`
        let packets = |target: &str, from: &str, to: &str| -> anyhow::Result<u64> {
            listing
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
                .find(|f| f.len() > 6 && f[2] == target && f[5] == from && f[6] == to)
                .and_then(|f| f[0].parse().ok())
                .with_context(|| format!("no {target} rule {from} → {to}:\n{listing}"))
        };
        let (r_host, r_phones) = (self.router_host_if.as_str(), self.router_phones_if.as_str());
        let inbound_dropped = packets("DROP", r_host, r_phones)?;
        let outbound_dropped = packets("DROP", r_phones, r_host)?;
        Ok(LinkCounts {
            inbound: inbound_dropped + packets("ACCEPT", r_host, r_phones)?,
            inbound_dropped,
            outbound: outbound_dropped + packets("ACCEPT", r_phones, r_host)?,
            outbound_dropped,
        })
    }
}

/// The host's end of the first veth pair of link `n` of process `pid`.
fn host_if(pid: u32, n: u32) -> String {
    format!("cbl{pid}h{n}")
}

impl Drop for LossyLink {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both; deleting a namespace deletes the
        // devices in it.
        let _ = run("ip", &["link", "del", &self.host_if]);
        let _ = run("ip", &["netns", "del", &self.phones_ns]);
        let _ = run("ip", &["netns", "del", &self.router_ns]);
    }
}

/// Removes namespaces (and their veth pairs) of test processes that are gone: a test killed
/// by a timeout runs no `Drop`.
fn remove_stale_links() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let mut parts = name.strip_prefix(NETNS_PREFIX).unwrap_or("").split('-');
        let (Some(pid), Some(n)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(pid), Ok(n)) = (pid.parse::<u32>(), n.parse::<u32>()) else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = run("ip", &["link", "del", &host_if(pid, n)]);
        let _ = run("ip", &["netns", "del", name]);
    }
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespaces() -> String {
        let out = Command::new("ip").args(["netns", "list"]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Needs root, as the lossy-network test does: it fails rather than skips without.
    #[test]
    fn a_link_routes_through_its_router_and_leaves_nothing_behind() {
        assert!(LossyLink::create(1.5).is_err());
        let link = LossyLink::create(0.0).expect("making namespaces (run as root)");
        let (phones, router) = (link.phones_ns.clone(), link.router_ns.clone());
        let listed = namespaces();
        assert!(
            listed.contains(&phones) && listed.contains(&router),
            "{listed}"
        );
        // The phones reach the host's end through the router: a UDP datagram from inside
        // arrives here and is counted as forwarded.
        let socket = std::net::UdpSocket::bind((link.host_ip, 0)).expect("bind host end");
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let port = socket.local_addr().expect("addr").port();
        let sent = link
            .phones()
            .command("bash")
            .args(["-c", &format!("echo hi > /dev/udp/{}/{port}", link.host_ip)])
            .status()
            .expect("bash in the phones' namespace");
        assert!(sent.success());
        let mut buf = [0u8; 16];
        let (n, from) = socket
            .recv_from(&mut buf)
            .expect("datagram from the phones");
        assert_eq!(
            (&buf[..n], from.ip()),
            (&b"hi\n"[..], IpAddr::V4(link.peer_ip))
        );
        let counts = link.counts().expect("counters");
        assert_eq!((counts.outbound, counts.outbound_dropped), (1, 0));
        let host_if = link.host_if.clone();
        drop(link);
        let listed = namespaces();
        assert!(
            !listed.contains(&phones) && !listed.contains(&router),
            "{listed}"
        );
        let links = Command::new("ip")
            .args(["-o", "link"])
            .output()
            .expect("ip link");
        assert!(!String::from_utf8_lossy(&links.stdout).contains(&host_if));
    }
}
