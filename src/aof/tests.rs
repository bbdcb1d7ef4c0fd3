//! The log against a disk in memory ([`MemoryDisk`]), which can lose power
//! (keeping only what was synced) and fill up: what `kill -9` cannot show.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::disk::memory::MemoryDisk;
use super::format::WallClock;
use super::{replay, take_appended, Aof, RewriteBusy, Waiting, DURABLE_WAIT};
use crate::config::{AofConfig, Fsync};
use crate::store::{Clock, Key, SetOptions, Store, StoreConfig};

/// A store that hands its changes to a log on `disk` under `fsync`.
fn logged_store(disk: &Arc<MemoryDisk>, fsync: Fsync) -> (Arc<Store>, Arc<Aof>, Clock) {
    logged_store_waiting(disk, fsync, DURABLE_WAIT)
}

/// The same, whose replies wait at most `durable_wait` for the log.
fn logged_store_waiting(
    disk: &Arc<MemoryDisk>,
    fsync: Fsync,
    durable_wait: Duration,
) -> (Arc<Store>, Arc<Aof>, Clock) {
    let clock = Clock::new();
    let config = AofConfig {
        fsync,
        ..AofConfig::new(PathBuf::from("in-memory.aof"))
    };
    let wall = WallClock::of(&clock);
    let aof =
        Aof::start(disk.clone(), 0, &config, wall, None, durable_wait).expect("the log starts");
    let mut store = Store::new(StoreConfig::new(1 << 30, 5));
    store.add_journal(aof.clone());
    (Arc::new(store), aof, clock)
}

/// Writes `key` = `value` and waits for the log as a connection does;
/// returns whether the write was acknowledged.
fn acknowledged_set(store: &Store, aof: &Aof, clock: &Clock, key: &str, value: &str) -> bool {
    let key = Key::new(key.as_bytes()).expect("a short key");
    let stored = store.set(key, value.as_bytes(), clock.now(), SetOptions::PLAIN);
    stored == Ok(true) && aof.wait(take_appended()).is_ok()
}

/// The store a log of `bytes` replays into.
fn replayed(bytes: &[u8]) -> Store {
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "blink-store-aof-unit-{}-{n}.aof",
        std::process::id()
    ));
    std::fs::write(&path, bytes).expect("a temporary file");
    let store = Store::new(StoreConfig::new(1 << 30, 5));
    let clock = Clock::new();
    let wall = WallClock::of(&clock);
    let loaded = replay::load(&path, true, 16, &store, clock.now(), wall);
    let _ = std::fs::remove_file(&path);
    loaded.expect("the log replays");
    store
}

fn value_of(store: &Store, key: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let key = Key::new(key.as_bytes()).expect("a short key");
    store
        .get_into(key, Clock::new().now(), &mut out)
        .then_some(out)
}

/// Under `always`, power lost at any moment keeps every acknowledged
/// write: eight writers race, the power goes while they write, and what
/// the disk had synced replays to a store holding each writer's last
/// acknowledged value or a later one it sent.
#[test]
fn always_loses_no_acknowledged_write_to_a_power_loss() {
    const WRITERS: usize = 8;
    for round in 0..5 {
        let disk = Arc::new(MemoryDisk::default());
        let (store, aof, clock) = logged_store(&disk, Fsync::Always);
        // Per writer: the highest value acknowledged.
        let acked = Arc::new(Mutex::new(vec![0u64; WRITERS]));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, aof, clock) = (store.clone(), aof.clone(), clock.clone());
                let (acked, stop) = (acked.clone(), stop.clone());
                thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let key = format!("w{w}");
                        assert!(acknowledged_set(&store, &aof, &clock, &key, &n.to_string()));
                        acked.lock()[w] = n;
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(20 + 10 * round));
        // The power goes: what counts is what was acknowledged before.
        let acked_before = acked.lock().clone();
        let survived = disk.after_power_loss();
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.join().expect("a writer");
        }
        let replayed = replayed(&survived);
        for (w, &n) in acked_before.iter().enumerate() {
            let got = value_of(&replayed, &format!("w{w}"))
                .map_or(0, |v| String::from_utf8(v).unwrap().parse::<u64>().unwrap());
            assert!(
                got >= n,
                "round {round}: writer {w}: acknowledged {n}, the synced log holds {got}"
            );
        }
        assert!(acked_before.iter().any(|&n| n > 0), "nothing was written");
    }
}

/// Under `everysec`, a power loss keeps everything written before the
/// last sync; what came after it may be lost, and what survives is a
/// prefix of what was written, so it replays cleanly.
#[test]
fn everysec_loses_at_most_what_came_after_the_last_sync() {
    let disk = Arc::new(MemoryDisk::default());
    let (store, aof, clock) = logged_store(&disk, Fsync::EverySec);
    for i in 0..100 {
        assert!(acknowledged_set(
            &store,
            &aof,
            &clock,
            &format!("old{i}"),
            "1"
        ));
    }
    let written = disk.written().len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while disk.after_power_loss().len() < written {
        assert!(Instant::now() < deadline, "no sync within 10 s");
        thread::sleep(Duration::from_millis(20));
    }
    for i in 0..100 {
        assert!(acknowledged_set(
            &store,
            &aof,
            &clock,
            &format!("new{i}"),
            "2"
        ));
    }
    let survived = disk.after_power_loss();
    assert!(disk.written().starts_with(&survived));
    let replayed = replayed(&survived);
    for i in 0..100 {
        assert_eq!(value_of(&replayed, &format!("old{i}")), Some(b"1".to_vec()));
    }
}

/// A full disk: the write in flight is answered with an error, write
/// commands are refused while the disk stays full, and once it has room
/// the kept records are written once, writes are accepted again, and the
/// log replays to exactly what memory holds.
#[test]
fn a_full_disk_refuses_writes_until_it_has_room_again() {
    for fsync in [Fsync::Always, Fsync::EverySec, Fsync::No] {
        let disk = Arc::new(MemoryDisk::default());
        let (store, aof, clock) = logged_store(&disk, fsync);
        assert!(acknowledged_set(&store, &aof, &clock, "before", "1"));
        disk.set_full(true);
        assert!(
            !acknowledged_set(&store, &aof, &clock, "during", "2"),
            "{fsync:?}: acknowledged on a full disk"
        );
        assert!(aof.refuses_writes(), "{fsync:?}");
        assert!(!aof.report().last_write_ok);
        disk.set_full(false);
        let deadline = Instant::now() + Duration::from_secs(10);
        while aof.refuses_writes() {
            assert!(Instant::now() < deadline, "{fsync:?}: no retry within 10 s");
            thread::sleep(Duration::from_millis(20));
        }
        assert!(acknowledged_set(&store, &aof, &clock, "after", "3"));
        let replayed = replayed(&disk.written());
        for (key, value) in [("before", "1"), ("during", "2"), ("after", "3")] {
            assert_eq!(
                value_of(&replayed, key),
                Some(value.as_bytes().to_vec()),
                "{fsync:?}: {key}"
            );
        }
        assert_eq!(replayed.len(), store.len(), "{fsync:?}");
    }
}

/// What a delivery saw: its outcome, whether the record was synced, and
/// the round the reply waited for.
type Delivered = (Result<(), u64>, bool, u64);

/// Replies handed to the log, as a connection hands them: what each
/// delivery saw, sent to the connection waiting for it.
struct Probe {
    disk: Arc<MemoryDisk>,
    /// The key and value of the record, as the log writes them.
    record: Vec<u8>,
    /// The round that writes it.
    round: u64,
    /// Taken by the first delivery; a second one finds it gone.
    told: Mutex<Option<std::sync::mpsc::Sender<Delivered>>>,
}

impl Waiting for Probe {
    fn deliver(self: Arc<Self>, outcome: Result<(), u64>) {
        // Whether the record is in what the disk has synced, as it must be
        // before an acknowledgement under `always`.
        let synced = self
            .disk
            .after_power_loss()
            .windows(self.record.len())
            .any(|bytes| bytes == self.record);
        let told = self.told.lock().take().expect("delivered twice");
        let _ = told.send((outcome, synced, self.round));
    }
}

/// Writes `key` = `value`, hands the reply off and waits for its delivery;
/// returns the outcome, and whether the record was synced by then.
fn handed_off_set(
    store: &Store,
    aof: &Aof,
    disk: &Arc<MemoryDisk>,
    clock: &Clock,
    key: &str,
    value: &str,
) -> Delivered {
    let record = format!("${}\r\n{key}\r\n${}\r\n{value}\r\n", key.len(), value.len());
    let key = Key::new(key.as_bytes()).expect("a short key");
    assert_eq!(
        store.set(key, value.as_bytes(), clock.now(), SetOptions::PLAIN),
        Ok(true)
    );
    let round = take_appended();
    let (told, delivered) = std::sync::mpsc::channel();
    let probe = Probe {
        disk: disk.clone(),
        record: record.into_bytes(),
        round,
        told: Mutex::new(Some(told)),
    };
    aof.hand_off(round, Arc::new(probe));
    delivered
        .recv_timeout(Duration::from_secs(10))
        .expect("delivered within 10 s")
}

/// Under `always`, replies handed to the log are delivered once each, and
/// only once their records are synced, whichever thread leads the round:
/// eight writers hand off at once, so most rounds are led by another
/// writer or by the writer thread.
#[test]
fn handed_off_replies_are_delivered_once_synced() {
    const WRITERS: usize = 8;
    const WRITES: usize = 300;
    let disk = Arc::new(MemoryDisk::default());
    let (store, aof, clock) = logged_store(&disk, Fsync::Always);
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, aof, clock, disk) =
                (store.clone(), aof.clone(), clock.clone(), disk.clone());
            thread::spawn(move || {
                for n in 0..WRITES {
                    let (outcome, synced, _) = handed_off_set(
                        &store,
                        &aof,
                        &disk,
                        &clock,
                        &format!("w{w}"),
                        &n.to_string(),
                    );
                    assert_eq!(outcome, Ok(()), "writer {w}, write {n}");
                    assert!(synced, "writer {w}, write {n}: delivered before its sync");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("a writer");
    }
    let replayed = replayed(&disk.after_power_loss());
    for w in 0..WRITERS {
        assert_eq!(
            value_of(&replayed, &format!("w{w}")),
            Some((WRITES - 1).to_string().into_bytes())
        );
    }
}

/// A full disk: a reply handed off is delivered as a failure, with the
/// durable position short of its record; once the disk has room, replies
/// handed off are delivered as successes again.
#[test]
fn handed_off_replies_on_a_full_disk_are_failures() {
    for fsync in [Fsync::Always, Fsync::EverySec, Fsync::No] {
        let disk = Arc::new(MemoryDisk::default());
        let (store, aof, clock) = logged_store(&disk, fsync);
        let (outcome, _, before) = handed_off_set(&store, &aof, &disk, &clock, "before", "1");
        assert_eq!(outcome, Ok(()), "{fsync:?}");
        disk.set_full(true);
        let (outcome, _, during) = handed_off_set(&store, &aof, &disk, &clock, "during", "2");
        let durable = outcome.expect_err("acknowledged on a full disk");
        // The failure names the last durable round: the first write's, or
        // a later empty one, never the second write's.
        assert!(
            before <= durable && durable < during,
            "{fsync:?}: {durable}"
        );
        disk.set_full(false);
        let deadline = Instant::now() + Duration::from_secs(10);
        while aof.refuses_writes() {
            assert!(Instant::now() < deadline, "{fsync:?}: no retry within 10 s");
            thread::sleep(Duration::from_millis(20));
        }
        let (outcome, _, _) = handed_off_set(&store, &aof, &disk, &clock, "after", "3");
        assert_eq!(outcome, Ok(()), "{fsync:?}");
    }
}

/// A disk stuck in a sync for longer than the longest wait: the replies of
/// the stuck round, and those handed off behind it, are answered with
/// failures once they have waited that long, by the writer thread, while
/// the round's leader is still stuck; a connection that waits itself gets
/// a failure too. Once the disk comes back, writes are acknowledged again.
#[test]
fn replies_behind_a_stuck_sync_fail_after_the_longest_wait() {
    const LONGEST: Duration = Duration::from_millis(300);
    let disk = Arc::new(MemoryDisk::default());
    let (store, aof, clock) = logged_store_waiting(&disk, Fsync::Always, LONGEST);
    disk.set_stuck(true);
    let stuck = {
        let (store, aof, clock, disk) = (store.clone(), aof.clone(), clock.clone(), disk.clone());
        thread::spawn(move || handed_off_set(&store, &aof, &disk, &clock, "first", "1"))
    };
    while !disk.is_syncing() {
        thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    let (outcome, _, _) = handed_off_set(&store, &aof, &disk, &clock, "second", "2");
    let waited = started.elapsed();
    assert!(outcome.is_err(), "acknowledged behind a stuck sync");
    assert!(waited >= LONGEST, "failed after {waited:?}");
    assert!(
        waited < Duration::from_secs(5),
        "failed only after {waited:?}"
    );
    assert!(!acknowledged_set(&store, &aof, &clock, "third", "3"));
    assert!(disk.is_syncing(), "the first round is not stuck any more");
    disk.set_stuck(false);
    let (outcome, _, _) = stuck.join().expect("the stuck leader");
    assert!(outcome.is_err(), "answered only once the disk came back");
    let (outcome, synced, _) = handed_off_set(&store, &aof, &disk, &clock, "fourth", "4");
    assert_eq!(outcome, Ok(()));
    assert!(synced);
}

/// One compaction at a time: a second request while one is asked for is
/// refused, and taken again once it has run.
#[test]
fn a_second_rewrite_request_is_refused_while_one_is_pending() {
    let disk = Arc::new(MemoryDisk::default());
    let (_store, aof, _clock) = logged_store(&disk, Fsync::No);
    assert_eq!(aof.request_rewrite(), Ok(()));
    assert_eq!(aof.request_rewrite(), Err(RewriteBusy));
    assert!(aof.report().rewrite_in_progress);
    aof.next_rewrite();
    assert_eq!(aof.request_rewrite(), Err(RewriteBusy));
}
