//! Runs a parsed [`Command`] against the [`Store`] and says what to reply.
//!
//! This is the only place that knows both the protocol's commands and the
//! store's API; it does no I/O and no framing.

use crate::protocol::{ClientError, Command, Reply};
use crate::store::Store;

/// Executes `command` at clock tick `now`. A GET copies the value into
/// `scratch` (reused across requests) and the reply borrows it from there.
pub fn execute<'s>(
    command: Command<'_>,
    store: &Store,
    now: u32,
    scratch: &'s mut Vec<u8>,
) -> Reply<'s> {
    match command {
        Command::Get(key) => {
            if store.get_into(key, now, scratch) {
                Reply::Value(scratch)
            } else {
                Reply::NotFound
            }
        }
        Command::Set(key, value) => match store.set(key, value, now) {
            Ok(()) => Reply::Ok,
            Err(e) => Reply::Error(ClientError::from(e)),
        },
        Command::Delete(key) => {
            if store.delete(key) {
                Reply::Ok
            } else {
                Reply::NotFound
            }
        }
        Command::Usage => Reply::Usage(store.usage()),
        Command::Quit => Reply::Quit,
    }
}
