//! The commands beside SET, GET and DELETE, at the wire: PING, SETNX, DEL,
//! EXISTS, DBSIZE, FLUSHALL and STATS, with their argument errors and the
//! STATS counters that a known sequence of requests makes deterministic.

mod common;

use std::time::Duration;

use blink_store::config::Config;
use blink_store::store::Clock;
use common::{check, config, same, start, start_with_clock, value_reply, Client};

/// Every STATS counter, in the order the server lists them.
const STAT_NAMES: &[&str] = &[
    "uptime_seconds",
    "connections_current",
    "connections_total",
    "connections_rejected",
    "commands_processed",
    "get_hits",
    "get_misses",
    "keys",
    "bytes",
    "memory_limit",
    "evictions",
    "expired_keys",
    "pool_size",
    "timeouts_idle",
    "timeouts_request",
    "timeouts_write",
    "timeouts_auth",
    "kicks_unauthenticated",
    "auth_failures",
    "aof_enabled",
    "aof_current_size",
    "aof_base_size",
    "aof_pending_bytes",
    "aof_last_write_ok",
    "aof_last_fsync_age_ms",
    "aof_rewrite_in_progress",
    "aof_last_bgrewrite_ok",
    "aof_rewrites",
    "pubsub_channels",
    "pubsub_patterns",
    "pubsub_subscribers",
    "pubsub_slow_disconnected",
    "tracking_clients",
    "tracking_keys",
];

/// The line a connection gets when every worker is busy.
const REFUSAL: &[u8] = b"ERROR max number of clients reached\n";

/// PING answers PONG, in any case.
#[test]
fn ping_answers_pong() {
    check(
        start(config()),
        &[
            (b"PING\n", b"PONG\n"),
            (b"ping\n", b"PONG\n"),
            (b" Ping\r\n", b"PONG\n"),
            (b"USAGE\n", b"USAGE 0\n"),
        ],
    );
}

/// SETNX stores a value only when the key is absent.
#[test]
fn setnx_stores_only_absent_keys() {
    check(
        start(config()),
        &[
            (b"SETNX k first\n", b"OK\n"),
            (b"SETNX k second\n", b"NOT_STORED\n"),
            (b"GET k\n", b"VALUE Zmlyc3Q=\n"),
            (b"USAGE\n", b"USAGE 6\n"),
            (b"DELETE k\n", b"OK\n"),
            (b"SETNX k third\n", b"OK\n"),
            (b"GET k\n", b"VALUE dGhpcmQ=\n"),
        ],
    );
}

/// SETNX's value is the rest of the line trimmed, as for SET; it may be empty.
#[test]
fn setnx_value_is_the_trimmed_rest_of_the_line() {
    check(
        start(config()),
        &[
            (b"SETNX sp \t hello big   world \t\n", b"OK\n"),
            (b"GET sp\n", &value_reply(b"hello big   world")),
            (b"SETNX empty\n", b"OK\n"),
            (b"GET empty\n", b"VALUE \n"),
            (b"USAGE\n", b"USAGE 24\n"),
        ],
    );
}

/// DEL is DELETE: OK for a present key, then NOT_FOUND.
#[test]
fn del_removes_the_key_once() {
    check(
        start(config()),
        &[
            (b"SET k v\n", b"OK\n"),
            (b"DEL k\n", b"OK\n"),
            (b"GET k\n", b"NOT_FOUND\n"),
            (b"DEL k\n", b"NOT_FOUND\n"),
            (b"del never\n", b"NOT_FOUND\n"),
            (b"USAGE\n", b"USAGE 0\n"),
        ],
    );
}

/// EXISTS answers 1 for a present key and 0 for an absent one.
#[test]
fn exists_reports_presence() {
    check(
        start(config()),
        &[
            (b"EXISTS k\n", b"EXISTS 0\n"),
            (b"SET k v\n", b"OK\n"),
            (b"EXISTS k\n", b"EXISTS 1\n"),
            (b"EXISTS K\n", b"EXISTS 0\n"),
            (b"SET empty\n", b"OK\n"),
            (b"EXISTS empty\n", b"EXISTS 1\n"),
            (b"DELETE k\n", b"OK\n"),
            (b"exists k\n", b"EXISTS 0\n"),
        ],
    );
}

/// DBSIZE counts keys: overwrites do not add one, deletes take one away.
#[test]
fn dbsize_counts_keys() {
    check(
        start(config()),
        &[
            (b"DBSIZE\n", b"DBSIZE 0\n"),
            (b"SET a 1\n", b"OK\n"),
            (b"SET b 2\n", b"OK\n"),
            (b"SET a 3\n", b"OK\n"),
            (b"SETNX b 4\n", b"NOT_STORED\n"),
            (b"DBSIZE\n", b"DBSIZE 2\n"),
            (b"DEL a\n", b"OK\n"),
            (b"DEL a\n", b"NOT_FOUND\n"),
            (b"dbsize\n", b"DBSIZE 1\n"),
        ],
    );
}

/// DBSIZE follows eviction: it equals the number of keys still readable.
#[test]
fn dbsize_follows_eviction() {
    let mut client = Client::tcp(start(Config {
        memory_limit: 100,
        ..config()
    }));
    for i in 0..30 {
        // Each entry is 3 key bytes and 7 value bytes: ten fit.
        client.expect(format!("SET k{i:02} value{i:02}\n").as_bytes(), b"OK\n");
    }
    let readable = (0..30)
        .filter(|i| client.ask(format!("EXISTS k{i:02}\n").as_bytes()) == b"EXISTS 1\n")
        .count();
    assert!(
        readable <= 10,
        "{readable} keys of 10 bytes under a 100-byte limit"
    );
    client.expect(b"DBSIZE\n", format!("DBSIZE {readable}\n").as_bytes());
    client.expect(b"USAGE\n", format!("USAGE {}\n", readable * 10).as_bytes());
}

/// FLUSHALL removes every key: USAGE and DBSIZE return to 0, and the store works on.
#[test]
fn flushall_empties_the_store() {
    let addr = start(config());
    check(
        addr,
        &[
            (b"SET a 1\n", b"OK\n"),
            (b"SET b 22\n", b"OK\n"),
            (b"SETEX c 100 333\n", b"OK\n"),
            (b"FLUSHALL\n", b"OK\n"),
            (b"USAGE\n", b"USAGE 0\n"),
            (b"DBSIZE\n", b"DBSIZE 0\n"),
            (b"GET a\n", b"NOT_FOUND\n"),
            (b"EXISTS b\n", b"EXISTS 0\n"),
            (b"TTL c\n", b"TTL -2\n"),
            (b"FLUSHALL\n", b"OK\n"),
            (b"SET a again\n", b"OK\n"),
            (b"DBSIZE\n", b"DBSIZE 1\n"),
        ],
    );
    check(
        addr,
        &[
            (b"GET a\n", b"VALUE YWdhaW4=\n"),
            (b"USAGE\n", b"USAGE 6\n"),
        ],
    );
}

/// SETNX, DEL and EXISTS without a key name the command in the error.
#[test]
fn key_commands_without_key_name_the_command() {
    check(
        start(config()),
        &[
            (b"SETNX\n", b"ERROR SETNX requires key\n"),
            (b"DEL\n", b"ERROR DEL requires key\n"),
            (b"EXISTS\n", b"ERROR EXISTS requires key\n"),
            (b"exists \t\n", b"ERROR EXISTS requires key\n"),
            (b"DBSIZE\n", b"DBSIZE 0\n"),
        ],
    );
}

/// Extra arguments to DEL and DBSIZE are refused by name and change
/// nothing; EXISTS counts every key it is given, as Redis does.
#[test]
fn key_commands_refuse_extra_arguments() {
    check(
        start(config()),
        &[
            (b"SET a 1\n", b"OK\n"),
            (b"DEL a b\n", b"ERROR wrong number of arguments for 'DEL'\n"),
            (b"EXISTS a b a\n", b"EXISTS 2\n"),
            (
                b"DBSIZE x\n",
                b"ERROR wrong number of arguments for 'DBSIZE'\n",
            ),
            (b"GET a\n", b"VALUE MQ==\n"),
            (b"DBSIZE\n", b"DBSIZE 1\n"),
        ],
    );
}

/// STATS lists every counter by name, in order, each with a number, then END.
#[test]
fn stats_lists_every_counter_in_order() {
    let mut client = Client::tcp(start(config()));
    let names: Vec<String> = client.stats().into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, STAT_NAMES, "STATS counter names");
    same(&client.finish(), b"", "bytes after END");
}

/// On a fresh server STATS counts a known sequence of requests exactly.
#[test]
fn stats_count_a_known_sequence() {
    let mut client = Client::tcp(start(Config {
        memory_limit: 1000,
        threads: 3,
        ..config()
    }));
    client.transcript(&[
        (b"SET a 1\n", b"OK\n"),
        (b"SET bb 22\n", b"OK\n"),
        (b"GET a\n", b"VALUE MQ==\n"),
        (b"GET bb\n", b"VALUE MjI=\n"),
        (b"GET zz\n", b"NOT_FOUND\n"),
        (b"GET a\n", b"VALUE MQ==\n"),
    ]);
    let stats = client.stats();
    let stat = |name: &str| {
        stats
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("STATS has no {name}: {stats:?}"))
            .1
    };
    let expected = [
        ("connections_current", 1),
        ("connections_total", 1),
        ("connections_rejected", 0),
        ("get_hits", 3),
        ("get_misses", 1),
        ("keys", 2),
        ("bytes", 6),
        ("memory_limit", 1000),
        ("evictions", 0),
        ("expired_keys", 0),
        ("pool_size", 3),
        ("timeouts_idle", 0),
        ("timeouts_request", 0),
        ("timeouts_write", 0),
        ("timeouts_auth", 0),
        ("kicks_unauthenticated", 0),
        ("auth_failures", 0),
    ];
    for (name, value) in expected {
        assert_eq!(stat(name), value, "STAT {name}; all: {stats:?}");
    }
    // Six requests came before STATS; whether STATS counts itself is the
    // server's choice.
    let processed = stat("commands_processed");
    assert!(
        (6..=7).contains(&processed),
        "STAT commands_processed {processed} after 6 requests"
    );
    let uptime = stat("uptime_seconds");
    assert!(
        uptime <= 60,
        "STAT uptime_seconds {uptime} on a fresh server"
    );
    same(&client.finish(), b"", "bytes after END");
}

/// STATS counts evictions and follows keys and bytes through them.
#[test]
fn stats_count_evictions() {
    let mut client = Client::tcp(start(Config {
        memory_limit: 100,
        ..config()
    }));
    for i in 0..11 {
        // Each entry is 3 key bytes and 7 value bytes: the eleventh evicts.
        client.expect(format!("SET k{i:02} value{i:02}\n").as_bytes(), b"OK\n");
    }
    let stats = client.stats();
    let stat = |name: &str| stats.iter().find(|(n, _)| n == name).unwrap().1;
    assert!(stat("evictions") >= 1, "no eviction counted: {stats:?}");
    assert_eq!(stat("keys"), 11 - stat("evictions"), "keys: {stats:?}");
    assert_eq!(stat("bytes"), 10 * stat("keys"), "bytes: {stats:?}");
}

/// connections_current counts every open connection, the asking one included.
#[test]
fn stats_count_current_connections() {
    let addr = start(config());
    let mut asking = Client::tcp(addr);
    asking.expect(b"PING\n", b"PONG\n");
    let mut others: Vec<_> = (0..2)
        .map(|_| {
            let mut other = Client::tcp(addr);
            // A reply proves the server has taken the connection in.
            other.expect(b"PING\n", b"PONG\n");
            other
        })
        .collect();
    asking.await_stat("connections_current", 3);
    asking.await_stat("connections_total", 3);
    let leaving = others.pop().unwrap();
    same(&leaving.finish(), b"", "closing client");
    asking.await_stat("connections_current", 2);
    asking.expect(b"PING\n", b"PONG\n");
    asking.await_stat("connections_total", 3);
}

/// A connection refused for want of a worker is counted in connections_rejected.
#[test]
fn stats_count_rejected_connections() {
    let addr = start(Config {
        threads: 1,
        ..config()
    });
    let mut holder = Client::tcp(addr);
    holder.expect(b"PING\n", b"PONG\n");
    for _ in 0..2 {
        same(&Client::tcp(addr).rest(), REFUSAL, "client over the limit");
    }
    holder.await_stat("connections_rejected", 2);
    holder.await_stat("connections_current", 1);
}

/// Keys that expire are counted once in expired_keys, read or not.
#[test]
fn stats_count_expired_keys() {
    let clock = Clock::manual();
    let mut client = Client::tcp(start_with_clock(config(), clock.clone()));
    client.transcript(&[
        (b"PSETEX a 100 1\n", b"OK\n"),
        (b"PSETEX b 100 2\n", b"OK\n"),
        (b"PSETEX c 100 3\n", b"OK\n"),
        (b"SET d 4\n", b"OK\n"),
    ]);
    clock.advance(Duration::from_millis(200));
    client.transcript(&[(b"GET a\n", b"NOT_FOUND\n"), (b"GET a\n", b"NOT_FOUND\n")]);
    client.await_stat("expired_keys", 3);
    client.await_stat("keys", 1);
    client.await_stat("bytes", 2);
    client.transcript(&[(b"GET b\n", b"NOT_FOUND\n"), (b"DBSIZE\n", b"DBSIZE 1\n")]);
    client.await_stat("expired_keys", 3);
}
