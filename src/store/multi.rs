//! Operations over several keys, and read-modify-write of one key.
//!
//! - **MGET** ([`Store::get_many`]) read-locks the stripes of all its keys
//!   together, in ascending order, so it never sees part of an MSET or a
//!   transaction.
//! - **MSET** ([`Store::set_many`]) is atomic: it reserves the bytes of all
//!   its entries (evicting as needed, holding no lock), builds the entries,
//!   then write-locks every stripe involved at once, in ascending stripe
//!   order, the one global lock order. Eviction and every other operation
//!   hold at most one stripe lock, so nothing can wait on a stripe while
//!   holding a higher one, and no cycle, hence no deadlock, is possible.
//! - **Read-modify-write** ([`Store::update`], behind INCR, APPEND and the
//!   others of [`super::Keyspace`]) is
//!   optimistic: read the value under the read lock, compute the new one
//!   and build its entry with no lock held, then, under the write lock,
//!   install it only if the entry is still the one that was read (same
//!   allocation, value and deadline); otherwise start again. The key keeps
//!   its expiry, as in Redis.
//! - **SCAN** ([`Store::scan`]) walks [`SCAN_PARTITIONS`] fixed partitions
//!   of the key space: a stripe, and four bits of the key's hash. Keys never
//!   change partition, so a key present for a whole iteration is returned
//!   exactly once, however the tables grow or shrink meanwhile.
//! - **Snapshot** ([`Store::snapshot`], for a log's compaction) walks
//!   every live entry the same way: each stripe is cut into enough
//!   partitions of the hash that one holds about [`SNAPSHOT_SLICE`]
//!   entries, and each partition is copied whole under one read lock,
//!   then handed on with no lock held. An entry present for the whole walk
//!   is handed on exactly once; one written meanwhile may or may not be,
//!   with the value it had when its partition was copied, which is why a
//!   log appends every change made during the walk after it.

use super::clock::Millis;
use super::journal::Change;
use super::table::{NewEntry, Table};
use super::{Key, Store, StoreError, STRIPES};
use crate::num::{format_f64, parse_f64, parse_i64};

/// Partitions of each stripe for SCAN: the top four of the 31 stored hash
/// bits.
const PARTS_PER_STRIPE: usize = 16;

/// Shift that takes a stored hash to its partition within the stripe.
const PART_SHIFT: u32 = 27;

/// Number of SCAN cursor positions; a cursor is a partition index.
pub const SCAN_PARTITIONS: usize = STRIPES * PARTS_PER_STRIPE;

/// Entries a snapshot copies under one read lock, about: the bound on
/// how long [`Store::snapshot`] holds a stripe, beyond one pass over the
/// stripe's slots (16 bytes each, read in order).
const SNAPSHOT_SLICE: usize = 1024;

/// Why a read-modify-write failed. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// The value is not a 64-bit signed integer.
    NotInteger,
    /// The result does not fit in 64 bits.
    Overflow,
    /// The result would be longer than the longest value allowed.
    TooLong,
    /// The value is not a number INCRBYFLOAT reads.
    NotFloat,
    /// The result would be infinite or not a number.
    NotFinite,
    Store(StoreError),
}

impl From<StoreError> for UpdateError {
    fn from(e: StoreError) -> Self {
        UpdateError::Store(e)
    }
}

/// What [`Store::transfer`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Overwrite a `to` that exists (RENAME, COPY REPLACE); otherwise
    /// refuse (RENAMENX, COPY).
    pub replace: bool,
    /// Leave `from` as it is (COPY); otherwise it is gone (RENAME).
    pub keep_source: bool,
}

/// What [`Store::transfer`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transferred {
    /// `from` does not exist.
    Missing,
    /// `to` exists and was not to be replaced.
    Refused,
    Done,
}

impl Store {
    /// Removes `key`, copying its value into `out` first (GETDEL). Returns
    /// whether it existed.
    pub fn take(&self, key: Key<'_>, now: Millis, out: &mut Vec<u8>) -> bool {
        self.remove(key, now, Some(out))
    }

    /// Replaces the value at `key` with what `compute` writes, given the
    /// current value (`None` when absent). Returns the new value's length.
    pub(super) fn update<F>(
        &self,
        key: Key<'_>,
        now: Millis,
        mut compute: F,
    ) -> Result<usize, UpdateError>
    where
        F: FnMut(Option<&[u8]>, &mut Vec<u8>) -> Result<(), UpdateError>,
    {
        let (stripe, hash) = self.locate(key);
        let mut current = Vec::new();
        let mut new = Vec::new();
        loop {
            let seen = {
                let table = stripe.table.read();
                table
                    .get(hash, key)
                    .filter(|e| !e.is_expired(now))
                    .map(|e| {
                        current.clear();
                        current.extend_from_slice(e.value());
                        (e.id(), e.deadline())
                    })
            };
            new.clear();
            compute(seen.map(|_| current.as_slice()), &mut new)?;
            let size = (key.bytes.len() + new.len()) as u64;
            if size > self.memory_limit() {
                return Err(StoreError::TooLarge.into());
            }
            let mut reservation = self.reserve(size, now)?;
            let deadline = seen.and_then(|(_, deadline)| deadline);
            let entry = NewEntry::new(key, &new, hash, now, deadline, false);
            let mut guard = self.write(stripe);
            let live = guard.table().get(hash, key).filter(|e| !e.is_expired(now));
            let unchanged = match (seen, live) {
                (None, None) => true,
                (Some((id, deadline)), Some(e)) => {
                    e.id() == id && e.deadline() == deadline && e.value() == current
                }
                _ => false,
            };
            if unchanged {
                guard.insert(entry, &mut reservation, now);
                return Ok(new.len());
            }
            // Someone changed the key in between: refund (the reservation
            // drops) and compute again from what is there now.
        }
    }

    /// The values of `keys`, `None` for a missing one (MGET), read under
    /// the read locks of all their stripes held together, taken in
    /// ascending index order: a write that spans stripes (MSET, a
    /// transaction) is seen whole or not at all. Accesses are recorded
    /// when `touch`; expired keys read as missing and are reclaimed after
    /// the locks are released.
    pub fn get_many(&self, keys: &[Key<'_>], now: Millis, touch: bool) -> Vec<Option<Vec<u8>>> {
        let places: Vec<(usize, u32)> = keys.iter().map(|&k| self.place_of(k)).collect();
        let mut order: Vec<usize> = places.iter().map(|&(index, _)| index).collect();
        order.sort_unstable();
        order.dedup();
        let mut expired = false;
        let values = {
            let tables: Vec<_> = order
                .iter()
                .map(|&index| self.stripes[index].table.read())
                .collect();
            keys.iter()
                .zip(&places)
                .map(|(key, &(index, hash))| {
                    let at = order.binary_search(&index).ok()?;
                    let entry = tables[at].get(hash, *key)?;
                    if entry.is_expired(now) {
                        expired = true;
                        return None;
                    }
                    if touch {
                        entry.touch(now);
                    }
                    Some(entry.value().to_vec())
                })
                .collect()
        };
        if expired {
            for &key in keys {
                self.reclaim_if_expired(key, now);
            }
        }
        values
    }

    /// Stores every pair at once (MSET): either all are stored or, when
    /// they cannot fit, none. With `only_if_none_exist` (MSETNX), nothing
    /// is stored if any of the keys exists, decided under the same locks
    /// as the change. Returns whether the pairs were stored.
    pub fn set_many(
        &self,
        pairs: &[(Key<'_>, &[u8])],
        now: Millis,
        only_if_none_exist: bool,
    ) -> Result<bool, StoreError> {
        let total: u64 = pairs
            .iter()
            .map(|(k, v)| (k.bytes.len() + v.len()) as u64)
            .sum();
        if total > self.memory_limit() {
            return Err(StoreError::TooLarge);
        }
        let mut reservation = self.reserve(total, now)?;
        let mut entries: Vec<(usize, NewEntry<'_>)> = pairs
            .iter()
            .map(|(key, value)| {
                let (index, hash) = self.place_of(*key);
                (index, NewEntry::new(*key, value, hash, now, None, false))
            })
            .collect();
        // Stable: a key given twice keeps its last value.
        entries.sort_by_key(|(index, _)| *index);
        let mut order: Vec<usize> = entries.iter().map(|(index, _)| *index).collect();
        order.dedup();
        // Every stripe of the keys, locked in ascending order, held
        // together: no reader sees part of the MSET.
        let mut guards: Vec<_> = order
            .iter()
            .map(|&index| (index, self.write(&self.stripes[index])))
            .collect();
        if only_if_none_exist {
            let exists = entries.iter().any(|(index, entry)| {
                guards.iter().any(|(i, guard)| {
                    *i == *index
                        && guard
                            .table()
                            .get(entry.hash(), entry.key())
                            .is_some_and(|e| !e.is_expired(now))
                })
            });
            if exists {
                return Ok(false);
            }
        }
        for (index, entry) in entries {
            if let Some((_, guard)) = guards.iter_mut().find(|(i, _)| *i == index) {
                guard.insert_in_batch(entry, &mut reservation, now);
            }
        }
        self.record(Change::SetMany(pairs));
        Ok(true)
    }

    /// Gives `to` the value and deadline of `from` (RENAME, RENAMENX and
    /// COPY, as `mode` says), atomically: both stripes are write-locked
    /// together, in ascending index order, for the check and the change.
    ///
    /// The value is copied under the read lock and its entry built with no
    /// lock held, as in read-modify-write; under the write locks the source
    /// must still be the entry that was read, or the whole step starts
    /// again. A COPY reserves the new entry's bytes as a SET does (it may
    /// evict); a RENAME moves the source's bytes to the new key and
    /// reserves only what a longer key adds, so renaming never evicts to
    /// make room for itself. The keys are different (the caller answers
    /// for a key renamed or copied onto itself).
    pub fn transfer(
        &self,
        from: Key<'_>,
        to: Key<'_>,
        now: Millis,
        mode: Transfer,
    ) -> Result<Transferred, StoreError> {
        let (from_index, from_hash) = self.place_of(from);
        let (to_index, to_hash) = self.place_of(to);
        let mut value = Vec::new();
        loop {
            let seen = {
                let table = self.stripes[from_index].table.read();
                let Some(e) = table.get(from_hash, from).filter(|e| !e.is_expired(now)) else {
                    return Ok(Transferred::Missing);
                };
                value.clear();
                value.extend_from_slice(e.value());
                (e.id(), e.deadline())
            };
            if !mode.replace && self.exists(to, now) {
                return Ok(Transferred::Refused);
            }
            let extra = transfer_bytes(from, to, value.len(), mode, self.memory_limit())?;
            // A COPY's room is never made by evicting its source.
            let spared = mode.keep_source.then_some((from_index, seen.0));
            let mut reservation = self.reserve_sparing(extra, now, spared)?;
            let entry = NewEntry::new(to, &value, to_hash, now, seen.1, false);
            let (first, second) = (from_index.min(to_index), from_index.max(to_index));
            let mut low = self.write(&self.stripes[first]);
            let mut high = (second != first).then(|| self.write(&self.stripes[second]));
            let (source, target) = match &mut high {
                None => (&mut low, None),
                Some(high) if from_index == first => (&mut low, Some(high)),
                Some(high) => (high, Some(&mut low)),
            };
            let unchanged = source
                .table()
                .get(from_hash, from)
                .filter(|e| !e.is_expired(now))
                .is_some_and(|e| e.id() == seen.0 && e.deadline() == seen.1 && e.value() == value);
            if !unchanged {
                // Someone changed the source in between: refund (the
                // reservation drops) and read it again.
                continue;
            }
            let taken = match &target {
                Some(target) => target.table(),
                None => source.table(),
            }
            .get(to_hash, to)
            .is_some_and(|e| !e.is_expired(now));
            if taken && !mode.replace {
                return Ok(Transferred::Refused);
            }
            if !mode.keep_source {
                source.remove_into(from_hash, from, now, &mut reservation);
            }
            let target = target.unwrap_or(source);
            if mode.keep_source {
                target.insert(entry, &mut reservation, now);
            } else {
                target.insert_in_batch(entry, &mut reservation, now);
                self.record(Change::Block(&moved(from, to, &value, seen.1)));
            }
            return Ok(Transferred::Done);
        }
    }

    /// Copies into `out` the live keys of SCAN partitions from `cursor` on
    /// that `wanted` accepts, until at least `count` keys were found or the
    /// last partition was done. Returns the cursor to continue from, 0 when
    /// the iteration is complete.
    #[allow(clippy::too_many_arguments)]
    pub fn scan(
        &self,
        db: u16,
        cursor: usize,
        count: usize,
        now: Millis,
        wanted: &dyn Fn(&[u8]) -> bool,
        out: &mut Vec<Vec<u8>>,
    ) -> usize {
        scan_partitions(cursor, count, out, |stripe, part, out| {
            let table = self.stripes[stripe].table.read();
            collect_keys(&table, db, now, wanted, Some(part), out);
        })
    }

    /// Hands every entry live at `now` to `each` (key, value, deadline),
    /// a partition at a time, holding no lock while `each` runs; stops at
    /// the first error `each` returns. See the module documentation.
    pub fn snapshot<E>(
        &self,
        now: Millis,
        mut each: impl FnMut(Key<'_>, &[u8], Option<Millis>) -> Result<(), E>,
    ) -> Result<(), E> {
        // Keys and values of one partition, back to back, and where each
        // entry's lie in it.
        let mut bytes = Vec::new();
        let mut entries: Vec<(usize, usize, usize, u16, Option<Millis>)> = Vec::new();
        for stripe in self.stripes.iter() {
            let len = stripe.table.read().len();
            let parts = (len / SNAPSHOT_SLICE + 1).next_power_of_two() as u32;
            for part in 0..parts {
                bytes.clear();
                entries.clear();
                let table = stripe.table.read();
                for entry in table.iter() {
                    if entry.stored_hash() & (parts - 1) != part || entry.is_expired(now) {
                        continue;
                    }
                    let start = bytes.len();
                    bytes.extend_from_slice(entry.key());
                    bytes.extend_from_slice(entry.value());
                    let (k, v) = (entry.key().len(), entry.value().len());
                    entries.push((start, k, v, entry.db(), entry.deadline()));
                }
                drop(table);
                for &(start, k, v, db, deadline) in &entries {
                    let key = Key {
                        bytes: &bytes[start..start + k],
                        db,
                    };
                    each(key, &bytes[start + k..start + k + v], deadline)?;
                }
            }
        }
        Ok(())
    }

    /// Copies into `out` every live key of database `db` that `wanted`
    /// accepts (KEYS).
    pub fn keys(
        &self,
        db: u16,
        now: Millis,
        wanted: &dyn Fn(&[u8]) -> bool,
        out: &mut Vec<Vec<u8>>,
    ) {
        for stripe in self.stripes.iter() {
            collect_keys(&stripe.table.read(), db, now, wanted, None, out);
        }
    }
}

/// Visits SCAN partitions from `cursor` on, `visit(stripe, part, out)`
/// copying each one's keys into `out`, until at least `count` keys were
/// found or the last partition was done. Returns the cursor to continue
/// from, 0 when the iteration is complete. Shared by the store and a
/// transaction's held stripes.
pub(super) fn scan_partitions(
    cursor: usize,
    count: usize,
    out: &mut Vec<Vec<u8>>,
    mut visit: impl FnMut(usize, u32, &mut Vec<Vec<u8>>),
) -> usize {
    let mut partition = cursor;
    while partition < SCAN_PARTITIONS {
        let part = (partition % PARTS_PER_STRIPE) as u32;
        visit(partition / PARTS_PER_STRIPE, part, out);
        partition += 1;
        if out.len() >= count {
            break;
        }
    }
    if partition >= SCAN_PARTITIONS {
        0
    } else {
        partition
    }
}

/// The bytes a transfer of a `value_len`-byte value from `from` to `to`
/// adds to the count: a COPY's whole new entry, a RENAME's or MOVE's
/// longer name only (its value moves). Too large when the new entry alone
/// passes `limit`. Shared by the store and a transaction's held stripes.
pub(super) fn transfer_bytes(
    from: Key<'_>,
    to: Key<'_>,
    value_len: usize,
    mode: Transfer,
    limit: u64,
) -> Result<u64, StoreError> {
    let size = (to.bytes.len() + value_len) as u64;
    if size > limit {
        return Err(StoreError::TooLarge);
    }
    Ok(if mode.keep_source {
        size
    } else {
        to.bytes.len().saturating_sub(from.bytes.len()) as u64
    })
}

/// A RENAME's or MOVE's record: the source gone, the target holding its
/// value and deadline, as one block.
pub(super) fn moved<'a>(
    from: Key<'a>,
    to: Key<'a>,
    value: &'a [u8],
    deadline: Option<Millis>,
) -> [Change<'a>; 2] {
    [
        Change::Del { key: from },
        Change::Set {
            key: to,
            value,
            deadline,
        },
    ]
}

/// What INCR, INCRBY, DECR and DECRBY compute: the stored integer (0
/// when absent) plus `delta`, the result also left in `result`.
pub(super) fn add_integer(
    delta: i64,
    result: &mut i64,
) -> impl FnMut(Option<&[u8]>, &mut Vec<u8>) -> Result<(), UpdateError> + '_ {
    move |current, new| {
        let n = match current {
            None => 0,
            Some(bytes) => parse_i64(bytes).ok_or(UpdateError::NotInteger)?,
        };
        *result = n.checked_add(delta).ok_or(UpdateError::Overflow)?;
        new.extend_from_slice(result.to_string().as_bytes());
        Ok(())
    }
}

/// What APPEND computes: the value with `suffix` after it, refused past
/// `max_len` bytes.
pub(super) fn append_bytes(
    suffix: &[u8],
    max_len: usize,
) -> impl FnMut(Option<&[u8]>, &mut Vec<u8>) -> Result<(), UpdateError> + '_ {
    move |current, new| {
        let current = current.unwrap_or_default();
        if current.len() + suffix.len() > max_len {
            return Err(UpdateError::TooLong);
        }
        new.extend_from_slice(current);
        new.extend_from_slice(suffix);
        Ok(())
    }
}

/// What INCRBYFLOAT computes: the stored number (0 when absent) plus
/// `delta`, the result as stored also copied into `out`.
pub(super) fn add_float(
    delta: f64,
    out: &mut Vec<u8>,
) -> impl FnMut(Option<&[u8]>, &mut Vec<u8>) -> Result<(), UpdateError> + '_ {
    move |current, new| {
        let n = match current {
            None => 0.0,
            Some(bytes) => parse_f64(bytes).ok_or(UpdateError::NotFloat)?,
        };
        let sum = n + delta;
        if !sum.is_finite() {
            return Err(UpdateError::NotFinite);
        }
        format_f64(sum, new);
        out.clear();
        out.extend_from_slice(new);
        Ok(())
    }
}

/// Where a SETRANGE of `len` bytes at `offset` ends, refused when the
/// result would pass `max_len` (before anything is built).
pub(super) fn range_end(offset: usize, len: usize, max_len: usize) -> Result<usize, UpdateError> {
    offset
        .checked_add(len)
        .filter(|&end| end <= max_len)
        .ok_or(UpdateError::TooLong)
}

/// What SETRANGE computes: the value overwritten from `offset` to `end`
/// with `bytes`, zero-padded up to `offset`.
pub(super) fn overwrite_range(
    offset: usize,
    end: usize,
    bytes: &[u8],
) -> impl FnMut(Option<&[u8]>, &mut Vec<u8>) -> Result<(), UpdateError> + '_ {
    move |current, new| {
        new.extend_from_slice(current.unwrap_or_default());
        if new.len() < end {
            new.resize(end, 0);
        }
        new[offset..end].copy_from_slice(bytes);
        Ok(())
    }
}

/// Copies into `out` the live keys of database `db` in `table` (of SCAN
/// partition `part` only, when given) that `wanted` accepts.
pub(super) fn collect_keys(
    table: &Table,
    db: u16,
    now: Millis,
    wanted: &dyn Fn(&[u8]) -> bool,
    part: Option<u32>,
    out: &mut Vec<Vec<u8>>,
) {
    if table.db_count(db).keys == 0 {
        return;
    }
    for entry in table.iter() {
        let in_part = part.map_or(true, |p| entry.stored_hash() >> PART_SHIFT == p);
        if entry.db() == db && in_part && !entry.is_expired(now) && wanted(entry.key()) {
            out.push(entry.key().to_vec());
        }
    }
}
