//! The data commands: reads and writes of keys, and the few commands that
//! need nothing but the store and the clock (PING, ECHO, TIME). Keys come
//! with the connection's database already given to them
//! ([`super::execute`]); the commands over a whole database take it as
//! `db`.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{clamp, Context};
use crate::glob::glob_match;
use crate::num::parse_i64;
use crate::protocol::{
    ClientError, Command, ExpireAt, ExpiryChange, Frame, ObjectCommand, Reply, SetCommand,
    SetReply, When,
};
use crate::stats::LocalCounts;
use crate::store::{
    Clock, DeadlineOutcome, Expiry, Keyspace, Millis, SetOptions, Transfer, Transferred, Ttl,
    SCAN_PARTITIONS,
};

/// Longest string Redis keeps in one allocation with its object header
/// (`OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
const EMBSTR_LIMIT: usize = 44;

/// What OBJECT ENCODING says of a string value: the encoding Redis would
/// give it. Values here are all kept the same way (see MEMORY USAGE).
fn encoding(value: &[u8]) -> &'static str {
    if value.len() <= 20 && parse_i64(value).is_some() {
        "int"
    } else if value.len() <= EMBSTR_LIMIT {
        "embstr"
    } else {
        "raw"
    }
}

/// The bytes GETRANGE answers of a value `len` long, from `start` to `end`
/// inclusive, negative ones counting from the end, as Redis 7 clamps them
/// (so a range wholly before the start still yields the first byte).
fn byte_range(len: usize, start: i64, end: i64) -> std::ops::Range<usize> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return 0..0;
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        0..0
    } else {
        start as usize..end as usize + 1
    }
}

/// Executes a data command against `store`: the store itself, or a
/// transaction's held stripes (see [`crate::store::Keyspace`]). The admin
/// commands go to [`super::admin::execute`] instead; given one, this
/// answers as if it were unknown.
/// A read records the key's access when `touch` (CLIENT NO-TOUCH off).
/// `db` is the connection's database.
#[allow(clippy::too_many_arguments)]
pub fn execute<'s, K: Keyspace>(
    command: Command<'_>,
    ctx: &Context<'_>,
    store: &mut K,
    db: u16,
    now: Millis,
    touch: bool,
    scratch: &'s mut Vec<u8>,
    counts: &mut LocalCounts,
) -> Reply<'s> {
    match command {
        Command::Get(key) => {
            let found = store.read_into(key, now, scratch, touch);
            value_reply(found, scratch, counts)
        }
        Command::Set(set) => execute_set(set, store, now, ctx.clock, scratch),
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
            let values = store.get_many(&keys, now, touch);
            for value in &values {
                count_lookup(value.is_some(), counts);
            }
            Reply::Values(values)
        }
        Command::MSet(pairs) => match store.set_many(&pairs, now, false) {
            Ok(_) => Reply::Ok,
            Err(e) => Reply::Error(e.into()),
        },
        Command::MSetNx(pairs) => match store.set_many(&pairs, now, true) {
            Ok(stored) => Reply::Number("MSETNX", i64::from(stored)),
            Err(e) => Reply::Error(e.into()),
        },
        Command::Touch(keys) => {
            let n = keys.into_iter().filter(|&k| store.touch(k, now)).count();
            Reply::Number("TOUCH", n as i64)
        }
        Command::SetRange(key, offset, bytes) => {
            let result = if bytes.is_empty() {
                // Nothing to write: the length as it is, no key made.
                Ok(store.inspect(key, now, |v, _, _| v.len()).unwrap_or(0))
            } else {
                store.set_range(key, offset, bytes, ctx.config.max_value_size, now)
            };
            match result {
                Ok(len) => Reply::Number("SETRANGE", len as i64),
                Err(e) => Reply::Error(e.into()),
            }
        }
        Command::GetRange(key, start, end) => {
            let found = store.read_into(key, now, scratch, touch);
            count_lookup(found, counts);
            if !found {
                scratch.clear();
            }
            let range = byte_range(scratch.len(), start, end);
            Reply::Value(&scratch[range])
        }
        Command::IncrByFloat(key, delta) => match store.incr_by_float(key, delta.0, now, scratch) {
            Ok(()) => Reply::Labelled("INCRBYFLOAT", scratch),
            Err(e) => Reply::Error(e.into()),
        },
        Command::Rename { from, to, nx } => {
            let outcome = if from == to {
                // Onto itself: nothing moves, as in Redis.
                match store.exists(from, now) {
                    false => Ok(Transferred::Missing),
                    true if nx => Ok(Transferred::Refused),
                    true => Ok(Transferred::Done),
                }
            } else {
                let mode = Transfer {
                    replace: !nx,
                    keep_source: false,
                };
                store.transfer(from, to, now, mode)
            };
            match outcome {
                Ok(Transferred::Missing) => Reply::Error(ClientError::NoSuchKey),
                Ok(done) if nx => Reply::Number("RENAMENX", i64::from(done == Transferred::Done)),
                Ok(_) => Reply::Ok,
                Err(e) => Reply::Error(e.into()),
            }
        }
        Command::Copy {
            from,
            to,
            db: target,
            replace,
        } => {
            let to = match target.map(|n| db_index(n, ctx)) {
                None => to,
                Some(Ok(target)) => to.in_db(target),
                Some(Err(e)) => return Reply::Error(e),
            };
            if from == to {
                return Reply::Error(ClientError::SameObject);
            }
            let mode = Transfer {
                replace,
                keep_source: true,
            };
            match store.transfer(from, to, now, mode) {
                Ok(done) => Reply::Number("COPY", i64::from(done == Transferred::Done)),
                Err(e) => Reply::Error(e.into()),
            }
        }
        Command::Move(key, target) => {
            let target = match db_index(target, ctx) {
                Ok(target) if target == key.db() => return Reply::Error(ClientError::SameObject),
                Ok(target) => target,
                Err(e) => return Reply::Error(e),
            };
            let mode = Transfer {
                replace: false,
                keep_source: false,
            };
            match store.transfer(key, key.in_db(target), now, mode) {
                Ok(done) => Reply::Number("MOVE", i64::from(done == Transferred::Done)),
                Err(e) => Reply::Error(e.into()),
            }
        }
        Command::SwapDb(a, b) => match (db_index(a, ctx), db_index(b, ctx)) {
            (Ok(a), Ok(b)) => {
                if a != b {
                    store.swap_dbs(a, b);
                }
                Reply::Ok
            }
            (Err(e), _) | (_, Err(e)) => Reply::Error(e),
        },
        Command::ExpireTime { key, in_ms } => {
            let n = match store.ttl(key, now) {
                Ttl::Missing => -2,
                Ttl::Persistent => -1,
                Ttl::Remaining(ms) => {
                    let at = i128::from(ctx.clock.unix_ms(now)) + i128::from(ms);
                    let at = if in_ms { at } else { at / 1000 };
                    i64::try_from(at).unwrap_or(i64::MAX)
                }
            };
            Reply::Number(if in_ms { "PEXPIRETIME" } else { "EXPIRETIME" }, n)
        }
        Command::RandomKey => {
            if store.random_key(db, now, scratch) {
                Reply::Value(scratch)
            } else {
                Reply::NotFound
            }
        }
        Command::Object(sub) => {
            let (ObjectCommand::Encoding(key)
            | ObjectCommand::IdleTime(key)
            | ObjectCommand::Freq(key)
            | ObjectCommand::RefCount(key)) = sub;
            let looked = store.inspect(key, now, |value, idle_ms, _| match sub {
                ObjectCommand::Encoding(_) => Reply::Value(encoding(value).as_bytes()),
                ObjectCommand::IdleTime(_) => Reply::Number("OBJECT", clamp(idle_ms / 1000)),
                ObjectCommand::Freq(_) => Reply::Error(ClientError::NoLfu),
                _ => Reply::Number("OBJECT", 1),
            });
            looked.unwrap_or(Reply::NotFound)
        }
        Command::MemoryUsage(key) => store
            .inspect(key, now, |_, _, footprint| {
                Reply::Number("MEMORY", footprint as i64)
            })
            .unwrap_or(Reply::NotFound),
        Command::Usage => Reply::Number("USAGE", clamp(store.usage())),
        Command::Quit => Reply::Quit,
        Command::Shutdown => Reply::Shutdown,
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
            let target = match deadline_of(when, now, ctx.clock, name) {
                Ok(target) => target,
                Err(e) => return Reply::Error(e),
            };
            // A time already past deletes the key, as in Redis: the store
            // removes it when the deadline is not after `now`. The options
            // are decided under the same lock as the change.
            let deadline = target.unwrap_or(now);
            let allowed = |current: Option<Millis>| only_if.allows(current, deadline);
            let outcome = store.change_deadline(key, now, Some(deadline), None, &allowed);
            Reply::Found(outcome == DeadlineOutcome::Done)
        }
        Command::Persist { key, count_removed } => {
            let has_deadline = |current: Option<Millis>| current.is_some();
            match store.change_deadline(key, now, None, None, &has_deadline) {
                DeadlineOutcome::Missing => Reply::Found(false),
                DeadlineOutcome::Refused => Reply::Found(!count_removed),
                DeadlineOutcome::Done => Reply::Found(true),
            }
        }
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
            // The deadline a time gives, found before the key is: a time
            // the parser refused, or one past the clock's range, is an
            // error only when the key exists, as in Redis.
            let expire = match change {
                ExpiryChange::Expire(at) => expire_at(at, now, ctx.clock, "getex"),
                ExpiryChange::Refused(e) => Err(e),
                ExpiryChange::Unchanged | ExpiryChange::Persist => Ok(None),
            };
            let found = match (change, expire) {
                (_, Err(e)) if store.exists(key, now) => return Reply::Error(e),
                (_, Err(_)) => false,
                (ExpiryChange::Unchanged, _) => store.read_into(key, now, scratch, touch),
                (ExpiryChange::Persist, _) => store.set_deadline(key, now, None, Some(scratch)),
                (_, Ok(Some(deadline))) => {
                    store.set_deadline(key, now, Some(deadline), Some(scratch))
                }
                // A time already past: the key goes.
                (_, Ok(None)) => store.take(key, now, scratch),
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
        Command::Append(key, suffix) => {
            let max = ctx.config.max_value_size;
            match store.append(key, suffix, max, now) {
                Ok(len) => Reply::Number("APPEND", len as i64),
                Err(e) => Reply::Error(e.into()),
            }
        }
        Command::Strlen(key) => {
            let len = if store.read_into(key, now, scratch, touch) {
                scratch.len()
            } else {
                0
            };
            Reply::Number("STRLEN", len as i64)
        }
        Command::Type(key) => Reply::Type(store.exists(key, now)),
        Command::DbSize => Reply::Number("DBSIZE", clamp(store.key_count(db) as u64)),
        Command::FlushAll => {
            store.clear();
            Reply::Ok
        }
        Command::FlushDb => {
            store.clear_db(db);
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
                store.scan(db, cursor, count, now, &wanted, &mut keys)
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
            store.keys(db, now, &|key| glob_match(pattern, key), &mut keys);
            Reply::Frame(Frame::Array(keys.into_iter().map(Frame::Bulk).collect()))
        }
        Command::Time => {
            let since_epoch = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            Reply::Frame(Frame::Array(vec![
                Frame::Bulk(since_epoch.as_secs().to_string().into_bytes()),
                Frame::Bulk(since_epoch.subsec_micros().to_string().into_bytes()),
            ]))
        }
        _ => Reply::Error(ClientError::UnknownCommand),
    }
}

/// Database `n`, when the server has it (SELECT, MOVE, SWAPDB, COPY DB).
pub fn db_index(n: i64, ctx: &Context<'_>) -> Result<u16, ClientError> {
    usize::try_from(n)
        .ok()
        .filter(|&n| n < ctx.config.databases)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or(ClientError::DbIndexOutOfRange)
}

fn execute_set<'s>(
    set: SetCommand<'_>,
    store: &mut impl Keyspace,
    now: Millis,
    clock: &Clock,
    scratch: &'s mut Vec<u8>,
) -> Reply<'s> {
    let expiry = match (set.expire, set.keep_ttl) {
        (Some(at), _) => match expire_at(at, now, clock, set.name) {
            Ok(Some(deadline)) => Expiry::At(deadline),
            // Stored with a deadline already past: gone at once, as in
            // Redis, decided with the write under one lock.
            Ok(None) => Expiry::Gone,
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
/// invalid-expire-time error for `name` when it is out of range: as in
/// Redis, when it is not a Unix time in milliseconds that fits 64 bits
/// (`EXPIRE k 9223370399119966` overflows once the time now is added).
fn deadline_of(
    when: When,
    now: Millis,
    clock: &Clock,
    name: &'static str,
) -> Result<Option<Millis>, ClientError> {
    let unix_now = i128::from(clock.unix_ms(now));
    let unix_target = match when {
        When::In(ms) => unix_now + i128::from(ms),
        When::AtUnix(unix_ms) => i128::from(unix_ms),
    };
    if unix_target > i128::from(i64::MAX) {
        return Err(ClientError::InvalidExpireTime(name));
    }
    let target = i128::from(now.0) + unix_target - unix_now;
    if target <= i128::from(now.0) {
        Ok(None)
    } else {
        Ok(Some(Millis(target as u64)))
    }
}

fn expire_at(
    at: ExpireAt,
    now: Millis,
    clock: &Clock,
    name: &'static str,
) -> Result<Option<Millis>, ClientError> {
    let when = match at {
        ExpireAt::In(ms) => When::In(i64::try_from(ms.millis()).unwrap_or(i64::MAX)),
        ExpireAt::Unix(ms) => When::AtUnix(i64::try_from(ms).unwrap_or(i64::MAX)),
    };
    deadline_of(when, now, clock, name)
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
