//! RESP from the client's side: a request becomes an array of bulk strings
//! ([`encode`]); a reply is read from a byte buffer ([`parse`]) into a
//! [`Value`] that borrows the buffer.
//!
//! [`parse`] takes whatever bytes have arrived and says either how long the
//! first whole reply is, or that more bytes are needed; the caller reads
//! more and asks again. It allocates only for arrays and maps, so the
//! benchmark, whose replies are strings, parses without allocating. It
//! reads RESP2 and the RESP3 types a server sends after `HELLO 3`
//! (attributes excepted), and bounds what a reply may declare: a string's
//! length by [`MAX_BULK`], a line by [`MAX_LINE`] and nesting by
//! [`MAX_DEPTH`]. The server's side of RESP lives in
//! [`crate::protocol::resp`]; nothing is shared with it but
//! [`crate::num::parse_i64`], so both sides read integers alike.

use crate::config::MAX_MAX_VALUE_SIZE;
use crate::num::parse_i64;

use super::{escape, ToolError};

/// Longest string a reply may declare, in bytes: the largest value any
/// Blink-Store can hold (Redis's `proto-max-bulk-len`).
pub const MAX_BULK: usize = MAX_MAX_VALUE_SIZE;

/// Longest header or simple line (`+`, `-`, `:` ...) in bytes, `\r\n`
/// excluded. Error lines quote at most a few hundred bytes of a request.
pub const MAX_LINE: usize = 64 << 10;

/// Deepest nesting of arrays and maps accepted; replies of a key-value
/// store nest two deep at most.
pub const MAX_DEPTH: usize = 32;

/// How many bytes of an unexpected reply an error message quotes.
const QUOTE: usize = 80;

/// One reply. Strings borrow the buffer they were parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// `+OK`
    Simple(&'a [u8]),
    /// `-ERR ...` (and RESP3's blob error `!`), without the `-`.
    Error(&'a [u8]),
    /// `:5`
    Integer(i64),
    /// `$5\r\nhello`
    Bulk(&'a [u8]),
    /// `$-1`, `*-1`, or RESP3's `_`.
    Null,
    /// `*`, and RESP3's sets `~` and pushes `>`.
    Array(Vec<Value<'a>>),
    /// RESP3's `%`.
    Map(Vec<(Value<'a>, Value<'a>)>),
    /// RESP3's `,`, as sent.
    Double(&'a [u8]),
    /// RESP3's `#t` / `#f`.
    Boolean(bool),
    /// RESP3's `(`, as sent.
    BigNumber(&'a [u8]),
    /// RESP3's `=`: the text after its `txt:` format.
    Verbatim(&'a [u8]),
}

/// Appends `args` to `out` as one RESP request: an array of bulk strings.
pub fn encode<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses the reply at the start of `buf`: the reply and its length in
/// bytes, or `None` when `buf` holds only part of it.
pub fn parse(buf: &[u8]) -> Result<Option<(Value<'_>, usize)>, ToolError> {
    value_at(buf, 0, 0)
}

/// The reply starting at `at`, and where it ends.
fn value_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Value<'_>, usize)>, ToolError> {
    let Some((line, next)) = line_at(buf, at)? else {
        return Ok(None);
    };
    let unexpected = || ToolError::Protocol(escape(line, QUOTE));
    let (&kind, rest) = line.split_first().ok_or_else(unexpected)?;
    let value = match kind {
        b'+' => Value::Simple(rest),
        b'-' => Value::Error(rest),
        b':' => Value::Integer(parse_i64(rest).ok_or_else(unexpected)?),
        b',' => Value::Double(rest),
        b'(' => Value::BigNumber(rest),
        b'_' => Value::Null,
        b'#' => match rest {
            b"t" => Value::Boolean(true),
            b"f" => Value::Boolean(false),
            _ => return Err(unexpected()),
        },
        b'$' | b'=' | b'!' => {
            let len = match parse_i64(rest).ok_or_else(unexpected)? {
                -1 if kind == b'$' => return Ok(Some((Value::Null, next))),
                n if n < 0 => return Err(unexpected()),
                n if n as u64 > MAX_BULK as u64 => return Err(ToolError::ReplyTooLarge(MAX_BULK)),
                n => n as usize,
            };
            let end = next + len;
            let Some(terminator) = buf.get(end..end + 2) else {
                return Ok(None);
            };
            if terminator != b"\r\n" {
                return Err(unexpected());
            }
            let payload = &buf[next..end];
            let value = match kind {
                b'$' => Value::Bulk(payload),
                b'!' => Value::Error(payload),
                // `txt:` or `mkd:`, then the text.
                _ => Value::Verbatim(payload.get(4..).ok_or_else(unexpected)?),
            };
            return Ok(Some((value, end + 2)));
        }
        b'*' | b'~' | b'>' | b'%' => {
            let count = match parse_i64(rest).ok_or_else(unexpected)? {
                -1 => return Ok(Some((Value::Null, next))),
                n if n < 0 => return Err(unexpected()),
                n => n as u64,
            };
            if depth >= MAX_DEPTH {
                return Err(ToolError::Protocol(format!(
                    "replies nested more than {MAX_DEPTH} deep"
                )));
            }
            let items = if kind == b'%' { count * 2 } else { count };
            // Each element takes at least three bytes, so what has arrived
            // bounds the allocation, whatever the count claims.
            let room = (buf.len() - next) / 3;
            let mut values = Vec::with_capacity(items.min(room as u64) as usize);
            let mut end = next;
            for _ in 0..items {
                let Some((value, after)) = value_at(buf, end, depth + 1)? else {
                    return Ok(None);
                };
                values.push(value);
                end = after;
            }
            let value = if kind == b'%' {
                let mut pairs = Vec::with_capacity(values.len() / 2);
                let mut values = values.into_iter();
                while let (Some(k), Some(v)) = (values.next(), values.next()) {
                    pairs.push((k, v));
                }
                Value::Map(pairs)
            } else {
                Value::Array(values)
            };
            return Ok(Some((value, end)));
        }
        _ => return Err(unexpected()),
    };
    Ok(Some((value, next)))
}

/// The line starting at `at` without its `\r\n` (a lone `\n` is accepted),
/// and where the next one starts; `None` while its end has not arrived.
fn line_at(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, ToolError> {
    let rest = &buf[at.min(buf.len())..];
    let window = &rest[..rest.len().min(MAX_LINE + 2)];
    match window.iter().position(|&b| b == b'\n') {
        Some(newline) => {
            let line = &window[..newline];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Ok(Some((line, at + newline + 1)))
        }
        None if rest.len() > MAX_LINE + 1 => Err(ToolError::Protocol(format!(
            "a line longer than {MAX_LINE} bytes: {}",
            escape(rest, QUOTE)
        ))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> Value<'_> {
        match parse(bytes) {
            Ok(Some((value, len))) if len == bytes.len() => value,
            other => panic!("{} parsed as {other:?}", bytes.escape_ascii()),
        }
    }

    #[test]
    fn requests_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode(&mut out, &[&b"SET"[..], b"k", b"a b\0"]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na b\0\r\n");
    }

    #[test]
    fn every_reply_type_parses() {
        assert_eq!(whole(b"+OK\r\n"), Value::Simple(b"OK"));
        assert_eq!(whole(b"-ERR no\r\n"), Value::Error(b"ERR no"));
        assert_eq!(whole(b":-12\r\n"), Value::Integer(-12));
        assert_eq!(whole(b"$5\r\na\r\nbc\r\n"), Value::Bulk(b"a\r\nbc"));
        assert_eq!(whole(b"$-1\r\n"), Value::Null);
        assert_eq!(whole(b"*-1\r\n"), Value::Null);
        assert_eq!(whole(b"_\r\n"), Value::Null);
        assert_eq!(whole(b"#t\r\n"), Value::Boolean(true));
        assert_eq!(whole(b"=7\r\ntxt:a:1\r\n"), Value::Verbatim(b"a:1"));
        assert_eq!(
            whole(b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n"),
            Value::Array(vec![
                Value::Bulk(b"a"),
                Value::Array(vec![Value::Integer(1)])
            ])
        );
        assert_eq!(
            whole(b"%1\r\n+proto\r\n:3\r\n"),
            Value::Map(vec![(Value::Simple(b"proto"), Value::Integer(3))])
        );
    }

    #[test]
    fn a_partial_reply_asks_for_more() {
        let full = b"*2\r\n$3\r\nabc\r\n:7\r\n";
        for cut in 0..full.len() {
            assert!(matches!(parse(&full[..cut]), Ok(None)), "cut at {cut}");
        }
        assert!(matches!(parse(full), Ok(Some((_, n))) if n == full.len()));
    }

    #[test]
    fn bad_replies_are_refused() {
        assert!(parse(b"ERROR max number of clients reached\n").is_err());
        assert!(parse(b"$3\r\nabcd\r\n").is_err());
        assert!(parse(b"$99999999999\r\n").is_err());
        assert!(parse(b":x\r\n").is_err());
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep).is_err());
        assert!(parse(&vec![b'+'; MAX_LINE + 3]).is_err());
    }
}
