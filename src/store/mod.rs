//! The key-value store: 64 lock stripes, exact byte accounting, and sampled
//! eviction under a memory limit.
//!
//! The store never sees a socket or a protocol: it takes validated keys
//! ([`Key`], which carries its numbered database), byte values and the
//! current time, and answers with plain values. Commands over a whole
//! database (DBSIZE, KEYS, SCAN, RANDOMKEY, FLUSHDB) take its index. Callers pass `now` explicitly (see [`Clock`]) so tests can drive
//! time instead of sleeping. Expiry is checked on every access, so an
//! expired key is gone for every operation at once; [`expire`] reclaims the
//! ones nobody touches.
//!
//! ## Concurrency
//!
//! Each stripe is a `parking_lot::RwLock` around one [`table::Table`]. A key
//! belongs to the stripe picked by the top six bits of its hash. GET takes
//! only the read lock (the access tick is atomic); SET, DELETE and eviction
//! take the write lock. A thread holds at most one stripe lock at any
//! moment, with these exceptions: MSET (see [`multi`]) write-locks the
//! stripes of all its keys together, in ascending index order, and so do
//! FLUSHALL, FLUSHDB and SWAPDB, for all 64 (no client sees part of a flush, and a journal's
//! one record of it has no other change inside it), and so does a
//! transaction's EXEC for the stripes of all its keys (see
//! [`transaction`]), running every queued command on the guards it holds;
//! MGET read-locks the stripes of its keys together, in the same order, so
//! that it sees an MSET or a transaction whole or not at all, and so does
//! a prefetch for the keys of a pipelined batch (see [`Store::prefetch`]). Every
//! operation that holds several waits for them only in ascending order,
//! and no other operation ever waits for a lock while holding one, so no
//! wait cycle can form. Other work that spans stripes (eviction sampling, counting)
//! visits them one at a time in ascending index order. A journal's own
//! lock is taken under stripe locks, never the other way round.
//!
//! Nothing slow happens under a stripe lock. An entry's record comes from
//! the stripe's own slab ([`slab`]) under the write lock the write holds
//! anyway: recycling a record is a free-list pop, and the allocator is
//! called only for a new chunk of 4 KiB now and then. A record too large
//! for the slab is allocated and filled before the lock is taken and
//! freed after it is released. No I/O ever runs under a lock, and no
//! encoding, but for a journal's copy of the change (see [`journal`]).
//!
//! ## Accounting invariants
//!
//! - `used` is the sum over live entries of key bytes plus value bytes, plus
//!   the bytes reserved by SETs that are between reserving and inserting
//!   (and by a transaction, until it ends).
//!   At rest it is exactly the live bytes (what USAGE reports).
//! - `used <= limit` at every instant: a SET reserves its bytes with a
//!   compare-and-swap that refuses to pass the limit, evicting until the
//!   reservation fits, and only then inserts.
//! - An entry's bytes leave `used` in the same critical section that removes
//!   the entry from its table, by whichever operation removed it (overwrite,
//!   DELETE, expiry or eviction). An entry is removed once, so it is
//!   subtracted once and `used` can neither drift nor wrap.
//!
//! These hold by construction, not by each caller's care: every change to
//! a table goes through the stripe's [`guard::WriteGuard`], whose methods
//! change the table, the count and the counters together and publish the
//! earliest deadline when the lock is released; and reserved bytes are a
//! [`guard::Reservation`], refunded when dropped but for what an insert
//! consumed. Conditional changes (EXPIRE's NX, XX, GT and LT, PERSIST, a
//! SET whose deadline has already passed) are decided under the same lock
//! as the change they guard.

mod clock;
mod evict;
mod expire;
mod guard;
mod journal;
mod multi;
mod prefetch;
mod slab;
mod table;
mod transaction;

use std::collections::hash_map::{DefaultHasher, RandomState};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

pub use clock::{Clock, Millis};
pub use evict::DEFAULT_SAMPLES;
pub use expire::{ACTIVE_EXPIRE_BUDGET, ACTIVE_EXPIRE_INTERVAL};
pub use multi::{Transfer, Transferred, UpdateError, SCAN_PARTITIONS};
pub use prefetch::PREFETCH_KEYS;
pub use table::MAX_KEY_LEN;

pub use guard::DeadlineOutcome;
use journal::Journals;
pub use journal::{Change, Journal};
pub use transaction::{Block, Held, Keyspace, Watch};

use guard::WriteGuard;
use table::{NewEntry, Table, HASH_BITS};

/// Number of lock stripes. A power of two: the stripe is the hash's top bits.
pub const STRIPES: usize = 64;

/// Bits of the hash that pick the stripe (`STRIPES == 1 << STRIPE_BITS`).
const STRIPE_BITS: u32 = 6;

/// A key that has been checked against [`MAX_KEY_LEN`], in one of the
/// numbered databases (SELECT). The database is part of the key's
/// identity, not of its hash: the same name in every database lives on
/// the same stripe, so MOVE and SWAPDB never cross stripes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key<'a> {
    bytes: &'a [u8],
    db: u16,
}

impl<'a> Key<'a> {
    /// A key of database 0; `None` when it is longer than [`MAX_KEY_LEN`]
    /// bytes.
    pub fn new(bytes: &'a [u8]) -> Option<Key<'a>> {
        (bytes.len() <= MAX_KEY_LEN).then_some(Key { bytes, db: 0 })
    }

    /// The same name in database `db`.
    pub fn in_db(self, db: u16) -> Key<'a> {
        Key { db, ..self }
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The numbered database the key belongs to.
    pub fn db(&self) -> u16 {
        self.db
    }
}

/// Why a write was refused. Nothing was changed when a write fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The entry alone is larger than the memory limit.
    TooLarge,
    /// Room could not be made: every byte is held by writes in flight.
    OutOfMemory,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreError::TooLarge => "value too large",
            StoreError::OutOfMemory => "out of memory",
        })
    }
}

impl std::error::Error for StoreError {}

/// What a SET does to the key's expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// The key never expires (a plain SET).
    Clear,
    /// The key expires at this time.
    At(Millis),
    /// The key keeps the expiry it had (Redis's KEEPTTL).
    Keep,
    /// The expiry asked for has already passed: the SET's condition and
    /// old value apply, then the key is gone, as in Redis.
    Gone,
}

/// When a SET applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// Only when the key does not exist (NX).
    IfAbsent,
    /// Only when the key exists (XX).
    IfPresent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetOptions {
    pub expiry: Expiry,
    pub condition: Condition,
}

impl SetOptions {
    /// A plain SET: always store, no expiry.
    pub const PLAIN: SetOptions = SetOptions {
        expiry: Expiry::Clear,
        condition: Condition::Always,
    };
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetOutcome {
    /// The value was stored (its condition held).
    pub stored: bool,
    /// The key held a live value before.
    pub had_old: bool,
}

/// A key's remaining time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    Missing,
    /// The key exists and does not expire.
    Persistent,
    /// Milliseconds left; at least 1.
    Remaining(u64),
}

/// Settings of a store.
#[derive(Clone, Copy, Debug)]
pub struct StoreConfig {
    /// Most key plus value bytes held at once.
    pub memory_limit: u64,
    /// Entries sampled to choose each eviction victim.
    pub eviction_samples: usize,
    /// Makes hashing and eviction sampling repeatable, for tests and
    /// simulations; `None` (the server's choice) draws random keys, so that
    /// clients cannot aim keys at one slot.
    pub seed: Option<u64>,
}

impl StoreConfig {
    pub fn new(memory_limit: u64, eviction_samples: usize) -> StoreConfig {
        StoreConfig {
            memory_limit,
            eviction_samples,
            seed: None,
        }
    }
}

/// How keys are hashed: SipHash-1-3 under a random key, or, seeded, under
/// a key derived from the seed.
enum KeyHasher {
    Random(RandomState),
    Seeded(u64),
}

impl KeyHasher {
    fn hash(&self, key: &[u8]) -> u64 {
        match self {
            KeyHasher::Random(state) => state.hash_one(key),
            KeyHasher::Seeded(seed) => {
                let mut hasher = DefaultHasher::new();
                hasher.write_u64(*seed);
                hasher.write(key);
                hasher.finish()
            }
        }
    }
}

/// One stripe, aligned to its own pair of cache lines so that writers on
/// neighbouring stripes do not contend on the lock word.
#[repr(align(128))]
struct Stripe {
    /// Its place among the store's stripes, which a journal is told with
    /// each change of one key ([`Journal::record_in`]).
    index: usize,
    /// Guards every entry whose key hashes to this stripe.
    table: RwLock<Table>,
    /// A copy of the table's earliest deadline (milliseconds), written under
    /// the write lock, so that expiry can skip stripes without locking them.
    earliest: AtomicU64,
}

impl Stripe {
    fn new(index: usize) -> Stripe {
        Stripe {
            index,
            table: RwLock::new(Table::new()),
            earliest: AtomicU64::new(u64::MAX),
        }
    }

    /// Publishes the table's earliest deadline; call under the write lock.
    fn publish(&self, table: &Table) {
        self.earliest
            .store(table.earliest_deadline(), Ordering::Relaxed);
    }

    fn may_have_expired(&self, now: Millis) -> bool {
        self.earliest.load(Ordering::Relaxed) <= now.0
    }
}

/// A value alone on its pair of cache lines (CPUs fetch lines in pairs).
/// The counters every write (or eviction, or expiry) changes are kept so,
/// apart from the fields every request only reads (the hash keys, the
/// limit, the stripes' address): otherwise a write on one CPU takes the
/// shared line away from the other, and that CPU's next request misses it
/// (on two CPUs, a quarter of `set_returning`'s time went to one such
/// load).
#[repr(align(128))]
pub(crate) struct Alone<T>(pub(crate) T);

impl<T> Deref for Alone<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

pub struct Store {
    stripes: Box<[Stripe]>,
    /// Live plus reserved bytes; see the module's accounting invariants.
    used: Alone<AtomicU64>,
    /// The memory limit in bytes: set at start, changed by CONFIG SET
    /// maxmemory. A lower limit is reached by the next write's
    /// reservation, which evicts until it fits (see [`evict`]).
    limit: AtomicU64,
    /// Entries sampled per eviction (CONFIG SET maxmemory-samples).
    samples: AtomicUsize,
    /// Entries removed to make room, since start.
    evictions: Alone<AtomicU64>,
    /// Entries removed because their deadline came, since start.
    expired: Alone<AtomicU64>,
    /// The stripe the next active expiry cycle starts from.
    expire_next: AtomicUsize,
    /// SWAPDBs run (see [`Store::swaps`]).
    swaps: AtomicU64,
    /// State of the generator that picks eviction samples (see
    /// [`Store::random`]).
    rng: Alone<AtomicU64>,
    hasher: KeyHasher,
    /// Where changes are handed on, if anywhere (see [`journal`]).
    journals: Journals,
}

impl Store {
    pub fn new(config: StoreConfig) -> Store {
        Store {
            stripes: (0..STRIPES).map(Stripe::new).collect(),
            used: Alone(AtomicU64::new(0)),
            limit: AtomicU64::new(config.memory_limit),
            samples: AtomicUsize::new(config.eviction_samples.max(1)),
            evictions: Alone(AtomicU64::new(0)),
            expired: Alone(AtomicU64::new(0)),
            expire_next: AtomicUsize::new(0),
            swaps: AtomicU64::new(0),
            rng: Alone(AtomicU64::new(
                config
                    .seed
                    .unwrap_or_else(|| RandomState::new().hash_one(0u8)),
            )),
            hasher: match config.seed {
                Some(seed) => KeyHasher::Seeded(seed),
                None => KeyHasher::Random(RandomState::new()),
            },
            journals: Journals::default(),
        }
    }

    /// From now on, hands every change to `journal` too (see [`journal`]).
    /// The log is attached after a replay, so that replaying logs nothing.
    pub fn add_journal(&mut self, journal: Arc<dyn Journal>) {
        self.journals.add(journal);
    }

    /// The journals, when one of them wants changes now. Call it holding
    /// the lock of every stripe the change will touch (see
    /// [`Journal::wants`]).
    fn journal(&self) -> Option<&dyn Journal> {
        self.journals
            .wants()
            .then_some(&self.journals as &dyn Journal)
    }

    /// Hands `change` to the journals that want it; call it under the
    /// lock of every stripe the change touched.
    fn record(&self, change: Change<'_>) {
        if let Some(journal) = self.journal() {
            journal.record(change);
        }
    }

    /// The key's stripe index and its hash as the table stores it.
    fn place_of(&self, key: Key<'_>) -> (usize, u32) {
        self.place_of_name(key.bytes)
    }

    /// The stripe index and stored hash of a key named `name`, in any
    /// database: the hash does not depend on it.
    fn place_of_name(&self, name: &[u8]) -> (usize, u32) {
        let hash = self.hasher.hash(name);
        (
            (hash >> (64 - STRIPE_BITS)) as usize,
            hash as u32 & HASH_BITS,
        )
    }

    /// The key's stripe and its hash as the table stores it.
    fn locate(&self, key: Key<'_>) -> (&Stripe, u32) {
        let (index, hash) = self.place_of(key);
        (&self.stripes[index], hash)
    }

    /// The write guard of `stripe`: the only way to change its table.
    fn write<'s>(&'s self, stripe: &'s Stripe) -> WriteGuard<'s> {
        WriteGuard::new(self, stripe)
    }

    /// Removes `key` if it is expired at `now`, counting it as expired.
    fn reclaim_if_expired(&self, key: Key<'_>, now: Millis) {
        let (stripe, hash) = self.locate(key);
        self.write(stripe).remove_if_expired(hash, key, now);
    }

    /// Copies the value of `key` into `out` (replacing its contents) and
    /// records the access. Returns whether the key exists.
    pub fn get_into(&self, key: Key<'_>, now: Millis, out: &mut Vec<u8>) -> bool {
        self.read_into(key, now, out, true)
    }

    /// As [`Store::get_into`], recording the access only when `touch`
    /// (CLIENT NO-TOUCH turns it off for a connection).
    pub fn read_into(&self, key: Key<'_>, now: Millis, out: &mut Vec<u8>, touch: bool) -> bool {
        let (stripe, hash) = self.locate(key);
        {
            let table = stripe.table.read();
            match table.get(hash, key) {
                None => return false,
                Some(entry) if !entry.is_expired(now) => {
                    if touch {
                        entry.touch(now);
                    }
                    out.clear();
                    crate::copy::append(out, entry.value());
                    return true;
                }
                Some(_) => {}
            }
        }
        self.reclaim_if_expired(key, now);
        false
    }

    /// Records an access to `key` at `now` (TOUCH). Returns whether it
    /// exists.
    pub fn touch(&self, key: Key<'_>, now: Millis) -> bool {
        let (stripe, hash) = self.locate(key);
        let live = {
            let table = stripe.table.read();
            match table.get(hash, key) {
                None => return false,
                Some(entry) => {
                    let live = !entry.is_expired(now);
                    if live {
                        entry.touch(now);
                    }
                    live
                }
            }
        };
        if !live {
            self.reclaim_if_expired(key, now);
        }
        live
    }

    /// Runs `look` on the live entry of `key` under the stripe's read lock,
    /// without recording an access (OBJECT, MEMORY USAGE): its value, its
    /// idle time in milliseconds (since the last access, within the access
    /// tick's 49-day wrap) and its footprint in bytes (see
    /// [`table::EntryRef::footprint`]). `look` must be quick.
    pub fn inspect<T>(
        &self,
        key: Key<'_>,
        now: Millis,
        look: impl FnOnce(&[u8], u64, usize) -> T,
    ) -> Option<T> {
        let (stripe, hash) = self.locate(key);
        let table = stripe.table.read();
        let entry = table.get(hash, key).filter(|e| !e.is_expired(now))?;
        Some(look(
            entry.value(),
            idle_ms(now, entry.access()),
            entry.footprint(),
        ))
    }

    /// Whether `key` exists (and has not expired).
    pub fn exists(&self, key: Key<'_>, now: Millis) -> bool {
        self.ttl(key, now) != Ttl::Missing
    }

    /// The remaining time to live of `key`.
    pub fn ttl(&self, key: Key<'_>, now: Millis) -> Ttl {
        let (stripe, hash) = self.locate(key);
        let deadline = {
            let table = stripe.table.read();
            match table.get(hash, key) {
                None => return Ttl::Missing,
                Some(entry) => entry.deadline(),
            }
        };
        match deadline {
            None => Ttl::Persistent,
            Some(d) if d > now => Ttl::Remaining(d.0 - now.0),
            Some(_) => {
                self.reclaim_if_expired(key, now);
                Ttl::Missing
            }
        }
    }

    /// Stores `value` under `key` as `options` say, evicting other entries
    /// if needed. Returns whether it was stored (a condition can say no).
    pub fn set(
        &self,
        key: Key<'_>,
        value: &[u8],
        now: Millis,
        options: SetOptions,
    ) -> Result<bool, StoreError> {
        self.set_returning(key, value, now, options, None)
            .map(|outcome| outcome.stored)
    }

    /// As [`Store::set`]; when `old` is given, the value the key had (if it
    /// was live) is copied into it, in the same step as the write.
    pub fn set_returning(
        &self,
        key: Key<'_>,
        value: &[u8],
        now: Millis,
        options: SetOptions,
        mut old: Option<&mut Vec<u8>>,
    ) -> Result<SetOutcome, StoreError> {
        let size = (key.bytes.len() + value.len()) as u64;
        if size > self.memory_limit() {
            return Err(StoreError::TooLarge);
        }
        // Refuse a conditional SET early, without evicting for it; the
        // condition is checked again under the write lock.
        if options.condition != Condition::Always {
            let exists = match old.as_deref_mut() {
                Some(out) => self.get_into(key, now, out),
                None => self.exists(key, now),
            };
            if !self.condition_holds(options.condition, exists) {
                return Ok(SetOutcome {
                    stored: false,
                    had_old: exists,
                });
            }
        }
        let mut reservation = self.reserve(size, now)?;
        let (stripe, hash) = self.locate(key);
        let entry = set_entry(key, value, hash, now, options.expiry);
        let mut guard = self.write(stripe);
        Ok(set_locked(
            &mut guard,
            entry,
            options,
            old,
            &mut reservation,
            now,
        ))
    }

    fn condition_holds(&self, condition: Condition, exists: bool) -> bool {
        condition_holds(condition, exists)
    }

    /// Sets (`Some`) or removes (`None`) the expiry of `key`. When `value`
    /// is given, the key's value is copied into it in the same step (GETEX).
    /// Returns whether the key exists.
    pub fn set_deadline(
        &self,
        key: Key<'_>,
        now: Millis,
        deadline: Option<Millis>,
        value: Option<&mut Vec<u8>>,
    ) -> bool {
        self.change_deadline(key, now, deadline, value, &|_| true) == DeadlineOutcome::Done
    }

    /// Sets (`Some`) or removes (`None`) the expiry of `key` when
    /// `allowed(its current deadline)` holds, deciding and changing under
    /// one lock (EXPIRE's NX, XX, GT and LT, PERSIST). A deadline not after
    /// `now` removes the key instead. When `value` is given, the key's value
    /// is copied into it (GETEX).
    pub fn change_deadline(
        &self,
        key: Key<'_>,
        now: Millis,
        deadline: Option<Millis>,
        value: Option<&mut Vec<u8>>,
        allowed: &dyn Fn(Option<Millis>) -> bool,
    ) -> DeadlineOutcome {
        let (stripe, hash) = self.locate(key);
        self.write(stripe)
            .set_deadline(hash, key, now, deadline, value, allowed)
    }

    /// Removes `key`. Returns whether it existed (an expired key did not).
    pub fn delete(&self, key: Key<'_>, now: Millis) -> bool {
        self.remove(key, now, None)
    }

    /// Removes `key`, copying its value into `out` when given and live.
    /// Returns whether it existed and had not expired.
    fn remove(&self, key: Key<'_>, now: Millis, out: Option<&mut Vec<u8>>) -> bool {
        let (stripe, hash) = self.locate(key);
        self.write(stripe).remove(hash, key, now, out)
    }

    /// Key plus value bytes of all stored entries (and of writes in flight).
    pub fn usage(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn memory_limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Changes the memory limit. Nothing is evicted now: the next write
    /// evicts until the count and its own bytes fit under the new limit,
    /// as Redis does after CONFIG SET maxmemory.
    pub fn set_memory_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Entries sampled to choose each eviction victim.
    pub fn eviction_samples(&self) -> usize {
        self.samples.load(Ordering::Relaxed)
    }

    /// Changes the eviction sample size (at least 1).
    pub fn set_eviction_samples(&self, samples: usize) {
        self.samples.store(samples.max(1), Ordering::Relaxed);
    }

    /// Number of stored entries of every database, counted stripe by
    /// stripe. Expired entries not yet reclaimed are included, as in
    /// Redis's DBSIZE.
    pub fn len(&self) -> usize {
        self.stripes.iter().map(|s| s.table.read().len()).sum()
    }

    /// Number of stored entries of database `db` (DBSIZE), as [`Store::len`]
    /// counts them.
    pub fn db_len(&self, db: u16) -> usize {
        self.stripes
            .iter()
            .map(|s| s.table.read().db_count(db).keys)
            .sum()
    }

    /// The entries, and the entries with a deadline, of each of the first
    /// `databases` databases (INFO keyspace), counted stripe by stripe.
    pub fn db_counts(&self, databases: usize) -> Vec<(usize, usize)> {
        let mut counts = vec![(0, 0); databases];
        for stripe in self.stripes.iter() {
            let table = stripe.table.read();
            for (db, (keys, expiring)) in counts.iter_mut().enumerate() {
                let count = table.db_count(db as u16);
                *keys += count.keys;
                *expiring += count.expiring;
            }
        }
        counts
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries evicted to make room since the store was created.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Entries removed because they expired since the store was created
    /// (or the counters were last reset).
    pub fn expired(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    /// Zeroes the eviction and expiry counters (CONFIG RESETSTAT).
    pub fn reset_counters(&self) {
        self.evictions.store(0, Ordering::Relaxed);
        self.expired.store(0, Ordering::Relaxed);
    }

    /// Removes every entry. Every stripe is locked at once, in ascending
    /// order (the MSET lock order), so no client sees part of a flush and
    /// the one [`Change::Flush`] recorded has no other write inside it. The
    /// tables' memory is freed after the locks are released.
    pub fn clear(&self) {
        let mut guards = self.write_all();
        let removed: Vec<Table> = guards.iter_mut().map(|g| g.clear()).collect();
        self.record(Change::Flush);
        drop(guards);
        drop(removed);
    }

    /// Removes every entry of database `db` (FLUSHDB), every stripe locked
    /// at once as [`Store::clear`] locks them.
    pub fn clear_db(&self, db: u16) {
        let mut guards = self.write_all();
        for guard in &mut guards {
            guard.clear_db(db);
        }
        self.record(Change::FlushDb(db));
    }

    /// Exchanges the entries of databases `a` and `b` (SWAPDB), every
    /// stripe locked at once: each table relabels the entries of both in
    /// place, O(entries) in all, and no client sees one swapped without
    /// the other. Every WATCH is disturbed.
    pub fn swap_dbs(&self, a: u16, b: u16) {
        let mut guards = self.write_all();
        for guard in &mut guards {
            guard.swap_dbs(a, b);
        }
        self.swaps.fetch_add(1, Ordering::Relaxed);
        self.record(Change::SwapDb(a, b));
    }

    /// SWAPDBs since the store was created: a compaction's snapshot is
    /// void if one ran while it was taken (see [`Store::snapshot`]).
    pub fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }

    /// The write guards of every stripe, taken in ascending order.
    fn write_all(&self) -> Vec<WriteGuard<'_>> {
        self.stripes.iter().map(|s| self.write(s)).collect()
    }
}

fn condition_holds(condition: Condition, exists: bool) -> bool {
    match condition {
        Condition::Always => true,
        Condition::IfAbsent => !exists,
        Condition::IfPresent => exists,
    }
}

/// The entry a SET of `value` under `key` stores, before its lock is
/// taken (a large record is allocated here).
fn set_entry<'a>(
    key: Key<'a>,
    value: &'a [u8],
    hash: u32,
    now: Millis,
    expiry: Expiry,
) -> NewEntry<'a> {
    let (deadline, field) = match expiry {
        Expiry::Clear | Expiry::Gone => (None, false),
        Expiry::At(at) => (Some(at), true),
        Expiry::Keep => (None, true),
    };
    NewEntry::new(key, value, hash, now, deadline, field)
}

/// The part of a SET decided under the key's write lock: its condition,
/// the old value copied into `old` when given, and the change. Shared by
/// [`Store::set_returning`] and a transaction's SET.
fn set_locked(
    guard: &mut WriteGuard<'_>,
    entry: NewEntry<'_>,
    options: SetOptions,
    old: Option<&mut Vec<u8>>,
    reservation: &mut guard::Reservation<'_>,
    now: Millis,
) -> SetOutcome {
    let (hash, key) = (entry.hash(), entry.key());
    let existing = guard.table().get(hash, key).filter(|e| !e.is_expired(now));
    let had_old = existing.is_some();
    let old_deadline = existing.and_then(|e| e.deadline());
    if let (Some(out), Some(e)) = (old, existing) {
        out.clear();
        out.extend_from_slice(e.value());
    }
    let stored = condition_holds(options.condition, had_old);
    match options.expiry {
        _ if !stored => {}
        // A deadline already past: the key is gone at once, as in Redis,
        // and a watch of it sees a change even when it was not there.
        Expiry::Gone => {
            guard.remove(hash, key, now, None);
            guard.touch(hash, key);
        }
        Expiry::Keep => guard.insert(entry.with_deadline(old_deadline), reservation, now),
        Expiry::Clear | Expiry::At(_) => guard.insert(entry, reservation, now),
    }
    SetOutcome { stored, had_old }
}

/// How long ago, in milliseconds, an entry last accessed at tick `access`
/// was, seen at `now`: an access dated a tick after `now` (another
/// thread's clock read) is no idle time at all, not 49 days of it.
fn idle_ms(now: Millis, access: u32) -> u64 {
    let idle = now.tick().wrapping_sub(access);
    if (idle as i32) < 0 {
        0
    } else {
        u64::from(idle)
    }
}

#[cfg(test)]
mod tests;
