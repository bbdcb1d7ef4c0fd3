//! Bounds at the wire: key length, value size, entry size against the memory
//! limit, line length, and eviction that keeps USAGE under the limit.

mod common;

use blink_store::config::Config;
use blink_store::store::MAX_KEY_LEN;
use common::{check, config, same, start, value_reply, Client};

/// Longest request line for a `max_value_size`: a maximal key and value plus
/// 64 bytes for the command name and separators.
fn line_cap(max_value_size: usize) -> usize {
    MAX_KEY_LEN + max_value_size + 64
}

/// `SET key value\n` as bytes.
fn set(key: &[u8], value: &[u8]) -> Vec<u8> {
    [b"SET ", key, b" ", value, b"\n"].concat()
}

/// `GET key\n` as bytes.
fn get(key: &[u8]) -> Vec<u8> {
    [b"GET ", key, b"\n"].concat()
}

/// A key of exactly 65535 bytes is stored and read back.
#[test]
fn longest_key_is_accepted() {
    let key = vec![b'k'; MAX_KEY_LEN];
    check(
        start(config()),
        &[
            (&set(&key, b"v"), b"OK\n"),
            (&get(&key), b"VALUE dg==\n"),
            (
                b"USAGE\n",
                format!("USAGE {}\n", MAX_KEY_LEN + 1).as_bytes(),
            ),
            (&[b"DELETE ", &key[..], b"\n"].concat(), b"OK\n"),
        ],
    );
}

/// A key one byte over the cap is refused by every command; the connection carries on.
#[test]
fn key_over_the_cap_is_refused() {
    let key = vec![b'k'; MAX_KEY_LEN + 1];
    check(
        start(config()),
        &[
            (&set(&key, b"v"), b"ERROR key too long\n"),
            (&get(&key), b"ERROR key too long\n"),
            (
                &[b"DELETE ", &key[..], b"\n"].concat(),
                b"ERROR key too long\n",
            ),
            (b"USAGE\n", b"USAGE 0\n"),
            (b"SET k v\n", b"OK\n"),
            (b"GET k\n", b"VALUE dg==\n"),
        ],
    );
}

/// A value over `max_value_size` is refused and changes nothing; one at the maximum is stored.
#[test]
fn value_over_max_value_size_is_refused_and_keeps_old_value() {
    let addr = start(Config {
        max_value_size: 16,
        ..config()
    });
    check(
        addr,
        &[
            (b"SET other 1\n", b"OK\n"),
            (b"SET k old\n", b"OK\n"),
            (b"USAGE\n", b"USAGE 10\n"),
            (&set(b"k", &[b'x'; 17]), b"ERROR value too large\n"),
            (&set(b"new", &[b'x'; 17]), b"ERROR value too large\n"),
            (b"GET k\n", b"VALUE b2xk\n"),
            (b"GET new\n", b"NOT_FOUND\n"),
            (b"GET other\n", b"VALUE MQ==\n"),
            (b"USAGE\n", b"USAGE 10\n"),
            (&set(b"k", &[b'x'; 16]), b"OK\n"),
            (b"GET k\n", &value_reply(&[b'x'; 16])),
            (b"USAGE\n", b"USAGE 23\n"),
        ],
    );
}

/// An entry over the memory limit is refused without eviction; one filling it exactly is stored.
#[test]
fn entry_over_memory_limit_is_refused_without_eviction() {
    let addr = start(Config {
        memory_limit: 100,
        ..config()
    });
    check(
        addr,
        &[
            (b"SET a x\n", b"OK\n"),
            (b"SET b y\n", b"OK\n"),
            (b"USAGE\n", b"USAGE 4\n"),
            (&set(b"a", &[b'z'; 100]), b"ERROR value too large\n"),
            (&set(b"c", &[b'z'; 100]), b"ERROR value too large\n"),
            (b"USAGE\n", b"USAGE 4\n"),
            (b"GET a\n", b"VALUE eA==\n"),
            (b"GET b\n", b"VALUE eQ==\n"),
            (b"GET c\n", b"NOT_FOUND\n"),
            (&set(b"a", &[b'z'; 99]), b"OK\n"),
            (b"USAGE\n", b"USAGE 100\n"),
            (b"GET a\n", &value_reply(&[b'z'; 99])),
        ],
    );
}

/// A line holding a maximal key and a maximal value is served.
#[test]
fn longest_key_with_largest_value_is_accepted() {
    let addr = start(Config {
        max_value_size: 1024,
        ..config()
    });
    let key = vec![b'k'; MAX_KEY_LEN];
    let value = vec![b'v'; 1024];
    check(
        addr,
        &[
            (&set(&key, &value), b"OK\n"),
            (&get(&key), &value_reply(&value)),
        ],
    );
}

/// A line whose bytes with `\n` fill the cap is parsed; one byte past the cap is too long.
#[test]
fn line_cap_boundary() {
    let addr = start(Config {
        max_value_size: 1024,
        ..config()
    });
    let cap = line_cap(1024);
    // Trailing blanks are trimmed from the value, so the line is a valid SET
    // of an empty value whatever its length.
    let mut under = b"SET k".to_vec();
    under.resize(cap - 1, b' ');
    under.push(b'\n');
    let mut over = b"SET k".to_vec();
    over.resize(cap + 1, b' ');
    over.push(b'\n');
    check(
        addr,
        &[
            (&under, b"OK\n"),
            (&over, b"ERROR line too long\n"),
            (b"GET k\n", b"VALUE \n"),
        ],
    );
}

/// An over-long line is refused and skipped; the next line on the connection is answered.
#[test]
fn line_too_long_is_refused_and_connection_recovers() {
    let addr = start(Config {
        max_value_size: 1024,
        ..config()
    });
    let mut long = b"SET k ".to_vec();
    long.resize(300_000, b'x');
    long.extend_from_slice(b"\nGET k\nUSAGE\n");
    check(
        addr,
        &[
            (b"SET k v\n", b"OK\n"),
            (&long, b"ERROR line too long\nVALUE dg==\nUSAGE 2\n"),
        ],
    );
}

/// The refusal comes as soon as the cap is passed, before the line ends.
#[test]
fn line_too_long_is_answered_before_its_end() {
    let addr = start(Config {
        max_value_size: 1024,
        ..config()
    });
    let mut client = Client::tcp(addr);
    let mut start_of_line = b"SET k ".to_vec();
    start_of_line.resize(line_cap(1024) + 4096, b'x');
    client.send(&start_of_line);
    same(
        &client.line(),
        b"ERROR line too long\n",
        "reply while the line is still open",
    );
    client.send(&vec![b'y'; 100_000]);
    client.expect(b"z\nGET k\n", b"NOT_FOUND\n");
    client.expect(b"SET k v\n", b"OK\n");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// Writing far past the memory limit keeps USAGE under it; the newest key is readable.
#[test]
fn eviction_keeps_usage_under_the_limit() {
    let addr = start(Config {
        memory_limit: 1000,
        ..config()
    });
    let mut client = Client::tcp(addr);
    for i in 0..500 {
        let key = format!("key{i}");
        let value = format!("value-{i}-{}", "v".repeat(i % 37));
        client.expect(&set(key.as_bytes(), value.as_bytes()), b"OK\n");
        let usage = client.usage();
        assert!(usage <= 1000, "USAGE {usage} after writing {key}");
        client.expect(&get(key.as_bytes()), &value_reply(value.as_bytes()));
    }
}

/// After eviction USAGE equals the key plus value bytes of the entries still readable.
#[test]
fn usage_equals_live_bytes_after_eviction() {
    let addr = start(Config {
        memory_limit: 1000,
        ..config()
    });
    let mut client = Client::tcp(addr);
    let entries: Vec<(String, String)> = (0..300)
        .map(|i| (format!("k{i}"), "x".repeat(1 + i % 23)))
        .collect();
    for (i, (key, value)) in entries.iter().enumerate() {
        client.expect(&set(key.as_bytes(), value.as_bytes()), b"OK\n");
        if i % 3 == 0 {
            // Overwrite with a shorter value and delete some, so
            // every way bytes leave the count is exercised.
            client.expect(&set(key.as_bytes(), b"s"), b"OK\n");
        }
        if i % 7 == 0 {
            client.send(&[b"DELETE ", key.as_bytes(), b"\n"].concat());
            same(&client.line(), b"OK\n", &format!("DELETE {key}"));
        }
    }
    let mut live = 0;
    let mut found = 0;
    for (i, (key, value)) in entries.iter().enumerate() {
        let reply = client.ask(&get(key.as_bytes()));
        if reply == b"NOT_FOUND\n" {
            continue;
        }
        let value = if i % 3 == 0 { "s" } else { value };
        same(
            &reply,
            &value_reply(value.as_bytes()),
            &format!("GET {key}"),
        );
        live += key.len() + value.len();
        found += 1;
    }
    let deleted = entries.len().div_ceil(7);
    assert!(found < entries.len() - deleted, "nothing was evicted");
    assert_eq!(client.usage(), live as u64, "USAGE against live entries");
}
