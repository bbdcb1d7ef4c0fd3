//! Client-side caching (CLIENT TRACKING): which connections read which
//! keys, and the invalidation pushed to them when a key changes.
//!
//! ## How a change reaches the readers
//!
//! The registry is one of the store's journals ([`crate::store::Journal`]):
//! while at least one connection tracks, every change (a write, an
//! expiry, an eviction, a flush) is handed to it under the lock of the
//! stripe that changed, and it queues an `invalidate` push in the outbox of
//! each connection to tell ([`super::pubsub::Outbox`], written out by the
//! connection's writer thread). While no connection tracks, the store does
//! not even build the change for it ([`crate::store::Journal::wants`]).
//!
//! - **Default mode.** A tracking connection's reads note their keys here,
//!   *before* the read runs: a change that lands between the note and the
//!   read is pushed before the read's reply (the client drops nothing and
//!   caches the new value), one after it is pushed after. So no client
//!   keeps a value older than the last change it was not told of. A key's
//!   readers are told once and forgotten, until they read it again.
//! - **BCAST.** Every change of a key under one of the connection's
//!   prefixes is pushed, with nothing noted per key.
//! - **The guarantee.** An invalidation is queued to its reader before the
//!   writer's reply is written, and a connection's replies and pushes leave
//!   through one outbox in order: a reader that sends any command after a
//!   writer was acknowledged reads the invalidation before that command's
//!   reply.
//! - **NOLOOP.** The connection whose command made the change is known
//!   here through the worker thread running it ([`running`]).
//! - **Bounded.** At most `--tracking-table-max-keys` keys are noted; past
//!   it the oldest noted keys are invalidated early, as Redis does, so a
//!   client never keeps a key the table forgot.
//! - **FLUSHALL, FLUSHDB, SWAPDB** tell every tracking connection that
//!   everything is invalid (a null key list) and forget the keys noted.
//!
//! ## Locks
//!
//! `keys` and `trackers` are taken under stripe locks (from the journal)
//! and with none (from a read); an outbox's lock under them. No lock here
//! is held while a stripe lock is taken.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use super::pubsub::{PubSub, Subscriber};
use crate::protocol::resp;
use crate::store::{Change, Journal, Key};

/// The channel a RESP2 connection subscribes to, to receive another
/// connection's invalidations (REDIRECT), as Redis names it.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

thread_local! {
    /// The connection whose command this worker thread is running (0:
    /// none), for NOLOOP.
    static RUNNING: Cell<u64> = const { Cell::new(0) };
}

/// Notes that this thread runs commands of connection `id` (0: none).
pub fn running(id: u64) {
    RUNNING.with(|r| r.set(id));
}

/// A tracking connection's options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Where to send invalidations instead of the connection itself: a
    /// connection subscribed to [`INVALIDATE_CHANNEL`].
    pub redirect: Option<u64>,
    pub bcast: bool,
    pub prefixes: Vec<Vec<u8>>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

/// A connection's tracking, in its session while it is on. Dropping it
/// turns tracking off in the registry.
#[derive(Debug)]
pub struct State {
    pub options: Options,
    /// CLIENT CACHING's word for the next command only.
    pub caching: Option<bool>,
    _registered: Registered,
}

/// A connection's place in the registry: removed when dropped, so a
/// connection that ends in any way stops being told.
struct Registered {
    registry: Arc<Tracking>,
    id: u64,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registered {{ id: {} }}", self.id)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.disable(self.id);
    }
}

impl State {
    /// Turns tracking on for connection `id` with `options`, its pushes
    /// going to `own` (its outbox, for RESP3). The caller has dropped
    /// the connection's earlier state first.
    pub fn enable(
        registry: &Arc<Tracking>,
        id: u64,
        options: Options,
        own: Option<Arc<Subscriber>>,
    ) -> State {
        registry.enable(id, options.clone(), own);
        State {
            options,
            caching: None,
            _registered: Registered {
                registry: Arc::clone(registry),
                id,
            },
        }
    }

    /// Whether a read now is to be noted: not in BCAST mode (nothing is
    /// noted there); in OPTIN mode only after CLIENT CACHING YES, in
    /// OPTOUT mode unless after CLIENT CACHING NO.
    pub fn notes_reads(&self) -> bool {
        let options = &self.options;
        !options.bcast
            && (!options.optin || self.caching == Some(true))
            && (!options.optout || self.caching != Some(false))
    }

    /// CLIENT TRACKINGINFO's flags, in Redis's words and order.
    pub fn flags(&self) -> Vec<&'static str> {
        let options = &self.options;
        let mut flags = vec!["on"];
        for (set, flag) in [
            (options.bcast, "bcast"),
            (options.optin, "optin"),
            (options.optout, "optout"),
            (self.caching == Some(true), "caching-yes"),
            (self.caching == Some(false), "caching-no"),
            (options.noloop, "noloop"),
        ] {
            if set {
                flags.push(flag);
            }
        }
        flags
    }
}

/// A tracking connection, as the registry sees it.
struct Tracker {
    id: u64,
    options: Options,
    /// Its own outbox, for RESP3 pushes; `None` for a RESP2 connection
    /// (it is told only through a redirect).
    own: Option<Arc<Subscriber>>,
}

/// Keys noted in default mode, and the order they were noted in.
#[derive(Default)]
struct Noted {
    /// Each key read by a tracking connection since its last change: the
    /// connections that read it, and the note's sequence number.
    readers: HashMap<(u16, Vec<u8>), (Vec<u64>, u64)>,
    /// Keys in the order noted, with the sequence number of their note:
    /// an entry whose number no longer matches is stale and skipped.
    order: VecDeque<((u16, Vec<u8>), u64)>,
    next: u64,
}

/// Every tracking connection and the keys they read. See the module
/// documentation.
pub struct Tracking {
    trackers: RwLock<HashMap<u64, Arc<Tracker>>>,
    /// Connections tracking now: the journal wants changes only then.
    on: AtomicUsize,
    noted: Mutex<Noted>,
    /// Most keys noted at once (0: no limit).
    max_keys: AtomicUsize,
    /// Where a redirect's target is found (its outbox, if subscribed to
    /// [`INVALIDATE_CHANNEL`]).
    pubsub: Arc<PubSub>,
}

impl Tracking {
    pub fn new(max_keys: usize, pubsub: Arc<PubSub>) -> Tracking {
        Tracking {
            trackers: RwLock::default(),
            on: AtomicUsize::new(0),
            noted: Mutex::default(),
            max_keys: AtomicUsize::new(max_keys),
            pubsub,
        }
    }

    fn enable(&self, id: u64, options: Options, own: Option<Arc<Subscriber>>) {
        let tracker = Arc::new(Tracker { id, options, own });
        if self.trackers.write().insert(id, tracker).is_none() {
            self.on.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Turns tracking off for connection `id`; its noted reads are
    /// forgotten as their keys change.
    fn disable(&self, id: u64) {
        if self.trackers.write().remove(&id).is_some() {
            self.on.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Notes that connection `id` is about to read `key`.
    pub fn note(&self, id: u64, key: Key<'_>) {
        let name = (key.db(), key.as_bytes().to_vec());
        let mut evicted = Vec::new();
        {
            let mut noted = self.noted.lock();
            let noted = &mut *noted;
            noted.next += 1;
            let seq = noted.next;
            let (readers, at) = noted.readers.entry(name.clone()).or_default();
            if !readers.contains(&id) {
                readers.push(id);
            }
            *at = seq;
            noted.order.push_back((name, seq));
            let max = self.max_keys.load(Ordering::Relaxed);
            while max > 0 && noted.readers.len() > max {
                let Some((oldest, seq)) = noted.order.pop_front() else {
                    break;
                };
                if noted.readers.get(&oldest).is_some_and(|(_, s)| *s == seq) {
                    if let Some((readers, _)) = noted.readers.remove(&oldest) {
                        evicted.push((oldest, readers));
                    }
                }
            }
            if noted.order.len() > 2 * noted.readers.len() + 64 {
                let readers = &noted.readers;
                noted
                    .order
                    .retain(|(k, s)| readers.get(k).is_some_and(|(_, at)| at == s));
            }
        }
        for ((db, name), readers) in evicted {
            let key = Key::new(&name).map(|k| k.in_db(db));
            if let Some(key) = key {
                self.tell(&readers, Some(key), 0);
            }
        }
    }

    /// Connections tracking now.
    pub fn clients(&self) -> usize {
        self.on.load(Ordering::Relaxed)
    }

    /// Keys noted now.
    pub fn keys(&self) -> usize {
        self.noted.lock().readers.len()
    }

    /// Readers noted over every key (Redis's `tracking_total_items`).
    pub fn items(&self) -> usize {
        self.noted
            .lock()
            .readers
            .values()
            .map(|(r, _)| r.len())
            .sum()
    }

    /// BCAST prefixes registered, over every connection.
    pub fn prefixes(&self) -> usize {
        self.trackers
            .read()
            .values()
            .map(|t| t.options.prefixes.len())
            .sum()
    }

    /// Sends each of `ids` that still tracks an invalidation of `key`
    /// (`None`: everything), but not `writer` if it asked for NOLOOP.
    fn tell(&self, ids: &[u64], key: Option<Key<'_>>, writer: u64) {
        let trackers = self.trackers.read();
        for id in ids {
            if let Some(tracker) = trackers.get(id) {
                self.push(tracker, key, writer);
            }
        }
    }

    /// Queues the invalidation of `key` (`None`: everything) for
    /// `tracker`.
    fn push(&self, tracker: &Tracker, key: Option<Key<'_>>, writer: u64) {
        if tracker.options.noloop && tracker.id == writer {
            return;
        }
        let name = key.map(|k| k.as_bytes());
        let now = Instant::now();
        match tracker.options.redirect {
            Some(target) => {
                if let Some(target) = self.pubsub.subscriber_of(INVALIDATE_CHANNEL, target) {
                    let mut out = Vec::new();
                    resp::write_invalidation(&mut out, target.version(), true, name);
                    let _ = target.send(&out, now, &self.pubsub);
                }
            }
            None => {
                if let Some(own) = &tracker.own {
                    let mut out = Vec::new();
                    resp::write_invalidation(&mut out, 3, false, name);
                    let _ = own.send(&out, now, &self.pubsub);
                }
            }
        }
    }

    /// Tells the readers of `key` and the BCAST connections whose prefix
    /// it has.
    fn changed(&self, key: Key<'_>, writer: u64) {
        let readers = self
            .noted
            .lock()
            .readers
            .remove(&(key.db(), key.as_bytes().to_vec()));
        let trackers = self.trackers.read();
        if let Some((readers, _)) = readers {
            for id in readers {
                if let Some(tracker) = trackers.get(&id) {
                    self.push(tracker, Some(key), writer);
                }
            }
        }
        for tracker in trackers.values() {
            let options = &tracker.options;
            let covered = options.bcast
                && (options.prefixes.is_empty()
                    || options
                        .prefixes
                        .iter()
                        .any(|p| key.as_bytes().starts_with(p)));
            if covered {
                self.push(tracker, Some(key), writer);
            }
        }
    }

    /// Tells every tracking connection that everything is invalid, and
    /// forgets the keys noted.
    fn flushed(&self, writer: u64) {
        {
            let mut noted = self.noted.lock();
            noted.readers.clear();
            noted.order.clear();
        }
        for tracker in self.trackers.read().values() {
            self.push(tracker, None, writer);
        }
    }
}

impl Journal for Tracking {
    fn record(&self, change: Change<'_>) {
        let writer = RUNNING.with(Cell::get);
        match change {
            Change::Set { key, .. } | Change::Deadline { key, .. } | Change::Del { key } => {
                self.changed(key, writer);
            }
            Change::SetMany(pairs) => {
                for (key, _) in pairs {
                    self.changed(*key, writer);
                }
            }
            Change::Flush | Change::FlushDb(_) | Change::SwapDb(..) => self.flushed(writer),
            Change::Block(changes) => {
                for change in changes {
                    self.record(*change);
                }
            }
        }
    }

    fn wants(&self) -> bool {
        self.on.load(Ordering::Relaxed) > 0
    }
}
