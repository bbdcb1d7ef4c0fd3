//! The append-only file, end to end: the binary is started with `--aof`,
//! written to over both protocols, killed with SIGKILL, and started again
//! on the same log; torn and corrupt logs; `aof-check`; and a crash under
//! load with `--appendfsync always`.

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
use common::{Client, Rng, TIMEOUT};

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
        let request = match rng.below(15) {
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
/// milliseconds, an MSET is one MULTI/EXEC block, FLUSHALL is itself.
#[test]
fn records_are_redis_commands_with_absolute_deadlines() {
    let log = TempFile::path();
    let (server, addr) = serve(&log, &["--appendfsync", "always"]);
    let mut client = Client::tcp(addr);
    let before = unix_ms();
    client.call("SET k v EX 100");
    client.call("MSET a 1 b 2");
    client.call("DEL a");
    client.call("FLUSHALL");
    drop(server);
    let bytes = std::fs::read(&*log).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let pxat = "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$4\r\nPXAT\r\n$13\r\n";
    assert!(text.starts_with(pxat), "{text:?}");
    let at: u64 = text[pxat.len()..pxat.len() + 13].parse().unwrap();
    assert!((before + 99_000..before + 101_000).contains(&at), "{at}");
    let rest = &text[pxat.len() + 15..];
    assert_eq!(
        rest,
        "*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
         *3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*1\r\n$4\r\nEXEC\r\n\
         *2\r\n$3\r\nDEL\r\n$1\r\na\r\n*1\r\n$8\r\nFLUSHALL\r\n"
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
        thread::sleep(Duration::from_millis(50 + rng.below(200)));
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
        let reply = text.ask(b"SET t 1\n");
        assert!(
            reply.starts_with(b"ERROR MISCONF "),
            "{}",
            String::from_utf8_lossy(&reply)
        );
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
            path: log.to_path_buf(),
            fsync: Fsync::Always,
            load_truncated: true,
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
/// writes themselves would have.
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
    let (_server, addr) = serve(&file, &["--memory-limit", "20kb"]);
    let mut client = Client::tcp(addr);
    let held = client.call("DBSIZE").integer();
    assert!((10..=20).contains(&held), "{held} keys held");
    assert_eq!(client.call("GET key99"), Resp::Bulk(value));
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
    resp.send(&cmd(&[b"SHUTDOWN", b"LATER"]));
    assert_eq!(resp.reply(), Resp::Error(b"ERR syntax error".to_vec()));
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
