//! The append-only file: durability when asked (`--aof PATH`).
//!
//! This module owns the file, its format ([`format`]) and its replay
//! ([`replay`]); the store only hands it changes through the
//! [`Journal`] hook, and the connection loop only asks it, before sending
//! replies, whether the changes behind them are durable yet
//! ([`Aof::wait`]).
//!
//! ## How a change becomes durable
//!
//! 1. Under the stripe lock, [`Aof::record`] encodes the change into the
//!    pending buffer (a copy of key and value, under the buffer's own
//!    mutex, taken after the stripe lock and never the other way round) and
//!    notes in a thread-local the *sequence number* of its last byte: the
//!    file offset its record will end at. One worker serves one connection
//!    at a time, so that thread-local is the connection's newest change
//!    ([`take_appended`]).
//! 2. The writer thread takes the whole pending buffer, writes it with one
//!    `write`, and, under `--appendfsync always`, syncs it with one
//!    `fdatasync`; then it publishes the new *durable* position and wakes
//!    every waiter. While it writes and syncs, new records gather in the
//!    buffer, and the next round writes and syncs all of them at once:
//!    group commit, so fifty writing clients cost one sync per round, not
//!    fifty.
//! 3. Before the connection loop sends a batch of replies it waits, once
//!    per batch, until the durable position covers the newest record its
//!    requests produced. A pipelined batch therefore waits once.
//!
//! What "durable" means depends on the policy:
//!
//! | `--appendfsync` | a reply waits for          | a process crash loses | a machine crash loses |
//! |-----------------|----------------------------|-----------------------|-----------------------|
//! | `always`        | `write` and `fdatasync`    | nothing acknowledged  | nothing acknowledged  |
//! | `everysec`      | `write` (a sync thread runs about every [`SYNC_INTERVAL`]) | nothing acknowledged | about the last two seconds |
//! | `no`            | `write`                    | nothing acknowledged  | what the OS had not flushed (often about 30 s) |
//!
//! ## Failures
//!
//! A failed `write` or sync is final for this run: the writer cuts the file
//! back to the last whole record it wrote, logs the error and stops; every
//! reply still waiting, and every later write's reply, becomes an error
//! line instead of an acknowledgement. The change is still in memory (it
//! was applied before the log was asked), so memory and log may differ
//! until a restart, which replays the log. A wait is bounded by
//! [`DURABLE_WAIT`]: a disk stuck longer gets error replies, not a hung
//! worker.

mod format;
mod replay;

use std::cell::Cell;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::config::{AofConfig, Fsync};
use crate::store::{Change, Clock, Journal, Store};

use format::WallClock;
pub use replay::{check, Checked};

/// How often the `everysec` thread syncs the file.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Longest a connection waits for its changes to become durable before
/// answering with errors instead: generous, since a slow disk under load
/// can take seconds for one sync, yet finite, so a stuck disk does not hold
/// a worker forever.
pub const DURABLE_WAIT: Duration = Duration::from_secs(30);

/// Capacity the writer's batch buffer keeps between rounds; one huge batch
/// does not pin its memory.
const KEPT_BATCH: usize = 1 << 20;

/// Stack of the writer and sync threads: they hold no large buffers on
/// it, but format a log line when a write fails.
const THREAD_STACK: usize = 256 << 10;

thread_local! {
    /// The sequence number of the last record this thread appended, or
    /// `u64::MAX` when the log had already failed (no wait can succeed).
    static APPENDED: Cell<u64> = const { Cell::new(0) };
}

/// The sequence number of the newest record this thread appended since
/// the last call (0 when none): the position the durable position must
/// reach before a reply to the change may be sent.
pub fn take_appended() -> u64 {
    APPENDED.with(|a| a.replace(0))
}

/// Why the append-only file could not be loaded or opened.
#[derive(Debug)]
pub enum AofError {
    Io(PathBuf, io::Error),
    /// A record before the end is not one this server writes or knows.
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
    /// The final record is torn and `--aof-load-truncated no` was given.
    Torn {
        path: PathBuf,
        offset: u64,
        dropped: u64,
    },
}

impl fmt::Display for AofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AofError::Io(path, e) => write!(f, "aof {}: {e}", path.display()),
            AofError::Corrupt { path, offset, what } => write!(
                f,
                "aof {path}: bad record at offset {offset}: {what}; refusing to start; \
                 run 'blink-store aof-check {path}' to see it (a bad record before the end \
                 is not cut automatically: every record after it would be lost)",
                path = path.display()
            ),
            AofError::Torn {
                path,
                offset,
                dropped,
            } => write!(
                f,
                "aof {path}: torn final record at offset {offset} ({dropped} bytes); \
                 refusing to start (--aof-load-truncated no); run \
                 'blink-store aof-check {path} --fix' to cut it",
                path = path.display()
            ),
        }
    }
}

impl std::error::Error for AofError {}

/// Records encoded but not yet handed to the writer.
struct Pending {
    buf: Vec<u8>,
    /// Sequence number of the last byte appended: the file's length once
    /// everything pending is written.
    end: u64,
}

/// What the writer has achieved.
struct Progress {
    /// Every record ending at or before this is durable under the policy.
    durable: u64,
    /// A write or sync failed: nothing more becomes durable in this run.
    failed: bool,
}

/// The open append-only file. See the module documentation.
pub struct Aof {
    /// Guards the buffer the writer takes; locked after a stripe lock by
    /// [`Aof::record`], and by the writer with no other lock held.
    pending: Mutex<Pending>,
    /// Wakes the writer when `pending` gains records.
    wake: Condvar,
    progress: Mutex<Progress>,
    /// Wakes connections waiting for `progress.durable`.
    advanced: Condvar,
    /// A copy of `progress.failed`, read by [`Aof::record`] without a lock.
    failed: AtomicBool,
    /// Rounds the writer has completed: one `write` (and under `always`
    /// one sync) each, whatever the number of records in it.
    rounds: AtomicU64,
    fsync: Fsync,
    wall: WallClock,
    path: PathBuf,
    /// The file's length when it was opened, after replay.
    base_size: u64,
    /// When the log was opened, the origin of `last_sync_ms`.
    opened: Instant,
    /// Milliseconds after `opened` of the last sync that succeeded; 0 for
    /// none yet.
    last_sync_ms: AtomicU64,
}

/// What INFO's `# Persistence` and STATS report of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AofReport {
    /// Bytes of records appended: the file's length once all are written.
    pub current_size: u64,
    /// The file's length when the server started.
    pub base_size: u64,
    /// Bytes appended and not yet durable under the policy.
    pub pending_bytes: u64,
    /// Every write and sync so far succeeded.
    pub last_write_ok: bool,
    /// Milliseconds since the last sync succeeded (since the log was
    /// opened, before the first).
    pub last_fsync_age_ms: u64,
    pub fsync: Fsync,
}

impl Aof {
    /// Replays the log at `config.path` into `store` (creating the file if
    /// there is none), then attaches the log to the store and starts its
    /// threads. Logs what the replay did.
    pub fn open(
        config: &AofConfig,
        store: &mut Store,
        clock: &Clock,
    ) -> Result<Arc<Aof>, AofError> {
        let started = Instant::now();
        let now = clock.now();
        let wall = WallClock::new(now);
        let path = &config.path;
        let loaded = replay::load(path, config.load_truncated, store, now, wall)?;
        log::info!(
            "aof {}: replayed {} records, {} keys in {:.3} s",
            path.display(),
            loaded.records,
            store.len(),
            started.elapsed().as_secs_f64()
        );
        let io = |e| AofError::Io(path.clone(), e);
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let aof = Arc::new(Aof {
            pending: Mutex::new(Pending {
                buf: Vec::new(),
                end: len,
            }),
            wake: Condvar::new(),
            progress: Mutex::new(Progress {
                durable: len,
                failed: false,
            }),
            advanced: Condvar::new(),
            failed: AtomicBool::new(false),
            rounds: AtomicU64::new(0),
            fsync: config.fsync,
            wall,
            path: path.clone(),
            base_size: len,
            opened: Instant::now(),
            last_sync_ms: AtomicU64::new(0),
        });
        if config.fsync == Fsync::EverySec {
            let syncer = file.try_clone().map_err(io)?;
            let this = Arc::clone(&aof);
            spawn("blink-aof-sync", move || this.sync_loop(syncer)).map_err(io)?;
        }
        let this = Arc::clone(&aof);
        spawn("blink-aof-write", move || this.write_loop(file)).map_err(io)?;
        store.set_journal(aof.clone());
        Ok(aof)
    }

    /// Waits until every record up to `seq` is durable under the policy.
    /// On failure (a failed write, or [`DURABLE_WAIT`] passed) returns the
    /// durable position reached, so the caller knows which changes are
    /// safe.
    pub fn wait(&self, seq: u64) -> Result<(), u64> {
        let deadline = Instant::now() + DURABLE_WAIT;
        let mut progress = self.progress.lock();
        loop {
            if progress.durable >= seq {
                return Ok(());
            }
            if progress.failed {
                return Err(progress.durable);
            }
            if self
                .advanced
                .wait_until(&mut progress, deadline)
                .timed_out()
            {
                if progress.durable >= seq {
                    return Ok(());
                }
                return Err(progress.durable);
            }
        }
    }

    /// Writes (and under `always` syncs) whatever is pending, round after
    /// round, until a write fails.
    fn write_loop(&self, mut file: File) {
        let mut batch = Vec::new();
        loop {
            let end = {
                let mut pending = self.pending.lock();
                while pending.buf.is_empty() {
                    self.wake.wait(&mut pending);
                }
                std::mem::swap(&mut pending.buf, &mut batch);
                pending.end
            };
            let mut result = file.write_all(&batch);
            if result.is_ok() && self.fsync == Fsync::Always {
                result = file.sync_data();
                if result.is_ok() {
                    self.note_sync();
                }
            }
            batch.clear();
            if batch.capacity() > KEPT_BATCH {
                batch = Vec::new();
            }
            let mut progress = self.progress.lock();
            self.rounds.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(()) => progress.durable = end,
                Err(e) => {
                    // Cut a partly written record, so that the file ends
                    // with whole records and a restart needs no repair.
                    let _ = file.set_len(progress.durable);
                    self.fail(&mut progress, "write", &e);
                }
            }
            self.advanced.notify_all();
            if progress.failed {
                return;
            }
        }
    }

    /// Syncs what was written, about every [`SYNC_INTERVAL`] (`everysec`).
    fn sync_loop(&self, file: File) {
        let mut synced = 0;
        loop {
            thread::sleep(SYNC_INTERVAL);
            let written = {
                let progress = self.progress.lock();
                if progress.failed {
                    return;
                }
                progress.durable
            };
            if written == synced {
                continue;
            }
            match file.sync_data() {
                Ok(()) => {
                    synced = written;
                    self.note_sync();
                }
                Err(e) => {
                    let mut progress = self.progress.lock();
                    self.fail(&mut progress, "sync", &e);
                    self.advanced.notify_all();
                    return;
                }
            }
        }
    }

    fn fail(&self, progress: &mut Progress, what: &str, e: &io::Error) {
        if !progress.failed {
            log::error!(
                "aof {}: {what} failed: {e}; writes are answered with errors until a restart",
                self.path.display()
            );
        }
        progress.failed = true;
        self.failed.store(true, Ordering::Relaxed);
    }

    /// Waits until everything appended so far is written, then syncs the
    /// file, whatever the policy: for a clean shutdown.
    pub fn sync_all(&self) -> io::Result<()> {
        let end = self.pending.lock().end;
        self.wait(end).map_err(|durable| {
            io::Error::other(format!("the log is durable only up to byte {durable}"))
        })?;
        // Any descriptor of the file syncs its data.
        File::open(&self.path)?.sync_data()?;
        self.note_sync();
        Ok(())
    }

    /// Records that a sync succeeded now.
    fn note_sync(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_sync_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// The log's sizes and health, for INFO and STATS.
    pub fn report(&self) -> AofReport {
        let current_size = self.pending.lock().end;
        let (durable, failed) = {
            let progress = self.progress.lock();
            (progress.durable, progress.failed)
        };
        let synced = self.last_sync_ms.load(Ordering::Relaxed);
        let age = (self.opened.elapsed().as_millis() as u64).saturating_sub(synced);
        AofReport {
            current_size,
            base_size: self.base_size,
            pending_bytes: current_size.saturating_sub(durable),
            last_write_ok: !failed,
            last_fsync_age_ms: age,
            fsync: self.fsync,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rounds of the writer so far: under `always`, the number of syncs.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }
}

impl Journal for Aof {
    fn record(&self, change: Change<'_>) {
        if self.failed.load(Ordering::Relaxed) {
            APPENDED.with(|a| a.set(u64::MAX));
            return;
        }
        let seq = {
            let mut pending = self.pending.lock();
            let before = pending.buf.len();
            format::encode(&change, self.wall, &mut pending.buf);
            let added = (pending.buf.len() - before) as u64;
            pending.end += added;
            pending.end
        };
        APPENDED.with(|a| a.set(seq));
        self.wake.notify_one();
    }
}

fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> io::Result<()> {
    thread::Builder::new()
        .name(name.into())
        .stack_size(THREAD_STACK)
        .spawn(run)
        .map(drop)
}
