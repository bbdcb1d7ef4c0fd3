//! The monotonic clock that dates accesses and expiry deadlines.
//!
//! Time is milliseconds since the clock was made. Deadlines are kept in
//! full (`u64`); the access tick beside each entry is the same count cut to
//! 32 bits, which wraps after about 49 days; eviction compares ticks as
//! signed differences, which stay right across the wrap.
//!
//! The store never reads a clock itself: callers read one per request and
//! pass the time in. A [`Clock::manual`] clock only moves when told to, so
//! tests can expire keys without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic millisecond clock: the system's, or a manual one for tests.
#[derive(Clone, Debug)]
pub struct Clock {
    source: Source,
    /// Unix milliseconds when the clock started: read once, so that every
    /// conversion between the two agrees (an EXPIREAT reads back as given)
    /// even if the system clock is set meanwhile.
    unix_start: u64,
}

#[derive(Clone, Debug)]
enum Source {
    System(Instant),
    /// Milliseconds, moved only by [`Clock::advance`]; shared by clones.
    Manual(Arc<AtomicU64>),
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// The system's monotonic clock, starting now.
    pub fn new() -> Clock {
        // The monotonic start first, then the system clock, rounded up:
        // the Unix time a reading gives is then never behind the true one
        // (so a PXAT ten seconds ahead never reads back as 10001 ms).
        let start = Instant::now();
        Clock {
            source: Source::System(start),
            unix_start: unix_now_ms_rounded_up(),
        }
    }

    /// A clock at zero that moves only by [`Clock::advance`].
    pub fn manual() -> Clock {
        Clock {
            source: Source::Manual(Arc::new(AtomicU64::new(0))),
            unix_start: unix_now_ms_rounded_up(),
        }
    }

    /// Unix milliseconds at clock time `at`.
    pub fn unix_ms(&self, at: Millis) -> u64 {
        self.unix_start.saturating_add(at.0)
    }

    /// Unix milliseconds when the clock started.
    pub fn unix_start(&self) -> u64 {
        self.unix_start
    }

    /// Moves a manual clock (and its clones) forward; a system clock
    /// ignores this.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(ms) = &self.source {
            let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
            ms.fetch_add(by, Ordering::Relaxed);
        }
    }

    /// Milliseconds since the clock started.
    pub fn now(&self) -> Millis {
        match &self.source {
            Source::System(start) => Millis(start.elapsed().as_millis() as u64),
            Source::Manual(ms) => Millis(ms.load(Ordering::Relaxed)),
        }
    }
}

/// The system clock in Unix milliseconds, rounded up (0 before 1970).
fn unix_now_ms_rounded_up() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
            micros.div_ceil(1000)
        })
}

/// A point in time: milliseconds since the clock started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    /// The 32-bit access tick stored beside each entry (wraps; see above).
    pub fn tick(self) -> u32 {
        self.0 as u32
    }

    /// `self + ms`, or `None` on overflow.
    pub fn checked_add(self, ms: u64) -> Option<Millis> {
        self.0.checked_add(ms).map(Millis)
    }
}
