//! Making room: byte reservation and sampled LRU eviction.
//!
//! ## The approach
//!
//! Blink-Store approximates least-recently-used eviction the way Redis does,
//! without a global LRU list (which every GET would have to lock and
//! reorder). Each entry carries a coarse last-access tick (see
//! [`super::Clock`]), written by GET and SET. When a SET needs room, it picks
//! a victim like this:
//!
//! 1. Draw [`DEFAULT_SAMPLES`] (`--eviction-samples`) entries close to
//!    uniformly at random: a random stripe (the next non-empty one if it is
//!    empty), then a random slot of that stripe's table, walking forward to
//!    the first full slot. An entry after a run of empty slots or stripes
//!    is the likelier, which matters only in a sparse store, and eviction
//!    runs in a full one; RANDOMKEY, which must be fair at any size, draws
//!    otherwise ([`Store::draw_key`]). Each draw holds one stripe's read
//!    lock, only for the draw.
//! 2. The sampled entry idle the longest is the victim (an expired one wins
//!    outright). Ages are compared as signed differences to `now`, so an
//!    entry touched by another thread whose clock read a tick later counts
//!    as young, not as 49 days old.
//! 3. Take the victim's stripe write lock, find the victim again by its
//!    identity (its allocation's address, under its hash's home slot) and
//!    remove it, subtracting its bytes in the same critical section. If
//!    another thread removed or replaced it in between, nothing is removed
//!    and the caller simply tries again.
//!
//! ## Tunables
//!
//! - Sample size K ([`DEFAULT_SAMPLES`] = 5). Larger K follows true LRU more
//!   closely and costs K read locks per eviction; K = 1 is random eviction.
//! - [`RESERVE_PATIENCE`]: how long a SET waits for room held by other SETs
//!   in flight before giving up with "out of memory".
//!
//! ## Reservation and the limit
//!
//! A SET of `n` bytes first adds `n` to the byte count with a
//! compare-and-swap that never lets the count pass the limit; while that
//! fails, it reclaims expired entries if any stripe may hold one (see
//! [`super::expire`]), and only when none is left evicts one live entry,
//! then retries. Only then does it insert. So the
//! counted bytes never exceed the limit, even with many writers at once, and
//! an overwrite momentarily counts both old and new values (on the safe
//! side) until the insert subtracts the old one.
//!
//! The store can be empty while the count is still at the limit: the bytes
//! then belong to reservations of SETs about to insert. The SET waits for
//! them by yielding, up to [`RESERVE_PATIENCE`].
//!
//! ## What is approximate
//!
//! The victim is the oldest of K random entries, not the oldest overall; the
//! tick is coarse (one millisecond), so entries touched in the same tick tie;
//! and the tick wraps after 49 days, so ages are exact only within ±24 days.
//! Sampling is uniform over slots, which is close to uniform over entries
//! because linear probing keeps runs short.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::guard::Reservation;
use super::table::{Sample, Table};
use super::{Millis, Store, StoreError, STRIPES};

/// Entries sampled per eviction when `--eviction-samples` is not given.
/// Redis's default `maxmemory-samples`: close to LRU at a small cost.
pub const DEFAULT_SAMPLES: usize = 5;

/// Longest a SET waits for room that only other in-flight SETs hold.
const RESERVE_PATIENCE: Duration = Duration::from_secs(1);

/// What one eviction attempt achieved.
pub(super) enum Eviction {
    /// An entry was removed and its bytes freed.
    Freed,
    /// The chosen victim was removed or replaced by someone else first.
    Raced,
    /// There was nothing to sample.
    Empty,
}

impl Store {
    /// Adds `size` bytes to the count without passing the limit, evicting
    /// entries until that is possible. The caller checked `size <= limit`.
    /// The bytes are refunded when the reservation is dropped, but for what
    /// an insert consumed.
    pub(super) fn reserve(&self, size: u64, now: Millis) -> Result<Reservation<'_>, StoreError> {
        self.reserve_sparing(size, now, None)
    }

    /// [`Store::reserve`], never evicting the entry `spared` (its stripe
    /// and id): the source of a COPY, which must outlive the room made
    /// for its copy.
    pub(super) fn reserve_sparing(
        &self,
        size: u64,
        now: Millis,
        spared: Option<(usize, usize)>,
    ) -> Result<Reservation<'_>, StoreError> {
        // Nothing to make room for: no eviction, even over a limit lowered
        // below the count (a read-only transaction, a RENAME to a name no
        // longer than the old one).
        if size == 0 {
            return Ok(Reservation::new(self, 0));
        }
        let mut waiting_since: Option<Instant> = None;
        loop {
            let used = self.used.load(Ordering::Relaxed);
            match used.checked_add(size) {
                Some(total) if total <= self.memory_limit() => {
                    if self
                        .used
                        .compare_exchange_weak(used, total, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                    {
                        return Ok(Reservation::new(self, size));
                    }
                    continue;
                }
                _ => {}
            }
            // Expired entries go before any live one is evicted.
            if self.reclaim_expired(now) {
                continue;
            }
            match self.evict_one(now, spared) {
                Eviction::Freed | Eviction::Raced => {}
                Eviction::Empty => {
                    let since = *waiting_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > RESERVE_PATIENCE {
                        return Err(StoreError::OutOfMemory);
                    }
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Adds `size` bytes to the count if that does not pass the limit,
    /// evicting nothing: for a transaction, which holds stripe locks and
    /// so must not evict (see [`super::transaction`]).
    pub(super) fn try_reserve(&self, size: u64) -> Option<Reservation<'_>> {
        let limit = self.memory_limit();
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(size).filter(|&total| total <= limit)
            })
            .ok()
            .map(|_| Reservation::new(self, size))
    }

    /// Samples entries and evicts the one least recently used, never the
    /// entry `spared` (its stripe and id).
    pub(super) fn evict_one(&self, now: Millis, spared: Option<(usize, usize)>) -> Eviction {
        let mut victim: Option<(usize, Sample)> = None;
        for _ in 0..self.eviction_samples() {
            let Some((stripe, sample)) = self.sample(now) else {
                return Eviction::Empty;
            };
            if spared == Some((stripe, sample.id)) {
                continue;
            }
            let older = match &victim {
                None => true,
                Some((_, best)) => rank(now, &sample) > rank(now, best),
            };
            if older {
                victim = Some((stripe, sample));
            }
        }
        let Some((stripe, sample)) = victim else {
            return Eviction::Empty;
        };
        let stripe = &self.stripes[stripe];
        if self.write(stripe).evict(sample.hash, sample.id, now) {
            Eviction::Freed
        } else {
            Eviction::Raced
        }
    }

    /// One entry drawn close to uniformly at random (step 1 of the module
    /// documentation says how close) and its stripe, or `None` when every
    /// stripe is empty.
    fn sample(&self, now: Millis) -> Option<(usize, Sample)> {
        let r = self.random();
        let first = (r >> 58) as usize;
        (0..STRIPES).find_map(|offset| {
            let stripe = (first + offset) % STRIPES;
            let table = self.stripes[stripe].table.read();
            table
                .sample_from(r as usize, now, None)
                .map(|s| (stripe, s))
        })
    }
}

/// Draws RANDOMKEY makes looking for a key that has not expired before it
/// settles for one that has (and answers as if the store were empty).
const RANDOM_KEY_DRAWS: usize = 16;

impl Store {
    /// Copies a random live key of database `db` into `out` (RANDOMKEY),
    /// uniformly over the database's entries (see `Store::draw_key`).
    /// Returns whether one was found; an expired entry drawn is skipped,
    /// and after [`RANDOM_KEY_DRAWS`] expired draws the store counts as
    /// empty.
    pub fn random_key(&self, db: u16, now: Millis, out: &mut Vec<u8>) -> bool {
        let counts: Vec<usize> = self
            .stripes
            .iter()
            .map(|stripe| stripe.table.read().db_count(db).keys)
            .collect();
        self.draw_key(&counts, |stripe, random| {
            draw_from(&self.stripes[stripe].table.read(), random, db, now, out)
        })
    }

    /// RANDOMKEY's draws over tables holding `counts[i]` entries of the
    /// database each (every stripe, or a transaction's held ones): each
    /// draw picks a table with a chance in proportion to its count, and
    /// `draw(table, random)` picks one of its entries uniformly (see
    /// [`draw_from`]), so every entry is as likely as any other. A count
    /// read before its table is locked may be stale: a table found empty
    /// costs a draw.
    pub(super) fn draw_key(
        &self,
        counts: &[usize],
        mut draw: impl FnMut(usize, &mut dyn FnMut() -> u64) -> Option<bool>,
    ) -> bool {
        let total: usize = counts.iter().sum();
        if total == 0 {
            return false;
        }
        let mut random = || self.random();
        for _ in 0..RANDOM_KEY_DRAWS {
            let mut pick = (random() % total as u64) as usize;
            let table = counts
                .iter()
                .position(|&count| {
                    let here = pick < count;
                    pick = pick.saturating_sub(count);
                    here
                })
                .unwrap_or(0);
            if draw(table, &mut random) == Some(true) {
                return true;
            }
        }
        false
    }
}

/// One RANDOMKEY draw from database `db` of `table` (see [`Table::draw`]):
/// `None` when it has no entry of `db`, `Some(false)` when the entry
/// drawn has expired, `Some(true)` when it is live and its key was copied
/// into `out`.
pub(super) fn draw_from(
    table: &Table,
    random: &mut dyn FnMut() -> u64,
    db: u16,
    now: Millis,
    out: &mut Vec<u8>,
) -> Option<bool> {
    let sample = table.draw(random, now, db)?;
    if !sample.expired {
        let entry = table.get_by_id(sample.hash, sample.id)?;
        out.clear();
        out.extend_from_slice(entry.key());
    }
    Some(!sample.expired)
}

/// How good a victim a sample is: expired entries first, then the longest
/// idle, with idle time as a signed number of ticks.
fn rank(now: Millis, sample: &Sample) -> (bool, i32) {
    (
        sample.expired,
        now.tick().wrapping_sub(sample.access) as i32,
    )
}

impl Store {
    /// A pseudo-random number: splitmix64 over a shared counter. Only
    /// eviction draws from it, one number per sample, so sharing one
    /// atomic is cheap next to the stripe locks eviction takes anyway; a
    /// seeded store draws the same sequence every run.
    pub(super) fn random(&self) -> u64 {
        let mut z = self.rng.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}
