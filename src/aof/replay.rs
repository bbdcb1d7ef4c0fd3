//! Reading a whole log: replay at start-up ([`load`]) and the `aof-check`
//! tool ([`check`]), which share one walk over the records ([`walk`]).
//!
//! The walk hands on whole changes only: a single record, or a
//! `MULTI` ... `EXEC` block once its `EXEC` is read (a block is applied
//! whole or not at all). How the log ends decides what happens:
//!
//! - At a clean end, everything was applied.
//! - When the input ends inside a record, or inside a block whose `EXEC`
//!   never came, the tail is *torn* (a crash mid-write): everything from
//!   the start of that record or block is dropped. Replay cuts the file
//!   there, logging the offset and the bytes dropped, unless
//!   `--aof-load-truncated no`, which refuses to start instead;
//!   `aof-check --fix` cuts it too.
//! - A record that is whole but wrong (bad framing, a command this server
//!   does not write, an `EXEC` without `MULTI`) is *corruption*, before
//!   the end: nothing is cut, since every record after it would be lost
//!   too. The server refuses to start and names the offset; `aof-check`
//!   reports it.
//!
//! Replay runs before the journal is attached, so it logs nothing. A
//! deadline already past removes the key (the record's value is not
//! stored, and an older value does not survive it); a log holding more
//! than `--memory-limit` evicts as any writes would (the server then
//! compacts the log, so that the evicted keys do not come back).

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::Path;

use super::format::{ReadError, Reader, Record, WallClock};
use super::AofError;
use crate::store::{Condition, Expiry, Key, Millis, SetOptions, Store};

/// Buffer of the reader: large reads, since a log is read once, in order.
const READ_BUFFER: usize = 1 << 20;

/// How a walk over a log ended.
#[derive(Debug, PartialEq, Eq)]
struct Walked {
    /// Records read whole (inside a dropped torn block too).
    records: u64,
    /// The length of the whole records: where a torn tail begins.
    whole: u64,
    /// Bytes after `whole`: a torn tail when not zero.
    dropped: u64,
}

/// Why a walk stopped before the end.
enum WalkError {
    Corrupt { offset: u64, what: String },
    Io(io::Error),
}

/// Reads every record of `file`, as long as it was when the walk began,
/// handing each whole change to `apply`, which may refuse it (a record
/// that is well formed but cannot apply here): corruption at the change's
/// offset.
fn walk(
    file: &File,
    apply: &mut dyn FnMut(&[Record]) -> Result<(), String>,
) -> Result<Walked, WalkError> {
    let len = file.metadata().map_err(WalkError::Io)?.len();
    let mut reader = Reader::new(BufReader::with_capacity(READ_BUFFER, file.take(len)));
    let mut records = 0;
    // The block being read: its offset and its records so far.
    let mut block: Option<(u64, Vec<Record>)> = None;
    loop {
        let start = reader.offset();
        let record = match reader.next_record() {
            Ok(Some(record)) => record,
            Ok(None) => break,
            Err(ReadError::Torn { offset }) => {
                let whole = block.map_or(offset, |(at, _)| at);
                return Ok(Walked {
                    records,
                    whole,
                    dropped: len - whole,
                });
            }
            Err(ReadError::Corrupt { offset, what }) => {
                return Err(WalkError::Corrupt { offset, what })
            }
            Err(ReadError::Io(e)) => return Err(WalkError::Io(e)),
        };
        records += 1;
        let corrupt = |what: &str| {
            Err(WalkError::Corrupt {
                offset: start,
                what: what.into(),
            })
        };
        match (record, &mut block) {
            (Record::Multi, Some(_)) => return corrupt("MULTI inside MULTI"),
            (Record::Multi, None) => block = Some((start, Vec::new())),
            (Record::Exec, None) => return corrupt("EXEC without MULTI"),
            (Record::Exec, Some(_)) => {
                if let Some((at, records)) = block.take() {
                    apply(&records).map_err(|what| WalkError::Corrupt { offset: at, what })?;
                }
            }
            (record, Some((_, records))) => records.push(record),
            (record, None) => {
                apply(std::slice::from_ref(&record)).map_err(|what| WalkError::Corrupt {
                    offset: start,
                    what,
                })?;
                reader.recycle(record);
            }
        }
    }
    match block {
        Some((at, _)) => Ok(Walked {
            records,
            whole: at,
            dropped: len - at,
        }),
        None => Ok(Walked {
            records,
            whole: len,
            dropped: 0,
        }),
    }
}

/// What a replay did.
pub struct Loaded {
    pub records: u64,
}

/// Replays the log at `path` into `store` (nothing when there is no file),
/// cutting a torn tail when `load_truncated` allows it. A `SELECT` of a
/// database at or past `databases` is corruption: the keys would have
/// nowhere to go.
pub fn load(
    path: &Path,
    load_truncated: bool,
    databases: usize,
    store: &Store,
    now: Millis,
    wall: WallClock,
) -> Result<Loaded, AofError> {
    let io = |e| AofError::Io(path.to_path_buf(), e);
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded { records: 0 }),
        Err(e) => return Err(io(e)),
    };
    let mut too_large = 0u64;
    // The database the records apply to: 0 until a SELECT says otherwise,
    // as in Redis.
    let mut db = 0u16;
    let walked = walk(&file, &mut |records| {
        for record in records {
            match record {
                Record::Select(n) if usize::from(*n) >= databases => {
                    return Err(format!(
                        "SELECT {n}, but the server has {databases} databases (--databases)"
                    ))
                }
                Record::Select(n) => db = *n,
                record => {
                    if !apply(store, record, db, now, wall) {
                        too_large += 1;
                    }
                }
            }
        }
        Ok(())
    })
    .map_err(|e| match e {
        WalkError::Corrupt { offset, what } => AofError::Corrupt {
            path: path.to_path_buf(),
            offset,
            what,
        },
        WalkError::Io(e) => io(e),
    })?;
    if too_large > 0 {
        log::warn!(
            "aof {}: {too_large} values did not fit in --memory-limit and were skipped",
            path.display()
        );
    }
    if walked.dropped > 0 {
        if !load_truncated {
            return Err(AofError::Torn {
                path: path.to_path_buf(),
                offset: walked.whole,
                dropped: walked.dropped,
            });
        }
        cut(path, walked.whole).map_err(io)?;
        log::warn!(
            "aof {}: torn final record at offset {}: dropped {} bytes, kept the records before it",
            path.display(),
            walked.whole,
            walked.dropped
        );
    }
    Ok(Loaded {
        records: walked.records,
    })
}

/// Applies one record to database `db`; `false` when a value could not
/// be stored.
fn apply(store: &Store, record: &Record, db: u16, now: Millis, wall: WallClock) -> bool {
    let key = |bytes| Key::new(bytes).map(|k| k.in_db(db));
    match record {
        Record::Set { key: k, value, at } => {
            let Some(k) = key(k) else { return true };
            let expiry = match at.map(|at| wall.store_time(at)) {
                None => Expiry::Clear,
                Some(deadline) if deadline <= now => Expiry::Gone,
                Some(deadline) => Expiry::At(deadline),
            };
            let options = SetOptions {
                expiry,
                condition: Condition::Always,
            };
            return store.set(k, value, now, options).is_ok();
        }
        Record::Del(keys) => {
            for k in keys.iter().filter_map(|k| key(k)) {
                store.delete(k, now);
            }
        }
        Record::ExpireAt { key: k, at } => {
            if let Some(k) = key(k) {
                store.set_deadline(k, now, Some(wall.store_time(*at)), None);
            }
        }
        Record::Persist(k) => {
            if let Some(k) = key(k) {
                store.set_deadline(k, now, None, None);
            }
        }
        Record::FlushAll => store.clear(),
        Record::FlushDb => store.clear_db(db),
        Record::SwapDb(a, b) => store.swap_dbs(*a, *b),
        Record::Multi | Record::Exec | Record::Select(_) => {}
    }
    true
}

fn cut(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

/// What `aof-check` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Every record is whole.
    Clean { records: u64, bytes: u64 },
    /// A torn tail: cut when `fixed`.
    Torn {
        offset: u64,
        dropped: u64,
        fixed: bool,
    },
    /// A bad record before the end; never cut.
    Corrupt { offset: u64, what: String },
}

impl Checked {
    /// The tool's report, one line, and whether the log is sound now.
    pub fn report(&self, path: &Path) -> (String, bool) {
        let path = path.display();
        match self {
            Checked::Clean { records, bytes } => (
                format!("aof {path}: ok: {records} records, {bytes} bytes"),
                true,
            ),
            Checked::Torn {
                offset,
                dropped,
                fixed: true,
            } => (
                format!("aof {path}: cut a torn final record at offset {offset}: dropped {dropped} bytes"),
                true,
            ),
            Checked::Torn {
                offset, dropped, ..
            } => (
                format!(
                    "aof {path}: torn final record at offset {offset} ({dropped} bytes); \
                     run 'blink-store aof-check {path} --fix' to cut it"
                ),
                false,
            ),
            Checked::Corrupt { offset, what } => (
                format!(
                    "aof {path}: bad record at offset {offset}: {what}; not fixed: --fix cuts \
                     only a torn final record, and cutting here would lose every record after \
                     it; inspect the file at that offset, or cut it there by hand \
                     (truncate -s {offset} {path}) to keep only what comes before"
                ),
                false,
            ),
        }
    }
}

/// Reads the log at `path` without applying it; with `fix`, cuts a torn
/// tail.
pub fn check(path: &Path, fix: bool) -> Result<Checked, AofError> {
    let io = |e| AofError::Io(path.to_path_buf(), e);
    let file = File::open(path).map_err(io)?;
    let walked = match walk(&file, &mut |_| Ok(())) {
        Ok(walked) => walked,
        Err(WalkError::Corrupt { offset, what }) => return Ok(Checked::Corrupt { offset, what }),
        Err(WalkError::Io(e)) => return Err(io(e)),
    };
    if walked.dropped == 0 {
        return Ok(Checked::Clean {
            records: walked.records,
            bytes: walked.whole,
        });
    }
    if fix {
        cut(path, walked.whole).map_err(io)?;
    }
    Ok(Checked::Torn {
        offset: walked.whole,
        dropped: walked.dropped,
        fixed: fix,
    })
}
