//! Replies handed to the append-only file, so that a connection never
//! sleeps waiting for the log.
//!
//! With `--aof`, the replies of a batch that changed the store may not be
//! sent before the changes are durable. Waiting for that on a condition
//! variable costs the connection's thread a sleep and a wake-up per
//! request on top of the sleep in its next read. Instead, the connection
//! moves the batch's replies into its [`Outlet`], hands the outlet to the
//! log ([`Aof::hand_off`]) and goes back to reading; whichever thread ends
//! the round that makes the changes durable sends them
//! ([`Waiting::deliver`]) with one `write` to a clone of the socket. One
//! thread so answers every connection its round served, as an event loop
//! would, and a waiting connection sleeps once per request, in its read.
//!
//! - **Order.** A connection hands off one batch at a time: its next flush
//!   first waits until the batch handed off is sent ([`Outlet::settle`]).
//!   A client that waits for each reply before it sends more never waits
//!   there; one that streams requests waits as it would for the log.
//! - **Errors.** When the log fails, or the changes are not durable within
//!   [`crate::aof::DURABLE_WAIT`], every reply whose change is not durable
//!   is replaced by an error line ([`Journaled::settle`]), as when the
//!   connection waits itself.
//! - **Slow clients.** The thread that delivers serves every connection of
//!   its round, so no client may hold it. Once a socket has an outlet, its
//!   send timeout is [`DELIVERY_SLICE`] instead of a tenth of the write
//!   timeout (the connection's own writes only check their deadline more
//!   often). A delivery the socket does not take whole at once is
//!   finished by a thread of its own, under the connection's write
//!   deadline, and the outlet is marked slow: the connection then waits
//!   for the log itself, as before, and its socket can delay a round at
//!   most once. A delivery that fails shuts the socket down, which ends the
//!   connection as a failed write of its own would. Those threads are
//!   counted ([`Stragglers`]): SHUTDOWN waits for them, since their
//!   replies are to changes already made.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::aof::{Aof, Waiting, DURABLE_WAIT};
use crate::protocol::{ClientError, Reply};

use super::connection::{send_all, write_reply, End};

/// The send timeout of a socket with an outlet: the longest a delivery
/// waits for a client that does not read (the kernel rounds it up to one
/// clock tick, 1 to 10 ms).
pub const DELIVERY_SLICE: Duration = Duration::from_millis(1);

/// Capacity the outlet's reply buffer keeps between batches.
const KEPT_BUFFER: usize = 64 << 10;

/// The deliveries being finished on threads of their own (slow clients),
/// counted so that SHUTDOWN can wait for them. Each is bounded by its
/// connection's write deadline.
#[derive(Default)]
pub struct Stragglers {
    count: Mutex<usize>,
    /// Signalled when the count falls to zero.
    none: Condvar,
}

impl Stragglers {
    /// Counts one more until the returned guard is dropped.
    fn enter(self: &Arc<Self>) -> Straggler {
        *self.count.lock() += 1;
        Straggler(Arc::clone(self))
    }

    /// Waits until none is left, or `deadline`; whether none is left.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let mut count = self.count.lock();
        while *count > 0 {
            if self.none.wait_until(&mut count, deadline).timed_out() {
                return *count == 0;
            }
        }
        true
    }
}

/// One delivery counted in [`Stragglers`], however its thread ends.
struct Straggler(Arc<Stragglers>);

impl Drop for Straggler {
    fn drop(&mut self) {
        let mut count = self.0.count.lock();
        *count -= 1;
        if *count == 0 {
            self.0.none.notify_all();
        }
    }
}

/// A clone of a connection's socket that another thread writes to, and can
/// shut down when a write to it fails.
pub trait Sender: Write + Send {
    /// Shuts the socket down both ways: the connection's blocked read
    /// returns, and the connection ends.
    fn close(&self);
}

impl Sender for std::net::TcpStream {
    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(unix)]
impl Sender for std::os::unix::net::UnixStream {
    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

/// A buffered reply to a request that changed the store.
pub struct Journaled {
    /// Where the reply lies in its buffer.
    pub start: usize,
    pub end: usize,
    /// The log's round that must be durable before it is sent.
    pub round: u64,
    /// How to write an error in its place.
    pub resp: bool,
    pub version: u8,
}

impl Journaled {
    /// Replaces, in `buf`, every reply of `journaled` whose change is not
    /// durable at `durable` by an error line; the other replies stand.
    pub fn settle(buf: &mut Vec<u8>, journaled: &[Journaled], durable: u64) {
        if journaled.iter().all(|reply| reply.round <= durable) {
            return;
        }
        let old = std::mem::take(buf);
        let mut at = 0;
        for reply in journaled {
            buf.extend_from_slice(&old[at..reply.start]);
            if reply.round > durable {
                let error = Reply::Error(ClientError::NotDurable);
                let _ = write_reply(buf, &error, reply.resp, reply.version);
            } else {
                buf.extend_from_slice(&old[reply.start..reply.end]);
            }
            at = reply.end;
        }
        buf.extend_from_slice(&old[at..]);
    }
}

/// A connection's replies while the log holds them. See the module
/// documentation.
pub struct Outlet {
    /// The clone of the socket deliveries write to; locked by one delivery
    /// at a time (a connection has one batch handed off at a time, so it is
    /// never contended).
    socket: Mutex<Box<dyn Sender>>,
    /// Locked briefly by the connection and by a delivery, never during a
    /// write and never with a lock of the log held.
    state: Mutex<State>,
    /// Signalled when a batch handed off has been sent, or has failed.
    sent: Condvar,
    write_timeout: Duration,
    /// Where a delivery finished on a thread of its own is counted.
    stragglers: Arc<Stragglers>,
}

struct State {
    /// The batch handed off: its replies, then where the ones that changed
    /// the store lie. Empty (with kept capacity) when none is.
    buf: Vec<u8>,
    journaled: Vec<Journaled>,
    /// A batch is handed off and not yet sent.
    busy: bool,
    /// A delivery found the socket full: the connection waits for the log
    /// itself from now on.
    slow: bool,
    /// A delivery failed (its error, or `None` when it ran out of time):
    /// the connection is to end.
    failed: Option<Option<io::Error>>,
}

impl Outlet {
    /// An outlet writing to `socket`, a clone of the connection's socket
    /// whose send timeout the caller has set to [`DELIVERY_SLICE`]; a
    /// delivery it finishes on a thread of its own is counted in
    /// `stragglers`.
    pub fn new(
        socket: Box<dyn Sender>,
        write_timeout: Duration,
        stragglers: Arc<Stragglers>,
    ) -> Arc<Outlet> {
        Arc::new(Outlet {
            socket: Mutex::new(socket),
            state: Mutex::new(State {
                buf: Vec::new(),
                journaled: Vec::new(),
                busy: false,
                slow: false,
                failed: None,
            }),
            sent: Condvar::new(),
            write_timeout,
            stragglers,
        })
    }

    /// Waits until the batch handed off, if any, has been sent. Fails when
    /// sending it failed, or when it was not sent within the log's longest
    /// wait and the write timeout together.
    pub fn settle(&self) -> Result<(), End> {
        let mut state = self.state.lock();
        if state.busy {
            let deadline = Instant::now() + DURABLE_WAIT + self.write_timeout;
            while state.busy {
                if self.sent.wait_until(&mut state, deadline).timed_out() {
                    return Err(End::Write);
                }
            }
        }
        match state.failed.take() {
            None => Ok(()),
            Some(Some(e)) => Err(End::Io(e)),
            Some(None) => Err(End::Write),
        }
    }

    /// Hands the replies in `buf` to `aof`, to be sent once `round` (the
    /// round of the last of `journaled`) is durable, and leaves both empty,
    /// with the capacity of the previous batch's buffers; unless a delivery
    /// has found the socket full (see the module documentation), when it
    /// leaves both as they are. Returns whether it handed them off. The
    /// caller has [settled](Outlet::settle).
    pub fn hand_off(
        self: &Arc<Self>,
        aof: &Aof,
        round: u64,
        buf: &mut Vec<u8>,
        journaled: &mut Vec<Journaled>,
    ) -> bool {
        {
            let mut state = self.state.lock();
            if state.slow {
                return false;
            }
            std::mem::swap(&mut state.buf, buf);
            std::mem::swap(&mut state.journaled, journaled);
            state.busy = true;
        }
        aof.hand_off(round, Arc::clone(self) as Arc<dyn Waiting>);
        true
    }

    /// Marks the batch sent, or failed, and wakes the connection.
    fn finish(&self, mut buf: Vec<u8>, failed: Option<Option<io::Error>>) {
        buf.clear();
        buf.shrink_to(KEPT_BUFFER);
        let mut state = self.state.lock();
        state.buf = buf;
        state.busy = false;
        if failed.is_some() {
            state.failed = failed;
        }
        drop(state);
        self.sent.notify_one();
    }

    /// Finishes a delivery the socket did not take at once, on a thread of
    /// its own, under the connection's write deadline.
    fn finish_slowly(self: Arc<Self>, buf: Vec<u8>, from: usize) {
        let this = Arc::clone(&self);
        let straggler = self.stragglers.enter();
        let spawned = std::thread::Builder::new()
            .name("blink-slow-reply".into())
            .stack_size(64 << 10)
            .spawn(move || {
                let _straggler = straggler;
                let mut socket = this.socket.lock();
                let result = send_all(&mut *socket, &buf[from..], this.write_timeout);
                let failed = match result {
                    Ok(()) => None,
                    Err(End::Io(e)) => Some(Some(e)),
                    Err(_) => Some(None),
                };
                if failed.is_some() {
                    socket.close();
                }
                drop(socket);
                this.finish(buf, failed);
            });
        if let Err(e) = spawned {
            log::warn!("cannot start a thread to finish a slow client's replies: {e}");
            self.socket.lock().close();
            self.finish(Vec::new(), Some(Some(e)));
        }
    }
}

impl Waiting for Outlet {
    fn deliver(self: Arc<Self>, outcome: Result<(), u64>) {
        let buf = {
            let mut state = self.state.lock();
            let mut buf = std::mem::take(&mut state.buf);
            if let Err(durable) = outcome {
                Journaled::settle(&mut buf, &state.journaled, durable);
            }
            state.journaled.clear();
            buf
        };
        let mut socket = self.socket.lock();
        let failed = match send_at_once(&mut **socket, &buf) {
            Ok(Sent::Whole) => None,
            Ok(Sent::Part(at)) => {
                drop(socket);
                self.state.lock().slow = true;
                self.finish_slowly(buf, at);
                return;
            }
            Err(e) => {
                socket.close();
                Some(Some(e))
            }
        };
        drop(socket);
        self.finish(buf, failed);
    }
}

/// How much of a delivery the socket took at once.
enum Sent {
    Whole,
    /// Only this many bytes: the socket is full.
    Part(usize),
}

/// Writes `data` with as few `write`s as the socket takes without waiting
/// longer than its send timeout: a write that takes only part, or none
/// before the timeout, means the socket is full.
fn send_at_once(socket: &mut dyn Sender, data: &[u8]) -> io::Result<Sent> {
    let mut at = 0;
    while at < data.len() {
        match socket.write(&data[at..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) if at + n < data.len() => return Ok(Sent::Part(at + n)),
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Sent::Part(at))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Sent::Whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes the first `first` bytes at once and then
    /// nothing, as a full socket with a send timeout would, until opened.
    struct Valve {
        first: usize,
        open: Arc<(Mutex<bool>, Condvar)>,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Valve {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            let n = if self.first > 0 {
                let n = self.first.min(data.len());
                self.first -= n;
                n
            } else {
                let (open, opened) = &*self.open;
                let mut open = open.lock();
                if !*open {
                    opened.wait_for(&mut open, DELIVERY_SLICE);
                }
                if !*open {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                data.len()
            };
            self.got.lock().extend_from_slice(&data[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sender for Valve {
        fn close(&self) {}
    }

    /// A delivery the socket takes only part of is finished by a thread of
    /// its own, counted until it has sent the rest: what SHUTDOWN waits on.
    #[test]
    fn a_delivery_finished_on_its_own_thread_is_counted_until_sent() {
        let stragglers = Arc::new(Stragglers::default());
        let open = Arc::new((Mutex::new(false), Condvar::new()));
        let got = Arc::new(Mutex::new(Vec::new()));
        let valve = Valve {
            first: 3,
            open: Arc::clone(&open),
            got: Arc::clone(&got),
        };
        let outlet = Outlet::new(
            Box::new(valve),
            Duration::from_secs(30),
            Arc::clone(&stragglers),
        );
        {
            let mut state = outlet.state.lock();
            state.buf = b"+OK\r\n:42\r\n".to_vec();
            state.busy = true;
        }
        Arc::clone(&outlet).deliver(Ok(()));
        assert!(outlet.state.lock().slow, "the outlet is not marked slow");
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(!stragglers.wait_until(soon), "nothing waits for the rest");
        assert_eq!(&*got.lock(), b"+OK");
        *open.0.lock() = true;
        open.1.notify_all();
        let later = Instant::now() + Duration::from_secs(10);
        assert!(stragglers.wait_until(later), "the rest was never sent");
        assert_eq!(&*got.lock(), b"+OK\r\n:42\r\n");
        assert!(outlet.settle().is_ok());
    }
}
