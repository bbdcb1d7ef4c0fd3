//! Key expiry at the wire, on a manual clock: SETEX, PSETEX, EXPIRE,
//! PEXPIRE, PERSIST, TTL, PTTL and GETEX, the `-1`/`-2` sentinels, invalid
//! times, expired keys that must stay gone, active expiry of keys nobody
//! reads, and expired keys going before live ones under memory pressure.
//!
//! Time moves only when a test calls `advance`; the background expiry
//! thread wakes on real time, so a test waits for it by polling a reply
//! with a deadline, never by sleeping.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use blink_store::config::Config;
use blink_store::store::Clock;
use common::{config, same, start_with_clock, value_reply, Client};

/// A server on a manual clock at 0 ms, and that clock.
fn server(config: Config) -> (SocketAddr, Clock) {
    let clock = Clock::manual();
    (start_with_clock(config, clock.clone()), clock)
}

/// A client of a fresh server with default settings on a manual clock.
fn client() -> (Client<std::net::TcpStream>, Clock) {
    let (addr, clock) = server(config());
    (Client::tcp(addr), clock)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `SET key value\n` as bytes.
fn set(key: &str, value: &[u8]) -> Vec<u8> {
    [b"SET ", key.as_bytes(), b" ", value, b"\n"].concat()
}

/// Checks the connection is closed cleanly with no bytes left over.
#[track_caller]
fn done(client: Client<std::net::TcpStream>) {
    same(&client.finish(), b"", "bytes after the last reply");
}

/// SETEX stores the value like SET and gives the key a TTL in seconds.
#[test]
fn setex_stores_value_with_ttl_in_seconds() {
    let (mut client, _clock) = client();
    client.transcript(&[
        (b"SETEX k 10 value\n", b"OK\n"),
        (b"GET k\n", b"VALUE dmFsdWU=\n"),
        (b"TTL k\n", b"TTL 10\n"),
        (b"PTTL k\n", b"PTTL 10000\n"),
        (b"USAGE\n", b"USAGE 6\n"),
    ]);
    done(client);
}

/// PSETEX gives the key a TTL in milliseconds.
#[test]
fn psetex_stores_value_with_ttl_in_milliseconds() {
    let (mut client, _clock) = client();
    client.transcript(&[
        (b"PSETEX k 1500 v\n", b"OK\n"),
        (b"GET k\n", b"VALUE dg==\n"),
        (b"PTTL k\n", b"PTTL 1500\n"),
        (b"TTL k\n", b"TTL 2\n"),
    ]);
    done(client);
}

/// SETEX and PSETEX take the trimmed rest of the line as the value, as SET does.
#[test]
fn setex_value_is_the_trimmed_rest_of_the_line() {
    let (mut client, _clock) = client();
    client.transcript(&[
        (b"SETEX a 10 \t hello big   world \t\n", b"OK\n"),
        (b"GET a\n", &value_reply(b"hello big   world")),
        (b"PSETEX b 10000  x\ty  \n", b"OK\n"),
        (b"GET b\n", &value_reply(b"x\ty")),
        (b"USAGE\n", b"USAGE 22\n"),
    ]);
    done(client);
}

/// TTL rounds the remaining milliseconds to the nearest second, half up.
#[test]
fn ttl_rounds_to_the_nearest_second() {
    let (mut client, clock) = client();
    client.expect(b"SETEX k 2 v\n", b"OK\n");
    clock.advance(ms(500));
    client.transcript(&[(b"PTTL k\n", b"PTTL 1500\n"), (b"TTL k\n", b"TTL 2\n")]);
    clock.advance(ms(1));
    client.transcript(&[(b"PTTL k\n", b"PTTL 1499\n"), (b"TTL k\n", b"TTL 1\n")]);
    clock.advance(ms(998));
    client.transcript(&[(b"PTTL k\n", b"PTTL 501\n"), (b"TTL k\n", b"TTL 1\n")]);
    clock.advance(ms(1));
    client.transcript(&[(b"PTTL k\n", b"PTTL 500\n"), (b"TTL k\n", b"TTL 1\n")]);
    clock.advance(ms(1));
    client.transcript(&[(b"PTTL k\n", b"PTTL 499\n"), (b"TTL k\n", b"TTL 0\n")]);
    clock.advance(ms(498));
    client.transcript(&[
        (b"PTTL k\n", b"PTTL 1\n"),
        (b"TTL k\n", b"TTL 0\n"),
        (b"GET k\n", b"VALUE dg==\n"),
    ]);
    done(client);
}

/// TTL and PTTL answer -2 for a missing key and -1 for a key without expiry.
#[test]
fn ttl_sentinels_for_missing_and_persistent_keys() {
    let (mut client, _clock) = client();
    client.transcript(&[
        (b"TTL k\n", b"TTL -2\n"),
        (b"PTTL k\n", b"PTTL -2\n"),
        (b"SET k v\n", b"OK\n"),
        (b"TTL k\n", b"TTL -1\n"),
        (b"PTTL k\n", b"PTTL -1\n"),
        (b"SETNX n v\n", b"OK\n"),
        (b"TTL n\n", b"TTL -1\n"),
    ]);
    done(client);
}

/// A key expires exactly at its deadline: there 1 ms before, gone at it.
#[test]
fn key_expires_at_its_deadline_to_the_millisecond() {
    let (mut client, clock) = client();
    client.expect(b"PSETEX k 100 v\n", b"OK\n");
    clock.advance(ms(99));
    client.transcript(&[
        (b"PTTL k\n", b"PTTL 1\n"),
        (b"GET k\n", b"VALUE dg==\n"),
        (b"EXISTS k\n", b"EXISTS 1\n"),
    ]);
    clock.advance(ms(1));
    client.transcript(&[(b"GET k\n", b"NOT_FOUND\n"), (b"PTTL k\n", b"PTTL -2\n")]);
    done(client);
}

/// An expired key is gone for every command at once, before any reclaiming.
#[test]
fn expired_key_is_gone_for_every_command() {
    let (mut client, clock) = client();
    client.transcript(&[(b"SETEX k 1 old\n", b"OK\n"), (b"SETEX d 1 old\n", b"OK\n")]);
    clock.advance(ms(1000));
    client.transcript(&[
        (b"GET k\n", b"NOT_FOUND\n"),
        (b"EXISTS k\n", b"EXISTS 0\n"),
        (b"TTL k\n", b"TTL -2\n"),
        (b"PTTL k\n", b"PTTL -2\n"),
        (b"GETEX k\n", b"NOT_FOUND\n"),
        (b"GETEX k EX 100\n", b"NOT_FOUND\n"),
        (b"PERSIST k\n", b"NOT_FOUND\n"),
        (b"DELETE k\n", b"NOT_FOUND\n"),
        (b"DEL d\n", b"NOT_FOUND\n"),
        (b"GET d\n", b"NOT_FOUND\n"),
    ]);
    done(client);
}

/// EXPIRE, PEXPIRE, PERSIST and GETEX cannot bring an expired key back.
#[test]
fn expired_key_cannot_be_revived() {
    let (mut client, clock) = client();
    client.expect(b"PSETEX k 10 old\n", b"OK\n");
    clock.advance(ms(10));
    client.transcript(&[
        (b"EXPIRE k 100\n", b"NOT_FOUND\n"),
        (b"PEXPIRE k 100000\n", b"NOT_FOUND\n"),
        (b"PERSIST k\n", b"NOT_FOUND\n"),
        (b"GETEX k PERSIST\n", b"NOT_FOUND\n"),
        (b"GET k\n", b"NOT_FOUND\n"),
        (b"TTL k\n", b"TTL -2\n"),
    ]);
    clock.advance(ms(1000));
    client.transcript(&[(b"GET k\n", b"NOT_FOUND\n"), (b"EXISTS k\n", b"EXISTS 0\n")]);
    done(client);
}

/// SETNX stores over an expired key, with no expiry left from the old one.
#[test]
fn setnx_succeeds_on_an_expired_key() {
    let (mut client, clock) = client();
    client.expect(b"SETEX k 1 old\n", b"OK\n");
    client.expect(b"SETNX k new\n", b"NOT_STORED\n");
    clock.advance(ms(1000));
    client.transcript(&[
        (b"SETNX k new\n", b"OK\n"),
        (b"GET k\n", b"VALUE bmV3\n"),
        (b"TTL k\n", b"TTL -1\n"),
        (b"SETNX k newer\n", b"NOT_STORED\n"),
    ]);
    clock.advance(ms(5000));
    client.expect(b"GET k\n", b"VALUE bmV3\n");
    done(client);
}

/// A plain SET removes the expiry a key had.
#[test]
fn set_removes_the_expiry() {
    let (mut client, clock) = client();
    client.transcript(&[
        (b"SETEX k 10 old\n", b"OK\n"),
        (b"SET k new\n", b"OK\n"),
        (b"TTL k\n", b"TTL -1\n"),
    ]);
    clock.advance(ms(20_000));
    client.transcript(&[(b"GET k\n", b"VALUE bmV3\n"), (b"TTL k\n", b"TTL -1\n")]);
    done(client);
}

/// SETEX over a key replaces both its value and its expiry.
#[test]
fn setex_over_a_key_replaces_its_expiry() {
    let (mut client, clock) = client();
    client.transcript(&[
        (b"SET k a\n", b"OK\n"),
        (b"SETEX k 100 b\n", b"OK\n"),
        (b"TTL k\n", b"TTL 100\n"),
        (b"PSETEX k 5000 c\n", b"OK\n"),
        (b"PTTL k\n", b"PTTL 5000\n"),
        (b"GET k\n", b"VALUE Yw==\n"),
        (b"USAGE\n", b"USAGE 2\n"),
    ]);
    clock.advance(ms(5000));
    client.expect(b"GET k\n", b"NOT_FOUND\n");
    done(client);
}

/// SETNX on a key with an expiry leaves its value and expiry alone.
#[test]
fn setnx_on_a_volatile_key_changes_nothing() {
    let (mut client, _clock) = client();
    client.transcript(&[
        (b"SETEX k 10 v\n", b"OK\n"),
        (b"SETNX k w\n", b"NOT_STORED\n"),
        (b"GET k\n", b"VALUE dg==\n"),
        (b"TTL k\n", b"TTL 10\n"),
    ]);
    done(client);
}

/// A key deleted and set again carries no expiry from before.
#[test]
fn deleted_key_set_again_has_no_old_expiry() {
    let (mut client, clock) = client();
    client.transcript(&[
        (b"SETEX k 10 v\n", b"OK\n"),
        (b"DEL k\n", b"OK\n"),
        (b"SET k w\n", b"OK\n"),
        (b"TTL k\n", b"TTL -1\n"),
    ]);
    clock.advance(ms(20_000));
    client.expect(b"GET k\n", b"VALUE dw==\n");
    done(client);
}

/// EXPIRE and PEXPIRE set a deadline on an existing key; a missing one is NOT_FOUND.
#[test]
fn expire_and_pexpire_set_the_deadline() {
    let (mut client, clock) = client();
    client.transcript(&[
        (b"SET k v\n", b"OK\n"),
        (b"EXPIRE k 5\n", b"OK\n"),
        (b"TTL k\n", b"TTL 5\n"),
        (b"PEXPIRE k 1500\n", b"OK\n"),
        (b"PTTL k\n", b"PTTL 1500\n"),
        (b"EXPIRE nobody 5\n", b"NOT_FOUND\n"),
        (b"PEXPIRE nobody 5\n", b"NOT_FOUND\n"),
        (b"EXISTS nobody\n", b"EXISTS 0\n"),
    ]);
    clock.advance(ms(1499));
    client.expect(b"GET k\n", b"VALUE dg==\n");
    clock.advance(ms(1));
    client.expect(b"GET k\n", b"NOT_FOUND\n");
    done(client);
}

/// EXPIRE keeps the value and moves a deadline both later and earlier.
#[test]
fn expire_moves_an_existing_deadline() {
    let (mut client, clock) = client();
    client.transcript(&[
        (b"SETEX k 10 v\n", b"OK\n"),
        (b"EXPIRE k 100\n", b"OK\n"),
        (b"TTL k\n", b"TTL 100\n"),
        (b"PEXPIRE k 50\n", b"OK\n"),
        (b"PTTL k\n", b"PTTL 50\n"),
        (b"GET k\n", b"VALUE dg==\n"),
    ]);
    clock.advance(ms(50));
    client.expect(b"GET k\n", b"NOT_FOUND\n");
    done(client);
}

/// PERSIST removes an expiry, answers OK for any existing key and NOT_FOUND otherwise.
#[test]
fn persist_removes_the_expiry() {
    let (mut client, clock) = client();
    client.transcript(&[
        (b"SETEX k 10 v\n", b"OK\n"),
        (b"PERSIST k\n", b"OK\n"),
        (b"TTL k\n", b"TTL -1\n"),
        (b"PERSIST k\n", b"OK\n"),
        (b"PERSIST nobody\n", b"NOT_FOUND\n"),
    ]);
    clock.advance(ms(20_000));
    client.transcript(&[(b"GET k\n", b"VALUE dg==\n"), (b"TTL k\n", b"TTL -1\n")]);
    done(client);
}

/// GETEX returns the value and sets, keeps or removes the expiry as asked.
#[test]
fn getex_updates_the_expiry_as_asked() {
    let (mut client, clock) = client();
    client.transcript(&[
        (b"SET k v\n", b"OK\n"),
        (b"GETEX k\n", b"VALUE dg==\n"),
        (b"TTL k\n", b"TTL -1\n"),
        (b"GETEX k EX 10\n", b"VALUE dg==\n"),
        (b"TTL k\n", b"TTL 10\n"),
        (b"GETEX k\n", b"VALUE dg==\n"),
        (b"TTL k\n", b"TTL 10\n"),
        (b"GETEX k PX 2500\n", b"VALUE dg==\n"),
        (b"PTTL k\n", b"PTTL 2500\n"),
        (b"GETEX k PERSIST\n", b"VALUE dg==\n"),
        (b"TTL k\n", b"TTL -1\n"),
        (b"GETEX nobody EX 10\n", b"NOT_FOUND\n"),
        (b"GETEX k PX 100\n", b"VALUE dg==\n"),
    ]);
    clock.advance(ms(100));
    client.expect(b"GETEX k\n", b"NOT_FOUND\n");
    done(client);
}

/// GETEX with an unknown option is a syntax error and changes nothing.
#[test]
fn getex_unknown_option_is_a_syntax_error() {
    let (mut client, _clock) = client();
    client.transcript(&[
        (b"SETEX k 10 v\n", b"OK\n"),
        (b"GETEX k BOGUS\n", b"ERROR syntax error\n"),
        (b"GETEX k KEEPTTL 5\n", b"ERROR syntax error\n"),
        (b"TTL k\n", b"TTL 10\n"),
        (b"GET k\n", b"VALUE dg==\n"),
    ]);
    done(client);
}

/// Zero, negative, non-numeric and overflowing times are refused and change nothing.
#[test]
fn invalid_expire_times_leave_the_key_alone() {
    let (mut client, _clock) = client();
    client.transcript(&[(b"SETEX k 100 v\n", b"OK\n"), (b"SET p w\n", b"OK\n")]);
    let bad: &[&[u8]] = &[
        b"EXPIRE k 0\n",
        b"EXPIRE k -5\n",
        b"EXPIRE k abc\n",
        b"EXPIRE k 1.5\n",
        b"EXPIRE k 99999999999999999999\n",
        b"EXPIRE k 9223372036854775807\n",
        b"PEXPIRE k 0\n",
        b"PEXPIRE k -1\n",
        b"PEXPIRE k 10ms\n",
        b"PEXPIRE k 99999999999999999999\n",
        b"EXPIRE p 0\n",
        b"EXPIRE p -5\n",
        b"PEXPIRE p abc\n",
        b"SETEX k 0 x\n",
        b"SETEX k -1 x\n",
        b"SETEX k abc x\n",
        b"SETEX k 9223372036854775807 x\n",
        b"PSETEX k 0 x\n",
        b"PSETEX k 99999999999999999999 x\n",
        b"GETEX k EX 0\n",
        b"GETEX k EX -5\n",
        b"GETEX k PX abc\n",
        b"GETEX k EX 9223372036854775807\n",
    ];
    for request in bad {
        client.expect(request, b"ERROR invalid expire time\n");
    }
    client.transcript(&[
        (b"GET k\n", b"VALUE dg==\n"),
        (b"TTL k\n", b"TTL 100\n"),
        (b"GET p\n", b"VALUE dw==\n"),
        (b"TTL p\n", b"TTL -1\n"),
        (b"USAGE\n", b"USAGE 4\n"),
    ]);
    done(client);
}

/// SETEX and PSETEX with an invalid time do not create the key.
#[test]
fn invalid_setex_time_stores_nothing() {
    let (mut client, _clock) = client();
    client.transcript(&[
        (b"SETEX n 0 v\n", b"ERROR invalid expire time\n"),
        (b"SETEX n -10 v\n", b"ERROR invalid expire time\n"),
        (b"SETEX n ten v\n", b"ERROR invalid expire time\n"),
        (
            b"SETEX n 9223372036854775807 v\n",
            b"ERROR invalid expire time\n",
        ),
        (b"PSETEX n 0 v\n", b"ERROR invalid expire time\n"),
        (b"PSETEX n -1 v\n", b"ERROR invalid expire time\n"),
        (
            b"PSETEX n 99999999999999999999 v\n",
            b"ERROR invalid expire time\n",
        ),
        (b"GET n\n", b"NOT_FOUND\n"),
        (b"EXISTS n\n", b"EXISTS 0\n"),
        (b"DBSIZE\n", b"DBSIZE 0\n"),
        (b"USAGE\n", b"USAGE 0\n"),
    ]);
    done(client);
}

/// Expiry commands without a key name the command; missing or extra tokens are refused.
#[test]
fn expiry_commands_check_their_arguments() {
    let (mut client, _clock) = client();
    client.transcript(&[
        (b"SET k v\n", b"OK\n"),
        (b"SETEX\n", b"ERROR SETEX requires key\n"),
        (b"PSETEX\n", b"ERROR PSETEX requires key\n"),
        (b"EXPIRE\n", b"ERROR EXPIRE requires key\n"),
        (b"PEXPIRE\n", b"ERROR PEXPIRE requires key\n"),
        (b"PERSIST\n", b"ERROR PERSIST requires key\n"),
        (b"TTL\n", b"ERROR TTL requires key\n"),
        (b"PTTL \t\n", b"ERROR PTTL requires key\n"),
        (b"GETEX\n", b"ERROR GETEX requires key\n"),
        (
            b"EXPIRE k\n",
            b"ERROR wrong number of arguments for 'EXPIRE'\n",
        ),
        (
            b"PEXPIRE k\n",
            b"ERROR wrong number of arguments for 'PEXPIRE'\n",
        ),
        (
            b"EXPIRE k 10 20\n",
            b"ERROR wrong number of arguments for 'EXPIRE'\n",
        ),
        (
            b"SETEX k\n",
            b"ERROR wrong number of arguments for 'SETEX'\n",
        ),
        (
            b"PSETEX k\n",
            b"ERROR wrong number of arguments for 'PSETEX'\n",
        ),
        (b"TTL a b\n", b"ERROR wrong number of arguments for 'TTL'\n"),
        (
            b"PTTL a b\n",
            b"ERROR wrong number of arguments for 'PTTL'\n",
        ),
        (
            b"PERSIST a b\n",
            b"ERROR wrong number of arguments for 'PERSIST'\n",
        ),
        (b"GET k\n", b"VALUE dg==\n"),
        (b"TTL k\n", b"TTL -1\n"),
    ]);
    done(client);
}

/// Expiry command names are case-insensitive.
#[test]
fn expiry_command_names_are_case_insensitive() {
    let (mut client, _clock) = client();
    client.transcript(&[
        (b"setex k 10 v\n", b"OK\n"),
        (b"Ttl k\n", b"TTL 10\n"),
        (b"pttl k\n", b"PTTL 10000\n"),
        (b"pexpire k 500\n", b"OK\n"),
        (b"Persist k\n", b"OK\n"),
        (b"expire k 7\n", b"OK\n"),
        (b"getex k\n", b"VALUE dg==\n"),
        (b"TTL k\n", b"TTL 7\n"),
    ]);
    done(client);
}

/// Keys nobody reads are reclaimed after their deadline: their bytes leave USAGE.
#[test]
fn active_expiry_reclaims_unread_keys() {
    let (mut client, clock) = client();
    client.expect(b"SET keep v\n", b"OK\n");
    for i in 0..50 {
        client.expect(format!("SETEX t{i:02} 1 value\n").as_bytes(), b"OK\n");
    }
    // Each volatile key is 3 key bytes plus 5 value bytes.
    client.transcript(&[(b"USAGE\n", b"USAGE 405\n"), (b"DBSIZE\n", b"DBSIZE 51\n")]);
    clock.advance(ms(2000));
    client.await_reply(b"USAGE\n", b"USAGE 5\n");
    client.await_reply(b"DBSIZE\n", b"DBSIZE 1\n");
    client.expect(b"GET keep\n", b"VALUE dg==\n");
    done(client);
}

/// Active expiry reclaims only keys whose deadline has passed.
#[test]
fn active_expiry_spares_keys_not_yet_due() {
    let (mut client, clock) = client();
    client.expect(b"PSETEX early 500 x\n", b"OK\n");
    for i in 0..20 {
        client.expect(format!("SETEX late{i:02} 1 value\n").as_bytes(), b"OK\n");
    }
    // "early" is 6 bytes; each "lateNN" key is 6 + 5 = 11 bytes.
    client.expect(b"USAGE\n", b"USAGE 226\n");
    clock.advance(ms(999));
    // Once "early" is reclaimed, the expiry thread has run after the
    // advance; every other key must have survived that run.
    client.await_reply(b"USAGE\n", b"USAGE 220\n");
    for i in 0..20 {
        client.expect(format!("PTTL late{i:02}\n").as_bytes(), b"PTTL 1\n");
    }
    client.expect(b"DBSIZE\n", b"DBSIZE 20\n");
    clock.advance(ms(1));
    client.await_reply(b"USAGE\n", b"USAGE 0\n");
    done(client);
}

/// Under memory pressure expired keys make room before any live key is evicted.
#[test]
fn expired_keys_go_before_live_keys_under_pressure() {
    let (addr, clock) = server(Config {
        memory_limit: 1000,
        ..config()
    });
    let mut client = Client::tcp(addr);
    // Every entry is a 2-byte key and a 48-byte value: 50 bytes.
    let value = |tag: u8| vec![tag; 48];
    for i in 0..10 {
        client.expect(&set(&format!("p{i}"), &value(b'p')), b"OK\n");
    }
    for i in 0..10 {
        let request = [format!("SETEX t{i} 1 ").as_bytes(), &value(b't')[..], b"\n"].concat();
        client.expect(&request, b"OK\n");
    }
    client.expect(b"USAGE\n", b"USAGE 1000\n");
    clock.advance(ms(2000));
    // The new keys need exactly the room the expired ones hold.
    for i in 0..10 {
        client.expect(&set(&format!("n{i}"), &value(b'n')), b"OK\n");
    }
    for i in 0..10 {
        client.expect(format!("GET p{i}\n").as_bytes(), &value_reply(&value(b'p')));
        client.expect(format!("GET n{i}\n").as_bytes(), &value_reply(&value(b'n')));
        client.expect(format!("GET t{i}\n").as_bytes(), b"NOT_FOUND\n");
    }
    client.expect(b"USAGE\n", b"USAGE 1000\n");
    done(client);
}
