//! Accept loops and admission.
//!
//! Every connection holds one worker for its whole life, so the pool size is
//! the number of connections served at once. Admission enforces that at the
//! door: the accept thread takes a [`Permit`] before handing a socket to the
//! pool, and a socket that finds no permit left is answered
//! `ERROR max number of clients reached` and closed right there, never
//! parked in the pool's queue behind connections that may last for hours.
//! The one wait allowed is [`ADMISSION_GRACE`], for the worker of a client
//! that has just closed to notice; it is skipped while refusals go on.
//!
//! Refusals are counted in `STATS` and logged at most once per second.
//! Accept errors (a full file-descriptor table, a connection reset before it
//! was accepted) never stop a listener: they are logged at most once per
//! second and retried after a growing pause, so a persistent error costs
//! neither a busy loop nor a flood of log lines.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use threadpool::ThreadPool;

use super::connection::{self, write_slice, Stream};
use super::Shared;
use crate::stats::Event;

/// First pause after a failed accept.
const MIN_BACKOFF: Duration = Duration::from_millis(1);

/// Longest pause between accept retries while errors persist.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// How long a connection that finds every worker busy waits for one to come
/// free before it is refused, when no connection was refused recently.
/// Short: a refusal must still arrive well within 100 ms.
const ADMISSION_GRACE: Duration = Duration::from_millis(20);

/// After a refusal, further connections that find the pool full are refused
/// without the grace wait for this long.
const REFUSAL_MEMORY: Duration = Duration::from_secs(1);

/// Line sent to a connection refused for lack of a worker.
const REFUSAL: &[u8] = b"ERROR max number of clients reached\n";

/// The same refusal in Redis's words, for a client that spoke RESP first.
const RESP_REFUSAL: &[u8] = b"-ERR max number of clients reached\r\n";

/// Most reads spent draining a refused client's request: enough for any
/// first request, bounded so a flooding client cannot hold the accept thread.
const REFUSAL_DRAIN_READS: usize = 16;

/// A kind of listening socket.
pub trait Listen: Send + 'static {
    type Stream: Send + 'static;

    fn accept_stream(&self) -> io::Result<Self::Stream>;

    /// Sets the per-connection socket options, then serves the connection
    /// to its end. Runs on a worker.
    fn serve(stream: Self::Stream, shared: &Shared);

    /// Answers and closes a connection that gets no worker, without
    /// blocking the accept thread.
    fn refuse(stream: Self::Stream);
}

impl Listen for TcpListener {
    type Stream = TcpStream;

    fn accept_stream(&self) -> io::Result<TcpStream> {
        self.accept().map(|(stream, _)| stream)
    }

    fn serve(stream: TcpStream, shared: &Shared) {
        // Replies are batched by the connection loop; Nagle's algorithm
        // would only hold the last one back waiting for an ACK.
        let configured = stream.set_nodelay(true).and_then(|()| {
            stream.set_write_timeout(Some(write_slice(shared.config.write_timeout)))
        });
        match configured {
            Ok(()) => connection::serve(Stream::Tcp(&stream), shared),
            Err(e) => log::debug!("cannot configure connection: {e}"),
        }
    }

    fn refuse(stream: TcpStream) {
        if stream.set_nonblocking(true).is_ok() {
            send_refusal(&stream);
            let _ = stream.shutdown(Shutdown::Write);
        }
    }
}

#[cfg(unix)]
impl Listen for UnixListener {
    type Stream = UnixStream;

    fn accept_stream(&self) -> io::Result<UnixStream> {
        self.accept().map(|(stream, _)| stream)
    }

    fn serve(stream: UnixStream, shared: &Shared) {
        match stream.set_write_timeout(Some(write_slice(shared.config.write_timeout))) {
            Ok(()) => connection::serve(Stream::Unix(&stream), shared),
            Err(e) => log::debug!("cannot configure connection: {e}"),
        }
    }

    fn refuse(stream: UnixStream) {
        if stream.set_nonblocking(true).is_ok() {
            send_refusal(&stream);
            let _ = stream.shutdown(Shutdown::Write);
        }
    }
}

/// Writes the refusal to a non-blocking socket and reads whatever the client
/// already sent, so that closing does not reset the connection before the
/// client has read the refusal. A client whose first request has already
/// arrived and is RESP gets Redis's form of the refusal; any other gets the
/// text line.
fn send_refusal<S>(stream: S)
where
    S: Read + Write,
{
    let mut stream = stream;
    let mut sink = [0u8; 1024];
    let first = match stream.read(&mut sink) {
        Ok(n) if n > 0 => Some(sink[0]),
        _ => None,
    };
    let refusal = if first == Some(b'*') {
        RESP_REFUSAL
    } else {
        REFUSAL
    };
    let _ = stream.write_all(refusal);
    for _ in 0..REFUSAL_DRAIN_READS {
        if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
}

/// Counts connections being served against the pool size.
#[derive(Debug)]
pub struct Admission {
    active: AtomicUsize,
    max: usize,
}

impl Admission {
    pub fn new(max: usize) -> Admission {
        Admission {
            active: AtomicUsize::new(0),
            max,
        }
    }

    /// Polls for a permit until `grace` has passed.
    fn wait_for_slot(self: &Arc<Self>, grace: Duration) -> Option<Permit> {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            if let Some(permit) = self.try_admit() {
                return Some(permit);
            }
        }
        None
    }

    /// A permit to be served, or `None` when every worker is taken.
    fn try_admit(self: &Arc<Self>) -> Option<Permit> {
        self.active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit(Arc::clone(self)))
    }
}

/// One admitted connection. Dropping it (when the handler returns, or
/// unwinds) frees the slot.
struct Permit(Arc<Admission>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Lets one log line through per second.
struct LogLimit {
    last: Option<Instant>,
}

impl LogLimit {
    fn new() -> LogLimit {
        LogLimit { last: None }
    }

    fn ready(&mut self) -> bool {
        let now = Instant::now();
        let ready = self.last.map_or(true, |last| {
            now.duration_since(last) >= Duration::from_secs(1)
        });
        if ready {
            self.last = Some(now);
        }
        ready
    }
}

/// Accepts connections until the process ends.
pub fn accept_loop<L: Listen>(
    listener: L,
    shared: &Arc<Shared>,
    admission: &Arc<Admission>,
    pool: &ThreadPool,
) {
    let mut backoff = MIN_BACKOFF;
    let mut error_log = LogLimit::new();
    let mut last_refusal: Option<Instant> = None;
    loop {
        match listener.accept_stream() {
            Ok(stream) => {
                backoff = MIN_BACKOFF;
                // While refusals are rare, give a full pool a moment: the
                // worker of a client that just closed may not have seen its
                // end yet. Once refusing, refuse at once, so a flood of
                // connections is answered at the accept rate.
                let refusing = last_refusal.is_some_and(|t| t.elapsed() < REFUSAL_MEMORY);
                let permit = admission.try_admit().or_else(|| {
                    (!refusing)
                        .then(|| admission.wait_for_slot(ADMISSION_GRACE))
                        .flatten()
                });
                match permit {
                    Some(permit) => {
                        let shared = Arc::clone(shared);
                        pool.execute(move || {
                            let _permit = permit;
                            L::serve(stream, &shared);
                        });
                    }
                    None => {
                        L::refuse(stream);
                        last_refusal = Some(Instant::now());
                        shared.stats.record(Event::Refused);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                if error_log.ready() {
                    log::warn!("accept failed: {e}; retrying in {backoff:?}");
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    /// Refuses the server end of a socket pair whose client end already
    /// sent `request`, and returns what the client reads.
    fn refusal_after(request: &[u8]) -> Vec<u8> {
        let (mut client, server) = UnixStream::pair().unwrap();
        client.write_all(request).unwrap();
        server.set_nonblocking(true).unwrap();
        send_refusal(&server);
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        got
    }

    #[test]
    fn refusal_is_worded_in_the_clients_protocol() {
        assert_eq!(refusal_after(b"*1\r\n$4\r\nPING\r\n"), RESP_REFUSAL);
        assert_eq!(refusal_after(b"PING\n"), REFUSAL);
        assert_eq!(refusal_after(b""), REFUSAL);
    }
}
