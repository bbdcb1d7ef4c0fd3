//! Client-side caching (CLIENT TRACKING): which connections read which
//! keys, and the invalidation pushed to them when a key changes.
//!
//! ## How a change reaches the readers
//!
//! The registry is one of the store's journals ([`crate::store::Journal`]):
//! while at least one connection tracks, every change (a write, an
//! expiry, an eviction, a flush) is handed to it under the lock of the
//! stripe that changed. There it only decides whom to tell, forgetting
//! those readers at once, and keeps the invalidations with the thread
//! that made the change; they are queued when its command ends
//! ([`end_command`], or the expiry cycle's end), with no stripe lock held,
//! each in its reader's outbox ([`super::pubsub::Outbox`], written out by
//! the reader's writer thread). While no connection tracks, the store
//! does not even build the change for it ([`crate::store::Journal::wants`]).
//!
//! - **Default mode.** A tracking connection's reads (read-only
//!   commands) note their keys here, then run, and the reply is queued in
//!   the connection's outbox, all under the connection's gate ([`Gate`]);
//!   an invalidation is queued in that outbox under the same gate. So an
//!   invalidation either lands after the reply of a read that saw the old
//!   value, or the read saw the new value: no client keeps a value older
//!   than a change it was not told of. A key's readers are told once and
//!   forgotten, until they read it again. (Reads inside MULTI/EXEC are
//!   noted but not gated: a client caches no transaction's replies.)
//! - **BCAST.** Every change of a key under one of the connection's
//!   prefixes is pushed, one push per command with all such keys, with
//!   nothing noted per key.
//! - **The guarantee.** A writer's invalidations are queued before its
//!   reply is queued (a tracking writer's too: it holds no gate while it
//!   writes, and its reply waits for the others to be told), so a reader
//!   that sends any command after the writer was acknowledged reads the
//!   invalidation before that command's reply.
//! - **Its own changes** a tracking connection hears of right after its
//!   reply, queued with it in one piece ([`take_own`]), as Redis sends
//!   them, or not at all with NOLOOP; the connection running a command is
//!   known through its thread ([`running`]).
//! - **Bounded.** At most `--tracking-table-max-keys` keys are noted; past
//!   it the oldest noted keys are invalidated early, as Redis does, so a
//!   client never keeps a key the table forgot.
//! - **FLUSHALL, FLUSHDB, SWAPDB** tell every tracking connection that
//!   everything is invalid (a null key list) and forget the keys noted.
//!
//! ## Locks
//!
//! `noted` and `trackers` are taken under stripe locks (from the journal)
//! and with none; neither is held while another lock is taken. A
//! connection's gate is held across its own command (stripe locks inside
//! it), and taken by others only with no stripe lock and no other gate
//! held, so no wait cycle can form.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use super::clients::Client;
use super::pubsub::{PubSub, Subscriber};
use crate::protocol::resp;
use crate::store::{Change, Journal, Key};

/// The channel a RESP2 connection subscribes to, to receive another
/// connection's invalidations (REDIRECT), as Redis names it.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

thread_local! {
    /// The connection whose command this worker thread is running (0:
    /// none).
    static RUNNING: Cell<u64> = const { Cell::new(0) };
    /// What the changes made on this thread are to tell, when the command
    /// (or expiry cycle) ends.
    static DEFERRED: RefCell<Deferred> = RefCell::default();
}

/// Bytes a noted key costs beside its name and its readers: its hash
/// table entry (64 bytes, and an eighth again of empty room), its place
/// in the noting order (40) and the smallest allocations of its two copies
/// of the name.
pub const KEY_OVERHEAD: usize = 150;

/// Key names an invalidation lists.
type Names = Vec<Vec<u8>>;

/// Invalidations that wait for the end of the command that caused them.
#[derive(Default)]
struct Deferred {
    /// Each connection to tell, and the keys to tell it of, in the order
    /// changed (`None`: everything, after a flush).
    pending: Vec<(Arc<Tracker>, Option<Names>)>,
    /// The running connection's own, encoded: sent after its reply.
    own: Vec<u8>,
}

impl Deferred {
    /// Notes that `tracker` is to be told of `name` (`None`: everything).
    fn add(&mut self, tracker: &Arc<Tracker>, name: Option<&[u8]>) {
        let at = match self.pending.iter().position(|(t, _)| t.id == tracker.id) {
            Some(at) => at,
            None => {
                self.pending.push((Arc::clone(tracker), Some(Vec::new())));
                self.pending.len() - 1
            }
        };
        let keys = &mut self.pending[at].1;
        match (keys, name) {
            (keys @ Some(_), None) => *keys = None,
            (Some(keys), Some(name)) => {
                if !keys.iter().any(|k| k == name) {
                    keys.push(name.to_vec());
                }
            }
            (None, _) => {}
        }
    }
}

/// Notes that this thread now runs a command of connection `id` (0: the
/// expiry cycle), and drops whatever an earlier command left (it cannot
/// have, unless it panicked). Called only while some connection tracks:
/// a change made while none does has no one to tell.
pub fn running(id: u64) {
    RUNNING.with(|r| r.set(id));
    DEFERRED.with(|d| *d.borrow_mut() = Deferred::default());
}

/// Ends the running command: queues the invalidations its changes made,
/// but the running connection's own (see [`take_own`]). Call it holding
/// no stripe lock and no gate, before the command's reply is sent, when
/// some connection tracks (what a command that ended while tracking was
/// turned off left is told at a later end, or dropped by [`running`]).
pub fn end_command(registry: &Tracking) {
    let pending = DEFERRED.with(|d| std::mem::take(&mut d.borrow_mut().pending));
    let writer = RUNNING.with(Cell::get);
    for (tracker, keys) in pending {
        let names: Option<Vec<&[u8]>> = keys.as_ref().map(|k| k.iter().map(|n| &n[..]).collect());
        registry.deliver(&tracker, names.as_deref(), writer);
    }
}

/// Appends to `out` the running connection's own invalidations, after
/// its reply.
pub fn take_own(out: &mut Vec<u8>) {
    DEFERRED.with(|d| {
        let mut deferred = d.borrow_mut();
        if !deferred.own.is_empty() {
            out.append(&mut deferred.own);
        }
    });
}

/// A tracking connection's gate: held while one of its commands runs and
/// its reply is queued, and while an invalidation is queued for it. See
/// the module documentation.
#[derive(Debug, Default)]
pub struct Gate(Mutex<()>);

impl Gate {
    pub fn hold(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.0.lock()
    }
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
    /// Held while each of its commands runs and its reply is queued.
    pub gate: Arc<Gate>,
    _registered: Registered,
}

/// A connection's place in the registry: removed when dropped, so a
/// connection that ends in any way stops being told.
struct Registered {
    registry: Arc<Tracking>,
    id: u64,
    /// The connection in the registry of clients, which CLIENT LIST shows
    /// tracking.
    client: Arc<Client>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registered {{ id: {} }}", self.id)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.disable(self.id);
        self.client.set_tracking(None);
    }
}

impl State {
    /// Turns tracking on for connection `id` with `options`, its pushes
    /// going to `own` (its outbox, for RESP3). The caller has dropped
    /// the connection's earlier state first.
    pub fn enable(
        registry: &Arc<Tracking>,
        client: &Arc<Client>,
        options: Options,
        own: Option<Arc<Subscriber>>,
    ) -> State {
        let id = client.id;
        let gate = Arc::new(Gate::default());
        registry.enable(id, options.clone(), own, Arc::clone(&gate));
        client.set_tracking(Some((options.bcast, options.redirect.unwrap_or(0))));
        State {
            options,
            caching: None,
            gate,
            _registered: Registered {
                registry: Arc::clone(registry),
                id,
                client: Arc::clone(client),
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
    gate: Arc<Gate>,
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

    fn enable(&self, id: u64, options: Options, own: Option<Arc<Subscriber>>, gate: Arc<Gate>) {
        let tracker = Arc::new(Tracker {
            id,
            options,
            own,
            gate,
        });
        if self.trackers.write().insert(id, tracker).is_none() {
            self.on.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Turns tracking off for connection `id`, forgetting its reads.
    fn disable(&self, id: u64) {
        if self.trackers.write().remove(&id).is_none() {
            return;
        }
        self.on.fetch_sub(1, Ordering::Relaxed);
        let mut noted = self.noted.lock();
        noted.readers.retain(|_, (readers, _)| {
            readers.retain(|&r| r != id);
            !readers.is_empty()
        });
        if noted.readers.is_empty() {
            noted.order.clear();
        }
    }

    /// Notes that connection `id` is about to read `key`. When that takes
    /// the table past its limit, the oldest keys noted are forgotten and
    /// their readers told, when the command ends.
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
        if evicted.is_empty() {
            return;
        }
        let trackers = self.trackers.read();
        DEFERRED.with(|d| {
            let mut deferred = d.borrow_mut();
            for ((_, name), readers) in &evicted {
                for tracker in readers.iter().filter_map(|id| trackers.get(id)) {
                    deferred.add(tracker, Some(name));
                }
            }
        });
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

    /// About how many bytes the noted keys hold: per key, its table entry
    /// and its place in the order ([`KEY_OVERHEAD`]), its name twice and
    /// 8 bytes per reader.
    pub fn table_bytes(&self) -> usize {
        self.noted
            .lock()
            .readers
            .iter()
            .map(|((_, name), (readers, _))| KEY_OVERHEAD + 2 * name.len() + 8 * readers.capacity())
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

    /// Queues the invalidation of `names` (`None`: everything) for
    /// `tracker`: one push per key in default mode, one for them all in
    /// BCAST mode. When `writer`, the connection whose command made the
    /// changes, is the tracker itself, after its reply (or not at all,
    /// with NOLOOP).
    fn deliver(&self, tracker: &Tracker, names: Option<&[&[u8]]>, writer: u64) {
        let own = tracker.id == writer;
        if own && tracker.options.noloop {
            return;
        }
        // A RESP2 connection without a redirect is told as if it
        // redirected to itself: if it subscribes to the channel, as Redis.
        let target = match (tracker.options.redirect, &tracker.own) {
            (None, Some(_)) => None,
            (redirect, _) => Some(redirect.unwrap_or(tracker.id)),
        };
        if let Some(target) = target {
            if let Some(target) = self.pubsub.subscriber_of(INVALIDATE_CHANNEL, target) {
                let mut out = Vec::new();
                encode(
                    &mut out,
                    target.version(),
                    true,
                    names,
                    tracker.options.bcast,
                );
                let _ = target.send(&out, Instant::now(), false, &self.pubsub);
            }
            return;
        }
        let version = 3;
        if own {
            DEFERRED.with(|d| {
                let own = &mut d.borrow_mut().own;
                encode(own, version, false, names, tracker.options.bcast);
            });
            return;
        }
        if let Some(outbox) = &tracker.own {
            let mut out = Vec::new();
            encode(&mut out, version, false, names, tracker.options.bcast);
            let _gate = tracker.gate.hold();
            let _ = outbox.send(&out, Instant::now(), false, &self.pubsub);
        }
    }

    /// Forgets the readers of `key` and keeps, for the end of the running
    /// command, who is to be told: they, and the BCAST connections whose
    /// prefix it has.
    fn changed(&self, key: Key<'_>) {
        let readers = self
            .noted
            .lock()
            .readers
            .remove(&(key.db(), key.as_bytes().to_vec()));
        let trackers = self.trackers.read();
        let name = key.as_bytes();
        DEFERRED.with(|d| {
            let mut deferred = d.borrow_mut();
            if let Some((readers, _)) = readers {
                for tracker in readers.iter().filter_map(|id| trackers.get(id)) {
                    deferred.add(tracker, Some(name));
                }
            }
            for tracker in trackers.values() {
                let options = &tracker.options;
                let covered = options.bcast
                    && (options.prefixes.is_empty()
                        || options.prefixes.iter().any(|p| name.starts_with(p)));
                if covered {
                    deferred.add(tracker, Some(name));
                }
            }
        });
    }

    /// Forgets every key noted and keeps, for the end of the running
    /// command, that every tracking connection is to be told that
    /// everything is invalid.
    fn flushed(&self) {
        {
            let mut noted = self.noted.lock();
            noted.readers.clear();
            noted.order.clear();
        }
        let trackers = self.trackers.read();
        DEFERRED.with(|d| {
            let mut deferred = d.borrow_mut();
            for tracker in trackers.values() {
                deferred.add(tracker, None);
            }
        });
    }
}

/// Appends the invalidation of `names` (`None`: everything) in RESP
/// `version`: one push per name, or, `batched` (BCAST), one for all.
fn encode(
    out: &mut Vec<u8>,
    version: u8,
    redirected: bool,
    names: Option<&[&[u8]]>,
    batched: bool,
) {
    match names {
        Some(names) if !batched => {
            for name in names {
                resp::write_invalidation(out, version, redirected, Some(&[name]));
            }
        }
        names => resp::write_invalidation(out, version, redirected, names),
    }
}

impl Journal for Tracking {
    fn record(&self, change: Change<'_>) {
        match change {
            Change::Set { key, .. } | Change::Deadline { key, .. } | Change::Del { key } => {
                self.changed(key);
            }
            Change::SetMany(pairs) => {
                for (key, _) in pairs {
                    self.changed(*key);
                }
            }
            Change::Flush | Change::FlushDb(_) | Change::SwapDb(..) => self.flushed(),
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
