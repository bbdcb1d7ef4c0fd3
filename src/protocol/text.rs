//! The Blink-Store text protocol: one request line in, one reply line out.
//!
//! A request is the bytes of one line without its `\n`; one `\r` before the
//! `\n` is dropped here. Tokens are separated by runs of spaces and tabs, the
//! command name is case-insensitive, and keys and values are arbitrary bytes.
//! The value of `SET` is the rest of the line after the key, trimmed of
//! spaces and tabs at both ends. Replies end with `\n`; values are sent as
//! standard base64 with padding, so a reply never contains a raw newline.
//!
//! This module only frames: it does not read sockets (the connection loop
//! finds the lines) and does not run commands.

use std::io::{self, Write};

use base64::engine::general_purpose::STANDARD;
use base64::write::EncoderWriter;

use super::{
    parse_i64, ClientError, Command, ExpireAt, ExpireIf, ExpireIn, ExpiryChange, Limits, Reply,
    SetCommand, When,
};
use crate::store::{Condition, Key};

/// Longest command name; longer first tokens are unknown commands.
const MAX_NAME: usize = 8;

/// Parses one request line (without its `\n`).
pub fn parse<'a>(line: &'a [u8], limits: &Limits) -> Result<Command<'a>, ClientError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (name, rest) = token(line);
    let mut upper = [0u8; MAX_NAME];
    let Some(upper) = upper.get_mut(..name.len()) else {
        return Err(ClientError::UnknownCommand);
    };
    upper.copy_from_slice(name);
    upper.make_ascii_uppercase();
    let mut args = Args { rest };
    let command = match &*upper {
        b"GET" => Command::Get(args.only_key("GET")?),
        b"SET" => set(&mut args, "SET", Condition::Always, limits)?,
        b"SETNX" => set(&mut args, "SETNX", Condition::IfAbsent, limits)?,
        b"SETEX" | b"PSETEX" => {
            let name = if upper[0] == b'P' { "PSETEX" } else { "SETEX" };
            let key = args.key(name)?;
            let expire_in = ExpireIn::parse(args.token(name)?, name == "PSETEX")?;
            let value = args.value(limits)?;
            Command::Set(SetCommand {
                expire: Some(ExpireAt::In(expire_in)),
                ..SetCommand::plain(key, value, Condition::Always, "set")
            })
        }
        b"DELETE" => Command::Delete(args.only_key("DELETE")?),
        b"DEL" => Command::Delete(args.only_key("DEL")?),
        b"USAGE" => args.end("USAGE", Command::Usage)?,
        b"QUIT" => args.end("QUIT", Command::Quit)?,
        b"PING" => args.end("PING", Command::Ping(None))?,
        b"EXPIRE" | b"PEXPIRE" => {
            let name = if upper[0] == b'P' {
                "PEXPIRE"
            } else {
                "EXPIRE"
            };
            let key = args.key(name)?;
            let expire_in = ExpireIn::parse(args.token(name)?, name == "PEXPIRE")?;
            let when = When::In(i64::try_from(expire_in.millis()).unwrap_or(i64::MAX));
            args.end(
                name,
                Command::Expire {
                    key,
                    when,
                    only_if: ExpireIf::default(),
                    name,
                },
            )?
        }
        b"PERSIST" => Command::Persist {
            key: args.only_key("PERSIST")?,
            count_removed: false,
        },
        b"TTL" => Command::Ttl {
            key: args.only_key("TTL")?,
            in_ms: false,
        },
        b"PTTL" => Command::Ttl {
            key: args.only_key("PTTL")?,
            in_ms: true,
        },
        b"GETEX" => {
            let key = args.key("GETEX")?;
            Command::GetEx(key, getex_option(&mut args)?)
        }
        b"EXISTS" => {
            let mut keys = vec![args.key("EXISTS")?];
            while !trim(args.rest).is_empty() {
                keys.push(args.key("EXISTS")?);
            }
            Command::Exists(keys)
        }
        b"INCR" => Command::IncrBy(args.only_key("INCR")?, 1, "INCR"),
        b"DECR" => Command::IncrBy(args.only_key("DECR")?, -1, "DECR"),
        b"INCRBY" | b"DECRBY" => {
            let name = if upper[0] == b'I' { "INCRBY" } else { "DECRBY" };
            let key = args.key(name)?;
            let n = parse_i64(args.token(name)?).ok_or(ClientError::NotInteger)?;
            let delta = if name == "INCRBY" {
                Some(n)
            } else {
                n.checked_neg()
            };
            let delta = delta.ok_or(ClientError::Overflow)?;
            args.end(name, Command::IncrBy(key, delta, name))?
        }
        b"APPEND" => {
            let key = args.key("APPEND")?;
            Command::Append(key, args.value(limits)?)
        }
        b"STRLEN" => Command::Strlen(args.only_key("STRLEN")?),
        b"TYPE" => Command::Type(args.only_key("TYPE")?),
        b"DBSIZE" => args.end("DBSIZE", Command::DbSize)?,
        b"FLUSHALL" => args.end("FLUSHALL", Command::FlushAll)?,
        b"AUTH" | b"PASS" => {
            let name = if upper[0] == b'A' { "AUTH" } else { "PASS" };
            match trim(args.rest) {
                [] => return Err(ClientError::RequiresPassword(name)),
                password => Command::Auth {
                    user: None,
                    password,
                },
            }
        }
        b"STATS" => args.end("STATS", Command::Stats)?,
        _ => return Err(ClientError::UnknownCommand),
    };
    Ok(command)
}

/// SET and SETNX: a key, then the rest of the line as the value.
fn set<'a>(
    args: &mut Args<'a>,
    name: &'static str,
    condition: Condition,
    limits: &Limits,
) -> Result<Command<'a>, ClientError> {
    let key = args.key(name)?;
    let value = args.value(limits)?;
    Ok(Command::Set(SetCommand::plain(
        key, value, condition, "set",
    )))
}

/// GETEX's optional `EX seconds`, `PX ms` or `PERSIST`.
fn getex_option(args: &mut Args<'_>) -> Result<ExpiryChange, ClientError> {
    let (option, rest) = token(args.rest);
    args.rest = rest;
    let change = if option.is_empty() {
        return Ok(ExpiryChange::Unchanged);
    } else if option.eq_ignore_ascii_case(b"PERSIST") {
        ExpiryChange::Persist
    } else if option.eq_ignore_ascii_case(b"EX") || option.eq_ignore_ascii_case(b"PX") {
        let (amount, rest) = token(args.rest);
        args.rest = rest;
        if amount.is_empty() {
            return Err(ClientError::Syntax);
        }
        let in_ms = option.eq_ignore_ascii_case(b"PX");
        ExpiryChange::Expire(ExpireAt::In(ExpireIn::parse(amount, in_ms)?))
    } else {
        return Err(ClientError::Syntax);
    };
    if trim(args.rest).is_empty() {
        Ok(change)
    } else {
        Err(ClientError::Syntax)
    }
}

/// The arguments after the command name, consumed left to right.
struct Args<'a> {
    rest: &'a [u8],
}

impl<'a> Args<'a> {
    /// The next token, or a wrong-arity error for `name`.
    fn token(&mut self, name: &'static str) -> Result<&'a [u8], ClientError> {
        let (token, rest) = token(self.rest);
        self.rest = rest;
        if token.is_empty() {
            Err(ClientError::WrongArguments(name))
        } else {
            Ok(token)
        }
    }

    /// The key argument of `name`.
    fn key(&mut self, name: &'static str) -> Result<Key<'a>, ClientError> {
        let (key, rest) = token(self.rest);
        self.rest = rest;
        if key.is_empty() {
            return Err(ClientError::RequiresKey(name));
        }
        Key::new(key).ok_or(ClientError::KeyTooLong)
    }

    /// A key that must be the only argument of `name`.
    fn only_key(&mut self, name: &'static str) -> Result<Key<'a>, ClientError> {
        let key = self.key(name)?;
        self.end(name, key)
    }

    /// The rest of the line as a value, trimmed and size-checked.
    fn value(&mut self, limits: &Limits) -> Result<&'a [u8], ClientError> {
        let value = trim(self.rest);
        self.rest = &[];
        if value.len() > limits.max_value_size {
            return Err(ClientError::ValueTooLarge);
        }
        Ok(value)
    }

    /// `parsed`, if nothing but blanks is left.
    fn end<T>(&self, name: &'static str, parsed: T) -> Result<T, ClientError> {
        if trim(self.rest).is_empty() {
            Ok(parsed)
        } else {
            Err(ClientError::WrongArguments(name))
        }
    }
}

/// Writes the reply line for `reply`; nothing for [`Reply::Quit`].
pub fn write_reply<W: Write>(out: &mut W, reply: &Reply<'_>) -> io::Result<()> {
    match reply {
        Reply::Ok => out.write_all(b"OK\n"),
        Reply::NotFound => out.write_all(b"NOT_FOUND\n"),
        Reply::NotStored => out.write_all(b"NOT_STORED\n"),
        Reply::Pong => out.write_all(b"PONG\n"),
        Reply::Value(value) => {
            out.write_all(b"VALUE ")?;
            let mut encoder = EncoderWriter::new(&mut *out, &STANDARD);
            encoder.write_all(value)?;
            encoder.finish()?.write_all(b"\n")
        }
        Reply::Found(true) => out.write_all(b"OK\n"),
        Reply::Found(false) => out.write_all(b"NOT_FOUND\n"),
        Reply::Number(name, n) => writeln!(out, "{name} {n}"),
        Reply::Type(true) => out.write_all(b"TYPE string\n"),
        Reply::Type(false) => out.write_all(b"TYPE none\n"),
        // Only RESP commands produce these; the text parser never does.
        Reply::Values(_) | Reply::Frame(_) | Reply::ErrorText(_) => {
            out.write_all(b"ERROR unknown command\n")
        }
        Reply::Stats(stats) => {
            for (name, value) in stats {
                writeln!(out, "STAT {name} {value}")?;
            }
            out.write_all(b"END\n")
        }
        Reply::Error(e) => writeln!(out, "ERROR {e}"),
        Reply::Quit => Ok(()),
    }
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
    use super::*;

    const LIMITS: Limits = Limits { max_value_size: 8 };

    fn key(k: &[u8]) -> Key<'_> {
        Key::new(k).unwrap()
    }

    fn set<'a>(k: &'a [u8], v: &'a [u8]) -> Command<'a> {
        Command::Set(SetCommand::plain(key(k), v, Condition::Always, "set"))
    }

    #[test]
    fn set_value_is_the_trimmed_rest_of_the_line() {
        assert_eq!(
            parse(b"SET sp  hi big   w\t \r", &Limits { max_value_size: 64 }),
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
        assert_eq!(parse(b"GET", &LIMITS), Err(ClientError::RequiresKey("GET")));
        assert_eq!(
            parse(b"delete  ", &LIMITS),
            Err(ClientError::RequiresKey("DELETE"))
        );
        assert_eq!(
            parse(b"GET a b", &LIMITS),
            Err(ClientError::WrongArguments("GET"))
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
}
