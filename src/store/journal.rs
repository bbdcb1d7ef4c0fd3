//! The hook through which the store hands each change to whoever must see
//! it (the append-only file, client-side caching's invalidations), and the
//! changes it hands on.
//!
//! The store never sees a file or a client: with a [`Journal`] attached
//! ([`super::Store::add_journal`]; several may be), every [`super::guard::WriteGuard`]
//! method that changes a table describes the change as a [`Change`] and
//! passes it to [`Journal::record`] under the stripe's write lock, so the
//! changes of one key reach the journal in the order the stripe applied
//! them. A change that spans stripes (MSET, MSETNX, RENAME, FLUSHALL, a
//! transaction) is recorded once,
//! while every stripe it touches is locked, so no other change can fall
//! inside it. Without a journal the hook is a check of an empty list; a
//! journal that wants nothing for now ([`Journal::wants`]) costs one call
//! per lock taken.
//!
//! A change of one key, made by a write guard under its stripe's lock
//! alone, comes with that stripe's index ([`Journal::record_in`]): the
//! changes of different stripes concern different keys and commute, so a
//! journal may keep each stripe's in a queue of its own, and only a
//! change that may span stripes ([`Journal::record`]) has to be ordered
//! against all of them.
//!
//! `record` runs under stripe locks: an implementation must be quick (a
//! copy into a buffer) and must never take a stripe lock itself.

use std::sync::Arc;

use super::clock::Millis;
use super::Key;

/// One change to the store, as the store applied it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// The key now holds `value`, expiring at `deadline` if given.
    Set {
        key: Key<'a>,
        value: &'a [u8],
        deadline: Option<Millis>,
    },
    /// The key's deadline changed (`None`: it no longer expires).
    Deadline {
        key: Key<'a>,
        deadline: Option<Millis>,
    },
    /// The key is gone: deleted, expired or evicted.
    Del { key: Key<'a> },
    /// Every pair was stored at once, in this order (MSET): one change.
    SetMany(&'a [(Key<'a>, &'a [u8])]),
    /// Every key of every database is gone (FLUSHALL).
    Flush,
    /// Every key of this database is gone (FLUSHDB).
    FlushDb(u16),
    /// These two databases exchanged their keys (SWAPDB).
    SwapDb(u16, u16),
    /// Changes applied as one, in this order, recorded while every stripe
    /// they touched is locked: a transaction's (MULTI/EXEC), or a RENAME's
    /// removal of its source and setting of its target.
    Block(&'a [Change<'a>]),
}

/// Where the store hands its changes. See the module documentation.
pub trait Journal: Send + Sync {
    /// Takes a change recorded while every stripe it touched is locked,
    /// whatever it is.
    fn record(&self, change: Change<'_>);

    /// Takes a change of one key of stripe `stripe`, recorded under that
    /// stripe's write lock.
    fn record_in(&self, stripe: usize, change: Change<'_>) {
        let _ = stripe;
        self.record(change);
    }

    /// Whether it wants changes now; a journal that does not is not
    /// handed any (nor does a transaction keep its changes for it). Read
    /// once a write holds its lock, so a journal that starts wanting is
    /// handed every change made under a lock taken after that.
    fn wants(&self) -> bool {
        true
    }
}

/// Every journal attached to a store, as one.
#[derive(Default)]
pub(super) struct Journals(Vec<Arc<dyn Journal>>);

impl Journals {
    pub(super) fn add(&mut self, journal: Arc<dyn Journal>) {
        self.0.push(journal);
    }
}

impl Journal for Journals {
    fn record(&self, change: Change<'_>) {
        for journal in &self.0 {
            if journal.wants() {
                journal.record(change);
            }
        }
    }

    fn record_in(&self, stripe: usize, change: Change<'_>) {
        for journal in &self.0 {
            if journal.wants() {
                journal.record_in(stripe, change);
            }
        }
    }

    fn wants(&self) -> bool {
        self.0.iter().any(|j| j.wants())
    }
}
