//! RESP at the wire for the integration tests: encode a request as an array
//! of bulk strings, read one reply value whole (RESP2 or RESP3), and run
//! transcripts whose requests are written as words.
//!
//! Expected bytes in the tests were taken from Redis 7 given the same
//! requests; these helpers only frame them.

use std::io::{self, Read};
use std::net::SocketAddr;

use super::{same, show, Client, Wire};

/// One exchange: the words of a RESP request, then the exact reply bytes.
pub type RespStep<'a> = (&'a str, &'a [u8]);

/// One reply value, as parsed from the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resp {
    /// `+text`
    Simple(Vec<u8>),
    /// `-text`
    Error(Vec<u8>),
    /// `:n`
    Integer(i64),
    /// `$n` and its bytes.
    Bulk(Vec<u8>),
    /// `$-1`, RESP2's null.
    NullBulk,
    /// `*-1`
    NullArray,
    /// `_`, RESP3's null.
    Null,
    /// `*n` and its elements.
    Array(Vec<Resp>),
    /// `%n` and its pairs, in the order sent.
    Map(Vec<(Resp, Resp)>),
    /// `~n` and its elements.
    Set(Vec<Resp>),
    /// `=n`: the three-byte format and the text after the colon.
    Verbatim(Vec<u8>, Vec<u8>),
    /// `,` as sent.
    Double(Vec<u8>),
    /// `#t` or `#f`.
    Boolean(bool),
    /// `(` as sent.
    BigNumber(Vec<u8>),
}

impl Resp {
    /// The bytes of a bulk, simple or verbatim string; panics on other kinds.
    #[track_caller]
    pub fn text(&self) -> &[u8] {
        match self {
            Resp::Bulk(b) | Resp::Simple(b) | Resp::Verbatim(_, b) => b,
            other => panic!("expected a string, got {other:?}"),
        }
    }

    /// A string reply as UTF-8 (lossy), for messages and parsing.
    #[track_caller]
    pub fn string(&self) -> String {
        String::from_utf8_lossy(self.text()).into_owned()
    }

    /// The value of an integer reply; panics on other kinds.
    #[track_caller]
    pub fn integer(&self) -> i64 {
        match self {
            Resp::Integer(n) => *n,
            other => panic!("expected an integer, got {other:?}"),
        }
    }

    /// The elements of an array reply; panics on other kinds.
    #[track_caller]
    pub fn array(&self) -> &[Resp] {
        match self {
            Resp::Array(items) => items,
            other => panic!("expected an array, got {other:?}"),
        }
    }

    /// The pairs of a RESP3 map, or of a RESP2 array of alternating keys
    /// and values (how RESP2 sends a map); panics on other kinds.
    #[track_caller]
    pub fn pairs(&self) -> Vec<(Resp, Resp)> {
        match self {
            Resp::Map(pairs) => pairs.clone(),
            Resp::Array(items) if items.len() % 2 == 0 => items
                .chunks(2)
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect(),
            other => panic!("expected a map or an even array, got {other:?}"),
        }
    }
}

/// A RESP request: an array of bulk strings, one per argument.
pub fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(&bulk(arg));
    }
    out
}

/// A RESP request from words separated by spaces: `req("SET k v")`. For
/// arguments that are empty or hold spaces, use [`cmd`].
pub fn req(words: &str) -> Vec<u8> {
    let args: Vec<&[u8]> = words.split(' ').map(str::as_bytes).collect();
    cmd(&args)
}

/// The bulk string reply (or request argument) holding `bytes`.
pub fn bulk(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

/// The integer reply `:n\r\n`.
pub fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

/// The RESP2 array reply of bulk strings.
pub fn bulks(items: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        out.extend_from_slice(&bulk(item));
    }
    out
}

/// Runs `steps` on a new TCP connection to `addr`, then checks the server
/// sends nothing more before closing.
#[track_caller]
pub fn check_resp(addr: SocketAddr, steps: &[RespStep<'_>]) {
    let mut client = Client::tcp(addr);
    client.run(steps);
    same(&client.finish(), b"", "bytes after the last reply");
}

/// The keys of HELLO's map, in Redis's order.
const HELLO_KEYS: [&str; 7] = [
    "server", "version", "proto", "id", "mode", "role", "modules",
];

/// Checks a HELLO reply: a RESP2 array of pairs or a RESP3 map with
/// A connection to `addr` switched to RESP3, its HELLO reply checked.
#[track_caller]
pub fn resp3(addr: SocketAddr) -> Client<std::net::TcpStream> {
    let mut client = Client::tcp(addr);
    check_hello(&client.call("HELLO 3"), 3);
    client
}

/// Redis's keys, `server` => `blink-store`, the protocol, and the
/// connection id. Returns the id.
#[track_caller]
pub fn check_hello(reply: &Resp, proto: i64) -> i64 {
    match (proto, reply) {
        (2, Resp::Array(items)) => assert_eq!(items.len(), 14, "HELLO answered {reply:?}"),
        (3, Resp::Map(pairs)) => assert_eq!(pairs.len(), 7, "HELLO answered {reply:?}"),
        _ => panic!("HELLO {proto} answered {reply:?}"),
    }
    let pairs = reply.pairs();
    let keys: Vec<String> = pairs.iter().map(|(key, _)| key.string()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    let mut expected = HELLO_KEYS.to_vec();
    expected.sort();
    assert_eq!(sorted, expected, "HELLO keys");
    let value = |name: &str| &pairs[keys.iter().position(|k| k == name).unwrap()].1;
    assert_eq!(value("server").text(), b"blink-store", "HELLO server");
    assert!(!value("version").text().is_empty(), "HELLO version");
    assert_eq!(value("proto"), &Resp::Integer(proto), "HELLO proto");
    assert!(!value("mode").text().is_empty(), "HELLO mode");
    assert!(!value("role").text().is_empty(), "HELLO role");
    assert!(
        matches!(value("modules"), Resp::Array(_)),
        "HELLO modules: {:?}",
        value("modules")
    );
    value("id").integer()
}

/// Deepest nesting a reply may have; a reply nested deeper is a bug here.
const MOST_DEPTH: usize = 8;

impl<S: Wire> Client<S> {
    /// Sends the RESP request made of `words` and reads one whole reply.
    #[track_caller]
    pub fn call(&mut self, words: &str) -> Resp {
        self.send(&req(words));
        self.reply()
    }

    /// Sends the RESP request made of `args` and reads one whole reply.
    #[track_caller]
    pub fn call_args(&mut self, args: &[&[u8]]) -> Resp {
        self.send(&cmd(args));
        self.reply()
    }

    /// Runs RESP steps in order on this connection, comparing exact bytes.
    #[track_caller]
    pub fn run(&mut self, steps: &[RespStep<'_>]) {
        for (words, reply) in steps {
            self.expect(&req(words), reply);
        }
    }

    /// Reads one whole reply value, nested values included.
    #[track_caller]
    pub fn reply(&mut self) -> Resp {
        self.value(0)
    }

    #[track_caller]
    fn value(&mut self, depth: usize) -> Resp {
        assert!(depth <= MOST_DEPTH, "reply nested over {MOST_DEPTH} deep");
        let line = self.line();
        let Some(body) = line.strip_suffix(b"\r\n") else {
            panic!("reply line without CRLF: {}", show(&line));
        };
        let (kind, rest) = body
            .split_first()
            .unwrap_or_else(|| panic!("empty reply line"));
        let rest = rest.to_vec();
        let number = || -> i64 {
            std::str::from_utf8(&rest)
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad length or number in {}", show(&line)))
        };
        match kind {
            b'+' => Resp::Simple(rest),
            b'-' => Resp::Error(rest),
            b':' => Resp::Integer(number()),
            b',' => Resp::Double(rest),
            b'(' => Resp::BigNumber(rest),
            b'_' if rest.is_empty() => Resp::Null,
            b'#' if rest == b"t" => Resp::Boolean(true),
            b'#' if rest == b"f" => Resp::Boolean(false),
            b'$' if number() == -1 => Resp::NullBulk,
            b'*' if number() == -1 => Resp::NullArray,
            b'$' => Resp::Bulk(self.payload(number(), &line)),
            b'=' => {
                let text = self.payload(number(), &line);
                assert!(
                    text.len() >= 4 && text[3] == b':',
                    "verbatim string without a format: {}",
                    show(&text)
                );
                Resp::Verbatim(text[..3].to_vec(), text[4..].to_vec())
            }
            b'*' | b'~' => {
                let items = (0..self.count(number(), &line))
                    .map(|_| self.value(depth + 1))
                    .collect();
                if *kind == b'*' {
                    Resp::Array(items)
                } else {
                    Resp::Set(items)
                }
            }
            b'%' => Resp::Map(
                (0..self.count(number(), &line))
                    .map(|_| (self.value(depth + 1), self.value(depth + 1)))
                    .collect(),
            ),
            _ => panic!("unknown reply type in {}", show(&line)),
        }
    }

    /// Checks a declared element count before looping over it.
    #[track_caller]
    fn count(&self, n: i64, line: &[u8]) -> usize {
        /// More elements than any reply in these tests has.
        const MOST: i64 = 1_000_000;
        assert!((0..=MOST).contains(&n), "bad count in {}", show(line));
        n as usize
    }

    /// Reads `n` bytes and the CRLF after them.
    #[track_caller]
    fn payload(&mut self, n: i64, line: &[u8]) -> Vec<u8> {
        /// Longer than any string reply in these tests.
        const MOST: i64 = 64 << 20;
        assert!((0..=MOST).contains(&n), "bad length in {}", show(line));
        let mut bytes = self.take(n as usize + 2);
        assert!(
            bytes.len() == n as usize + 2 && bytes.ends_with(b"\r\n"),
            "string of {n} bytes cut short or not ended by CRLF after {}: {}",
            show(line),
            show(&bytes)
        );
        bytes.truncate(n as usize);
        bytes
    }

    /// Reads exactly `reply`, then asserts the server closes the
    /// connection: end of file, or a reset when the server closed with
    /// request bytes still unread (Linux keeps the reply readable first).
    #[track_caller]
    pub fn expect_close(&mut self, reply: &[u8]) {
        let got = self.take(reply.len());
        same(&got, reply, "reply before the close");
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => same(&rest, b"", "bytes after the reply before the close"),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                same(&rest, b"", "bytes after the reply before the reset")
            }
            Err(e) => panic!("connection not closed ({e}) after {}", show(&rest)),
        }
    }
}
