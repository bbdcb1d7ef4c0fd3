//! The client-side tools of the binary: `blink-store cli` ([`cli`]) and
//! `blink-store bench` ([`bench`](mod@bench)).
//!
//! This module owns what both share: where the server is ([`Endpoint`]), a
//! connected socket of either kind ([`Stream`]), the password a client
//! sends ([`crate::auth::Secret`]) and the one error type of the tools ([`ToolError`]).
//! [`resp`] frames requests and reads replies from the client's side;
//! [`histogram`] records latencies for the benchmark; [`null`] is the
//! benchmark's null server, which answers without doing any work.
//!
//! Nothing here touches the store or the server's protocol modules: the
//! tools talk to a server only through a socket, as any other client does,
//! so they work against a Blink-Store in another process, against Redis,
//! and (`bench --proto memcache`) against memcached.

pub mod bench;
pub mod cli;
pub mod histogram;
pub mod null;
pub mod resp;

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::DEFAULT_TCP;
use crate::flags::UsageError;

/// Longest wait for a reply, and for a write to make progress. A healthy
/// server answers in microseconds; this only stops a tool from hanging for
/// ever on a server that has stopped answering.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP `host:port`, resolved when connecting.
    Tcp(String),
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => f.write_str(addr),
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Endpoint {
    /// Connects, with Nagle's algorithm off (a request is one write and
    /// must not wait for an acknowledgement) and [`REPLY_TIMEOUT`] on reads
    /// and writes.
    pub fn connect(&self) -> Result<Stream, ToolError> {
        let connect_error = |e| ToolError::Connect(self.to_string(), e);
        let stream = match self {
            Endpoint::Tcp(addr) => {
                let stream = TcpStream::connect(addr.as_str()).map_err(connect_error)?;
                stream.set_nodelay(true).map_err(connect_error)?;
                Stream::Tcp(stream)
            }
            #[cfg(unix)]
            Endpoint::Unix(path) => Stream::Unix(UnixStream::connect(path).map_err(connect_error)?),
            #[cfg(not(unix))]
            Endpoint::Unix(_) => {
                let unsupported = io::ErrorKind::Unsupported;
                let e = io::Error::new(unsupported, crate::config::UNIX_UNSUPPORTED);
                return Err(connect_error(e));
            }
        };
        stream.set_timeouts(REPLY_TIMEOUT).map_err(connect_error)?;
        Ok(stream)
    }
}

/// The server a tool talks to: `--tcp` or `--unix`, else the default.
pub fn endpoint(tcp: Option<String>, unix: Option<PathBuf>) -> Result<Endpoint, UsageError> {
    match (tcp, unix) {
        (Some(_), Some(_)) => Err(UsageError::new("give --tcp or --unix, not both")),
        (Some(addr), None) => Ok(Endpoint::Tcp(addr)),
        #[cfg(not(unix))]
        (None, Some(_)) => Err(UsageError::new(crate::config::UNIX_UNSUPPORTED)),
        #[cfg(unix)]
        (None, Some(path)) => Ok(Endpoint::Unix(path)),
        (None, None) => Ok(Endpoint::Tcp(DEFAULT_TCP.to_string())),
    }
}

/// A connected socket of either kind.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    /// Writes all of `bytes`. When the server has already closed the
    /// connection, what it sent before closing is the better explanation,
    /// so that is the error.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), ToolError> {
        let e = match self.write_all(bytes) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ) {
            // The peer is gone, so this read does not wait.
            let mut last = [0u8; 512];
            match self.read(&mut last) {
                Ok(n) if n > 0 => return Err(closed_after(&last[..n])),
                _ => {}
            }
        }
        Err(ToolError::Io(e))
    }

    /// Switches reads and writes between waiting and returning
    /// [`io::ErrorKind::WouldBlock`].
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(nonblocking),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_nonblocking(nonblocking),
        }
    }

    fn set_timeouts(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))
            }
            #[cfg(unix)]
            Stream::Unix(s) => {
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why a tool could not do its job; one line, for stderr.
#[derive(Debug)]
pub enum ToolError {
    /// The endpoint as given, and why connecting failed.
    Connect(String, io::Error),
    /// The address as given, and why listening on it failed.
    Listen(String, io::Error),
    /// Reading or writing the connection failed.
    Io(io::Error),
    /// The server closed the connection before it answered.
    Closed,
    /// The server closed the connection after sending this (escaped), such
    /// as an admission refusal or a timeout notice.
    ClosedAfter(String),
    /// The server sent bytes that are not a reply: what, escaped.
    Protocol(String),
    /// A reply declared or grew past this many bytes.
    ReplyTooLarge(usize),
    /// The server refused the password: its error text.
    Auth(String),
    /// Reading stdin failed.
    Stdin(io::Error),
    /// The server refused this many SETs while the benchmark prefilled.
    Prefill(u64),
    /// A client thread could not be started.
    Thread(io::Error),
    /// Writing stdout failed (other than a closed pipe, which ends quietly).
    Stdout(io::Error),
    /// Stdin held more than this many bytes, the largest value sent.
    StdinTooLarge(usize),
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::Connect(endpoint, e) => write!(f, "cannot connect to {endpoint}: {e}"),
            ToolError::Listen(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            ToolError::Io(e) if is_timeout(e) => write!(
                f,
                "no reply from the server within {} s",
                REPLY_TIMEOUT.as_secs()
            ),
            ToolError::Io(e) => write!(f, "connection failed: {e}"),
            ToolError::Closed => f.write_str("the server closed the connection"),
            ToolError::ClosedAfter(last) => {
                write!(f, "the server closed the connection after sending: {last}")
            }
            ToolError::Protocol(what) => write!(f, "unexpected reply from the server: {what}"),
            ToolError::ReplyTooLarge(limit) => {
                write!(f, "the server's reply is larger than {limit} bytes")
            }
            ToolError::Auth(text) => write!(f, "authentication failed: {text}"),
            ToolError::Prefill(n) => write!(f, "the server refused {n} SETs while prefilling"),
            ToolError::Thread(e) => write!(f, "cannot start a client thread: {e}"),
            ToolError::Stdin(e) => write!(f, "cannot read stdin: {e}"),
            ToolError::Stdout(e) => write!(f, "cannot write stdout: {e}"),
            ToolError::StdinTooLarge(limit) => {
                write!(
                    f,
                    "stdin holds more than {limit} bytes, the largest value sent"
                )
            }
        }
    }
}

impl std::error::Error for ToolError {}

impl From<io::Error> for ToolError {
    fn from(e: io::Error) -> Self {
        ToolError::Io(e)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The error for a connection the server has ended, given the bytes it
/// sent last: they often say why (`ERROR max number of clients reached`).
pub fn closed_after(received: &[u8]) -> ToolError {
    let trimmed = trim_line_end(received);
    let last_line = trimmed.rsplit(|&b| b == b'\n').next().unwrap_or_default();
    if last_line.is_empty() {
        ToolError::Closed
    } else {
        ToolError::ClosedAfter(escape(last_line, QUOTE))
    }
}

/// How many bytes of what a server sent an error message quotes.
pub const QUOTE: usize = 200;

/// `bytes` without one trailing `\n` or `\r\n`.
pub fn trim_line_end(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// Bytes as one readable line: printable ASCII as is, the rest escaped,
/// cut after `limit` bytes. For error messages that quote the server.
pub fn escape(bytes: &[u8], limit: usize) -> String {
    let shown = &bytes[..bytes.len().min(limit)];
    let mut text = shown.escape_ascii().to_string();
    if bytes.len() > limit {
        text.push_str("...");
    }
    text
}
