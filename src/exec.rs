//! Runs a parsed [`Command`] against the [`Store`] and says what to reply.
//!
//! This is the only place that knows both the protocol's commands and the
//! store's API; it does no I/O and no framing. Per-connection state
//! (authentication) is the connection loop's business, not this module's.

use crate::protocol::{ClientError, Command, ExpiryChange, Reply};
use crate::stats::{Event, LocalCounts, Stats};
use crate::store::{Condition, Expiry, Millis, SetOptions, Store, Ttl};

/// What commands run against: shared by every connection.
pub struct Context<'a> {
    pub store: &'a Store,
    pub stats: &'a Stats,
    /// Worker threads, reported by STATS.
    pub pool_size: usize,
}

/// Executes `command` at time `now`. A command that reads a value copies it
/// into `scratch` (reused across requests) and the reply borrows it there.
/// Hits, misses and commands are counted in `counts`.
pub fn execute<'s>(
    command: Command<'_>,
    ctx: &Context<'_>,
    now: Millis,
    scratch: &'s mut Vec<u8>,
    counts: &mut LocalCounts,
) -> Reply<'s> {
    counts.commands += 1;
    let store = ctx.store;
    match command {
        Command::Get(key) => {
            let found = store.get_into(key, now, scratch);
            value_reply(found, scratch, counts)
        }
        Command::Set {
            key,
            value,
            expire_in,
            only_if_absent,
        } => {
            let expiry = match expire_in.map(|e| e.deadline(now)).transpose() {
                Ok(Some(deadline)) => Expiry::At(deadline),
                Ok(None) => Expiry::Clear,
                Err(e) => return Reply::Error(e),
            };
            let condition = if only_if_absent {
                Condition::IfAbsent
            } else {
                Condition::Always
            };
            match store.set(key, value, now, SetOptions { expiry, condition }) {
                Ok(true) => Reply::Ok,
                Ok(false) => Reply::NotStored,
                Err(e) => Reply::Error(ClientError::from(e)),
            }
        }
        Command::Delete(key) => found_reply(store.delete(key, now)),
        Command::Usage => Reply::Number("USAGE", clamp(store.usage())),
        Command::Quit => Reply::Quit,
        Command::Ping => Reply::Pong,
        Command::Expire(key, expire_in) => match expire_in.deadline(now) {
            Ok(deadline) => found_reply(store.set_deadline(key, now, Some(deadline), None)),
            Err(e) => Reply::Error(e),
        },
        Command::Persist(key) => found_reply(store.set_deadline(key, now, None, None)),
        Command::Ttl { key, in_ms } => {
            let name = if in_ms { "PTTL" } else { "TTL" };
            let n = match store.ttl(key, now) {
                Ttl::Missing => -2,
                Ttl::Persistent => -1,
                Ttl::Remaining(ms) if in_ms => clamp(ms),
                // Rounded to the nearest second, as Redis does.
                Ttl::Remaining(ms) => clamp(ms.saturating_add(500) / 1000),
            };
            Reply::Number(name, n)
        }
        Command::GetEx(key, change) => {
            let found = match change {
                ExpiryChange::Unchanged => store.get_into(key, now, scratch),
                ExpiryChange::Persist => store.set_deadline(key, now, None, Some(scratch)),
                ExpiryChange::Expire(expire_in) => match expire_in.deadline(now) {
                    Ok(deadline) => store.set_deadline(key, now, Some(deadline), Some(scratch)),
                    Err(e) => return Reply::Error(e),
                },
            };
            value_reply(found, scratch, counts)
        }
        Command::Exists(key) => Reply::Number("EXISTS", i64::from(store.exists(key, now))),
        Command::DbSize => Reply::Number("DBSIZE", clamp(store.len() as u64)),
        Command::FlushAll => {
            store.clear();
            Reply::Ok
        }
        // The connection checks passwords; reaching here means none is set.
        Command::Auth(_) => Reply::Error(ClientError::NoPasswordConfigured),
        Command::Stats => {
            ctx.stats.add(counts);
            Reply::Stats(snapshot(ctx))
        }
    }
}

fn value_reply<'s>(found: bool, value: &'s [u8], counts: &mut LocalCounts) -> Reply<'s> {
    if found {
        counts.get_hits += 1;
        Reply::Value(value)
    } else {
        counts.get_misses += 1;
        Reply::NotFound
    }
}

fn found_reply(found: bool) -> Reply<'static> {
    if found {
        Reply::Ok
    } else {
        Reply::NotFound
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The `STATS` lines, in their documented order. New metrics are appended.
fn snapshot(ctx: &Context<'_>) -> Vec<(&'static str, u64)> {
    let (stats, store) = (ctx.stats, ctx.store);
    vec![
        ("uptime_seconds", stats.uptime().as_secs()),
        ("connections_current", stats.connections_current()),
        ("connections_total", stats.connections_total()),
        ("connections_rejected", stats.count(Event::Refused)),
        ("commands_processed", stats.commands()),
        ("get_hits", stats.get_hits()),
        ("get_misses", stats.get_misses()),
        ("keys", store.len() as u64),
        ("bytes", store.usage()),
        ("memory_limit", store.memory_limit()),
        ("evictions", store.evictions()),
        ("expired_keys", store.expired()),
        ("pool_size", ctx.pool_size as u64),
        ("timeouts_idle", stats.count(Event::IdleTimeout)),
        ("timeouts_request", stats.count(Event::RequestTimeout)),
        ("timeouts_write", stats.count(Event::WriteTimeout)),
        ("timeouts_auth", stats.count(Event::AuthTimeout)),
        (
            "kicks_unauthenticated",
            stats.count(Event::KickUnauthenticated),
        ),
        ("auth_failures", stats.count(Event::AuthFailure)),
    ]
}
