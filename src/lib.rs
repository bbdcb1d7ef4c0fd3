//! Blink-Store: a local in-memory key-value cache.
//!
//! # Code map
//!
//! Layers only call downwards, in this order (the imports agree):
//!
//! - [`args`]: the command line becomes an [`args::Action`]: a validated
//!   [`config::Config`] to serve, or a tool to run. [`logging`] writes log
//!   lines to stderr and never fails.
//! - [`tools`]: the `cli` and `bench` subcommands, which parse their own
//!   options: clients of a server over a socket like any other, sharing
//!   with the layers below only [`config`]'s defaults, [`auth`]'s password
//!   reading, [`flags`] and [`num`].
//! - [`server`]: listeners, admission against the worker pool, the
//!   connection loop that owns the socket, the deadlines and the batching
//!   of replies, and the outlet through which a connection hands to the
//!   log the replies that wait for it.
//! - [`aof`]: the append-only file (`--aof`): its Redis-format records,
//!   a lane of records per stripe gathered by each round, the writer and
//!   sync threads with group commit, the queue of replies
//!   handed off until their writes are durable (delivered by whoever ends
//!   the round), the wait a connection makes instead when it cannot hand
//!   off, retries of a failed write, replay
//!   at start-up, compaction and the `aof-check` tool. It reaches the
//!   store only through [`store::Journal`], the store's public writes and
//!   its snapshot.
//! - [`exec`]: runs a command against the store and picks the reply
//!   (data commands and admin commands); holds each connection's session
//!   (authentication, RESP version, name, failed logins, the selected
//!   database, the open transaction and watched keys, its subscriptions)
//!   and runs EXEC through [`store::Keyspace`] under a transaction's held
//!   stripes; keeps the publish/subscribe registry, client-side caching's
//!   table of readers (one of the store's journals) and each subscribed
//!   or tracking connection's outbox, which the connection loop writes
//!   out.
//! - [`protocol`]: all framing ([`protocol::framer`]) within one
//!   [`protocol::Limits`]; the command table and the gates a request
//!   passes (login, write, subscription) ([`protocol::commands`]); the typed [`protocol::Command`] and
//!   [`protocol::Reply`], and each protocol's parsers and reply writers
//!   ([`protocol::text`], [`protocol::resp`]).
//! - [`config`]: the server's settings and their defaults.
//! - [`auth`]: the password: read, refused when blank, kept as a keyed
//!   hash.
//! - [`stats`]: the counters behind STATS; rate-limited event logging.
//! - [`store`]: 64 lock stripes of open-addressing tables holding the keys
//!   of every numbered database (a [`store::Key`] carries its database),
//!   the global byte count, expiry (checked on access, reclaimed by an active cycle),
//!   sampled LRU eviction, the clock, and the prefetch that brings a
//!   pipelined batch's entries into cache before it runs.
//! - Leaves, used from several layers: [`copy`] (short copies of bytes
//!   without `memcpy`, for the hot paths), [`flags`] (flag values and the
//!   usage error), [`glob`] (Redis-style patterns for KEYS, SCAN and
//!   CONFIG GET), [`num`] (integers as Redis reads them, for framing,
//!   arguments and INCR alike).
//!
//! Entry points: `main.rs` calls [`args::parse`], then [`server::Server::bind`]
//! and [`server::Server::run`], or a tool's [`tools::cli::run`],
//! [`tools::bench::run`] or [`aof::check`]. Tests start a server the same way on port 0.
//!
//! # Invariants that hold everywhere
//!
//! - Lock order: a thread holds at most one stripe lock at a time, except
//!   MSET, RENAME, COPY, FLUSHALL, FLUSHDB, SWAPDB and a transaction's
//!   EXEC, which
//!   write-lock all their stripes together, and MGET, which read-locks
//!   them together, in ascending index order, waiting for no other lock
//!   while holding them (a prefetch read-locks a batch's stripes together
//!   too, but takes only those free at once and never waits) (EXEC reserves its bytes, evicting, before it
//!   locks). Everything else (eviction included) holds
//!   one lock at a time, so no wait cycle can form. The
//!   log's lanes and its pending buffer are locked under stripe locks and
//!   never the other way round (a lane after its stripe's lock, or after
//!   the pending buffer's, when that is gathered); the log's other locks
//!   are taken with no stripe lock held, and no two of them at once. A compaction's
//!   snapshot holds one stripe's read lock at a time. No I/O, allocation of large buffers, or encoding happens
//!   under a stripe lock: small records are recycled from the stripe's
//!   slab, large ones allocated before the lock and freed after it. The
//!   one exception is `--aof`'s: a change's record (its key and value with
//!   a few bytes of RESP framing) is encoded into its stripe's lane of the
//!   log under the lock, which keeps one key's records in the order
//!   applied; that lane may grow there.
//! - Publish/subscribe and client-side caching: their registries' locks
//!   (channels, patterns, noted keys, trackers) are each held alone, the
//!   tracking ones under stripe locks too (from the journal); an outbox's
//!   lock is taken under them and holds nothing else. A tracking
//!   connection's gate is held across its own command (stripe locks inside
//!   it) and taken by others only with no stripe lock and no gate held,
//!   when the command that made a change ends. No publisher or writer ever
//!   waits for another connection's socket. The one bounded exception: a
//!   thread delivering the replies a log round made durable writes to
//!   other connections' sockets, and waits at most one
//!   `DELIVERY_SLICE` (a clock tick) once per socket that is full; the
//!   rest goes to a thread of its own, and that connection waits for the
//!   log itself from then on.
//! - The byte count equals the key plus value bytes of live entries plus
//!   reservations in flight, and never exceeds the memory limit.
//! - Every input is bounded before it is buffered, by the one
//!   [`protocol::Limits`]: a request line, a RESP request's count, each
//!   argument and their sum; a key by [`store::MAX_KEY_LEN`]; every stored
//!   value by `--max-value-size`, so a GET's buffer is bounded too.
//! - A client-visible error is a reply line, never a panic; an I/O error
//!   ends only its own connection.
//! - Every blocking socket operation has a deadline (idle, request, write or
//!   authentication), so no client holds a worker without using it.
//! - With `--aof`, no reply acknowledges a change before the change's record
//!   is durable under `--appendfsync`; a change that cannot be made durable
//!   within [`aof::DURABLE_WAIT`] is answered with an error, never an OK.
//! - Nothing the environment does stops the server: a log line that cannot
//!   be written is dropped, and accept errors are retried.

#![forbid(unsafe_code)]
// The documentation is the developers' map of the code, private modules
// and constants included: build it with `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

pub mod aof;
pub mod args;
pub mod auth;
pub mod config;
pub mod copy;
pub mod exec;
pub mod flags;
pub mod glob;
pub mod logging;
pub mod num;
pub mod protocol;
pub mod server;
pub mod stats;
pub mod store;
pub mod tools;
