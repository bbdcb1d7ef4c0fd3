//! The append-only file: durability when asked (`--aof PATH`).
//!
//! This module owns the file, its format ([`format`](mod@format)) and its replay
//! ([`replay`]); the store only hands it changes through the
//! [`Journal`] hook, and the connection loop either hands it the replies
//! that wait for those changes ([`Aof::hand_off`]), or, now and then, waits
//! itself until they are durable ([`Aof::wait`]).
//!
//! ## How a change becomes durable
//!
//! 1. Under the stripe lock, the change is encoded as a record (a copy of
//!    key and value): a change of one key into its stripe's *lane*, a
//!    buffer only that stripe's writers take; a change that may span
//!    stripes into the pending buffer, after the lanes are gathered into
//!    it ([`lanes`]). The writer notes in a thread-local the *round* that
//!    will write the record: rounds are numbered in the order they write.
//!    One worker serves one connection at a time, so that thread-local is
//!    the round of the connection's newest change ([`take_appended`]).
//! 2. A batch of replies whose changes are not durable yet is *handed
//!    off* ([`Aof::hand_off`]): the connection queues it with the round
//!    of its newest record, once per batch, and goes back to reading. If
//!    no round is being written, the connection *leads* one: it gathers
//!    the lanes and takes the whole pending buffer (its own records and
//!    everyone else's), writes it with one `write`, under `--appendfsync
//!    always` syncs it with one `fdatasync`, publishes the new durable
//!    round, and sends the replies the round made durable, its own and
//!    every other connection's ([`Waiting::deliver`]). While one round is
//!    written, new records and their replies gather; when it ends, its
//!    leader passes the writing turn straight to the writer thread
//!    (`Progress::passed`), which writes and syncs all of them at once and
//!    delivers their replies, round after round while replies wait: group
//!    commit, so fifty writing clients cost one sync per round, not fifty;
//!    a lone client pays one `write` and no thread switch; and a
//!    connection sleeps only in its read, never on the log. Rounds take
//!    turns (`Progress::writing`), so they reach the file in order.
//! 3. A connection that cannot hand off (it has subscribed, or its socket
//!    was once too full to take a delivery at once: see
//!    `server::outlet`), and SHUTDOWN, wait instead ([`Aof::wait`]): they
//!    sleep on the `done` condition variable of the round that writes
//!    their records (by round parity), and lead a round themselves when
//!    none is being written.
//! 4. The writer thread leads the rounds passed to it, writes what no
//!    connection waits for (the records of active expiry) every
//!    [`SWEEP_INTERVAL`], retries a failed round, answers with errors the
//!    replies that waited longer than [`DURABLE_WAIT`], and switches files
//!    for a compaction.
//!
//! A record gathered into the pending buffer gets a *sequence number*,
//! the count of bytes ever gathered up to its end; sequence numbers only
//! grow, so a compaction ([`rewrite`]), which replaces the file by a
//! shorter one, changes the offset between a sequence number and a file
//! position, never what a waiter waits for.
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
//! When a round's `write` fails (a full disk, EIO), or under `always` its
//! sync, whoever wrote it cuts the file back to the end of the last whole
//! round and keeps the records, and the writer thread tries again every
//! [`RETRY_INTERVAL`] with whatever has gathered meanwhile; when `everysec`'s sync fails, the next sync is the
//! retry. While either is failing the log is *failing*: every reply still
//! waiting, handed off or not, becomes an error, never an
//! acknowledgement, and the command
//! table refuses write commands before they change anything
//! ([`Aof::refuses_writes`]); reads go on. A change that was applied before
//! the failure was seen stays in memory and in the kept records, so once a
//! retry succeeds the log holds it again, and writes are accepted again.
//! (Its client was told of an error: its outcome is unknown to it, as
//! after a timeout.) A wait is bounded by [`DURABLE_WAIT`]: a disk stuck
//! longer gets error replies, not a hung worker. Replies handed off that
//! waited that long are answered with errors by the writer thread, or,
//! when the writer itself is stuck in the round, by the next connection
//! that hands off.
//!
//! A sync that failed may have lost pages the kernel then marked clean, so
//! a later sync that succeeds does not prove they reached the disk; the
//! writer's retries under `always` rewrite them, and under `everysec` a
//! compaction ([`Aof::request_rewrite`]) is asked for, which writes
//! everything anew.
//!
//! ## One server per log
//!
//! The server holds the log's lock ([`LogLock`]) for as long as it runs,
//! so a second server started on the same log refuses to start instead of
//! interleaving its records with the first one's.

mod disk;
mod format;
mod lanes;
mod replay;
mod rewrite;

use std::cell::Cell;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::config::{AofConfig, Fsync};
use crate::store::{Change, Clock, Journal, Store};

pub use disk::{Disk, FileDisk};
use format::WallClock;
use lanes::Lanes;
pub use replay::{check, Checked};
pub use rewrite::{RewriteBusy, Rewritten};

/// How often the `everysec` thread syncs the file.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// How often the writer thread writes records no connection waits for
/// (those of active expiry); every other record is written by the
/// connection that waits for it.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// How often a failed write is tried again: Redis's rate, once a second,
/// so a full disk costs one failed `write` a second, not one per request.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(1);

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
    /// The round that writes the last record this thread appended.
    static APPENDED: Cell<u64> = const { Cell::new(0) };
}

/// The round that writes the newest record this thread appended since the
/// last call (0 when none): the round that must be durable before a reply
/// to the change may be sent.
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
    /// Another server holds the log's lock ([`LogLock`]).
    InUse(PathBuf),
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
            AofError::InUse(path) => write!(
                f,
                "aof {}: another server is running on this log; refusing to start",
                path.display()
            ),
        }
    }
}

impl std::error::Error for AofError {}

/// Takes from the queue the handoffs whose changes are durable once
/// `durable` is, to be delivered by the caller.
fn take_settled(progress: &mut Progress, durable: u64) -> Vec<Handoff> {
    take_where(progress, |handoff| handoff.round <= durable)
}

/// Takes from the queue the handoffs that have waited `longest` by `now`
/// ([`DURABLE_WAIT`]), to be answered with errors by the caller.
fn take_expired(progress: &mut Progress, now: Instant, longest: Duration) -> Vec<Handoff> {
    // The oldest is first: when it has not expired, none has.
    match progress.handoffs.first() {
        Some(oldest) if now.saturating_duration_since(oldest.since) >= longest => {
            take_where(progress, |handoff| {
                now.saturating_duration_since(handoff.since) >= longest
            })
        }
        _ => Vec::new(),
    }
}

/// Takes from the queue the handoffs `taken` picks, keeping the others in
/// order, and counts them as being delivered.
fn take_where(progress: &mut Progress, taken: impl Fn(&Handoff) -> bool) -> Vec<Handoff> {
    if !progress.handoffs.iter().any(&taken) {
        return Vec::new();
    }
    // Into the spare queues, so that a round allocates nothing: the
    // emptied queue becomes the next spare.
    let mut picked = std::mem::take(&mut progress.spare_picked);
    let mut kept = std::mem::take(&mut progress.spare_kept);
    for handoff in progress.handoffs.drain(..) {
        if taken(&handoff) {
            picked.push(handoff);
        } else {
            kept.push(handoff);
        }
    }
    progress.spare_kept = std::mem::replace(&mut progress.handoffs, kept);
    progress.delivering += picked.len();
    picked
}

/// Records gathered but not yet written.
struct Pending {
    /// The records gathered from the lanes and those of changes that may
    /// span stripes, in the order they are to be written.
    buf: Vec<u8>,
    /// The emptied buffer of an earlier round, swapped in for `buf` when a
    /// round takes it, so that rounds do not allocate.
    spare: Vec<u8>,
    /// Sequence number of the last byte gathered: the count of bytes ever
    /// gathered into `buf`.
    end: u64,
    /// The database the records gathered so far leave selected.
    selected: format::Selected,
    /// The file's length minus the sequence number of its last byte: the
    /// file's length is `end + offset` once everything gathered is written.
    /// Changed only by a compaction's switch to the new file.
    offset: i64,
    /// A compaction waiting for the writer to switch files.
    switch: Option<rewrite::Switch>,
    /// Replies handed off wait and no round is being written for them: the
    /// writer thread is asked to lead one ([`Aof::call_writer`]).
    lead: bool,
}

impl Pending {
    /// Moves the lanes' records into `buf`.
    fn gather(&mut self, lanes: &Lanes) {
        let before = self.buf.len();
        lanes.gather(&mut self.selected, &mut self.buf);
        self.end += (self.buf.len() - before) as u64;
    }
}

/// What the writer has achieved.
struct Progress {
    /// Every record ending at or before this sequence number is in the
    /// file.
    written: u64,
    /// Every round up to this one is durable under the policy.
    durable: u64,
    /// The last write (or, under `always`, its sync) failed.
    write_failed: bool,
    /// The last sync of the `everysec` thread failed.
    sync_failed: bool,
    /// A round is being written, by a connection that leads or by the
    /// writer thread: one at a time, so that rounds reach the file in
    /// order. Whoever set it owns the turn until it clears it, or passes
    /// it to the writer thread (`passed`).
    writing: bool,
    /// The turn is the writer thread's, to lead a round for the replies
    /// handed off meanwhile ([`Aof::end_turn`]); `writing` stays set, so no
    /// connection takes it in between.
    passed: bool,
    /// The file's length after the last round that succeeded.
    file_len: u64,
    /// A round that failed, kept to be written again before anything
    /// newer; empty unless `write_failed`.
    held: Vec<u8>,
    /// Replies handed to the log ([`Aof::hand_off`]) whose changes are not
    /// durable yet, oldest first.
    handoffs: Vec<Handoff>,
    /// Handoffs taken from `handoffs` and not yet delivered.
    delivering: usize,
    /// Emptied queues kept for [`take_where`] to fill, so that rounds do not
    /// allocate: one for the handoffs it takes, one for those it keeps.
    spare_picked: Vec<Handoff>,
    spare_kept: Vec<Handoff>,
}

/// Replies a connection handed to the log instead of waiting for it
/// ([`Aof::hand_off`]).
pub trait Waiting: Send + Sync {
    /// Sends the replies: `Ok` once every change behind them is durable,
    /// `Err` with the last durable round when the log is failing or
    /// [`DURABLE_WAIT`] passed. Called once, with no lock of the log held,
    /// by whichever thread settled them; it must not block on the client.
    fn deliver(self: Arc<Self>, outcome: Result<(), u64>);
}

/// One connection's replies waiting in the log.
struct Handoff {
    /// The round that must be durable before they are sent.
    round: u64,
    /// When they were handed off, for [`DURABLE_WAIT`].
    since: Instant,
    replies: Arc<dyn Waiting>,
}

impl Progress {
    fn failing(&self) -> bool {
        self.write_failed || self.sync_failed
    }
}

/// The open append-only file. See the module documentation.
pub struct Aof {
    /// The records of one-key changes, a queue per stripe, until a round
    /// gathers them into `pending` ([`lanes`]). A lane's lock is taken
    /// after its stripe's, or after `pending`'s.
    lanes: Lanes,
    /// Guards the buffer the writer takes; locked after a stripe lock by
    /// [`Aof::record`], and by the writer with no other lock held.
    pending: Mutex<Pending>,
    /// Wakes the writer thread for a compaction's switch.
    wake: Condvar,
    progress: Mutex<Progress>,
    /// Wakes connections waiting for their records to become durable, by
    /// the parity of the round that writes them (`Progress::round`): when a
    /// round ends, everyone waiting on its condition variable is done, and
    /// one waiting on the other is woken to lead the next round. So a round
    /// wakes the connections it served and one more, not every waiter.
    done: [Condvar; 2],
    /// Wakes the writer thread waiting for the writing turn.
    turn: Condvar,
    /// Wakes SHUTDOWN waiting for the handed-off replies to be delivered.
    delivered: Condvar,
    /// A copy of `progress.failing()`, read without a lock by the command
    /// table's gate.
    failing: AtomicBool,
    /// The file appended to, shared by the writer and the `everysec`
    /// thread; replaced by a compaction's switch. Never locked with
    /// another lock held.
    disk: Mutex<Arc<dyn Disk>>,
    /// Rounds the writer has completed: one `write` (and under `always` one
    /// sync) each, whatever the number of records in it.
    rounds: AtomicU64,
    fsync: Fsync,
    wall: WallClock,
    path: PathBuf,
    /// Compaction's state and settings.
    rewrites: rewrite::Rewrites,
    /// When the log was opened, the origin of `last_sync_ms`.
    opened: Instant,
    /// The longest a reply waits for its changes before it becomes an
    /// error: [`DURABLE_WAIT`] (shorter in tests).
    durable_wait: Duration,
    /// Milliseconds after `opened` of the last sync that succeeded; 0 for
    /// none yet.
    last_sync_ms: AtomicU64,
    /// Held while the server runs (`None` for a log in memory, in tests).
    _lock: Option<LogLock>,
}

/// What INFO's `# Persistence` and STATS report of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AofReport {
    /// The file's length once every record appended is written.
    pub current_size: u64,
    /// The file's length after the last compaction, or at start-up.
    pub base_size: u64,
    /// Bytes appended and not yet durable under the policy.
    pub pending_bytes: u64,
    /// The log is not failing (see the module's failures).
    pub last_write_ok: bool,
    /// Milliseconds since the last sync succeeded (since the log was
    /// opened, before the first).
    pub last_fsync_age_ms: u64,
    pub fsync: Fsync,
    /// A compaction is running or about to.
    pub rewrite_in_progress: bool,
    /// The last compaction succeeded (or none ran yet).
    pub last_rewrite_ok: bool,
    /// Compactions that succeeded since start-up.
    pub rewrites: u64,
}

impl Aof {
    /// Locks the log at `config.path`, replays it into `store` (creating
    /// the file if there is none; its records may select databases 0 to
    /// `databases - 1`), then attaches the log to the store and starts its
    /// threads. Logs what the replay did.
    pub fn open(
        config: &AofConfig,
        databases: usize,
        store: &mut Store,
        clock: &Clock,
    ) -> Result<Arc<Aof>, AofError> {
        let path = &config.path;
        let io = |e| AofError::Io(path.clone(), e);
        let lock = lock(path)?;
        rewrite::remove_leftover(path);
        let started = Instant::now();
        let now = clock.now();
        let wall = WallClock::of(clock);
        let loaded = replay::load(path, config.load_truncated, databases, store, now, wall)?;
        let evicted = store.evictions();
        log::info!(
            "aof {}: replayed {} records, {} keys in {:.3} s{}",
            path.display(),
            loaded.records,
            store.len(),
            started.elapsed().as_secs_f64(),
            if evicted > 0 {
                format!("; {evicted} keys evicted to fit --memory-limit")
            } else {
                String::new()
            }
        );
        let file = FileDisk::open(path).map_err(io)?;
        let len = file.size().map_err(io)?;
        let aof =
            Aof::start(Arc::new(file), len, config, wall, Some(lock), DURABLE_WAIT).map_err(io)?;
        store.add_journal(aof.clone());
        if evicted > 0 {
            // The log still holds the evicted keys: a later start with more
            // room would bring them back. A compaction makes it hold what
            // memory holds.
            let _ = aof.request_rewrite();
        }
        Ok(aof)
    }

    /// Starts the log's threads on `disk`, `len` bytes long.
    fn start(
        disk: Arc<dyn Disk>,
        len: u64,
        config: &AofConfig,
        wall: WallClock,
        lock: Option<LogLock>,
        durable_wait: Duration,
    ) -> io::Result<Arc<Aof>> {
        let aof = Arc::new(Aof {
            lanes: Lanes::new(),
            pending: Mutex::new(Pending {
                buf: Vec::new(),
                spare: Vec::new(),
                end: len,
                selected: None,
                offset: 0,
                switch: None,
                lead: false,
            }),
            wake: Condvar::new(),
            progress: Mutex::new(Progress {
                written: len,
                durable: 0,
                write_failed: false,
                sync_failed: false,
                writing: false,
                passed: false,
                file_len: len,
                held: Vec::new(),
                handoffs: Vec::new(),
                delivering: 0,
                spare_picked: Vec::new(),
                spare_kept: Vec::new(),
            }),
            done: [Condvar::new(), Condvar::new()],
            turn: Condvar::new(),
            delivered: Condvar::new(),
            failing: AtomicBool::new(false),
            disk: Mutex::new(disk),
            rounds: AtomicU64::new(0),
            fsync: config.fsync,
            wall,
            path: config.path.clone(),
            rewrites: rewrite::Rewrites::new(config, len),
            opened: Instant::now(),
            durable_wait,
            last_sync_ms: AtomicU64::new(0),
            _lock: lock,
        });
        if config.fsync == Fsync::EverySec {
            let this = Arc::clone(&aof);
            spawn("blink-aof-sync", move || this.sync_loop())?;
        }
        let this = Arc::clone(&aof);
        spawn("blink-aof-write", move || this.write_loop())?;
        Ok(aof)
    }

    /// Waits until round `round` is durable under the policy. On failure
    /// (the log is failing, or [`DURABLE_WAIT`] passed) returns the last
    /// durable round, so the caller knows which changes are safe.
    ///
    /// When no round is being written, the caller leads: it writes
    /// everything pending, its own records and every other connection's,
    /// as one round, so a lone client pays one `write` and no thread
    /// switch, and many clients share rounds (group commit).
    pub fn wait(&self, round: u64) -> Result<(), u64> {
        let deadline = Instant::now() + self.durable_wait;
        let mut progress = self.progress.lock();
        loop {
            if progress.durable >= round {
                return Ok(());
            }
            if progress.failing() {
                return Err(progress.durable);
            }
            if !progress.writing {
                progress.writing = true;
                let file_len = progress.file_len;
                drop(progress);
                self.round(file_len, Vec::new());
                progress = self.progress.lock();
                continue;
            }
            if self.done[(round % 2) as usize]
                .wait_until(&mut progress, deadline)
                .timed_out()
            {
                if progress.durable >= round {
                    return Ok(());
                }
                return Err(progress.durable);
            }
        }
    }

    /// Hands the replies of a batch to the log instead of waiting for the
    /// changes behind them: they are delivered ([`Waiting::deliver`]) by
    /// whoever ends the round that makes `round` durable, and the connection
    /// goes back to reading at once. When no round is being written, the
    /// caller leads one, as in [`Aof::wait`]; one that finds a round being
    /// written only queues its replies, and the writer thread leads the
    /// next round (see the module documentation).
    pub fn hand_off(&self, round: u64, replies: Arc<dyn Waiting>) {
        let now = Instant::now();
        let mut progress = self.progress.lock();
        if progress.durable >= round || progress.failing() {
            let outcome = if progress.durable >= round {
                Ok(())
            } else {
                Err(progress.durable)
            };
            drop(progress);
            replies.deliver(outcome);
            return;
        }
        progress.handoffs.push(Handoff {
            round,
            since: now,
            replies,
        });
        if progress.writing {
            self.expire_handoffs(&mut progress, now);
            return;
        }
        progress.writing = true;
        let file_len = progress.file_len;
        drop(progress);
        self.round(file_len, Vec::new());
    }

    /// Ends the caller's writing turn: passes it to the writer thread when
    /// replies handed off wait for a round, and returns `true` (the caller
    /// then calls [`Aof::call_writer`], with `progress` unlocked); else
    /// frees it.
    fn end_turn(progress: &mut Progress) -> bool {
        let pass = !progress.handoffs.is_empty() && !progress.failing();
        progress.passed = pass;
        progress.writing = pass;
        pass
    }

    /// Wakes the writer thread to take the turn passed to it.
    fn call_writer(&self) {
        self.pending.lock().lead = true;
        self.wake.notify_one();
        self.turn.notify_all();
    }

    /// Delivers `handoffs`, taken from the queue by the caller.
    fn deliver(&self, mut handoffs: Vec<Handoff>, outcome: Result<(), u64>) {
        if handoffs.is_empty() {
            return;
        }
        let count = handoffs.len();
        for handoff in handoffs.drain(..) {
            handoff.replies.deliver(outcome);
        }
        let mut progress = self.progress.lock();
        if progress.spare_picked.capacity() < handoffs.capacity() {
            progress.spare_picked = handoffs;
        }
        progress.delivering -= count;
        if progress.delivering == 0 && progress.handoffs.is_empty() {
            self.delivered.notify_all();
        }
    }

    /// Answers, with errors, the handed-off replies that waited longer
    /// than [`DURABLE_WAIT`] by `now`; `progress` is unlocked while they
    /// are delivered.
    fn expire_handoffs(&self, progress: &mut MutexGuard<'_, Progress>, now: Instant) {
        let expired = take_expired(progress, now, self.durable_wait);
        if !expired.is_empty() {
            let durable = progress.durable;
            MutexGuard::unlocked(progress, || self.deliver(expired, Err(durable)));
        }
    }

    /// Whether write commands are to be refused before they run: the log
    /// is failing (see the module's failures).
    pub fn refuses_writes(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// The writer thread: writes what no connection waits for (records of
    /// active expiry) every [`SWEEP_INTERVAL`], tries a failed round again
    /// every [`RETRY_INTERVAL`], and switches files when a compaction asks.
    fn write_loop(&self) {
        let mut last_try = Instant::now();
        loop {
            let switch = {
                let mut pending = self.pending.lock();
                if pending.switch.is_none() && !pending.lead {
                    self.wake.wait_for(&mut pending, SWEEP_INTERVAL);
                }
                let switch = pending.switch.take();
                let lead = std::mem::take(&mut pending.lead);
                let idle = pending.buf.is_empty() && self.lanes.is_empty();
                if switch.is_none() && !lead && idle && !self.refuses_writes() {
                    drop(pending);
                    self.expire_handoffs(&mut self.progress.lock(), Instant::now());
                    continue;
                }
                switch
            };
            let (file_len, held) = self.take_turn();
            let retry_due = last_try.elapsed() >= RETRY_INTERVAL;
            if held.is_empty() || retry_due {
                if !held.is_empty() {
                    last_try = Instant::now();
                }
                self.round(file_len, held);
            } else {
                self.give_turn(None, held);
            }
            if let Some(switch) = switch {
                let (_, held) = self.take_turn();
                let failing = !held.is_empty();
                let written = self.progress.lock().written;
                let len = rewrite::finish(self, switch, failing, written);
                self.give_turn(len, held);
            }
        }
    }

    /// Waits for the writing turn and takes it, with the file's length
    /// and the failed round held, if any.
    fn take_turn(&self) -> (u64, Vec<u8>) {
        let mut progress = self.progress.lock();
        while progress.writing && !progress.passed {
            // A round stuck in a sync holds the turn: meanwhile, replies
            // handed off that waited too long are answered with errors.
            if self
                .turn
                .wait_for(&mut progress, SWEEP_INTERVAL)
                .timed_out()
            {
                self.expire_handoffs(&mut progress, Instant::now());
            }
        }
        progress.passed = false;
        progress.writing = true;
        (progress.file_len, std::mem::take(&mut progress.held))
    }

    /// Gives the writing turn back without a round: with `held` (the
    /// failed round, still to be retried), and the file's new length when
    /// a switch changed it.
    fn give_turn(&self, file_len: Option<u64>, held: Vec<u8>) {
        let mut progress = self.progress.lock();
        progress.held = held;
        if let Some(len) = file_len {
            progress.file_len = len;
        }
        let passed = Aof::end_turn(&mut progress);
        drop(progress);
        self.wake_all();
        if passed {
            self.call_writer();
        }
    }

    /// Wakes every waiter: the writing turn is free without a round having
    /// made anything durable, or the log is failing.
    fn wake_all(&self) {
        for done in &self.done {
            done.notify_all();
        }
        self.turn.notify_all();
    }

    /// Writes `held` (a failed round kept for retry) and everything
    /// pending as one round, publishes how it went, gives the writing turn
    /// back, and delivers the handed-off replies the round made durable;
    /// if others wait, asks the writer thread to lead the next round. The
    /// caller holds the turn; the file is `file_len` long.
    fn round(&self, file_len: u64, mut batch: Vec<u8>) {
        let (round, end) = {
            let mut pending = self.pending.lock();
            let round = self.lanes.advance();
            pending.gather(&self.lanes);
            if batch.is_empty() {
                let spare = std::mem::take(&mut pending.spare);
                batch = std::mem::replace(&mut pending.buf, spare);
            } else {
                batch.extend_from_slice(&pending.buf);
                pending.buf.clear();
            }
            (round, pending.end)
        };
        let disk = Arc::clone(&*self.disk.lock());
        let result = if batch.is_empty() {
            Ok(())
        } else {
            self.write_round(&*disk, &batch)
        };
        if let Err(e) = result {
            // Cut a partly written round, so that the file ends with whole
            // records and the retry appends them once. The log is failing
            // before the turn is free, so that no round of newer records
            // can be written ahead of this one's.
            let _ = disk.truncate(file_len);
            self.note_failure(Failure::Write, &e);
            self.give_turn(None, batch);
            return;
        }
        let len = file_len + batch.len() as u64;
        let mut progress = self.progress.lock();
        if !batch.is_empty() {
            self.rounds.fetch_add(1, Ordering::Relaxed);
        }
        progress.file_len = len;
        progress.written = end;
        progress.durable = round;
        let recovered = std::mem::take(&mut progress.write_failed);
        self.failing.store(progress.failing(), Ordering::Relaxed);
        let ready = take_settled(&mut progress, round);
        let passed = Aof::end_turn(&mut progress);
        drop(progress);
        // Everyone in this round is done; one waiting for the next leads it,
        // or, when none waits but replies were handed off, the writer
        // thread does, while this thread delivers this round's.
        self.done[(round % 2) as usize].notify_all();
        self.done[((round + 1) % 2) as usize].notify_one();
        self.turn.notify_all();
        if passed {
            self.call_writer();
        }
        self.deliver(ready, Ok(()));
        if recovered {
            log::warn!(
                "aof {}: writing works again; write commands are accepted again",
                self.path.display()
            );
        }
        batch.clear();
        if batch.capacity() <= KEPT_BATCH {
            self.pending.lock().spare = batch;
        }
        self.rewrites.after_round(self);
    }

    /// Appends one round, and under `always` syncs it.
    fn write_round(&self, disk: &dyn Disk, batch: &[u8]) -> io::Result<()> {
        disk.append(batch)?;
        if self.fsync == Fsync::Always {
            disk.sync()?;
            self.note_sync();
        }
        Ok(())
    }

    /// Syncs what was written, about every [`SYNC_INTERVAL`] (`everysec`).
    fn sync_loop(&self) {
        let mut synced = None;
        loop {
            thread::sleep(SYNC_INTERVAL);
            let (written, failed) = {
                let progress = self.progress.lock();
                (progress.written, progress.sync_failed)
            };
            if synced == Some(written) && !failed {
                continue;
            }
            let disk = Arc::clone(&*self.disk.lock());
            match disk.sync() {
                Ok(()) => {
                    synced = Some(written);
                    self.note_sync();
                    if failed {
                        self.sync_recovered();
                    }
                }
                Err(e) => self.note_failure(Failure::Sync, &e),
            }
        }
    }

    /// The `everysec` sync works again after failing: writes are accepted
    /// again, and a compaction rewrites what the failed sync may have lost.
    fn sync_recovered(&self) {
        let mut progress = self.progress.lock();
        progress.sync_failed = false;
        self.failing.store(progress.failing(), Ordering::Relaxed);
        drop(progress);
        log::warn!(
            "aof {}: syncing works again; write commands are accepted again; \
             rewriting the log, since a failed sync may have lost what it covered",
            self.path.display()
        );
        let _ = self.request_rewrite();
    }

    /// Marks the log failing after `e`, and wakes the waiters so that they
    /// answer with errors.
    fn note_failure(&self, what: Failure, e: &io::Error) {
        let mut progress = self.progress.lock();
        let was_failing = progress.failing();
        match what {
            Failure::Write => progress.write_failed = true,
            Failure::Sync => progress.sync_failed = true,
        }
        self.failing.store(true, Ordering::Relaxed);
        let durable = progress.durable;
        let all = take_settled(&mut progress, u64::MAX);
        drop(progress);
        self.deliver(all, Err(durable));
        if !was_failing {
            log::error!(
                "aof {}: {} failed: {e}; write commands are refused until it succeeds \
                 (tried again every {} s)",
                self.path.display(),
                what.name(),
                RETRY_INTERVAL.as_secs()
            );
        }
        self.wake_all();
    }

    /// Waits until everything appended so far is written and every reply
    /// handed off is delivered (a delivery that a slow client's socket did
    /// not take at once is finished by a thread of its own, which is not
    /// waited for), then syncs the file, whatever the policy: for a clean
    /// shutdown.
    pub fn sync_all(&self) -> io::Result<()> {
        let round = {
            let mut pending = self.pending.lock();
            pending.gather(&self.lanes);
            self.lanes.epoch()
        };
        self.wait(round).map_err(|durable| {
            io::Error::other(format!(
                "the log is durable only up to round {durable} of {round}"
            ))
        })?;
        let deadline = Instant::now() + self.durable_wait;
        let mut progress = self.progress.lock();
        while progress.delivering > 0 || !progress.handoffs.is_empty() {
            if self
                .delivered
                .wait_until(&mut progress, deadline)
                .timed_out()
            {
                break;
            }
        }
        drop(progress);
        let disk = Arc::clone(&*self.disk.lock());
        disk.sync()?;
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
        let (end, offset) = {
            let mut pending = self.pending.lock();
            pending.gather(&self.lanes);
            (pending.end, pending.offset)
        };
        let (written, failing) = {
            let progress = self.progress.lock();
            (progress.written, progress.failing())
        };
        let synced = self.last_sync_ms.load(Ordering::Relaxed);
        let age = (self.opened.elapsed().as_millis() as u64).saturating_sub(synced);
        let rewrites = self.rewrites.report();
        AofReport {
            current_size: end.saturating_add_signed(offset),
            base_size: rewrites.base_size,
            pending_bytes: end.saturating_sub(written),
            last_write_ok: !failing,
            last_fsync_age_ms: age,
            fsync: self.fsync,
            rewrite_in_progress: rewrites.in_progress,
            last_rewrite_ok: rewrites.last_ok,
            rewrites: rewrites.done,
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
        // After every record gathered so far, and before any appended to a
        // lane from now on (see `lanes`).
        let mut pending = self.pending.lock();
        pending.gather(&self.lanes);
        let pending = &mut *pending;
        let before = pending.buf.len();
        format::encode(&change, self.wall, &mut pending.selected, &mut pending.buf);
        pending.end += (pending.buf.len() - before) as u64;
        let round = self.lanes.epoch();
        APPENDED.with(|a| a.set(round));
    }

    fn record_in(&self, stripe: usize, change: Change<'_>) {
        match self.lanes.append(stripe, &change, self.wall) {
            Some(round) => APPENDED.with(|a| a.set(round)),
            None => self.record(change),
        }
    }
}

/// What failed, for [`Aof::note_failure`].
#[derive(Clone, Copy)]
enum Failure {
    Write,
    Sync,
}

impl Failure {
    fn name(self) -> &'static str {
        match self {
            Failure::Write => "write",
            Failure::Sync => "sync",
        }
    }
}

/// Held while the server runs: another server cannot take the same
/// log's. On Linux it is a listening socket in the abstract namespace,
/// named after the log's full path: the kernel refuses a second one of the
/// same name and frees it when the process ends, however it ends, so a
/// crash never leaves a stale lock (std's file locks need a newer Rust
/// than the one this project supports). Elsewhere there is no lock.
pub struct LogLock {
    #[cfg(target_os = "linux")]
    _socket: std::os::unix::net::UnixListener,
}

/// Longest abstract socket name: the 108 bytes of `sun_path` less the
/// leading NUL, with room to spare.
#[cfg(target_os = "linux")]
const MAX_LOCK_NAME: usize = 100;

/// Takes the lock of the log at `path`, or says that another server has it.
#[cfg(target_os = "linux")]
fn lock(path: &Path) -> Result<LogLock, AofError> {
    use std::hash::{Hash, Hasher};
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};

    let io = |e| AofError::Io(path.to_path_buf(), e);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut full = std::fs::canonicalize(dir).map_err(io)?;
    full.push(path.file_name().unwrap_or(path.as_os_str()));
    let mut name = b"blink-store aof ".to_vec();
    name.extend_from_slice(full.as_os_str().as_encoded_bytes());
    if name.len() > MAX_LOCK_NAME {
        // A long path is named by its hash (SipHash under fixed keys, the
        // same in every process) and its end.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut hasher);
        let tail = name[name.len() - 40..].to_vec();
        name = format!("blink-store aof {:016x} ", hasher.finish()).into_bytes();
        name.extend_from_slice(&tail);
    }
    let addr = SocketAddr::from_abstract_name(&name).map_err(io)?;
    match UnixListener::bind_addr(&addr) {
        Ok(socket) => Ok(LogLock { _socket: socket }),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(AofError::InUse(path.to_path_buf())),
        Err(e) => Err(io(e)),
    }
}

#[cfg(not(target_os = "linux"))]
fn lock(_: &Path) -> Result<LogLock, AofError> {
    Ok(LogLock {})
}

fn spawn(name: &str, run: impl FnOnce() + Send + 'static) -> io::Result<()> {
    thread::Builder::new()
        .name(name.into())
        .stack_size(THREAD_STACK)
        .spawn(run)
        .map(drop)
}

#[cfg(test)]
mod tests;
