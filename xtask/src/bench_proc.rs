//! Processes of `cargo xtask bench`: the mock server, and contenders run to completion with
//! their own resource usage (peak RSS, CPU time) read from `wait4`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// A running `asana-audit-log-mock serve`, killed when dropped.
pub struct Mock {
    child: Child,
    /// Kept open so the server never writes to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// The API root, e.g. `http://127.0.0.1:PORT/api/1.0`.
    pub base_url: String,
    /// The valid bearer token.
    pub token: String,
    /// The workspace gid served.
    pub workspace: String,
    /// `host:port`, for the admin route.
    authority: String,
}

/// How to start a mock.
#[derive(Clone, Debug)]
pub struct MockSettings {
    /// Events in the dataset.
    pub events: u64,
    /// Dataset seed.
    pub seed: u64,
    /// Keep the server's default limits (1,500 requests a minute, 50 in flight) instead of
    /// turning both off.
    pub default_limits: bool,
    /// Latency added to every response, in the mock's syntax (e.g. `50ms`).
    pub latency: Option<String>,
}

impl MockSettings {
    /// `events` of dataset `seed`, served without limits or latency, so that the client's own
    /// work is all there is.
    pub fn unlimited(events: u64, seed: u64) -> MockSettings {
        MockSettings {
            events,
            seed,
            default_limits: false,
            latency: None,
        }
    }
}

impl Mock {
    /// Starts the mock binary for a benchmark on a free loopback port.
    pub fn start(binary: &Path, settings: &MockSettings) -> Result<Mock> {
        let mut args = vec![
            "--events".to_string(),
            settings.events.to_string(),
            "--seed".to_string(),
            settings.seed.to_string(),
        ];
        if !settings.default_limits {
            args.extend(["--rate-limit", "0", "--concurrency", "0"].map(String::from));
        }
        if let Some(latency) = &settings.latency {
            args.extend(["--latency".to_string(), latency.clone()]);
        }
        Mock::spawn(binary, &args)
    }

    /// Starts `binary serve --host 127.0.0.1 --port 0 --print-json` with `args` added, and
    /// waits for the JSON line that says where it serves.
    pub fn spawn(binary: &Path, args: &[String]) -> Result<Mock> {
        let mut child = Command::new(binary)
            .args([
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--print-json",
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().context("mock stdout")?);
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let info: Value = match read {
            Ok(n) if n > 0 => serde_json::from_str(&line)
                .with_context(|| format!("the mock printed {line:?}, not its JSON line"))?,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the mock exited before printing its JSON line");
            }
        };
        let text = |key: &str| -> Result<String> {
            info[key]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("the mock's JSON line has no {key}"))
        };
        let base_url = text("base_url")?;
        let authority = base_url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        Ok(Mock {
            token: text("token")?,
            workspace: text("workspace_gid")?,
            base_url,
            authority,
            child,
            _stdout: stdout,
        })
    }

    /// Sends one admin request (`METHOD PATH`, with `body`, may be empty) to the mock; gives
    /// the raw response.
    fn admin_request(&self, method_and_path: &str, body: &str) -> Result<String> {
        let mut stream = TcpStream::connect(&self.authority)
            .with_context(|| format!("connecting to the mock at {}", self.authority))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "{method_and_path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.authority,
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    }

    /// The mock's `GET /_mock/status` answer (event count, request count, clock).
    pub fn status(&self) -> Result<Value> {
        let response = self.admin_request("GET /_mock/status", "")?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .context("no body in the mock's status response")?;
        serde_json::from_str(body.trim())
            .with_context(|| format!("the mock's status is not JSON: {body:?}"))
    }

    /// Pauses the mock's live arrival (`POST /_mock/live?paused=true`).
    pub fn pause_live(&self) -> Result<()> {
        let response = self.admin_request("POST /_mock/live?paused=true", "")?;
        if !response.starts_with("HTTP/1.1 200") {
            bail!("the mock refused to pause live arrival: {response:?}");
        }
        Ok(())
    }

    /// Appends `events` (a JSON array; the mock gives each a gid and, when it has none, the
    /// current time as `created_at`) through `POST /_mock/events`.
    pub fn append(&self, events: &Value) -> Result<()> {
        let response = self.admin_request("POST /_mock/events", &events.to_string())?;
        if !response.starts_with("HTTP/1.1 200") {
            bail!("the mock refused the events: {response:?}");
        }
        Ok(())
    }

    /// The number of API requests the server has answered.
    pub fn requests(&self) -> Result<u64> {
        self.status()?["requests"]
            .as_u64()
            .context("the mock's status has no request count")
    }

    /// The number of events the server holds.
    pub fn events(&self) -> Result<u64> {
        self.status()?["events"]
            .as_u64()
            .context("the mock's status has no event count")
    }

    /// Stops the server (also done on drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A finished contender process.
#[derive(Debug)]
pub struct Finished {
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// Whether it exited with status 0.
    pub success: bool,
    /// How it ended, for messages.
    pub status: String,
    /// Wall time from spawn to exit.
    pub wall_seconds: f64,
    /// User plus system CPU time.
    pub cpu_seconds: Option<f64>,
    /// Peak resident set size in KiB as `wait4` reports it (`ru_maxrss`). Linux counts the
    /// forked copy of this process before `exec` too, so it is never below our own peak.
    pub max_rss_kb: Option<u64>,
    /// The child's own peak resident set size in KiB (`VmHWM` of `/proc/PID/status`, polled
    /// every 10 ms while it runs; Linux only): exact unless the peak came in the last poll
    /// interval.
    pub polled_hwm_kb: Option<u64>,
}

/// Polls `VmHWM` of a running process until its status no longer has one (it exited).
fn poll_hwm(pid: u32) -> std::thread::JoinHandle<Option<u64>> {
    std::thread::spawn(move || {
        let path = format!("/proc/{pid}/status");
        let mut peak = None;
        loop {
            let hwm = std::fs::read_to_string(&path).ok().and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            });
            match hwm {
                Some(kb) => peak = peak.max(Some(kb)),
                // A zombie (or a reaped process) has no memory left to measure.
                None => return peak,
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    })
}

/// Runs a command to completion, capturing its output and its resource usage.
pub fn run_measured(command: Command) -> Result<Finished> {
    run_measured_while(command, |_| Ok(()))
}

/// Like [`run_measured`], calling `control` with the child's pid once it has started (to
/// watch it, signal it, …). If `control` fails, the child is killed and its error returned.
pub fn run_measured_while(
    mut command: Command,
    control: impl FnOnce(u32) -> Result<()>,
) -> Result<Finished> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let poller = poll_hwm(child.id());
    let mut stderr_pipe = child.stderr.take().context("stderr")?;
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let mut stdout_pipe = child.stdout.take().context("stdout")?;
    let stdout_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout_pipe.read_to_string(&mut text);
        text
    });
    if let Err(e) = control(child.id()) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let stdout = stdout_reader.join().unwrap_or_default();
    let (success, status, cpu_seconds, max_rss_kb) = reap(child)?;
    let wall_seconds = started.elapsed().as_secs_f64();
    let stderr = stderr_reader.join().unwrap_or_default();
    let polled_hwm_kb = poller.join().unwrap_or_default();
    Ok(Finished {
        stdout,
        stderr,
        success,
        status,
        wall_seconds,
        cpu_seconds,
        max_rss_kb,
        polled_hwm_kb,
    })
}

/// Waits for the child with `wait4`, which reports the resource usage of that child alone.
#[cfg(unix)]
fn reap(child: Child) -> Result<(bool, String, Option<f64>, Option<u64>)> {
    let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our own unreaped child; both pointers are to live locals.
        let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if got == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error).context("wait4");
        }
    }
    // The child is reaped: `Child` must not wait for it again (dropping it does not).
    drop(child);
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
    // Linux reports ru_maxrss in KiB.
    let rss = u64::try_from(usage.ru_maxrss).ok();
    let (success, text) = if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        (code == 0, format!("exit status {code}"))
    } else if libc::WIFSIGNALED(status) {
        (
            false,
            format!("killed by signal {}", libc::WTERMSIG(status)),
        )
    } else {
        (false, format!("wait status {status}"))
    };
    Ok((success, text, Some(cpu), rss))
}

/// Elsewhere: no resource usage, only the exit status.
#[cfg(not(unix))]
fn reap(mut child: Child) -> Result<(bool, String, Option<f64>, Option<u64>)> {
    let status = child.wait()?;
    Ok((status.success(), status.to_string(), None, None))
}
