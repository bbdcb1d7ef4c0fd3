//! MULTI, EXEC, DISCARD, WATCH and UNWATCH: a connection's queue and
//! watches, and running a queue as one step.
//!
//! ## Queueing
//!
//! After MULTI, a RESP request is not run: [`queue`] checks what Redis
//! checks when it queues (the command exists, its arity, a subcommand's
//! name and arity, the login gate, the write gate), answers `+QUEUED` and
//! keeps an owned copy of its arguments (a parsed command borrows the
//! connection's read buffer, which the next request reuses). A failed
//! check is answered at once and aborts the transaction: its EXEC answers
//! `EXECABORT`. So does a command that acts at once refused for its
//! arguments (`WATCH` alone, `DISCARD x`); an EXEC so refused, in a
//! transaction or not, discards it and the watches and says why
//! ([`refused`]), as Redis's does. Everything else
//! (a syntax error in SET's options, a value that is not an integer) is
//! found when EXEC parses and runs the command, and is that command's
//! reply, as in Redis. EXEC, DISCARD, MULTI, WATCH, QUIT and RESET are
//! never queued (Redis's list); AUTH, HELLO and SHUTDOWN ([`NOT_QUEUED`])
//! are refused inside MULTI, which aborts it. A text request inside MULTI
//! is refused the same way: transactions are RESP's.
//!
//! The queue is bounded: [`MAX_QUEUED`] commands, and their argument bytes
//! together by `--max-request-size` (the most one request may carry). A
//! command past either bound is answered with an error and aborts the
//! transaction, so a client can make the server hold no more for a
//! transaction than for its largest request, plus the count's small
//! overhead.
//!
//! ## EXEC
//!
//! EXEC parses every queued command, then works out the stripes they touch:
//! the stripes of their keys, or every stripe for a command whose keys are
//! known only as it runs (FLUSHALL, KEYS, SCAN, RANDOMKEY, DBSIZE), and the
//! stripes of the watched keys. It asks the store to reserve an upper bound
//! of the bytes the writes may add (their arguments' bytes, plus
//! [`WRITE_SLACK`] each for what an INCR's digits may grow by), evicting as
//! needed with no lock held, then to hold those stripes' write locks
//! ([`crate::store::Held`]). If the bytes cannot be found the transaction
//! fails as a whole with `-OOM` (also when the bound alone passes the
//! memory limit). Under the locks it checks the watches,
//! runs each command through the same [`super::data`] code as outside a
//! transaction, and releases the locks once all have run; each reply is
//! encoded as it comes, and EXEC answers them as one array. The commands
//! about the connection or the server (INFO, CONFIG, CLIENT, COMMAND,
//! BGREWRITEAOF, WAIT, LASTSAVE, ROLE) touch no key and read counters
//! that take stripe locks of their own, so they run just after the locks
//! are released, in their order, their replies put in their places: an
//! INFO in a transaction sees all of it done.
//!
//! ## WATCH
//!
//! WATCH notes, for each key, the version of its stripe's hash bucket and
//! the key's deadline (see [`crate::store::Watch`]), at most
//! [`MAX_WATCHED`] keys per connection. EXEC, holding the watched stripes,
//! answers a null array when any of them changed since, or a noted
//! deadline has passed; EXEC, DISCARD, UNWATCH and RESET forget the
//! watches. Nothing is registered anywhere else, so a closed connection
//! leaves nothing behind. A transaction that fails as a whole (`-OOM`) or
//! is aborted forgets its watches too, as Redis's EXEC does.

use super::{data, Context, Session};
use crate::protocol::commands::{self, Gate, Spec, COMMANDS};
use crate::protocol::framer::{Args, Request};
use crate::protocol::{resp, ClientError, Command, KeyScope, Limits, Reply};
use crate::stats::LocalCounts;
use crate::store::{Block, Millis, Store};

/// Most commands one transaction may queue: enough for any batch a client
/// means to run as one, few enough that the queue's bookkeeping stays
/// small.
pub const MAX_QUEUED: usize = 10_000;

/// Most keys one connection may watch at once (24 bytes each).
pub const MAX_WATCHED: usize = 10_000;

/// Bytes a queued write may add beyond its arguments' bytes, for the
/// reservation EXEC makes before it locks: an INCR's result can be a few
/// digits longer than anything it was given, an INCRBYFLOAT's a few dozen.
const WRITE_SLACK: u64 = 64;

/// The commands refused inside MULTI: they change who the connection is
/// or how it is answered (AUTH, HELLO), or end the server (SHUTDOWN), so
/// they do not belong in the middle of a reply array.
const NOT_QUEUED: &[&str] = &["auth", "hello", "shutdown"];

/// The commands that act at once even inside MULTI, as in Redis.
const IMMEDIATE: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// A connection's open transaction: what MULTI started.
#[derive(Debug, Default)]
pub struct Queue {
    commands: Vec<Queued>,
    /// Argument bytes of every queued command.
    bytes: usize,
    /// A command could not be queued: EXEC answers EXECABORT.
    aborted: bool,
}

/// One queued request: its arguments, owned.
#[derive(Debug)]
struct Queued {
    data: Vec<u8>,
    bounds: Vec<(usize, usize)>,
    /// Whether the command may write (Redis's `write` flag).
    writes: bool,
}

impl Queue {
    /// Commands queued so far.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }
}

impl Queued {
    fn args(&self) -> Args<'_> {
        Args::new(&self.data, &self.bounds)
    }
}

/// Whether `request`, on a connection with an open transaction, is to be
/// queued (or refused as a queued command would be) rather than run.
pub fn queues(request: &Request<'_>) -> bool {
    match request {
        Request::Line(_) => true,
        Request::Resp(args) => {
            let name = args.get(0);
            !IMMEDIATE
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
        }
    }
}

/// Queues `request` in `session`'s open transaction, or refuses it and
/// aborts the transaction. See the module documentation.
pub fn queue(
    request: Request<'_>,
    session: &mut Session,
    limits: &Limits,
    writable: bool,
    memory_limit: u64,
) -> Reply<'static> {
    let gate = session.gate(writable);
    let Some(queue) = session.multi.as_mut() else {
        return Reply::Error(ClientError::ExecWithoutMulti);
    };
    let admitted = match request {
        Request::Line(_) => Err(Reply::Error(ClientError::NotInTransaction)),
        Request::Resp(args) => {
            admit(&args, queue, limits, gate, memory_limit).map(|spec| (spec, args))
        }
    };
    match admitted {
        Ok((spec, args)) => {
            let mut data = Vec::new();
            let mut bounds = Vec::with_capacity(args.len());
            for i in 0..args.len() {
                let start = data.len();
                data.extend_from_slice(args.get(i));
                bounds.push((start, data.len()));
            }
            queue.bytes += data.len();
            queue.commands.push(Queued {
                data,
                bounds,
                writes: spec.writes(),
            });
            session.note_multi();
            Reply::Status("QUEUED")
        }
        Err(reply) => {
            queue.aborted = true;
            reply
        }
    }
}

/// The checks a command passes to be queued.
fn admit(
    args: &Args<'_>,
    queue: &Queue,
    limits: &Limits,
    gate: Gate,
    memory_limit: u64,
) -> Result<&'static Spec, Reply<'static>> {
    let spec = commands::admit_resp(args, gate)?;
    // Redis looks a subcommand up as a command of its own, so one it does
    // not know, or one with the wrong number of arguments, is refused here
    // rather than answered by EXEC.
    if let (true, Some(parse)) = (spec.has_subcommands(), spec.resp) {
        match parse(args, limits) {
            Err(refusal) if resp::refused_at_lookup(&refusal) => return Err(refusal),
            _ => {}
        }
    }
    // A write that could never fit is refused when queued, as Redis
    // refuses a command that may use memory while over the limit.
    let payload: usize = (1..args.len()).map(|i| args.get(i).len()).sum();
    if spec.denies_oom() && payload as u64 > memory_limit {
        return Err(Reply::Error(ClientError::OutOfMemory));
    }
    if NOT_QUEUED.contains(&spec.name) {
        return Err(Reply::Error(ClientError::NotInTransaction));
    }
    let bytes: usize = (0..args.len()).map(|i| args.get(i).len()).sum();
    if queue.commands.len() >= MAX_QUEUED || queue.bytes + bytes > limits.max_request_size {
        return Err(Reply::Error(ClientError::QueueFull));
    }
    Ok(spec)
}

/// Answers a request refused before it ran (an unknown command, the wrong
/// number of arguments, a gate), as Redis does: an open transaction is
/// marked failed, so that its EXEC answers `EXECABORT`; an EXEC so refused
/// discards the transaction, if any, and the watches, and says why.
pub fn refused(
    name: &[u8],
    resp: bool,
    refusal: Reply<'static>,
    session: &mut Session,
) -> Reply<'static> {
    if resp && name.eq_ignore_ascii_case(b"exec") {
        session.multi = None;
        session.watches.clear();
        session.note_multi();
        return resp::exec_refused(&refusal);
    }
    if let Some(queue) = session.multi.as_mut() {
        queue.aborted = true;
    }
    refusal
}

/// Runs MULTI, DISCARD, WATCH and UNWATCH (outside a transaction's queue)
/// and EXEC.
pub fn execute(
    command: Command<'_>,
    ctx: &Context<'_>,
    session: &mut Session,
    now: Millis,
    counts: &mut LocalCounts,
) -> Reply<'static> {
    match command {
        Command::Multi if session.multi.is_some() => Reply::Error(ClientError::NestedMulti),
        Command::Multi => {
            session.multi = Some(Queue::default());
            session.note_multi();
            Reply::Ok
        }
        Command::Discard => match session.multi.take() {
            None => Reply::Error(ClientError::DiscardWithoutMulti),
            Some(_) => {
                session.watches.clear();
                session.note_multi();
                Reply::Ok
            }
        },
        Command::Watch(_) if session.multi.is_some() => Reply::Error(ClientError::WatchInMulti),
        Command::Watch(keys) => {
            if session.watches.len() + keys.len() > MAX_WATCHED {
                return Reply::Error(ClientError::TooManyWatched);
            }
            let watched = keys.into_iter().map(|key| ctx.store.watch(key, now));
            session.watches.extend(watched);
            Reply::Ok
        }
        Command::Unwatch => {
            session.watches.clear();
            Reply::Ok
        }
        Command::Exec => exec(ctx, session, now, counts),
        _ => Reply::Error(ClientError::UnknownCommand),
    }
}

/// EXEC: see the module documentation.
fn exec(
    ctx: &Context<'_>,
    session: &mut Session,
    now: Millis,
    counts: &mut LocalCounts,
) -> Reply<'static> {
    let Some(queue) = session.multi.take() else {
        return Reply::Error(ClientError::ExecWithoutMulti);
    };
    session.note_multi();
    let watches = std::mem::take(&mut session.watches);
    if queue.aborted {
        return Reply::Error(ClientError::ExecAbort);
    }
    let mut parsed: Vec<Result<(usize, Command<'_>), Reply<'static>>> = queue
        .commands
        .iter()
        .map(|q| {
            let request = Request::Resp(q.args());
            commands::parse_row(request, ctx.limits, session.gate(ctx.writable))
        })
        .collect();
    let store = ctx.store;
    let mut wanted = [false; 64];
    for (_, command) in parsed.iter_mut().flatten() {
        if !mark_stripes(command, store, &mut wanted) {
            wanted = [true; 64];
        }
    }
    for watch in &watches {
        wanted[watch.stripe()] = true;
    }
    let stripes: Vec<usize> = Store::all_stripes().filter(|&i| wanted[i]).collect();
    let bound = queue
        .commands
        .iter()
        .filter(|q| q.writes)
        .map(|q| q.data.len() as u64 + WRITE_SLACK)
        .sum();
    let block = Block::default();
    let mut held = match store.hold(&stripes, bound, now, &block) {
        Ok(held) => held,
        Err(_) => return Reply::Error(ClientError::ExecAbortOom),
    };
    if !held.unchanged(&watches, now) {
        return Reply::NullArray;
    }
    let mut body = Vec::new();
    let mut scratch = Vec::new();
    // The connection and server commands, and where their replies go.
    let mut later = Vec::new();
    let touch = !session.no_touch;
    for command in parsed {
        counts.commands += 1;
        let reply = match command.map(|(row, command)| (COMMANDS[row].reads(), command)) {
            Err(refusal) => refusal,
            // UNWATCH queued: EXEC has already forgotten the watches.
            Ok((_, Command::Unwatch)) => Reply::Ok,
            // The commands after it run in the database it selects (a
            // key's stripe does not depend on its database, so the
            // stripes held are still the right ones).
            Ok((_, Command::Select(n))) => session.run_select(n, ctx),
            // Publish/subscribe needs no stripe, and a PING after a
            // SUBSCRIBE must see it: run in place.
            Ok((_, command)) if super::is_pubsub(&command) => session.run_pubsub(command, ctx),
            Ok((_, Command::Ping(message))) if super::confined_ping(ctx, session) => {
                super::pong_message(message)
            }
            Ok((_, command)) if super::is_admin(&command) => {
                later.push((body.len(), command));
                continue;
            }
            Ok((reads, mut command)) => {
                super::in_db(&mut command, session.db);
                if session.note_reads(&mut command, &Context { reads, ..*ctx }) {
                    session.spend_caching();
                }
                let db = session.db;
                data::execute(
                    command,
                    ctx,
                    &mut held,
                    db,
                    now,
                    touch,
                    &mut scratch,
                    counts,
                )
            }
        };
        // Into a vector, writing cannot fail.
        let _ = resp::write_reply(&mut body, &reply, session.protocol);
    }
    drop(held);
    if !later.is_empty() {
        let mut whole = Vec::with_capacity(body.len());
        let mut from = 0;
        for (at, command) in later {
            whole.extend_from_slice(&body[from..at]);
            from = at;
            let reply = super::admin::execute(command, ctx, session, now, &mut scratch, counts);
            let _ = resp::write_reply(&mut whole, &reply, session.protocol);
        }
        whole.extend_from_slice(&body[from..]);
        body = whole;
    }
    Reply::Transaction {
        count: queue.commands.len(),
        body,
    }
}

/// Marks in `wanted` the stripes `command` may touch: its keys' stripes,
/// or none when it touches no key. Returns `false` when its keys are known
/// only as it runs: it needs every stripe.
fn mark_stripes(command: &mut Command<'_>, store: &Store, wanted: &mut [bool; 64]) -> bool {
    if super::runs_unlocked(command) {
        // Run after the locks are released (see `exec`).
        return true;
    }
    let scope = command.keys_mut(&mut |key| wanted[store.stripe_of(*key)] = true);
    scope == KeyScope::Named
}
