//! The log's records, in Redis's append-only format: each record is a RESP
//! array of bulk strings, the command that reproduces one change.
//!
//! | change                     | record                                   |
//! |----------------------------|------------------------------------------|
//! | a key holds a value        | `SET key value`, `+ PXAT <unix ms>`      |
//! | a key's deadline changed   | `PEXPIREAT key <unix ms>` or `PERSIST key` |
//! | a key is gone (deleted, expired, evicted) | `DEL key`                 |
//! | MSET, MSETNX               | `MULTI`, one `SET` per pair, `EXEC`      |
//! | RENAME, RENAMENX           | `MULTI`, `DEL from`, `SET to ...`, `EXEC` |
//! | FLUSHALL                   | `FLUSHALL`                               |
//! | FLUSHDB                    | `FLUSHDB`                                |
//! | SWAPDB                     | `SWAPDB a b`                             |
//! | MOVE                       | `MULTI`, `DEL key`, `SELECT db`, `SET key ...`, `EXEC` |
//! | a transaction (MULTI/EXEC) | `MULTI`, the records of its changes, `EXEC` |
//!
//! A record of a key (or a FLUSHDB) applies to the database the last
//! `SELECT` before it named, as in Redis: the encoder keeps the database
//! the log has selected ([`Selected`]) and writes a `SELECT n` before a
//! record of another one, inside a block too. A log that never selects
//! is database 0's.
//!
//! Deadlines are absolute Unix milliseconds (never a relative time, which
//! would restart at every replay); [`WallClock`] converts the store's
//! monotonic [`Millis`] to and from them.
//!
//! Encoding ([`encode`]) runs under a stripe lock: it copies the key and
//! value and writes a few decimal lengths, with no `fmt` and no allocation
//! beyond the buffer's growth. Decoding ([`Reader`]) reads one record at a
//! time from any `BufRead` and bounds everything before buffering it: a
//! header line to [`MAX_HEADER`] bytes, a record to [`MAX_ARGS`]
//! arguments, a bulk to [`MAX_BULK`] bytes (read in pieces, so a corrupt
//! length allocates only what the file really holds). Parse, don't
//! validate: a record becomes a typed [`Record`] or an error; an input
//! that ends inside a record is [`ReadError::Torn`], anything else wrong
//! is [`ReadError::Corrupt`], with the record's offset.

use std::io::{self, BufRead, Read};

use crate::config::MAX_MAX_VALUE_SIZE;
use crate::copy;
use crate::num::{format_i64, parse_i64};
use crate::store::{Change, Clock, Millis, MAX_KEY_LEN};

/// Most arguments in one record: `SET key value PXAT ms` has five; Redis's
/// own `SET` records have at most seven. More is corruption.
pub const MAX_ARGS: usize = 8;

/// Longest bulk string: the longest value any server accepts
/// (`--max-value-size` is at most this).
pub const MAX_BULK: usize = MAX_MAX_VALUE_SIZE;

/// Most bytes reserved for an argument before any of it is read.
const PREALLOCATED_BULK: usize = 64 << 10;

/// Argument buffers a reader keeps for reuse.
const SPARE_BUFFERS: usize = 16;

/// Longest header line (`*8\r\n`, `$536870912\r\n`), with room to spare.
pub const MAX_HEADER: usize = 32;

/// Converts the store's monotonic milliseconds to Unix milliseconds and
/// back, by an offset taken once against the system clock. Taken once, so
/// that deadlines written in one run are consistent with each other even if
/// the system clock is set meanwhile; a clock set between runs moves every
/// deadline by the same amount, as it would in Redis.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    /// Unix milliseconds at the store's time zero.
    offset: u64,
}

impl WallClock {
    /// The store clock's own offset (see [`Clock::unix_start`]), so that
    /// the log and the commands agree on every deadline.
    pub fn of(clock: &Clock) -> WallClock {
        WallClock {
            offset: clock.unix_start(),
        }
    }

    pub fn to_unix(self, at: Millis) -> u64 {
        at.0.saturating_add(self.offset)
    }

    /// The store's time of a Unix time; a time before the store's zero is
    /// its zero, which is in the past.
    pub fn store_time(self, unix: u64) -> Millis {
        Millis(unix.saturating_sub(self.offset))
    }
}

/// The database a log has selected at its end, as its records say: what
/// the next record of a key in another database must `SELECT` first.
/// `None` when unknown (a new file, or the records after a compaction's
/// mark, which may be copied behind a snapshot that selected another):
/// the next record of a key selects its database whatever it is.
pub type Selected = Option<u16>;

/// Appends the record of `change` to `out`, with the `SELECT` it needs
/// given the database `selected` (which it updates).
pub fn encode(change: &Change<'_>, wall: WallClock, selected: &mut Selected, out: &mut Vec<u8>) {
    let block = matches!(change, Change::SetMany(_) | Change::Block(_));
    if block {
        // As Redis does, a block selects its first database before MULTI.
        if let Some(db) = first_db(change) {
            select(db, selected, out);
        }
        array(out, &[b"MULTI"]);
    }
    encode_in_block(change, wall, selected, out);
    if block {
        array(out, &[b"EXEC"]);
    }
}

/// Appends the records of `change` to `out` as they appear inside a
/// `MULTI` ... `EXEC` block: a change that is a block of its own (MSET,
/// RENAME) contributes its records without a second `MULTI`.
fn encode_in_block(
    change: &Change<'_>,
    wall: WallClock,
    selected: &mut Selected,
    out: &mut Vec<u8>,
) {
    let mut digits = [0u8; 20];
    match *change {
        Change::Set {
            key,
            value,
            deadline,
        } => {
            select(key.db(), selected, out);
            encode_set(
                key.as_bytes(),
                value,
                deadline.map(|d| wall.to_unix(d)),
                out,
            );
        }
        Change::Deadline {
            key,
            deadline: Some(at),
        } => {
            select(key.db(), selected, out);
            let at = unix_text(wall.to_unix(at), &mut digits);
            array(out, &[b"PEXPIREAT", key.as_bytes(), at]);
        }
        Change::Deadline {
            key,
            deadline: None,
        } => {
            select(key.db(), selected, out);
            array(out, &[b"PERSIST", key.as_bytes()]);
        }
        Change::Del { key } => {
            select(key.db(), selected, out);
            array(out, &[b"DEL", key.as_bytes()]);
        }
        Change::SetMany(pairs) => {
            for (key, value) in pairs {
                select(key.db(), selected, out);
                encode_set(key.as_bytes(), value, None, out);
            }
        }
        Change::Flush => array(out, &[b"FLUSHALL"]),
        Change::FlushDb(db) => {
            select(db, selected, out);
            array(out, &[b"FLUSHDB"]);
        }
        Change::SwapDb(a, b) => {
            let mut other = [0u8; 20];
            array(
                out,
                &[
                    b"SWAPDB",
                    format_i64(i64::from(a), &mut digits),
                    format_i64(i64::from(b), &mut other),
                ],
            );
        }
        Change::Block(changes) => {
            for change in changes {
                encode_in_block(change, wall, selected, out);
            }
        }
    }
}

/// The database of the first record of `change` that has one.
fn first_db(change: &Change<'_>) -> Option<u16> {
    match *change {
        Change::Set { key, .. } | Change::Deadline { key, .. } | Change::Del { key } => {
            Some(key.db())
        }
        Change::SetMany(pairs) => pairs.first().map(|(key, _)| key.db()),
        Change::FlushDb(db) => Some(db),
        Change::Flush | Change::SwapDb(..) => None,
        Change::Block(changes) => changes.iter().find_map(first_db),
    }
}

/// For a change of one key, the key's database; `None` for any other.
pub fn key_db(change: &Change<'_>) -> Option<u16> {
    match *change {
        Change::Set { key, .. } | Change::Deadline { key, .. } | Change::Del { key } => {
            Some(key.db())
        }
        _ => None,
    }
}

/// Appends `SELECT db` unless the log has `db` selected already.
pub fn select(db: u16, selected: &mut Selected, out: &mut Vec<u8>) {
    if *selected != Some(db) {
        let mut digits = [0u8; 20];
        array(out, &[b"SELECT", format_i64(i64::from(db), &mut digits)]);
        *selected = Some(db);
    }
}

fn encode_set(key: &[u8], value: &[u8], at: Option<u64>, out: &mut Vec<u8>) {
    match at {
        None => array(out, &[b"SET", key, value]),
        Some(at) => {
            let mut digits = [0u8; 20];
            array(
                out,
                &[b"SET", key, value, b"PXAT", unix_text(at, &mut digits)],
            );
        }
    }
}

fn unix_text(unix: u64, digits: &mut [u8; 20]) -> &[u8] {
    format_i64(i64::try_from(unix).unwrap_or(i64::MAX), digits)
}

/// Appends a RESP array of `args` as bulk strings. Every piece is copied
/// with [`copy`], not `extend_from_slice`: this runs for every change
/// logged, and the static build's `memcpy` is slow for short copies (12 %
/// of its CPU on pipelined SETs under `everysec` before).
fn array(out: &mut Vec<u8>, args: &[&[u8]]) {
    let mut digits = [0u8; 20];
    out.push(b'*');
    copy::append(out, format_i64(args.len() as i64, &mut digits));
    crlf(out);
    for arg in args {
        out.push(b'$');
        copy::append(out, format_i64(arg.len() as i64, &mut digits));
        crlf(out);
        copy::append_pieces(out, arg);
        crlf(out);
    }
}

fn crlf(out: &mut Vec<u8>) {
    out.push(b'\r');
    out.push(b'\n');
}

/// One record of the log, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// `SET key value [PXAT unix-ms]`.
    Set {
        key: Vec<u8>,
        value: Vec<u8>,
        at: Option<u64>,
    },
    /// `DEL key [key ...]`.
    Del(Vec<Vec<u8>>),
    /// `PEXPIREAT key unix-ms`.
    ExpireAt {
        key: Vec<u8>,
        at: u64,
    },
    /// `PERSIST key`.
    Persist(Vec<u8>),
    FlushAll,
    /// `FLUSHDB`, of the database selected.
    FlushDb,
    /// `SWAPDB a b`.
    SwapDb(u16, u16),
    Multi,
    Exec,
    /// `SELECT n`: the records that follow are database n's.
    Select(u16),
}

/// Why a record could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The input ends inside the record that starts at `offset`.
    Torn {
        offset: u64,
    },
    /// The record at `offset` is not one this server writes or knows.
    Corrupt {
        offset: u64,
        what: String,
    },
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Reads records one at a time; see the module documentation.
pub struct Reader<R> {
    input: R,
    /// Bytes consumed so far: the offset of the next record.
    offset: u64,
    /// The header line being read, kept between records.
    line: Vec<u8>,
    /// The arguments of the record being read, and buffers of records
    /// already applied ([`Reader::recycle`]): reading a record allocates
    /// nothing once a few have been read.
    args: Vec<Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

/// What went wrong inside one record, before its offset is attached.
enum Fault {
    /// The input ended.
    Eof,
    Bad(String),
    Io(io::Error),
}

impl From<io::Error> for Fault {
    fn from(e: io::Error) -> Self {
        Fault::Io(e)
    }
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R) -> Reader<R> {
        Reader {
            input,
            offset: 0,
            line: Vec::with_capacity(MAX_HEADER),
            args: Vec::with_capacity(MAX_ARGS),
            spare: Vec::new(),
        }
    }

    /// The offset of the next record: the end of the last one read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next record; `None` at a clean end of the input.
    pub fn next_record(&mut self) -> Result<Option<Record>, ReadError> {
        let start = self.offset;
        if self.input.fill_buf()?.is_empty() {
            return Ok(None);
        }
        self.args().map_err(|fault| match fault {
            Fault::Eof => ReadError::Torn { offset: start },
            Fault::Bad(what) => ReadError::Corrupt {
                offset: start,
                what,
            },
            Fault::Io(e) => ReadError::Io(e),
        })?;
        let record = typed(&mut self.args);
        self.spare.append(&mut self.args);
        self.spare.truncate(SPARE_BUFFERS);
        record.map(Some).map_err(|what| ReadError::Corrupt {
            offset: start,
            what,
        })
    }

    /// Takes back the buffers of a record that was applied, for the next
    /// records to read into. Only a few, and only small ones, are kept.
    pub fn recycle(&mut self, record: Record) {
        let buffers: [Option<Vec<u8>>; 2] = match record {
            Record::Set { key, value, .. } => [Some(key), Some(value)],
            Record::ExpireAt { key, .. } | Record::Persist(key) => [Some(key), None],
            _ => [None, None],
        };
        for buffer in buffers.into_iter().flatten() {
            if self.spare.len() < SPARE_BUFFERS && buffer.capacity() <= PREALLOCATED_BULK {
                self.spare.push(buffer);
            }
        }
    }

    /// The arguments of one RESP array, into `self.args`.
    fn args(&mut self) -> Result<(), Fault> {
        self.spare.append(&mut self.args);
        let count = self.header(b'*', MAX_ARGS)?;
        if count == 0 {
            return Err(Fault::Bad("an empty array".into()));
        }
        for _ in 0..count {
            let len = self.header(b'$', MAX_BULK)?;
            let mut arg = self.spare.pop().unwrap_or_default();
            arg.clear();
            // Nearly always the argument and its CRLF are in the buffer
            // already: one short copy, no call through `Read`.
            let buffered = self.input.fill_buf()?;
            if let Some(whole) = buffered.get(..len + 2) {
                copy::append_pieces(&mut arg, &whole[..len]);
                bulk_end(&whole[len..])?;
                self.input.consume(len + 2);
                self.offset += len as u64 + 2;
                self.args.push(arg);
                continue;
            }
            // Room for the whole argument at once, up to a bound: a corrupt
            // length must not allocate more than the file holds.
            arg.reserve(len.min(PREALLOCATED_BULK));
            let got = (&mut self.input).take(len as u64).read_to_end(&mut arg)?;
            self.offset += got as u64;
            if got < len {
                return Err(Fault::Eof);
            }
            let mut end = [0u8; 2];
            let got = read_up_to(&mut self.input, &mut end)?;
            self.offset += got as u64;
            if got < 2 {
                return Err(Fault::Eof);
            }
            bulk_end(&end)?;
            self.args.push(arg);
        }
        Ok(())
    }

    /// Reads `<kind><n>\r\n` and returns `n`, refused above `max`.
    fn header(&mut self, kind: u8, max: usize) -> Result<usize, Fault> {
        // Nearly always the whole line is in the buffer: read it there.
        let buffered = self.input.fill_buf()?;
        let within = &buffered[..buffered.len().min(MAX_HEADER)];
        if let Some(newline) = within.iter().position(|&b| b == b'\n') {
            let got = newline + 1;
            let value = header_value(&buffered[..got], kind, max);
            self.input.consume(got);
            self.offset += got as u64;
            return value;
        }
        let line = &mut self.line;
        line.clear();
        let got = (&mut self.input)
            .take(MAX_HEADER as u64)
            .read_until(b'\n', line)?;
        self.offset += got as u64;
        header_value(line, kind, max)
    }
}

/// Checks the two bytes after a bulk string's data: its CRLF.
fn bulk_end(end: &[u8]) -> Result<(), Fault> {
    if end == b"\r\n" {
        Ok(())
    } else {
        Err(Fault::Bad("a bulk string not ended by CRLF".into()))
    }
}

/// The `n` of a header line `<kind><n>\r\n` (`line`, at most
/// [`MAX_HEADER`] bytes read up to a newline), refused above `max`.
fn header_value(line: &[u8], kind: u8, max: usize) -> Result<usize, Fault> {
    let Some(body) = line.strip_suffix(b"\r\n") else {
        return if line.ends_with(b"\n") || line.len() == MAX_HEADER {
            Err(Fault::Bad("a header line not ended by CRLF".into()))
        } else {
            Err(Fault::Eof)
        };
    };
    let expected = if kind == b'*' {
        "an array"
    } else {
        "a bulk string"
    };
    let Some(digits) = body.strip_prefix(&[kind]) else {
        return Err(Fault::Bad(format!("expected {expected}")));
    };
    parse_i64(digits)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n <= max)
        .ok_or_else(|| Fault::Bad(format!("a bad length in the header of {expected}")))
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_up_to<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The record that `args` spell.
fn typed(args: &mut Vec<Vec<u8>>) -> Result<Record, String> {
    // The name in upper case, on the stack: every known name is short.
    let mut upper = [0u8; 12];
    let name = match args[0].len() {
        n if n <= upper.len() => {
            upper[..n].copy_from_slice(&args[0]);
            upper[..n].make_ascii_uppercase();
            std::str::from_utf8(&upper[..n]).unwrap_or("")
        }
        _ => "",
    };
    let arity = args.len();
    let wrong = || format!("wrong number of arguments for {name}");
    let key_of = |key: Vec<u8>| {
        if key.len() > MAX_KEY_LEN {
            Err(format!("a key longer than {MAX_KEY_LEN} bytes"))
        } else {
            Ok(key)
        }
    };
    let db = |text: Option<Vec<u8>>| {
        text.and_then(|t| parse_i64(&t))
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| "a database index that is not between 0 and 65535".to_string())
    };
    let unix_ms = |text: &[u8]| {
        parse_i64(text)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| "a deadline that is not Unix milliseconds".to_string())
    };
    let mut rest = args.drain(1..);
    let record = match name {
        "SET" if arity == 3 || arity == 5 => {
            let key = key_of(rest.next().unwrap_or_default())?;
            let value = rest.next().unwrap_or_default();
            let at = match (rest.next(), rest.next()) {
                (None, None) => None,
                (Some(option), Some(at)) if option.eq_ignore_ascii_case(b"PXAT") => {
                    Some(unix_ms(&at)?)
                }
                _ => return Err("a SET option other than PXAT".into()),
            };
            Record::Set { key, value, at }
        }
        "DEL" if arity >= 2 => Record::Del(rest.map(key_of).collect::<Result<_, _>>()?),
        "PEXPIREAT" if arity == 3 => {
            let key = key_of(rest.next().unwrap_or_default())?;
            let at = unix_ms(&rest.next().unwrap_or_default())?;
            Record::ExpireAt { key, at }
        }
        "PERSIST" if arity == 2 => Record::Persist(key_of(rest.next().unwrap_or_default())?),
        // Redis writes a FLUSHALL or FLUSHDB with its ASYNC or SYNC as
        // given; either way the keys are gone.
        "FLUSHALL" if arity <= 2 => Record::FlushAll,
        "FLUSHDB" if arity <= 2 => Record::FlushDb,
        "SWAPDB" if arity == 3 => Record::SwapDb(db(rest.next())?, db(rest.next())?),
        "MULTI" if arity == 1 => Record::Multi,
        "EXEC" if arity == 1 => Record::Exec,
        "SELECT" if arity == 2 => Record::Select(db(rest.next())?),
        "SET" | "DEL" | "PEXPIREAT" | "PERSIST" | "FLUSHALL" | "FLUSHDB" | "SWAPDB" | "MULTI"
        | "EXEC" | "SELECT" => return Err(wrong()),
        _ => {
            drop(rest);
            let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
            return Err(format!("unknown command '{}'", name.escape_debug()));
        }
    };
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;

    const WALL: WallClock = WallClock { offset: 1_000_000 };

    /// A log that has database 0 selected, as one written by a server
    /// that selected it first.
    const DB0: Selected = Some(0);

    fn key(bytes: &[u8]) -> Key<'_> {
        Key::new(bytes).unwrap()
    }

    fn encoded(change: Change<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&change, WALL, &mut DB0.clone(), &mut out);
        out
    }

    fn all(bytes: &[u8]) -> Result<Vec<Record>, ReadError> {
        read_all(bytes)
    }

    /// The log of `changes`, encoded one after another from database 0.
    fn log_of(changes: &[Change<'_>]) -> Vec<u8> {
        let mut log = Vec::new();
        let mut selected = DB0;
        for change in changes {
            encode(change, WALL, &mut selected, &mut log);
        }
        log
    }

    /// Every record `input` holds, or the first error.
    fn read_all(input: impl io::BufRead) -> Result<Vec<Record>, ReadError> {
        let mut reader = Reader::new(input);
        let mut records = Vec::new();
        while let Some(record) = reader.next_record()? {
            records.push(record);
        }
        Ok(records)
    }

    #[test]
    fn set_with_a_deadline_is_written_with_pxat_in_unix_ms() {
        let change = Change::Set {
            key: key(b"k"),
            value: b"a\r\n\0b",
            deadline: Some(Millis(5)),
        };
        assert_eq!(
            encoded(change),
            b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\n\0b\r\n$4\r\nPXAT\r\n$7\r\n1000005\r\n"
        );
    }

    #[test]
    fn every_change_reads_back_as_its_record() {
        let pairs = [
            (Key::new(b"a").unwrap(), &b"1"[..]),
            (Key::new(b"b").unwrap(), &b""[..]),
        ];
        let log = log_of(&[
            Change::Set {
                key: key(b"k"),
                value: b"v",
                deadline: None,
            },
            Change::Deadline {
                key: key(b"k"),
                deadline: Some(Millis(7)),
            },
            Change::Deadline {
                key: key(b"k"),
                deadline: None,
            },
            Change::Del { key: key(b"k") },
            Change::SetMany(&pairs),
            Change::Flush,
        ]);
        let set = |k: &[u8], v: &[u8]| Record::Set {
            key: k.to_vec(),
            value: v.to_vec(),
            at: None,
        };
        assert_eq!(
            all(&log).unwrap(),
            vec![
                set(b"k", b"v"),
                Record::ExpireAt {
                    key: b"k".to_vec(),
                    at: 1_000_007
                },
                Record::Persist(b"k".to_vec()),
                Record::Del(vec![b"k".to_vec()]),
                Record::Multi,
                set(b"a", b"1"),
                set(b"b", b""),
                Record::Exec,
                Record::FlushAll,
            ]
        );
    }

    #[test]
    fn a_record_of_another_database_selects_it_first_and_only_once() {
        let mut log = Vec::new();
        let mut selected = None;
        let in_2 = key(b"k").in_db(2);
        let moved = [
            Change::Del { key: in_2 },
            Change::Set {
                key: in_2.in_db(5),
                value: b"v",
                deadline: None,
            },
        ];
        for change in [
            Change::Del { key: key(b"a") },
            Change::Del { key: in_2 },
            Change::Del { key: in_2 },
            Change::Block(&moved),
            Change::FlushDb(5),
            Change::FlushDb(0),
            Change::SwapDb(0, 5),
        ] {
            encode(&change, WALL, &mut selected, &mut log);
        }
        let del = |k: &[u8]| Record::Del(vec![k.to_vec()]);
        assert_eq!(
            all(&log).unwrap(),
            vec![
                Record::Select(0),
                del(b"a"),
                Record::Select(2),
                del(b"k"),
                del(b"k"),
                Record::Multi,
                del(b"k"),
                Record::Select(5),
                Record::Set {
                    key: b"k".to_vec(),
                    value: b"v".to_vec(),
                    at: None
                },
                Record::Exec,
                Record::FlushDb,
                Record::Select(0),
                Record::FlushDb,
                Record::SwapDb(0, 5),
            ]
        );
        assert_eq!(selected, Some(0));
    }

    /// The same as [`all`], through a read buffer of `capacity` bytes.
    fn all_through(bytes: &[u8], capacity: usize) -> Result<Vec<Record>, ReadError> {
        read_all(io::BufReader::with_capacity(capacity, bytes))
    }

    /// A record that straddles the end of the read buffer reads as one
    /// that lies in it whole: the same records, the same torn offsets, the
    /// same corruption, at every cut of a log and every buffer size.
    #[test]
    fn records_read_the_same_whatever_the_read_buffer_holds() {
        let long = vec![b'x'; 300];
        let mut log = log_of(&[
            Change::Set {
                key: key(b"k"),
                value: b"a\r\n\0b",
                deadline: Some(Millis(5)),
            },
            Change::Set {
                key: key(b"long"),
                value: &long,
                deadline: None,
            },
            Change::Del { key: key(b"k") },
            Change::SetMany(&[(key(b"a"), &b"1"[..]), (key(b"b"), &b""[..])]),
            Change::Flush,
        ]);
        // And a bulk string not ended by CRLF, at the end.
        log.extend_from_slice(b"*2\r\n$3\r\nDEL\r\n$1\r\nkXY");
        for capacity in [1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 8192] {
            for cut in 0..=log.len() {
                let whole = format!("{:?}", all(&log[..cut]));
                let through = format!("{:?}", all_through(&log[..cut], capacity));
                assert_eq!(through, whole, "capacity {capacity}, cut {cut}");
            }
        }
    }

    #[test]
    fn an_input_cut_anywhere_inside_a_record_is_torn_at_its_start() {
        let mut log = encoded(Change::Del { key: key(b"first") });
        let start = log.len();
        encode(
            &Change::Set {
                key: key(b"k"),
                value: b"value",
                deadline: Some(Millis(1)),
            },
            WALL,
            &mut DB0.clone(),
            &mut log,
        );
        for cut in start + 1..log.len() {
            match all(&log[..cut]) {
                Err(ReadError::Torn { offset }) => assert_eq!(offset, start as u64, "cut {cut}"),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn garbage_unknown_commands_and_huge_lengths_are_corrupt_at_their_offset() {
        let first = encoded(Change::Flush);
        let at = first.len() as u64;
        for bad in [
            &b"*1\r\n$4\r\nPING\r\n"[..],
            b"hello\r\n",
            b"*9\r\n",
            b"*1\r\n$999999999999\r\n",
            b"*1\r\n$3\r\nSETxx",
            b"*2\r\n$3\r\nSET\r\n$1\r\nk\r\n",
            b"*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nk\r\n$2\r\n-1\r\n",
            b"*2\r\n$6\r\nSELECT\r\n$5\r\n65536\r\n",
            b"*3\r\n$6\r\nSWAPDB\r\n$1\r\n0\r\n$1\r\nx\r\n",
            b"*1111111111111111111111111111111111111",
        ] {
            let mut log = first.clone();
            log.extend_from_slice(bad);
            match all(&log) {
                Err(ReadError::Corrupt { offset, .. }) => assert_eq!(offset, at, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn wall_clock_round_trips() {
        assert_eq!(WALL.store_time(WALL.to_unix(Millis(42))), Millis(42));
        assert_eq!(WALL.store_time(5), Millis(0));
    }
}
