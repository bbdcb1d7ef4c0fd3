//! Blink-Store: a local in-memory key-value cache.
//!
//! # Code map
//!
//! Layers only call downwards, in this order:
//!
//! - [`cli`]: command-line arguments become a validated [`config::Config`].
//! - [`tools`]: the `cli` and `bench` subcommands: clients of a server
//!   over a socket like any other, sharing only [`num`]'s integer parsing
//!   and [`config`]'s limits with the layers below.
//! - [`config`]: the server's settings and their defaults.
//! - [`auth`]: the password, kept as a keyed hash.
//! - [`server`]: listeners, admission against the worker pool, and the
//!   connection loop that finds request lines and batches replies.
//! - [`protocol`]: request bytes become a typed [`protocol::Command`];
//!   a [`protocol::Reply`] becomes bytes ([`protocol::text`] for the line
//!   protocol, [`protocol::resp`] for RESP2 and RESP3).
//! - [`glob`]: Redis-style patterns for KEYS, SCAN and CONFIG GET.
//! - [`num`]: integers as Redis reads them, for framing, arguments and
//!   INCR alike.
//! - [`exec`]: runs a command against the store and picks the reply; holds
//!   each connection's session (authentication, RESP version, name).
//! - [`stats`]: the counters behind STATS; rate-limited event logging.
//! - [`store`]: 64 lock stripes of open-addressing tables, the global byte
//!   count, expiry (checked on access, reclaimed by an active cycle),
//!   sampled LRU eviction and the clock.
//!
//! Entry points: `main.rs` calls [`cli::parse`], then [`server::Server::bind`]
//! and [`server::Server::run`], or a tool's [`tools::cli::run`] or
//! [`tools::bench::run`]. Tests start a server the same way on port 0.
//!
//! # Invariants that hold everywhere
//!
//! - Lock order: a thread holds at most one stripe lock at a time, except
//!   MSET, which write-locks all its stripes together in ascending index
//!   order. Everything else (eviction included) holds one lock at a time,
//!   so no wait cycle can form. No I/O, allocation of large buffers, or
//!   encoding happens under a stripe lock.
//! - The byte count equals the key plus value bytes of live entries plus
//!   reservations in flight, and never exceeds the memory limit.
//! - Every input is bounded before it is buffered: a request line by
//!   [`protocol::Limits::max_line`], a key by [`store::MAX_KEY_LEN`].
//! - A client-visible error is a reply line, never a panic; an I/O error
//!   ends only its own connection.
//! - Every blocking socket operation has a deadline (idle, request, write or
//!   authentication), so no client holds a worker without using it.

#![forbid(unsafe_code)]

pub mod args;
pub mod auth;
pub mod config;
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
