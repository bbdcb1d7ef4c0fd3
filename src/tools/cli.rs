//! `blink-store cli`: send commands to a server over RESP2 and show the
//! replies, once for a shell script or at an interactive prompt.
//!
//! Requests are RESP arrays of bulk strings, so every argument is
//! binary-safe: spaces, newlines and NUL bytes reach the server as given.
//! With the password given (`--password-file`, or `BLINK_PASSWORD`), the
//! connection first sends `AUTH <password>`; a refusal ends the tool.
//!
//! # One command: output for scripts
//!
//! `blink-store cli GET k` sends the command once and prints the reply so a
//! script can use it as is ([`write_plain`]):
//!
//! | reply | stdout | exit status |
//! |---|---|---|
//! | bulk string | its bytes, raw, then `\n` | 0 |
//! | integer | its digits, then `\n` | 0 |
//! | simple string | its text (`OK`), then `\n` | 0 |
//! | array (or map) | each element as above, one per line; a null element is an empty line | 0 |
//! | null | nothing | 1 |
//! | error | nothing; the error text on stderr | 2 |
//!
//! A connection failure prints one line on stderr and exits 2. A last
//! argument `-` is replaced by the whole of stdin, read before connecting
//! and refused past [`MAX_STDIN`] bytes: `printf 'a\0b' | blink-store cli
//! SET k -`.
//!
//! # Without a command: the prompt
//!
//! Prints `Connected to ADDR`, then reads lines from stdin, showing the
//! prompt `blink> ` only when stdin is a terminal (so a piped session's
//! stdout holds only replies). A line is split into words at whitespace;
//! double quotes group words and understand `\"`, `\\`, `\n`, `\r`, `\t`
//! and `\xHH` ([`split_words`]). `QUIT`, `exit` or the end of input leaves.
//! Replies are shown as `redis-cli` shows them ([`write_human`]):
//!
//! | reply | shown as |
//! |---|---|
//! | bulk string | `"hello world"`: quoted, with `"` `\` and bytes outside printable ASCII escaped as the input understands them (`\n`, `\x00`) |
//! | simple string | `OK` |
//! | integer | `(integer) 5` |
//! | null | `(nil)` |
//! | error | `(error) ERR unknown command ...` |
//! | array | `1) "a"`, `2) "b"`, numbers right-aligned, nested arrays indented; `(empty array)` |
//! | RESP3 map, double, boolean | `1# "key" => "value"`, `(double) 1.5`, `(true)` |
//!
//! An error reply does not end the prompt; a broken connection does (exit
//! 2), except that a connection the server closed while the prompt waited
//! (an idle timeout) is reopened before the next command is sent.

use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;

use crate::auth::{password_text, Secret};
use crate::config::{DEFAULT_MAX_VALUE_SIZE, DEFAULT_TCP};
use crate::flags::{os_bytes, size_text, text_value, UsageError};

use super::resp::{self, Value};
use super::{closed_after, endpoint, Endpoint, Stream, ToolError};

/// Most bytes `-` reads from stdin: the server's default largest value
/// (`--max-value-size`); a larger value would only be refused.
pub const MAX_STDIN: usize = DEFAULT_MAX_VALUE_SIZE;

/// Longest prompt line, in bytes: a largest value written entirely as
/// `\xHH` escapes, plus room for the command and key.
pub const MAX_INPUT_LINE: usize = 4 * MAX_STDIN + (64 << 10);

/// Largest reply read, in bytes. Replies listing keys grow with the store,
/// so this is generous; it only stops a broken server from filling memory.
pub const MAX_REPLY: usize = 1 << 30;

/// Bytes asked for per read of a reply.
const READ_CHUNK: usize = 64 << 10;

/// What `blink-store cli` was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub endpoint: Endpoint,
    pub password: Option<Secret>,
    /// The command and its arguments; empty for the prompt.
    pub command: Vec<Vec<u8>>,
}

/// How a run ended, for the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A reply was printed, or the prompt was left.
    Printed,
    /// The one command's reply was null.
    Nil,
    /// The one command's reply was an error, printed on stderr.
    ErrorReply,
}

impl Outcome {
    /// 0, 1 or 2.
    pub fn exit_status(self) -> u8 {
        match self {
            Outcome::Printed => 0,
            Outcome::Nil => 1,
            Outcome::ErrorReply => 2,
        }
    }
}

/// Parses `cli [FLAGS] [COMMAND ARGS...]`: flags end at the first word
/// that is not one, or at `--`; every word from there on is the command, as
/// bytes. `None` when the help was asked for.
pub fn parse_args(rest: &[OsString]) -> Result<Option<Options>, UsageError> {
    let mut tcp = None;
    let mut unix = None;
    let mut password_file = None;
    let mut words = rest.iter();
    let mut command = Vec::new();
    while let Some(word) = words.next() {
        let mut value = |flag: &str| {
            words
                .next()
                .ok_or_else(|| UsageError::new(format!("{flag} needs a value")))
        };
        match word.to_str() {
            Some("-h" | "--help") => return Ok(None),
            Some("--tcp") => tcp = Some(text_value("--tcp", value("--tcp")?)?),
            Some("--unix") => unix = Some(PathBuf::from(value("--unix")?)),
            Some("--password-file") => {
                password_file = Some(PathBuf::from(value("--password-file")?));
            }
            Some("--") => {
                command.extend(words.map(|w| os_bytes(w.clone())));
                break;
            }
            Some(flag) if flag.starts_with('-') => {
                return Err(UsageError::new(format!("unknown flag '{flag}'")));
            }
            _ => {
                command.push(os_bytes(word.clone()));
                command.extend(words.map(|w| os_bytes(w.clone())));
                break;
            }
        }
    }
    Ok(Some(Options {
        endpoint: endpoint(tcp, unix)?,
        password: password_text(password_file.as_deref()).map_err(UsageError::new)?,
        command,
    }))
}

/// The text of `blink-store cli --help`.
pub fn help() -> String {
    format!(
        "Usage: blink-store cli [--tcp ADDR | --unix PATH] [--password-file PATH] [COMMAND ARGS...]

Talks RESP2 to a server. With a command, sends it once, prints the reply
for a script and exits; without one, starts a prompt.

Flags (before the command; every word from COMMAND on is sent as it is):
  --tcp ADDR              the server's TCP host:port (default {DEFAULT_TCP})
  --unix PATH             the server's Unix socket, instead of TCP
  --password-file PATH    send AUTH with the file's first line first
                          (default: BLINK_PASSWORD when set, else no AUTH)
  -h, --help              print this help
  --                      end of flags

Arguments are binary-safe. A last argument '-' is replaced by all of stdin
(at most {max_stdin}), so a value may hold any bytes.

One command prints, on stdout:
  bulk string     its bytes as they are, then a newline (no quotes, no base64)
  integer         its digits
  simple string   its text (OK)
  array           each element on its own line; a null element is an empty line
  null            nothing, and the exit status is 1
  error           nothing; the error text goes to stderr, exit status 2
Exit status: 0 a reply was printed, 1 null, 2 an error reply, a connection
failure or a bad command line.

The prompt prints 'Connected to ADDR', then reads commands from stdin, one
per line, showing 'blink> ' only when stdin is a terminal. Words are split
at spaces; double quotes group words (SET greeting \"hello world\") and read
\\\" \\\\ \\n \\r \\t and \\xHH inside. QUIT, exit or end of input leaves. Replies
are shown as redis-cli shows them:
  \"hello world\"   bulk string, quoted; other bytes escaped as \\n, \\x00
  OK              simple string
  (integer) 5     integer
  (nil)           null
  (error) ERR ... error
  1) \"a\"          array elements, numbered; nested arrays indented
  (empty array)

Examples:
  blink-store cli SET greeting \"hello world\"
  blink-store cli GET greeting
  printf 'a\\0b' | blink-store cli SET blob -
  blink-store cli --unix /tmp/blink.sock DBSIZE
  blink-store cli
",
        max_stdin = size_text(MAX_STDIN as u64),
    )
}

/// Runs the one command of `options`, or the prompt when there is none.
pub fn run(options: &Options) -> Result<Outcome, ToolError> {
    if options.command.is_empty() {
        prompt(options)
    } else {
        once(options)
    }
}

/// Sends the command once and prints its reply for a script.
fn once(options: &Options) -> Result<Outcome, ToolError> {
    let mut command = options.command.clone();
    if let [_, .., last] = command.as_mut_slice() {
        if last.as_slice() == b"-" {
            *last = read_stdin()?;
        }
    }
    let mut connection = Connection::open(&options.endpoint, options.password.as_ref())?;
    let mut text = Vec::new();
    let outcome = match connection.call(&command)? {
        Value::Null => return Ok(Outcome::Nil),
        Value::Error(error) => {
            text.extend_from_slice(error);
            text.push(b'\n');
            // Nothing else can be said if stderr is gone.
            let _ = io::stderr().write_all(&text);
            return Ok(Outcome::ErrorReply);
        }
        reply => {
            write_plain(&mut text, &reply);
            Outcome::Printed
        }
    };
    emit(&mut io::stdout().lock(), &text)?;
    Ok(outcome)
}

/// All of stdin, refused past [`MAX_STDIN`] bytes.
fn read_stdin() -> Result<Vec<u8>, ToolError> {
    let mut value = Vec::new();
    io::stdin()
        .lock()
        .take(MAX_STDIN as u64 + 1)
        .read_to_end(&mut value)
        .map_err(ToolError::Stdin)?;
    if value.len() > MAX_STDIN {
        return Err(ToolError::StdinTooLarge(MAX_STDIN));
    }
    Ok(value)
}

/// The interactive prompt.
fn prompt(options: &Options) -> Result<Outcome, ToolError> {
    let open = || Connection::open(&options.endpoint, options.password.as_ref());
    let mut connection = open()?;
    let stdin = io::stdin();
    let terminal = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut out = io::stdout().lock();
    let mut text = format!("Connected to {}\n", options.endpoint).into_bytes();
    let mut line = Vec::new();
    loop {
        if terminal {
            text.extend_from_slice(b"blink> ");
        }
        if !emit(&mut out, &text)? {
            return Ok(Outcome::Printed);
        }
        text.clear();
        match read_line(&mut input, &mut line, MAX_INPUT_LINE).map_err(ToolError::Stdin)? {
            Line::Read => {}
            Line::TooLong => {
                let error = format!("(error) line longer than {MAX_INPUT_LINE} bytes\n");
                text.extend_from_slice(error.as_bytes());
                continue;
            }
            Line::End => {
                if terminal {
                    emit(&mut out, b"\n")?;
                }
                return Ok(Outcome::Printed);
            }
        }
        let Some(words) = split_words(&line) else {
            text.extend_from_slice(b"(error) unbalanced quotes\n");
            continue;
        };
        let Some(first) = words.first() else {
            continue;
        };
        if first.eq_ignore_ascii_case(b"quit") || first.eq_ignore_ascii_case(b"exit") {
            return Ok(Outcome::Printed);
        }
        if connection.closed_by_server() {
            connection = open()?;
        }
        write_human(&mut text, &connection.call(&words)?, 0);
    }
}

/// Writes `bytes` to stdout and flushes; `Ok(false)` once whoever read
/// stdout has gone (a closed pipe), so the caller can stop quietly.
fn emit(out: &mut impl Write, bytes: &[u8]) -> Result<bool, ToolError> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(ToolError::Stdout(e)),
    }
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// A line, without its `\n` or `\r\n`.
    Read,
    /// A line longer than the limit, read and thrown away.
    TooLong,
    /// The end of the input.
    End,
}

/// Reads one line of at most `max` bytes into `line`.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    line.clear();
    if input.take(max as u64 + 1).read_until(b'\n', line)? == 0 {
        return Ok(Line::End);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        return Ok(Line::Read);
    }
    if line.len() <= max {
        // The last line, without a newline.
        return Ok(Line::Read);
    }
    line.clear();
    loop {
        let buffered = input.fill_buf()?;
        if buffered.is_empty() {
            return Ok(Line::TooLong);
        }
        if let Some(newline) = buffered.iter().position(|&b| b == b'\n') {
            input.consume(newline + 1);
            return Ok(Line::TooLong);
        }
        let all = buffered.len();
        input.consume(all);
    }
}

/// Splits a prompt line into words: runs of bytes between spaces or tabs.
/// Double quotes group words (`"hello world"`), may sit inside a word
/// (`a"b c"` is `ab c`), make an empty word (`""`), and inside them `\"`,
/// `\\`, `\n`, `\r`, `\t` and `\xHH` stand for their bytes; any other
/// escaped byte stands for itself. Outside quotes a backslash is a byte
/// like any other. `None` when a quote is not closed.
pub fn split_words(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let space = |b: u8| b == b' ' || b == b'\t';
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while line.get(i).is_some_and(|&b| space(b)) {
            i += 1;
        }
        if i == line.len() {
            return Some(words);
        }
        let mut word = Vec::new();
        while let Some(&b) = line.get(i).filter(|&&b| !space(b)) {
            i += 1;
            if b != b'"' {
                word.push(b);
                continue;
            }
            loop {
                match *line.get(i)? {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        let (byte, used) = unescape(line.get(i + 1..)?)?;
                        word.push(byte);
                        i += 1 + used;
                    }
                    b => {
                        word.push(b);
                        i += 1;
                    }
                }
            }
        }
        words.push(word);
    }
}

/// The byte an escape inside quotes stands for, given the bytes after its
/// backslash, and how many of them it used.
fn unescape(after: &[u8]) -> Option<(u8, usize)> {
    let hex = |b: u8| (b as char).to_digit(16);
    let byte = match *after.first()? {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'x' => {
            let pair = after
                .get(1..3)
                .and_then(|p| Some(hex(p[0])? * 16 + hex(p[1])?));
            return Some(match pair {
                Some(value) => (value as u8, 3),
                None => (b'x', 1),
            });
        }
        other => other,
    };
    Some((byte, 1))
}

/// Appends `reply` as a script reads it: strings raw, one per line.
pub fn write_plain(out: &mut Vec<u8>, reply: &Value<'_>) {
    match reply {
        Value::Simple(text)
        | Value::Error(text)
        | Value::Bulk(text)
        | Value::Double(text)
        | Value::BigNumber(text)
        | Value::Verbatim(text) => out.extend_from_slice(text),
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Null => {}
        Value::Array(items) => return items.iter().for_each(|item| write_plain(out, item)),
        Value::Map(pairs) => {
            return pairs.iter().for_each(|(k, v)| {
                write_plain(out, k);
                write_plain(out, v);
            })
        }
    }
    out.push(b'\n');
}

/// Appends `reply` as `redis-cli` shows it to a person. `indent` is the
/// column where the labels of this array start; lines after the first are
/// indented to it.
pub fn write_human(out: &mut Vec<u8>, reply: &Value<'_>, indent: usize) {
    let mut tagged = |tag: &str, text: &[u8]| {
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(text);
        out.push(b'\n');
    };
    match reply {
        Value::Simple(text) => tagged("", text),
        Value::Error(text) => tagged("(error) ", text),
        Value::Integer(n) => tagged("(integer) ", n.to_string().as_bytes()),
        Value::Double(text) => tagged("(double) ", text),
        Value::BigNumber(text) => tagged("(big number) ", text),
        Value::Boolean(b) => tagged("", if *b { b"(true)" } else { b"(false)" }),
        Value::Null => tagged("(nil)", b""),
        Value::Verbatim(text) => tagged("", text.strip_suffix(b"\n").unwrap_or(text)),
        Value::Bulk(bytes) => {
            quote(out, bytes);
            out.push(b'\n');
        }
        Value::Array(items) if items.is_empty() => tagged("(empty array)", b""),
        Value::Map(pairs) if pairs.is_empty() => tagged("(empty hash)", b""),
        Value::Array(items) => {
            let width = items.len().to_string().len();
            for (i, item) in items.iter().enumerate() {
                label(out, i, width, ")", indent);
                write_human(out, item, indent + width + 2);
            }
        }
        Value::Map(pairs) => {
            let width = pairs.len().to_string().len();
            for (i, (key, value)) in pairs.iter().enumerate() {
                label(out, i, width, "#", indent);
                let mut shown = Vec::new();
                write_human(&mut shown, key, indent + width + 2);
                out.extend_from_slice(shown.strip_suffix(b"\n").unwrap_or(&shown));
                out.extend_from_slice(b" => ");
                write_human(out, value, indent + width + 2);
            }
        }
    }
}

/// `1) `, right-aligned to `width` digits; items after the first start on
/// a new line indented to `indent`.
fn label(out: &mut Vec<u8>, i: usize, width: usize, mark: &str, indent: usize) {
    if i > 0 {
        out.resize(out.len() + indent, b' ');
    }
    out.extend_from_slice(format!("{:>width$}{mark} ", i + 1).as_bytes());
}

/// Appends `bytes` in double quotes, escaped as [`split_words`] reads them.
fn quote(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b' '..=b'~' => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// One connection, sending one request at a time and reading its reply.
struct Connection {
    stream: Stream,
    /// The request being sent, reused.
    request: Vec<u8>,
    /// Bytes received; the last reply is `received[..used]`.
    received: Vec<u8>,
    used: usize,
}

impl Connection {
    /// Connects and, with a password, authenticates.
    fn open(endpoint: &Endpoint, password: Option<&Secret>) -> Result<Connection, ToolError> {
        let mut connection = Connection {
            stream: endpoint.connect()?,
            request: Vec::new(),
            received: Vec::new(),
            used: 0,
        };
        if let Some(password) = password {
            let refusal = match connection.call(&[&b"AUTH"[..], password.bytes()])? {
                Value::Error(text) => Some(String::from_utf8_lossy(text).into_owned()),
                _ => None,
            };
            connection.request.fill(0);
            if let Some(text) = refusal {
                return Err(ToolError::Auth(text));
            }
        }
        Ok(connection)
    }

    /// Sends `args` as one request and returns the reply, which borrows
    /// this connection's buffer until the next call.
    fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value<'_>, ToolError> {
        self.received.drain(..self.used);
        self.used = 0;
        self.request.clear();
        resp::encode(&mut self.request, args);
        self.stream.send(&self.request)?;
        let len = loop {
            if let Some((_, len)) = resp::parse(&self.received)? {
                break len;
            }
            if self.received.len() >= MAX_REPLY {
                return Err(ToolError::ReplyTooLarge(MAX_REPLY));
            }
            let start = self.received.len();
            self.received.resize(start + READ_CHUNK, 0);
            let read = self.stream.read(&mut self.received[start..]);
            self.received.truncate(start + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => return Err(closed_after(&self.received)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        self.used = len;
        // Parsed once more to hand out a borrow the loop could not return.
        match resp::parse(&self.received[..len])? {
            Some((reply, _)) => Ok(reply),
            None => Err(ToolError::Closed),
        }
    }

    /// Whether the server has closed this idle connection (or sent bytes
    /// no request asked for, as before closing on a timeout). Looks without
    /// waiting.
    fn closed_by_server(&mut self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let mut byte = [0u8; 1];
        let waiting = matches!(
            self.stream.read(&mut byte),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        );
        let restored = self.stream.set_nonblocking(false).is_ok();
        !(waiting && restored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Option<Vec<String>> {
        split_words(line.as_bytes()).map(|words| {
            words
                .into_iter()
                .map(|w| String::from_utf8_lossy(&w).into_owned())
                .collect()
        })
    }

    #[test]
    fn quotes_group_words_and_escape_bytes() {
        let got = words(r#"SET greeting "hello world""#).unwrap();
        assert_eq!(got, ["SET", "greeting", "hello world"]);
        let got = words("  a\t\"\"  b\"c d\"e ").unwrap();
        assert_eq!(got, ["a", "", "bc de"]);
        let got = split_words(br#""\x00\n\"\\\q\xzz" back\slash"#).unwrap();
        assert_eq!(got, [&b"\0\n\"\\qxzz"[..], b"back\\slash"]);
        assert_eq!(words(r#"SET k "open"#), None);
        assert_eq!(words("   "), Some(vec![]));
    }

    #[test]
    fn quoted_output_reads_back_as_the_same_bytes() {
        let bytes: Vec<u8> = (0..=255).collect();
        let mut shown = Vec::new();
        quote(&mut shown, &bytes);
        assert_eq!(split_words(&shown), Some(vec![bytes]));
    }

    #[test]
    fn replies_for_people() {
        let show = |reply: Value<'_>| {
            let mut out = Vec::new();
            write_human(&mut out, &reply, 0);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(show(Value::Bulk(b"a \"b\"\n")), "\"a \\\"b\\\"\\n\"\n");
        assert_eq!(show(Value::Integer(5)), "(integer) 5\n");
        assert_eq!(show(Value::Null), "(nil)\n");
        assert_eq!(show(Value::Array(vec![])), "(empty array)\n");
        let nested = Value::Array(vec![
            Value::Array(vec![Value::Bulk(b"a"), Value::Null]),
            Value::Simple(b"OK"),
        ]);
        assert_eq!(show(nested), "1) 1) \"a\"\n   2) (nil)\n2) OK\n");
        let ten = Value::Array(vec![Value::Integer(0); 10]);
        assert!(show(ten).starts_with(" 1) (integer) 0\n 2) "));
    }

    #[test]
    fn replies_for_scripts() {
        let mut out = Vec::new();
        let array = Value::Array(vec![Value::Bulk(b"a b"), Value::Null, Value::Integer(3)]);
        write_plain(&mut out, &array);
        assert_eq!(out, b"a b\n\n3\n");
    }

    #[test]
    fn long_prompt_lines_are_skipped_whole() {
        let mut input = io::Cursor::new(b"abcdef\nok\r\nlast".to_vec());
        let mut line = Vec::new();
        assert_eq!(read_line(&mut input, &mut line, 4).unwrap(), Line::TooLong);
        assert_eq!(read_line(&mut input, &mut line, 4).unwrap(), Line::Read);
        assert_eq!(line, b"ok");
        assert_eq!(read_line(&mut input, &mut line, 4).unwrap(), Line::Read);
        assert_eq!(line, b"last");
        assert_eq!(read_line(&mut input, &mut line, 4).unwrap(), Line::End);
    }
}
