//! Requests and replies: the typed [`Command`] a request line becomes, the
//! [`Reply`] a command produces, and the client-visible [`ClientError`].
//!
//! Framing lives in the submodules ([`text`] for the Blink-Store line
//! protocol). This module owns no I/O and never touches the store; turning a
//! `Command` into a `Reply` is [`crate::exec`]'s job.

pub mod text;

use std::fmt;

use crate::store::{Key, StoreError};

/// A parsed request. Keys are length-checked; values borrow the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Get(Key<'a>),
    Set(Key<'a>, &'a [u8]),
    Delete(Key<'a>),
    Usage,
    Quit,
}

/// What a command answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    Ok,
    NotFound,
    /// A stored value, raw; framing encodes it.
    Value(&'a [u8]),
    Usage(u64),
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

/// A request the server answers with an error. The connection stays usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    UnknownCommand,
    /// The named command was given no key.
    RequiresKey(&'static str),
    /// The named command was given too many arguments.
    WrongArguments(&'static str),
    KeyTooLong,
    ValueTooLarge,
    LineTooLong,
    OutOfMemory,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::UnknownCommand => f.write_str("unknown command"),
            ClientError::RequiresKey(name) => write!(f, "{name} requires key"),
            ClientError::WrongArguments(name) => {
                write!(f, "wrong number of arguments for '{name}'")
            }
            ClientError::KeyTooLong => f.write_str("key too long"),
            ClientError::ValueTooLarge => f.write_str("value too large"),
            ClientError::LineTooLong => f.write_str("line too long"),
            ClientError::OutOfMemory => f.write_str("out of memory"),
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
