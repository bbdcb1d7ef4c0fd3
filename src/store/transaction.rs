//! Transactions (MULTI/EXEC): many operations run while every stripe they
//! touch stays write-locked, and the versions behind WATCH.
//!
//! ## Running under held locks
//!
//! [`Keyspace`] is the store's API as the command layer uses it. The store
//! itself implements it (each call locks and unlocks as usual, through
//! the trait only by monomorphization, so a normal command pays nothing),
//! and so does [`Held`]: the write guards of a set of stripes, taken
//! together in ascending index order (the MSET lock order, see
//! [`super::multi`]), with every operation running against the guards it
//! already holds and never locking again. No other client can see part of
//! what runs between taking a `Held` and dropping it, and since a `Held`
//! waits for no lock while it holds some, it adds no wait cycle. Which
//! stripes to hold is the caller's to say (every stripe of every key the
//! queued commands name, or all of them); a key on a stripe not held is
//! answered as missing, and a write to it as out of memory, which a
//! correct caller never sees.
//!
//! Under held locks a read-modify-write needs no optimism (nobody can
//! change the key between the read and the write), and an entry is built
//! under the lock, not before it: a transaction's large values are
//! allocated while its stripes are locked, the price of atomicity.
//!
//! ## Memory
//!
//! Eviction takes stripe locks one at a time, so it must never run while
//! a `Held` holds some. [`Store::hold`] therefore first reserves the
//! caller's upper bound of the bytes the transaction may add, evicting as
//! any write does, and only then locks. Each write inside takes its bytes
//! from that pool; when the pool is short (a bound that underestimated,
//! such as a COPY's unknown source) it may still take free room under the
//! limit, without evicting; failing that, that one write fails with the
//! out-of-memory error and the others still run. What is left of the pool
//! is refunded when the `Held` is dropped. The count never passes the
//! limit and stays exact.
//!
//! ## The log
//!
//! With a journal, the guards of a `Held` record into a [`Block`] instead
//! of the store's journal; dropping the `Held` hands the block to the
//! journal as one [`Change::Block`] while the locks are still held, so a
//! log holds a transaction as one `MULTI` ... `EXEC` with no other
//! client's change inside it. Dropping (not an explicit commit) does it, so
//! even a panic mid-transaction leaves the log saying what memory holds.
//!
//! ## WATCH
//!
//! Every table keeps versions that each change through its write guard
//! advances, one per bucket of the key's hash (see
//! [`super::table::Table::version`] and [`super::table::VERSION_BUCKETS`]):
//! plain counters under the write lock the change holds anyway, so a
//! normal write pays one increment and no atomic, and nothing is
//! registered anywhere, so a closed connection leaves nothing behind.
//! WATCH notes the version of the key's stripe and bucket and, when the
//! key is live, its deadline ([`Watch`]); EXEC, holding the watched
//! stripes too, aborts when a version moved or a noted deadline has passed
//! ([`Held::unchanged`]). No change to a watched key escapes: a set,
//! overwrite, delete, deadline change, expiry reclaimed or not, eviction
//! or flush all move the version or pass the deadline. A change to
//! another key of the same stripe and bucket (one key in 1,024) moves it
//! too, so a watch can abort without its key having changed; the README
//! says how often.

use parking_lot::Mutex;

use super::evict::draw_from;
use super::guard::{DeadlineOutcome, Reservation, WriteGuard};
use super::journal::{Change, Journal};
use super::multi::{
    add_float, add_integer, append_bytes, collect_keys, moved, overwrite_range, range_end,
    scan_partitions, transfer_bytes,
};
use super::table::{NewEntry, Table};
use super::{
    idle_ms, set_entry, set_locked, Key, Millis, SetOptions, SetOutcome, Store, StoreError,
    Transfer, Transferred, Ttl, UpdateError, STRIPES,
};

/// The store's operations as commands use them: implemented by the store
/// (each locking as usual) and by [`Held`] (under locks already held).
/// Each method does what the [`Store`] method of the same name does.
pub trait Keyspace {
    fn read_into(&mut self, key: Key<'_>, now: Millis, out: &mut Vec<u8>, touch: bool) -> bool;
    fn touch(&mut self, key: Key<'_>, now: Millis) -> bool;
    fn get_many(&mut self, keys: &[Key<'_>], now: Millis, touch: bool) -> Vec<Option<Vec<u8>>>;
    fn inspect<T>(
        &mut self,
        key: Key<'_>,
        now: Millis,
        look: impl FnOnce(&[u8], u64, usize) -> T,
    ) -> Option<T>;
    fn ttl(&mut self, key: Key<'_>, now: Millis) -> Ttl;
    fn exists(&mut self, key: Key<'_>, now: Millis) -> bool {
        self.ttl(key, now) != Ttl::Missing
    }
    fn set_returning(
        &mut self,
        key: Key<'_>,
        value: &[u8],
        now: Millis,
        options: SetOptions,
        old: Option<&mut Vec<u8>>,
    ) -> Result<SetOutcome, StoreError>;
    fn change_deadline(
        &mut self,
        key: Key<'_>,
        now: Millis,
        deadline: Option<Millis>,
        value: Option<&mut Vec<u8>>,
        allowed: &dyn Fn(Option<Millis>) -> bool,
    ) -> DeadlineOutcome;
    fn set_deadline(
        &mut self,
        key: Key<'_>,
        now: Millis,
        deadline: Option<Millis>,
        value: Option<&mut Vec<u8>>,
    ) -> bool {
        self.change_deadline(key, now, deadline, value, &|_| true) == DeadlineOutcome::Done
    }
    /// Removes `key`, copying its live value into `out` when given.
    fn remove(&mut self, key: Key<'_>, now: Millis, out: Option<&mut Vec<u8>>) -> bool;
    fn delete(&mut self, key: Key<'_>, now: Millis) -> bool {
        self.remove(key, now, None)
    }
    fn take(&mut self, key: Key<'_>, now: Millis, out: &mut Vec<u8>) -> bool {
        self.remove(key, now, Some(out))
    }
    /// Replaces the value at `key` with what `compute` writes, given the
    /// current one; returns the new value's length (see [`super::multi`]).
    fn update<F>(&mut self, key: Key<'_>, now: Millis, compute: F) -> Result<usize, UpdateError>
    where
        F: FnMut(Option<&[u8]>, &mut Vec<u8>) -> Result<(), UpdateError>;
    /// Adds `delta` to the integer stored at `key` (0 when absent) and
    /// returns the result.
    fn incr_by(&mut self, key: Key<'_>, delta: i64, now: Millis) -> Result<i64, UpdateError> {
        let mut result = 0;
        self.update(key, now, add_integer(delta, &mut result))?;
        Ok(result)
    }
    /// Appends `suffix` to the value at `key` (creating it) and returns the
    /// new length. A result longer than `max_len` bytes is refused with
    /// [`UpdateError::TooLong`], the value unchanged: every stored value
    /// stays within the cap that bounds what a read must buffer.
    fn append(
        &mut self,
        key: Key<'_>,
        suffix: &[u8],
        max_len: usize,
        now: Millis,
    ) -> Result<usize, UpdateError> {
        self.update(key, now, append_bytes(suffix, max_len))
    }
    /// Adds `delta` to the number stored at `key` (0 when absent) and
    /// copies the result, as stored, into `out` (INCRBYFLOAT). Numbers are
    /// read and written as [`crate::num::parse_f64`] and
    /// [`crate::num::format_f64`] do.
    fn incr_by_float(
        &mut self,
        key: Key<'_>,
        delta: f64,
        now: Millis,
        out: &mut Vec<u8>,
    ) -> Result<(), UpdateError> {
        self.update(key, now, add_float(delta, out)).map(drop)
    }
    /// Overwrites the value at `key` from byte `offset` on with `bytes`,
    /// padding with zero bytes up to `offset` (SETRANGE), and returns the
    /// new length. `bytes` is not empty (an empty one changes nothing and
    /// is the caller's STRLEN). A result longer than `max_len` is refused
    /// with [`UpdateError::TooLong`] before anything is built.
    fn set_range(
        &mut self,
        key: Key<'_>,
        offset: usize,
        bytes: &[u8],
        max_len: usize,
        now: Millis,
    ) -> Result<usize, UpdateError> {
        let end = range_end(offset, bytes.len(), max_len)?;
        self.update(key, now, overwrite_range(offset, end, bytes))
    }
    fn set_many(
        &mut self,
        pairs: &[(Key<'_>, &[u8])],
        now: Millis,
        only_if_none_exist: bool,
    ) -> Result<bool, StoreError>;
    fn transfer(
        &mut self,
        from: Key<'_>,
        to: Key<'_>,
        now: Millis,
        mode: Transfer,
    ) -> Result<Transferred, StoreError>;
    fn random_key(&mut self, db: u16, now: Millis, out: &mut Vec<u8>) -> bool;
    #[allow(clippy::too_many_arguments)]
    fn scan(
        &mut self,
        db: u16,
        cursor: usize,
        count: usize,
        now: Millis,
        wanted: &dyn Fn(&[u8]) -> bool,
        out: &mut Vec<Vec<u8>>,
    ) -> usize;
    fn keys(
        &mut self,
        db: u16,
        now: Millis,
        wanted: &dyn Fn(&[u8]) -> bool,
        out: &mut Vec<Vec<u8>>,
    );
    /// Number of entries stored in database `db` (DBSIZE).
    fn key_count(&mut self, db: u16) -> usize;
    /// Removes every entry of every database (FLUSHALL).
    fn clear(&mut self);
    /// Removes every entry of database `db` (FLUSHDB).
    fn clear_db(&mut self, db: u16);
    /// Exchanges the entries of databases `a` and `b` (SWAPDB).
    fn swap_dbs(&mut self, a: u16, b: u16);
    fn usage(&mut self) -> u64;
}

impl Keyspace for &Store {
    fn read_into(&mut self, key: Key<'_>, now: Millis, out: &mut Vec<u8>, touch: bool) -> bool {
        Store::read_into(self, key, now, out, touch)
    }

    fn touch(&mut self, key: Key<'_>, now: Millis) -> bool {
        Store::touch(self, key, now)
    }

    fn get_many(&mut self, keys: &[Key<'_>], now: Millis, touch: bool) -> Vec<Option<Vec<u8>>> {
        Store::get_many(self, keys, now, touch)
    }

    fn inspect<T>(
        &mut self,
        key: Key<'_>,
        now: Millis,
        look: impl FnOnce(&[u8], u64, usize) -> T,
    ) -> Option<T> {
        Store::inspect(self, key, now, look)
    }

    fn ttl(&mut self, key: Key<'_>, now: Millis) -> Ttl {
        Store::ttl(self, key, now)
    }

    fn set_returning(
        &mut self,
        key: Key<'_>,
        value: &[u8],
        now: Millis,
        options: SetOptions,
        old: Option<&mut Vec<u8>>,
    ) -> Result<SetOutcome, StoreError> {
        Store::set_returning(self, key, value, now, options, old)
    }

    fn change_deadline(
        &mut self,
        key: Key<'_>,
        now: Millis,
        deadline: Option<Millis>,
        value: Option<&mut Vec<u8>>,
        allowed: &dyn Fn(Option<Millis>) -> bool,
    ) -> DeadlineOutcome {
        Store::change_deadline(self, key, now, deadline, value, allowed)
    }

    fn remove(&mut self, key: Key<'_>, now: Millis, out: Option<&mut Vec<u8>>) -> bool {
        Store::remove(self, key, now, out)
    }

    fn update<F>(&mut self, key: Key<'_>, now: Millis, compute: F) -> Result<usize, UpdateError>
    where
        F: FnMut(Option<&[u8]>, &mut Vec<u8>) -> Result<(), UpdateError>,
    {
        Store::update(self, key, now, compute)
    }

    fn set_many(
        &mut self,
        pairs: &[(Key<'_>, &[u8])],
        now: Millis,
        only_if_none_exist: bool,
    ) -> Result<bool, StoreError> {
        Store::set_many(self, pairs, now, only_if_none_exist)
    }

    fn transfer(
        &mut self,
        from: Key<'_>,
        to: Key<'_>,
        now: Millis,
        mode: Transfer,
    ) -> Result<Transferred, StoreError> {
        Store::transfer(self, from, to, now, mode)
    }

    fn random_key(&mut self, db: u16, now: Millis, out: &mut Vec<u8>) -> bool {
        Store::random_key(self, db, now, out)
    }

    fn scan(
        &mut self,
        db: u16,
        cursor: usize,
        count: usize,
        now: Millis,
        wanted: &dyn Fn(&[u8]) -> bool,
        out: &mut Vec<Vec<u8>>,
    ) -> usize {
        Store::scan(self, db, cursor, count, now, wanted, out)
    }

    fn keys(
        &mut self,
        db: u16,
        now: Millis,
        wanted: &dyn Fn(&[u8]) -> bool,
        out: &mut Vec<Vec<u8>>,
    ) {
        Store::keys(self, db, now, wanted, out)
    }

    fn key_count(&mut self, db: u16) -> usize {
        Store::db_len(self, db)
    }

    fn clear(&mut self) {
        Store::clear(self)
    }

    fn clear_db(&mut self, db: u16) {
        Store::clear_db(self, db)
    }

    fn swap_dbs(&mut self, a: u16, b: u16) {
        Store::swap_dbs(self, a, b)
    }

    fn usage(&mut self) -> u64 {
        Store::usage(self)
    }
}

/// What WATCH noted of a key: its stripe, its hash, the version of its
/// bucket and, when the key was live, its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watch {
    stripe: usize,
    hash: u32,
    db: u16,
    version: (u64, u64),
    deadline: Option<Millis>,
}

impl Watch {
    /// The stripe EXEC must hold to check this watch.
    pub fn stripe(&self) -> usize {
        self.stripe
    }
}

/// A transaction's changes, owned, until they reach the journal as one
/// [`Change::Block`] (see the module documentation).
#[derive(Debug, Default)]
pub struct Block {
    /// Written only by the thread that runs the transaction; a mutex
    /// because a [`Journal`] is shared, never contended.
    changes: Mutex<Vec<Owned>>,
}

/// One change of a [`Block`], flattened to what a block holds: a MSET is
/// its SETs, a nested block (a RENAME's DEL and SET) its changes.
#[derive(Debug)]
enum Owned {
    Set {
        key: (Vec<u8>, u16),
        value: Vec<u8>,
        deadline: Option<Millis>,
    },
    Deadline {
        key: (Vec<u8>, u16),
        deadline: Option<Millis>,
    },
    Del((Vec<u8>, u16)),
    Flush,
    FlushDb(u16),
    SwapDb(u16, u16),
}

/// A key as a block keeps it: its bytes and its database.
fn owned(key: Key<'_>) -> (Vec<u8>, u16) {
    (key.bytes.to_vec(), key.db)
}

/// A key a block kept, borrowed back.
fn borrowed(key: &(Vec<u8>, u16)) -> Key<'_> {
    Key {
        bytes: &key.0,
        db: key.1,
    }
}

impl Journal for Block {
    fn record(&self, change: Change<'_>) {
        let mut changes = self.changes.lock();
        let set = |key: Key<'_>, value: &[u8], deadline| Owned::Set {
            key: owned(key),
            value: value.to_vec(),
            deadline,
        };
        match change {
            Change::Set {
                key,
                value,
                deadline,
            } => changes.push(set(key, value, deadline)),
            Change::Deadline { key, deadline } => changes.push(Owned::Deadline {
                key: owned(key),
                deadline,
            }),
            Change::Del { key } => changes.push(Owned::Del(owned(key))),
            Change::SetMany(pairs) => {
                changes.extend(pairs.iter().map(|&(k, v)| set(k, v, None)));
            }
            Change::Flush => changes.push(Owned::Flush),
            Change::FlushDb(db) => changes.push(Owned::FlushDb(db)),
            Change::SwapDb(a, b) => changes.push(Owned::SwapDb(a, b)),
            Change::Block(inner) => {
                drop(changes);
                inner.iter().for_each(|c| self.record(*c));
            }
        }
    }
}

impl Owned {
    fn as_change(&self) -> Change<'_> {
        match self {
            Owned::Set {
                key,
                value,
                deadline,
            } => Change::Set {
                key: borrowed(key),
                value,
                deadline: *deadline,
            },
            Owned::Deadline { key, deadline } => Change::Deadline {
                key: borrowed(key),
                deadline: *deadline,
            },
            Owned::Del(key) => Change::Del { key: borrowed(key) },
            Owned::Flush => Change::Flush,
            Owned::FlushDb(db) => Change::FlushDb(*db),
            Owned::SwapDb(a, b) => Change::SwapDb(*a, *b),
        }
    }
}

/// The write guards of a set of stripes, held together; see the module
/// documentation.
pub struct Held<'s> {
    store: &'s Store,
    /// Ascending by stripe index, each stripe once.
    guards: Vec<(usize, WriteGuard<'s>)>,
    /// Bytes reserved before the locks were taken, for the writes inside.
    pool: Reservation<'s>,
    /// Where the guards record, with a journal.
    block: &'s Block,
    /// A journal wanted changes when the locks were taken: the guards
    /// record into `block`, handed to the journals when this is dropped.
    recording: bool,
    /// Tables a flush let go, freed after the locks (declared after
    /// `guards`, so dropped after them).
    flushed: Vec<Table>,
}

impl Store {
    /// The stripe `key` belongs to: what a transaction must hold to touch
    /// it.
    pub fn stripe_of(&self, key: Key<'_>) -> usize {
        self.place_of(key).0
    }

    /// Every stripe index, ascending: what a transaction holds when its
    /// keys are not known before it runs.
    pub fn all_stripes() -> impl Iterator<Item = usize> {
        0..STRIPES
    }

    /// Notes what EXEC must find unchanged for `key` (WATCH).
    pub fn watch(&self, key: Key<'_>, now: Millis) -> Watch {
        let (stripe, hash) = self.place_of(key);
        let table = self.stripes[stripe].table.read();
        let deadline = table
            .get(hash, key)
            .filter(|e| !e.is_expired(now))
            .and_then(|e| e.deadline());
        Watch {
            stripe,
            hash,
            db: key.db,
            version: table.version(hash, key.db),
            deadline,
        }
    }

    /// Reserves `bytes` (evicting as a write does, holding no lock), then
    /// write-locks `stripes` (ascending, each once) and holds them. Fails,
    /// holding nothing, when the bytes cannot be reserved.
    pub fn hold<'s>(
        &'s self,
        stripes: &[usize],
        bytes: u64,
        now: Millis,
        block: &'s Block,
    ) -> Result<Held<'s>, StoreError> {
        debug_assert!(stripes.windows(2).all(|w| w[0] < w[1]));
        if bytes > self.memory_limit() {
            return Err(StoreError::OutOfMemory);
        }
        let pool = self.reserve(bytes, now)?;
        let mut guards: Vec<(usize, WriteGuard<'s>)> = stripes
            .iter()
            .filter(|&&i| i < STRIPES)
            .map(|&i| (i, WriteGuard::unrecorded(self, &self.stripes[i])))
            .collect();
        // Asked once the locks are held: see `Journal::wants`.
        let recording = self.journal().is_some();
        for (_, guard) in &mut guards {
            guard.record_into(recording.then_some(block as &dyn Journal));
        }
        Ok(Held {
            store: self,
            guards,
            pool,
            block,
            recording,
            flushed: Vec::new(),
        })
    }
}

impl<'s> Held<'s> {
    /// Whether every watched key is as it was when watched: its stripe
    /// unchanged and, if it was live with a deadline, the deadline not yet
    /// passed. A watch on a stripe not held counts as changed.
    pub fn unchanged(&self, watches: &[Watch], now: Millis) -> bool {
        watches.iter().all(|w| {
            let held = self.guards.iter().find(|(i, _)| *i == w.stripe);
            held.is_some_and(|(_, g)| g.table().version(w.hash, w.db) == w.version)
                && w.deadline.map_or(true, |d| d > now)
        })
    }

    /// The guard of `key`'s stripe, if held, and the key's hash.
    fn find(&mut self, key: Key<'_>) -> Option<(&mut WriteGuard<'s>, u32)> {
        let (index, hash) = self.store.place_of(key);
        let at = self.guards.binary_search_by_key(&index, |(i, _)| *i);
        debug_assert!(
            at.is_ok(),
            "a transaction touched a stripe it does not hold"
        );
        let at = at.ok()?;
        Some((&mut self.guards[at].1, hash))
    }

    /// Bytes for one write: from the pool, else free room under the limit;
    /// never by evicting.
    fn reserve(&mut self, size: u64) -> Result<Reservation<'s>, StoreError> {
        if size > self.store.memory_limit() {
            return Err(StoreError::TooLarge);
        }
        match self.pool.split(size) {
            Some(reservation) => Ok(reservation),
            None => self.store.try_reserve(size).ok_or(StoreError::OutOfMemory),
        }
    }

    /// Records a change that spans stripes, with a journal.
    fn record(&self, change: Change<'_>) {
        if self.recording {
            self.block.record(change);
        }
    }

    /// The live entry of `key`: runs `look` on it, or reclaims it when it
    /// has expired. `None` when there is no live entry.
    fn live<T>(
        &mut self,
        key: Key<'_>,
        now: Millis,
        look: impl FnOnce(super::table::EntryRef<'_>) -> T,
    ) -> Option<T> {
        let (guard, hash) = self.find(key)?;
        let expired = match guard.table().get(hash, key) {
            None => return None,
            Some(e) if !e.is_expired(now) => return Some(look(e)),
            Some(_) => true,
        };
        if expired {
            guard.remove_if_expired(hash, key, now);
        }
        None
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let changes = std::mem::take(&mut *self.block.changes.lock());
        if !changes.is_empty() {
            let changes: Vec<Change<'_>> = changes.iter().map(Owned::as_change).collect();
            self.store.record(Change::Block(&changes));
        }
    }
}

impl Keyspace for Held<'_> {
    fn read_into(&mut self, key: Key<'_>, now: Millis, out: &mut Vec<u8>, touch: bool) -> bool {
        self.live(key, now, |e| {
            if touch {
                e.touch(now);
            }
            out.clear();
            out.extend_from_slice(e.value());
        })
        .is_some()
    }

    fn touch(&mut self, key: Key<'_>, now: Millis) -> bool {
        self.live(key, now, |e| e.touch(now)).is_some()
    }

    fn get_many(&mut self, keys: &[Key<'_>], now: Millis, touch: bool) -> Vec<Option<Vec<u8>>> {
        keys.iter()
            .map(|&key| {
                let mut value = Vec::new();
                self.read_into(key, now, &mut value, touch).then_some(value)
            })
            .collect()
    }

    fn inspect<T>(
        &mut self,
        key: Key<'_>,
        now: Millis,
        look: impl FnOnce(&[u8], u64, usize) -> T,
    ) -> Option<T> {
        self.live(key, now, |e| {
            look(e.value(), idle_ms(now, e.access()), e.footprint())
        })
    }

    fn ttl(&mut self, key: Key<'_>, now: Millis) -> Ttl {
        match self.live(key, now, |e| e.deadline()) {
            None => Ttl::Missing,
            Some(None) => Ttl::Persistent,
            Some(Some(d)) => Ttl::Remaining(d.0 - now.0),
        }
    }

    fn set_returning(
        &mut self,
        key: Key<'_>,
        value: &[u8],
        now: Millis,
        options: SetOptions,
        mut old: Option<&mut Vec<u8>>,
    ) -> Result<SetOutcome, StoreError> {
        let size = (key.bytes.len() + value.len()) as u64;
        if size > self.store.memory_limit() {
            return Err(StoreError::TooLarge);
        }
        // A refused condition needs no room: decide it before reserving.
        let exists = match old.as_deref_mut() {
            Some(out) => self.read_into(key, now, out, true),
            None => self.exists(key, now),
        };
        if !super::condition_holds(options.condition, exists) {
            return Ok(SetOutcome {
                stored: false,
                had_old: exists,
            });
        }
        let mut reservation = self.reserve(size)?;
        let (guard, hash) = self.find(key).ok_or(StoreError::OutOfMemory)?;
        let entry = set_entry(key, value, hash, now, options.expiry);
        Ok(set_locked(
            guard,
            entry,
            options,
            old,
            &mut reservation,
            now,
        ))
    }

    fn change_deadline(
        &mut self,
        key: Key<'_>,
        now: Millis,
        deadline: Option<Millis>,
        value: Option<&mut Vec<u8>>,
        allowed: &dyn Fn(Option<Millis>) -> bool,
    ) -> DeadlineOutcome {
        match self.find(key) {
            Some((guard, hash)) => guard.set_deadline(hash, key, now, deadline, value, allowed),
            None => DeadlineOutcome::Missing,
        }
    }

    fn remove(&mut self, key: Key<'_>, now: Millis, out: Option<&mut Vec<u8>>) -> bool {
        self.find(key)
            .is_some_and(|(guard, hash)| guard.remove(hash, key, now, out))
    }

    fn update<F>(&mut self, key: Key<'_>, now: Millis, mut compute: F) -> Result<usize, UpdateError>
    where
        F: FnMut(Option<&[u8]>, &mut Vec<u8>) -> Result<(), UpdateError>,
    {
        let mut current = Vec::new();
        let seen = self.live(key, now, |e| {
            current.extend_from_slice(e.value());
            e.deadline()
        });
        let mut new = Vec::new();
        compute(seen.map(|_| current.as_slice()), &mut new)?;
        let size = (key.bytes.len() + new.len()) as u64;
        if size > self.store.memory_limit() {
            return Err(StoreError::TooLarge.into());
        }
        // The old entry's bytes move into the reservation (nobody can
        // change it meanwhile), so only what the value grows by is needed.
        let old = seen.map_or(0, |_| (key.bytes.len() + current.len()) as u64);
        let mut reservation = self.reserve(size.saturating_sub(old))?;
        let (guard, hash) = self.find(key).ok_or(StoreError::OutOfMemory)?;
        if seen.is_some() {
            guard.remove_into(hash, key, now, &mut reservation);
        }
        let entry = NewEntry::new(key, &new, hash, now, seen.flatten(), false);
        guard.insert(entry, &mut reservation, now);
        Ok(new.len())
    }

    fn set_many(
        &mut self,
        pairs: &[(Key<'_>, &[u8])],
        now: Millis,
        only_if_none_exist: bool,
    ) -> Result<bool, StoreError> {
        if only_if_none_exist && pairs.iter().any(|(key, _)| self.exists(*key, now)) {
            return Ok(false);
        }
        let total = pairs
            .iter()
            .map(|(k, v)| (k.bytes.len() + v.len()) as u64)
            .sum();
        let mut reservation = self.reserve(total)?;
        for (key, value) in pairs {
            let (guard, hash) = self.find(*key).ok_or(StoreError::OutOfMemory)?;
            let entry = NewEntry::new(*key, value, hash, now, None, false);
            guard.insert_in_batch(entry, &mut reservation, now);
        }
        self.record(Change::SetMany(pairs));
        Ok(true)
    }

    fn transfer(
        &mut self,
        from: Key<'_>,
        to: Key<'_>,
        now: Millis,
        mode: Transfer,
    ) -> Result<Transferred, StoreError> {
        let mut value = Vec::new();
        let Some(deadline) = self.live(from, now, |e| {
            value.extend_from_slice(e.value());
            e.deadline()
        }) else {
            return Ok(Transferred::Missing);
        };
        if !mode.replace && self.exists(to, now) {
            return Ok(Transferred::Refused);
        }
        let limit = self.store.memory_limit();
        let extra = transfer_bytes(from, to, value.len(), mode, limit)?;
        let mut reservation = self.reserve(extra)?;
        if !mode.keep_source {
            let (source, hash) = self.find(from).ok_or(StoreError::OutOfMemory)?;
            source.remove_into(hash, from, now, &mut reservation);
        }
        let (target, hash) = self.find(to).ok_or(StoreError::OutOfMemory)?;
        let entry = NewEntry::new(to, &value, hash, now, deadline, false);
        if mode.keep_source {
            target.insert(entry, &mut reservation, now);
        } else {
            target.insert_in_batch(entry, &mut reservation, now);
            self.record(Change::Block(&moved(from, to, &value, deadline)));
        }
        Ok(Transferred::Done)
    }

    fn random_key(&mut self, db: u16, now: Millis, out: &mut Vec<u8>) -> bool {
        let guards = &self.guards;
        let counts: Vec<usize> = guards
            .iter()
            .map(|(_, guard)| guard.table().db_count(db).keys)
            .collect();
        self.store.draw_key(&counts, |n, random| {
            draw_from(guards[n].1.table(), random, db, now, out)
        })
    }

    fn scan(
        &mut self,
        db: u16,
        cursor: usize,
        count: usize,
        now: Millis,
        wanted: &dyn Fn(&[u8]) -> bool,
        out: &mut Vec<Vec<u8>>,
    ) -> usize {
        let guards = &self.guards;
        scan_partitions(cursor, count, out, |stripe, part, out| {
            if let Ok(at) = guards.binary_search_by_key(&stripe, |(i, _)| *i) {
                collect_keys(guards[at].1.table(), db, now, wanted, Some(part), out);
            }
        })
    }

    fn keys(
        &mut self,
        db: u16,
        now: Millis,
        wanted: &dyn Fn(&[u8]) -> bool,
        out: &mut Vec<Vec<u8>>,
    ) {
        for (_, guard) in &self.guards {
            collect_keys(guard.table(), db, now, wanted, None, out);
        }
    }

    fn key_count(&mut self, db: u16) -> usize {
        self.guards
            .iter()
            .map(|(_, g)| g.table().db_count(db).keys)
            .sum()
    }

    fn clear(&mut self) {
        for (_, guard) in &mut self.guards {
            self.flushed.push(guard.clear());
        }
        self.record(Change::Flush);
    }

    fn clear_db(&mut self, db: u16) {
        for (_, guard) in &mut self.guards {
            guard.clear_db(db);
        }
        self.record(Change::FlushDb(db));
    }

    fn swap_dbs(&mut self, a: u16, b: u16) {
        for (_, guard) in &mut self.guards {
            guard.swap_dbs(a, b);
        }
        self.record(Change::SwapDb(a, b));
    }

    fn usage(&mut self) -> u64 {
        self.store.usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    fn store(limit: u64) -> Store {
        Store::new(StoreConfig {
            seed: Some(7),
            ..StoreConfig::new(limit, 5)
        })
    }

    fn key(bytes: &[u8]) -> Key<'_> {
        Key::new(bytes).expect("a short key")
    }

    /// Whether EXEC at `now` would find `watch` changed.
    fn changed(store: &Store, watch: Watch, now: Millis) -> bool {
        let block = Block::default();
        let held = store
            .hold(&[watch.stripe()], 0, now, &block)
            .expect("nothing to reserve");
        !held.unchanged(&[watch], now)
    }

    /// Every change to a watched key is seen: a set (even of the same value), a deadline, a deadline passing unreclaimed, a delete, a flush, an eviction.
    #[test]
    fn every_change_to_a_watched_key_is_seen() {
        let s = store(1 << 20);
        let (now, k) = (Millis(1000), key(b"w"));
        let watch = s.watch(k, now);
        s.set(k, b"1", now, SetOptions::PLAIN).unwrap();
        assert!(changed(&s, watch, now), "created");
        let watch = s.watch(k, now);
        s.set(k, b"1", now, SetOptions::PLAIN).unwrap();
        assert!(changed(&s, watch, now), "set to the same value");
        let watch = s.watch(k, now);
        assert!(!changed(&s, watch, now), "untouched");
        let watch = s.watch(k, now);
        s.set_deadline(k, now, Some(Millis(2000)), None);
        assert!(changed(&s, watch, now), "deadline set");
        let watch = s.watch(k, now);
        assert!(changed(&s, watch, Millis(2000)), "deadline passed");
        let watch = s.watch(k, now);
        s.delete(k, now);
        assert!(changed(&s, watch, now), "deleted");
        s.set(k, b"1", now, SetOptions::PLAIN).unwrap();
        let watch = s.watch(k, now);
        s.clear();
        assert!(changed(&s, watch, now), "flushed");

        let small = store(10);
        small.set(k, b"1", now, SetOptions::PLAIN).unwrap();
        let watch = small.watch(k, now);
        small
            .set(key(b"other"), b"1234", now, SetOptions::PLAIN)
            .unwrap();
        assert!(!small.exists(k, now), "evicted");
        assert!(changed(&small, watch, now), "evicted");
    }

    /// A watch aborts without its key changing only when another key of its stripe and bucket changed, as often as 1 - (1023/1024)^W predicts for W writes.
    #[test]
    fn false_aborts_follow_the_stripe_odds() {
        let s = store(1 << 30);
        let now = Millis(1000);
        let trials = 1000;
        for writes in [10, 100, 1000] {
            let mut aborted = 0;
            for trial in 0..trials {
                let watch = s.watch(key(b"watched"), now);
                for i in 0..writes {
                    let k = format!("k{trial}-{i}");
                    s.set(key(k.as_bytes()), b"v", now, SetOptions::PLAIN)
                        .unwrap();
                }
                aborted += u32::from(changed(&s, watch, now));
            }
            let expected = 1.0 - (1023.0f64 / 1024.0).powi(writes);
            let rate = f64::from(aborted) / f64::from(trials);
            println!("{writes} writes to other keys: {rate:.3} of watches aborted ({expected:.3} expected)");
            assert!(
                (rate - expected).abs() < 0.05,
                "{writes} writes: {rate} aborted, {expected} expected"
            );
        }
    }

    /// A transaction's writes are counted exactly, and what its pool did not use is refunded.
    #[test]
    fn a_transaction_counts_its_bytes_exactly() {
        let s = store(1 << 20);
        let now = Millis(1000);
        s.set(key(b"a"), b"12", now, SetOptions::PLAIN).unwrap();
        let stripes: Vec<usize> = Store::all_stripes().collect();
        let block = Block::default();
        {
            let mut held = s.hold(&stripes, 1000, now, &block).unwrap();
            assert_eq!(held.incr_by(key(b"a"), 100, now), Ok(112));
            held.set_returning(key(b"b"), b"xyz", now, SetOptions::PLAIN, None)
                .unwrap();
            assert!(held.delete(key(b"a"), now));
        }
        assert_eq!(s.usage(), 4, "only b and its value remain");
    }
}
