//! The append-only file, end to end: the binary is started with `--aof`,
//! written to over both protocols, killed with SIGKILL, and started again
//! on the same log; torn and corrupt logs; `aof-check`; a crash under
//! load; compaction, and a crash at each of its steps; a second server on
//! the same log; a disk that fills up and gets room again.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blink_store::config::{AofConfig, Config, Fsync};
use blink_store::server::Server;
use common::binary::{run, Running, TempFile};
use common::resp::{cmd, Resp};
use common::{same, show, value_reply, Client, Rng, TIMEOUT};

/// Deadlines may differ this much between the state before a kill and the
/// state replayed after it: the restart takes time, and PTTL rounds.
const DEADLINE_SLACK_MS: i64 = 3_000;

/// Starts the binary on an ephemeral port with `--aof log` and `extra`
/// flags; returns it and its address, once it is serving.
fn serve(log: &TempFile, extra: &[&str]) -> (Running, SocketAddr) {
    let mut args = vec!["serve", "--tcp", "127.0.0.1:0", "--aof", log.arg()];
    args.extend_from_slice(extra);
    let mut server = Running::spawn(&args);
    let addr = server.tcp_addr();
    (server, addr)
}

/// Every key with its value and PTTL, read over RESP.
fn state(addr: SocketAddr) -> BTreeMap<Vec<u8>, (Vec<u8>, i64)> {
    let mut client = Client::tcp(addr);
    let keys = client.call("KEYS *");
    let mut state = BTreeMap::new();
    for key in keys.array() {
        let key = key.text().to_vec();
        let value = match client.call_args(&[b"GET", &key]) {
            Resp::Bulk(v) => v,
            other => panic!("GET answered {other:?}"),
        };
        let ttl = client.call_args(&[b"PTTL", &key]).integer();
        state.insert(key, (value, ttl));
    }
    state
}

/// Asserts two states hold the same keys and values, and deadlines within
/// [`DEADLINE_SLACK_MS`].
#[track_caller]
fn assert_same_state(
    before: &BTreeMap<Vec<u8>, (Vec<u8>, i64)>,
    after: &BTreeMap<Vec<u8>, (Vec<u8>, i64)>,
) {
    let keys = |s: &BTreeMap<Vec<u8>, (Vec<u8>, i64)>| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(before), keys(after), "the keys differ after replay");
    for (key, (value, ttl)) in before {
        let (value_after, ttl_after) = &after[key];
        assert_eq!(value, value_after, "value of {key:?}");
        if *ttl < 0 {
            assert_eq!(ttl, ttl_after, "PTTL of {key:?}");
        } else {
            assert!(
                (ttl - ttl_after).abs() <= DEADLINE_SLACK_MS,
                "PTTL of {key:?}: {ttl} before, {ttl_after} after"
            );
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Runs `count` random writes over RESP (and some over text) against the
/// server at `addr`.
fn random_writes(addr: SocketAddr, rng: &mut Rng, count: usize) {
    let mut resp = Client::tcp(addr);
    let mut text = Client::tcp(addr);
    let key = |rng: &mut Rng| -> Vec<u8> {
        match rng.below(12) {
            0 => b"bin\0\r\nkey".to_vec(),
            n => format!("k{n}").into_bytes(),
        }
    };
    for _ in 0..count {
        let k = key(rng);
        let value = format!("v\r\n\0{}", rng.below(1000)).into_bytes();
        let secs = (100 + rng.below(1000)).to_string();
        let n = rng.below(1000).to_string();
        let request = match rng.below(23) {
            0 | 1 => cmd(&[b"SET", &k, &value]),
            2 => cmd(&[b"SET", &k, &value, b"EX", secs.as_bytes()]),
            3 => {
                let at = (unix_ms() + 200_000).to_string();
                cmd(&[b"SET", &k, &value, b"PXAT", at.as_bytes()])
            }
            // A deadline already past: the key is gone at once.
            4 => cmd(&[b"SET", &k, &value, b"PXAT", b"1000"]),
            5 => cmd(&[b"DEL", &k]),
            6 => cmd(&[b"EXPIRE", &k, secs.as_bytes()]),
            7 => cmd(&[b"PERSIST", &k]),
            8 => cmd(&[b"SET", &k, n.as_bytes(), b"KEEPTTL"]),
            9 => cmd(&[b"INCR", &k]),
            10 => cmd(&[b"APPEND", &k, &value]),
            11 => {
                let k2 = key(rng);
                cmd(&[b"MSET", &k, &value, &k2, n.as_bytes(), &k, b"last"])
            }
            12 if rng.below(20) == 0 => cmd(&[b"FLUSHALL"]),
            12 => cmd(&[b"GETDEL", &k]),
            13 => cmd(&[b"SETRANGE", &k, n.as_bytes(), &value]),
            14 => cmd(&[b"INCRBYFLOAT", &k, b"1.5"]),
            15 => cmd(&[b"RENAME", &k, &key(rng)]),
            16 => cmd(&[b"RENAMENX", &k, &key(rng)]),
            17 => cmd(&[b"COPY", &k, &key(rng), b"REPLACE"]),
            18 => cmd(&[b"MSETNX", &k, &value, &key(rng), n.as_bytes()]),
            19 | 20 => {
                // A transaction: one MULTI ... EXEC block in the log.
                let (k2, k3) = (key(rng), key(rng));
                let mut parts = vec![
                    cmd(&[b"MULTI"]),
                    cmd(&[b"SET", &k, &value, b"EX", secs.as_bytes()]),
                    cmd(&[b"INCR", &k2]),
                    cmd(&[b"APPEND", &k, n.as_bytes()]),
                    cmd(&[b"RENAME", &k, &k3]),
                    cmd(&[b"DEL", &k2]),
                    cmd(&[b"MSET", &k2, &value, &k, n.as_bytes()]),
                ];
                if rng.below(20) == 0 {
                    parts.insert(3, cmd(&[b"FLUSHALL"]));
                }
                parts.push(cmd(&[b"EXEC"]));
                resp.send(&parts.concat());
                for _ in 0..parts.len() {
                    resp.reply();
                }
                continue;
            }
            _ => {
                // Text SET: the value is binary too (but has no newline).
                let mut line = b"SET ".to_vec();
                line.extend_from_slice(format!("t{} ", rng.below(5)).as_bytes());
                line.extend_from_slice(b"x\0y\rz");
                line.extend_from_slice(n.as_bytes());
                line.push(b'\n');
                text.send(&line);
                text.line();
                continue;
            }
        };
        resp.send(&request);
        resp.reply();
    }
}

/// What is read back after a SIGKILL and a restart is exactly what was
/// there before, twice in a row; deadlines agree within a few seconds.
#[test]
fn replay_after_kill_restores_exactly_what_memory_held() {
    let log = TempFile::path();
    let mut rng = Rng(7);
    let (server, addr) = serve(&log, &[]);
    random_writes(addr, &mut rng, 600);
    let mut before = state(addr);
    assert!(before.len() > 3, "the mix left too few keys: {before:?}");
    server.kill();
    for _ in 0..2 {
        let (server, addr) = serve(&log, &[]);
        assert!(server.seen().contains("replayed"), "{}", server.seen());
        assert_same_state(&before, &state(addr));
        random_writes(addr, &mut rng, 300);
        before = state(addr);
        server.kill();
    }
    let (_server, addr) = serve(&log, &[]);
    assert_same_state(&before, &state(addr));
}

/// A log as the server writes it: RESP arrays of bulk strings.
fn records(commands: &[&[&[u8]]]) -> (Vec<u8>, Vec<usize>) {
    let mut log = Vec::new();
    let mut starts = Vec::new();
    for args in commands {
        starts.push(log.len());
        log.extend_from_slice(&cmd(args));
    }
    (log, starts)
}

/// The records of a log, each the arguments of one RESP array, with the
/// bytes it takes; panics on anything else, or on a cut record.
fn parse_records(mut log: &[u8]) -> Vec<(Vec<Vec<u8>>, usize)> {
    fn header(log: &mut &[u8], marker: u8) -> usize {
        assert_eq!(log[0], marker, "{}", show(&log[..log.len().min(40)]));
        let end = log.iter().position(|&b| b == b'\n').unwrap();
        let n = std::str::from_utf8(&log[1..end - 1])
            .unwrap()
            .parse()
            .unwrap();
        *log = &log[end + 1..];
        n
    }
    let mut parsed = Vec::new();
    while !log.is_empty() {
        let before = log.len();
        let count = header(&mut log, b'*');
        let args = (0..count)
            .map(|_| {
                let len = header(&mut log, b'$');
                let arg = log[..len].to_vec();
                assert_eq!(&log[len..len + 2], b"\r\n");
                log = &log[len + 2..];
                arg
            })
            .collect();
        parsed.push((args, before - log.len()));
    }
    parsed
}

/// The log of the torn-tail tests: four records, the last three of which
/// are cut at every offset.
fn sample_log() -> (Vec<u8>, Vec<usize>) {
    let far = (unix_ms() + 3_600_000).to_string();
    records(&[
        &[b"SET", b"a", b"1"],
        &[b"SET", b"b", b"x\r\n\0y", b"PXAT", far.as_bytes()],
        &[b"MULTI"],
        &[b"SET", b"c", b"3"],
        &[b"SET", b"d", b"4"],
        &[b"EXEC"],
        &[b"DEL", b"a"],
    ])
}

/// The keys a server holds, sorted.
fn keys(addr: SocketAddr) -> Vec<Vec<u8>> {
    state(addr).into_keys().collect()
}

/// A log cut at any offset inside its last records loads the records
/// before the cut, logging the offset and the bytes dropped; a MULTI block
/// counts as one record. The file is cut to match.
#[test]
fn a_torn_tail_is_cut_at_the_last_whole_record() {
    let (log, starts) = sample_log();
    // What each whole prefix holds, by the number of records kept
    // (the block's three inner records count with it).
    let expected: Vec<(usize, Vec<&[u8]>)> = vec![
        (starts[1], vec![b"a"]),
        (starts[2], vec![b"a", b"b"]),
        (starts[6], vec![b"a", b"b", b"c", b"d"]),
        (log.len(), vec![b"b", b"c", b"d"]),
    ];
    for cut in starts[1]..=log.len() {
        let file = TempFile::with(&log[..cut]);
        let (whole, want) = expected.iter().rev().find(|(end, _)| *end <= cut).unwrap();
        let (server, addr) = serve(&file, &[]);
        if *whole < cut {
            let seen = server.seen();
            let named = format!(
                "torn final record at offset {whole}: dropped {} bytes",
                cut - whole
            );
            assert!(seen.contains(&named), "cut {cut}: {seen}");
        }
        let want: Vec<Vec<u8>> = want.iter().map(|k| k.to_vec()).collect();
        assert_eq!(keys(addr), want, "cut at {cut}");
        drop(server);
        let len = std::fs::metadata(&*file).unwrap().len();
        assert_eq!(len as usize, *whole, "the file was not cut at {whole}");
    }
}

/// With `--aof-load-truncated no`, a torn tail stops the start, naming
/// the offset and the repair.
#[test]
fn a_torn_tail_refuses_to_start_when_asked() {
    let (log, starts) = sample_log();
    let file = TempFile::with(&log[..log.len() - 2]);
    let finished = run(&[
        "serve",
        "--tcp",
        "127.0.0.1:0",
        "--aof",
        file.arg(),
        "--aof-load-truncated",
        "no",
    ]);
    assert!(!finished.status.success());
    let stderr = finished.stderr();
    assert!(
        stderr.contains(&format!("torn final record at offset {}", starts[6])),
        "{stderr}"
    );
    assert!(stderr.contains("blink-store aof-check"), "{stderr}");
    assert_eq!(std::fs::read(&*file).unwrap(), log[..log.len() - 2]);
}

/// Garbage before the end, or a command the server does not write, stops
/// the start with the offset and the way to check the file; nothing is cut.
#[test]
fn corruption_before_the_end_refuses_to_start() {
    let (good, _) = records(&[&[b"SET", b"a", b"1"]]);
    let (tail, _) = records(&[&[b"SET", b"b", b"2"]]);
    for (bad, why) in [
        (
            &b"*2\r\n$3\r\nSET\r\n!oops\r\n"[..],
            "expected a bulk string",
        ),
        (b"*1\r\n$4\r\nPING\r\n", "unknown command 'PING'"),
        (b"*1\r\n$4\r\nEXEC\r\n", "EXEC without MULTI"),
    ] {
        let mut log = good.clone();
        log.extend_from_slice(bad);
        log.extend_from_slice(&tail);
        let file = TempFile::with(&log);
        let finished = run(&["serve", "--tcp", "127.0.0.1:0", "--aof", file.arg()]);
        assert!(!finished.status.success());
        let stderr = finished.stderr();
        let at = format!("bad record at offset {}: {why}", good.len());
        assert!(stderr.contains(&at), "{stderr}");
        assert!(stderr.contains("blink-store aof-check"), "{stderr}");
        assert_eq!(std::fs::read(&*file).unwrap(), log, "the log was changed");
    }
}

/// `aof-check` reports a sound log; `--fix` cuts a torn tail and nothing
/// else; corruption before the end is reported and left alone.
#[test]
fn aof_check_reports_and_fixes_only_a_torn_tail() {
    let (log, starts) = sample_log();
    let sound = TempFile::with(&log);
    let checked = run(&["aof-check", sound.arg()]);
    assert!(checked.status.success(), "{}", checked.stderr());
    assert!(
        checked.stdout().contains("ok: 7 records"),
        "{}",
        checked.stdout()
    );

    let torn = TempFile::with(&log[..starts[4] + 3]);
    let checked = run(&["aof-check", torn.arg()]);
    assert_eq!(checked.status.code(), Some(1));
    assert!(checked.stdout().contains(&format!("offset {}", starts[2])));
    assert!(checked.stdout().contains("--fix"));
    let fixed = run(&["aof-check", torn.arg(), "--fix"]);
    assert!(fixed.status.success(), "{}", fixed.stdout());
    assert_eq!(std::fs::read(&*torn).unwrap(), log[..starts[2]]);
    assert!(run(&["aof-check", torn.arg()]).status.success());

    let mut corrupt = log[..starts[3]].to_vec();
    corrupt.extend_from_slice(b"garbage\r\n");
    corrupt.extend_from_slice(&log[starts[3]..]);
    let file = TempFile::with(&corrupt);
    let checked = run(&["aof-check", file.arg(), "--fix"]);
    assert_eq!(checked.status.code(), Some(1));
    assert!(checked
        .stdout()
        .contains(&format!("bad record at offset {}", starts[3])));
    assert!(checked.stdout().contains("not fixed"));
    assert_eq!(std::fs::read(&*file).unwrap(), corrupt);
}

/// The records are Redis's: a SET with a deadline carries PXAT in Unix
/// milliseconds, an MSET and a RENAME are each one MULTI/EXEC block, an
/// INCRBYFLOAT is the SET of its result, FLUSHALL is itself.
#[test]
fn records_are_redis_commands_with_absolute_deadlines() {
    let log = TempFile::path();
    let (server, addr) = serve(&log, &["--appendfsync", "always"]);
    let mut client = Client::tcp(addr);
    let before = unix_ms();
    client.call("SET k v EX 100");
    client.call("MSET a 1 b 2");
    client.call("DEL a");
    client.call("RENAME b c");
    client.call("INCRBYFLOAT c 0.5");
    client.call("FLUSHALL");
    drop(server);
    let bytes = std::fs::read(&*log).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    // Redis's own logs begin with SELECT 0 too.
    let pxat = "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n\
                *5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$4\r\nPXAT\r\n$13\r\n";
    assert!(text.starts_with(pxat), "{text:?}");
    let at: u64 = text[pxat.len()..pxat.len() + 13].parse().unwrap();
    assert!((before + 99_000..before + 101_000).contains(&at), "{at}");
    let rest = &text[pxat.len() + 15..];
    assert_eq!(
        rest,
        "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
         *3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*1\r\n$4\r\nEXEC\r\n\
         *2\r\n$3\r\nDEL\r\n$1\r\na\r\n\
         *1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n\
         *3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n2\r\n*1\r\n$4\r\nEXEC\r\n\
         *3\r\n$3\r\nSET\r\n$1\r\nc\r\n$3\r\n2.5\r\n*1\r\n$8\r\nFLUSHALL\r\n"
    );
}

/// A transaction is one MULTI/EXEC block of the records of its changes, in
/// order (an MSET and a RENAME inside it without a block of their own),
/// its database selected before it as Redis does; a
/// transaction that changes nothing, or an aborted one, writes nothing.
#[test]
fn a_transaction_is_one_block_in_the_log() {
    let log = TempFile::path();
    let (server, addr) = serve(&log, &["--appendfsync", "always"]);
    let mut client = Client::tcp(addr);
    for words in [
        "MULTI",
        "SET a 1",
        "INCR a",
        "GET a",
        "MSET b 2 c 3",
        "RENAME b d",
        "DEL c",
        "EXEC",
        "MULTI",
        "GET a",
        "EXEC",
        "WATCH a",
        "SET a 5",
        "MULTI",
        "SET z 1",
        "EXEC",
    ] {
        client.call(words);
    }
    drop(server);
    let bytes = std::fs::read(&*log).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n\
         *1\r\n$5\r\nMULTI\r\n\
         *3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
         *3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n2\r\n\
         *3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n\
         *3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n\
         *2\r\n$3\r\nDEL\r\n$1\r\nb\r\n\
         *3\r\n$3\r\nSET\r\n$1\r\nd\r\n$1\r\n2\r\n\
         *2\r\n$3\r\nDEL\r\n$1\r\nc\r\n\
         *1\r\n$4\r\nEXEC\r\n\
         *3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n5\r\n"
    );
}

/// Under `--appendfsync always` and `everysec` (records are written before
/// the reply under both, and a killed process loses nothing the kernel
/// has), writers that pipeline SETs of rising numbers are killed at a
/// random moment, 20 times under each policy: after each restart every
/// acknowledged number is there (or a later one that was sent), and no key
/// holds a number that was never sent.
#[test]
fn no_acknowledged_write_is_lost_when_killed_under_load() {
    for policy in ["always", "everysec"] {
        killed_under_load(policy, 20);
    }
}

/// One policy's rounds of [`no_acknowledged_write_is_lost_when_killed_under_load`].
fn killed_under_load(policy: &str, rounds: usize) {
    const WRITERS: usize = 4;
    const BATCH: u64 = 4;
    let mut rng = Rng(11);
    for _round in 0..rounds {
        // A log of its own each round, so that no restart replays the
        // writes of all the rounds before it.
        let log = TempFile::path();
        let (server, addr) = serve(&log, &["--appendfsync", policy]);
        // Per writer: (highest acknowledged, highest sent).
        let marks = Arc::new(Mutex::new(vec![(0u64, 0u64); WRITERS]));
        let start: Vec<u64> = {
            let mut client = Client::tcp(addr);
            (0..WRITERS)
                .map(|w| match client.call(&format!("GET w{w}")) {
                    Resp::Bulk(v) => String::from_utf8(v).unwrap().parse().unwrap(),
                    _ => 0,
                })
                .collect()
        };
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let marks = Arc::clone(&marks);
                let stop = Arc::clone(&stop);
                let first = start[w];
                thread::spawn(move || {
                    let Ok(mut stream) = TcpStream::connect(addr) else {
                        return;
                    };
                    let _ = stream.set_read_timeout(Some(TIMEOUT));
                    let mut replies = BufReader::new(stream.try_clone().unwrap());
                    let key = format!("w{w}");
                    let mut n = first;
                    while !stop.load(Ordering::Relaxed) {
                        let mut batch = Vec::new();
                        for i in 1..=BATCH {
                            let value = (n + i).to_string();
                            batch.extend_from_slice(&cmd(&[
                                b"SET",
                                key.as_bytes(),
                                value.as_bytes(),
                            ]));
                        }
                        marks.lock().unwrap()[w].1 = n + BATCH;
                        if stream.write_all(&batch).is_err() {
                            return;
                        }
                        for _ in 0..BATCH {
                            let mut line = Vec::new();
                            match replies.read_until(b'\n', &mut line) {
                                Ok(_) if line == b"+OK\r\n" => {}
                                _ => return,
                            }
                            n += 1;
                            marks.lock().unwrap()[w].0 = n;
                        }
                    }
                })
            })
            .collect();
        // The kill comes at a random moment after the first
        // acknowledgement: under a busy disk the first sync may take a
        // while, and a round with nothing acknowledged shows nothing.
        common::eventually("a first acknowledged write", || {
            let acked = marks.lock().unwrap().iter().any(|(acked, _)| *acked > 0);
            acked.then_some(())
        });
        thread::sleep(Duration::from_millis(rng.below(200)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for handle in handles {
            handle.join().unwrap();
        }
        let marks = marks.lock().unwrap().clone();
        assert!(
            marks.iter().any(|(acked, _)| *acked > 0),
            "no write was acknowledged"
        );
        let (_server, addr) = serve(&log, &[]);
        let mut client = Client::tcp(addr);
        for (w, (acked, sent)) in marks.iter().enumerate() {
            let got: u64 = match client.call(&format!("GET w{w}")) {
                Resp::Bulk(v) => String::from_utf8(v).unwrap().parse().unwrap(),
                _ => 0,
            };
            assert!(
                got >= *acked && got <= *sent.max(acked),
                "{policy}: writer {w}: acknowledged {acked}, sent up to {sent}, replayed {got}"
            );
        }
    }
}

/// A write whose record cannot be written (here: a full device) is
/// answered with an error, never OK, under every policy; reads still work.
#[cfg(target_os = "linux")]
#[test]
fn a_failed_log_write_is_answered_with_an_error_not_ok() {
    for policy in ["always", "everysec", "no"] {
        let args = [
            "serve",
            "--tcp",
            "127.0.0.1:0",
            "--aof",
            "/dev/full",
            "--appendfsync",
            policy,
        ];
        let mut server = Running::spawn(&args);
        let addr = server.tcp_addr();
        let mut client = Client::tcp(addr);
        for request in ["SET a 1", "MSET b 2 c 3", "DEL a"] {
            match client.call(request) {
                Resp::Error(text) => assert!(
                    text.starts_with(b"MISCONF "),
                    "{policy}: {request}: {}",
                    String::from_utf8_lossy(&text)
                ),
                other => panic!("{policy}: {request} answered {other:?}"),
            }
        }
        assert_eq!(client.call("PING"), Resp::Simple(b"PONG".to_vec()));
        // In a pipelined batch only the write's reply is replaced.
        let mut batch = cmd(&[b"GET", b"nothing"]);
        batch.extend_from_slice(&cmd(&[b"SET", b"p", b"1"]));
        batch.extend_from_slice(&cmd(&[b"PING"]));
        client.send(&batch);
        assert_eq!(client.reply(), Resp::NullBulk);
        assert!(matches!(client.reply(), Resp::Error(e) if e.starts_with(b"MISCONF ")));
        assert_eq!(client.reply(), Resp::Simple(b"PONG".to_vec()));
        let mut text = Client::tcp(addr);
        assert_eq!(text.ask(b"SET t 1\n"), b"ERROR persistence failed\n");
        server.wait_for("write failed");
    }
}

/// Group commit: under `always`, fifty clients writing at once share
/// syncs; the writer makes far fewer rounds (one write and one sync each)
/// than there are writes, and every write is acknowledged.
#[test]
fn always_shares_one_sync_among_concurrent_writers() {
    const CLIENTS: usize = 50;
    const WRITES: usize = 20;
    let log = TempFile::path();
    let config = Config {
        tcp: vec!["127.0.0.1:0".into()],
        threads: CLIENTS + 2,
        aof: Some(AofConfig {
            fsync: Fsync::Always,
            ..AofConfig::new(log.to_path_buf())
        }),
        ..Config::default()
    };
    let server = Server::bind(&config).unwrap_or_else(|e| panic!("cannot start: {e}"));
    let addr = server.tcp_addrs()[0];
    let aof = server.shared().aof.clone().expect("the server has a log");
    thread::spawn(move || server.run());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                let mut client = Client::tcp(addr);
                for n in 0..WRITES {
                    let reply = client.call(&format!("SET c{c} {n}"));
                    assert_eq!(reply, Resp::Simple(b"OK".to_vec()));
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let writes = (CLIENTS * WRITES) as u64;
    let rounds = aof.rounds();
    println!("{writes} writes, {rounds} syncs");
    assert!(rounds * 2 <= writes, "{rounds} syncs for {writes} writes");
}

/// Replay skips what has expired: a deadline already past removes the key,
/// older values included; the rest keep their deadlines.
#[test]
fn replay_drops_keys_whose_deadline_has_passed() {
    let far = (unix_ms() + 3_600_000).to_string();
    let (log, _) = records(&[
        &[b"SET", b"a", b"old"],
        &[b"SET", b"a", b"new", b"PXAT", b"1000"],
        &[b"SET", b"b", b"1"],
        &[b"PEXPIREAT", b"b", b"1000"],
        &[b"SET", b"c", b"1", b"PXAT", far.as_bytes()],
        &[b"SET", b"d", b"1", b"PXAT", far.as_bytes()],
        &[b"PERSIST", b"d"],
    ]);
    let file = TempFile::with(&log);
    let (_server, addr) = serve(&file, &[]);
    let held = state(addr);
    assert_eq!(held.keys().collect::<Vec<_>>(), [b"c", b"d"]);
    assert!((3_590_000..=3_600_000).contains(&held[&b"c".to_vec()].1));
    assert_eq!(held[&b"d".to_vec()].1, -1);
}

/// A log holding more than `--memory-limit` loads with eviction, as the
/// writes themselves would have, says so, and is compacted to what memory
/// holds: a later start, even with room for everything, does not bring
/// the evicted keys back.
#[test]
fn a_log_larger_than_the_memory_limit_evicts_on_replay() {
    let value = vec![b'v'; 1000];
    let keys: Vec<String> = (0..100).map(|n| format!("key{n}")).collect();
    let sets: Vec<[&[u8]; 3]> = keys
        .iter()
        .map(|k| [b"SET", k.as_bytes(), &value])
        .collect();
    let commands: Vec<&[&[u8]]> = sets.iter().map(|s| &s[..]).collect();
    let (log, _) = records(&commands);
    let file = TempFile::with(&log);
    let (server, addr) = serve(&file, &["--memory-limit", "20kb"]);
    let mut client = Client::tcp(addr);
    let held = client.call("DBSIZE").integer();
    assert!((10..=20).contains(&held), "{held} keys held");
    assert_eq!(client.call("GET key99"), Resp::Bulk(value));
    assert!(server
        .seen()
        .contains(&format!("{} keys evicted", 100 - held)));
    Client::tcp(addr).await_stat("aof_rewrites", 1);
    let before = state(addr);
    server.kill();
    let (_again, addr) = serve(&file, &[]);
    assert_same_state(&before, &state(addr));
}

/// INFO's `# Persistence`, STATS and CONFIG GET report the log: enabled,
/// its policy, its sizes (the current size is the file's once written),
/// nothing pending after a write under `always`, and the last write's
/// health; without `--aof` they say it is off.
#[test]
fn info_stats_and_config_report_the_log() {
    let log = TempFile::path();
    let (_server, addr) = serve(&log, &["--appendfsync", "always"]);
    let mut client = Client::tcp(addr);
    client.call("SET k v");
    let info = client.call("INFO persistence").string();
    let size = std::fs::metadata(&*log).unwrap().len();
    for line in [
        "# Persistence\r\n".to_string(),
        "aof_enabled:1\r\n".to_string(),
        "aof_last_write_status:ok\r\n".to_string(),
        format!("aof_current_size:{size}\r\n"),
        "aof_base_size:0\r\n".to_string(),
        "aof_pending_bytes:0\r\n".to_string(),
        "aof_fsync_policy:always\r\n".to_string(),
    ] {
        assert!(info.contains(&line), "{line:?} not in {info:?}");
    }
    let config = client.call("CONFIG GET append*");
    let pairs: Vec<(String, String)> = config
        .pairs()
        .into_iter()
        .map(|(k, v)| (k.string(), v.string()))
        .collect();
    assert!(
        pairs.contains(&("appendonly".into(), "yes".into())),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&("appendfsync".into(), "always".into())),
        "{pairs:?}"
    );
    let mut text = Client::tcp(addr);
    assert_eq!(text.stat("aof_enabled"), 1);
    assert_eq!(text.stat("aof_current_size"), size);
    assert_eq!(text.stat("aof_last_write_ok"), 1);
    assert_eq!(text.stat("aof_pending_bytes"), 0);

    let plain = common::start(common::config());
    let mut client = Client::tcp(plain);
    let info = client.call("INFO persistence").string();
    assert!(info.contains("aof_enabled:0\r\n"), "{info:?}");
    let config = client.call("CONFIG GET appendonly");
    assert_eq!(config.pairs()[0].1.string(), "no");
    assert_eq!(Client::tcp(plain).stat("aof_enabled"), 0);
}

/// SHUTDOWN (text or RESP, after AUTH like any command) answers what came
/// before it, syncs the log, removes the Unix socket file and ends the
/// process with status 0, sending nothing more; a restart finds every
/// write. Its options change nothing, ABORT has nothing to abort.
#[test]
fn shutdown_syncs_the_log_and_exits_cleanly() {
    let log = TempFile::path();
    let socket = common::SocketPath::new();
    let password = TempFile::with(b"pw\n");
    let args = [
        "--appendfsync",
        "no",
        "--unix",
        socket.to_str().unwrap(),
        "--password-file",
        password.arg(),
    ];
    let (server, addr) = serve(&log, &args);
    let mut resp = Client::tcp(addr);
    resp.send(&cmd(&[b"SHUTDOWN"]));
    assert_eq!(
        resp.reply(),
        Resp::Error(b"NOAUTH Authentication required.".to_vec())
    );
    resp.call("AUTH pw");
    resp.send(&cmd(&[b"SHUTDOWN", b"ABORT"]));
    assert_eq!(
        resp.reply(),
        Resp::Error(b"ERR No shutdown in progress.".to_vec())
    );
    // Options Redis refuses together are refused, and the server stays.
    for options in [
        &[&b"LATER"[..]][..],
        &[b"SAVE", b"NOSAVE"],
        &[b"nosave", b"NOW", b"save"],
        &[b"ABORT", b"NOW"],
        &[b"FORCE", b"abort"],
        &[b"ABORT", b"LATER"],
    ] {
        let mut request = vec![&b"SHUTDOWN"[..]];
        request.extend_from_slice(options);
        resp.send(&cmd(&request));
        assert_eq!(resp.reply(), Resp::Error(b"ERR syntax error".to_vec()));
    }
    assert_eq!(resp.call("PING"), Resp::Simple(b"PONG".to_vec()));
    let mut text = Client::tcp(addr);
    text.send(b"AUTH pw\nSET k v\nSHUTDOWN\n");
    assert_eq!(text.rest(), b"OK\nOK\n");
    let finished = server.finish_within(TIMEOUT);
    assert_eq!(finished.status.code(), Some(0), "{}", finished.stderr());
    assert!(
        finished.stderr().contains("shut down"),
        "{}",
        finished.stderr()
    );
    assert!(!socket.exists(), "the Unix socket file is left behind");
    let (_again, addr) = serve(&log, &["--password-file", password.arg()]);
    let mut client = Client::tcp(addr);
    client.call("AUTH pw");
    assert_eq!(client.call("GET k").string(), "v");
}

/// SHUTDOWN sends a client that reads late every reply it owes: a batch
/// whose replies (a write's and a 32 MiB read's) are far more than the
/// sockets' buffers take, handed to the log, is still being sent when
/// SHUTDOWN comes. The client starts reading only after SHUTDOWN was
/// sent, and gets every byte before the server exits with status 0.
#[test]
fn shutdown_waits_for_replies_to_a_client_that_reads_late() {
    let log = TempFile::path();
    let (server, addr) = serve(
        &log,
        &["--appendfsync", "everysec", "--max-value-size", "64mb"],
    );
    let huge = vec![b'h'; 32 << 20];
    let mut setup = Client::tcp(addr);
    assert_eq!(
        setup.call_args(&[b"SET", b"huge", &huge]),
        Resp::Simple(b"OK".to_vec())
    );
    let mut late = TcpStream::connect(addr).expect("connect");
    let mut batch = cmd(&[b"SET", b"late", b"1"]);
    batch.extend_from_slice(&cmd(&[b"GET", b"huge"]));
    late.write_all(&batch).expect("send the batch");
    // Long enough for the batch to be answered, its delivery to find the
    // socket full, and the connection to go back to reading.
    thread::sleep(Duration::from_millis(500));
    setup.send(&cmd(&[b"SHUTDOWN"]));
    let mut expected = b"+OK\r\n".to_vec();
    expected.extend_from_slice(format!("${}\r\n", huge.len()).as_bytes());
    expected.extend_from_slice(&huge);
    expected.extend_from_slice(b"\r\n");
    let mut got = vec![0; expected.len()];
    late.set_read_timeout(Some(TIMEOUT))
        .expect("a read timeout");
    std::io::Read::read_exact(&mut late, &mut got).expect("every reply");
    same(&got, &expected, "the late reader's replies");
    let finished = server.finish_within(TIMEOUT);
    assert_eq!(finished.status.code(), Some(0), "{}", finished.stderr());
}

/// Overwrites one key `times` times with 100-byte values over RESP, so
/// that the log grows while the state does not.
fn churn(addr: SocketAddr, key: &str, times: usize) {
    let mut client = Client::tcp(addr);
    let mut batch = Vec::new();
    for i in 0..times {
        let value = format!("{i:0>100}");
        batch.extend_from_slice(&cmd(&[b"SET", key.as_bytes(), value.as_bytes()]));
    }
    client.send(&batch);
    for _ in 0..times {
        assert_eq!(client.reply(), Resp::Simple(b"OK".to_vec()));
    }
}

/// Writes `w{writer}` = 1, 2, 3 ... until `stop`, one request at a time,
/// and returns the highest value acknowledged.
fn count_up(addr: SocketAddr, writer: usize, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut client = Client::tcp(addr);
        let mut acked = 0;
        while !stop.load(Ordering::Relaxed) {
            let n = (acked + 1).to_string();
            let key = format!("w{writer}");
            assert_eq!(
                client.call_args(&[b"SET", key.as_bytes(), n.as_bytes()]),
                Resp::Simple(b"OK".to_vec())
            );
            acked += 1;
        }
        acked
    })
}

/// BGREWRITEAOF answers as Redis does at once, compacts the log in the
/// background while writers go on, and a restart on the compacted log
/// finds exactly what memory held, every acknowledged write included;
/// `aof-check` finds the new log whole.
#[test]
fn bgrewriteaof_compacts_the_log_while_writes_go_on() {
    let log = TempFile::path();
    let (server, addr) = serve(&log, &["--appendfsync", "everysec"]);
    random_writes(addr, &mut Rng(5), 2_000);
    churn(addr, "churned", 3_000);
    let mut text = Client::tcp(addr);
    let before = text.stat("aof_current_size");
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4).map(|w| count_up(addr, w, stop.clone())).collect();
    let mut client = Client::tcp(addr);
    client.send(&cmd(&[b"BGREWRITEAOF"]));
    assert_eq!(
        client.reply(),
        Resp::Simple(b"Background append only file rewriting started".to_vec())
    );
    text.await_stat("aof_rewrites", 1);
    thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<u64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(text.stat("aof_rewrite_in_progress"), 0);
    assert_eq!(text.stat("aof_last_bgrewrite_ok"), 1);
    // The compacted log, and what the writers added to it since. The
    // compaction copies the writers' counters written while it ran as
    // they came (as Redis does), as many as the machine's speed allows;
    // every other key is in it once: 3,000 overwrites of `churned` are
    // one record.
    let base = text.stat("aof_base_size");
    let log_bytes = std::fs::read(&*log).unwrap();
    let compacted = parse_records(&log_bytes[..base as usize]);
    let counter =
        |args: &[Vec<u8>]| args.len() == 3 && args[0] == b"SET" && args[1].starts_with(b"w");
    let churned = compacted
        .iter()
        .filter(|(args, _)| args.get(1).is_some_and(|k| k == b"churned"));
    assert_eq!(churned.count(), 1);
    let rest: usize = compacted
        .iter()
        .filter(|(args, _)| !counter(args))
        .map(|(_, len)| len)
        .sum();
    assert!(
        (rest as u64) < before / 4,
        "the log went from {before} to {base} bytes, {rest} of them not the writers' counters"
    );
    let after = text.stat("aof_current_size");
    assert!(after >= base, "{after} bytes now, {base} after the rewrite");
    assert_eq!(std::fs::metadata(&*log).unwrap().len(), after);
    let info = client.call("INFO persistence").string();
    assert!(info.contains("aof_last_bgrewrite_status:ok\r\n"), "{info}");
    let held = state(addr);
    for (w, n) in acked.iter().enumerate() {
        assert_eq!(held[format!("w{w}").as_bytes()].0, n.to_string().as_bytes());
    }
    server.kill();
    let checked = run(&["aof-check", log.arg()]);
    assert_eq!(checked.status.code(), Some(0), "{}", checked.stdout());
    let (_again, addr) = serve(&log, &[]);
    assert_same_state(&held, &state(addr));
}

/// The log compacts itself once it has grown by the percentage over the
/// minimum size, and a restart finds the same state.
#[test]
fn the_log_compacts_itself_once_it_has_doubled() {
    let log = TempFile::path();
    let flags = [
        "--auto-aof-rewrite-min-size",
        "100kb",
        "--auto-aof-rewrite-percentage",
        "100",
    ];
    let (server, addr) = serve(&log, &flags);
    // About 130 kB: one compaction past 100 kB, and less than 100 kB more.
    churn(addr, "churned", 1_000);
    let mut text = Client::tcp(addr);
    let deadline = std::time::Instant::now() + TIMEOUT;
    while text.stat("aof_rewrites") == 0 || text.stat("aof_rewrite_in_progress") == 1 {
        assert!(std::time::Instant::now() < deadline, "no rewrite");
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(text.stat("aof_rewrites"), 1);
    assert!(text.stat("aof_current_size") < 100_000);
    let held = state(addr);
    server.kill();
    let (_again, addr) = serve(&log, &[]);
    assert_same_state(&held, &state(addr));
}

/// A crash at any step of a compaction leaves a whole log, the old one or
/// the new one, holding every acknowledged write; the half-made file is
/// removed at the next start.
#[test]
fn a_crash_at_each_step_of_a_compaction_leaves_a_whole_log() {
    for step in ["after-snapshot", "before-rename", "after-rename"] {
        let log = TempFile::path();
        let mut args = vec!["serve", "--tcp", "127.0.0.1:0", "--aof", log.arg()];
        args.extend_from_slice(&["--appendfsync", "always"]);
        let mut server = Running::spawn_with_env(&args, &[("BLINK_AOF_TEST_CRASH_AT", step)]);
        let addr = server.tcp_addr();
        random_writes(addr, &mut Rng(9), 500);
        churn(addr, "churned", 500);
        let held = state(addr);
        let mut client = Client::tcp(addr);
        client.send(&cmd(&[b"BGREWRITEAOF"]));
        let finished = server.finish_within(TIMEOUT);
        assert_eq!(
            finished.status.code(),
            Some(86),
            "{step}: {}",
            finished.stderr()
        );
        let leftover = format!("{}.rewrite", log.arg());
        let renamed = step == "after-rename";
        assert_eq!(
            std::path::Path::new(&leftover).exists(),
            !renamed,
            "{step}: the half-made file"
        );
        let (again, addr) = serve(&log, &[]);
        assert_eq!(
            again
                .seen()
                .contains("left by a rewrite that did not finish"),
            !renamed,
            "{step}: {}",
            again.seen()
        );
        assert!(!std::path::Path::new(&leftover).exists(), "{step}");
        assert_same_state(&held, &state(addr));
    }
}

/// A second server started on a log another server is running on refuses
/// to start, naming the log; once the first is gone (even killed), the log
/// is free.
#[cfg(target_os = "linux")]
#[test]
fn a_second_server_on_the_same_log_refuses_to_start() {
    let log = TempFile::path();
    let (first, _) = serve(&log, &[]);
    let second = run(&["serve", "--tcp", "127.0.0.1:0", "--aof", log.arg()]);
    assert_ne!(second.status.code(), Some(0));
    assert!(
        second
            .stderr()
            .contains("another server is running on this log"),
        "{}",
        second.stderr()
    );
    first.kill();
    let (_third, addr) = serve(&log, &[]);
    assert_eq!(
        Client::tcp(addr).call("PING"),
        Resp::Simple(b"PONG".to_vec())
    );
}

/// A small tmpfs, mounted for one test and unmounted when dropped.
#[cfg(target_os = "linux")]
struct Tmpfs(std::path::PathBuf);

#[cfg(target_os = "linux")]
impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = std::env::temp_dir().join(format!("blink-test-tmpfs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("cannot run mount");
        assert!(
            status.success(),
            "cannot mount a tmpfs on {}",
            dir.display()
        );
        Tmpfs(dir)
    }
}

#[cfg(target_os = "linux")]
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A disk that fills up: the write that fails is answered MISCONF, later
/// writes are refused before they run (text: `ERROR persistence failed`),
/// reads go on and INFO says so; once there is room again, writes are
/// accepted again and a restart finds what memory held. Needs root to
/// mount a tmpfs; elsewhere the same behaviour is shown on a disk in
/// memory by the unit tests of `aof`.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_refuses_writes_until_it_has_room_again() {
    if !std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
    {
        eprintln!("NOTICE: not root, so no tmpfs: the full-disk wire test is skipped");
        return;
    }
    let tmpfs = Tmpfs::mount("512k");
    let log = tmpfs.0.join("log.aof");
    let filler = tmpfs.0.join("filler");
    let args = [
        "serve",
        "--tcp",
        "127.0.0.1:0",
        "--aof",
        log.to_str().unwrap(),
    ];
    let mut server = Running::spawn(&[&args[..], &["--appendfsync", "always"]].concat());
    let addr = server.tcp_addr();
    let mut client = Client::tcp(addr);
    assert_eq!(client.call("SET a 1"), Resp::Simple(b"OK".to_vec()));
    // Fill the device.
    let mut fill = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 4096];
    while fill.write_all(&block).is_ok() {}
    let _ = fill.sync_all();
    let big = "x".repeat(8192);
    match client.call_args(&[b"SET", b"b", big.as_bytes()]) {
        Resp::Error(e) => assert!(
            e.starts_with(b"MISCONF "),
            "{}",
            String::from_utf8_lossy(&e)
        ),
        other => panic!("SET on a full disk answered {other:?}"),
    }
    server.wait_for("write failed");
    match client.call("SET c 3") {
        Resp::Error(e) => assert!(
            e.starts_with(b"MISCONF "),
            "{}",
            String::from_utf8_lossy(&e)
        ),
        other => panic!("SET while failing answered {other:?}"),
    }
    let mut text = Client::tcp(addr);
    assert_eq!(text.ask(b"SET t 1\n"), b"ERROR persistence failed\n");
    assert_eq!(client.call("GET a"), Resp::Bulk(b"1".to_vec()));
    assert_eq!(client.call("GET c"), Resp::NullBulk, "a refused write ran");
    let info = client.call("INFO persistence").string();
    assert!(info.contains("aof_last_write_status:err\r\n"), "{info}");
    drop(fill);
    std::fs::remove_file(&filler).unwrap();
    // The next retry, within a second, finds room; until then writes are
    // still refused.
    common::eventually("a write accepted again", || {
        (client.call("SET d 4") == Resp::Simple(b"OK".to_vec())).then_some(())
    });
    server.wait_for("writing works again");
    let held = state(addr);
    server.kill();
    let (_again, addr) = {
        let mut again = Running::spawn(&args);
        let addr = again.tcp_addr();
        (again, addr)
    };
    assert_same_state(&held, &state(addr));
}

/// Under `always`, a client that stops reading its replies holds up no
/// other writer: the thread that sends the replies of a round, which may
/// be another connection's or the log's own, does not wait for its
/// socket. The stalled client's replies all arrive, in order, once it
/// reads them.
#[test]
fn a_client_that_does_not_read_holds_up_no_other_writer() {
    const PAIRS: usize = 64;
    let log = TempFile::path();
    let (_server, addr) = serve(&log, &["--appendfsync", "always", "--write-timeout", "120"]);
    let big = vec![b'x'; 512 << 10];
    let mut setup = Client::tcp(addr);
    assert_eq!(
        setup.call_args(&[b"SET", b"big", &big]),
        Resp::Simple(b"OK".to_vec())
    );
    // Another client writes all along, so that rounds it leads carry the
    // stalled client's replies too; a round stuck on the stalled socket
    // would hold its next write for the 120 s write timeout.
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut client = Client::tcp(addr);
            let mut slowest = Duration::ZERO;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let started = std::time::Instant::now();
                let reply = client.call(&format!("SET other {n}"));
                assert_eq!(reply, Resp::Simple(b"OK".to_vec()));
                slowest = slowest.max(started.elapsed());
                n += 1;
            }
            (n, slowest)
        })
    };
    thread::sleep(Duration::from_millis(100));
    // A write, then 512 KiB to read, over and over: every batch it is
    // answered in has a reply waiting for the log, and its socket is
    // soon full.
    let mut request = Vec::new();
    for n in 0..PAIRS {
        request.extend_from_slice(&cmd(&[b"SET", b"stalled", n.to_string().as_bytes()]));
        request.extend_from_slice(&cmd(&[b"GET", b"big"]));
    }
    let mut stalled = TcpStream::connect(addr).expect("connect");
    stalled.write_all(&request).expect("send the whole batch");
    thread::sleep(Duration::from_millis(1_000));
    stop.store(true, Ordering::Relaxed);
    let (writes, slowest) = other.join().expect("the other writer");
    assert!(writes > 0, "the other client wrote nothing");
    assert!(
        slowest < Duration::from_secs(10),
        "a write of the other client took {slowest:?}"
    );
    let mut expected = Vec::new();
    for _ in 0..PAIRS {
        expected.extend_from_slice(b"+OK\r\n");
        expected.extend_from_slice(format!("${}\r\n", big.len()).as_bytes());
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"\r\n");
    }
    let mut got = vec![0; expected.len()];
    stalled
        .set_read_timeout(Some(TIMEOUT))
        .expect("a read timeout");
    std::io::Read::read_exact(&mut stalled, &mut got).expect("every reply");
    same(&got, &expected, "the stalled client's replies");
    assert_eq!(setup.call("GET stalled").string(), (PAIRS - 1).to_string());
}

/// Under `always`, replies stay in request order on every connection while
/// their batches wait for the log: clients that pipeline writes, reads and
/// counters, some waiting for each batch's replies and some sending every
/// batch at once, get exactly the replies of a lone server.
#[test]
fn pipelined_replies_keep_their_order_while_they_wait_for_the_log() {
    const CLIENTS: usize = 8;
    const BATCHES: usize = 100;
    let log = TempFile::path();
    let (_server, addr) = serve(&log, &["--appendfsync", "always"]);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                let key = format!("k{c}");
                let counter = format!("n{c}");
                let batch = |b: usize| {
                    let value = format!("v{b}");
                    let mut request = cmd(&[b"SET", key.as_bytes(), value.as_bytes()]);
                    request.extend_from_slice(&cmd(&[b"GET", key.as_bytes()]));
                    request.extend_from_slice(&cmd(&[b"INCR", counter.as_bytes()]));
                    request.extend_from_slice(format!("GET {key}\r\n").as_bytes());
                    let mut reply = format!(
                        "+OK\r\n${len}\r\n{value}\r\n:{n}\r\n",
                        len = value.len(),
                        n = b + 1
                    )
                    .into_bytes();
                    reply.extend_from_slice(&value_reply(value.as_bytes()));
                    (request, reply)
                };
                let mut stream = TcpStream::connect(addr).expect("connect");
                stream.set_read_timeout(Some(TIMEOUT)).expect("a timeout");
                let mut expected = Vec::new();
                if c % 2 == 0 {
                    for b in 0..BATCHES {
                        let (request, reply) = batch(b);
                        stream.write_all(&request).expect("send");
                        let mut got = vec![0; reply.len()];
                        std::io::Read::read_exact(&mut stream, &mut got).expect("replies");
                        same(&got, &reply, &format!("client {c}, batch {b}"));
                    }
                    return;
                }
                let mut request = Vec::new();
                for b in 0..BATCHES {
                    let (more, reply) = batch(b);
                    request.extend_from_slice(&more);
                    expected.extend_from_slice(&reply);
                }
                stream.write_all(&request).expect("send");
                let mut got = vec![0; expected.len()];
                std::io::Read::read_exact(&mut stream, &mut got).expect("replies");
                same(&got, &expected, &format!("client {c}"));
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client");
    }
}

/// Over a Unix socket too, replies handed to the log under `always` come
/// back whole and in order, over both protocols, and the writes they
/// acknowledge are in the log after a kill.
#[test]
fn unix_socket_clients_get_their_replies_after_the_log() {
    let log = TempFile::path();
    let socket = common::SocketPath::new();
    let args = [
        "--appendfsync",
        "always",
        "--unix",
        socket.to_str().unwrap(),
    ];
    let (server, _) = serve(&log, &args);
    let mut client = Client::unix(&socket);
    let mut request = Vec::new();
    let mut expected = Vec::new();
    for n in 0..50 {
        let value = format!("u{n}");
        request.extend_from_slice(&cmd(&[b"SET", b"unix", value.as_bytes()]));
        request.extend_from_slice(b"GET unix\r\n");
        expected.extend_from_slice(b"+OK\r\n");
        expected.extend_from_slice(&value_reply(value.as_bytes()));
    }
    client.send(&request);
    same(&client.take(expected.len()), &expected, "pipelined replies");
    client.send(b"SET last 1\r\n");
    same(&client.line(), b"OK\n", "a text SET");
    server.kill();
    let (_again, addr) = serve(&log, &[]);
    let mut after = Client::tcp(addr);
    assert_eq!(after.call("GET unix").string(), "u49");
    assert_eq!(after.call("GET last").string(), "1");
}
