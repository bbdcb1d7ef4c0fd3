//! Compaction: replacing the log by a shorter one that holds the same
//! keys (`BGREWRITEAOF`, and automatically as the log grows).
//!
//! ## How a compaction runs
//!
//! A thread of the server's ([`Aof::next_rewrite`] tells it when) runs
//! [`Aof::rewrite`]:
//!
//! 1. **Mark.** Under the pending buffer's lock it gathers the lanes and
//!    notes the sequence number `start` of the last byte gathered. Every
//!    change logged up to `start` was applied to the store before it was
//!    logged, under its stripe's lock, so the snapshot below sees it.
//! 2. **Snapshot.** It writes every live key as one `SET key value [PXAT
//!    ms]` record to `PATH.rewrite`, a stripe partition at a time
//!    ([`Store::snapshot`]: never more than about a thousand entries
//!    copied under one read lock), and writes go on meanwhile.
//! 3. **Catch up.** It copies from the old log to the new one the records
//!    written after `start`, while writes go on, until less than
//!    [`CATCH_UP_SLACK`] bytes are left behind, and syncs the new file.
//! 4. **Switch.** It hands the new file to the writer thread, which, between
//!    two rounds (so nothing is half written), copies the last records
//!    written after what was caught up, syncs the new file, renames it over
//!    `PATH`, syncs the directory and appends to the new file from then on.
//!    Records not yet written stay pending and go to the new file.
//!
//! Why the result is right although keys change during the snapshot: every
//! record is a whole assignment (a value and an absolute deadline, or a
//! removal, or a deadline), so replaying all the records logged since
//! `start` on top of a snapshot that already reflects some of them ends in
//! the same state as replaying them on the state at `start`: a key's last
//! `SET`, `DEL`, `FLUSHDB` or `FLUSHALL` decides it (a MOVE is logged as
//! a `DEL` and a `SET`), and a deadline record sets an absolute time,
//! which twice is the same as once. A `SWAPDB` is no assignment: a
//! snapshot taken while one ran is given up (the count of SWAPDBs,
//! [`Store::swaps`], moved) and the log is left as it was.
//!
//! ## Crashes
//!
//! Until the rename the old log is untouched and whole, and the half-made
//! `PATH.rewrite` is removed at the next start; the rename replaces one
//! whole file by another whole, synced one, atomically. So a crash at any
//! step leaves the old log or the new one, never a mix. Tests crash the
//! server at each step through the environment variable
//! [`CRASH_VARIABLE`] (test use only): the process exits at once, with
//! status [`CRASH_STATUS`], at the step named there (`after-snapshot`,
//! `before-rename`, `after-rename`).
//!
//! ## When it runs by itself
//!
//! As in Redis (`auto-aof-rewrite-percentage 100`, `auto-aof-rewrite-min-
//! size 64mb`): when, after a round, the file is larger than
//! `--auto-aof-rewrite-min-size` and has grown by
//! `--auto-aof-rewrite-percentage` percent since the last compaction (or
//! since start-up); a percentage of 0 turns it off.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::disk::{Disk, FileDisk};
use super::{format, Aof};
use crate::config::AofConfig;
use crate::store::{Change, Clock, Store};

/// The catch-up step stops, and hands over to the writer, once fewer than
/// this many bytes written since the mark are still to be copied: the
/// writer copies the rest between two rounds, so this bounds how long
/// writes wait on a switch (a millisecond or so at disk speed).
pub const CATCH_UP_SLACK: u64 = 1 << 20;

/// Catch-up passes at most, before handing over whatever is left: under a
/// write load faster than the copy, the writer copies a larger rest once.
const CATCH_UP_PASSES: usize = 16;

/// Buffer of the snapshot's file writes and of the catch-up copies.
const COPY_BUFFER: usize = 1 << 20;

/// Names the step at which a test makes the server crash.
pub const CRASH_VARIABLE: &str = "BLINK_AOF_TEST_CRASH_AT";

/// Exit status of a crash a test asked for.
pub const CRASH_STATUS: i32 = 86;

/// A compaction is already running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RewriteBusy;

/// What a compaction did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// Keys in the snapshot.
    pub keys: u64,
    /// The log's length before and after.
    pub before: u64,
    pub after: u64,
}

/// Compaction's settings and state, kept by the [`Aof`].
pub struct Rewrites {
    state: Mutex<State>,
    /// Wakes the compaction thread when one is requested.
    requested: Condvar,
    /// How the writer's switch went (the new length), for the compaction
    /// thread waiting on `switched`.
    outcome: Mutex<Option<io::Result<u64>>>,
    switched: Condvar,
    /// Automatic compaction: growth in percent of the base size, 0 for
    /// never, and the least size.
    percentage: u64,
    min_size: u64,
    /// The step of [`CRASH_VARIABLE`], read once.
    crash_at: Option<String>,
}

struct State {
    /// A compaction was asked for and has not started.
    requested: bool,
    running: bool,
    last_ok: bool,
    /// Compactions that succeeded.
    done: u64,
    /// The file's length after the last compaction, or at start-up.
    base_size: u64,
}

/// A snapshot of [`Rewrites`] for reports.
pub struct RewriteReport {
    pub base_size: u64,
    pub in_progress: bool,
    pub last_ok: bool,
    pub done: u64,
}

impl Rewrites {
    pub fn new(config: &AofConfig, base_size: u64) -> Rewrites {
        Rewrites {
            state: Mutex::new(State {
                requested: false,
                running: false,
                last_ok: true,
                done: 0,
                base_size,
            }),
            requested: Condvar::new(),
            outcome: Mutex::new(None),
            switched: Condvar::new(),
            percentage: config.rewrite_percentage,
            min_size: config.rewrite_min_size,
            crash_at: std::env::var(CRASH_VARIABLE).ok(),
        }
    }

    /// Asks for a compaction when the file has grown enough since the last
    /// one (see the module documentation); called after each round.
    ///
    /// The base is read before the file's length: a round that ends as a
    /// compaction finishes would otherwise weigh the old file's length
    /// against the new, small base, and start a second compaction at once.
    /// Read in this order, a compaction that finishes in between leaves the
    /// new file's length to compare.
    pub fn after_round(&self, aof: &Aof) {
        if self.percentage == 0 {
            return;
        }
        let base = self.state.lock().base_size;
        let len = aof.progress.lock().file_len;
        if len <= self.min_size {
            return;
        }
        let threshold = base.saturating_add(base.saturating_mul(self.percentage) / 100);
        if len >= threshold && aof.request_rewrite().is_ok() {
            log::info!(
                "aof {}: {len} bytes, {}% over the {base} after the last rewrite; rewriting",
                aof.path.display(),
                (len - base).saturating_mul(100) / base.max(1)
            );
        }
    }

    pub fn report(&self) -> RewriteReport {
        let state = self.state.lock();
        RewriteReport {
            base_size: state.base_size,
            in_progress: state.requested || state.running,
            last_ok: state.last_ok,
            done: state.done,
        }
    }

    /// Ends the process if a test asked for a crash at `step`.
    fn crash_point(&self, step: &str) {
        if self.crash_at.as_deref() == Some(step) {
            log::warn!("aof: crashing at '{step}', as {CRASH_VARIABLE} asks");
            std::process::exit(CRASH_STATUS);
        }
    }
}

/// A compaction's new file, handed to the writer to finish.
pub struct Switch {
    /// The new file, synced up to `copied`.
    temp: File,
    temp_path: PathBuf,
    /// The old log, open for reading.
    old: File,
    /// The sequence number up to which the new file holds every record.
    copied: u64,
    /// The old file's offset (see `Pending::offset`).
    old_offset: i64,
}

impl Aof {
    /// Asks the compaction thread for a compaction; refused while one is
    /// asked for or running.
    pub fn request_rewrite(&self) -> Result<(), RewriteBusy> {
        let mut state = self.rewrites.state.lock();
        if state.requested || state.running {
            return Err(RewriteBusy);
        }
        state.requested = true;
        self.rewrites.requested.notify_one();
        Ok(())
    }

    /// Blocks until a compaction is asked for, then marks it running: the
    /// compaction thread's loop, `next_rewrite` then [`Aof::rewrite`].
    pub fn next_rewrite(&self) {
        let mut state = self.rewrites.state.lock();
        while !state.requested {
            self.rewrites.requested.wait(&mut state);
        }
        state.requested = false;
        state.running = true;
    }

    /// Runs one compaction of the log from `store` (see the module
    /// documentation), logging how it went. Call it after
    /// [`Aof::next_rewrite`], which marked it running.
    pub fn rewrite(&self, store: &Store, clock: &Clock) -> io::Result<Rewritten> {
        let started = Instant::now();
        let temp_path = temp_path(&self.path);
        let result = self.rewrite_to(store, clock, &temp_path);
        if result.is_err() {
            let _ = fs::remove_file(&temp_path);
        }
        let mut state = self.rewrites.state.lock();
        state.running = false;
        state.last_ok = result.is_ok();
        match &result {
            Ok(done) => {
                state.done += 1;
                state.base_size = done.after;
                log::info!(
                    "aof {}: rewritten: {} keys, {} bytes to {} in {:.3} s",
                    self.path.display(),
                    done.keys,
                    done.before,
                    done.after,
                    started.elapsed().as_secs_f64()
                );
            }
            Err(e) => log::error!(
                "aof {}: rewrite failed: {e}; the log is unchanged",
                self.path.display()
            ),
        }
        result
    }

    fn rewrite_to(&self, store: &Store, clock: &Clock, temp_path: &Path) -> io::Result<Rewritten> {
        let swaps = store.swaps();
        let (start, old_offset) = {
            let mut pending = self.pending.lock();
            // Every record appended so far is before the mark.
            pending.gather(&self.lanes);
            // The records after the mark are copied behind the snapshot,
            // which may end in another database: the first selects its own.
            pending.selected = None;
            (pending.end, pending.offset)
        };
        let before = self.report().current_size;
        let mut old = File::open(&self.path)?;
        let temp = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(temp_path)?;
        let mut out = BufWriter::with_capacity(COPY_BUFFER, &temp);
        let mut record = Vec::new();
        let mut keys = 0;
        let mut selected = None;
        store.snapshot(clock.now(), |key, value, deadline| {
            record.clear();
            let set = Change::Set {
                key,
                value,
                deadline,
            };
            format::encode(&set, self.wall, &mut selected, &mut record);
            keys += 1;
            out.write_all(&record)
        })?;
        if store.swaps() != swaps {
            // The snapshot saw some stripes before a SWAPDB and some after
            // it, and the SWAPDB record copied behind it would swap the
            // latter twice: no whole assignment, so the argument above
            // fails. Give up; the next compaction starts afresh.
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "a SWAPDB ran during the snapshot",
            ));
        }
        out.flush()?;
        drop(out);
        self.rewrites.crash_point("after-snapshot");
        let mut copied = start;
        for _ in 0..CATCH_UP_PASSES {
            let written = self.progress.lock().written;
            copy_range(&mut old, &temp, copied, written, old_offset)?;
            copied = written;
            if self.pending.lock().end - copied < CATCH_UP_SLACK {
                break;
            }
        }
        temp.sync_data()?;
        *self.rewrites.outcome.lock() = None;
        self.pending.lock().switch = Some(Switch {
            temp,
            temp_path: temp_path.to_path_buf(),
            old,
            copied,
            old_offset,
        });
        self.wake.notify_one();
        let after = {
            let mut outcome = self.rewrites.outcome.lock();
            loop {
                match outcome.take() {
                    Some(result) => break result?,
                    None => self.rewrites.switched.wait(&mut outcome),
                }
            }
        };
        Ok(Rewritten {
            keys,
            before,
            after,
        })
    }
}

/// The writer's part of a compaction, holding the writing turn (so between
/// two rounds): copies the last records, up to `written`, into the new
/// file, syncs it, renames it over the log and appends to it from then on.
/// Returns the new file's length. `failing` says a failed round is held:
/// the switch is refused then, since the old file lacks that round.
pub fn finish(aof: &Aof, switch: Switch, failing: bool, written: u64) -> Option<u64> {
    let result = if failing {
        Err(io::Error::other("the log is failing"))
    } else {
        switch_files(aof, &switch, written)
    };
    let len = match result {
        Ok((disk, len)) => {
            *aof.disk.lock() = disk;
            aof.pending.lock().offset = len as i64 - written as i64;
            *aof.rewrites.outcome.lock() = Some(Ok(len));
            Some(len)
        }
        Err(e) => {
            *aof.rewrites.outcome.lock() = Some(Err(e));
            None
        }
    };
    aof.rewrites.switched.notify_one();
    len
}

fn switch_files(aof: &Aof, switch: &Switch, written: u64) -> io::Result<(Arc<dyn Disk>, u64)> {
    let mut old = &switch.old;
    copy_range(
        &mut old,
        &switch.temp,
        switch.copied,
        written,
        switch.old_offset,
    )?;
    switch.temp.sync_data()?;
    // Opened before the rename, so that once the rename is done nothing
    // can stop the writer from appending to the file it renamed.
    let disk = FileDisk::open(&switch.temp_path)?;
    let len = disk.size()?;
    aof.rewrites.crash_point("before-rename");
    fs::rename(&switch.temp_path, &aof.path)?;
    aof.rewrites.crash_point("after-rename");
    if let Err(e) = sync_directory(&aof.path) {
        log::warn!(
            "aof {}: cannot sync its directory after the rewrite: {e}",
            aof.path.display()
        );
    }
    Ok((Arc::new(disk), len))
}

/// Appends to `to` the bytes of the old log `from` holding the records
/// with sequence numbers after `start` up to `end` (`offset` turns a
/// sequence number into a position in `from`).
fn copy_range(
    mut from: impl Read + Seek,
    mut to: &File,
    start: u64,
    end: u64,
    offset: i64,
) -> io::Result<()> {
    if end <= start {
        return Ok(());
    }
    let position = start
        .checked_add_signed(offset)
        .ok_or_else(|| io::Error::other("a sequence number before the file's start"))?;
    from.seek(SeekFrom::Start(position))?;
    let mut rest = (&mut from).take(end - start);
    let copied = io::copy(&mut rest, &mut to)?;
    if copied != end - start {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the old log is shorter than what was written to it",
        ));
    }
    Ok(())
}

/// Syncs the directory holding `path`, so that a rename in it is durable.
fn sync_directory(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Where a compaction writes the new log: `PATH.rewrite`.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".rewrite");
    PathBuf::from(name)
}

/// Removes what a compaction cut short by a crash left; call it holding
/// the log's lock.
pub fn remove_leftover(path: &Path) {
    let temp = temp_path(path);
    if fs::remove_file(&temp).is_ok() {
        log::warn!(
            "aof {}: removed {}, left by a rewrite that did not finish",
            path.display(),
            temp.display()
        );
    }
}
