//! `blink-store bench --proto memcache` against a real memcached on a free
//! loopback port: the JSON report counts every request and no error, a
//! prefill stores every key, and memcached's refusals are counted as
//! errors. memcached is started only if its binary is installed; without
//! it each such test passes after a loud notice on stderr (install it with
//! `apt-get install memcached`).

mod common;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::binary::{self, run, TempFile};
use common::{field, TIMEOUT};

/// How many times a memcached is started on a fresh port before giving
/// up: another process may take the port between finding it free and
/// memcached binding it.
const START_ATTEMPTS: usize = 3;

/// Longest wait for a started memcached to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(5);

/// A memcached on 127.0.0.1, killed and reaped when dropped.
struct Memcached {
    child: Child,
    addr: SocketAddr,
}

impl Memcached {
    /// Starts one, or returns `None` after a notice when memcached is not
    /// installed.
    fn start(test: &str) -> Option<Memcached> {
        let installed = Command::new("memcached")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            // Straight to the process's stderr: the test harness captures
            // eprintln! output of passing tests, and this must be seen.
            let _ = writeln!(
                io::stderr(),
                "\n!!! NOTICE: memcached is not installed; {test} is SKIPPED \
                 (apt-get install memcached) !!!\n"
            );
            return None;
        }
        for _ in 0..START_ATTEMPTS {
            let addr = free_port();
            // memcached refuses to run as root unless told which user to
            // become; as any other user it ignores -u.
            let child = Command::new("memcached")
                .args(["-l", "127.0.0.1", "-p", &addr.port().to_string()])
                .args(["-U", "0", "-m", "64", "-u", "nobody"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start memcached");
            let mut memcached = Memcached { child, addr };
            if memcached.ready() {
                return Some(memcached);
            }
        }
        panic!("memcached did not start in {START_ATTEMPTS} attempts");
    }

    /// Waits until it accepts connections; false if it exited first (its
    /// port was taken) or did not start in time.
    fn ready(&mut self) -> bool {
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if TcpStream::connect(self.addr).is_ok() {
                return true;
            }
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// A number from memcached's `stats`.
    fn stat(&self, name: &str) -> u64 {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.write_all(b"stats\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let prefix = format!("STAT {name} ");
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.strip_prefix(&prefix) {
                return value.trim_end().parse().unwrap();
            }
            assert!(
                line.starts_with("STAT "),
                "no {name} in stats; then {line:?}"
            );
        }
    }

    /// memcached's whole reply to `get key`.
    fn get(&self, key: &str) -> Vec<u8> {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream
            .write_all(format!("get {key}\r\n").as_bytes())
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut reply = Vec::new();
        while !reply.ends_with(b"END\r\n") {
            let read = reader.read_until(b'\n', &mut reply).unwrap();
            assert!(read > 0, "memcached closed after {reply:?}");
        }
        reply
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port on which nothing listens right now.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Runs `blink-store bench --proto memcache --json` against `memcached`
/// with `args`; returns the JSON line.
#[track_caller]
fn bench(memcached: &Memcached, args: &[&str]) -> String {
    let mut all = vec!["--proto", "memcache"];
    all.extend_from_slice(args);
    let json = binary::bench(memcached.addr, &all);
    assert!(json.starts_with("{\"proto\":\"memcache\","), "{json}");
    json
}

/// A pipelined mix of GETs and SETs: every request is counted and answered
/// without an error.
#[test]
fn memcache_run_reports_the_requested_count_and_no_errors() {
    let Some(memcached) =
        Memcached::start("memcache_run_reports_the_requested_count_and_no_errors")
    else {
        return;
    };
    let args = ["--clients", "4", "--requests", "2000", "--pipeline", "8"];
    let json = bench(&memcached, &args);
    assert_eq!(field(&json, "requests"), "2000", "{json}");
    assert_eq!(field(&json, "errors"), "0", "{json}");
    for name in ["seconds", "ops_per_sec", "p50_us", "p99_us"] {
        let value: f64 = field(&json, name).parse().unwrap();
        assert!(value > 0.0, "{name} in {json}");
    }
    assert!(memcached.stat("curr_items") > 0);
}

/// GETs of keys never set are misses (`END`), which are answers, not errors.
#[test]
fn memcache_misses_are_not_errors() {
    let Some(memcached) = Memcached::start("memcache_misses_are_not_errors") else {
        return;
    };
    let args = ["--clients", "2", "--requests", "500", "--ratio", "1:0"];
    let json = bench(&memcached, &args);
    assert_eq!(field(&json, "requests"), "500", "{json}");
    assert_eq!(field(&json, "errors"), "0", "{json}");
    assert_eq!(memcached.stat("get_misses"), 500);
}

/// `--prefill` stores every key of the keyspace, with values of
/// `--data-size` bytes, and the GETs that follow all hit.
#[test]
fn memcache_prefill_stores_every_key() {
    let Some(memcached) = Memcached::start("memcache_prefill_stores_every_key") else {
        return;
    };
    let args = [
        "--clients",
        "3",
        "--requests",
        "300",
        "--keyspace",
        "1000",
        "--ratio",
        "1:0",
        "--prefill",
        "--pipeline",
        "4",
    ];
    let json = bench(&memcached, &args);
    assert_eq!(field(&json, "requests"), "300", "{json}");
    assert_eq!(field(&json, "errors"), "0", "{json}");
    assert_eq!(memcached.stat("curr_items"), 1000);
    assert_eq!(memcached.stat("get_hits"), 300);
    let value = "x".repeat(32);
    assert_eq!(
        String::from_utf8(memcached.get("key:000000000999")).unwrap(),
        format!("VALUE key:000000000999 0 32\r\n{value}\r\nEND\r\n")
    );
}

/// memcached refuses a value over its item size limit (1 MB by default)
/// with `SERVER_ERROR`: each one is counted as an error and the run goes
/// on.
#[test]
fn memcache_server_errors_are_counted() {
    let Some(memcached) = Memcached::start("memcache_server_errors_are_counted") else {
        return;
    };
    let args = [
        "--clients",
        "2",
        "--requests",
        "6",
        "--ratio",
        "0:1",
        "--data-size",
        "2mb",
    ];
    let json = bench(&memcached, &args);
    assert_eq!(field(&json, "requests"), "6", "{json}");
    assert_eq!(field(&json, "errors"), "6", "{json}");
}

/// memcached's protocol has no AUTH, so a password file is refused rather
/// than silently not sent.
#[test]
fn memcache_refuses_a_password_file() {
    let password = TempFile::with(b"pw\n");
    let finished = run(&[
        "bench",
        "--proto",
        "memcache",
        "--password-file",
        password.arg(),
    ]);
    assert_eq!(finished.status.code(), Some(2));
    let stderr = finished.stderr();
    assert!(
        stderr.contains("--password-file does not apply to --proto memcache"),
        "stderr: {stderr}"
    );
}
