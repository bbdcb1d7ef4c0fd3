//! Hardening at the wire, for servers started in this process: APPEND held
//! to `--max-value-size`, a client that stops reading cut off within about
//! one write timeout, the exact RESP limits before and after authentication
//! (and the error reply, not a reset, when they are hit), a growing delay
//! on each wrong password, and the cap on client names.
//!
//! Timing is asserted strictly from below, where the server must have
//! waited, and generously from above, where only the old behaviour is slow
//! enough to fail.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use blink_store::auth::Password;
use blink_store::config::Config;
use common::resp::{bulk, cmd, int, req};
use common::{config, eventually, same, served, show, start, value_reply, Client};

/// The password of the locked test servers.
const SECRET: &str = "pw";

/// The text reply to a wrong password.
const WRONGPASS: &[u8] = b"ERROR WRONGPASS invalid password\n";

/// The RESP reply to a wrong password, as Redis words it.
const RESP_WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";

/// The RESP reply to a value over `--max-value-size`, as Redis words it.
const RESP_TOO_LARGE: &[u8] = b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";

/// The line a connection gets when every worker is busy.
const REFUSAL: &[u8] = b"ERROR max number of clients reached\n";

/// Longest bulk string an unauthenticated client may send.
const PRE_AUTH_BULK: usize = 16_384;

/// The test configuration with [`SECRET`] required.
fn locked() -> Config {
    Config {
        password: Some(Password::new(SECRET)),
        ..config()
    }
}

/// `n` copies of `byte`.
fn bytes(byte: u8, n: usize) -> Vec<u8> {
    vec![byte; n]
}

/// The text request `words`, a space, `n` copies of `byte` and a newline.
fn text_line(words: &str, byte: u8, n: usize) -> Vec<u8> {
    let mut line = format!("{words} ").into_bytes();
    line.extend(bytes(byte, n));
    line.push(b'\n');
    line
}

/// Asserts the next bytes on `client` are exactly `reply`, then that the
/// server closes the connection with an orderly end of file: not a reset,
/// which could destroy the reply before the client reads it.
#[track_caller]
fn expect_eof(client: &mut Client<TcpStream>, reply: &[u8]) {
    let got = client.take(reply.len());
    same(&got, reply, "reply before the close");
    same(
        &client.rest(),
        b"",
        "bytes after the reply before the close",
    );
}

// ---------------------------------------------------------------- APPEND

/// A text APPEND may grow a value to exactly `--max-value-size`, and not one byte past it.
#[test]
fn text_append_stops_at_max_value_size() {
    let addr = start(Config {
        max_value_size: 1024,
        ..config()
    });
    let mut client = Client::tcp(addr);
    client.expect(&text_line("SET k", b'x', 1000), b"OK\n");
    client.expect(&text_line("APPEND k", b'y', 24), b"APPEND 1024\n");
    client.expect(b"APPEND k z\n", b"ERROR value too large\n");
    client.expect(b"STRLEN k\n", b"STRLEN 1024\n");
    let mut whole = bytes(b'x', 1000);
    whole.extend(bytes(b'y', 24));
    client.expect(b"GET k\n", &value_reply(&whole));
    // A missing key may be created at exactly the cap, not past it.
    client.expect(&text_line("APPEND new", b'n', 1024), b"APPEND 1024\n");
    client.expect(
        &text_line("APPEND other", b'n', 1025),
        b"ERROR value too large\n",
    );
    client.expect(b"EXISTS other\n", b"EXISTS 0\n");
}

/// A RESP APPEND may grow a value to exactly `--max-value-size`; one byte more is Redis's size error and changes nothing.
#[test]
fn resp_append_stops_at_max_value_size() {
    let addr = start(Config {
        max_value_size: 1024,
        ..config()
    });
    let mut client = Client::tcp(addr);
    client.expect(&cmd(&[b"SET", b"r", &bytes(b'a', 1000)]), b"+OK\r\n");
    client.expect(&cmd(&[b"APPEND", b"r", &bytes(b'b', 24)]), &int(1024));
    client.expect(&cmd(&[b"APPEND", b"r", b"c"]), RESP_TOO_LARGE);
    client.expect(&req("STRLEN r"), &int(1024));
    let mut whole = bytes(b'a', 1000);
    whole.extend(bytes(b'b', 24));
    client.expect(&req("GET r"), &bulk(&whole));
    // A missing key may be created at exactly the cap, not past it.
    client.expect(&cmd(&[b"APPEND", b"new", &bytes(b'n', 1024)]), &int(1024));
    // An argument over the cap is refused before APPEND runs, with the
    // error every write gives it.
    let refused = client.ask(&cmd(&[b"APPEND", b"other", &bytes(b'n', 1025)]));
    assert!(refused.starts_with(b"-"), "got {}", show(&refused));
    client.expect(&req("EXISTS other"), &int(0));
    client.expect(&req("STRLEN new"), &int(1024));
}

// ------------------------------------------------------- write timeout

/// What a client that stops reading pipelines: `GET big` many times, far
/// more reply bytes than any socket buffer holds.
const UNREAD_GETS: usize = 200;

/// Size of the value the unread replies carry.
const BIG: usize = 512 << 10;

/// Starts a one-worker server with a 1 s write timeout holding `big`, has
/// a client pipeline `request` [`UNREAD_GETS`] times and never read, and
/// returns how long after its send a new client was first served, and
/// that client.
fn freed_after_unread_replies(request: &[u8]) -> (Duration, Client<TcpStream>) {
    let addr = start(Config {
        threads: 1,
        write_timeout: Duration::from_secs(1),
        ..config()
    });
    let mut helper = served(addr);
    helper.expect(&cmd(&[b"SET", b"big", &bytes(b'v', BIG)]), b"+OK\r\n");
    drop(helper);
    let mut stalled = served(addr);
    let mut requests = Vec::new();
    for _ in 0..UNREAD_GETS {
        requests.extend_from_slice(request);
    }
    stalled.send(&requests);
    let sent = Instant::now();
    let probe = eventually("a probe to be served after the write timeout", || {
        thread::sleep(Duration::from_millis(50));
        let mut probe = Client::tcp(addr);
        match probe.try_ask(b"PING\n") {
            Ok(reply) if reply == b"PONG\n" => Some(probe),
            Ok(reply) if reply == REFUSAL => None,
            Ok(reply) => panic!("a probe got {}", show(&reply)),
            Err(_) => None,
        }
    });
    let freed = sent.elapsed();
    drop(stalled);
    (freed, probe)
}

/// Asserts a worker held by a client that stopped reading came free about one write timeout (1 s) later.
#[track_caller]
fn assert_freed_in_one_write_timeout(freed: Duration, probe: &mut Client<TcpStream>) {
    assert!(
        freed >= Duration::from_millis(800),
        "the worker was free {freed:?} after the unread requests: it was never held"
    );
    assert!(
        freed < Duration::from_secs(2),
        "the worker was held {freed:?} by a client that stopped reading; the write timeout is 1 s"
    );
    probe.await_stat("timeouts_write", 1);
}

/// A text client that stops reading its replies frees its worker within about one write timeout.
#[test]
fn text_client_that_stops_reading_is_cut_off_after_one_write_timeout() {
    let (freed, mut probe) = freed_after_unread_replies(b"GET big\n");
    assert_freed_in_one_write_timeout(freed, &mut probe);
}

/// A RESP client that stops reading its replies frees its worker within about one write timeout.
#[test]
fn resp_client_that_stops_reading_is_cut_off_after_one_write_timeout() {
    let (freed, mut probe) = freed_after_unread_replies(&req("GET big"));
    assert_freed_in_one_write_timeout(freed, &mut probe);
}

// ---------------------------------------------------- RESP before AUTH

/// `AUTH` with a RESP password argument of `n` bytes, on a new connection.
fn auth_of_length(addr: SocketAddr, n: usize) -> Client<TcpStream> {
    let mut client = Client::tcp(addr);
    client.send(&cmd(&[b"AUTH", &bytes(b'p', n)]));
    client
}

/// Before AUTH a bulk string of up to 16,384 bytes is framed and the wrong password refused; 16,385 is a protocol error and a close.
#[test]
fn pre_auth_bulk_limit_is_exactly_16_kib() {
    let addr = start(locked());
    for n in [PRE_AUTH_BULK - 1, PRE_AUTH_BULK] {
        let mut client = auth_of_length(addr, n);
        let got = client.take(RESP_WRONGPASS.len());
        same(&got, RESP_WRONGPASS, &format!("AUTH with {n} bytes"));
        client.expect(&req("AUTH pw"), b"+OK\r\n");
    }
    let mut client = auth_of_length(addr, PRE_AUTH_BULK + 1);
    client.expect_close(b"-ERR Protocol error: unauthenticated bulk length\r\n");
}

/// Before AUTH a request of 10 arguments is framed and answered; 11 is a protocol error and a close.
#[test]
fn pre_auth_argument_limit_is_exactly_ten() {
    let addr = start(locked());
    let mut client = Client::tcp(addr);
    client.expect(&req("AUTH a b c d e f g h i"), b"-ERR syntax error\r\n");
    client.expect(&req("AUTH pw"), b"+OK\r\n");
    let mut client = Client::tcp(addr);
    client.send(&req("AUTH a b c d e f g h i j"));
    client.expect_close(b"-ERR Protocol error: unauthenticated multibulk length\r\n");
}

// ----------------------------------------------------- RESP after AUTH

/// With the default limits an MSET of five values of 900,000 bytes each is one request, not a protocol error.
#[test]
fn mset_of_several_large_values_is_accepted() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    let values: Vec<Vec<u8>> = (0..5u8).map(|i| bytes(b'a' + i, 900_000)).collect();
    let keys: Vec<Vec<u8>> = (0..5).map(|i| format!("k{i}").into_bytes()).collect();
    let mut args: Vec<&[u8]> = vec![b"MSET"];
    for (key, value) in keys.iter().zip(&values) {
        args.push(key);
        args.push(value);
    }
    same(&client.ask(&cmd(&args)), b"+OK\r\n", "reply to the MSET");
    client.expect(&req("GET k3"), &bulk(&values[3]));
    client.expect(&req("DBSIZE"), &int(5));
}

/// A bulk over `--max-value-size` whose payload the client already sent gets Redis's error and an orderly close, never a reset.
#[test]
fn oversized_bulk_sent_whole_gets_the_error_not_a_reset() {
    let addr = start(config());
    for _ in 0..5 {
        let mut client = Client::tcp(addr);
        let mut writer = client.stream().try_clone().unwrap();
        let sending = thread::spawn(move || {
            let mut request = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n".to_vec();
            request.extend(bytes(b'v', 2_000_000));
            request.extend_from_slice(b"\r\n");
            // The server may stop reading; that is for the reader to judge.
            let _ = writer.write_all(&request);
        });
        expect_eof(&mut client, b"-ERR Protocol error: invalid bulk length\r\n");
        sending.join().unwrap();
    }
    Client::tcp(addr).expect(&req("EXISTS k"), &int(0));
}

/// An array header line that never ends is Redis's `too big mbulk count string` and a close, not a text error.
#[test]
fn endless_array_header_is_a_resp_protocol_error() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    let mut request = b"*".to_vec();
    request.extend(bytes(b'1', 100_000));
    send_from_thread(&client, request);
    client.expect_close(b"-ERR Protocol error: too big mbulk count string\r\n");
}

/// A bulk header line that never ends is Redis's `too big bulk count string` and a close.
#[test]
fn endless_bulk_header_is_a_resp_protocol_error() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    let mut request = b"*1\r\n$".to_vec();
    request.extend(bytes(b'1', 100_000));
    send_from_thread(&client, request);
    client.expect_close(b"-ERR Protocol error: too big bulk count string\r\n");
}

/// Writes `bytes` to `client`'s socket on a thread, ignoring errors: the
/// server may close before it has read them all.
fn send_from_thread(client: &Client<TcpStream>, bytes: Vec<u8>) {
    let mut writer = client.stream().try_clone().unwrap();
    thread::spawn(move || {
        let _ = writer.write_all(&bytes);
    });
}

// ------------------------------------------------------ password delay

/// Least total delay of the first four failed AUTHs on one connection
/// (50 + 100 + 200 + 400 ms), less a margin for the timer's rounding.
const FOUR_FAILURES: Duration = Duration::from_millis(700);

/// Sends `pipeline` (four wrong passwords, then the right one) on a new
/// connection to a locked server, and while its replies are delayed checks
/// that another client is served at once. Then checks the replies are four
/// `wrongpass` and `ok`, that they took at least [`FOUR_FAILURES`], and
/// that STATS counted four failures.
#[track_caller]
fn assert_guesses_delayed(pipeline: &[u8], wrongpass: &[u8], ok: &[u8]) {
    let addr = start(locked());
    let mut guesser = Client::tcp(addr);
    let start = Instant::now();
    guesser.send(pipeline);
    thread::sleep(Duration::from_millis(100));
    let mut other = Client::tcp(addr);
    let asked = Instant::now();
    other.expect(b"AUTH pw\n", b"OK\n");
    other.expect(b"PING\n", b"PONG\n");
    let other_took = asked.elapsed();
    assert!(
        other_took < Duration::from_millis(200),
        "another client took {other_took:?} to be served while a guesser was delayed"
    );
    let mut expected = wrongpass.repeat(4);
    expected.extend_from_slice(ok);
    let replies = guesser.take(expected.len());
    let took = start.elapsed();
    same(
        &replies,
        &expected,
        "replies to four guesses and the password",
    );
    assert!(
        took >= FOUR_FAILURES,
        "four failed AUTHs were answered in {took:?}"
    );
    assert_eq!(other.stat("auth_failures"), 4);
}

/// Each failed text AUTH on a connection waits longer before its reply (50, 100, 200, 400 ms); other clients are not slowed.
#[test]
fn failed_text_auths_are_delayed_more_each_time() {
    assert_guesses_delayed(
        b"AUTH a\nAUTH b\nAUTH c\nAUTH d\nAUTH pw\n",
        WRONGPASS,
        b"OK\n",
    );
}

/// Each failed RESP AUTH on a connection waits longer before its reply; other clients are not slowed.
#[test]
fn failed_resp_auths_are_delayed_more_each_time() {
    let mut pipeline = Vec::new();
    for word in ["a", "b", "c", "d", "pw"] {
        pipeline.extend(req(&format!("AUTH {word}")));
    }
    assert_guesses_delayed(&pipeline, RESP_WRONGPASS, b"+OK\r\n");
}

/// The first failed AUTH on a fresh connection already costs 50 ms, in either protocol.
#[test]
fn first_failed_auth_is_delayed() {
    let addr = start(locked());
    let mut client = Client::tcp(addr);
    let asked = Instant::now();
    client.expect(b"AUTH nope\n", WRONGPASS);
    let took = asked.elapsed();
    assert!(took >= Duration::from_millis(45), "answered in {took:?}");
    let mut client = Client::tcp(addr);
    let asked = Instant::now();
    client.expect(&req("AUTH nope"), RESP_WRONGPASS);
    let took = asked.elapsed();
    assert!(took >= Duration::from_millis(45), "answered in {took:?}");
    client.expect(&req("AUTH pw"), b"+OK\r\n");
}

// --------------------------------------------------------- client names

/// Longest client name accepted, as Redis caps it.
const MAX_CLIENT_NAME: usize = 256;

/// The reply to a client name over [`MAX_CLIENT_NAME`].
const NAME_TOO_LONG: &[u8] = b"-ERR Client names cannot be longer than 256 bytes\r\n";

/// CLIENT SETNAME takes a name of up to 256 bytes; a longer one is refused and the name kept.
#[test]
fn client_setname_caps_names_at_256_bytes() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    let name = bytes(b'n', MAX_CLIENT_NAME);
    client.expect(&cmd(&[b"CLIENT", b"SETNAME", &name]), b"+OK\r\n");
    client.expect(&req("CLIENT GETNAME"), &bulk(&name));
    let long = bytes(b'm', MAX_CLIENT_NAME + 1);
    client.expect(&cmd(&[b"CLIENT", b"SETNAME", &long]), NAME_TOO_LONG);
    client.expect(&req("CLIENT GETNAME"), &bulk(&name));
}

/// HELLO's SETNAME has the same 256-byte cap as CLIENT SETNAME.
#[test]
fn hello_setname_caps_names_at_256_bytes() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    let long = bytes(b'm', MAX_CLIENT_NAME + 1);
    client.expect(&cmd(&[b"HELLO", b"3", b"SETNAME", &long]), NAME_TOO_LONG);
    client.expect(&req("CLIENT GETNAME"), b"$-1\r\n");
    client.expect(&req("PING"), b"+PONG\r\n");
}
