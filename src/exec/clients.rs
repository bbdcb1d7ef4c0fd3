//! The registry of live connections, for CLIENT LIST, CLIENT INFO and
//! CLIENT KILL, and the connection settings CONFIG SET changes while the
//! server runs (`timeout`).
//!
//! A connection registers once, when it starts ([`Clients::register`]),
//! and the [`Registration`] it gets back takes it out of the registry when
//! dropped, also when its handler panics. What other connections may ask
//! about it lives in its [`Client`]: fixed facts (id, addresses, when it
//! connected) and a few relaxed atomics the connection stores to as it
//! works (the last command's row in the command table, once per request;
//! the time of its last batch of requests, once per batch), so that the
//! hot path takes no lock. The name and the protocol version change only
//! on CLIENT SETNAME, HELLO and RESET, under the client's own small lock.
//!
//! CLIENT KILL ends another connection by shutting down its socket
//! through the handle registered with it: the connection's blocked read
//! then sees the end of the stream and its worker leaves as if the client
//! had closed. This module never reads or writes a socket.
//!
//! Lock order: the registry's lock is never held while a client's name
//! lock is taken for writing, and no stripe lock is ever taken under
//! either.

use std::sync::atomic::{AtomicI64, AtomicU16, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::protocol::commands::COMMANDS;
use crate::store::Millis;

/// How CLIENT KILL ends a connection: shuts its socket down both ways.
pub type Killer = Box<dyn Fn() + Send + Sync>;

/// What a connection tells the registry about itself when it starts.
pub struct Peer {
    /// The client's address: `ip:port`, or `path:0` for a Unix socket.
    pub addr: String,
    /// The server's address the client reached, in the same form.
    pub laddr: String,
    /// The socket's file descriptor, -1 where there is none to show.
    pub fd: i64,
    pub kill: Killer,
}

/// Flag bits of [`Client::flags`].
const NO_EVICT: u8 = 1;
const NO_TOUCH: u8 = 2;

/// No command run yet (a row no table has).
const NO_COMMAND: usize = usize::MAX;

/// One live connection, as others see it. See the module documentation.
pub struct Client {
    pub id: u64,
    peer: Peer,
    unix: bool,
    /// When it connected, on the store's clock.
    since: Millis,
    /// When its last batch of requests began, on the store's clock.
    last: AtomicU64,
    /// The command-table row of its last command.
    command: AtomicUsize,
    /// RESP version of its replies.
    protocol: AtomicU8,
    /// The database it selected.
    db: AtomicU16,
    /// Its channel and pattern subscriptions.
    subscriptions: AtomicU64,
    /// CLIENT TRACKING: 0 off, 1 on, 2 on in BCAST mode.
    tracking: AtomicU8,
    /// Where its invalidations go: -1 tracking off, 0 itself, else the
    /// connection it redirects to.
    redirect: AtomicI64,
    flags: AtomicU8,
    /// Commands queued in its open transaction; -1 outside MULTI.
    multi: AtomicI64,
    /// CLIENT SETNAME's name; guarded by its own lock, taken only to
    /// rename and to list.
    name: Mutex<Option<Vec<u8>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client {{ id: {} }}", self.id)
    }
}

impl Client {
    /// Notes the start of a batch of requests at `now`.
    pub fn active(&self, now: Millis) {
        self.last.store(now.0, Ordering::Relaxed);
    }

    /// Notes the command-table row of the command being run.
    pub fn ran(&self, row: usize) {
        self.command.store(row, Ordering::Relaxed);
    }

    /// Whether CLIENT KILL's filters (but for `skip`) all hold for this
    /// client.
    pub fn matches(&self, what: &Match<'_>) -> bool {
        what.id.map_or(true, |id| self.id == id)
            && what.addr.map_or(true, |a| self.peer.addr.as_bytes() == a)
            && what.laddr.map_or(true, |a| self.peer.laddr.as_bytes() == a)
    }

    /// Notes how many commands its open transaction holds (`None`: not in
    /// MULTI), for CLIENT LIST's `multi` field and `x` flag.
    pub fn set_multi(&self, queued: Option<usize>) {
        let queued = queued.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        self.multi.store(queued, Ordering::Relaxed);
    }

    pub fn set_name(&self, name: Option<Vec<u8>>) {
        *self.name.lock() = name;
    }

    pub fn set_protocol(&self, version: u8) {
        self.protocol.store(version, Ordering::Relaxed);
    }

    pub fn set_db(&self, db: u16) {
        self.db.store(db, Ordering::Relaxed);
    }

    /// Notes how many channels and patterns it is subscribed to.
    pub fn set_subscriptions(&self, channels: usize, patterns: usize) {
        let both = (channels as u64) << 32 | (patterns as u64 & u64::from(u32::MAX));
        self.subscriptions.store(both, Ordering::Relaxed);
    }

    /// Notes its tracking: `None` off, else whether in BCAST mode and the
    /// connection it redirects to (0: none).
    pub fn set_tracking(&self, tracking: Option<(bool, u64)>) {
        let (mode, redirect) = match tracking {
            None => (0, -1),
            Some((bcast, redirect)) => (1 + u8::from(bcast), redirect as i64),
        };
        self.tracking.store(mode, Ordering::Relaxed);
        self.redirect.store(redirect, Ordering::Relaxed);
    }

    /// Whether it has a channel or pattern subscription.
    pub fn subscribed(&self) -> bool {
        self.subscriptions.load(Ordering::Relaxed) != 0
    }

    /// Ends the connection, as CLIENT KILL does: its socket is shut down.
    pub fn kill_connection(&self) {
        (self.peer.kill)();
    }

    pub fn set_flag(&self, no_touch: bool, on: bool) {
        let bit = if no_touch { NO_TOUCH } else { NO_EVICT };
        if on {
            self.flags.fetch_or(bit, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// Appends this client's CLIENT LIST line, with Redis 7.2's fields in
    /// Redis's order: the ones this server knows, and Redis's value for an
    /// idle client for the buffers and features it does not have. `command`
    /// overrides the last command's name (the caller's own `client|list`).
    /// The caller's own line (`own`) names its command and the size of
    /// its request in the query buffer, as Redis's `qbuf`.
    pub fn describe(&self, now: Millis, own: Option<(&str, usize)>, out: &mut String) {
        let (command, qbuf) = own.map_or((None, 0), |(c, q)| (Some(c), q));
        use std::fmt::Write;
        let secs = |ms: u64| now.0.saturating_sub(ms) / 1000;
        let name = self.name.lock().clone().unwrap_or_default();
        let bits = self.flags.load(Ordering::Relaxed);
        let multi = self.multi.load(Ordering::Relaxed);
        let row = self.command.load(Ordering::Relaxed);
        let command = command
            .or_else(|| COMMANDS.get(row).map(|spec| spec.name))
            .unwrap_or("NULL");
        // Redis's flags in its order: `x` in MULTI, `U` on a Unix socket,
        // `e` NO-EVICT, `T` NO-TOUCH; `N` only when there is none.
        let tracking = self.tracking.load(Ordering::Relaxed);
        let subscriptions = self.subscriptions.load(Ordering::Relaxed);
        let (sub, psub) = (subscriptions >> 32, subscriptions & u64::from(u32::MAX));
        let mut flags: String = [
            (sub + psub > 0, 'P'),
            (multi >= 0, 'x'),
            (tracking > 0, 't'),
            (tracking == 2, 'B'),
            (self.unix, 'U'),
            (bits & NO_EVICT != 0, 'e'),
            (bits & NO_TOUCH != 0, 'T'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|&(_, c)| c)
        .collect();
        if flags.is_empty() {
            flags.push('N');
        }
        let _ = writeln!(
            out,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={flags} db={} sub={sub} \
             psub={psub} ssub=0 multi={} qbuf={qbuf} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 \
             obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={command} user=default redir={} \
             resp={} lib-name= lib-ver=",
            self.id,
            self.peer.addr,
            self.peer.laddr,
            self.peer.fd,
            String::from_utf8_lossy(&name),
            secs(self.since.0),
            secs(self.last.load(Ordering::Relaxed)),
            self.db.load(Ordering::Relaxed),
            multi,
            self.redirect.load(Ordering::Relaxed),
            self.protocol.load(Ordering::Relaxed),
        );
    }
}

/// What CLIENT KILL matches: every filter given must hold.
pub struct Match<'a> {
    pub id: Option<u64>,
    pub addr: Option<&'a [u8]>,
    pub laddr: Option<&'a [u8]>,
    /// The asking connection, when it is to be spared.
    pub skip: Option<u64>,
}

/// Every live connection, and the idle timeout. See the module
/// documentation.
pub struct Clients {
    /// Guards the list only: held to add, remove, copy or search it.
    list: Mutex<Vec<Arc<Client>>>,
    /// The idle timeout in milliseconds, 0 for none (`--timeout`, CONFIG
    /// SET timeout).
    idle_timeout_ms: AtomicU64,
}

impl Clients {
    pub fn new(idle_timeout: Option<Duration>) -> Clients {
        let clients = Clients {
            list: Mutex::new(Vec::new()),
            idle_timeout_ms: AtomicU64::new(0),
        };
        clients.set_idle_timeout(idle_timeout);
        clients
    }

    /// Adds a connection, `unix` when it came over a Unix socket, at `now`.
    pub fn register(&self, id: u64, peer: Peer, unix: bool, now: Millis) -> Registration<'_> {
        let client = Arc::new(Client {
            id,
            peer,
            unix,
            since: now,
            last: AtomicU64::new(now.0),
            command: AtomicUsize::new(NO_COMMAND),
            protocol: AtomicU8::new(2),
            db: AtomicU16::new(0),
            subscriptions: AtomicU64::new(0),
            tracking: AtomicU8::new(0),
            redirect: AtomicI64::new(-1),
            flags: AtomicU8::new(0),
            multi: AtomicI64::new(-1),
            name: Mutex::new(None),
        });
        self.list.lock().push(Arc::clone(&client));
        Registration {
            clients: self,
            client,
        }
    }

    /// The live connections with `ids` (all of them for `None`), in the
    /// order they connected.
    pub fn list(&self, ids: Option<&[u64]>) -> Vec<Arc<Client>> {
        let list = self.list.lock();
        list.iter()
            .filter(|c| ids.map_or(true, |ids| ids.contains(&c.id)))
            .cloned()
            .collect()
    }

    /// Ends every connection `what` matches and returns how many. The
    /// sockets are shut down after the registry's lock is released.
    pub fn kill(&self, what: &Match<'_>) -> usize {
        let victims: Vec<Arc<Client>> = {
            let list = self.list.lock();
            list.iter()
                .filter(|c| c.matches(what) && what.skip != Some(c.id))
                .cloned()
                .collect()
        };
        for victim in &victims {
            (victim.peer.kill)();
        }
        victims.len()
    }

    /// The idle timeout connections are held to, `None` for none.
    pub fn idle_timeout(&self) -> Option<Duration> {
        match self.idle_timeout_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Changes the idle timeout; each connection applies it the next time
    /// it waits for a request.
    pub fn set_idle_timeout(&self, timeout: Option<Duration>) {
        let ms = timeout.map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
        self.idle_timeout_ms.store(ms, Ordering::Relaxed);
    }
}

/// A connection's place in the registry: removed when dropped.
pub struct Registration<'a> {
    clients: &'a Clients,
    client: Arc<Client>,
}

impl Registration<'_> {
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        let id = self.client.id;
        self.clients.list.lock().retain(|c| c.id != id);
    }
}
