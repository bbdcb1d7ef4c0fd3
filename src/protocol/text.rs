//! The Blink-Store text protocol: one request line in, one reply line out.
//!
//! A request is the bytes of one line without its `\n`; one `\r` before the
//! `\n` is dropped here. Tokens are separated by runs of spaces and tabs, the
//! command name is case-insensitive, and keys and values are arbitrary bytes.
//! The value of `SET` is the rest of the line after the key, trimmed of
//! spaces and tabs at both ends. Replies end with `\n`; values are sent as
//! standard base64 with padding, so a reply never contains a raw newline.
//!
//! This module holds the text parsers of the command table
//! ([`super::commands`]) and writes replies; it does not read sockets (the
//! framer finds the lines) and does not run commands.

use std::io::{self, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{
    db_number, parse_i64, ClientError, Command, ExpireAt, ExpireIf, ExpireIn, ExpiryChange,
    Increment, Limits, Reply, SetCommand, When,
};
use crate::copy::Appender;
use crate::num::parse_f64;
use crate::store::{Condition, Key};

// The parsers of the command table (`super::commands`), one per command.
// Each gets the words after the command name; errors name the command as
// the table does, and the text framing prints that name in upper case.

pub fn get<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::Get(w.only_key("get")?))
}

pub fn set<'a>(w: &mut Words<'a>, limits: &Limits) -> Result<Command<'a>, ClientError> {
    let key = w.key("set")?;
    let value = w.value(limits)?;
    Ok(Command::Set(SetCommand::plain(
        key,
        value,
        Condition::Always,
        "set",
    )))
}

pub fn setnx<'a>(w: &mut Words<'a>, limits: &Limits) -> Result<Command<'a>, ClientError> {
    let key = w.key("setnx")?;
    let value = w.value(limits)?;
    Ok(Command::Set(SetCommand::plain(
        key,
        value,
        Condition::IfAbsent,
        "set",
    )))
}

pub fn setex<'a>(w: &mut Words<'a>, limits: &Limits) -> Result<Command<'a>, ClientError> {
    set_expiring(w, limits, "setex", false)
}

pub fn psetex<'a>(w: &mut Words<'a>, limits: &Limits) -> Result<Command<'a>, ClientError> {
    set_expiring(w, limits, "psetex", true)
}

/// SETEX and PSETEX: a key, a time, then the rest of the line as the value.
fn set_expiring<'a>(
    w: &mut Words<'a>,
    limits: &Limits,
    name: &'static str,
    in_ms: bool,
) -> Result<Command<'a>, ClientError> {
    let key = w.key(name)?;
    let expire_in = ExpireIn::parse(w.word(name)?, in_ms)?;
    let value = w.value(limits)?;
    Ok(Command::Set(SetCommand {
        expire: Some(ExpireAt::In(expire_in)),
        ..SetCommand::plain(key, value, Condition::Always, "set")
    }))
}

/// The text protocol's DEL is DELETE: one key, `OK` or `NOT_FOUND`.
pub fn del<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::Delete(w.only_key("del")?))
}

/// UNLINK is DEL too: the memory of a value is freed when its stripe lock
/// is released in either case.
pub fn unlink<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::Delete(w.only_key("unlink")?))
}

/// TOUCH key [key ...]: `TOUCH n`, how many exist.
pub fn touch<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    let mut keys = vec![w.key("touch")?];
    while !w.is_done() {
        keys.push(w.key("touch")?);
    }
    Ok(Command::Touch(keys))
}

/// RENAME key newkey: `OK`, or `ERROR no such key`.
pub fn rename<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    rename_command(w, "rename", false)
}

/// RENAMENX key newkey: `RENAMENX 1` or `RENAMENX 0` (newkey exists).
pub fn renamenx<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    rename_command(w, "renamenx", true)
}

fn rename_command<'a>(
    w: &mut Words<'a>,
    name: &'static str,
    nx: bool,
) -> Result<Command<'a>, ClientError> {
    let from = w.key(name)?;
    let to = w.only_key(name)?;
    Ok(Command::Rename { from, to, nx })
}

/// `COPY key newkey [REPLACE]`: `COPY 1`, or `COPY 0` when the key is
/// missing or newkey exists (and REPLACE was not given).
pub fn copy<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    let from = w.key("copy")?;
    let to = w.key("copy")?;
    let replace = match w.next_word() {
        [] => false,
        word if word.eq_ignore_ascii_case(b"REPLACE") && w.is_done() => true,
        _ => return Err(ClientError::Syntax),
    };
    Ok(Command::Copy {
        from,
        to,
        db: None,
        replace,
    })
}

/// SELECT n: `OK`; the connection's keys are database n's from then on.
pub fn select<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    let index = db_number(w.word("select")?)?;
    w.end("select", Command::Select(index))
}

/// SUBSCRIBE channel ...: a `SUBSCRIBE channel count` line each.
pub fn subscribe<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    subscription(w, "subscribe", true, false)
}

/// PSUBSCRIBE pattern ...
pub fn psubscribe<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    subscription(w, "psubscribe", true, true)
}

/// UNSUBSCRIBE [channel ...]
pub fn unsubscribe<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    subscription(w, "unsubscribe", false, false)
}

/// PUNSUBSCRIBE [pattern ...]
pub fn punsubscribe<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    subscription(w, "punsubscribe", false, true)
}

/// The words of a (P)(UN)SUBSCRIBE, at least one for a subscription.
fn subscription<'a>(
    w: &mut Words<'a>,
    name: &'static str,
    subscribe: bool,
    patterns: bool,
) -> Result<Command<'a>, ClientError> {
    let mut names = Vec::new();
    loop {
        match w.next_word() {
            [] => break,
            word => names.push(word),
        }
    }
    if subscribe && names.is_empty() {
        return Err(ClientError::WrongArguments(name));
    }
    Ok(if subscribe {
        Command::Subscribe { patterns, names }
    } else {
        Command::Unsubscribe { patterns, names }
    })
}

/// PUBLISH channel message: the message is the rest of the line, as SET's
/// value. `PUBLISH <receivers>`.
pub fn publish<'a>(w: &mut Words<'a>, limits: &Limits) -> Result<Command<'a>, ClientError> {
    let channel = w.word("publish")?;
    let message = w.value(limits)?;
    Ok(Command::Publish { channel, message })
}

/// FLUSHDB: `OK`; every key of the connection's database is removed.
pub fn flushdb<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    w.end("flushdb", Command::FlushDb)
}

/// EXPIRETIME key: `EXPIRETIME <unix seconds>`, -1 without expiry, -2
/// when missing.
pub fn expiretime<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::ExpireTime {
        key: w.only_key("expiretime")?,
        in_ms: false,
    })
}

pub fn pexpiretime<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::ExpireTime {
        key: w.only_key("pexpiretime")?,
        in_ms: true,
    })
}

/// GETRANGE key start end: `VALUE <base64>` of the bytes from start to end
/// (inclusive; negative counts from the end).
pub fn getrange<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    let key = w.key("getrange")?;
    let start = parse_i64(w.word("getrange")?).ok_or(ClientError::NotInteger)?;
    let end = parse_i64(w.word("getrange")?).ok_or(ClientError::NotInteger)?;
    w.end("getrange", Command::GetRange(key, start, end))
}

/// SETRANGE key offset value (the rest of the line): `SETRANGE <length>`.
pub fn setrange<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    let key = w.key("setrange")?;
    let offset = parse_i64(w.word("setrange")?).ok_or(ClientError::NotInteger)?;
    let offset = usize::try_from(offset).map_err(|_| ClientError::OffsetOutOfRange)?;
    Ok(Command::SetRange(key, offset, w.rest()))
}

/// INCRBYFLOAT key increment: `INCRBYFLOAT <result>`.
pub fn incrbyfloat<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    let key = w.key("incrbyfloat")?;
    let delta = parse_f64(w.word("incrbyfloat")?).ok_or(ClientError::NotFloat)?;
    w.end("incrbyfloat", Command::IncrByFloat(key, Increment(delta)))
}

pub fn delete<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::Delete(w.only_key("delete")?))
}

pub fn usage<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    w.end("usage", Command::Usage)
}

pub fn quit<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    w.end("quit", Command::Quit)
}

pub fn shutdown<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    w.end("shutdown", Command::Shutdown)
}

pub fn bgrewriteaof<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    w.end("bgrewriteaof", Command::BgRewriteAof)
}

pub fn ping<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    w.end("ping", Command::Ping(None))
}

pub fn expire<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    expire_in(w, "expire", false)
}

pub fn pexpire<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    expire_in(w, "pexpire", true)
}

/// EXPIRE and PEXPIRE: a key and a positive time.
fn expire_in<'a>(
    w: &mut Words<'a>,
    name: &'static str,
    in_ms: bool,
) -> Result<Command<'a>, ClientError> {
    let key = w.key(name)?;
    let expire_in = ExpireIn::parse(w.word(name)?, in_ms)?;
    let when = When::In(i64::try_from(expire_in.millis()).unwrap_or(i64::MAX));
    w.end(
        name,
        Command::Expire {
            key,
            when,
            only_if: ExpireIf::default(),
            name,
        },
    )
}

pub fn persist<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::Persist {
        key: w.only_key("persist")?,
        count_removed: false,
    })
}

pub fn ttl<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::Ttl {
        key: w.only_key("ttl")?,
        in_ms: false,
    })
}

pub fn pttl<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::Ttl {
        key: w.only_key("pttl")?,
        in_ms: true,
    })
}

/// GETEX key [EX seconds | PX ms | PERSIST].
pub fn getex<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    let key = w.key("getex")?;
    let option = w.next_word();
    let change = if option.is_empty() {
        return Ok(Command::GetEx(key, ExpiryChange::Unchanged));
    } else if option.eq_ignore_ascii_case(b"PERSIST") {
        ExpiryChange::Persist
    } else if option.eq_ignore_ascii_case(b"EX") || option.eq_ignore_ascii_case(b"PX") {
        let amount = w.next_word();
        if amount.is_empty() {
            return Err(ClientError::Syntax);
        }
        let in_ms = option.eq_ignore_ascii_case(b"PX");
        ExpiryChange::Expire(ExpireAt::In(ExpireIn::parse(amount, in_ms)?))
    } else {
        return Err(ClientError::Syntax);
    };
    if w.is_done() {
        Ok(Command::GetEx(key, change))
    } else {
        Err(ClientError::Syntax)
    }
}

pub fn exists<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    let mut keys = vec![w.key("exists")?];
    while !w.is_done() {
        keys.push(w.key("exists")?);
    }
    Ok(Command::Exists(keys))
}

pub fn incr<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::IncrBy(w.only_key("incr")?, 1, "INCR"))
}

pub fn decr<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::IncrBy(w.only_key("decr")?, -1, "DECR"))
}

pub fn incrby<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    let key = w.key("incrby")?;
    let n = parse_i64(w.word("incrby")?).ok_or(ClientError::NotInteger)?;
    w.end("incrby", Command::IncrBy(key, n, "INCRBY"))
}

pub fn decrby<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    let key = w.key("decrby")?;
    let n = parse_i64(w.word("decrby")?).ok_or(ClientError::NotInteger)?;
    let delta = n.checked_neg().ok_or(ClientError::Overflow)?;
    w.end("decrby", Command::IncrBy(key, delta, "DECRBY"))
}

pub fn append<'a>(w: &mut Words<'a>, limits: &Limits) -> Result<Command<'a>, ClientError> {
    let key = w.key("append")?;
    Ok(Command::Append(key, w.value(limits)?))
}

pub fn strlen<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::Strlen(w.only_key("strlen")?))
}

pub fn type_of<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    Ok(Command::Type(w.only_key("type")?))
}

pub fn dbsize<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    w.end("dbsize", Command::DbSize)
}

pub fn flushall<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    w.end("flushall", Command::FlushAll)
}

pub fn auth<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    password(w, "auth")
}

pub fn pass<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    password(w, "pass")
}

/// AUTH and PASS: the rest of the line is the password.
fn password<'a>(w: &mut Words<'a>, name: &'static str) -> Result<Command<'a>, ClientError> {
    match w.rest() {
        [] => Err(ClientError::RequiresPassword(name)),
        password => Ok(Command::Auth {
            user: None,
            password,
        }),
    }
}

pub fn stats<'a>(w: &mut Words<'a>, _: &Limits) -> Result<Command<'a>, ClientError> {
    w.end("stats", Command::Stats)
}

/// The second word of a request line (the key, for most commands), if it
/// has one.
pub fn first_argument(line: &[u8]) -> Option<&[u8]> {
    let mut words = Words::new(line);
    words.name();
    Some(words.next_word()).filter(|word| !word.is_empty())
}

/// The words of a request line, consumed left to right.
pub struct Words<'a> {
    rest: &'a [u8],
}

impl<'a> Words<'a> {
    /// The words of `line` (without its `\n`); one `\r` before the end is
    /// dropped.
    pub fn new(line: &'a [u8]) -> Words<'a> {
        Words {
            rest: line.strip_suffix(b"\r").unwrap_or(line),
        }
    }

    /// The command name: the first word.
    pub fn name(&mut self) -> &'a [u8] {
        self.next_word()
    }

    /// The next word, empty when none is left.
    fn next_word(&mut self) -> &'a [u8] {
        let (word, rest) = token(self.rest);
        self.rest = rest;
        word
    }

    /// The next word, or a wrong-arity error for `name`.
    fn word(&mut self, name: &'static str) -> Result<&'a [u8], ClientError> {
        match self.next_word() {
            [] => Err(ClientError::WrongArguments(name)),
            word => Ok(word),
        }
    }

    /// The key argument of `name`.
    fn key(&mut self, name: &'static str) -> Result<Key<'a>, ClientError> {
        match self.next_word() {
            [] => Err(ClientError::RequiresKey(name)),
            key => Key::new(key).ok_or(ClientError::KeyTooLong),
        }
    }

    /// A key that must be the only argument of `name`.
    fn only_key(&mut self, name: &'static str) -> Result<Key<'a>, ClientError> {
        let key = self.key(name)?;
        self.end(name, key)
    }

    /// The rest of the line, trimmed of blanks at both ends.
    fn rest(&mut self) -> &'a [u8] {
        let rest = trim(self.rest);
        self.rest = &[];
        rest
    }

    /// The rest of the line as a value, trimmed and size-checked.
    fn value(&mut self, limits: &Limits) -> Result<&'a [u8], ClientError> {
        let value = self.rest();
        if value.len() > limits.max_value_size {
            return Err(ClientError::ValueTooLarge);
        }
        Ok(value)
    }

    fn is_done(&self) -> bool {
        trim(self.rest).is_empty()
    }

    /// `parsed`, if nothing but blanks is left.
    fn end<T>(&self, name: &'static str, parsed: T) -> Result<T, ClientError> {
        if self.is_done() {
            Ok(parsed)
        } else {
            Err(ClientError::WrongArguments(name))
        }
    }
}

/// Appends the reply line for `reply` to `out`; nothing for
/// [`Reply::Quit`].
pub fn write_reply(out: &mut Vec<u8>, reply: &Reply<'_>) -> io::Result<()> {
    let out = &mut Appender(out);
    match reply {
        Reply::Ok | Reply::Status(_) => out.write_all(b"OK\n"),
        Reply::NotFound => out.write_all(b"NOT_FOUND\n"),
        Reply::NotStored => out.write_all(b"NOT_STORED\n"),
        Reply::Pong => out.write_all(b"PONG\n"),
        Reply::Value(value) => {
            out.write_all(b"VALUE ")?;
            append_base64(out.0, value);
            out.write_all(b"\n")
        }
        Reply::Found(true) => out.write_all(b"OK\n"),
        Reply::Found(false) => out.write_all(b"NOT_FOUND\n"),
        Reply::Number(name, n) => writeln!(out, "{name} {n}"),
        Reply::Labelled(name, text) => {
            out.write_all(name.as_bytes())?;
            out.write_all(b" ")?;
            out.write_all(text)?;
            out.write_all(b"\n")
        }
        Reply::Type(true) => out.write_all(b"TYPE string\n"),
        Reply::Type(false) => out.write_all(b"TYPE none\n"),
        // Only RESP commands produce these; the text parser never does.
        Reply::Values(_)
        | Reply::Frame(_)
        | Reply::ErrorText(_)
        | Reply::Transaction { .. }
        | Reply::NullArray => out.write_all(b"ERROR unknown command\n"),
        Reply::Subscription(confirmations) => {
            for c in confirmations {
                out.write_all(c.kind.name().to_ascii_uppercase().as_bytes())?;
                if let Some(name) = &c.name {
                    out.write_all(b" ")?;
                    out.write_all(name)?;
                }
                writeln!(out, " {}", c.count)?;
            }
            Ok(())
        }
        Reply::Stats(stats) => {
            for (name, value) in stats {
                writeln!(out, "STAT {name} {value}")?;
            }
            out.write_all(b"END\n")
        }
        // The text protocol's own words; RESP's carries Redis's MISCONF.
        Reply::Error(ClientError::NotDurable) => out.write_all(b"ERROR persistence failed\n"),
        Reply::Error(e) => writeln!(out, "ERROR {e}"),
        Reply::Quit | Reply::Shutdown => Ok(()),
    }
}

/// Appends a published message as a text subscriber reads it: `MESSAGE
/// channel base64`, or `PMESSAGE pattern channel base64` when it matched
/// `pattern`. A channel a text client named holds no blank or line break;
/// one only a RESP client named might, and is written as it is.
pub fn write_message(out: &mut Vec<u8>, pattern: Option<&[u8]>, channel: &[u8], payload: &[u8]) {
    match pattern {
        None => out.extend_from_slice(b"MESSAGE "),
        Some(pattern) => {
            out.extend_from_slice(b"PMESSAGE ");
            out.extend_from_slice(pattern);
            out.push(b' ');
        }
    }
    out.extend_from_slice(channel);
    out.push(b' ');
    append_base64(out, payload);
    out.push(b'\n');
}

/// Appends `bytes` in standard base64, encoded in place at the end of
/// `out`. Not through base64's `EncoderWriter`, which zeroes a buffer of
/// its own (1 KiB) for every value and then copies out of it: with musl's
/// `memset` and `memcpy` that was a tenth of the static build's CPU on
/// pipelined text GETs.
fn append_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    // A slice's length is at most isize::MAX, so its encoding's length,
    // a third more, fits a usize on 64-bit targets; on others, an
    // overflow writes nothing rather than panic.
    let Some(len) = base64::encoded_len(bytes.len(), true) else {
        return;
    };
    out.resize(start + len, 0);
    let written = STANDARD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or_default();
    out.truncate(start + written);
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits off the first token, skipping blanks before it. The rest starts at
/// the blank that ended the token (or is empty).
fn token(s: &[u8]) -> (&[u8], &[u8]) {
    let start = s.iter().position(|&b| !is_blank(b)).unwrap_or(s.len());
    let s = &s[start..];
    let end = s.iter().position(|&b| is_blank(b)).unwrap_or(s.len());
    s.split_at(end)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_blank(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_blank(b))
        .map_or(start, |i| i + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::super::framer::Request;
    use super::*;

    const LIMITS: Limits = Limits {
        max_value_size: 8,
        max_request_size: 1 << 20,
    };

    /// Parses one request line as an authenticated connection would.
    fn parse<'a>(line: &'a [u8], limits: &Limits) -> Result<Command<'a>, ClientError> {
        match super::super::commands::parse(
            Request::Line(line),
            limits,
            super::super::commands::Gate::OPEN,
        ) {
            Ok(command) => Ok(command),
            Err(Reply::Error(e)) => Err(e),
            Err(other) => panic!("not a text error: {other:?}"),
        }
    }

    fn key(k: &[u8]) -> Key<'_> {
        Key::new(k).unwrap()
    }

    fn set<'a>(k: &'a [u8], v: &'a [u8]) -> Command<'a> {
        Command::Set(SetCommand::plain(key(k), v, Condition::Always, "set"))
    }

    #[test]
    fn set_value_is_the_trimmed_rest_of_the_line() {
        assert_eq!(
            parse(b"SET sp  hi big   w\t \r", &Limits::new(64, 0)),
            Ok(set(b"sp", b"hi big   w"))
        );
        assert_eq!(parse(b"set k", &LIMITS), Ok(set(b"k", b"")));
        assert_eq!(parse(b"\tSeT\tk\tv", &LIMITS), Ok(set(b"k", b"v")));
    }

    #[test]
    fn expire_times_must_be_positive_and_in_range() {
        assert_eq!(ExpireIn::parse(b"10", false), Ok(ExpireIn(10_000)));
        assert_eq!(ExpireIn::parse(b"10", true), Ok(ExpireIn(10)));
        for bad in [&b"0"[..], b"-5", b"abc", b"1.5", b"99999999999999999999"] {
            assert_eq!(
                ExpireIn::parse(bad, true),
                Err(ClientError::InvalidExpireTime(""))
            );
        }
        assert_eq!(
            ExpireIn::parse(b"9223372036854775807", false),
            Err(ClientError::InvalidExpireTime(""))
        );
    }

    #[test]
    fn getex_options_parse() {
        assert_eq!(
            parse(b"GETEX k px 20", &LIMITS),
            Ok(Command::GetEx(
                key(b"k"),
                ExpiryChange::Expire(ExpireAt::In(ExpireIn(20)))
            ))
        );
        assert_eq!(
            parse(b"GETEX k PERSIST", &LIMITS),
            Ok(Command::GetEx(key(b"k"), ExpiryChange::Persist))
        );
        assert_eq!(parse(b"GETEX k EX", &LIMITS), Err(ClientError::Syntax));
        assert_eq!(parse(b"GETEX k NOW", &LIMITS), Err(ClientError::Syntax));
        assert_eq!(parse(b"GETEX k EX 1 2", &LIMITS), Err(ClientError::Syntax));
    }

    #[test]
    fn only_one_carriage_return_is_dropped() {
        assert_eq!(parse(b"SET k v\r\r", &LIMITS), Ok(set(b"k", b"v\r")));
        assert_eq!(parse(b"GET k\r", &LIMITS), Ok(Command::Get(key(b"k"))));
    }

    #[test]
    fn argument_errors_name_the_command() {
        assert_eq!(parse(b"GET", &LIMITS), Err(ClientError::RequiresKey("get")));
        assert_eq!(
            parse(b"delete  ", &LIMITS),
            Err(ClientError::RequiresKey("delete"))
        );
        assert_eq!(
            parse(b"GET a b", &LIMITS),
            Err(ClientError::WrongArguments("get"))
        );
        assert_eq!(parse(b"", &LIMITS), Err(ClientError::UnknownCommand));
        assert_eq!(parse(b"GETX a", &LIMITS), Err(ClientError::UnknownCommand));
    }

    #[test]
    fn value_size_is_bounded() {
        assert_eq!(
            parse(b"SET k 123456789", &LIMITS),
            Err(ClientError::ValueTooLarge)
        );
        assert!(parse(b"SET k 12345678", &LIMITS).is_ok());
    }

    #[test]
    fn values_are_base64_on_the_wire() {
        let mut out = Vec::new();
        write_reply(&mut out, &Reply::Value(b"alice")).unwrap();
        write_reply(&mut out, &Reply::Value(b"")).unwrap();
        write_reply(&mut out, &Reply::Number("USAGE", 9)).unwrap();
        write_reply(&mut out, &Reply::Error(ClientError::RequiresKey("SET"))).unwrap();
        assert_eq!(
            out,
            b"VALUE YWxpY2U=\nVALUE \nUSAGE 9\nERROR SET requires key\n"
        );
    }

    /// `append_base64` writes what base64's own encoder writes, after
    /// whatever the buffer held, for every length up to 200 bytes.
    #[test]
    fn base64_is_appended_in_place() {
        for len in 0..=200usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            let mut out = b"VALUE ".to_vec();
            append_base64(&mut out, &bytes);
            let expected = [&b"VALUE "[..], STANDARD.encode(&bytes).as_bytes()].concat();
            assert_eq!(out, expected, "{len} bytes");
        }
    }
}
