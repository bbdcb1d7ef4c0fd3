//! Requests and replies: the typed [`Command`] a request becomes, the
//! [`Reply`] a command produces, and the client-visible [`ClientError`].
//!
//! - [`framer`]: bytes become whole requests, text lines or RESP arrays,
//!   within the bounds of [`Limits`].
//! - [`commands`]: the command table; a request becomes a `Command`
//!   through the login gate.
//! - [`text`] and [`resp`]: each protocol's parsers and reply writers. A
//!   reply here says what happened; each framing decides how to say it
//!   (`NOT_FOUND` or a null, `OK` or `:1`).
//!
//! This module owns no I/O and never touches the store; turning a
//! `Command` into a `Reply` is [`crate::exec`]'s job.

pub mod commands;
pub mod framer;
pub mod resp;
pub mod text;

use std::fmt;

use crate::store::{Condition, Key, Millis, StoreError, UpdateError};

/// A parsed request. Keys are length-checked; values borrow the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Get(Key<'a>),
    /// SET in all its forms: SETEX, PSETEX, SETNX, GETSET, and RESP's
    /// options.
    Set(SetCommand<'a>),
    /// The text protocol's DELETE and DEL: one key, `OK` or `NOT_FOUND`.
    Delete(Key<'a>),
    /// RESP's DEL: many keys, answered with how many existed.
    DeleteMany(Vec<Key<'a>>),
    GetDel(Key<'a>),
    MGet(Vec<Key<'a>>),
    MSet(Vec<(Key<'a>, &'a [u8])>),
    /// MSETNX: the pairs, stored only if none of the keys exists.
    MSetNx(Vec<(Key<'a>, &'a [u8])>),
    /// TOUCH: how many of the keys exist, each access recorded.
    Touch(Vec<Key<'a>>),
    /// SETRANGE key offset value.
    SetRange(Key<'a>, usize, &'a [u8]),
    /// GETRANGE and SUBSTR: key, start and end (negative: from the end).
    GetRange(Key<'a>, i64, i64),
    IncrByFloat(Key<'a>, Increment),
    /// RENAME (`nx` false) and RENAMENX.
    Rename {
        from: Key<'a>,
        to: Key<'a>,
        nx: bool,
    },
    /// `COPY source destination [DB db] [REPLACE]`: `db` is the
    /// destination's database when given (checked as it runs, since
    /// whether it is the source's depends on the connection's).
    Copy {
        from: Key<'a>,
        to: Key<'a>,
        db: Option<i64>,
        replace: bool,
    },
    /// MOVE key db.
    Move(Key<'a>, i64),
    /// SWAPDB index index: both integers, checked against the count of
    /// databases as it runs.
    SwapDb(i64, i64),
    /// EXPIRETIME (`in_ms` false) and PEXPIRETIME.
    ExpireTime {
        key: Key<'a>,
        in_ms: bool,
    },
    RandomKey,
    Object(ObjectCommand<'a>),
    /// MEMORY USAGE key [SAMPLES n].
    MemoryUsage(Key<'a>),
    /// CONFIG SET, its parameters checked and typed.
    ConfigSet(Vec<Setting<'a>>),
    ConfigResetStat,
    /// RESET: the connection back to its state at connect.
    Reset,
    /// WAIT numreplicas timeout: there are no replicas, so none acknowledge.
    Wait,
    LastSave,
    Role,
    Usage,
    Quit,
    /// SHUTDOWN: stop the server once the requests in flight are done.
    Shutdown,
    /// BGREWRITEAOF: compact the append-only file in the background.
    BgRewriteAof,
    /// PING, with RESP's optional message.
    Ping(Option<&'a [u8]>),
    Echo(&'a [u8]),
    /// EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT.
    Expire {
        key: Key<'a>,
        when: When,
        /// Only if this holds (RESP's NX, XX, GT, LT).
        only_if: ExpireIf,
        /// Name for errors: `expire`, `pexpire`, ...
        name: &'static str,
    },
    /// PERSIST. Over RESP (`count_removed`) it answers whether an expiry
    /// was removed; over text, whether the key exists.
    Persist {
        key: Key<'a>,
        count_removed: bool,
    },
    /// TTL (`in_ms` false) and PTTL.
    Ttl {
        key: Key<'a>,
        in_ms: bool,
    },
    GetEx(Key<'a>, ExpiryChange),
    Exists(Vec<Key<'a>>),
    /// INCR, DECR, INCRBY and DECRBY: the delta, and the name that labels a
    /// text reply.
    IncrBy(Key<'a>, i64, &'static str),
    Append(Key<'a>, &'a [u8]),
    Strlen(Key<'a>),
    Type(Key<'a>),
    DbSize,
    FlushAll,
    /// FLUSHDB: every key of the connection's database.
    FlushDb,
    Scan {
        cursor: usize,
        pattern: Option<&'a [u8]>,
        count: usize,
    },
    Keys(&'a [u8]),
    /// INFO [section ...].
    Info(Vec<&'a [u8]>),
    ConfigGet(Vec<&'a [u8]>),
    /// COMMAND and its subcommands.
    CommandInfo(CommandQuery<'a>),
    /// `HELP` of a command with subcommands: its lines.
    Help(&'static [&'static str]),
    Time,
    /// AUTH and PASS; over RESP, optionally with a user name.
    Auth {
        user: Option<&'a [u8]>,
        password: &'a [u8],
    },
    /// HELLO [protover [AUTH user pass] [SETNAME name]].
    Hello {
        version: Option<u8>,
        auth: Option<(&'a [u8], &'a [u8])>,
        name: Option<&'a [u8]>,
    },
    Select(i64),
    Client(ClientCommand<'a>),
    Stats,
    /// MULTI: start queueing (see [`crate::exec`]'s transactions).
    Multi,
    /// EXEC: run the queued commands as one.
    Exec,
    /// DISCARD: drop the queue and the watches.
    Discard,
    /// WATCH key ...: EXEC aborts if any of these changes first.
    Watch(Vec<Key<'a>>),
    /// UNWATCH: forget every watched key.
    Unwatch,
    /// SUBSCRIBE channel ... and PSUBSCRIBE pattern ... (`patterns`).
    Subscribe {
        patterns: bool,
        names: Vec<&'a [u8]>,
    },
    /// UNSUBSCRIBE and PUNSUBSCRIBE (`patterns`): the ones named, or every
    /// one when none is.
    Unsubscribe {
        patterns: bool,
        names: Vec<&'a [u8]>,
    },
    /// PUBLISH channel message.
    Publish {
        channel: &'a [u8],
        message: &'a [u8],
    },
    /// PUBSUB CHANNELS|NUMSUB|NUMPAT.
    PubSub(PubSubQuery<'a>),
}

/// PUBSUB subcommands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PubSubQuery<'a> {
    /// The channels with a subscriber, those matching the pattern if given.
    Channels(Option<&'a [u8]>),
    /// Each channel and its number of subscribers.
    NumSub(Vec<&'a [u8]>),
    /// Pattern subscriptions, over every connection.
    NumPat,
}

/// What a (P)(UN)SUBSCRIBE confirms, once per channel or pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionKind {
    Subscribe,
    Unsubscribe,
    PSubscribe,
    PUnsubscribe,
}

impl SubscriptionKind {
    /// As Redis names it in a confirmation: lower case.
    pub fn name(self) -> &'static str {
        match self {
            SubscriptionKind::Subscribe => "subscribe",
            SubscriptionKind::Unsubscribe => "unsubscribe",
            SubscriptionKind::PSubscribe => "psubscribe",
            SubscriptionKind::PUnsubscribe => "punsubscribe",
        }
    }
}

/// One confirmation of a (P)(UN)SUBSCRIBE: the channel or pattern
/// (`None` for an UNSUBSCRIBE of all when there was none) and how many
/// subscriptions the connection has after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    pub kind: SubscriptionKind,
    pub name: Option<Vec<u8>>,
    pub count: usize,
}

/// A database index as Redis reads one: an integer that fits in 32 bits
/// (whether the server has that database is decided as the command runs).
pub fn db_number(bytes: &[u8]) -> Result<i64, ClientError> {
    let n = parse_i64(bytes).ok_or(ClientError::NotInteger)?;
    i32::try_from(n)
        .map(i64::from)
        .map_err(|_| ClientError::NotInt32)
}

/// Which keys a command touches, as [`Command::keys_mut`] finds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyScope {
    /// Only the keys visited (none, for a command without keys).
    Named,
    /// Keys known only as it runs (FLUSHALL, KEYS, SCAN, ...): any key.
    Whole,
}

impl<'a> Command<'a> {
    /// Hands each key the command names to `visit`, which may change it
    /// (the connection's database is given to every key this way), and
    /// says whether those are all the keys it may touch. The one place
    /// that knows where each command keeps its keys.
    pub fn keys_mut(&mut self, visit: &mut dyn FnMut(&mut Key<'a>)) -> KeyScope {
        match self {
            Command::Get(k)
            | Command::Delete(k)
            | Command::GetDel(k)
            | Command::SetRange(k, ..)
            | Command::GetRange(k, ..)
            | Command::IncrByFloat(k, _)
            | Command::MemoryUsage(k)
            | Command::GetEx(k, _)
            | Command::IncrBy(k, ..)
            | Command::Append(k, _)
            | Command::Strlen(k)
            | Command::Type(k)
            | Command::Move(k, _)
            | Command::ExpireTime { key: k, .. }
            | Command::Expire { key: k, .. }
            | Command::Persist { key: k, .. }
            | Command::Ttl { key: k, .. } => visit(k),
            Command::Set(set) => visit(&mut set.key),
            Command::DeleteMany(keys)
            | Command::MGet(keys)
            | Command::Touch(keys)
            | Command::Exists(keys)
            | Command::Watch(keys) => keys.iter_mut().for_each(visit),
            Command::MSet(pairs) | Command::MSetNx(pairs) => {
                pairs.iter_mut().for_each(|(k, _)| visit(k));
            }
            Command::Rename { from, to, .. } | Command::Copy { from, to, .. } => {
                visit(from);
                visit(to);
            }
            Command::Object(sub) => match sub {
                ObjectCommand::Encoding(k)
                | ObjectCommand::IdleTime(k)
                | ObjectCommand::Freq(k)
                | ObjectCommand::RefCount(k) => visit(k),
            },
            Command::DbSize
            | Command::FlushAll
            | Command::FlushDb
            | Command::SwapDb(..)
            | Command::Scan { .. }
            | Command::Keys(_)
            | Command::RandomKey => return KeyScope::Whole,
            Command::ConfigSet(_)
            | Command::ConfigResetStat
            | Command::Help(_)
            | Command::Reset
            | Command::Wait
            | Command::LastSave
            | Command::Role
            | Command::Usage
            | Command::Quit
            | Command::Shutdown
            | Command::BgRewriteAof
            | Command::Ping(_)
            | Command::Echo(_)
            | Command::Info(_)
            | Command::ConfigGet(_)
            | Command::CommandInfo(..)
            | Command::Time
            | Command::Auth { .. }
            | Command::Hello { .. }
            | Command::Select(_)
            | Command::Client(_)
            | Command::Stats
            | Command::Multi
            | Command::Exec
            | Command::Discard
            | Command::Unwatch
            | Command::Subscribe { .. }
            | Command::Unsubscribe { .. }
            | Command::Publish { .. }
            | Command::PubSub(_) => {}
        }
        KeyScope::Named
    }
}

/// CLIENT subcommands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCommand<'a> {
    SetName(&'a [u8]),
    GetName,
    Id,
    /// CLIENT SETINFO: accepted and ignored.
    SetInfo,
    /// CLIENT LIST, of the connections with these ids (`None`: all).
    List(Option<Vec<u64>>),
    /// CLIENT INFO: this connection's line of CLIENT LIST.
    Info,
    Kill(KillFilter<'a>),
    NoEvict(bool),
    NoTouch(bool),
    /// CLIENT REPLY ON|OFF|SKIP.
    Reply(ReplyMode),
    /// CLIENT TRACKING OFF, or ON with its options.
    Tracking(Option<TrackingOptions<'a>>),
    /// CLIENT CACHING YES|NO: whether the next command's reads are
    /// tracked (OPTIN, OPTOUT); `None` for another word, refused as it
    /// runs (after the mode's own error, as in Redis).
    Caching(Option<bool>),
    GetRedir,
    TrackingInfo,
}

/// CLIENT REPLY's modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    Skip,
}

/// CLIENT TRACKING ON's options, parsed but not yet checked against each
/// other (which is Redis's order of errors).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackingOptions<'a> {
    pub redirect: Option<i64>,
    pub prefixes: Vec<&'a [u8]>,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

/// Which connections CLIENT KILL ends: those that match every filter
/// given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KillFilter<'a> {
    pub id: Option<u64>,
    /// The client's address, `ip:port` (or `path:0` for a Unix socket).
    pub addr: Option<&'a [u8]>,
    /// The server's address the client connected to.
    pub laddr: Option<&'a [u8]>,
    /// Matches nothing (a TYPE no connection here has: master, replica,
    /// pubsub).
    pub none: bool,
    /// Spare the connection that asks (SKIPME yes, the default of the
    /// filter form).
    pub skip_me: bool,
    /// The old form, `CLIENT KILL addr`: answers `+OK` or an error rather
    /// than a count.
    pub old_style: bool,
}

/// OBJECT subcommands: each names a key, but for HELP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectCommand<'a> {
    Encoding(Key<'a>),
    IdleTime(Key<'a>),
    Freq(Key<'a>),
    RefCount(Key<'a>),
}

/// A parameter CONFIG SET names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting<'a> {
    /// `maxmemory`, bytes; 0 is no limit, as in Redis.
    MaxMemory(u64),
    /// `maxmemory-samples`.
    MaxMemorySamples(usize),
    /// `timeout`, seconds; 0 is none.
    Timeout(u64),
    /// A parameter fixed while the server runs, and the value asked for:
    /// accepted only when it is the value it has (so a client may set
    /// every parameter back to what CONFIG GET said).
    Fixed(&'static str, &'a [u8]),
}

/// INCRBYFLOAT's increment: a finite or infinite number, never NaN (the
/// parser refuses it), so equality is total.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Increment(pub f64);

impl Eq for Increment {}

/// Every form of SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetCommand<'a> {
    pub key: Key<'a>,
    pub value: &'a [u8],
    /// `None` clears any expiry, unless `keep_ttl`.
    pub expire: Option<ExpireAt>,
    pub keep_ttl: bool,
    pub condition: Condition,
    /// Reply with the old value (RESP's GET option, GETSET).
    pub get: bool,
    pub reply: SetReply,
    /// Name for errors: `set`, `setex`, ...
    pub name: &'static str,
}

impl<'a> SetCommand<'a> {
    /// A SET of `value` under `condition`, with no expiry and no old value
    /// wanted; `name` words its errors.
    pub fn plain(
        key: Key<'a>,
        value: &'a [u8],
        condition: Condition,
        name: &'static str,
    ) -> SetCommand<'a> {
        SetCommand {
            key,
            value,
            expire: None,
            keep_ttl: false,
            condition,
            get: false,
            reply: SetReply::OkOrNotStored,
            name,
        }
    }
}

/// How a SET that did not return the old value answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetReply {
    /// `OK`, or `NOT_STORED` (text) / null (RESP) when the condition failed.
    OkOrNotStored,
    /// SETNX over RESP: `:1` or `:0`.
    Flag,
}

/// When a key expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// This many milliseconds from now; may be zero or negative (RESP's
    /// EXPIRE deletes the key then).
    In(i64),
    /// At this Unix time in milliseconds.
    AtUnix(i64),
}

/// EXPIRE's options (Redis 7): set the expiry only if the key has none
/// (`nx`), has one (`xx`), or the new one is later (`gt`) or earlier (`lt`)
/// than the current one, a key without expiry counting as never expiring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireIf {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

impl ExpireIf {
    /// Whether the options allow replacing `current` (`None`: no expiry)
    /// with `new`.
    pub fn allows(&self, current: Option<Millis>, new: Millis) -> bool {
        !(self.nx && current.is_some()
            || self.xx && current.is_none()
            || self.gt && current.map_or(true, |c| new <= c)
            || self.lt && current.is_some_and(|c| new >= c))
    }
}

/// A future expiry: relative or absolute, always positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireAt {
    In(ExpireIn),
    /// Unix time in milliseconds.
    Unix(u64),
}

/// A relative expiry time: a positive number of milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpireIn(u64);

impl ExpireIn {
    /// `amount` seconds (or milliseconds when `in_ms`) as the text protocol
    /// reads it: zero, negative, non-numeric and overflowing times are all
    /// an invalid expire time.
    pub fn parse(amount: &[u8], in_ms: bool) -> Result<ExpireIn, ClientError> {
        let n = parse_i64(amount).ok_or(ClientError::InvalidExpireTime(""))?;
        ExpireIn::from_amount(n, in_ms, "")
    }

    /// A positive amount of seconds (or ms), refusing others as an invalid
    /// expire time for command `name`.
    pub fn from_amount(n: i64, in_ms: bool, name: &'static str) -> Result<ExpireIn, ClientError> {
        let ms = if in_ms { Some(n) } else { n.checked_mul(1000) };
        match ms {
            Some(ms) if ms > 0 => Ok(ExpireIn(ms as u64)),
            _ => Err(ClientError::InvalidExpireTime(name)),
        }
    }

    pub fn millis(self) -> u64 {
        self.0
    }
}

pub use crate::num::parse_i64;

/// What COMMAND asks about the command table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandQuery<'a> {
    /// COMMAND, or COMMAND INFO naming none: every command.
    All,
    /// COMMAND COUNT.
    Count,
    /// COMMAND LIST: every command's name.
    List,
    /// COMMAND INFO name ...: those commands.
    Info(Vec<&'a [u8]>),
    /// COMMAND DOCS [name ...]: there are no docs to give.
    Docs,
}

/// What GETEX does to the key's expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryChange {
    Unchanged,
    Persist,
    Expire(ExpireAt),
    /// An amount out of range: the error if the key exists, else no
    /// change (Redis checks it only once it has found the key).
    Refused(ClientError),
}

/// What a command answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    Ok,
    /// Success with words of its own: RESP `+words`, text `OK`.
    Status(&'static str),
    Pong,
    /// A stored value, raw; framing encodes it.
    Value(&'a [u8]),
    /// No such key: text `NOT_FOUND`, RESP null.
    NotFound,
    /// A condition refused a write: text `NOT_STORED`, RESP null.
    NotStored,
    /// Whether the key existed: text `OK` / `NOT_FOUND`, RESP `:1` / `:0`.
    Found(bool),
    /// A number, labelled with the command's name for the text protocol:
    /// `USAGE 9`, `TTL -1`; RESP `:9`.
    Number(&'static str, i64),
    /// Text labelled the same way (INCRBYFLOAT): text `NAME text`, RESP a
    /// bulk string. The text holds no line break.
    Labelled(&'static str, &'a [u8]),
    /// TYPE: text `TYPE string`, RESP `+string` (`none` when absent).
    Type(bool),
    /// Several values or nulls (MGET), RESP only.
    Values(Vec<Option<Vec<u8>>>),
    /// Any other RESP-only reply.
    Frame(Frame),
    /// `STAT name value` lines (text only).
    Stats(Vec<(&'static str, u64)>),
    Error(ClientError),
    /// An error whose message carries request data (RESP's unknown
    /// command), without its `-`.
    ErrorText(Vec<u8>),
    /// EXEC's replies: `count` replies, already encoded in RESP, one
    /// after the other in `body` (RESP only).
    Transaction {
        count: usize,
        body: Vec<u8>,
    },
    /// EXEC aborted by a watched key: RESP2 `*-1`, RESP3 `_`.
    NullArray,
    /// The confirmations of a (P)(UN)SUBSCRIBE, one reply each: RESP2
    /// arrays, RESP3 pushes, text lines `SUBSCRIBE channel count`.
    Subscription(Vec<Confirmation>),
    /// No reply: the connection is to be closed.
    Quit,
    /// No reply: the server is to shut down (SHUTDOWN).
    Shutdown,
}

/// A RESP value, for replies with structure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Simple(&'static str),
    Bulk(Vec<u8>),
    Integer(i64),
    Null,
    Array(Vec<Frame>),
    /// A map in RESP3; a flat array of keys and values in RESP2.
    Map(Vec<(Frame, Frame)>),
    /// A verbatim string (`txt`) in RESP3; a bulk string in RESP2.
    Verbatim(String),
    /// A set in RESP3; an array in RESP2.
    Set(Vec<Frame>),
}

/// Every bound on what a client can make the server buffer, in one place.
/// The framer and the parsers enforce them; the README's limits table
/// lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest value a write may leave in the store, in bytes
    /// (`--max-value-size`).
    pub max_value_size: usize,
    /// Most argument bytes in one RESP request (`--max-request-size`);
    /// never less than [`Limits::max_line`], so a SET of the largest key
    /// and value always fits.
    pub max_request_size: usize,
}

/// Longest text line before authentication, in bytes without its line
/// end: room for any AUTH, and no more for an anonymous client.
pub const PRE_AUTH_MAX_LINE: usize = 4 << 10;

/// Most arguments in one RESP request, as Redis allows.
pub const MAX_ARGUMENTS: usize = 1024 * 1024;

/// Most arguments in a RESP request before authentication, as Redis 7.
pub const PRE_AUTH_MAX_ARGUMENTS: usize = 10;

/// Longest RESP argument before authentication, as Redis 7: 16 KiB.
pub const PRE_AUTH_MAX_BULK: usize = 16 << 10;

/// Longest client name (CLIENT SETNAME, HELLO SETNAME), in bytes. Redis
/// sets none; a name is kept for the connection's life, so it is bounded.
pub const MAX_CLIENT_NAME: usize = 256;

/// Bytes a request line may hold beyond its key and value.
const LINE_SLACK: usize = 64;

impl Limits {
    /// The limits of a server whose values are at most `max_value_size`
    /// bytes and whose RESP requests hold at most `max_request_size`
    /// argument bytes (raised to the text line cap if below it).
    pub fn new(max_value_size: usize, max_request_size: usize) -> Limits {
        let limits = Limits {
            max_value_size,
            max_request_size,
        };
        Limits {
            max_request_size: max_request_size.max(limits.max_line()),
            ..limits
        }
    }

    /// Longest request line buffered before `line too long`: a maximal key
    /// and value plus room for the command name and separators.
    pub fn max_line(&self) -> usize {
        crate::store::MAX_KEY_LEN + self.max_value_size + LINE_SLACK
    }

    /// Longest RESP argument: a value, or a key, whichever may be longer.
    pub fn max_argument(&self) -> usize {
        self.max_value_size.max(crate::store::MAX_KEY_LEN)
    }

    /// The bounds requests are framed under, before and after the
    /// connection authenticates.
    pub fn framing(&self, authenticated: bool) -> framer::FrameLimits {
        if authenticated {
            framer::FrameLimits {
                max_line: self.max_line(),
                max_args: MAX_ARGUMENTS,
                max_bulk: self.max_argument(),
                max_request: self.max_request_size,
                authenticated,
            }
        } else {
            framer::FrameLimits {
                max_line: PRE_AUTH_MAX_LINE,
                max_args: PRE_AUTH_MAX_ARGUMENTS,
                max_bulk: PRE_AUTH_MAX_BULK,
                max_request: PRE_AUTH_MAX_ARGUMENTS * PRE_AUTH_MAX_BULK,
                authenticated,
            }
        }
    }
}

/// A request the server answers with an error. Unless
/// [`ClientError::closes`] says so, the connection stays usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    UnknownCommand,
    /// The named command was given no key.
    RequiresKey(&'static str),
    /// The named command was given no password.
    RequiresPassword(&'static str),
    /// The named command was given too many or too few arguments.
    WrongArguments(&'static str),
    KeyTooLong,
    ValueTooLarge,
    /// A write would leave a value longer than `--max-value-size` (APPEND).
    StringTooLong,
    LineTooLong,
    OutOfMemory,
    /// An invalid expire time given to the named (lowercase) command.
    InvalidExpireTime(&'static str),
    Syntax,
    NotInteger,
    Overflow,
    DbIndexOutOfRange,
    /// An integer argument Redis reads as a C `int` (a database index)
    /// does not fit in 32 bits.
    NotInt32,
    /// SWAPDB's named ("first" or "second") index is not an integer.
    InvalidDbIndex(&'static str),
    UnsupportedProtocol,
    InvalidClientName,
    ClientNameTooLong,
    NoAuth,
    WrongPass,
    NoPasswordConfigured,
    /// An unauthenticated client sent a line over the pre-auth cap.
    LineTooLongUnauthenticated,
    RequestTimeout,
    /// The append-only file cannot be written (a failed write or sync, or
    /// a stuck disk): a write's change is not durable, or a write command
    /// was refused before it ran. Text: `ERROR persistence failed`.
    NotDurable,
    /// BGREWRITEAOF while a compaction is running.
    RewriteInProgress,
    /// BGREWRITEAOF without `--aof`.
    AofOff,
    /// RENAME or RENAMENX of a key that does not exist.
    NoSuchKey,
    /// SETRANGE at a negative offset.
    OffsetOutOfRange,
    /// INCRBYFLOAT of a value or by an increment that is not a number.
    NotFloat,
    /// INCRBYFLOAT to an infinite result.
    NotFinite,
    /// COPY of a key onto itself.
    SameObject,
    /// EVAL, EVALSHA, SCRIPT, FUNCTION, FCALL and their read-only forms:
    /// there is no script interpreter.
    NoScripting,
    /// OBJECT FREQ: the eviction policy is LRU.
    NoLfu,
    /// MULTI inside MULTI.
    NestedMulti,
    ExecWithoutMulti,
    DiscardWithoutMulti,
    /// WATCH after MULTI.
    WatchInMulti,
    /// EXEC of a transaction a queueing error aborted.
    ExecAbort,
    /// EXEC refused as a whole: its writes cannot fit the memory limit.
    ExecAbortOom,
    /// A command this server does not run inside a transaction (it
    /// reads or changes the session or the server, see the README).
    NotInTransaction,
    /// A transaction's queue is full, in commands or bytes.
    QueueFull,
    /// WATCH past the number of keys one connection may watch.
    TooManyWatched,
    /// The named command, sent by a subscribed connection that may only
    /// (un)subscribe, PING, QUIT and RESET (RESP2, and the text protocol).
    OnlyPubSub(&'static str),
}

impl ClientError {
    /// Whether the server closes the connection after this error.
    pub fn closes(&self) -> bool {
        matches!(
            self,
            ClientError::LineTooLongUnauthenticated | ClientError::RequestTimeout
        )
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::UnknownCommand => f.write_str("unknown command"),
            ClientError::RequiresKey(name) => {
                write!(f, "{} requires key", name.to_ascii_uppercase())
            }
            ClientError::RequiresPassword(name) => {
                write!(f, "{} requires password", name.to_ascii_uppercase())
            }
            ClientError::WrongArguments(name) => {
                write!(
                    f,
                    "wrong number of arguments for '{}'",
                    name.to_ascii_uppercase()
                )
            }
            ClientError::KeyTooLong => f.write_str("key too long"),
            ClientError::ValueTooLarge | ClientError::StringTooLong => {
                f.write_str("value too large")
            }
            ClientError::LineTooLong => f.write_str("line too long"),
            ClientError::OutOfMemory => f.write_str("out of memory"),
            ClientError::InvalidExpireTime(_) => f.write_str("invalid expire time"),
            ClientError::Syntax => f.write_str("syntax error"),
            ClientError::NotInteger => f.write_str("value is not an integer or out of range"),
            ClientError::Overflow => f.write_str("increment or decrement would overflow"),
            ClientError::DbIndexOutOfRange => f.write_str("DB index is out of range"),
            ClientError::InvalidDbIndex(which) => write!(f, "invalid {which} DB index"),
            // Redis's words, its missing "be" included.
            ClientError::NotInt32 => {
                f.write_str("value is out of range, value must between -2147483648 and 2147483647")
            }
            ClientError::UnsupportedProtocol => f.write_str("unsupported protocol version"),
            ClientError::InvalidClientName => {
                f.write_str("Client names cannot contain spaces, newlines or special characters.")
            }
            ClientError::ClientNameTooLong => write!(
                f,
                "Client names cannot be longer than {MAX_CLIENT_NAME} bytes"
            ),
            ClientError::NoAuth => f.write_str("NOAUTH Authentication required"),
            ClientError::WrongPass => f.write_str("WRONGPASS invalid password"),
            ClientError::NoPasswordConfigured => f.write_str("no password is configured"),
            ClientError::LineTooLongUnauthenticated => {
                f.write_str("line too long before authentication, closing connection")
            }
            ClientError::RequestTimeout => f.write_str("request timeout, closing connection"),
            ClientError::NotDurable => f.write_str(
                "MISCONF Errors writing to the append-only file; write commands are \
                 refused until it can be written again",
            ),
            ClientError::RewriteInProgress => {
                f.write_str("Background append only file rewriting already in progress")
            }
            ClientError::AofOff => {
                f.write_str("the append-only file is off (start the server with --aof PATH)")
            }
            ClientError::NoSuchKey => f.write_str("no such key"),
            ClientError::OffsetOutOfRange => f.write_str("offset is out of range"),
            ClientError::NotFloat => f.write_str("value is not a valid float"),
            ClientError::NotFinite => f.write_str("increment would produce NaN or Infinity"),
            ClientError::SameObject => f.write_str("source and destination objects are the same"),
            ClientError::NoScripting => f.write_str(
                "scripting is not supported by this server (no Lua interpreter); see the README",
            ),
            ClientError::NoLfu => f.write_str(
                "An LFU maxmemory policy is not selected, access frequency not tracked. Please \
                 note that when switching between policies at runtime LRU and LFU data will take \
                 some time to adjust.",
            ),
            ClientError::NestedMulti => f.write_str("MULTI calls can not be nested"),
            ClientError::ExecWithoutMulti => f.write_str("EXEC without MULTI"),
            ClientError::DiscardWithoutMulti => f.write_str("DISCARD without MULTI"),
            ClientError::WatchInMulti => f.write_str("WATCH inside MULTI is not allowed"),
            ClientError::ExecAbortOom => f.write_str(
                "EXECABORT Transaction discarded because of: OOM command not allowed when used \
                 memory > 'maxmemory'.",
            ),
            ClientError::ExecAbort => {
                f.write_str("EXECABORT Transaction discarded because of previous errors.")
            }
            ClientError::NotInTransaction => {
                f.write_str("Command not allowed inside a transaction")
            }
            ClientError::QueueFull => f.write_str("transaction queue is full"),
            ClientError::TooManyWatched => f.write_str("too many watched keys"),
            ClientError::OnlyPubSub(_) => f.write_str(
                "only SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PING and QUIT are \
                 allowed while subscribed",
            ),
        }
    }
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TooLarge => ClientError::ValueTooLarge,
            StoreError::OutOfMemory => ClientError::OutOfMemory,
        }
    }
}

impl From<UpdateError> for ClientError {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::NotInteger => ClientError::NotInteger,
            UpdateError::Overflow => ClientError::Overflow,
            UpdateError::TooLong => ClientError::StringTooLong,
            UpdateError::NotFloat => ClientError::NotFloat,
            UpdateError::NotFinite => ClientError::NotFinite,
            UpdateError::Store(e) => e.into(),
        }
    }
}
