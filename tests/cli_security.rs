//! The `blink-store` binary's security flags: the password from a file or
//! from `BLINK_PASSWORD`, never logged; the refusal to listen beyond
//! loopback without one; the timeout flags; and the Unix socket mode.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::binary::{run, Running, TempFile};
use common::{assert_mode, check, check_unix, same, Client, SocketPath};

/// How long a server that must refuse to start may take to exit.
const FAIL_FAST: Duration = Duration::from_secs(1);

/// The flags this file is about, all of which `serve --help` must list.
const SECURITY_FLAGS: &[&str] = &[
    "--password-file",
    "--allow-unauthenticated",
    "--timeout",
    "--request-timeout",
    "--write-timeout",
    "--unix-perm",
];

/// The reply to any command but AUTH, PASS, QUIT and PING before AUTH.
const NOAUTH: &[u8] = b"ERROR NOAUTH Authentication required\n";

/// The reply to a wrong password.
const WRONGPASS: &[u8] = b"ERROR WRONGPASS invalid password\n";

/// Asserts `serve` with `args` exits unsuccessfully within [`FAIL_FAST`]
/// and returns its stderr.
#[track_caller]
fn assert_refused(args: &[&str]) -> String {
    let finished = Running::spawn(args).finish_within(FAIL_FAST);
    let stderr = finished.stderr();
    assert!(!finished.status.success(), "{args:?} exited successfully");
    assert!(!stderr.trim().is_empty(), "{args:?} said nothing on stderr");
    stderr
}

/// `serve --help` names every security and timeout flag.
#[test]
fn serve_help_lists_the_security_flags() {
    let finished = run(&["serve", "--help"]);
    assert!(finished.status.success(), "status {}", finished.status);
    let help = finished.stdout();
    let missing: Vec<_> = SECURITY_FLAGS
        .iter()
        .filter(|f| !help.contains(*f))
        .collect();
    assert!(
        missing.is_empty(),
        "serve --help lacks {missing:?}:\n{help}"
    );
}

/// `--password-file` makes the first line of the file the password, its newline excluded.
#[test]
fn password_file_protects_the_server() {
    let file = TempFile::with(b"file pass 1\nsecond line is not part of it\n");
    let mut server = Running::spawn(&[
        "serve",
        "--tcp",
        "127.0.0.1:0",
        "--password-file",
        file.arg(),
    ]);
    let addr = server.tcp_addr();
    check(
        addr,
        &[
            (b"GET k\n", NOAUTH),
            (b"AUTH second line is not part of it\n", WRONGPASS),
            (b"AUTH file pass 1\n", b"OK\n"),
            (b"SET k v\n", b"OK\n"),
        ],
    );
    check(addr, &[(b"GET k\n", NOAUTH)]);
}

/// A password file with CRLF line endings gives the password without the `\r`.
#[test]
fn password_file_with_crlf_ending() {
    let file = TempFile::with(b"crlf-pass\r\n");
    let mut server = Running::spawn(&[
        "serve",
        "--tcp",
        "127.0.0.1:0",
        "--password-file",
        file.arg(),
    ]);
    check(
        server.tcp_addr(),
        &[(b"PING\n", b"PONG\n"), (b"AUTH crlf-pass\n", b"OK\n")],
    );
}

/// `BLINK_PASSWORD` sets the password when no file is given.
#[test]
fn password_from_the_environment() {
    let mut server = Running::spawn_with_env(
        &["serve", "--tcp", "127.0.0.1:0"],
        &[("BLINK_PASSWORD", "env pass")],
    );
    let addr = server.tcp_addr();
    check(
        addr,
        &[
            (b"USAGE\n", NOAUTH),
            (b"AUTH env\n", WRONGPASS),
            (b"AUTH env pass\n", b"OK\n"),
            (b"USAGE\n", b"USAGE 0\n"),
        ],
    );
}

/// There is no `--password` flag: a password on the command line is refused.
#[test]
fn password_flag_is_refused() {
    assert_refused(&["serve", "--tcp", "127.0.0.1:0", "--password", "x"]);
}

/// A missing password file stops the server with one clear line on stderr.
#[test]
fn missing_password_file_is_refused_with_one_line() {
    let missing = TempFile::path();
    let stderr = assert_refused(&[
        "serve",
        "--tcp",
        "127.0.0.1:0",
        "--password-file",
        missing.arg(),
    ]);
    assert_eq!(stderr.lines().count(), 1, "stderr:\n{stderr}");
    assert!(
        stderr.contains(missing.arg()) || stderr.to_lowercase().contains("password"),
        "stderr names neither the file nor the password: {stderr}"
    );
}

/// The password never reaches the log, even at trace level, from a file or the environment.
#[test]
fn password_is_never_logged() {
    const FROM_FILE: &str = "Zq7-file-secret-41";
    const FROM_ENV: &str = "Zq7-env-secret-42";
    let file = TempFile::with(format!("{FROM_FILE}\n").as_bytes());
    let runs = [
        Running::spawn(&[
            "serve",
            "--tcp",
            "127.0.0.1:0",
            "--log-level",
            "trace",
            "--password-file",
            file.arg(),
        ]),
        Running::spawn_with_env(
            &["serve", "--tcp", "127.0.0.1:0", "--log-level", "trace"],
            &[("BLINK_PASSWORD", FROM_ENV)],
        ),
    ];
    for (mut server, password) in runs.into_iter().zip([FROM_FILE, FROM_ENV]) {
        let addr = server.tcp_addr();
        check(
            addr,
            &[
                (b"GET k\n", NOAUTH),
                (b"AUTH wrong-guess\n", WRONGPASS),
                (format!("AUTH {password}\n").as_bytes(), b"OK\n"),
                (b"SET k v\n", b"OK\n"),
                (b"GET k\n", b"VALUE dg==\n"),
            ],
        );
        check(addr, &[(format!("PASS {password}\n").as_bytes(), b"OK\n")]);
        let log = String::from_utf8_lossy(&server.kill()).into_owned();
        assert!(log.contains("listening on"), "no start-up line in:\n{log}");
        assert!(
            !log.contains(password),
            "the password {password:?} is in the log:\n{log}"
        );
    }
}

/// Listening beyond loopback without a password is refused, naming both ways out.
#[test]
fn non_loopback_without_password_is_refused() {
    let stderr = assert_refused(&["serve", "--tcp", "0.0.0.0:0"]);
    assert!(
        stderr.contains("--password-file"),
        "stderr lacks --password-file: {stderr}"
    );
    assert!(
        stderr.contains("--allow-unauthenticated"),
        "stderr lacks --allow-unauthenticated: {stderr}"
    );
}

/// `--allow-unauthenticated` lets the server listen beyond loopback with no password.
#[test]
fn non_loopback_with_allow_unauthenticated_starts() {
    let mut server = Running::spawn(&["serve", "--tcp", "0.0.0.0:0", "--allow-unauthenticated"]);
    let logged = server.logged_tcp_addr();
    assert!(
        logged.ip().is_unspecified(),
        "listening on {logged}, not 0.0.0.0"
    );
    let mut local = logged;
    local.set_ip(Ipv4Addr::LOCALHOST.into());
    check(
        local,
        &[(b"SET k v\n", b"OK\n"), (b"GET k\n", b"VALUE dg==\n")],
    );
}

/// A password from `BLINK_PASSWORD` lets the server listen beyond loopback.
#[test]
fn non_loopback_with_env_password_starts() {
    let mut server = Running::spawn_with_env(
        &["serve", "--tcp", "0.0.0.0:0"],
        &[("BLINK_PASSWORD", "wide open not")],
    );
    check(
        server.tcp_addr(),
        &[
            (b"PING\n", b"PONG\n"),
            (b"GET k\n", NOAUTH),
            (b"AUTH wide open not\n", b"OK\n"),
            (b"GET k\n", b"NOT_FOUND\n"),
        ],
    );
}

/// A password file lets the server listen beyond loopback.
#[test]
fn non_loopback_with_password_file_starts() {
    let file = TempFile::with(b"pw-file\n");
    let mut server =
        Running::spawn(&["serve", "--tcp", "0.0.0.0:0", "--password-file", file.arg()]);
    check(
        server.tcp_addr(),
        &[(b"GET k\n", NOAUTH), (b"AUTH pw-file\n", b"OK\n")],
    );
}

/// The Unix socket is 0700 by default; `--unix-perm` sets its mode, with or without a leading 0.
#[test]
fn unix_perm_flag_sets_the_socket_mode() {
    for (flag, mode) in [(None, 0o700), (Some("0660"), 0o660), (Some("640"), 0o640)] {
        let path = SocketPath::new();
        let mut args = vec!["serve", "--unix", path.to_str().unwrap()];
        args.extend(flag.iter().flat_map(|perm| ["--unix-perm", *perm]));
        let mut server = Running::spawn(&args);
        server.wait_for("listening on");
        assert_mode(&path, mode);
        check_unix(&path, &[(b"PING\n", b"PONG\n")]);
    }
}

/// `--unix-perm` that is not an octal mode is refused.
#[test]
fn unix_perm_must_be_octal() {
    for perm in ["999", "rwx", "0o"] {
        let path = SocketPath::new();
        assert_refused(&[
            "serve",
            "--unix",
            path.to_str().unwrap(),
            "--unix-perm",
            perm,
        ]);
    }
}

/// `--timeout 0` (never) is accepted and the server serves.
#[test]
fn timeout_zero_is_accepted() {
    let mut server = Running::spawn(&["serve", "--tcp", "127.0.0.1:0", "--timeout", "0"]);
    check(server.tcp_addr(), &[(b"PING\n", b"PONG\n")]);
}

/// Timeouts that are not numbers are refused.
#[test]
fn non_numeric_timeouts_are_refused() {
    for flag in ["--timeout", "--request-timeout", "--write-timeout"] {
        assert_refused(&["serve", "--tcp", "127.0.0.1:0", flag, "abc"]);
    }
}

/// `--timeout 1` closes a silent connection after about a second.
#[test]
fn timeout_flag_closes_idle_connections() {
    let mut server = Running::spawn(&["serve", "--tcp", "127.0.0.1:0", "--timeout", "1"]);
    let mut client = Client::tcp(server.tcp_addr());
    client.expect(b"PING\n", b"PONG\n");
    let answered = Instant::now();
    same(&client.rest(), b"", "bytes before the close");
    let waited = answered.elapsed();
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(3)).contains(&waited),
        "closed after {waited:?} with --timeout 1"
    );
    assert!(server.is_running(), "the server exited:\n{}", server.seen());
}
