//! Server-wide counters for `STATS`, and rate-limited logging of the
//! events that protect the server (refusals, timeouts, kicks).
//!
//! Counters are relaxed atomics: each is exact on its own, and a `STATS`
//! reply is a snapshot taken counter by counter, not one instant. The hot
//! counters (commands, hits, misses) are added to in batches by each
//! connection, once per flush of its replies, so they do not bounce a cache
//! line between workers on every request.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
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
    /// Per command-table row: calls, time, refusals and failures, for the
    /// few rows a batch touches.
    rows: Vec<(usize, CommandCounts)>,
    /// Error replies by their code (`ERR`, `NOAUTH`, ...).
    errors: Vec<(String, u64)>,
    /// Commands run since the last one timed (see [`TIMED_ONE_IN`]).
    untimed: u32,
}

/// One command's counts (Redis's `cmdstat_`): calls run, microseconds
/// spent in them, calls refused before running, calls that answered an
/// error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandCounts {
    pub calls: u64,
    pub usec: u64,
    pub rejected: u64,
    pub failed: u64,
}

/// One command in this many has its run time measured, and stands for
/// the others: reading the clock twice per command would cost a few
/// percent of a pipelined GET's time.
pub const TIMED_ONE_IN: u32 = 16;

/// Most command-table rows counted.
pub const COMMAND_ROWS: usize = 256;

impl LocalCounts {
    fn row(&mut self, row: usize) -> &mut CommandCounts {
        let at = match self.rows.iter().position(|(r, _)| *r == row) {
            Some(at) => at,
            None => {
                self.rows.push((row, CommandCounts::default()));
                self.rows.len() - 1
            }
        };
        &mut self.rows[at].1
    }

    /// Whether the command about to run is one to time.
    pub fn time_this(&mut self) -> bool {
        self.untimed += 1;
        if self.untimed >= TIMED_ONE_IN {
            self.untimed = 0;
            true
        } else {
            false
        }
    }

    /// Counts a call of command `row`, `failed` when it answered an
    /// error, and its run time when it was timed.
    pub fn ran(&mut self, row: usize, failed: bool, timed: Option<Duration>) {
        let counts = self.row(row);
        counts.calls += 1;
        counts.failed += u64::from(failed);
        if let Some(took) = timed {
            let usec = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            counts.usec += usec.saturating_mul(u64::from(TIMED_ONE_IN));
        }
    }

    /// Counts a call of command `row` refused before it ran.
    pub fn refused(&mut self, row: usize) {
        self.row(row).rejected += 1;
    }

    /// Counts an error reply with code `code`.
    pub fn error(&mut self, code: &str) {
        match self.errors.iter_mut().find(|(c, _)| c == code) {
            Some((_, n)) => *n += 1,
            None => self.errors.push((code.to_string(), 1)),
        }
    }
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
    /// Per command-table row: calls, microseconds, refusals, failures.
    per_command: Box<[[AtomicU64; 4]]>,
    /// Error replies by code, in the order first seen (few and rare).
    errors: Mutex<Vec<(String, u64)>>,
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
            per_command: (0..COMMAND_ROWS).map(|_| Default::default()).collect(),
            errors: Mutex::default(),
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
        for counters in self.per_command.iter() {
            for counter in counters {
                counter.store(0, Ordering::Relaxed);
            }
        }
        self.errors.lock().clear();
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
        for (row, counts) in local.rows.drain(..) {
            let Some(counters) = self.per_command.get(row) else {
                continue;
            };
            let values = [counts.calls, counts.usec, counts.rejected, counts.failed];
            for (counter, value) in counters.iter().zip(values) {
                if value != 0 {
                    counter.fetch_add(value, Ordering::Relaxed);
                }
            }
        }
        if !local.errors.is_empty() {
            let mut errors = self.errors.lock();
            for (code, n) in local.errors.drain(..) {
                match errors.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, total)) => *total += n,
                    None => errors.push((code, n)),
                }
            }
        }
        local.commands = 0;
        local.get_hits = 0;
        local.get_misses = 0;
    }

    /// Command-table row `row`'s counts since start (or CONFIG RESETSTAT).
    pub fn command(&self, row: usize) -> CommandCounts {
        let Some(counters) = self.per_command.get(row) else {
            return CommandCounts::default();
        };
        let load = |i: usize| counters[i].load(Ordering::Relaxed);
        CommandCounts {
            calls: load(0),
            usec: load(1),
            rejected: load(2),
            failed: load(3),
        }
    }

    /// Error replies by code, in the order first seen.
    pub fn errors(&self) -> Vec<(String, u64)> {
        self.errors.lock().clone()
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
