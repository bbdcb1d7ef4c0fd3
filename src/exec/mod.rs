//! Runs a parsed [`Command`] against the [`Store`] and says what to reply.
//!
//! This is the only place that knows both the protocol's commands and the
//! store's API. It keeps a connection's [`Session`] (authentication, RESP
//! version, client name, failed logins) and does no I/O and no framing: a
//! [`Reply`] says what happened and the framing decides how to say it.
//! Whether a command may run at all before authentication was decided
//! earlier, by the login gate in [`crate::protocol::commands::admit`].
//!
//! - [`data`]: the commands that read and write keys.
//! - [`admin`]: AUTH, HELLO, RESET, INFO, CONFIG, CLIENT, COMMAND,
//!   STATS, BGREWRITEAOF, WAIT, LASTSAVE and ROLE.
//! - [`clients`]: the registry of live connections behind CLIENT LIST,
//!   INFO and KILL, and the idle timeout CONFIG SET changes.
//! - [`transaction`]: MULTI's queue, WATCH, and EXEC run under the locks
//!   of every stripe the transaction touches.
//! - [`pubsub`]: the registry of channels and patterns, each subscriber's
//!   outbox, and the publish/subscribe commands.
//! - [`tracking`]: client-side caching: which connections read which keys,
//!   and the invalidations pushed to them, as one of the store's journals.

mod admin;
pub mod clients;
mod data;
pub mod pubsub;
pub mod tracking;
pub mod transaction;

use std::sync::Arc;
use std::time::Duration;

use crate::aof::Aof;
use crate::config::Config;
use crate::protocol::commands::Gate;
use crate::protocol::{Command, Frame, Limits, Reply};
use crate::stats::{LocalCounts, Stats};
use crate::store::{Clock, Millis, Store, Watch};
use clients::{Client, Clients};
use pubsub::{PubSub, Subscriptions};
use tracking::Tracking;

pub use admin::{FIRST_AUTH_DELAY, MAX_AUTH_DELAY};

/// The Redis version whose behaviour the RESP side follows, reported by
/// HELLO and INFO so that clients enable the features they expect.
pub const REDIS_VERSION: &str = "7.2.0";

/// Where the server listens, as bound (CONFIG GET port, bind, unixsocket).
#[derive(Debug, Default)]
pub struct Listening {
    pub tcp: Vec<std::net::SocketAddr>,
    pub unix: Vec<std::path::PathBuf>,
}

/// What commands run against: shared by every connection, but for the
/// two fields that describe the request at hand.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub store: &'a Store,
    pub stats: &'a Stats,
    pub config: &'a Config,
    /// The append-only file, with `--aof`.
    pub aof: Option<&'a Aof>,
    pub clients: &'a Clients,
    /// Bounds on requests: EXEC parses its queued commands within them.
    pub limits: &'a Limits,
    /// Whether write commands may run (the append-only file is not
    /// failing).
    pub writable: bool,
    /// Every channel and pattern subscription.
    pub pubsub: &'a Arc<PubSub>,
    /// Client-side caching's registry.
    pub tracking: &'a Arc<Tracking>,
    /// The store's clock: its conversions to and from Unix time.
    pub clock: &'a Clock,
    /// The addresses the server listens on.
    pub listening: &'a Listening,
    /// The request came over RESP, not the text protocol.
    pub resp: bool,
    /// The command only reads keys (its table row says `readonly`) and the
    /// connection tracks: it notes them.
    pub reads: bool,
}

/// One connection's state.
#[derive(Debug)]
pub struct Session {
    /// CLIENT ID: unique per connection.
    pub id: u64,
    pub name: Option<Vec<u8>>,
    /// RESP version of replies to RESP requests: 2 or 3.
    pub protocol: u8,
    pub authenticated: bool,
    /// Failed authentications on this connection.
    pub auth_failures: u32,
    /// How long to wait before sending the reply to the last command: set
    /// by a failed authentication, taken by the connection loop.
    pub auth_delay: Option<Duration>,
    /// CLIENT NO-TOUCH: this connection's reads leave keys' access times
    /// alone.
    pub no_touch: bool,
    /// Close the connection once the last reply is sent (CLIENT KILL of
    /// itself).
    pub close: bool,
    /// This connection in the registry, when registered: kept told of the
    /// name, protocol and flags, which others list.
    pub client: Option<Arc<Client>>,
    /// The open transaction, between MULTI and EXEC or DISCARD.
    pub multi: Option<transaction::Queue>,
    /// What WATCH noted, until EXEC, DISCARD, UNWATCH or RESET.
    pub watches: Vec<Watch>,
    /// The numbered database this connection's keys belong to (SELECT).
    pub db: u16,
    /// Its channels and patterns (SUBSCRIBE, PSUBSCRIBE).
    pub pubsub: Subscriptions,
    /// CLIENT TRACKING, while on.
    pub tracking: Option<tracking::State>,
    /// CLIENT REPLY: which replies are sent.
    pub replies: Replies,
    /// Bytes of the request being run, as its framing sent them (CLIENT
    /// LIST's `qbuf` of the caller).
    pub request_len: usize,
}

/// Which replies a connection is sent (CLIENT REPLY).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Replies {
    #[default]
    On,
    Off,
    /// Not the reply of CLIENT REPLY SKIP itself, nor (`armed`) the next.
    Skip {
        armed: bool,
    },
}

impl Session {
    /// Whether the reply of the command that just ran is to be dropped,
    /// moving CLIENT REPLY SKIP on.
    pub fn drops_reply(&mut self) -> bool {
        match self.replies {
            Replies::On => false,
            Replies::Off => true,
            Replies::Skip { armed: false } => {
                self.replies = Replies::Skip { armed: true };
                true
            }
            Replies::Skip { armed: true } => {
                self.replies = Replies::On;
                true
            }
        }
    }
}

impl Session {
    pub fn new(id: u64, authenticated: bool) -> Session {
        Session {
            id,
            name: None,
            protocol: 2,
            authenticated,
            auth_failures: 0,
            auth_delay: None,
            no_touch: false,
            close: false,
            client: None,
            multi: None,
            watches: Vec::new(),
            db: 0,
            pubsub: Subscriptions::default(),
            tracking: None,
            replies: Replies::On,
            request_len: 0,
        }
    }

    /// Notes the keys a tracking connection's read is about to read
    /// (before it runs: see [`tracking`]). Returns whether CLIENT
    /// CACHING's word is spent once the command has run (it counts for
    /// one command, and not for itself).
    fn note_reads(&mut self, command: &mut Command<'_>, ctx: &Context<'_>) -> bool {
        let Some(state) = &self.tracking else {
            return false;
        };
        if ctx.reads && state.notes_reads() {
            let id = self.id;
            command.keys_mut(&mut |key| ctx.tracking.note(id, *key));
        }
        !matches!(
            command,
            Command::Client(crate::protocol::ClientCommand::Caching(_))
        )
    }

    /// Forgets CLIENT CACHING's word, spent by the command that ran.
    fn spend_caching(&mut self) {
        if let Some(state) = &mut self.tracking {
            state.caching = None;
        }
    }

    /// What this connection may run now (see [`Gate`]).
    pub fn gate(&self, writable: bool) -> Gate {
        Gate {
            authenticated: self.authenticated,
            writable,
            subscribed: self.pubsub.count() > 0,
            resp3: self.protocol == 3,
        }
    }

    /// Selects database `db`, here and in the registry.
    pub fn select(&mut self, db: u16) {
        if let Some(client) = &self.client {
            client.set_db(db);
        }
        self.db = db;
    }

    /// Runs SELECT `n`: the connection's database from now on, when the
    /// server has it.
    pub(super) fn run_select(&mut self, n: i64, ctx: &Context<'_>) -> Reply<'static> {
        match data::db_index(n, ctx) {
            Ok(db) => {
                self.select(db);
                Reply::Ok
            }
            Err(e) => Reply::Error(e),
        }
    }

    /// Names the connection (`None`: unnamed), here and in the registry.
    pub fn set_name(&mut self, name: Option<&[u8]>) {
        let name = name.filter(|n| !n.is_empty()).map(<[u8]>::to_vec);
        if let Some(client) = &self.client {
            client.set_name(name.clone());
        }
        self.name = name;
    }

    /// Tells the registry how many commands the open transaction holds
    /// (CLIENT LIST), after MULTI, each queued command, EXEC, DISCARD and
    /// RESET.
    pub fn note_multi(&self) {
        if let Some(client) = &self.client {
            client.set_multi(self.multi.as_ref().map(transaction::Queue::len));
        }
    }

    /// Switches the RESP version of replies, here and in the registry.
    pub fn set_protocol(&mut self, version: u8) {
        if let Some(client) = &self.client {
            client.set_protocol(version);
        }
        self.pubsub.set_protocol(version);
        self.protocol = version;
    }

    /// Runs a publish/subscribe command.
    fn run_pubsub(&mut self, command: Command<'_>, ctx: &Context<'_>) -> Reply<'static> {
        let Some(client) = self.client.clone() else {
            // Only a registered connection can be sent messages.
            return Reply::Error(crate::protocol::ClientError::UnknownCommand);
        };
        match command {
            Command::Subscribe { patterns, names } => {
                let style = (ctx.resp, self.protocol);
                self.pubsub
                    .subscribe(ctx.pubsub, &client, patterns, &names, style)
            }
            Command::Unsubscribe { patterns, names } => {
                self.pubsub.unsubscribe(&client, patterns, &names)
            }
            Command::Publish { channel, message } => {
                let receivers = ctx.pubsub.publish(channel, message);
                Reply::Number("PUBLISH", receivers as i64)
            }
            Command::PubSub(query) => ctx.pubsub.query(&query),
            _ => Reply::Error(crate::protocol::ClientError::UnknownCommand),
        }
    }
}

/// Executes `command` at time `now`. A command that reads a value copies it
/// into `scratch` (reused across requests) and the reply borrows it there.
/// Hits, misses and commands are counted in `counts`.
pub fn execute<'s>(
    mut command: Command<'_>,
    ctx: &Context<'_>,
    session: &mut Session,
    now: Millis,
    scratch: &'s mut Vec<u8>,
    counts: &mut LocalCounts,
) -> Reply<'s> {
    counts.commands += 1;
    // Only a change while a connection tracks has anyone to tell.
    if ctx.tracking.clients() > 0 {
        tracking::running(session.id);
    }
    in_db(&mut command, session.db);
    let spends = session.note_reads(&mut command, ctx);
    let reply = run(command, ctx, session, now, scratch, counts);
    if spends {
        session.spend_caching();
    }
    reply
}

/// Runs `command` for [`execute`].
fn run<'s>(
    command: Command<'_>,
    ctx: &Context<'_>,
    session: &mut Session,
    now: Millis,
    scratch: &'s mut Vec<u8>,
    counts: &mut LocalCounts,
) -> Reply<'s> {
    if let Command::Select(n) = command {
        session.run_select(n, ctx)
    } else if is_pubsub(&command) {
        session.run_pubsub(command, ctx)
    } else if let (Command::Ping(message), true) = (&command, confined_ping(ctx, session)) {
        pong_message(*message)
    } else if is_admin(&command) {
        admin::execute(command, ctx, session, now, scratch, counts)
    } else if is_transaction(&command) {
        transaction::execute(command, ctx, session, now, counts)
    } else {
        let mut store = ctx.store;
        data::execute(
            command,
            ctx,
            &mut store,
            session.db,
            now,
            !session.no_touch,
            scratch,
            counts,
        )
    }
}

/// Gives every key `command` names to database `db`: keys are parsed
/// without one, and the connection's is applied as the command runs.
pub(super) fn in_db(command: &mut Command<'_>, db: u16) {
    if db != 0 {
        command.keys_mut(&mut |key| *key = key.in_db(db));
    }
}

/// Whether `command` is one of [`admin`]'s: it reads or changes the
/// session or the server's settings and counters, not keys.
fn is_admin(command: &Command<'_>) -> bool {
    matches!(
        command,
        Command::Auth { .. }
            | Command::Hello { .. }
            | Command::Info(_)
            | Command::ConfigGet(_)
            | Command::CommandInfo(..)
            | Command::Help(_)
            | Command::Client(_)
            | Command::Stats
            | Command::BgRewriteAof
            | Command::ConfigSet(_)
            | Command::ConfigResetStat
            | Command::Reset
            | Command::Wait
            | Command::LastSave
            | Command::Role
    )
}

/// Whether `command` works on the session, the server or its channels
/// rather than on keys: inside EXEC it runs after the stripes are released.
fn runs_unlocked(command: &Command<'_>) -> bool {
    is_admin(command) || is_pubsub(command)
}

/// Whether `command` is one of [`pubsub`]'s.
fn is_pubsub(command: &Command<'_>) -> bool {
    matches!(
        command,
        Command::Subscribe { .. }
            | Command::Unsubscribe { .. }
            | Command::Publish { .. }
            | Command::PubSub(_)
    )
}

/// Whether a PING now is a subscribed RESP2 connection's, answered as a
/// `pong` message rather than `+PONG`.
fn confined_ping(ctx: &Context<'_>, session: &Session) -> bool {
    ctx.resp && session.protocol == 2 && session.pubsub.count() > 0
}

/// A subscribed RESP2 connection's PING reply: `pong` and the message, as
/// a message would come.
fn pong_message(message: Option<&[u8]>) -> Reply<'static> {
    Reply::Frame(Frame::Array(vec![
        Frame::Bulk(b"pong".to_vec()),
        Frame::Bulk(message.unwrap_or_default().to_vec()),
    ]))
}

/// Whether `command` is one of [`transaction`]'s.
fn is_transaction(command: &Command<'_>) -> bool {
    matches!(
        command,
        Command::Multi | Command::Exec | Command::Discard | Command::Watch(_) | Command::Unwatch
    )
}

/// The wall clock in Unix seconds.
fn unix_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A count as a RESP integer.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
