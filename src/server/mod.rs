//! Listeners, admission and the worker pool.
//!
//! [`Server::bind`] opens every listener before anything runs, so a bad
//! address fails at once with one clear error. [`Server::run`] then starts
//! one accept thread per listener; each accepted socket either takes a
//! worker permit and goes to the fixed `threadpool` pool, or is refused on
//! the spot (see [`listener`]). A worker serves one connection from start to
//! end ([`connection`]).
//!
//! The server knows nothing of eviction or of the protocol's commands: it
//! moves bytes between sockets and [`crate::exec`].

mod connection;
mod listener;

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use threadpool::ThreadPool;

use crate::config::Config;
use crate::protocol::Limits;
use crate::store::{Clock, Store, StoreConfig};

use listener::{Admission, Listen};

/// Stack of each worker thread. A connection's buffers live on the heap, so
/// a handler needs little stack; a small one keeps hundreds of threads cheap.
const WORKER_STACK: usize = 256 << 10;

/// Stack of each accept thread.
const ACCEPT_STACK: usize = 64 << 10;

/// What every worker shares: the store and the rules of the protocol.
pub struct Shared {
    pub store: Store,
    pub clock: Clock,
    pub limits: Limits,
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
        }
    }
}

impl std::error::Error for BindError {}

/// A server whose listeners are bound and whose pool is ready.
pub struct Server {
    tcp: Vec<TcpListener>,
    unix: Vec<(PathBuf, UnixListener)>,
    shared: Arc<Shared>,
    admission: Arc<Admission>,
    pool: ThreadPool,
}

impl Server {
    /// Binds every listener of `config` and creates the store and pool.
    pub fn bind(config: &Config) -> Result<Server, BindError> {
        let mut tcp = Vec::new();
        for addr in &config.tcp {
            tcp.extend(bind_tcp(addr)?);
        }
        let mut unix = Vec::new();
        for path in &config.unix {
            unix.push((path.clone(), bind_unix(path)?));
        }
        let shared = Arc::new(Shared {
            store: Store::new(StoreConfig {
                memory_limit: config.memory_limit,
                eviction_samples: config.eviction_samples,
            }),
            clock: Clock::new(),
            limits: Limits {
                max_value_size: config.max_value_size,
            },
        });
        let pool = threadpool::Builder::new()
            .num_threads(config.threads)
            .thread_name("blink-worker".into())
            .thread_stack_size(WORKER_STACK)
            .build();
        Ok(Server {
            tcp,
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
        let mut listeners: Vec<String> = self
            .tcp_addrs()
            .iter()
            .map(|a| format!("tcp {a}"))
            .collect();
        listeners.extend(
            self.unix
                .iter()
                .map(|(p, _)| format!("unix {}", p.display())),
        );
        format!(
            "listening on {}; memory limit {} bytes; {} workers",
            listeners.join(", "),
            self.shared.store.memory_limit(),
            self.pool.max_count()
        )
    }

    /// Serves until the process ends. Returns an error only if an accept
    /// thread cannot be started.
    pub fn run(self) -> io::Result<()> {
        let mut accept_threads = Vec::new();
        for listener in &self.tcp {
            accept_threads.push(self.spawn_accept(listener.try_clone()?)?);
        }
        for (_, listener) in &self.unix {
            accept_threads.push(self.spawn_accept(listener.try_clone()?)?);
        }
        for handle in accept_threads {
            // An accept loop never returns; if one panicked, the others
            // still serve, so keep waiting on them.
            let _ = handle.join();
        }
        Ok(())
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

/// Binds every address `addr` resolves to.
fn bind_tcp(addr: &str) -> Result<Vec<TcpListener>, BindError> {
    let resolved: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| BindError::Address(addr.to_string(), e))?
        .collect();
    if resolved.is_empty() {
        let e = io::Error::new(io::ErrorKind::NotFound, "resolves to no address");
        return Err(BindError::Address(addr.to_string(), e));
    }
    resolved
        .into_iter()
        .map(|a| TcpListener::bind(a).map_err(|e| BindError::Tcp(a, e)))
        .collect()
}

/// Binds a Unix socket, replacing a stale socket file that no server
/// answers on, and refusing a path where one does.
fn bind_unix(path: &Path) -> Result<UnixListener, BindError> {
    let first = match UnixListener::bind(path) {
        Ok(listener) => return Ok(listener),
        Err(e) => e,
    };
    if first.kind() != io::ErrorKind::AddrInUse {
        return Err(BindError::Unix(path.to_path_buf(), first));
    }
    let is_socket = std::fs::symlink_metadata(path)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false);
    if !is_socket {
        return Err(BindError::NotASocket(path.to_path_buf()));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(BindError::UnixInUse(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            log::info!("removing stale socket {}", path.display());
            std::fs::remove_file(path).map_err(|e| BindError::Unix(path.to_path_buf(), e))?;
            UnixListener::bind(path).map_err(|e| BindError::Unix(path.to_path_buf(), e))
        }
        Err(_) => Err(BindError::Unix(path.to_path_buf(), first)),
    }
}
