//! Operations over several keys, and read-modify-write of one key.
//!
//! - **MSET** ([`Store::set_many`]) is atomic: it reserves the bytes of all
//!   its entries (evicting as needed, holding no lock), builds the entries,
//!   then write-locks every stripe involved at once, in ascending stripe
//!   order, the one global lock order. Eviction and every other operation
//!   hold at most one stripe lock, so nothing can wait on a stripe while
//!   holding a higher one, and no cycle, hence no deadlock, is possible.
//! - **Read-modify-write** ([`Store::incr_by`], [`Store::append`]) is
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
use crate::num::parse_i64;

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
    Store(StoreError),
}

impl From<StoreError> for UpdateError {
    fn from(e: StoreError) -> Self {
        UpdateError::Store(e)
    }
}

impl Store {
    /// Removes `key`, copying its value into `out` first (GETDEL). Returns
    /// whether it existed.
    pub fn take(&self, key: Key<'_>, now: Millis, out: &mut Vec<u8>) -> bool {
        self.remove(key, now, Some(out))
    }

    /// Adds `delta` to the integer stored at `key` (0 when absent) and
    /// returns the result.
    pub fn incr_by(&self, key: Key<'_>, delta: i64, now: Millis) -> Result<i64, UpdateError> {
        let mut result = 0;
        self.update(key, now, |current, new| {
            let n = match current {
                None => 0,
                Some(bytes) => parse_i64(bytes).ok_or(UpdateError::NotInteger)?,
            };
            result = n.checked_add(delta).ok_or(UpdateError::Overflow)?;
            new.extend_from_slice(result.to_string().as_bytes());
            Ok(())
        })?;
        Ok(result)
    }

    /// Appends `suffix` to the value at `key` (creating it) and returns the
    /// new length. A result longer than `max_len` bytes is refused with
    /// [`UpdateError::TooLong`], the value unchanged: every stored value
    /// stays within the cap that bounds what a read must buffer.
    pub fn append(
        &self,
        key: Key<'_>,
        suffix: &[u8],
        max_len: usize,
        now: Millis,
    ) -> Result<usize, UpdateError> {
        self.update(key, now, |current, new| {
            let current = current.unwrap_or_default();
            if current.len() + suffix.len() > max_len {
                return Err(UpdateError::TooLong);
            }
            new.extend_from_slice(current);
            new.extend_from_slice(suffix);
            Ok(())
        })
    }

    /// Replaces the value at `key` with what `compute` writes, given the
    /// current value (`None` when absent). Returns the new value's length.
    fn update<F>(&self, key: Key<'_>, now: Millis, mut compute: F) -> Result<usize, UpdateError>
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
                    .get(hash, key.0)
                    .filter(|e| !e.is_expired(now))
                    .map(|e| {
                        current.clear();
                        current.extend_from_slice(e.value());
                        (e.id(), e.deadline())
                    })
            };
            new.clear();
            compute(seen.map(|_| current.as_slice()), &mut new)?;
            let size = (key.0.len() + new.len()) as u64;
            if size > self.limit {
                return Err(StoreError::TooLarge.into());
            }
            let mut reservation = self.reserve(size, now)?;
            let deadline = seen.and_then(|(_, deadline)| deadline);
            let entry = NewEntry::new(key.0, &new, hash, now, deadline, false);
            let mut guard = self.write(stripe);
            let live = guard
                .table()
                .get(hash, key.0)
                .filter(|e| !e.is_expired(now));
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

    /// Stores every pair at once (MSET): either all are stored or, when
    /// they cannot fit, none.
    pub fn set_many(&self, pairs: &[(Key<'_>, &[u8])], now: Millis) -> Result<(), StoreError> {
        let total: u64 = pairs
            .iter()
            .map(|(k, v)| (k.0.len() + v.len()) as u64)
            .sum();
        if total > self.limit {
            return Err(StoreError::TooLarge);
        }
        let mut reservation = self.reserve(total, now)?;
        let mut entries: Vec<(usize, NewEntry<'_>)> = pairs
            .iter()
            .map(|(key, value)| {
                let (index, hash) = self.place_of(*key);
                (index, NewEntry::new(key.0, value, hash, now, None, false))
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
        for (index, entry) in entries {
            if let Some((_, guard)) = guards.iter_mut().find(|(i, _)| *i == index) {
                guard.insert_in_batch(entry, &mut reservation, now);
            }
        }
        self.record(Change::SetMany(pairs));
        Ok(())
    }

    /// Copies into `out` the live keys of SCAN partitions from `cursor` on
    /// that `wanted` accepts, until at least `count` keys were found or the
    /// last partition was done. Returns the cursor to continue from, 0 when
    /// the iteration is complete.
    pub fn scan(
        &self,
        cursor: usize,
        count: usize,
        now: Millis,
        wanted: &dyn Fn(&[u8]) -> bool,
        out: &mut Vec<Vec<u8>>,
    ) -> usize {
        let mut partition = cursor;
        while partition < SCAN_PARTITIONS {
            let stripe = &self.stripes[partition / PARTS_PER_STRIPE];
            let part = (partition % PARTS_PER_STRIPE) as u32;
            collect_keys(&stripe.table.read(), now, wanted, Some(part), out);
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

    /// Hands every entry live at `now` to `each` (key, value, deadline),
    /// a partition at a time, holding no lock while `each` runs; stops at
    /// the first error `each` returns. See the module documentation.
    pub fn snapshot<E>(
        &self,
        now: Millis,
        mut each: impl FnMut(&[u8], &[u8], Option<Millis>) -> Result<(), E>,
    ) -> Result<(), E> {
        // Keys and values of one partition, back to back, and where each
        // entry's lie in it.
        let mut bytes = Vec::new();
        let mut entries: Vec<(usize, usize, usize, Option<Millis>)> = Vec::new();
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
                    entries.push((start, k, v, entry.deadline()));
                }
                drop(table);
                for &(start, k, v, deadline) in &entries {
                    let key = &bytes[start..start + k];
                    each(key, &bytes[start + k..start + k + v], deadline)?;
                }
            }
        }
        Ok(())
    }

    /// Copies into `out` every live key that `wanted` accepts (KEYS).
    pub fn keys(&self, now: Millis, wanted: &dyn Fn(&[u8]) -> bool, out: &mut Vec<Vec<u8>>) {
        for stripe in self.stripes.iter() {
            collect_keys(&stripe.table.read(), now, wanted, None, out);
        }
    }

    /// Number of entries that have an expiry.
    pub fn expiring_len(&self) -> usize {
        self.stripes.iter().map(|s| s.table.read().expiring()).sum()
    }
}

fn collect_keys(
    table: &Table,
    now: Millis,
    wanted: &dyn Fn(&[u8]) -> bool,
    part: Option<u32>,
    out: &mut Vec<Vec<u8>>,
) {
    for entry in table.iter() {
        let in_part = part.map_or(true, |p| entry.stored_hash() >> PART_SHIFT == p);
        if in_part && !entry.is_expired(now) && wanted(entry.key()) {
            out.push(entry.key().to_vec());
        }
    }
}
