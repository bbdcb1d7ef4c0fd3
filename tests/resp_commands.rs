//! The string and keyspace commands over RESP at the wire, with Redis's
//! semantics and Redis's exact replies and errors: SET and its options,
//! SETNX, GETSET, GETDEL, MGET, MSET, DEL, EXISTS, the counters, APPEND,
//! STRLEN, TYPE, DBSIZE, the flushes, KEYS and SCAN, USAGE, the memory
//! limit, and multi-key commands racing under eviction.
//!
//! Every expected reply was taken from Redis 7 given the same requests,
//! except USAGE, which is Blink-Store's own.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use blink_store::config::Config;
use blink_store::store::Clock;
use common::resp::{bulk, bulks, check_resp, cmd, int, req, Resp};
use common::{config, done, start, start_with_clock, Client};

/// Redis's reply to an argument or a stored value that is not an integer.
const NOT_INTEGER: &[u8] = b"-ERR value is not an integer or out of range\r\n";

/// Redis's reply to an option it does not accept where it is.
const SYNTAX: &[u8] = b"-ERR syntax error\r\n";

/// Redis's reply to a write that cannot fit under `maxmemory`.
const OOM: &[u8] = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";

/// A connection to a fresh server with the test defaults.
fn client() -> Client<std::net::TcpStream> {
    Client::tcp(start(config()))
}

/// The keys `KEYS pattern` answers, sorted: Redis gives them in no order.
#[track_caller]
fn keys(client: &mut Client<std::net::TcpStream>, pattern: &str) -> Vec<String> {
    let mut keys: Vec<String> = client
        .call_args(&[b"KEYS", pattern.as_bytes()])
        .array()
        .iter()
        .map(Resp::string)
        .collect();
    keys.sort();
    keys
}

/// Runs SCAN with `options` from cursor 0 until it returns cursor 0, and
/// counts how often each key came back.
#[track_caller]
fn scan_all(client: &mut Client<std::net::TcpStream>, options: &str) -> BTreeMap<String, usize> {
    /// More calls than any full iteration here needs, even at COUNT 1.
    const MOST_CALLS: usize = 10_000;
    let mut seen = BTreeMap::new();
    let mut cursor = "0".to_string();
    for _ in 0..MOST_CALLS {
        let reply = client.call(&format!("SCAN {cursor}{options}"));
        let [next, page] = reply.array() else {
            panic!("SCAN answered {reply:?}");
        };
        cursor = next.string();
        assert!(
            cursor.bytes().all(|b| b.is_ascii_digit()) && !cursor.is_empty(),
            "SCAN cursor {cursor:?} is not a number"
        );
        for key in page.array() {
            *seen.entry(key.string()).or_insert(0) += 1;
        }
        if cursor == "0" {
            return seen;
        }
    }
    panic!("SCAN{options} did not return to cursor 0 in {MOST_CALLS} calls");
}

/// PING answers PONG or its argument; ECHO answers its argument, bytes and all.
#[test]
fn ping_and_echo_answer_as_redis() {
    let mut client = client();
    client.run(&[
        ("PING", b"+PONG\r\n"),
        ("PING hello", b"$5\r\nhello\r\n"),
        ("ECHO hi", b"$2\r\nhi\r\n"),
    ]);
    client.expect(&cmd(&[b"ECHO", b"\r\n\0\xff"]), b"$4\r\n\r\n\0\xff\r\n");
    client.expect(&cmd(&[b"ECHO", b""]), b"$0\r\n\r\n");
    done(client);
}

/// SET answers +OK, GET a bulk string or the null bulk, and USAGE counts key and value bytes.
#[test]
fn set_then_get_over_resp() {
    check_resp(
        start(config()),
        &[
            ("GET user", b"$-1\r\n"),
            ("SET user alice", b"+OK\r\n"),
            ("GET user", b"$5\r\nalice\r\n"),
            ("USAGE", b":9\r\n"),
            ("SET user bob", b"+OK\r\n"),
            ("GET user", b"$3\r\nbob\r\n"),
            ("USAGE", b":7\r\n"),
        ],
    );
}

/// SET NX writes only absent keys and XX only present ones; a refused write answers the null bulk.
#[test]
fn set_nx_and_xx_follow_existence() {
    check_resp(
        start(config()),
        &[
            ("SET k v NX", b"+OK\r\n"),
            ("SET k w NX", b"$-1\r\n"),
            ("GET k", b"$1\r\nv\r\n"),
            ("SET k w XX", b"+OK\r\n"),
            ("GET k", b"$1\r\nw\r\n"),
            ("SET n v XX", b"$-1\r\n"),
            ("GET n", b"$-1\r\n"),
            ("set n v nx", b"+OK\r\n"),
            ("SET k v NX XX", SYNTAX),
            ("DBSIZE", b":2\r\n"),
        ],
    );
}

/// SET ... GET answers the old value (or null) and writes only when its condition holds.
#[test]
fn set_get_answers_the_old_value() {
    check_resp(
        start(config()),
        &[
            ("SET k v GET", b"$-1\r\n"),
            ("GET k", b"$1\r\nv\r\n"),
            ("SET k w GET", b"$1\r\nv\r\n"),
            ("GET k", b"$1\r\nw\r\n"),
            ("SET n v NX GET", b"$-1\r\n"),
            ("GET n", b"$1\r\nv\r\n"),
            ("SET n x NX GET", b"$1\r\nv\r\n"),
            ("GET n", b"$1\r\nv\r\n"),
            ("SET q v XX GET", b"$-1\r\n"),
            ("GET q", b"$-1\r\n"),
            ("SET k x XX GET", b"$1\r\nw\r\n"),
            ("GET k", b"$1\r\nx\r\n"),
        ],
    );
}

/// SET's option errors are Redis's, in Redis's order of checks, and store nothing.
#[test]
fn set_option_errors_match_redis() {
    check_resp(
        start(config()),
        &[
            ("SET k v FOO", SYNTAX),
            ("SET k v EX", SYNTAX),
            ("SET k v EX 10 PX 10", SYNTAX),
            ("SET k v EX 10 EXAT 10", SYNTAX),
            ("SET k v KEEPTTL EX 10", SYNTAX),
            ("SET k v EX 10 KEEPTTL", SYNTAX),
            ("SET k v PXAT 1 KEEPTTL", SYNTAX),
            ("SET k v EX abc", NOT_INTEGER),
            ("SET k v EX 99999999999999999999", NOT_INTEGER),
            (
                "SET k v EX 0",
                b"-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "SET k v EX -1",
                b"-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "SET k v PX 0",
                b"-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "SET k v EXAT 0",
                b"-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "SET k v EX 9999999999999999",
                b"-ERR invalid expire time in 'set' command\r\n",
            ),
            ("GET k", b"$-1\r\n"),
            ("DBSIZE", b":0\r\n"),
        ],
    );
}

/// SETNX answers 1 or 0; GETSET swaps and answers the old value; GETDEL reads and removes.
#[test]
fn setnx_getset_and_getdel_answer_as_redis() {
    check_resp(
        start(config()),
        &[
            ("SETNX k v", b":1\r\n"),
            ("SETNX k w", b":0\r\n"),
            ("GET k", b"$1\r\nv\r\n"),
            ("GETSET k new", b"$1\r\nv\r\n"),
            ("GET k", b"$3\r\nnew\r\n"),
            ("GETSET nope x", b"$-1\r\n"),
            ("GET nope", b"$1\r\nx\r\n"),
            ("GETDEL k", b"$3\r\nnew\r\n"),
            ("GETDEL k", b"$-1\r\n"),
            ("EXISTS k", b":0\r\n"),
            ("USAGE", b":5\r\n"),
        ],
    );
}

/// SETEX and PSETEX refuse bad times in Redis's words, naming the command, and store nothing.
#[test]
fn setex_and_psetex_refuse_bad_times() {
    check_resp(
        start(config()),
        &[
            (
                "SETEX k 0 v",
                b"-ERR invalid expire time in 'setex' command\r\n",
            ),
            (
                "SETEX k -5 v",
                b"-ERR invalid expire time in 'setex' command\r\n",
            ),
            (
                "SETEX k 9223372036854775807 v",
                b"-ERR invalid expire time in 'setex' command\r\n",
            ),
            ("SETEX k x v", NOT_INTEGER),
            (
                "PSETEX k 0 v",
                b"-ERR invalid expire time in 'psetex' command\r\n",
            ),
            ("PSETEX k abc v", NOT_INTEGER),
            ("EXISTS k", b":0\r\n"),
            ("SETEX k 10 v", b"+OK\r\n"),
            ("PSETEX p 10000 v", b"+OK\r\n"),
            ("MGET k p", b"*2\r\n$1\r\nv\r\n$1\r\nv\r\n"),
        ],
    );
}

/// MSET writes every pair; MGET answers one element per key, null for missing ones.
#[test]
fn mset_and_mget_handle_many_keys() {
    let mut client = client();
    client.run(&[
        ("MSET a 1 b 2 c 3", b"+OK\r\n"),
        (
            "MGET a b nokey c",
            b"*4\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n$1\r\n3\r\n",
        ),
        ("MSET a 10", b"+OK\r\n"),
        ("MGET a", b"*1\r\n$2\r\n10\r\n"),
        ("MGET nokey", b"*1\r\n$-1\r\n"),
        ("MSET d 4 d 5", b"+OK\r\n"),
        ("GET d", b"$1\r\n5\r\n"),
        ("DBSIZE", b":4\r\n"),
        ("USAGE", b":9\r\n"),
    ]);
    let pairs: Vec<String> = (0..100).map(|i| format!("key{i} value{i}")).collect();
    client.expect(&req(&format!("MSET {}", pairs.join(" "))), b"+OK\r\n");
    let names: Vec<String> = (0..100).map(|i| format!("key{i}")).collect();
    let values: Vec<Vec<u8>> = (0..100).map(|i| format!("value{i}").into_bytes()).collect();
    let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    client.expect(&req(&format!("MGET {}", names.join(" "))), &bulks(&values));
    client.expect(&req("DBSIZE"), b":104\r\n");
    done(client);
}

/// DEL counts the keys it removed; EXISTS counts present keys, a repeated key each time.
#[test]
fn del_and_exists_count_keys() {
    check_resp(
        start(config()),
        &[
            ("MSET a 1 b 2 c 3", b"+OK\r\n"),
            ("EXISTS a b c", b":3\r\n"),
            ("EXISTS a c c nokey", b":3\r\n"),
            ("DEL a b nokey", b":2\r\n"),
            ("EXISTS a c c nokey", b":2\r\n"),
            ("DEL c c", b":1\r\n"),
            ("DEL c", b":0\r\n"),
            ("EXISTS a b c", b":0\r\n"),
            ("USAGE", b":0\r\n"),
        ],
    );
}

/// INCR, DECR, INCRBY and DECRBY start from 0, store the result as text and answer it.
#[test]
fn counters_count_as_redis() {
    check_resp(
        start(config()),
        &[
            ("INCR n", b":1\r\n"),
            ("INCR n", b":2\r\n"),
            ("DECR n", b":1\r\n"),
            ("INCRBY n 10", b":11\r\n"),
            ("DECRBY n 3", b":8\r\n"),
            ("INCRBY n -20", b":-12\r\n"),
            ("GET n", b"$3\r\n-12\r\n"),
            ("DECRBY n -5", b":-7\r\n"),
            ("DECR fresh", b":-1\r\n"),
            ("SET s 41", b"+OK\r\n"),
            ("INCR s", b":42\r\n"),
            ("STRLEN s", b":2\r\n"),
            ("TYPE n", b"+string\r\n"),
        ],
    );
}

/// A counter over a value or an amount that is not an integer is refused and changes nothing.
#[test]
fn counters_refuse_non_integers() {
    let mut client = client();
    client.run(&[
        ("SET n 5", b"+OK\r\n"),
        ("INCRBY n abc", NOT_INTEGER),
        ("INCRBY n 1.5", NOT_INTEGER),
        ("DECRBY n x", NOT_INTEGER),
        ("INCRBY n 9223372036854775808", NOT_INTEGER),
        ("GET n", b"$1\r\n5\r\n"),
        ("SET s abc", b"+OK\r\n"),
        ("INCR s", NOT_INTEGER),
        ("DECR s", NOT_INTEGER),
        ("INCRBY s 1", NOT_INTEGER),
        ("GET s", b"$3\r\nabc\r\n"),
        ("SET s 9223372036854775808", b"+OK\r\n"),
        ("INCR s", NOT_INTEGER),
        ("SET s 1.5", b"+OK\r\n"),
        ("INCR s", NOT_INTEGER),
    ]);
    for value in [&b" 1"[..], b"1 ", b"", b"\x001"] {
        client.expect(&cmd(&[b"SET", b"s", value]), b"+OK\r\n");
        client.expect(&req("INCR s"), NOT_INTEGER);
        client.expect(&req("GET s"), &bulk(value));
    }
    done(client);
}

/// A stored integer with a plus sign, a leading zero or a minus zero is not an integer to Redis.
#[test]
fn counters_refuse_non_canonical_integers() {
    check_resp(
        start(config()),
        &[
            ("SET s +1", b"+OK\r\n"),
            ("INCR s", NOT_INTEGER),
            ("SET s 01", b"+OK\r\n"),
            ("INCR s", NOT_INTEGER),
            ("SET s -0", b"+OK\r\n"),
            ("INCR s", NOT_INTEGER),
            ("GET s", b"$2\r\n-0\r\n"),
        ],
    );
}

/// A counter that would leave the signed 64-bit range is refused in Redis's words.
#[test]
fn counter_overflow_is_refused() {
    check_resp(
        start(config()),
        &[
            ("SET m 9223372036854775807", b"+OK\r\n"),
            ("INCR m", b"-ERR increment or decrement would overflow\r\n"),
            (
                "INCRBY m 1",
                b"-ERR increment or decrement would overflow\r\n",
            ),
            ("INCRBY m 0", b":9223372036854775807\r\n"),
            ("GET m", b"$19\r\n9223372036854775807\r\n"),
            ("SET m -9223372036854775808", b"+OK\r\n"),
            ("DECR m", b"-ERR increment or decrement would overflow\r\n"),
            (
                "DECRBY m -9223372036854775808",
                b"-ERR decrement would overflow\r\n",
            ),
            (
                "DECRBY x -9223372036854775808",
                b"-ERR decrement would overflow\r\n",
            ),
            ("DECRBY x 9223372036854775807", b":-9223372036854775807\r\n"),
            ("GET m", b"$20\r\n-9223372036854775808\r\n"),
        ],
    );
}

/// Integer arguments with a plus sign, a leading zero or a minus zero are refused as Redis refuses them.
#[test]
fn integer_arguments_are_parsed_as_strictly_as_redis() {
    let mut steps: Vec<(&str, &[u8])> = vec![("SET k v", b"+OK\r\n")];
    for words in [
        "INCRBY n +1",
        "INCRBY n 01",
        "INCRBY n -0",
        "DECRBY n +1",
        "EXPIRE k 010",
        "EXPIRE k +10",
        "PEXPIRE k 01",
        "EXPIREAT k 0100",
        "PEXPIREAT k +99999999999999",
        "SETEX k +10 v",
        "PSETEX k 010 v",
        "SET k v EX 010",
        "SET k v PX +100",
        "SET k v EXAT +99999999999",
        "GETEX k EX 010",
        "GETEX k PX +10",
        "SCAN 0 COUNT 010",
        "SCAN 0 COUNT +10",
        "SELECT 00",
        "SELECT +0",
        "SELECT -0",
    ] {
        steps.push((words, NOT_INTEGER));
    }
    let version_error: &[u8] = b"-ERR Protocol version is not an integer or out of range\r\n";
    steps.extend([
        ("HELLO +3", version_error),
        ("HELLO 03", version_error),
        ("TTL k", b":-1\r\n"),
        ("EXISTS n", b":0\r\n"),
        ("GET nokey", b"$-1\r\n"),
    ]);
    check_resp(start(config()), &steps);
}

/// SET accepts a repeated option as Redis does; for a repeated time the last one counts.
#[test]
fn set_accepts_repeated_options_as_redis() {
    let mut client = Client::tcp(start_with_clock(config(), Clock::manual()));
    client.run(&[
        ("SET k v NX NX", b"+OK\r\n"),
        ("SET k w XX XX", b"+OK\r\n"),
        ("SET k x GET GET", b"$1\r\nw\r\n"),
        ("SET k y EX 10 EX 20", b"+OK\r\n"),
        ("TTL k", b":20\r\n"),
        ("SET k z KEEPTTL KEEPTTL", b"+OK\r\n"),
        ("TTL k", b":20\r\n"),
        ("SET k v PX 10 PX 20000", b"+OK\r\n"),
        ("PTTL k", b":20000\r\n"),
        ("SET k v NX XX NX", SYNTAX),
        ("GET k", b"$1\r\nv\r\n"),
    ]);
    done(client);
}

/// As in Redis, SET and GETEX check only the last of repeated expiry
/// options, and after every option has been read, so a syntax error comes
/// before a bad time; GETEX checks the time only once it has found the key.
#[test]
fn set_and_getex_check_the_time_given_last_as_redis() {
    let invalid = |name: &str| format!("-ERR invalid expire time in '{name}' command\r\n");
    let (set_invalid, getex_invalid) = (invalid("set"), invalid("getex"));
    let not_integer: &[u8] = b"-ERR value is not an integer or out of range\r\n";
    let mut client = Client::tcp(start_with_clock(config(), Clock::manual()));
    client.run(&[
        ("SET k v EX 0 EX 1000", b"+OK\r\n"),
        ("TTL k", b":1000\r\n"),
        ("SET k v EX abc PX 5", SYNTAX),
        ("SET k v EX 0 KEEPTTL", SYNTAX),
        ("SET k v EX 0 NX XX", SYNTAX),
        ("SET k v PERSIST", SYNTAX),
        ("SET k v EX 10 EX 0", set_invalid.as_bytes()),
        ("SET k v PX 5 PX abc", not_integer),
        ("TTL k", b":1000\r\n"),
        // A missing key: no time is checked, but the options are.
        ("GETEX c EX 0", b"$-1\r\n"),
        ("GETEX c PX abc", b"$-1\r\n"),
        ("GETEX c EX 9223372036854775", b"$-1\r\n"),
        ("GETEX c EX 1000 EX 1000", b"$-1\r\n"),
        ("GETEX c EX 1 PX 1", SYNTAX),
        ("GETEX c KEEPTTL", SYNTAX),
        ("GETEX c PERSIST EX 1", SYNTAX),
        ("GETEX c EX", SYNTAX),
        ("EXISTS c", b":0\r\n"),
        // A key: the last time counts, and is checked.
        ("GETEX k EX 100 EX 2000", b"$1\r\nv\r\n"),
        ("TTL k", b":2000\r\n"),
        ("GETEX k EX 100 EX 0", getex_invalid.as_bytes()),
        ("GETEX k EXAT abc", not_integer),
        ("GETEX k EX 9223372036854775", getex_invalid.as_bytes()),
        ("TTL k", b":2000\r\n"),
        ("GETEX k PERSIST PERSIST", b"$1\r\nv\r\n"),
        ("TTL k", b":-1\r\n"),
    ]);
    done(client);
}

/// APPEND creates or extends a value and answers its new length; STRLEN answers the length.
#[test]
fn append_and_strlen_measure_values() {
    let mut client = client();
    client.run(&[
        ("STRLEN a", b":0\r\n"),
        ("APPEND a hello", b":5\r\n"),
        ("STRLEN a", b":5\r\n"),
    ]);
    client.expect(&cmd(&[b"APPEND", b"a", b" world\r\n\0"]), b":14\r\n");
    client.expect(&req("GET a"), &bulk(b"hello world\r\n\0"));
    client.expect(&cmd(&[b"APPEND", b"a", b""]), b":14\r\n");
    client.run(&[
        ("STRLEN a", b":14\r\n"),
        ("USAGE", b":15\r\n"),
        ("SET n 12", b"+OK\r\n"),
        ("APPEND n 3", b":3\r\n"),
        ("INCR n", b":124\r\n"),
    ]);
    done(client);
}

/// TYPE answers +string for a present key and +none for an absent one.
#[test]
fn type_names_strings_and_none() {
    check_resp(
        start(config()),
        &[
            ("TYPE a", b"+none\r\n"),
            ("SET a 1", b"+OK\r\n"),
            ("TYPE a", b"+string\r\n"),
            ("DEL a", b":1\r\n"),
            ("TYPE a", b"+none\r\n"),
        ],
    );
}

/// DBSIZE counts keys; FLUSHDB and FLUSHALL (also ASYNC and SYNC) remove every key.
#[test]
fn dbsize_and_flushes_follow_the_keyspace() {
    check_resp(
        start(config()),
        &[
            ("DBSIZE", b":0\r\n"),
            ("MSET a 1 b 2 c 3", b"+OK\r\n"),
            ("DBSIZE", b":3\r\n"),
            ("FLUSHDB", b"+OK\r\n"),
            ("DBSIZE", b":0\r\n"),
            ("USAGE", b":0\r\n"),
            ("MSET a 1 b 2", b"+OK\r\n"),
            ("FLUSHALL", b"+OK\r\n"),
            ("MGET a b", b"*2\r\n$-1\r\n$-1\r\n"),
            ("SET a 1", b"+OK\r\n"),
            ("FLUSHALL x", SYNTAX),
            ("DBSIZE", b":1\r\n"),
            ("FLUSHALL ASYNC", b"+OK\r\n"),
            ("FLUSHALL SYNC", b"+OK\r\n"),
            ("FLUSHDB ASYNC", b"+OK\r\n"),
            ("DBSIZE", b":0\r\n"),
        ],
    );
}

/// FLUSHALL and FLUSHDB with more than one argument, or an unknown one, are syntax errors.
#[test]
fn flush_with_extra_arguments_is_a_syntax_error() {
    check_resp(
        start(config()),
        &[
            ("SET a 1", b"+OK\r\n"),
            ("FLUSHALL ASYNC extra", SYNTAX),
            ("FLUSHALL SYNC ASYNC", SYNTAX),
            ("FLUSHDB a b", SYNTAX),
            ("FLUSHDB x", SYNTAX),
            ("DBSIZE", b":1\r\n"),
            ("FLUSHDB sync", b"+OK\r\n"),
            ("FLUSHALL async", b"+OK\r\n"),
            ("DBSIZE", b":0\r\n"),
        ],
    );
}

/// KEYS matches Redis's glob: `*`, `?`, sets, negated sets, ranges and backslash escapes.
#[test]
fn keys_matches_glob_patterns() {
    let mut client = client();
    client.expect(
        &req("MSET a 1 b 2 c 3 ab 4 abc 5 a* 6 h?llo 7 hello 8 hallo 9 hxllo 10"),
        b"+OK\r\n",
    );
    let cases: &[(&str, &[&str])] = &[
        (
            "*",
            &[
                "a", "a*", "ab", "abc", "b", "c", "h?llo", "hallo", "hello", "hxllo",
            ],
        ),
        ("a?", &["a*", "ab"]),
        ("a*", &["a", "a*", "ab", "abc"]),
        ("h?llo", &["h?llo", "hallo", "hello", "hxllo"]),
        ("h[ae]llo", &["hallo", "hello"]),
        ("h[^e]llo", &["h?llo", "hallo", "hxllo"]),
        ("h[a-e]llo", &["hallo", "hello"]),
        ("a\\*", &["a*"]),
        ("h\\?llo", &["h?llo"]),
        ("*c", &["abc", "c"]),
        ("nothing", &[]),
    ];
    for (pattern, expected) in cases {
        assert_eq!(keys(&mut client, pattern), *expected, "KEYS {pattern}");
    }
    client.run(&[("KEYS nothing", b"*0\r\n")]);
    done(client);
}

/// A full SCAN returns every key at least once and no other, and ends at cursor 0.
#[test]
fn scan_iterates_every_key() {
    let mut client = client();
    for batch in 0..4 {
        let pairs: Vec<String> = (0..50)
            .map(|i| format!("key:{} v", batch * 50 + i))
            .collect();
        client.expect(&req(&format!("MSET {}", pairs.join(" "))), b"+OK\r\n");
    }
    let expected: BTreeSet<String> = (0..200).map(|i| format!("key:{i}")).collect();
    for options in ["", " COUNT 1", " COUNT 7", " COUNT 1000"] {
        let seen = scan_all(&mut client, options);
        let keys: BTreeSet<String> = seen.keys().cloned().collect();
        assert_eq!(keys, expected, "keys seen by SCAN{options}");
    }
    done(client);
}

/// SCAN MATCH returns only matching keys, and every one of them over a full iteration.
#[test]
fn scan_match_filters_keys() {
    let mut client = client();
    let pairs: Vec<String> = (0..60).map(|i| format!("user:{i} v other:{i} v")).collect();
    client.expect(&req(&format!("MSET {}", pairs.join(" "))), b"+OK\r\n");
    let expected: BTreeSet<String> = (0..60).map(|i| format!("user:{i}")).collect();
    for options in [
        " MATCH user:*",
        " MATCH user:* COUNT 5",
        " COUNT 3 MATCH u*",
    ] {
        let seen = scan_all(&mut client, options);
        let keys: BTreeSet<String> = seen.keys().cloned().collect();
        assert_eq!(keys, expected, "keys seen by SCAN{options}");
    }
    let seen = scan_all(&mut client, " MATCH nothing*");
    assert!(seen.is_empty(), "SCAN MATCH nothing* saw {seen:?}");
    done(client);
}

/// SCAN of an empty store answers cursor 0 and no keys at once.
#[test]
fn scan_of_empty_store_ends_at_once() {
    check_resp(
        start(config()),
        &[
            ("SCAN 0", b"*2\r\n$1\r\n0\r\n*0\r\n"),
            ("SCAN 0 MATCH * COUNT 100", b"*2\r\n$1\r\n0\r\n*0\r\n"),
        ],
    );
}

/// SCAN's argument errors are Redis's.
#[test]
fn scan_errors_match_redis() {
    check_resp(
        start(config()),
        &[
            ("SCAN abc", b"-ERR invalid cursor\r\n"),
            ("SCAN 18446744073709551616", b"-ERR invalid cursor\r\n"),
            ("SCAN 0 COUNT 0", SYNTAX),
            ("SCAN 0 COUNT -1", SYNTAX),
            ("SCAN 0 COUNT abc", NOT_INTEGER),
            ("SCAN 0 FOO", SYNTAX),
            ("SCAN 0 MATCH", SYNTAX),
            ("SCAN 0 COUNT", SYNTAX),
            ("PING", b"+PONG\r\n"),
        ],
    );
}

/// USAGE answers the key plus value bytes as an integer.
#[test]
fn usage_is_an_integer_over_resp() {
    check_resp(
        start(config()),
        &[
            ("USAGE", b":0\r\n"),
            ("SET user alice", b"+OK\r\n"),
            ("USAGE", b":9\r\n"),
            ("SET config.timeout 30", b"+OK\r\n"),
            ("USAGE", b":25\r\n"),
        ],
    );
}

/// An entry larger than the memory limit is refused with Redis's OOM error and keeps the old value.
#[test]
fn entry_over_memory_limit_is_refused_with_oom() {
    let mut client = Client::tcp(start(Config {
        memory_limit: 100,
        ..config()
    }));
    let big = vec![b'x'; 200];
    client.expect(&cmd(&[b"SET", b"k", &big]), OOM);
    client.expect(&req("GET k"), b"$-1\r\n");
    client.expect(&req("USAGE"), b":0\r\n");
    client.expect(&req("SET k small"), b"+OK\r\n");
    client.expect(&cmd(&[b"SET", b"k", &big]), OOM);
    client.expect(&req("GET k"), b"$5\r\nsmall\r\n");
    client.expect(&cmd(&[b"APPEND", b"k", &big]), OOM);
    client.expect(&req("GET k"), b"$5\r\nsmall\r\n");
    client.expect(&req("USAGE"), b":6\r\n");
    done(client);
}

/// MSET, MGET and DEL over overlapping keys in different orders, under eviction, finish without deadlock.
#[test]
fn multi_key_commands_under_eviction_never_deadlock() {
    const THREADS: u64 = 4;
    const OPS: usize = 2_000;
    /// Keys in play: 64 entries of 10 bytes, so the 400-byte limit evicts.
    const KEYS: u64 = 64;
    const LIMIT: u64 = 400;
    let addr = start(Config {
        memory_limit: LIMIT,
        ..config()
    });
    let (finished, done_rx) = mpsc::channel();
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let finished = finished.clone();
            thread::spawn(move || {
                let mut client = Client::tcp(addr);
                // A per-thread xorshift: different key orders in every thread.
                let mut state = 0x9E37_79B9_7F4A_7C15 ^ (t + 1);
                let mut next = move || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state % KEYS
                };
                for op in 0..OPS {
                    let keys: Vec<String> = (0..3).map(|_| format!("k{:02}", next())).collect();
                    match op % 3 {
                        0 => {
                            let pairs: Vec<String> =
                                keys.iter().map(|k| format!("{k} v{op:06}")).collect();
                            let reply = client.call(&format!("MSET {}", pairs.join(" ")));
                            assert_eq!(reply, Resp::Simple(b"OK".to_vec()), "MSET");
                        }
                        1 => {
                            let reply = client.call(&format!("MGET {}", keys.join(" ")));
                            let values = reply.array();
                            assert_eq!(values.len(), 3, "MGET answered {reply:?}");
                            for value in values {
                                assert!(
                                    *value == Resp::NullBulk
                                        || matches!(value, Resp::Bulk(v) if v.len() == 7 && v[0] == b'v'),
                                    "MGET answered {reply:?}"
                                );
                            }
                        }
                        _ => {
                            let removed = client.call(&format!("DEL {}", keys.join(" "))).integer();
                            assert!((0..=3).contains(&removed), "DEL answered {removed}");
                        }
                    }
                }
                finished.send(t).expect("the test stopped waiting");
            })
        })
        .collect();
    drop(finished);
    let deadline = Instant::now() + Duration::from_secs(30);
    for _ in 0..THREADS {
        match done_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => panic!("multi-key commands still running after 30 s"),
            // A worker panicked; joining it below reports why.
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    for worker in workers {
        if let Err(panic) = worker.join() {
            std::panic::resume_unwind(panic);
        }
    }
    let mut client = Client::tcp(addr);
    let usage = client.call("USAGE").integer();
    assert!(
        (0..=LIMIT as i64).contains(&usage),
        "USAGE {usage} over {LIMIT}"
    );
    let keys = client.call("DBSIZE").integer();
    assert!(
        (0..=KEYS as i64).contains(&keys),
        "DBSIZE {keys} over {KEYS}"
    );
    assert_eq!(usage, keys * 10, "every entry is 10 bytes");
    assert!(client.stat("evictions") > 0, "no eviction pressure");
    client.expect(&req("MSET k00 x k01 y"), b"+OK\r\n");
    client.expect(&req("MGET k01 k00"), &bulks(&[b"y", b"x"]));
    client.expect(&req("DEL k00 k01"), &int(2));
    done(client);
}
