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
//! A line whose first byte is `*` starts a RESP request instead: an array
//! header, then for each argument a `$<length>` line and a binary payload
//! of exactly that length, read straight from the same buffer into the
//! connection's argument buffer. Declared counts and lengths are checked
//! before anything is read or reserved for them (a bulk larger than a value
//! may be, or a request larger than twice the line cap, is refused); bad
//! framing gets Redis's `Protocol error` and closes the connection, so a
//! rejected payload is never read as requests. Before authentication the
//! limits are Redis 7's: at most 10 arguments of at most 16 KiB.
//!
//! Replies go into one `BufWriter`, flushed just before the loop would
//! block for more input, that is, when no further complete request is
//! buffered: a pipelined batch read in one `read` is answered with one
//! `write`, and a lone request is answered at once.
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

use std::sync::atomic::Ordering;

use crate::exec::{execute, Context, Session};
use crate::protocol::{parse_i64, resp, text};
use crate::protocol::{ClientError, Command, Reply};
use crate::stats::{Event, LocalCounts};
use crate::store::{Millis, MAX_KEY_LEN};

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

/// Most arguments in one RESP request, as Redis allows.
const MAX_ARGUMENTS: usize = 1024 * 1024;

/// Most arguments in a RESP request before authentication, as Redis 7.
const PRE_AUTH_MAX_ARGUMENTS: usize = 10;

/// Longest RESP argument before authentication, as Redis 7.
const PRE_AUTH_MAX_BULK: usize = 16 * 1024;

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
    let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
    let mut connection = Connection {
        shared,
        line: Vec::new(),
        scratch: Vec::new(),
        discarding: false,
        session: Session::new(id, shared.config.password.is_none()),
        auth_deadline: started + shared.config.auth_timeout,
        partial_since: started,
        read_timeout: None,
        counts: LocalCounts::default(),
        array: None,
        args: Vec::new(),
        bounds: Vec::new(),
        spoke_resp: false,
        now: None,
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

/// A RESP request array being received.
#[derive(Clone, Copy, Debug)]
struct Array {
    /// Arguments still to come, the one being read included.
    remaining: usize,
    /// While a bulk payload is being read: bytes still to read, its `\r\n`
    /// included.
    bulk_left: Option<usize>,
}

struct Connection<'a> {
    shared: &'a Shared,
    /// The start of a request line that did not end in the read buffer.
    line: Vec<u8>,
    /// Values read by GET, reused across requests.
    scratch: Vec<u8>,
    /// Throwing away the rest of an over-long line.
    discarding: bool,
    session: Session,
    auth_deadline: Instant,
    /// When the partly received request began arriving.
    partial_since: Instant,
    /// The socket's read timeout as last set, to skip needless syscalls.
    read_timeout: Option<Duration>,
    counts: LocalCounts,
    /// The RESP array being received, if any.
    array: Option<Array>,
    /// The arguments received so far, back to back, and their ranges.
    args: Vec<u8>,
    bounds: Vec<(usize, usize)>,
    /// This connection has sent a RESP request.
    spoke_resp: bool,
    /// The time at which the requests of the current read run: one clock
    /// read serves a whole pipelined batch.
    now: Option<Millis>,
}

impl Connection<'_> {
    fn run<S: Socket, W: Write>(
        &mut self,
        reader: &mut BufReader<S>,
        writer: &mut W,
        socket: S,
    ) -> End {
        match self.serve_requests(reader, writer, socket) {
            Ok(()) => End::Closed,
            Err(End::Request) => {
                // The partial request gets its answer; the socket may be
                // unwritable too, which changes nothing.
                let _ = self
                    .reply(writer, &Reply::Error(ClientError::RequestTimeout))
                    .and_then(|()| writer.flush());
                End::Request
            }
            Err(end) => end,
        }
    }

    fn serve_requests<S: Socket, W: Write>(
        &mut self,
        reader: &mut BufReader<S>,
        writer: &mut W,
        socket: S,
    ) -> Result<(), End> {
        loop {
            let buf = self.fill(reader, writer, socket)?;
            if buf.is_empty() {
                writer.flush()?;
                return Ok(());
            }
            if let Some(Array {
                remaining,
                bulk_left: Some(left),
            }) = self.array
            {
                // Part of a bulk payload: binary, newlines included.
                let take = left.min(buf.len());
                self.args.extend_from_slice(&buf[..take]);
                reader.consume(take);
                if take < left {
                    self.array = Some(Array {
                        remaining,
                        bulk_left: Some(left - take),
                    });
                    continue;
                }
                if self.finish_bulk(remaining, writer)? == Next::Close {
                    writer.flush()?;
                    return Ok(());
                }
                continue;
            }
            if self.array.is_none()
                && self.line.is_empty()
                && !self.discarding
                && buf.first() == Some(&b'*')
            {
                // The common case: a whole RESP request in the buffer,
                // answered straight from it without copying its arguments.
                let mut bounds = std::mem::take(&mut self.bounds);
                let (max_args, max_bulk) = self.resp_limits();
                if let Some(len) = resp::frame_in_place(buf, &mut bounds, max_args, max_bulk) {
                    self.spoke_resp = true;
                    let next = self.run_resp(&buf[..len], &bounds, writer);
                    self.bounds = bounds;
                    reader.consume(len);
                    if next? == Next::Close {
                        writer.flush()?;
                        return Ok(());
                    }
                    continue;
                }
                self.bounds = bounds;
            }
            let max_line = self.max_line();
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                let n = buf.len();
                if !self.discarding {
                    if self.line.is_empty() && self.array.is_none() {
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
                self.handle_line(&buf[..end], writer)?
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&buf[..end]);
                let next = self.handle_line(&line, writer)?;
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
        }
    }

    /// Most arguments of a RESP request, and the longest argument.
    fn resp_limits(&self) -> (usize, usize) {
        if self.session.authenticated {
            (
                MAX_ARGUMENTS,
                self.shared.limits.max_value_size.max(MAX_KEY_LEN),
            )
        } else {
            (PRE_AUTH_MAX_ARGUMENTS, PRE_AUTH_MAX_BULK)
        }
    }

    fn max_line(&self) -> usize {
        if self.session.authenticated {
            self.shared.limits.max_line()
        } else {
            PRE_AUTH_MAX_LINE
        }
    }

    /// Makes sure the read buffer holds data, blocking under the earliest
    /// deadline. Before blocking, the replies so far are flushed: no
    /// further complete request is buffered. Returns the buffer, empty at
    /// end of stream.
    fn fill<'r, S: Socket, W: Write>(
        &mut self,
        reader: &'r mut BufReader<S>,
        writer: &mut W,
        socket: S,
    ) -> Result<&'r [u8], End> {
        while reader.buffer().is_empty() {
            self.now = None;
            writer.flush()?;
            self.shared.stats.add(&mut self.counts);
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
        let config = &self.shared.config;
        let now = Instant::now();
        let partial = self.discarding || !self.line.is_empty() || self.array.is_some();
        let mut best = if partial {
            let deadline = self.partial_since + config.request_timeout;
            (Some(deadline.saturating_duration_since(now)), End::Request)
        } else {
            (config.idle_timeout, End::Idle)
        };
        if !self.session.authenticated {
            let left = self.auth_deadline.saturating_duration_since(now);
            if best.0.map_or(true, |t| left <= t) {
                best = (Some(left), End::Auth);
            }
        }
        best
    }

    /// Answers an over-long line at once. After authentication the rest of
    /// the line is discarded; before, or inside a RESP request, the
    /// connection is closed.
    fn refuse_line<W: Write>(&mut self, writer: &mut W) -> Result<(), End> {
        self.line.clear();
        self.line.shrink_to(KEPT_BUFFER);
        self.counts.commands += 1;
        if self.array.is_some() {
            return Err(self.protocol_error(writer, "too big bulk count string"));
        }
        if !self.session.authenticated {
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

    /// A complete line: a RESP header, or a text request.
    fn handle_line<W: Write>(&mut self, line: &[u8], writer: &mut W) -> Result<Next, End> {
        if let Some(array) = self.array {
            return self.bulk_header(array, line, writer);
        }
        if line.first() == Some(&b'*') {
            self.spoke_resp = true;
            return self.array_header(line, writer);
        }
        if self.spoke_resp && strip_cr(line).is_empty() {
            // Redis ignores empty lines, and RESP clients rely on it
            // (`redis-cli --pipe` sends one before its final ECHO). On a
            // connection that has only spoken text, an empty line is still
            // an unknown command.
            return Ok(Next::Continue);
        }
        self.respond_text(line, writer)
    }

    /// `*<count>`: the start of a RESP request.
    fn array_header<W: Write>(&mut self, line: &[u8], writer: &mut W) -> Result<Next, End> {
        let count = parse_i64(strip_cr(&line[1..]));
        let (max_args, _) = self.resp_limits();
        match count {
            Some(n) if usize::try_from(n).is_ok_and(|n| n > max_args) => {
                let what = if self.session.authenticated {
                    "invalid multibulk length"
                } else {
                    "unauthenticated multibulk length"
                };
                Err(self.protocol_error(writer, what))
            }
            // An empty request, as Redis treats it: nothing to answer.
            Some(n) if n <= 0 => Ok(Next::Continue),
            Some(n) => {
                self.partial_since = Instant::now();
                self.args.clear();
                self.bounds.clear();
                self.array = Some(Array {
                    remaining: n as usize,
                    bulk_left: None,
                });
                Ok(Next::Continue)
            }
            None => Err(self.protocol_error(writer, "invalid multibulk length")),
        }
    }

    /// `$<length>`: the header of the next argument.
    fn bulk_header<W: Write>(
        &mut self,
        array: Array,
        line: &[u8],
        writer: &mut W,
    ) -> Result<Next, End> {
        let Some((&b'$', digits)) = line.split_first() else {
            // Redis quotes the first byte, a line break shown as a space.
            let got = line
                .first()
                .map_or(String::new(), |&b| char::from(b).to_string());
            let message = format!("expected '$', got '{got}'");
            return Err(self.protocol_error(writer, &message));
        };
        let authenticated = self.session.authenticated;
        let (_, cap) = self.resp_limits();
        let len = match parse_i64(strip_cr(digits)) {
            Some(len) if len >= 0 && len as u64 <= cap as u64 => len as usize,
            Some(len) if len >= 0 && !authenticated => {
                return Err(self.protocol_error(writer, "unauthenticated bulk length"));
            }
            _ => {
                return Err(self.protocol_error(writer, "invalid bulk length"));
            }
        };
        // Bound the whole request, not just each argument.
        let held = self.args.len() + self.bounds.len() * std::mem::size_of::<(usize, usize)>();
        if held + len > 2 * self.max_line() {
            return Err(self.protocol_error(writer, "too big request"));
        }
        self.bounds.push((self.args.len(), self.args.len()));
        self.array = Some(Array {
            remaining: array.remaining,
            bulk_left: Some(len + 2),
        });
        Ok(Next::Continue)
    }

    /// A bulk payload has arrived whole: check its `\r\n`, record it, and
    /// run the request when it was the last argument.
    fn finish_bulk<W: Write>(&mut self, remaining: usize, writer: &mut W) -> Result<Next, End> {
        if !self.args.ends_with(b"\r\n") {
            return Err(self.protocol_error(writer, "invalid bulk length"));
        }
        self.args.truncate(self.args.len() - 2);
        if let Some(last) = self.bounds.last_mut() {
            last.1 = self.args.len();
        }
        if remaining > 1 {
            self.array = Some(Array {
                remaining: remaining - 1,
                bulk_left: None,
            });
            return Ok(Next::Continue);
        }
        self.array = None;
        let next = self.respond_resp(writer);
        if self.args.capacity() > KEPT_BUFFER {
            self.args = Vec::new();
        }
        next
    }

    /// Answers a RESP framing error the way Redis words it; the connection
    /// then closes, for which the returned `End` stands.
    fn protocol_error<W: Write>(&self, writer: &mut W, what: &str) -> End {
        let text = format!("ERR Protocol error: {what}").into_bytes();
        match resp::write_reply(writer, &Reply::ErrorText(text), self.session.protocol)
            .and_then(|()| writer.flush())
        {
            Ok(()) => End::Closed,
            Err(e) => e.into(),
        }
    }

    /// Writes a reply in the framing of the request being received.
    fn reply<W: Write>(&self, writer: &mut W, reply: &Reply<'_>) -> io::Result<()> {
        if self.array.is_some() {
            resp::write_reply(writer, reply, self.session.protocol)
        } else {
            text::write_reply(writer, reply)
        }
    }

    /// Parses and executes one text request line and writes its reply.
    fn respond_text<W: Write>(&mut self, line: &[u8], writer: &mut W) -> Result<Next, End> {
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
                if self.session.authenticated || allowed {
                    Reply::Error(e)
                } else {
                    Reply::Error(ClientError::NoAuth)
                }
            }
            Ok(command) => execute_at(
                self.shared,
                &mut self.now,
                &mut self.session,
                &mut self.scratch,
                &mut self.counts,
                command,
            ),
        };
        if reply == Reply::Quit {
            return Ok(Next::Close);
        }
        text::write_reply(writer, &reply)?;
        self.trim_scratch();
        Ok(Next::Continue)
    }

    /// Parses and executes the RESP request in `args` and writes its reply.
    fn respond_resp<W: Write>(&mut self, writer: &mut W) -> Result<Next, End> {
        let data = std::mem::take(&mut self.args);
        let bounds = std::mem::take(&mut self.bounds);
        let next = self.run_resp(&data, &bounds, writer);
        self.args = data;
        self.bounds = bounds;
        next
    }

    /// Parses and executes the RESP request whose arguments are the
    /// `bounds` ranges of `data`, and writes its reply.
    fn run_resp<W: Write>(
        &mut self,
        data: &[u8],
        bounds: &[(usize, usize)],
        writer: &mut W,
    ) -> Result<Next, End> {
        let shared = self.shared;
        let args = resp::Args::new(data, bounds);
        // Redis checks a command's name and arity before authentication,
        // so parse errors are shown to unauthenticated clients too.
        let reply = match resp::parse(&args, &shared.limits) {
            Err(reply) => {
                self.counts.commands += 1;
                reply
            }
            // Over RESP, as in Redis, PING needs authentication too.
            Ok(Command::Ping(_)) if !self.session.authenticated => {
                self.counts.commands += 1;
                Reply::Error(ClientError::NoAuth)
            }
            Ok(command) => execute_at(
                self.shared,
                &mut self.now,
                &mut self.session,
                &mut self.scratch,
                &mut self.counts,
                command,
            ),
        };
        resp::write_reply(writer, &reply, self.session.protocol)?;
        let next = if reply == Reply::Quit {
            Next::Close
        } else {
            Next::Continue
        };
        self.trim_scratch();
        Ok(next)
    }

    fn trim_scratch(&mut self) {
        if self.scratch.capacity() > KEPT_BUFFER {
            self.scratch.clear();
            self.scratch.shrink_to(KEPT_BUFFER);
        }
    }
}

/// Runs a parsed command at the time of the current batch of requests,
/// reading the clock for the first of them. The reply borrows `scratch`
/// only, so the session stays readable while it is written.
fn execute_at<'s>(
    shared: &Shared,
    now: &mut Option<Millis>,
    session: &mut Session,
    scratch: &'s mut Vec<u8>,
    counts: &mut LocalCounts,
    command: Command<'_>,
) -> Reply<'s> {
    let ctx = Context {
        store: &shared.store,
        stats: &shared.stats,
        config: &shared.config,
    };
    let now = *now.get_or_insert_with(|| shared.clock.now());
    execute(command, &ctx, session, now, scratch, counts)
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}
