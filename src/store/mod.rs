//! The key-value store: 64 lock stripes, exact byte accounting, and sampled
//! eviction under a memory limit.
//!
//! The store never sees a socket or a protocol: it takes validated keys
//! ([`Key`]), byte values and the current clock tick, and answers with plain
//! values. Callers pass `now` explicitly (see [`Clock`]) so tests can drive
//! time instead of sleeping.
//!
//! ## Concurrency
//!
//! Each stripe is a `parking_lot::RwLock` around one [`table::Table`]. A key
//! belongs to the stripe picked by the top six bits of its hash. GET takes
//! only the read lock (the access tick is atomic); SET, DELETE and eviction
//! take the write lock. A thread holds at most one stripe lock at any
//! moment, so there is no lock order to get wrong; work that spans stripes
//! (eviction sampling, counting, flushing) visits them one at a time in
//! ascending index order. Nothing slow happens under a stripe lock: entries
//! are allocated before it is taken and freed after it is released, and no
//! I/O or encoding ever runs under it.
//!
//! ## Accounting invariants
//!
//! - `used` is the sum over live entries of key bytes plus value bytes, plus
//!   the bytes reserved by SETs that are between reserving and inserting.
//!   At rest it is exactly the live bytes (what USAGE reports).
//! - `used <= limit` at every instant: a SET reserves its bytes with a
//!   compare-and-swap that refuses to pass the limit, evicting until the
//!   reservation fits, and only then inserts.
//! - An entry's bytes leave `used` in the same critical section that removes
//!   the entry from its table, by whichever operation removed it (overwrite,
//!   DELETE or eviction). An entry is removed once, so it is subtracted once
//!   and `used` can neither drift nor wrap.

mod clock;
mod evict;
mod table;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

pub use clock::Clock;
pub use evict::DEFAULT_SAMPLES;
pub use table::MAX_KEY_LEN;

use table::{Entry, Table};

/// Number of lock stripes. A power of two: the stripe is the hash's top bits.
const STRIPES: usize = 64;

/// Bits of the hash that pick the stripe (`STRIPES == 1 << STRIPE_BITS`).
const STRIPE_BITS: u32 = 6;

/// A key that has been checked against [`MAX_KEY_LEN`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key<'a>(&'a [u8]);

impl<'a> Key<'a> {
    /// `None` when the key is longer than [`MAX_KEY_LEN`] bytes.
    pub fn new(bytes: &'a [u8]) -> Option<Key<'a>> {
        (bytes.len() <= MAX_KEY_LEN).then_some(Key(bytes))
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
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

/// Settings of a store.
#[derive(Clone, Copy, Debug)]
pub struct StoreConfig {
    /// Most key plus value bytes held at once.
    pub memory_limit: u64,
    /// Entries sampled to choose each eviction victim.
    pub eviction_samples: usize,
}

/// One stripe, aligned to its own pair of cache lines so that writers on
/// neighbouring stripes do not contend on the lock word.
#[repr(align(128))]
#[derive(Default)]
struct Stripe {
    /// Guards every entry whose key hashes to this stripe.
    table: RwLock<Table>,
}

pub struct Store {
    stripes: Box<[Stripe]>,
    /// Live plus reserved bytes; see the module's accounting invariants.
    used: AtomicU64,
    limit: u64,
    samples: usize,
    /// Entries removed to make room, since start.
    evictions: AtomicU64,
    hasher: RandomState,
}

impl Store {
    pub fn new(config: StoreConfig) -> Store {
        Store {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            used: AtomicU64::new(0),
            limit: config.memory_limit,
            samples: config.eviction_samples.max(1),
            evictions: AtomicU64::new(0),
            hasher: RandomState::new(),
        }
    }

    fn hash(&self, key: Key<'_>) -> u64 {
        self.hasher.hash_one(key.0)
    }

    fn stripe(&self, hash: u64) -> &RwLock<Table> {
        &self.stripes[(hash >> (64 - STRIPE_BITS)) as usize].table
    }

    /// Copies the value of `key` into `out` (replacing its contents) and
    /// records the access. Returns whether the key exists.
    pub fn get_into(&self, key: Key<'_>, now: u32, out: &mut Vec<u8>) -> bool {
        let hash = self.hash(key);
        let table = self.stripe(hash).read();
        match table.get(hash as u32, key.0) {
            Some(entry) => {
                entry.touch(now);
                out.clear();
                out.extend_from_slice(entry.value());
                true
            }
            None => false,
        }
    }

    /// Stores `value` under `key`, evicting other entries if needed.
    pub fn set(&self, key: Key<'_>, value: &[u8], now: u32) -> Result<(), StoreError> {
        let size = (key.0.len() + value.len()) as u64;
        if size > self.limit {
            return Err(StoreError::TooLarge);
        }
        self.reserve(size, now)?;
        let hash = self.hash(key);
        let entry = Entry::new(key.0, value, hash as u32, now);
        let replaced = {
            let mut table = self.stripe(hash).write();
            let replaced = table.insert(entry);
            if let Some(old) = &replaced {
                self.used.fetch_sub(old.size(), Ordering::Relaxed);
            }
            replaced
        };
        drop(replaced);
        Ok(())
    }

    /// Removes `key`. Returns whether it existed.
    pub fn delete(&self, key: Key<'_>) -> bool {
        let hash = self.hash(key);
        let removed = {
            let mut table = self.stripe(hash).write();
            let removed = table.remove(hash as u32, key.0);
            if let Some(old) = &removed {
                self.used.fetch_sub(old.size(), Ordering::Relaxed);
            }
            removed
        };
        removed.is_some()
    }

    /// Key plus value bytes of all live entries (and of writes in flight).
    pub fn usage(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn memory_limit(&self) -> u64 {
        self.limit
    }

    /// Number of live entries, counted stripe by stripe.
    pub fn len(&self) -> usize {
        self.stripes.iter().map(|s| s.table.read().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries evicted to make room since the store was created.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Removes every entry, one stripe at a time in ascending order.
    pub fn clear(&self) {
        for stripe in self.stripes.iter() {
            let removed = {
                let mut table = stripe.table.write();
                let removed = std::mem::take(&mut *table);
                self.used.fetch_sub(removed.bytes(), Ordering::Relaxed);
                removed
            };
            drop(removed);
        }
    }
}

#[cfg(test)]
mod tests;
