//! The connection loop: read, frame, answer, batch the replies, and cut off
//! clients that hold a worker without using it.
//!
//! Reading goes through one `BufReader`; what it holds is handed to the
//! connection's [`Framer`], which owns the grammar of both protocols and
//! every bound on a request ([`crate::protocol::framer`]). This loop owns
//! the socket, the deadlines, the buffers' lifetimes and the flush rule,
//! and never looks inside a request.
//!
//! Replies go into one buffer, flushed just before the loop would block
//! for more input, that is, when no further complete request is buffered:
//! a pipelined batch read in one `read` is answered with one `write`, and a
//! lone request is answered at once.
//!
//! With `--aof`, no reply to a change is sent before the change is durable
//! under the `--appendfsync` policy: the flush hands a batch with such
//! replies to the log, which sends it once the newest record the batch's
//! requests produced is durable, and the loop goes back to reading
//! ([`super::outlet`]); the next flush first waits until that batch is
//! sent. A subscribed connection, or one whose socket was found full,
//! waits for the log itself before writing ([`crate::aof::Aof::wait`]).
//! Either way, if the log fails, each reply whose change is not durable is
//! replaced by an error line; the other replies stand.
//!
//! ## Deadlines
//!
//! Every blocking read carries a socket timeout, the earliest of:
//! - the idle timeout, while no request is partly received (the socket
//!   timeout is then the constant idle timeout, set once, not a syscall per
//!   read);
//! - the request deadline, `--request-timeout` after the first byte of a
//!   partly received request: a client trickling a line byte by byte is cut
//!   off although every read succeeds;
//! - the authentication deadline, while a password is required and not yet
//!   given.
//!
//! Writing has one deadline: `--write-timeout` after the last byte the
//! socket accepted. The socket's own send timeout is a tenth of that
//! ([`write_slice`]), so a blocked write returns often enough to check the
//! deadline, and a partial write (which the kernel returns only after
//! waiting out the socket timeout) costs at most one slice: the worker is
//! free within 1.1 x `--write-timeout` of the client's last read. Once the
//! connection has handed replies to the log, the send timeout is
//! [`super::outlet::DELIVERY_SLICE`] instead, so that a delivery by
//! another thread never waits long on this socket; the deadline is
//! unchanged. After a failed write the unsent replies are dropped, never
//! flushed again.
//!
//! A line still unterminated when the client closes its side is dropped, not
//! executed: a client that died mid-write leaves no truncated value behind.
//! Any I/O error ends this connection only.
//!
//! ## Subscribers
//!
//! Once a connection subscribes, every byte it is sent goes through its
//! outbox ([`crate::exec::pubsub`]): the flush appends the replies there
//! instead of writing them, and a writer thread of the connection's own
//! writes the outbox to a clone of the socket, with the same write
//! deadline, while this loop goes on reading. After a SUBSCRIBE's
//! confirmations are in the outbox, the loop enters the new subscriptions
//! in the registry, so no message can overtake them. A subscribed
//! connection has no idle timeout. When the connection ends it leaves the
//! registry, and the writer sends what is queued before it is joined.
//!
//! ## Passwords
//!
//! After a request that may carry a password (AUTH, PASS, HELLO), the
//! framer's buffers are overwritten at once and the read buffer before its
//! next refill ([`Wiping`]). A failed authentication delays its reply as
//! the session says ([`crate::exec::FIRST_AUTH_DELAY`]); the worker sleeps
//! holding no lock, so no other client is slowed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::RwLockReadGuard;
use std::time::{Duration, Instant};

use super::outlet::{Journaled, Outlet, Sender, Stragglers, DELIVERY_SLICE};
use crate::aof::{self, Aof};
use crate::copy::Appender;
use crate::exec::clients::Peer;
use crate::exec::pubsub::{PubSub, Subscriber};
use crate::exec::{execute, tracking, transaction, Context, Session};
use crate::protocol::commands::{self, carries_password, COMMANDS};
use crate::protocol::framer::{self, FrameError, Framer, Request, Step};
use crate::protocol::{resp, text, ClientError, Reply};
use crate::stats::{Event, LocalCounts};
use crate::store::{Millis, PREFETCH_KEYS};

use super::Shared;

/// Read buffer per connection. Requests of a cache are short; this holds
/// hundreds of pipelined ones.
const READ_BUFFER: usize = 16 << 10;

/// Replies buffered before they are written out even though more requests
/// are waiting: a long pipelined batch is answered in pieces of this size.
const WRITE_BUFFER: usize = 16 << 10;

/// Capacity the reply and value buffers keep between requests. One large
/// reply does not pin its buffer for the rest of the connection.
const KEPT_BUFFER: usize = 64 << 10;

/// The socket's send timeout is the write timeout divided by this, so a
/// stalled write is noticed within a tenth of the write timeout.
const WRITE_SLICES: u32 = 10;

/// After a framing error closes a connection, the server reads and drops
/// what the client already sent, so that closing does not reset the
/// connection before the client has read the error: at most this many
/// bytes ...
const DRAIN_BYTES: usize = 64 << 20;

/// ... for at most this long in all ...
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// ... stopping once the client has been silent this long.
const DRAIN_QUIET: Duration = Duration::from_millis(100);

/// The socket send timeout for `write_timeout`: a tenth of it, between
/// 1 ms and 1 s.
pub fn write_slice(write_timeout: Duration) -> Duration {
    (write_timeout / WRITE_SLICES).clamp(Duration::from_millis(1), Duration::from_secs(1))
}

/// A connected socket, as the loop needs it.
pub trait Socket: Read + Write + Copy {
    fn set_read_timeout(self, timeout: Option<Duration>) -> io::Result<()>;
    fn shutdown_write(self) -> io::Result<()>;
    /// What the registry of connections shows and how CLIENT KILL ends
    /// it: a clone of the socket, shut down both ways; and whether it is
    /// a Unix socket.
    fn peer(self) -> io::Result<(Peer, bool)>;
    /// A clone of the socket that another thread may write to (a
    /// subscriber's writer, a delivery of replies handed to the log).
    fn writer(self) -> io::Result<Box<dyn Sender>>;
    fn set_write_timeout(self, timeout: Duration) -> io::Result<()>;
}

/// The socket's file descriptor, as CLIENT LIST shows it.
#[cfg(unix)]
fn fd_of(socket: &impl std::os::fd::AsRawFd) -> i64 {
    i64::from(socket.as_raw_fd())
}

#[cfg(not(unix))]
fn fd_of<T>(_: &T) -> i64 {
    -1
}

impl Socket for &TcpStream {
    fn set_read_timeout(self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn shutdown_write(self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn peer(self) -> io::Result<(Peer, bool)> {
        let handle = self.try_clone()?;
        let peer = Peer {
            addr: self.peer_addr()?.to_string(),
            laddr: self.local_addr()?.to_string(),
            fd: fd_of(self),
            kill: Box::new(move || {
                let _ = handle.shutdown(Shutdown::Both);
            }),
        };
        Ok((peer, false))
    }

    fn writer(self) -> io::Result<Box<dyn Sender>> {
        Ok(Box::new(self.try_clone()?))
    }

    fn set_write_timeout(self, timeout: Duration) -> io::Result<()> {
        TcpStream::set_write_timeout(self, Some(timeout))
    }
}

#[cfg(unix)]
impl Socket for &UnixStream {
    fn set_read_timeout(self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }

    fn shutdown_write(self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn peer(self) -> io::Result<(Peer, bool)> {
        let handle = self.try_clone()?;
        // Redis names a Unix socket client by the socket's path and port 0.
        let local = self.local_addr()?;
        let path = local.as_pathname().map(|p| p.display().to_string());
        let addr = format!("{}:0", path.unwrap_or_default());
        let peer = Peer {
            laddr: addr.clone(),
            addr,
            fd: fd_of(self),
            kill: Box::new(move || {
                let _ = handle.shutdown(Shutdown::Both);
            }),
        };
        Ok((peer, true))
    }

    fn writer(self) -> io::Result<Box<dyn Sender>> {
        Ok(Box::new(self.try_clone()?))
    }

    fn set_write_timeout(self, timeout: Duration) -> io::Result<()> {
        UnixStream::set_write_timeout(self, Some(timeout))
    }
}

/// Either kind of connected socket. The loop is compiled once, for this,
/// rather than once per kind: a branch per call costs nothing beside the
/// system call it makes, and the binary stays smaller.
#[derive(Clone, Copy)]
pub enum Stream<'a> {
    Tcp(&'a TcpStream),
    #[cfg(unix)]
    Unix(&'a UnixStream),
}

impl Read for Stream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match *self {
            Stream::Tcp(mut s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(mut s) => s.read(buf),
        }
    }
}

impl Write for Stream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match *self {
            Stream::Tcp(mut s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(mut s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Socket for Stream<'_> {
    fn set_read_timeout(self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => Socket::set_read_timeout(s, timeout),
            #[cfg(unix)]
            Stream::Unix(s) => Socket::set_read_timeout(s, timeout),
        }
    }

    fn shutdown_write(self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown_write(),
            #[cfg(unix)]
            Stream::Unix(s) => s.shutdown_write(),
        }
    }

    fn peer(self) -> io::Result<(Peer, bool)> {
        match self {
            Stream::Tcp(s) => s.peer(),
            #[cfg(unix)]
            Stream::Unix(s) => s.peer(),
        }
    }

    fn writer(self) -> io::Result<Box<dyn Sender>> {
        match self {
            Stream::Tcp(s) => s.writer(),
            #[cfg(unix)]
            Stream::Unix(s) => s.writer(),
        }
    }

    fn set_write_timeout(self, timeout: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => Socket::set_write_timeout(s, timeout),
            #[cfg(unix)]
            Stream::Unix(s) => Socket::set_write_timeout(s, timeout),
        }
    }
}

/// The socket as the `BufReader` reads it: when asked, it overwrites the
/// reader's whole buffer before the next read, so a password that was read
/// into it does not stay there.
struct Wiping<S> {
    socket: S,
    wipe: bool,
}

impl<S: Socket> Read for Wiping<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.wipe) {
            buf.fill(0);
            std::hint::black_box(&buf);
        }
        self.socket.read(buf)
    }
}

/// Replies waiting to be written, and the write deadline.
struct Output<S> {
    socket: S,
    buf: Vec<u8>,
    write_timeout: Duration,
    /// The append-only file, with `--aof`.
    aof: Option<Arc<Aof>>,
    /// The replies in `buf` to requests that changed the store, in order.
    /// Always empty without `--aof`.
    journaled: Vec<Journaled>,
    /// Once the connection has subscribed: its outbox, which every flush
    /// goes to, the registry, and the writer thread.
    subscribed: Option<Subscribed>,
    /// With `--aof`, once a batch's replies were handed to the log: where
    /// they wait ([`super::outlet`]).
    outlet: Option<Arc<Outlet>>,
    /// Where the outlet counts deliveries it finishes on threads of their
    /// own, for SHUTDOWN.
    stragglers: Arc<Stragglers>,
}

/// A subscribed connection's way out: see the module documentation.
struct Subscribed {
    subscriber: Arc<Subscriber>,
    registry: Arc<PubSub>,
    writer: JoinHandle<()>,
}

impl<S: Socket> Output<S> {
    /// Writes every buffered reply once the changes behind them are
    /// durable, or hands them to the log to be written then; first waits
    /// for the batch handed off before, if any. On failure the rest is
    /// dropped.
    fn flush(&mut self) -> Result<(), End> {
        if let Some(outlet) = &self.outlet {
            outlet.settle()?;
        }
        if self.hand_off() {
            return Ok(());
        }
        self.await_durable();
        let result = match &self.subscribed {
            None => send_all(&mut self.socket, &self.buf, self.write_timeout),
            Some(_) if self.buf.is_empty() => Ok(()),
            Some(to) => to
                .subscriber
                .send(&self.buf, Instant::now(), true, &to.registry)
                .map_err(|_| End::Closed),
        };
        self.buf.clear();
        self.buf.shrink_to(KEPT_BUFFER);
        result
    }

    /// From now on, sends everything through `subscriber`'s outbox,
    /// written out by a thread of its own, once the batch handed to the
    /// log, if any, is sent.
    fn subscribe(
        &mut self,
        subscriber: &Arc<Subscriber>,
        registry: &Arc<PubSub>,
    ) -> Result<(), End> {
        if let Some(outlet) = &self.outlet {
            outlet.settle()?;
        }
        let mut socket = self.socket.writer()?;
        let timeout = self.write_timeout;
        let outbox = Arc::clone(subscriber);
        let writer = std::thread::Builder::new()
            .name("subscriber-writer".into())
            .spawn(move || {
                let mut piece = Vec::new();
                while outbox.outbox.take(&mut piece) {
                    if send_all(&mut socket, &piece, timeout).is_err() {
                        outbox.cut();
                        return;
                    }
                    outbox.outbox.delivered(piece.len());
                }
            })?;
        self.subscribed = Some(Subscribed {
            subscriber: Arc::clone(subscriber),
            registry: Arc::clone(registry),
            writer,
        });
        Ok(())
    }

    /// Closes the outbox, if any, and waits until the writer has sent
    /// what it holds (or given up at the write deadline).
    fn finish_writer(&mut self) {
        if let Some(subscribed) = self.subscribed.take() {
            subscribed.subscriber.outbox.close();
            let _ = subscribed.writer.join();
        }
    }

    /// Hands the buffered replies to the log when some wait for it,
    /// unless the connection has subscribed or its socket was found slow
    /// ([`super::outlet`]); the caller has settled the previous batch handed off.
    /// Returns whether it did.
    fn hand_off(&mut self) -> bool {
        let Some(aof) = &self.aof else {
            return false;
        };
        let Some(round) = self.journaled.last().map(|reply| reply.round) else {
            return false;
        };
        if self.subscribed.is_some() {
            return false;
        }
        let outlet = match &self.outlet {
            Some(outlet) => outlet,
            None => {
                let made = self.socket.writer().and_then(|writer| {
                    self.socket.set_write_timeout(DELIVERY_SLICE)?;
                    Ok(writer)
                });
                match made {
                    Ok(writer) => self.outlet.insert(Outlet::new(
                        writer,
                        self.write_timeout,
                        Arc::clone(&self.stragglers),
                    )),
                    Err(e) => {
                        log::debug!("replies wait for the log in the connection: {e}");
                        return false;
                    }
                }
            }
        };
        outlet.hand_off(aof, round, &mut self.buf, &mut self.journaled)
    }

    /// Waits for the batch handed to the log, if any, to be sent: before
    /// the connection ends.
    fn settle_outlet(&self) {
        if let Some(outlet) = &self.outlet {
            let _ = outlet.settle();
        }
    }

    /// Waits until the newest change behind a buffered reply is durable;
    /// if it cannot become so, replaces every reply whose change is not
    /// with an error.
    fn await_durable(&mut self) {
        let (Some(aof), Some(last)) = (&self.aof, self.journaled.last()) else {
            return;
        };
        if let Err(durable) = aof.wait(last.round) {
            Journaled::settle(&mut self.buf, &self.journaled, durable);
        }
        self.journaled.clear();
    }
}

/// Writes all of `data`, giving up once no byte has been accepted for
/// `timeout`.
pub(super) fn send_all(
    socket: &mut impl Write,
    mut data: &[u8],
    timeout: Duration,
) -> Result<(), End> {
    let mut progress = Instant::now();
    while !data.is_empty() {
        match socket.write(data) {
            Ok(0) => return Err(End::Io(io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                data = &data[n..];
                progress = Instant::now();
            }
            Err(e) => match e.kind() {
                io::ErrorKind::Interrupted => {}
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    if progress.elapsed() >= timeout {
                        return Err(End::Write);
                    }
                }
                _ => return Err(End::Io(e)),
            },
        }
    }
    Ok(())
}

/// Why a connection ended.
pub(super) enum End {
    /// The client closed, or sent QUIT, or broke the framing.
    Closed,
    Io(io::Error),
    Idle,
    Request,
    Auth,
    Write,
    /// An unauthenticated client sent an over-long line.
    Kicked,
}

impl From<io::Error> for End {
    fn from(e: io::Error) -> End {
        End::Io(e)
    }
}

/// Serves one connection until the client leaves, misbehaves, or an I/O
/// error ends it.
pub fn serve<S: Socket>(socket: S, shared: &Shared) {
    let _gauge = shared.stats.connection();
    let mut reader = BufReader::with_capacity(
        READ_BUFFER,
        Wiping {
            socket,
            wipe: false,
        },
    );
    let mut out = Output {
        socket,
        buf: Vec::with_capacity(WRITE_BUFFER),
        write_timeout: shared.config.write_timeout,
        aof: shared.aof.clone(),
        journaled: Vec::new(),
        subscribed: None,
        outlet: None,
        stragglers: Arc::clone(&shared.stragglers),
    };
    let started = Instant::now();
    let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
    let registration = match socket.peer() {
        Ok((peer, unix)) => shared.clients.register(id, peer, unix, shared.clock.now()),
        Err(e) => {
            log::debug!("cannot register connection: {e}");
            return;
        }
    };
    let mut session = Session::new(id, shared.config.password.is_none());
    session.client = Some(Arc::clone(registration.client()));
    let mut connection = Connection {
        framer: Framer::new(),
        in_flight: None,
        answer: Answer {
            shared,
            session,
            scratch: Vec::new(),
            counts: LocalCounts::default(),
            now: None,
            wipe: false,
        },
        auth_deadline: started + shared.config.auth_timeout,
        partial_since: started,
        read_timeout: None,
        fresh: false,
    };
    let end = connection.run(&mut reader, &mut out, socket);
    // Stop being told of changes, leave every channel, then let the
    // writer send what is queued.
    connection.answer.session.tracking = None;
    drop(std::mem::take(&mut connection.answer.session.pubsub));
    out.finish_writer();
    out.settle_outlet();
    shared.stats.add(&mut connection.answer.counts);
    let event = match end {
        End::Closed => None,
        End::Io(e) => {
            log::debug!("connection ended: {e}");
            None
        }
        End::Idle => Some(Event::IdleTimeout),
        End::Request => Some(Event::RequestTimeout),
        End::Auth => Some(Event::AuthTimeout),
        End::Write => Some(Event::WriteTimeout),
        End::Kicked => Some(Event::KickUnauthenticated),
    };
    if let Some(event) = event {
        shared.stats.record(event);
    }
}

/// What to do after a request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    Continue,
    Close,
    /// Close after a framing error, reading what the client already sent
    /// first.
    Abort,
    /// Stop the server (SHUTDOWN).
    Shutdown,
}

struct Connection<'a> {
    framer: Framer,
    answer: Answer<'a>,
    /// Held while a batch of requests is worked through, released before
    /// blocking for more: SHUTDOWN waits for every holder.
    in_flight: Option<RwLockReadGuard<'a, ()>>,
    auth_deadline: Instant,
    /// When the partly received request began arriving.
    partial_since: Instant,
    /// The socket's read timeout as last set, to skip needless syscalls.
    read_timeout: Option<Duration>,
    /// The read buffer was just filled: its requests are not prefetched
    /// yet.
    fresh: bool,
}

/// Everything that turns a request into a reply, kept apart from the
/// framer so that a request borrowed from it can be answered.
struct Answer<'a> {
    shared: &'a Shared,
    session: Session,
    /// Values read by GET, reused across requests.
    scratch: Vec<u8>,
    counts: LocalCounts,
    /// The time at which the requests of the current read run: one clock
    /// read serves a whole pipelined batch.
    now: Option<Millis>,
    /// The last request may have carried a password.
    wipe: bool,
}

impl Connection<'_> {
    fn run<S: Socket>(
        &mut self,
        reader: &mut BufReader<Wiping<S>>,
        out: &mut Output<S>,
        socket: S,
    ) -> End {
        match self.serve_requests(reader, out, socket) {
            Ok(()) => End::Closed,
            Err(End::Request) => {
                // The partial request gets its answer; the socket may be
                // unwritable too, which changes nothing.
                let error = Reply::Error(ClientError::RequestTimeout);
                let resp = self.framer.in_resp_request();
                let _ = self.answer.write(out, &error, resp);
                let _ = out.flush();
                End::Request
            }
            Err(end) => end,
        }
    }

    fn serve_requests<S: Socket>(
        &mut self,
        reader: &mut BufReader<Wiping<S>>,
        out: &mut Output<S>,
        socket: S,
    ) -> Result<(), End> {
        loop {
            let input = self.fill(reader, out, socket)?;
            if input.is_empty() {
                return out.flush();
            }
            if self.in_flight.is_none() {
                self.in_flight = Some(self.answer.shared.in_flight.read());
            }
            if std::mem::take(&mut self.fresh)
                && self.answer.shared.prefetch
                && self.answer.session.authenticated
                && !self.framer.in_request()
            {
                self.prefetch(input);
            }
            let was_partial = self.framer.in_request();
            let authenticated = self.answer.session.authenticated;
            let limits = self.answer.shared.limits.framing(authenticated);
            let (used, step) = self.framer.next(input, &limits);
            let next = match step {
                Step::Partial => Next::Continue,
                Step::Request(request) => self.answer.respond(request, out)?,
                Step::Error(error) => self.answer.refuse(error, out)?,
            };
            reader.consume(used);
            if !was_partial && self.framer.in_request() {
                self.partial_since = Instant::now();
            }
            if std::mem::take(&mut self.answer.wipe) {
                self.framer.wipe();
                reader.get_mut().wipe = true;
            }
            match next {
                Next::Continue => {
                    if out.buf.len() >= WRITE_BUFFER {
                        out.flush()?;
                    }
                }
                Next::Close => return out.flush(),
                Next::Shutdown => {
                    out.flush()?;
                    self.in_flight = None;
                    self.answer.shared.shutdown();
                }
                Next::Abort => {
                    out.flush()?;
                    out.finish_writer();
                    drain(reader, socket);
                    return Ok(());
                }
            }
        }
    }

    /// Makes sure the read buffer holds data, blocking under the earliest
    /// deadline. Before blocking, the replies so far are flushed: no
    /// further complete request is buffered. Returns the buffer, empty at
    /// end of stream.
    fn fill<'r, S: Socket>(
        &mut self,
        reader: &'r mut BufReader<Wiping<S>>,
        out: &mut Output<S>,
        socket: S,
    ) -> Result<&'r [u8], End> {
        while reader.buffer().is_empty() {
            self.answer.now = None;
            out.flush()?;
            self.in_flight = None;
            self.answer.shared.stats.add(&mut self.answer.counts);
            let (timeout, on_expiry) = self.read_deadline();
            if timeout.is_some_and(|t| t.is_zero()) {
                return Err(on_expiry);
            }
            if timeout != self.read_timeout {
                socket.set_read_timeout(timeout)?;
                self.read_timeout = timeout;
            }
            match reader.fill_buf().map(|buf| buf.is_empty()) {
                Ok(_) => {
                    self.fresh = true;
                    break;
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::Interrupted => {}
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                        // An idle timeout is the constant socket timeout, so
                        // its expiry is final; the others are re-checked.
                        if matches!(on_expiry, End::Idle) {
                            return Err(End::Idle);
                        }
                    }
                    _ => return Err(End::Io(e)),
                },
            }
        }
        Ok(reader.buffer())
    }

    /// Brings into cache the entries the requests at the start of `input`
    /// name, so that a pipelined batch waits for their cache misses
    /// together rather than one request at a time (see
    /// [`crate::store::Store::prefetch`]).
    fn prefetch(&self, input: &[u8]) {
        let mut names: [&[u8]; PREFETCH_KEYS] = [&[]; PREFETCH_KEYS];
        let found = framer::keys_ahead(input, &mut names);
        self.answer.shared.store.prefetch(&names[..found]);
    }

    /// The timeout for the next blocking read and what its expiry means.
    /// `Some(ZERO)` means a deadline has already passed.
    fn read_deadline(&self) -> (Option<Duration>, End) {
        let config = &self.answer.shared.config;
        let now = Instant::now();
        let mut best = if self.framer.in_request() {
            let deadline = self.partial_since + config.request_timeout;
            (Some(deadline.saturating_duration_since(now)), End::Request)
        } else if self.answer.session.pubsub.count() > 0 {
            // As in Redis, a subscriber may wait for messages forever.
            (None, End::Idle)
        } else {
            (self.answer.shared.clients.idle_timeout(), End::Idle)
        };
        if !self.answer.session.authenticated {
            let left = self.auth_deadline.saturating_duration_since(now);
            if best.0.map_or(true, |t| left <= t) {
                best = (Some(left), End::Auth);
            }
        }
        best
    }
}

impl Answer<'_> {
    /// Parses and executes one request and writes its reply.
    fn respond<S: Socket>(
        &mut self,
        request: Request<'_>,
        out: &mut Output<S>,
    ) -> Result<Next, End> {
        let shared = self.shared;
        let resp = matches!(request, Request::Resp(_));
        self.wipe |= carries_password(&request);
        let name = commands::name_of(&request);
        // Only CLIENT LIST and INFO read it.
        if name.eq_ignore_ascii_case(b"client") {
            self.session.request_len = request.wire_len();
        }
        let writable = shared
            .aof
            .as_ref()
            .map_or(true, |aof| !aof.refuses_writes());
        let now = match self.now {
            Some(now) => now,
            None => {
                let now = shared.clock.now();
                self.now = Some(now);
                if let Some(client) = &self.session.client {
                    client.active(now);
                }
                now
            }
        };
        // Inside MULTI, a request is queued (its reply `+QUEUED` or the
        // refusal), not run.
        let parsed = if self.session.multi.is_some() && transaction::queues(&request) {
            Err(transaction::queue(
                request,
                &mut self.session,
                &shared.limits,
                writable,
                shared.store.memory_limit(),
            ))
        } else {
            let gate = self.session.gate(writable);
            commands::parse_row(request, &shared.limits, gate)
                .map_err(|refusal| transaction::refused(name, resp, refusal, &mut self.session))
        };
        // A tracking connection's read runs, and its reply is queued, under
        // its gate (see `exec::tracking`).
        let tracking = self.session.tracking.is_some();
        let reads = |row: usize| tracking && COMMANDS[row].reads();
        let gate = match &parsed {
            Ok((row, _)) if reads(*row) => {
                self.session.tracking.as_ref().map(|t| Arc::clone(&t.gate))
            }
            _ => None,
        };
        let held = gate.as_ref().map(|g| g.hold());
        let reply = match parsed {
            Err(refusal) => {
                self.counts.commands += 1;
                if let Some(row) = commands::row_of(name, resp) {
                    self.counts.refused(row);
                }
                refusal
            }
            Ok((row, command)) => {
                if let Some(client) = &self.session.client {
                    client.ran(row);
                }
                let ctx = Context {
                    store: &shared.store,
                    stats: &shared.stats,
                    config: &shared.config,
                    aof: shared.aof.as_deref(),
                    clients: &shared.clients,
                    limits: &shared.limits,
                    writable,
                    pubsub: &shared.pubsub,
                    tracking: &shared.tracking,
                    clock: &shared.clock,
                    listening: &shared.listening,
                    resp,
                    reads: reads(row),
                };
                let started = self.counts.time_this().then(Instant::now);
                let reply = execute(
                    command,
                    &ctx,
                    &mut self.session,
                    now,
                    &mut self.scratch,
                    &mut self.counts,
                );
                let failed = matches!(reply, Reply::Error(_) | Reply::ErrorText(_));
                self.counts.ran(row, failed, started.map(|s| s.elapsed()));
                reply
            }
        };
        if let Some(code) = resp::error_code(&reply) {
            self.counts.error(&code);
        }
        if let Some(delay) = self.session.auth_delay.take() {
            out.flush()?;
            std::thread::sleep(delay);
        }
        let next = match reply {
            Reply::Quit => Next::Close,
            Reply::Shutdown => Next::Shutdown,
            _ if self.session.close => Next::Close,
            _ => Next::Continue,
        };
        // A text QUIT has no reply; RESP's is `+OK`.
        let start = out.buf.len();
        // CLIENT REPLY drops replies, not RESP3's pushes.
        let push = resp && self.session.protocol == 3 && matches!(reply, Reply::Subscription(_));
        if !self.session.drops_reply() || push {
            write_reply(&mut out.buf, &reply, resp, self.session.protocol)?;
        }
        if shared.aof.is_some() {
            let round = aof::take_appended();
            if round != 0 {
                out.journaled.push(Journaled {
                    start,
                    end: out.buf.len(),
                    round,
                    resp,
                    version: self.session.protocol,
                });
            }
        }
        if held.is_some() && out.subscribed.is_some() {
            out.flush()?;
        }
        drop(held);
        // The invalidations this command caused, before its reply is sent;
        // its own connection's right after the reply, and, on a tracking
        // connection, queued with it once the others were told.
        if shared.tracking.clients() > 0 {
            tracking::end_command(&shared.tracking);
            tracking::take_own(&mut out.buf);
        }
        if tracking && out.subscribed.is_some() {
            out.flush()?;
        }
        if self.scratch.capacity() > KEPT_BUFFER {
            self.scratch = Vec::new();
        }
        if out.subscribed.is_none() {
            // Subscribed or tracking: from now on through the outbox.
            if let Some(subscriber) = self.session.pubsub.outbox() {
                out.subscribe(subscriber, &shared.pubsub)?;
            }
        }
        if let (true, Some(to)) = (self.session.pubsub.has_unregistered(), &out.subscribed) {
            // In the registry before its confirmation can be read, and the
            // confirmation before any message (see the module
            // documentation).
            let outbox = Arc::clone(&to.subscriber);
            outbox.outbox.hold();
            self.session.pubsub.register();
            let flushed = out.flush();
            outbox.outbox.release();
            flushed?;
        }
        Ok(next)
    }

    /// Answers a request that could not be framed. A RESP framing error
    /// closes the connection after draining what the client sent; an
    /// over-long line before authentication closes it at once; an
    /// over-long line after it is answered and skipped.
    fn refuse<S: Socket>(&mut self, error: FrameError, out: &mut Output<S>) -> Result<Next, End> {
        self.counts.commands += 1;
        self.write(out, &error.reply(), error.in_resp())?;
        if error.in_resp() {
            return Ok(Next::Abort);
        }
        out.flush()?;
        if error.closes() {
            Err(End::Kicked)
        } else {
            Ok(Next::Continue)
        }
    }

    /// Writes `reply` in RESP (`resp`) or text framing.
    fn write<S: Socket>(
        &self,
        out: &mut Output<S>,
        reply: &Reply<'_>,
        resp: bool,
    ) -> io::Result<()> {
        write_reply(&mut out.buf, reply, resp, self.session.protocol)
    }
}

/// Appends `reply` to a connection's output buffer. Always the buffer,
/// whatever the socket, so the encoders exist once in the binary.
pub(super) fn write_reply(
    out: &mut Vec<u8>,
    reply: &Reply<'_>,
    resp: bool,
    version: u8,
) -> io::Result<()> {
    if resp {
        resp::write_reply(&mut Appender(out), reply, version)
    } else {
        text::write_reply(out, reply)
    }
}

/// Reads and drops what the client sent before the connection closes,
/// within [`DRAIN_BYTES`] and [`DRAIN_TIME`], after telling the client no
/// more replies will come. Without it, closing a socket with unread input
/// resets the connection, and the client may lose the last reply.
fn drain<S: Socket>(reader: &mut BufReader<Wiping<S>>, socket: S) {
    if socket.shutdown_write().is_err() || socket.set_read_timeout(Some(DRAIN_QUIET)).is_err() {
        return;
    }
    let started = Instant::now();
    let mut drained = 0;
    while drained < DRAIN_BYTES && started.elapsed() < DRAIN_TIME {
        let n = match reader.fill_buf() {
            Ok([]) | Err(_) => return,
            Ok(buf) => buf.len(),
        };
        reader.consume(n);
        drained += n;
    }
}
