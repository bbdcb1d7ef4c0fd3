//! Publish/subscribe: the registry of channels and patterns, each
//! subscriber's outbox, and SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE,
//! PUNSUBSCRIBE, PUBLISH and PUBSUB. It knows no socket: the connection
//! loop writes an outbox out ([`crate::server`]).
//!
//! ## Delivery on a server of blocking threads
//!
//! A subscriber's worker spends its life blocked reading its socket, for
//! the rare command it sends, while its messages come from publishers
//! running on other workers. So a subscribed connection gets an
//! [`Outbox`]: a byte buffer under a mutex of its own, with a condition
//! variable, and, from the connection loop, a writer thread that waits on
//! it and writes what it holds to a clone of the socket, under the
//! connection's write deadline. A publisher encodes a message at most
//! once per framing (RESP2, RESP3, text) and appends it to each matching
//! subscriber's outbox: a copy under that outbox's lock, never a socket
//! write, so no publisher ever waits for a subscriber's socket. Once a
//! connection has an outbox, its own replies go through it too, so replies
//! and messages reach the socket in the order they entered it.
//!
//! - **Order.** A message is in every matching outbox before its PUBLISH
//!   returns, so each subscriber receives messages in the order the
//!   PUBLISH calls returned; the messages of one publisher connection are
//!   in its order.
//! - **Confirmations first.** A SUBSCRIBE's confirmation must reach the
//!   client before any message of the channel. The command records the
//!   subscription in the session only; the connection enters it in the
//!   registry ([`Subscriptions::register`]) once the confirmation is in
//!   the outbox. An UNSUBSCRIBE leaves the registry at once: a message
//!   published before it is then in the outbox before the confirmation.
//! - **Slow subscribers** (Redis's `client-output-buffer-limit pubsub
//!   32mb 8mb 60`): an outbox whose undelivered bytes (queued, or being
//!   written) would pass [`HARD_LIMIT`], or have stayed above
//!   [`SOFT_LIMIT`] for [`SOFT_SECONDS`], is closed and its socket shut
//!   down: the writer stops, the worker's read ends, and the connection
//!   leaves the registry. STATS counts them (`pubsub_slow_disconnected`).
//! - **Threads.** A subscriber holds its worker like any connection (it
//!   counts against `--threads`) and, once it has subscribed, one writer
//!   thread until it closes. It is not held to the idle timeout, as Redis
//!   exempts subscribers from `timeout`.
//!
//! ## Locks
//!
//! The registry's two locks (channels, patterns) are taken one at a time,
//! and an outbox's lock only under one of them or under none; an outbox's
//! lock is never held while another lock is taken. No stripe lock is ever
//! involved.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};

use super::clients::Client;
use crate::glob::glob_match;
use crate::protocol::{resp, text, Confirmation, Frame, PubSubQuery, Reply, SubscriptionKind};

/// Undelivered bytes past which a subscriber is disconnected at once
/// (Redis's `client-output-buffer-limit pubsub` hard limit, 32 MiB).
pub const HARD_LIMIT: usize = 32 << 20;

/// Undelivered bytes a subscriber may hold for at most [`SOFT_SECONDS`]
/// (Redis's soft limit, 8 MiB).
pub const SOFT_LIMIT: usize = 8 << 20;

/// How long a subscriber may stay above [`SOFT_LIMIT`] (Redis's 60 s).
pub const SOFT_SECONDS: Duration = Duration::from_secs(60);

/// The most bytes the writer thread takes from an outbox for one write,
/// so the undelivered count falls as the socket accepts them.
pub const WRITE_PIECE: usize = 64 << 10;

/// How a subscriber reads messages: the framing of its last
/// (P)SUBSCRIBE, and its RESP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Text = 0,
    Resp2 = 2,
    Resp3 = 3,
}

impl Style {
    fn of(resp: bool, protocol: u8) -> Style {
        match (resp, protocol) {
            (false, _) => Style::Text,
            (true, 3) => Style::Resp3,
            (true, _) => Style::Resp2,
        }
    }

    fn from_u8(n: u8) -> Style {
        match n {
            0 => Style::Text,
            3 => Style::Resp3,
            _ => Style::Resp2,
        }
    }
}

/// What an outbox holds and how much of it is undelivered.
#[derive(Default)]
struct Queued {
    buf: Vec<u8>,
    /// Bytes pushed and not yet accepted by the socket: `buf` and the
    /// piece being written.
    undelivered: usize,
    /// No more bytes are taken, and the writer stops once `buf` is
    /// written (the connection ended), or at once (it was cut off).
    closed: bool,
    /// Since when `undelivered` has been above [`SOFT_LIMIT`].
    over_soft_since: Option<Instant>,
    /// While the connection queues a subscription's confirmation:
    /// messages held back until it is queued (see [`Outbox::hold`]).
    held: Option<Vec<u8>>,
}

/// A subscribed connection's bytes on their way to its socket. See the
/// module documentation.
#[derive(Default)]
pub struct Outbox {
    queued: Mutex<Queued>,
    ready: Condvar,
}

/// Why [`Outbox::push`] refused bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The outbox was closed before.
    Closed,
    /// These bytes would have taken it past a limit: it is closed now.
    Slow,
}

impl Outbox {
    /// From now until [`Outbox::release`], holds back messages, so that
    /// the connection can enter a subscription in the registry before its
    /// confirmation is queued and still have the confirmation first.
    pub fn hold(&self) {
        self.queued.lock().held.get_or_insert_with(Vec::new);
    }

    /// Queues the messages held back since [`Outbox::hold`].
    pub fn release(&self) {
        let mut queued = self.queued.lock();
        if let Some(held) = queued.held.take() {
            queued.buf.extend_from_slice(&held);
            self.ready.notify_all();
        }
    }

    /// Appends `bytes`, unless the outbox is closed or they would take it
    /// past a limit at `now`, which closes it. A message (not `own`, the
    /// connection's own replies) waits while messages are held back.
    pub fn push(&self, bytes: &[u8], now: Instant, own: bool) -> Result<(), Refused> {
        let mut queued = self.queued.lock();
        if queued.closed {
            return Err(Refused::Closed);
        }
        let undelivered = queued.undelivered + bytes.len();
        let too_long = undelivered > SOFT_LIMIT && {
            let since = *queued.over_soft_since.get_or_insert(now);
            now.duration_since(since) >= SOFT_SECONDS
        };
        if undelivered > HARD_LIMIT || too_long {
            queued.closed = true;
            self.ready.notify_all();
            return Err(Refused::Slow);
        }
        match &mut queued.held {
            Some(held) if !own => held.extend_from_slice(bytes),
            _ => queued.buf.extend_from_slice(bytes),
        }
        queued.undelivered = undelivered;
        self.ready.notify_all();
        Ok(())
    }

    /// Waits for bytes to write and moves up to [`WRITE_PIECE`] of them
    /// into `piece` (replacing its contents). `false` when the outbox is
    /// closed and empty: the writer stops.
    pub fn take(&self, piece: &mut Vec<u8>) -> bool {
        let mut queued = self.queued.lock();
        while queued.buf.is_empty() && !queued.closed {
            self.ready.wait(&mut queued);
        }
        if queued.buf.is_empty() {
            return false;
        }
        let n = queued.buf.len().min(WRITE_PIECE);
        piece.clear();
        piece.extend(queued.buf.drain(..n));
        true
    }

    /// Notes that the socket accepted `n` more bytes.
    pub fn delivered(&self, n: usize) {
        let mut queued = self.queued.lock();
        queued.undelivered = queued.undelivered.saturating_sub(n);
        if queued.undelivered <= SOFT_LIMIT {
            queued.over_soft_since = None;
        }
    }

    /// Takes no more bytes; the writer stops once the rest is written.
    pub fn close(&self) {
        self.queued.lock().closed = true;
        self.ready.notify_all();
    }

    /// Takes no more bytes and drops what is queued: the writer stops at
    /// once (its socket failed).
    pub fn abandon(&self) {
        let mut queued = self.queued.lock();
        queued.closed = true;
        queued.buf = Vec::new();
        self.ready.notify_all();
    }
}

/// A subscribed connection as publishers see it.
pub struct Subscriber {
    id: u64,
    style: AtomicU8,
    pub outbox: Outbox,
    /// The connection in the registry of clients: cut off through it.
    client: Arc<Client>,
}

impl Subscriber {
    /// Queues `bytes` for this subscriber (`own`: its own replies, else a
    /// message); when that makes it too slow, closes its connection and
    /// counts it in `registry`.
    pub fn send(
        &self,
        bytes: &[u8],
        now: Instant,
        own: bool,
        registry: &PubSub,
    ) -> Result<(), Refused> {
        let sent = self.outbox.push(bytes, now, own);
        if sent == Err(Refused::Slow) {
            registry.slow_disconnected.fetch_add(1, Ordering::Relaxed);
            log::info!(
                "closed subscriber {}: more than its output limit undelivered",
                self.id
            );
            self.client.kill_connection();
        }
        sent
    }

    /// Ends the connection after its socket failed: nothing more is
    /// queued or written, and its reads end.
    pub fn cut(&self) {
        self.outbox.abandon();
        self.client.kill_connection();
    }

    fn style(&self) -> Style {
        Style::from_u8(self.style.load(Ordering::Relaxed))
    }

    /// The RESP version its pushes are written in (2 for a text
    /// subscriber, which reads no RESP).
    pub fn version(&self) -> u8 {
        match self.style() {
            Style::Resp3 => 3,
            Style::Text | Style::Resp2 => 2,
        }
    }
}

/// Every subscription of every connection.
#[derive(Default)]
pub struct PubSub {
    /// Each channel with a subscriber, and its subscribers in the order
    /// they subscribed.
    channels: RwLock<HashMap<Vec<u8>, Vec<Arc<Subscriber>>>>,
    /// Every pattern subscription, in the order they were made.
    patterns: RwLock<Vec<(Vec<u8>, Arc<Subscriber>)>>,
    /// Subscribers cut off for holding too much undelivered output.
    slow_disconnected: AtomicU64,
}

/// A message as each framing writes it, encoded when first needed.
struct Encoded<'a> {
    channel: &'a [u8],
    payload: &'a [u8],
    by_style: [Option<Vec<u8>>; 4],
}

impl Encoded<'_> {
    fn get(&mut self, style: Style) -> &[u8] {
        let (channel, payload) = (self.channel, self.payload);
        self.by_style[style as usize].get_or_insert_with(|| encode(style, None, channel, payload))
    }
}

/// A message as `style` writes it, as matched by `pattern` if given.
fn encode(style: Style, pattern: Option<&[u8]>, channel: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() * 4 / 3 + channel.len() + 32);
    match style {
        Style::Text => text::write_message(&mut out, pattern, channel, payload),
        Style::Resp2 | Style::Resp3 => {
            resp::write_message(&mut out, style as u8, pattern, channel, payload);
        }
    }
    out
}

impl PubSub {
    /// PUBLISH: queues `payload` for every subscriber of `channel` and of
    /// a pattern matching it, and returns how many deliveries that was (a
    /// connection subscribed both ways counts twice, as in Redis).
    pub fn publish(&self, channel: &[u8], payload: &[u8]) -> usize {
        let now = Instant::now();
        let mut encoded = Encoded {
            channel,
            payload,
            by_style: Default::default(),
        };
        let mut receivers = 0;
        if let Some(subscribers) = self.channels.read().get(channel) {
            for subscriber in subscribers {
                let _ = subscriber.send(encoded.get(subscriber.style()), now, false, self);
                receivers += 1;
            }
        }
        for (pattern, subscriber) in self.patterns.read().iter() {
            if glob_match(pattern, channel) {
                let bytes = encode(subscriber.style(), Some(pattern), channel, payload);
                let _ = subscriber.send(&bytes, now, false, self);
                receivers += 1;
            }
        }
        receivers
    }

    /// PUBSUB's answers.
    pub fn query(&self, query: &PubSubQuery<'_>) -> Reply<'static> {
        match query {
            PubSubQuery::Channels(pattern) => {
                let channels = self.channels.read();
                let names = channels
                    .keys()
                    .filter(|c| pattern.map_or(true, |p| glob_match(p, c)))
                    .map(|c| Frame::Bulk(c.clone()))
                    .collect();
                Reply::Frame(Frame::Array(names))
            }
            PubSubQuery::NumSub(names) => {
                let channels = self.channels.read();
                let mut counts = Vec::with_capacity(names.len() * 2);
                for name in names {
                    let n = channels.get(*name).map_or(0, Vec::len);
                    counts.push(Frame::Bulk(name.to_vec()));
                    counts.push(Frame::Integer(n as i64));
                }
                Reply::Frame(Frame::Array(counts))
            }
            PubSubQuery::NumPat => Reply::Frame(Frame::Integer(self.pattern_count() as i64)),
        }
    }

    /// The connection `id` if it subscribes to `channel`.
    pub fn subscriber_of(&self, channel: &[u8], id: u64) -> Option<Arc<Subscriber>> {
        let channels = self.channels.read();
        channels.get(channel)?.iter().find(|s| s.id == id).cloned()
    }

    /// Channels with at least one subscriber.
    pub fn channel_count(&self) -> usize {
        self.channels.read().len()
    }

    /// Distinct patterns subscribed to, as Redis counts `pubsub_patterns`.
    pub fn pattern_count(&self) -> usize {
        let patterns = self.patterns.read();
        let mut distinct: Vec<&[u8]> = patterns.iter().map(|(p, _)| &p[..]).collect();
        distinct.sort_unstable();
        distinct.dedup();
        distinct.len()
    }

    /// Subscribers cut off for being too slow, since start.
    pub fn slow_disconnected(&self) -> u64 {
        self.slow_disconnected.load(Ordering::Relaxed)
    }

    fn enter(&self, patterns: bool, name: &[u8], subscriber: &Arc<Subscriber>) {
        if patterns {
            self.patterns
                .write()
                .push((name.to_vec(), Arc::clone(subscriber)));
        } else {
            self.channels
                .write()
                .entry(name.to_vec())
                .or_default()
                .push(Arc::clone(subscriber));
        }
    }

    fn leave(&self, patterns: bool, name: &[u8], id: u64) {
        if patterns {
            self.patterns
                .write()
                .retain(|(p, s)| !(s.id == id && p == name));
        } else {
            let mut channels = self.channels.write();
            if let Some(subscribers) = channels.get_mut(name) {
                subscribers.retain(|s| s.id != id);
                if subscribers.is_empty() {
                    channels.remove(name);
                }
            }
        }
    }
}

/// One connection's subscriptions, kept in its session. Dropping it takes
/// them out of the registry and closes the outbox.
#[derive(Default)]
pub struct Subscriptions {
    channels: Vec<Vec<u8>>,
    patterns: Vec<Vec<u8>>,
    /// Made but not yet in the registry: entered once their confirmations
    /// are in the outbox (see the module documentation).
    unregistered: Vec<(bool, Vec<u8>)>,
    /// This connection as publishers see it, from its first subscription
    /// on, and the registry it is in.
    subscriber: Option<(Arc<Subscriber>, Arc<PubSub>)>,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Subscriptions {{ channels: {}, patterns: {} }}",
            self.channels.len(),
            self.patterns.len()
        )
    }
}

impl Subscriptions {
    /// Channels and patterns subscribed to.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// The outbox every reply and message of this connection goes
    /// through, once it has subscribed.
    pub fn outbox(&self) -> Option<&Arc<Subscriber>> {
        self.subscriber.as_ref().map(|(s, _)| s)
    }

    /// Subscriptions whose confirmations are yet to reach the outbox.
    pub fn has_unregistered(&self) -> bool {
        !self.unregistered.is_empty()
    }

    /// Enters the subscriptions made since the last call in the registry:
    /// call once their confirmations are in the outbox.
    pub fn register(&mut self) {
        let Some((subscriber, registry)) = &self.subscriber else {
            return;
        };
        for (patterns, name) in self.unregistered.drain(..) {
            registry.enter(patterns, &name, subscriber);
        }
    }

    /// Follows the connection's RESP version (HELLO) for the messages it
    /// is sent.
    pub fn set_protocol(&self, protocol: u8) {
        if let Some((subscriber, _)) = &self.subscriber {
            if subscriber.style() != Style::Text {
                let style = Style::of(true, protocol);
                subscriber.style.store(style as u8, Ordering::Relaxed);
            }
        }
    }

    /// This connection's outbox, made now if it has none: everything it
    /// is sent goes through it from then on. `style` is how messages are
    /// framed for it: `(resp, protocol)`.
    pub fn outbox_for(
        &mut self,
        registry: &Arc<PubSub>,
        client: &Arc<Client>,
        style: (bool, u8),
    ) -> Arc<Subscriber> {
        let style = Style::of(style.0, style.1);
        let (subscriber, _) = self.subscriber.get_or_insert_with(|| {
            let subscriber = Subscriber {
                id: client.id,
                style: AtomicU8::new(style as u8),
                outbox: Outbox::default(),
                client: Arc::clone(client),
            };
            (Arc::new(subscriber), Arc::clone(registry))
        });
        subscriber.style.store(style as u8, Ordering::Relaxed);
        Arc::clone(subscriber)
    }

    /// (P)SUBSCRIBE `names` for the connection `client`, whose messages
    /// are to be framed as `resp` in RESP `protocol` or as text.
    pub fn subscribe(
        &mut self,
        registry: &Arc<PubSub>,
        client: &Arc<Client>,
        patterns: bool,
        names: &[&[u8]],
        style: (bool, u8),
    ) -> Reply<'static> {
        self.outbox_for(registry, client, style);
        let kind = if patterns {
            SubscriptionKind::PSubscribe
        } else {
            SubscriptionKind::Subscribe
        };
        let mut confirmations = Vec::with_capacity(names.len());
        for &name in names {
            let list = if patterns {
                &mut self.patterns
            } else {
                &mut self.channels
            };
            if !list.iter().any(|n| n == name) {
                list.push(name.to_vec());
                self.unregistered.push((patterns, name.to_vec()));
            }
            confirmations.push(Confirmation {
                kind,
                name: Some(name.to_vec()),
                count: self.count(),
            });
        }
        client.set_subscriptions(self.channels.len(), self.patterns.len());
        Reply::Subscription(confirmations)
    }

    /// (P)UNSUBSCRIBE `names`, or every one when `names` is empty.
    pub fn unsubscribe(
        &mut self,
        client: &Client,
        patterns: bool,
        names: &[&[u8]],
    ) -> Reply<'static> {
        let kind = if patterns {
            SubscriptionKind::PUnsubscribe
        } else {
            SubscriptionKind::Unsubscribe
        };
        let named: Vec<Vec<u8>> = if names.is_empty() {
            let list = if patterns {
                &self.patterns
            } else {
                &self.channels
            };
            list.clone()
        } else {
            names.iter().map(|n| n.to_vec()).collect()
        };
        if named.is_empty() {
            return Reply::Subscription(vec![Confirmation {
                kind,
                name: None,
                count: self.count(),
            }]);
        }
        let mut confirmations = Vec::with_capacity(named.len());
        for name in named {
            self.drop_one(patterns, &name);
            confirmations.push(Confirmation {
                kind,
                name: Some(name),
                count: self.count(),
            });
        }
        client.set_subscriptions(self.channels.len(), self.patterns.len());
        Reply::Subscription(confirmations)
    }

    /// Forgets every subscription (RESET).
    pub fn clear(&mut self, client: &Client) {
        let channels = std::mem::take(&mut self.channels);
        let patterns = std::mem::take(&mut self.patterns);
        for name in &channels {
            self.leave(false, name);
        }
        for name in &patterns {
            self.leave(true, name);
        }
        self.unregistered.clear();
        client.set_subscriptions(0, 0);
    }

    /// Takes one subscription out of the session and the registry.
    fn drop_one(&mut self, patterns: bool, name: &[u8]) {
        let list = if patterns {
            &mut self.patterns
        } else {
            &mut self.channels
        };
        let Some(at) = list.iter().position(|n| n == name) else {
            return;
        };
        list.remove(at);
        self.leave(patterns, name);
    }

    fn leave(&mut self, patterns: bool, name: &[u8]) {
        let before = self.unregistered.len();
        self.unregistered
            .retain(|(p, n)| !(*p == patterns && n == name));
        if self.unregistered.len() == before {
            if let Some((subscriber, registry)) = &self.subscriber {
                registry.leave(patterns, name, subscriber.id);
            }
        }
    }
}

impl Drop for Subscriptions {
    fn drop(&mut self) {
        let Some((subscriber, registry)) = self.subscriber.take() else {
            return;
        };
        self.unregistered.clear();
        for name in &self.channels {
            registry.leave(false, name, subscriber.id);
        }
        for name in &self.patterns {
            registry.leave(true, name, subscriber.id);
        }
        subscriber.outbox.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An outbox takes bytes up to the hard limit and closes past it; the
    /// writer's pieces lower the undelivered count.
    #[test]
    fn an_outbox_closes_past_the_hard_limit() {
        let outbox = Outbox::default();
        let now = Instant::now();
        let block = vec![7u8; 1 << 20];
        for _ in 0..32 {
            assert_eq!(outbox.push(&block, now, false), Ok(()));
        }
        let mut piece = Vec::new();
        assert!(outbox.take(&mut piece));
        assert_eq!(piece.len(), WRITE_PIECE);
        outbox.delivered(piece.len());
        assert_eq!(outbox.push(&piece, now, false), Ok(()));
        assert_eq!(outbox.push(&[1], now, false), Err(Refused::Slow));
        assert_eq!(outbox.push(&[1], now, false), Err(Refused::Closed));
    }

    /// Above the soft limit for the soft time, an outbox closes; dropping
    /// below it starts the clock again.
    #[test]
    fn an_outbox_closes_after_the_soft_time_above_the_soft_limit() {
        let outbox = Outbox::default();
        let start = Instant::now();
        let block = vec![7u8; SOFT_LIMIT + 1];
        assert_eq!(outbox.push(&block, start, false), Ok(()));
        assert_eq!(outbox.push(&[1], start + SOFT_SECONDS / 2, false), Ok(()));
        assert_eq!(
            outbox.push(&[1], start + SOFT_SECONDS, false),
            Err(Refused::Slow)
        );
    }

    /// While messages are held back, the connection's own bytes go first;
    /// released, the messages follow in their order.
    #[test]
    fn held_messages_follow_the_connections_own_bytes() {
        let outbox = Outbox::default();
        let now = Instant::now();
        outbox.hold();
        outbox.push(b"m1 ", now, false).unwrap();
        outbox.push(b"confirm ", now, true).unwrap();
        outbox.push(b"m2", now, false).unwrap();
        outbox.release();
        let mut piece = Vec::new();
        assert!(outbox.take(&mut piece));
        assert_eq!(piece, b"confirm m1 m2");
    }

    /// A closed outbox still hands out what it holds, then stops its
    /// writer; an abandoned one stops it at once.
    #[test]
    fn a_closed_outbox_drains_and_an_abandoned_one_stops() {
        let outbox = Outbox::default();
        outbox.push(b"abc", Instant::now(), false).unwrap();
        outbox.close();
        let mut piece = Vec::new();
        assert!(outbox.take(&mut piece));
        assert_eq!(piece, b"abc");
        assert!(!outbox.take(&mut piece));
        let abandoned = Outbox::default();
        abandoned.push(b"abc", Instant::now(), false).unwrap();
        abandoned.abandon();
        assert!(!abandoned.take(&mut piece));
    }
}
