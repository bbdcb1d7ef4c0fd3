//! The string and keyspace commands added after the first set, over RESP
//! at the wire, in RESP2 and RESP3: UNLINK, TOUCH, SETRANGE, GETRANGE and
//! SUBSTR, INCRBYFLOAT, MSETNX, RENAME, RENAMENX, COPY, EXPIRETIME,
//! PEXPIRETIME, RANDOMKEY, OBJECT and MEMORY USAGE; and the same verbs in
//! the text protocol.
//!
//! Every expected reply was taken from Redis 7 given the same requests,
//! except MEMORY USAGE's number (this store's own bytes) and INCRBYFLOAT on
//! sums that are not exact in binary (see the README).

mod common;

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blink_store::config::Config;
use common::resp::{check_resp, resp3, Resp};
use common::{check, config, done, start, Client};

const NOT_INTEGER: &[u8] = b"-ERR value is not an integer or out of range\r\n";
const SYNTAX: &[u8] = b"-ERR syntax error\r\n";

fn unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// GETRANGE and SUBSTR clamp their indexes as Redis 7 does; a missing key
/// is an empty string.
#[test]
fn getrange_clamps_indexes_as_redis_7() {
    check_resp(
        start(config()),
        &[
            ("SET k hello", b"+OK\r\n"),
            ("GETRANGE k 0 -1", b"$5\r\nhello\r\n"),
            ("GETRANGE k 1 2", b"$2\r\nel\r\n"),
            ("GETRANGE k -3 -1", b"$3\r\nllo\r\n"),
            ("GETRANGE k 5 10", b"$0\r\n\r\n"),
            ("GETRANGE k 3 1", b"$0\r\n\r\n"),
            ("GETRANGE k -100 -50", b"$1\r\nh\r\n"),
            ("GETRANGE k 0 -100", b"$1\r\nh\r\n"),
            ("GETRANGE nokey 0 1", b"$0\r\n\r\n"),
            ("GETRANGE k a 1", NOT_INTEGER),
            ("SUBSTR k 0 1", b"$2\r\nhe\r\n"),
            (
                "GETRANGE k 0",
                b"-ERR wrong number of arguments for 'getrange' command\r\n",
            ),
        ],
    );
}

/// SETRANGE pads with zero bytes, makes no key for an empty value, and
/// refuses negative offsets and results over the value size limit.
#[test]
fn setrange_pads_and_bounds_the_result() {
    let addr = start(Config {
        max_value_size: 1024,
        ..config()
    });
    check_resp(
        addr,
        &[
            ("SET k hello", b"+OK\r\n"),
            ("SETRANGE k 10 xy", b":12\r\n"),
            ("GET k", b"$12\r\nhello\x00\x00\x00\x00\x00xy\r\n"),
            ("SETRANGE k 0 J", b":12\r\n"),
            ("GETRANGE k 0 4", b"$5\r\nJello\r\n"),
            ("SETRANGE n 0 5", b":1\r\n"),
            ("SETRANGE k -1 x", b"-ERR offset is out of range\r\n"),
            ("SETRANGE k a x", NOT_INTEGER),
            (
                "SETRANGE k 1024 x",
                b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
            ),
            ("SETRANGE k 1023 x", b":1024\r\n"),
        ],
    );
    let mut client = Client::tcp(addr);
    client.expect(
        &common::resp::cmd(&[b"SETRANGE", b"e", b"0", b""]),
        b":0\r\n",
    );
    client.expect(
        &common::resp::cmd(&[b"SETRANGE", b"n", b"9", b""]),
        b":1\r\n",
    );
    client.run(&[("EXISTS e", b":0\r\n")]);
    done(client);
}

/// INCRBYFLOAT adds decimals, answers a bulk string, keeps integers
/// without a point, and refuses what is not a number or not finite.
#[test]
fn incrbyfloat_adds_and_refuses_as_redis() {
    check_resp(
        start(config()),
        &[
            ("INCRBYFLOAT fl 10.5", b"$4\r\n10.5\r\n"),
            ("INCRBYFLOAT fl 0.1", b"$4\r\n10.6\r\n"),
            ("INCRBYFLOAT fl abc", b"-ERR value is not a valid float\r\n"),
            (
                "INCRBYFLOAT fl inf",
                b"-ERR increment would produce NaN or Infinity\r\n",
            ),
            ("INCRBYFLOAT fl nan", b"-ERR value is not a valid float\r\n"),
            ("SET s abc", b"+OK\r\n"),
            ("INCRBYFLOAT s 1", b"-ERR value is not a valid float\r\n"),
            ("INCRBYFLOAT i 3", b"$1\r\n3\r\n"),
            ("SET j 5.0e3", b"+OK\r\n"),
            ("INCRBYFLOAT j 0", b"$4\r\n5000\r\n"),
            ("INCRBYFLOAT j 1.5", b"$6\r\n5001.5\r\n"),
            ("INCRBYFLOAT m 1.10", b"$3\r\n1.1\r\n"),
            ("INCRBYFLOAT m3 1e-20", b"$1\r\n0\r\n"),
            ("SET e 1 EX 100", b"+OK\r\n"),
            ("INCRBYFLOAT e 1", b"$1\r\n2\r\n"),
            ("TTL e", b":100\r\n"),
        ],
    );
}

/// MSETNX stores all pairs only if no key exists; UNLINK counts like DEL;
/// TOUCH counts the keys that exist.
#[test]
fn msetnx_unlink_and_touch() {
    check_resp(
        start(config()),
        &[
            ("MSETNX x 1 y 2", b":1\r\n"),
            ("MSETNX x 1 z 2", b":0\r\n"),
            ("MSETNX z 1 z 2", b":1\r\n"),
            ("GET z", b"$1\r\n2\r\n"),
            (
                "MSETNX x 1 z",
                b"-ERR wrong number of arguments for 'msetnx' command\r\n",
            ),
            ("MGET x y", b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
            ("TOUCH x y nokey", b":2\r\n"),
            (
                "TOUCH",
                b"-ERR wrong number of arguments for 'touch' command\r\n",
            ),
            ("UNLINK x y nokey", b":2\r\n"),
            ("EXISTS x y", b":0\r\n"),
        ],
    );
}

/// RENAME moves the value and its expiry; RENAMENX refuses an existing
/// target; a key renamed onto itself stays.
#[test]
fn rename_and_renamenx_move_value_and_expiry() {
    check_resp(
        start(config()),
        &[
            ("SET a 1", b"+OK\r\n"),
            ("RENAME a b", b"+OK\r\n"),
            ("RENAME a b", b"-ERR no such key\r\n"),
            ("RENAME b b", b"+OK\r\n"),
            ("RENAME q q", b"-ERR no such key\r\n"),
            ("RENAMENX b b", b":0\r\n"),
            ("RENAMENX nokey x", b"-ERR no such key\r\n"),
            ("SET c 3", b"+OK\r\n"),
            ("RENAMENX b c", b":0\r\n"),
            ("RENAMENX b d", b":1\r\n"),
            ("RENAME d c", b"+OK\r\n"),
            ("GET c", b"$1\r\n1\r\n"),
            ("EXISTS b d", b":0\r\n"),
            ("SET e 5 EX 100", b"+OK\r\n"),
            ("RENAME e f", b"+OK\r\n"),
            ("TTL f", b":100\r\n"),
            ("SET f2 x", b"+OK\r\n"),
            ("RENAME c f", b"+OK\r\n"),
            ("TTL f", b":-1\r\n"),
            ("DBSIZE", b":2\r\n"),
        ],
    );
}

/// COPY copies value and expiry, refuses an existing target without
/// REPLACE, and takes a database among the sixteen.
#[test]
fn copy_copies_with_replace_and_a_database() {
    check_resp(
        start(config()),
        &[
            ("SET f 5 EX 100", b"+OK\r\n"),
            ("COPY f g", b":1\r\n"),
            ("TTL g", b":100\r\n"),
            ("COPY f g", b":0\r\n"),
            ("SET f 6", b"+OK\r\n"),
            ("COPY f g REPLACE", b":1\r\n"),
            ("GET g", b"$1\r\n6\r\n"),
            ("TTL g", b":-1\r\n"),
            (
                "COPY f f",
                b"-ERR source and destination objects are the same\r\n",
            ),
            ("COPY nokey g", b":0\r\n"),
            ("COPY f h DB 0", b":1\r\n"),
            ("COPY f h DB 1", b":1\r\n"),
            ("COPY f h DB 16", b"-ERR DB index is out of range\r\n"),
            ("COPY f h DB -1", b"-ERR DB index is out of range\r\n"),
            ("COPY f h DB x", NOT_INTEGER),
            ("COPY f h FOO", SYNTAX),
            ("COPY f h DB", SYNTAX),
            ("COPY f h REPLACE REPLACE", b":1\r\n"),
        ],
    );
}

/// EXPIRETIME and PEXPIRETIME give the absolute Unix time, -1 without an
/// expiry and -2 for a missing key.
#[test]
fn expiretime_is_absolute_unix_time() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        ("SET k v", b"+OK\r\n"),
        ("EXPIRETIME k", b":-1\r\n"),
        ("PEXPIRETIME k", b":-1\r\n"),
        ("EXPIRETIME nokey", b":-2\r\n"),
        ("PEXPIRETIME nokey", b":-2\r\n"),
        ("EXPIRE k 100", b":1\r\n"),
    ]);
    let at = client.call("EXPIRETIME k").integer();
    assert!((at - unix_secs() - 100).abs() <= 1, "EXPIRETIME {at}");
    let at_ms = client.call("PEXPIRETIME k").integer();
    assert!((at_ms / 1000 - at).abs() <= 1, "PEXPIRETIME {at_ms}");
    done(client);
}

/// RANDOMKEY names a live key, and answers null (per protocol) when there
/// is none.
#[test]
fn randomkey_names_a_key_or_null() {
    let addr = start(config());
    check_resp(addr, &[("RANDOMKEY", b"$-1\r\n")]);
    let mut client = resp3(addr);
    client.run(&[("RANDOMKEY", b"_\r\n"), ("MSET a 1 b 2", b"+OK\r\n")]);
    for _ in 0..20 {
        let key = client.call("RANDOMKEY").string();
        assert!(key == "a" || key == "b", "RANDOMKEY {key}");
    }
    client.run(&[(
        "RANDOMKEY x",
        b"-ERR wrong number of arguments for 'randomkey' command\r\n",
    )]);
    done(client);
}

/// OBJECT answers Redis's encodings, refcount 1, an idle time, FREQ's error
/// under LRU, nulls for a missing key, and HELP.
#[test]
fn object_subcommands_answer_as_redis() {
    check_resp(
        start(config()),
        &[
            ("SET i 12345", b"+OK\r\n"),
            ("SET e abc", b"+OK\r\n"),
            ("SET r aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", b"+OK\r\n"),
            ("SET ii 012", b"+OK\r\n"),
            ("SET neg -5", b"+OK\r\n"),
            ("OBJECT ENCODING i", b"$3\r\nint\r\n"),
            ("OBJECT ENCODING e", b"$6\r\nembstr\r\n"),
            ("OBJECT ENCODING r", b"$3\r\nraw\r\n"),
            ("OBJECT ENCODING ii", b"$6\r\nembstr\r\n"),
            ("object encoding neg", b"$3\r\nint\r\n"),
            ("OBJECT ENCODING nokey", b"$-1\r\n"),
            ("OBJECT IDLETIME i", b":0\r\n"),
            ("OBJECT IDLETIME nokey", b"$-1\r\n"),
            (
                "OBJECT FREQ i",
                b"-ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
                  Please note that when switching between policies at runtime LRU and LFU data \
                  will take some time to adjust.\r\n",
            ),
            ("OBJECT FREQ nokey", b"$-1\r\n"),
            ("OBJECT REFCOUNT e", b":1\r\n"),
            ("OBJECT REFCOUNT nokey", b"$-1\r\n"),
            ("OBJECT FOO i", b"-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n"),
            ("OBJECT", b"-ERR wrong number of arguments for 'object' command\r\n"),
            (
                "OBJECT ENCODING",
                b"-ERR wrong number of arguments for 'object|encoding' command\r\n",
            ),
            (
                "OBJECT ENCODING a b",
                b"-ERR wrong number of arguments for 'object|encoding' command\r\n",
            ),
            (
                "OBJECT HELP x",
                b"-ERR wrong number of arguments for 'object|help' command\r\n",
            ),
            (
                "OBJECT HELP",
                b"*15\r\n+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n\
                  +ENCODING <key>\r\n\
                  +    Return the kind of internal representation used in order to store the value\r\n\
                  +    associated with a <key>.\r\n\
                  +FREQ <key>\r\n\
                  +    Return the access frequency index of the <key>. The returned integer is\r\n\
                  +    proportional to the logarithm of the recent access frequency of the key.\r\n\
                  +IDLETIME <key>\r\n\
                  +    Return the idle time of the <key>, that is the approximated number of\r\n\
                  +    seconds elapsed since the last access to the key.\r\n\
                  +REFCOUNT <key>\r\n\
                  +    Return the number of references of the value associated with the specified\r\n\
                  +    <key>.\r\n\
                  +HELP\r\n\
                  +    Prints this help.\r\n",
            ),
        ],
    );
}

/// OBJECT IDLETIME counts from the last access on the store's clock; a
/// read resets it, and CLIENT NO-TOUCH keeps reads from resetting it.
#[test]
fn object_idletime_follows_the_access_clock_and_no_touch() {
    let clock = blink_store::store::Clock::manual();
    let addr = common::start_with_clock(config(), clock.clone());
    let mut client = Client::tcp(addr);
    client.run(&[("SET k v", b"+OK\r\n")]);
    clock.advance(Duration::from_secs(7));
    client.run(&[("OBJECT IDLETIME k", b":7\r\n"), ("GET k", b"$1\r\nv\r\n")]);
    client.run(&[("OBJECT IDLETIME k", b":0\r\n")]);
    clock.advance(Duration::from_secs(3));
    client.run(&[
        ("CLIENT NO-TOUCH on", b"+OK\r\n"),
        ("GET k", b"$1\r\nv\r\n"),
        ("OBJECT IDLETIME k", b":3\r\n"),
        ("TOUCH k", b":1\r\n"),
        ("OBJECT IDLETIME k", b":0\r\n"),
        ("CLIENT NO-TOUCH maybe", SYNTAX),
        ("CLIENT NO-TOUCH off", b"+OK\r\n"),
    ]);
    done(client);
}

/// MEMORY USAGE is the entry's slot and record; its options are checked
/// as Redis checks them.
#[test]
fn memory_usage_is_the_entrys_bytes() {
    check_resp(
        start(config()),
        &[
            // 16-byte slot + a 6-byte header, 1-byte key and 3-byte value
            // in the 16-byte class.
            ("SET e abc", b"+OK\r\n"),
            ("MEMORY USAGE e", b":32\r\n"),
            ("MEMORY USAGE e SAMPLES 5", b":32\r\n"),
            // An expiry adds its 8 bytes to the record: the 24-byte class.
            ("EXPIRE e 100", b":1\r\n"),
            ("MEMORY USAGE e", b":40\r\n"),
            ("MEMORY USAGE nokey", b"$-1\r\n"),
            ("MEMORY USAGE e SAMPLES x", NOT_INTEGER),
            ("MEMORY USAGE e SAMPLES -1", SYNTAX),
            ("MEMORY USAGE e FOO", SYNTAX),
            ("MEMORY USAGE e SAMPLES", SYNTAX),
            (
                "MEMORY FOO",
                b"-ERR unknown subcommand 'FOO'. Try MEMORY HELP.\r\n",
            ),
            (
                "MEMORY",
                b"-ERR wrong number of arguments for 'memory' command\r\n",
            ),
            (
                "MEMORY USAGE",
                b"-ERR wrong number of arguments for 'memory|usage' command\r\n",
            ),
        ],
    );
}

/// In RESP3 the nulls of OBJECT, MEMORY USAGE and RANDOMKEY are `_`, and
/// the other replies are as in RESP2.
#[test]
fn resp3_replies_of_the_keyspace_commands() {
    let mut client = resp3(start(config()));
    client.run(&[
        ("OBJECT ENCODING nokey", b"_\r\n"),
        ("MEMORY USAGE nokey", b"_\r\n"),
        ("GETRANGE nokey 0 1", b"$0\r\n\r\n"),
        ("INCRBYFLOAT f 1.5", b"$3\r\n1.5\r\n"),
        ("SETRANGE f 3 x", b":4\r\n"),
        ("RENAMENX f g", b":1\r\n"),
        ("COPY g h", b":1\r\n"),
        ("MSETNX g 1", b":0\r\n"),
        ("RENAME nokey x", b"-ERR no such key\r\n"),
    ]);
    done(client);
}

/// The text protocol's verbs: UNLINK and TOUCH, RENAME, RENAMENX, COPY,
/// GETRANGE, SETRANGE, INCRBYFLOAT and EXPIRETIME, with their documented
/// replies.
#[test]
fn text_protocol_keyspace_verbs() {
    check(
        start(config()),
        &[
            (b"SET a hello\n", b"OK\n"),
            (b"GETRANGE a 1 3\n", b"VALUE ZWxs\n"),
            (
                b"GETRANGE a 1\n",
                b"ERROR wrong number of arguments for 'GETRANGE'\n",
            ),
            (b"SETRANGE a 5 world wide\n", b"SETRANGE 15\n"),
            (b"SETRANGE a -1 x\n", b"ERROR offset is out of range\n"),
            (b"RENAME a b\n", b"OK\n"),
            (b"RENAME a b\n", b"ERROR no such key\n"),
            (b"RENAME a\n", b"ERROR RENAME requires key\n"),
            (b"SET c 1\n", b"OK\n"),
            (b"RENAMENX b c\n", b"RENAMENX 0\n"),
            (b"RENAMENX b d\n", b"RENAMENX 1\n"),
            (b"COPY d e\n", b"COPY 1\n"),
            (b"COPY d e\n", b"COPY 0\n"),
            (b"COPY d e REPLACE\n", b"COPY 1\n"),
            (b"COPY d e NOW\n", b"ERROR syntax error\n"),
            (
                b"COPY d d\n",
                b"ERROR source and destination objects are the same\n",
            ),
            (b"TOUCH d e nokey\n", b"TOUCH 2\n"),
            (b"EXPIRETIME d\n", b"EXPIRETIME -1\n"),
            (b"PEXPIRETIME nokey\n", b"PEXPIRETIME -2\n"),
            (b"INCRBYFLOAT f 2.5\n", b"INCRBYFLOAT 2.5\n"),
            (b"INCRBYFLOAT f x\n", b"ERROR value is not a valid float\n"),
            (b"UNLINK d\n", b"OK\n"),
            (b"UNLINK d\n", b"NOT_FOUND\n"),
        ],
    );
}

/// A COPY under the memory limit evicts as a SET does; a RENAME needs no
/// room and evicts nothing.
#[test]
fn copy_evicts_under_the_limit_and_rename_does_not() {
    let addr = start(Config {
        memory_limit: 100,
        ..config()
    });
    let mut client = Client::tcp(addr);
    let value = "x".repeat(40);
    client.call(&format!("SET a {value}"));
    client.call(&format!("SET b {value}"));
    client.run(&[("RENAME a c", b"+OK\r\n"), ("DBSIZE", b":2\r\n")]);
    client.run(&[("COPY c d", b":1\r\n"), ("DBSIZE", b":2\r\n")]);
    assert!(client.call("USAGE").integer() <= 100);
    done(client);
}

/// Two connections renaming keys onto each other's keys at once leave the
/// byte count exact (USAGE equals the sum of what is stored).
#[test]
fn concurrent_renames_keep_the_byte_count_exact() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    client.run(&[("MSET a 1 b 22 c 333", b"+OK\r\n")]);
    let workers: Vec<_> = (0..2)
        .map(|w| {
            thread::spawn(move || {
                let mut client = Client::tcp(addr);
                let names = ["a", "b", "c", "d"];
                for i in 0..300 {
                    let from = names[(i + w) % 4];
                    let to = names[(i * 3 + 1) % 4];
                    let _ = client.call(&format!("RENAME {from} {to}"));
                    let _ = client.call(&format!("COPY {to} {from}"));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let mut total = 0;
    for key in ["a", "b", "c", "d"] {
        if let Resp::Bulk(v) = client.call(&format!("GET {key}")) {
            total += v.len() + 1;
        }
    }
    assert_eq!(client.call("USAGE").integer() as usize, total);
    done(client);
}
