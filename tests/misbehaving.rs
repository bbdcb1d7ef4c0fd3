//! Clients that misbehave: silent ones (idle timeout), ones that trickle a
//! request and never end it (request timeout), ones that never read their
//! replies (write timeout), a pool full of idle clients, and the STATS
//! counters of each; also the permissions of the Unix socket file.
//!
//! The timeouts run on real time, so each test configures them short and
//! measures with bounded waits.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use blink_store::config::Config;
use common::{
    assert_mode, check_unix, config, same, served, show, start, start_unix, Client, TIMEOUT,
};

/// The line a connection gets when every worker is busy.
const REFUSAL: &[u8] = b"ERROR max number of clients reached\n";

/// The line a client gets when its request took too long to arrive.
const REQUEST_TIMEOUT: &[u8] = b"ERROR request timeout, closing connection\n";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Asserts the server closed `client` with no reply between `at_least` and
/// `at_most` after `since`.
#[track_caller]
fn closed_silently(
    client: &mut Client<TcpStream>,
    since: Instant,
    at_least: Duration,
    at_most: Duration,
) {
    same(&client.rest(), b"", "bytes before the close");
    let waited = since.elapsed();
    assert!(
        waited >= at_least,
        "closed after {waited:?}, before {at_least:?}"
    );
    assert!(
        waited < at_most,
        "closed only after {waited:?}, expected within {at_most:?}"
    );
}

/// A connection silent for longer than idle_timeout is closed without a reply.
#[test]
fn idle_connection_is_closed_after_idle_timeout() {
    let addr = start(Config {
        idle_timeout: Some(ms(300)),
        ..config()
    });
    let mut client = Client::tcp(addr);
    client.expect(b"PING\n", b"PONG\n");
    let answered = Instant::now();
    closed_silently(&mut client, answered, ms(250), ms(2000));
    let mut watcher = served(addr);
    watcher.await_stat("timeouts_idle", 1);
    watcher.await_stat("timeouts_request", 0);
}

/// A connection that never sends a byte is closed after idle_timeout too.
#[test]
fn connection_silent_from_the_start_is_closed_after_idle_timeout() {
    let addr = start(Config {
        idle_timeout: Some(ms(300)),
        ..config()
    });
    let mut client = Client::tcp(addr);
    let connected = Instant::now();
    closed_silently(&mut client, connected, ms(250), ms(2000));
}

/// With idle_timeout None a silent connection stays open and served.
#[test]
fn no_idle_timeout_keeps_a_silent_connection() {
    let addr = start(Config {
        idle_timeout: None,
        ..config()
    });
    let mut client = Client::tcp(addr);
    client.expect(b"SET k v\n", b"OK\n");
    client.expect_silence(ms(1000));
    client.expect(b"GET k\n", b"VALUE dg==\n");
    same(&client.finish(), b"", "bytes after the last reply");
}

/// A client trickling one byte every 100 ms of a line it never ends is cut off after request_timeout.
#[test]
fn trickled_request_is_cut_off_after_request_timeout() {
    let addr = start(Config {
        request_timeout: ms(500),
        ..config()
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    // The read timeout paces the writes: one byte per 100 ms of silence.
    stream.set_read_timeout(Some(ms(100))).unwrap();
    let mut request = b"SET k ".iter().copied().chain(std::iter::repeat(b'v'));
    let mut reply = Vec::new();
    let mut sent = 0;
    let first_byte = Instant::now();
    // 50 bytes at 100 ms each bound the loop at about 5 s.
    while sent < 50 {
        let byte = request.next().unwrap();
        if let Err(e) = stream.write_all(&[byte]) {
            panic!("write {sent} failed before any reply ({e}): the client kept sending");
        }
        sent += 1;
        let mut buf = [0u8; 256];
        match stream.read(&mut buf) {
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                break;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read failed after {sent} bytes: {e}"),
        }
    }
    let cut = first_byte.elapsed();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    // Read to the close; what follows the reply must be nothing.
    if let Err(e) = stream.read_to_end(&mut reply) {
        panic!("connection not closed ({e}) after {}", show(&reply));
    }
    same(&reply, REQUEST_TIMEOUT, "reply to the trickled request");
    assert!(
        cut >= ms(400),
        "cut off after {cut:?} and {sent} bytes, before the 500 ms request timeout"
    );
    assert!(
        cut < ms(2000),
        "cut off only after {cut:?} and {sent} bytes with a 500 ms request timeout"
    );
    let mut watcher = served(addr);
    watcher.expect(b"GET k\n", b"NOT_FOUND\n");
    watcher.await_stat("timeouts_request", 1);
    watcher.await_stat("timeouts_idle", 0);
}

/// A client that keeps sending whole requests outlives every timeout.
#[test]
fn active_client_outlives_all_timeouts() {
    let addr = start(Config {
        idle_timeout: Some(ms(500)),
        request_timeout: ms(500),
        write_timeout: ms(500),
        ..config()
    });
    let mut client = Client::tcp(addr);
    let started = Instant::now();
    // Ten requests 150 ms apart: 1.5 s, three times every timeout.
    for i in 0..10 {
        client.expect(b"PING\n", b"PONG\n");
        // Half the requests arrive in two pieces, well within the timeout.
        if i % 2 == 0 {
            client.send(b"SE");
            std::thread::sleep(ms(75));
            client.expect(format!("T k {i}\n").as_bytes(), b"OK\n");
            std::thread::sleep(ms(75));
        } else {
            std::thread::sleep(ms(150));
        }
    }
    assert!(
        started.elapsed() >= ms(1500),
        "the client was not active long enough"
    );
    client.expect(b"PING\n", b"PONG\n");
    client.expect(b"GET k\n", b"VALUE OA==\n");
    same(&client.finish(), b"", "bytes after the last reply");
    let mut watcher = served(addr);
    watcher.await_stat("timeouts_idle", 0);
    watcher.await_stat("timeouts_request", 0);
}

/// A client that pipelines big GETs and never reads is cut off after write_timeout, freeing its worker.
#[test]
fn client_that_never_reads_is_cut_off_after_write_timeout() {
    let addr = start(Config {
        threads: 1,
        write_timeout: ms(300),
        ..config()
    });
    let value = vec![b'b'; 512 << 10];
    let mut rude = Client::tcp(addr);
    rude.expect(&[b"SET big ", &value[..], b"\n"].concat(), b"OK\n");
    // About 140 MB of replies: far more than any socket buffer holds.
    rude.send(&b"GET big\n".repeat(200));
    let sent = Instant::now();
    // `rude` stays open and unread: only the write timeout frees the worker.
    let mut next = served(addr);
    let freed = sent.elapsed();
    next.await_stat("timeouts_write", 1);
    next.expect(
        b"USAGE\n",
        format!("USAGE {}\n", 3 + value.len()).as_bytes(),
    );
    assert!(
        freed < ms(4000),
        "the worker came back only after {freed:?}"
    );
    drop(rude);
}

/// With every worker held by an idle client, a new client is served or refused within 100 ms.
#[test]
fn pool_of_idle_clients_answers_a_new_client_quickly() {
    let addr = start(Config {
        threads: 4,
        ..config()
    });
    let idle: Vec<_> = (0..4)
        .map(|_| {
            let mut client = Client::tcp(addr);
            // A reply proves the client holds a worker; then it goes silent.
            client.expect(b"PING\n", b"PONG\n");
            client
        })
        .collect();
    assert_quick_answer(addr);
    drop(idle);
}

/// With four clients connected that never sent a byte, a new client is served or refused within 100 ms.
#[test]
fn pool_of_silent_connections_answers_a_new_client_quickly() {
    let addr = start(Config {
        threads: 4,
        ..config()
    });
    let silent: Vec<_> = (0..4).map(|_| Client::tcp(addr)).collect();
    assert_quick_answer(addr);
    drop(silent);
}

/// Asserts a new client of `addr` gets PONG to PING or the refusal within
/// 100 ms of starting to connect.
#[track_caller]
fn assert_quick_answer(addr: SocketAddr) {
    let started = Instant::now();
    let client = Client::tcp(addr);
    let mut stream: &TcpStream = client.stream();
    // A refused connection may be closed before the PING is written; what
    // counts is the line that comes back.
    let _ = stream.write_all(b"PING\n");
    let mut line = Vec::new();
    let _ = BufReader::new(stream).read_until(b'\n', &mut line);
    let waited = started.elapsed();
    assert!(
        line == b"PONG\n" || line == REFUSAL,
        "a new client got {} after {waited:?}",
        show(&line)
    );
    assert!(
        waited < ms(100),
        "a new client waited {waited:?} for {}",
        show(&line)
    );
}

/// The Unix socket file is made owner-only (0700) by default.
#[test]
fn unix_socket_is_owner_only_by_default() {
    let path = start_unix(config());
    assert_mode(&path, 0o700);
    check_unix(&path, &[(b"PING\n", b"PONG\n")]);
}

/// unix_perm sets the mode of the Unix socket file.
#[test]
fn unix_socket_mode_follows_unix_perm() {
    let path = start_unix(Config {
        unix_perm: 0o660,
        ..config()
    });
    assert_mode(&path, 0o660);
    check_unix(&path, &[(b"PING\n", b"PONG\n")]);
}
