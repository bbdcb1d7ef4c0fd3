//! The admin commands: authentication (AUTH, HELLO), introspection (INFO,
//! CONFIG GET, COMMAND, STATS), the connection's own settings (CLIENT) and
//! the append-only file's compaction (BGREWRITEAOF).
//! They read the server's configuration and counters and the session; the
//! only store calls are for sizes and counts.

use std::time::Duration;

use super::clients::Match;
use super::tracking::{Options, State};
use super::{clamp, Context, Replies, Session, REDIS_VERSION};
use crate::aof::Aof;
use crate::config::{Fsync, DEFAULT_FSYNC};
use crate::glob::glob_match;
use crate::protocol::commands::{lookup, resp_commands, Framing, Spec, COMMANDS};
use crate::protocol::{
    ClientCommand, ClientError, Command, CommandQuery, Frame, Reply, ReplyMode, Setting,
    TrackingOptions,
};
use crate::stats::{Event, LocalCounts};
use crate::store::{Millis, Store};

/// The delay before answering a connection's first failed authentication.
/// Each further failure on the same connection doubles it, up to
/// [`MAX_AUTH_DELAY`]: a guesser gets about ten tries in its first two
/// seconds and one a second after that, while a person who mistyped waits
/// a moment. The delay holds no lock and slows no other connection.
pub const FIRST_AUTH_DELAY: Duration = Duration::from_millis(50);

/// The longest delay a failed authentication costs.
pub const MAX_AUTH_DELAY: Duration = Duration::from_secs(1);

/// The delay before answering the `failures`-th failed authentication.
fn auth_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_AUTH_DELAY
        .saturating_mul(1 << doublings)
        .min(MAX_AUTH_DELAY)
}

/// Executes an admin command; any other command is answered as unknown.
pub fn execute<'s>(
    command: Command<'_>,
    ctx: &Context<'_>,
    session: &mut Session,
    now: Millis,
    scratch: &'s mut Vec<u8>,
    counts: &mut LocalCounts,
) -> Reply<'s> {
    match command {
        Command::Auth { user, password } => authenticate(ctx, session, user, password),
        Command::Hello {
            version,
            auth,
            name,
        } => hello(ctx, session, version, auth, name),
        Command::Info(sections) => Reply::Frame(Frame::Verbatim(info(ctx, &sections))),
        Command::BgRewriteAof => match ctx.aof.map(Aof::request_rewrite) {
            Some(Ok(())) => Reply::Status("Background append only file rewriting started"),
            Some(Err(_)) => Reply::Error(ClientError::RewriteInProgress),
            None => Reply::Error(ClientError::AofOff),
        },
        Command::ConfigGet(patterns) => Reply::Frame(config_get(ctx, &patterns)),
        Command::CommandInfo(query) => command_info(&query),
        Command::Help(lines) => Reply::Frame(Frame::Array(
            lines.iter().map(|&line| Frame::Simple(line)).collect(),
        )),
        Command::Client(client) => execute_client(client, ctx, session, now, scratch),
        Command::ConfigSet(settings) => {
            // All or nothing: a fixed parameter asked to change refuses
            // the whole command.
            let current = parameters(ctx);
            for setting in &settings {
                if let Setting::Fixed(name, value) = setting {
                    let now = current.iter().find(|(n, _)| n == name).map(|(_, v)| v);
                    if !now.is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value)) {
                        return error(&format!(
                            "ERR CONFIG SET failed (possibly related to argument '{name}') - \
                             can't set immutable config"
                        ));
                    }
                }
            }
            for setting in settings {
                match setting {
                    Setting::Fixed(..) => {}
                    Setting::MaxMemory(0) => ctx.store.set_memory_limit(u64::MAX),
                    Setting::MaxMemory(bytes) => ctx.store.set_memory_limit(bytes),
                    Setting::MaxMemorySamples(n) => ctx.store.set_eviction_samples(n),
                    Setting::Timeout(0) => ctx.clients.set_idle_timeout(None),
                    Setting::Timeout(secs) => ctx
                        .clients
                        .set_idle_timeout(Some(Duration::from_secs(secs))),
                }
            }
            Reply::Ok
        }
        Command::ConfigResetStat => {
            *counts = LocalCounts::default();
            ctx.stats.reset();
            ctx.store.reset_counters();
            Reply::Ok
        }
        Command::Reset => {
            // Back to the state of a new connection: no transaction, no
            // watched key, database 0, no subscription, no tracking.
            session.multi = None;
            session.select(0);
            session.tracking = None;
            if let Some(client) = &session.client {
                session.pubsub.clear(client);
            }
            session.note_multi();
            session.watches.clear();
            session.set_protocol(2);
            session.set_name(None);
            session.authenticated = ctx.config.password.is_none();
            session.no_touch = false;
            if let Some(client) = &session.client {
                client.set_flag(false, false);
                client.set_flag(true, false);
            }
            Reply::Status("RESET")
        }
        Command::Wait => Reply::Number("WAIT", 0),
        Command::LastSave => {
            // Nothing is ever saved as a snapshot: Redis then reports the
            // time the server started.
            let unix = super::unix_now_secs().saturating_sub(ctx.stats.uptime().as_secs());
            Reply::Number("LASTSAVE", clamp(unix))
        }
        Command::Role => Reply::Frame(Frame::Array(vec![
            Frame::Bulk(b"master".to_vec()),
            Frame::Integer(0),
            Frame::Array(Vec::new()),
        ])),
        Command::Stats => {
            ctx.stats.add(counts);
            Reply::Stats(snapshot(ctx))
        }
        _ => Reply::Error(ClientError::UnknownCommand),
    }
}

/// CLIENT and its subcommands.
/// CLIENT CACHING outside OPTIN and OPTOUT, in Redis's words.
const CACHING_WITHOUT_MODE: &str = "ERR CLIENT CACHING can be called only when the client is \
                                    in tracking mode with OPTIN or OPTOUT mode enabled";

/// An error reply in Redis's own words (with its code).
fn error(text: &str) -> Reply<'static> {
    Reply::ErrorText(text.as_bytes().to_vec())
}

/// CLIENT TRACKING ON with `options`, checked in Redis's order.
fn track(options: TrackingOptions<'_>, ctx: &Context<'_>, session: &mut Session) -> Reply<'static> {
    if !options.prefixes.is_empty() && !options.bcast {
        return error("ERR PREFIX option requires BCAST mode to be enabled");
    }
    if options.optin && options.optout {
        return error("ERR You can't specify both OPTIN mode and OPTOUT mode");
    }
    if let Some(current) = session.tracking.as_ref().map(|t| &t.options) {
        if current.bcast != options.bcast {
            return error(
                "ERR You can't switch BCAST mode on/off before disabling tracking for this \
                 client, and then re-enabling it with a different mode.",
            );
        }
        if (options.optin && current.optout) || (options.optout && current.optin) {
            return error(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this \
                 client, and then re-enabling it with a different mode.",
            );
        }
    }
    if options.bcast && (options.optin || options.optout) {
        return error("ERR OPTIN and OPTOUT are not compatible with BCAST");
    }
    let redirect = match options.redirect {
        None => None,
        Some(id) => match u64::try_from(id) {
            Ok(id) if !ctx.clients.list(Some(&[id])).is_empty() => Some(id),
            _ => return error("ERR The client ID you want redirect to does not exist"),
        },
    };
    let Some(client) = session.client.clone() else {
        return error("ERR this connection cannot be tracked");
    };
    let options = Options {
        redirect,
        bcast: options.bcast,
        prefixes: options.prefixes.iter().map(|p| p.to_vec()).collect(),
        optin: options.optin,
        optout: options.optout,
        noloop: options.noloop,
    };
    // Pushes need RESP3; a RESP2 connection is told through a redirect
    // only, as in Redis.
    let own = (redirect.is_none() && session.protocol == 3)
        .then(|| session.pubsub.outbox_for(ctx.pubsub, &client, (true, 3)));
    session.tracking = None;
    session.tracking = Some(State::enable(ctx.tracking, &client, options, own));
    Reply::Ok
}

fn execute_client<'s>(
    client: ClientCommand<'_>,
    ctx: &Context<'_>,
    session: &mut Session,
    now: Millis,
    scratch: &'s mut Vec<u8>,
) -> Reply<'s> {
    match client {
        ClientCommand::SetName(name) => {
            session.set_name(Some(name));
            Reply::Ok
        }
        ClientCommand::GetName => match &session.name {
            Some(name) => {
                scratch.clear();
                scratch.extend_from_slice(name);
                Reply::Value(scratch)
            }
            None => Reply::NotFound,
        },
        ClientCommand::Id => Reply::Number("ID", clamp(session.id)),
        ClientCommand::SetInfo => Reply::Ok,
        ClientCommand::List(ids) => {
            let mut text = String::new();
            for client in ctx.clients.list(ids.as_deref()) {
                let own = (client.id == session.id).then_some(("client|list", session.request_len));
                client.describe(now, own, &mut text);
            }
            Reply::Frame(Frame::Verbatim(text))
        }
        ClientCommand::Info => {
            let mut text = String::new();
            if let Some(client) = &session.client {
                client.describe(now, Some(("client|info", session.request_len)), &mut text);
            }
            Reply::Frame(Frame::Verbatim(text))
        }
        ClientCommand::Reply(mode) => {
            session.replies = match mode {
                ReplyMode::On => Replies::On,
                ReplyMode::Off => Replies::Off,
                ReplyMode::Skip => Replies::Skip { armed: false },
            };
            Reply::Ok
        }
        ClientCommand::Tracking(None) => {
            session.tracking = None;
            Reply::Ok
        }
        ClientCommand::Tracking(Some(options)) => track(options, ctx, session),
        ClientCommand::Caching(word) => {
            let Some(state) = &mut session.tracking else {
                return error(CACHING_WITHOUT_MODE);
            };
            if !state.options.optin && !state.options.optout {
                return error(CACHING_WITHOUT_MODE);
            }
            let Some(yes) = word else {
                return Reply::Error(ClientError::Syntax);
            };
            match (state.options.optin, state.options.optout, yes) {
                (true, _, true) | (_, true, false) => {
                    state.caching = Some(yes);
                    Reply::Ok
                }
                (_, true, true) => error(
                    "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                ),
                (true, _, false) => error(
                    "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                ),
                _ => error(CACHING_WITHOUT_MODE),
            }
        }
        ClientCommand::GetRedir => {
            let redirect = session
                .tracking
                .as_ref()
                .map_or(-1, |t| t.options.redirect.map_or(0, clamp));
            Reply::Number("GETREDIR", redirect)
        }
        ClientCommand::TrackingInfo => {
            let (flags, redirect, mut prefixes) = match &session.tracking {
                None => (vec!["off"], -1, Vec::new()),
                Some(state) => (
                    state.flags(),
                    state.options.redirect.map_or(0, clamp),
                    state.options.prefixes.clone(),
                ),
            };
            // Redis keeps prefixes in a sorted tree and lists them so.
            prefixes.sort();
            let text = |s: &'static str| Frame::Bulk(s.as_bytes().to_vec());
            Reply::Frame(Frame::Map(vec![
                (
                    text("flags"),
                    Frame::Set(flags.into_iter().map(text).collect()),
                ),
                (text("redirect"), Frame::Integer(redirect)),
                (
                    text("prefixes"),
                    Frame::Array(prefixes.into_iter().map(Frame::Bulk).collect()),
                ),
            ]))
        }
        ClientCommand::Kill(filter) => {
            let what = Match {
                id: filter.id,
                addr: filter.addr,
                laddr: filter.laddr,
                skip: Some(session.id),
            };
            let mut killed = 0;
            if !filter.none {
                killed = ctx.clients.kill(&what);
                // The asking connection is never shut down under its own
                // reply: when it matches, it closes after sending it.
                let me = ctx.clients.list(Some(&[session.id]));
                if !filter.skip_me && me.first().is_some_and(|c| c.matches(&what)) {
                    session.close = true;
                    killed += 1;
                }
            }
            match (filter.old_style, killed) {
                (false, n) => Reply::Number("KILL", n as i64),
                (true, 0) => Reply::ErrorText(b"ERR No such client".to_vec()),
                (true, _) => Reply::Ok,
            }
        }
        ClientCommand::NoEvict(on) => {
            if let Some(client) = &session.client {
                client.set_flag(false, on);
            }
            Reply::Ok
        }
        ClientCommand::NoTouch(on) => {
            session.no_touch = on;
            if let Some(client) = &session.client {
                client.set_flag(true, on);
            }
            Reply::Ok
        }
    }
}

fn authenticate(
    ctx: &Context<'_>,
    session: &mut Session,
    user: Option<&[u8]>,
    password: &[u8],
) -> Reply<'static> {
    let default_user = user.map_or(true, |u| u == b"default");
    let accepted = match &ctx.config.password {
        // Without a password, the default user needs none, as in Redis.
        None if user.is_some() => default_user,
        None => return Reply::Error(ClientError::NoPasswordConfigured),
        Some(p) => default_user && p.matches(password),
    };
    if accepted {
        session.authenticated = true;
        Reply::Ok
    } else {
        ctx.stats.record(Event::AuthFailure);
        session.auth_failures = session.auth_failures.saturating_add(1);
        session.auth_delay = Some(auth_delay(session.auth_failures));
        Reply::Error(ClientError::WrongPass)
    }
}

fn hello(
    ctx: &Context<'_>,
    session: &mut Session,
    version: Option<u8>,
    auth: Option<(&[u8], &[u8])>,
    name: Option<&[u8]>,
) -> Reply<'static> {
    if let Some((user, password)) = auth {
        if let Reply::Error(e) = authenticate(ctx, session, Some(user), password) {
            return Reply::Error(e);
        }
    }
    if !session.authenticated {
        return Reply::ErrorText(
            b"NOAUTH HELLO must be called with the client already authenticated, otherwise \
              the HELLO AUTH <user> <pass> option can be used to authenticate the client and \
              select the RESP protocol version at the same time"
                .to_vec(),
        );
    }
    if let Some(version) = version {
        session.set_protocol(version);
    }
    if let Some(name) = name {
        session.set_name(Some(name));
    }
    let text = |s: &str| Frame::Bulk(s.as_bytes().to_vec());
    Reply::Frame(Frame::Map(vec![
        (text("server"), text("blink-store")),
        (text("version"), text(REDIS_VERSION)),
        (text("proto"), Frame::Integer(i64::from(session.protocol))),
        (text("id"), Frame::Integer(clamp(session.id))),
        (text("mode"), text("standalone")),
        (text("role"), text("master")),
        (text("modules"), Frame::Array(Vec::new())),
    ]))
}

/// INFO's text: Redis's sections, as Redis picks them: none named is
/// `default`; `default` is every section but the per-command and per-error
/// counts, `all` and `everything` every one; several may be named, each
/// section given once.
fn info(ctx: &Context<'_>, named: &[&[u8]]) -> String {
    let (stats, store, config) = (ctx.stats, ctx.store, ctx.config);
    let uptime = stats.uptime().as_secs();
    let is = |n: &&[u8], word: &str| n.eq_ignore_ascii_case(word.as_bytes());
    let all = named.iter().any(|n| is(n, "all") || is(n, "everything"));
    let default = named.is_empty() || named.iter().any(|n| is(n, "default"));
    let wanted = |name: &str, in_default: bool| {
        all || (default && in_default) || named.iter().any(|n| is(n, name))
    };
    let sections: [(&str, bool, String); 10] = [
        (
            "server",
            true,
            format!(
                "redis_version:{REDIS_VERSION}\r\nblink_store_version:{}\r\n\
                 redis_mode:standalone\r\narch_bits:64\r\nprocess_id:{}\r\n\
                 uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n",
                env!("CARGO_PKG_VERSION"),
                std::process::id(),
                uptime / 86_400,
            ),
        ),
        (
            "clients",
            true,
            format!(
                "connected_clients:{}\r\nmaxclients:{}\r\ntracking_clients:{}\r\n",
                // The registry CLIENT LIST and KILL see, not the count of
                // workers serving (which includes one still closing).
                ctx.clients.list(None).len(),
                config.threads,
                ctx.tracking.clients(),
            ),
        ),
        (
            "memory",
            true,
            format!(
                "used_memory:{}\r\nmaxmemory:{}\r\nmaxmemory_policy:allkeys-lru\r\n",
                store.usage(),
                maxmemory(store)
            ),
        ),
        (
            "stats",
            true,
            format!(
                "total_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                 rejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\n\
                 keyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\n\
                 pubsub_patterns:{}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\n\
                 tracking_total_prefixes:{}\r\ntracking_table_bytes:{}\r\n",
                stats.connections_total(),
                stats.commands(),
                stats.count(Event::Refused),
                store.expired(),
                store.evictions(),
                stats.get_hits(),
                stats.get_misses(),
                ctx.pubsub.channel_count(),
                ctx.pubsub.pattern_count(),
                ctx.tracking.keys(),
                ctx.tracking.items(),
                ctx.tracking.prefixes(),
                ctx.tracking.table_bytes(),
            ),
        ),
        ("persistence", true, persistence(ctx)),
        ("replication", true, REPLICATION.to_string()),
        ("cpu", true, cpu()),
        ("commandstats", false, command_stats(ctx)),
        ("errorstats", false, error_stats(ctx)),
        (
            "keyspace",
            true,
            store
                .db_counts(ctx.config.databases)
                .iter()
                .enumerate()
                .filter(|(_, &(keys, _))| keys > 0)
                .map(|(db, (keys, expires))| {
                    // Redis estimates avg_ttl from its expiry cycle's
                    // samples; none are kept here, and 0 is what Redis
                    // itself reports before it has sampled.
                    format!("db{db}:keys={keys},expires={expires},avg_ttl=0\r\n")
                })
                .collect(),
        ),
    ];
    let mut text = String::new();
    for (name, in_default, body) in sections {
        if wanted(name, in_default) {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            let mut title = name.to_string();
            if name == "cpu" {
                title.make_ascii_uppercase();
            } else {
                title[..1].make_ascii_uppercase();
            }
            text.push_str(&format!("# {title}\r\n{body}"));
        }
    }
    text
}

/// INFO's `# Replication`: a primary with no replicas, as Redis reports
/// one that has never had any.
const REPLICATION: &str = "role:master\r\nconnected_slaves:0\r\n\
     master_failover_state:no-failover\r\n\
     master_replid:0000000000000000000000000000000000000000\r\n\
     master_replid2:0000000000000000000000000000000000000000\r\n\
     master_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n\
     repl_backlog_size:0\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n";

/// Clock ticks per second of the times in `/proc/self/stat` (`USER_HZ`,
/// 100 on every Linux).
const USER_HZ: u64 = 100;

/// INFO's `# CPU`: the process's system and user CPU time, and its
/// children's, in seconds, from `/proc/self/stat` (zeros where there is
/// none).
fn cpu() -> String {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses and may
    // hold blanks): utime is the 14th field of the line, stime the 15th,
    // cutime and cstime the 16th and 17th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = |i: usize| fields.get(i).copied().unwrap_or(0);
    let secs = |t: u64| format!("{}.{:06}", t / USER_HZ, t % USER_HZ * (1_000_000 / USER_HZ));
    format!(
        "used_cpu_sys:{}\r\nused_cpu_user:{}\r\nused_cpu_sys_children:{}\r\n\
         used_cpu_user_children:{}\r\n",
        secs(ticks(1)),
        secs(ticks(0)),
        secs(ticks(3)),
        secs(ticks(2)),
    )
}

/// INFO's `# Commandstats`: each command run or refused since start (or
/// CONFIG RESETSTAT), as Redis names them. `usec` is measured on one call
/// in [`crate::stats::TIMED_ONE_IN`] and stands for the others.
fn command_stats(ctx: &Context<'_>) -> String {
    let mut text = String::new();
    for (row, spec) in COMMANDS.iter().enumerate() {
        let c = ctx.stats.command(row);
        if c.calls == 0 && c.rejected == 0 {
            continue;
        }
        let per_call = if c.calls == 0 {
            0.0
        } else {
            c.usec as f64 / c.calls as f64
        };
        text.push_str(&format!(
            "cmdstat_{}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},\
             failed_calls={}\r\n",
            spec.name, c.calls, c.usec, c.rejected, c.failed
        ));
    }
    text
}

/// INFO's `# Errorstats`: error replies by their code.
fn error_stats(ctx: &Context<'_>) -> String {
    ctx.stats
        .errors()
        .iter()
        .map(|(code, n)| format!("errorstat_{code}:count={n}\r\n"))
        .collect()
}

/// The parameters CONFIG GET knows, with their values now: Redis's that
/// have a meaning here.
fn parameters(ctx: &Context<'_>) -> Vec<(&'static str, String)> {
    let config = ctx.config;
    let idle = ctx.clients.idle_timeout().map_or(0, |t| t.as_secs());
    let aof = config.aof.as_ref();
    let appendonly = if aof.is_some() { "yes" } else { "no" };
    let fsync = aof.map_or(DEFAULT_FSYNC, |aof| aof.fsync);
    vec![
        ("maxmemory", maxmemory(ctx.store).to_string()),
        ("maxmemory-policy", "allkeys-lru".to_string()),
        (
            "maxmemory-samples",
            ctx.store.eviction_samples().to_string(),
        ),
        ("maxclients", config.threads.to_string()),
        ("timeout", idle.to_string()),
        ("save", String::new()),
        ("appendonly", appendonly.to_string()),
        ("appendfsync", fsync_name(fsync).to_string()),
        ("databases", ctx.config.databases.to_string()),
        ("proto-max-bulk-len", config.max_value_size.to_string()),
        ("unixsocketperm", format!("{:o}", config.unix_perm)),
        (
            "tracking-table-max-keys",
            config.tracking_table_max_keys.to_string(),
        ),
        (
            "port",
            ctx.listening
                .tcp
                .first()
                .map_or(0, |a| a.port())
                .to_string(),
        ),
        (
            "bind",
            ctx.listening
                .tcp
                .iter()
                .map(|a| a.ip().to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        (
            "unixsocket",
            ctx.listening
                .unix
                .first()
                .map_or(String::new(), |p| p.display().to_string()),
        ),
        // No replication: never anyone's replica.
        ("replicaof", String::new()),
        ("slaveof", String::new()),
    ]
}

/// CONFIG GET: every parameter matched by a pattern, once.
fn config_get(ctx: &Context<'_>, patterns: &[&[u8]]) -> Frame {
    let pairs = parameters(ctx)
        .into_iter()
        .filter(|(name, _)| {
            patterns
                .iter()
                .any(|p| glob_match(&p.to_ascii_lowercase(), name.as_bytes()))
        })
        .map(|(name, value)| {
            (
                Frame::Bulk(name.as_bytes().to_vec()),
                Frame::Bulk(value.into_bytes()),
            )
        })
        .collect();
    Frame::Map(pairs)
}

/// The memory limit as Redis reports `maxmemory`: 0 for none.
fn maxmemory(store: &Store) -> u64 {
    match store.memory_limit() {
        u64::MAX => 0,
        limit => limit,
    }
}

/// COMMAND and its subcommands, derived from the command table.
fn command_info(query: &CommandQuery<'_>) -> Reply<'static> {
    let entries =
        |specs: &mut dyn Iterator<Item = Frame>| Reply::Frame(Frame::Array(specs.collect()));
    match query {
        CommandQuery::All => entries(&mut resp_commands().map(command_entry)),
        CommandQuery::Count => Reply::Number("COMMAND", resp_commands().count() as i64),
        CommandQuery::List => {
            entries(&mut resp_commands().map(|spec| Frame::Bulk(spec.name.as_bytes().to_vec())))
        }
        CommandQuery::Info(names) => entries(
            &mut names
                .iter()
                .map(|name| lookup(name, Framing::Resp).map_or(Frame::Null, command_entry)),
        ),
        CommandQuery::Docs => Reply::Frame(Frame::Map(Vec::new())),
    }
}

/// One command as Redis 7 describes it: name, arity, flags, first key,
/// last key, step, ACL categories, tips, key specifications and
/// subcommands (the last three empty here).
fn command_entry(spec: &Spec) -> Frame {
    let simple =
        |names: &[&'static str]| Frame::Array(names.iter().map(|&n| Frame::Simple(n)).collect());
    let (first, last, step) = spec.keys;
    Frame::Array(vec![
        Frame::Bulk(spec.name.as_bytes().to_vec()),
        Frame::Integer(spec.arity),
        simple(spec.flags),
        Frame::Integer(first),
        Frame::Integer(last),
        Frame::Integer(step),
        simple(spec.categories),
        Frame::Array(Vec::new()),
        Frame::Array(Vec::new()),
        Frame::Array(Vec::new()),
    ])
}

/// The `STATS` lines, in their documented order. New metrics are appended.
fn snapshot(ctx: &Context<'_>) -> Vec<(&'static str, u64)> {
    let (stats, store) = (ctx.stats, ctx.store);
    let aof = ctx.aof.map(Aof::report);
    vec![
        ("uptime_seconds", stats.uptime().as_secs()),
        ("connections_current", stats.connections_current()),
        ("connections_total", stats.connections_total()),
        ("connections_rejected", stats.count(Event::Refused)),
        ("commands_processed", stats.commands()),
        ("get_hits", stats.get_hits()),
        ("get_misses", stats.get_misses()),
        ("keys", store.len() as u64),
        ("bytes", store.usage()),
        ("memory_limit", maxmemory(store)),
        ("evictions", store.evictions()),
        ("expired_keys", store.expired()),
        ("pool_size", ctx.config.threads as u64),
        ("timeouts_idle", stats.count(Event::IdleTimeout)),
        ("timeouts_request", stats.count(Event::RequestTimeout)),
        ("timeouts_write", stats.count(Event::WriteTimeout)),
        ("timeouts_auth", stats.count(Event::AuthTimeout)),
        (
            "kicks_unauthenticated",
            stats.count(Event::KickUnauthenticated),
        ),
        ("auth_failures", stats.count(Event::AuthFailure)),
        ("aof_enabled", u64::from(aof.is_some())),
        ("aof_current_size", aof.map_or(0, |a| a.current_size)),
        ("aof_base_size", aof.map_or(0, |a| a.base_size)),
        ("aof_pending_bytes", aof.map_or(0, |a| a.pending_bytes)),
        (
            "aof_last_write_ok",
            u64::from(aof.map_or(true, |a| a.last_write_ok)),
        ),
        (
            "aof_last_fsync_age_ms",
            aof.map_or(0, |a| a.last_fsync_age_ms),
        ),
        (
            "aof_rewrite_in_progress",
            u64::from(aof.is_some_and(|a| a.rewrite_in_progress)),
        ),
        (
            "aof_last_bgrewrite_ok",
            u64::from(aof.map_or(true, |a| a.last_rewrite_ok)),
        ),
        ("aof_rewrites", aof.map_or(0, |a| a.rewrites)),
        ("pubsub_channels", ctx.pubsub.channel_count() as u64),
        ("pubsub_patterns", ctx.pubsub.pattern_count() as u64),
        (
            "pubsub_subscribers",
            ctx.clients
                .list(None)
                .iter()
                .filter(|c| c.subscribed())
                .count() as u64,
        ),
        ("pubsub_slow_disconnected", ctx.pubsub.slow_disconnected()),
        ("tracking_clients", ctx.tracking.clients() as u64),
        ("tracking_keys", ctx.tracking.keys() as u64),
    ]
}

/// INFO's `# Persistence`: Redis's names, with what applies here (no
/// snapshots).
fn persistence(ctx: &Context<'_>) -> String {
    let Some(aof) = ctx.aof.map(Aof::report) else {
        return "loading:0\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\n".to_string();
    };
    let ok = |ok: bool| if ok { "ok" } else { "err" };
    format!(
        "loading:0\r\naof_enabled:1\r\naof_rewrite_in_progress:{}\r\n\
         aof_last_bgrewrite_status:{}\r\naof_last_write_status:{}\r\n\
         aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_bytes:{}\r\n\
         aof_last_fsync_ms:{}\r\naof_fsync_policy:{}\r\n",
        u8::from(aof.rewrite_in_progress),
        ok(aof.last_rewrite_ok),
        ok(aof.last_write_ok),
        aof.current_size,
        aof.base_size,
        aof.pending_bytes,
        aof.last_fsync_age_ms,
        fsync_name(aof.fsync),
    )
}

/// `--appendfsync`'s value as Redis names it.
fn fsync_name(fsync: Fsync) -> &'static str {
    match fsync {
        Fsync::Always => "always",
        Fsync::EverySec => "everysec",
        Fsync::No => "no",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_logins_cost_a_doubling_delay_up_to_a_second() {
        let delays: Vec<u64> = (1..=8).map(|n| auth_delay(n).as_millis() as u64).collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
        assert_eq!(auth_delay(u32::MAX), MAX_AUTH_DELAY);
    }
}
