//! The password at the wire: NOAUTH until AUTH or PASS, per-connection
//! authentication, wrong passwords, the short line cap and the silence
//! timeout that apply before authentication, and their STATS counters.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use blink_store::auth::Password;
use blink_store::config::Config;
use common::{check, config, same, start, Client};

/// The password of the test servers.
const SECRET: &str = "secret";

/// The reply to any command but AUTH, PASS, QUIT and PING before AUTH.
const NOAUTH: &[u8] = b"ERROR NOAUTH Authentication required\n";

/// The reply to a wrong password.
const WRONGPASS: &[u8] = b"ERROR WRONGPASS invalid password\n";

/// The reply to a line over the cap before authentication.
const TOO_LONG: &[u8] = b"ERROR line too long before authentication, closing connection\n";

/// Longest line, newline not counted, a connection may send before it
/// authenticates.
const UNAUTHENTICATED_LINE: usize = 4096;

/// The test configuration with `password` required.
fn locked(password: &str) -> Config {
    Config {
        password: Some(Password::new(password)),
        ..config()
    }
}

/// A connection to `addr` that has authenticated with [`SECRET`].
fn authenticated(addr: SocketAddr) -> Client<std::net::TcpStream> {
    let mut client = Client::tcp(addr);
    client.expect(format!("AUTH {SECRET}\n").as_bytes(), b"OK\n");
    client
}

/// Before AUTH every command but AUTH, PASS, QUIT and PING is refused and does nothing.
#[test]
fn commands_need_auth_when_a_password_is_set() {
    let addr = start(locked(SECRET));
    check(
        addr,
        &[
            (b"SET k v\n", NOAUTH),
            (b"GET k\n", NOAUTH),
            (b"DELETE k\n", NOAUTH),
            (b"DEL k\n", NOAUTH),
            (b"USAGE\n", NOAUTH),
            (b"STATS\n", NOAUTH),
            (b"DBSIZE\n", NOAUTH),
            (b"FLUSHALL\n", NOAUTH),
            (b"EXISTS k\n", NOAUTH),
            (b"SETNX k v\n", NOAUTH),
            (b"SETEX k 10 v\n", NOAUTH),
            (b"TTL k\n", NOAUTH),
            (b"EXPIRE k 10\n", NOAUTH),
            (b"GETEX k\n", NOAUTH),
            (b"PING\n", b"PONG\n"),
            (b"AUTH secret\n", b"OK\n"),
            (b"GET k\n", b"NOT_FOUND\n"),
            (b"USAGE\n", b"USAGE 0\n"),
            (b"DBSIZE\n", b"DBSIZE 0\n"),
            (b"SET k v\n", b"OK\n"),
            (b"GET k\n", b"VALUE dg==\n"),
        ],
    );
}

/// A command refused before AUTH did not run: FLUSHALL and DEL leave the data alone.
#[test]
fn refused_commands_change_nothing() {
    let addr = start(locked(SECRET));
    let mut owner = authenticated(addr);
    owner.expect(b"SET k v\n", b"OK\n");
    check(
        addr,
        &[
            (b"FLUSHALL\n", NOAUTH),
            (b"DEL k\n", NOAUTH),
            (b"SET k stranger\n", NOAUTH),
        ],
    );
    owner.transcript(&[(b"GET k\n", b"VALUE dg==\n"), (b"DBSIZE\n", b"DBSIZE 1\n")]);
}

/// Authentication belongs to one connection: a second one is again refused.
#[test]
fn authentication_is_per_connection() {
    let addr = start(locked(SECRET));
    let mut first = authenticated(addr);
    first.expect(b"SET k v\n", b"OK\n");
    let mut second = Client::tcp(addr);
    second.transcript(&[(b"GET k\n", NOAUTH), (b"AUTH secret\n", b"OK\n")]);
    second.expect(b"GET k\n", b"VALUE dg==\n");
    first.expect(b"GET k\n", b"VALUE dg==\n");
    check(addr, &[(b"GET k\n", NOAUTH)]);
}

/// A wrong password is refused; the connection stays open and unauthenticated.
#[test]
fn wrong_password_leaves_the_connection_unauthenticated() {
    check(
        start(locked(SECRET)),
        &[
            (b"AUTH wrong\n", WRONGPASS),
            (b"GET k\n", NOAUTH),
            (b"AUTH Secret\n", WRONGPASS),
            (b"AUTH secretx\n", WRONGPASS),
            (b"AUTH secre\n", WRONGPASS),
            (b"PASS nope\n", WRONGPASS),
            (b"SET k v\n", NOAUTH),
            (b"AUTH secret\n", b"OK\n"),
            (b"SET k v\n", b"OK\n"),
        ],
    );
}

/// PASS is another name for AUTH.
#[test]
fn pass_authenticates_like_auth() {
    check(
        start(locked(SECRET)),
        &[
            (b"GET k\n", NOAUTH),
            (b"PASS secret\n", b"OK\n"),
            (b"GET k\n", b"NOT_FOUND\n"),
        ],
    );
}

/// AUTH and PASS are case-insensitive; the password is not.
#[test]
fn auth_command_name_is_case_insensitive() {
    let addr = start(locked(SECRET));
    check(addr, &[(b"auth secret\n", b"OK\n"), (b"PING\n", b"PONG\n")]);
    check(
        addr,
        &[(b"pass secret\n", b"OK\n"), (b"USAGE\n", b"USAGE 0\n")],
    );
    check(addr, &[(b"AUTH SECRET\n", WRONGPASS), (b"USAGE\n", NOAUTH)]);
}

/// The password is the trimmed rest of the line, so it may hold inner spaces.
#[test]
fn password_may_contain_inner_spaces() {
    let addr = start(locked("open sesame  now"));
    check(
        addr,
        &[
            (b"AUTH open sesame now\n", WRONGPASS),
            (b"AUTH open\n", WRONGPASS),
            (b"AUTH open sesame  now\n", b"OK\n"),
            (b"USAGE\n", b"USAGE 0\n"),
        ],
    );
    check(
        addr,
        &[
            (b"AUTH  \t open sesame  now \t\r\n", b"OK\n"),
            (b"USAGE\n", b"USAGE 0\n"),
        ],
    );
}

/// QUIT before AUTH closes the connection without a reply.
#[test]
fn quit_works_before_auth() {
    let mut client = Client::tcp(start(locked(SECRET)));
    client.send(b"QUIT\n");
    same(&client.rest(), b"", "after QUIT");
}

/// AUTH and PASS on a server without a password say none is configured.
#[test]
fn auth_without_a_configured_password_is_an_error() {
    check(
        start(config()),
        &[
            (b"AUTH secret\n", b"ERROR no password is configured\n"),
            (b"PASS secret\n", b"ERROR no password is configured\n"),
            (b"SET k v\n", b"OK\n"),
            (b"GET k\n", b"VALUE dg==\n"),
        ],
    );
}

/// Before AUTH a line of exactly 4096 bytes is still served.
#[test]
fn line_at_the_unauthenticated_cap_is_served() {
    let mut line = b"AUTH ".to_vec();
    line.resize(UNAUTHENTICATED_LINE, b'x');
    line.push(b'\n');
    check(
        start(locked(SECRET)),
        &[
            (&line, WRONGPASS),
            (b"AUTH secret\n", b"OK\n"),
            (b"PING\n", b"PONG\n"),
        ],
    );
}

/// Before AUTH a line past 4096 bytes is refused as soon as it passes, then the connection closes.
#[test]
fn long_line_before_auth_closes_the_connection() {
    let mut client = Client::tcp(start(locked(SECRET)));
    // No newline: the server must answer without waiting for the end.
    client.send(&vec![b'x'; UNAUTHENTICATED_LINE + 1]);
    same(&client.line(), TOO_LONG, "reply while the line is open");
    same(&client.rest(), b"", "bytes before the close");
}

/// A long AUTH line is refused the same way, without waiting for its end.
#[test]
fn long_auth_line_closes_the_connection() {
    let addr = start(locked(SECRET));
    let mut client = Client::tcp(addr);
    let mut line = b"AUTH ".to_vec();
    line.resize(UNAUTHENTICATED_LINE + 1, b'x');
    // No newline: the password is never complete, so only the cap can end it.
    client.send(&line);
    same(&client.rest(), TOO_LONG, "reply then close");
    check(addr, &[(b"AUTH secret\n", b"OK\n")]);
}

/// After AUTH, lines far longer than 4096 bytes are served.
#[test]
fn long_lines_are_served_after_auth() {
    let mut client = authenticated(start(locked(SECRET)));
    let value = vec![b'v'; 10_000];
    client.expect(&[b"SET k ", &value[..], b"\n"].concat(), b"OK\n");
    client.expect(b"USAGE\n", b"USAGE 10001\n");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// A long line pipelined right behind a correct AUTH is served: the cap ends with authentication.
#[test]
fn long_line_pipelined_after_auth_is_served() {
    let mut client = Client::tcp(start(locked(SECRET)));
    let value = vec![b'v'; 10_000];
    client.send(&[b"AUTH secret\nSET k ", &value[..], b"\nUSAGE\n"].concat());
    same(
        &client.take(b"OK\nOK\nUSAGE 10001\n".len()),
        b"OK\nOK\nUSAGE 10001\n",
        "replies to AUTH, the long SET and USAGE",
    );
    same(&client.finish(), b"", "bytes after the last reply");
}

/// An unauthenticated connection that stays silent is closed after auth_timeout, with no reply.
#[test]
fn silent_unauthenticated_connection_is_closed_after_auth_timeout() {
    let addr = start(Config {
        auth_timeout: Duration::from_millis(300),
        ..locked(SECRET)
    });
    let mut client = Client::tcp(addr);
    let connected = Instant::now();
    same(&client.rest(), b"", "bytes before the close");
    let waited = connected.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}, before the 300 ms auth timeout"
    );
    assert!(
        waited < Duration::from_secs(2),
        "closed only after {waited:?} with a 300 ms auth timeout"
    );
}

/// An unauthenticated connection that sent a command and went silent is closed too.
#[test]
fn unauthenticated_connection_silent_after_a_command_is_closed() {
    let addr = start(Config {
        auth_timeout: Duration::from_millis(300),
        ..locked(SECRET)
    });
    let mut client = Client::tcp(addr);
    client.expect(b"GET k\n", NOAUTH);
    let asked = Instant::now();
    same(&client.rest(), b"", "bytes before the close");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "closed only after {:?} with a 300 ms auth timeout",
        asked.elapsed()
    );
}

/// An authenticated connection is not closed by the auth timeout.
#[test]
fn authenticated_connection_outlives_the_auth_timeout() {
    let addr = start(Config {
        auth_timeout: Duration::from_millis(300),
        ..locked(SECRET)
    });
    let mut client = authenticated(addr);
    client.expect_silence(Duration::from_millis(700));
    client.expect(b"PING\n", b"PONG\n");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// A wrong AUTH or PASS counts in auth_failures.
#[test]
fn stats_count_auth_failures() {
    let addr = start(locked(SECRET));
    check(
        addr,
        &[
            (b"AUTH wrong\n", WRONGPASS),
            (b"PASS wrong\n", WRONGPASS),
            (b"AUTH secret\n", b"OK\n"),
        ],
    );
    check(addr, &[(b"AUTH again-wrong\n", WRONGPASS)]);
    let mut watcher = authenticated(addr);
    watcher.await_stat("auth_failures", 3);
}

/// A close for silence before AUTH counts in timeouts_auth.
#[test]
fn stats_count_auth_timeouts() {
    let addr = start(Config {
        auth_timeout: Duration::from_millis(300),
        ..locked(SECRET)
    });
    let mut silent = Client::tcp(addr);
    same(&silent.rest(), b"", "bytes before the close");
    let mut watcher = authenticated(addr);
    watcher.await_stat("timeouts_auth", 1);
    watcher.await_stat("timeouts_idle", 0);
}

/// A close for a long line before AUTH counts in kicks_unauthenticated.
#[test]
fn stats_count_unauthenticated_kicks() {
    let addr = start(locked(SECRET));
    for _ in 0..2 {
        let mut client = Client::tcp(addr);
        client.send(&vec![b'x'; UNAUTHENTICATED_LINE + 1]);
        same(&client.rest(), TOO_LONG, "reply then close");
    }
    let mut watcher = authenticated(addr);
    watcher.await_stat("kicks_unauthenticated", 2);
}

/// Before AUTH a malformed request also gets only NOAUTH, except for the
/// commands allowed then, whose own errors are shown.
#[test]
fn malformed_requests_before_auth_get_noauth() {
    let addr = start(locked(SECRET));
    check(
        addr,
        &[
            (b"GET\n", NOAUTH),
            (b"FOO bar\n", NOAUTH),
            (b"\n", NOAUTH),
            (b"EXPIRE k 0\n", NOAUTH),
            (b"AUTH\n", b"ERROR AUTH requires password\n"),
            (b"PING x\n", b"ERROR wrong number of arguments for 'PING'\n"),
            (format!("AUTH {SECRET}\n").as_bytes(), b"OK\n"),
            (b"GET\n", b"ERROR GET requires key\n"),
        ],
    );
}
