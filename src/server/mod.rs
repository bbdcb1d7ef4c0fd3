//! Listeners, admission and the worker pool.
//!
//! [`Server::bind`] opens every listener before anything runs, so a bad
//! address fails at once with one clear error. [`Server::run`] then starts
//! one accept thread per listener; each accepted socket either takes a
//! worker permit and goes to the fixed `threadpool` pool, or is refused on
//! the spot (see [`listener`]). A worker serves one connection from start to
//! end ([`connection`]).
//!
//! A background thread runs the store's active expiry cycle.
//!
//! With `--aof`, [`Server::bind`] replays the log into the store before
//! anything is served and attaches it ([`crate::aof::Aof::open`]); a log
//! that cannot be loaded stops the start with [`BindError::Aof`].
//!
//! The server knows nothing of eviction or of the protocol's commands: it
//! moves bytes between sockets and [`crate::exec`].

mod connection;
mod listener;
mod outlet;
#[cfg(unix)]
mod unix;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use threadpool::ThreadPool;

use crate::aof::{Aof, AofError};
use crate::config::Config;
use crate::exec::clients::Clients;
use crate::exec::pubsub::PubSub;
use crate::exec::tracking::Tracking;
use crate::exec::Listening;
use crate::protocol::Limits;
use crate::stats::Stats;
use crate::store::{Clock, Store, StoreConfig, ACTIVE_EXPIRE_BUDGET, ACTIVE_EXPIRE_INTERVAL};

use listener::{Admission, Listen};
use outlet::Stragglers;

/// Stack of each worker thread. A connection's buffers live on the heap, so
/// a handler needs little stack; a small one keeps hundreds of threads cheap.
const WORKER_STACK: usize = 256 << 10;

/// Workers started before the server begins serving; the rest of the pool
/// is started while the first clients are served, so that start-up does not
/// wait for hundreds of threads.
const FIRST_WORKERS: usize = 16;

/// Stack of each accept thread.
const ACCEPT_STACK: usize = 64 << 10;

/// How much longer than the write timeout SHUTDOWN waits for replies still
/// being sent to slow clients: one send's slice of it, and room to wake.
const STRAGGLER_MARGIN: Duration = Duration::from_secs(1);

/// What every worker shares: the store and the rules of the protocol.
pub struct Shared {
    pub store: Store,
    pub clock: Clock,
    pub limits: Limits,
    pub stats: Stats,
    /// The settings the server was started with (password, limits, ...).
    pub config: Config,
    /// The next CLIENT ID to hand out.
    pub next_client_id: AtomicU64,
    /// Every live connection, and the idle timeout (CONFIG SET timeout).
    pub clients: Clients,
    /// The append-only file, with `--aof`: replies to writes wait for it.
    pub aof: Option<Arc<Aof>>,
    /// Held shared by every connection while it works through a batch of
    /// requests (never while it waits for one), and exclusively by
    /// SHUTDOWN, which so waits for the requests in flight to be answered.
    pub in_flight: RwLock<()>,
    /// Every channel and pattern subscription.
    pub pubsub: Arc<PubSub>,
    /// Client-side caching: which connections read which keys.
    pub tracking: Arc<Tracking>,
    /// The addresses bound.
    pub listening: Listening,
    /// Whether connections prefetch a pipelined batch's keys
    /// (`--prefetch`, decided once at start).
    pub prefetch: bool,
    /// Replies to slow clients being finished on threads of their own,
    /// which SHUTDOWN waits for.
    pub stragglers: Arc<Stragglers>,
}

impl Shared {
    /// SHUTDOWN: waits for the requests in flight to be answered, syncs
    /// the append-only file, waits for replies still being sent to slow
    /// clients (each no longer than the write timeout), removes the Unix
    /// socket files and ends the process, with status 0, or 1 when the log
    /// could not be synced. The caller must not hold [`Shared::in_flight`].
    pub fn shutdown(&self) -> ! {
        log::info!("shutting down: finishing the requests in flight");
        let _all = self.in_flight.write();
        let mut status = 0;
        if let Some(aof) = &self.aof {
            if let Err(e) = aof.sync_all() {
                log::error!("shutting down: cannot sync {}: {e}", aof.path().display());
                status = 1;
            }
        }
        // Each straggler gives up at its connection's write deadline; the
        // margin covers its last send's slice.
        let deadline = Instant::now() + self.config.write_timeout + STRAGGLER_MARGIN;
        if !self.stragglers.wait_until(deadline) {
            log::warn!("shutting down: replies to a slow client are still unsent");
        }
        for path in &self.config.unix {
            let _ = std::fs::remove_file(path);
        }
        log::info!("shut down");
        std::process::exit(status)
    }
}

/// Why the server could not start listening.
#[derive(Debug)]
pub enum BindError {
    /// The TCP address did not parse or resolve.
    Address(String, io::Error),
    Tcp(SocketAddr, io::Error),
    Unix(PathBuf, io::Error),
    /// Another server answers on this Unix socket.
    UnixInUse(PathBuf),
    /// The Unix socket path exists and is not a socket; it is left alone.
    NotASocket(PathBuf),
    /// A non-loopback address without a password or the explicit opt-out.
    Unprotected(SocketAddr),
    /// The append-only file could not be replayed or opened.
    Aof(AofError),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::Address(addr, e) => {
                write!(f, "cannot listen on tcp {addr}: bad address ({e})")
            }
            BindError::Tcp(addr, e) => write!(f, "cannot listen on tcp {addr}: {e}"),
            BindError::Unix(path, e) => {
                write!(f, "cannot listen on unix {}: {e}", path.display())
            }
            BindError::UnixInUse(path) => write!(
                f,
                "cannot listen on unix {}: another server is answering there",
                path.display()
            ),
            BindError::NotASocket(path) => write!(
                f,
                "cannot listen on unix {}: the path exists and is not a socket",
                path.display()
            ),
            BindError::Unprotected(addr) => write!(
                f,
                "refusing to listen on tcp {addr} without a password: anyone who can reach it \
                 could use the store; set a password with --password-file PATH (or \
                 BLINK_PASSWORD), or pass --allow-unauthenticated to take the risk knowingly"
            ),
            BindError::Aof(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BindError {}

/// A server whose listeners are bound and whose pool is ready.
pub struct Server {
    tcp: Vec<TcpListener>,
    #[cfg(unix)]
    unix: Vec<(PathBuf, UnixListener)>,
    shared: Arc<Shared>,
    admission: Arc<Admission>,
    pool: ThreadPool,
}

impl Server {
    /// Binds every listener of `config` and creates the store and pool.
    pub fn bind(config: &Config) -> Result<Server, BindError> {
        Server::bind_with_clock(config, Clock::new())
    }

    /// As [`Server::bind`], with the clock that dates accesses and expiry
    /// (tests pass a [`Clock::manual`] one).
    pub fn bind_with_clock(config: &Config, clock: Clock) -> Result<Server, BindError> {
        let protected = config.password.is_some() || config.allow_unauthenticated;
        let mut tcp = Vec::new();
        for addr in &config.tcp {
            for resolved in resolve(addr)? {
                if !resolved.ip().is_loopback() && !protected {
                    return Err(BindError::Unprotected(resolved));
                }
                tcp.push(TcpListener::bind(resolved).map_err(|e| BindError::Tcp(resolved, e))?);
            }
        }
        #[cfg(unix)]
        let unix = config
            .unix
            .iter()
            .map(|path| Ok((path.clone(), unix::bind(path, config.unix_perm)?)))
            .collect::<Result<Vec<_>, BindError>>()?;
        #[cfg(not(unix))]
        if let Some(path) = config.unix.first() {
            let unsupported = io::ErrorKind::Unsupported;
            let e = io::Error::new(unsupported, crate::config::UNIX_UNSUPPORTED);
            return Err(BindError::Unix(path.clone(), e));
        }
        let mut store = Store::new(StoreConfig::new(
            config.memory_limit,
            config.eviction_samples,
        ));
        let aof = match &config.aof {
            Some(aof) => {
                Some(Aof::open(aof, config.databases, &mut store, &clock).map_err(BindError::Aof)?)
            }
            None => None,
        };
        let pubsub = Arc::new(PubSub::default());
        let tracking = Arc::new(Tracking::new(
            config.tracking_table_max_keys,
            Arc::clone(&pubsub),
        ));
        store.add_journal(Arc::clone(&tracking) as Arc<dyn crate::store::Journal>);
        let shared = Arc::new(Shared {
            store,
            clock,
            limits: Limits::new(config.max_value_size, config.max_request_size),
            stats: Stats::new(),
            config: config.clone(),
            next_client_id: AtomicU64::new(1),
            clients: Clients::new(config.idle_timeout),
            aof,
            in_flight: RwLock::new(()),
            pubsub,
            tracking,
            listening: Listening {
                tcp: tcp.iter().filter_map(|l| l.local_addr().ok()).collect(),
                #[cfg(unix)]
                unix: unix.iter().map(|(path, _)| path.clone()).collect(),
                #[cfg(not(unix))]
                unix: Vec::new(),
            },
            prefetch: config.prefetch.enabled(),
            stragglers: Arc::default(),
        });
        let pool = threadpool::Builder::new()
            .num_threads(config.threads.min(FIRST_WORKERS))
            .thread_name("blink-worker".into())
            .thread_stack_size(WORKER_STACK)
            .build();
        Ok(Server {
            tcp,
            #[cfg(unix)]
            unix,
            shared,
            admission: Arc::new(Admission::new(config.threads)),
            pool,
        })
    }

    /// The bound TCP addresses, with the ports the OS chose for port 0.
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The store, for callers embedding the server.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A one-line description of what is served, for the start-up log.
    pub fn describe(&self) -> String {
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut listeners: Vec<String> = self
            .tcp_addrs()
            .iter()
            .map(|a| format!("tcp {a}"))
            .collect();
        #[cfg(unix)]
        listeners.extend(
            self.unix
                .iter()
                .map(|(p, _)| format!("unix {}", p.display())),
        );
        format!(
            "listening on {}; memory limit {} bytes; {} workers; prefetch {}",
            listeners.join(", "),
            self.shared.store.memory_limit(),
            self.shared.config.threads,
            if self.shared.prefetch { "on" } else { "off" }
        )
    }

    /// Serves until the process ends. Returns an error only if an accept
    /// thread cannot be started.
    pub fn run(mut self) -> io::Result<()> {
        self.spawn_expiry()?;
        self.spawn_rewriter()?;
        let mut accept_threads = Vec::new();
        for listener in &self.tcp {
            accept_threads.push(self.spawn_accept(listener.try_clone()?)?);
        }
        #[cfg(unix)]
        for (_, listener) in &self.unix {
            accept_threads.push(self.spawn_accept(listener.try_clone()?)?);
        }
        // Serving has begun with the first workers; spawning the rest takes
        // about 40 us each, so it happens now rather than before the first
        // client is answered.
        self.pool.set_num_threads(self.shared.config.threads);
        for handle in accept_threads {
            // An accept loop never returns; if one panicked, the others
            // still serve, so keep waiting on them.
            let _ = handle.join();
        }
        Ok(())
    }

    /// Starts the thread that reclaims expired keys nobody reads.
    fn spawn_expiry(&self) -> io::Result<()> {
        let shared = Arc::clone(&self.shared);
        thread::Builder::new()
            .name("blink-expire".into())
            .stack_size(ACCEPT_STACK)
            .spawn(move || loop {
                thread::sleep(ACTIVE_EXPIRE_INTERVAL);
                let now = shared.clock.now();
                shared.store.expire_cycle(now, ACTIVE_EXPIRE_BUDGET);
                // Tell the readers of the keys that expired.
                crate::exec::tracking::end_command(&shared.tracking);
            })
            .map(drop)
    }

    /// Starts the thread that compacts the append-only file when asked
    /// (BGREWRITEAOF, or the log's own growth), with `--aof`.
    fn spawn_rewriter(&self) -> io::Result<()> {
        let Some(aof) = self.shared.aof.clone() else {
            return Ok(());
        };
        let shared = Arc::clone(&self.shared);
        thread::Builder::new()
            .name("blink-aof-rewrite".into())
            .stack_size(ACCEPT_STACK)
            .spawn(move || loop {
                aof.next_rewrite();
                // It logs its outcome; INFO and STATS report it.
                let _ = aof.rewrite(&shared.store, &shared.clock);
            })
            .map(drop)
    }

    fn spawn_accept<L: Listen>(&self, listener: L) -> io::Result<thread::JoinHandle<()>> {
        let shared = Arc::clone(&self.shared);
        let admission = Arc::clone(&self.admission);
        let pool = self.pool.clone();
        thread::Builder::new()
            .name("blink-accept".into())
            .stack_size(ACCEPT_STACK)
            .spawn(move || listener::accept_loop(listener, &shared, &admission, &pool))
    }
}

/// Every address `addr` resolves to.
fn resolve(addr: &str) -> Result<Vec<SocketAddr>, BindError> {
    let resolved: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| BindError::Address(addr.to_string(), e))?
        .collect();
    if resolved.is_empty() {
        let e = io::Error::new(io::ErrorKind::NotFound, "resolves to no address");
        return Err(BindError::Address(addr.to_string(), e));
    }
    Ok(resolved)
}
