//! `blink-store bench`: a load generator in the manner of `redis-benchmark`,
//! measuring a server's throughput and latency over the text protocol,
//! RESP, or memcached's text protocol (so the same generator, with the same
//! clients and the same measurement, can load memcached for comparison).
//!
//! # How a run goes
//!
//! Each of `--clients` clients has its own connection (`TCP_NODELAY`;
//! `AUTH` first when a password is given, then a `PING`, or memcached's
//! `version`, so a server that refuses the connection says so before
//! anything is measured). The clients are shared out between `--threads`
//! OS threads, one per client unless told. With
//! `--prefill`, the clients first SET every key of the keyspace once
//! between them, up to [`PREFILL_BATCH`] requests per write. Then all clients
//! start together (a [`Gate`] opens for all of them at one moment) and
//! each repeats: build a batch of `--pipeline` requests, send it in one
//! write, read until every one of its replies has arrived. A thread with
//! several clients takes them in turn ([`measure_seats`]): each client
//! still has one batch in flight at most, so the load is the same closed
//! loop, but the thread pays no task switch for a reply that is already
//! there when its turn comes. With one thread per client, a client thread
//! sleeps in its read for every batch; on one CPU fifty such threads cost
//! the generator about as much per request as the server it loads. A run ends
//! after `--requests` in all (shared out evenly between the clients) or,
//! with `--duration`, when each client's time is up.
//!
//! Each request is a GET with probability G/(G+S) for `--ratio G:S`, and
//! a SET otherwise, of a key drawn uniformly from the keyspace by a
//! xorshift64* generator per client, seeded from the client's index (so a
//! run is repeatable). Keys are [`KEY_PREFIX`] and [`KEY_DIGITS`] digits,
//! `key:000000012345`, 16 bytes; values are `--data-size` bytes of `x`.
//! With `--data-size MIN-MAX` a key's value is MIN to MAX bytes, its
//! length drawn uniformly from that range by a hash of the key number
//! ([`value_len`]), so a key gets the same length from every SET, in every
//! run, and a prefill of N keys stores about N (MIN+MAX)/2 value bytes.
//!
//! `--null-server ADDR` does not load a server: it runs one that answers
//! without doing any work ([`super::null`]), to measure the generator.
//!
//! # Keeping the generator out of the measurement
//!
//! Each client builds its GET and SET requests once, as byte templates
//! (`*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000000\r\n`,
//! `GET key:000000000000\n`, or memcached's `get key:000000000000\r\n` and
//! `set key:000000000000 0 0 <bytes>\r\n<data>\r\n`); a batch is the
//! templates copied into one reused buffer with the key digits written in
//! place. Replies are parsed where they land in one reused read buffer. So
//! after its first batch a client allocates nothing, and costs two clock
//! reads and a few hundred instructions per batch besides the system calls.
//!
//! # What is measured
//!
//! A request's latency runs from just before the write of its batch to
//! just after the read that completed its reply: with `--pipeline P`, the
//! P requests of a batch share one start. Latencies are counted in a
//! [`Histogram`] per client (about 0.8 % precision), merged at the end.
//! Throughput is the replies received divided by the time from the start
//! of the clients to the end of the last one. An error reply is counted and
//! the run goes on: over RESP `-ERR` and the like; over the text protocol
//! `ERROR` and any line other than `OK`, `NOT_FOUND` and `VALUE ...`; over
//! memcached's, `ERROR`, `CLIENT_ERROR`, `SERVER_ERROR` and any line other
//! than `STORED`, `END` and a whole `VALUE` block ([`memcache_reply`]). A
//! failed connection, a closed connection or bytes that are not a reply
//! stop the run with that error.
//!
//! While running, a progress line goes to stderr every
//! [`PROGRESS_INTERVAL`]: rewritten in place when stderr is a terminal,
//! one line each time otherwise. The report goes to stdout, as text or,
//! with `--json`, as one JSON object on one line.

use std::io::{self, IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use std::path::PathBuf;

use crate::auth::password_text;
use crate::config::{DEFAULT_TCP, MAX_MAX_VALUE_SIZE};
use crate::flags::{
    no_more, opt_number, opt_value, parse_choice, parse_seconds, parse_size, positive, size_text,
    within, UsageError,
};

use super::histogram::Histogram;
use super::null::Serving;
use super::resp::{self, Value, MAX_BULK};
use super::{closed_after, endpoint, escape, trim_line_end, Endpoint, Stream, ToolError, QUOTE};
use crate::auth::Secret;

/// Default `--clients`.
pub const DEFAULT_CLIENTS: usize = 50;
/// Default `--requests`, in all clients together.
pub const DEFAULT_REQUESTS: u64 = 100_000;
/// Default `--pipeline`: requests per write.
pub const DEFAULT_PIPELINE: usize = 1;
/// Default `--data-size`: bytes per SET value.
pub const DEFAULT_DATA_SIZE: usize = 32;
/// Default `--keyspace`: distinct keys.
pub const DEFAULT_KEYSPACE: u64 = 100_000;

/// Most `--clients`: each may be an OS thread.
pub const MAX_CLIENTS: usize = 10_000;
/// Most `--pipeline`.
pub const MAX_PIPELINE: usize = 100_000;
/// Largest `--data-size`: the largest value a server can be told to take.
pub const MAX_DATA_SIZE: usize = MAX_MAX_VALUE_SIZE;
/// Largest batch a client builds, in bytes: `--pipeline` times a request.
pub const MAX_BATCH_BYTES: usize = 256 << 20;
/// Bytes of a request besides its value, at most (RESP SET headers, key).
pub const REQUEST_OVERHEAD: usize = 64;

/// Keys start with this.
pub const KEY_PREFIX: &[u8] = b"key:";
/// Decimal digits after [`KEY_PREFIX`]: 16-byte keys.
pub const KEY_DIGITS: usize = 12;
/// Largest `--keyspace`: every key has [`KEY_DIGITS`] digits.
pub const MAX_KEYSPACE: u64 = 1_000_000_000_000;

/// Most SETs per write while prefilling.
const PREFILL_BATCH: usize = 256;

/// Most bytes per write while prefilling, so large values are sent a few
/// at a time.
const PREFILL_BATCH_BYTES: usize = 1 << 20;

/// How often the progress line is updated.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// Initial read buffer per client, in bytes; it grows only for a reply
/// larger than itself.
const READ_BUFFER: usize = 64 << 10;

/// Largest single reply a client buffers: a largest value in base64 (the
/// text protocol's GET), with room for its framing.
const MAX_REPLY: usize = MAX_BULK / 3 * 4 + (64 << 10);

/// Stack of a client thread: it keeps its buffers on the heap.
const CLIENT_STACK: usize = 256 << 10;

/// Width the progress line is padded to when rewritten in place.
const PROGRESS_WIDTH: usize = 64;

/// Which protocol the clients speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// Blink-Store's line protocol.
    Text,
    /// Redis's protocol (RESP2).
    Resp,
    /// memcached's text protocol: `get` and `set`, for loading memcached.
    /// It has no `AUTH`, so it never sends a password.
    Memcache,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Text => "text",
            Proto::Resp => "resp",
            Proto::Memcache => "memcache",
        }
    }
}

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this many requests, in all clients together.
    Requests(u64),
    /// When this much time has passed.
    Duration(Duration),
}

/// What `blink-store bench` was asked to do, validated.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub endpoint: Endpoint,
    pub password: Option<Secret>,
    /// 1 to [`MAX_CLIENTS`].
    pub clients: usize,
    /// Threads the clients are shared out between: 1 to `clients`.
    pub threads: usize,
    pub stop: Stop,
    /// 1 to [`MAX_PIPELINE`].
    pub pipeline: usize,
    /// Bytes per SET value, at most [`MAX_DATA_SIZE`]; with a range, the
    /// largest.
    pub data_size: usize,
    /// The smallest SET value: `data_size` unless a range was given.
    pub data_min: usize,
    /// 1 to [`MAX_KEYSPACE`].
    pub keyspace: u64,
    /// GET and SET weights, not both zero.
    pub ratio: (u32, u32),
    pub proto: Proto,
    pub json: bool,
    pub prefill: bool,
    /// Run a null server on this address instead of a load
    /// (`--null-server`), for `stop`'s duration, serving as it says.
    pub null_server: Option<(String, Serving)>,
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub latency: Histogram,
}

impl Report {
    pub fn ops_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// p50, p99, p99.9 and max, in microseconds.
    fn latencies_us(&self) -> [f64; 4] {
        let us = |ns: u64| ns as f64 / 1000.0;
        [
            us(self.latency.percentile(50.0)),
            us(self.latency.percentile(99.0)),
            us(self.latency.percentile(99.9)),
            us(self.latency.max()),
        ]
    }

    /// The report as one line of JSON.
    pub fn json(&self, options: &Options) -> String {
        let [p50, p99, p999, max] = self.latencies_us();
        format!(
            "{{\"proto\":\"{}\",\"clients\":{},\"threads\":{},\"pipeline\":{},\"requests\":{},\"errors\":{},\
             \"seconds\":{:.3},\"ops_per_sec\":{:.1},\"p50_us\":{p50:.1},\"p99_us\":{p99:.1},\
             \"p999_us\":{p999:.1},\"max_us\":{max:.1}}}\n",
            options.proto.name(),
            options.clients,
            options.threads,
            options.pipeline,
            self.requests,
            self.errors,
            self.seconds,
            self.ops_per_sec(),
        )
    }

    /// The report for a person.
    pub fn text(&self, options: &Options) -> String {
        let [p50, p99, p999, max] = self.latencies_us();
        format!(
            "{proto}, {clients} clients, pipeline {pipeline}, {size}-byte values, \
             {keyspace} keys, GET:SET {get}:{set}\n\
             {requests} requests in {seconds:.3} s, {errors} errors\n\
             {ops:.1} ops/s\n\
             latency (us): p50 {p50:.1}, p99 {p99:.1}, p99.9 {p999:.1}, max {max:.1}\n",
            proto = options.proto.name(),
            clients = options.clients,
            pipeline = options.pipeline,
            size = if options.data_min == options.data_size {
                options.data_size.to_string()
            } else {
                format!("{}-{}", options.data_min, options.data_size)
            },
            keyspace = options.keyspace,
            get = options.ratio.0,
            set = options.ratio.1,
            requests = self.requests,
            seconds = self.seconds,
            errors = self.errors,
            ops = self.ops_per_sec(),
        )
    }
}

/// Runs the benchmark and prints its report on stdout.
pub fn run(options: &Options) -> Result<(), ToolError> {
    if let Some((addr, serving)) = &options.null_server {
        let duration = match options.stop {
            Stop::Duration(duration) => duration,
            Stop::Requests(_) => super::null::DEFAULT_DURATION,
        };
        return super::null::run(addr, duration, *serving);
    }
    let report = measure(options)?;
    let text = if options.json {
        report.json(options)
    } else {
        report.text(options)
    };
    io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(ToolError::Stdout)
}

/// What a client thread tells the main thread.
enum Message {
    /// Its clients connected (and prefilled), or one could not.
    Ready(Result<(), ToolError>),
    /// Finished measuring, or failed while doing so.
    Done(Result<Tally, ToolError>),
}

/// The clients that thread number `thread` of `threads` serves: as even a
/// share of the `clients` as can be, in a range of indices.
fn share(clients: usize, threads: usize, thread: usize) -> std::ops::Range<usize> {
    clients * thread / threads..clients * (thread + 1) / threads
}

/// One client thread's measurements, of all its clients.
struct Tally {
    latency: Histogram,
    requests: u64,
    errors: u64,
    finished: Instant,
}

/// State shared by the client threads and the main thread.
struct Shared {
    /// Requests answered so far, for the progress line. Added to once per
    /// batch, so contention on it is one atomic add per batch per client.
    completed: AtomicU64,
    /// Set when a client fails: the others stop after their batch.
    stop: AtomicBool,
    gate: Gate,
}

/// Starts every client at the same moment, or tells them all to give up.
/// A `std::sync::Barrier` cannot be called off when one client fails to
/// connect; this can.
struct Gate {
    /// `None` until the main thread decides; then whether to go.
    decision: Mutex<Option<bool>>,
    decided: Condvar,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            decision: Mutex::new(None),
            decided: Condvar::new(),
        }
    }

    /// Waits for the decision: whether to go.
    fn wait(&self) -> bool {
        let mut decision = self.decision.lock();
        loop {
            if let Some(go) = *decision {
                return go;
            }
            self.decided.wait(&mut decision);
        }
    }

    fn decide(&self, go: bool) {
        *self.decision.lock() = Some(go);
        self.decided.notify_all();
    }
}

/// Starts the clients, reports progress while they run, and merges what
/// they measured.
fn measure(options: &Options) -> Result<Report, ToolError> {
    let shared = Shared {
        completed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        gate: Gate::new(),
    };
    let (sender, messages) = mpsc::channel();
    thread::scope(|scope| {
        let mut started = 0;
        let mut failure = None;
        for number in 0..options.threads {
            let sender = sender.clone();
            let shared = &shared;
            let indices = share(options.clients, options.threads, number);
            let spawned = thread::Builder::new()
                .name(format!("bench-{number}"))
                .stack_size(CLIENT_STACK)
                .spawn_scoped(scope, move || clients(indices, options, shared, &sender));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => {
                    failure = Some(ToolError::Thread(e));
                    break;
                }
            }
        }
        drop(sender);
        if options.prefill && failure.is_none() {
            eprintln!("bench: prefilling {} keys", options.keyspace);
        }
        let setup = Instant::now();
        for _ in 0..started {
            match messages.recv() {
                Ok(Message::Ready(Ok(()))) => {}
                Ok(Message::Ready(Err(e))) => {
                    failure.get_or_insert(e);
                }
                Ok(Message::Done(_)) | Err(_) => break,
            }
        }
        if let Some(e) = failure {
            shared.gate.decide(false);
            return Err(e);
        }
        if options.prefill {
            eprintln!("bench: prefilled in {:.3} s", setup.elapsed().as_secs_f64());
        }
        let start = Instant::now();
        shared.gate.decide(true);
        collect(&shared, &messages, started, start)
    })
}

/// Gathers the clients' tallies, printing progress until the last is in.
fn collect(
    shared: &Shared,
    messages: &mpsc::Receiver<Message>,
    clients: usize,
    start: Instant,
) -> Result<Report, ToolError> {
    let terminal = io::stderr().is_terminal();
    let mut progress = Progress {
        terminal,
        shown: false,
        last: (start, 0),
    };
    let mut report = Report {
        requests: 0,
        errors: 0,
        seconds: 0.0,
        latency: Histogram::new(),
    };
    let mut failure = None;
    let mut next_tick = start + PROGRESS_INTERVAL;
    let mut finished = 0;
    while finished < clients {
        let wait = next_tick.saturating_duration_since(Instant::now());
        match messages.recv_timeout(wait) {
            Ok(Message::Done(Ok(tally))) => {
                finished += 1;
                report.requests += tally.requests;
                report.errors += tally.errors;
                report.latency.merge(&tally.latency);
                let seconds = tally.finished.duration_since(start).as_secs_f64();
                report.seconds = report.seconds.max(seconds);
            }
            Ok(Message::Done(Err(e))) => {
                finished += 1;
                shared.stop.store(true, Ordering::Relaxed);
                failure.get_or_insert(e);
            }
            Ok(Message::Ready(_)) => {}
            Err(RecvTimeoutError::Timeout) => {
                progress.show(start, shared.completed.load(Ordering::Relaxed));
                next_tick += PROGRESS_INTERVAL;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    progress.clear();
    match failure {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// The progress line on stderr.
struct Progress {
    terminal: bool,
    /// Whether a line is on screen to be cleared.
    shown: bool,
    /// When the last line was shown, and the requests done then.
    last: (Instant, u64),
}

impl Progress {
    fn show(&mut self, start: Instant, done: u64) {
        let now = Instant::now();
        let (then, done_then) = self.last;
        let interval = now.duration_since(then).as_secs_f64();
        let rate = if interval > 0.0 {
            (done - done_then) as f64 / interval
        } else {
            0.0
        };
        self.last = (now, done);
        let line = format!(
            "bench: {:.1} s, {done} requests, {rate:.0} ops/s",
            now.duration_since(start).as_secs_f64()
        );
        // Progress is a courtesy: a closed stderr does not stop the run.
        let _ = if self.terminal {
            self.shown = true;
            write!(io::stderr(), "\r{line:<PROGRESS_WIDTH$}")
        } else {
            writeln!(io::stderr(), "{line}")
        };
    }

    /// Erases a line rewritten in place, so the report starts clean.
    fn clear(&mut self) {
        if self.shown {
            let _ = write!(io::stderr(), "\r{:PROGRESS_WIDTH$}\r", "");
            self.shown = false;
        }
    }
}

/// One client thread: connect and prefill its clients, wait at the gate,
/// measure.
fn clients(
    indices: std::ops::Range<usize>,
    options: &Options,
    shared: &Shared,
    messages: &Sender<Message>,
) {
    let setup: Result<Vec<Seat>, ToolError> = indices
        .map(|index| {
            let mut client = Client::connect(options)?;
            if options.prefill {
                client.prefill(index)?;
            }
            Ok(Seat::new(client, index))
        })
        .collect();
    let mut seats = match setup {
        Ok(seats) => {
            let _ = messages.send(Message::Ready(Ok(())));
            seats
        }
        Err(e) => {
            let _ = messages.send(Message::Ready(Err(e)));
            return;
        }
    };
    if !shared.gate.wait() {
        return;
    }
    let _ = messages.send(Message::Done(measure_seats(&mut seats, options, shared)));
}

/// The measured run of one thread's clients, taken in turn: each has one
/// batch in flight at a time (a closed loop, as if it had a thread of its
/// own), and the thread waits for the reply of the client whose turn it
/// is, sends that client's next batch at once, and goes on to the next.
/// While it waits, every other client's batch is with the server, so a
/// thread that waits has nothing else to do. A thread with one client is
/// the default's one thread per connection.
fn measure_seats(
    seats: &mut [Seat],
    options: &Options,
    shared: &Shared,
) -> Result<Tally, ToolError> {
    let deadline = match options.stop {
        Stop::Duration(d) => Some(Instant::now() + d),
        Stop::Requests(_) => None,
    };
    let go_on = |seat: &Seat| {
        seat.left > 0
            && !shared.stop.load(Ordering::Relaxed)
            && !deadline.is_some_and(|d| Instant::now() >= d)
    };
    let mut tally = Tally {
        latency: Histogram::new(),
        requests: 0,
        errors: 0,
        finished: Instant::now(),
    };
    let mut busy: Vec<&mut Seat> = Vec::with_capacity(seats.len());
    for seat in seats.iter_mut() {
        if go_on(seat) {
            seat.send(options)?;
            busy.push(seat);
        }
    }
    while !busy.is_empty() {
        let mut index = 0;
        while index < busy.len() {
            let seat = &mut *busy[index];
            let n = seat.in_flight;
            tally.errors += seat
                .client
                .receive(n, seat.sent, Some(&mut tally.latency))?;
            tally.requests += n as u64;
            seat.left -= n as u64;
            shared.completed.fetch_add(n as u64, Ordering::Relaxed);
            if go_on(seat) {
                seat.send(options)?;
                index += 1;
            } else {
                busy.swap_remove(index);
            }
        }
    }
    tally.finished = Instant::now();
    Ok(tally)
}

/// A client and where its run stands.
struct Seat<'a> {
    client: Client<'a>,
    rng: Rng,
    /// Requests it has still to send; `u64::MAX` for a timed run.
    left: u64,
    /// Requests of the batch in flight.
    in_flight: usize,
    /// When that batch was sent.
    sent: Instant,
}

impl<'a> Seat<'a> {
    /// Client `index`, its share of `--requests` and its own random
    /// sequence, seeded from its index (so a run is repeatable).
    fn new(client: Client<'a>, index: usize) -> Seat<'a> {
        let options = client.options;
        let left = match options.stop {
            Stop::Requests(total) => {
                let clients = options.clients as u64;
                total / clients + u64::from((index as u64) < total % clients)
            }
            Stop::Duration(_) => u64::MAX,
        };
        Seat {
            client,
            rng: Rng::new(index),
            left,
            in_flight: 0,
            sent: Instant::now(),
        }
    }

    /// Builds and sends the next batch.
    fn send(&mut self, options: &Options) -> Result<(), ToolError> {
        let (gets, sets) = (options.ratio.0 as u64, options.ratio.1 as u64);
        let n = self.left.min(options.pipeline as u64) as usize;
        let client = &mut self.client;
        client.batch.clear();
        for _ in 0..n {
            let r = self.rng.next();
            // The high bits pick the key (a multiply-shift, unbiased
            // enough for any keyspace), the low bits the command.
            let key = ((r as u128 * options.keyspace as u128) >> 64) as u64;
            if r % (gets + sets) < gets {
                client.get.append(&mut client.batch, key);
            } else {
                client.append_set(key);
            }
        }
        self.in_flight = n;
        self.sent = Instant::now();
        client.stream.send(&client.batch)
    }
}

/// One request shape with a placeholder key: the bytes, and where the key's
/// digits start in them.
struct Template {
    bytes: Vec<u8>,
    digits: usize,
}

impl Template {
    /// `name key [value]` in `proto`, the key being [`KEY_PREFIX`] and
    /// zeros. `name` is GET or SET; memcached's protocol spells them in
    /// lower case and gives a SET's flags, expiry and length on its line.
    fn new(proto: Proto, name: &str, value: Option<&[u8]>) -> Template {
        let key_len = KEY_PREFIX.len() + KEY_DIGITS;
        let (head, tail) = match (proto, value) {
            (Proto::Memcache, value) => {
                let head = format!("{} ", name.to_ascii_lowercase()).into_bytes();
                let mut tail = Vec::new();
                if let Some(value) = value {
                    tail.extend_from_slice(format!(" 0 0 {}\r\n", value.len()).as_bytes());
                    tail.extend_from_slice(value);
                }
                tail.extend_from_slice(b"\r\n");
                (head, tail)
            }
            (Proto::Text, None) => (format!("{name} ").into_bytes(), b"\n".to_vec()),
            (Proto::Text, Some(value)) => {
                let mut tail = vec![b' '];
                tail.extend_from_slice(value);
                tail.push(b'\n');
                (format!("{name} ").into_bytes(), tail)
            }
            (Proto::Resp, value) => {
                let count = if value.is_some() { 3 } else { 2 };
                let head = format!("*{count}\r\n${}\r\n{name}\r\n${key_len}\r\n", name.len());
                let mut tail = b"\r\n".to_vec();
                if let Some(value) = value {
                    tail.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
                    tail.extend_from_slice(value);
                    tail.extend_from_slice(b"\r\n");
                }
                (head.into_bytes(), tail)
            }
        };
        let mut bytes = head;
        let digits = bytes.len() + KEY_PREFIX.len();
        bytes.extend_from_slice(KEY_PREFIX);
        bytes.resize(digits + KEY_DIGITS, b'0');
        bytes.extend_from_slice(&tail);
        Template { bytes, digits }
    }

    /// Appends this request for key number `key` to `batch`.
    fn append(&self, batch: &mut Vec<u8>, mut key: u64) {
        let digits = batch.len() + self.digits;
        batch.extend_from_slice(&self.bytes);
        for digit in batch[digits..digits + KEY_DIGITS].iter_mut().rev() {
            *digit = b'0' + (key % 10) as u8;
            key /= 10;
        }
    }
}

/// The value length of key number `key` for values of `min` to `max`
/// bytes: uniform over the range (a multiply-shift of a 64-bit hash,
/// unbiased to within 2^-40 for any range the flags allow), and the same
/// for a key every time.
pub fn value_len(key: u64, min: usize, max: usize) -> usize {
    // splitmix64's finaliser: every input bit moves every output bit.
    let mut h = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 31;
    let span = (max - min) as u128 + 1;
    min + ((h as u128 * span) >> 64) as usize
}

/// Appends a SET of key number `key` with `value` in `proto`: the bytes
/// [`Template::new`] makes for that value, built directly because the
/// value's length differs from one key to the next.
fn append_sized_set(proto: Proto, batch: &mut Vec<u8>, key: u64, value: &[u8]) {
    let key_at = |batch: &mut Vec<u8>| {
        batch.extend_from_slice(KEY_PREFIX);
        let digits = batch.len();
        batch.resize(digits + KEY_DIGITS, b'0');
        let mut rest = key;
        for digit in batch[digits..].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
    };
    match proto {
        Proto::Resp => {
            let key_len = KEY_PREFIX.len() + KEY_DIGITS;
            batch.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n${key_len}\r\n").as_bytes());
            key_at(batch);
            batch.extend_from_slice(format!("\r\n${}\r\n", value.len()).as_bytes());
            batch.extend_from_slice(value);
            batch.extend_from_slice(b"\r\n");
        }
        Proto::Text => {
            batch.extend_from_slice(b"SET ");
            key_at(batch);
            batch.push(b' ');
            batch.extend_from_slice(value);
            batch.push(b'\n');
        }
        Proto::Memcache => {
            batch.extend_from_slice(b"set ");
            key_at(batch);
            batch.extend_from_slice(format!(" 0 0 {}\r\n", value.len()).as_bytes());
            batch.extend_from_slice(value);
            batch.extend_from_slice(b"\r\n");
        }
    }
}

/// xorshift64*: fast, and good enough in its low bits to pick GET or SET.
struct Rng(u64);

impl Rng {
    /// A generator for client `index`; never seeded with zero.
    fn new(index: usize) -> Rng {
        Rng((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// One client's connection, requests and buffers.
struct Client<'a> {
    options: &'a Options,
    stream: Stream,
    get: Template,
    set: Template,
    /// `--data-size` bytes of `x`: with a range of sizes, each SET's value
    /// is the start of this.
    value: Vec<u8>,
    /// The batch being sent, rebuilt in place for each batch.
    batch: Vec<u8>,
    /// Replies land here; grows only for a reply larger than itself.
    received: Vec<u8>,
    /// Bytes of `received` that hold the last exchange's replies.
    filled: usize,
}

impl<'a> Client<'a> {
    fn connect(options: &'a Options) -> Result<Client<'a>, ToolError> {
        let value = vec![b'x'; options.data_size];
        let set = Template::new(options.proto, "SET", Some(&value));
        let mut client = Client {
            options,
            stream: options.endpoint.connect()?,
            get: Template::new(options.proto, "GET", None),
            batch: Vec::with_capacity(options.pipeline * set.bytes.len()),
            set,
            value,
            received: vec![0; READ_BUFFER],
            filled: 0,
        };
        if let Some(password) = &options.password {
            client.expect(
                &[b"AUTH", password.bytes()],
                |r| r == b"OK",
                ToolError::Auth,
            )?;
        }
        // A server with every worker busy answers the first request with
        // its refusal, which this reports before measuring starts.
        if options.proto == Proto::Memcache {
            let version = |r: &[u8]| r.starts_with(b"VERSION ");
            client.expect(&[b"version"], version, ToolError::Protocol)?;
        } else {
            client.expect(&[b"PING"], |r| r == b"PONG", ToolError::Protocol)?;
        }
        Ok(client)
    }

    /// Sends one request of `words` and checks that the reply is a simple
    /// string (a line, for the text protocols) that `accept` takes; any
    /// other reply becomes the error `refused` makes of its text.
    fn expect(
        &mut self,
        words: &[&[u8]],
        accept: fn(&[u8]) -> bool,
        refused: fn(String) -> ToolError,
    ) -> Result<(), ToolError> {
        self.batch.clear();
        let line_end: &[u8] = match self.options.proto {
            Proto::Resp => b"\r\n",
            Proto::Text => b"\n",
            Proto::Memcache => b"\r\n",
        };
        if self.options.proto == Proto::Resp {
            resp::encode(&mut self.batch, words);
        } else {
            for word in words {
                self.batch.extend_from_slice(word);
                self.batch.push(b' ');
            }
            // The last space becomes the end of the line.
            self.batch.pop();
            self.batch.extend_from_slice(line_end);
        }
        let exchanged = self.exchange(1);
        // The request may hold the password.
        self.batch.fill(0);
        exchanged?;
        let reply = &self.received[..self.filled];
        let text = match self.options.proto {
            Proto::Resp => reply.strip_prefix(b"+"),
            Proto::Text | Proto::Memcache => Some(reply),
        }
        .and_then(|r| r.strip_suffix(line_end));
        if text.is_some_and(accept) {
            return Ok(());
        }
        let reply = reply.strip_prefix(b"-").unwrap_or(reply);
        Err(refused(escape(trim_line_end(reply), QUOTE)))
    }

    /// SETs this client's share of the keyspace: a contiguous range.
    fn prefill(&mut self, index: usize) -> Result<(), ToolError> {
        let clients = self.options.clients as u128;
        let keyspace = self.options.keyspace as u128;
        let first = (keyspace * index as u128 / clients) as u64;
        let end = (keyspace * (index as u128 + 1) / clients) as u64;
        let per_write = (PREFILL_BATCH_BYTES / self.set.bytes.len()).clamp(1, PREFILL_BATCH);
        let mut key = first;
        while key < end {
            let n = (end - key).min(per_write as u64);
            self.batch.clear();
            for k in key..key + n {
                self.append_set(k);
            }
            let errors = self.exchange(n as usize)?;
            if errors > 0 {
                return Err(ToolError::Prefill(errors));
            }
            key += n;
        }
        Ok(())
    }

    /// Appends a SET of key number `key` to the batch: from the template
    /// when every value has one size, else built for this key's size.
    fn append_set(&mut self, key: u64) {
        let options = self.options;
        if options.data_min == options.data_size {
            self.set.append(&mut self.batch, key);
        } else {
            let len = value_len(key, options.data_min, options.data_size);
            append_sized_set(options.proto, &mut self.batch, key, &self.value[..len]);
        }
    }

    /// Sends the batch in one write and reads its `n` replies. Returns how
    /// many replies were errors.
    fn exchange(&mut self, n: usize) -> Result<u64, ToolError> {
        let sent = Instant::now();
        self.stream.send(&self.batch)?;
        self.receive(n, sent, None)
    }

    /// Reads the `n` replies of the batch sent at `sent`, counting each
    /// one's latency into `latency` when given. Returns how many replies
    /// were errors.
    fn receive(
        &mut self,
        n: usize,
        sent: Instant,
        mut latency: Option<&mut Histogram>,
    ) -> Result<u64, ToolError> {
        let (mut start, mut end) = (0, 0);
        let mut pending = n;
        let mut errors = 0;
        while pending > 0 {
            if end == self.received.len() {
                self.make_room(&mut start, &mut end)?;
            }
            let read = match self.stream.read(&mut self.received[end..]) {
                Ok(0) => return Err(closed_after(&self.received[..end])),
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            end += read;
            let arrived = Instant::now();
            let mut answered = 0;
            while answered < pending {
                match reply(self.options.proto, &self.received[start..end])? {
                    Some((len, error)) => {
                        start += len;
                        answered += 1;
                        errors += u64::from(error);
                    }
                    None => break,
                }
            }
            pending -= answered;
            if let Some(latency) = latency.as_deref_mut() {
                let ns = arrived.duration_since(sent).as_nanos();
                latency.record_n(u64::try_from(ns).unwrap_or(u64::MAX), answered as u64);
            }
        }
        self.filled = end;
        if start != end {
            return Err(ToolError::Protocol(format!(
                "bytes after the last reply: {}",
                escape(&self.received[start..end], 80)
            )));
        }
        Ok(errors)
    }

    /// Frees room at the end of a full read buffer: moves the unparsed
    /// bytes to the front, or grows the buffer when they fill it.
    fn make_room(&mut self, start: &mut usize, end: &mut usize) -> Result<(), ToolError> {
        if *start > 0 {
            self.received.copy_within(*start..*end, 0);
            *end -= *start;
            *start = 0;
        } else if self.received.len() >= MAX_REPLY {
            return Err(ToolError::ReplyTooLarge(MAX_REPLY));
        } else {
            let grown = (self.received.len() * 2).min(MAX_REPLY);
            self.received.resize(grown, 0);
        }
        Ok(())
    }
}

/// The length of the reply at the start of `bytes`, and whether it is an
/// error; `None` while it is incomplete.
fn reply(proto: Proto, bytes: &[u8]) -> Result<Option<(usize, bool)>, ToolError> {
    match proto {
        Proto::Resp => Ok(resp::parse(bytes)?.map(|(value, len)| {
            let error = matches!(value, Value::Error(_));
            (len, error)
        })),
        Proto::Text => Ok(bytes.iter().position(|&b| b == b'\n').map(|newline| {
            let line = &bytes[..newline];
            let ok = line == b"OK" || line == b"NOT_FOUND" || line.starts_with(b"VALUE ");
            (newline + 1, !ok)
        })),
        Proto::Memcache => memcache_reply(bytes),
    }
}

/// What ends memcached's reply to a `get`, after the `VALUE` block of a
/// hit, or alone for a miss.
const MEMCACHE_END: &[u8] = b"END\r\n";

/// The length of memcached's reply to one `get` or `set` at the start of
/// `bytes`, and whether it is an error; `None` while it is incomplete.
///
/// A hit is `VALUE <key> <flags> <bytes> [<cas>]\r\n`, then that many
/// bytes of data and `\r\n`, then `END\r\n`: its length comes from the
/// header, since the data may hold any byte. Every other reply is one line:
/// `STORED` and `END` (a miss) are answers; `ERROR`, `CLIENT_ERROR ...`,
/// `SERVER_ERROR ...` and anything else a `get` or `set` should not get
/// (`NOT_STORED`, `EXISTS`) are errors. memcached ends lines with `\r\n`;
/// a bare `\n` is accepted too.
fn memcache_reply(bytes: &[u8]) -> Result<Option<(usize, bool)>, ToolError> {
    let Some(newline) = bytes.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let line = trim_line_end(&bytes[..=newline]);
    let Some(header) = line.strip_prefix(b"VALUE ") else {
        let ok = line == trim_line_end(MEMCACHE_END) || line == b"STORED";
        return Ok(Some((newline + 1, !ok)));
    };
    let not_a_reply = || ToolError::Protocol(escape(line, QUOTE));
    // <key> <flags> <bytes> [<cas>]: the length is the third field.
    let length = header
        .split(|&b| b == b' ')
        .filter(|field| !field.is_empty())
        .nth(2)
        .filter(|field| field.len() <= 10 && field.iter().all(u8::is_ascii_digit))
        .and_then(|field| std::str::from_utf8(field).ok()?.parse::<usize>().ok())
        .ok_or_else(not_a_reply)?;
    if length > MAX_REPLY {
        return Err(ToolError::ReplyTooLarge(MAX_REPLY));
    }
    let data_end = newline + 1 + length;
    let end = data_end + 2 + MEMCACHE_END.len();
    if bytes.len() < end {
        return Ok(None);
    }
    if &bytes[data_end..data_end + 2] != b"\r\n" || &bytes[data_end + 2..end] != MEMCACHE_END {
        return Err(ToolError::Protocol(format!(
            "{} not followed by its {length} bytes, \\r\\n and END: {}",
            escape(line, QUOTE),
            escape(&bytes[data_end..end], 80)
        )));
    }
    Ok(Some((end, false)))
}

/// Parses the flags of `blink-store bench`.
pub fn parse_args(mut args: pico_args::Arguments) -> Result<Options, UsageError> {
    let null_server: Option<String> = opt_number(&mut args, "--null-server")?;
    if let Some(addr) = null_server {
        return null_server_args(args, addr);
    }
    let tcp = opt_number(&mut args, "--tcp")?;
    let unix = args.opt_value_from_os_str("--unix", |s| {
        Ok::<_, std::convert::Infallible>(PathBuf::from(s))
    })?;
    let password_file = args.opt_value_from_os_str("--password-file", |s| {
        Ok::<_, std::convert::Infallible>(PathBuf::from(s))
    })?;
    let clients = opt_number(&mut args, "--clients")?;
    let clients = within("--clients", clients, DEFAULT_CLIENTS, 1, MAX_CLIENTS)?;
    let threads = opt_number(&mut args, "--threads")?;
    let threads = within("--threads", threads, clients, 1, clients)?;
    let requests: Option<u64> = opt_number(&mut args, "--requests")?;
    let duration = opt_value(&mut args, "--duration", parse_seconds)?;
    let stop = match (requests, positive("--duration", duration)?) {
        (Some(_), Some(_)) => {
            return Err(UsageError::new("give --requests or --duration, not both"))
        }
        (None, Some(duration)) => Stop::Duration(duration),
        (requests, None) => {
            let requests = within("--requests", requests, DEFAULT_REQUESTS, 1, u64::MAX)?;
            Stop::Requests(requests)
        }
    };
    let pipeline = opt_number(&mut args, "--pipeline")?;
    let pipeline = within("--pipeline", pipeline, DEFAULT_PIPELINE, 1, MAX_PIPELINE)?;
    let sizes = opt_value(&mut args, "--data-size", parse_sizes)?;
    let as_usize = |size: u64| usize::try_from(size).unwrap_or(usize::MAX);
    let data_min = sizes.map(|(min, _)| as_usize(min));
    let data_min = within("--data-size", data_min, DEFAULT_DATA_SIZE, 0, MAX_DATA_SIZE)?;
    let data_size = sizes.map(|(_, max)| as_usize(max));
    let data_size = within(
        "--data-size",
        data_size,
        DEFAULT_DATA_SIZE,
        0,
        MAX_DATA_SIZE,
    )?;
    if pipeline.saturating_mul(data_size + REQUEST_OVERHEAD) > MAX_BATCH_BYTES {
        return Err(UsageError::new(format!(
            "--pipeline times --data-size must stay under {} per batch",
            size_text(MAX_BATCH_BYTES as u64)
        )));
    }
    let keyspace = opt_number(&mut args, "--keyspace")?;
    let keyspace = within("--keyspace", keyspace, DEFAULT_KEYSPACE, 1, MAX_KEYSPACE)?;
    let ratio = opt_value(&mut args, "--ratio", parse_ratio)?.unwrap_or((1, 1));
    let proto = opt_value(&mut args, "--proto", parse_proto)?.unwrap_or(Proto::Resp);
    let json = args.contains("--json");
    let prefill = args.contains("--prefill");
    let password = match proto {
        Proto::Text | Proto::Resp => {
            password_text(password_file.as_deref()).map_err(UsageError::new)?
        }
        // memcached's protocol has no AUTH, and BLINK_PASSWORD is meant for
        // Blink-Store; an explicit --password-file is a mistake worth saying.
        Proto::Memcache if password_file.is_none() => None,
        Proto::Memcache => {
            let why = "--password-file does not apply to --proto memcache (no AUTH in memcached)";
            return Err(UsageError::new(why.to_string()));
        }
    };
    no_more(&args.finish())?;
    Ok(Options {
        endpoint: endpoint(tcp, unix)?,
        password,
        clients,
        threads,
        stop,
        pipeline,
        data_size,
        data_min,
        keyspace,
        ratio,
        proto,
        json,
        prefill,
        null_server: None,
    })
}

/// The rest of the flags after `--null-server ADDR`: `--duration` and
/// `--poll` only.
fn null_server_args(mut args: pico_args::Arguments, addr: String) -> Result<Options, UsageError> {
    let duration = opt_value(&mut args, "--duration", parse_seconds)?;
    let duration = positive("--duration", duration)?.unwrap_or(super::null::DEFAULT_DURATION);
    let serving = if args.contains("--poll") {
        Serving::Poll
    } else {
        Serving::Threads
    };
    no_more(&args.finish())?;
    Ok(Options {
        endpoint: Endpoint::Tcp(addr.clone()),
        password: None,
        clients: DEFAULT_CLIENTS,
        threads: DEFAULT_CLIENTS,
        stop: Stop::Duration(duration),
        pipeline: DEFAULT_PIPELINE,
        data_size: DEFAULT_DATA_SIZE,
        data_min: DEFAULT_DATA_SIZE,
        keyspace: DEFAULT_KEYSPACE,
        ratio: (1, 1),
        proto: Proto::Resp,
        json: false,
        prefill: false,
        null_server: Some((addr, serving)),
    })
}

/// Parses `--data-size`: one size (`32`, `1kb`), or `MIN-MAX` for values
/// of every length from MIN to MAX bytes.
fn parse_sizes(s: &str) -> Result<(u64, u64), String> {
    match s.split_once('-') {
        None => parse_size(s).map(|size| (size, size)),
        Some((min, max)) => {
            let (min, max) = (parse_size(min.trim())?, parse_size(max.trim())?);
            if min > max {
                return Err(format!("'{s}' is not a range: {min} is above {max}"));
            }
            Ok((min, max))
        }
    }
}

/// Parses `GET:SET` weights: `1:1`, `9:1`, `0:1`.
fn parse_ratio(s: &str) -> Result<(u32, u32), String> {
    let weights = s
        .split_once(':')
        .and_then(|(get, set)| Some((get.trim().parse().ok()?, set.trim().parse().ok()?)));
    match weights {
        Some((0, 0)) => Err(format!("'{s}' has no requests; try 1:1")),
        Some(weights) => Ok(weights),
        None => Err(format!("'{s}' is not a GET:SET ratio such as 1:1 or 9:1")),
    }
}

fn parse_proto(s: &str) -> Result<Proto, String> {
    parse_choice(
        s,
        &[
            ("text", Proto::Text),
            ("resp", Proto::Resp),
            ("memcache", Proto::Memcache),
        ],
    )
}

/// The text of `blink-store bench --help`.
pub fn help() -> String {
    format!(
        "Usage: blink-store bench [FLAGS]

Loads a server with GET and SET requests from many connections at once and
reports throughput and latency, like redis-benchmark. Each client has its
own connection; it sends --pipeline requests in one write and waits for
all their replies before it sends more. Each client is a thread of its
own, or --threads share the clients, each taking its clients' replies in
turn. Latency runs from a batch's write to the read of each reply.

Flags:
  --tcp ADDR              the server's TCP host:port (default {DEFAULT_TCP})
  --unix PATH             the server's Unix socket, instead of TCP
  --password-file PATH    authenticate with the file's first line
                          (default: BLINK_PASSWORD when set, else no AUTH)
  --clients N             connections (default {DEFAULT_CLIENTS}, at most {MAX_CLIENTS})
  --threads N             threads the clients share (default: one per client);
                          fewer threads cost the generator fewer task switches
  --requests N            requests in all clients together (default {DEFAULT_REQUESTS})
  --duration SECONDS      run this long instead of a number of requests
  --pipeline P            requests per write (default {DEFAULT_PIPELINE}, at most {MAX_PIPELINE})
  --data-size SIZE        bytes per SET value, printable ASCII (default {DEFAULT_DATA_SIZE});
                          MIN-MAX: each key's value MIN to MAX bytes, its length
                          uniform over the range and fixed per key
  --keyspace N            distinct keys, chosen at random: key:000000000000,
                          key:000000000001 ... (default {DEFAULT_KEYSPACE})
  --ratio GET:SET         share of GETs to SETs (default 1:1; 9:1 reads mostly)
  --proto text|resp|memcache
                          the protocol spoken (default resp); memcache is
                          memcached's text protocol (get, set), to load
                          memcached the same way for comparison
  --prefill               SET every key once before measuring (default off)
  --json                  print the report as one JSON object on stdout
  --null-server ADDR      load nothing: listen on ADDR and answer every request
                          with a constant reply (RESP, text or memcached's, as
                          each request is framed), to measure this generator;
                          prints the address on stdout, ends after --duration
                          (default one hour). One thread per connection, or
                          with --poll one thread polling them all, which keeps
                          a CPU busy but answers far more on a CPU of its own.
                          No other flag applies
  -h, --help              print this help

While running, a progress line goes to stderr every second. The report
gives requests, error replies (counted, not fatal), seconds, ops/s and
latency percentiles p50, p99, p99.9 and max in microseconds. With --json:
  {{\"proto\":\"resp\",\"clients\":50,\"threads\":50,\"pipeline\":1,\"requests\":100000,\"errors\":0,
   \"seconds\":1.230,\"ops_per_sec\":81300.5,\"p50_us\":551.0,\"p99_us\":1203.0,
   \"p999_us\":2411.0,\"max_us\":5012.0}}
A connection that fails or closes stops the run with exit status 2.

Examples:
  blink-store bench
  blink-store bench --clients 50 --pipeline 16 --proto text
  blink-store bench --duration 10 --ratio 9:1 --prefill --json
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_carry_the_key_digits_in_place() {
        let mut batch = Vec::new();
        Template::new(Proto::Resp, "GET", None).append(&mut batch, 12345);
        Template::new(Proto::Resp, "SET", Some(b"xy")).append(&mut batch, 7);
        Template::new(Proto::Text, "GET", None).append(&mut batch, 999_999_999_999);
        Template::new(Proto::Text, "SET", Some(b"xy")).append(&mut batch, 0);
        assert_eq!(
            batch,
            b"*2\r\n$3\r\nGET\r\n$16\r\nkey:000000012345\r\n\
              *3\r\n$3\r\nSET\r\n$16\r\nkey:000000000007\r\n$2\r\nxy\r\n\
              GET key:999999999999\n\
              SET key:000000000000 xy\n"
        );
    }

    #[test]
    fn sized_sets_are_the_bytes_of_a_template_for_that_value() {
        for proto in [Proto::Resp, Proto::Text, Proto::Memcache] {
            for len in [0, 1, 9, 10, 999] {
                let value = vec![b'x'; len];
                let (mut built, mut templated) = (Vec::new(), Vec::new());
                append_sized_set(proto, &mut built, 123_456, &value);
                Template::new(proto, "SET", Some(&value)).append(&mut templated, 123_456);
                assert_eq!(built, templated, "{proto:?}, {len} bytes");
            }
        }
    }

    #[test]
    fn value_lengths_cover_the_range_evenly() {
        let mut seen = [0u32; 10];
        for key in 0..100_000 {
            let len = value_len(key, 1, 10);
            seen[len - 1] += 1;
        }
        assert!(
            seen.iter().all(|&n| (9_500..10_500).contains(&n)),
            "{seen:?}"
        );
        assert_eq!(value_len(7, 32, 32), 32);
    }

    #[test]
    fn text_replies_other_than_ok_not_found_and_value_are_errors() {
        let parse = |bytes: &[u8]| reply(Proto::Text, bytes).unwrap();
        assert_eq!(parse(b"OK\nVALUE"), Some((3, false)));
        assert_eq!(parse(b"VALUE eHg=\n"), Some((11, false)));
        assert_eq!(parse(b"NOT_FOUND\n"), Some((10, false)));
        assert_eq!(parse(b"ERROR value too large\n"), Some((22, true)));
        assert_eq!(parse(b"NOT_STORED\n"), Some((11, true)));
        assert_eq!(parse(b"VALUE eHg="), None);
    }

    #[test]
    fn memcache_templates_give_set_its_flags_expiry_and_length() {
        let mut batch = Vec::new();
        Template::new(Proto::Memcache, "GET", None).append(&mut batch, 42);
        Template::new(Proto::Memcache, "SET", Some(b"xy")).append(&mut batch, 7);
        assert_eq!(
            batch,
            b"get key:000000000042\r\n\
              set key:000000000007 0 0 2\r\nxy\r\n"
        );
    }

    #[test]
    fn memcache_replies_are_framed_by_length_and_errors_counted() {
        let parse = |bytes: &[u8]| reply(Proto::Memcache, bytes).unwrap();
        let hit = b"VALUE key:000000000001 0 5\r\na\r\nEN\r\nEND\r\n";
        assert_eq!(parse(hit), Some((hit.len(), false)));
        let with_cas = b"VALUE k 12 2 99\r\nxy\r\nEND\r\nSTORED\r\n";
        assert_eq!(parse(with_cas), Some((with_cas.len() - 8, false)));
        for cut in 0..hit.len() {
            assert_eq!(parse(&hit[..cut]), None, "cut at {cut}");
        }
        assert_eq!(parse(b"END\r\nSTORED\r\n"), Some((5, false)));
        assert_eq!(parse(b"STORED\r\n"), Some((8, false)));
        assert_eq!(parse(b"ERROR\r\n"), Some((7, true)));
        assert_eq!(parse(b"CLIENT_ERROR bad data chunk\r\n"), Some((29, true)));
        let too_large = b"SERVER_ERROR object too large for cache\r\n";
        assert_eq!(parse(too_large), Some((too_large.len(), true)));
        assert_eq!(parse(b"NOT_STORED\r\n"), Some((12, true)));
        assert_eq!(parse(b"STORED\r"), None);
    }

    #[test]
    fn memcache_values_that_break_their_framing_are_refused() {
        let parse = |bytes: &[u8]| reply(Proto::Memcache, bytes);
        for bad in [
            &b"VALUE k 0\r\nxy\r\nEND\r\n"[..],
            b"VALUE k 0 -1\r\n\r\nEND\r\n",
            b"VALUE k 0 2x\r\nxy\r\nEND\r\n",
            b"VALUE k 0 1\r\nxy\r\nEND\r\n",
            b"VALUE k 0 2\r\nxy\r\nVALUE ",
        ] {
            assert!(
                matches!(parse(bad), Err(ToolError::Protocol(_))),
                "{}",
                escape(bad, 80)
            );
        }
        assert!(matches!(
            parse(b"VALUE k 0 99999999999\r\n"),
            Err(ToolError::Protocol(_))
        ));
        assert!(matches!(
            parse(b"VALUE k 0 9999999999\r\n"),
            Err(ToolError::ReplyTooLarge(_))
        ));
    }

    #[test]
    fn resp_error_replies_are_counted() {
        let parse = |bytes: &[u8]| reply(Proto::Resp, bytes).unwrap();
        assert_eq!(parse(b"+OK\r\n"), Some((5, false)));
        assert_eq!(parse(b"$-1\r\n"), Some((5, false)));
        assert_eq!(parse(b"-OOM no\r\n"), Some((9, true)));
        assert_eq!(parse(b"$2\r\nxy"), None);
    }

    #[test]
    fn keys_and_commands_follow_the_ratio() {
        let mut rng = Rng::new(0);
        let (gets, sets, keyspace) = (3u64, 1u64, 10u128);
        let mut seen_gets = 0;
        let mut keys = [0u32; 10];
        for _ in 0..40_000 {
            let r = rng.next();
            keys[((r as u128 * keyspace) >> 64) as usize] += 1;
            seen_gets += u64::from(r % (gets + sets) < gets);
        }
        assert!((29_000..31_000).contains(&seen_gets), "{seen_gets} GETs");
        assert!(
            keys.iter().all(|&n| (3_600..4_400).contains(&n)),
            "{keys:?}"
        );
    }
}
