//! The validated settings of a server, with their defaults.
//!
//! [`crate::args`] builds a `Config` from the command line; tests build one
//! directly. Every field is already checked: the server trusts it.

use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use crate::auth::Password;
use crate::store::DEFAULT_SAMPLES;

/// TCP address served when neither `--tcp` nor `--unix` is given.
pub const DEFAULT_TCP: &str = "127.0.0.1:8765";

/// Why `--unix` is refused where the system has no Unix sockets.
pub const UNIX_UNSUPPORTED: &str = "Unix sockets need a Unix-like system; use --tcp";

/// Default `--memory-limit`: 64 MiB of keys and values.
pub const DEFAULT_MEMORY_LIMIT: u64 = 64 << 20;

/// Default `--threads`: connections served at once. Each idle worker costs
/// only the stack pages it has touched (a few KiB): 512 idle workers hold
/// about 3 MiB resident.
pub const DEFAULT_THREADS: usize = 512;

/// Default `--max-value-size`: 1 MiB, as memcached's default item size.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 1 << 20;

/// Largest `--max-value-size` accepted: 512 MiB, Redis's
/// `proto-max-bulk-len`. A request line is buffered whole, so this bounds
/// what one connection can make the server hold.
pub const MAX_MAX_VALUE_SIZE: usize = 512 << 20;

/// Default `--max-request-size`: the argument bytes of one RESP request
/// (an MSET of many values, say), 32 MiB. Raised to the text line cap when
/// `--max-value-size` makes that larger, so one SET of the largest value
/// always fits.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 32 << 20;

/// Largest `--threads` accepted. Each worker is an OS thread.
pub const MAX_THREADS: usize = 16_384;

/// Largest `--eviction-samples` accepted.
pub const MAX_EVICTION_SAMPLES: usize = 64;

/// Default `--timeout`: an idle connection holds a worker, so it is closed
/// after five minutes of silence (connection pools reconnect on demand).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Default `--request-timeout`: a request line must arrive whole within
/// this time of its first byte. Generous for any real client.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Default `--write-timeout`: a client whose socket accepts none of its
/// replies for this long is cut off.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection may stay unauthenticated when a password is set.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Default `--unix-perm`: only the server's user may connect.
pub const DEFAULT_UNIX_PERM: u32 = 0o700;

/// Keys client-side caching notes at most, Redis's default
/// (`tracking-table-max-keys`).
pub const DEFAULT_TRACKING_TABLE_MAX_KEYS: usize = 1_000_000;

/// Numbered databases (SELECT 0 to N-1), Redis's default.
pub const DEFAULT_DATABASES: usize = 16;

/// Most numbered databases: a key's database is kept in 16 bits of its
/// slot (see the store's table).
pub const MAX_DATABASES: usize = 1 << 16;

/// When the append-only file is flushed to the disk (`--appendfsync`), as
/// Redis names the choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// After every write, before its reply (group commit shares a sync).
    Always,
    /// About once a second, by a thread of its own.
    EverySec,
    /// Never by the server: the operating system decides.
    No,
}

/// Default `--appendfsync`, as in Redis.
pub const DEFAULT_FSYNC: Fsync = Fsync::EverySec;

/// Settings of the append-only file (`--aof PATH`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofConfig {
    pub path: PathBuf,
    pub fsync: Fsync,
    /// Start after cutting a torn final record (`--aof-load-truncated`).
    pub load_truncated: bool,
    /// Compact the log when it has grown by this many percent since the
    /// last compaction (`--auto-aof-rewrite-percentage`); 0 for never.
    pub rewrite_percentage: u64,
    /// ... and is larger than this many bytes
    /// (`--auto-aof-rewrite-min-size`).
    pub rewrite_min_size: u64,
}

impl AofConfig {
    /// A log at `path` with Redis's defaults.
    pub fn new(path: PathBuf) -> AofConfig {
        AofConfig {
            path,
            fsync: DEFAULT_FSYNC,
            load_truncated: true,
            rewrite_percentage: DEFAULT_REWRITE_PERCENTAGE,
            rewrite_min_size: DEFAULT_REWRITE_MIN_SIZE,
        }
    }
}

/// Default `--auto-aof-rewrite-percentage`, as in Redis: compact when the
/// log has doubled.
pub const DEFAULT_REWRITE_PERCENTAGE: u64 = 100;

/// Default `--auto-aof-rewrite-min-size`, as in Redis: 64 MiB.
pub const DEFAULT_REWRITE_MIN_SIZE: u64 = 64 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// TCP addresses to listen on, as given (`host:port`); resolved at bind.
    pub tcp: Vec<String>,
    /// Unix socket paths to listen on.
    pub unix: Vec<PathBuf>,
    /// Most key plus value bytes held at once; never zero.
    pub memory_limit: u64,
    /// Worker threads, which is also the most connections served at once.
    pub threads: usize,
    /// Longest value accepted, in bytes.
    pub max_value_size: usize,
    /// Most argument bytes in one RESP request.
    pub max_request_size: usize,
    /// Entries sampled per eviction.
    pub eviction_samples: usize,
    /// Numbered databases: SELECT takes 0 to `databases - 1`.
    pub databases: usize,
    /// Most keys client-side caching notes at once (0: no limit).
    pub tracking_table_max_keys: usize,
    /// Log level; `None` leaves it to `RUST_LOG`, then `info`.
    pub log_level: Option<LevelFilter>,
    /// The password clients must give, if any.
    pub password: Option<Password>,
    /// Serve non-loopback addresses without a password.
    pub allow_unauthenticated: bool,
    /// Close connections silent this long; `None` never does.
    pub idle_timeout: Option<Duration>,
    /// Longest time from a request's first byte to its end of line.
    pub request_timeout: Duration,
    /// Longest time a reply write may make no progress.
    pub write_timeout: Duration,
    /// Longest time a connection may stay unauthenticated.
    pub auth_timeout: Duration,
    /// Permission bits of Unix socket files.
    pub unix_perm: u32,
    /// The append-only file, if the store is to be durable.
    pub aof: Option<AofConfig>,
    /// Whether a pipelined batch's keys are prefetched (`--prefetch`).
    pub prefetch: Prefetch,
}

/// `--prefetch`: whether a connection brings the entries a pipelined batch
/// names into cache before running it (see `store::prefetch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefetch {
    /// Only when the server may run on one CPU at most (pinned, or a
    /// container's single CPU): there it only saves time, while with
    /// several CPUs at work the stripes it holds for a moment delay the
    /// writers on the others, which costs more than it saves.
    Auto,
    Yes,
    No,
}

impl Prefetch {
    /// Whether to prefetch, `Auto` decided by the CPUs this process may
    /// use now (its affinity and CPU quota).
    pub fn enabled(self) -> bool {
        match self {
            Prefetch::Yes => true,
            Prefetch::No => false,
            Prefetch::Auto => std::thread::available_parallelism().is_ok_and(|n| n.get() == 1),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tcp: vec![DEFAULT_TCP.to_string()],
            unix: Vec::new(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            threads: DEFAULT_THREADS,
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            eviction_samples: DEFAULT_SAMPLES,
            databases: DEFAULT_DATABASES,
            tracking_table_max_keys: DEFAULT_TRACKING_TABLE_MAX_KEYS,
            log_level: None,
            password: None,
            allow_unauthenticated: false,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
            unix_perm: DEFAULT_UNIX_PERM,
            aof: None,
            prefetch: Prefetch::Auto,
        }
    }
}
