//! Helpers shared by the integration tests: start a server in this process on
//! an ephemeral TCP port or a fresh Unix socket, talk to it in raw bytes, and
//! compare replies byte for byte.
//!
//! Servers are never stopped; each test starts its own, so tests share no
//! state and run in parallel. Every socket has read and write timeouts, so a
//! server that fails to answer fails the test instead of hanging it.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use blink_store::config::Config;
use blink_store::server::Server;
use blink_store::store::Clock;

pub mod binary;
pub mod resp;

/// Longest wait for any single reply; a healthy server answers in
/// microseconds, so this only bounds how long a broken one takes to fail.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Workers of a test server: enough for the tests that open a few
/// connections at once, few enough to start fast.
pub const TEST_THREADS: usize = 8;

/// One exchange: the exact bytes sent, then the exact bytes expected back.
pub type Step<'a> = (&'a [u8], &'a [u8]);

/// The default configuration with a small worker pool.
pub fn config() -> Config {
    Config {
        threads: TEST_THREADS,
        ..Config::default()
    }
}

/// Starts a server on an ephemeral TCP port of 127.0.0.1 and returns its
/// address. Any listeners already in `config` are replaced.
pub fn start(config: Config) -> SocketAddr {
    let config = Config {
        tcp: vec!["127.0.0.1:0".into()],
        unix: Vec::new(),
        ..config
    };
    spawn(&config)[0]
}

/// Starts a server on a fresh Unix socket only and returns its path.
pub fn start_unix(config: Config) -> SocketPath {
    let path = SocketPath::new();
    let config = Config {
        tcp: Vec::new(),
        unix: vec![path.to_path_buf()],
        ..config
    };
    spawn(&config);
    path
}

/// Starts one server listening on both an ephemeral TCP port and a fresh
/// Unix socket.
pub fn start_both(config: Config) -> (SocketAddr, SocketPath) {
    let path = SocketPath::new();
    let config = Config {
        tcp: vec!["127.0.0.1:0".into()],
        unix: vec![path.to_path_buf()],
        ..config
    };
    (spawn(&config)[0], path)
}

/// Starts a server on an ephemeral TCP port of 127.0.0.1 whose store reads
/// time from `clock`, and returns its address. With [`Clock::manual`] time
/// moves only when the test calls `advance` on its clone of the clock.
pub fn start_with_clock(config: Config, clock: Clock) -> SocketAddr {
    let config = Config {
        tcp: vec!["127.0.0.1:0".into()],
        unix: Vec::new(),
        ..config
    };
    let server = Server::bind_with_clock(&config, clock)
        .unwrap_or_else(|e| panic!("cannot start server: {e}"));
    let addrs = server.tcp_addrs();
    std::thread::spawn(move || server.run());
    addrs[0]
}

/// Binds `config`, serves it on a background thread, and returns the bound
/// TCP addresses. Listeners are bound before this returns, so clients may
/// connect at once.
fn spawn(config: &Config) -> Vec<SocketAddr> {
    let server = Server::bind(config).unwrap_or_else(|e| panic!("cannot start server: {e}"));
    let addrs = server.tcp_addrs();
    std::thread::spawn(move || server.run());
    addrs
}

/// A unique Unix socket path under the temporary directory, removed when
/// dropped.
pub struct SocketPath(PathBuf);

impl SocketPath {
    /// A path no one has used: the process id and a counter keep parallel
    /// tests and concurrent test runs apart.
    pub fn new() -> SocketPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("blink-test-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl std::ops::Deref for SocketPath {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A connected stream of either kind.
pub trait Wire: Read + Write {
    fn shutdown_write(&self) -> io::Result<()>;
}

impl Wire for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl Wire for UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// A client connection. Reads go through one buffer; writes go straight to
/// the socket, so every `send` is one write.
pub struct Client<S: Wire> {
    reader: BufReader<S>,
}

impl Client<TcpStream> {
    #[track_caller]
    pub fn tcp(addr: SocketAddr) -> Self {
        let stream =
            TcpStream::connect(addr).unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        Client::new(stream)
    }
}

impl Client<UnixStream> {
    #[track_caller]
    pub fn unix(path: &Path) -> Self {
        let stream = UnixStream::connect(path)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", path.display()));
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        Client::new(stream)
    }
}

impl<S: Wire> Client<S> {
    fn new(stream: S) -> Self {
        Client {
            reader: BufReader::new(stream),
        }
    }

    pub fn stream(&self) -> &S {
        self.reader.get_ref()
    }

    /// Writes `bytes` in one call.
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        let stream = self.reader.get_mut();
        stream
            .write_all(bytes)
            .and_then(|()| stream.flush())
            .unwrap_or_else(|e| panic!("cannot send {}: {e}", show(bytes)));
    }

    /// Reads one reply line, its `\n` included. Panics if none arrives.
    #[track_caller]
    pub fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(_) if line.ends_with(b"\n") => line,
            Ok(_) => panic!("connection closed after {}", show(&line)),
            Err(e) => panic!("no reply line ({e}) after {}", show(&line)),
        }
    }

    /// Sends `request` and reads one reply line.
    #[track_caller]
    pub fn ask(&mut self, request: &[u8]) -> Vec<u8> {
        self.send(request);
        self.line()
    }

    /// Sends `request` and reads up to one reply line, returning I/O errors
    /// instead of failing: for probes that may meet a refused connection.
    pub fn try_ask(&mut self, request: &[u8]) -> io::Result<Vec<u8>> {
        let stream = self.reader.get_mut();
        stream.write_all(request)?;
        stream.flush()?;
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        Ok(line)
    }

    /// Reads up to `n` bytes: fewer only if the connection closes or the
    /// read times out, which the caller's comparison then reports.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let mut got = Vec::with_capacity(n);
        // On a timeout the bytes read so far are kept in `got`.
        let _ = (&mut self.reader).take(n as u64).read_to_end(&mut got);
        got
    }

    /// Sends `request` and asserts the next bytes received are `reply`.
    #[track_caller]
    pub fn expect(&mut self, request: &[u8], reply: &[u8]) {
        self.send(request);
        let got = self.take(reply.len());
        same(&got, reply, &format!("reply to {}", show(request)));
    }

    /// Runs every step in order on this connection.
    #[track_caller]
    pub fn transcript(&mut self, steps: &[Step<'_>]) {
        for (request, reply) in steps {
            self.expect(request, reply);
        }
    }

    /// The current `USAGE`, in bytes.
    #[track_caller]
    pub fn usage(&mut self) -> u64 {
        let line = self.ask(b"USAGE\n");
        let text = String::from_utf8_lossy(&line);
        text.strip_prefix("USAGE ")
            .and_then(|n| n.strip_suffix('\n'))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("USAGE answered {}", show(&line)))
    }

    /// Sends `STATS` and returns its counters in order. Panics unless every
    /// line before `END` is `STAT <name> <number>`.
    #[track_caller]
    pub fn stats(&mut self) -> Vec<(String, u64)> {
        /// More lines than any STATS reply has: a reply that never ends
        /// fails here rather than at the read timeout.
        const MOST: usize = 100;
        self.send(b"STATS\n");
        let mut stats = Vec::new();
        for _ in 0..MOST {
            let line = self.line();
            if line == b"END\n" {
                return stats;
            }
            let text = String::from_utf8_lossy(&line);
            let stat = text
                .strip_prefix("STAT ")
                .and_then(|rest| rest.strip_suffix('\n'))
                .and_then(|rest| rest.split_once(' '))
                .and_then(|(name, value)| Some((name.to_string(), value.parse().ok()?)));
            stats.push(stat.unwrap_or_else(|| panic!("STATS answered {}", show(&line))));
        }
        panic!("STATS sent over {MOST} lines without END: {stats:?}");
    }

    /// One counter of `STATS`.
    #[track_caller]
    pub fn stat(&mut self, name: &str) -> u64 {
        let stats = self.stats();
        stats
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| *value)
            .unwrap_or_else(|| panic!("STATS has no {name}: {stats:?}"))
    }

    /// Asks `STATS` until counter `name` is `expected`, for at most
    /// [`TIMEOUT`]: counters may change just after the event they count.
    #[track_caller]
    pub fn await_stat(&mut self, name: &str, expected: u64) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let got = self.stat(name);
            if got == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "STAT {name} stayed {got}, expected {expected}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends `request` until its one-line reply is `expected`, for at most
    /// [`TIMEOUT`]: for state a background thread changes, such as USAGE
    /// after active expiry.
    #[track_caller]
    pub fn await_reply(&mut self, request: &[u8], expected: &[u8]) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let got = self.ask(request);
            if got == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} kept answering {}, expected {}",
                show(request),
                show(&got),
                show(expected)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Reads until the server closes the connection and returns what came.
    /// Panics if the connection stays open.
    #[track_caller]
    pub fn rest(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest,
            Err(e) => panic!("connection not closed ({e}) after {}", show(&rest)),
        }
    }

    /// Closes the write side, as a client that is done, and returns every
    /// byte the server sends before it closes.
    #[track_caller]
    pub fn finish(mut self) -> Vec<u8> {
        self.stream()
            .shutdown_write()
            .expect("cannot shut down the write side");
        self.rest()
    }
}

impl Client<TcpStream> {
    /// Asserts the server neither sends a byte nor closes the connection
    /// for `quiet`: a bounded wait for something that must not happen.
    #[track_caller]
    pub fn expect_silence(&mut self, quiet: Duration) {
        self.stream().set_read_timeout(Some(quiet)).unwrap();
        let mut byte = [0u8; 1];
        let result = self.reader.read(&mut byte);
        self.stream().set_read_timeout(Some(TIMEOUT)).unwrap();
        match result {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Ok(0) => panic!("the server closed the connection within {quiet:?}"),
            Ok(_) => panic!("the server sent {} within {quiet:?}", show(&byte)),
            Err(e) => panic!("the connection failed within {quiet:?}: {e}"),
        }
    }
}

/// Runs `steps` on a new TCP connection to `addr`, then checks the server
/// sends nothing more before closing.
#[track_caller]
pub fn check(addr: SocketAddr, steps: &[Step<'_>]) {
    let mut client = Client::tcp(addr);
    client.transcript(steps);
    same(&client.finish(), b"", "bytes after the last reply");
}

/// As [`check`], over a Unix socket.
#[track_caller]
pub fn check_unix(path: &Path, steps: &[Step<'_>]) {
    let mut client = Client::unix(path);
    client.transcript(steps);
    same(&client.finish(), b"", "bytes after the last reply");
}

/// The `GET` reply for a stored `value`.
pub fn value_reply(value: &[u8]) -> Vec<u8> {
    format!("VALUE {}\n", STANDARD.encode(value)).into_bytes()
}

/// Asserts `got` is exactly `expected`, showing both readably if not.
#[track_caller]
pub fn same(got: &[u8], expected: &[u8], what: &str) {
    assert!(
        got == expected,
        "{what}:\n  expected {}\n       got {}",
        show(expected),
        show(got)
    );
}

/// Bytes as readable text: printable ASCII as is, the rest escaped. Long
/// runs are shortened so a failure message stays legible.
pub fn show(bytes: &[u8]) -> String {
    const HEAD: usize = 200;
    let escape = |b: &[u8]| -> String { b.escape_ascii().to_string() };
    if bytes.len() <= 2 * HEAD {
        escape(bytes)
    } else {
        format!(
            "{}...({} bytes)...{}",
            escape(&bytes[..HEAD]),
            bytes.len() - 2 * HEAD,
            escape(&bytes[bytes.len() - HEAD..])
        )
    }
}

/// Calls `attempt` until it returns `Some`, for at most [`TIMEOUT`]. For
/// state the server changes just after the client acts (a worker freed when
/// the server sees a close), so no fixed sleep is needed.
#[track_caller]
pub fn eventually<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(found) = attempt() {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Checks that the server sent nothing more and closed the connection
/// cleanly once the client finished.
#[track_caller]
pub fn done<S: Wire>(client: Client<S>) {
    same(&client.finish(), b"", "bytes after the last reply");
}

/// A field of a flat JSON object, as written.
pub fn field<'a>(json: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":");
    let at = json
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {json}"))
        + key.len();
    json[at..].split([',', '}']).next().unwrap()
}

/// Asserts the permission bits of the file at `path`.
#[track_caller]
pub fn assert_mode(path: &Path, expected: u32) {
    let mode = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("no socket file at {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode,
        expected,
        "mode {mode:o} of {}, expected {expected:o}",
        path.display()
    );
}

/// A connection to `addr` that is served, not refused: waits, with a
/// deadline, for a worker to come free.
pub fn served(addr: SocketAddr) -> Client<TcpStream> {
    eventually("a new client to be served", || {
        let mut client = Client::tcp(addr);
        let reply = client.try_ask(b"PING\n").ok()?;
        (reply == b"PONG\n").then_some(client)
    })
}

/// SplitMix64: a small seeded generator, so that a random trace repeats.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (close to: the modulo bias is negligible for a
    /// small `n`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
