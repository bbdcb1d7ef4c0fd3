//! Runs a parsed [`Command`] against the [`Store`] and says what to reply.
//!
//! This is the only place that knows both the protocol's commands and the
//! store's API. It keeps a connection's [`Session`] (authentication, RESP
//! version, client name) and does no I/O and no framing: a [`Reply`] says
//! what happened and the framing decides how to say it.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::glob::glob_match;
use crate::protocol::{
    ClientCommand, ClientError, Command, ExpireAt, ExpireIf, ExpiryChange, Frame, Reply,
    SetCommand, SetReply, When,
};
use crate::stats::{Event, LocalCounts, Stats};
use crate::store::{Expiry, Millis, SetOptions, Store, Ttl, SCAN_PARTITIONS};

/// The Redis version whose behaviour the RESP side follows, reported by
/// HELLO and INFO so that clients enable the features they expect.
pub const REDIS_VERSION: &str = "7.2.0";

/// What commands run against: shared by every connection.
pub struct Context<'a> {
    pub store: &'a Store,
    pub stats: &'a Stats,
    pub config: &'a Config,
}

/// One connection's state.
#[derive(Debug)]
pub struct Session {
    /// CLIENT ID: unique per connection.
    pub id: u64,
    pub name: Option<Vec<u8>>,
    /// RESP version of replies to RESP requests: 2 or 3.
    pub protocol: u8,
    pub authenticated: bool,
}

impl Session {
    pub fn new(id: u64, authenticated: bool) -> Session {
        Session {
            id,
            name: None,
            protocol: 2,
            authenticated,
        }
    }
}

/// Executes `command` at time `now`. A command that reads a value copies it
/// into `scratch` (reused across requests) and the reply borrows it there.
/// Hits, misses and commands are counted in `counts`.
pub fn execute<'s>(
    command: Command<'_>,
    ctx: &Context<'_>,
    session: &mut Session,
    now: Millis,
    scratch: &'s mut Vec<u8>,
    counts: &mut LocalCounts,
) -> Reply<'s> {
    counts.commands += 1;
    if !session.authenticated && !command.allowed_before_auth() {
        return Reply::Error(ClientError::NoAuth);
    }
    let store = ctx.store;
    match command {
        Command::Get(key) => {
            let found = store.get_into(key, now, scratch);
            value_reply(found, scratch, counts)
        }
        Command::Set(set) => execute_set(set, store, now, scratch),
        Command::Delete(key) => Reply::Found(store.delete(key, now)),
        Command::DeleteMany(keys) => {
            let n = keys.into_iter().filter(|&k| store.delete(k, now)).count();
            Reply::Number("DEL", n as i64)
        }
        Command::GetDel(key) => {
            let found = store.take(key, now, scratch);
            value_reply(found, scratch, counts)
        }
        Command::MGet(keys) => {
            let values = keys
                .into_iter()
                .map(|key| {
                    let found = store.get_into(key, now, scratch);
                    count_lookup(found, counts);
                    found.then(|| scratch.clone())
                })
                .collect();
            Reply::Values(values)
        }
        Command::MSet(pairs) => match store.set_many(&pairs, now) {
            Ok(()) => Reply::Ok,
            Err(e) => Reply::Error(e.into()),
        },
        Command::Usage => Reply::Number("USAGE", clamp(store.usage())),
        Command::Quit => Reply::Quit,
        Command::Ping(None) => Reply::Pong,
        Command::Ping(Some(message)) | Command::Echo(message) => {
            scratch.clear();
            scratch.extend_from_slice(message);
            Reply::Value(scratch)
        }
        Command::Expire {
            key,
            when,
            only_if,
            name,
        } => {
            let target = match deadline_of(when, now, name) {
                Ok(target) => target,
                Err(e) => return Reply::Error(e),
            };
            if only_if != ExpireIf::default() {
                let current = match store.ttl(key, now) {
                    Ttl::Missing => return Reply::Found(false),
                    Ttl::Persistent => None,
                    Ttl::Remaining(ms) => Some(Millis(now.0 + ms)),
                };
                if !only_if.allows(current, target.unwrap_or(now)) {
                    return Reply::Found(false);
                }
            }
            match target {
                Some(deadline) => Reply::Found(store.set_deadline(key, now, Some(deadline), None)),
                // A time already past deletes the key, as in Redis.
                None => Reply::Found(store.delete(key, now)),
            }
        }
        Command::Persist { key, count_removed } => match store.ttl(key, now) {
            Ttl::Missing => Reply::Found(false),
            Ttl::Persistent => Reply::Found(!count_removed),
            Ttl::Remaining(_) => Reply::Found(store.set_deadline(key, now, None, None)),
        },
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
                ExpiryChange::Expire(at) => match expire_at(at, now, "getex") {
                    Ok(Some(deadline)) => {
                        store.set_deadline(key, now, Some(deadline), Some(scratch))
                    }
                    Ok(None) => store.take(key, now, scratch),
                    Err(e) => return Reply::Error(e),
                },
            };
            value_reply(found, scratch, counts)
        }
        Command::Exists(keys) => {
            let n = keys.into_iter().filter(|&k| store.exists(k, now)).count();
            Reply::Number("EXISTS", n as i64)
        }
        Command::IncrBy(key, delta, name) => match store.incr_by(key, delta, now) {
            Ok(n) => Reply::Number(name, n),
            Err(e) => Reply::Error(e.into()),
        },
        Command::Append(key, suffix) => match store.append(key, suffix, now) {
            Ok(len) => Reply::Number("APPEND", len as i64),
            Err(e) => Reply::Error(e.into()),
        },
        Command::Strlen(key) => {
            let len = if store.get_into(key, now, scratch) {
                scratch.len()
            } else {
                0
            };
            Reply::Number("STRLEN", len as i64)
        }
        Command::Type(key) => Reply::Type(store.exists(key, now)),
        Command::DbSize => Reply::Number("DBSIZE", clamp(store.len() as u64)),
        Command::FlushAll => {
            store.clear();
            Reply::Ok
        }
        Command::Scan {
            cursor,
            pattern,
            count,
        } => {
            let wanted = |key: &[u8]| pattern.map_or(true, |p| glob_match(p, key));
            let mut keys = Vec::new();
            let next = if cursor < SCAN_PARTITIONS {
                store.scan(cursor, count, now, &wanted, &mut keys)
            } else {
                0
            };
            Reply::Frame(Frame::Array(vec![
                Frame::Bulk(next.to_string().into_bytes()),
                Frame::Array(keys.into_iter().map(Frame::Bulk).collect()),
            ]))
        }
        Command::Keys(pattern) => {
            let mut keys = Vec::new();
            store.keys(now, &|key| glob_match(pattern, key), &mut keys);
            Reply::Frame(Frame::Array(keys.into_iter().map(Frame::Bulk).collect()))
        }
        Command::Info(section) => Reply::Frame(Frame::Verbatim(info(ctx, section))),
        Command::ConfigGet(patterns) => Reply::Frame(config_get(ctx.config, &patterns)),
        Command::CommandInfo(sub) => command_info(sub),
        Command::Time => {
            let since_epoch = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            Reply::Frame(Frame::Array(vec![
                Frame::Bulk(since_epoch.as_secs().to_string().into_bytes()),
                Frame::Bulk(since_epoch.subsec_micros().to_string().into_bytes()),
            ]))
        }
        Command::Auth { user, password } => authenticate(ctx, session, user, password),
        Command::Hello {
            version,
            auth,
            name,
        } => hello(ctx, session, version, auth, name),
        Command::Select(0) => Reply::Ok,
        Command::Select(_) => Reply::Error(ClientError::DbIndexOutOfRange),
        Command::Client(client) => match client {
            ClientCommand::SetName(name) => {
                session.name = (!name.is_empty()).then(|| name.to_vec());
                Reply::Ok
            }
            ClientCommand::GetName => match &session.name {
                Some(name) => {
                    scratch.clear();
                    scratch.extend_from_slice(name);
                    Reply::Value(scratch)
                }
                None => Reply::NotFound,
            },
            ClientCommand::Id => Reply::Number("ID", clamp(session.id)),
            ClientCommand::SetInfo => Reply::Ok,
        },
        Command::Stats => {
            ctx.stats.add(counts);
            Reply::Stats(snapshot(ctx))
        }
    }
}

fn execute_set<'s>(
    set: SetCommand<'_>,
    store: &Store,
    now: Millis,
    scratch: &'s mut Vec<u8>,
) -> Reply<'s> {
    let mut already_expired = false;
    let expiry = match (set.expire, set.keep_ttl) {
        (Some(at), _) => match expire_at(at, now, set.name) {
            Ok(Some(deadline)) => Expiry::At(deadline),
            Ok(None) => {
                already_expired = true;
                Expiry::Clear
            }
            Err(e) => return Reply::Error(e),
        },
        (None, true) => Expiry::Keep,
        (None, false) => Expiry::Clear,
    };
    let options = SetOptions {
        expiry,
        condition: set.condition,
    };
    let old = set.get.then_some(&mut *scratch);
    let outcome = match store.set_returning(set.key, set.value, now, options, old) {
        Ok(outcome) => outcome,
        Err(e) => return Reply::Error(e.into()),
    };
    if already_expired && outcome.stored {
        // Stored with a deadline already past: gone at once, as in Redis.
        store.delete(set.key, now);
    }
    if set.get {
        return if outcome.had_old {
            Reply::Value(scratch)
        } else {
            Reply::NotFound
        };
    }
    match (set.reply, outcome.stored) {
        (SetReply::OkOrNotStored, true) => Reply::Ok,
        (SetReply::OkOrNotStored, false) => Reply::NotStored,
        (SetReply::Flag, stored) => Reply::Number("SETNX", i64::from(stored)),
    }
}

/// The deadline `when` names, `None` when it is not in the future, or an
/// invalid-expire-time error for `name` when it is out of range.
fn deadline_of(when: When, now: Millis, name: &'static str) -> Result<Option<Millis>, ClientError> {
    let target = match when {
        When::In(ms) => i128::from(now.0) + i128::from(ms),
        When::AtUnix(unix_ms) => i128::from(now.0) + i128::from(unix_ms) - unix_now_ms(),
    };
    if target > i128::from(i64::MAX) {
        Err(ClientError::InvalidExpireTime(name))
    } else if target <= i128::from(now.0) {
        Ok(None)
    } else {
        Ok(Some(Millis(target as u64)))
    }
}

fn expire_at(at: ExpireAt, now: Millis, name: &'static str) -> Result<Option<Millis>, ClientError> {
    let when = match at {
        ExpireAt::In(ms) => When::In(i64::try_from(ms.millis()).unwrap_or(i64::MAX)),
        ExpireAt::Unix(ms) => When::AtUnix(i64::try_from(ms).unwrap_or(i64::MAX)),
    };
    deadline_of(when, now, name)
}

/// The wall clock, in Unix milliseconds; absolute expiry times are read
/// against it once, then kept on the monotonic clock.
fn unix_now_ms() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i128)
}

fn authenticate(
    ctx: &Context<'_>,
    session: &mut Session,
    user: Option<&[u8]>,
    password: &[u8],
) -> Reply<'static> {
    let default_user = user.map_or(true, |u| u == b"default");
    let accepted = match &ctx.config.password {
        // Without a password, the default user needs none, as in Redis.
        None if user.is_some() => default_user,
        None => return Reply::Error(ClientError::NoPasswordConfigured),
        Some(p) => default_user && p.matches(password),
    };
    if accepted {
        session.authenticated = true;
        Reply::Ok
    } else {
        ctx.stats.record(Event::AuthFailure);
        Reply::Error(ClientError::WrongPass)
    }
}

fn hello(
    ctx: &Context<'_>,
    session: &mut Session,
    version: Option<u8>,
    auth: Option<(&[u8], &[u8])>,
    name: Option<&[u8]>,
) -> Reply<'static> {
    if let Some((user, password)) = auth {
        if let Reply::Error(e) = authenticate(ctx, session, Some(user), password) {
            return Reply::Error(e);
        }
    }
    if !session.authenticated {
        return Reply::ErrorText(
            b"NOAUTH HELLO must be called with the client already authenticated, otherwise \
              the HELLO AUTH <user> <pass> option can be used to authenticate the client and \
              select the RESP protocol version at the same time"
                .to_vec(),
        );
    }
    if let Some(version) = version {
        session.protocol = version;
    }
    if let Some(name) = name {
        session.name = (!name.is_empty()).then(|| name.to_vec());
    }
    let text = |s: &str| Frame::Bulk(s.as_bytes().to_vec());
    Reply::Frame(Frame::Map(vec![
        (text("server"), text("blink-store")),
        (text("version"), text(REDIS_VERSION)),
        (text("proto"), Frame::Integer(i64::from(session.protocol))),
        (text("id"), Frame::Integer(clamp(session.id))),
        (text("mode"), text("standalone")),
        (text("role"), text("master")),
        (text("modules"), Frame::Array(Vec::new())),
    ]))
}

/// INFO's text: Redis-style sections, the named one or all.
fn info(ctx: &Context<'_>, section: Option<&[u8]>) -> String {
    let (stats, store, config) = (ctx.stats, ctx.store, ctx.config);
    let uptime = stats.uptime().as_secs();
    let keys = store.len();
    let sections: [(&str, String); 5] = [
        (
            "server",
            format!(
                "redis_version:{REDIS_VERSION}\r\nblink_store_version:{}\r\n\
                 redis_mode:standalone\r\narch_bits:64\r\nprocess_id:{}\r\n\
                 uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n",
                env!("CARGO_PKG_VERSION"),
                std::process::id(),
                uptime / 86_400,
            ),
        ),
        (
            "clients",
            format!(
                "connected_clients:{}\r\nmaxclients:{}\r\n",
                stats.connections_current(),
                config.threads
            ),
        ),
        (
            "memory",
            format!(
                "used_memory:{}\r\nmaxmemory:{}\r\nmaxmemory_policy:allkeys-lru\r\n",
                store.usage(),
                store.memory_limit()
            ),
        ),
        (
            "stats",
            format!(
                "total_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                 rejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\n\
                 keyspace_hits:{}\r\nkeyspace_misses:{}\r\n",
                stats.connections_total(),
                stats.commands(),
                stats.count(Event::Refused),
                store.expired(),
                store.evictions(),
                stats.get_hits(),
                stats.get_misses(),
            ),
        ),
        (
            "keyspace",
            if keys > 0 {
                format!(
                    "db0:keys={keys},expires={},avg_ttl=0\r\n",
                    store.expiring_len()
                )
            } else {
                String::new()
            },
        ),
    ];
    let all = section.map_or(true, |s| {
        [&b"all"[..], b"default", b"everything"]
            .iter()
            .any(|a| s.eq_ignore_ascii_case(a))
    });
    let mut text = String::new();
    for (name, body) in sections {
        if all || section.is_some_and(|s| s.eq_ignore_ascii_case(name.as_bytes())) {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            let mut title = name.to_string();
            title[..1].make_ascii_uppercase();
            text.push_str(&format!("# {title}\r\n{body}"));
        }
    }
    text
}

/// CONFIG GET: every parameter matched by a pattern, once.
fn config_get(config: &Config, patterns: &[&[u8]]) -> Frame {
    let idle = config.idle_timeout.map_or(0, |t| t.as_secs());
    let parameters: [(&str, String); 8] = [
        ("maxmemory", config.memory_limit.to_string()),
        ("maxmemory-policy", "allkeys-lru".to_string()),
        ("maxmemory-samples", config.eviction_samples.to_string()),
        ("maxclients", config.threads.to_string()),
        ("timeout", idle.to_string()),
        ("save", String::new()),
        ("appendonly", "no".to_string()),
        ("databases", "1".to_string()),
    ];
    let pairs = parameters
        .into_iter()
        .filter(|(name, _)| {
            patterns
                .iter()
                .any(|p| glob_match(&p.to_ascii_lowercase(), name.as_bytes()))
        })
        .map(|(name, value)| {
            (
                Frame::Bulk(name.as_bytes().to_vec()),
                Frame::Bulk(value.into_bytes()),
            )
        })
        .collect();
    Frame::Map(pairs)
}

/// Number of commands COMMAND COUNT reports: those the RESP side knows.
const RESP_COMMANDS: i64 = 52;

/// COMMAND and its subcommands, answered minimally: enough for clients
/// such as `redis-cli` that ask at start-up.
fn command_info(sub: Option<&[u8]>) -> Reply<'static> {
    let Some(sub) = sub else {
        return Reply::Frame(Frame::Array(Vec::new()));
    };
    if sub.eq_ignore_ascii_case(b"COUNT") {
        Reply::Number("COMMAND", RESP_COMMANDS)
    } else if sub.eq_ignore_ascii_case(b"DOCS") {
        Reply::Frame(Frame::Map(Vec::new()))
    } else if sub.eq_ignore_ascii_case(b"INFO") || sub.eq_ignore_ascii_case(b"LIST") {
        Reply::Frame(Frame::Array(Vec::new()))
    } else {
        let mut text = b"ERR unknown subcommand '".to_vec();
        text.extend_from_slice(sub);
        text.extend_from_slice(b"'. Try COMMAND HELP.");
        Reply::ErrorText(text)
    }
}

fn count_lookup(found: bool, counts: &mut LocalCounts) {
    if found {
        counts.get_hits += 1;
    } else {
        counts.get_misses += 1;
    }
}

fn value_reply<'s>(found: bool, value: &'s [u8], counts: &mut LocalCounts) -> Reply<'s> {
    count_lookup(found, counts);
    if found {
        Reply::Value(value)
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
        ("pool_size", ctx.config.threads as u64),
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
