//! Requests and replies: the typed [`Command`] a request line becomes, the
//! [`Reply`] a command produces, and the client-visible [`ClientError`].
//!
//! Framing lives in the submodules ([`text`] for the Blink-Store line
//! protocol). This module owns no I/O and never touches the store; turning a
//! `Command` into a `Reply` is [`crate::exec`]'s job.

pub mod text;

use std::fmt;

use crate::store::{Key, Millis, StoreError};

/// A parsed request. Keys are length-checked; values borrow the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Get(Key<'a>),
    /// SET, SETEX, PSETEX and SETNX.
    Set {
        key: Key<'a>,
        value: &'a [u8],
        /// Expire this long after now; `None` for no expiry.
        expire_in: Option<ExpireIn>,
        /// Only when the key does not exist (SETNX).
        only_if_absent: bool,
    },
    Delete(Key<'a>),
    Usage,
    Quit,
    Ping,
    /// EXPIRE and PEXPIRE.
    Expire(Key<'a>, ExpireIn),
    Persist(Key<'a>),
    /// TTL (`in_ms` false) and PTTL.
    Ttl {
        key: Key<'a>,
        in_ms: bool,
    },
    GetEx(Key<'a>, ExpiryChange),
    Exists(Key<'a>),
    DbSize,
    FlushAll,
    /// AUTH and PASS, with the password given.
    Auth(&'a [u8]),
    Stats,
}

impl Command<'_> {
    /// Whether a connection that has not authenticated may run this.
    pub fn allowed_before_auth(&self) -> bool {
        matches!(self, Command::Auth(_) | Command::Quit | Command::Ping)
    }
}

/// A relative expiry time: a positive number of milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpireIn(u64);

impl ExpireIn {
    /// `amount` seconds (or milliseconds when `in_ms`), refusing zero,
    /// negative, non-numeric and overflowing times.
    pub fn parse(amount: &[u8], in_ms: bool) -> Result<ExpireIn, ClientError> {
        let n: i64 = std::str::from_utf8(amount)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(ClientError::InvalidExpireTime)?;
        let ms = if in_ms { Some(n) } else { n.checked_mul(1000) };
        match ms {
            Some(ms) if ms > 0 => Ok(ExpireIn(ms as u64)),
            _ => Err(ClientError::InvalidExpireTime),
        }
    }

    /// The deadline this time gives at `now`, refusing one past the
    /// clock's range.
    pub fn deadline(self, now: Millis) -> Result<Millis, ClientError> {
        now.checked_add(self.0)
            .filter(|d| d.0 <= i64::MAX as u64)
            .ok_or(ClientError::InvalidExpireTime)
    }
}

/// What GETEX does to the key's expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryChange {
    Unchanged,
    Persist,
    Expire(ExpireIn),
}

/// What a command answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    Ok,
    NotFound,
    NotStored,
    Pong,
    /// A stored value, raw; framing encodes it.
    Value(&'a [u8]),
    /// A number, labelled with the command's name: `USAGE 9`, `TTL -1`.
    Number(&'static str, i64),
    /// `STAT name value` lines.
    Stats(Vec<(&'static str, u64)>),
    Error(ClientError),
    /// No reply: the connection is to be closed.
    Quit,
}

/// Bounds that parsing enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest value a SET may carry, in bytes.
    pub max_value_size: usize,
}

impl Limits {
    /// Longest request line buffered before `line too long`: a maximal key
    /// and value plus room for the command name and separators.
    pub fn max_line(&self) -> usize {
        crate::store::MAX_KEY_LEN + self.max_value_size + LINE_SLACK
    }
}

/// Bytes a request line may hold beyond its key and value.
const LINE_SLACK: usize = 64;

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
    LineTooLong,
    OutOfMemory,
    InvalidExpireTime,
    Syntax,
    NoAuth,
    WrongPass,
    NoPasswordConfigured,
    /// An unauthenticated client sent a line over the pre-auth cap.
    LineTooLongUnauthenticated,
    RequestTimeout,
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
            ClientError::RequiresKey(name) => write!(f, "{name} requires key"),
            ClientError::RequiresPassword(name) => write!(f, "{name} requires password"),
            ClientError::WrongArguments(name) => {
                write!(f, "wrong number of arguments for '{name}'")
            }
            ClientError::KeyTooLong => f.write_str("key too long"),
            ClientError::ValueTooLarge => f.write_str("value too large"),
            ClientError::LineTooLong => f.write_str("line too long"),
            ClientError::OutOfMemory => f.write_str("out of memory"),
            ClientError::InvalidExpireTime => f.write_str("invalid expire time"),
            ClientError::Syntax => f.write_str("syntax error"),
            ClientError::NoAuth => f.write_str("NOAUTH Authentication required"),
            ClientError::WrongPass => f.write_str("WRONGPASS invalid password"),
            ClientError::NoPasswordConfigured => f.write_str("no password is configured"),
            ClientError::LineTooLongUnauthenticated => {
                f.write_str("line too long before authentication, closing connection")
            }
            ClientError::RequestTimeout => f.write_str("request timeout, closing connection"),
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
