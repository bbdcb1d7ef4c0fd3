//! The text protocol's commands added beside RESP, at the wire: INCR, DECR,
//! INCRBY, DECRBY, APPEND, STRLEN, many-key EXISTS and TYPE, each answering
//! one line; the commands that exist only over RESP answering
//! `ERROR unknown command` over text; and one store seen through both.

mod common;

use common::resp::{bulk, req};
use common::{check, config, start, value_reply};

/// The text reply to a value or amount that is not an integer.
const NOT_INTEGER: &[u8] = b"ERROR value is not an integer or out of range\n";

/// INCR, DECR, INCRBY and DECRBY answer the new value after the command's name.
#[test]
fn counters_answer_the_new_value_over_text() {
    check(
        start(config()),
        &[
            (b"INCR n\n", b"INCR 1\n"),
            (b"INCR n\n", b"INCR 2\n"),
            (b"DECR n\n", b"DECR 1\n"),
            (b"INCRBY n 10\n", b"INCRBY 11\n"),
            (b"DECRBY n 3\n", b"DECRBY 8\n"),
            (b"INCRBY n -20\n", b"INCRBY -12\n"),
            (b"GET n\n", &value_reply(b"-12")),
            (b"SET five 5\n", b"OK\n"),
            (b"INCR five\n", b"INCR 6\n"),
            (b"DECR five\n", b"DECR 5\n"),
            (b"decr five\n", b"DECR 4\n"),
            (b"DECR fresh\n", b"DECR -1\n"),
        ],
    );
}

/// A counter over a value or an amount that is not an integer is refused and changes nothing.
#[test]
fn counters_refuse_non_integers_over_text() {
    check(
        start(config()),
        &[
            (b"SET s abc\n", b"OK\n"),
            (b"INCR s\n", NOT_INTEGER),
            (b"DECR s\n", NOT_INTEGER),
            (b"INCRBY s 1\n", NOT_INTEGER),
            (b"GET s\n", &value_reply(b"abc")),
            (b"SET n 5\n", b"OK\n"),
            (b"INCRBY n abc\n", NOT_INTEGER),
            (b"DECRBY n 1.5\n", NOT_INTEGER),
            (b"INCRBY n 9223372036854775808\n", NOT_INTEGER),
            (b"GET n\n", &value_reply(b"5")),
        ],
    );
}

/// APPEND appends the trimmed rest of the line and answers the new length; STRLEN answers the length.
#[test]
fn append_and_strlen_over_text() {
    check(
        start(config()),
        &[
            (b"STRLEN k\n", b"STRLEN 0\n"),
            (b"APPEND k hello\n", b"APPEND 5\n"),
            (b"APPEND k \t big   world \t\n", b"APPEND 16\n"),
            (b"GET k\n", &value_reply(b"hellobig   world")),
            (b"STRLEN k\n", b"STRLEN 16\n"),
            (b"USAGE\n", b"USAGE 17\n"),
        ],
    );
}

/// EXISTS counts the present keys among many; TYPE names a string or none.
#[test]
fn exists_and_type_over_text() {
    check(
        start(config()),
        &[
            (b"SET a 1\n", b"OK\n"),
            (b"SET c 3\n", b"OK\n"),
            (b"EXISTS a b c\n", b"EXISTS 2\n"),
            (b"EXISTS a\n", b"EXISTS 1\n"),
            (b"EXISTS b\n", b"EXISTS 0\n"),
            (b"TYPE a\n", b"TYPE string\n"),
            (b"TYPE b\n", b"TYPE none\n"),
        ],
    );
}

/// Commands that exist only over RESP are unknown over text and change nothing.
#[test]
fn resp_only_commands_are_unknown_over_text() {
    let get_b = req("GET b");
    let mut steps: Vec<(&[u8], &[u8])> = vec![(b"SET a 1\n", b"OK\n")];
    let unknown: &[&[u8]] = &[
        b"MGET a\n",
        b"MSET b 2\n",
        b"SCAN 0\n",
        b"KEYS *\n",
        b"INFO\n",
        b"HELLO 3\n",
        b"CONFIG GET maxmemory\n",
        b"COMMAND\n",
        b"CLIENT ID\n",
        b"TIME\n",
        b"ECHO x\n",
        b"GETSET a 2\n",
        b"GETDEL a\n",
        b"EXPIREAT a 1\n",
    ];
    for request in unknown {
        steps.push((request, b"ERROR unknown command\n"));
    }
    steps.push((b"GET a\n", b"VALUE MQ==\n"));
    steps.push((b"GET b\n", b"NOT_FOUND\n"));
    steps.push((b"TTL a\n", b"TTL -1\n"));
    // HELLO 3 over text did not switch the connection to RESP3.
    steps.push((&get_b, b"$-1\r\n"));
    check(start(config()), &steps);
}

/// Counters and appends made over one protocol are read over the other.
#[test]
fn counters_are_shared_between_protocols() {
    check(
        start(config()),
        &[
            (&req("INCRBY n 41"), b":41\r\n"),
            (b"INCR n\n", b"INCR 42\n"),
            (&req("GET n"), &bulk(b"42")),
            (b"APPEND n 0\n", b"APPEND 3\n"),
            (&req("APPEND n 1"), b":4\r\n"),
            (b"GET n\n", &value_reply(b"4201")),
            (&req("STRLEN n"), b":4\r\n"),
            (b"STRLEN n\n", b"STRLEN 4\n"),
            (b"TYPE n\n", b"TYPE string\n"),
            (&req("TYPE n"), b"+string\r\n"),
            (&req("EXISTS n x"), b":1\r\n"),
            (b"EXISTS n x\n", b"EXISTS 1\n"),
        ],
    );
}

/// An empty line is an unknown command on a text-only connection, and is
/// ignored, as Redis ignores it, once the connection has spoken RESP
/// (`redis-cli --pipe` sends one before its final ECHO).
#[test]
fn empty_lines_are_ignored_only_after_resp() {
    let addr = start(config());
    check(
        addr,
        &[
            (b"\r\n", b"ERROR unknown command\n"),
            (b"PING\n", b"PONG\n"),
        ],
    );
    let ping = req("PING");
    let mut pipelined = ping.clone();
    pipelined.extend_from_slice(b"\r\n\n");
    pipelined.extend_from_slice(&ping);
    check(addr, &[(&pipelined, b"+PONG\r\n+PONG\r\n")]);
}
