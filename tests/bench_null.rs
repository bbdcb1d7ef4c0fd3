//! The benchmark's null server (`blink-store bench --null-server`) at the
//! wire, with one thread per connection and polling (`--poll`): the
//! constant reply of each protocol, requests cut across reads, pipelined
//! requests answered together, replies held back by a full socket,
//! `blink-store bench` (its clients on threads of their own or sharing
//! them, and its `--data-size MIN-MAX`) against it and against a real
//! server.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use blink_store::tools::bench::value_len;
use blink_store::tools::null::{self, Serving};
use common::binary::{bench, run};
use common::{check, config, field, start, Client};

/// Both ways the null server can wait for requests.
const SERVINGS: [Serving; 2] = [Serving::Threads, Serving::Poll];

/// A null server on a free loopback port, served by a thread of this
/// test process for as long as the process runs.
fn null_server(serving: Serving) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || null::serve(listener, serving));
    addr
}

/// RESP arrays get `+OK`, PING `+PONG`, and redis-benchmark's two CONFIG
/// GETs a name and a value.
#[test]
fn resp_requests_get_ok_pong_and_config_pairs() {
    for serving in SERVINGS {
        check(
            null_server(serving),
            &[
                (b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n"),
                (b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"+OK\r\n"),
                (
                    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n",
                    b"+OK\r\n",
                ),
                (
                    b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n",
                    b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n",
                ),
                (
                    b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$10\r\nappendonly\r\n",
                    b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
                ),
            ],
        );
    }
}

/// memcached's lines get `STORED`, `END` and `VERSION`; the text
/// protocol's get `PONG` and `OK`.
#[test]
fn memcached_and_text_lines_get_their_constant_replies() {
    for serving in SERVINGS {
        check(
            null_server(serving),
            &[
                (b"version\r\n", b"VERSION null\r\n"),
                (b"set key 0 0 5\r\nab\r\nc\r\n", b"STORED\r\n"),
                (b"get key\r\n", b"END\r\n"),
                (b"PING\n", b"PONG\n"),
                (b"SET key value\n", b"OK\n"),
                (b"GET key\n", b"OK\n"),
            ],
        );
    }
}

/// A request cut by the end of a read is answered once, when its rest
/// arrives, and not before.
#[test]
fn a_request_cut_across_reads_is_answered_once_whole() {
    for serving in SERVINGS {
        let mut client = Client::tcp(null_server(serving));
        for (first, rest, reply) in [
            (
                &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab"[..],
                &b"cde\r\n"[..],
                &b"+OK\r\n"[..],
            ),
            (b"*2\r\n$3\r", b"\nGET\r\n$1\r\nk\r\n", b"+OK\r\n"),
            (b"set key 0 0 3\r\nab", b"c\r\n", b"STORED\r\n"),
            (b"GET ke", b"y\n", b"OK\n"),
        ] {
            client.send(first);
            client.expect_silence(Duration::from_millis(50));
            client.expect(rest, reply);
        }
    }
}

/// Requests sent in one write are all answered, in order.
#[test]
fn pipelined_requests_are_answered_in_order() {
    for serving in SERVINGS {
        let mut client = Client::tcp(null_server(serving));
        let mut batch = Vec::new();
        let mut replies = Vec::new();
        for _ in 0..1000 {
            batch.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n");
            replies.extend_from_slice(b"+OK\r\n+PONG\r\n");
        }
        client.expect(&batch, &replies);
    }
}

/// A client that sends far more than the sockets' buffers hold before it
/// reads a byte still gets every reply, in order: the server keeps what
/// the socket will not take yet and reads no more until it has sent it.
#[test]
fn replies_held_back_by_a_full_socket_all_arrive_in_order() {
    const REQUEST: &[u8] = b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$10\r\nappendonly\r\n";
    const REPLY: &[u8] = b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n";
    // 18 MB of requests, 12.8 MB of replies: more than loopback buffers.
    const COUNT: usize = 400_000;
    for serving in SERVINGS {
        let mut reader = TcpStream::connect(null_server(serving)).unwrap();
        reader
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut writer = reader.try_clone().unwrap();
        let sender = thread::spawn(move || writer.write_all(&REQUEST.repeat(COUNT)));
        // Let the buffers fill before the first read.
        thread::sleep(Duration::from_millis(300));
        let mut replies = vec![0; REPLY.len() * COUNT];
        reader.read_exact(&mut replies).unwrap();
        assert!(
            replies == REPLY.repeat(COUNT),
            "{serving:?}: replies differ"
        );
        sender.join().unwrap().unwrap();
    }
}

/// `blink-store bench` takes the null server's replies in every protocol:
/// every request is counted and none is an error.
#[test]
fn bench_loads_the_null_server_without_errors() {
    for serving in SERVINGS {
        let addr = null_server(serving).to_string();
        for proto in ["resp", "text", "memcache"] {
            for (pipeline, threads) in [("1", "3"), ("16", "3"), ("1", "1"), ("16", "2")] {
                let json = bench(
                    &addr,
                    &[
                        "--proto",
                        proto,
                        "--clients",
                        "3",
                        "--threads",
                        threads,
                        "--pipeline",
                        pipeline,
                        "--requests",
                        "3001",
                        "--data-size",
                        "1-300",
                    ],
                );
                let what = format!("{serving:?} {proto} P{pipeline} threads {threads}: {json}");
                assert_eq!(field(&json, "requests"), "3001", "{what}");
                assert_eq!(field(&json, "errors"), "0", "{what}");
                assert_eq!(field(&json, "threads"), threads, "{what}");
            }
        }
    }
}

/// Clients that share one thread each get their share of `--requests`,
/// every one a SET that reaches the server, and `--prefill` through them
/// stores every key once.
#[test]
fn clients_sharing_a_thread_send_every_request() {
    let addr = start(config());
    let target = addr.to_string();
    let json = bench(
        &target,
        &[
            "--prefill",
            "--keyspace",
            "300",
            "--clients",
            "7",
            "--threads",
            "1",
            "--requests",
            "1001",
            "--pipeline",
            "4",
            "--ratio",
            "0:1",
        ],
    );
    assert_eq!(field(&json, "requests"), "1001", "{json}");
    assert_eq!(field(&json, "errors"), "0", "{json}");
    let dbsize = run(&["cli", "--tcp", &target, "DBSIZE"]);
    assert_eq!(dbsize.stdout(), "300\n");
    // 300 prefilled SETs and 1,001 measured ones, each counted once.
    let info = run(&["cli", "--tcp", &target, "INFO", "commandstats"]);
    assert!(
        info.stdout().contains("cmdstat_set:calls=1301,"),
        "{}",
        info.stdout()
    );
}

/// The null server prints the address it listens on and ends on its own
/// after `--duration`.
#[test]
fn the_null_server_prints_its_address_and_stops_after_its_duration() {
    for poll in [None, Some("--poll")] {
        let mut args = vec!["bench", "--null-server", "127.0.0.1:0", "--duration", "0.2"];
        args.extend(poll);
        let finished = run(&args);
        assert_eq!(finished.status.code(), Some(0), "{}", finished.stderr());
        let stdout = finished.stdout();
        let addr = stdout
            .strip_prefix("null server listening on ")
            .and_then(|rest| rest.strip_suffix('\n'))
            .unwrap_or_else(|| panic!("{stdout:?}"));
        assert!(addr.parse::<SocketAddr>().is_ok(), "{stdout:?}");
    }
}

/// `--null-server` takes `--duration` and `--poll`, and no load flag.
#[test]
fn the_null_server_refuses_load_flags() {
    let finished = run(&["bench", "--null-server", "127.0.0.1:0", "--clients", "2"]);
    assert_eq!(finished.status.code(), Some(2), "{}", finished.stderr());
}

/// With `--data-size MIN-MAX` each key's value has the length
/// [`value_len`] gives it, within the range, and the lengths differ.
#[test]
fn a_range_of_data_sizes_stores_each_key_with_its_own_length() {
    let addr = start(config());
    let target = addr.to_string();
    bench(
        &target,
        &[
            "--prefill",
            "--keyspace",
            "50",
            "--clients",
            "2",
            "--requests",
            "1",
            "--ratio",
            "1:0",
            "--data-size",
            "1-1000",
        ],
    );
    let mut lengths = Vec::new();
    for key in 0..50u64 {
        let name = format!("key:{key:012}");
        let strlen = run(&["cli", "--tcp", &target, "STRLEN", &name]);
        let length: usize = strlen.stdout().trim().parse().unwrap();
        assert_eq!(length, value_len(key, 1, 1000), "{name}");
        assert!((1..=1000).contains(&length), "{name}: {length}");
        lengths.push(length);
    }
    lengths.sort_unstable();
    lengths.dedup();
    assert!(lengths.len() > 25, "{lengths:?}");
}
