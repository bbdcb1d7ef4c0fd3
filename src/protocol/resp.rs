//! Redis's RESP2 and RESP3: arguments → [`Command`], [`Reply`] → bytes.
//!
//! The framer ([`super::framer`]) turns a request (an array of bulk
//! strings) into [`Args`]; the command table ([`super::commands`]) checks
//! its name and arity and calls the parser here that gives it Redis 7's
//! meaning and exact error texts. Replies are written in the connection's
//! protocol version: RESP3 differs from RESP2 here only in nulls (`_`),
//! maps (`%`) and verbatim strings (`=`).

use std::borrow::Cow;
use std::io::{self, Write};

use super::framer::Args;
use super::{
    db_number, parse_i64, ClientCommand, ClientError, Command, CommandQuery, ExpireAt, ExpireIf,
    ExpireIn, ExpiryChange, Frame, Increment, KillFilter, Limits, ObjectCommand, PubSubQuery,
    Reply, ReplyMode, SetCommand, SetReply, Setting, TrackingOptions, When, MAX_CLIENT_NAME,
};
use crate::config::MAX_EVICTION_SAMPLES;
use crate::flags::parse_size;
use crate::num::{format_i64, parse_f64};
use crate::store::{Condition, Key};

/// The longest part of a request quoted back in an unknown-command error,
/// as Redis does.
const QUOTE_LIMIT: usize = 128;

/// Default COUNT of SCAN.
const DEFAULT_SCAN_COUNT: usize = 10;

/// What a RESP parser returns: a command, or the reply that refuses it.
type Parsed<'a> = Result<Command<'a>, Reply<'static>>;

// The parsers of the command table (`super::commands`), one per command.
// The table has already checked the name and the arity; argument 0 is the
// name.

pub fn get<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Get(key(args.get(1))?))
}

pub fn set<'a>(args: &Args<'a>, limits: &Limits) -> Parsed<'a> {
    let mut command = SetCommand::plain(
        key(args.get(1))?,
        value(args.get(2), limits)?,
        Condition::Always,
        "set",
    );
    let options = timing_options(args, 3, |option| {
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        if is(b"NX") && command.condition != Condition::IfPresent {
            command.condition = Condition::IfAbsent;
        } else if is(b"XX") && command.condition != Condition::IfAbsent {
            command.condition = Condition::IfPresent;
        } else if is(b"GET") {
            command.get = true;
        } else {
            return false;
        }
        true
    })?;
    match options {
        Timing::None => {}
        Timing::Keep => command.keep_ttl = true,
        Timing::Persist => return Err(Reply::Error(ClientError::Syntax)),
        Timing::Expire(time) => command.expire = Some(time.at("set").map_err(Reply::Error)?),
    }
    Ok(Command::Set(command))
}

/// The expiry options SET and GETEX share, as Redis's
/// `parseExtendedStringArgumentsOrReply` reads them.
enum Timing<'a> {
    None,
    /// KEEPTTL.
    Keep,
    /// PERSIST.
    Persist,
    Expire(Time<'a>),
}

/// An EX, PX, EXAT or PXAT option, its amount not yet checked: Redis
/// checks only the last one given, and GETEX only once it has found the
/// key.
struct Time<'a> {
    amount: &'a [u8],
    in_ms: bool,
    absolute: bool,
}

impl Time<'_> {
    fn at(&self, name: &'static str) -> Result<ExpireAt, ClientError> {
        let amount = parse_i64(self.amount).ok_or(ClientError::NotInteger)?;
        let relative = ExpireIn::from_amount(amount, self.in_ms, name)?;
        Ok(if self.absolute {
            ExpireAt::Unix(relative.millis())
        } else {
            ExpireAt::In(relative)
        })
    }
}

/// Reads the options from argument `from` on: each one `other` takes
/// (returning true), else KEEPTTL, PERSIST, EX, PX, EXAT or PXAT. The
/// same expiry option may be repeated, the last amount winning; two
/// different ones are a syntax error, as is anything else.
fn timing_options<'a>(
    args: &Args<'a>,
    from: usize,
    mut other: impl FnMut(&[u8]) -> bool,
) -> Result<Timing<'a>, Reply<'static>> {
    let mut timing = Timing::None;
    // The expiry option given, by name.
    let mut given: Option<&[u8]> = None;
    let mut i = from;
    while i < args.len() {
        let option = args.get(i);
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        let same = given.map_or(true, |g| g.eq_ignore_ascii_case(option));
        if other(option) {
            // Taken by the command.
        } else if (is(b"KEEPTTL") || is(b"PERSIST")) && same {
            timing = if is(b"KEEPTTL") {
                Timing::Keep
            } else {
                Timing::Persist
            };
            given = Some(option);
        } else if (is(b"EX") || is(b"PX") || is(b"EXAT") || is(b"PXAT"))
            && same
            && i + 1 < args.len()
        {
            timing = Timing::Expire(Time {
                amount: args.get(i + 1),
                in_ms: option[0].eq_ignore_ascii_case(&b'P'),
                absolute: option.len() == 4,
            });
            given = Some(option);
            i += 1;
        } else {
            return Err(Reply::Error(ClientError::Syntax));
        }
        i += 1;
    }
    Ok(timing)
}

pub fn setnx<'a>(args: &Args<'a>, limits: &Limits) -> Parsed<'a> {
    Ok(Command::Set(SetCommand {
        reply: SetReply::Flag,
        ..SetCommand::plain(
            key(args.get(1))?,
            value(args.get(2), limits)?,
            Condition::IfAbsent,
            "setnx",
        )
    }))
}

pub fn setex<'a>(args: &Args<'a>, limits: &Limits) -> Parsed<'a> {
    set_expiring(args, limits, "setex", false)
}

pub fn psetex<'a>(args: &Args<'a>, limits: &Limits) -> Parsed<'a> {
    set_expiring(args, limits, "psetex", true)
}

/// SETEX and PSETEX: key, time, value.
fn set_expiring<'a>(
    args: &Args<'a>,
    limits: &Limits,
    name: &'static str,
    in_ms: bool,
) -> Parsed<'a> {
    let time = Time {
        amount: args.get(2),
        in_ms,
        absolute: false,
    };
    Ok(Command::Set(SetCommand {
        expire: Some(time.at(name).map_err(Reply::Error)?),
        ..SetCommand::plain(
            key(args.get(1))?,
            value(args.get(3), limits)?,
            Condition::Always,
            name,
        )
    }))
}

pub fn getset<'a>(args: &Args<'a>, limits: &Limits) -> Parsed<'a> {
    Ok(Command::Set(SetCommand {
        get: true,
        ..SetCommand::plain(
            key(args.get(1))?,
            value(args.get(2), limits)?,
            Condition::Always,
            "getset",
        )
    }))
}

pub fn getdel<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::GetDel(key(args.get(1))?))
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]. As in Redis, a bad
/// amount is an error only when the key exists.
pub fn getex<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let change = match timing_options(args, 2, |_| false)? {
        Timing::None => ExpiryChange::Unchanged,
        Timing::Persist => ExpiryChange::Persist,
        Timing::Keep => return Err(Reply::Error(ClientError::Syntax)),
        Timing::Expire(time) => match time.at("getex") {
            Ok(at) => ExpiryChange::Expire(at),
            Err(e) => ExpiryChange::Refused(e),
        },
    };
    Ok(Command::GetEx(key(args.get(1))?, change))
}

pub fn mget<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::MGet(keys(args, 1)?))
}

pub fn mset<'a>(args: &Args<'a>, limits: &Limits) -> Parsed<'a> {
    Ok(Command::MSet(pairs(args, limits, "mset")?))
}

pub fn msetnx<'a>(args: &Args<'a>, limits: &Limits) -> Parsed<'a> {
    Ok(Command::MSetNx(pairs(args, limits, "msetnx")?))
}

/// MSET's and MSETNX's key-value pairs.
fn pairs<'a>(
    args: &Args<'a>,
    limits: &Limits,
    name: &'static str,
) -> Result<Vec<(Key<'a>, &'a [u8])>, Reply<'static>> {
    let n = args.len();
    arity(n % 2 == 1, name)?;
    let mut pairs = Vec::with_capacity(n / 2);
    for i in (1..n).step_by(2) {
        pairs.push((key(args.get(i))?, value(args.get(i + 1), limits)?));
    }
    Ok(pairs)
}

pub fn touch<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Touch(keys(args, 1)?))
}

/// SETRANGE key offset value. The value is bounded by the framing; the
/// store refuses a result longer than `--max-value-size`.
pub fn setrange<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let offset = usize::try_from(integer(args.get(2))?)
        .map_err(|_| Reply::Error(ClientError::OffsetOutOfRange))?;
    Ok(Command::SetRange(key(args.get(1))?, offset, args.get(3)))
}

/// GETRANGE and SUBSTR: key start end.
pub fn getrange<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let (start, end) = (integer(args.get(2))?, integer(args.get(3))?);
    Ok(Command::GetRange(key(args.get(1))?, start, end))
}

pub fn incrbyfloat<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let delta = parse_f64(args.get(2)).ok_or(Reply::Error(ClientError::NotFloat))?;
    Ok(Command::IncrByFloat(key(args.get(1))?, Increment(delta)))
}

pub fn rename<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    rename_command(args, false)
}

pub fn renamenx<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    rename_command(args, true)
}

fn rename_command<'a>(args: &Args<'a>, nx: bool) -> Parsed<'a> {
    Ok(Command::Rename {
        from: key(args.get(1))?,
        to: key(args.get(2))?,
        nx,
    })
}

/// `COPY source destination [DB index] [REPLACE]`. There is one database:
/// `DB 0` is accepted, any other index is out of range, as in a Redis
/// started with `--databases 1`.
pub fn copy<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let mut replace = false;
    let mut db = None;
    let mut i = 3;
    while i < args.len() {
        let option = args.get(i);
        if option.eq_ignore_ascii_case(b"REPLACE") {
            replace = true;
        } else if option.eq_ignore_ascii_case(b"DB") && i + 1 < args.len() {
            db = Some(db_number(args.get(i + 1)).map_err(Reply::Error)?);
            i += 1;
        } else {
            return Err(Reply::Error(ClientError::Syntax));
        }
        i += 1;
    }
    let (from, to) = (key(args.get(1))?, key(args.get(2))?);
    Ok(Command::Copy {
        from,
        to,
        db,
        replace,
    })
}

/// MOVE key db.
pub fn move_key<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let db = db_number(args.get(2)).map_err(Reply::Error)?;
    Ok(Command::Move(key(args.get(1))?, db))
}

/// SWAPDB index index.
pub fn swapdb<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let index = |i, which| {
        db_number(args.get(i)).map_err(|_| Reply::Error(ClientError::InvalidDbIndex(which)))
    };
    Ok(Command::SwapDb(index(1, "first")?, index(2, "second")?))
}

pub fn subscribe<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(subscription(args, true, false))
}

pub fn psubscribe<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(subscription(args, true, true))
}

pub fn unsubscribe<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(subscription(args, false, false))
}

pub fn punsubscribe<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(subscription(args, false, true))
}

/// A (P)(UN)SUBSCRIBE of the names after the command's.
fn subscription<'a>(args: &Args<'a>, subscribe: bool, patterns: bool) -> Command<'a> {
    let names = args.from(1).collect();
    if subscribe {
        Command::Subscribe { patterns, names }
    } else {
        Command::Unsubscribe { patterns, names }
    }
}

pub fn publish<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Publish {
        channel: args.get(1),
        message: args.get(2),
    })
}

/// `NAME HELP`, which takes nothing more: the lines of `lines`.
fn help<'a>(args: &Args<'a>, name: &'static str, lines: &'static [&'static str]) -> Parsed<'a> {
    arity(args.len() == 2, name)?;
    Ok(Command::Help(lines))
}

/// OBJECT HELP, in Redis 7's words.
const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// CONFIG HELP.
const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> ...]. Subcommands are:",
    "GET <pattern> [<pattern> ...]",
    "    Each parameter matching a glob-style pattern, with its value.",
    "SET <parameter> <value> [<parameter> <value> ...]",
    "    Changes maxmemory, maxmemory-samples or timeout; any other parameter only",
    "    to the value it has. Nothing changes unless every pair is accepted.",
    "RESETSTAT",
    "    Sets the statistics INFO and STATS report back to zero.",
    "HELP",
    "    Prints this help.",
];

/// CLIENT HELP.
const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> ...]. Subcommands are:",
    "ID | INFO | LIST [TYPE <type> | ID <id> ...]",
    "    This connection's id; its line; every connection's line.",
    "SETNAME <name> | GETNAME | SETINFO <attribute> <value>",
    "    Names this connection; its name; an attribute, accepted and ignored.",
    "KILL <ip:port> | KILL <filter> <value> ...",
    "    Closes the connections matching (ID, ADDR, LADDR, TYPE, USER, SKIPME).",
    "REPLY ON|OFF|SKIP",
    "    Whether the server replies to this connection's commands.",
    "NO-EVICT ON|OFF | NO-TOUCH ON|OFF",
    "    Accepted; NO-TOUCH ON keeps this connection's reads from refreshing keys.",
    "TRACKING ON|OFF [REDIRECT <id>] [PREFIX <prefix> ...] [BCAST] [OPTIN]",
    "         [OPTOUT] [NOLOOP] | CACHING YES|NO | GETREDIR | TRACKINGINFO",
    "    Client-side caching: invalidations of the keys this connection read.",
    "HELP",
    "    Prints this help.",
];

/// COMMAND HELP.
const COMMAND_HELP: &[&str] = &[
    "COMMAND [<subcommand> [<arg> ...]]. With no subcommand, every command. Subcommands are:",
    "COUNT",
    "    How many commands there are.",
    "LIST",
    "    Every command's name.",
    "INFO [<command> ...]",
    "    Each command's name, arity, flags, keys and ACL categories (every one when",
    "    none is named).",
    "DOCS [<command> ...]",
    "    An empty map: there are no docs to give.",
    "HELP",
    "    Prints this help.",
];

/// MEMORY HELP.
const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> ...]. Subcommands are:",
    "USAGE <key> [SAMPLES <count>]",
    "    The bytes the key takes: its entry, key and value.",
    "HELP",
    "    Prints this help.",
];

/// PUBSUB HELP, in Redis 7's words for the subcommands this server has.
const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "HELP",
    "    Prints this help.",
];

/// `PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | HELP`.
pub fn pubsub<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let sub = args.get(1);
    let is = |name: &[u8]| sub.eq_ignore_ascii_case(name);
    let n = args.len();
    let query = if is(b"CHANNELS") {
        if n > 3 {
            // Redis 7's words when CHANNELS's own check refuses.
            let mut text = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
            text.extend_from_slice(&sub[..sub.len().min(QUOTE_LIMIT)]);
            text.extend_from_slice(b"'. Try PUBSUB HELP.");
            return Err(Reply::ErrorText(text));
        }
        PubSubQuery::Channels((n == 3).then(|| args.get(2)))
    } else if is(b"NUMSUB") {
        PubSubQuery::NumSub(args.from(2).collect())
    } else if is(b"NUMPAT") {
        arity(n == 2, "pubsub|numpat")?;
        PubSubQuery::NumPat
    } else if is(b"HELP") {
        return help(args, "pubsub|help", PUBSUB_HELP);
    } else {
        return Err(unknown_subcommand(sub, "PUBSUB"));
    };
    Ok(Command::PubSub(query))
}

pub fn del<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::DeleteMany(keys(args, 1)?))
}

pub fn exists<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Exists(keys(args, 1)?))
}

pub fn expire<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    expire_command(args, "expire", false, false)
}

pub fn pexpire<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    expire_command(args, "pexpire", true, false)
}

pub fn expireat<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    expire_command(args, "expireat", false, true)
}

pub fn pexpireat<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    expire_command(args, "pexpireat", true, true)
}

/// EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT: key, time, options.
fn expire_command<'a>(
    args: &Args<'a>,
    name: &'static str,
    in_ms: bool,
    absolute: bool,
) -> Parsed<'a> {
    // Redis reads the options before the time.
    let only_if = expire_condition(args)?;
    let amount = integer(args.get(2))?;
    let ms = if in_ms {
        Some(amount)
    } else {
        amount.checked_mul(1000)
    };
    let ms = ms.ok_or(Reply::Error(ClientError::InvalidExpireTime(name)))?;
    let when = if absolute {
        When::AtUnix(ms)
    } else {
        When::In(ms)
    };
    Ok(Command::Expire {
        key: key(args.get(1))?,
        when,
        only_if,
        name,
    })
}

pub fn ttl<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Ttl {
        key: key(args.get(1))?,
        in_ms: false,
    })
}

pub fn pttl<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Ttl {
        key: key(args.get(1))?,
        in_ms: true,
    })
}

pub fn persist<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Persist {
        key: key(args.get(1))?,
        count_removed: true,
    })
}

pub fn incr<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::IncrBy(key(args.get(1))?, 1, "INCR"))
}

pub fn decr<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::IncrBy(key(args.get(1))?, -1, "DECR"))
}

pub fn incrby<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let delta = integer(args.get(2))?;
    Ok(Command::IncrBy(key(args.get(1))?, delta, "INCRBY"))
}

pub fn decrby<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let delta = integer(args.get(2))?
        .checked_neg()
        .ok_or(Reply::ErrorText(b"ERR decrement would overflow".to_vec()))?;
    Ok(Command::IncrBy(key(args.get(1))?, delta, "DECRBY"))
}

pub fn append<'a>(args: &Args<'a>, limits: &Limits) -> Parsed<'a> {
    Ok(Command::Append(
        key(args.get(1))?,
        value(args.get(2), limits)?,
    ))
}

pub fn strlen<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Strlen(key(args.get(1))?))
}

pub fn expiretime<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::ExpireTime {
        key: key(args.get(1))?,
        in_ms: false,
    })
}

pub fn pexpiretime<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::ExpireTime {
        key: key(args.get(1))?,
        in_ms: true,
    })
}

pub fn randomkey<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::RandomKey)
}

/// OBJECT ENCODING|IDLETIME|FREQ|REFCOUNT key, OBJECT HELP.
pub fn object<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let sub = args.get(1);
    let is = |name: &[u8]| sub.eq_ignore_ascii_case(name);
    if is(b"HELP") {
        return help(args, "object|help", OBJECT_HELP);
    }
    let (name, make): (_, fn(Key<'a>) -> ObjectCommand<'a>) = if is(b"ENCODING") {
        ("object|encoding", ObjectCommand::Encoding)
    } else if is(b"IDLETIME") {
        ("object|idletime", ObjectCommand::IdleTime)
    } else if is(b"FREQ") {
        ("object|freq", ObjectCommand::Freq)
    } else if is(b"REFCOUNT") {
        ("object|refcount", ObjectCommand::RefCount)
    } else {
        return Err(unknown_subcommand(sub, "OBJECT"));
    };
    arity(args.len() == 3, name)?;
    Ok(Command::Object(make(key(args.get(2))?)))
}

/// MEMORY USAGE key [SAMPLES count]: a string has nothing to sample, so
/// the count is checked and ignored.
pub fn memory<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    if args.get(1).eq_ignore_ascii_case(b"HELP") {
        return help(args, "memory|help", MEMORY_HELP);
    }
    if !args.get(1).eq_ignore_ascii_case(b"USAGE") {
        return Err(unknown_subcommand(args.get(1), "MEMORY"));
    }
    arity(args.len() >= 3, "memory|usage")?;
    let samples = args.get(3);
    match args.len() {
        3 => {}
        5 if samples.eq_ignore_ascii_case(b"SAMPLES") => {
            if integer(args.get(4))? < 0 {
                return Err(Reply::Error(ClientError::Syntax));
            }
        }
        _ => return Err(Reply::Error(ClientError::Syntax)),
    }
    Ok(Command::MemoryUsage(key(args.get(2))?))
}

pub fn reset<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Reset)
}

pub fn multi<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Multi)
}

pub fn exec<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Exec)
}

pub fn discard<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Discard)
}

/// WATCH key [key ...].
pub fn watch<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Watch(keys(args, 1)?))
}

pub fn unwatch<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Unwatch)
}

/// WAIT numreplicas timeout.
pub fn wait<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    integer(args.get(1))?;
    let timeout = parse_i64(args.get(2)).ok_or_else(|| {
        Reply::ErrorText(b"ERR timeout is not an integer or out of range".to_vec())
    })?;
    if timeout < 0 {
        return Err(Reply::ErrorText(b"ERR timeout is negative".to_vec()));
    }
    Ok(Command::Wait)
}

pub fn lastsave<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::LastSave)
}

pub fn role<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Role)
}

/// EVAL, EVALSHA, SCRIPT, FUNCTION, FCALL and their read-only forms: one
/// error, whatever the arguments.
pub fn scripting<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Err(Reply::Error(ClientError::NoScripting))
}

pub fn type_of<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Type(key(args.get(1))?))
}

pub fn dbsize<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::DbSize)
}

/// FLUSHALL [SYNC|ASYNC].
pub fn flushall<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    flush_mode(args).map(|()| Command::FlushAll)
}

/// FLUSHDB [SYNC|ASYNC].
pub fn flushdb<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    flush_mode(args).map(|()| Command::FlushDb)
}

/// Checks a flush's optional SYNC or ASYNC (both flush at once here).
fn flush_mode(args: &Args<'_>) -> Result<(), Reply<'static>> {
    // Any number of arguments is the right arity; only one SYNC or ASYNC
    // makes sense, as Redis checks it.
    let mode = args.get(1);
    let known = args.len() == 1
        || (args.len() == 2
            && (mode.eq_ignore_ascii_case(b"SYNC") || mode.eq_ignore_ascii_case(b"ASYNC")));
    if known {
        Ok(())
    } else {
        Err(Reply::Error(ClientError::Syntax))
    }
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type].
pub fn scan<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let cursor = std::str::from_utf8(args.get(1))
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or(Reply::ErrorText(b"ERR invalid cursor".to_vec()))?;
    let mut pattern = None;
    let mut count = DEFAULT_SCAN_COUNT;
    let mut only_strings = true;
    let mut i = 2;
    while i < args.len() {
        let option = args.get(i);
        if i + 1 >= args.len() {
            return Err(Reply::Error(ClientError::Syntax));
        }
        let operand = args.get(i + 1);
        if option.eq_ignore_ascii_case(b"MATCH") {
            pattern = Some(operand);
        } else if option.eq_ignore_ascii_case(b"COUNT") {
            count = match integer(operand)? {
                n if n < 1 => return Err(Reply::Error(ClientError::Syntax)),
                n => usize::try_from(n).unwrap_or(usize::MAX),
            };
        } else if option.eq_ignore_ascii_case(b"TYPE") {
            only_strings = operand.eq_ignore_ascii_case(b"string");
        } else {
            return Err(Reply::Error(ClientError::Syntax));
        }
        i += 2;
    }
    // Every key is a string: a scan for another type finds nothing.
    let cursor = if only_strings {
        usize::try_from(cursor).unwrap_or(usize::MAX)
    } else {
        usize::MAX
    };
    Ok(Command::Scan {
        cursor,
        pattern,
        count,
    })
}

pub fn keys_matching<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Keys(args.get(1)))
}

pub fn usage<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Usage)
}

pub fn ping<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    arity(args.len() <= 2, "ping")?;
    Ok(Command::Ping((args.len() == 2).then(|| args.get(1))))
}

pub fn echo<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Echo(args.get(1)))
}

pub fn quit<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Quit)
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: there is no snapshot to
/// take or skip, so the options change nothing, but they are checked as
/// Redis checks them: SAVE with NOSAVE, or ABORT with any other, is a
/// syntax error, and ABORT alone has no shutdown to abort.
pub fn shutdown<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let (mut save, mut nosave, mut others, mut abort) = (false, false, false, false);
    for option in args.from(1) {
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        if is(b"SAVE") {
            save = true;
        } else if is(b"NOSAVE") {
            nosave = true;
        } else if is(b"NOW") || is(b"FORCE") {
            others = true;
        } else if is(b"ABORT") {
            abort = true;
        } else {
            return Err(Reply::Error(ClientError::Syntax));
        }
    }
    if (save && nosave) || (abort && (save || nosave || others)) {
        return Err(Reply::Error(ClientError::Syntax));
    }
    if abort {
        return Err(Reply::ErrorText(b"ERR No shutdown in progress.".to_vec()));
    }
    Ok(Command::Shutdown)
}

pub fn bgrewriteaof<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::BgRewriteAof)
}

/// `AUTH [user] password`.
pub fn auth<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    match args.len() {
        2 => Ok(Command::Auth {
            user: None,
            password: args.get(1),
        }),
        3 => Ok(Command::Auth {
            user: Some(args.get(1)),
            password: args.get(2),
        }),
        _ => Err(Reply::Error(ClientError::Syntax)),
    }
}

/// HELLO [protover [AUTH user pass] [SETNAME name]].
pub fn hello<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let mut version = None;
    let mut auth = None;
    let mut name = None;
    if args.len() > 1 {
        let v = parse_i64(args.get(1)).ok_or_else(|| {
            Reply::ErrorText(b"ERR Protocol version is not an integer or out of range".to_vec())
        })?;
        version = match v {
            2 | 3 => Some(v as u8),
            _ => return Err(Reply::Error(ClientError::UnsupportedProtocol)),
        };
    }
    let mut i = 2;
    while i < args.len() {
        let option = args.get(i);
        if option.eq_ignore_ascii_case(b"AUTH") && i + 2 < args.len() {
            auth = Some((args.get(i + 1), args.get(i + 2)));
            i += 3;
        } else if option.eq_ignore_ascii_case(b"SETNAME") && i + 1 < args.len() {
            name = Some(client_name(args.get(i + 1))?);
            i += 2;
        } else {
            let mut text = b"ERR Syntax error in HELLO option '".to_vec();
            text.extend_from_slice(option);
            text.push(b'\'');
            return Err(Reply::ErrorText(text));
        }
    }
    Ok(Command::Hello {
        version,
        auth,
        name,
    })
}

pub fn select<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Select(
        db_number(args.get(1)).map_err(Reply::Error)?,
    ))
}

/// CLIENT SETNAME|GETNAME|ID|SETINFO|LIST|INFO|KILL|NO-EVICT|NO-TOUCH.
pub fn client<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let sub = args.get(1);
    let n = args.len();
    let is = |name: &[u8]| sub.eq_ignore_ascii_case(name);
    let command = if is(b"SETNAME") {
        arity(n == 3, "client|setname")?;
        ClientCommand::SetName(client_name(args.get(2))?)
    } else if is(b"GETNAME") {
        arity(n == 2, "client|getname")?;
        ClientCommand::GetName
    } else if is(b"ID") {
        arity(n == 2, "client|id")?;
        ClientCommand::Id
    } else if is(b"SETINFO") {
        arity(n == 4, "client|setinfo")?;
        ClientCommand::SetInfo
    } else if is(b"LIST") {
        ClientCommand::List(client_list_filter(args)?)
    } else if is(b"INFO") {
        arity(n == 2, "client|info")?;
        ClientCommand::Info
    } else if is(b"KILL") {
        arity(n >= 3, "client|kill")?;
        ClientCommand::Kill(kill_filter(args)?)
    } else if is(b"NO-EVICT") {
        arity(n == 3, "client|no-evict")?;
        ClientCommand::NoEvict(on_off(args.get(2))?)
    } else if is(b"NO-TOUCH") {
        arity(n == 3, "client|no-touch")?;
        ClientCommand::NoTouch(on_off(args.get(2))?)
    } else if is(b"REPLY") {
        arity(n == 3, "client|reply")?;
        let mode = args.get(2);
        let mode = if mode.eq_ignore_ascii_case(b"ON") {
            ReplyMode::On
        } else if mode.eq_ignore_ascii_case(b"OFF") {
            ReplyMode::Off
        } else if mode.eq_ignore_ascii_case(b"SKIP") {
            ReplyMode::Skip
        } else {
            return Err(Reply::Error(ClientError::Syntax));
        };
        ClientCommand::Reply(mode)
    } else if is(b"TRACKING") {
        arity(n >= 3, "client|tracking")?;
        ClientCommand::Tracking(tracking_options(args)?)
    } else if is(b"CACHING") {
        arity(n == 3, "client|caching")?;
        ClientCommand::Caching(on_off_word(args.get(2), b"yes", b"no").ok())
    } else if is(b"GETREDIR") {
        arity(n == 2, "client|getredir")?;
        ClientCommand::GetRedir
    } else if is(b"TRACKINGINFO") {
        arity(n == 2, "client|trackinginfo")?;
        ClientCommand::TrackingInfo
    } else if is(b"HELP") {
        return help(args, "client|help", CLIENT_HELP);
    } else {
        return Err(unknown_subcommand(sub, "CLIENT"));
    };
    Ok(Command::Client(command))
}

/// CLIENT LIST's [TYPE type] [ID id ...]: the ids listed, or `None` for
/// every connection.
fn client_list_filter(args: &Args<'_>) -> Result<Option<Vec<u64>>, Reply<'static>> {
    let option = args.get(2);
    match args.len() {
        2 => Ok(None),
        4 if option.eq_ignore_ascii_case(b"TYPE") => {
            Ok((!normal_type(args.get(3))?).then(Vec::new))
        }
        n if n > 3 && option.eq_ignore_ascii_case(b"ID") => args
            .from(3)
            .map(|id| {
                parse_i64(id)
                    .map(|id| u64::try_from(id).unwrap_or(0))
                    .ok_or_else(|| Reply::ErrorText(b"ERR Invalid client ID".to_vec()))
            })
            .collect::<Result<Vec<u64>, _>>()
            .map(Some),
        _ => Err(Reply::Error(ClientError::Syntax)),
    }
}

/// Whether a client TYPE names the connections this server has (`normal`)
/// or a kind it never has (`master`, `replica`, `slave`, `pubsub`);
/// anything else is Redis's error.
fn normal_type(name: &[u8]) -> Result<bool, Reply<'static>> {
    if name.eq_ignore_ascii_case(b"normal") {
        return Ok(true);
    }
    let known = [&b"master"[..], b"replica", b"slave", b"pubsub"]
        .iter()
        .any(|t| name.eq_ignore_ascii_case(t));
    if known {
        return Ok(false);
    }
    let mut text = b"ERR Unknown client type '".to_vec();
    text.extend_from_slice(name);
    text.push(b'\'');
    Err(Reply::ErrorText(text))
}

/// CLIENT KILL addr, or CLIENT KILL with filters: ID, ADDR, LADDR, TYPE,
/// USER (only `default` exists) and SKIPME, as Redis 7.2 takes them.
fn kill_filter<'a>(args: &Args<'a>) -> Result<KillFilter<'a>, Reply<'static>> {
    if args.len() == 3 {
        return Ok(KillFilter {
            addr: Some(args.get(2)),
            old_style: true,
            ..KillFilter::default()
        });
    }
    if args.len() % 2 == 1 {
        return Err(Reply::Error(ClientError::Syntax));
    }
    let mut filter = KillFilter {
        skip_me: true,
        ..KillFilter::default()
    };
    for i in (2..args.len()).step_by(2) {
        let (option, operand) = (args.get(i), args.get(i + 1));
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        if is(b"ID") {
            let id = parse_i64(operand).filter(|&id| id > 0).ok_or_else(|| {
                Reply::ErrorText(b"ERR client-id should be greater than 0".to_vec())
            })?;
            filter.id = Some(id as u64);
        } else if is(b"ADDR") {
            filter.addr = Some(operand);
        } else if is(b"LADDR") {
            filter.laddr = Some(operand);
        } else if is(b"TYPE") {
            filter.none |= !normal_type(operand)?;
        } else if is(b"USER") {
            if operand != b"default" {
                let mut text = b"ERR No such user '".to_vec();
                text.extend_from_slice(operand);
                text.push(b'\'');
                return Err(Reply::ErrorText(text));
            }
        } else if is(b"SKIPME") {
            filter.skip_me = on_off_word(operand, b"yes", b"no")?;
        } else {
            return Err(Reply::Error(ClientError::Syntax));
        }
    }
    Ok(filter)
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP]`: `None` for OFF.
fn tracking_options<'a>(args: &Args<'a>) -> Result<Option<TrackingOptions<'a>>, Reply<'static>> {
    let on = on_off(args.get(2))?;
    let mut options = TrackingOptions::default();
    let mut i = 3;
    while i < args.len() {
        let option = args.get(i);
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        let has_value = i + 1 < args.len();
        if is(b"REDIRECT") && has_value {
            i += 1;
            options.redirect = Some(integer(args.get(i))?);
        } else if is(b"PREFIX") && has_value {
            i += 1;
            options.prefixes.push(args.get(i));
        } else if is(b"BCAST") {
            options.bcast = true;
        } else if is(b"OPTIN") {
            options.optin = true;
        } else if is(b"OPTOUT") {
            options.optout = true;
        } else if is(b"NOLOOP") {
            options.noloop = true;
        } else {
            return Err(Reply::Error(ClientError::Syntax));
        }
        i += 1;
    }
    Ok(on.then_some(options))
}

fn on_off(word: &[u8]) -> Result<bool, Reply<'static>> {
    on_off_word(word, b"on", b"off")
}

fn on_off_word(word: &[u8], on: &[u8], off: &[u8]) -> Result<bool, Reply<'static>> {
    if word.eq_ignore_ascii_case(on) {
        Ok(true)
    } else if word.eq_ignore_ascii_case(off) {
        Ok(false)
    } else {
        Err(Reply::Error(ClientError::Syntax))
    }
}

pub fn info<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Info(args.from(1).collect()))
}

/// CONFIG GET pattern [pattern ...], CONFIG SET parameter value [...],
/// CONFIG RESETSTAT.
pub fn config<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    let sub = args.get(1);
    if sub.eq_ignore_ascii_case(b"GET") {
        arity(args.len() >= 3, "config|get")?;
        Ok(Command::ConfigGet(args.from(2).collect()))
    } else if sub.eq_ignore_ascii_case(b"SET") {
        arity(args.len() >= 4, "config|set")?;
        config_set(args)
    } else if sub.eq_ignore_ascii_case(b"RESETSTAT") {
        arity(args.len() == 2, "config|resetstat")?;
        Ok(Command::ConfigResetStat)
    } else if sub.eq_ignore_ascii_case(b"HELP") {
        help(args, "config|help", CONFIG_HELP)
    } else {
        Err(unknown_subcommand(sub, "CONFIG"))
    }
}

/// The parameters CONFIG GET shows that cannot change while this server
/// runs: CONFIG SET answers Redis's error for an immutable parameter, but
/// for its current value.
pub const IMMUTABLE: &[&str] = &[
    "maxmemory-policy",
    "maxclients",
    "save",
    "appendonly",
    "appendfsync",
    "databases",
    "proto-max-bulk-len",
    "unixsocketperm",
    "tracking-table-max-keys",
    "replicaof",
    "slaveof",
    "port",
    "bind",
    "unixsocket",
];

/// CONFIG SET's pairs, each checked as Redis checks it; nothing is set
/// unless all are good.
fn config_set<'a>(args: &Args<'a>) -> Parsed<'a> {
    if args.len() % 2 == 1 {
        return Err(Reply::Error(ClientError::Syntax));
    }
    let mut settings: Vec<Setting<'a>> = Vec::new();
    for i in (2..args.len()).step_by(2) {
        let (name, value) = (args.get(i), args.get(i + 1));
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        let failed = |why: &str| {
            let mut text = b"ERR CONFIG SET failed (possibly related to argument '".to_vec();
            text.extend_from_slice(&name.to_ascii_lowercase());
            text.extend_from_slice(b"') - ");
            text.extend_from_slice(why.as_bytes());
            Reply::ErrorText(text)
        };
        let number = |min: i64, max: i64, range: &str| match parse_i64(value) {
            None => Err(failed("argument couldn't be parsed into an integer")),
            Some(n) if n < min || n > max => Err(failed(range)),
            Some(n) => Ok(n as u64),
        };
        let setting = if is("maxmemory") {
            let bytes = std::str::from_utf8(value)
                .ok()
                .and_then(|v| parse_size(v).ok());
            Setting::MaxMemory(bytes.ok_or_else(|| failed("argument must be a memory value"))?)
        } else if is("maxmemory-samples") {
            let most = MAX_EVICTION_SAMPLES as i64;
            let range = format!("argument must be between 1 and {most} inclusive");
            Setting::MaxMemorySamples(number(1, most, &range)? as usize)
        } else if is("timeout") {
            let range = "argument must be between 0 and 2147483647 inclusive";
            Setting::Timeout(number(0, i64::from(i32::MAX), range)?)
        } else if let Some(fixed) = IMMUTABLE.iter().find(|n| is(n)) {
            Setting::Fixed(fixed, value)
        } else {
            let mut text = b"ERR Unknown option or number of arguments for CONFIG SET - '".to_vec();
            text.extend_from_slice(name);
            text.push(b'\'');
            return Err(Reply::ErrorText(text));
        };
        let same = |s: &Setting<'_>| match (s, &setting) {
            (Setting::Fixed(a, _), Setting::Fixed(b, _)) => a == b,
            _ => std::mem::discriminant(s) == std::mem::discriminant(&setting),
        };
        if settings.iter().any(same) {
            return Err(failed("duplicate parameter"));
        }
        settings.push(setting);
    }
    Ok(Command::ConfigSet(settings))
}

/// COMMAND [COUNT|LIST|INFO [name ...]|DOCS [name ...]].
pub fn command<'a>(args: &Args<'a>, _: &Limits) -> Parsed<'a> {
    if args.len() == 1 {
        return Ok(Command::CommandInfo(CommandQuery::All));
    }
    let sub = args.get(1);
    let is = |name: &[u8]| sub.eq_ignore_ascii_case(name);
    let query = if is(b"COUNT") {
        arity(args.len() == 2, "command|count")?;
        CommandQuery::Count
    } else if is(b"LIST") {
        // Redis's FILTERBY is not offered.
        if args.len() > 2 {
            return Err(Reply::Error(ClientError::Syntax));
        }
        CommandQuery::List
    } else if is(b"INFO") && args.len() == 2 {
        // Naming none, as Redis 7 answers it: every command.
        CommandQuery::All
    } else if is(b"INFO") {
        CommandQuery::Info(args.from(2).collect())
    } else if is(b"DOCS") {
        CommandQuery::Docs
    } else if is(b"HELP") {
        return help(args, "command|help", COMMAND_HELP);
    } else {
        return Err(unknown_subcommand(sub, "COMMAND"));
    };
    Ok(Command::CommandInfo(query))
}

pub fn time<'a>(_: &Args<'a>, _: &Limits) -> Parsed<'a> {
    Ok(Command::Time)
}

/// A wrong-arity error for `name` (lowercase, as Redis words it) unless
/// `ok`.
fn arity(ok: bool, name: &'static str) -> Result<(), Reply<'static>> {
    if ok {
        Ok(())
    } else {
        Err(Reply::Error(ClientError::WrongArguments(name)))
    }
}

fn key(bytes: &[u8]) -> Result<Key<'_>, Reply<'static>> {
    Key::new(bytes).ok_or(Reply::Error(ClientError::KeyTooLong))
}

fn keys<'a>(args: &Args<'a>, first: usize) -> Result<Vec<Key<'a>>, Reply<'static>> {
    args.from(first).map(key).collect()
}

fn value<'a>(bytes: &'a [u8], limits: &Limits) -> Result<&'a [u8], Reply<'static>> {
    if bytes.len() > limits.max_value_size {
        Err(Reply::Error(ClientError::ValueTooLarge))
    } else {
        Ok(bytes)
    }
}

fn integer(bytes: &[u8]) -> Result<i64, Reply<'static>> {
    parse_i64(bytes).ok_or(Reply::Error(ClientError::NotInteger))
}

/// EXPIRE's options after the time: NX, XX, GT, LT, as Redis 7 combines
/// them.
fn expire_condition(args: &Args<'_>) -> Result<ExpireIf, Reply<'static>> {
    let mut only_if = ExpireIf::default();
    for option in args.from(3) {
        let flag = if option.eq_ignore_ascii_case(b"NX") {
            &mut only_if.nx
        } else if option.eq_ignore_ascii_case(b"XX") {
            &mut only_if.xx
        } else if option.eq_ignore_ascii_case(b"GT") {
            &mut only_if.gt
        } else if option.eq_ignore_ascii_case(b"LT") {
            &mut only_if.lt
        } else {
            let mut text = b"ERR Unsupported option ".to_vec();
            text.extend_from_slice(option);
            return Err(Reply::ErrorText(text));
        };
        *flag = true;
    }
    if only_if.nx && (only_if.xx || only_if.gt || only_if.lt) {
        return Err(Reply::ErrorText(
            b"ERR NX and XX, GT or LT options at the same time are not compatible".to_vec(),
        ));
    }
    if only_if.gt && only_if.lt {
        return Err(Reply::ErrorText(
            b"ERR GT and LT options at the same time are not compatible".to_vec(),
        ));
    }
    Ok(only_if)
}

/// A client name: printable ASCII without spaces, as Redis requires, of
/// at most [`MAX_CLIENT_NAME`] bytes.
fn client_name(name: &[u8]) -> Result<&[u8], Reply<'static>> {
    if name.len() > MAX_CLIENT_NAME {
        Err(Reply::Error(ClientError::ClientNameTooLong))
    } else if name.iter().all(|b| (b'!'..=b'~').contains(b)) {
        Ok(name)
    } else {
        Err(Reply::Error(ClientError::InvalidClientName))
    }
}

/// Redis's words for an unknown command, quoting the start of the request.
pub fn unknown_command(args: &Args<'_>) -> Reply<'static> {
    let mut text = b"ERR unknown command '".to_vec();
    let name = args.get(0);
    text.extend_from_slice(&name[..name.len().min(QUOTE_LIMIT)]);
    text.extend_from_slice(b"', with args beginning with: ");
    let mut quoted = Vec::new();
    for arg in args.from(1) {
        if quoted.len() >= QUOTE_LIMIT {
            break;
        }
        let room = QUOTE_LIMIT - quoted.len();
        quoted.push(b'\'');
        quoted.extend_from_slice(&arg[..arg.len().min(room)]);
        quoted.extend_from_slice(b"' ");
    }
    text.extend_from_slice(&quoted);
    Reply::ErrorText(text)
}

/// The code an error reply starts with (`ERR`, `NOAUTH`, `OOM`, ...), as
/// Redis's `errorstat_` names it; `None` for a reply that is no error.
pub fn error_code(reply: &Reply<'_>) -> Option<String> {
    let text = error_line(reply)?;
    let code = text.split(|&b| b == b' ').next()?;
    Some(String::from_utf8_lossy(code).into_owned())
}

/// The line of an error reply, without its `-`; `None` for any other.
fn error_line<'r>(reply: &'r Reply<'_>) -> Option<Cow<'r, [u8]>> {
    match reply {
        Reply::Error(e) => Some(Cow::Owned(error_text(e).into_bytes())),
        Reply::ErrorText(text) => Some(Cow::Borrowed(text)),
        _ => None,
    }
}

/// Redis's refusal of `name` (`client|info` for a subcommand) on a
/// subscribed RESP2 connection.
pub fn only_pubsub(name: &str) -> Reply<'static> {
    Reply::ErrorText(only_pubsub_text(name).into_bytes())
}

fn only_pubsub_text(name: &str) -> String {
    format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
         RESET are allowed in this context"
    )
}

/// Whether `refusal`, from a parser, is one Redis makes as it looks the
/// command up, before it would queue it in a transaction: an unknown
/// subcommand, or a subcommand given the wrong number of arguments.
pub fn refused_at_lookup(refusal: &Reply<'_>) -> bool {
    match refusal {
        Reply::Error(ClientError::WrongArguments(name)) => name.contains('|'),
        Reply::ErrorText(text) => text.starts_with(UNKNOWN_SUBCOMMAND),
        _ => false,
    }
}

/// How an unknown subcommand's error begins.
const UNKNOWN_SUBCOMMAND: &[u8] = b"ERR unknown subcommand '";

/// Redis's answer to an EXEC refused before it ran: the transaction, if
/// any, is discarded, and the error says why (without its `ERR`).
pub fn exec_refused(refusal: &Reply<'_>) -> Reply<'static> {
    let text = error_line(refusal).unwrap_or_default();
    let why = text.strip_prefix(b"ERR ").unwrap_or(&text);
    let mut abort = b"EXECABORT Transaction discarded because of: ".to_vec();
    abort.extend_from_slice(why);
    Reply::ErrorText(abort)
}

fn unknown_subcommand(sub: &[u8], command: &str) -> Reply<'static> {
    let mut text = UNKNOWN_SUBCOMMAND.to_vec();
    text.extend_from_slice(&sub[..sub.len().min(QUOTE_LIMIT)]);
    text.extend_from_slice(format!("'. Try {command} HELP.").as_bytes());
    Reply::ErrorText(text)
}

/// Redis's text for an error, without the leading `-`.
fn error_text(e: &ClientError) -> String {
    let lower = |name: &str| name.to_ascii_lowercase();
    match e {
        ClientError::RequiresKey(name) | ClientError::WrongArguments(name) => {
            format!(
                "ERR wrong number of arguments for '{}' command",
                lower(name)
            )
        }
        ClientError::InvalidExpireTime(name) => {
            format!("ERR invalid expire time in '{}' command", lower(name))
        }
        ClientError::ValueTooLarge | ClientError::OutOfMemory => {
            "OOM command not allowed when used memory > 'maxmemory'.".to_string()
        }
        ClientError::StringTooLong => {
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)".to_string()
        }
        ClientError::NoAuth => "NOAUTH Authentication required.".to_string(),
        ClientError::WrongPass => {
            "WRONGPASS invalid username-password pair or user is disabled.".to_string()
        }
        ClientError::NoPasswordConfigured => "ERR AUTH <password> called without any password \
             configured for the default user. Are you sure your configuration is correct?"
            .to_string(),
        ClientError::UnsupportedProtocol => "NOPROTO unsupported protocol version".to_string(),
        ClientError::OnlyPubSub(name) => only_pubsub_text(name),
        // Its text carries its own code, as Redis's MISCONF does.
        ClientError::NotDurable => ClientError::NotDurable.to_string(),
        ClientError::ExecAbort => ClientError::ExecAbort.to_string(),
        ClientError::ExecAbortOom => ClientError::ExecAbortOom.to_string(),
        other => format!("ERR {other}"),
    }
}

/// Writes `reply` in RESP `version` (2 or 3). [`Reply::Quit`] is `+OK`.
pub fn write_reply<W: Write>(out: &mut W, reply: &Reply<'_>, version: u8) -> io::Result<()> {
    match reply {
        Reply::Ok | Reply::Quit => out.write_all(b"+OK\r\n"),
        Reply::Shutdown => Ok(()),
        Reply::Pong => out.write_all(b"+PONG\r\n"),
        Reply::Status(words) => {
            out.write_all(b"+")?;
            out.write_all(words.as_bytes())?;
            out.write_all(b"\r\n")
        }
        Reply::Value(value) => bulk(out, value),
        Reply::NotFound | Reply::NotStored => null(out, version),
        Reply::Found(found) => out.write_all(if *found { b":1\r\n" } else { b":0\r\n" }),
        Reply::Number(_, n) => number_line(out, b':', *n),
        Reply::Labelled(_, text) => bulk(out, text),
        Reply::Type(true) => out.write_all(b"+string\r\n"),
        Reply::Type(false) => out.write_all(b"+none\r\n"),
        Reply::Values(values) => {
            write!(out, "*{}\r\n", values.len())?;
            for value in values {
                match value {
                    Some(v) => bulk(out, v)?,
                    None => null(out, version)?,
                }
            }
            Ok(())
        }
        Reply::Frame(frame) => write_frame(out, frame, version),
        Reply::Transaction { count, body } => {
            number_line(out, b'*', *count as i64)?;
            out.write_all(body)
        }
        Reply::NullArray => out.write_all(if version >= 3 { b"_\r\n" } else { b"*-1\r\n" }),
        Reply::Subscription(confirmations) => {
            for c in confirmations {
                push_header(out, 3, version)?;
                bulk(out, c.kind.name().as_bytes())?;
                match &c.name {
                    Some(name) => bulk(out, name)?,
                    None => null(out, version)?,
                }
                number_line(out, b':', c.count as i64)?;
            }
            Ok(())
        }
        Reply::Stats(_) => out.write_all(b"-ERR unknown command\r\n"),
        Reply::Error(e) => write!(out, "-{}\r\n", error_text(e)),
        Reply::ErrorText(text) => {
            out.write_all(b"-")?;
            // An error is one line: as Redis does, line breaks at either
            // end are dropped and the others become spaces.
            let breaks = |b: &u8| *b == b'\r' || *b == b'\n';
            let start = text.iter().position(|b| !breaks(b)).unwrap_or(text.len());
            let end = text
                .iter()
                .rposition(|b| !breaks(b))
                .map_or(start, |i| i + 1);
            for &b in &text[start..end] {
                out.write_all(&[if breaks(&b) { b' ' } else { b }])?;
            }
            out.write_all(b"\r\n")
        }
    }
}

/// The header of an out-of-band reply of `len` items: a RESP3 push
/// (`>`), a plain array in RESP2.
fn push_header<W: Write>(out: &mut W, len: i64, version: u8) -> io::Result<()> {
    number_line(out, if version >= 3 { b'>' } else { b'*' }, len)
}

/// Appends a published message as a subscriber of RESP `version` reads
/// it: `message channel payload`, or `pmessage pattern channel payload`
/// when it matched `pattern`.
pub fn write_message(
    out: &mut Vec<u8>,
    version: u8,
    pattern: Option<&[u8]>,
    channel: &[u8],
    payload: &[u8],
) {
    // Into a vector, writing cannot fail.
    let _ = match pattern {
        None => push_header(out, 3, version)
            .and_then(|()| bulk(out, b"message"))
            .and_then(|()| bulk(out, channel))
            .and_then(|()| bulk(out, payload)),
        Some(pattern) => push_header(out, 4, version)
            .and_then(|()| bulk(out, b"pmessage"))
            .and_then(|()| bulk(out, pattern))
            .and_then(|()| bulk(out, channel))
            .and_then(|()| bulk(out, payload)),
    };
}

/// Appends client-side caching's invalidation of `keys` (`None`:
/// everything) in RESP `version`: an `invalidate` push to the tracking
/// connection itself, or, `redirected`, a `message` on
/// `__redis__:invalidate` to the connection it redirects to.
pub fn write_invalidation(
    out: &mut Vec<u8>,
    version: u8,
    redirected: bool,
    keys: Option<&[&[u8]]>,
) {
    // Into a vector, writing cannot fail.
    let _ = if redirected {
        push_header(out, 3, version)
            .and_then(|()| bulk(out, b"message"))
            .and_then(|()| bulk(out, b"__redis__:invalidate"))
    } else {
        push_header(out, 2, version).and_then(|()| bulk(out, b"invalidate"))
    };
    let _ = match keys {
        Some(keys) => number_line(out, b'*', keys.len() as i64)
            .and_then(|()| keys.iter().try_for_each(|key| bulk(out, key))),
        None => null(out, version),
    };
}

fn bulk<W: Write>(out: &mut W, value: &[u8]) -> io::Result<()> {
    number_line(out, b'$', value.len() as i64)?;
    out.write_all(value)?;
    out.write_all(b"\r\n")
}

/// `<marker><n>\r\n`, formatted without `fmt`: this is on every reply.
fn number_line<W: Write>(out: &mut W, marker: u8, n: i64) -> io::Result<()> {
    let mut line = [0u8; 23];
    let mut digits = [0u8; 20];
    let digits = format_i64(n, &mut digits);
    line[0] = marker;
    crate::copy::copy(&mut line[1..], digits);
    line[1 + digits.len()..3 + digits.len()].copy_from_slice(b"\r\n");
    out.write_all(&line[..3 + digits.len()])
}

fn null<W: Write>(out: &mut W, version: u8) -> io::Result<()> {
    out.write_all(if version >= 3 { b"_\r\n" } else { b"$-1\r\n" })
}

fn write_frame<W: Write>(out: &mut W, frame: &Frame, version: u8) -> io::Result<()> {
    match frame {
        Frame::Simple(s) => write!(out, "+{s}\r\n"),
        Frame::Bulk(b) => bulk(out, b),
        Frame::Integer(n) => write!(out, ":{n}\r\n"),
        Frame::Null => null(out, version),
        Frame::Array(items) => {
            write!(out, "*{}\r\n", items.len())?;
            items.iter().try_for_each(|f| write_frame(out, f, version))
        }
        Frame::Map(pairs) => {
            if version >= 3 {
                write!(out, "%{}\r\n", pairs.len())?;
            } else {
                write!(out, "*{}\r\n", pairs.len() * 2)?;
            }
            pairs.iter().try_for_each(|(k, v)| {
                write_frame(out, k, version)?;
                write_frame(out, v, version)
            })
        }
        Frame::Verbatim(text) if version >= 3 => {
            write!(out, "={}\r\ntxt:", text.len() + 4)?;
            out.write_all(text.as_bytes())?;
            out.write_all(b"\r\n")
        }
        Frame::Verbatim(text) => bulk(out, text.as_bytes()),
        Frame::Set(items) => {
            number_line(
                out,
                if version >= 3 { b'~' } else { b'*' },
                items.len() as i64,
            )?;
            items.iter().try_for_each(|f| write_frame(out, f, version))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::framer::Request;
    use super::*;

    const LIMITS: Limits = Limits {
        max_value_size: 1024,
        max_request_size: 1 << 20,
    };

    /// Frames `parts` as parsed arguments and parses them as an
    /// authenticated connection would.
    fn parse_parts(parts: &[&[u8]]) -> Result<Command<'static>, Reply<'static>> {
        let data: Vec<u8> = parts.concat();
        let mut bounds = Vec::new();
        let mut at = 0;
        for p in parts {
            bounds.push((at, at + p.len()));
            at += p.len();
        }
        let data: &'static [u8] = Box::leak(data.into_boxed_slice());
        let bounds: &'static [(usize, usize)] = Box::leak(bounds.into_boxed_slice());
        let request = Request::Resp(Args::new(data, bounds));
        super::super::commands::parse(request, &LIMITS, super::super::commands::Gate::OPEN)
    }

    fn wire(reply: &Reply<'_>, version: u8) -> Vec<u8> {
        let mut out = Vec::new();
        write_reply(&mut out, reply, version).unwrap();
        out
    }

    #[test]
    fn unknown_commands_quote_their_arguments() {
        let Err(reply) = parse_parts(&[b"FOO", b"a", b"b"]) else {
            panic!("FOO parsed");
        };
        assert_eq!(
            wire(&reply, 2),
            b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"
        );
    }

    #[test]
    fn set_options_conflict_as_in_redis() {
        assert!(parse_parts(&[b"SET", b"k", b"v", b"NX", b"XX"]).is_err());
        assert!(parse_parts(&[b"SET", b"k", b"v", b"EX", b"1", b"PX", b"5"]).is_err());
        assert!(parse_parts(&[b"SET", b"k", b"v", b"KEEPTTL", b"EX", b"1"]).is_err());
        let Ok(Command::Set(set)) = parse_parts(&[b"set", b"k", b"v", b"xx", b"get", b"px", b"5"])
        else {
            panic!("SET did not parse");
        };
        assert_eq!(set.condition, Condition::IfPresent);
        assert!(set.get);
        assert_eq!(set.expire, Some(ExpireAt::In(ExpireIn(5))));
        let Err(reply) = parse_parts(&[b"SET", b"k", b"v", b"EX", b"0"]) else {
            panic!("EX 0 parsed");
        };
        assert_eq!(
            wire(&reply, 2),
            b"-ERR invalid expire time in 'set' command\r\n"
        );
    }

    #[test]
    fn resp3_differs_in_nulls_maps_and_verbatim() {
        assert_eq!(wire(&Reply::NotFound, 2), b"$-1\r\n");
        assert_eq!(wire(&Reply::NotFound, 3), b"_\r\n");
        let map = Reply::Frame(Frame::Map(vec![(
            Frame::Bulk(b"proto".to_vec()),
            Frame::Integer(3),
        )]));
        assert_eq!(wire(&map, 2), b"*2\r\n$5\r\nproto\r\n:3\r\n");
        assert_eq!(wire(&map, 3), b"%1\r\n$5\r\nproto\r\n:3\r\n");
        let info = Reply::Frame(Frame::Verbatim("a:1\r\n".to_string()));
        assert_eq!(wire(&info, 3), b"=9\r\ntxt:a:1\r\n\r\n");
        assert_eq!(wire(&info, 2), b"$5\r\na:1\r\n\r\n");
    }
}
