//! Server-wide counters for `STATS`, and rate-limited logging of the
//! events that protect the server (refusals, timeouts, kicks).
//!
//! Counters are relaxed atomics: each is exact on its own, and a `STATS`
//! reply is a snapshot taken counter by counter, not one instant. The hot
//! counters (commands, hits, misses) are added to in batches by each
//! connection, once per flush of its replies, so they do not bounce a cache
//! line between workers on every request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Events that are counted and logged at most once per [`LOG_INTERVAL`]
/// each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A connection refused because every worker was busy.
    Refused,
    IdleTimeout,
    RequestTimeout,
    WriteTimeout,
    /// An unauthenticated connection that did not authenticate in time.
    AuthTimeout,
    /// An unauthenticated connection that sent a line over the pre-auth cap.
    KickUnauthenticated,
    /// A wrong password.
    AuthFailure,
}

const EVENTS: usize = 7;

/// Shortest gap between two log lines about the same kind of event.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

impl Event {
    fn index(self) -> usize {
        self as usize
    }

    fn message(self) -> &'static str {
        match self {
            Event::Refused => "refused a connection: every worker is busy",
            Event::IdleTimeout => "closed an idle connection",
            Event::RequestTimeout => "closed a connection whose request did not arrive in time",
            Event::WriteTimeout => "closed a connection that stopped reading its replies",
            Event::AuthTimeout => "closed a connection that did not authenticate in time",
            Event::KickUnauthenticated => {
                "closed an unauthenticated connection that sent an over-long line"
            }
            Event::AuthFailure => "a client gave a wrong password",
        }
    }
}

/// Counts a connection's hot statistics until they are added to [`Stats`].
#[derive(Debug, Default)]
pub struct LocalCounts {
    pub commands: u64,
    pub get_hits: u64,
    pub get_misses: u64,
}

#[derive(Debug)]
pub struct Stats {
    started: Instant,
    connections_current: AtomicU64,
    connections_total: AtomicU64,
    commands: AtomicU64,
    get_hits: AtomicU64,
    get_misses: AtomicU64,
    events: [AtomicU64; EVENTS],
    /// Milliseconds since `started` of the last log line per event, plus 1
    /// (0: never logged).
    logged: [AtomicU64; EVENTS],
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            started: Instant::now(),
            connections_current: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            get_hits: AtomicU64::new(0),
            get_misses: AtomicU64::new(0),
            events: Default::default(),
            logged: Default::default(),
        }
    }

    /// Counts `event` and logs it unless it was logged less than a second
    /// ago.
    pub fn record(&self, event: Event) {
        self.events[event.index()].fetch_add(1, Ordering::Relaxed);
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = &self.logged[event.index()];
        let previous = last.load(Ordering::Relaxed);
        let due = previous == 0 || now.saturating_sub(previous) >= LOG_INTERVAL.as_millis() as u64;
        if due
            && last
                .compare_exchange(previous, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            log::warn!("{}", event.message());
        }
    }

    /// Zeroes the counters CONFIG RESETSTAT resets, as Redis does: commands
    /// processed, hits and misses, connections received and every event
    /// count (refusals, timeouts, kicks, failed logins). The uptime and the
    /// connections now open are not statistics and stay.
    pub fn reset(&self) {
        for counter in [
            &self.connections_total,
            &self.commands,
            &self.get_hits,
            &self.get_misses,
        ]
        .into_iter()
        .chain(&self.events)
        {
            counter.store(0, Ordering::Relaxed);
        }
    }

    pub fn count(&self, event: Event) -> u64 {
        self.events[event.index()].load(Ordering::Relaxed)
    }

    /// Adds a connection's batched counts and zeroes them.
    pub fn add(&self, local: &mut LocalCounts) {
        if local.commands != 0 {
            self.commands.fetch_add(local.commands, Ordering::Relaxed);
        }
        if local.get_hits != 0 {
            self.get_hits.fetch_add(local.get_hits, Ordering::Relaxed);
        }
        if local.get_misses != 0 {
            self.get_misses
                .fetch_add(local.get_misses, Ordering::Relaxed);
        }
        *local = LocalCounts::default();
    }

    /// Marks a connection as being served until the guard is dropped.
    pub fn connection(&self) -> ConnectionGuard<'_> {
        self.connections_current.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn connections_current(&self) -> u64 {
        self.connections_current.load(Ordering::Relaxed)
    }

    pub fn connections_total(&self) -> u64 {
        self.connections_total.load(Ordering::Relaxed)
    }

    pub fn commands(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }

    pub fn get_hits(&self) -> u64 {
        self.get_hits.load(Ordering::Relaxed)
    }

    pub fn get_misses(&self) -> u64 {
        self.get_misses.load(Ordering::Relaxed)
    }
}

/// One connection being served; dropping it (also when unwinding) takes it
/// out of `connections_current`.
pub struct ConnectionGuard<'a>(&'a Stats);

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.connections_current.fetch_sub(1, Ordering::Relaxed);
    }
}
