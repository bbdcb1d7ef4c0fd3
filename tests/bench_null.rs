//! The benchmark's null server (`blink-store bench --null-server`) at the
//! wire: the constant reply of each protocol, requests cut across reads,
//! pipelined requests answered together, `blink-store bench` and its
//! `--data-size MIN-MAX` against it and against a real server.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

use blink_store::tools::bench::value_len;
use blink_store::tools::null;
use common::binary::run;
use common::{check, config, field, start, Client};

/// A null server on a free loopback port, served by a thread of this
/// test process for as long as the process runs.
fn null_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || null::serve(listener));
    addr
}

/// RESP arrays get `+OK`, PING `+PONG`, and redis-benchmark's two CONFIG
/// GETs a name and a value.
#[test]
fn resp_requests_get_ok_pong_and_config_pairs() {
    check(
        null_server(),
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

/// memcached's lines get `STORED`, `END` and `VERSION`; the text
/// protocol's get `PONG` and `OK`.
#[test]
fn memcached_and_text_lines_get_their_constant_replies() {
    check(
        null_server(),
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

/// A request cut by the end of a read is answered once, when its rest
/// arrives, and not before.
#[test]
fn a_request_cut_across_reads_is_answered_once_whole() {
    let mut client = Client::tcp(null_server());
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

/// Requests sent in one write are all answered, in order.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut client = Client::tcp(null_server());
    let mut batch = Vec::new();
    let mut replies = Vec::new();
    for _ in 0..1000 {
        batch.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n");
        replies.extend_from_slice(b"+OK\r\n+PONG\r\n");
    }
    client.expect(&batch, &replies);
}

/// `blink-store bench` takes the null server's replies in every protocol:
/// every request is counted and none is an error.
#[test]
fn bench_loads_the_null_server_without_errors() {
    let addr = null_server().to_string();
    for proto in ["resp", "text", "memcache"] {
        for pipeline in ["1", "16"] {
            let finished = run(&[
                "bench",
                "--tcp",
                &addr,
                "--json",
                "--proto",
                proto,
                "--clients",
                "3",
                "--pipeline",
                pipeline,
                "--requests",
                "3000",
                "--data-size",
                "1-300",
            ]);
            assert_eq!(finished.status.code(), Some(0), "{}", finished.stderr());
            let json = finished.stdout();
            assert_eq!(field(&json, "requests"), "3000", "{proto}: {json}");
            assert_eq!(field(&json, "errors"), "0", "{proto}: {json}");
        }
    }
}

/// The null server prints the address it listens on and ends on its own
/// after `--duration`.
#[test]
fn the_null_server_prints_its_address_and_stops_after_its_duration() {
    let finished = run(&["bench", "--null-server", "127.0.0.1:0", "--duration", "0.2"]);
    assert_eq!(finished.status.code(), Some(0), "{}", finished.stderr());
    let stdout = finished.stdout();
    let addr = stdout
        .strip_prefix("null server listening on ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("{stdout:?}"));
    assert!(addr.parse::<SocketAddr>().is_ok(), "{stdout:?}");
}

/// `--null-server` takes `--duration` and no load flag.
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
    let finished = run(&[
        "bench",
        "--tcp",
        &target,
        "--json",
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
    ]);
    assert_eq!(finished.status.code(), Some(0), "{}", finished.stderr());
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
