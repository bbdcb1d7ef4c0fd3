//! The connection loop: find request lines, answer them, batch the replies,
//! and cut off clients that hold a worker without using it.
//!
//! Reading goes through one `BufReader`. A line that lies whole in its
//! buffer is parsed in place; only a line split across reads is copied into
//! the connection's line buffer, which never grows past the line cap
//! ([`crate::protocol::Limits::max_line`], or [`PRE_AUTH_MAX_LINE`] before
//! authentication). A longer line is answered `ERROR line too long` as soon
//! as it passes the cap, and the rest of it is read and thrown away up to
//! its newline; the connection then carries on. Before authentication, it
//! is closed instead.
//!
//! Replies go into one `BufWriter` and are flushed only when no further
//! complete request is buffered, so a pipelined batch read in one `read`
//! is answered with one `write`, and a lone request is answered at once.
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
//! Writes carry the write timeout, so a client that stops reading its
//! replies loses its connection instead of holding a worker forever.
//!
//! A line still unterminated when the client closes its side is dropped, not
//! executed: a client that died mid-write leaves no truncated value behind.
//! Any I/O error ends this connection only.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::exec::{execute, Context};
use crate::protocol::text;
use crate::protocol::{ClientError, Command, Reply};
use crate::stats::{Event, LocalCounts};

use super::Shared;

/// Read buffer per connection. Requests of a cache are short; this holds
/// hundreds of pipelined ones.
const READ_BUFFER: usize = 16 << 10;

/// Write buffer per connection.
const WRITE_BUFFER: usize = 16 << 10;

/// Capacity the line and value buffers keep between requests. One large
/// request does not pin its buffer for the rest of the connection.
const KEPT_BUFFER: usize = 64 << 10;

/// Longest line accepted before authentication, in bytes without the
/// newline: room for any AUTH, and no more for an anonymous client.
pub const PRE_AUTH_MAX_LINE: usize = 4 << 10;

/// A connected socket, as the loop needs it.
pub trait Socket: Read + Write + Copy {
    fn set_read_timeout(self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Socket for &TcpStream {
    fn set_read_timeout(self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

impl Socket for &UnixStream {
    fn set_read_timeout(self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
}

/// Why a connection ended.
enum End {
    /// The client closed, or sent QUIT.
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
        // Reads handle their own timeouts, so a timeout here is a write's.
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => End::Write,
            _ => End::Io(e),
        }
    }
}

/// Serves one connection until the client leaves, misbehaves, or an I/O
/// error ends it.
pub fn serve<S: Socket>(socket: S, shared: &Shared) {
    let _gauge = shared.stats.connection();
    let mut reader = BufReader::with_capacity(READ_BUFFER, socket);
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, socket);
    let started = Instant::now();
    let mut connection = Connection {
        shared,
        line: Vec::new(),
        scratch: Vec::new(),
        discarding: false,
        authenticated: shared.password.is_none(),
        auth_deadline: started + shared.timeouts.auth,
        partial_since: started,
        read_timeout: None,
        counts: LocalCounts::default(),
    };
    let end = connection.run(&mut reader, &mut writer, socket);
    shared.stats.add(&mut connection.counts);
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
}

struct Connection<'a> {
    shared: &'a Shared,
    /// The start of a request line that did not end in the read buffer.
    line: Vec<u8>,
    /// Values read by GET, reused across requests.
    scratch: Vec<u8>,
    /// Throwing away the rest of an over-long line.
    discarding: bool,
    authenticated: bool,
    auth_deadline: Instant,
    /// When the partly received request began arriving.
    partial_since: Instant,
    /// The socket's read timeout as last set, to skip needless syscalls.
    read_timeout: Option<Duration>,
    counts: LocalCounts,
}

impl Connection<'_> {
    fn run<S: Socket, W: Write>(
        &mut self,
        reader: &mut BufReader<S>,
        writer: &mut W,
        socket: S,
    ) -> End {
        match self.serve_lines(reader, writer, socket) {
            Ok(()) => End::Closed,
            Err(End::Request) => {
                // The partial request gets its answer; the socket may be
                // unwritable too, which changes nothing.
                let _ = text::write_reply(writer, &Reply::Error(ClientError::RequestTimeout))
                    .and_then(|()| writer.flush());
                End::Request
            }
            Err(end) => end,
        }
    }

    fn serve_lines<S: Socket, W: Write>(
        &mut self,
        reader: &mut BufReader<S>,
        writer: &mut W,
        socket: S,
    ) -> Result<(), End> {
        loop {
            let buf = self.fill(reader, socket)?;
            if buf.is_empty() {
                writer.flush()?;
                return Ok(());
            }
            let max_line = self.max_line();
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                let n = buf.len();
                if !self.discarding {
                    if self.line.is_empty() {
                        self.partial_since = Instant::now();
                    }
                    if self.line.len() + n > max_line {
                        self.refuse_line(writer)?;
                    } else {
                        self.line.extend_from_slice(buf);
                    }
                }
                reader.consume(n);
                continue;
            };
            let next = if self.discarding {
                self.discarding = false;
                Next::Continue
            } else if self.line.len() + end > max_line {
                self.refuse_line(writer)?;
                self.discarding = false;
                Next::Continue
            } else if self.line.is_empty() {
                self.respond(&buf[..end], writer)?
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&buf[..end]);
                let next = self.respond(&line, writer)?;
                line.clear();
                line.shrink_to(KEPT_BUFFER);
                self.line = line;
                next
            };
            reader.consume(end + 1);
            if next == Next::Close {
                writer.flush()?;
                return Ok(());
            }
            if !reader.buffer().contains(&b'\n') {
                writer.flush()?;
                self.shared.stats.add(&mut self.counts);
            }
        }
    }

    fn max_line(&self) -> usize {
        if self.authenticated {
            self.shared.limits.max_line()
        } else {
            PRE_AUTH_MAX_LINE
        }
    }

    /// Makes sure the read buffer holds data, blocking under the earliest
    /// deadline. Returns the buffer, empty at end of stream.
    fn fill<'r, S: Socket>(
        &mut self,
        reader: &'r mut BufReader<S>,
        socket: S,
    ) -> Result<&'r [u8], End> {
        while reader.buffer().is_empty() {
            let (timeout, on_expiry) = self.read_deadline();
            if timeout.is_some_and(|t| t.is_zero()) {
                return Err(on_expiry);
            }
            if timeout != self.read_timeout {
                socket.set_read_timeout(timeout)?;
                self.read_timeout = timeout;
            }
            match reader.fill_buf().map(|buf| buf.is_empty()) {
                Ok(_) => break,
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

    /// The timeout for the next blocking read and what its expiry means.
    /// `Some(ZERO)` means a deadline has already passed.
    fn read_deadline(&self) -> (Option<Duration>, End) {
        let timeouts = &self.shared.timeouts;
        let now = Instant::now();
        let partial = self.discarding || !self.line.is_empty();
        let mut best = if partial {
            let deadline = self.partial_since + timeouts.request;
            (Some(deadline.saturating_duration_since(now)), End::Request)
        } else {
            (timeouts.idle, End::Idle)
        };
        if !self.authenticated {
            let left = self.auth_deadline.saturating_duration_since(now);
            if best.0.map_or(true, |t| left <= t) {
                best = (Some(left), End::Auth);
            }
        }
        best
    }

    /// Answers an over-long line at once. After authentication the rest of
    /// the line is discarded; before, the connection is closed.
    fn refuse_line<W: Write>(&mut self, writer: &mut W) -> Result<(), End> {
        self.line.clear();
        self.line.shrink_to(KEPT_BUFFER);
        self.counts.commands += 1;
        if !self.authenticated {
            let error = Reply::Error(ClientError::LineTooLongUnauthenticated);
            text::write_reply(writer, &error)?;
            writer.flush()?;
            return Err(End::Kicked);
        }
        self.discarding = true;
        text::write_reply(writer, &Reply::Error(ClientError::LineTooLong))?;
        writer.flush()?;
        Ok(())
    }

    /// Parses and executes one request line and writes its reply.
    fn respond<W: Write>(&mut self, line: &[u8], writer: &mut W) -> Result<Next, End> {
        let shared = self.shared;
        let reply = match text::parse(line, &shared.limits) {
            Err(e) => {
                self.counts.commands += 1;
                // Before authentication, only the commands allowed then may
                // say more than NOAUTH about what is wrong with a request.
                let allowed = matches!(
                    e,
                    ClientError::RequiresPassword(_) | ClientError::WrongArguments("QUIT" | "PING")
                );
                if self.authenticated || allowed {
                    Reply::Error(e)
                } else {
                    Reply::Error(ClientError::NoAuth)
                }
            }
            Ok(command) if !self.authenticated && !command.allowed_before_auth() => {
                self.counts.commands += 1;
                Reply::Error(ClientError::NoAuth)
            }
            Ok(Command::Auth(candidate)) if shared.password.is_some() => {
                self.counts.commands += 1;
                self.authenticate(candidate)
            }
            Ok(command) => {
                let ctx = Context {
                    store: &shared.store,
                    stats: &shared.stats,
                    pool_size: shared.pool_size,
                };
                let now = shared.clock.now();
                execute(command, &ctx, now, &mut self.scratch, &mut self.counts)
            }
        };
        if reply == Reply::Quit {
            return Ok(Next::Close);
        }
        text::write_reply(writer, &reply)?;
        if self.scratch.capacity() > KEPT_BUFFER {
            self.scratch.clear();
            self.scratch.shrink_to(KEPT_BUFFER);
        }
        Ok(Next::Continue)
    }

    fn authenticate(&mut self, candidate: &[u8]) -> Reply<'static> {
        let matches = self
            .shared
            .password
            .as_ref()
            .is_some_and(|p| p.matches(candidate));
        if matches {
            self.authenticated = true;
            Reply::Ok
        } else {
            self.shared.stats.record(Event::AuthFailure);
            Reply::Error(ClientError::WrongPass)
        }
    }
}
