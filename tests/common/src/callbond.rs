//! The real binary as a child process: temp directory with its database, port 0 everywhere,
//! the bound addresses read from its one ready line on stdout, killed when dropped. It can be
//! killed hard (SIGKILL, as a crash) and started again on the same directory, database and
//! config, as an operator's restart would.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};

/// How to start the binary.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Extra TOML appended to the generated config file.
    pub extra_config: String,
    /// Extra arguments before the subcommand.
    pub args: Vec<String>,
}

/// How long a start may take until the ready line: a start after a crash first ends the legs
/// the dead process left open, which takes up to 64·T1 (32 s) when a far end never answers.
const READY_LIMIT: Duration = Duration::from_secs(75);

/// A running `callbond serve`.
pub struct Callbond {
    child: Child,
    dir: tempfile::TempDir,
    exe: PathBuf,
    args: Vec<String>,
    pub http: SocketAddr,
    pub sip: Option<SocketAddr>,
    /// An operator API key made by `callbond admin init` before start.
    pub operator_key: String,
    stderr_log: PathBuf,
}

impl Callbond {
    /// Starts `exe` (pass `env!("CARGO_BIN_EXE_callbond")`) and waits for it to be ready.
    pub fn start(exe: &str, options: Options) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("callbond.db");
        let config = dir.path().join("callbond.toml");
        std::fs::write(
            &config,
            format!(
                "[http]\nlisten = \"127.0.0.1:0\"\n[sip]\nlisten = \"127.0.0.1:0\"\n\
                 [database]\npath = {db:?}\n[log]\nfilter = \"info,callbond=debug\"\n{}",
                options.extra_config
            ),
        )?;
        let exe = PathBuf::from(exe);
        let init = Command::new(&exe)
            .arg("--config")
            .arg(&config)
            .args(["admin", "init"])
            .output()
            .context("running callbond admin init")?;
        if !init.status.success() {
            bail!(
                "callbond admin init failed: {}",
                String::from_utf8_lossy(&init.stderr)
            );
        }
        let operator_key = String::from_utf8(init.stdout)?
            .lines()
            .find_map(|l| l.strip_prefix("operator key: ").map(str::to_owned))
            .context("admin init printed no `operator key:` line")?;

        let stderr_log = dir.path().join("stderr.log");
        let (child, http, sip) = serve(&exe, &config, &options.args, &stderr_log)?;
        Ok(Self {
            child,
            dir,
            exe,
            args: options.args,
            http,
            sip,
            operator_key,
            stderr_log,
        })
    }

    /// Kills the binary at once (SIGKILL: no shutdown, no BYE, as a crash would) and waits
    /// for it to be gone.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().context("sending SIGKILL")?;
        self.child.wait().context("waiting for the killed binary")?;
        Ok(())
    }

    /// Starts the binary again after [`Callbond::kill`] or [`Callbond::terminate`] on the same
    /// directory, database and config, and on the SIP address it had: a restart on the
    /// configured port, so far ends answer the new process (RFC 3261 §18.2.2 sends responses
    /// to the Via's sent-by). Its log goes on in the same file. Returns once it is ready.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_none() {
            bail!("callbond is still running; kill or terminate it first");
        }
        let mut args = self.args.clone();
        if let Some(sip) = self.sip {
            args.push(format!("--sip-listen={sip}"));
        }
        let config = self.dir.path().join("callbond.toml");
        let (child, http, sip) = serve(&self.exe, &config, &args, &self.stderr_log)?;
        self.child = child;
        self.http = http;
        self.sip = sip;
        Ok(())
    }

    /// `http://127.0.0.1:PORT` plus `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    /// The temporary directory holding the database and config.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("callbond.db")
    }

    /// Runs `callbond --config … ARGS` against the same database; returns stdout.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.exe)
            .arg("--config")
            .arg(self.dir.path().join("callbond.toml"))
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!(
                "callbond {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// The process id of the running binary.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The running binary's resident memory (`VmRSS`), KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS line in /proc/PID/status")
    }

    /// Asks the binary to stop as an operator would (SIGTERM) and waits for it to exit.
    pub fn terminate(&mut self, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("running kill")?;
        if !sent.success() {
            bail!("kill -TERM failed: {sent}");
        }
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if std::time::Instant::now() >= deadline {
                bail!(
                    "callbond still running {limit:?} after SIGTERM\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the binary logged so far (for failure messages).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }
}

impl Drop for Callbond {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- callbond stderr ---\n{}", self.logs());
        }
    }
}

/// Spawns `callbond --config CONFIG ARGS serve`, its stderr appended to `stderr_log`, and
/// waits for its ready line.
fn serve(
    exe: &Path,
    config: &Path,
    args: &[String],
    stderr_log: &Path,
) -> anyhow::Result<(Child, SocketAddr, Option<SocketAddr>)> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr_log)?;
    let mut child = Command::new(exe)
        .arg("--config")
        .arg(config)
        .args(args)
        .arg("serve")
        .current_dir(config.parent().unwrap_or(Path::new(".")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .context("starting callbond")?;
    let logs = || std::fs::read_to_string(stderr_log).unwrap_or_default();
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the child never blocks on a full pipe.
        let _ = std::io::copy(&mut reader.take(u64::MAX), &mut std::io::sink());
    });
    let line = match rx.recv_timeout(READY_LIMIT) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            bail!(
                "callbond did not become ready in {READY_LIMIT:?}; stderr:\n{}",
                logs()
            );
        }
    };
    let (http, sip) = parse_ready_line(&line)
        .with_context(|| format!("unexpected ready line {line:?}; stderr:\n{}", logs()))?;
    Ok((child, http, sip))
}

fn parse_ready_line(line: &str) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let rest = line.trim().strip_prefix("callbond ready ")?;
    let mut http = None;
    let mut sip = None;
    for part in rest.split_whitespace() {
        if let Some(v) = part.strip_prefix("http=") {
            http = v.parse().ok();
        } else if let Some(v) = part.strip_prefix("sip=") {
            sip = v.parse().ok();
        }
    }
    Some((http?, sip))
}
