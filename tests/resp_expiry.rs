//! Expiry over RESP at the wire, on a manual clock: SET's EX, PX, EXAT,
//! PXAT and KEEPTTL, SETEX, PSETEX, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT,
//! TTL, PTTL, PERSIST and GETEX, with Redis's replies, its rule that a time
//! in the past deletes the key, and which writes keep or drop a TTL.
//!
//! Relative times follow the manual clock only. Absolute times (EXAT, PXAT,
//! EXPIREAT, PEXPIREAT) are Unix times, converted with the wall clock at the
//! moment of the command and then followed on the manual clock, so the tests
//! use times far in the past or far in the future of the wall clock.
//!
//! Every expected reply was taken from Redis 7 given the same requests.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blink_store::store::Clock;
use common::resp::{bulks, check_resp, cmd, req, Resp};
use common::{config, done, start, start_with_clock, Client};

/// Redis's reply to an argument that is not an integer.
const NOT_INTEGER: &[u8] = b"-ERR value is not an integer or out of range\r\n";

/// A million seconds: far enough ahead that a slow test cannot reach it.
const FAR: u64 = 1_000_000;

/// A server on a manual clock at 0 ms, a client of it, and the clock.
fn server() -> (SocketAddr, Client<TcpStream>, Clock) {
    let clock = Clock::manual();
    let addr = start_with_clock(config(), clock.clone());
    (addr, Client::tcp(addr), clock)
}

/// The wall clock now, in whole seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// Asserts `TTL` (or `PTTL`) of `key` is within `range`.
#[track_caller]
fn ttl_within(client: &mut Client<TcpStream>, command: &str, range: std::ops::RangeInclusive<i64>) {
    let ttl = client.call(command).integer();
    assert!(
        range.contains(&ttl),
        "{command} answered {ttl}, expected {range:?}"
    );
}

/// SET EX and PX give a TTL that counts down with the clock; the key is gone once it passes.
#[test]
fn set_ex_and_px_count_down_with_the_clock() {
    let (_addr, mut client, clock) = server();
    client.run(&[
        ("SET k v EX 100", b"+OK\r\n"),
        ("TTL k", b":100\r\n"),
        ("PTTL k", b":100000\r\n"),
        ("SET p v PX 2500", b"+OK\r\n"),
        ("PTTL p", b":2500\r\n"),
    ]);
    clock.advance(Duration::from_secs(40));
    client.run(&[
        ("TTL k", b":60\r\n"),
        ("PTTL k", b":60000\r\n"),
        ("GET p", b"$-1\r\n"),
        ("PTTL p", b":-2\r\n"),
    ]);
    clock.advance(Duration::from_millis(60_001));
    client.run(&[
        ("GET k", b"$-1\r\n"),
        ("TTL k", b":-2\r\n"),
        ("EXISTS k", b":0\r\n"),
    ]);
    done(client);
}

/// TTL rounds the milliseconds left to the nearest second, as Redis does.
#[test]
fn ttl_rounds_to_the_nearest_second() {
    let (_addr, mut client, clock) = server();
    client.run(&[
        ("PSETEX k 1500 v", b"+OK\r\n"),
        ("TTL k", b":2\r\n"),
        ("PSETEX j 1499 v", b"+OK\r\n"),
        ("TTL j", b":1\r\n"),
    ]);
    clock.advance(Duration::from_millis(1000));
    client.run(&[
        ("PTTL k", b":500\r\n"),
        ("TTL k", b":1\r\n"),
        ("TTL j", b":0\r\n"),
    ]);
    done(client);
}

/// SETEX and PSETEX store the value with a TTL in seconds and in milliseconds.
#[test]
fn setex_and_psetex_set_a_ttl() {
    let (_addr, mut client, clock) = server();
    client.run(&[
        ("SETEX k 10 v", b"+OK\r\n"),
        ("PSETEX p 10000 w", b"+OK\r\n"),
        ("TTL k", b":10\r\n"),
        ("PTTL p", b":10000\r\n"),
        ("MGET k p", b"*2\r\n$1\r\nv\r\n$1\r\nw\r\n"),
    ]);
    clock.advance(Duration::from_millis(10_001));
    client.run(&[("MGET k p", b"*2\r\n$-1\r\n$-1\r\n")]);
    done(client);
}

/// KEEPTTL keeps the TTL, a plain SET, GETSET and MSET drop it, INCR and APPEND keep it.
#[test]
fn writes_keep_or_drop_the_ttl_as_redis() {
    let (_addr, mut client, clock) = server();
    client.run(&[("SET k v EX 100", b"+OK\r\n")]);
    clock.advance(Duration::from_secs(10));
    client.run(&[
        ("SET k w KEEPTTL", b"+OK\r\n"),
        ("TTL k", b":90\r\n"),
        ("SET k x KEEPTTL GET", b"$1\r\nw\r\n"),
        ("TTL k", b":90\r\n"),
        ("GET k", b"$1\r\nx\r\n"),
        ("SET k y", b"+OK\r\n"),
        ("TTL k", b":-1\r\n"),
        ("SET k v EX 100", b"+OK\r\n"),
        ("GETSET k w", b"$1\r\nv\r\n"),
        ("TTL k", b":-1\r\n"),
        ("SET k v EX 100", b"+OK\r\n"),
        ("MSET k 5", b"+OK\r\n"),
        ("TTL k", b":-1\r\n"),
        ("SET n 1 EX 100", b"+OK\r\n"),
        ("INCR n", b":2\r\n"),
        ("INCRBY n 5", b":7\r\n"),
        ("TTL n", b":100\r\n"),
        ("APPEND n 0", b":2\r\n"),
        ("TTL n", b":100\r\n"),
        ("GET n", b"$2\r\n70\r\n"),
        ("SET fresh v KEEPTTL", b"+OK\r\n"),
        ("TTL fresh", b":-1\r\n"),
    ]);
    done(client);
}

/// EXPIRE and PEXPIRE answer 1 for a present key and 0 for an absent one; PERSIST removes the TTL.
#[test]
fn expire_pexpire_and_persist_answer_as_redis() {
    let (_addr, mut client, clock) = server();
    client.run(&[
        ("SET k v", b"+OK\r\n"),
        ("TTL k", b":-1\r\n"),
        ("EXPIRE k 100", b":1\r\n"),
        ("TTL k", b":100\r\n"),
        ("EXPIRE nokey 100", b":0\r\n"),
        ("PEXPIRE nokey 100", b":0\r\n"),
        ("PEXPIRE k 5000", b":1\r\n"),
        ("PTTL k", b":5000\r\n"),
        ("PERSIST k", b":1\r\n"),
        ("PERSIST k", b":0\r\n"),
        ("PERSIST nokey", b":0\r\n"),
        ("TTL k", b":-1\r\n"),
        ("PTTL k", b":-1\r\n"),
        ("TTL nokey", b":-2\r\n"),
        ("PTTL nokey", b":-2\r\n"),
        ("EXPIRE k 10", b":1\r\n"),
    ]);
    clock.advance(Duration::from_millis(10_001));
    client.run(&[
        ("GET k", b"$-1\r\n"),
        ("EXPIRE k 10", b":0\r\n"),
        ("PERSIST k", b":0\r\n"),
        ("GET k", b"$-1\r\n"),
    ]);
    done(client);
}

/// EXPIRE's NX, XX, GT and LT decide as in Redis, and are read before the
/// time, so an option's error comes before the time's.
#[test]
fn expire_options_decide_and_fail_as_redis() {
    let (_addr, mut client, _clock) = server();
    let nx_with: &[u8] =
        b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n";
    let gt_with_lt: &[u8] = b"-ERR GT and LT options at the same time are not compatible\r\n";
    client.run(&[
        ("SET k v", b"+OK\r\n"),
        ("EXPIRE k 100 NX", b":1\r\n"),
        ("EXPIRE k 200 NX", b":0\r\n"),
        ("EXPIRE k 50 GT", b":0\r\n"),
        ("EXPIRE k 200 GT", b":1\r\n"),
        ("EXPIRE k 300 LT", b":0\r\n"),
        ("EXPIRE k 100 XX LT", b":1\r\n"),
        ("TTL k", b":100\r\n"),
        ("EXPIRE k 100 NX XX", nx_with),
        ("EXPIRE k 100 nx gt", nx_with),
        ("EXPIRE k 100 GT LT", gt_with_lt),
        ("EXPIRE k abc FOO", b"-ERR Unsupported option FOO\r\n"),
        ("EXPIRE k abc NX XX", nx_with),
        ("EXPIRE k abc GT LT", gt_with_lt),
        (
            "EXPIRE k abc",
            b"-ERR value is not an integer or out of range\r\n",
        ),
        (
            "PEXPIRE k 9223372036854775807 FOO",
            b"-ERR Unsupported option FOO\r\n",
        ),
        (
            "EXPIRE k 9223372036854775807",
            b"-ERR invalid expire time in 'expire' command\r\n",
        ),
        ("TTL k", b":100\r\n"),
    ]);
    // The option is quoted on one line, without its line breaks at the end.
    client.expect(
        &cmd(&[b"EXPIRE", b"k", b"100", b"a\r\nb\r\n"]),
        b"-ERR Unsupported option a  b\r\n",
    );
    done(client);
}

/// EXPIRE and PEXPIRE with zero or a negative time delete the key and answer 1, as Redis does.
#[test]
fn expire_with_time_not_ahead_deletes_the_key() {
    let (_addr, mut client, _clock) = server();
    client.run(&[
        ("SET k v", b"+OK\r\n"),
        ("EXPIRE k 0", b":1\r\n"),
        ("GET k", b"$-1\r\n"),
        ("SET k v", b"+OK\r\n"),
        ("EXPIRE k -1", b":1\r\n"),
        ("EXISTS k", b":0\r\n"),
        ("SET k v", b"+OK\r\n"),
        ("PEXPIRE k 0", b":1\r\n"),
        ("EXISTS k", b":0\r\n"),
        ("SET k v", b"+OK\r\n"),
        ("PEXPIRE k -9223372036854775808", b":1\r\n"),
        ("EXISTS k", b":0\r\n"),
        ("EXPIRE k 0", b":0\r\n"),
        ("USAGE", b":0\r\n"),
    ]);
    done(client);
}

/// Times that are not integers or that overflow are refused in Redis's words and change nothing.
#[test]
fn bad_expire_times_are_refused() {
    check_resp(
        start(config()),
        &[
            ("SET k v", b"+OK\r\n"),
            ("EXPIRE k abc", NOT_INTEGER),
            ("EXPIRE k 1.5", NOT_INTEGER),
            ("EXPIRE k 99999999999999999999", NOT_INTEGER),
            ("PEXPIRE k 9999999999999999999", NOT_INTEGER),
            ("EXPIREAT k abc", NOT_INTEGER),
            (
                "EXPIRE k 9223372036854775807",
                b"-ERR invalid expire time in 'expire' command\r\n",
            ),
            (
                "EXPIREAT k 9223372036854775807",
                b"-ERR invalid expire time in 'expireat' command\r\n",
            ),
            (
                "SET k v EXAT 9223372036854775807",
                b"-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "GETEX k EX 9223372036854775807",
                b"-ERR invalid expire time in 'getex' command\r\n",
            ),
            ("TTL k", b":-1\r\n"),
            ("GET k", b"$1\r\nv\r\n"),
        ],
    );
}

/// GETEX reads the value and sets, changes or removes the TTL; its errors are Redis's.
#[test]
fn getex_reads_and_sets_the_ttl() {
    let (_addr, mut client, clock) = server();
    client.run(&[
        ("SET k v", b"+OK\r\n"),
        ("GETEX k", b"$1\r\nv\r\n"),
        ("TTL k", b":-1\r\n"),
        ("GETEX k EX 100", b"$1\r\nv\r\n"),
        ("TTL k", b":100\r\n"),
        ("GETEX k PX 5000", b"$1\r\nv\r\n"),
        ("PTTL k", b":5000\r\n"),
        ("GETEX k", b"$1\r\nv\r\n"),
        ("PTTL k", b":5000\r\n"),
        ("GETEX k PERSIST", b"$1\r\nv\r\n"),
        ("TTL k", b":-1\r\n"),
        ("GETEX nokey EX 10", b"$-1\r\n"),
        ("EXISTS nokey", b":0\r\n"),
        (
            "GETEX k EX 0",
            b"-ERR invalid expire time in 'getex' command\r\n",
        ),
        (
            "GETEX k PXAT 0",
            b"-ERR invalid expire time in 'getex' command\r\n",
        ),
        ("GETEX k EX", b"-ERR syntax error\r\n"),
        ("GETEX k FOO", b"-ERR syntax error\r\n"),
        ("GETEX k EX 10 PX 10", b"-ERR syntax error\r\n"),
        ("GETEX k PERSIST EX 10", b"-ERR syntax error\r\n"),
        ("GETEX k EX abc", NOT_INTEGER),
        ("TTL k", b":-1\r\n"),
        ("GETEX k PX 1000", b"$1\r\nv\r\n"),
    ]);
    clock.advance(Duration::from_millis(1001));
    client.run(&[("GETEX k", b"$-1\r\n")]);
    done(client);
}

/// SET EXAT and PXAT in the past store nothing readable: the key is gone at once.
#[test]
fn set_exat_in_the_past_is_gone_at_once() {
    let (_addr, mut client, _clock) = server();
    client.run(&[
        ("SET k v EXAT 1", b"+OK\r\n"),
        ("GET k", b"$-1\r\n"),
        ("EXISTS k", b":0\r\n"),
        ("SET p v PXAT 1", b"+OK\r\n"),
        ("GET p", b"$-1\r\n"),
        ("SET old v", b"+OK\r\n"),
        ("SET old w EXAT 1000", b"+OK\r\n"),
        ("GET old", b"$-1\r\n"),
        ("TTL old", b":-2\r\n"),
    ]);
    done(client);
}

/// SET EXAT and PXAT far in the future give a large TTL measured from the wall clock.
#[test]
fn set_exat_in_the_future_gives_a_large_ttl() {
    let (_addr, mut client, clock) = server();
    let at = unix_now() + FAR;
    let far = FAR as i64;
    client.expect(&req(&format!("SET k v EXAT {at}")), b"+OK\r\n");
    ttl_within(&mut client, "TTL k", far - 60..=far);
    client.expect(&req(&format!("SET p v PXAT {}", at * 1000)), b"+OK\r\n");
    ttl_within(&mut client, "PTTL p", (far - 60) * 1000..=far * 1000);
    client.expect(&req("MGET k p"), &bulks(&[b"v", b"v"]));
    // Once converted, the deadline follows the server's clock.
    clock.advance(Duration::from_secs(FAR / 2));
    ttl_within(&mut client, "TTL k", far / 2 - 60..=far / 2);
    clock.advance(Duration::from_secs(FAR / 2 + 1));
    client.run(&[("MGET k p", b"*2\r\n$-1\r\n$-1\r\n")]);
    done(client);
}

/// EXPIREAT and PEXPIREAT in the past delete the key and answer 1; on absent keys they answer 0.
#[test]
fn expireat_in_the_past_deletes_the_key() {
    let (_addr, mut client, _clock) = server();
    client.run(&[
        ("SET k v", b"+OK\r\n"),
        ("EXPIREAT k 1", b":1\r\n"),
        ("EXISTS k", b":0\r\n"),
        ("SET k v", b"+OK\r\n"),
        ("PEXPIREAT k 0", b":1\r\n"),
        ("EXISTS k", b":0\r\n"),
        ("SET k v", b"+OK\r\n"),
        ("EXPIREAT k -1", b":1\r\n"),
        ("GET k", b"$-1\r\n"),
        ("EXPIREAT k 1", b":0\r\n"),
        ("USAGE", b":0\r\n"),
    ]);
    done(client);
}

/// EXPIREAT, PEXPIREAT and GETEX EXAT far in the future give a large TTL; absent keys answer 0.
#[test]
fn expireat_in_the_future_gives_a_large_ttl() {
    let (_addr, mut client, _clock) = server();
    let at = unix_now() + FAR;
    let far = FAR as i64;
    client.run(&[("MSET a 1 b 2 c 3", b"+OK\r\n")]);
    client.expect(&req(&format!("EXPIREAT nokey {at}")), b":0\r\n");
    client.expect(&req(&format!("PEXPIREAT nokey {}", at * 1000)), b":0\r\n");
    client.expect(&req(&format!("EXPIREAT a {at}")), b":1\r\n");
    ttl_within(&mut client, "TTL a", far - 60..=far);
    client.expect(&req(&format!("PEXPIREAT b {}", at * 1000)), b":1\r\n");
    ttl_within(&mut client, "PTTL b", (far - 60) * 1000..=far * 1000);
    client.expect(&req(&format!("GETEX c EXAT {at}")), b"$1\r\n3\r\n");
    ttl_within(&mut client, "TTL c", far - 60..=far);
    client.expect(&req(&format!("GETEX c PXAT {}", at * 1000)), b"$1\r\n3\r\n");
    ttl_within(&mut client, "TTL c", far - 60..=far);
    client.expect(&req("GETEX c EXAT 1"), b"$1\r\n3\r\n");
    client.run(&[
        ("GET c", b"$-1\r\n"),
        ("MGET a b", b"*2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
    ]);
    done(client);
}

/// An expired key is absent for every command: reads, counters, conditional writes, KEYS and SCAN.
#[test]
fn expired_keys_are_absent_for_every_command() {
    let (_addr, mut client, clock) = server();
    client.run(&[
        ("MSET live 1 gone 2", b"+OK\r\n"),
        ("PEXPIRE gone 100", b":1\r\n"),
        ("SET n 5 PX 100", b"+OK\r\n"),
        ("SET s abc PX 100", b"+OK\r\n"),
        ("SET g old PX 100", b"+OK\r\n"),
        ("SET x old PX 100", b"+OK\r\n"),
        ("SET nx old PX 100", b"+OK\r\n"),
        ("SET sn old PX 100", b"+OK\r\n"),
    ]);
    clock.advance(Duration::from_millis(101));
    client.run(&[
        ("GET gone", b"$-1\r\n"),
        ("MGET live gone", b"*2\r\n$1\r\n1\r\n$-1\r\n"),
        ("EXISTS live gone", b":1\r\n"),
        ("TYPE gone", b"+none\r\n"),
        ("STRLEN gone", b":0\r\n"),
        ("TTL gone", b":-2\r\n"),
        ("GETDEL gone", b"$-1\r\n"),
        ("DEL gone", b":0\r\n"),
        ("INCR n", b":1\r\n"),
        ("APPEND s xy", b":2\r\n"),
        ("GETSET g new", b"$-1\r\n"),
        ("SET x new XX", b"$-1\r\n"),
        ("GET x", b"$-1\r\n"),
        ("SET nx new NX", b"+OK\r\n"),
        ("SETNX sn new", b":1\r\n"),
    ]);
    // Sorted, as Redis gives KEYS in no order.
    let mut keys: Vec<String> = client
        .call("KEYS *")
        .array()
        .iter()
        .map(Resp::string)
        .collect();
    keys.sort();
    assert_eq!(keys, ["g", "live", "n", "nx", "s", "sn"]);
    done(client);
}

/// A relative time that overflows 64-bit Unix milliseconds once the time
/// now is added is an invalid expire time, as in Redis, for every command
/// that takes one; an absolute one that fits is accepted.
#[test]
fn expire_times_that_overflow_with_the_time_now_are_refused() {
    let invalid = |name: &str| format!("-ERR invalid expire time in '{name}' command\r\n");
    let huge = "9223370399119966";
    check_resp(
        start(config()),
        &[
            (&format!("EXPIRE k {huge}"), invalid("expire").as_bytes()),
            ("SET k v", b"+OK\r\n"),
            (&format!("EXPIRE k {huge}"), invalid("expire").as_bytes()),
            (
                &format!("PEXPIRE k {huge}000"),
                invalid("pexpire").as_bytes(),
            ),
            (&format!("SET k v EX {huge}"), invalid("set").as_bytes()),
            (&format!("SETEX k {huge} v"), invalid("setex").as_bytes()),
            (&format!("GETEX k EX {huge}"), invalid("getex").as_bytes()),
            ("TTL k", b":-1\r\n"),
            (&format!("EXPIREAT k {huge}"), b":1\r\n"),
        ],
    );
}

/// An absolute expire time reads back exactly as given, second or
/// millisecond, however the clocks' readings fall (the store converts with
/// one offset, read once).
#[test]
fn expiretime_reads_back_exactly_what_expireat_set() {
    let mut client = Client::tcp(start(config()));
    let base = unix_now() + 1000;
    for i in 0..200 {
        let secs = base + i;
        client.expect(&req(&format!("SET k v EXAT {secs}")), b"+OK\r\n");
        client.expect(&req("EXPIRETIME k"), format!(":{secs}\r\n").as_bytes());
        let ms = secs * 1000 + i * 7 % 1000;
        client.expect(&req(&format!("PEXPIREAT k {ms}")), b":1\r\n");
        client.expect(&req("PEXPIRETIME k"), format!(":{ms}\r\n").as_bytes());
    }
    done(client);
}
