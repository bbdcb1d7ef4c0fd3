//! MULTI, EXEC, DISCARD, WATCH and UNWATCH at the wire: Redis 7's replies
//! byte for byte in RESP2 and RESP3, the queue's bounds, and atomicity and
//! WATCH's check-and-set under concurrent clients.
//!
//! Every expected reply was taken from Redis 7 given the same requests,
//! except where a test says it shows Blink-Store's own choice (a command
//! refused inside MULTI, the queue's bound, a watched key whose deadline
//! passes).

mod common;

use std::thread;
use std::time::Duration;

use blink_store::auth::Password;
use blink_store::config::Config;
use blink_store::store::Clock;
use common::resp::{cmd, req, resp3, Resp};
use common::{config, done, start, start_with_clock, Client};

/// Redis's reply to EXEC after a command could not be queued.
const EXECABORT: &[u8] = b"-EXECABORT Transaction discarded because of previous errors.\r\n";

/// Blink-Store's reply to a command it does not run inside MULTI.
const NOT_ALLOWED: &[u8] = b"-ERR Command not allowed inside a transaction\r\n";

/// The errors of misplaced transaction commands, queue-time errors and EXECABORT.
#[test]
fn misplaced_commands_and_queue_errors_answer_as_redis() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        ("EXEC", b"-ERR EXEC without MULTI\r\n"),
        ("DISCARD", b"-ERR DISCARD without MULTI\r\n"),
        (
            "WATCH",
            b"-ERR wrong number of arguments for 'watch' command\r\n",
        ),
        (
            "UNWATCH x",
            b"-ERR wrong number of arguments for 'unwatch' command\r\n",
        ),
        ("MULTI", b"+OK\r\n"),
        ("MULTI", b"-ERR MULTI calls can not be nested\r\n"),
        ("WATCH a", b"-ERR WATCH inside MULTI is not allowed\r\n"),
        ("SET a 1", b"+QUEUED\r\n"),
        ("INCR a", b"+QUEUED\r\n"),
        (
            "FOO bar",
            b"-ERR unknown command 'FOO', with args beginning with: 'bar' \r\n",
        ),
        (
            "GET",
            b"-ERR wrong number of arguments for 'get' command\r\n",
        ),
        ("EXEC", EXECABORT),
        ("GET a", b"$-1\r\n"),
        ("EXEC", b"-ERR EXEC without MULTI\r\n"),
    ]);
    done(client);
}

/// As in Redis, a SET whose deadline has already passed is a write of the
/// key, which a watch sees even when the key was not there; a GETEX
/// PERSIST of a key without a deadline changes nothing, and a watch does
/// not see it.
#[test]
fn watches_see_writes_as_redis_does() {
    let mut client = Client::tcp(start(config()));
    let exec_ran = b"*1\r\n+PONG\r\n";
    client.run(&[
        ("WATCH k", b"+OK\r\n"),
        ("SET k v PXAT 1", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("PING", b"+QUEUED\r\n"),
        ("EXEC", b"*-1\r\n"),
        ("WATCH k", b"+OK\r\n"),
        ("SET k v EXAT 1 NX", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("PING", b"+QUEUED\r\n"),
        ("EXEC", b"*-1\r\n"),
        ("SET k 1", b"+OK\r\n"),
        ("WATCH k", b"+OK\r\n"),
        ("GETEX k PERSIST", b"$1\r\n1\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("PING", b"+QUEUED\r\n"),
        ("EXEC", exec_ran),
        ("SET k 1 EX 1000", b"+OK\r\n"),
        ("WATCH k", b"+OK\r\n"),
        ("GETEX k PERSIST", b"$1\r\n1\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("PING", b"+QUEUED\r\n"),
        ("EXEC", b"*-1\r\n"),
        ("TTL k", b":-1\r\n"),
    ]);
    done(client);
}

/// Redis's reply to an EXEC refused before it runs, for `why`.
fn exec_refused(why: &str) -> Vec<u8> {
    format!("-EXECABORT Transaction discarded because of: {why}\r\n").into_bytes()
}

/// As in Redis: a transaction command given the wrong number of arguments
/// inside MULTI, or a subcommand unknown or given the wrong number, fails
/// the transaction; an EXEC refused before it runs discards the
/// transaction and the watches, and says why.
#[test]
fn refusals_before_running_fail_the_transaction_as_redis() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    let exec_arity = exec_refused("wrong number of arguments for 'exec' command");
    client.run(&[
        ("EXEC x", &exec_arity),
        ("MULTI", b"+OK\r\n"),
        ("SET k v", b"+QUEUED\r\n"),
        ("EXEC x", &exec_arity),
        ("EXEC", b"-ERR EXEC without MULTI\r\n"),
        ("GET k", b"$-1\r\n"),
        ("MULTI", b"+OK\r\n"),
        (
            "WATCH",
            b"-ERR wrong number of arguments for 'watch' command\r\n",
        ),
        ("EXEC", EXECABORT),
        ("MULTI", b"+OK\r\n"),
        (
            "DISCARD x",
            b"-ERR wrong number of arguments for 'discard' command\r\n",
        ),
        (
            "RESET x",
            b"-ERR wrong number of arguments for 'reset' command\r\n",
        ),
        (
            "MULTI x",
            b"-ERR wrong number of arguments for 'multi' command\r\n",
        ),
        ("EXEC", EXECABORT),
        ("MULTI", b"+OK\r\n"),
        ("SET k v", b"+QUEUED\r\n"),
        (
            "OBJECT FOO k",
            b"-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n",
        ),
        ("EXEC", EXECABORT),
        ("MULTI", b"+OK\r\n"),
        (
            "CONFIG GET",
            b"-ERR wrong number of arguments for 'config|get' command\r\n",
        ),
        ("EXEC", EXECABORT),
        ("MULTI", b"+OK\r\n"),
        (
            "CLIENT GETNAME x",
            b"-ERR wrong number of arguments for 'client|getname' command\r\n",
        ),
        ("EXEC", EXECABORT),
        ("GET k", b"$-1\r\n"),
        // A subcommand's other errors are its reply in EXEC.
        ("MULTI", b"+OK\r\n"),
        ("CONFIG GET no-such-parameter", b"+QUEUED\r\n"),
        ("MEMORY USAGE k SAMPLES x", b"+QUEUED\r\n"),
        ("PING", b"+QUEUED\r\n"),
        (
            "EXEC",
            b"*3\r\n*0\r\n-ERR value is not an integer or out of range\r\n+PONG\r\n",
        ),
        // The refused EXEC forgot the watch: the change does not abort.
        ("WATCH k", b"+OK\r\n"),
    ]);
    Client::tcp(addr).run(&[("SET k changed", b"+OK\r\n")]);
    client.run(&[
        ("EXEC x", &exec_arity),
        ("MULTI", b"+OK\r\n"),
        ("PING", b"+QUEUED\r\n"),
        ("EXEC", b"*1\r\n+PONG\r\n"),
    ]);
    done(client);
}

/// EXEC refused on a subscribed RESP2 connection, or before the client
/// has authenticated, answers as Redis does.
#[test]
fn exec_refused_by_a_gate_says_why_as_redis() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        (
            "SUBSCRIBE ch",
            b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
        ),
        (
            "EXEC",
            &exec_refused(
                "Can't execute 'exec': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context",
            ),
        ),
    ]);
    let locked = Config {
        password: Some(Password::new("pw")),
        ..config()
    };
    let mut client = Client::tcp(start(locked));
    client.run(&[
        ("EXEC", &exec_refused("NOAUTH Authentication required.")),
        ("AUTH pw", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("EXEC", b"*0\r\n"),
    ]);
}

/// EXEC answers every queued reply; a runtime error is that command's reply and the others still run.
#[test]
fn exec_runs_the_queue_and_runtime_errors_are_replies() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        ("MULTI", b"+OK\r\n"),
        ("SET a x", b"+QUEUED\r\n"),
        ("INCR a", b"+QUEUED\r\n"),
        ("GET a", b"+QUEUED\r\n"),
        ("SET a 1 NX XX", b"+QUEUED\r\n"),
        ("UNWATCH", b"+QUEUED\r\n"),
        ("PING", b"+QUEUED\r\n"),
        (
            "EXEC",
            b"*6\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\nx\r\n\
              -ERR syntax error\r\n+OK\r\n+PONG\r\n",
        ),
        ("MULTI", b"+OK\r\n"),
        ("EXEC", b"*0\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("SET b 1", b"+QUEUED\r\n"),
        ("DISCARD", b"+OK\r\n"),
        ("GET b", b"$-1\r\n"),
        ("WATCH a", b"+OK\r\n"),
        ("UNWATCH", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("GET nope", b"+QUEUED\r\n"),
        ("MGET a nope", b"+QUEUED\r\n"),
        ("EXEC", b"*2\r\n$-1\r\n*2\r\n$1\r\nx\r\n$-1\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("RESET", b"+RESET\r\n"),
        ("EXEC", b"-ERR EXEC without MULTI\r\n"),
    ]);
    done(client);
}

/// The data commands queued inside MULTI, in the order of the transaction below.
const DATA_COMMANDS: &[&str] = &[
    "INCR a",
    "INCRBY a x",
    "DECR b",
    "APPEND c xy",
    "STRLEN c",
    "TTL a",
    "EXPIRE a 100",
    "TTL a",
    "PERSIST a",
    "TYPE c",
    "EXISTS a b c",
    "DEL b",
    "GETDEL c",
    "MSET x 1 y 2",
    "MSETNX x 1 z 2",
    "RENAME x x2",
    "COPY y y2",
    "GETRANGE y2 0 -1",
    "SETRANGE y2 3 ab",
    "GET y2",
    "SET k v GET",
    "SET k v NX",
    "SETNX k w",
    "GETSET k z",
    "INCRBYFLOAT f 1.5",
    "MGET a b k",
    "DBSIZE",
];

/// Queues [`DATA_COMMANDS`] after WATCH and MULTI, and checks EXEC's reply.
#[track_caller]
fn run_data_commands(client: &mut Client<std::net::TcpStream>, exec_reply: &[u8]) {
    client.run(&[("WATCH a b c", b"+OK\r\n"), ("MULTI", b"+OK\r\n")]);
    for command in DATA_COMMANDS {
        client.run(&[(command, b"+QUEUED\r\n")]);
    }
    client.expect(&req("EXEC"), exec_reply);
}

/// Every kind of data command runs inside EXEC with the reply Redis gives it there, RESP2 and RESP3.
#[test]
fn data_commands_inside_exec_answer_as_redis() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    let resp2: &[u8] =
        b"*27\r\n:1\r\n-ERR value is not an integer or out of range\r\n:-1\r\n:2\r\n\
        :2\r\n:-1\r\n:1\r\n:100\r\n:1\r\n+string\r\n:3\r\n:1\r\n$2\r\nxy\r\n+OK\r\n:0\r\n\
        +OK\r\n:1\r\n$1\r\n2\r\n:5\r\n$5\r\n2\x00\x00ab\r\n$-1\r\n$-1\r\n:0\r\n$1\r\nv\r\n\
        $3\r\n1.5\r\n*3\r\n$1\r\n1\r\n$-1\r\n$1\r\nz\r\n:6\r\n";
    run_data_commands(&mut client, resp2);
    client.run(&[("FLUSHALL", b"+OK\r\n")]);
    done(client);
    let mut client = resp3(addr);
    let resp3_reply: &[u8] =
        b"*27\r\n:1\r\n-ERR value is not an integer or out of range\r\n:-1\r\n\
        :2\r\n:2\r\n:-1\r\n:1\r\n:100\r\n:1\r\n+string\r\n:3\r\n:1\r\n$2\r\nxy\r\n+OK\r\n\
        :0\r\n+OK\r\n:1\r\n$1\r\n2\r\n:5\r\n$5\r\n2\x00\x00ab\r\n_\r\n_\r\n:0\r\n$1\r\nv\r\n\
        $3\r\n1.5\r\n*3\r\n$1\r\n1\r\n_\r\n$1\r\nz\r\n:6\r\n";
    run_data_commands(&mut client, resp3_reply);
    done(client);
}

/// In RESP3, EXEC's replies are RESP3's (null as `_`) and an aborted watch is `_`.
#[test]
fn resp3_exec_replies_and_null() {
    let addr = start(config());
    let mut client = resp3(addr);
    client.run(&[
        ("MULTI", b"+OK\r\n"),
        ("SET a 1", b"+QUEUED\r\n"),
        ("GET nope", b"+QUEUED\r\n"),
        ("INCR a", b"+QUEUED\r\n"),
        ("MGET a nope", b"+QUEUED\r\n"),
        ("EXEC", b"*4\r\n+OK\r\n_\r\n:2\r\n*2\r\n$1\r\n2\r\n_\r\n"),
        ("MULTI", b"+OK\r\n"),
        (
            "FOO",
            b"-ERR unknown command 'FOO', with args beginning with: \r\n",
        ),
        ("EXEC", EXECABORT),
        ("WATCH w", b"+OK\r\n"),
    ]);
    let mut other = Client::tcp(addr);
    other.run(&[("SET w 1", b"+OK\r\n")]);
    client.run(&[
        ("MULTI", b"+OK\r\n"),
        ("GET w", b"+QUEUED\r\n"),
        ("EXEC", b"_\r\n"),
    ]);
    done(client);
    done(other);
}

/// A key watched while missing and then created by another client aborts EXEC with `*-1`; nothing queued runs.
#[test]
fn watched_key_changed_by_another_client_aborts_exec() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    let mut other = Client::tcp(addr);
    client.run(&[("WATCH w", b"+OK\r\n")]);
    other.run(&[("SET w 1", b"+OK\r\n")]);
    client.run(&[
        ("MULTI", b"+OK\r\n"),
        ("SET x 1", b"+QUEUED\r\n"),
        ("EXEC", b"*-1\r\n"),
        ("GET x", b"$-1\r\n"),
        ("EXEC", b"-ERR EXEC without MULTI\r\n"),
        ("WATCH w", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("GET w", b"+QUEUED\r\n"),
        ("EXEC", b"*1\r\n$1\r\n1\r\n"),
    ]);
    // Deleted, and changed by the watching client itself, count too.
    client.run(&[("WATCH w", b"+OK\r\n")]);
    other.run(&[("DEL w", b":1\r\n")]);
    client.run(&[("MULTI", b"+OK\r\n"), ("EXEC", b"*-1\r\n")]);
    client.run(&[
        ("WATCH w", b"+OK\r\n"),
        ("SET w 2", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("EXEC", b"*-1\r\n"),
    ]);
    done(client);
    done(other);
}

/// Blink-Store's choice: a watched key whose deadline passes before EXEC counts as changed, reclaimed or not.
#[test]
fn watched_key_that_expires_aborts_exec() {
    let clock = Clock::manual();
    let mut client = Client::tcp(start_with_clock(config(), clock.clone()));
    client.run(&[("SET e 1 PX 100", b"+OK\r\n"), ("WATCH e", b"+OK\r\n")]);
    clock.advance(Duration::from_millis(200));
    client.run(&[
        ("MULTI", b"+OK\r\n"),
        ("PING", b"+QUEUED\r\n"),
        ("EXEC", b"*-1\r\n"),
    ]);
    done(client);
}

/// Server and connection commands are queued and run in EXEC, their
/// replies in their places (bytes from Redis 7, but for its maxmemory
/// default); AUTH, HELLO and SHUTDOWN are refused inside MULTI, which
/// aborts it.
#[test]
fn server_commands_run_in_exec_and_auth_hello_shutdown_are_refused() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        ("MULTI", b"+OK\r\n"),
        ("SET a 1", b"+QUEUED\r\n"),
        ("CONFIG GET maxmemory-samples", b"+QUEUED\r\n"),
        ("CLIENT SETNAME x", b"+QUEUED\r\n"),
        ("CLIENT GETNAME", b"+QUEUED\r\n"),
        ("GET a", b"+QUEUED\r\n"),
        (
            "EXEC",
            b"*5\r\n+OK\r\n*2\r\n$17\r\nmaxmemory-samples\r\n$1\r\n5\r\n+OK\r\n\
              $1\r\nx\r\n$1\r\n1\r\n",
        ),
        ("CLIENT GETNAME", b"$1\r\nx\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("SET k v", b"+QUEUED\r\n"),
        ("HELLO 3", NOT_ALLOWED),
        ("EXEC", EXECABORT),
        ("GET k", b"$-1\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("SHUTDOWN", NOT_ALLOWED),
        ("DISCARD", b"+OK\r\n"),
    ]);
    // INFO in a transaction sees the whole transaction done.
    client.send(
        &[
            cmd(&[b"MULTI"]),
            cmd(&[b"SET", b"b", b"2"]),
            cmd(&[b"INFO", b"keyspace"]),
            cmd(&[b"EXEC"]),
        ]
        .concat(),
    );
    assert_eq!(client.reply(), Resp::Simple(b"OK".to_vec()));
    assert_eq!(client.reply(), Resp::Simple(b"QUEUED".to_vec()));
    assert_eq!(client.reply(), Resp::Simple(b"QUEUED".to_vec()));
    let exec = client.reply();
    let replies = exec.array();
    assert_eq!(replies[0], Resp::Simple(b"OK".to_vec()));
    let info = replies[1].string();
    assert!(info.contains("db0:keys=2,"), "{info}");
    done(client);
}

/// The queue holds at most 10,000 commands; one more is refused and aborts the transaction.
#[test]
fn queue_is_bounded() {
    let mut client = Client::tcp(start(config()));
    client.run(&[("MULTI", b"+OK\r\n")]);
    let pings = req("PING").repeat(10_000);
    client.send(&pings);
    let queued = b"+QUEUED\r\n".repeat(10_000);
    assert_eq!(client.take(queued.len()), queued);
    client.run(&[
        ("PING", b"-ERR transaction queue is full\r\n"),
        ("EXEC", EXECABORT),
    ]);
    done(client);
}

/// A connection watches at most 10,000 keys; WATCH past that is refused and watches nothing more.
#[test]
fn watched_keys_are_bounded() {
    let mut client = Client::tcp(start(config()));
    let mut watch: Vec<Vec<u8>> = vec![b"WATCH".to_vec()];
    watch.extend((0..10_000).map(|i| format!("k{i}").into_bytes()));
    let args: Vec<&[u8]> = watch.iter().map(Vec::as_slice).collect();
    client.expect(&cmd(&args), b"+OK\r\n");
    client.run(&[
        ("WATCH one-more", b"-ERR too many watched keys\r\n"),
        ("UNWATCH", b"+OK\r\n"),
        ("WATCH one-more", b"+OK\r\n"),
    ]);
    done(client);
}

/// A text request inside a RESP MULTI is refused, aborting it; the text protocol itself is untouched.
#[test]
fn text_request_inside_multi_is_refused() {
    let mut client = Client::tcp(start(config()));
    client.run(&[("MULTI", b"+OK\r\n")]);
    client.expect(
        b"GET k\n",
        b"ERROR Command not allowed inside a transaction\n",
    );
    client.run(&[("EXEC", EXECABORT)]);
    client.expect(b"MULTI\n", b"ERROR unknown command\n");
    done(client);
}

/// A transaction whose writes each fit under the limit but together do
/// not fails as a whole with -OOM.
#[test]
fn transaction_too_large_fails_whole() {
    let config = Config {
        memory_limit: 64,
        ..config()
    };
    let mut client = Client::tcp(start(config));
    let value = "v".repeat(40);
    client.send(&req("MULTI"));
    client.send(&cmd(&[b"SET", b"a", value.as_bytes()]));
    client.send(&cmd(&[b"SET", b"b", value.as_bytes()]));
    client.send(&req("EXEC"));
    let expected: &[u8] = b"+OK\r\n+QUEUED\r\n+QUEUED\r\n\
        -EXECABORT Transaction discarded because of: OOM command not allowed when used memory \
        > 'maxmemory'.\r\n";
    assert_eq!(client.take(expected.len()), expected);
    client.run(&[("GET a", b"$-1\r\n")]);
    done(client);
}

/// Clients of the atomicity test, per role.
const CLIENTS: usize = 16;

/// A server with a worker for each client of the concurrency tests.
fn busy_server() -> std::net::SocketAddr {
    start(Config {
        threads: 2 * CLIENTS + 2,
        ..config()
    })
}

/// Transactions each writer runs.
const ROUNDS: usize = 200;

/// 16 clients run `MULTI; INCR a; INCR b; EXEC` while 16 read `MGET a b` and `MULTI; GET a; GET b; EXEC`: the two values are always equal.
#[test]
fn no_client_sees_part_of_a_transaction() {
    let addr = busy_server();
    let writers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            thread::spawn(move || {
                let mut client = Client::tcp(addr);
                for _ in 0..ROUNDS {
                    client
                        .send(&[req("MULTI"), req("INCR a"), req("INCR b"), req("EXEC")].concat());
                    for _ in 0..3 {
                        client.reply();
                    }
                    let replies = client.reply();
                    let [Resp::Integer(a), Resp::Integer(b)] = replies.array() else {
                        panic!("EXEC answered {replies:?}");
                    };
                    assert_eq!(a, b, "one transaction's INCRs");
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || {
                let mut client = Client::tcp(addr);
                for _ in 0..ROUNDS {
                    let pair = if i % 2 == 0 {
                        client.call("MGET a b")
                    } else {
                        client.send(
                            &[req("MULTI"), req("GET a"), req("GET b"), req("EXEC")].concat(),
                        );
                        for _ in 0..3 {
                            client.reply();
                        }
                        client.reply()
                    };
                    let values = pair.array();
                    assert_eq!(values[0], values[1], "a and b seen together");
                }
            })
        })
        .collect();
    for handle in writers.into_iter().chain(readers) {
        handle.join().expect("a client failed");
    }
    let mut client = Client::tcp(addr);
    let total = (CLIENTS * ROUNDS).to_string();
    let expected = format!("*2\r\n${0}\r\n{1}\r\n${0}\r\n{1}\r\n", total.len(), total);
    client.run(&[("MGET a b", expected.as_bytes())]);
    done(client);
}

/// Increments each client makes with WATCH-based check-and-set.
const CAS_ROUNDS: usize = 50;

/// 16 clients increment one counter with WATCH, GET, MULTI, SET, EXEC, retrying on a null EXEC: the total is exact.
#[test]
fn watch_check_and_set_loses_no_increment() {
    let addr = busy_server();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|_| {
            thread::spawn(move || {
                let mut client = Client::tcp(addr);
                let mut retries = 0u64;
                for _ in 0..CAS_ROUNDS {
                    loop {
                        client.run(&[("WATCH counter", b"+OK\r\n")]);
                        let n = match client.call("GET counter") {
                            Resp::NullBulk => 0,
                            value => value.string().parse::<u64>().expect("a number"),
                        };
                        let set = format!("SET counter {}", n + 1);
                        client.send(&[req("MULTI"), req(&set), req("EXEC")].concat());
                        client.reply();
                        client.reply();
                        match client.reply() {
                            Resp::NullArray => retries += 1,
                            Resp::Array(_) => break,
                            other => panic!("EXEC answered {other:?}"),
                        }
                    }
                }
                retries
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a client failed");
    }
    let mut client = Client::tcp(addr);
    let total = (CLIENTS * CAS_ROUNDS).to_string();
    let expected = format!("${}\r\n{}\r\n", total.len(), total);
    client.run(&[("GET counter", expected.as_bytes())]);
    done(client);
}

/// Under a tight memory limit, transactions and plain SETs racing with eviction and expiry all finish, and the byte count never passes the limit.
#[test]
fn transactions_under_eviction_finish_within_the_limit() {
    const LIMIT: i64 = 8 * 1024;
    let addr = start(Config {
        memory_limit: LIMIT as u64,
        threads: 2 * CLIENTS + 2,
        ..config()
    });
    let value = "v".repeat(200);
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let value = value.clone();
            thread::spawn(move || {
                let mut client = Client::tcp(addr);
                for round in 0..ROUNDS {
                    let key = |n: usize| format!("k{}", (i * 7 + round * 3 + n) % 200);
                    if i % 2 == 0 {
                        let mut batch = req("MULTI");
                        for n in 0..3 {
                            batch.extend(cmd(&[b"SET", key(n).as_bytes(), value.as_bytes()]));
                        }
                        batch.extend(cmd(&[b"SET", key(3).as_bytes(), b"x", b"PX", b"1"]));
                        batch.extend(req("INCR counter"));
                        batch.extend(req("EXEC"));
                        client.send(&batch);
                        for _ in 0..6 {
                            client.reply();
                        }
                        match client.reply() {
                            Resp::Array(replies) => assert_eq!(replies.len(), 5),
                            other => panic!("EXEC answered {other:?}"),
                        }
                    } else {
                        client.call_args(&[b"SET", key(0).as_bytes(), value.as_bytes()]);
                    }
                    let used = client.call("USAGE").integer();
                    assert!(used <= LIMIT, "{used} bytes counted, over {LIMIT}");
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a client failed");
    }
    let mut client = Client::tcp(addr);
    assert!(client.call("USAGE").integer() <= LIMIT);
    done(client);
}

/// Another connection's CLIENT LIST shows a client in MULTI as Redis does: `flags=x` and `multi=` the commands queued, back to `flags=N multi=-1` after EXEC.
#[test]
fn client_list_shows_an_open_transaction() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    client.run(&[
        ("MULTI", b"+OK\r\n"),
        ("SET a 1", b"+QUEUED\r\n"),
        ("GET a", b"+QUEUED\r\n"),
    ]);
    let mut other = Client::tcp(addr);
    let mut line_of_client = || {
        let list = other.call("CLIENT LIST").string();
        let line = list.lines().find(|l| !l.contains("cmd=client|list"));
        line.expect("the other client's line").to_string()
    };
    let line = line_of_client();
    assert!(
        line.contains(" flags=x ") && line.contains(" multi=2 "),
        "{line}"
    );
    client.run(&[("EXEC", b"*2\r\n+OK\r\n$1\r\n1\r\n")]);
    let line = line_of_client();
    assert!(
        line.contains(" flags=N ") && line.contains(" multi=-1 "),
        "{line}"
    );
    done(client);
    done(other);
}

/// A flush disturbs the watches of the keys it removes and no other, as
/// in Redis: WATCH of a missing key survives FLUSHALL and FLUSHDB, WATCH
/// of one that existed does not.
#[test]
fn a_flush_aborts_only_the_watches_of_keys_it_removed() {
    let mut client = Client::tcp(start(config()));
    for flush in ["FLUSHALL", "FLUSHDB"] {
        client.run(&[
            ("DEL x", b":0\r\n"),
            ("WATCH x", b"+OK\r\n"),
            (flush, b"+OK\r\n"),
            ("MULTI", b"+OK\r\n"),
            ("PING", b"+QUEUED\r\n"),
            ("EXEC", b"*1\r\n+PONG\r\n"),
            ("SET x 30", b"+OK\r\n"),
            ("WATCH x", b"+OK\r\n"),
            (flush, b"+OK\r\n"),
            ("MULTI", b"+OK\r\n"),
            ("PING", b"+QUEUED\r\n"),
            ("EXEC", b"*-1\r\n"),
        ]);
    }
    done(client);
}

/// A write that could never fit the memory limit is refused when queued,
/// with Redis's OOM error, and DISCARD still works.
#[test]
fn a_write_larger_than_the_limit_is_refused_when_queued() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        ("CONFIG SET maxmemory 1", b"+OK\r\n"),
        ("MULTI", b"+OK\r\n"),
        (
            "SET x 1",
            b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
        ),
        ("GET x", b"+QUEUED\r\n"),
        ("DISCARD", b"+OK\r\n"),
        ("CONFIG SET maxmemory 0", b"+OK\r\n"),
        ("PING", b"+PONG\r\n"),
    ]);
    done(client);
}
