//! Hardening of the `blink-store` binary: a closed stderr never stops the
//! server, an empty or blank password and an out-of-range `--unix-perm`
//! are refused at start-up, `--max-request-size` bounds one RESP request,
//! no password or guess stays in the server's memory, and the command line
//! answers a mistake with one line that points to `--help`.

mod common;

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::binary::{run, Finished, Running, TempFile, BIN};
use common::resp::{cmd, req};
use common::{assert_mode, check_unix, eventually, same, show, Client, SocketPath, TIMEOUT};

/// How long a server that must refuse to start may take to exit.
const FAIL_FAST: Duration = Duration::from_secs(5);

/// The exit status of a command-line or configuration mistake.
const USAGE_STATUS: i32 = 2;

/// The line a connection gets when every worker is busy.
const REFUSAL: &[u8] = b"ERROR max number of clients reached\n";

/// The text reply to a wrong password.
const WRONGPASS: &[u8] = b"ERROR WRONGPASS invalid password\n";

/// A `blink-store` started without the test helpers' stderr reader, killed
/// and reaped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// Runs the binary with `args` and stderr piped, closing the read end
    /// of the pipe at once if `close_stderr`.
    fn spawn(args: &[&str], close_stderr: bool) -> Server {
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("BLINK_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
        if close_stderr {
            drop(child.stderr.take());
        }
        Server(child)
    }

    /// Panics if the process has exited.
    #[track_caller]
    fn assert_running(&mut self) {
        if let Some(status) = self.0.try_wait().expect("cannot wait for the child") {
            panic!("the server exited with {status}");
        }
    }

    /// Waits, with a deadline, until `path` accepts a connection whose
    /// `PING` is answered, and panics at once if the process exits.
    #[track_caller]
    fn await_ready(&mut self, path: &Path) {
        eventually("the server to answer on its Unix socket", || {
            self.assert_running();
            // A raw stream: connecting fails, rather than panics, until the
            // server listens.
            let mut stream = UnixStream::connect(path).ok()?;
            stream.set_read_timeout(Some(TIMEOUT)).unwrap();
            stream.write_all(b"PING\n").ok()?;
            let mut reply = [0u8; 5];
            stream.read_exact(&mut reply).ok()?;
            (&reply == b"PONG\n").then_some(())
        });
    }
}

/// A connection to `path` that is served, not refused: waits, with a
/// deadline, for a worker to come free.
fn served(path: &Path) -> Client<UnixStream> {
    eventually("a new client to be served", || {
        let mut client = Client::unix(path);
        let reply = client.try_ask(b"PING\n").ok()?;
        (reply == b"PONG\n").then_some(client)
    })
}

/// Asserts `finished` exited with status 2 and printed exactly one line
/// on stderr and nothing on stdout; returns that line.
#[track_caller]
fn one_line_usage_error(finished: &Finished, what: &str) -> String {
    let stderr = finished.stderr();
    assert_eq!(
        finished.status.code(),
        Some(USAGE_STATUS),
        "{what}: status {}; stderr:\n{stderr}",
        finished.status
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "{what}: expected one line on stderr, got:\n{stderr}"
    );
    assert!(
        finished.stdout.is_empty(),
        "{what}: printed on stdout:\n{}",
        finished.stdout()
    );
    stderr.trim_end().to_string()
}

// ------------------------------------------------------- closed stderr

/// A server on a fresh Unix socket with one worker and the password `pw`,
/// ready to serve, with its stderr pipe closed at once if `close_stderr`.
/// The password file lives as long as the server.
fn one_worker_with_password(close_stderr: bool) -> (Server, SocketPath, TempFile) {
    let path = SocketPath::new();
    let password = TempFile::with(b"pw\n");
    let mut server = Server::spawn(
        &[
            "serve",
            "--unix",
            path.to_str().unwrap(),
            "--threads",
            "1",
            "--password-file",
            password.arg(),
        ],
        close_stderr,
    );
    server.await_ready(&path);
    (server, path, password)
}

/// A server whose stderr pipe was closed before its start-up line keeps running and serves.
#[test]
fn server_started_with_stderr_closed_keeps_serving() {
    let (mut server, path, _password) = one_worker_with_password(true);
    let mut client = served(&path);
    client.expect(b"AUTH pw\n", b"OK\n");
    client.expect(b"SET k v\n", b"OK\n");
    client.expect(b"GET k\n", b"VALUE dg==\n");
    server.assert_running();
}

/// A server whose stderr closes while it runs still refuses, rejects wrong passwords and serves, logging nothing it can.
#[test]
fn server_survives_stderr_closing_while_it_runs() {
    let (mut server, path, _password) = one_worker_with_password(false);
    drop(server.0.stderr.take());
    let mut held = served(&path);
    held.expect(b"AUTH pw\n", b"OK\n");
    let mut refused = Client::unix(&path);
    same(&refused.rest(), REFUSAL, "a client over the worker limit");
    held.expect(b"AUTH nope\n", WRONGPASS);
    server.assert_running();
    held.expect(b"PING\n", b"PONG\n");
    drop(held);
    let mut fresh = served(&path);
    fresh.expect(b"AUTH pw\n", b"OK\n");
    fresh.expect(b"GET k\n", b"NOT_FOUND\n");
    server.assert_running();
}

// ---------------------------------------------------- empty passwords

/// A password file that is empty or holds only white space is refused at start-up with one line saying so.
#[test]
fn blank_password_file_is_refused() {
    for contents in [&b""[..], b"\n", b"   \n", b"\t\r\n"] {
        let file = TempFile::with(contents);
        let what = format!("--password-file holding {}", show(contents));
        let finished = Running::spawn(&[
            "serve",
            "--tcp",
            "127.0.0.1:0",
            "--password-file",
            file.arg(),
        ])
        .finish_within(FAIL_FAST);
        let line = one_line_usage_error(&finished, &what).to_lowercase();
        assert!(
            line.contains("password") && line.contains("empty"),
            "{what}: {line}"
        );
    }
}

/// An empty or blank `BLINK_PASSWORD` is refused at start-up with one line saying so.
#[test]
fn blank_password_variable_is_refused() {
    for value in ["", "   "] {
        let what = format!("BLINK_PASSWORD={value:?}");
        let finished = Running::spawn_with_env(
            &["serve", "--tcp", "127.0.0.1:0"],
            &[("BLINK_PASSWORD", value)],
        )
        .finish_within(FAIL_FAST);
        let line = one_line_usage_error(&finished, &what).to_lowercase();
        assert!(line.contains("empty"), "{what}: {line}");
    }
}

/// A password of one visible character is still accepted.
#[test]
fn short_password_is_accepted() {
    let path = SocketPath::new();
    let file = TempFile::with(b"x\n");
    let mut server = Running::spawn(&[
        "serve",
        "--unix",
        path.to_str().unwrap(),
        "--password-file",
        file.arg(),
    ]);
    server.wait_for("listening on");
    check_unix(&path, &[(b"AUTH y\n", WRONGPASS), (b"AUTH x\n", b"OK\n")]);
}

// ------------------------------------------------- --max-request-size

/// An MSET whose arguments, `MSET` included, total exactly `total` bytes,
/// with no key or value over 1000 bytes.
fn mset_of_total(total: usize) -> Vec<u8> {
    /// Length of each key, `k00000`.
    const KEY: usize = 6;
    /// Longest value, so a key and value pair is at most 1000 bytes.
    const VALUE: usize = 994;
    let mut left = total - "MSET".len();
    let mut parts: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
    let mut i = 0;
    while left > 0 {
        assert!(left >= KEY, "no room for a key in the last {left} bytes");
        let value = VALUE.min(left - KEY);
        parts.push(format!("k{i:05}").into_bytes());
        parts.push(vec![b'v'; value]);
        left -= KEY + value;
        i += 1;
    }
    let sum: usize = parts.iter().map(Vec::len).sum();
    assert_eq!(sum, total);
    let args: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    cmd(&args)
}

/// `--max-request-size` bounds the sum of one RESP request's argument lengths: up to it is served, one byte more is a protocol error and a close.
#[test]
fn max_request_size_bounds_one_resp_request_exactly() {
    let path = SocketPath::new();
    let mut server = Running::spawn(&[
        "serve",
        "--unix",
        path.to_str().unwrap(),
        "--max-value-size",
        "1000",
        "--max-request-size",
        "70000",
    ]);
    server.wait_for("listening on");
    let mut client = Client::unix(&path);
    client.expect(&mset_of_total(69_999), b"+OK\r\n");
    client.expect(&mset_of_total(70_000), b"+OK\r\n");
    same(
        client.call("GET k00000").text(),
        &[b'v'; 994],
        "a value of the MSET",
    );
    let mut client = Client::unix(&path);
    client.send(&mset_of_total(70_001));
    client.expect_close(b"-ERR Protocol error: request exceeds max-request-size\r\n");
    check_unix(&path, &[(&req("DBSIZE"), b":70\r\n")]);
}

/// `--max-request-size` below the longest line a request may need is refused at start-up.
#[test]
fn max_request_size_below_the_line_cap_is_refused() {
    let path = SocketPath::new();
    let finished = Running::spawn(&[
        "serve",
        "--unix",
        path.to_str().unwrap(),
        "--max-request-size",
        "1000",
    ])
    .finish_within(FAIL_FAST);
    let line = one_line_usage_error(&finished, "--max-request-size 1000");
    assert!(line.contains("--max-request-size"), "{line}");
}

// ---------------------------------------------------------- --unix-perm

/// `--unix-perm` with setuid, setgid or sticky bits is refused with one line naming the flag.
#[test]
fn unix_perm_beyond_0777_is_refused() {
    for perm in ["7777", "1777", "4755"] {
        let path = SocketPath::new();
        let finished = Running::spawn(&[
            "serve",
            "--unix",
            path.to_str().unwrap(),
            "--unix-perm",
            perm,
        ])
        .finish_within(FAIL_FAST);
        let line = one_line_usage_error(&finished, &format!("--unix-perm {perm}"));
        assert!(line.contains("--unix-perm"), "{line}");
    }
}

/// `--unix-perm 0777` is the widest mode accepted, and the socket gets it.
#[test]
fn unix_perm_0777_is_accepted() {
    let path = SocketPath::new();
    let mut server = Running::spawn(&[
        "serve",
        "--unix",
        path.to_str().unwrap(),
        "--unix-perm",
        "0777",
    ]);
    server.wait_for("listening on");
    assert_mode(&path, 0o777);
    check_unix(&path, &[(b"PING\n", b"PONG\n")]);
}

// ------------------------------------------------- password in memory

/// 40 characters no other process or test run will use: `pw-` and 37
/// random hex digits.
fn random_secret() -> String {
    let mut hex = String::new();
    while hex.len() < 37 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hex.push_str(&format!("{:016x}", hasher.finish()));
    }
    format!("pw-{}", &hex[..37])
}

/// Where in the writable private mappings of process `pid` any of
/// `needles` (named for the report) occurs, and whether its heap could be read at all. Pages that
/// cannot be read are skipped.
fn memory_holds(pid: u32, needles: &[(&str, &[u8])]) -> (Vec<String>, bool) {
    /// Bytes read at a time.
    const CHUNK: u64 = 1 << 20;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/maps: {e}"));
    let mut mem = File::open(format!("/proc/{pid}/mem"))
        .unwrap_or_else(|e| panic!("cannot open /proc/{pid}/mem: {e}"));
    let longest = needles.iter().map(|(_, n)| n.len()).max().unwrap_or(0) as u64;
    let mut found = Vec::new();
    let mut heap_read = false;
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"rw-p") {
            continue;
        }
        let Some((start, end)) = fields[0].split_once('-') else {
            continue;
        };
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        let mut at = start;
        while at < end {
            // Chunks overlap by a needle's length so none is missed at a seam.
            let from = at.saturating_sub(longest).max(start);
            let mut chunk = vec![0u8; (end.min(at + CHUNK) - from) as usize];
            at += CHUNK;
            if mem.seek(SeekFrom::Start(from)).is_err() || mem.read_exact(&mut chunk).is_err() {
                continue;
            }
            if fields.get(5) == Some(&"[heap]") {
                heap_read = true;
            }
            for (name, needle) in needles {
                if chunk.windows(needle.len()).any(|w| w == *needle) {
                    found.push(format!("the {name} in {line}"));
                }
            }
        }
    }
    (found, heap_read)
}

/// Neither the password read from its file nor a wrong guess stays anywhere in the server's writable memory, even while both connections are open.
#[test]
fn password_and_guesses_do_not_linger_in_memory() {
    let path = SocketPath::new();
    let password = random_secret();
    let guess = random_secret();
    let file = TempFile::with(format!("{password}\n").as_bytes());
    let mut server = Server::spawn(
        &[
            "serve",
            "--unix",
            path.to_str().unwrap(),
            "--threads",
            "4",
            "--password-file",
            file.arg(),
        ],
        false,
    );
    // Stderr is read on a thread so a full pipe never blocks the server.
    let mut stderr = server.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink);
    });
    server.await_ready(&path);
    let mut guesser = served(&path);
    guesser.expect(format!("AUTH {guess}\n").as_bytes(), WRONGPASS);
    let mut user = served(&path);
    user.expect(format!("AUTH {password}\n").as_bytes(), b"OK\n");
    let pid = server.0.id();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (found, heap_read) = memory_holds(
            pid,
            &[
                ("password", password.as_bytes()),
                ("guess", guess.as_bytes()),
            ],
        );
        assert!(heap_read, "the server's heap could not be read");
        if found.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still in the server's memory after {TIMEOUT:?}:\n{}",
            found.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    guesser.expect(b"PING\n", b"PONG\n");
    user.expect(b"GET k\n", b"NOT_FOUND\n");
    server.assert_running();
}

// --------------------------------------------------------- command line

/// An unknown flag, or flags without a subcommand, get exit status 2 and one line naming the argument and pointing to `--help`.
#[test]
fn command_line_mistakes_get_one_line_pointing_to_help() {
    for (args, named) in [
        (&["--bogus"][..], "--bogus"),
        (&["-x"][..], "-x"),
        (&["--tcp", "127.0.0.1:1"][..], "--tcp"),
    ] {
        let finished = run(args);
        let line = one_line_usage_error(&finished, &format!("{args:?}"));
        assert!(
            line.contains(named) && line.contains("--help"),
            "{args:?}: {line}"
        );
    }
}

/// With no arguments at all the binary prints its usage and exits with status 2.
#[test]
fn no_arguments_print_usage_and_exit_2() {
    let finished = run(&[]);
    assert_eq!(
        finished.status.code(),
        Some(USAGE_STATUS),
        "status {}",
        finished.status
    );
    let both = format!("{}{}", finished.stdout(), finished.stderr());
    assert!(both.contains("Usage"), "no usage in:\n{both}");
}

/// `--help` still prints the usage and succeeds.
#[test]
fn help_still_succeeds() {
    let finished = run(&["--help"]);
    assert!(finished.status.success(), "status {}", finished.status);
    assert!(finished.stdout().contains("Usage"), "{}", finished.stdout());
}

/// The start-up line gives the number of workers the server runs with, not the few it starts with.
#[test]
fn startup_line_reports_the_configured_workers() {
    for (threads, expected) in [(Some("64"), "64 workers"), (None, "512 workers")] {
        let path = SocketPath::new();
        let mut args = vec!["serve", "--unix", path.to_str().unwrap()];
        args.extend(threads.iter().flat_map(|n| ["--threads", *n]));
        let mut server = Running::spawn(&args);
        let line = server.wait_for("listening on");
        assert!(line.contains(expected), "{args:?} logged {line:?}");
    }
}
