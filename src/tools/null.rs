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
//! One thread per connection reads up to [`READ_CHUNK`] bytes at a time,
//! finds the end of every complete request in what it read (a request cut
//! by the end of a read stays at the front of the buffer until the rest
//! arrives), and writes the replies to all of them in one write. It
//! looks at no key and copies no value, so per request it costs a scan of
//! the request's bytes and a copy of a few reply bytes: far less than any
//! server that stores something.
//!
//! It trusts its clients (load generators send well-formed requests): a
//! request it cannot frame, or one larger than [`MAX_REQUEST`], closes the
//! connection. It listens only where it is told and ends after its
//! `--duration` ([`DEFAULT_DURATION`] when none is given), so a null server
//! that a script forgets to stop does not outlive it for long.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

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

/// Stack of a connection thread: it keeps its buffers on the heap.
const CONNECTION_STACK: usize = 128 << 10;

/// Listens on `addr`, prints `null server listening on HOST:PORT` on
/// stdout (the port the system chose, for `:0`), serves for `duration`,
/// then returns, ending every connection with the process.
pub fn run(addr: &str, duration: Duration) -> Result<(), ToolError> {
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
        .spawn(move || serve(listener))
        .map_err(ToolError::Thread)?;
    thread::sleep(duration);
    Ok(())
}

/// Accepts connections for ever, one thread each. Accept errors never
/// stop it.
pub fn serve(listener: TcpListener) {
    for stream in listener.incoming() {
        let spawned = stream.and_then(|stream| {
            thread::Builder::new()
                .name("null-connection".to_string())
                .stack_size(CONNECTION_STACK)
                .spawn(move || {
                    // A client that goes away ends its connection; there is
                    // no one to tell.
                    let _ = connection(stream);
                })
        });
        if spawned.is_err() {
            thread::sleep(ACCEPT_BACKOFF);
        }
    }
}

/// Serves one connection until the client closes it or sends a request it
/// cannot frame.
fn connection(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut received = vec![0; READ_CHUNK];
    // Bytes at the front of `received` that hold a request cut by the end
    // of the last read.
    let mut kept = 0;
    let mut replies = Vec::with_capacity(READ_CHUNK);
    loop {
        if kept == received.len() {
            if received.len() >= MAX_REQUEST {
                return Ok(());
            }
            received.resize(received.len() * 2, 0);
        }
        let read = match stream.read(&mut received[kept..]) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let end = kept + read;
        let mut start = 0;
        replies.clear();
        let framed = loop {
            match request(&received[start..end]) {
                Framed::Whole(len, reply) => {
                    replies.extend_from_slice(reply);
                    start += len;
                }
                Framed::Partial => break true,
                Framed::Malformed => break false,
            }
        };
        if !replies.is_empty() {
            stream.write_all(&replies)?;
        }
        if !framed {
            return Ok(());
        }
        received.copy_within(start..end, 0);
        kept = end - start;
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
