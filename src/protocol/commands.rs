//! The command table: every command the server knows, as data.
//!
//! One row per command gives its name, its RESP arity, its flags and key
//! positions (for `COMMAND INFO`), who may run it before authenticating,
//! and its parsers: one for RESP arguments, one for a text line, either
//! absent when the command does not exist in that protocol. Request
//! parsing ([`parse`]), the login gate ([`admit`]), `COMMAND COUNT` and
//! `COMMAND INFO` are all derived from [`COMMANDS`]; a new command is one
//! row here and its parsers.

use super::framer::{Args, Request};
use super::{resp, text, ClientError, Command, Limits, Reply};

/// Parses a RESP request whose name and arity the table has checked.
pub type RespParser = for<'a> fn(&Args<'a>, &Limits) -> Result<Command<'a>, Reply<'static>>;

/// Parses the arguments of a text request line: all of it after the name.
pub type TextParser = for<'a> fn(&mut text::Words<'a>, &Limits) -> Result<Command<'a>, ClientError>;

/// Who may run a command before the connection has authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// Only authenticated connections.
    Never,
    /// Unauthenticated connections too, over the text protocol only
    /// (`PING`: Redis requires authentication for it; the text protocol
    /// has always allowed it).
    Text,
    /// Every connection: the commands that authenticate or leave.
    Always,
}

/// The framing a request arrived in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    Text,
    Resp,
}

/// One command.
#[derive(Debug)]
pub struct Spec {
    /// Lower case, as Redis names commands in errors and `COMMAND`.
    pub name: &'static str,
    /// Redis's arity, counting the name: `n` means exactly `n` words, `-n`
    /// at least `n`. Checked before the RESP parser runs.
    pub arity: i64,
    /// Redis's command flags, for `COMMAND INFO`.
    pub flags: &'static [&'static str],
    /// Redis's ACL categories, for `COMMAND INFO`.
    pub categories: &'static [&'static str],
    /// First key, last key (negative: from the end) and step, for
    /// `COMMAND INFO`; all zero for a command without keys.
    pub keys: (i64, i64, i64),
    pub open: Open,
    pub resp: Option<RespParser>,
    pub text: Option<TextParser>,
}

impl Spec {
    /// Whether `words` arguments (the name included) fit the arity.
    pub fn arity_allows(&self, words: usize) -> bool {
        let words = words as i64;
        if self.arity >= 0 {
            words == self.arity
        } else {
            words >= -self.arity
        }
    }

    /// Whether the command may change the store (Redis's `write` flag).
    pub fn writes(&self) -> bool {
        self.flags.contains(&"write")
    }

    /// Whether it may use memory (Redis's `denyoom`).
    pub fn denies_oom(&self) -> bool {
        self.flags.contains(&"denyoom")
    }

    /// Whether it only reads keys (Redis's `readonly`): what client-side
    /// caching notes.
    pub fn reads(&self) -> bool {
        self.flags.contains(&"readonly")
    }

    fn parser_for(&self, framing: Framing) -> bool {
        match framing {
            Framing::Text => self.text.is_some(),
            Framing::Resp => self.resp.is_some(),
        }
    }
}

const READ: &[&str] = &["readonly", "fast"];
const READ_SLOW: &[&str] = &["readonly"];
const WRITE: &[&str] = &["write", "denyoom"];
const WRITE_FAST: &[&str] = &["write", "denyoom", "fast"];
const REMOVE: &[&str] = &["write", "fast"];
const ADMIN: &[&str] = &["loading", "stale"];
const LOGIN: &[&str] = &["noscript", "loading", "stale", "fast", "noauth"];

const STRING_READ: &[&str] = &["@read", "@string", "@fast"];
const STRING_WRITE: &[&str] = &["@write", "@string"];
const KEYSPACE_READ: &[&str] = &["@read", "@keyspace", "@fast"];
const KEYSPACE_WRITE: &[&str] = &["@write", "@keyspace"];
const SERVER: &[&str] = &["@slow", "@dangerous"];
const STRING_WRITE_FAST: &[&str] = &["@write", "@string", "@fast"];
const STRING_READ_SLOW: &[&str] = &["@read", "@string", "@slow"];
const KEYSPACE_WRITE_FAST: &[&str] = &["@keyspace", "@write", "@fast"];
const PUBSUB_FLAGS: &[&str] = &["pubsub", "noscript", "loading", "stale"];
const PUBSUB: &[&str] = &["@pubsub", "@slow"];
const ADMIN_FAST: &[&str] = &["@admin", "@fast", "@dangerous"];
const SCRIPT: &[&str] = &[
    "noscript",
    "stale",
    "skip_monitor",
    "no_mandatory_keys",
    "movablekeys",
];
const SCRIPTING: &[&str] = &["@slow", "@scripting"];
const CONNECTION: &[&str] = &["@fast", "@connection"];
const TRANSACTION_FAST: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
const TRANSACTION: &[&str] = &["@fast", "@transaction"];

const NO_KEYS: (i64, i64, i64) = (0, 0, 0);
const ONE_KEY: (i64, i64, i64) = (1, 1, 1);
const ALL_KEYS: (i64, i64, i64) = (1, -1, 1);

/// A row of the table, in the order of its columns.
#[allow(clippy::too_many_arguments)]
const fn spec(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    categories: &'static [&'static str],
    keys: (i64, i64, i64),
    open: Open,
    resp: Option<RespParser>,
    text: Option<TextParser>,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        categories,
        keys,
        open,
        resp,
        text,
    }
}

use Open::{Always, Never};

/// Every command. GET and SET come first: lookup is a scan in this order.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    spec("get", 2, READ, STRING_READ, ONE_KEY, Never, Some(resp::get), Some(text::get)),
    spec("set", -3, WRITE, STRING_WRITE, ONE_KEY, Never, Some(resp::set), Some(text::set)),
    spec("del", -2, REMOVE, KEYSPACE_WRITE, ALL_KEYS, Never, Some(resp::del), Some(text::del)),
    spec("delete", 2, REMOVE, KEYSPACE_WRITE, ONE_KEY, Never, None, Some(text::delete)),
    spec("mget", -2, READ, STRING_READ, ALL_KEYS, Never, Some(resp::mget), None),
    spec("mset", -3, WRITE, STRING_WRITE, (1, -1, 2), Never, Some(resp::mset), None),
    spec("setnx", 3, WRITE_FAST, STRING_WRITE, ONE_KEY, Never, Some(resp::setnx), Some(text::setnx)),
    spec("setex", 4, WRITE, STRING_WRITE, ONE_KEY, Never, Some(resp::setex), Some(text::setex)),
    spec("psetex", 4, WRITE, STRING_WRITE, ONE_KEY, Never, Some(resp::psetex), Some(text::psetex)),
    spec("getset", 3, WRITE_FAST, STRING_WRITE, ONE_KEY, Never, Some(resp::getset), None),
    spec("getdel", 2, REMOVE, STRING_WRITE, ONE_KEY, Never, Some(resp::getdel), None),
    spec("getex", -2, REMOVE, STRING_WRITE, ONE_KEY, Never, Some(resp::getex), Some(text::getex)),
    spec("exists", -2, READ, KEYSPACE_READ, ALL_KEYS, Never, Some(resp::exists), Some(text::exists)),
    spec("expire", -3, REMOVE, KEYSPACE_WRITE, ONE_KEY, Never, Some(resp::expire), Some(text::expire)),
    spec("pexpire", -3, REMOVE, KEYSPACE_WRITE, ONE_KEY, Never, Some(resp::pexpire), Some(text::pexpire)),
    spec("expireat", -3, REMOVE, KEYSPACE_WRITE, ONE_KEY, Never, Some(resp::expireat), None),
    spec("pexpireat", -3, REMOVE, KEYSPACE_WRITE, ONE_KEY, Never, Some(resp::pexpireat), None),
    spec("ttl", 2, READ, KEYSPACE_READ, ONE_KEY, Never, Some(resp::ttl), Some(text::ttl)),
    spec("pttl", 2, READ, KEYSPACE_READ, ONE_KEY, Never, Some(resp::pttl), Some(text::pttl)),
    spec("persist", 2, REMOVE, KEYSPACE_WRITE, ONE_KEY, Never, Some(resp::persist), Some(text::persist)),
    spec("incr", 2, WRITE_FAST, STRING_WRITE, ONE_KEY, Never, Some(resp::incr), Some(text::incr)),
    spec("decr", 2, WRITE_FAST, STRING_WRITE, ONE_KEY, Never, Some(resp::decr), Some(text::decr)),
    spec("incrby", 3, WRITE_FAST, STRING_WRITE, ONE_KEY, Never, Some(resp::incrby), Some(text::incrby)),
    spec("decrby", 3, WRITE_FAST, STRING_WRITE, ONE_KEY, Never, Some(resp::decrby), Some(text::decrby)),
    spec("append", 3, WRITE, STRING_WRITE, ONE_KEY, Never, Some(resp::append), Some(text::append)),
    spec("strlen", 2, READ, STRING_READ, ONE_KEY, Never, Some(resp::strlen), Some(text::strlen)),
    spec("type", 2, READ, KEYSPACE_READ, ONE_KEY, Never, Some(resp::type_of), Some(text::type_of)),
    spec("dbsize", 1, READ, KEYSPACE_READ, NO_KEYS, Never, Some(resp::dbsize), Some(text::dbsize)),
    spec("flushall", -1, &["write"], SERVER, NO_KEYS, Never, Some(resp::flushall), Some(text::flushall)),
    spec("flushdb", -1, &["write"], SERVER, NO_KEYS, Never, Some(resp::flushdb), Some(text::flushdb)),
    spec("subscribe", -2, PUBSUB_FLAGS, PUBSUB, NO_KEYS, Never, Some(resp::subscribe), Some(text::subscribe)),
    spec("unsubscribe", -1, PUBSUB_FLAGS, PUBSUB, NO_KEYS, Never, Some(resp::unsubscribe), Some(text::unsubscribe)),
    spec("psubscribe", -2, PUBSUB_FLAGS, PUBSUB, NO_KEYS, Never, Some(resp::psubscribe), Some(text::psubscribe)),
    spec("punsubscribe", -1, PUBSUB_FLAGS, PUBSUB, NO_KEYS, Never, Some(resp::punsubscribe), Some(text::punsubscribe)),
    spec("publish", 3, &["pubsub", "loading", "stale", "fast"], &["@pubsub", "@fast"], NO_KEYS, Never, Some(resp::publish), Some(text::publish)),
    spec("pubsub", -2, &[], &["@slow"], NO_KEYS, Never, Some(resp::pubsub), None),
    spec("swapdb", 3, &["write", "fast"], &["@keyspace", "@write", "@fast", "@dangerous"], NO_KEYS, Never, Some(resp::swapdb), None),
    spec("move", 3, &["write", "fast"], KEYSPACE_WRITE_FAST, ONE_KEY, Never, Some(resp::move_key), None),
    spec("scan", -2, READ_SLOW, &["@read", "@keyspace", "@slow"], NO_KEYS, Never, Some(resp::scan), None),
    spec("keys", 2, READ_SLOW, &["@read", "@keyspace", "@slow", "@dangerous"], NO_KEYS, Never, Some(resp::keys_matching), None),
    spec("usage", 1, READ, &["@read", "@fast"], NO_KEYS, Never, Some(resp::usage), Some(text::usage)),
    spec("ping", -1, &["fast"], CONNECTION, NO_KEYS, Open::Text, Some(resp::ping), Some(text::ping)),
    spec("echo", 2, &["fast"], CONNECTION, NO_KEYS, Never, Some(resp::echo), None),
    spec("quit", -1, LOGIN, CONNECTION, NO_KEYS, Always, Some(resp::quit), Some(text::quit)),
    spec("shutdown", -1, &["admin", "noscript", "loading", "stale"], SERVER, NO_KEYS, Never, Some(resp::shutdown), Some(text::shutdown)),
    spec("bgrewriteaof", 1, &["admin", "noscript", "noasync"], &["@admin", "@slow", "@dangerous"], NO_KEYS, Never, Some(resp::bgrewriteaof), Some(text::bgrewriteaof)),
    spec("auth", -2, LOGIN, CONNECTION, NO_KEYS, Always, Some(resp::auth), Some(text::auth)),
    spec("pass", 2, LOGIN, CONNECTION, NO_KEYS, Always, None, Some(text::pass)),
    spec("hello", -1, LOGIN, CONNECTION, NO_KEYS, Always, Some(resp::hello), None),
    spec("select", 2, &["loading", "stale", "fast"], CONNECTION, NO_KEYS, Never, Some(resp::select), Some(text::select)),
    spec("client", -2, ADMIN, &["@slow", "@connection"], NO_KEYS, Never, Some(resp::client), None),
    spec("info", -1, ADMIN, SERVER, NO_KEYS, Never, Some(resp::info), None),
    spec("config", -2, ADMIN, &["@admin", "@slow", "@dangerous"], NO_KEYS, Never, Some(resp::config), None),
    spec("command", -1, ADMIN, &["@slow", "@connection"], NO_KEYS, Never, Some(resp::command), None),
    spec("time", 1, &["loading", "stale", "fast"], &["@fast"], NO_KEYS, Never, Some(resp::time), None),
    spec("stats", 1, ADMIN, SERVER, NO_KEYS, Never, None, Some(text::stats)),
    spec("unlink", -2, REMOVE, KEYSPACE_WRITE_FAST, ALL_KEYS, Never, Some(resp::del), Some(text::unlink)),
    spec("touch", -2, READ, KEYSPACE_READ, ALL_KEYS, Never, Some(resp::touch), Some(text::touch)),
    spec("setrange", 4, WRITE, STRING_WRITE, ONE_KEY, Never, Some(resp::setrange), Some(text::setrange)),
    spec("getrange", 4, READ_SLOW, STRING_READ_SLOW, ONE_KEY, Never, Some(resp::getrange), Some(text::getrange)),
    spec("substr", 4, READ_SLOW, STRING_READ_SLOW, ONE_KEY, Never, Some(resp::getrange), None),
    spec("incrbyfloat", 3, WRITE_FAST, STRING_WRITE_FAST, ONE_KEY, Never, Some(resp::incrbyfloat), Some(text::incrbyfloat)),
    spec("msetnx", -3, WRITE, STRING_WRITE, (1, -1, 2), Never, Some(resp::msetnx), None),
    spec("rename", 3, &["write"], KEYSPACE_WRITE, (1, 2, 1), Never, Some(resp::rename), Some(text::rename)),
    spec("renamenx", 3, &["write", "fast"], KEYSPACE_WRITE_FAST, (1, 2, 1), Never, Some(resp::renamenx), Some(text::renamenx)),
    spec("copy", -3, WRITE, KEYSPACE_WRITE, (1, 2, 1), Never, Some(resp::copy), Some(text::copy)),
    spec("expiretime", 2, READ, KEYSPACE_READ, ONE_KEY, Never, Some(resp::expiretime), Some(text::expiretime)),
    spec("pexpiretime", 2, READ, KEYSPACE_READ, ONE_KEY, Never, Some(resp::pexpiretime), Some(text::pexpiretime)),
    spec("randomkey", 1, READ_SLOW, &["@keyspace", "@read", "@slow"], NO_KEYS, Never, Some(resp::randomkey), None),
    spec("object", -2, &[], &["@slow"], NO_KEYS, Never, Some(resp::object), None),
    spec("memory", -2, &[], &["@slow"], NO_KEYS, Never, Some(resp::memory), None),
    spec("reset", 1, &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], CONNECTION, NO_KEYS, Always, Some(resp::reset), None),
    spec("wait", 3, &["noscript"], &["@slow", "@connection"], NO_KEYS, Never, Some(resp::wait), None),
    spec("lastsave", 1, &["loading", "stale", "fast"], ADMIN_FAST, NO_KEYS, Never, Some(resp::lastsave), None),
    spec("role", 1, &["noscript", "loading", "stale", "fast"], ADMIN_FAST, NO_KEYS, Never, Some(resp::role), None),
    spec("eval", -3, SCRIPT, SCRIPTING, NO_KEYS, Never, Some(resp::scripting), None),
    spec("evalsha", -3, SCRIPT, SCRIPTING, NO_KEYS, Never, Some(resp::scripting), None),
    spec("eval_ro", -3, SCRIPT, SCRIPTING, NO_KEYS, Never, Some(resp::scripting), None),
    spec("evalsha_ro", -3, SCRIPT, SCRIPTING, NO_KEYS, Never, Some(resp::scripting), None),
    spec("fcall", -3, SCRIPT, SCRIPTING, NO_KEYS, Never, Some(resp::scripting), None),
    spec("fcall_ro", -3, SCRIPT, SCRIPTING, NO_KEYS, Never, Some(resp::scripting), None),
    spec("script", -2, &[], &["@slow"], NO_KEYS, Never, Some(resp::scripting), None),
    spec("function", -2, &[], &["@slow"], NO_KEYS, Never, Some(resp::scripting), None),
    spec("multi", 1, TRANSACTION_FAST, TRANSACTION, NO_KEYS, Never, Some(resp::multi), None),
    spec("exec", 1, &["noscript", "loading", "stale", "skip_slowlog"], &["@slow", "@transaction"], NO_KEYS, Never, Some(resp::exec), None),
    spec("discard", 1, TRANSACTION_FAST, TRANSACTION, NO_KEYS, Never, Some(resp::discard), None),
    spec("watch", -2, TRANSACTION_FAST, TRANSACTION, ALL_KEYS, Never, Some(resp::watch), None),
    spec("unwatch", 1, TRANSACTION_FAST, TRANSACTION, NO_KEYS, Never, Some(resp::unwatch), None),
];

/// The command named `name` (any case) that `framing` speaks.
pub fn lookup(name: &[u8], framing: Framing) -> Option<&'static Spec> {
    COMMANDS.iter().find(|spec| {
        spec.name.len() == name.len()
            && spec.name.as_bytes().eq_ignore_ascii_case(name)
            && spec.parser_for(framing)
    })
}

/// The index of `spec`, a row of [`COMMANDS`], in the table.
fn row(spec: &'static Spec) -> usize {
    let offset = spec as *const Spec as usize - COMMANDS.as_ptr() as usize;
    offset / std::mem::size_of::<Spec>()
}

/// The commands spoken over RESP, for `COMMAND`.
pub fn resp_commands() -> impl Iterator<Item = &'static Spec> {
    COMMANDS.iter().filter(|spec| spec.resp.is_some())
}

/// The login gate: whether a request for `spec` (`None`: an unknown
/// command) may go on to be parsed on a connection that is
/// `authenticated` or not, and if not, the refusal. This is the only
/// place that decides it, for both framings.
///
/// Over RESP the order is Redis's: an unknown command or a wrong arity is
/// reported even before authentication, then every command that is not
/// open gets `NOAUTH`. Over text, an unauthenticated connection learns
/// nothing but `NOAUTH` about a command that is not open to it.
pub fn admit(
    spec: Option<&'static Spec>,
    framing: Framing,
    words: usize,
    authenticated: bool,
) -> Result<&'static Spec, Admission> {
    let open = |spec: &Spec| {
        authenticated
            || spec.open == Open::Always
            || (spec.open == Open::Text && framing == Framing::Text)
    };
    match (spec, framing) {
        (Some(spec), Framing::Text) if open(spec) => Ok(spec),
        (_, Framing::Text) if !authenticated => Err(Admission::NoAuth),
        (None, _) => Err(Admission::Unknown),
        (Some(spec), Framing::Resp) if !spec.arity_allows(words) => {
            Err(Admission::Arity(spec.name))
        }
        (Some(spec), _) if open(spec) => Ok(spec),
        (Some(_), _) => Err(Admission::NoAuth),
    }
}

/// The command name `request` gives, as sent.
pub fn name_of<'a>(request: &Request<'a>) -> &'a [u8] {
    match request {
        Request::Line(line) => text::Words::new(line).name(),
        Request::Resp(args) => args.get(0),
    }
}

/// The row of the command named `name` in `request`'s framing, if the
/// server has one (what a refused request is counted against).
pub fn row_of(name: &[u8], resp: bool) -> Option<usize> {
    let framing = if resp { Framing::Resp } else { Framing::Text };
    lookup(name, framing).map(row)
}

/// Whether `request` is one that may carry a password (AUTH, PASS,
/// HELLO), so that the buffers that held it are to be overwritten.
pub fn carries_password(request: &Request<'_>) -> bool {
    let name = name_of(request);
    [&b"auth"[..], b"pass", b"hello"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// Why [`admit`] refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Unknown,
    /// The wrong number of arguments for the named command.
    Arity(&'static str),
    NoAuth,
}

/// What a connection may run now: the state the gates below read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    /// Authenticated, or no password is set (the login gate).
    pub authenticated: bool,
    /// The store may be written: the append-only file is not failing
    /// (the write gate).
    pub writable: bool,
    /// The connection has a channel or pattern subscription (the
    /// subscription gate).
    pub subscribed: bool,
    /// Its RESP replies are RESP3, whose subscribed connections may run
    /// anything.
    pub resp3: bool,
}

impl Gate {
    /// Every gate open: an authenticated, unsubscribed RESP2 connection
    /// to a store that may be written.
    pub const OPEN: Gate = Gate {
        authenticated: true,
        writable: true,
        subscribed: false,
        resp3: false,
    };
}

/// What a subscribed connection may still run, over the text protocol
/// and RESP2, as in Redis.
const WHILE_SUBSCRIBED: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ping",
    "quit",
    "reset",
];

/// Parses a framed request into a command, through the login gate; when
/// the store may not be written (the append-only file is failing), the
/// write gate, which refuses every write command before it runs, as Redis
/// does; and on a subscribed connection the subscription gate, which lets
/// only (un)subscribing, PING, QUIT and RESET through. A refusal is the
/// reply to send instead.
pub fn parse<'a>(
    request: Request<'a>,
    limits: &Limits,
    gate: Gate,
) -> Result<Command<'a>, Reply<'static>> {
    parse_row(request, limits, gate).map(|(_, command)| command)
}

/// As [`parse`], with the command's row in [`COMMANDS`] (what CLIENT LIST
/// shows as a connection's last command).
pub fn parse_row<'a>(
    request: Request<'a>,
    limits: &Limits,
    gate: Gate,
) -> Result<(usize, Command<'a>), Reply<'static>> {
    let write_gate = |spec: &Spec| {
        if !gate.writable && spec.writes() {
            Err(Reply::Error(ClientError::NotDurable))
        } else {
            Ok(())
        }
    };
    match request {
        Request::Line(line) => {
            let mut words = text::Words::new(line);
            let name = words.name();
            let spec = lookup(name, Framing::Text);
            let refusal = |e: Admission| match e {
                Admission::NoAuth => Reply::Error(ClientError::NoAuth),
                _ => Reply::Error(ClientError::UnknownCommand),
            };
            let spec = admit(spec, Framing::Text, 0, gate.authenticated).map_err(refusal)?;
            write_gate(spec)?;
            subscription_gate(spec, None, gate)?;
            let parse = spec.text.ok_or(Reply::Error(ClientError::UnknownCommand))?;
            Ok((row(spec), parse(&mut words, limits).map_err(Reply::Error)?))
        }
        Request::Resp(args) => {
            let spec = admit_resp(&args, gate)?;
            let parse = spec.resp.ok_or_else(|| resp::unknown_command(&args))?;
            Ok((row(spec), parse(&args, limits)?))
        }
    }
}

/// The checks a RESP request passes before its arguments are parsed: it
/// names a command this server speaks over RESP, with the right arity,
/// that the connection may run (the login gate) and, when the store may
/// not be written, that does not write. A refusal is the reply to send.
/// A transaction's queue checks this much of a command when it is queued,
/// as Redis does; the rest is parsed when EXEC runs it.
pub fn admit_resp(args: &Args<'_>, gate: Gate) -> Result<&'static Spec, Reply<'static>> {
    let spec = lookup(args.get(0), Framing::Resp);
    let spec = match admit(spec, Framing::Resp, args.len(), gate.authenticated) {
        Ok(spec) => spec,
        Err(Admission::Unknown) => return Err(resp::unknown_command(args)),
        Err(Admission::Arity(name)) => return Err(Reply::Error(ClientError::WrongArguments(name))),
        Err(Admission::NoAuth) => return Err(Reply::Error(ClientError::NoAuth)),
    };
    if !gate.writable && spec.writes() {
        return Err(Reply::Error(ClientError::NotDurable));
    }
    subscription_gate(spec, Some(args), gate)?;
    Ok(spec)
}

/// Commands whose first argument is a subcommand, named `name|sub` in
/// Redis's errors.
const CONTAINERS: &[&str] = &["client", "command", "config", "memory", "object", "pubsub"];

impl Spec {
    /// Whether its first argument is a subcommand, which Redis looks up,
    /// and checks the arity of, as a command of its own.
    pub fn has_subcommands(&self) -> bool {
        CONTAINERS.contains(&self.name)
    }
}

/// The subscription gate: on a subscribed connection, over the text
/// protocol or RESP2 (`resp` holds a RESP request's arguments), only the
/// commands of [`WHILE_SUBSCRIBED`] run.
fn subscription_gate(
    spec: &Spec,
    resp: Option<&Args<'_>>,
    gate: Gate,
) -> Result<(), Reply<'static>> {
    let confined = gate.subscribed && (resp.is_none() || !gate.resp3);
    if !confined || WHILE_SUBSCRIBED.contains(&spec.name) {
        return Ok(());
    }
    match resp {
        Some(args) if spec.has_subcommands() && args.len() > 1 => {
            let sub = String::from_utf8_lossy(args.get(1)).to_ascii_lowercase();
            let name = format!("{}|{sub}", spec.name);
            Err(resp::only_pubsub(&name))
        }
        _ => Err(Reply::Error(ClientError::OnlyPubSub(spec.name))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lower_case() {
        for (i, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(
                COMMANDS[i + 1..]
                    .iter()
                    .all(|other| other.name != spec.name),
                "{} twice",
                spec.name
            );
            assert!(spec.resp.is_some() || spec.text.is_some());
        }
    }

    #[test]
    fn the_gate_follows_redis_over_resp_and_says_only_noauth_over_text() {
        let auth = lookup(b"AUTH", Framing::Resp);
        let get = lookup(b"get", Framing::Resp);
        let ping_resp = lookup(b"ping", Framing::Resp);
        let ping_text = lookup(b"PING", Framing::Text);
        assert!(admit(auth, Framing::Resp, 2, false).is_ok());
        assert_eq!(
            admit(get, Framing::Resp, 2, false).map(|s| s.name),
            Err(Admission::NoAuth)
        );
        assert_eq!(
            admit(get, Framing::Resp, 3, false).map(|s| s.name),
            Err(Admission::Arity("get"))
        );
        assert_eq!(
            admit(None, Framing::Resp, 1, false).map(|s| s.name),
            Err(Admission::Unknown)
        );
        assert_eq!(
            admit(None, Framing::Text, 0, false).map(|s| s.name),
            Err(Admission::NoAuth)
        );
        assert_eq!(
            admit(ping_resp, Framing::Resp, 1, false).map(|s| s.name),
            Err(Admission::NoAuth)
        );
        assert!(admit(ping_text, Framing::Text, 0, false).is_ok());
        assert!(admit(get, Framing::Resp, 2, true).is_ok());
    }

    #[test]
    fn text_only_and_resp_only_commands_are_found_in_their_protocol_only() {
        assert!(lookup(b"STATS", Framing::Text).is_some());
        assert!(lookup(b"STATS", Framing::Resp).is_none());
        assert!(lookup(b"MGET", Framing::Text).is_none());
        assert!(lookup(b"mget", Framing::Resp).is_some());
    }
}
