//! RESP framing at the wire: requests that start with `*` are RESP arrays of
//! bulk strings and get RESP replies, any other line is a text request; the
//! two alternate and pipeline on one connection. Bad framing gets Redis's
//! exact protocol error and a close; declared sizes are bounded before any
//! payload is read, and a refused payload is never run as commands.
//!
//! Every expected reply was taken from Redis 7 given the same bytes.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use blink_store::config::Config;
use common::resp::{bulk, check_resp, cmd, int, req};
use common::{check, config, same, start, value_reply, Client, TIMEOUT};

/// Redis's reply to a count after `*` that is not a number it accepts.
const BAD_COUNT: &[u8] = b"-ERR Protocol error: invalid multibulk length\r\n";

/// Redis's reply to a length after `$` that is not a number it accepts.
const BAD_LENGTH: &[u8] = b"-ERR Protocol error: invalid bulk length\r\n";

/// A server whose values are at most 1 KiB, so a declared 2 MB bulk is over
/// both the value cap and the key cap.
fn small_values() -> Config {
    Config {
        max_value_size: 1024,
        ..config()
    }
}

/// Sends `bytes` on a new connection and checks the server answers exactly
/// `reply` and then closes.
#[track_caller]
fn refused(addr: std::net::SocketAddr, bytes: &[u8], reply: &[u8]) {
    let mut client = Client::tcp(addr);
    client.send(bytes);
    client.expect_close(reply);
}

/// Text and RESP requests alternate on one connection, each answered in its own protocol.
#[test]
fn text_and_resp_requests_alternate_on_one_connection() {
    check(
        start(config()),
        &[
            (b"SET a 1\n", b"OK\n"),
            (&req("GET a"), b"$1\r\n1\r\n"),
            (b"GET a\n", b"VALUE MQ==\n"),
            (&req("SET b 2"), b"+OK\r\n"),
            (b"GET b\n", b"VALUE Mg==\n"),
            (&req("PING"), b"+PONG\r\n"),
            (b"PING\n", b"PONG\n"),
            (&req("DEL a b"), b":2\r\n"),
            (b"GET a\n", b"NOT_FOUND\n"),
            (&req("GET b"), b"$-1\r\n"),
        ],
    );
}

/// Text and RESP requests pipelined in one write are answered in order, each in its protocol.
#[test]
fn pipelined_mix_of_text_and_resp_is_answered_in_order() {
    let mut client = Client::tcp(start(config()));
    let request = [
        &b"SET a 1\n"[..],
        &req("INCR a"),
        b"GET a\n",
        &req("GET a"),
        b"PING\r\n",
        &req("ECHO hi"),
        b"DEL a\n",
        &req("EXISTS a"),
    ]
    .concat();
    client.expect(
        &request,
        b"OK\n:2\r\nVALUE Mg==\n$1\r\n2\r\nPONG\n$2\r\nhi\r\nOK\n:0\r\n",
    );
    same(&client.finish(), b"", "bytes after the last reply");
}

/// A value holding NUL, CRLF and 0xff comes back byte-identical over RESP and as its base64 over text.
#[test]
fn binary_value_round_trips_over_resp_and_text() {
    let value: &[u8] = b"a\0b\r\nc\xff*1\r\n$4\r\nPING\r\n\r\n";
    let mut client = Client::tcp(start(config()));
    client.expect(&cmd(&[b"SET", b"k", value]), b"+OK\r\n");
    client.expect(&req("GET k"), &bulk(value));
    client.expect(b"GET k\n", &value_reply(value));
    client.expect(&req("STRLEN k"), &int(value.len() as i64));
    client.expect(
        &cmd(&[b"MGET", b"k", b"none"]),
        &[&b"*2\r\n"[..], &bulk(value), b"$-1\r\n"].concat(),
    );
    same(&client.finish(), b"", "bytes after the last reply");
}

/// A key holding NUL, CRLF, a space and 0xff is a key like any other over RESP.
#[test]
fn binary_key_round_trips_over_resp() {
    let key: &[u8] = b"k \0\r\n\xff";
    let mut client = Client::tcp(start(config()));
    client.expect(&cmd(&[b"SET", key, b"v"]), b"+OK\r\n");
    client.expect(&cmd(&[b"GET", key]), b"$1\r\nv\r\n");
    client.expect(&cmd(&[b"EXISTS", key, b"k"]), b":1\r\n");
    client.expect(&req("KEYS *"), &[&b"*1\r\n"[..], &bulk(key)].concat());
    client.expect(&cmd(&[b"DEL", key]), b":1\r\n");
    client.expect(&req("DBSIZE"), b":0\r\n");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// An empty bulk value is stored: RESP reads `$0`, text reads `VALUE `.
#[test]
fn empty_value_is_stored_over_resp() {
    let mut client = Client::tcp(start(config()));
    client.expect(&cmd(&[b"SET", b"k", b""]), b"+OK\r\n");
    client.expect(&req("GET k"), b"$0\r\n\r\n");
    client.expect(b"GET k\n", b"VALUE \n");
    client.expect(&req("STRLEN k"), b":0\r\n");
    client.expect(&req("EXISTS k"), b":1\r\n");
    client.expect(&req("USAGE"), b":1\r\n");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// A count after `*` that is not a number, or over Redis's limit, gets Redis's error and a close.
#[test]
fn invalid_multibulk_length_closes_the_connection() {
    let addr = start(config());
    refused(addr, b"*abc\r\n", BAD_COUNT);
    refused(addr, b"*1x\r\n", BAD_COUNT);
    refused(addr, b"*2147483648\r\n", BAD_COUNT);
    refused(addr, b"*3000000000\r\n", BAD_COUNT);
    check_resp(addr, &[("PING", b"+PONG\r\n")]);
}

/// An element that does not start with `$` gets Redis's error naming the byte, and a close.
#[test]
fn element_without_dollar_closes_the_connection() {
    let addr = start(config());
    refused(
        addr,
        b"*1\r\nx\r\n",
        b"-ERR Protocol error: expected '$', got 'x'\r\n",
    );
    refused(
        addr,
        b"*2\r\n$3\r\nGET\r\n:1\r\n",
        b"-ERR Protocol error: expected '$', got ':'\r\n",
    );
    check_resp(addr, &[("PING", b"+PONG\r\n")]);
}

/// A length after `$` that is not a number, or is negative, gets Redis's error and a close.
#[test]
fn invalid_bulk_length_closes_the_connection() {
    let addr = start(config());
    refused(addr, b"*1\r\n$abc\r\n", BAD_LENGTH);
    refused(addr, b"*1\r\n$-1\r\n", BAD_LENGTH);
    refused(addr, b"*2\r\n$3\r\nGET\r\n$1k\r\n", BAD_LENGTH);
    check_resp(addr, &[("PING", b"+PONG\r\n")]);
}

/// Lengths with a plus sign, a leading zero or a minus zero are refused as Redis refuses them.
#[test]
fn non_canonical_lengths_are_protocol_errors() {
    let addr = start(config());
    refused(addr, b"*+1\r\n$4\r\nPING\r\n", BAD_COUNT);
    refused(addr, b"*01\r\n$4\r\nPING\r\n", BAD_COUNT);
    refused(addr, b"*1\r\n$+4\r\nPING\r\n", BAD_LENGTH);
    refused(addr, b"*1\r\n$04\r\nPING\r\n", BAD_LENGTH);
    refused(addr, b"*2\r\n$4\r\nECHO\r\n$-0\r\n", BAD_LENGTH);
    check_resp(addr, &[("PING", b"+PONG\r\n")]);
}

/// An empty line where an element belongs is refused with Redis's exact error, the CR shown as a space.
#[test]
fn empty_element_line_is_refused_in_redis_words() {
    refused(
        start(config()),
        b"*1\r\n\r\n",
        b"-ERR Protocol error: expected '$', got ' '\r\n",
    );
}

/// Requests before bad framing in the same write are answered first, then the error, then the close.
#[test]
fn requests_before_bad_framing_are_answered_first() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    client.send(
        &[
            &req("SET a 1")[..],
            &req("PING"),
            b"*abc\r\n",
            &req("SET b 2"),
        ]
        .concat(),
    );
    client.expect_close(&[&b"+OK\r\n+PONG\r\n"[..], BAD_COUNT].concat());
    check_resp(addr, &[("GET a", b"$1\r\n1\r\n"), ("GET b", b"$-1\r\n")]);
}

/// `*0` and negative counts are skipped without a reply, as Redis does.
#[test]
fn empty_and_null_arrays_are_ignored() {
    let mut client = Client::tcp(start(config()));
    client.expect(b"*0\r\n*-1\r\n*-5\r\n*1\r\n$4\r\nPING\r\n", b"+PONG\r\n");
    client.expect(b"*0\r\n", b"");
    client.expect(b"*-1\r\n", b"");
    client.expect(&req("PING"), b"+PONG\r\n");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// A declared bulk over the value cap is refused at once, before its payload arrives.
#[test]
fn bulk_over_the_cap_is_refused_before_its_payload() {
    let addr = start(small_values());
    let started = Instant::now();
    refused(
        addr,
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n",
        BAD_LENGTH,
    );
    refused(addr, b"*1\r\n$2000000\r\n", BAD_LENGTH);
    // A server waiting for the payload would answer only at its request
    // timeout (10 s); `refused` itself gives up after TIMEOUT.
    assert!(
        started.elapsed() < TIMEOUT,
        "refusals took {:?}",
        started.elapsed()
    );
    check_resp(addr, &[("GET k", b"$-1\r\n"), ("DBSIZE", b":0\r\n")]);
}

/// The payload of a refused bulk is never parsed: commands hidden in it do not run.
#[test]
fn refused_payload_is_never_run_as_commands() {
    let addr = start(small_values());
    let hidden = [
        &b"\r\nSET pwned 1\r\n"[..],
        &cmd(&[b"SET", b"pwned", b"1"]),
        b"SET pwned 1\n",
    ]
    .concat();
    let mut client = Client::tcp(addr);
    client.send(
        &[
            &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n"[..],
            &hidden.repeat(50),
        ]
        .concat(),
    );
    client.expect_close(BAD_LENGTH);
    check(
        addr,
        &[
            (&req("GET pwned"), b"$-1\r\n"),
            (b"GET pwned\n", b"NOT_FOUND\n"),
            (&req("DBSIZE"), b":0\r\n"),
        ],
    );
}

/// A huge declared count holds no reply and no crash: the client waits, other clients are served.
#[test]
fn huge_declared_count_waits_for_more() {
    let addr = start(config());
    let mut waiting: Vec<_> = (0..4)
        .map(|_| {
            let mut client = Client::tcp(addr);
            client.send(b"*1000000\r\n");
            client
        })
        .collect();
    check_resp(
        addr,
        &[
            ("PING", b"+PONG\r\n"),
            ("SET k v", b"+OK\r\n"),
            ("GET k", b"$1\r\nv\r\n"),
        ],
    );
    for client in &mut waiting {
        client.expect_silence(Duration::from_millis(100));
    }
    // Still parsing: the next elements are read, and a bad one is refused.
    for client in &mut waiting {
        client.send(b"$4\r\nPING\r\n$1\r\nx\r\n");
        client.expect_silence(Duration::from_millis(20));
        client.send(b"x\r\n");
        client.expect_close(b"-ERR Protocol error: expected '$', got 'x'\r\n");
    }
    check_resp(addr, &[("GET k", b"$1\r\nv\r\n")]);
}

/// One thousand RESP requests in one write get one thousand replies, in order.
#[test]
fn thousand_pipelined_requests_are_answered_in_order() {
    let mut client = Client::tcp(start(config()));
    let mut request = Vec::new();
    let mut expected = Vec::new();
    for i in 0..1000 {
        match i % 4 {
            0 => {
                request.extend(req(&format!("SET key{i} value{i}")));
                expected.extend_from_slice(b"+OK\r\n");
            }
            1 => {
                request.extend(req(&format!("GET key{}", i - 1)));
                expected.extend(bulk(format!("value{}", i - 1).as_bytes()));
            }
            2 => {
                request.extend(req("INCR counter"));
                expected.extend(int(i / 4 + 1));
            }
            _ => {
                request.extend(req(&format!("GET missing{i}")));
                expected.extend_from_slice(b"$-1\r\n");
            }
        }
    }
    client.expect(&request, &expected);
    client.expect(&req("DBSIZE"), b":251\r\n");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// A request whose bytes arrive one at a time is answered once complete.
#[test]
fn request_split_across_writes_is_answered_once_whole() {
    let mut client = Client::tcp(start(config()));
    let request = [&req("SET k hello")[..], &req("GET k")].concat();
    for byte in &request[..request.len() - 1] {
        client.send(&[*byte]);
    }
    client.expect(&request[request.len() - 1..], b"+OK\r\n$5\r\nhello\r\n");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// An unknown command is refused in Redis's words, quoting its arguments, and the connection stays open.
#[test]
fn unknown_command_quotes_its_name_and_arguments() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        (
            "FOO a b",
            b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
        ),
        (
            "FOO",
            b"-ERR unknown command 'FOO', with args beginning with: \r\n",
        ),
        (
            "foo bar",
            b"-ERR unknown command 'foo', with args beginning with: 'bar' \r\n",
        ),
        (
            "STATS",
            b"-ERR unknown command 'STATS', with args beginning with: \r\n",
        ),
        ("PING", b"+PONG\r\n"),
    ]);
    client.expect(
        b"*1\r\n$0\r\n\r\n",
        b"-ERR unknown command '', with args beginning with: \r\n",
    );
    client.expect(&req("PING"), b"+PONG\r\n");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// Wrong argument counts name the command in lower case, as Redis does.
#[test]
fn wrong_arity_names_the_command_in_lower_case() {
    let mut steps = Vec::new();
    for (words, name) in [
        ("GET", "get"),
        ("GeT", "get"),
        ("GET a b", "get"),
        ("SET k", "set"),
        ("SETNX a", "setnx"),
        ("SETEX a", "setex"),
        ("PSETEX k 1", "psetex"),
        ("GETSET k", "getset"),
        ("GETDEL", "getdel"),
        ("GETEX", "getex"),
        ("MGET", "mget"),
        ("MSET a", "mset"),
        ("MSET a 1 b", "mset"),
        ("DEL", "del"),
        ("EXISTS", "exists"),
        ("EXPIRE k", "expire"),
        ("PEXPIRE k", "pexpire"),
        ("EXPIREAT k", "expireat"),
        ("PEXPIREAT k", "pexpireat"),
        ("TTL", "ttl"),
        ("TTL a b", "ttl"),
        ("PTTL", "pttl"),
        ("PERSIST", "persist"),
        ("INCR", "incr"),
        ("INCR a b", "incr"),
        ("DECR", "decr"),
        ("INCRBY k", "incrby"),
        ("DECRBY k", "decrby"),
        ("APPEND a", "append"),
        ("STRLEN", "strlen"),
        ("TYPE", "type"),
        ("TYPE a b", "type"),
        ("DBSIZE x", "dbsize"),
        ("KEYS", "keys"),
        ("KEYS a b", "keys"),
        ("SCAN", "scan"),
        ("ECHO", "echo"),
        ("ECHO a b", "echo"),
        ("PING a b", "ping"),
        ("SELECT", "select"),
        ("TIME x", "time"),
        ("AUTH", "auth"),
    ] {
        let reply = format!("-ERR wrong number of arguments for '{name}' command\r\n");
        steps.push((words, reply.into_bytes()));
    }
    let mut client = Client::tcp(start(config()));
    for (words, reply) in &steps {
        client.expect(&req(words), reply);
    }
    client.run(&[("DBSIZE", b":0\r\n")]);
    same(&client.finish(), b"", "bytes after the last reply");
}

/// Command names are case-insensitive over RESP; keys are not.
#[test]
fn command_names_are_case_insensitive() {
    check_resp(
        start(config()),
        &[
            ("ping", b"+PONG\r\n"),
            ("PiNg", b"+PONG\r\n"),
            ("set k v", b"+OK\r\n"),
            ("gEt k", b"$1\r\nv\r\n"),
            ("GET K", b"$-1\r\n"),
            ("exists k K", b":1\r\n"),
        ],
    );
}

/// QUIT answers +OK and closes; requests pipelined after it are not run.
#[test]
fn quit_answers_ok_then_closes() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    client.send(&[&req("PING")[..], &req("QUIT"), &req("SET after 1")].concat());
    client.expect_close(b"+PONG\r\n+OK\r\n");
    let mut client = Client::tcp(addr);
    client.send(&req("quit"));
    // Our write side stays open: the close must come from the server.
    client.expect_close(b"+OK\r\n");
    check_resp(addr, &[("GET after", b"$-1\r\n")]);
}

/// Many clients speaking RESP at once each get their own replies.
#[test]
fn concurrent_resp_clients_get_their_own_replies() {
    let addr = start(config());
    let workers: Vec<_> = (0..4)
        .map(|t| {
            thread::spawn(move || {
                let mut client = Client::tcp(addr);
                for i in 0..200 {
                    let key = format!("t{t}k{i}");
                    client.expect(&req(&format!("SET {key} {t}-{i}")), b"+OK\r\n");
                    client.expect(
                        &req(&format!("GET {key}")),
                        &bulk(format!("{t}-{i}").as_bytes()),
                    );
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a client thread failed");
    }
    check_resp(addr, &[("DBSIZE", b":800\r\n")]);
}

/// A RESP client refused for lack of a worker gets Redis's form of the
/// refusal; a text client, the text line.
#[test]
fn refusal_speaks_the_clients_protocol() {
    // The RESP form needs the client's first request to have arrived when
    // the server refuses (it waits up to 20 ms for a worker first). That
    // is a race the client almost always wins; a few fresh servers make a
    // loss on a loaded machine harmless, while a server that never answers
    // in RESP still fails.
    let resp_refused = (0..3).any(|_| {
        let addr = start(Config {
            threads: 1,
            ..config()
        });
        let mut holder = Client::tcp(addr);
        holder.expect(b"PING\n", b"PONG\n");
        let mut resp_client = Client::tcp(addr);
        resp_client.send(&req("PING"));
        let got = resp_client.rest();
        let mut text_client = Client::tcp(addr);
        text_client.send(b"PING\n");
        same(
            &text_client.rest(),
            b"ERROR max number of clients reached\n",
            "refusal of a text client",
        );
        got == b"-ERR max number of clients reached\r\n"
    });
    assert!(resp_refused, "a RESP client was never refused in RESP");
}
