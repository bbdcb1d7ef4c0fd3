//! Numbered databases at the wire: SELECT, the per-database keyspace,
//! FLUSHDB and FLUSHALL, SWAPDB, MOVE, COPY ... DB, INFO keyspace, CLIENT
//! INFO's `db=`, RESET, transactions and WATCH across databases, the text
//! protocol's SELECT, one memory limit shared by every database, the
//! append-only file, and `--databases N`.
//!
//! Every expected RESP reply was taken from Redis 7.0 given the same
//! requests, in RESP2 and, where the bytes differ, RESP3; the text
//! protocol's replies, USAGE and the memory limit are Blink-Store's own.

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};

use blink_store::config::Config;
use common::binary::{run, Running, TempFile};
use common::resp::{check_resp, cmd, resp3};
use common::{check, config, done, start, value_reply, Client};

const OK: &[u8] = b"+OK\r\n";
const QUEUED: &[u8] = b"+QUEUED\r\n";
const NIL: &[u8] = b"$-1\r\n";
const OUT_OF_RANGE: &[u8] = b"-ERR DB index is out of range\r\n";
const NOT_INTEGER: &[u8] = b"-ERR value is not an integer or out of range\r\n";
/// Redis's reply to a database index past `i32` (its wording, "must between").
const NOT_I32: &[u8] =
    b"-ERR value is out of range, value must between -2147483648 and 2147483647\r\n";
const SAME: &[u8] = b"-ERR source and destination objects are the same\r\n";

/// SELECT takes 0 to 15 by default and refuses other indexes and non-integers with Redis's errors.
#[test]
fn select_takes_0_to_15_and_refuses_the_rest_as_redis() {
    check_resp(
        start(config()),
        &[
            ("SELECT 0", OK),
            ("SELECT 15", OK),
            ("SELECT 16", OUT_OF_RANGE),
            ("SELECT -1", OUT_OF_RANGE),
            ("SELECT 2147483647", OUT_OF_RANGE),
            ("SELECT 2147483648", NOT_I32),
            ("SELECT x", NOT_INTEGER),
            ("SELECT 1.0", NOT_INTEGER),
            ("SELECT 01", NOT_INTEGER),
            ("SELECT +1", NOT_INTEGER),
            ("SELECT -0", NOT_INTEGER),
            (
                "SELECT",
                b"-ERR wrong number of arguments for 'select' command\r\n",
            ),
            (
                "SELECT 1 2",
                b"-ERR wrong number of arguments for 'select' command\r\n",
            ),
            (
                "CONFIG GET databases",
                b"*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n",
            ),
        ],
    );
}

/// With `databases: 4`, SELECT, SWAPDB, MOVE and COPY take 0 to 3, and CONFIG GET databases answers 4 (a map in RESP3).
#[test]
fn configured_database_count_bounds_every_index() {
    let addr = start(Config {
        databases: 4,
        ..config()
    });
    check_resp(
        addr,
        &[
            ("SELECT 3", OK),
            ("SELECT 4", OUT_OF_RANGE),
            ("SET a 1", OK),
            ("SWAPDB 0 4", OUT_OF_RANGE),
            ("MOVE a 4", OUT_OF_RANGE),
            ("COPY a b DB 4", OUT_OF_RANGE),
            (
                "CONFIG GET databases",
                b"*2\r\n$9\r\ndatabases\r\n$1\r\n4\r\n",
            ),
        ],
    );
    let mut client = resp3(addr);
    client.run(&[(
        "CONFIG GET databases",
        b"%1\r\n$9\r\ndatabases\r\n$1\r\n4\r\n",
    )]);
    done(client);
}

/// A key set in database 1 is invisible to GET, EXISTS, DBSIZE, KEYS, SCAN, RANDOMKEY and TTL in database 0, and the other way round.
#[test]
fn keys_belong_to_the_selected_database() {
    check_resp(
        start(config()),
        &[
            ("SELECT 1", OK),
            ("SET k one EX 100", OK),
            ("SELECT 0", OK),
            ("GET k", NIL),
            ("EXISTS k", b":0\r\n"),
            ("DBSIZE", b":0\r\n"),
            ("KEYS *", b"*0\r\n"),
            ("SCAN 0", b"*2\r\n$1\r\n0\r\n*0\r\n"),
            ("RANDOMKEY", NIL),
            ("TTL k", b":-2\r\n"),
            ("SET k zero", OK),
            ("TTL k", b":-1\r\n"),
            ("SELECT 1", OK),
            ("GET k", b"$3\r\none\r\n"),
            ("EXISTS k", b":1\r\n"),
            ("DBSIZE", b":1\r\n"),
            ("KEYS *", b"*1\r\n$1\r\nk\r\n"),
            ("SCAN 0", b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n"),
            ("RANDOMKEY", b"$1\r\nk\r\n"),
            ("TTL k", b":100\r\n"),
            ("SELECT 2", OK),
            ("DBSIZE", b":0\r\n"),
            ("RANDOMKEY", NIL),
            ("SELECT 0", OK),
            ("GET k", b"$4\r\nzero\r\n"),
        ],
    );
}

/// Two connections select databases independently; RESP3's nil for a key of another database is `_`.
#[test]
fn connections_select_databases_independently() {
    let addr = start(config());
    let mut one = Client::tcp(addr);
    let mut other = resp3(addr);
    one.run(&[("SELECT 3", OK), ("SET j a", OK)]);
    other.run(&[("GET j", b"_\r\n"), ("SET j b", OK)]);
    one.run(&[("GET j", b"$1\r\na\r\n")]);
    other.run(&[
        ("SELECT 3", OK),
        ("GET j", b"$1\r\na\r\n"),
        ("SELECT 0", OK),
        ("GET j", b"$1\r\nb\r\n"),
    ]);
    done(one);
    done(other);
}

/// FLUSHDB, FLUSHDB ASYNC and FLUSHDB SYNC empty only the selected database; FLUSHALL empties them all.
#[test]
fn flushdb_empties_only_the_selected_database() {
    check_resp(
        start(config()),
        &[
            ("SET a 1", OK),
            ("SELECT 1", OK),
            ("SET bb 22", OK),
            ("SELECT 2", OK),
            ("SET ccc 333", OK),
            ("SELECT 1", OK),
            ("FLUSHDB", OK),
            ("DBSIZE", b":0\r\n"),
            ("SELECT 0", OK),
            ("DBSIZE", b":1\r\n"),
            ("SELECT 2", OK),
            ("DBSIZE", b":1\r\n"),
            ("FLUSHDB ASYNC", OK),
            ("DBSIZE", b":0\r\n"),
            ("SET d 4", OK),
            ("FLUSHDB SYNC", OK),
            ("DBSIZE", b":0\r\n"),
            ("FLUSHDB FOO", b"-ERR syntax error\r\n"),
            ("SELECT 0", OK),
            ("GET a", b"$1\r\n1\r\n"),
            ("SELECT 3", OK),
            ("SET e 5", OK),
            ("FLUSHALL", OK),
            ("DBSIZE", b":0\r\n"),
            ("SELECT 0", OK),
            ("DBSIZE", b":0\r\n"),
        ],
    );
}

/// USAGE counts the key and value bytes of every database, and follows FLUSHDB and FLUSHALL exactly.
#[test]
fn usage_counts_every_database() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        ("SET a 1", OK),
        ("SELECT 1", OK),
        ("SET bb 22", OK),
        ("SELECT 15", OK),
        ("SET ccc 333", OK),
    ]);
    assert_eq!(client.usage(), 2 + 4 + 6);
    client.run(&[("SELECT 1", OK), ("FLUSHDB", OK)]);
    assert_eq!(client.usage(), 2 + 6);
    client.run(&[("SELECT 15", OK), ("COPY ccc ccc DB 0", b":1\r\n")]);
    assert_eq!(client.usage(), 2 + 6 + 6);
    client.run(&[("FLUSHALL", OK)]);
    assert_eq!(client.usage(), 0);
    done(client);
}

/// SWAPDB's errors are Redis's: each index is named when it is not an integer, and either out of range is one error.
#[test]
fn swapdb_refuses_bad_indexes_as_redis() {
    check_resp(
        start(config()),
        &[
            ("SWAPDB x 1", b"-ERR invalid first DB index\r\n"),
            ("SWAPDB 1 x", b"-ERR invalid second DB index\r\n"),
            ("SWAPDB x y", b"-ERR invalid first DB index\r\n"),
            ("SWAPDB 01 1", b"-ERR invalid first DB index\r\n"),
            ("SWAPDB 0 2147483648", b"-ERR invalid second DB index\r\n"),
            ("SWAPDB 0 16", OUT_OF_RANGE),
            ("SWAPDB 16 0", OUT_OF_RANGE),
            ("SWAPDB -1 0", OUT_OF_RANGE),
            (
                "SWAPDB 0",
                b"-ERR wrong number of arguments for 'swapdb' command\r\n",
            ),
            (
                "SWAPDB 0 1 2",
                b"-ERR wrong number of arguments for 'swapdb' command\r\n",
            ),
        ],
    );
}

/// After SWAPDB 0 1 a connection that selected 0 sees database 1's old keys with their TTLs, and one in 1 sees database 0's; SWAPDB 1 1 changes nothing.
#[test]
fn swapdb_swaps_contents_under_selected_connections() {
    let addr = start(config());
    let mut zero = Client::tcp(addr);
    let mut one = Client::tcp(addr);
    zero.run(&[("SET a 1", OK)]);
    one.run(&[("SELECT 1", OK), ("SET b 2 EX 100", OK)]);
    zero.run(&[
        ("SWAPDB 0 1", OK),
        ("GET a", NIL),
        ("GET b", b"$1\r\n2\r\n"),
        ("TTL b", b":100\r\n"),
    ]);
    one.run(&[
        ("GET a", b"$1\r\n1\r\n"),
        ("TTL a", b":-1\r\n"),
        ("GET b", NIL),
        ("SWAPDB 1 1", OK),
        ("DBSIZE", b":1\r\n"),
        ("GET a", b"$1\r\n1\r\n"),
    ]);
    zero.run(&[("DBSIZE", b":1\r\n"), ("GET b", b"$1\r\n2\r\n")]);
    done(zero);
    done(one);
}

/// MOVE answers 1 and carries the value and TTL to the target; 0 when the key is missing or already in the target; Redis's errors otherwise.
#[test]
fn move_carries_a_key_to_another_database() {
    check_resp(
        start(config()),
        &[
            ("SET k v EX 100", OK),
            ("MOVE k 1", b":1\r\n"),
            ("EXISTS k", b":0\r\n"),
            ("SELECT 1", OK),
            ("GET k", b"$1\r\nv\r\n"),
            ("TTL k", b":100\r\n"),
            ("SELECT 0", OK),
            ("MOVE k 1", b":0\r\n"),
            ("MOVE nokey 1", b":0\r\n"),
            ("SET j 0", OK),
            ("SELECT 1", OK),
            ("SET j 1", OK),
            ("SELECT 0", OK),
            ("MOVE j 1", b":0\r\n"),
            ("GET j", b"$1\r\n0\r\n"),
            ("SELECT 1", OK),
            ("GET j", b"$1\r\n1\r\n"),
            ("MOVE j 1", SAME),
            ("MOVE nokey 1", SAME),
            ("MOVE j 16", OUT_OF_RANGE),
            ("MOVE j -1", OUT_OF_RANGE),
            ("MOVE j x", NOT_INTEGER),
            ("MOVE j 2147483648", NOT_I32),
            (
                "MOVE j",
                b"-ERR wrong number of arguments for 'move' command\r\n",
            ),
            ("DBSIZE", b":2\r\n"),
        ],
    );
}

/// COPY ... DB n copies value and TTL into another database, answers 0 on an existing target without REPLACE, takes the same name, and refuses a bad index as Redis.
#[test]
fn copy_db_copies_into_another_database() {
    check_resp(
        start(config()),
        &[
            ("SET a 1 EX 100", OK),
            ("COPY a b DB 1", b":1\r\n"),
            ("EXISTS b", b":0\r\n"),
            ("SELECT 1", OK),
            ("GET b", b"$1\r\n1\r\n"),
            ("TTL b", b":100\r\n"),
            ("SELECT 0", OK),
            ("SET a 2", OK),
            ("COPY a b DB 1", b":0\r\n"),
            ("COPY a b DB 1 REPLACE", b":1\r\n"),
            ("COPY a a DB 1", b":1\r\n"),
            ("COPY a a DB 0", SAME),
            ("COPY a b DB 16", OUT_OF_RANGE),
            ("COPY nokey b DB 16", OUT_OF_RANGE),
            ("COPY a b DB -1", OUT_OF_RANGE),
            ("COPY a b DB x", NOT_INTEGER),
            ("COPY a b DB 2147483648", NOT_I32),
            ("COPY a b DB", b"-ERR syntax error\r\n"),
            ("SELECT 1", OK),
            ("MGET a b", b"*2\r\n$1\r\n2\r\n$1\r\n2\r\n"),
            ("TTL b", b":-1\r\n"),
            ("DBSIZE", b":2\r\n"),
            ("SELECT 0", OK),
            ("DBSIZE", b":1\r\n"),
        ],
    );
}

/// INFO keyspace lists `db<N>:keys=..,expires=..,avg_ttl=` for each database with keys, in order, and no empty one.
#[test]
fn info_keyspace_lists_each_database_with_keys() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        ("SET a 1", OK),
        ("SET b 2 EX 100", OK),
        ("SELECT 3", OK),
        ("SET c 3", OK),
        ("SELECT 5", OK),
        ("SET d 4", OK),
        ("DEL d", b":1\r\n"),
    ]);
    let info = client.call("INFO keyspace").string();
    let lines: Vec<&str> = info.lines().collect();
    assert_eq!(lines.len(), 3, "{info:?}");
    assert_eq!(lines[0], "# Keyspace", "{info:?}");
    assert!(
        lines[1].starts_with("db0:keys=2,expires=1,avg_ttl="),
        "{info:?}"
    );
    assert!(
        lines[2].starts_with("db3:keys=1,expires=0,avg_ttl="),
        "{info:?}"
    );
    done(client);
}

/// CLIENT INFO shows ` db=2 ` after SELECT 2; RESET answers `+RESET` and returns the connection to database 0.
#[test]
fn client_info_shows_the_database_and_reset_returns_to_0() {
    let mut client = Client::tcp(start(config()));
    let db_field = |client: &mut Client<TcpStream>| {
        let info = client.call("CLIENT INFO").string();
        let field = info.split(' ').find(|f| f.starts_with("db="));
        field
            .unwrap_or_else(|| panic!("no db= in {info}"))
            .to_string()
    };
    assert_eq!(db_field(&mut client), "db=0");
    client.run(&[("SELECT 2", OK), ("SET k 2", OK)]);
    let info = client.call("CLIENT INFO").string();
    assert!(info.contains(" flags=N db=2 sub=0 "), "{info}");
    client.run(&[("RESET", b"+RESET\r\n"), ("GET k", NIL)]);
    assert_eq!(db_field(&mut client), "db=0");
    client.run(&[
        ("SELECT 2", OK),
        ("MULTI", OK),
        ("RESET", b"+RESET\r\n"),
        ("GET k", NIL),
    ]);
    done(client);
}

/// A SELECT queued in MULTI runs in EXEC, answers `+OK` there, moves the commands after it, and the connection stays in that database.
#[test]
fn select_inside_multi_runs_in_exec_and_stays() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        ("MULTI", OK),
        ("SELECT 1", QUEUED),
        ("SET k v", QUEUED),
        ("GET k", QUEUED),
        ("EXEC", b"*3\r\n+OK\r\n+OK\r\n$1\r\nv\r\n"),
        ("GET k", b"$1\r\nv\r\n"),
        ("MULTI", OK),
        ("SELECT 99", QUEUED),
        ("SELECT x", QUEUED),
        ("SET q 1", QUEUED),
        (
            "EXEC",
            b"*3\r\n-ERR DB index is out of range\r\n\
              -ERR value is not an integer or out of range\r\n+OK\r\n",
        ),
        ("MULTI", OK),
        (
            "SELECT",
            b"-ERR wrong number of arguments for 'select' command\r\n",
        ),
        (
            "EXEC",
            b"-EXECABORT Transaction discarded because of previous errors.\r\n",
        ),
        ("DBSIZE", b":2\r\n"),
        ("SELECT 0", OK),
        ("GET k", NIL),
    ]);
    let info = client.call("CLIENT INFO").string();
    assert!(info.contains(" db=0 "), "{info}");
    done(client);
}

/// A watched key is the key of the database it was watched in: a write to the same name in another database leaves EXEC to run, a write in its own aborts it (`*-1` in RESP2, `_` in RESP3).
#[test]
fn watch_sees_only_writes_to_its_own_database() {
    let addr = start(config());
    for (mut client, aborted) in [
        (Client::tcp(addr), &b"*-1\r\n"[..]),
        (resp3(addr), &b"_\r\n"[..]),
    ] {
        let mut other = Client::tcp(addr);
        client.run(&[("FLUSHALL", OK), ("WATCH k", OK)]);
        other.run(&[("SELECT 1", OK), ("SET k 1", OK)]);
        client.run(&[
            ("MULTI", OK),
            ("SET w 1", QUEUED),
            ("EXEC", b"*1\r\n+OK\r\n"),
            ("WATCH k", OK),
        ]);
        other.run(&[("SELECT 0", OK), ("SET k 0", OK)]);
        client.run(&[
            ("MULTI", OK),
            ("SET w 2", QUEUED),
            ("EXEC", aborted),
            ("GET w", b"$1\r\n1\r\n"),
            // Selecting another database after WATCH keeps the key watched
            // in the database it was watched in.
            ("SELECT 1", OK),
            ("WATCH k", OK),
            ("SELECT 0", OK),
        ]);
        other.run(&[("SELECT 1", OK), ("SET k 2", OK)]);
        client.run(&[("MULTI", OK), ("PING", QUEUED), ("EXEC", aborted)]);
        done(client);
        done(other);
    }
}

/// SWAPDB of the watched key's database and MOVE of the watched key abort EXEC; SWAPDB and FLUSHDB of other databases do not.
#[test]
fn watch_is_aborted_by_swapdb_and_move_of_its_key() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    let mut other = Client::tcp(addr);
    let exec = |client: &mut Client<TcpStream>, reply: &[u8]| {
        client.run(&[("MULTI", OK), ("PING", QUEUED), ("EXEC", reply)]);
    };
    other.run(&[("SELECT 1", OK), ("SET k 1", OK)]);
    client.run(&[("WATCH k", OK)]);
    other.run(&[("SWAPDB 0 1", OK)]);
    exec(&mut client, b"*-1\r\n");
    client.run(&[("WATCH k", OK)]);
    other.run(&[("SWAPDB 2 3", OK), ("FLUSHDB", OK)]);
    exec(&mut client, b"*1\r\n+PONG\r\n");
    client.run(&[("WATCH k", OK)]);
    other.run(&[("SELECT 0", OK), ("MOVE k 1", b":1\r\n")]);
    exec(&mut client, b"*-1\r\n");
    done(client);
    done(other);
}

/// MOVE and SWAPDB queued in MULTI run inside EXEC, in order, with the commands after them.
#[test]
fn move_and_swapdb_run_inside_exec() {
    check_resp(
        start(config()),
        &[
            ("SET m 1", OK),
            ("MULTI", OK),
            ("MOVE m 2", QUEUED),
            ("SWAPDB 2 3", QUEUED),
            ("SELECT 3", QUEUED),
            ("GET m", QUEUED),
            ("DBSIZE", QUEUED),
            ("EXEC", b"*5\r\n:1\r\n+OK\r\n+OK\r\n$1\r\n1\r\n:1\r\n"),
            ("GET m", b"$1\r\n1\r\n"),
            ("SELECT 2", OK),
            ("DBSIZE", b":0\r\n"),
            ("SELECT 0", OK),
            ("DBSIZE", b":0\r\n"),
        ],
    );
}

/// Over the text protocol SELECT answers `OK` or an ERROR line, and GET, SET, DBSIZE and FLUSHDB act on the selected database, the same one RESP selects.
#[test]
fn text_protocol_selects_databases() {
    let addr = start(config());
    let mut text = Client::tcp(addr);
    text.transcript(&[
        (b"SELECT 2\n", b"OK\n"),
        (b"SET k two\n", b"OK\n"),
        (b"GET k\n", &value_reply(b"two")),
        (b"DBSIZE\n", b"DBSIZE 1\n"),
        (b"SELECT 0\n", b"OK\n"),
        (b"GET k\n", b"NOT_FOUND\n"),
        (b"DBSIZE\n", b"DBSIZE 0\n"),
        (b"SET k zero\n", b"OK\n"),
        (b"SELECT 99\n", b"ERROR DB index is out of range\n"),
        (
            b"SELECT x\n",
            b"ERROR value is not an integer or out of range\n",
        ),
        (b"GET k\n", &value_reply(b"zero")),
    ]);
    check_resp(addr, &[("SELECT 2", OK), ("GET k", b"$3\r\ntwo\r\n")]);
    text.transcript(&[
        (b"SELECT 2\n", b"OK\n"),
        (b"FLUSHDB\n", b"OK\n"),
        (b"DBSIZE\n", b"DBSIZE 0\n"),
        (b"SELECT 0\n", b"OK\n"),
        (b"DBSIZE\n", b"DBSIZE 1\n"),
        (b"GET k\n", &value_reply(b"zero")),
    ]);
    done(text);
    check(addr, &[(b"USAGE\n", b"USAGE 5\n")]);
}

/// One memory limit covers every database: filling database 1 evicts database 0's older keys too, and USAGE never passes the limit.
#[test]
fn memory_limit_is_shared_by_every_database() {
    const LIMIT: u64 = 4096;
    /// Key and value bytes of each entry: a 3-byte key, a 97-byte value.
    const ENTRY: u64 = 100;
    /// Entries written to database 0, then to database 1: 8,000 bytes in all.
    const FIRST: i64 = 20;
    const SECOND: i64 = 60;
    let mut client = Client::tcp(start(Config {
        memory_limit: LIMIT,
        ..config()
    }));
    let value = "v".repeat(97);
    for (db, prefix, count) in [(0, "a", FIRST), (1, "b", SECOND)] {
        client.run(&[(&format!("SELECT {db}"), OK)]);
        for i in 0..count {
            let key = format!("{prefix}{i:02}");
            client.expect(&cmd(&[b"SET", key.as_bytes(), value.as_bytes()]), OK);
            let used = client.usage();
            assert!(used <= LIMIT, "{used} bytes counted, over {LIMIT}");
        }
    }
    let mut kept = [0; 2];
    for (db, kept) in kept.iter_mut().enumerate() {
        client.run(&[(&format!("SELECT {db}"), OK)]);
        *kept = client.call("DBSIZE").integer();
    }
    let [kept0, kept1] = kept;
    assert!(kept0 < FIRST, "database 0 kept all {kept0} of its keys");
    assert!(kept1 < SECOND, "database 1 kept all {kept1} of its keys");
    assert_eq!(client.usage(), (kept0 + kept1) as u64 * ENTRY);
    done(client);
}

/// Each database's keys with their values and whether they expire, read
/// over RESP: databases 0 to 15.
type Databases = Vec<BTreeMap<String, (String, bool)>>;

/// What databases 0 to 15 of the server at `addr` hold.
fn databases(addr: SocketAddr) -> Databases {
    let mut client = Client::tcp(addr);
    (0..16)
        .map(|db| {
            client.run(&[(&format!("SELECT {db}"), OK)]);
            let keys = client.call("KEYS *");
            keys.array()
                .iter()
                .map(|key| {
                    let key = key.string();
                    let value = client.call(&format!("GET {key}")).string();
                    let expires = client.call(&format!("PTTL {key}")).integer() > 0;
                    (key, (value, expires))
                })
                .collect()
        })
        .collect()
}

/// Starts the binary with `--aof log` on an ephemeral port.
fn serve(log: &TempFile) -> (Running, SocketAddr) {
    let mut server = Running::spawn(&["serve", "--tcp", "127.0.0.1:0", "--aof", log.arg()]);
    let addr = server.tcp_addr();
    (server, addr)
}

/// Writes in several databases (SET with PX, MOVE, SWAPDB, FLUSHDB, MULTI/EXEC with SELECT) survive a SIGKILL and a restart on the log, each database holding what it held; the log selects database 2 before its SET.
#[test]
fn aof_replays_every_database() {
    let log = TempFile::path();
    let (server, addr) = serve(&log);
    let mut client = Client::tcp(addr);
    let mut other = Client::tcp(addr);
    client.run(&[("SET a 1", OK), ("SELECT 2", OK), ("SET b 2 PX 100000", OK)]);
    // A write in database 0 between two writes of database 2.
    other.run(&[("SET z 0", OK)]);
    client.run(&[
        ("SET c 3", OK),
        ("MOVE c 3", b":1\r\n"),
        ("SELECT 0", OK),
        ("SET d 4 EX 100", OK),
        ("SWAPDB 0 1", OK),
        ("SELECT 5", OK),
        ("SET e 5", OK),
        ("FLUSHDB", OK),
        ("SELECT 4", OK),
        ("SET g 7", OK),
        ("MULTI", OK),
        ("SELECT 6", QUEUED),
        ("SET h 8", QUEUED),
        ("COPY h h DB 7", QUEUED),
        ("SELECT 4", QUEUED),
        ("DEL g", QUEUED),
        ("EXEC", b"*5\r\n+OK\r\n+OK\r\n:1\r\n+OK\r\n:1\r\n"),
        ("SET i 9", OK),
    ]);
    let before = databases(addr);
    let held = |pairs: &[(&str, &str, bool)]| -> BTreeMap<String, (String, bool)> {
        pairs
            .iter()
            .map(|(k, v, expires)| (k.to_string(), (v.to_string(), *expires)))
            .collect()
    };
    let mut expected: Databases = vec![BTreeMap::new(); 16];
    expected[1] = held(&[("a", "1", false), ("d", "4", true), ("z", "0", false)]);
    expected[2] = held(&[("b", "2", true)]);
    expected[3] = held(&[("c", "3", false)]);
    expected[4] = held(&[("i", "9", false)]);
    expected[6] = held(&[("h", "8", false)]);
    expected[7] = held(&[("h", "8", false)]);
    assert_eq!(before, expected, "before the restart");
    server.kill();
    let (_server, addr) = serve(&log);
    assert_eq!(databases(addr), before, "after the restart");
    let bytes = std::fs::read(&*log).unwrap();
    let find = |needle: &[u8]| bytes.windows(needle.len()).position(|w| w == needle);
    let select = find(b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
    let set = find(b"$3\r\nSET\r\n$1\r\nb\r\n");
    assert!(
        matches!((select, set), (Some(s), Some(t)) if s < t),
        "SELECT 2 at {select:?}, SET b at {set:?}: {}",
        common::show(&bytes)
    );
}

/// `--databases 0` and `--databases 70000` stop the binary with status 2 and one usage line.
#[test]
fn databases_flag_out_of_range_is_a_usage_error() {
    for n in ["0", "70000"] {
        let finished = run(&["serve", "--tcp", "127.0.0.1:0", "--databases", n]);
        let stderr = finished.stderr();
        assert_eq!(finished.status.code(), Some(2), "--databases {n}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "--databases {n}: {stderr}");
        assert!(
            stderr.contains("--databases must be between 1 and 65536"),
            "--databases {n}: {stderr}"
        );
    }
}

/// `--databases 1` reaches the server: SELECT 0 is the only database and CONFIG GET answers 1.
#[test]
fn databases_flag_reaches_the_server() {
    let mut server = Running::spawn(&["serve", "--tcp", "127.0.0.1:0", "--databases", "1"]);
    check_resp(
        server.tcp_addr(),
        &[
            ("SELECT 0", OK),
            ("SELECT 1", OUT_OF_RANGE),
            ("SWAPDB 0 0", OK),
            (
                "CONFIG GET databases",
                b"*2\r\n$9\r\ndatabases\r\n$1\r\n1\r\n",
            ),
        ],
    );
}
