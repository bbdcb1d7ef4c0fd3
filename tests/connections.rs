//! Connections: pipelining, byte-at-a-time writes, Unix sockets, the worker
//! limit, clients that vanish, and the one-request-per-connection pattern.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::Command;

use blink_store::config::Config;
use common::{
    check, check_unix, config, eventually, same, start, start_both, start_unix, value_reply,
    Client, Step,
};

/// Every command once, errors included, with its exact reply.
const CORE: &[Step<'static>] = &[
    (b"USAGE\n", b"USAGE 0\n"),
    (b"SET user alice\n", b"OK\n"),
    (b"GET user\n", b"VALUE YWxpY2U=\n"),
    (b"USAGE\n", b"USAGE 9\n"),
    (b"GET nobody\n", b"NOT_FOUND\n"),
    (b"SET empty\n", b"OK\n"),
    (b"GET empty\n", b"VALUE \n"),
    (b"DELETE empty\n", b"OK\n"),
    (b"DELETE empty\n", b"NOT_FOUND\n"),
    (b"GET\n", b"ERROR GET requires key\n"),
    (b"GET a b\n", b"ERROR wrong number of arguments for 'GET'\n"),
    (b"NOPE\n", b"ERROR unknown command\n"),
    (b"get user\r\n", b"VALUE YWxpY2U=\n"),
];

/// The request bytes of `steps`, concatenated.
fn requests(steps: &[Step<'_>]) -> Vec<u8> {
    steps
        .iter()
        .flat_map(|(request, _)| request.to_vec())
        .collect()
}

/// The reply bytes of `steps`, concatenated.
fn replies(steps: &[Step<'_>]) -> Vec<u8> {
    steps.iter().flat_map(|(_, reply)| reply.to_vec()).collect()
}

/// The core transcript runs over TCP.
#[test]
fn core_transcript_over_tcp() {
    check(start(config()), CORE);
}

/// The core transcript runs over a Unix socket, with the same bytes.
#[test]
fn core_transcript_over_unix() {
    let path = start_unix(config());
    check_unix(&path, CORE);
}

/// A server with a TCP and a Unix listener serves one store from both.
#[test]
fn tcp_and_unix_listeners_share_one_store() {
    let (addr, path) = start_both(config());
    check(addr, &[(b"SET where tcp\n", b"OK\n")]);
    check_unix(
        &path,
        &[
            (b"GET where\n", b"VALUE dGNw\n"),
            (b"SET where unix\n", b"OK\n"),
        ],
    );
    check(
        addr,
        &[
            (b"GET where\n", b"VALUE dW5peA==\n"),
            (b"USAGE\n", b"USAGE 9\n"),
        ],
    );
}

/// Many requests in one write get all their replies, in order.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut steps: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for i in 0..2000 {
        let key = format!("k{}", (i / 4) % 50);
        let value = format!("v{i}");
        let step = match i % 4 {
            0 => (format!("SET {key} {value}\n"), "OK\n".to_string()),
            1 => (
                format!("GET {key}\n"),
                String::from_utf8(value_reply(format!("v{}", i - 1).as_bytes())).unwrap(),
            ),
            2 => (format!("DELETE {key}\n"), "OK\n".to_string()),
            _ => (format!("GET {key}\n"), "NOT_FOUND\n".to_string()),
        };
        steps.push((step.0.into_bytes(), step.1.into_bytes()));
    }
    let steps: Vec<Step<'_>> = steps.iter().map(|(q, r)| (&q[..], &r[..])).collect();
    let mut client = Client::tcp(start(config()));
    client.send(&requests(&steps));
    let expected = replies(&steps);
    same(&client.take(expected.len()), &expected, "pipelined replies");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// Requests written one byte per write are answered exactly as whole ones.
#[test]
fn byte_at_a_time_writes_work() {
    let mut client = Client::tcp(start(config()));
    client.stream().set_nodelay(true).unwrap();
    let mut stream: &TcpStream = client.stream();
    for byte in requests(CORE) {
        stream.write_all(&[byte]).unwrap();
        stream.flush().unwrap();
    }
    let expected = replies(CORE);
    same(&client.take(expected.len()), &expected, "replies");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// With every worker busy a new client is refused and closed until a busy one leaves.
#[test]
fn connection_over_the_worker_limit_is_refused_until_one_leaves() {
    let addr = start(Config {
        threads: 2,
        ..config()
    });
    let mut first = Client::tcp(addr);
    let mut second = Client::tcp(addr);
    // A reply proves each connection holds a worker.
    first.expect(b"SET k v\n", b"OK\n");
    second.expect(b"GET k\n", b"VALUE dg==\n");
    for _ in 0..3 {
        let mut refused = Client::tcp(addr);
        same(&refused.rest(), REFUSAL, "third connection");
    }
    first.expect(b"USAGE\n", b"USAGE 2\n");
    same(&first.finish(), b"", "first client's close");
    admitted(addr);
    second.expect(b"GET k\n", b"VALUE dg==\n");
}

/// The line a connection gets when every worker is busy.
const REFUSAL: &[u8] = b"ERROR max number of clients reached\n";

/// Sends `request` on a new connection and returns its one reply line,
/// retrying while every worker is busy. A worker is freed only once the
/// server has seen its last client close, just after that client moved on,
/// so a refusal may come for a moment; a worker that is never freed makes
/// this give up and fail.
fn one_off(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    eventually("a free worker", || {
        let reply = Client::tcp(addr).try_ask(request).ok()?;
        (!reply.is_empty() && reply != REFUSAL).then_some(reply)
    })
}

/// Waits until a new connection to `addr` is served rather than refused.
fn admitted(addr: SocketAddr) {
    let reply = one_off(addr, b"USAGE\n");
    assert!(reply.starts_with(b"USAGE "), "USAGE answered {reply:?}");
}

/// A client that pipelines big GETs and drops the socket unread ends only its own connection.
#[test]
fn client_reset_mid_pipeline_costs_only_its_connection() {
    let addr = start(Config {
        threads: 2,
        ..config()
    });
    let mut other = Client::tcp(addr);
    let big = vec![b'b'; 256 << 10];
    other.expect(&[b"SET big ", &big[..], b"\n"].concat(), b"OK\n");
    {
        let rude = Client::tcp(addr);
        let mut stream: &TcpStream = rude.stream();
        // The server stops reading once its replies fill the socket
        // buffers, so the write may time out; either way the client leaves.
        let _ = stream.write_all(&b"GET big\n".repeat(10_000));
        // Dropped with unread replies: the kernel resets the connection.
    }
    other.expect(b"GET nobody\n", b"NOT_FOUND\n");
    other.expect(b"USAGE\n", format!("USAGE {}\n", 3 + big.len()).as_bytes());
    // With two workers, `other` holds one; a new client needs the other.
    admitted(addr);
    other.expect(b"GET big\n", &value_reply(&big));
}

/// 500 one-request clients in a row that close without QUIT are all served by 4 workers.
#[test]
fn one_off_clients_never_leak_workers() {
    let addr = start(Config {
        threads: 4,
        ..config()
    });
    for i in 0..500 {
        let (request, reply) = if i % 2 == 0 {
            (format!("SET once{i} {i}\n"), b"OK\n".to_vec())
        } else {
            let value = format!("{}", i - 1);
            (format!("GET once{value}\n"), value_reply(value.as_bytes()))
        };
        same(
            &one_off(addr, request.as_bytes()),
            &reply,
            &format!("one-off client {i}"),
        );
    }
}

/// The seed's Python helper, run as is, sees OK, the value and USAGE.
#[test]
fn python_one_off_helper_works() {
    let addr = start(config());
    let script = format!(
        r#"import base64, socket
def blink(command, host="127.0.0.1", port=8765):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.connect((host, port))
        s.sendall((command + "\n").encode())
        resp = s.recv(4096).decode().strip()
        if resp.startswith("VALUE "):
            return base64.b64decode(resp[6:]).decode()
        return resp
PORT = {port}
print(blink("SET config.timeout 30", port=PORT)); print(blink("GET config.timeout", port=PORT)); print(blink("USAGE", port=PORT))
"#,
        port = addr.port()
    );
    let output = match Command::new("python3").arg("-c").arg(&script).output() {
        Ok(output) => output,
        Err(e) => {
            eprintln!("!!! python3 cannot run ({e}): python_one_off_helper_works checked nothing");
            return;
        }
    };
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // `config.timeout` is 14 bytes and `30` is 2, so USAGE is 16.
    same(&output.stdout, b"OK\n30\nUSAGE 16\n", "python's output");
}

/// Clients writing in parallel leave USAGE exactly equal to the bytes they stored.
#[test]
fn parallel_clients_keep_usage_exact() {
    let addr = start(config());
    let writers: Vec<_> = (0..6)
        .map(|t| {
            std::thread::spawn(move || {
                let mut client = Client::tcp(addr);
                for i in 0..200 {
                    // Key "t{t}-{i:03}" is 6 bytes, value 4 bytes.
                    client.expect(format!("SET t{t}-{i:03} {i:04}\n").as_bytes(), b"OK\n");
                    if i % 2 == 0 {
                        client.expect(format!("SET t{t}-{i:03} {i:04}\n").as_bytes(), b"OK\n");
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("a writer failed");
    }
    check(addr, &[(b"USAGE\n", b"USAGE 12000\n")]);
}

/// Pipelined batches that write, read and delete the same keys within one
/// read get the same exact replies with the batch prefetched (`--prefetch
/// yes`) as without it, over RESP and text, in several databases.
#[test]
fn prefetched_batches_are_answered_as_without_prefetch() {
    use blink_store::config::Prefetch;
    use common::resp::{bulk, req};
    let mut batches: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for batch in 0..40 {
        let db = batch % 3;
        let mut request = req(&format!("SELECT {db}"));
        let mut expected = b"+OK\r\n".to_vec();
        for i in 0..16 {
            let key = format!("k{}", (batch * 7 + i / 4) % 60);
            let value = format!("v{batch}.{i}.{db}");
            let (q, r) = match i % 4 {
                0 => (req(&format!("SET {key} {value}")), b"+OK\r\n".to_vec()),
                1 => (
                    req(&format!("GET {key}")),
                    bulk(format!("v{batch}.{}.{db}", i - 1).as_bytes()),
                ),
                2 => (req(&format!("DEL {key}")), b":1\r\n".to_vec()),
                _ => (format!("GET {key}\n").into_bytes(), b"NOT_FOUND\n".to_vec()),
            };
            request.extend(q);
            expected.extend(r);
        }
        batches.push((request, expected));
    }
    for prefetch in [Prefetch::Yes, Prefetch::No] {
        let mut client = Client::tcp(start(Config {
            prefetch,
            ..config()
        }));
        for (request, expected) in &batches {
            client.expect(request, expected);
        }
        same(&client.finish(), b"", "bytes after the last reply");
    }
}
