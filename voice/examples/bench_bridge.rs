//! Benchmark of the media bridge: how many concurrent bridged calls this machine carries.
//!
//! Not a test: it prints figures and asserts no timing. `scripts/bench-bridge` runs it in
//! release mode for several call counts and prints a Markdown table.
//!
//! One run measures one call count N in two processes, so the load generator's cost is kept
//! apart from the bridge's:
//! - `--role bridge` (the default) is the system under test: a [`MediaEngine`] with 2N legs,
//!   each with SDP offer/answer applied, started, and bridged in pairs with [`bridge`] — the
//!   crate's real media path, without SIP signalling. It counts its own CPU time
//!   (`/proc/self/stat`), RSS (`/proc/self/status`) and heap allocations (a counting global
//!   allocator) over the steady window.
//! - `--role load` (started by the bridge process as its child) is the far end of every leg:
//!   2N UDP sockets, each sending G.711 RTP at 50 packets/s, spread over twenty 1 ms sub-ticks
//!   of each 20 ms frame, and counting what comes back through the bridge.
//!
//! The two talk over the child's stdin/stdout: `ports …` (load → bridge), `go …`
//! (bridge → load), `window-start`, `window-end`, `result …` (load → bridge).

// The counting allocator below is the only unsafe code: `GlobalAlloc` is an unsafe trait.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use voice::media::{Codec, MediaConfig, MediaEngine, MediaEvent, MediaHandle, bridge};

/// Heap allocations (alloc, alloc_zeroed, realloc) made by this process so far.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

struct CountingAllocator;

// SAFETY: every method forwards its arguments unchanged to the system allocator, which upholds
// the `GlobalAlloc` contract; the only addition is a relaxed atomic increment, which neither
// allocates nor touches the memory handed out.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: the caller's guarantees for `alloc` are passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: the caller's guarantees for `alloc_zeroed` are passed on unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: `ptr` came from `System` through this allocator with this `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// 20 ms of G.711 at 8 kHz.
const PAYLOAD: usize = 160;
const RTP_HEADER: usize = 12;
/// The generator spreads each 20 ms frame over this many 1 ms sub-ticks.
const SUBTICKS: usize = 20;
/// Spacing histogram: 0.1 ms buckets up to 200 ms, plus one overflow bucket.
const BUCKETS: usize = 2001;

#[derive(Debug, Clone)]
struct Args {
    role: String,
    calls: usize,
    warmup: u64,
    window: u64,
    transcode: bool,
    port_min: u16,
    port_max: u16,
    workers: usize,
    /// CPU list (taskset syntax) the load generator is pinned to.
    load_cpus: Option<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        role: "bridge".into(),
        calls: 100,
        warmup: 2,
        window: 10,
        transcode: false,
        port_min: 16384,
        port_max: 32767,
        workers: 2,
        load_cpus: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--role" => a.role = value()?,
            "--calls" => a.calls = value()?.parse()?,
            "--warmup" => a.warmup = value()?.parse()?,
            "--window" => a.window = value()?.parse()?,
            "--port-min" => a.port_min = value()?.parse()?,
            "--port-max" => a.port_max = value()?.parse()?,
            "--workers" => a.workers = value()?.parse()?,
            "--load-cpus" => a.load_cpus = Some(value()?),
            "--transcode" => a.transcode = true,
            other => bail!(
                "unknown flag {other}; use --calls N --warmup S --window S [--transcode] \
                 [--port-min P --port-max P] [--workers W] [--load-cpus LIST]"
            ),
        }
    }
    if a.calls == 0 || a.window == 0 {
        bail!("--calls and --window must be at least 1");
    }
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()?;
    match args.role.as_str() {
        "bridge" => run_bridge(&rt, &args),
        "load" => run_load(&rt, &args),
        other => bail!("unknown role {other}; use --role bridge or --role load"),
    }
}

/// The codec the far end of leg `i` answers with: PCMU everywhere, or PCMA on the B side of
/// each call with `--transcode`, so every relayed packet is transcoded.
fn leg_codec(i: usize, transcode: bool) -> Codec {
    if transcode && i % 2 == 1 {
        Codec::Pcma
    } else {
        Codec::Pcmu
    }
}

// ---------------------------------------------------------------------------------------------
// The bridge process (system under test)

fn run_bridge(rt: &tokio::runtime::Runtime, args: &Args) -> anyhow::Result<()> {
    let legs = args.calls * 2;
    let engine = MediaEngine::new(MediaConfig::new(
        LOCALHOST,
        LOCALHOST,
        args.port_min,
        args.port_max,
    ))?;
    let free_before = engine.free_ports();
    if free_before < legs {
        bail!(
            "the port range {}-{} holds {free_before} legs, {legs} are needed; widen it",
            args.port_min,
            args.port_max
        );
    }
    let mut load = Load::spawn(args)?;
    let PortList(far_ports) = load.expect("ports")?;
    if far_ports.len() != legs {
        bail!(
            "load generator bound {} sockets, not {legs}",
            far_ports.len()
        );
    }
    let rss_before = vm_rss_kib()?;

    let started = Instant::now();
    let setup_allocs0 = ALLOCATIONS.load(Relaxed);
    let (handles, events, bridges) = rt.block_on(async {
        let mut handles = Vec::with_capacity(legs);
        let mut events = Vec::with_capacity(legs);
        for (i, port) in far_ports.iter().enumerate() {
            let mut leg = engine.allocate().await?;
            leg.sdp_offer(i as u64 + 1, 1);
            let codec = leg_codec(i, args.transcode);
            leg.apply_answer(&far_end_sdp(*port, codec))?;
            let (tx, rx) = mpsc::channel::<MediaEvent>(16);
            handles.push(leg.start(tx));
            events.push(rx);
        }
        let mut bridges = Vec::with_capacity(args.calls);
        for pair in handles.chunks_exact(2) {
            bridges.push(bridge(&pair[0], &pair[1])?);
        }
        anyhow::Ok((handles, events, bridges))
    })?;
    let setup = started.elapsed();
    let setup_allocs = ALLOCATIONS.load(Relaxed) - setup_allocs0;
    let ports: Vec<String> = handles.iter().map(|h| h.local_port().to_string()).collect();
    load.send(&format!("go {}", ports.join(" ")))?;

    load.expect_line("window-start")?;
    let wall0 = Instant::now();
    let cpu0 = process_cpu_split()?;
    let rss_steady = vm_rss_kib()?;
    let relayed0 = relayed(&handles);
    // Read last, so the bookkeeping above (file reads) is not counted.
    let allocs0 = ALLOCATIONS.load(Relaxed);
    load.expect_line("window-end")?;
    let allocs1 = ALLOCATIONS.load(Relaxed);
    let relayed1 = relayed(&handles);
    let cpu1 = process_cpu_split()?;
    let bridge_wall = wall0.elapsed().as_secs_f64();
    let r: LoadResult = load.expect("result")?;
    load.wait()?;

    let window = r.window_wall;
    let bridge_relayed = relayed1 - relayed0;
    let allocs = allocs1 - allocs0;
    let (bridge_user, bridge_system) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    let bridge_cpu = bridge_user + bridge_system;
    let offered = (legs * 50) as f64;

    // Calls end: every port must come back to the pool.
    rt.block_on(async {
        for b in bridges {
            b.unbridge();
        }
        for h in &handles {
            h.stop();
        }
        for h in &handles {
            h.stopped().await;
        }
    });
    drop(events);
    let ports_back = engine.free_ports() == free_before;

    let ms = |v: f64| {
        if v >= 200.0 {
            ">200".to_string()
        } else {
            format!("{v:.1}")
        }
    };
    let loss = |sent: u64, got: u64| 100.0 * sent.saturating_sub(got) as f64 / sent.max(1) as f64;
    println!(
        "| {calls} | {legs} | {offered:.0} | {sent:.0} | {relayed:.0} | {lab:.2} | {lba:.2} \
         | {p50} / {p99} / {max} | {late} | {bcpu:.0} % | {us:.1} | {gcpu:.0} % | {rss:.1} \
         | {apk:.5} | {setup:.2} s | {back} |",
        calls = args.calls,
        sent = r.window_sent as f64 / window,
        relayed = r.window_received as f64 / window,
        lab = loss(r.sent[0], r.received[0]),
        lba = loss(r.sent[1], r.received[1]),
        p50 = ms(r.spacing_ms[0]),
        p99 = ms(r.spacing_ms[1]),
        max = ms(r.spacing_ms[2]),
        late = ms(r.late_p99_ms),
        bcpu = 100.0 * bridge_cpu / bridge_wall,
        us = 1e6 * bridge_cpu / bridge_relayed.max(1) as f64,
        gcpu = 100.0 * r.cpu_seconds / window,
        rss = rss_steady.saturating_sub(rss_before) as f64 / args.calls as f64,
        apk = allocs as f64 / bridge_relayed.max(1) as f64,
        setup = setup.as_secs_f64(),
        back = if ports_back { "yes" } else { "NO" },
    );
    eprintln!(
        "calls={} bridge: setup {setup_allocs} allocations, window {bridge_wall:.2} s, relayed {bridge_relayed}, {allocs} allocations, \
         cpu {bridge_user:.2} s user + {bridge_system:.2} s system, rss {rss_before} -> {rss_steady} KiB; load: window {:.2} s, \
         cpu {:.2} s, sent {:?} received {:?} playout-silence {} send-errors {}",
        args.calls, r.window_wall, r.cpu_seconds, r.sent, r.received, r.playout, r.send_errors
    );
    Ok(())
}

/// What a plain far end at `port` answers: one G.711 law plus telephone-event, sendrecv.
fn far_end_sdp(port: u16, codec: Codec) -> String {
    format!(
        "v=0\r\no=load 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=ptime:20\r\na=sendrecv\r\n",
        pt = codec.payload_type()
    )
}

/// Packets the bridge wrote into all legs' streams (an atomic read per leg; no allocation).
fn relayed(handles: &[MediaHandle]) -> u64 {
    handles.iter().map(|h| h.stats().relayed).sum()
}

/// User + system CPU time of this whole process, from `/proc/self/stat` (clock ticks of 10 ms).
fn process_cpu_seconds() -> anyhow::Result<f64> {
    let (user, system) = process_cpu_split()?;
    Ok(user + system)
}

/// User and system CPU seconds of this whole process.
fn process_cpu_split() -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').context("odd /proc/self/stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/self/stat")?
            .parse::<u64>()? as f64
            / 100.0)
    };
    Ok((ticks(11)?, ticks(12)?))
}

fn vm_rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("odd VmRSS")?
        .parse()?)
}

/// The load generator child process, seen from the bridge.
struct Load {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    line: String,
}

impl Load {
    fn spawn(args: &Args) -> anyhow::Result<Load> {
        let exe = std::env::current_exe()?;
        let mut command = match &args.load_cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let mut child = command
            .args(["--role", "load", "--calls", &args.calls.to_string()])
            .args(["--warmup", &args.warmup.to_string()])
            .args(["--window", &args.window.to_string()])
            .args(["--workers", &args.workers.to_string()])
            .args(args.transcode.then_some("--transcode"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot start the load generator")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        Ok(Load {
            child,
            stdin,
            stdout,
            // Reused, so reading the window markers allocates nothing inside the window.
            line: String::with_capacity(1 << 16),
        })
    }

    fn send(&mut self, line: &str) -> anyhow::Result<()> {
        writeln!(self.stdin, "{line}")?;
        Ok(self.stdin.flush()?)
    }

    fn read_line(&mut self) -> anyhow::Result<&str> {
        self.line.clear();
        if self.stdout.read_line(&mut self.line)? == 0 {
            bail!("the load generator ended early (see its error above)");
        }
        Ok(self.line.trim_end())
    }

    fn expect_line(&mut self, want: &str) -> anyhow::Result<()> {
        let got = self.read_line()?;
        if got != want {
            bail!("load generator said {got:?}, expected {want:?}");
        }
        Ok(())
    }

    fn expect<T: std::str::FromStr<Err = anyhow::Error>>(
        &mut self,
        tag: &str,
    ) -> anyhow::Result<T> {
        let line = self.read_line()?;
        let body = line
            .strip_prefix(tag)
            .with_context(|| format!("load generator said {line:?}, expected {tag}"))?;
        body.trim().parse()
    }

    fn wait(mut self) -> anyhow::Result<()> {
        drop(self.stdin);
        let status = self.child.wait()?;
        if !status.success() {
            bail!("load generator failed: {status}");
        }
        Ok(())
    }
}

/// The generator's report, one line of numbers.
#[derive(Debug, Default)]
struct LoadResult {
    /// Per direction (0: A→B, 1: B→A), over the whole run.
    sent: [u64; 2],
    received: [u64; 2],
    /// Over the steady window only.
    window_sent: u64,
    window_received: u64,
    /// How long the window really lasted (longer than asked when the sender fell behind).
    window_wall: f64,
    /// p50, p99, max of the spacing between relayed packets on one socket, in the window.
    spacing_ms: [f64; 3],
    /// p99 of how late the generator's own 1 ms sub-ticks fired.
    late_p99_ms: f64,
    /// The legs' own silence before the bridge took over (not counted as relayed).
    playout: u64,
    send_errors: u64,
    cpu_seconds: f64,
}

impl std::fmt::Display for LoadResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {}",
            self.sent[0],
            self.sent[1],
            self.received[0],
            self.received[1],
            self.window_sent,
            self.window_received,
            self.spacing_ms[0],
            self.spacing_ms[1],
            self.spacing_ms[2],
            self.late_p99_ms,
            self.playout,
            self.send_errors,
            self.cpu_seconds,
            self.window_wall
        )
    }
}

impl std::str::FromStr for LoadResult {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<LoadResult> {
        let v: Vec<f64> = s
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        if v.len() != 14 {
            bail!("result line has {} numbers, expected 14", v.len());
        }
        let u = |i: usize| v[i] as u64;
        Ok(LoadResult {
            sent: [u(0), u(1)],
            received: [u(2), u(3)],
            window_sent: u(4),
            window_received: u(5),
            spacing_ms: [v[6], v[7], v[8]],
            late_p99_ms: v[9],
            playout: u(10),
            send_errors: u(11),
            cpu_seconds: v[12],
            window_wall: v[13],
        })
    }
}

/// A line of port numbers.
struct PortList(Vec<u16>);

impl std::str::FromStr for PortList {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<PortList> {
        Ok(PortList(
            s.split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()?,
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// The load generator process (the far ends)

/// Counters shared by the generator's tasks.
struct Tally {
    /// Set during the steady window.
    in_window: AtomicBool,
    sent: [AtomicU64; 2],
    received: [AtomicU64; 2],
    window_received: AtomicU64,
    playout: AtomicU64,
    send_errors: AtomicU64,
    spacing: Vec<AtomicU64>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            in_window: AtomicBool::new(false),
            sent: Default::default(),
            received: Default::default(),
            window_received: AtomicU64::new(0),
            playout: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            spacing: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn record(hist: &[AtomicU64], d: Duration) {
    let bucket = ((d.as_secs_f64() * 10_000.0) as usize).min(BUCKETS - 1);
    hist[bucket].fetch_add(1, Relaxed);
}

/// The given quantiles (0..=1) of a 0.1 ms histogram, in ms; the overflow bucket reads 200 ms.
fn quantiles(hist: &[AtomicU64], qs: &[f64]) -> Vec<f64> {
    let counts: Vec<u64> = hist.iter().map(|c| c.load(Relaxed)).collect();
    let total: u64 = counts.iter().sum();
    qs.iter()
        .map(|q| {
            let want = ((total as f64 * q).ceil() as u64).max(1);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= want {
                    return i as f64 / 10.0;
                }
            }
            0.0
        })
        .collect()
}

fn run_load(rt: &tokio::runtime::Runtime, args: &Args) -> anyhow::Result<()> {
    let legs = args.calls * 2;
    // Each far end is one socket with two handles: the paced sender thread writes on a plain
    // std handle, a tokio task reads on the other.
    let mut senders = Vec::with_capacity(legs);
    let mut ports = Vec::with_capacity(legs);
    for _ in 0..legs {
        let s = std::net::UdpSocket::bind((LOCALHOST, 0))?;
        s.set_nonblocking(true)?;
        ports.push(s.local_addr()?.port().to_string());
        senders.push(s);
    }
    println!("ports {}", ports.join(" "));
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let PortList(targets) = line
        .trim_end()
        .strip_prefix("go")
        .context("expected a go line")?
        .parse()?;
    if targets.len() != legs {
        bail!("got {} leg ports for {legs} sockets", targets.len());
    }
    let tally = Arc::new(Tally::new());
    {
        let _rt = rt.enter();
        for (i, s) in senders.iter().enumerate() {
            let silence = leg_codec(i, args.transcode).silence_byte();
            let sock = UdpSocket::from_std(s.try_clone()?)?;
            rt.spawn(receive(sock, i, silence, tally.clone()));
        }
    }
    let pacer = {
        let (tally, args) = (tally.clone(), args.clone());
        std::thread::Builder::new()
            .name("load-sender".into())
            .spawn(move || send(&senders, &targets, &args, &tally))?
    };
    let mut result = pacer
        .join()
        .map_err(|_| anyhow::anyhow!("the sender thread panicked"))??;
    // Let the last relayed packets arrive; the receive tasks end with the runtime.
    std::thread::sleep(Duration::from_millis(500));
    result.sent = [tally.sent[0].load(Relaxed), tally.sent[1].load(Relaxed)];
    result.received = [
        tally.received[0].load(Relaxed),
        tally.received[1].load(Relaxed),
    ];
    result.playout = tally.playout.load(Relaxed);
    let spacing = quantiles(&tally.spacing, &[0.5, 0.99, 1.0]);
    result.spacing_ms = [spacing[0], spacing[1], spacing[2]];
    println!("result {result}");
    std::io::stdout().flush()?;
    Ok(())
}

/// Counts what the bridge relays to socket `i` (the far end of leg `i`).
async fn receive(sock: UdpSocket, i: usize, silence: u8, tally: Arc<Tally>) {
    // Socket 2k+1 hears what socket 2k sent: direction 0 (A→B) arrives on odd sockets.
    let direction = 1 - i % 2;
    let mut buf = [0u8; 2048];
    let mut last: Option<Instant> = None;
    loop {
        let Ok((n, _)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let now = Instant::now();
        let Some(payload) = buf.get(RTP_HEADER..n) else {
            continue;
        };
        // Before the bridge takes over, the leg plays its own silence; the generator never
        // sends silence, so all-silence payloads are the leg's, not relayed ones.
        if payload.iter().all(|&b| b == silence) {
            tally.playout.fetch_add(1, Relaxed);
            continue;
        }
        tally.received[direction].fetch_add(1, Relaxed);
        if tally.in_window.load(Relaxed) {
            tally.window_received.fetch_add(1, Relaxed);
            if let Some(prev) = last {
                record(&tally.spacing, now - prev);
            }
            last = Some(now);
        } else {
            last = None;
        }
    }
}

/// Sends 20 ms RTP frames from every socket to its leg for warm-up + window, on its own
/// thread with absolute 1 ms deadlines: a late sub-tick is caught up at once, so the offered
/// rate stays 50 packets/s per leg as long as this thread gets the CPU for it.
fn send(
    sockets: &[std::net::UdpSocket],
    targets: &[u16],
    args: &Args,
    tally: &Tally,
) -> anyhow::Result<LoadResult> {
    let legs = sockets.len();
    // A 400 Hz tone, encoded once per law: audio, never the silence byte.
    let pcm: Vec<i16> = (0..PAYLOAD)
        .map(|n| (8000.0 * (n as f64 * 400.0 * std::f64::consts::TAU / 8000.0).sin()) as i16)
        .collect();
    let mut payloads = [[0u8; PAYLOAD]; 2];
    Codec::Pcmu.encode(&pcm, &mut payloads[0]);
    Codec::Pcma.encode(&pcm, &mut payloads[1]);
    let mut seq = vec![0u16; legs];
    let mut ts = vec![0u32; legs];
    let dests: Vec<SocketAddr> = targets
        .iter()
        .map(|&p| SocketAddr::new(LOCALHOST, p))
        .collect();
    let mut pkt = [0u8; RTP_HEADER + PAYLOAD];
    let warmup_ticks = args.warmup * 1000;
    let end_ticks = (args.warmup + args.window) * 1000;
    let late = (0..BUCKETS).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
    let mut out = std::io::stdout();
    let (mut cpu0, mut wall0, mut window_sent) = (0.0, Instant::now(), 0u64);
    let start = Instant::now();
    for tick in 0..end_ticks {
        let due = start + Duration::from_millis(tick);
        let now = Instant::now();
        if let Some(wait) = due.checked_duration_since(now) {
            std::thread::sleep(wait);
        }
        let window = tick >= warmup_ticks;
        if tick == warmup_ticks {
            cpu0 = process_cpu_seconds()?;
            wall0 = Instant::now();
            tally.in_window.store(true, Relaxed);
            writeln!(out, "window-start")?;
            out.flush()?;
        }
        if window {
            record(&late, Instant::now().saturating_duration_since(due));
        }
        let phase = (tick % SUBTICKS as u64) as usize;
        for i in (phase..legs).step_by(SUBTICKS) {
            let codec = leg_codec(i, args.transcode);
            pkt[0] = 0x80; // RTP version 2
            pkt[1] = codec.payload_type();
            pkt[2..4].copy_from_slice(&seq[i].to_be_bytes());
            pkt[4..8].copy_from_slice(&ts[i].to_be_bytes());
            pkt[8..12].copy_from_slice(&(0x1000_0000 + i as u32).to_be_bytes());
            pkt[RTP_HEADER..].copy_from_slice(&payloads[usize::from(codec == Codec::Pcma)]);
            seq[i] = seq[i].wrapping_add(1);
            ts[i] = ts[i].wrapping_add(PAYLOAD as u32);
            match sockets[i].send_to(&pkt, dests[i]) {
                Ok(_) => {
                    tally.sent[i % 2].fetch_add(1, Relaxed);
                    window_sent += u64::from(window);
                }
                Err(_) => {
                    tally.send_errors.fetch_add(1, Relaxed);
                }
            }
        }
    }
    tally.in_window.store(false, Relaxed);
    let wall = wall0.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds()? - cpu0;
    writeln!(out, "window-end")?;
    out.flush()?;
    Ok(LoadResult {
        window_sent,
        window_received: tally.window_received.load(Relaxed),
        window_wall: wall,
        late_p99_ms: quantiles(&late, &[0.99])[0],
        send_errors: tally.send_errors.load(Relaxed),
        cpu_seconds: cpu,
        ..LoadResult::default()
    })
}
