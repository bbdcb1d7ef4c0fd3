//! The `blink-store` binary: version and help, flag validation, bind
//! failures, Unix socket files, the zero-config default, and its log.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use common::binary::{run, Finished, Running};
use common::{check, check_unix, same, value_reply, Client, SocketPath, TIMEOUT};

/// How long a server that cannot listen may take to exit.
const FAIL_FAST: Duration = Duration::from_secs(1);

/// Every flag of `serve`.
const FLAGS: &[&str] = &[
    "--tcp",
    "--unix",
    "--memory-limit",
    "--threads",
    "--max-value-size",
    "--eviction-samples",
    "--log-level",
];

/// Asserts `serve` with `args` exits unsuccessfully within [`FAIL_FAST`]
/// after writing one stderr line saying it cannot listen.
#[track_caller]
fn assert_cannot_listen(args: &[&str]) -> Finished {
    let finished = Running::spawn(args).finish_within(FAIL_FAST);
    let stderr = finished.stderr();
    assert!(!finished.status.success(), "{args:?} exited successfully");
    assert_eq!(stderr.lines().count(), 1, "{args:?} stderr:\n{stderr}");
    assert!(
        stderr.contains("cannot listen"),
        "{args:?} stderr: {stderr}"
    );
    finished
}

/// `--version` prints the name and version and exits successfully.
#[test]
fn version_prints_name_and_version() {
    let finished = run(&["--version"]);
    assert!(finished.status.success(), "status {}", finished.status);
    same(&finished.stdout, b"blink-store 0.1.0\n", "--version");
}

/// The top-level `--help` succeeds and names every flag.
#[test]
fn help_mentions_every_flag() {
    let finished = run(&["--help"]);
    assert!(finished.status.success(), "status {}", finished.status);
    let help = String::from_utf8_lossy(&finished.stdout);
    let missing: Vec<_> = FLAGS.iter().filter(|f| !help.contains(*f)).collect();
    assert!(missing.is_empty(), "--help lacks {missing:?}:\n{help}");
}

/// `serve --help` succeeds and names every flag.
#[test]
fn serve_help_mentions_every_flag() {
    let finished = run(&["serve", "--help"]);
    assert!(finished.status.success(), "status {}", finished.status);
    let help = String::from_utf8_lossy(&finished.stdout);
    let missing: Vec<_> = FLAGS.iter().filter(|f| !help.contains(*f)).collect();
    assert!(
        missing.is_empty(),
        "serve --help lacks {missing:?}:\n{help}"
    );
}

/// A zero memory limit is refused with a message naming the flag.
#[test]
fn zero_memory_limit_is_refused() {
    let finished = run(&["serve", "--memory-limit", "0", "--tcp", "127.0.0.1:0"]);
    assert!(!finished.status.success(), "exited successfully");
    assert!(
        finished.stderr().contains("--memory-limit"),
        "stderr: {}",
        finished.stderr()
    );
}

/// A TCP port already in use makes the server exit at once, saying so.
#[test]
fn busy_tcp_port_fails_fast() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_cannot_listen(&["serve", "--tcp", &addr]);
}

/// An unparsable TCP address makes the server exit at once, saying it cannot listen.
#[test]
fn bad_tcp_address_fails_fast() {
    assert_cannot_listen(&["serve", "--tcp", "nonsense"]);
}

/// A socket path in a missing directory makes the server exit at once.
#[test]
fn unwritable_unix_path_fails_fast() {
    assert_cannot_listen(&["serve", "--unix", "/nonexistent-dir/x.sock"]);
}

/// A socket file left by a dead server is replaced and served.
#[test]
fn stale_unix_socket_is_replaced() {
    let path = SocketPath::new();
    drop(UnixListener::bind(&*path).unwrap());
    assert!(path.exists(), "the stale socket file should remain");
    let mut server = Running::spawn(&["serve", "--unix", path.to_str().unwrap()]);
    server.wait_for("listening on");
    check_unix(&path, &[(b"USAGE\n", b"USAGE 0\n")]);
}

/// A socket a live server answers on is refused, and that server keeps answering.
#[test]
fn live_unix_socket_is_refused() {
    let path = SocketPath::new();
    let mut first = Running::spawn(&["serve", "--unix", path.to_str().unwrap()]);
    first.wait_for("listening on");
    check_unix(&path, &[(b"SET owner first\n", b"OK\n")]);
    let second =
        Running::spawn(&["serve", "--unix", path.to_str().unwrap()]).finish_within(FAIL_FAST);
    assert!(
        !second.status.success(),
        "second server exited successfully"
    );
    assert!(!second.stderr.is_empty(), "second server said nothing");
    check_unix(&path, &[(b"GET owner\n", b"VALUE Zmlyc3Q=\n")]);
}

/// A regular file at the socket path is refused and left as it was.
#[test]
fn regular_file_at_unix_path_is_refused_and_untouched() {
    let path = SocketPath::new();
    std::fs::write(&*path, b"precious\n").unwrap();
    let finished =
        Running::spawn(&["serve", "--unix", path.to_str().unwrap()]).finish_within(FAIL_FAST);
    assert!(!finished.status.success(), "exited successfully");
    assert!(!finished.stderr.is_empty(), "said nothing on stderr");
    same(
        &std::fs::read(&*path).unwrap(),
        b"precious\n",
        "the file afterwards",
    );
}

/// `serve` with no flags listens on 127.0.0.1:8765.
#[test]
fn no_flags_listen_on_the_default_port() {
    match TcpListener::bind("127.0.0.1:8765") {
        Ok(probe) => drop(probe),
        Err(e) => {
            eprintln!("!!! port 8765 is taken ({e}): no_flags_listen_on_the_default_port skipped");
            return;
        }
    }
    let mut server = Running::spawn(&["serve"]);
    let addr = server.logged_tcp_addr();
    assert_eq!(addr, "127.0.0.1:8765".parse().unwrap());
    check(addr, &[(b"USAGE\n", b"USAGE 0\n")]);
}

/// The flags reach the server: memory limit, value size and worker count.
#[test]
fn serve_flags_reach_the_server() {
    let mut server = Running::spawn(&[
        "serve",
        "--tcp",
        "127.0.0.1:0",
        "--memory-limit",
        "100",
        "--threads",
        "1",
        "--max-value-size",
        "10",
        "--eviction-samples",
        "3",
        "--log-level",
        "info",
    ]);
    let addr = server.tcp_addr();
    let start = server.seen();
    assert!(
        start.contains("memory limit 100 bytes; 1 workers"),
        "start-up line: {start}"
    );
    let mut client = Client::tcp(addr);
    client.expect(b"SET k 12345678901\n", b"ERROR value too large\n");
    client.expect(b"SET k 1234567890\n", b"OK\n");
    let mut refused = Client::tcp(addr);
    same(
        &refused.rest(),
        b"ERROR max number of clients reached\n",
        "second client with one worker",
    );
    client.expect(b"USAGE\n", b"USAGE 11\n");
}

/// The log goes to stderr without colour codes when stderr is a pipe.
#[test]
fn log_has_no_ansi_escapes_on_a_pipe() {
    let mut server = Running::spawn(&[
        "serve",
        "--tcp",
        "127.0.0.1:0",
        "--threads",
        "1",
        "--log-level",
        "trace",
    ]);
    let addr = server.tcp_addr();
    let mut client = Client::tcp(addr);
    client.expect(b"USAGE\n", b"USAGE 0\n");
    // A refusal is logged as a warning: a level that a coloured logger
    // would paint.
    same(
        &Client::tcp(addr).rest(),
        b"ERROR max number of clients reached\n",
        "second client",
    );
    server.wait_for("refused a connection");
    drop(client);
    let log = server.kill();
    assert!(!log.is_empty(), "nothing logged on stderr");
    assert!(
        !log.contains(&0x1b),
        "escape byte in the log: {}",
        common::show(&log)
    );
}

/// The binary survives a client resetting mid-pipeline (no SIGPIPE death) and keeps serving.
#[test]
fn binary_survives_a_client_reset() {
    let mut server = Running::spawn(&["serve", "--tcp", "127.0.0.1:0", "--threads", "4"]);
    let addr = server.tcp_addr();
    let big = vec![b'b'; 256 << 10];
    check(addr, &[(&[b"SET big ", &big[..], b"\n"].concat(), b"OK\n")]);
    {
        let rude = TcpStream::connect(addr).unwrap();
        rude.set_write_timeout(Some(TIMEOUT)).unwrap();
        let _ = (&rude).write_all(&b"GET big\n".repeat(10_000));
        // Dropped with unread replies: the kernel resets the connection.
    }
    check(
        addr,
        &[
            (b"GET nobody\n", b"NOT_FOUND\n"),
            (b"GET big\n", &value_reply(&big)),
        ],
    );
    assert!(
        server.is_running(),
        "the server exited; stderr:\n{}",
        server.seen()
    );
}
