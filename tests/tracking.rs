//! Client-side caching at the wire: CLIENT TRACKING in its default mode and
//! with NOLOOP, BCAST and PREFIX, OPTIN and OPTOUT with CLIENT CACHING, RESP2
//! clients redirecting to a `__redis__:invalidate` subscriber, every way a
//! key changes (writes, expiry, eviction, transactions, flushes), CLIENT
//! GETREDIR and TRACKINGINFO, the errors, the bounded tracking table, the
//! text protocol's STATS, and no stale read under concurrent writers.
//!
//! Every expected RESP reply and push was taken from Redis 7.0 given the
//! same requests, in the order Redis sends them: a push caused by another
//! client's write reaches the tracking client before the reply to its next
//! request; a push caused by its own write follows that write's reply. The
//! STATS lines and the `--tracking-table-max-keys` flag are Blink-Store's
//! own.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blink_store::config::Config;
use blink_store::store::Clock;
use common::binary::Running;
use common::resp::{bulk, bulks, int, req, resp3, Resp};
use common::{config, same, show, start, start_with_clock, Client, Rng};

type Conn = Client<TcpStream>;

const OK: &[u8] = b"+OK\r\n";
const PONG: &[u8] = b"+PONG\r\n";
const NULL: &[u8] = b"_\r\n";
/// The push every tracking client receives when FLUSHALL or FLUSHDB empties
/// a database: `invalidate` with a null instead of an array of keys.
const FLUSHED: &[u8] = b">2\r\n$10\r\ninvalidate\r\n_\r\n";
/// What a RESP2 redirect target receives for a flush.
const FLUSHED_RESP2: &[u8] = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n";
const SYNTAX: &[u8] = b"-ERR syntax error\r\n";
const CACHING_NEEDS_MODE: &[u8] = b"-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled\r\n";
const NO_SUCH_CLIENT: &[u8] = b"-ERR The client ID you want redirect to does not exist\r\n";

/// A server with the test configuration.
fn server() -> SocketAddr {
    start(config())
}

/// A server whose memory limit holds a few dozen small entries.
fn small_server() -> SocketAddr {
    start(Config {
        memory_limit: 4096,
        ..config()
    })
}

/// A server whose store reads time from `clock`.
fn clocked_server(clock: &Clock) -> SocketAddr {
    start_with_clock(config(), clock.clone())
}

/// Moves the server's time on by `by`.
fn pass(clock: &Clock, by: Duration) {
    clock.advance(by);
}

/// The binary, serving with a tracking table of at most 100 keys.
fn limited_server() -> (Running, SocketAddr) {
    let mut server = Running::spawn(&[
        "serve",
        "--tcp",
        "127.0.0.1:0",
        "--tracking-table-max-keys",
        "100",
    ]);
    let addr = server.tcp_addr();
    (server, addr)
}

/// A RESP3 connection that has turned tracking on with `options` after
/// `CLIENT TRACKING ON`.
fn tracking(addr: SocketAddr, options: &str) -> Conn {
    let mut client = resp3(addr);
    let request = format!("CLIENT TRACKING ON{options}");
    client.run(&[(&request, OK)]);
    client
}

/// The push naming `keys` as invalidated, as RESP3 sends it.
fn invalidate(keys: &[&str]) -> Vec<u8> {
    [b">2\r\n$10\r\ninvalidate\r\n".to_vec(), names(keys)].concat()
}

/// What a RESP2 redirect target subscribed to `__redis__:invalidate`
/// receives for `keys`.
fn invalidate_resp2(keys: &[&str]) -> Vec<u8> {
    let head = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n";
    [head.to_vec(), names(keys)].concat()
}

/// The array of bulk strings naming `keys`.
fn names(keys: &[&str]) -> Vec<u8> {
    let keys: Vec<&[u8]> = keys.iter().map(|key| key.as_bytes()).collect();
    bulks(&keys)
}

/// Asserts the next bytes `client` receives, without sending anything.
#[track_caller]
fn receives(client: &mut Conn, expected: &[u8]) {
    let got = client.take(expected.len());
    same(&got, expected, "bytes received");
}

/// Sends PING and asserts that `pushes`, then PONG, arrive: every push the
/// server sent before the PING has arrived by its reply.
#[track_caller]
fn pushed_before_pong(client: &mut Conn, pushes: &[&[u8]]) {
    let mut expected = pushes.concat();
    expected.extend_from_slice(PONG);
    client.expect(&req("PING"), &expected);
}

/// Asserts nothing was pushed to `client`: PING is answered by PONG alone.
#[track_caller]
fn nothing_pushed(client: &mut Conn) {
    pushed_before_pong(client, &[]);
}

/// One RESP3 value, pushes included.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Push(Vec<Value>),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Bulk(Vec<u8>),
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Null,
}

/// Reads one whole RESP3 value from `client`.
#[track_caller]
fn read(client: &mut Conn) -> Value {
    /// More elements than any value in these tests has.
    const MOST: usize = 10_000;
    let line = client.line();
    let body = line
        .strip_suffix(b"\r\n")
        .unwrap_or_else(|| panic!("reply line without CRLF: {}", show(&line)));
    let (kind, rest) = body
        .split_first()
        .unwrap_or_else(|| panic!("empty reply line"));
    let number = || -> i64 {
        std::str::from_utf8(rest)
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad number in {}", show(&line)))
    };
    let count = || -> usize {
        usize::try_from(number())
            .ok()
            .filter(|&n| n <= MOST)
            .unwrap_or_else(|| panic!("bad count in {}", show(&line)))
    };
    let items =
        |client: &mut Conn, n: usize| -> Vec<Value> { (0..n).map(|_| read(client)).collect() };
    match kind {
        b'>' => Value::Push(items(client, count())),
        b'*' => Value::Array(items(client, count())),
        b'~' => Value::Set(items(client, count())),
        b'%' => {
            let flat = items(client, 2 * count());
            Value::Map(
                flat.chunks(2)
                    .map(|pair| (pair[0].clone(), pair[1].clone()))
                    .collect(),
            )
        }
        b'$' => {
            let n = count();
            let mut bytes = client.take(n + 2);
            assert!(bytes.ends_with(b"\r\n"), "bulk cut short: {}", show(&bytes));
            bytes.truncate(n);
            Value::Bulk(bytes)
        }
        b'+' => Value::Simple(rest.to_vec()),
        b'-' => Value::Error(rest.to_vec()),
        b':' => Value::Integer(number()),
        b'_' => Value::Null,
        _ => panic!("unexpected reply {}", show(&line)),
    }
}

/// The keys an invalidation push names, or `None` for a flush; panics on
/// any other push.
#[track_caller]
fn invalidated(push: &[Value]) -> Option<Vec<Vec<u8>>> {
    match push {
        [Value::Bulk(kind), Value::Null] if kind == b"invalidate" => None,
        [Value::Bulk(kind), Value::Array(keys)] if kind == b"invalidate" => Some(
            keys.iter()
                .map(|key| match key {
                    Value::Bulk(key) => key.clone(),
                    other => panic!("invalidated key {other:?}"),
                })
                .collect(),
        ),
        other => panic!("unexpected push {other:?}"),
    }
}

/// Reads values until a reply that is not a push, giving every push to
/// `on_push`; returns the reply.
#[track_caller]
fn reply_after_pushes(client: &mut Conn, mut on_push: impl FnMut(&[Value])) -> Value {
    loop {
        match read(client) {
            Value::Push(push) => on_push(&push),
            reply => return reply,
        }
    }
}

/// Tracking is on after `CLIENT TRACKING ON`; another client's write to a key read is pushed once, not again until the key is read again; MGET tracks each key.
#[test]
fn another_clients_write_invalidates_a_key_read_once() {
    let addr = server();
    let mut a = tracking(addr, "");
    let mut b = resp3(addr);
    a.run(&[("GET k", NULL)]);
    b.run(&[("SET k v2", OK)]);
    receives(&mut a, &invalidate(&["k"]));
    b.run(&[("SET k v3", OK)]);
    nothing_pushed(&mut a);
    a.run(&[("GET k", b"$2\r\nv3\r\n")]);
    b.run(&[("SET k v4", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["k"])]);
    a.run(&[("MGET k1 k2 k3", b"*3\r\n_\r\n_\r\n_\r\n")]);
    b.run(&[("MSET k1 1 k3 3", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["k1"]), &invalidate(&["k3"])]);
    b.run(&[("SET k2 2", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["k2"])]);
}

/// Without NOLOOP a client's own write invalidates what it read, the push following the reply; with NOLOOP its own write sends nothing and uses up the tracking, while another client's write is pushed.
#[test]
fn own_writes_invalidate_unless_noloop() {
    let addr = server();
    let mut a = tracking(addr, "");
    let mut b = resp3(addr);
    a.run(&[("GET o", NULL)]);
    a.expect(&req("SET o 1"), &[OK, &invalidate(&["o"])].concat());
    a.run(&[("GET o", b"$1\r\n1\r\n")]);
    a.expect(&req("INCR o"), &[&int(2), &invalidate(&["o"])[..]].concat());
    a.run(&[
        ("CLIENT TRACKING OFF", OK),
        ("CLIENT TRACKING ON NOLOOP", OK),
    ]);
    a.run(&[("GET n", NULL)]);
    b.run(&[("SET n 2", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["n"])]);
    a.run(&[("GET n", b"$1\r\n2\r\n"), ("SET n 1", OK)]);
    b.run(&[("SET n 3", OK)]);
    nothing_pushed(&mut a);
    a.run(&[("GET n", b"$1\r\n3\r\n")]);
    b.run(&[("SET n 4", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["n"])]);
}

/// FLUSHALL, FLUSHDB, FLUSHALL ASYNC and a FLUSHDB of another database each push `invalidate` with a null to every tracking client, after the reply for its own flush.
#[test]
fn flushes_push_a_null_invalidation() {
    let addr = server();
    let mut a = tracking(addr, "");
    let mut b = resp3(addr);
    a.run(&[("GET f", NULL)]);
    a.expect(&req("FLUSHALL"), &[OK, FLUSHED].concat());
    a.run(&[("GET f", NULL)]);
    b.run(&[("FLUSHDB", OK)]);
    pushed_before_pong(&mut a, &[FLUSHED]);
    a.run(&[("GET f", NULL)]);
    b.run(&[("FLUSHALL ASYNC", OK)]);
    pushed_before_pong(&mut a, &[FLUSHED]);
    a.run(&[("GET f", NULL)]);
    b.run(&[("SELECT 1", OK), ("FLUSHDB", OK)]);
    pushed_before_pong(&mut a, &[FLUSHED]);
}

/// DEL, EXPIRE, INCR, APPEND, MSET, MOVE and a MULTI/EXEC each invalidate the keys they change; DEL of a missing key and PERSIST of a key without a TTL change nothing and push nothing.
#[test]
fn every_write_invalidates_the_keys_it_changes() {
    let addr = server();
    let mut a = tracking(addr, "");
    let mut b = resp3(addr);
    b.run(&[("MSET d 1 e 1 i 1 ap x m 1 t 1 u 1 p 1", OK)]);
    for (key, write, reply) in [
        ("d", "DEL d", int(1)),
        ("e", "EXPIRE e 100", int(1)),
        ("i", "INCR i", int(2)),
        ("ap", "APPEND ap y", int(2)),
        ("m", "MSET m 2 zz 3", OK.to_vec()),
        ("m", "MOVE m 1", int(1)),
    ] {
        a.send(&req(&format!("GET {key}")));
        read(&mut a);
        b.run(&[(write, &reply)]);
        pushed_before_pong(&mut a, &[&invalidate(&[key])]);
    }
    a.run(&[("GET t", b"$1\r\n1\r\n"), ("GET u", b"$1\r\n1\r\n")]);
    b.run(&[
        ("MULTI", OK),
        ("SET t 2", b"+QUEUED\r\n"),
        ("INCR u", b"+QUEUED\r\n"),
        ("GET t", b"+QUEUED\r\n"),
        ("EXEC", b"*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n"),
    ]);
    pushed_before_pong(&mut a, &[&invalidate(&["t"]), &invalidate(&["u"])]);
    a.run(&[("GET gone", NULL), ("GET p", b"$1\r\n1\r\n")]);
    b.run(&[("DEL gone", b":0\r\n"), ("PERSIST p", b":0\r\n")]);
    nothing_pushed(&mut a);
}

/// RENAME invalidates its source and then its destination, each in its own push, and either alone when only it was read; MOVE into database 0 invalidates the key read there.
#[test]
fn rename_and_move_invalidate_source_and_destination() {
    let addr = server();
    let mut a = tracking(addr, "");
    let mut b = resp3(addr);
    b.run(&[("MSET r1 1 r2 2 r4 4", OK)]);
    a.run(&[("GET r1", b"$1\r\n1\r\n"), ("GET r2", b"$1\r\n2\r\n")]);
    b.run(&[("RENAME r1 r2", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["r1"]), &invalidate(&["r2"])]);
    b.run(&[("SET r1 1", OK)]);
    a.run(&[("GET r1", b"$1\r\n1\r\n")]);
    b.run(&[("RENAME r1 r3", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["r1"])]);
    a.run(&[("GET r5", NULL)]);
    b.run(&[("RENAME r4 r5", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["r5"])]);
    a.run(&[("GET mm", NULL)]);
    b.run(&[("SELECT 1", OK), ("SET mm 1", OK), ("MOVE mm 0", b":1\r\n")]);
    pushed_before_pong(&mut a, &[&invalidate(&["mm"])]);
}

/// A key read before its TTL runs out is invalidated when it expires, by the time another client finds it gone.
#[test]
fn expiry_invalidates_a_key_read() {
    let clock = Clock::manual();
    let addr = clocked_server(&clock);
    let mut a = tracking(addr, "");
    let mut b = resp3(addr);
    b.run(&[("SET x v PX 100", OK)]);
    a.run(&[("GET x", b"$1\r\nv\r\n")]);
    pass(&clock, Duration::from_millis(200));
    b.run(&[("EXISTS x", b":0\r\n")]);
    pushed_before_pong(&mut a, &[&invalidate(&["x"])]);
}

/// A key read and then evicted by writes past the memory limit is invalidated.
#[test]
fn eviction_invalidates_a_key_read() {
    /// Far more writes than it takes to evict every entry present at the start.
    const MOST_WRITES: usize = 100_000;
    let addr = small_server();
    let mut a = tracking(addr, "");
    let mut b = resp3(addr);
    b.run(&[("SET k v", OK)]);
    a.run(&[("GET k", b"$1\r\nv\r\n")]);
    let filler = "x".repeat(100);
    let evicted = (0..MOST_WRITES).any(|i| {
        b.run(&[(&format!("SET fill:{i} {filler}"), OK)]);
        i % 10 == 9 && b.call("EXISTS k") == Resp::Integer(0)
    });
    assert!(evicted, "k still stored after {MOST_WRITES} writes");
    pushed_before_pong(&mut a, &[&invalidate(&["k"])]);
}

/// With BCAST PREFIX user: every change of a key starting with `user:` is pushed unread, one push per command, own writes after the reply; other keys are not; BCAST alone covers every key.
#[test]
fn bcast_pushes_every_change_under_its_prefixes() {
    let addr = server();
    let mut a = tracking(addr, " BCAST PREFIX user:");
    let mut b = resp3(addr);
    b.run(&[("SET user:1 a", OK)]);
    receives(&mut a, &invalidate(&["user:1"]));
    b.run(&[("SET item:1 a", OK)]);
    nothing_pushed(&mut a);
    b.run(&[("MSET user:2 x user:3 y other z", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["user:2", "user:3"])]);
    b.run(&[("DEL user:2 user:3 user:9", b":2\r\n")]);
    pushed_before_pong(&mut a, &[&invalidate(&["user:2", "user:3"])]);
    a.expect(
        &req("SET user:5 own"),
        &[OK, &invalidate(&["user:5"])].concat(),
    );
    b.run(&[("FLUSHALL", OK)]);
    pushed_before_pong(&mut a, &[FLUSHED]);
    a.run(&[
        ("CLIENT TRACKING OFF", OK),
        ("CLIENT TRACKING ON BCAST", OK),
    ]);
    b.run(&[("SET anything 1", OK), ("INCR user:1", b":1\r\n")]);
    b.run(&[("MSET p 1 q 2", OK)]);
    pushed_before_pong(
        &mut a,
        &[
            &invalidate(&["anything"]),
            &invalidate(&["user:1"]),
            &invalidate(&["p", "q"]),
        ],
    );
}

/// In OPTIN mode only a read right after CLIENT CACHING YES is tracked; in OPTOUT mode every read is, except one right after CLIENT CACHING NO.
#[test]
fn optin_and_optout_choose_the_reads_tracked() {
    let addr = server();
    let mut a = tracking(addr, " OPTIN");
    let mut b = resp3(addr);
    a.run(&[("GET o1", NULL)]);
    b.run(&[("SET o1 1", OK)]);
    nothing_pushed(&mut a);
    a.run(&[("CLIENT CACHING YES", OK), ("GET o1", b"$1\r\n1\r\n")]);
    b.run(&[("SET o1 2", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["o1"])]);
    a.run(&[
        ("CLIENT CACHING YES", OK),
        ("PING", PONG),
        ("GET o1", b"$1\r\n2\r\n"),
    ]);
    b.run(&[("SET o1 3", OK)]);
    nothing_pushed(&mut a);
    a.run(&[
        ("CLIENT CACHING YES", OK),
        ("MGET o1 o2", b"*2\r\n$1\r\n3\r\n_\r\n"),
    ]);
    b.run(&[("MSET o1 4 o2 4", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["o1"]), &invalidate(&["o2"])]);
    a.run(&[
        ("CLIENT TRACKING OFF", OK),
        ("CLIENT TRACKING ON OPTOUT", OK),
    ]);
    a.run(&[("GET p1", NULL)]);
    b.run(&[("SET p1 1", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["p1"])]);
    a.run(&[("CLIENT CACHING NO", OK), ("GET p1", b"$1\r\n1\r\n")]);
    b.run(&[("SET p1 2", OK)]);
    nothing_pushed(&mut a);
    a.run(&[
        ("CLIENT CACHING NO", OK),
        ("PING", PONG),
        ("GET p1", b"$1\r\n2\r\n"),
    ]);
    b.run(&[("SET p1 3", OK)]);
    pushed_before_pong(&mut a, &[&invalidate(&["p1"])]);
}

/// A RESP2 client tracking with REDIRECT has its invalidations published to the subscriber of `__redis__:invalidate` whose id it named, flushes as a null, and receives nothing itself.
#[test]
fn resp2_redirect_publishes_invalidations_to_the_subscriber() {
    let addr = server();
    let mut r = Client::tcp(addr);
    let id = r.call("CLIENT ID").integer();
    r.run(&[(
        "SUBSCRIBE __redis__:invalidate",
        b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n",
    )]);
    let mut a = Client::tcp(addr);
    let mut b = Client::tcp(addr);
    a.run(&[
        ("CLIENT GETREDIR", b":-1\r\n"),
        (&format!("CLIENT TRACKING ON REDIRECT {id}"), OK),
        ("CLIENT GETREDIR", &int(id)),
        ("GET k", b"$-1\r\n"),
    ]);
    b.run(&[("SET k x", OK)]);
    receives(&mut r, &invalidate_resp2(&["k"]));
    a.run(&[("MGET k j", b"*2\r\n$1\r\nx\r\n$-1\r\n")]);
    b.run(&[("DEL k j", b":1\r\n")]);
    receives(&mut r, &invalidate_resp2(&["k"]));
    a.run(&[("GET k", b"$-1\r\n")]);
    b.run(&[("FLUSHALL", OK)]);
    receives(&mut r, FLUSHED_RESP2);
    a.run(&[("GET k", b"$-1\r\n"), ("SET k 1", OK)]);
    receives(&mut r, &invalidate_resp2(&["k"]));
    a.run(&[("PING", PONG)]);
}

/// Redis's errors for PREFIX without BCAST, OPTIN with OPTOUT, BCAST with OPTIN or OPTOUT, an unknown or malformed REDIRECT, CLIENT CACHING outside OPTIN/OPTOUT or with a bad word, and switching modes without turning tracking off.
#[test]
fn bad_tracking_options_are_refused_as_redis() {
    let addr = server();
    let mut c = Client::tcp(addr);
    c.run(&[
        (
            "CLIENT TRACKING ON PREFIX user:",
            b"-ERR PREFIX option requires BCAST mode to be enabled\r\n",
        ),
        (
            "CLIENT TRACKING ON OPTIN OPTOUT",
            b"-ERR You can't specify both OPTIN mode and OPTOUT mode\r\n",
        ),
        (
            "CLIENT TRACKING ON BCAST OPTIN",
            b"-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n",
        ),
        (
            "CLIENT TRACKING ON BCAST OPTOUT",
            b"-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n",
        ),
        ("CLIENT TRACKING ON REDIRECT 999999999", NO_SUCH_CLIENT),
        ("CLIENT TRACKING ON REDIRECT 0", NO_SUCH_CLIENT),
        (
            "CLIENT TRACKING ON REDIRECT x",
            b"-ERR value is not an integer or out of range\r\n",
        ),
        ("CLIENT CACHING YES", CACHING_NEEDS_MODE),
        ("CLIENT CACHING NO", CACHING_NEEDS_MODE),
        ("CLIENT CACHING maybe", CACHING_NEEDS_MODE),
        ("CLIENT TRACKING maybe", SYNTAX),
        ("CLIENT TRACKING ON FOO", SYNTAX),
        (
            "CLIENT TRACKING",
            b"-ERR wrong number of arguments for 'client|tracking' command\r\n",
        ),
        (
            "CLIENT CACHING",
            b"-ERR wrong number of arguments for 'client|caching' command\r\n",
        ),
        ("CLIENT TRACKING ON OPTOUT", OK),
        (
            "CLIENT CACHING YES",
            b"-ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.\r\n",
        ),
        ("CLIENT CACHING maybe", SYNTAX),
        ("CLIENT CACHING NO", OK),
        (
            "CLIENT TRACKING ON OPTIN",
            b"-ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.\r\n",
        ),
        (
            "CLIENT TRACKING ON BCAST",
            b"-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.\r\n",
        ),
        ("CLIENT TRACKING OFF", OK),
        ("CLIENT TRACKING ON OPTIN", OK),
        (
            "CLIENT CACHING NO",
            b"-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.\r\n",
        ),
        ("CLIENT CACHING YES", OK),
        ("CLIENT TRACKING OFF", OK),
        ("CLIENT TRACKING ON BCAST", OK),
        (
            "CLIENT TRACKING ON",
            b"-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.\r\n",
        ),
        ("CLIENT TRACKING OFF", OK),
    ]);
}

/// The TRACKINGINFO reply in RESP2 (an array of pairs) or RESP3 (a map whose flags are a set).
fn tracking_info(resp3: bool, flags: &[&str], redirect: i64, prefixes: &[&str]) -> Vec<u8> {
    let list = |marker: char, items: &[&str]| -> Vec<u8> {
        let mut out = format!("{marker}{}\r\n", items.len()).into_bytes();
        for item in items {
            out.extend_from_slice(&bulk(item.as_bytes()));
        }
        out
    };
    [
        if resp3 {
            b"%3\r\n".to_vec()
        } else {
            b"*6\r\n".to_vec()
        },
        bulk(b"flags"),
        list(if resp3 { '~' } else { '*' }, flags),
        bulk(b"redirect"),
        int(redirect),
        bulk(b"prefixes"),
        list('*', prefixes),
    ]
    .concat()
}

/// CLIENT GETREDIR and TRACKINGINFO for tracking off, on, on with REDIRECT, BCAST with two prefixes (listed in byte order), OPTIN (with caching-yes once asked), and OPTOUT NOLOOP, in RESP2 and RESP3.
#[test]
fn getredir_and_trackinginfo_describe_the_mode() {
    let addr = server();
    // The redirect target must stay connected for REDIRECT to name it.
    let mut target = Client::tcp(addr);
    let id = target.call("CLIENT ID").integer();
    let mut two = Client::tcp(addr);
    let mut three = resp3(addr);
    for (c, resp3) in [(&mut two, false), (&mut three, true)] {
        let info = |flags: &[&str], redirect, prefixes: &[&str]| {
            tracking_info(resp3, flags, redirect, prefixes)
        };
        c.run(&[
            ("CLIENT GETREDIR", b":-1\r\n"),
            ("CLIENT TRACKINGINFO", &info(&["off"], -1, &[])),
            ("CLIENT TRACKING ON", OK),
            ("CLIENT GETREDIR", b":0\r\n"),
            ("CLIENT TRACKINGINFO", &info(&["on"], 0, &[])),
            ("CLIENT TRACKING OFF", OK),
            (&format!("CLIENT TRACKING ON REDIRECT {id}"), OK),
            ("CLIENT GETREDIR", &int(id)),
            ("CLIENT TRACKINGINFO", &info(&["on"], id, &[])),
            ("CLIENT TRACKING OFF", OK),
            ("CLIENT TRACKING ON BCAST PREFIX user: PREFIX item:", OK),
            (
                "CLIENT TRACKINGINFO",
                &info(&["on", "bcast"], 0, &["item:", "user:"]),
            ),
            ("CLIENT TRACKING OFF", OK),
            ("CLIENT TRACKING ON OPTIN", OK),
            ("CLIENT TRACKINGINFO", &info(&["on", "optin"], 0, &[])),
            ("CLIENT CACHING YES", OK),
            (
                "CLIENT TRACKINGINFO",
                &info(&["on", "optin", "caching-yes"], 0, &[]),
            ),
            ("CLIENT TRACKING OFF", OK),
            ("CLIENT TRACKING ON OPTOUT NOLOOP", OK),
            (
                "CLIENT TRACKINGINFO",
                &info(&["on", "optout", "noloop"], 0, &[]),
            ),
            ("CLIENT TRACKING OFF", OK),
            ("CLIENT TRACKINGINFO", &info(&["off"], -1, &[])),
            ("CLIENT GETREDIR", b":-1\r\n"),
        ]);
    }
}

/// Drops from `cache` what an invalidation push names, or everything on a
/// flush.
fn forget(push: &[Value], cache: &mut HashMap<String, Value>) {
    match invalidated(push) {
        None => cache.clear(),
        Some(keys) => {
            for key in keys {
                cache.remove(&*String::from_utf8_lossy(&key));
            }
        }
    }
}

/// Readers caching 20 keys and dropping what invalidations name, racing writers that INCR those keys 200 times, hold no entry that differs from the server once every write is acknowledged and every reader has had its PONG.
#[test]
fn no_stale_read_under_concurrent_writers() {
    const READERS: usize = 8;
    const WRITERS: usize = 8;
    const KEYS: usize = 20;
    const INCRS: usize = 200;
    /// Longest the readers go on once started, even if a writer hangs.
    const RUN: Duration = Duration::from_secs(10);
    // Every reader and writer holds a worker.
    let addr = start(Config {
        threads: 64,
        ..config()
    });
    let key = |i: usize| format!("hot:{i}");
    let writing = Arc::new(AtomicBool::new(true));
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let writing = Arc::clone(&writing);
            let mut client = tracking(addr, "");
            std::thread::spawn(move || {
                let mut cache: HashMap<String, Value> = HashMap::new();
                let mut rng = Rng(r as u64 + 1);
                let deadline = Instant::now() + RUN;
                // At least one request per key, so that some entries are
                // cached after the last write and the final check has teeth.
                let mut requests = 0;
                while (writing.load(Ordering::Relaxed) || requests < KEYS)
                    && Instant::now() < deadline
                {
                    requests += 1;
                    let k = key(rng.below(KEYS as u64) as usize);
                    let request = if cache.contains_key(&k) {
                        "PING".to_string()
                    } else {
                        format!("GET {k}")
                    };
                    client.send(&req(&request));
                    let reply = reply_after_pushes(&mut client, |p| forget(p, &mut cache));
                    if request != "PING" {
                        cache.insert(k, reply);
                    }
                }
                // Waits for the writers (whose reads time out, so they end),
                // then for every push sent before the PING.
                while writing.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                client.send(&req("PING"));
                let reply = reply_after_pushes(&mut client, |p| forget(p, &mut cache));
                assert_eq!(reply, Value::Simple(b"PONG".to_vec()), "reader {r}");
                cache
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mut client = Client::tcp(addr);
            std::thread::spawn(move || {
                for i in (w..INCRS).step_by(WRITERS) {
                    let reply = client.call(&format!("INCR {}", key(i % KEYS)));
                    assert!(
                        matches!(reply, Resp::Integer(n) if n > 0),
                        "INCR answered {reply:?}"
                    );
                }
            })
        })
        .collect();
    let written: Vec<_> = writers.into_iter().map(|writer| writer.join()).collect();
    writing.store(false, Ordering::Relaxed);
    assert!(written.iter().all(Result::is_ok), "a writer failed");
    let caches: Vec<_> = readers
        .into_iter()
        .map(|reader| reader.join().expect("a reader failed"))
        .collect();
    let mut fresh = resp3(addr);
    let mut total = 0;
    for i in 0..KEYS {
        fresh.send(&req(&format!("GET {}", key(i))));
        let now = read(&mut fresh);
        if let Value::Bulk(n) = &now {
            total += String::from_utf8_lossy(n).parse::<usize>().unwrap();
        }
        for (r, cache) in caches.iter().enumerate() {
            if let Some(cached) = cache.get(&key(i)) {
                assert_eq!(cached, &now, "reader {r} holds a stale {}", key(i));
            }
        }
    }
    assert_eq!(total, INCRS, "the keys' sum");
    assert!(
        caches.iter().any(|cache| !cache.is_empty()),
        "no reader cached anything"
    );
}

/// With `--tracking-table-max-keys 100`, a client reading 150 keys leaves at most 100 tracked (INFO's tracking_total_keys) and is told of at least 50 of the keys it read.
#[test]
fn tracking_table_is_bounded_by_invalidating_keys_read() {
    let (_server, addr) = limited_server();
    let mut a = tracking(addr, "");
    let mut read_so_far = HashSet::new();
    let mut told = HashSet::new();
    let mut on_push = |push: &[Value], read_so_far: &HashSet<Vec<u8>>| {
        let keys = invalidated(push).expect("a flush");
        for k in keys {
            assert!(read_so_far.contains(&k), "told of {} unread", show(&k));
            told.insert(k);
        }
    };
    for i in 0..150 {
        let k = format!("key:{i}");
        a.send(&req(&format!("GET {k}")));
        let reply = reply_after_pushes(&mut a, |p| on_push(p, &read_so_far));
        assert_eq!(reply, Value::Null, "GET {k}");
        read_so_far.insert(k.into_bytes());
    }
    a.send(&req("PING"));
    let reply = reply_after_pushes(&mut a, |p| on_push(p, &read_so_far));
    assert_eq!(reply, Value::Simple(b"PONG".to_vec()));
    assert!(told.len() >= 50, "told of {} keys", told.len());
    let mut b = resp3(addr);
    let info = b.call("INFO stats").string();
    let keys: usize = info
        .lines()
        .find_map(|line| line.strip_prefix("tracking_total_keys:"))
        .unwrap_or_else(|| panic!("no tracking_total_keys in {info}"))
        .parse()
        .unwrap();
    assert!(keys <= 100, "tracking_total_keys:{keys}");
}

/// The text protocol's STATS counts one tracking client and its 3 keys read, and 0 and 0 once it turns tracking off.
#[test]
fn text_stats_count_tracking_clients_and_keys() {
    let addr = server();
    let mut a = tracking(addr, "");
    a.run(&[("GET a", NULL), ("GET b", NULL), ("GET c", NULL)]);
    let mut text = Client::tcp(addr);
    assert_eq!(text.stat("tracking_clients"), 1);
    assert_eq!(text.stat("tracking_keys"), 3);
    a.run(&[("CLIENT TRACKING OFF", OK)]);
    assert_eq!(text.stat("tracking_clients"), 0);
    assert_eq!(text.stat("tracking_keys"), 0);
}
