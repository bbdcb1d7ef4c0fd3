//! The Blink-Store text protocol: one request line in, one reply line out.
//!
//! A request is the bytes of one line without its `\n`; one `\r` before the
//! `\n` is dropped here. Tokens are separated by runs of spaces and tabs, the
//! command name is case-insensitive, and keys and values are arbitrary bytes.
//! The value of `SET` is the rest of the line after the key, trimmed of
//! spaces and tabs at both ends. Replies end with `\n`; values are sent as
//! standard base64 with padding, so a reply never contains a raw newline.
//!
//! This module only frames: it does not read sockets (the connection loop
//! finds the lines) and does not run commands.

use std::io::{self, Write};

use base64::engine::general_purpose::STANDARD;
use base64::write::EncoderWriter;

use super::{ClientError, Command, Limits, Reply};
use crate::store::Key;

/// Parses one request line (without its `\n`).
pub fn parse<'a>(line: &'a [u8], limits: &Limits) -> Result<Command<'a>, ClientError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (name, rest) = token(line);
    if name.eq_ignore_ascii_case(b"GET") {
        Ok(Command::Get(only_key(rest, "GET")?))
    } else if name.eq_ignore_ascii_case(b"SET") {
        let (key, rest) = token(rest);
        if key.is_empty() {
            return Err(ClientError::RequiresKey("SET"));
        }
        let key = Key::new(key).ok_or(ClientError::KeyTooLong)?;
        let value = trim(rest);
        if value.len() > limits.max_value_size {
            return Err(ClientError::ValueTooLarge);
        }
        Ok(Command::Set(key, value))
    } else if name.eq_ignore_ascii_case(b"DELETE") {
        Ok(Command::Delete(only_key(rest, "DELETE")?))
    } else if name.eq_ignore_ascii_case(b"USAGE") {
        no_arguments(rest, "USAGE")?;
        Ok(Command::Usage)
    } else if name.eq_ignore_ascii_case(b"QUIT") {
        no_arguments(rest, "QUIT")?;
        Ok(Command::Quit)
    } else {
        Err(ClientError::UnknownCommand)
    }
}

/// Writes the reply line for `reply`; nothing for [`Reply::Quit`].
pub fn write_reply<W: Write>(out: &mut W, reply: &Reply<'_>) -> io::Result<()> {
    match reply {
        Reply::Ok => out.write_all(b"OK\n"),
        Reply::NotFound => out.write_all(b"NOT_FOUND\n"),
        Reply::Value(value) => {
            out.write_all(b"VALUE ")?;
            let mut encoder = EncoderWriter::new(&mut *out, &STANDARD);
            encoder.write_all(value)?;
            encoder.finish()?.write_all(b"\n")
        }
        Reply::Usage(bytes) => writeln!(out, "USAGE {bytes}"),
        Reply::Error(e) => writeln!(out, "ERROR {e}"),
        Reply::Quit => Ok(()),
    }
}

fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits off the first token, skipping blanks before it. The rest starts at
/// the blank that ended the token (or is empty).
fn token(s: &[u8]) -> (&[u8], &[u8]) {
    let start = s.iter().position(|&b| !is_blank(b)).unwrap_or(s.len());
    let s = &s[start..];
    let end = s.iter().position(|&b| is_blank(b)).unwrap_or(s.len());
    s.split_at(end)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_blank(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_blank(b))
        .map_or(start, |i| i + 1);
    &s[start..end]
}

/// The single key argument of `name`.
fn only_key<'a>(rest: &'a [u8], name: &'static str) -> Result<Key<'a>, ClientError> {
    let (key, rest) = token(rest);
    if key.is_empty() {
        return Err(ClientError::RequiresKey(name));
    }
    no_arguments(rest, name)?;
    Key::new(key).ok_or(ClientError::KeyTooLong)
}

fn no_arguments(rest: &[u8], name: &'static str) -> Result<(), ClientError> {
    if trim(rest).is_empty() {
        Ok(())
    } else {
        Err(ClientError::WrongArguments(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_value_size: 8 };

    fn key(k: &[u8]) -> Key<'_> {
        Key::new(k).unwrap()
    }

    #[test]
    fn set_value_is_the_trimmed_rest_of_the_line() {
        assert_eq!(
            parse(b"SET sp  hi big   w\t \r", &Limits { max_value_size: 64 }),
            Ok(Command::Set(key(b"sp"), b"hi big   w"))
        );
        assert_eq!(parse(b"set k", &LIMITS), Ok(Command::Set(key(b"k"), b"")));
        assert_eq!(
            parse(b"\tSeT\tk\tv", &LIMITS),
            Ok(Command::Set(key(b"k"), b"v"))
        );
    }

    #[test]
    fn only_one_carriage_return_is_dropped() {
        assert_eq!(
            parse(b"SET k v\r\r", &LIMITS),
            Ok(Command::Set(key(b"k"), b"v\r"))
        );
        assert_eq!(parse(b"GET k\r", &LIMITS), Ok(Command::Get(key(b"k"))));
    }

    #[test]
    fn argument_errors_name_the_command() {
        assert_eq!(parse(b"GET", &LIMITS), Err(ClientError::RequiresKey("GET")));
        assert_eq!(
            parse(b"delete  ", &LIMITS),
            Err(ClientError::RequiresKey("DELETE"))
        );
        assert_eq!(
            parse(b"GET a b", &LIMITS),
            Err(ClientError::WrongArguments("GET"))
        );
        assert_eq!(parse(b"", &LIMITS), Err(ClientError::UnknownCommand));
        assert_eq!(parse(b"GETX a", &LIMITS), Err(ClientError::UnknownCommand));
    }

    #[test]
    fn value_size_is_bounded() {
        assert_eq!(
            parse(b"SET k 123456789", &LIMITS),
            Err(ClientError::ValueTooLarge)
        );
        assert!(parse(b"SET k 12345678", &LIMITS).is_ok());
    }

    #[test]
    fn values_are_base64_on_the_wire() {
        let mut out = Vec::new();
        write_reply(&mut out, &Reply::Value(b"alice")).unwrap();
        write_reply(&mut out, &Reply::Value(b"")).unwrap();
        write_reply(&mut out, &Reply::Usage(9)).unwrap();
        write_reply(&mut out, &Reply::Error(ClientError::RequiresKey("SET"))).unwrap();
        assert_eq!(
            out,
            b"VALUE YWxpY2U=\nVALUE \nUSAGE 9\nERROR SET requires key\n"
        );
    }
}
