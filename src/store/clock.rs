//! The coarse clock that dates every access.
//!
//! A tick is one millisecond since the clock was made, kept in a `u32` so
//! that it fits beside each entry. It wraps after about 49 days; eviction
//! compares ticks as signed differences, which stay right across the wrap.
//! The store never reads a clock itself: callers read one per request and
//! pass the tick in, and tests pass ticks of their choosing.

use std::time::Instant;

/// A monotonic millisecond clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// The current tick. Truncation to 32 bits is the documented wrap.
    pub fn now(&self) -> u32 {
        self.start.elapsed().as_millis() as u32
    }
}
