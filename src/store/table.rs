//! One stripe's hash table: open addressing with linear probing.
//!
//! The table owns the entries of one stripe and nothing else: it does not
//! know about locks, the byte count or eviction policy. It exists instead of
//! `std::collections::HashMap` for three reasons:
//!
//! - **Random sampling.** Eviction needs a uniformly random live entry in
//!   O(1). Here that is "pick a random slot, walk forward to the first full
//!   one", which the standard map cannot offer without iterating.
//! - **One hash per request.** The caller hashes the key once; the top bits
//!   pick the stripe and the low bits pick the slot, so the key is never
//!   hashed twice.
//! - **Resumable scans.** Expiry walks the slots a chunk at a time with a
//!   cursor that survives between lock holds.
//!
//! ## Layout
//!
//! Each slot is an `Option<Entry>` of 24 bytes: the entry's data pointer and
//! length (16), 31 bits of its hash plus a flag bit (4) and its last-access
//! tick (4). The data is one heap allocation: a 2-byte key length, then,
//! only when the flag bit says so, an 8-byte expiry deadline, then the key
//! and the value. An entry costs one allocation and no other pointer, and
//! keys that never expire pay nothing for expiry.
//!
//! ## Probing and deletion
//!
//! A key's home slot is its hash scaled to the capacity (multiply-shift),
//! so the capacity need not be a power of two and grows by half at a time;
//! lookups walk forward from the home slot, wrapping at the end, until
//! they meet the key or an empty slot. Deletion uses backward shifting
//! (Knuth's Algorithm R) instead of tombstones: after a slot is emptied,
//! later entries of the same run move back into the hole when that keeps
//! them reachable from their home slot. So "empty" always ends a probe run
//! and lookups never walk over dead slots.
//!
//! ## Expiry bookkeeping
//!
//! The table counts its entries that have a deadline and keeps `earliest`,
//! a lower bound on their deadlines: lowered whenever a deadline is set,
//! never raised by a removal. So when `earliest` is in the future, no entry
//! here has expired and expiry can skip the table without looking.
//!
//! [`Table::expire_chunk`] walks a bounded number of slots from a cursor,
//! removing expired entries. A pass is the cursor's walk from slot 0 to the
//! end; when one completes without the table being resized, `earliest`
//! becomes exact again: the least deadline the pass saw, or set since it
//! began. A resize scrambles slot positions, so it restarts the pass.
//! Removal during a scan re-examines the same slot, since backward shifting
//! may have moved a not-yet-seen entry into it; shifting never moves an
//! unseen entry behind the cursor.
//!
//! ## Invariants
//!
//! - `len` equals the number of full slots, and `len <= capacity * 3 / 4`
//!   after every insert ([`MAX_LOAD_NUM`]/[`MAX_LOAD_DEN`]).
//! - Every entry is reachable from its home slot without crossing an empty
//!   slot.
//! - Capacity is at least [`MIN_CAPACITY`].
//! - `expiring` is the number of entries with a deadline, and every such
//!   deadline is at least `earliest`.

use std::sync::atomic::{AtomicU32, Ordering};

use super::clock::Millis;

/// Smallest slot count of a table: small so that 64 empty stripes cost a
/// few KiB.
const MIN_CAPACITY: usize = 16;

/// The table grows when an insert would take the load factor above
/// `MAX_LOAD_NUM / MAX_LOAD_DEN`. Linear probing stays short up to about
/// three quarters full.
const MAX_LOAD_NUM: usize = 3;
const MAX_LOAD_DEN: usize = 4;

/// Growth adds `1 / GROWTH_DIVISOR` of the capacity: half, so a full table
/// becomes half full rather than three eighths full, as doubling would
/// leave it. Slots are a third of an entry's memory, so this matters.
const GROWTH_DIVISOR: usize = 2;

/// Bits of a stored hash (see [`HASH_BITS`]).
const HASH_WIDTH: u32 = 31;

/// The table halves when fewer than `1 / SHRINK_DEN` of its slots are full,
/// so random sampling never walks far over empty slots and memory freed by
/// mass deletion is returned.
const SHRINK_DEN: usize = 8;

/// Bytes of the key length at the start of an entry's allocation.
const KEY_LEN_BYTES: usize = 2;

/// Bytes of the deadline that follows the key length when present.
const DEADLINE_BYTES: usize = 8;

/// The flag bit of [`Entry::hash`]: the allocation holds a deadline field.
const DEADLINE_FIELD: u32 = 1 << 31;

/// The bits of a key's hash that the table stores and compares.
pub const HASH_BITS: u32 = !DEADLINE_FIELD;

/// The longest key an entry can hold, in bytes.
pub const MAX_KEY_LEN: usize = u16::MAX as usize;

/// A stored key and value with the bookkeeping eviction and expiry need.
#[derive(Debug)]
pub struct Entry {
    /// `[key_len: u16 LE][deadline: u64 LE, if flagged][key][value]`.
    data: Box<[u8]>,
    /// The key's hash masked by [`HASH_BITS`], with [`DEADLINE_FIELD`] set
    /// when `data` holds a deadline. Picks the home slot and rejects most
    /// mismatches without touching `data`.
    hash: u32,
    /// Clock tick of the last GET or SET. Atomic so that a GET can refresh it
    /// under the stripe's read lock.
    access: AtomicU32,
}

impl Entry {
    /// Builds an entry in one allocation. `hash` is masked by the caller
    /// with [`HASH_BITS`]; `key.len() <= MAX_KEY_LEN` is guaranteed by
    /// [`super::Key`]. A deadline field is made when `deadline_field` is set
    /// (its value may still be "none" so a later KEEPTTL can fill it).
    pub fn new(
        key: &[u8],
        value: &[u8],
        hash: u32,
        now: Millis,
        deadline: Option<Millis>,
        deadline_field: bool,
    ) -> Entry {
        let field = deadline_field || deadline.is_some();
        let mut data = Vec::with_capacity(
            KEY_LEN_BYTES + if field { DEADLINE_BYTES } else { 0 } + key.len() + value.len(),
        );
        Entry::fill(
            &mut data,
            key,
            value,
            field.then(|| deadline_bytes(deadline)),
        );
        Entry {
            data: data.into_boxed_slice(),
            hash: hash | if field { DEADLINE_FIELD } else { 0 },
            access: AtomicU32::new(now.tick()),
        }
    }

    fn fill(data: &mut Vec<u8>, key: &[u8], value: &[u8], deadline: Option<[u8; 8]>) {
        data.extend_from_slice(&(key.len() as u16).to_le_bytes());
        if let Some(deadline) = deadline {
            data.extend_from_slice(&deadline);
        }
        data.extend_from_slice(key);
        data.extend_from_slice(value);
    }

    /// Bytes an allocation for this entry with a deadline field needs.
    pub fn len_with_deadline_field(&self) -> usize {
        KEY_LEN_BYTES + DEADLINE_BYTES + self.key().len() + self.value().len()
    }

    /// This entry's key and value rebuilt in `data` (whose capacity the
    /// caller sized with [`Entry::len_with_deadline_field`]) with a
    /// deadline field holding `deadline`.
    pub fn rebuilt_with_deadline(&self, mut data: Vec<u8>, deadline: Option<Millis>) -> Entry {
        data.clear();
        Entry::fill(
            &mut data,
            self.key(),
            self.value(),
            Some(deadline_bytes(deadline)),
        );
        Entry {
            data: data.into_boxed_slice(),
            hash: self.hash | DEADLINE_FIELD,
            access: AtomicU32::new(self.access()),
        }
    }

    fn has_deadline_field(&self) -> bool {
        self.hash & DEADLINE_FIELD != 0
    }

    fn key_start(&self) -> usize {
        KEY_LEN_BYTES
            + if self.has_deadline_field() {
                DEADLINE_BYTES
            } else {
                0
            }
    }

    fn key_len(&self) -> usize {
        u16::from_le_bytes([self.data[0], self.data[1]]) as usize
    }

    pub fn key(&self) -> &[u8] {
        let start = self.key_start();
        &self.data[start..start + self.key_len()]
    }

    pub fn value(&self) -> &[u8] {
        &self.data[self.key_start() + self.key_len()..]
    }

    /// Bytes this entry counts towards USAGE: key plus value.
    pub fn size(&self) -> u64 {
        (self.data.len() - self.key_start()) as u64
    }

    /// When this entry expires, if it does.
    pub fn deadline(&self) -> Option<Millis> {
        if !self.has_deadline_field() {
            return None;
        }
        let mut bytes = [0u8; DEADLINE_BYTES];
        bytes.copy_from_slice(&self.data[KEY_LEN_BYTES..KEY_LEN_BYTES + DEADLINE_BYTES]);
        match u64::from_le_bytes(bytes) {
            0 => None,
            ms => Some(Millis(ms)),
        }
    }

    /// Whether the entry is expired at `now`: its deadline has come.
    pub fn is_expired(&self, now: Millis) -> bool {
        self.deadline().is_some_and(|d| d <= now)
    }

    /// Sets the deadline in place. Fails, changing nothing, when a deadline
    /// is asked for and the allocation has no field for it.
    pub fn set_deadline(&mut self, deadline: Option<Millis>) -> Result<(), NoDeadlineField> {
        if !self.has_deadline_field() {
            return match deadline {
                None => Ok(()),
                Some(_) => Err(NoDeadlineField),
            };
        }
        self.data[KEY_LEN_BYTES..KEY_LEN_BYTES + DEADLINE_BYTES]
            .copy_from_slice(&deadline_bytes(deadline));
        Ok(())
    }

    pub fn access(&self) -> u32 {
        self.access.load(Ordering::Relaxed)
    }

    /// Records an access at `now`. Stores only when the tick changed, so a
    /// hot key read many times per tick does not keep dirtying its cache line.
    pub fn touch(&self, now: Millis) {
        let tick = now.tick();
        if self.access.load(Ordering::Relaxed) != tick {
            self.access.store(tick, Ordering::Relaxed);
        }
    }

    /// Identity of this entry while it lives: the address of its allocation.
    /// Eviction uses it to find again, under the write lock, the very entry
    /// it sampled under a read lock.
    pub fn id(&self) -> usize {
        self.data.as_ptr() as usize
    }

    pub fn stored_hash(&self) -> u32 {
        self.hash & HASH_BITS
    }
}

/// A deadline as stored: little-endian milliseconds, 0 for none.
fn deadline_bytes(deadline: Option<Millis>) -> [u8; 8] {
    deadline.map_or(0, |d| d.0).to_le_bytes()
}

/// The entry has no room for a deadline and must be rebuilt to get one.
#[derive(Debug)]
pub struct NoDeadlineField;

/// What random sampling reports about one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub hash: u32,
    pub id: usize,
    pub access: u32,
    pub expired: bool,
}

/// What setting a deadline did.
#[derive(Debug)]
pub enum DeadlineChange {
    /// No such key.
    Missing,
    /// The key had expired; it was removed and is handed back.
    Expired(Entry),
    /// The deadline is set.
    Done,
    /// The entry must be rebuilt with a deadline field: an allocation of
    /// `len` bytes is needed for the entry whose id is `id`.
    NeedsRebuild { id: usize, len: usize },
}

/// What one [`Table::expire_chunk`] call saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    /// Entries with a deadline examined.
    pub with_deadline: usize,
    /// Of those, expired and removed.
    pub expired: usize,
    /// The cursor completed a pass over the table.
    pub pass_done: bool,
}

#[derive(Debug)]
struct Scan {
    /// Next slot to examine.
    cursor: usize,
    /// Least deadline of the unexpired entries seen by this pass.
    seen_min: u64,
    /// Least deadline set since this pass began.
    set_min: u64,
}

impl Scan {
    fn new() -> Scan {
        Scan {
            cursor: 0,
            seen_min: u64::MAX,
            set_min: u64::MAX,
        }
    }
}

#[derive(Debug)]
pub struct Table {
    slots: Vec<Option<Entry>>,
    len: usize,
    /// Entries with a deadline.
    expiring: usize,
    /// No deadline here is earlier than this (milliseconds).
    earliest: u64,
    scan: Scan,
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
            expiring: 0,
            earliest: u64::MAX,
            scan: Scan::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Entries with a deadline.
    pub fn expiring(&self) -> usize {
        self.expiring
    }

    /// A time before which no entry of this table expires (`u64::MAX` when
    /// none has a deadline).
    pub fn earliest_deadline(&self) -> u64 {
        if self.expiring == 0 {
            u64::MAX
        } else {
            self.earliest
        }
    }

    /// A hash's home slot: the hash scaled to the capacity (Lemire's
    /// multiply-shift), so the capacity need not be a power of two.
    fn home(&self, hash: u32) -> usize {
        ((u64::from(hash) * self.slots.len() as u64) >> HASH_WIDTH) as usize
    }

    /// The slot after `i`, wrapping at the end.
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() {
            0
        } else {
            i + 1
        }
    }

    /// How far forward slot `to` is from slot `from`, wrapping.
    fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.slots.len() - from
        }
    }

    fn position(&self, hash: u32, key: &[u8]) -> Option<usize> {
        let mut i = self.home(hash);
        loop {
            match &self.slots[i] {
                None => return None,
                Some(e) if e.stored_hash() == hash && e.key() == key => return Some(i),
                Some(_) => i = self.next(i),
            }
        }
    }

    pub fn get(&self, hash: u32, key: &[u8]) -> Option<&Entry> {
        self.position(hash, key)
            .and_then(|i| self.slots[i].as_ref())
    }

    /// Inserts `entry`, returning the entry it replaced, if any.
    pub fn insert(&mut self, entry: Entry) -> Option<Entry> {
        self.note_deadline(entry.deadline());
        if entry.deadline().is_some() {
            self.expiring += 1;
        }
        if let Some(i) = self.position(entry.stored_hash(), entry.key()) {
            let old = self.slots[i].replace(entry);
            if let Some(old) = &old {
                self.forget_deadline(old);
            }
            return old;
        }
        if (self.len + 1) * MAX_LOAD_DEN > self.slots.len() * MAX_LOAD_NUM {
            self.resize(self.slots.len() + self.slots.len() / GROWTH_DIVISOR);
        }
        self.place(entry);
        self.len += 1;
        None
    }

    /// Records that an entry with `deadline` is now in the table.
    fn note_deadline(&mut self, deadline: Option<Millis>) {
        if let Some(Millis(ms)) = deadline {
            self.earliest = self.earliest.min(ms);
            self.scan.set_min = self.scan.set_min.min(ms);
        }
    }

    /// Records that `entry` left the table (or lost its deadline).
    fn forget_deadline(&mut self, entry: &Entry) {
        if entry.deadline().is_some() {
            self.expiring -= 1;
        }
    }

    /// Puts an entry known to be absent into the first empty slot of its run.
    fn place(&mut self, entry: Entry) {
        let mut i = self.home(entry.stored_hash());
        while self.slots[i].is_some() {
            i = self.next(i);
        }
        self.slots[i] = Some(entry);
    }

    pub fn remove(&mut self, hash: u32, key: &[u8]) -> Option<Entry> {
        let i = self.position(hash, key)?;
        self.remove_at(i, true)
    }

    /// Removes the entry whose [`Entry::id`] is `id`, if it is still here.
    pub fn remove_by_id(&mut self, hash: u32, id: usize) -> Option<Entry> {
        let i = self.position_of_id(hash, id)?;
        self.remove_at(i, true)
    }

    fn position_of_id(&self, hash: u32, id: usize) -> Option<usize> {
        let mut i = self.home(hash);
        loop {
            match &self.slots[i] {
                None => return None,
                Some(e) if e.id() == id => return Some(i),
                Some(_) => i = self.next(i),
            }
        }
    }

    fn remove_at(&mut self, i: usize, may_shrink: bool) -> Option<Entry> {
        let removed = self.slots[i].take()?;
        self.len -= 1;
        self.forget_deadline(&removed);
        // Backward shift: walk the rest of the run and move back every entry
        // whose home slot does not lie cyclically between the hole and it.
        let mut hole = i;
        let mut j = self.next(i);
        while let Some(e) = &self.slots[j] {
            let home = self.home(e.stored_hash());
            if self.distance(home, j) >= self.distance(hole, j) {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
            j = self.next(j);
        }
        if may_shrink {
            self.shrink_if_sparse();
        }
        Some(removed)
    }

    fn shrink_if_sparse(&mut self) {
        if self.slots.len() > MIN_CAPACITY && self.len * SHRINK_DEN < self.slots.len() {
            self.resize(self.slots.len() / 2);
        }
    }

    fn resize(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.slots, empty_slots(capacity));
        for entry in old.into_iter().flatten() {
            self.place(entry);
        }
        self.scan = Scan::new();
    }

    /// Sets or clears the deadline of `key`, in place when the entry has a
    /// deadline field. An expired entry is removed instead. When `value` is
    /// given, the entry's value is copied into it in the same step.
    pub fn set_deadline(
        &mut self,
        hash: u32,
        key: &[u8],
        now: Millis,
        deadline: Option<Millis>,
        value: Option<&mut Vec<u8>>,
    ) -> DeadlineChange {
        let Some(i) = self.position(hash, key) else {
            return DeadlineChange::Missing;
        };
        let Some(entry) = self.slots[i].as_mut() else {
            return DeadlineChange::Missing;
        };
        if entry.is_expired(now) {
            return match self.remove_at(i, true) {
                Some(e) => DeadlineChange::Expired(e),
                None => DeadlineChange::Missing,
            };
        }
        let had = entry.deadline().is_some();
        if entry.set_deadline(deadline).is_err() {
            return DeadlineChange::NeedsRebuild {
                id: entry.id(),
                len: entry.len_with_deadline_field(),
            };
        }
        entry.touch(now);
        if let Some(out) = value {
            out.clear();
            out.extend_from_slice(entry.value());
        }
        match (had, deadline.is_some()) {
            (false, true) => self.expiring += 1,
            (true, false) => self.expiring -= 1,
            _ => {}
        }
        self.note_deadline(deadline);
        DeadlineChange::Done
    }

    /// Replaces the entry whose id is `id` with `rebuilt` (the same key,
    /// rebuilt by [`Entry::rebuilt_with_deadline`] from a buffer allocated
    /// outside the lock). Hands `data` back when the entry is gone.
    pub fn rebuild(
        &mut self,
        hash: u32,
        id: usize,
        data: Vec<u8>,
        deadline: Option<Millis>,
        now: Millis,
        value: Option<&mut Vec<u8>>,
    ) -> Result<(), Vec<u8>> {
        let Some(i) = self.position_of_id(hash, id) else {
            return Err(data);
        };
        let Some(old) = self.slots[i].take() else {
            return Err(data);
        };
        let rebuilt = old.rebuilt_with_deadline(data, deadline);
        rebuilt.touch(now);
        if let Some(out) = value {
            out.clear();
            out.extend_from_slice(rebuilt.value());
        }
        if deadline.is_some() {
            self.expiring += 1;
        }
        self.note_deadline(deadline);
        self.forget_deadline(&old);
        self.slots[i] = Some(rebuilt);
        Ok(())
    }

    /// Examines up to `max_slots` slots from the scan cursor, moving the
    /// expired entries into `removed`. See the module's expiry bookkeeping.
    pub fn expire_chunk(
        &mut self,
        now: Millis,
        max_slots: usize,
        removed: &mut Vec<Entry>,
    ) -> Chunk {
        let mut chunk = Chunk::default();
        let capacity = self.slots.len();
        if self.scan.cursor == 0 {
            // A pass begins: what counts is what it sees from here on, and
            // what is set from here on (`earliest` holds everything before).
            self.scan = Scan::new();
        }
        let mut i = self.scan.cursor.min(capacity);
        let end = (i + max_slots).min(capacity);
        while i < end {
            let deadline = self.slots[i].as_ref().and_then(Entry::deadline);
            match deadline {
                Some(d) if d <= now => {
                    chunk.with_deadline += 1;
                    chunk.expired += 1;
                    if let Some(entry) = self.remove_at(i, false) {
                        removed.push(entry);
                    }
                    // The shift may have moved an unseen entry into slot i.
                }
                Some(d) => {
                    chunk.with_deadline += 1;
                    self.scan.seen_min = self.scan.seen_min.min(d.0);
                    i += 1;
                }
                None => i += 1,
            }
        }
        self.scan.cursor = i;
        if i >= capacity {
            chunk.pass_done = true;
            self.earliest = self.scan.seen_min.min(self.scan.set_min);
            self.scan = Scan::new();
            self.shrink_if_sparse();
        }
        chunk
    }

    /// The first full slot at or after slot `start` (taken modulo the
    /// capacity), or `None` when the table is empty.
    pub fn sample_from(&self, start: usize, now: Millis) -> Option<Sample> {
        if self.len == 0 {
            return None;
        }
        let mut i = start % self.slots.len();
        loop {
            if let Some(e) = &self.slots[i] {
                return Some(Sample {
                    hash: e.stored_hash(),
                    id: e.id(),
                    access: e.access(),
                    expired: e.is_expired(now),
                });
            }
            i = self.next(i);
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
        Entry::new(key, b"v", hash, Millis(0), None, false)
    }

    fn expiring(key: &[u8], hash: u32, at: u64) -> Entry {
        Entry::new(key, b"v", hash, Millis(0), Some(Millis(at)), false)
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
        // The smallest hash whose home is the last slot.
        let last = (((MIN_CAPACITY as u64 - 1) << HASH_WIDTH) / MIN_CAPACITY as u64) as u32;
        assert_eq!(Table::new().home(last), MIN_CAPACITY - 1);
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
        let hash = |i: u32| i.wrapping_mul(2_654_435_761) & HASH_BITS;
        let mut t = Table::new();
        for i in 0..10_000u32 {
            t.insert(entry(&i.to_le_bytes(), hash(i)));
        }
        assert_eq!(t.len(), 10_000);
        assert!(t.slots.len() * MAX_LOAD_NUM >= t.len() * MAX_LOAD_DEN);
        for i in 0..9_990u32 {
            assert!(t.remove(hash(i), &i.to_le_bytes()).is_some());
        }
        assert_eq!(t.len(), 10);
        assert!(t.slots.len() <= 10 * SHRINK_DEN * 2);
        for i in 9_990..10_000u32 {
            assert!(t.get(hash(i), &i.to_le_bytes()).is_some());
        }
    }

    #[test]
    fn entry_splits_key_value_and_deadline() {
        let e = Entry::new(b"user", b"alice", 1, Millis(0), None, false);
        assert_eq!(
            (e.key(), e.value(), e.size()),
            (&b"user"[..], &b"alice"[..], 9)
        );
        assert_eq!(e.deadline(), None);
        let e = Entry::new(b"user", b"alice", 1, Millis(0), Some(Millis(77)), false);
        assert_eq!(
            (e.key(), e.value(), e.size()),
            (&b"user"[..], &b"alice"[..], 9)
        );
        assert_eq!(e.deadline(), Some(Millis(77)));
        let empty = Entry::new(b"k", b"", 1, Millis(0), None, true);
        assert_eq!((empty.value(), empty.deadline()), (&b""[..], None));
    }

    /// A deadline set on an entry without a field asks for a rebuild; the
    /// rebuilt entry keeps key and value and counts as expiring.
    #[test]
    fn deadline_on_a_plain_entry_rebuilds_it() {
        let mut t = Table::new();
        t.insert(entry(b"k", 3));
        let change = t.set_deadline(3, b"k", Millis(0), Some(Millis(50)), None);
        let DeadlineChange::NeedsRebuild { id, len } = change else {
            panic!("expected a rebuild, got {change:?}");
        };
        let mut out = Vec::new();
        let data = Vec::with_capacity(len);
        assert!(t
            .rebuild(3, id, data, Some(Millis(50)), Millis(1), Some(&mut out))
            .is_ok());
        assert_eq!(out, b"v");
        assert_eq!(t.get(3, b"k").and_then(Entry::deadline), Some(Millis(50)));
        assert_eq!(t.earliest_deadline(), 50);
        assert!(matches!(
            t.set_deadline(3, b"k", Millis(0), None, None),
            DeadlineChange::Done
        ));
        assert_eq!(t.earliest_deadline(), u64::MAX);
    }

    /// A full pass removes exactly the expired entries and makes the
    /// earliest deadline exact.
    #[test]
    fn expiry_pass_removes_expired_and_tightens_the_bound() {
        let mut t = Table::new();
        for i in 0..200u32 {
            let at = if i % 2 == 0 { 10 } else { 1_000 + u64::from(i) };
            t.insert(expiring(
                &i.to_le_bytes(),
                i.wrapping_mul(40_503) & HASH_BITS,
                at,
            ));
        }
        t.insert(entry(b"plain", 9));
        let mut removed = Vec::new();
        let mut total = Chunk::default();
        loop {
            let c = t.expire_chunk(Millis(500), 16, &mut removed);
            total.expired += c.expired;
            if c.pass_done {
                break;
            }
        }
        assert_eq!(total.expired, 100);
        assert_eq!(removed.len(), 100);
        assert_eq!(t.len(), 101);
        assert_eq!(t.earliest_deadline(), 1_001);
        assert!(t.get(9, b"plain").is_some());
    }
}
