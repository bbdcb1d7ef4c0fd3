//! Reclaiming expired entries that nobody reads.
//!
//! Expiry is checked on every access, so an expired key is gone for every
//! command the moment its deadline comes. Its memory, though, is reclaimed
//! only when something removes it: an access that finds it expired, a write
//! that needs room, or the active cycle below.
//!
//! ## The active cycle
//!
//! A background thread runs [`Store::expire_cycle`] every
//! [`ACTIVE_EXPIRE_INTERVAL`]. Like Redis's active expire cycle, it does a
//! bounded amount of work per run and adapts to how much has expired:
//!
//! 1. Visit the stripes, starting one further along each cycle. A stripe
//!    whose earliest-deadline bound is in the future holds nothing expired
//!    and is skipped without taking its lock.
//! 2. In a stripe that may hold expired entries, scan one chunk of
//!    [`CHUNK_SLOTS`] slots under the write lock, removing the expired
//!    entries (their bytes leave USAGE in that critical section, and
//!    their records go back to the stripe's slab; a record with an
//!    allocation of its own is freed after the lock is released).
//! 3. Scan the next chunk of the same stripe while at least
//!    [`REPEAT_PERCENT`] % of the entries with a deadline in the last chunk
//!    had expired; otherwise move to the next stripe.
//! 4. Stop when the cycle has used its time budget
//!    ([`ACTIVE_EXPIRE_BUDGET`]); the next cycle resumes where the scan
//!    cursors stopped.
//!
//! A lock is held for one chunk at a time, a few microseconds, so readers
//! are not stalled when a million keys expire in the same second: the cycle
//! reclaims them over several runs using at most a quarter of one CPU.
//!
//! ## Under memory pressure
//!
//! A SET that needs room calls [`Store::reclaim_expired`] before it evicts
//! anything live: it scans stripes that may hold expired entries until it
//! has removed at least one. A scan that finds none completes its pass and
//! makes the stripe's bound exact, so the next writer skips that stripe
//! without looking. Expired entries thus always go before live ones.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::clock::Millis;
use super::table::{Chunk, Removed};
use super::{Store, Stripe, STRIPES};

/// Pause between two active expiry cycles, as Redis's default `hz` of 10.
pub const ACTIVE_EXPIRE_INTERVAL: Duration = Duration::from_millis(100);

/// Most time one active cycle spends: a quarter of its interval, so the
/// cycle uses at most 25 % of one CPU however many keys expire at once.
pub const ACTIVE_EXPIRE_BUDGET: Duration = Duration::from_millis(25);

/// Slots examined per lock hold. Small enough that a scan holds a stripe
/// for microseconds; large enough to amortise taking the lock.
const CHUNK_SLOTS: usize = 256;

/// Keep scanning a stripe while at least this share (percent) of the
/// entries with a deadline in the last chunk had expired.
const REPEAT_PERCENT: usize = 25;

impl Store {
    /// One active expiry cycle at `now`, spending at most `budget`.
    /// Returns the number of entries reclaimed.
    pub fn expire_cycle(&self, now: Millis, budget: Duration) -> usize {
        let started = Instant::now();
        let first = self.expire_next.fetch_add(1, Ordering::Relaxed);
        let mut removed = Vec::new();
        let mut reclaimed = 0;
        for offset in 0..STRIPES {
            let stripe = &self.stripes[(first + offset) % STRIPES];
            if !stripe.may_have_expired(now) {
                continue;
            }
            loop {
                let chunk = self.expire_chunk(stripe, now, &mut removed);
                reclaimed += chunk.expired;
                if started.elapsed() >= budget {
                    return reclaimed;
                }
                let few_expired = chunk.with_deadline > 0
                    && chunk.expired * 100 < chunk.with_deadline * REPEAT_PERCENT;
                if chunk.pass_done || few_expired {
                    break;
                }
            }
        }
        reclaimed
    }

    /// Removes expired entries until at least one is gone. Returns whether
    /// any was: `false` means no entry of the store is expired at `now`.
    pub(super) fn reclaim_expired(&self, now: Millis) -> bool {
        let first = self.expire_next.load(Ordering::Relaxed);
        let mut removed = Vec::new();
        for offset in 0..STRIPES {
            let stripe = &self.stripes[(first + offset) % STRIPES];
            while stripe.may_have_expired(now) {
                let chunk = self.expire_chunk(stripe, now, &mut removed);
                if chunk.expired > 0 {
                    return true;
                }
                if chunk.pass_done {
                    break;
                }
            }
        }
        false
    }

    /// Scans one chunk of `stripe` under its write lock, taking the removed
    /// entries' bytes out of the count. `removed` is scratch space, reused.
    fn expire_chunk(&self, stripe: &Stripe, now: Millis, removed: &mut Vec<Removed>) -> Chunk {
        self.write(stripe).expire_chunk(now, CHUNK_SLOTS, removed)
    }
}
