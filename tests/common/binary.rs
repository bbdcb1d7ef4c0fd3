//! Helpers for tests of the `blink-store` binary: spawn it with arguments,
//! environment and stdin, wait for a log line with a deadline, collect its exit
//! status and output, and make throw-away files such as a password file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::TIMEOUT;

/// The binary under test, built by cargo for this test run.
pub const BIN: &str = env!("CARGO_BIN_EXE_blink-store");

/// Environment variables the binary reads; removed unless a test sets them,
/// so the caller's environment cannot change a test.
const READS: &[&str] = &["RUST_LOG", "BLINK_PASSWORD"];

/// A spawned `blink-store`, killed and reaped when dropped. Its stderr is
/// read line by line on a thread, so a test can wait for a log line with a
/// deadline; its stdout is read whole.
pub struct Running {
    child: Child,
    stderr: Receiver<Vec<u8>>,
    /// Stderr lines received so far.
    seen: Vec<u8>,
    stdout: Option<JoinHandle<Vec<u8>>>,
}

/// How a process ended and what it printed.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Finished {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

impl Running {
    /// Runs the binary with `args` and no variable it reads set.
    pub fn spawn(args: &[&str]) -> Running {
        Running::spawn_with_env(args, &[])
    }

    /// Runs the binary with `args` and the variables of `env` set.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Running {
        Running::spawn_fed(args, env, None)
    }

    /// As [`Running::spawn_with_env`], with `input` as the whole of stdin
    /// (written on a thread, then closed) instead of an empty stdin.
    pub fn spawn_fed(args: &[&str], env: &[(&str, &str)], input: Option<Vec<u8>>) -> Running {
        let mut command = Command::new(BIN);
        command.args(args);
        for name in READS {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let mut child = command
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // A child that exits without reading all of it is for the
            // test to judge, so a failed write is not an error here.
            std::thread::spawn(move || stdin.write_all(&input));
        }
        let mut stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = stdout.read_to_end(&mut all);
            all
        });
        let (lines, stderr) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || send_lines(pipe, lines));
        Running {
            child,
            stderr,
            seen: Vec::new(),
            stdout: Some(stdout),
        }
    }

    /// Waits for a stderr line containing `needle` and returns it.
    #[track_caller]
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.seen.extend_from_slice(&line);
                    let line = String::from_utf8_lossy(&line).into_owned();
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no log line with {needle:?}; stderr so far:\n{}",
                        self.seen()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "exited ({:?}) before logging {needle:?}; stderr:\n{}",
                    self.child.try_wait(),
                    self.seen()
                ),
            }
        }
    }

    /// The TCP address from the start-up line `listening on tcp ADDR; ...`,
    /// as logged: `0.0.0.0:PORT` for a server on every interface.
    #[track_caller]
    pub fn logged_tcp_addr(&mut self) -> SocketAddr {
        let line = self.wait_for("listening on tcp ");
        let after = &line[line.find("listening on tcp ").unwrap() + "listening on tcp ".len()..];
        let addr = after.split([';', ',']).next().unwrap();
        addr.trim()
            .parse()
            .unwrap_or_else(|e| panic!("no address in {line:?}: {e}"))
    }

    /// Where a client on this machine reaches the logged TCP address: the
    /// same port on 127.0.0.1 when the server listens on every interface.
    #[track_caller]
    pub fn tcp_addr(&mut self) -> SocketAddr {
        let mut addr = self.logged_tcp_addr();
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        addr
    }

    /// Stderr received so far.
    pub fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("cannot wait for the child")
            .is_none()
    }

    /// Waits at most `limit` for the process to exit on its own, then
    /// returns everything it printed.
    #[track_caller]
    pub fn finish_within(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("cannot wait for the child") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {limit:?}; stderr so far:\n{}",
                String::from_utf8_lossy(&self.drain_stderr(Duration::ZERO))
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let stderr = self.drain_stderr(TIMEOUT);
        let stdout = self.stdout.take().unwrap().join().unwrap();
        Finished {
            status,
            stdout,
            stderr,
        }
    }

    /// Kills the process and returns its whole stderr.
    pub fn kill(mut self) -> Vec<u8> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.drain_stderr(TIMEOUT)
    }

    /// Collects stderr lines until the pipe closes or `limit` passes.
    fn drain_stderr(&mut self, limit: Duration) -> Vec<u8> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => self.seen.extend_from_slice(&line),
                Err(_) => return self.seen.clone(),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards each line of `pipe` (raw bytes, `\n` kept) until it closes.
fn send_lines(pipe: ChildStderr, lines: mpsc::Sender<Vec<u8>>) {
    let mut reader = BufReader::new(pipe);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if lines.send(line).is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs the binary to completion, which must take under [`TIMEOUT`].
#[track_caller]
pub fn run(args: &[&str]) -> Finished {
    Running::spawn(args).finish_within(TIMEOUT)
}

/// Runs `blink-store bench --tcp ADDR --json` with `args`, which must
/// succeed; returns its one JSON line.
#[track_caller]
pub fn bench(addr: impl std::fmt::Display, args: &[&str]) -> String {
    let addr = addr.to_string();
    let mut all = vec!["bench", "--tcp", &addr, "--json"];
    all.extend_from_slice(args);
    let finished = run(&all);
    assert_eq!(
        finished.status.code(),
        Some(0),
        "stderr: {}",
        finished.stderr()
    );
    let stdout = finished.stdout();
    assert!(
        stdout.starts_with('{') && stdout.ends_with("}\n") && stdout.lines().count() == 1,
        "not one JSON line: {stdout:?}"
    );
    stdout
}

/// Runs the binary with the variables of `env` set and `input` as its
/// stdin, to completion, which must take under [`TIMEOUT`].
#[track_caller]
pub fn run_fed(args: &[&str], env: &[(&str, &str)], input: &[u8]) -> Finished {
    Running::spawn_fed(args, env, Some(input.to_vec())).finish_within(TIMEOUT)
}

/// A file under the temporary directory with a name no one has used,
/// removed when dropped.
pub struct TempFile(PathBuf);

impl TempFile {
    /// A fresh path holding `contents`.
    pub fn with(contents: &[u8]) -> TempFile {
        let file = TempFile::path();
        std::fs::write(&file.0, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.0.display()));
        file
    }

    /// A fresh path where nothing exists yet. The process id and a counter
    /// keep parallel tests and concurrent test runs apart.
    pub fn path() -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("blink-test-{}-{n}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempFile(path)
    }

    /// The path as a command-line argument.
    pub fn arg(&self) -> &str {
        self.0.to_str().expect("temporary path is not UTF-8")
    }
}

impl std::ops::Deref for TempFile {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
