//! The hook through which the store hands each change to a log, and the
//! changes it hands on.
//!
//! The store never sees a file: with a [`Journal`] attached
//! ([`super::Store::set_journal`]), every [`super::guard::WriteGuard`]
//! method that changes a table describes the change as a [`Change`] and
//! passes it to [`Journal::record`] under the stripe's write lock, so the
//! changes of one key reach the journal in the order the stripe applied
//! them. A change that spans stripes (MSET, MSETNX, RENAME, FLUSHALL, a
//! transaction) is recorded once,
//! while every stripe it touches is locked, so no other change can fall
//! inside it. Without a journal the hook is one `Option` check.
//!
//! `record` runs under stripe locks: an implementation must be quick (a
//! copy into a buffer) and must never take a stripe lock itself.

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
    fn record(&self, change: Change<'_>);
}
