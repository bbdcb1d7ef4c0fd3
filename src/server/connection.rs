//! The connection loop: find request lines, answer them, batch the replies.
//!
//! Reading goes through one `BufReader`. A line that lies whole in its
//! buffer is parsed in place; only a line split across reads is copied into
//! the connection's line buffer, which never grows past the line cap
//! ([`crate::protocol::Limits::max_line`]). A longer line is answered `ERROR line too long`
//! as soon as it passes the cap, and the rest of it is read and thrown away
//! up to its newline; the connection then carries on.
//!
//! Replies go into one `BufWriter` and are flushed only when no further
//! complete request is buffered, so a pipelined batch read in one `read`
//! is answered with one `write`, and a lone request is answered at once.
//!
//! A line still unterminated when the client closes its side is dropped, not
//! executed: a client that died mid-write leaves no truncated value behind.
//! Any I/O error ends this connection only.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};

use crate::exec::execute;
use crate::protocol::text;
use crate::protocol::{ClientError, Reply};

use super::Shared;

/// Read buffer per connection. Requests of a cache are short; this holds
/// hundreds of pipelined ones.
const READ_BUFFER: usize = 16 << 10;

/// Write buffer per connection.
const WRITE_BUFFER: usize = 16 << 10;

/// Capacity the line and value buffers keep between requests. One large
/// request does not pin its buffer for the rest of the connection.
const KEPT_BUFFER: usize = 64 << 10;

/// Serves one connection until the client leaves or an I/O error ends it.
pub fn serve<S: Read + Write + Copy>(stream: S, shared: &Shared) {
    let mut reader = BufReader::with_capacity(READ_BUFFER, stream);
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, stream);
    let mut connection = Connection {
        shared,
        line: Vec::new(),
        scratch: Vec::new(),
        discarding: false,
    };
    match connection.run(&mut reader, &mut writer) {
        Ok(()) => log::debug!("connection closed"),
        Err(e) => log::debug!("connection ended: {e}"),
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
}

impl Connection<'_> {
    fn run<S: Read, W: Write>(
        &mut self,
        reader: &mut BufReader<S>,
        writer: &mut W,
    ) -> io::Result<()> {
        let max_line = self.shared.limits.max_line();
        loop {
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return writer.flush();
            }
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                let n = buf.len();
                if !self.discarding {
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
                self.line.clear();
                text::write_reply(writer, &Reply::Error(ClientError::LineTooLong))?;
                Next::Continue
            } else if self.line.is_empty() {
                respond(&buf[..end], self.shared, &mut self.scratch, writer)?
            } else {
                self.line.extend_from_slice(&buf[..end]);
                let next = respond(&self.line, self.shared, &mut self.scratch, writer)?;
                self.line.clear();
                self.line.shrink_to(KEPT_BUFFER);
                next
            };
            reader.consume(end + 1);
            if next == Next::Close {
                return writer.flush();
            }
            if !reader.buffer().contains(&b'\n') {
                writer.flush()?;
            }
        }
    }

    /// Answers an over-long line at once and starts discarding the rest.
    fn refuse_line<W: Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.line.clear();
        self.line.shrink_to(KEPT_BUFFER);
        self.discarding = true;
        text::write_reply(writer, &Reply::Error(ClientError::LineTooLong))?;
        writer.flush()
    }
}

/// Parses and executes one request line and writes its reply.
fn respond<W: Write>(
    line: &[u8],
    shared: &Shared,
    scratch: &mut Vec<u8>,
    writer: &mut W,
) -> io::Result<Next> {
    let reply = match text::parse(line, &shared.limits) {
        Ok(command) => execute(command, &shared.store, shared.clock.now(), scratch),
        Err(e) => Reply::Error(e),
    };
    if reply == Reply::Quit {
        return Ok(Next::Close);
    }
    text::write_reply(writer, &reply)?;
    if scratch.capacity() > KEPT_BUFFER {
        scratch.clear();
        scratch.shrink_to(KEPT_BUFFER);
    }
    Ok(Next::Continue)
}
