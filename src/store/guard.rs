//! The one seam through which the store changes: a stripe's write guard,
//! and byte reservations that refund themselves.
//!
//! Every insert, overwrite, removal, expiry and eviction goes through a
//! [`WriteGuard`]: it holds the stripe's write lock, and each of its
//! methods changes the table and, in the same critical section, the byte
//! count and the expiry and eviction counters; dropping it publishes the
//! stripe's earliest deadline, releases the lock, and only then frees the
//! large records the change let go. So the accounting invariants of
//! [`super`] hold by construction, not by each call site remembering them,
//! and this is the place where each change is handed to the store's
//! [`super::Journal`], when it has one, exactly once, in the order the
//! stripe applied it.
//!
//! A [`Reservation`] is bytes added to the count before a write takes its
//! lock (so the count never passes the limit, see [`super::evict`]). An
//! insert consumes what it stores; whatever is left when the reservation
//! is dropped (a condition said no, an error, a smaller value) is refunded.

use std::sync::atomic::Ordering;

use parking_lot::RwLockWriteGuard;

use super::journal::{Change, Journal};
use super::table::{Chunk, DeadlineChange, NewEntry, Removed, Table};
use super::{Key, Millis, Store, Stripe};

/// Bytes added to the store's count for a write in flight.
#[must_use]
pub(super) struct Reservation<'s> {
    store: &'s Store,
    bytes: u64,
}

impl<'s> Reservation<'s> {
    /// Takes ownership of `bytes` already added to `store`'s count.
    pub(super) fn new(store: &'s Store, bytes: u64) -> Reservation<'s> {
        Reservation { store, bytes }
    }

    /// Moves `bytes` of this reservation into a new one, when it holds as
    /// many (a transaction's pool handing each write its share).
    pub(super) fn split(&mut self, bytes: u64) -> Option<Reservation<'s>> {
        self.bytes = self.bytes.checked_sub(bytes)?;
        Some(Reservation::new(self.store, bytes))
    }

    /// Hands `bytes` of the reservation to a stored entry: they stay in
    /// the count, now counted as the entry's.
    fn consume(&mut self, bytes: u64) {
        debug_assert!(
            bytes <= self.bytes,
            "an insert consumed more than was reserved"
        );
        self.bytes -= bytes.min(self.bytes);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.store.used.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

/// What a conditional deadline change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadlineOutcome {
    /// No such live key.
    Missing,
    /// The condition said no; nothing changed.
    Refused,
    /// The deadline is set, or the key removed when it was already due.
    Done,
}

/// A stripe's table under its write lock. See the module documentation.
pub(super) struct WriteGuard<'s> {
    store: &'s Store,
    stripe: &'s Stripe,
    table: RwLockWriteGuard<'s, Table>,
    /// Where this guard's changes are recorded: the store's journal, or a
    /// transaction's block (see [`super::transaction`]).
    journal: Option<&'s dyn Journal>,
    /// Records with an allocation of their own that changes let go: freed
    /// after the lock is released (fields drop in order, `table` first).
    freed: Vec<Box<[u8]>>,
}

impl<'s> WriteGuard<'s> {
    pub(super) fn new(store: &'s Store, stripe: &'s Stripe) -> WriteGuard<'s> {
        let mut guard = WriteGuard::unrecorded(store, stripe);
        // Asked once the lock is held: see `Journal::wants`.
        guard.journal = store.journal();
        guard
    }

    /// As [`WriteGuard::new`], recording nothing until told where
    /// ([`WriteGuard::record_into`]).
    pub(super) fn unrecorded(store: &'s Store, stripe: &'s Stripe) -> WriteGuard<'s> {
        WriteGuard {
            store,
            stripe,
            table: stripe.table.write(),
            journal: None,
            freed: Vec::new(),
        }
    }

    /// From now on, records this guard's changes into `journal` instead of
    /// the store's (a transaction's block).
    pub(super) fn record_into(&mut self, journal: Option<&'s dyn Journal>) {
        self.journal = journal;
    }

    /// Hands `change`, a change of one key of this stripe, to this
    /// guard's journal, if any.
    fn record(&self, change: Change<'_>) {
        if let Some(journal) = self.journal {
            journal.record_in(self.stripe.index, change);
        }
    }

    /// The table, to read under the lock.
    pub(super) fn table(&self) -> &Table {
        &self.table
    }

    /// Takes a removed entry out of the count (as expired when it was) and
    /// keeps its large record, if any, to free after the lock.
    fn account(&mut self, removed: Removed, now: Millis) -> Removed {
        self.table.changed(removed.hash(), removed.db());
        self.store.used.fetch_sub(removed.size(), Ordering::Relaxed);
        if removed.is_expired(now) {
            self.store.expired.fetch_add(1, Ordering::Relaxed);
        }
        let (removed, record) = removed.detach();
        self.freed.extend(record);
        removed
    }

    /// Stores `entry`, its bytes taken from `reservation`, replacing the
    /// key's entry if there is one.
    pub(super) fn insert(
        &mut self,
        entry: NewEntry<'_>,
        reservation: &mut Reservation<'_>,
        now: Millis,
    ) {
        self.record(Change::Set {
            key: entry.key(),
            value: entry.value(),
            deadline: entry.deadline(),
        });
        self.insert_in_batch(entry, reservation, now);
    }

    /// As [`WriteGuard::insert`], but recording nothing: the caller
    /// records the whole batch as one change while it holds every guard
    /// the batch needs (MSET).
    pub(super) fn insert_in_batch(
        &mut self,
        entry: NewEntry<'_>,
        reservation: &mut Reservation<'_>,
        now: Millis,
    ) {
        reservation.consume(entry.size());
        self.table.changed(entry.hash(), entry.key().db());
        if let Some(replaced) = self.table.insert(entry) {
            self.account(replaced, now);
        }
    }

    /// Removes `key`, copying its value into `out` first when given and
    /// live. Returns whether a live entry was removed.
    pub(super) fn remove(
        &mut self,
        hash: u32,
        key: Key<'_>,
        now: Millis,
        out: Option<&mut Vec<u8>>,
    ) -> bool {
        match self.table.remove(hash, key, now, out) {
            Some(removed) => {
                self.record(Change::Del { key });
                !self.account(removed, now).is_expired(now)
            }
            None => false,
        }
    }

    /// Removes the live entry of `key` without recording it, its bytes
    /// moving into `reservation` instead of leaving the count: the caller
    /// stores them again under another key and records the whole move as
    /// one change while it holds every guard (RENAME). Returns whether a
    /// live entry was there.
    pub(super) fn remove_into(
        &mut self,
        hash: u32,
        key: Key<'_>,
        now: Millis,
        reservation: &mut Reservation<'_>,
    ) -> bool {
        match self.table.remove(hash, key, now, None) {
            Some(removed) => {
                self.table.changed(hash, key.db());
                let (removed, record) = removed.detach();
                self.freed.extend(record);
                reservation.bytes += removed.size();
                true
            }
            None => false,
        }
    }

    /// Counts a change of `key` for its watches, whether or not an entry
    /// changed: a SET whose deadline has already passed leaves nothing
    /// where there was nothing, but a watch of the key sees the write, as
    /// Redis's WATCH does.
    pub(super) fn touch(&mut self, hash: u32, key: Key<'_>) {
        self.table.changed(hash, key.db());
    }

    /// Removes `key` if it has expired at `now`.
    pub(super) fn remove_if_expired(&mut self, hash: u32, key: Key<'_>, now: Millis) {
        if self.table.get(hash, key).is_some_and(|e| e.is_expired(now)) {
            self.remove(hash, key, now, None);
        }
    }

    /// Removes the entry sampled as `id` for eviction, counting it as
    /// evicted (or expired, when it was). Returns whether it was still
    /// there.
    pub(super) fn evict(&mut self, hash: u32, id: usize, now: Millis) -> bool {
        if self.journal.is_some() {
            if let Some(entry) = self.table.get_by_id(hash, id) {
                self.record(Change::Del {
                    key: entry.as_key(),
                });
            }
        }
        let Some(removed) = self.table.remove_by_id(hash, id) else {
            return false;
        };
        if !self.account(removed, now).is_expired(now) {
            self.store.evictions.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Sets (`Some`) or clears (`None`) the deadline of `key` if
    /// `allowed(current deadline)` says so, copying its value into `value`
    /// when given (GETEX). A deadline not after `now` removes the key
    /// instead, as Redis's EXPIRE with a time in the past does.
    pub(super) fn set_deadline(
        &mut self,
        hash: u32,
        key: Key<'_>,
        now: Millis,
        deadline: Option<Millis>,
        value: Option<&mut Vec<u8>>,
        allowed: &dyn Fn(Option<Millis>) -> bool,
    ) -> DeadlineOutcome {
        if deadline.is_some_and(|d| d <= now) {
            let Some(current) = self.table.get(hash, key).filter(|e| !e.is_expired(now)) else {
                self.remove_if_expired(hash, key, now);
                return DeadlineOutcome::Missing;
            };
            if !allowed(current.deadline()) {
                return DeadlineOutcome::Refused;
            }
            self.remove(hash, key, now, value);
            return DeadlineOutcome::Done;
        }
        match self
            .table
            .set_deadline(hash, key, now, deadline, value, allowed)
        {
            DeadlineChange::Missing => DeadlineOutcome::Missing,
            DeadlineChange::Refused => DeadlineOutcome::Refused,
            DeadlineChange::Expired(removed) => {
                self.record(Change::Del { key });
                self.account(removed, now);
                DeadlineOutcome::Missing
            }
            // Clearing the deadline of a key that has none changes
            // nothing: nothing to record, and no watch disturbed (Redis's
            // PERSIST).
            DeadlineChange::Done { had: false } if deadline.is_none() => DeadlineOutcome::Done,
            DeadlineChange::Done { .. } => {
                self.table.changed(hash, key.db());
                self.record(Change::Deadline { key, deadline });
                DeadlineOutcome::Done
            }
        }
    }

    /// Scans up to `max_slots` slots for expired entries and removes them.
    pub(super) fn expire_chunk(
        &mut self,
        now: Millis,
        max_slots: usize,
        scratch: &mut Vec<Removed>,
    ) -> Chunk {
        let journal = self.journal;
        let index = self.stripe.index;
        let chunk = self
            .table
            .expire_chunk(now, max_slots, scratch, &mut |key| {
                if let Some(journal) = journal {
                    journal.record_in(index, Change::Del { key });
                }
            });
        for removed in scratch.drain(..) {
            self.account(removed, now);
        }
        chunk
    }

    /// Removes every entry of database `db`, recording nothing: the
    /// caller records one [`Change::FlushDb`] while it holds every stripe.
    pub(super) fn clear_db(&mut self, db: u16) {
        for removed in self.table.remove_db(db) {
            // A flush counts nothing as expired: account by hand what
            // `account` would, but the counter.
            self.store.used.fetch_sub(removed.size(), Ordering::Relaxed);
            let (_, record) = removed.detach();
            self.freed.extend(record);
        }
    }

    /// Exchanges databases `a` and `b`, recording nothing: the caller
    /// records one [`Change::SwapDb`] while it holds every stripe.
    pub(super) fn swap_dbs(&mut self, a: u16, b: u16) {
        self.table.swap_dbs(a, b);
    }

    /// Removes every entry, recording nothing: the caller records one
    /// [`Change::Flush`] while it holds every stripe. The table's memory
    /// is freed after the lock.
    pub(super) fn clear(&mut self) -> Table {
        let table = std::mem::take(&mut *self.table);
        self.table.succeed(&table);
        self.store.used.fetch_sub(table.bytes(), Ordering::Relaxed);
        table
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.stripe.publish(&self.table);
    }
}
