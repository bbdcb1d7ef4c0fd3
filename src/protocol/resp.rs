//! Redis's RESP2 and RESP3: arguments → [`Command`], [`Reply`] → bytes.
//!
//! The connection loop frames a request (an array of bulk strings) into
//! [`Args`]; this module gives it Redis 7's meaning, arity rules and exact
//! error texts, and writes replies in the connection's protocol version.
//! RESP3 differs from RESP2 here only in nulls (`_`), maps (`%`) and
//! verbatim strings (`=`).

use std::io::{self, Write};

use super::{
    parse_i64, ClientCommand, ClientError, Command, ExpireAt, ExpireIf, ExpireIn, ExpiryChange,
    Frame, Limits, Reply, SetCommand, SetReply, When,
};
use crate::num::format_i64;
use crate::store::{Condition, Key};

/// Longest command name looked up; longer ones are unknown.
const MAX_NAME: usize = 16;

/// The longest part of a request quoted back in an unknown-command error,
/// as Redis does.
const QUOTE_LIMIT: usize = 128;

/// Default COUNT of SCAN.
const DEFAULT_SCAN_COUNT: usize = 10;

/// The arguments of one RESP request: byte ranges into one buffer.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    data: &'a [u8],
    bounds: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    pub fn new(data: &'a [u8], bounds: &'a [(usize, usize)]) -> Args<'a> {
        Args { data, bounds }
    }

    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Argument `i`; empty when out of range.
    pub fn get(&self, i: usize) -> &'a [u8] {
        self.bounds
            .get(i)
            .and_then(|&(start, end)| self.data.get(start..end))
            .unwrap_or_default()
    }

    fn from(&self, first: usize) -> impl Iterator<Item = &'a [u8]> + '_ {
        (first..self.len()).map(move |i| self.get(i))
    }
}

/// Longest `*<count>` or `$<length>` line the in-place framer reads; a
/// longer one is left to the connection's general framing.
const MAX_HEADER: usize = 24;

/// Finds a whole RESP request at the start of `buf` and records its
/// arguments' ranges in `bounds`, returning the bytes it spans. `None` when
/// the request is not whole in `buf`, or anything about it is unusual (a
/// count or length out of bounds, bad framing): the caller then frames it
/// the general way, which also words every error as Redis does.
pub fn frame_in_place(
    buf: &[u8],
    bounds: &mut Vec<(usize, usize)>,
    max_args: usize,
    max_bulk: usize,
) -> Option<usize> {
    bounds.clear();
    let (count, mut at) = header(buf, 0, b'*')?;
    if count == 0 || count > max_args {
        return None;
    }
    for _ in 0..count {
        let (len, start) = header(buf, at, b'$')?;
        if len > max_bulk {
            return None;
        }
        let end = start.checked_add(len)?;
        if buf.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        bounds.push((start, end));
        at = end + 2;
    }
    Some(at)
}

/// A `<marker><digits>\r\n` line at `at`: its number and the position
/// after it.
fn header(buf: &[u8], at: usize, marker: u8) -> Option<(usize, usize)> {
    if *buf.get(at)? != marker {
        return None;
    }
    let window = buf.get(at + 1..)?;
    let window = &window[..window.len().min(MAX_HEADER)];
    let newline = window.iter().position(|&b| b == b'\n')?;
    let digits = window[..newline].strip_suffix(b"\r")?;
    let n = usize::try_from(parse_i64(digits)?).ok()?;
    Some((n, at + 1 + newline + 1))
}

/// Parses a request. A refusal is the reply to send instead.
pub fn parse<'a>(args: &Args<'a>, limits: &Limits) -> Result<Command<'a>, Reply<'static>> {
    let name = args.get(0);
    let mut upper = [0u8; MAX_NAME];
    let Some(upper) = upper.get_mut(..name.len()) else {
        return Err(unknown_command(args));
    };
    upper.copy_from_slice(name);
    upper.make_ascii_uppercase();
    let n = args.len();
    let key = |i: usize| key(args.get(i));
    let command = match &*upper {
        b"GET" => {
            arity(n == 2, "get")?;
            Command::Get(key(1)?)
        }
        b"SET" => {
            arity(n >= 3, "set")?;
            set(args, limits)?
        }
        b"SETNX" => {
            arity(n == 3, "setnx")?;
            Command::Set(SetCommand {
                reply: SetReply::Flag,
                ..SetCommand::plain(
                    key(1)?,
                    value(args.get(2), limits)?,
                    Condition::IfAbsent,
                    "setnx",
                )
            })
        }
        b"SETEX" | b"PSETEX" => {
            let (name, in_ms) = if upper[0] == b'P' {
                ("psetex", true)
            } else {
                ("setex", false)
            };
            arity(n == 4, name)?;
            let amount = integer(args.get(2))?;
            let expire = ExpireIn::from_amount(amount, in_ms, name).map_err(Reply::Error)?;
            Command::Set(SetCommand {
                expire: Some(ExpireAt::In(expire)),
                ..SetCommand::plain(
                    key(1)?,
                    value(args.get(3), limits)?,
                    Condition::Always,
                    name,
                )
            })
        }
        b"GETSET" => {
            arity(n == 3, "getset")?;
            Command::Set(SetCommand {
                get: true,
                ..SetCommand::plain(
                    key(1)?,
                    value(args.get(2), limits)?,
                    Condition::Always,
                    "getset",
                )
            })
        }
        b"GETDEL" => {
            arity(n == 2, "getdel")?;
            Command::GetDel(key(1)?)
        }
        b"GETEX" => {
            arity(n >= 2, "getex")?;
            Command::GetEx(key(1)?, getex_option(args)?)
        }
        b"MGET" => {
            arity(n >= 2, "mget")?;
            Command::MGet(keys(args, 1)?)
        }
        b"MSET" => {
            arity(n >= 3 && n % 2 == 1, "mset")?;
            let mut pairs = Vec::with_capacity(n / 2);
            for i in (1..n).step_by(2) {
                pairs.push((key(i)?, value(args.get(i + 1), limits)?));
            }
            Command::MSet(pairs)
        }
        b"DEL" => {
            arity(n >= 2, "del")?;
            Command::DeleteMany(keys(args, 1)?)
        }
        b"EXISTS" => {
            arity(n >= 2, "exists")?;
            Command::Exists(keys(args, 1)?)
        }
        b"EXPIRE" | b"PEXPIRE" | b"EXPIREAT" | b"PEXPIREAT" => {
            let (name, in_ms, absolute) = match &*upper {
                b"EXPIRE" => ("expire", false, false),
                b"PEXPIRE" => ("pexpire", true, false),
                b"EXPIREAT" => ("expireat", false, true),
                _ => ("pexpireat", true, true),
            };
            arity(n >= 3, name)?;
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
            Command::Expire {
                key: key(1)?,
                when,
                only_if: expire_condition(args)?,
                name,
            }
        }
        b"TTL" | b"PTTL" => {
            let in_ms = upper[0] == b'P';
            arity(n == 2, if in_ms { "pttl" } else { "ttl" })?;
            Command::Ttl {
                key: key(1)?,
                in_ms,
            }
        }
        b"PERSIST" => {
            arity(n == 2, "persist")?;
            Command::Persist {
                key: key(1)?,
                count_removed: true,
            }
        }
        b"INCR" | b"DECR" => {
            let (name, label, delta) = if upper[0] == b'I' {
                ("incr", "INCR", 1)
            } else {
                ("decr", "DECR", -1)
            };
            arity(n == 2, name)?;
            Command::IncrBy(key(1)?, delta, label)
        }
        b"INCRBY" | b"DECRBY" => {
            let incr = upper[0] == b'I';
            arity(n == 3, if incr { "incrby" } else { "decrby" })?;
            let amount = integer(args.get(2))?;
            let delta = if incr {
                amount
            } else {
                amount
                    .checked_neg()
                    .ok_or(Reply::ErrorText(b"ERR decrement would overflow".to_vec()))?
            };
            Command::IncrBy(key(1)?, delta, if incr { "INCRBY" } else { "DECRBY" })
        }
        b"APPEND" => {
            arity(n == 3, "append")?;
            Command::Append(key(1)?, value(args.get(2), limits)?)
        }
        b"STRLEN" => {
            arity(n == 2, "strlen")?;
            Command::Strlen(key(1)?)
        }
        b"TYPE" => {
            arity(n == 2, "type")?;
            Command::Type(key(1)?)
        }
        b"DBSIZE" => {
            arity(n == 1, "dbsize")?;
            Command::DbSize
        }
        b"FLUSHALL" | b"FLUSHDB" => {
            // Any number of arguments is the right arity; only one SYNC or
            // ASYNC makes sense, as Redis checks it.
            let mode = args.get(1);
            let known = n == 1
                || (n == 2
                    && (mode.eq_ignore_ascii_case(b"SYNC") || mode.eq_ignore_ascii_case(b"ASYNC")));
            if !known {
                return Err(Reply::Error(ClientError::Syntax));
            }
            Command::FlushAll
        }
        b"SCAN" => {
            arity(n >= 2, "scan")?;
            scan(args)?
        }
        b"KEYS" => {
            arity(n == 2, "keys")?;
            Command::Keys(args.get(1))
        }
        b"INFO" => Command::Info((n > 1).then(|| args.get(1))),
        b"CONFIG" => {
            arity(n >= 2, "config")?;
            if !args.get(1).eq_ignore_ascii_case(b"GET") {
                return Err(unknown_subcommand(args.get(1), "CONFIG"));
            }
            arity(n >= 3, "config|get")?;
            Command::ConfigGet(args.from(2).collect())
        }
        b"COMMAND" => Command::CommandInfo((n > 1).then(|| args.get(1))),
        b"CLIENT" => {
            arity(n >= 2, "client")?;
            Command::Client(client(args)?)
        }
        b"TIME" => {
            arity(n == 1, "time")?;
            Command::Time
        }
        b"PING" => {
            arity(n <= 2, "ping")?;
            Command::Ping((n == 2).then(|| args.get(1)))
        }
        b"ECHO" => {
            arity(n == 2, "echo")?;
            Command::Echo(args.get(1))
        }
        b"QUIT" => Command::Quit,
        b"AUTH" => match n {
            2 => Command::Auth {
                user: None,
                password: args.get(1),
            },
            3 => Command::Auth {
                user: Some(args.get(1)),
                password: args.get(2),
            },
            1 => return Err(Reply::Error(ClientError::WrongArguments("auth"))),
            _ => return Err(Reply::Error(ClientError::Syntax)),
        },
        b"HELLO" => hello(args)?,
        b"SELECT" => {
            arity(n == 2, "select")?;
            Command::Select(integer(args.get(1))?)
        }
        b"USAGE" => {
            arity(n == 1, "usage")?;
            Command::Usage
        }
        _ => return Err(unknown_command(args)),
    };
    Ok(command)
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

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL].
fn set<'a>(args: &Args<'a>, limits: &Limits) -> Result<Command<'a>, Reply<'static>> {
    let mut command = SetCommand::plain(
        key(args.get(1))?,
        value(args.get(2), limits)?,
        Condition::Always,
        "set",
    );
    // The expiry option given, by name: repeating the same one is allowed
    // (the last value wins), mixing two is a syntax error, as in Redis.
    let mut timed: Option<&[u8]> = None;
    let mut i = 3;
    while i < args.len() {
        let option = args.get(i);
        let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
        let same_timing = |name: &[u8]| timed.map_or(true, |t| t.eq_ignore_ascii_case(name));
        if is(b"NX") && command.condition != Condition::IfPresent {
            command.condition = Condition::IfAbsent;
        } else if is(b"XX") && command.condition != Condition::IfAbsent {
            command.condition = Condition::IfPresent;
        } else if is(b"GET") {
            command.get = true;
        } else if is(b"KEEPTTL") && same_timing(b"KEEPTTL") {
            command.keep_ttl = true;
            timed = Some(option);
        } else if (is(b"EX") || is(b"PX") || is(b"EXAT") || is(b"PXAT"))
            && same_timing(option)
            && i + 1 < args.len()
        {
            let in_ms = option[0].eq_ignore_ascii_case(&b'P');
            let absolute = option.len() == 4;
            command.expire = Some(expiry(args.get(i + 1), in_ms, absolute, "set")?);
            timed = Some(option);
            i += 1;
        } else {
            return Err(Reply::Error(ClientError::Syntax));
        }
        i += 1;
    }
    Ok(Command::Set(command))
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

/// A positive expiry time for a SET or GETEX option.
fn expiry(
    amount: &[u8],
    in_ms: bool,
    absolute: bool,
    name: &'static str,
) -> Result<ExpireAt, Reply<'static>> {
    let amount = integer(amount)?;
    let relative = ExpireIn::from_amount(amount, in_ms, name).map_err(Reply::Error)?;
    Ok(if absolute {
        ExpireAt::Unix(relative.millis())
    } else {
        ExpireAt::In(relative)
    })
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST].
fn getex_option(args: &Args<'_>) -> Result<ExpiryChange, Reply<'static>> {
    let option = args.get(2);
    let is = |name: &[u8]| option.eq_ignore_ascii_case(name);
    match args.len() {
        2 => Ok(ExpiryChange::Unchanged),
        3 if is(b"PERSIST") => Ok(ExpiryChange::Persist),
        4 if is(b"EX") || is(b"PX") || is(b"EXAT") || is(b"PXAT") => {
            let in_ms = option[0].eq_ignore_ascii_case(&b'P');
            let absolute = option.len() == 4;
            expiry(args.get(3), in_ms, absolute, "getex").map(ExpiryChange::Expire)
        }
        _ => Err(Reply::Error(ClientError::Syntax)),
    }
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type].
fn scan<'a>(args: &Args<'a>) -> Result<Command<'a>, Reply<'static>> {
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

/// CLIENT SETNAME|GETNAME|ID|SETINFO.
fn client<'a>(args: &Args<'a>) -> Result<ClientCommand<'a>, Reply<'static>> {
    let sub = args.get(1);
    let n = args.len();
    if sub.eq_ignore_ascii_case(b"SETNAME") {
        arity(n == 3, "client|setname")?;
        Ok(ClientCommand::SetName(client_name(args.get(2))?))
    } else if sub.eq_ignore_ascii_case(b"GETNAME") {
        arity(n == 2, "client|getname")?;
        Ok(ClientCommand::GetName)
    } else if sub.eq_ignore_ascii_case(b"ID") {
        arity(n == 2, "client|id")?;
        Ok(ClientCommand::Id)
    } else if sub.eq_ignore_ascii_case(b"SETINFO") {
        arity(n == 4, "client|setinfo")?;
        Ok(ClientCommand::SetInfo)
    } else {
        Err(unknown_subcommand(sub, "CLIENT"))
    }
}

/// A client name: printable ASCII without spaces, as Redis requires.
fn client_name(name: &[u8]) -> Result<&[u8], Reply<'static>> {
    if name.iter().all(|b| (b'!'..=b'~').contains(b)) {
        Ok(name)
    } else {
        Err(Reply::Error(ClientError::InvalidClientName))
    }
}

/// HELLO [protover [AUTH user pass] [SETNAME name]].
fn hello<'a>(args: &Args<'a>) -> Result<Command<'a>, Reply<'static>> {
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

/// Redis's words for an unknown command, quoting the start of the request.
fn unknown_command(args: &Args<'_>) -> Reply<'static> {
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

fn unknown_subcommand(sub: &[u8], command: &str) -> Reply<'static> {
    let mut text = b"ERR unknown subcommand '".to_vec();
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
        ClientError::NoAuth => "NOAUTH Authentication required.".to_string(),
        ClientError::WrongPass => {
            "WRONGPASS invalid username-password pair or user is disabled.".to_string()
        }
        ClientError::NoPasswordConfigured => "ERR AUTH <password> called without any password \
             configured for the default user. Are you sure your configuration is correct?"
            .to_string(),
        ClientError::UnsupportedProtocol => "NOPROTO unsupported protocol version".to_string(),
        other => format!("ERR {other}"),
    }
}

/// Writes `reply` in RESP `version` (2 or 3). [`Reply::Quit`] is `+OK`.
pub fn write_reply<W: Write>(out: &mut W, reply: &Reply<'_>, version: u8) -> io::Result<()> {
    match reply {
        Reply::Ok | Reply::Quit => out.write_all(b"+OK\r\n"),
        Reply::Pong => out.write_all(b"+PONG\r\n"),
        Reply::Value(value) => bulk(out, value),
        Reply::NotFound | Reply::NotStored => null(out, version),
        Reply::Found(found) => out.write_all(if *found { b":1\r\n" } else { b":0\r\n" }),
        Reply::Number(_, n) => number_line(out, b':', *n),
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
        Reply::Stats(_) => out.write_all(b"-ERR unknown command\r\n"),
        Reply::Error(e) => write!(out, "-{}\r\n", error_text(e)),
        Reply::ErrorText(text) => {
            out.write_all(b"-")?;
            // An error is one line: Redis turns line breaks into spaces.
            for &b in text {
                out.write_all(&[if b == b'\r' || b == b'\n' { b' ' } else { b }])?;
            }
            out.write_all(b"\r\n")
        }
    }
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
    line[1..1 + digits.len()].copy_from_slice(digits);
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_value_size: 1024,
    };

    /// Frames `parts` as parsed arguments and parses them.
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
        parse(&Args::new(data, bounds), &LIMITS)
    }

    fn wire(reply: &Reply<'_>, version: u8) -> Vec<u8> {
        let mut out = Vec::new();
        write_reply(&mut out, reply, version).unwrap();
        out
    }

    #[test]
    fn whole_requests_are_framed_in_place() {
        let mut bounds = Vec::new();
        let buf = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n";
        assert_eq!(frame_in_place(buf, &mut bounds, 10, 100), Some(20));
        assert_eq!(bounds, vec![(8, 11), (17, 18)]);
        // Partial, over a limit, or malformed: left to the general framing.
        assert_eq!(frame_in_place(&buf[..19], &mut bounds, 10, 100), None);
        assert_eq!(frame_in_place(buf, &mut bounds, 1, 100), None);
        assert_eq!(frame_in_place(buf, &mut bounds, 10, 2), None);
        assert_eq!(
            frame_in_place(b"*1\r\n$2\r\nabxx", &mut bounds, 10, 100),
            None
        );
        assert_eq!(
            frame_in_place(b"*01\r\n$1\r\na\r\n", &mut bounds, 10, 100),
            None
        );
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
