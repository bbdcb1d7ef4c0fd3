//! `blink-store bench --null-server ADDR`: a server that stores nothing and
//! answers every request with a constant reply, so that a benchmark run
//! against it measures the load generator (and the kernel), not a server.
//! `scripts/bench.sh` drives it first and refuses to report a real server's
//! rate that comes close to the rate reached against it.
//!
//! # What it answers
//!
//! The protocol is told by each request's first byte: `*` starts a RESP
//! array; any other byte starts a line, and a line that begins with
//! memcached's lower-case `get `, `set ` or `version` is memcached's
//! protocol, any other line Blink-Store's text protocol.
//!
//! | request                        | reply                          |
//! |--------------------------------|--------------------------------|
//! | RESP `PING`                    | `+PONG\r\n`                    |
//! | RESP `CONFIG GET save`         | `*2\r\n$4\r\nsave\r\n$0\r\n\r\n` |
//! | RESP `CONFIG GET appendonly`   | `*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n` |
//! | any other RESP `CONFIG`        | `*0\r\n`                        |
//! | any other RESP array           | `+OK\r\n`                      |
//! | memcached `set` and its data   | `STORED\r\n`                   |
//! | memcached `get`                | `END\r\n` (a miss)             |
//! | memcached `version`            | `VERSION null\r\n`             |
//! | text `PING`                    | `PONG\n`                       |
//! | any other text line            | `OK\n`                         |
//!
//! redis-benchmark asks for `save` and `appendonly` when it starts and
//! warns when the answer is not a name and a value, hence those two.
//!
//! # Why it is cheap
//!
//! A connection's reads go to one buffer; it finds the end of every
//! complete request in what it read (a request cut by the end of a read
//! waits in that connection's own buffer for the rest), and writes the
//! replies to all of them in one write. It looks at no key and copies no
//! value, so per request it costs a scan of the request's bytes and a copy
//! of a few reply bytes: far less than any server that stores something.
//!
//! What is left is how it waits for requests, which [`Serving`] chooses:
//!
//! - **One thread per connection** (the default), each sleeping in its
//!   read. A request then costs a wake-up and a task switch, as in our
//!   servers, so this null server is hardly cheaper than the servers
//!   measured against it when it has one CPU to itself; but it takes no
//!   CPU while it waits, which matters when it shares the CPUs with the
//!   load generator.
//! - **One thread polling every connection** (`--poll`) without blocking:
//!   an event loop without `epoll`, which std does not offer. No thread
//!   ever sleeps and wakes for a request, so on a CPU of its own it
//!   answers several times what the other way does (and more than a
//!   server waiting in `epoll` would). The price is that CPU kept busy
//!   while connections are open: a pass that finds nothing to do yields
//!   the CPU to any other thread that wants it, and after
//!   [`IDLE_BEFORE_SLEEP`] of nothing the poller sleeps [`IDLE_SLEEP`]
//!   between passes, so an idle null server costs little.
//!
//! It trusts its clients (load generators send well-formed requests): a
//! request it cannot frame, or one larger than [`MAX_REQUEST`], closes the
//! connection. It listens only where it is told and ends after its
//! `--duration` ([`DEFAULT_DURATION`] when none is given), so a null server
//! that a script forgets to stop does not outlive it for long.

use std::io::{self, Read, Write};
use std::mem;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::ToolError;
use crate::num::parse_i64;

/// Bytes read per system call: room for a whole pipelined batch of the
/// benchmark's requests, so a batch is one read and one write.
pub const READ_CHUNK: usize = 256 << 10;

/// Largest single request buffered, in bytes; a larger one closes the
/// connection. The benchmark's largest request is a SET of its largest
/// value, far below this for any load the scripts run.
pub const MAX_REQUEST: usize = 64 << 20;

/// How long a null server runs when `--duration` is not given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(3600);

/// Pause after a failed accept (out of file descriptors, say), so the
/// accept loop does not spin; it then tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// How long the poller spins (yielding between passes) after its last
/// request before it sleeps between passes: far longer than a load
/// generator takes between a reply and its next request, so a run never
/// waits for a sleep.
pub const IDLE_BEFORE_SLEEP: Duration = Duration::from_millis(20);

/// The poller's sleep between passes once idle: the delay a request that
/// ends a quiet spell may wait.
pub const IDLE_SLEEP: Duration = Duration::from_millis(1);

/// Stack of a connection thread, and of the poller: they keep their
/// buffers on the heap.
const THREAD_STACK: usize = 256 << 10;

/// How the null server waits for requests; the module's doc compares them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serving {
    /// One thread per connection, sleeping in its read.
    Threads,
    /// One thread polling every connection without blocking (`--poll`).
    Poll,
}

/// Listens on `addr`, prints `null server listening on HOST:PORT` on
/// stdout (the port the system chose, for `:0`), serves for `duration`,
/// then returns, ending every connection with the process.
pub fn run(addr: &str, duration: Duration, serving: Serving) -> Result<(), ToolError> {
    let listener = TcpListener::bind(addr).map_err(|e| ToolError::Listen(addr.to_string(), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ToolError::Listen(addr.to_string(), e))?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "null server listening on {local}")
        .and_then(|()| stdout.flush())
        .map_err(ToolError::Stdout)?;
    drop(stdout);
    thread::Builder::new()
        .name("null-accept".to_string())
        .spawn(move || serve(listener, serving))
        .map_err(ToolError::Thread)?;
    thread::sleep(duration);
    Ok(())
}

/// Accepts connections for ever and serves them as `serving` says.
/// Accept errors never stop it.
pub fn serve(listener: TcpListener, serving: Serving) {
    match serving {
        Serving::Threads => accept(listener, serve_on_own_thread),
        Serving::Poll => {
            let arrivals = Arc::new(Arrivals::default());
            let poller = Arc::clone(&arrivals);
            let spawned = thread::Builder::new()
                .name("null-poller".to_string())
                .stack_size(THREAD_STACK)
                .spawn(move || poll(&poller));
            if spawned.is_ok() {
                accept(listener, |stream| {
                    stream.set_nonblocking(true)?;
                    arrivals.push(stream);
                    Ok(())
                });
            }
        }
    }
}

/// Hands every accepted connection to `take`, for ever; after an error,
/// of the accept or of `take`, it backs off and goes on.
fn accept(listener: TcpListener, mut take: impl FnMut(TcpStream) -> io::Result<()>) {
    for stream in listener.incoming() {
        let taken = stream.and_then(|stream| {
            stream.set_nodelay(true)?;
            take(stream)
        });
        if taken.is_err() {
            thread::sleep(ACCEPT_BACKOFF);
        }
    }
}

/// Serves one connection on a thread of its own until it ends.
fn serve_on_own_thread(stream: TcpStream) -> io::Result<()> {
    thread::Builder::new()
        .name("null-connection".to_string())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let mut connection = Connection::new(stream);
            let mut chunk = vec![0; READ_CHUNK];
            // Its reads and writes wait, so each poll is a read, its
            // replies, or the end.
            while !matches!(connection.poll(&mut chunk), Polled::Ended) {}
        })
        .map(drop)
}

/// Connections accepted and not yet taken by the poller.
#[derive(Default)]
struct Arrivals {
    /// Whether `streams` may hold any, so the poller locks it only then.
    any: AtomicBool,
    streams: Mutex<Vec<TcpStream>>,
}

impl Arrivals {
    fn push(&self, stream: TcpStream) {
        self.streams.lock().push(stream);
        self.any.store(true, Ordering::Release);
    }

    /// Moves every arrival into `connections`.
    fn take(&self, connections: &mut Vec<Connection>) {
        if self.any.swap(false, Ordering::Acquire) {
            let streams = mem::take(&mut *self.streams.lock());
            connections.extend(streams.into_iter().map(Connection::new));
        }
    }
}

/// One connection: of the poller, whose socket does not wait, or of its
/// own thread, whose socket does.
struct Connection {
    stream: TcpStream,
    /// The start of a request cut by the end of a read.
    kept: Vec<u8>,
    /// Replies the socket would not take yet; nothing more is read from
    /// the connection until they are written, which bounds them by one
    /// read's worth.
    unsent: Vec<u8>,
    /// Set on a request it cannot frame: the connection ends once the
    /// replies before it are written.
    closing: bool,
}

/// What a poll of one connection came to.
enum Polled {
    /// It read or wrote something.
    Busy,
    /// Nothing to read, nothing it could write.
    Idle,
    /// The client closed it, it failed, or it sent what no request is.
    Ended,
}

impl Connection {
    fn new(stream: TcpStream) -> Connection {
        Connection {
            stream,
            kept: Vec::new(),
            unsent: Vec::new(),
            closing: false,
        }
    }

    /// Writes what it can of the pending replies, then, when they are all
    /// written, reads and answers what arrived. `chunk` is the read
    /// buffer, the poller's one for all its connections.
    fn poll(&mut self, chunk: &mut [u8]) -> Polled {
        let flushed = match self.flush() {
            Ok(flushed) => flushed,
            Err(_) => return Polled::Ended,
        };
        if !self.unsent.is_empty() {
            return if flushed { Polled::Busy } else { Polled::Idle };
        }
        if self.closing {
            return Polled::Ended;
        }
        let read = match self.stream.read(chunk) {
            Ok(0) => return Polled::Ended,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return if flushed { Polled::Busy } else { Polled::Idle };
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Polled::Busy,
            Err(_) => return Polled::Ended,
        };
        // Frame in place unless a cut request waits for these bytes.
        let in_place = self.kept.is_empty();
        if !in_place {
            self.kept.extend_from_slice(&chunk[..read]);
        }
        let kept = mem::take(&mut self.kept);
        let bytes = if in_place { &chunk[..read] } else { &kept[..] };
        let mut start = 0;
        let framed = loop {
            match request(&bytes[start..]) {
                Framed::Whole(len, reply) => {
                    self.unsent.extend_from_slice(reply);
                    start += len;
                }
                Framed::Partial => break true,
                Framed::Malformed => break false,
            }
        };
        let rest = bytes.len() - start;
        if !framed || rest > MAX_REQUEST {
            self.closing = true;
        } else if rest > 0 {
            self.kept = if in_place {
                chunk[start..read].to_vec()
            } else {
                let mut kept = kept;
                kept.drain(..start);
                kept
            };
        }
        if self.flush().is_err() {
            return Polled::Ended;
        }
        Polled::Busy
    }

    /// Writes as much of `unsent` as the socket takes without waiting;
    /// whether it wrote anything.
    fn flush(&mut self) -> io::Result<bool> {
        let mut written = 0;
        while written < self.unsent.len() {
            match self.stream.write(&self.unsent[written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.unsent.drain(..written);
        Ok(written > 0)
    }
}

/// The poller: passes over every connection for ever, taking new ones
/// between passes.
fn poll(arrivals: &Arrivals) {
    let mut connections: Vec<Connection> = Vec::new();
    let mut chunk = vec![0; READ_CHUNK];
    let mut last_busy = Instant::now();
    loop {
        arrivals.take(&mut connections);
        let mut busy = false;
        connections.retain_mut(|connection| match connection.poll(&mut chunk) {
            Polled::Busy => {
                busy = true;
                true
            }
            Polled::Idle => true,
            Polled::Ended => false,
        });
        if busy {
            last_busy = Instant::now();
        } else if last_busy.elapsed() < IDLE_BEFORE_SLEEP {
            thread::yield_now();
        } else {
            thread::sleep(IDLE_SLEEP);
        }
    }
}

/// What the start of a buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// A whole request of this many bytes, and its reply.
    Whole(usize, &'static [u8]),
    /// The start of a request, or nothing: more bytes are needed.
    Partial,
    /// Bytes that are no request.
    Malformed,
}

/// Frames the request at the start of `bytes`.
pub fn request(bytes: &[u8]) -> Framed {
    match bytes.first() {
        None => Framed::Partial,
        Some(b'*') => resp_request(bytes),
        Some(_) => line_request(bytes),
    }
}

/// A RESP array of bulk strings: `*N\r\n` and N times `$LEN\r\n` and LEN
/// bytes and `\r\n`.
fn resp_request(bytes: &[u8]) -> Framed {
    let Some((count, mut at)) = header(bytes, b'*') else {
        return partial_or_malformed(bytes);
    };
    // Each element takes at least `$0\r\n\r\n`, 6 bytes.
    if count > MAX_REQUEST / 6 {
        return Framed::Malformed;
    }
    // The command's name and its second argument (CONFIG GET's parameter).
    let (mut name, mut parameter): (&[u8], &[u8]) = (b"", b"");
    for index in 0..count {
        let Some((len, after)) = header(&bytes[at..], b'$') else {
            return partial_or_malformed(&bytes[at..]);
        };
        let data = at + after;
        let Some(end) = data.checked_add(len).and_then(|end| end.checked_add(2)) else {
            return Framed::Malformed;
        };
        if end > MAX_REQUEST {
            return Framed::Malformed;
        }
        if bytes.len() < end {
            return Framed::Partial;
        }
        if &bytes[end - 2..end] != b"\r\n" {
            return Framed::Malformed;
        }
        match index {
            0 => name = &bytes[data..end - 2],
            2 => parameter = &bytes[data..end - 2],
            _ => {}
        }
        at = end;
    }
    let reply: &'static [u8] = if name.eq_ignore_ascii_case(b"PING") {
        b"+PONG\r\n"
    } else if name.eq_ignore_ascii_case(b"CONFIG") {
        if parameter.eq_ignore_ascii_case(b"save") {
            b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"
        } else if parameter.eq_ignore_ascii_case(b"appendonly") {
            b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
        } else {
            b"*0\r\n"
        }
    } else {
        b"+OK\r\n"
    };
    Framed::Whole(at, reply)
}

/// Reads a `<marker><digits>\r\n` header at the start of `bytes`: the
/// number and the header's length; `None` when it is incomplete or wrong.
fn header(bytes: &[u8], marker: u8) -> Option<(usize, usize)> {
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    let digits = bytes[..newline]
        .strip_prefix(&[marker])?
        .strip_suffix(b"\r")?;
    Some((count(digits)?, newline + 1))
}

/// A count or a length: a canonical decimal integer, not negative, read by
/// the one integer parser of the crate.
fn count(digits: &[u8]) -> Option<usize> {
    usize::try_from(parse_i64(digits)?).ok()
}

/// Whether a header that did not read is merely cut short (no `\n` yet,
/// and not too long to be a header) or wrong.
fn partial_or_malformed(bytes: &[u8]) -> Framed {
    if bytes.len() < 16 && !bytes.contains(&b'\n') {
        Framed::Partial
    } else {
        Framed::Malformed
    }
}

/// A line of memcached's protocol or Blink-Store's text protocol.
fn line_request(bytes: &[u8]) -> Framed {
    let Some(newline) = bytes.iter().position(|&b| b == b'\n') else {
        return if bytes.len() > MAX_REQUEST {
            Framed::Malformed
        } else {
            Framed::Partial
        };
    };
    let line = &bytes[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let len = newline + 1;
    if let Some(rest) = line.strip_prefix(b"set ") {
        // set <key> <flags> <exptime> <bytes>: the data and its \r\n follow.
        let Some(data) = rest
            .split(|&b| b == b' ')
            .filter(|field| !field.is_empty())
            .nth(3)
            .and_then(count)
        else {
            return Framed::Malformed;
        };
        let end = len + data + 2;
        if end > MAX_REQUEST {
            return Framed::Malformed;
        }
        return if bytes.len() < end {
            Framed::Partial
        } else {
            Framed::Whole(end, b"STORED\r\n")
        };
    }
    let reply: &'static [u8] = if line.starts_with(b"get ") {
        b"END\r\n"
    } else if line == b"version" {
        b"VERSION null\r\n"
    } else if line == b"PING" {
        b"PONG\n"
    } else {
        b"OK\n"
    };
    Framed::Whole(len, reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request of `stream`, framed one after the other.
    fn frame_all(stream: &[u8]) -> Vec<Framed> {
        let mut at = 0;
        let mut all = Vec::new();
        loop {
            let framed = request(&stream[at..]);
            match framed {
                Framed::Whole(len, _) => at += len,
                _ => {
                    all.push(framed);
                    return all;
                }
            }
            all.push(framed);
        }
    }

    #[test]
    fn requests_are_framed_by_their_protocol() {
        let stream = b"*3\r\n$3\r\nSET\r\n$2\r\nab\r\n$3\r\nx\ny\r\n\
            *1\r\n$4\r\nping\r\n\
            *3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n\
            set key 0 0 4\r\nab\r\n\r\n\
            get key\r\n\
            version\r\n\
            PING\n\
            SET key value\n";
        let replies: Vec<&[u8]> = frame_all(stream)
            .iter()
            .filter_map(|framed| match framed {
                Framed::Whole(_, reply) => Some(*reply),
                _ => None,
            })
            .collect();
        assert_eq!(
            replies,
            [
                &b"+OK\r\n"[..],
                b"+PONG\r\n",
                b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n",
                b"STORED\r\n",
                b"END\r\n",
                b"VERSION null\r\n",
                b"PONG\n",
                b"OK\n"
            ]
        );
        assert_eq!(frame_all(stream).last(), Some(&Framed::Partial));
    }

    #[test]
    fn a_request_cut_anywhere_is_partial() {
        for whole in [
            &b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$5\r\nxx\r\nx\r\n"[..],
            b"set key:000000000001 0 0 5\r\nx\r\nxx\r\n",
            b"GET key:000000000001\n",
        ] {
            assert_eq!(
                request(whole),
                Framed::Whole(
                    whole.len(),
                    match whole[0] {
                        b'*' => b"+OK\r\n",
                        b's' => b"STORED\r\n",
                        _ => b"OK\n",
                    }
                )
            );
            for cut in 0..whole.len() {
                assert_eq!(request(&whole[..cut]), Framed::Partial, "cut at {cut}");
            }
        }
    }

    #[test]
    fn bytes_that_are_no_request_are_malformed() {
        for bad in [
            &b"*x\r\n"[..],
            b"*1\r\n+PING\r\n",
            b"*1\r\n$4\r\nPINGxx",
            b"set key 0 0 many\r\n",
            b"*99999999999\r\n",
        ] {
            assert_eq!(request(bad), Framed::Malformed, "{}", bad.escape_ascii());
        }
    }
}
