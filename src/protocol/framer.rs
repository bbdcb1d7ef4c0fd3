//! Framing: bytes from a socket become whole requests, for both protocols.
//!
//! One resumable [`Framer`] per connection is fed whatever the socket
//! delivered and answers with one [`Step`] at a time: a whole [`Request`]
//! (a text line or a RESP array of arguments), `Partial` when more bytes
//! are needed, or a [`FrameError`]. It never reads a socket and never
//! blocks; the connection loop owns the socket, the deadlines and the
//! buffers' lifetimes, and knows nothing of the grammar below.
//!
//! ## The grammar
//!
//! A request whose first byte is `*` is RESP: an array header `*<count>`,
//! then for each argument a `$<length>` line and a binary payload of
//! exactly that length followed by `\r\n`. Anything else is a text line,
//! ended by `\n`. Once a connection has sent RESP, an empty line is
//! ignored, as Redis ignores it (`redis-cli --pipe` sends one).
//!
//! ## Bounds
//!
//! Every count and length is checked against [`FrameLimits`] before
//! anything is buffered for it, so a declared size never makes the server
//! reserve memory it has not received:
//! - a text line longer than `max_line` is refused as soon as it passes the
//!   cap; the rest of it is then skipped up to its `\n` (after
//!   authentication) or the connection is closed (before);
//! - a RESP header line longer than [`MAX_HEADER_LINE`] is a protocol
//!   error, as are more than `max_args` arguments, an argument longer than
//!   `max_bulk`, and arguments that add up to more than `max_request`.
//!
//! Every RESP framing error closes the connection, so a rejected payload is
//! never read as requests.
//!
//! ## Copies
//!
//! A request that lies whole in the input is returned in place, borrowing
//! the input: the common case of a pipelined batch costs no copy. Only a
//! request split across reads is gathered into the framer's own buffers,
//! which keep at most [`KEPT_BUFFER`] bytes of capacity between requests.

use super::{text, ClientError, Reply};
use crate::num::parse_i64;

/// Longest RESP header line (`*<count>` or `$<length>`) before it is a
/// protocol error, in bytes without its line end: Redis's
/// `PROTO_INLINE_MAX_SIZE`, 64 KiB.
pub const MAX_HEADER_LINE: usize = 64 << 10;

/// Capacity the framer's buffers keep between requests. One large request
/// does not pin its buffer for the rest of the connection.
const KEPT_BUFFER: usize = 64 << 10;

/// Most digits of a header the in-place fast path reads: any number this
/// long fits a `u64` without overflow; a longer one takes the general
/// path, which words its errors.
const FAST_DIGITS: usize = 18;

/// The bounds one connection's requests are framed under; see
/// [`crate::protocol::Limits::framing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameLimits {
    /// Longest text line, in bytes without its line end.
    pub max_line: usize,
    /// Most arguments in one RESP request.
    pub max_args: usize,
    /// Longest RESP argument.
    pub max_bulk: usize,
    /// Most argument bytes, all arguments together, in one RESP request.
    pub max_request: usize,
    /// Whether the connection has authenticated: only the wording of
    /// errors depends on it.
    pub authenticated: bool,
}

/// The arguments of one RESP request: byte ranges into one buffer.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    data: &'a [u8],
    bounds: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    pub fn new(data: &'a [u8], bounds: &'a [(usize, usize)]) -> Args<'a> {
        Args { data, bounds }
    }

    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// Argument `i`; empty when out of range.
    pub fn get(&self, i: usize) -> &'a [u8] {
        self.bounds
            .get(i)
            .and_then(|&(start, end)| self.data.get(start..end))
            .unwrap_or_default()
    }

    /// The arguments from `first` on.
    pub fn from(&self, first: usize) -> impl Iterator<Item = &'a [u8]> + '_ {
        (first..self.len()).map(move |i| self.get(i))
    }
}

/// A whole request.
#[derive(Clone, Copy, Debug)]
pub enum Request<'a> {
    /// A text line, without its `\n` (a `\r` before it is still there).
    Line(&'a [u8]),
    /// A RESP array of one or more arguments.
    Resp(Args<'a>),
}

impl Request<'_> {
    /// The bytes the request took on the wire, as its framing sent them
    /// (with the shortest headers): CLIENT LIST's `qbuf` of the caller.
    pub fn wire_len(&self) -> usize {
        let digits = |n: usize| n.checked_ilog10().map_or(1, |d| d as usize + 1);
        match self {
            Request::Line(line) => line.len() + 1,
            Request::Resp(args) => {
                let n = args.len();
                let each: usize = (0..n)
                    .map(|i| {
                        let len = args.get(i).len();
                        3 + digits(len) + len + 2
                    })
                    .sum();
                3 + digits(n) + each
            }
        }
    }
}

/// What the framer made of the input it was given.
#[derive(Debug)]
pub enum Step<'a> {
    Request(Request<'a>),
    /// The bytes consumed belong to a request not yet whole, or were
    /// skipped (an empty RESP request, the rest of an over-long line).
    Partial,
    Error(FrameError),
}

/// A request that cannot be framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A text line over the cap, after authentication: answered, and the
    /// connection carries on after the line's end.
    LineTooLong,
    /// A text line over the cap before authentication: the connection is
    /// closed.
    LineTooLongUnauthenticated,
    /// Bad or oversized RESP framing, in Redis's words (what follows
    /// `Protocol error: `): the connection is closed.
    Protocol(&'static str),
    /// An `expected '$'` error: Redis quotes the byte found instead.
    ExpectedBulk(u8),
}

impl FrameError {
    /// Whether the connection ends after this error is answered.
    pub fn closes(&self) -> bool {
        !matches!(self, FrameError::LineTooLong)
    }

    /// Whether the answer is in RESP (else it is a text line).
    pub fn in_resp(&self) -> bool {
        matches!(self, FrameError::Protocol(_) | FrameError::ExpectedBulk(_))
    }

    /// The answer, worded as Redis words its protocol errors.
    pub fn reply(&self) -> Reply<'static> {
        match *self {
            FrameError::LineTooLong => Reply::Error(ClientError::LineTooLong),
            FrameError::LineTooLongUnauthenticated => {
                Reply::Error(ClientError::LineTooLongUnauthenticated)
            }
            FrameError::Protocol(what) => {
                Reply::ErrorText(format!("ERR Protocol error: {what}").into_bytes())
            }
            FrameError::ExpectedBulk(got) => {
                // Redis quotes the byte found; a line break is shown as a
                // space.
                let got = if got == b'\r' || got == b'\n' {
                    b' '
                } else {
                    got
                };
                let mut text = b"ERR Protocol error: expected '$', got '".to_vec();
                text.extend_from_slice(&[got, b'\'']);
                Reply::ErrorText(text)
            }
        }
    }
}

/// A RESP array being received.
#[derive(Clone, Copy, Debug)]
struct Array {
    /// Arguments still to come, the one being read included.
    remaining: usize,
    /// While a payload is being read: bytes still to read, its `\r\n`
    /// included.
    bulk_left: Option<usize>,
}

/// One connection's framing state. See the module documentation.
#[derive(Debug, Default)]
pub struct Framer {
    /// The start of a line that did not end in the input.
    line: Vec<u8>,
    /// Skipping the rest of an over-long text line.
    discarding: bool,
    /// The RESP array being received, if any.
    array: Option<Array>,
    /// The arguments of a split RESP request, back to back, and their
    /// ranges; the in-place path records its ranges here too.
    args: Vec<u8>,
    bounds: Vec<(usize, usize)>,
    /// `line` holds a line already dealt with, which the next call clears.
    stale_line: bool,
    /// `args` holds a request already returned, or abandoned after an
    /// error, which the next call clears.
    stale_args: bool,
    /// This connection has sent a RESP request.
    spoke_resp: bool,
}

impl Framer {
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Whether part of a request has been received: the request deadline
    /// runs while this holds.
    pub fn in_request(&self) -> bool {
        self.discarding || !self.line.is_empty() || self.array.is_some()
    }

    /// Whether the request being received is RESP, so that an error about
    /// it is worded in RESP.
    pub fn in_resp_request(&self) -> bool {
        self.array.is_some() || self.line.first() == Some(&b'*')
    }

    /// Overwrites the framer's buffers, after a request that carried a
    /// password.
    pub fn wipe(&mut self) {
        self.line.fill(0);
        self.args.fill(0);
        std::hint::black_box(&self.line);
        std::hint::black_box(&self.args);
    }

    /// Frames the start of `input` (which must not be empty). Returns how
    /// many bytes of it were used, which the caller consumes after it has
    /// dealt with the step, and the step.
    pub fn next<'a>(&'a mut self, input: &'a [u8], limits: &FrameLimits) -> (usize, Step<'a>) {
        if std::mem::take(&mut self.stale_line) {
            self.line.clear();
            self.line.shrink_to(KEPT_BUFFER);
        }
        if std::mem::take(&mut self.stale_args) {
            self.args.clear();
            self.args.shrink_to(KEPT_BUFFER);
        }
        if let Some(Array {
            remaining,
            bulk_left: Some(left),
        }) = self.array
        {
            return self.payload(input, remaining, left);
        }
        if self.array.is_none()
            && self.line.is_empty()
            && !self.discarding
            && input.first() == Some(&b'*')
        {
            if let Some(len) = frame_in_place(input, &mut self.bounds, limits) {
                self.spoke_resp = true;
                return (
                    len,
                    Step::Request(Request::Resp(Args::new(input, &self.bounds))),
                );
            }
        }
        self.line_step(input, limits)
    }

    /// Part of a payload: binary, newlines included.
    fn payload<'a>(&'a mut self, input: &[u8], remaining: usize, left: usize) -> (usize, Step<'a>) {
        let take = left.min(input.len());
        self.args.extend_from_slice(&input[..take]);
        if take < left {
            self.array = Some(Array {
                remaining,
                bulk_left: Some(left - take),
            });
            return (take, Step::Partial);
        }
        if !self.args.ends_with(b"\r\n") {
            return (take, self.fail(FrameError::Protocol("invalid bulk length")));
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
            return (take, Step::Partial);
        }
        self.array = None;
        self.stale_args = true;
        let args = Args::new(&self.args, &self.bounds);
        (take, Step::Request(Request::Resp(args)))
    }

    /// Looks for the end of the current line in `input`.
    fn line_step<'a>(&'a mut self, input: &'a [u8], limits: &FrameLimits) -> (usize, Step<'a>) {
        let resp = self.array.is_some()
            || self.line.first().or(input.first()) == Some(&b'*') && !self.discarding;
        let cap = if resp {
            MAX_HEADER_LINE
        } else {
            limits.max_line
        };
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            if self.discarding {
                return (input.len(), Step::Partial);
            }
            if self.line.len() + input.len() > cap {
                return (input.len(), self.too_long(resp, limits));
            }
            self.line.extend_from_slice(input);
            return (input.len(), Step::Partial);
        };
        let used = end + 1;
        if self.discarding {
            self.discarding = false;
            return (used, Step::Partial);
        }
        if self.line.len() + end > cap {
            let error = self.too_long(resp, limits);
            self.discarding = false;
            return (used, error);
        }
        let Framer {
            line: gathered,
            array,
            args,
            bounds,
            stale_line,
            stale_args,
            spoke_resp,
            ..
        } = self;
        let line: &'a [u8] = if gathered.is_empty() {
            &input[..end]
        } else {
            gathered.extend_from_slice(&input[..end]);
            *stale_line = true;
            let gathered: &'a Vec<u8> = gathered;
            gathered
        };
        if let Some(current) = *array {
            let outcome = bulk_header(line, current, args.len(), bounds, limits);
            return (used, settle(outcome, array, stale_args));
        }
        if line.first() == Some(&b'*') {
            *spoke_resp = true;
            let outcome = array_header(line, limits).map(|count| {
                count.map(|remaining| {
                    args.clear();
                    bounds.clear();
                    Array {
                        remaining,
                        bulk_left: None,
                    }
                })
            });
            return (used, settle(outcome, array, stale_args));
        }
        if *spoke_resp && strip_cr(line).is_empty() {
            return (used, Step::Partial);
        }
        (used, Step::Request(Request::Line(line)))
    }

    /// An over-long line: RESP headers and unauthenticated lines end the
    /// connection; an authenticated text line is skipped to its end.
    fn too_long(&mut self, resp: bool, limits: &FrameLimits) -> Step<'static> {
        let error = if resp {
            FrameError::Protocol(if self.array.is_some() {
                "too big bulk count string"
            } else {
                "too big mbulk count string"
            })
        } else if limits.authenticated {
            FrameError::LineTooLong
        } else {
            FrameError::LineTooLongUnauthenticated
        };
        self.line.clear();
        self.line.shrink_to(KEPT_BUFFER);
        if error == FrameError::LineTooLong {
            self.discarding = true;
            return Step::Error(error);
        }
        self.fail(error)
    }

    /// Forgets the request in progress after an error.
    fn fail(&mut self, error: FrameError) -> Step<'static> {
        self.array = None;
        self.stale_args = true;
        Step::Error(error)
    }
}

/// The step for a header line's outcome: `Partial`, or an error that
/// forgets the request in progress.
fn settle(
    outcome: Result<Option<Array>, FrameError>,
    array: &mut Option<Array>,
    stale_args: &mut bool,
) -> Step<'static> {
    match outcome {
        Ok(next) => {
            if next.is_some() {
                *array = next;
            }
            Step::Partial
        }
        Err(e) => {
            *array = None;
            *stale_args = true;
            Step::Error(e)
        }
    }
}

/// `*<count>`: the number of arguments to come, `None` for an empty
/// request (which Redis skips without a reply).
fn array_header(line: &[u8], limits: &FrameLimits) -> Result<Option<usize>, FrameError> {
    let count =
        parse_i64(strip_cr(&line[1..])).ok_or(FrameError::Protocol("invalid multibulk length"))?;
    if count <= 0 {
        return Ok(None);
    }
    match usize::try_from(count) {
        Ok(n) if n <= limits.max_args => Ok(Some(n)),
        _ if !limits.authenticated => Err(FrameError::Protocol("unauthenticated multibulk length")),
        _ => Err(FrameError::Protocol("invalid multibulk length")),
    }
}

/// `$<length>`: the header of the next argument, checked against the
/// argument and request caps before its payload is read; `held` is the
/// bytes of the arguments before it.
fn bulk_header(
    line: &[u8],
    array: Array,
    held: usize,
    bounds: &mut Vec<(usize, usize)>,
    limits: &FrameLimits,
) -> Result<Option<Array>, FrameError> {
    let Some((&b'$', digits)) = line.split_first() else {
        return Err(FrameError::ExpectedBulk(
            line.first().copied().unwrap_or(b' '),
        ));
    };
    let len = parse_i64(strip_cr(digits))
        .and_then(|len| usize::try_from(len).ok())
        .ok_or(FrameError::Protocol("invalid bulk length"))?;
    if len > limits.max_bulk {
        return Err(FrameError::Protocol(if limits.authenticated {
            "invalid bulk length"
        } else {
            "unauthenticated bulk length"
        }));
    }
    if held + len > limits.max_request {
        return Err(FrameError::Protocol("request exceeds max-request-size"));
    }
    bounds.push((held, held));
    Ok(Some(Array {
        remaining: array.remaining,
        bulk_left: Some(len + 2),
    }))
}

/// Finds a whole RESP request at the start of `buf` within `limits` and
/// records its arguments' ranges in `bounds`, returning the bytes it spans.
/// `None` when the request is not whole in `buf` or anything about it is
/// unusual (a count or length out of bounds, bad framing): the general
/// path then frames it, and words every error as Redis does.
fn frame_in_place(
    buf: &[u8],
    bounds: &mut Vec<(usize, usize)>,
    limits: &FrameLimits,
) -> Option<usize> {
    bounds.clear();
    let (count, mut at) = fast_header(buf, 0, b'*')?;
    if count == 0 || count > limits.max_args {
        return None;
    }
    let mut total = 0usize;
    for _ in 0..count {
        let (len, start) = fast_header(buf, at, b'$')?;
        total = total.checked_add(len)?;
        if len > limits.max_bulk || total > limits.max_request {
            return None;
        }
        let end = start.checked_add(len)?;
        if buf.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        bounds.push((start, end));
        at = end + 2;
    }
    Some(at)
}

/// The first argument (the key, for most commands) of each whole request
/// at the start of `buf`, in order, at most `out.len()` of them; returns
/// how many were written. A hint for [`crate::store::Store::prefetch`],
/// read loosely: a request it cannot read whole ends the scan, a request
/// without arguments is skipped, and no limit applies, because nothing
/// here is buffered or answered: [`Framer`] still frames every request.
pub fn keys_ahead<'b>(buf: &'b [u8], out: &mut [&'b [u8]]) -> usize {
    let mut at = 0;
    let mut found = 0;
    while found < out.len() && at < buf.len() {
        let (key, next) = if buf[at] == b'*' {
            match resp_key(buf, at) {
                Some(read) => read,
                None => break,
            }
        } else {
            let Some(newline) = buf[at..].iter().position(|&b| b == b'\n') else {
                break;
            };
            let line = &buf[at..at + newline];
            (text::first_argument(line), at + newline + 1)
        };
        if let Some(key) = key {
            out[found] = key;
            found += 1;
        }
        at = next;
    }
    found
}

/// The first argument of the RESP request at `at` (`None` when it has
/// none) and the position after the request; `None` when the request does
/// not lie whole in `buf` or its headers do not take the fast path.
fn resp_key(buf: &[u8], at: usize) -> Option<(Option<&[u8]>, usize)> {
    let (count, mut next) = fast_header(buf, at, b'*')?;
    let mut key = None;
    for i in 0..count {
        let (len, start) = fast_header(buf, next, b'$')?;
        let end = start.checked_add(len)?;
        let argument = buf.get(start..end)?;
        if i == 1 {
            key = Some(argument);
        }
        next = end.checked_add(2)?;
    }
    (next <= buf.len()).then_some((key, next))
}

/// A `<marker><digits>\r\n` line at `at`: its number and the position
/// after it. The digits are read in the one pass that finds the line's
/// end. Only the plainest form is taken (no sign, no leading zero, at most
/// [`FAST_DIGITS`] digits); anything else, valid or not, is `None`, and
/// the general path reads it.
fn fast_header(buf: &[u8], at: usize, marker: u8) -> Option<(usize, usize)> {
    let line = buf.get(at..)?;
    if *line.first()? != marker {
        return None;
    }
    let mut n = 0u64;
    let mut end = 1;
    loop {
        match *line.get(end)? {
            digit @ b'0'..=b'9' if end <= FAST_DIGITS => n = n * 10 + u64::from(digit - b'0'),
            b'\r' => break,
            _ => return None,
        }
        end += 1;
    }
    let digits = end - 1;
    if digits == 0 || (digits > 1 && line[1] == b'0') || *line.get(end + 1)? != b'\n' {
        return None;
    }
    Some((usize::try_from(n).ok()?, at + end + 2))
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header the general rules read at the start of `bytes`: the
    /// number of a `$<digits>\r\n` line, as [`parse_i64`] reads it.
    fn general_header(bytes: &[u8]) -> Option<(usize, usize)> {
        let newline = bytes.iter().position(|&b| b == b'\n')?;
        let digits = bytes[..newline].strip_prefix(b"$")?.strip_suffix(b"\r")?;
        Some((usize::try_from(parse_i64(digits)?).ok()?, newline + 1))
    }

    /// The fast header reader takes the plain headers, and whatever it
    /// reads it reads as the general rules do: any other form, valid or
    /// not, it leaves to them.
    #[test]
    fn fast_headers_read_as_the_general_rules_or_not_at_all() {
        let mut cases: Vec<Vec<u8>> = [
            &b"$0\r\n"[..],
            b"$7\r\n",
            b"$16\r\nkey",
            b"$999999999999999999\r\n",
            b"$1000000000000000000\r\n",
            b"$18446744073709551615\r\n",
            b"$00\r\n",
            b"$01\r\n",
            b"$-1\r\n",
            b"$-0\r\n",
            b"$+1\r\n",
            b"$\r\n",
            b"$12\n",
            b"$12\r",
            b"$12\rx",
            b"$ 1\r\n",
            b"$1a\r\n",
            b"$12",
            b"*3\r\n",
            b"",
        ]
        .iter()
        .map(|case| case.to_vec())
        .collect();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            let mut case = vec![b'$'];
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            for i in 0..(seed % 8) {
                case.push(b"0159\r\n-+"[((seed >> (8 + 4 * i)) % 8) as usize]);
            }
            cases.push(case);
        }
        let mut taken = 0;
        for case in &cases {
            if let Some(read) = fast_header(case, 0, b'$') {
                let shown = String::from_utf8_lossy(case);
                assert_eq!(Some(read), general_header(case), "{shown:?}");
                taken += 1;
            }
        }
        // About one random case in a hundred is a plain header.
        assert!(taken > 100, "the fast path took only {taken} headers");
        for n in [
            0usize,
            1,
            9,
            10,
            16,
            32,
            512,
            65_536,
            999_999_999_999_999_999,
        ] {
            let line = format!("${n}\r\n");
            assert_eq!(fast_header(line.as_bytes(), 0, b'$'), Some((n, line.len())));
            let line = format!("x*{n}\r\n");
            assert_eq!(fast_header(line.as_bytes(), 1, b'*'), Some((n, line.len())));
        }
    }

    const LIMITS: FrameLimits = FrameLimits {
        max_line: 16,
        max_args: 4,
        max_bulk: 8,
        max_request: 12,
        authenticated: true,
    };

    /// What a whole request looks like in a test: its text line, or its
    /// RESP arguments.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Line(Vec<u8>),
        Resp(Vec<Vec<u8>>),
        Error(FrameError),
    }

    /// Feeds `input` to a fresh framer in chunks of `chunk` bytes and
    /// records every request and error, as a connection would.
    fn frame(input: &[u8], chunk: usize, limits: &FrameLimits) -> Vec<Seen> {
        let mut framer = Framer::new();
        let mut seen = Vec::new();
        for piece in input.chunks(chunk) {
            let mut at = 0;
            while at < piece.len() {
                let (used, step) = framer.next(&piece[at..], limits);
                assert!(used > 0, "no progress at {at} of {piece:?}");
                at += used;
                match step {
                    Step::Request(Request::Line(line)) => seen.push(Seen::Line(line.to_vec())),
                    Step::Request(Request::Resp(args)) => {
                        seen.push(Seen::Resp(args.from(0).map(<[u8]>::to_vec).collect()))
                    }
                    Step::Partial => {}
                    Step::Error(e) => {
                        seen.push(Seen::Error(e));
                        if e.closes() {
                            return seen;
                        }
                    }
                }
            }
        }
        seen
    }

    /// The same requests come out whatever the read boundaries.
    fn every_split(input: &[u8], limits: &FrameLimits) -> Vec<Seen> {
        let whole = frame(input, input.len(), limits);
        for chunk in 1..input.len() {
            assert_eq!(frame(input, chunk, limits), whole, "in chunks of {chunk}");
        }
        whole
    }

    fn resp(args: &[&[u8]]) -> Seen {
        Seen::Resp(args.iter().map(|a| a.to_vec()).collect())
    }

    #[test]
    fn text_lines_and_resp_arrays_interleave_at_any_split() {
        let input = b"GET a\r\n*2\r\n$3\r\nGET\r\n$2\r\nb\n\r\nPING\n";
        assert_eq!(
            every_split(input, &LIMITS),
            vec![
                Seen::Line(b"GET a\r".to_vec()),
                resp(&[b"GET", b"b\n"]),
                Seen::Line(b"PING".to_vec()),
            ]
        );
    }

    #[test]
    fn empty_lines_are_requests_until_the_connection_speaks_resp() {
        assert_eq!(
            every_split(b"\n*0\r\n\r\n\n", &LIMITS),
            vec![Seen::Line(Vec::new())]
        );
    }

    #[test]
    fn a_long_text_line_is_refused_once_and_skipped() {
        let input = b"SET k 0123456789abcdef\nGET k\n";
        assert_eq!(
            every_split(input, &LIMITS),
            vec![
                Seen::Error(FrameError::LineTooLong),
                Seen::Line(b"GET k".to_vec())
            ]
        );
        // Exactly at the cap is fine.
        assert_eq!(
            every_split(b"SET k 0123456789\n", &LIMITS),
            vec![Seen::Line(b"SET k 0123456789".to_vec())]
        );
        let anonymous = FrameLimits {
            authenticated: false,
            ..LIMITS
        };
        assert_eq!(
            every_split(input, &anonymous),
            vec![Seen::Error(FrameError::LineTooLongUnauthenticated)]
        );
    }

    #[test]
    fn resp_caps_hold_at_their_boundaries() {
        // Arguments: 4 fit, 5 do not.
        assert_eq!(
            every_split(
                b"*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n",
                &LIMITS
            ),
            vec![resp(&[b"a", b"b", b"c", b"d"])]
        );
        assert_eq!(
            every_split(b"*5\r\n$1\r\na\r\n", &LIMITS),
            vec![Seen::Error(FrameError::Protocol(
                "invalid multibulk length"
            ))]
        );
        // One argument: 8 bytes fit, 9 do not.
        assert_eq!(
            every_split(b"*1\r\n$8\r\n12345678\r\n", &LIMITS),
            vec![resp(&[b"12345678"])]
        );
        assert_eq!(
            every_split(b"*1\r\n$9\r\n123456789\r\n", &LIMITS),
            vec![Seen::Error(FrameError::Protocol("invalid bulk length"))]
        );
        // The whole request: 12 bytes fit, 13 do not.
        assert_eq!(
            every_split(b"*2\r\n$8\r\n12345678\r\n$4\r\nabcd\r\n", &LIMITS),
            vec![resp(&[b"12345678", b"abcd"])]
        );
        assert_eq!(
            every_split(b"*2\r\n$8\r\n12345678\r\n$5\r\nabcde\r\n", &LIMITS),
            vec![Seen::Error(FrameError::Protocol(
                "request exceeds max-request-size"
            ))]
        );
    }

    #[test]
    fn unauthenticated_errors_say_so() {
        let anonymous = FrameLimits {
            authenticated: false,
            ..LIMITS
        };
        assert_eq!(
            every_split(b"*5\r\n", &anonymous),
            vec![Seen::Error(FrameError::Protocol(
                "unauthenticated multibulk length"
            ))]
        );
        assert_eq!(
            every_split(b"*1\r\n$9\r\n", &anonymous),
            vec![Seen::Error(FrameError::Protocol(
                "unauthenticated bulk length"
            ))]
        );
    }

    #[test]
    fn bad_resp_framing_is_worded_as_redis_words_it() {
        assert_eq!(
            every_split(b"*x\r\n", &LIMITS),
            vec![Seen::Error(FrameError::Protocol(
                "invalid multibulk length"
            ))]
        );
        assert_eq!(
            every_split(b"*1\r\n:1\r\n", &LIMITS),
            vec![Seen::Error(FrameError::ExpectedBulk(b':'))]
        );
        assert_eq!(
            every_split(b"*1\r\n$-1\r\n", &LIMITS),
            vec![Seen::Error(FrameError::Protocol("invalid bulk length"))]
        );
        assert_eq!(
            every_split(b"*1\r\n$2\r\nabxx", &LIMITS),
            vec![Seen::Error(FrameError::Protocol("invalid bulk length"))]
        );
    }

    /// A header line of exactly 64 KiB is read and judged on its digits;
    /// one byte more is too big before it ends.
    #[test]
    fn resp_header_lines_are_capped_at_exactly_64_kib() {
        let mut at_cap = b"*".to_vec();
        at_cap.resize(MAX_HEADER_LINE, b'1');
        at_cap.extend_from_slice(b"\n");
        assert_eq!(
            frame(&at_cap, 4096, &LIMITS),
            vec![Seen::Error(FrameError::Protocol(
                "invalid multibulk length"
            ))]
        );
        let mut over = b"*".to_vec();
        over.resize(MAX_HEADER_LINE + 1, b'1');
        over.extend_from_slice(b"\n");
        assert_eq!(
            frame(&over, 4096, &LIMITS),
            vec![Seen::Error(FrameError::Protocol(
                "too big mbulk count string"
            ))]
        );
    }

    #[test]
    fn endless_resp_headers_stop_at_64_kib() {
        let mut input = b"*".to_vec();
        input.resize(MAX_HEADER_LINE + 2, b'1');
        assert_eq!(
            frame(&input, 4096, &LIMITS),
            vec![Seen::Error(FrameError::Protocol(
                "too big mbulk count string"
            ))]
        );
        let mut input = b"*1\r\n$".to_vec();
        input.resize(MAX_HEADER_LINE + 8, b'1');
        assert_eq!(
            frame(&input, 4096, &LIMITS),
            vec![Seen::Error(FrameError::Protocol(
                "too big bulk count string"
            ))]
        );
    }

    /// A declared length is checked, not reserved: the payload's buffer
    /// grows only as the payload arrives.
    #[test]
    fn a_declared_length_reserves_nothing() {
        let limits = FrameLimits {
            max_bulk: 1 << 20,
            max_request: 1 << 20,
            ..LIMITS
        };
        let mut framer = Framer::new();
        let (_, step) = framer.next(b"*1\r\n", &limits);
        assert!(matches!(step, Step::Partial));
        let (_, step) = framer.next(b"$1000000\r\n", &limits);
        assert!(matches!(step, Step::Partial));
        let (_, step) = framer.next(b"abc", &limits);
        assert!(matches!(step, Step::Partial));
        assert!(framer.args.capacity() < 1_000, "{}", framer.args.capacity());
    }

    #[test]
    fn a_partial_request_is_tracked_and_wiped() {
        let mut framer = Framer::new();
        let (used, step) = framer.next(b"AUTH sec", &LIMITS);
        assert_eq!(used, 8);
        assert!(matches!(step, Step::Partial));
        assert!(framer.in_request());
        framer.wipe();
        assert!(framer.line.iter().all(|&b| b == 0));
        let mut framer = Framer::new();
        let (_, step) = framer.next(b"*1\r\n", &LIMITS);
        assert!(matches!(step, Step::Partial));
        assert!(framer.in_request() && framer.in_resp_request());
    }

    /// The keys `keys_ahead` finds at the start of `input`, with room for
    /// `room`.
    fn ahead(input: &[u8], room: usize) -> Vec<Vec<u8>> {
        let mut out: Vec<&[u8]> = vec![&[]; room];
        let found = keys_ahead(input, &mut out);
        out[..found].iter().map(|k| k.to_vec()).collect()
    }

    fn keys(names: &[&str]) -> Vec<Vec<u8>> {
        names.iter().map(|k| k.as_bytes().to_vec()).collect()
    }

    #[test]
    fn keys_ahead_reads_the_first_argument_of_each_whole_request() {
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n\
                      *3\r\n$3\r\nSET\r\n$2\r\nbc\r\n$1\r\nv\r\n\
                      GET  d\r\nSET\te 1\n\
                      *1\r\n$4\r\nPING\r\nPING\r\n\r\n\
                      *2\r\n$3\r\nGET\r\n$4\r\nf\r\n\n\r\n";
        assert_eq!(ahead(input, 16), keys(&["a", "bc", "d", "e", "f\r\n\n"]));
    }

    #[test]
    fn keys_ahead_stops_at_a_request_that_is_not_whole() {
        let whole = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n".to_vec();
        let next = b"*2\r\n$3\r\nGET\r\n$1\r\nb\r\n";
        for cut in 0..next.len() {
            let mut input = whole.clone();
            input.extend_from_slice(&next[..cut]);
            assert_eq!(ahead(&input, 16), keys(&["a"]), "cut at {cut}");
        }
        assert_eq!(ahead(b"GET a\nGET b", 16), keys(&["a"]));
    }

    #[test]
    fn keys_ahead_fills_at_most_the_room_given() {
        let input = b"GET a\nGET b\nGET c\n";
        assert_eq!(ahead(input, 2), keys(&["a", "b"]));
        assert_eq!(ahead(input, 0), keys(&[]));
    }

    #[test]
    fn keys_ahead_reads_any_bytes_without_panicking() {
        // A header the fast path cannot read ends the scan: lengths past
        // the input, huge or negative counts, headers without digits.
        for input in [
            &b"*2\r\n$3\r\nGET\r\n$99999999999999999999\r\na\r\n"[..],
            b"*18446744073709551615\r\n",
            b"*2\r\n$-1\r\n",
            b"*x\r\n",
            b"*2\r\n$3\r\nGET\r\n$18446744073709551615\r\n",
        ] {
            assert_eq!(ahead(input, 16), keys(&[]), "{input:?}");
        }
        let alphabet = b"*$\r\n0123GET a";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let len = (seed % 40) as usize;
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let found = ahead(&input, 4);
            assert!(found.len() <= 4);
            assert!(found.iter().all(|key| !key.is_empty()), "{input:?}");
        }
    }
}
