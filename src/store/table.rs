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
//! Each slot is an `Option<Slot>` of 16 bytes: 31 bits of the key's hash
//! plus a flag bit (4), the last-access tick (4) and the location of the
//! entry's record in the table's [`Slab`] (8). The record holds a 2-byte
//! key length, a 4-byte value length, then, only when the flag bit says so,
//! an 8-byte expiry deadline, then the key and the value. So an entry costs
//! one slot and one record of its size class, keys that never expire pay
//! nothing for expiry, and no entry is ever a call to the global allocator
//! (see [`super::slab`] for where records live and why).
//!
//! Entries enter the table as a [`NewEntry`] (borrowed key and value; only
//! a record too large for the slab is allocated, by the caller, before the
//! stripe lock is taken), are read through an [`EntryRef`] (the slot and
//! its record), and leave it as a [`Removed`] (what the byte count and the
//! counters need to know), their record already recycled, or, when it had
//! an allocation of its own, carried in the `Removed` so that the caller
//! frees it after releasing the lock. A record that large always has a
//! deadline field, so giving it a deadline never rewrites it.
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

use crate::copy;

use super::clock::Millis;
use super::slab::{Loc, Slab, MAX_SLAB_RECORD};
use super::Key;

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
/// leave it. Slots are a fifth of an entry's memory, so this matters.
const GROWTH_DIVISOR: usize = 2;

/// Random slots [`Table::draw`] tries before it walks from one. A table
/// is at least 1/8 full, so when one database holds all its entries, 64
/// tries all miss about once in 5,000 draws.
const UNIFORM_TRIES: usize = 64;

/// Bits of a stored hash (see [`HASH_BITS`]).
const HASH_WIDTH: u32 = 31;

/// The table halves when fewer than `1 / SHRINK_DEN` of its slots are full,
/// so random sampling never walks far over empty slots and memory freed by
/// mass deletion is returned.
const SHRINK_DEN: usize = 8;

/// Bytes of the key length at the start of a record.
const KEY_LEN_BYTES: usize = 2;

/// Bytes of the value length that follows it.
const VALUE_LEN_BYTES: usize = 4;

/// Bytes of both lengths.
const HEADER_BYTES: usize = KEY_LEN_BYTES + VALUE_LEN_BYTES;

/// Bytes of the deadline that follows the lengths when present.
const DEADLINE_BYTES: usize = 8;

/// The flag bit of a slot's hash: the record holds a deadline field.
const DEADLINE_FIELD: u32 = 1 << 31;

/// The bits of a key's hash that the table stores and compares.
pub const HASH_BITS: u32 = !DEADLINE_FIELD;

/// The longest key an entry can hold, in bytes.
pub const MAX_KEY_LEN: usize = u16::MAX as usize;

/// An entry about to be stored: borrowed bytes and bookkeeping, and the
/// whole record when it is too large for the slab.
#[derive(Debug)]
pub struct NewEntry<'a> {
    key: Key<'a>,
    value: &'a [u8],
    /// Masked by [`HASH_BITS`].
    hash: u32,
    access: u32,
    deadline: Option<Millis>,
    /// Give the record a deadline field even without a deadline, so that a
    /// later one fits in place.
    field: bool,
    /// The record, built outside the stripe lock, when it is larger than
    /// [`MAX_SLAB_RECORD`].
    record: Option<Box<[u8]>>,
}

impl<'a> NewEntry<'a> {
    /// An entry of `key` and `value`. `hash` is masked by the caller with
    /// [`HASH_BITS`]; `key.len() <= MAX_KEY_LEN` is guaranteed by
    /// [`super::Key`], and a value is at most 4 GiB by the limits above
    /// the store. A deadline field is made when `deadline_field` is set
    /// (its value may still be "none" so a later KEEPTTL can fill it).
    /// Call it before taking the stripe lock: a record too large for the
    /// slab is allocated and filled here.
    pub fn new(
        key: Key<'a>,
        value: &'a [u8],
        hash: u32,
        now: Millis,
        deadline: Option<Millis>,
        deadline_field: bool,
    ) -> NewEntry<'a> {
        let bytes = key.as_bytes();
        let huge = record_len(bytes.len(), value.len(), false) > MAX_SLAB_RECORD;
        let field = deadline_field || deadline.is_some() || huge;
        let record = huge.then(|| {
            let mut record = vec![0u8; record_len(bytes.len(), value.len(), true)];
            write_record(&mut record, bytes, value, true, deadline);
            record.into_boxed_slice()
        });
        NewEntry {
            key,
            value,
            hash,
            access: now.tick(),
            deadline,
            field,
            record,
        }
    }

    /// The same entry with `deadline` (KEEPTTL fills it in): the entry
    /// must have been made with a deadline field.
    pub fn with_deadline(mut self, deadline: Option<Millis>) -> NewEntry<'a> {
        self.deadline = deadline;
        self.field = true;
        if let Some(record) = self.record.as_mut() {
            record[HEADER_BYTES..HEADER_BYTES + DEADLINE_BYTES]
                .copy_from_slice(&deadline_bytes(deadline));
        }
        self
    }

    pub fn key(&self) -> Key<'a> {
        self.key
    }

    /// The key's hash, masked by [`HASH_BITS`].
    pub fn hash(&self) -> u32 {
        self.hash
    }

    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// When the entry will expire, if it will.
    pub fn deadline(&self) -> Option<Millis> {
        self.deadline
    }

    fn record_len(&self) -> usize {
        record_len(self.key.as_bytes().len(), self.value.len(), self.field)
    }

    /// Bytes this entry counts towards USAGE: key plus value.
    pub fn size(&self) -> u64 {
        (self.key.as_bytes().len() + self.value.len()) as u64
    }

    fn slot_hash(&self) -> u32 {
        self.hash | if self.field { DEADLINE_FIELD } else { 0 }
    }
}

fn record_len(key: usize, value: usize, field: bool) -> usize {
    HEADER_BYTES + if field { DEADLINE_BYTES } else { 0 } + key + value
}

/// Writes a record of `key`, `value` and, when `field`, `deadline` at the
/// start of `record`.
fn write_record(
    record: &mut [u8],
    key: &[u8],
    value: &[u8],
    field: bool,
    deadline: Option<Millis>,
) {
    record[..KEY_LEN_BYTES].copy_from_slice(&(key.len() as u16).to_le_bytes());
    record[KEY_LEN_BYTES..HEADER_BYTES].copy_from_slice(&(value.len() as u32).to_le_bytes());
    let mut at = HEADER_BYTES;
    if field {
        record[at..at + DEADLINE_BYTES].copy_from_slice(&deadline_bytes(deadline));
        at += DEADLINE_BYTES;
    }
    copy::copy(&mut record[at..], key);
    at += key.len();
    copy::copy(&mut record[at..], value);
}

/// A stored entry's slot: its hash, its last access and its record.
#[derive(Debug)]
struct Slot {
    /// The key's hash masked by [`HASH_BITS`], with [`DEADLINE_FIELD`] set
    /// when the record holds a deadline. Picks the home slot and rejects
    /// most mismatches without touching the record.
    hash: u32,
    /// Clock tick of the last GET or SET. Atomic so that a GET can refresh it
    /// under the stripe's read lock.
    access: AtomicU32,
    /// The record's location, tagged with the entry's database (see
    /// [`Loc::tagged`]): the database costs no byte of its own.
    loc: Loc,
}

impl Slot {
    fn db(&self) -> u16 {
        self.loc.tag()
    }

    fn stored_hash(&self) -> u32 {
        self.hash & HASH_BITS
    }

    fn has_deadline_field(&self) -> bool {
        self.hash & DEADLINE_FIELD != 0
    }
}

/// A stored entry, read in place: its slot and its record.
#[derive(Clone, Copy, Debug)]
pub struct EntryRef<'t> {
    slot: &'t Slot,
    record: &'t [u8],
}

impl<'t> EntryRef<'t> {
    fn key_start(&self) -> usize {
        HEADER_BYTES
            + if self.slot.has_deadline_field() {
                DEADLINE_BYTES
            } else {
                0
            }
    }

    fn key_len(&self) -> usize {
        u16::from_le_bytes([self.record[0], self.record[1]]) as usize
    }

    fn value_len(&self) -> usize {
        let mut bytes = [0u8; VALUE_LEN_BYTES];
        bytes.copy_from_slice(&self.record[KEY_LEN_BYTES..HEADER_BYTES]);
        u32::from_le_bytes(bytes) as usize
    }

    pub fn key(&self) -> &'t [u8] {
        let start = self.key_start();
        &self.record[start..start + self.key_len()]
    }

    /// The numbered database the entry belongs to.
    pub fn db(&self) -> u16 {
        self.slot.db()
    }

    /// The entry's key in its database.
    pub fn as_key(&self) -> Key<'t> {
        Key {
            bytes: self.key(),
            db: self.db(),
        }
    }

    pub fn value(&self) -> &'t [u8] {
        let start = self.key_start() + self.key_len();
        &self.record[start..start + self.value_len()]
    }

    /// Bytes this entry counts towards USAGE: key plus value.
    pub fn size(&self) -> u64 {
        (self.key_len() + self.value_len()) as u64
    }

    /// Bytes the entry occupies in its table: its slot and its whole
    /// record (the record's size class, or its own allocation), not the
    /// share of empty slots the load factor keeps beside it.
    pub fn footprint(&self) -> usize {
        std::mem::size_of::<Option<Slot>>() + self.record.len()
    }

    /// When this entry expires, if it does.
    pub fn deadline(&self) -> Option<Millis> {
        if !self.slot.has_deadline_field() {
            return None;
        }
        let mut bytes = [0u8; DEADLINE_BYTES];
        bytes.copy_from_slice(&self.record[HEADER_BYTES..HEADER_BYTES + DEADLINE_BYTES]);
        match u64::from_le_bytes(bytes) {
            0 => None,
            ms => Some(Millis(ms)),
        }
    }

    /// Whether the entry is expired at `now`: its deadline has come.
    pub fn is_expired(&self, now: Millis) -> bool {
        self.deadline().is_some_and(|d| d <= now)
    }

    pub fn access(&self) -> u32 {
        self.slot.access.load(Ordering::Relaxed)
    }

    /// Records an access at `now`. Stores only when the tick changed, so a
    /// hot key read many times per tick does not keep dirtying its cache line.
    pub fn touch(&self, now: Millis) {
        let tick = now.tick();
        if self.slot.access.load(Ordering::Relaxed) != tick {
            self.slot.access.store(tick, Ordering::Relaxed);
        }
    }

    /// Identity of this entry while it lives: its record's location.
    /// Eviction uses it to find again, under the write lock, the very entry
    /// it sampled under a read lock.
    pub fn id(&self) -> usize {
        self.slot.loc.id()
    }

    pub fn stored_hash(&self) -> u32 {
        self.slot.stored_hash()
    }
}

/// What the table reports of an entry it removed or replaced. Drop it
/// after releasing the stripe lock: it may own a large record.
#[derive(Debug)]
pub struct Removed {
    size: u64,
    /// The entry's stored hash.
    hash: u32,
    db: u16,
    deadline: Option<Millis>,
    /// The record, when it had an allocation of its own.
    record: Option<Box<[u8]>>,
}

impl Removed {
    fn of(entry: &EntryRef<'_>) -> Removed {
        Removed {
            size: entry.size(),
            hash: entry.stored_hash(),
            db: entry.db(),
            deadline: entry.deadline(),
            record: None,
        }
    }

    /// Bytes the entry counted towards USAGE.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The entry's stored hash.
    pub fn hash(&self) -> u32 {
        self.hash
    }

    /// The entry's database.
    pub fn db(&self) -> u16 {
        self.db
    }

    pub fn is_expired(&self, now: Millis) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }

    /// Separates the large record this entry owned, if any, so that it
    /// can be freed later.
    pub fn detach(mut self) -> (Removed, Option<Box<[u8]>>) {
        let record = self.record.take();
        (self, record)
    }
}

/// A deadline as stored: little-endian milliseconds, 0 for none.
fn deadline_bytes(deadline: Option<Millis>) -> [u8; 8] {
    deadline.map_or(0, |d| d.0).to_le_bytes()
}

/// What random sampling reports about one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub hash: u32,
    pub id: usize,
    pub access: u32,
    pub expired: bool,
}

impl Sample {
    fn of(entry: &EntryRef<'_>, now: Millis) -> Sample {
        Sample {
            hash: entry.stored_hash(),
            id: entry.id(),
            access: entry.access(),
            expired: entry.is_expired(now),
        }
    }
}

/// What setting a deadline did.
#[derive(Debug)]
pub enum DeadlineChange {
    /// No such key.
    Missing,
    /// The key had expired; it was removed.
    Expired(Removed),
    /// The condition said no; nothing changed.
    Refused,
    /// The deadline is set; `had` says whether the key had one before.
    Done { had: bool },
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
    slots: Vec<Option<Slot>>,
    /// The records of the entries in `slots`.
    slab: Slab,
    len: usize,
    /// Entries with a deadline.
    expiring: usize,
    /// Entries, and entries with a deadline, of each database, indexed by
    /// database: as long as the highest database that ever had an entry
    /// here needs (DBSIZE and INFO keyspace read it).
    dbs: Vec<DbCount>,
    /// No deadline here is earlier than this (milliseconds).
    earliest: u64,
    scan: Scan,
    /// Changes made to this table's keys, counted per bucket of their hash
    /// (see [`Table::version`]), wrapping: what WATCH compares.
    versions: [u64; VERSION_BUCKETS],
    /// Advanced by SWAPDB, which disturbs every watch on the table (a
    /// flush's new table carries on the old one's versions instead).
    epoch: u64,
}

/// One database's share of a table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbCount {
    pub keys: usize,
    pub expiring: usize,
}

/// Buckets of [`Table::version`] per table: a change to one key advances
/// only the bucket its hash picks, so a watch is disturbed by the changes
/// to about one key in 64 × 16 = 1,024 (its stripe's and bucket's), not
/// one in 64. Sixteen 8-byte counters are the two cache lines a stripe is
/// aligned to.
pub const VERSION_BUCKETS: usize = 16;

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}

impl Table {
    pub fn new() -> Table {
        Table {
            slots: empty_slots(MIN_CAPACITY),
            slab: Slab::new(),
            len: 0,
            expiring: 0,
            dbs: Vec::new(),
            earliest: u64::MAX,
            scan: Scan::new(),
            versions: [0; VERSION_BUCKETS],
            epoch: 0,
        }
    }

    /// A value that changes whenever the entry of database `db` whose
    /// stored hash is `hash` (or another in its bucket, see
    /// [`VERSION_BUCKETS`]; the database shifts the bucket, so the same
    /// name in the first sixteen databases has sixteen buckets) is stored,
    /// removed or has its deadline changed (every
    /// [`super::guard::WriteGuard`] change counts), and that no table goes
    /// back to while a watch may hold it: a flush's new table goes on from
    /// the old one's versions.
    pub fn version(&self, hash: u32, db: u16) -> (u64, u64) {
        (self.epoch, self.versions[bucket(hash, db)])
    }

    /// Counts one change to the entry of database `db` whose stored hash
    /// is `hash`.
    pub fn changed(&mut self, hash: u32, db: u16) {
        let version = &mut self.versions[bucket(hash, db)];
        *version = version.wrapping_add(1);
    }

    /// Counts a change to every entry at once (SWAPDB).
    pub fn changed_all(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// Makes this table, new, the successor of `previous`, which a flush
    /// emptied: it goes on from `previous`'s versions, with every removed
    /// entry counted as changed, so a flush disturbs the watches of the
    /// keys it removed and no other (as Redis: WATCH of a key that did not
    /// exist survives FLUSHALL).
    pub fn succeed(&mut self, previous: &Table) {
        self.epoch = previous.epoch;
        self.versions = previous.versions;
        for entry in previous.iter() {
            self.changed(entry.stored_hash(), entry.db());
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Entries, and entries with a deadline, of database `db`.
    pub fn db_count(&self, db: u16) -> DbCount {
        self.dbs.get(usize::from(db)).copied().unwrap_or_default()
    }

    /// Adds `keys` entries and `expiring` entries with a deadline to the
    /// counts of database `db` (and the table's): every change of either
    /// goes through here.
    fn count(&mut self, db: u16, keys: isize, expiring: isize) {
        // An overwrite that keeps the key's deadline (or lack of one)
        // changes no count: spare it the database's counts, another cache
        // line.
        if keys == 0 && expiring == 0 {
            return;
        }
        let db = usize::from(db);
        if db >= self.dbs.len() {
            self.dbs.resize(db + 1, DbCount::default());
        }
        let counts = &mut self.dbs[db];
        counts.keys = counts.keys.wrapping_add_signed(keys);
        counts.expiring = counts.expiring.wrapping_add_signed(expiring);
        self.len = self.len.wrapping_add_signed(keys);
        self.expiring = self.expiring.wrapping_add_signed(expiring);
    }

    /// Entries with a deadline.
    #[cfg(test)]
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

    /// The entry in `slot`, read in place.
    fn entry<'t>(&'t self, slot: &'t Slot) -> EntryRef<'t> {
        EntryRef {
            slot,
            record: self.slab.bytes(slot.loc),
        }
    }

    /// The entry in slot `i`, if it is full.
    fn entry_at(&self, i: usize) -> Option<EntryRef<'_>> {
        self.slots[i].as_ref().map(|slot| self.entry(slot))
    }

    fn position(&self, hash: u32, key: Key<'_>) -> Option<usize> {
        self.probe(hash, |slot| {
            slot.stored_hash() == hash
                && slot.db() == key.db
                && copy::equal(self.entry(slot).key(), key.bytes)
        })
    }

    /// The first slot of `hash`'s run, from its home to the next empty
    /// slot, that `matches`: the one probe every lookup walks.
    #[inline(always)]
    fn probe(&self, hash: u32, matches: impl Fn(&Slot) -> bool) -> Option<usize> {
        let mut i = self.home(hash);
        loop {
            match &self.slots[i] {
                None => return None,
                Some(slot) if matches(slot) => return Some(i),
                Some(_) => i = self.next(i),
            }
        }
    }

    /// Loads the home slot of `hash`, for [`crate::store::Store::prefetch`]:
    /// returns a number derived from it without branching on it, so that
    /// the loads of several calls overlap.
    pub fn load_home(&self, hash: u32) -> u32 {
        u32::from(self.slots[self.home(hash)].is_some())
    }

    /// Loads the first and last byte of the record of the first slot from
    /// `hash`'s home that holds `hash` (a record may straddle two cache
    /// lines), for [`crate::store::Store::prefetch`]. The probe branches
    /// only on slots, which [`Table::load_home`] brought into cache; the
    /// bytes loaded are returned, not inspected.
    pub fn load_record(&self, hash: u32) -> u32 {
        let Some(slot) = self
            .probe(hash, |slot| slot.stored_hash() == hash)
            .and_then(|i| self.slots[i].as_ref())
        else {
            return 0;
        };
        let record = self.slab.bytes(slot.loc);
        let first = record.first().copied().unwrap_or(0);
        let last = record.last().copied().unwrap_or(0);
        u32::from(first) + u32::from(last)
    }

    pub fn get(&self, hash: u32, key: Key<'_>) -> Option<EntryRef<'_>> {
        self.position(hash, key).and_then(|i| self.entry_at(i))
    }

    /// Stores `entry`, replacing the key's entry if there is one, and
    /// reports what it replaced. An overwrite whose record stays in its
    /// size class is written in place; otherwise the old record is freed
    /// and a new one taken from the slab.
    pub fn insert(&mut self, mut entry: NewEntry<'_>) -> Option<Removed> {
        self.note_deadline(entry.deadline);
        let db = entry.key.db;
        let expiring = isize::from(entry.deadline.is_some());
        if let Some(i) = self.position(entry.hash, entry.key) {
            let slot = self.slots[i].as_ref()?;
            let mut replaced = Removed::of(&self.entry(slot));
            let old = slot.loc;
            let loc = if entry.record.is_none() && self.slab.fits(old, entry.record_len()) {
                self.write(old, &entry);
                old
            } else {
                replaced.record = self.slab.free(old);
                self.store(&mut entry)
            };
            self.slots[i] = Some(Slot {
                hash: entry.slot_hash(),
                access: AtomicU32::new(entry.access),
                loc: loc.tagged(db),
            });
            let was_expiring = isize::from(replaced.deadline.is_some());
            self.count(db, 0, expiring - was_expiring);
            return Some(replaced);
        }
        if (self.len + 1) * MAX_LOAD_DEN > self.slots.len() * MAX_LOAD_NUM {
            self.resize(self.slots.len() + self.slots.len() / GROWTH_DIVISOR);
        }
        let loc = self.store(&mut entry);
        self.place(Slot {
            hash: entry.slot_hash(),
            access: AtomicU32::new(entry.access),
            loc: loc.tagged(db),
        });
        self.count(db, 1, expiring);
        None
    }

    /// Puts `entry`'s record in the slab: the one built for it, or a new
    /// one filled here.
    fn store(&mut self, entry: &mut NewEntry<'_>) -> Loc {
        match entry.record.take() {
            Some(record) => self.slab.adopt(record),
            None => {
                let loc = self.slab.alloc(entry.record_len());
                self.write(loc, entry);
                loc
            }
        }
    }

    fn write(&mut self, loc: Loc, entry: &NewEntry<'_>) {
        let record = self.slab.bytes_mut(loc);
        write_record(
            record,
            entry.key.bytes,
            entry.value,
            entry.field,
            entry.deadline,
        );
    }

    /// Records that an entry with `deadline` is now in the table.
    fn note_deadline(&mut self, deadline: Option<Millis>) {
        if let Some(Millis(ms)) = deadline {
            self.earliest = self.earliest.min(ms);
            self.scan.set_min = self.scan.set_min.min(ms);
        }
    }

    /// Puts a slot whose key is known to be absent into the first empty
    /// slot of its run.
    fn place(&mut self, slot: Slot) {
        let mut i = self.home(slot.stored_hash());
        while self.slots[i].is_some() {
            i = self.next(i);
        }
        self.slots[i] = Some(slot);
    }

    /// Removes `key`. When `out` is given and the entry is live at `now`,
    /// its value is copied there first.
    pub fn remove(
        &mut self,
        hash: u32,
        key: Key<'_>,
        now: Millis,
        out: Option<&mut Vec<u8>>,
    ) -> Option<Removed> {
        let i = self.position(hash, key)?;
        if let (Some(out), Some(entry)) = (out, self.entry_at(i)) {
            if !entry.is_expired(now) {
                out.clear();
                out.extend_from_slice(entry.value());
            }
        }
        self.remove_at(i, true)
    }

    /// Removes the entry whose [`EntryRef::id`] is `id`, if it is still
    /// here.
    pub fn remove_by_id(&mut self, hash: u32, id: usize) -> Option<Removed> {
        let i = self.position_of_id(hash, id)?;
        self.remove_at(i, true)
    }

    /// The entry whose [`EntryRef::id`] is `id`, if it is still here.
    pub fn get_by_id(&self, hash: u32, id: usize) -> Option<EntryRef<'_>> {
        self.entry_at(self.position_of_id(hash, id)?)
    }

    fn position_of_id(&self, hash: u32, id: usize) -> Option<usize> {
        self.probe(hash, |slot| {
            slot.loc.id() == id && slot.stored_hash() == hash
        })
    }

    fn remove_at(&mut self, i: usize, may_shrink: bool) -> Option<Removed> {
        let slot = self.slots[i].take()?;
        let mut removed = Removed::of(&self.entry(&slot));
        removed.record = self.slab.free(slot.loc);
        self.count(removed.db, -1, -isize::from(removed.deadline.is_some()));
        // Backward shift: walk the rest of the run and move back every entry
        // whose home slot does not lie cyclically between the hole and it.
        let mut hole = i;
        let mut j = self.next(i);
        while let Some(slot) = &self.slots[j] {
            let home = self.home(slot.stored_hash());
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
            self.resize((self.slots.len() / 2).max(MIN_CAPACITY));
        }
    }

    fn resize(&mut self, capacity: usize) {
        let old = std::mem::replace(&mut self.slots, empty_slots(capacity));
        for slot in old.into_iter().flatten() {
            self.place(slot);
        }
        self.scan = Scan::new();
    }

    /// Sets or clears the deadline of `key`, if `allowed(current deadline)`
    /// says so. An expired entry is removed instead. When `value` is given,
    /// the entry's value is copied into it in the same step. A record
    /// without a deadline field that is to get a deadline is rewritten with
    /// one, in a record of the size that needs.
    pub fn set_deadline(
        &mut self,
        hash: u32,
        key: Key<'_>,
        now: Millis,
        deadline: Option<Millis>,
        value: Option<&mut Vec<u8>>,
        allowed: &dyn Fn(Option<Millis>) -> bool,
    ) -> DeadlineChange {
        let Some(i) = self.position(hash, key) else {
            return DeadlineChange::Missing;
        };
        let Some(entry) = self.entry_at(i) else {
            return DeadlineChange::Missing;
        };
        if entry.is_expired(now) {
            return match self.remove_at(i, true) {
                Some(removed) => DeadlineChange::Expired(removed),
                None => DeadlineChange::Missing,
            };
        }
        if !allowed(entry.deadline()) {
            return DeadlineChange::Refused;
        }
        entry.touch(now);
        if let Some(out) = value {
            out.clear();
            out.extend_from_slice(entry.value());
        }
        let had = entry.deadline().is_some();
        let field = entry.slot.has_deadline_field();
        if field {
            let record = self.slab.bytes_mut(entry.slot.loc);
            record[HEADER_BYTES..HEADER_BYTES + DEADLINE_BYTES]
                .copy_from_slice(&deadline_bytes(deadline));
        } else if deadline.is_some() {
            self.add_deadline_field(i, deadline);
        }
        self.count(
            key.db,
            0,
            isize::from(deadline.is_some()) - isize::from(had),
        );
        self.note_deadline(deadline);
        DeadlineChange::Done { had }
    }

    /// Rewrites the entry in slot `i`, which has no deadline field, with
    /// one holding `deadline`.
    fn add_deadline_field(&mut self, i: usize, deadline: Option<Millis>) {
        let Some(entry) = self.entry_at(i) else {
            return;
        };
        let (key_len, value_len) = (entry.key_len(), entry.value_len());
        let old = entry.slot.loc;
        let len = record_len(key_len, value_len, true);
        let loc = self.slab.alloc(len);
        // The key and value move from the old record to the new one, both
        // in the slab, so they go through a copy of their own: a rare path
        // (a deadline given to a key stored without one), and small.
        let mut moved = Vec::with_capacity(key_len + value_len);
        moved.extend_from_slice(
            &self.slab.bytes(old)[HEADER_BYTES..HEADER_BYTES + key_len + value_len],
        );
        let (key, value) = moved.split_at(key_len);
        write_record(self.slab.bytes_mut(loc), key, value, true, deadline);
        // Only slab records lack a deadline field, so nothing comes back.
        let _ = self.slab.free(old);
        if let Some(slot) = self.slots[i].as_mut() {
            slot.loc = loc.tagged(slot.db());
            slot.hash |= DEADLINE_FIELD;
        }
    }

    /// Examines up to `max_slots` slots from the scan cursor, removing the
    /// expired entries and reporting them in `removed`, and each one's key
    /// to `on_key` just before it goes. See the module's expiry
    /// bookkeeping.
    pub fn expire_chunk(
        &mut self,
        now: Millis,
        max_slots: usize,
        removed: &mut Vec<Removed>,
        on_key: &mut dyn FnMut(Key<'_>),
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
            let deadline = self.entry_at(i).and_then(|e| e.deadline());
            match deadline {
                Some(d) if d <= now => {
                    chunk.with_deadline += 1;
                    chunk.expired += 1;
                    if let Some(entry) = self.entry_at(i) {
                        on_key(entry.as_key());
                    }
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
    /// capacity), of database `db` when given, or `None` when the table
    /// has no such entry.
    pub fn sample_from(&self, start: usize, now: Millis, db: Option<u16>) -> Option<Sample> {
        let present = match db {
            None => self.len,
            Some(db) => self.db_count(db).keys,
        };
        if present == 0 {
            return None;
        }
        let mut i = start % self.slots.len();
        loop {
            let entry = self
                .entry_at(i)
                .filter(|e| db.map_or(true, |db| e.db() == db));
            if let Some(e) = entry {
                return Some(Sample::of(&e, now));
            }
            i = self.next(i);
        }
    }

    /// An entry of database `db` drawn uniformly at random (RANDOMKEY), or
    /// `None` when the table has none: up to [`UNIFORM_TRIES`] slots picked
    /// with `random`, the first that holds one of `db`'s entries, so every
    /// entry is as likely as any other. When all of them miss (the
    /// database holds few of the table's entries), the first entry from a
    /// random slot on, as [`Table::sample_from`] draws: close to uniform.
    pub fn draw(&self, random: &mut dyn FnMut() -> u64, now: Millis, db: u16) -> Option<Sample> {
        if self.db_count(db).keys == 0 {
            return None;
        }
        for _ in 0..UNIFORM_TRIES {
            let i = (random() % self.slots.len() as u64) as usize;
            if let Some(e) = self.entry_at(i).filter(|e| e.db() == db) {
                return Some(Sample::of(&e, now));
            }
        }
        self.sample_from(random() as usize, now, Some(db))
    }

    /// Total size of the entries, as counted towards USAGE.
    pub fn bytes(&self) -> u64 {
        self.iter().map(|e| e.size()).sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> {
        self.slots.iter().flatten().map(|slot| self.entry(slot))
    }

    /// Removes every entry of database `db` (FLUSHDB), rebuilding the
    /// slots as a resize does, and returns what it removed: the caller
    /// takes them out of the count and frees their large records after
    /// the lock.
    pub fn remove_db(&mut self, db: u16) -> Vec<Removed> {
        let counts = self.db_count(db);
        if counts.keys == 0 {
            return Vec::new();
        }
        let mut removed = Vec::with_capacity(counts.keys);
        let capacity = self.slots.len();
        let old = std::mem::replace(&mut self.slots, empty_slots(capacity));
        for slot in old.into_iter().flatten() {
            if slot.db() != db {
                self.place(slot);
                continue;
            }
            let mut gone = Removed::of(&self.entry(&slot));
            gone.record = self.slab.free(slot.loc);
            self.changed(gone.hash, db);
            removed.push(gone);
        }
        self.count(db, -(counts.keys as isize), -(counts.expiring as isize));
        self.scan = Scan::new();
        self.shrink_if_sparse();
        removed
    }

    /// Exchanges databases `a` and `b` (SWAPDB): every entry of one is
    /// relabelled as the other's, in place (the database is not in the
    /// hash, so no entry moves). Every watch on the table is disturbed.
    pub fn swap_dbs(&mut self, a: u16, b: u16) {
        if self.db_count(a).keys + self.db_count(b).keys == 0 {
            return;
        }
        for slot in self.slots.iter_mut().flatten() {
            let db = slot.db();
            if db == a || db == b {
                slot.loc = slot.loc.tagged(if db == a { b } else { a });
            }
        }
        let high = usize::from(a.max(b));
        if high >= self.dbs.len() {
            self.dbs.resize(high + 1, DbCount::default());
        }
        self.dbs.swap(usize::from(a), usize::from(b));
        self.changed_all();
    }
}

/// The version bucket of an entry of database `db` with stored hash
/// `hash`.
fn bucket(hash: u32, db: u16) -> usize {
    (hash as usize).wrapping_add(usize::from(db)) % VERSION_BUCKETS
}

fn empty_slots(capacity: usize) -> Vec<Option<Slot>> {
    let mut slots = Vec::with_capacity(capacity);
    slots.resize_with(capacity, || None);
    slots
}

#[cfg(test)]
mod tests {
    use super::super::tests::TestRng;
    use super::*;
    use std::collections::HashMap;

    fn k(bytes: &[u8]) -> Key<'_> {
        Key::new(bytes).unwrap()
    }

    fn entry(key: &[u8], hash: u32) -> NewEntry<'_> {
        NewEntry::new(k(key), b"v", hash, Millis(0), None, false)
    }

    fn expiring(key: &[u8], hash: u32, at: u64) -> NewEntry<'_> {
        NewEntry::new(k(key), b"v", hash, Millis(0), Some(Millis(at)), false)
    }

    /// Keys that all share one home slot force long runs, so deletion must
    /// shift correctly for the survivors to stay reachable.
    #[test]
    fn colliding_keys_stay_reachable_after_deletes() {
        let mut t = Table::new();
        let keys: Vec<Vec<u8>> = (0..40u32).map(|i| i.to_le_bytes().to_vec()).collect();
        for key in &keys {
            assert!(t.insert(entry(key, 7)).is_none());
        }
        for key in keys.iter().step_by(3) {
            assert!(t.remove(7, k(key), Millis(0), None).is_some());
        }
        for (n, key) in keys.iter().enumerate() {
            assert_eq!(t.get(7, k(key)).is_some(), n % 3 != 0, "key {n}");
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
        assert!(t.remove(last, k(&[0]), Millis(0), None).is_some());
        for i in 1..5u8 {
            assert!(t.get(last, k(&[i])).is_some());
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
            assert!(t
                .remove(hash(i), k(&i.to_le_bytes()), Millis(0), None)
                .is_some());
        }
        assert_eq!(t.len(), 10);
        assert!(t.slots.len() <= 10 * SHRINK_DEN * 2);
        for i in 9_990..10_000u32 {
            assert!(t.get(hash(i), k(&i.to_le_bytes())).is_some());
        }
    }

    #[test]
    fn records_split_key_value_and_deadline() {
        let mut t = Table::new();
        t.insert(NewEntry::new(
            k(b"user"),
            b"alice",
            1,
            Millis(0),
            None,
            false,
        ));
        let e = t.get(1, k(b"user")).unwrap();
        assert_eq!(
            (e.key(), e.value(), e.size()),
            (&b"user"[..], &b"alice"[..], 9)
        );
        assert_eq!(e.deadline(), None);
        t.insert(NewEntry::new(
            k(b"user"),
            b"alice",
            1,
            Millis(0),
            Some(Millis(77)),
            false,
        ));
        let e = t.get(1, k(b"user")).unwrap();
        assert_eq!(
            (e.key(), e.value(), e.size()),
            (&b"user"[..], &b"alice"[..], 9)
        );
        assert_eq!(e.deadline(), Some(Millis(77)));
        t.insert(NewEntry::new(k(b"k"), b"", 2, Millis(0), None, true));
        let empty = t.get(2, k(b"k")).unwrap();
        assert_eq!((empty.value(), empty.deadline()), (&b""[..], None));
    }

    /// An overwrite that stays in its size class keeps its record; one
    /// that leaves it moves, and the reported entry is the old one.
    #[test]
    fn overwrites_stay_in_place_within_a_class() {
        let mut t = Table::new();
        t.insert(NewEntry::new(
            k(b"k"),
            &[b'a'; 40],
            5,
            Millis(0),
            None,
            false,
        ));
        let first = t.get(5, k(b"k")).unwrap().id();
        let old = t.insert(NewEntry::new(
            k(b"k"),
            &[b'b'; 41],
            5,
            Millis(0),
            None,
            false,
        ));
        assert_eq!(old.map(|o| o.size()), Some(41));
        assert_eq!(t.get(5, k(b"k")).unwrap().id(), first);
        assert_eq!(t.get(5, k(b"k")).unwrap().value(), &[b'b'; 41][..]);
        t.insert(NewEntry::new(
            k(b"k"),
            &[b'c'; 400],
            5,
            Millis(0),
            None,
            false,
        ));
        let moved = t.get(5, k(b"k")).unwrap();
        assert_ne!(moved.id(), first);
        assert_eq!(moved.value(), &[b'c'; 400][..]);
    }

    /// A deadline set on an entry without a field rewrites its record with
    /// one; key and value survive and the entry counts as expiring.
    #[test]
    fn deadline_on_a_plain_entry_moves_it_to_a_record_with_a_field() {
        let mut t = Table::new();
        t.insert(entry(b"k", 3));
        let mut out = Vec::new();
        let change = t.set_deadline(
            3,
            k(b"k"),
            Millis(1),
            Some(Millis(50)),
            Some(&mut out),
            &|_| true,
        );
        assert!(matches!(change, DeadlineChange::Done { had: false }));
        assert_eq!(out, b"v");
        let e = t.get(3, k(b"k")).unwrap();
        assert_eq!(
            (e.key(), e.value(), e.deadline()),
            (&b"k"[..], &b"v"[..], Some(Millis(50)))
        );
        assert_eq!((t.expiring(), t.earliest_deadline()), (1, 50));
        assert!(matches!(
            t.set_deadline(3, k(b"k"), Millis(0), None, None, &|_| true),
            DeadlineChange::Done { had: true }
        ));
        assert_eq!(t.earliest_deadline(), u64::MAX);
    }

    /// A full pass removes exactly the expired entries and makes the
    /// earliest deadline exact.
    #[test]
    fn expiry_pass_removes_expired_and_tightens_the_bound() {
        let mut t = Table::new();
        let keys: Vec<[u8; 4]> = (0..200u32).map(u32::to_le_bytes).collect();
        for (i, key) in keys.iter().enumerate() {
            let i = i as u32;
            let at = if i % 2 == 0 { 10 } else { 1_000 + u64::from(i) };
            t.insert(expiring(key, i.wrapping_mul(40_503) & HASH_BITS, at));
        }
        t.insert(entry(b"plain", 9));
        let mut removed = Vec::new();
        let mut total = Chunk::default();
        loop {
            let c = t.expire_chunk(Millis(500), 16, &mut removed, &mut |_| {});
            total.expired += c.expired;
            if c.pass_done {
                break;
            }
        }
        assert_eq!(total.expired, 100);
        assert_eq!(removed.len(), 100);
        assert_eq!(t.len(), 101);
        assert_eq!(t.earliest_deadline(), 1_001);
        assert!(t.get(9, k(b"plain")).is_some());
    }

    /// A slot is 16 bytes, with `None` in the location's niche: the figure
    /// the README's memory accounting gives.
    #[test]
    fn a_slot_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Option<Slot>>(), 16);
    }

    /// The table against `std::collections::HashMap`, on thousands of keys
    /// in four databases whose hashes often collide (the same name in
    /// every database has the same hash): random inserts of values of
    /// every size class and beyond, removals by key and by identity,
    /// deadline changes, the expiry scan, and now and then a database
    /// flushed or two swapped, with the length, the expiring count, each
    /// database's counts, the bytes, every value and the earliest-deadline
    /// bound checked after each step.
    #[test]
    fn behaves_like_a_hash_map() {
        const DBS: u16 = 4;
        type Model = HashMap<(u16, Vec<u8>), (Vec<u8>, Option<u64>)>;
        for seed in 1..=4 {
            let mut rng = TestRng(seed);
            let mut table = Table::new();
            let mut model: Model = HashMap::new();
            let hash_of = |key: &[u8]| {
                // Few distinct hashes: long probe runs and many shifts.
                let n = u32::from_le_bytes([key[0], key[1], 0, 0]);
                (n % 997).wrapping_mul(2_654_435_761) & HASH_BITS
            };
            let mut now = 0u64;
            let mut removed = Vec::new();
            for step in 0..20_000 {
                let db = rng.below(u64::from(DBS)) as u16;
                let name = (rng.below(3_000) as u16).to_le_bytes().to_vec();
                let key = Key::new(&name).unwrap().in_db(db);
                let id = (db, name.clone());
                let hash = hash_of(&name);
                match rng.below(100) {
                    0..=44 => {
                        let len = match rng.below(4) {
                            0 => rng.below(8),
                            1 => rng.below(200),
                            2 => rng.below(2_100),
                            _ => rng.below(5_000),
                        } as usize;
                        let value = vec![(step % 251) as u8; len];
                        let deadline = (rng.below(3) == 0).then(|| now + 1 + rng.below(50));
                        let field = rng.below(2) == 0;
                        let entry = NewEntry::new(
                            key,
                            &value,
                            hash,
                            Millis(now),
                            deadline.map(Millis),
                            field,
                        );
                        let old = table.insert(entry);
                        let expected = model.insert(id, (value, deadline));
                        assert_eq!(
                            old.map(|o| o.size()),
                            expected.map(|(v, _)| (name.len() + v.len()) as u64)
                        );
                    }
                    45..=64 => {
                        let old = table.remove(hash, key, Millis(now), None);
                        assert_eq!(old.is_some(), model.remove(&id).is_some());
                    }
                    65..=74 => {
                        let entry = table.get(hash, key).map(|e| e.id());
                        if let Some(entry) = entry {
                            let gone = table.remove_by_id(hash, entry);
                            assert_eq!(gone.map(|g| g.db()), Some(db));
                            model.remove(&id);
                        }
                    }
                    75..=84 => {
                        let deadline = (rng.below(2) == 0).then(|| now + 1 + rng.below(50));
                        let live = model
                            .get(&id)
                            .is_some_and(|(_, d)| d.map_or(true, |d| d > now));
                        // Always, only without a deadline (NX), or only with one (XX).
                        let condition = rng.below(3);
                        let allowed = |current: Option<Millis>| match condition {
                            0 => true,
                            1 => current.is_none(),
                            _ => current.is_some(),
                        };
                        let change = table.set_deadline(
                            hash,
                            key,
                            Millis(now),
                            deadline.map(Millis),
                            None,
                            &allowed,
                        );
                        match change {
                            DeadlineChange::Done { had } => {
                                assert!(live);
                                assert!(allowed(model[&id].1.map(Millis)));
                                assert_eq!(had, model[&id].1.is_some());
                                model.get_mut(&id).unwrap().1 = deadline;
                            }
                            DeadlineChange::Refused => {
                                assert!(live);
                                assert!(!allowed(model[&id].1.map(Millis)));
                            }
                            DeadlineChange::Expired(_) => {
                                assert!(!live);
                                model.remove(&id);
                            }
                            DeadlineChange::Missing => assert!(!model.contains_key(&id)),
                        }
                    }
                    85 => {
                        let gone = table.remove_db(db);
                        let before = model.len();
                        model.retain(|(d, _), _| *d != db);
                        assert_eq!(gone.len(), before - model.len());
                        assert!(gone.iter().all(|g| g.db() == db));
                    }
                    86 => {
                        let other = rng.below(u64::from(DBS)) as u16;
                        table.swap_dbs(db, other);
                        model = model
                            .into_iter()
                            .map(|((d, k), v)| {
                                let d = match d {
                                    d if d == db => other,
                                    d if d == other => db,
                                    d => d,
                                };
                                ((d, k), v)
                            })
                            .collect();
                    }
                    _ => {
                        now += rng.below(5);
                        removed.clear();
                        table.expire_chunk(Millis(now), 64, &mut removed, &mut |_| {});
                        // The model drops what the scan dropped: expired
                        // entries, each at most once.
                        let before = model.len();
                        let expired: Vec<(u16, Vec<u8>)> = model
                            .iter()
                            .filter(|((d, k), (_, deadline))| {
                                let key = Key::new(k).unwrap().in_db(*d);
                                deadline.is_some_and(|t| t <= now)
                                    && table.get(hash_of(k), key).is_none()
                            })
                            .map(|(id, _)| id.clone())
                            .collect();
                        for id in &expired {
                            model.remove(id);
                        }
                        assert_eq!(before - model.len(), removed.len());
                    }
                }
                assert_eq!(table.len(), model.len(), "step {step}");
                let expiring = model.values().filter(|(_, d)| d.is_some()).count();
                assert_eq!(table.expiring(), expiring, "step {step}");
                for d in 0..DBS {
                    let of_db = model.iter().filter(|((x, _), _)| *x == d);
                    let keys = of_db.clone().count();
                    let expiring = of_db.filter(|(_, (_, t))| t.is_some()).count();
                    let expected = DbCount { keys, expiring };
                    assert_eq!(table.db_count(d), expected, "step {step} db {d}");
                }
                let least = model
                    .values()
                    .filter_map(|(_, d)| *d)
                    .min()
                    .unwrap_or(u64::MAX);
                assert!(table.earliest_deadline() <= least, "step {step}");
                if step % 1_000 == 0 {
                    let bytes: u64 = model
                        .iter()
                        .map(|((_, k), (v, _))| (k.len() + v.len()) as u64)
                        .sum();
                    assert_eq!(table.bytes(), bytes);
                    for ((d, k), (v, deadline)) in &model {
                        let key = Key::new(k).unwrap().in_db(*d);
                        let e = table.get(hash_of(k), key).expect("a key of the model");
                        assert_eq!((e.value(), e.deadline()), (&v[..], deadline.map(Millis)));
                        assert_eq!(e.as_key(), key);
                    }
                }
            }
        }
    }
}
