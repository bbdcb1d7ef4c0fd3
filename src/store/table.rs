//! One stripe's hash table: open addressing with linear probing.
//!
//! The table owns the entries of one stripe and nothing else: it does not
//! know about locks, the byte count or eviction policy. It exists instead of
//! `std::collections::HashMap` for two reasons:
//!
//! - **Random sampling.** Eviction needs a uniformly random live entry in
//!   O(1). Here that is "pick a random slot, walk forward to the first full
//!   one", which the standard map cannot offer without iterating.
//! - **One hash per request.** The caller hashes the key once; the top bits
//!   pick the stripe and the low bits pick the slot, so the key is never
//!   hashed twice.
//!
//! ## Layout
//!
//! Each slot is an `Option<Entry>` of 24 bytes: the entry's data pointer and
//! length (16), the low 32 bits of its hash (4) and its last-access tick (4).
//! The data is one heap allocation holding a 2-byte key length, the key and
//! the value, so an entry costs one allocation and no other pointer.
//!
//! ## Probing and deletion
//!
//! A key's home slot is `hash & mask`; lookups walk forward from it until
//! they meet the key or an empty slot. Deletion uses backward shifting
//! (Knuth's Algorithm R) instead of tombstones: after a slot is emptied,
//! later entries of the same run move back into the hole when that keeps
//! them reachable from their home slot. So "empty" always ends a probe run
//! and lookups never walk over dead slots.
//!
//! ## Invariants
//!
//! - `len` equals the number of full slots, and `len <= capacity * 3 / 4`
//!   after every insert ([`MAX_LOAD_NUM`]/[`MAX_LOAD_DEN`]).
//! - Every entry is reachable from its home slot without crossing an empty
//!   slot.
//! - Capacity is a power of two, at least [`MIN_CAPACITY`].

use std::sync::atomic::{AtomicU32, Ordering};

/// Smallest slot count of a table. A power of two; small so that 64 empty
/// stripes cost a few KiB.
const MIN_CAPACITY: usize = 16;

/// The table grows when an insert would take the load factor above
/// `MAX_LOAD_NUM / MAX_LOAD_DEN`. Linear probing stays short up to about
/// three quarters full.
const MAX_LOAD_NUM: usize = 3;
const MAX_LOAD_DEN: usize = 4;

/// The table halves when fewer than `1 / SHRINK_DEN` of its slots are full,
/// so random sampling never walks far over empty slots and memory freed by
/// mass deletion is returned.
const SHRINK_DEN: usize = 8;

/// Bytes before the key in an entry's allocation: the key length, as a
/// little-endian `u16`.
const HEADER_LEN: usize = 2;

/// The longest key an entry can hold, in bytes.
pub const MAX_KEY_LEN: usize = u16::MAX as usize;

/// A stored key and value with the bookkeeping eviction needs.
#[derive(Debug)]
pub struct Entry {
    /// `[key_len: u16 LE][key][value]` in one allocation.
    data: Box<[u8]>,
    /// Low 32 bits of the key's hash: picks the home slot and rejects most
    /// mismatches without touching `data`.
    hash: u32,
    /// Clock tick of the last GET or SET. Atomic so that a GET can refresh it
    /// under the stripe's read lock.
    access: AtomicU32,
}

impl Entry {
    /// Builds an entry; the caller guarantees `key.len() <= MAX_KEY_LEN`.
    pub fn new(key: &[u8], value: &[u8], hash: u32, now: u32) -> Entry {
        debug_assert!(key.len() <= MAX_KEY_LEN);
        let mut data = Vec::with_capacity(HEADER_LEN + key.len() + value.len());
        data.extend_from_slice(&(key.len() as u16).to_le_bytes());
        data.extend_from_slice(key);
        data.extend_from_slice(value);
        Entry {
            data: data.into_boxed_slice(),
            hash,
            access: AtomicU32::new(now),
        }
    }

    fn key_len(&self) -> usize {
        u16::from_le_bytes([self.data[0], self.data[1]]) as usize
    }

    pub fn key(&self) -> &[u8] {
        &self.data[HEADER_LEN..HEADER_LEN + self.key_len()]
    }

    pub fn value(&self) -> &[u8] {
        &self.data[HEADER_LEN + self.key_len()..]
    }

    /// Bytes this entry counts towards USAGE: key plus value.
    pub fn size(&self) -> u64 {
        (self.data.len() - HEADER_LEN) as u64
    }

    pub fn access(&self) -> u32 {
        self.access.load(Ordering::Relaxed)
    }

    /// Records an access at `now`. Stores only when the tick changed, so a
    /// hot key read many times per tick does not keep dirtying its cache line.
    pub fn touch(&self, now: u32) {
        if self.access.load(Ordering::Relaxed) != now {
            self.access.store(now, Ordering::Relaxed);
        }
    }

    /// Identity of this entry while it lives: the address of its allocation.
    /// Eviction uses it to find again, under the write lock, the very entry
    /// it sampled under a read lock.
    pub fn id(&self) -> usize {
        self.data.as_ptr() as usize
    }
}

/// What random sampling reports about one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub hash: u32,
    pub id: usize,
    pub access: u32,
}

#[derive(Debug)]
pub struct Table {
    slots: Vec<Option<Entry>>,
    len: usize,
}

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}

impl Table {
    pub fn new() -> Table {
        Table {
            slots: empty_slots(MIN_CAPACITY),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn position(&self, hash: u32, key: &[u8]) -> Option<usize> {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            match &self.slots[i] {
                None => return None,
                Some(e) if e.hash == hash && e.key() == key => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    pub fn get(&self, hash: u32, key: &[u8]) -> Option<&Entry> {
        self.position(hash, key)
            .and_then(|i| self.slots[i].as_ref())
    }

    /// Inserts `entry`, returning the entry it replaced, if any.
    pub fn insert(&mut self, entry: Entry) -> Option<Entry> {
        if let Some(i) = self.position(entry.hash, entry.key()) {
            return self.slots[i].replace(entry);
        }
        if (self.len + 1) * MAX_LOAD_DEN > self.slots.len() * MAX_LOAD_NUM {
            self.resize(self.slots.len() * 2);
        }
        self.place(entry);
        self.len += 1;
        None
    }

    /// Puts an entry known to be absent into the first empty slot of its run.
    fn place(&mut self, entry: Entry) {
        let mask = self.mask();
        let mut i = entry.hash as usize & mask;
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some(entry);
    }

    pub fn remove(&mut self, hash: u32, key: &[u8]) -> Option<Entry> {
        let i = self.position(hash, key)?;
        self.remove_at(i)
    }

    /// Removes the entry whose [`Entry::id`] is `id`, if it is still here.
    pub fn remove_by_id(&mut self, hash: u32, id: usize) -> Option<Entry> {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            match &self.slots[i] {
                None => return None,
                Some(e) if e.id() == id => return self.remove_at(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    fn remove_at(&mut self, i: usize) -> Option<Entry> {
        let removed = self.slots[i].take()?;
        self.len -= 1;
        // Backward shift: walk the rest of the run and move back every entry
        // whose home slot does not lie cyclically between the hole and it.
        let mask = self.mask();
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while let Some(e) = &self.slots[j] {
            let home = e.hash as usize & mask;
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
            j = (j + 1) & mask;
        }
        if self.slots.len() > MIN_CAPACITY && self.len * SHRINK_DEN < self.slots.len() {
            self.resize(self.slots.len() / 2);
        }
        Some(removed)
    }

    fn resize(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.slots, empty_slots(capacity));
        for entry in old.into_iter().flatten() {
            self.place(entry);
        }
    }

    /// The first full slot at or after slot `start` (taken modulo the
    /// capacity), or `None` when the table is empty.
    pub fn sample_from(&self, start: usize) -> Option<Sample> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = start & mask;
        loop {
            if let Some(e) = &self.slots[i] {
                return Some(Sample {
                    hash: e.hash,
                    id: e.id(),
                    access: e.access(),
                });
            }
            i = (i + 1) & mask;
        }
    }

    /// Total size of the entries, as counted towards USAGE.
    pub fn bytes(&self) -> u64 {
        self.iter().map(Entry::size).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().flatten()
    }
}

fn empty_slots(capacity: usize) -> Vec<Option<Entry>> {
    let mut slots = Vec::with_capacity(capacity);
    slots.resize_with(capacity, || None);
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &[u8], hash: u32) -> Entry {
        Entry::new(key, b"v", hash, 0)
    }

    /// Keys that all share one home slot force long runs, so deletion must
    /// shift correctly for the survivors to stay reachable.
    #[test]
    fn colliding_keys_stay_reachable_after_deletes() {
        let mut t = Table::new();
        let keys: Vec<Vec<u8>> = (0..40u32).map(|i| i.to_le_bytes().to_vec()).collect();
        for k in &keys {
            assert!(t.insert(entry(k, 7)).is_none());
        }
        for k in keys.iter().step_by(3) {
            assert!(t.remove(7, k).is_some());
        }
        for (n, k) in keys.iter().enumerate() {
            assert_eq!(t.get(7, k).is_some(), n % 3 != 0, "key {n}");
        }
        assert_eq!(t.len(), keys.len() - keys.len().div_ceil(3));
    }

    /// Entries wrapping around the end of the slot array are found and
    /// shifted back across the wrap.
    #[test]
    fn runs_wrap_around_the_end() {
        let mut t = Table::new();
        let last = (MIN_CAPACITY - 1) as u32;
        for i in 0..5u8 {
            t.insert(entry(&[i], last));
        }
        assert!(t.remove(last, &[0]).is_some());
        for i in 1..5u8 {
            assert!(t.get(last, &[i]).is_some());
        }
    }

    #[test]
    fn grows_and_shrinks() {
        let mut t = Table::new();
        for i in 0..10_000u32 {
            t.insert(entry(&i.to_le_bytes(), i.wrapping_mul(2_654_435_761)));
        }
        assert_eq!(t.len(), 10_000);
        assert!(t.slots.len() * MAX_LOAD_NUM >= t.len() * MAX_LOAD_DEN);
        for i in 0..9_990u32 {
            assert!(t
                .remove(i.wrapping_mul(2_654_435_761), &i.to_le_bytes())
                .is_some());
        }
        assert_eq!(t.len(), 10);
        assert!(t.slots.len() <= 10 * SHRINK_DEN * 2);
        for i in 9_990..10_000u32 {
            assert!(t
                .get(i.wrapping_mul(2_654_435_761), &i.to_le_bytes())
                .is_some());
        }
    }

    #[test]
    fn entry_splits_key_and_value() {
        let e = Entry::new(b"user", b"alice", 1, 0);
        assert_eq!(e.key(), b"user");
        assert_eq!(e.value(), b"alice");
        assert_eq!(e.size(), 9);
        let empty = Entry::new(b"k", b"", 1, 0);
        assert_eq!(empty.value(), b"");
    }
}
