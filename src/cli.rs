//! The command line: raw arguments become a validated [`Action`]: a
//! [`Config`] to serve, or the options of the `cli` and `bench` tools.
//!
//! Parsing only; nothing here opens a socket or starts logging. Sizes accept
//! a plain byte count or a suffix, the way Redis reads `maxmemory`:
//! `k`/`m`/`g` are powers of 1000, `kb`/`mb`/`gb` and `kib`/`mib`/`gib` are
//! powers of 1024, in any case.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use crate::auth::{Password, Secret};
use crate::config::{
    Config, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_VALUE_SIZE, DEFAULT_REQUEST_TIMEOUT, DEFAULT_TCP,
    DEFAULT_THREADS, DEFAULT_WRITE_TIMEOUT, MAX_EVICTION_SAMPLES, MAX_MAX_VALUE_SIZE, MAX_THREADS,
};
use crate::store::{DEFAULT_SAMPLES, MAX_KEY_LEN};
use crate::tools::bench::{
    self, Proto, Stop, DEFAULT_CLIENTS, DEFAULT_DATA_SIZE, DEFAULT_KEYSPACE, DEFAULT_PIPELINE,
    DEFAULT_REQUESTS, MAX_BATCH_BYTES, MAX_CLIENTS, MAX_DATA_SIZE, MAX_KEYSPACE, MAX_PIPELINE,
    REQUEST_OVERHEAD,
};
use crate::tools::{cli, Endpoint};

/// Environment variable that may hold the password.
pub const PASSWORD_ENV: &str = "BLINK_PASSWORD";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Serve(Config),
    /// `blink-store cli`: send commands to a server.
    Cli(cli::Options),
    /// `blink-store bench`: load a server and measure it.
    Bench(bench::Options),
    /// Print this text to stdout and exit successfully.
    Help(String),
    Version,
}

/// A command line that cannot be obeyed; one line, for stderr.
#[derive(Debug, PartialEq, Eq)]
pub struct CliError {
    message: String,
    /// The subcommand whose `--help` the message points to.
    command: &'static str,
}

impl CliError {
    /// An error about `serve`, or, until [`CliError::about`] says
    /// otherwise, about the command line as a whole.
    fn new(message: String) -> CliError {
        CliError {
            message,
            command: "serve",
        }
    }

    /// The same error, pointing to `command`'s help.
    fn about(self, command: &'static str) -> CliError {
        CliError { command, ..self }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (see 'blink-store {} --help')",
            self.message, self.command
        )
    }
}

impl std::error::Error for CliError {}

impl From<pico_args::Error> for CliError {
    fn from(e: pico_args::Error) -> Self {
        CliError::new(e.to_string())
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<Action, CliError> {
    // The words of a `cli` command are sent as they are: none of them may
    // be taken for a flag of this program, not even `--help`.
    if let Some((first, rest)) = args.split_first() {
        if first == "cli" {
            return parse_cli(rest).map_err(|e| e.about("cli"));
        }
    }
    let mut args = pico_args::Arguments::from_vec(args);
    if args.contains(["-V", "--version"]) {
        return Ok(Action::Version);
    }
    let help = args.contains(["-h", "--help"]);
    let subcommand = args.subcommand()?;
    match subcommand.as_deref() {
        Some("serve") if help => Ok(Action::Help(serve_help())),
        Some("serve") => parse_serve(args).map(Action::Serve),
        Some("cli") if help => Ok(Action::Help(cli_help())),
        Some("cli") => parse_cli(&args.finish()).map_err(|e| e.about("cli")),
        Some("bench") if help => Ok(Action::Help(bench_help())),
        Some("bench") => parse_bench(args)
            .map(Action::Bench)
            .map_err(|e| e.about("bench")),
        Some("help") | None => Ok(Action::Help(top_help())),
        Some(other) => Err(CliError::new(format!("unknown command '{other}'"))),
    }
}

fn parse_serve(mut args: pico_args::Arguments) -> Result<Config, CliError> {
    let defaults = Config::default();
    let tcp: Vec<String> = args.values_from_str("--tcp")?;
    let unix: Vec<PathBuf> = args.values_from_os_str("--unix", |s| {
        Ok::<_, std::convert::Infallible>(PathBuf::from(s))
    })?;
    let memory_limit = args
        .opt_value_from_fn("--memory-limit", parse_size)?
        .unwrap_or(defaults.memory_limit);
    if memory_limit == 0 {
        return Err(CliError::new(
            "--memory-limit must be greater than 0 bytes".to_string(),
        ));
    }
    let threads = args
        .opt_value_from_str("--threads")?
        .unwrap_or(defaults.threads);
    if !(1..=MAX_THREADS).contains(&threads) {
        return Err(CliError::new(format!(
            "--threads must be between 1 and {MAX_THREADS}"
        )));
    }
    let max_value_size = args
        .opt_value_from_fn("--max-value-size", parse_size)?
        .map_or(defaults.max_value_size as u64, |v| v);
    if !(1..=MAX_MAX_VALUE_SIZE as u64).contains(&max_value_size) {
        return Err(CliError::new(format!(
            "--max-value-size must be between 1 byte and {MAX_MAX_VALUE_SIZE} bytes (512mb)"
        )));
    }
    let eviction_samples = args
        .opt_value_from_str("--eviction-samples")?
        .unwrap_or(defaults.eviction_samples);
    if !(1..=MAX_EVICTION_SAMPLES).contains(&eviction_samples) {
        return Err(CliError::new(format!(
            "--eviction-samples must be between 1 and {MAX_EVICTION_SAMPLES}"
        )));
    }
    let log_level = args.opt_value_from_fn("--log-level", parse_level)?;
    let password_file: Option<PathBuf> = args.opt_value_from_os_str("--password-file", |s| {
        Ok::<_, std::convert::Infallible>(PathBuf::from(s))
    })?;
    let allow_unauthenticated = args.contains("--allow-unauthenticated");
    let idle_timeout = match args.opt_value_from_fn("--timeout", parse_seconds)? {
        None => defaults.idle_timeout,
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
    };
    let request_timeout = positive(
        "--request-timeout",
        args.opt_value_from_fn("--request-timeout", parse_seconds)?,
    )?
    .unwrap_or(defaults.request_timeout);
    let write_timeout = positive(
        "--write-timeout",
        args.opt_value_from_fn("--write-timeout", parse_seconds)?,
    )?
    .unwrap_or(defaults.write_timeout);
    let unix_perm = args
        .opt_value_from_fn("--unix-perm", parse_mode)?
        .unwrap_or(defaults.unix_perm);
    let rest = args.finish();
    if let Some(arg) = rest.first() {
        return Err(CliError::new(format!(
            "unexpected argument '{}'",
            arg.to_string_lossy()
        )));
    }
    Ok(Config {
        tcp: if tcp.is_empty() && unix.is_empty() {
            defaults.tcp
        } else {
            tcp
        },
        unix,
        memory_limit,
        threads,
        max_value_size: max_value_size as usize,
        eviction_samples,
        log_level,
        password: read_password(password_file)?,
        allow_unauthenticated,
        idle_timeout,
        request_timeout,
        write_timeout,
        auth_timeout: defaults.auth_timeout,
        unix_perm,
    })
}

/// `cli [FLAGS] [COMMAND ARGS...]`: flags end at the first word that is
/// not one, or at `--`; every word from there on is the command, as bytes.
fn parse_cli(rest: &[OsString]) -> Result<Action, CliError> {
    let mut tcp = None;
    let mut unix = None;
    let mut password_file = None;
    let mut words = rest.iter();
    let mut command = Vec::new();
    while let Some(word) = words.next() {
        let mut value = |flag: &str| {
            words
                .next()
                .ok_or_else(|| CliError::new(format!("{flag} needs a value")))
        };
        match word.to_str() {
            Some("-h" | "--help") => return Ok(Action::Help(cli_help())),
            Some("--tcp") => tcp = Some(text_value("--tcp", value("--tcp")?)?),
            Some("--unix") => unix = Some(PathBuf::from(value("--unix")?)),
            Some("--password-file") => {
                password_file = Some(PathBuf::from(value("--password-file")?));
            }
            Some("--") => {
                command.extend(words.map(|w| w.as_bytes().to_vec()));
                break;
            }
            Some(flag) if flag.starts_with('-') => {
                return Err(CliError::new(format!("unknown flag '{flag}'")));
            }
            _ => {
                command.push(word.as_bytes().to_vec());
                command.extend(words.map(|w| w.as_bytes().to_vec()));
                break;
            }
        }
    }
    Ok(Action::Cli(cli::Options {
        endpoint: endpoint(tcp, unix)?,
        password: password_text(password_file)?,
        command,
    }))
}

fn parse_bench(mut args: pico_args::Arguments) -> Result<bench::Options, CliError> {
    let tcp = args.opt_value_from_str("--tcp")?;
    let unix = args.opt_value_from_os_str("--unix", |s| {
        Ok::<_, std::convert::Infallible>(PathBuf::from(s))
    })?;
    let password_file = args.opt_value_from_os_str("--password-file", |s| {
        Ok::<_, std::convert::Infallible>(PathBuf::from(s))
    })?;
    let clients = args.opt_value_from_str("--clients")?;
    let clients = within("--clients", clients, DEFAULT_CLIENTS, 1, MAX_CLIENTS)?;
    let requests: Option<u64> = args.opt_value_from_str("--requests")?;
    let duration = args.opt_value_from_fn("--duration", parse_seconds)?;
    let stop = match (requests, positive("--duration", duration)?) {
        (Some(_), Some(_)) => {
            return Err(CliError::new(
                "give --requests or --duration, not both".to_string(),
            ))
        }
        (None, Some(duration)) => Stop::Duration(duration),
        (requests, None) => {
            let requests = within("--requests", requests, DEFAULT_REQUESTS, 1, u64::MAX)?;
            Stop::Requests(requests)
        }
    };
    let pipeline = args.opt_value_from_str("--pipeline")?;
    let pipeline = within("--pipeline", pipeline, DEFAULT_PIPELINE, 1, MAX_PIPELINE)?;
    let data_size = args
        .opt_value_from_fn("--data-size", parse_size)?
        .map(|size| usize::try_from(size).unwrap_or(usize::MAX));
    let data_size = within(
        "--data-size",
        data_size,
        DEFAULT_DATA_SIZE,
        0,
        MAX_DATA_SIZE,
    )?;
    if pipeline.saturating_mul(data_size + REQUEST_OVERHEAD) > MAX_BATCH_BYTES {
        return Err(CliError::new(format!(
            "--pipeline times --data-size must stay under {} per batch",
            size_text(MAX_BATCH_BYTES as u64)
        )));
    }
    let keyspace = args.opt_value_from_str("--keyspace")?;
    let keyspace = within("--keyspace", keyspace, DEFAULT_KEYSPACE, 1, MAX_KEYSPACE)?;
    let ratio = args
        .opt_value_from_fn("--ratio", parse_ratio)?
        .unwrap_or((1, 1));
    let proto = args
        .opt_value_from_fn("--proto", parse_proto)?
        .unwrap_or(Proto::Resp);
    let json = args.contains("--json");
    let prefill = args.contains("--prefill");
    let password = match proto {
        Proto::Text | Proto::Resp => password_text(password_file)?,
        // memcached's protocol has no AUTH, and BLINK_PASSWORD is meant for
        // Blink-Store; an explicit --password-file is a mistake worth saying.
        Proto::Memcache if password_file.is_none() => None,
        Proto::Memcache => {
            let why = "--password-file does not apply to --proto memcache (no AUTH in memcached)";
            return Err(CliError::new(why.to_string()));
        }
    };
    let rest = args.finish();
    if let Some(arg) = rest.first() {
        return Err(CliError::new(format!(
            "unexpected argument '{}'",
            arg.to_string_lossy()
        )));
    }
    Ok(bench::Options {
        endpoint: endpoint(tcp, unix)?,
        password,
        clients,
        stop,
        pipeline,
        data_size,
        keyspace,
        ratio,
        proto,
        json,
        prefill,
    })
}

/// `value`, or `default` when absent, refused outside `min..=max`.
fn within<T: PartialOrd + fmt::Display + Copy>(
    flag: &str,
    value: Option<T>,
    default: T,
    min: T,
    max: T,
) -> Result<T, CliError> {
    let value = value.unwrap_or(default);
    if value < min || value > max {
        return Err(CliError::new(format!(
            "{flag} must be between {min} and {max}"
        )));
    }
    Ok(value)
}

/// A flag's value that must be text, such as an address.
fn text_value(flag: &str, value: &OsString) -> Result<String, CliError> {
    value
        .to_str()
        .map(str::to_string)
        .ok_or_else(|| CliError::new(format!("{flag} must be text")))
}

/// The server a tool talks to: `--tcp` or `--unix`, else the default.
fn endpoint(tcp: Option<String>, unix: Option<PathBuf>) -> Result<Endpoint, CliError> {
    match (tcp, unix) {
        (Some(_), Some(_)) => Err(CliError::new("give --tcp or --unix, not both".to_string())),
        (Some(addr), None) => Ok(Endpoint::Tcp(addr)),
        (None, Some(path)) => Ok(Endpoint::Unix(path)),
        (None, None) => Ok(Endpoint::Tcp(DEFAULT_TCP.to_string())),
    }
}

/// A password's plain text: the first line of `--password-file`, else
/// `BLINK_PASSWORD` when set and not empty, else none. The server hashes
/// it; the tools send it.
fn password_text(file: Option<PathBuf>) -> Result<Option<Secret>, CliError> {
    if let Some(path) = file {
        return Secret::from_file(&path).map(Some).map_err(|e| {
            CliError::new(format!(
                "cannot read --password-file {}: {e}",
                path.display()
            ))
        });
    }
    Ok(std::env::var_os(PASSWORD_ENV)
        .filter(|plain| !plain.is_empty())
        .map(|plain| Secret::new(plain.into_vec())))
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
    match s.to_ascii_lowercase().as_str() {
        "text" => Ok(Proto::Text),
        "resp" => Ok(Proto::Resp),
        "memcache" => Ok(Proto::Memcache),
        _ => Err(format!("'{s}' is not a protocol (text, resp or memcache)")),
    }
}

/// The server's password (see [`password_text`]), hashed; the plain text
/// is overwritten and `BLINK_PASSWORD` removed from the environment.
fn read_password(file: Option<PathBuf>) -> Result<Option<Password>, CliError> {
    let text = password_text(file)?;
    std::env::remove_var(PASSWORD_ENV);
    Ok(text.map(|text| Password::new(text.bytes())))
}

/// Refuses a zero duration for `flag`.
fn positive(flag: &str, value: Option<Duration>) -> Result<Option<Duration>, CliError> {
    match value {
        Some(d) if d.is_zero() => Err(CliError::new(format!("{flag} must be greater than 0"))),
        other => Ok(other),
    }
}

/// Parses seconds, whole or fractional: `300`, `0.5`.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("'{s}' is not a number of seconds"))
}

/// Parses an octal permission mode: `0700`, `660`.
fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim(), 8)
        .ok()
        .filter(|&mode| mode <= 0o7777)
        .ok_or_else(|| format!("'{s}' is not an octal permission mode such as 0700"))
}

/// Parses a byte size: `1048576`, `512kb`, `64mb`, `1GiB`, `10m`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let multiplier: u64 = match unit.trim_start() {
        "" | "b" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "kb" | "kib" => 1 << 10,
        "mb" | "mib" => 1 << 20,
        "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "'{s}' is not a size (try 1048576, 512kb, 64mb, 1gb)"
            ))
        }
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a size (try 1048576, 512kb, 64mb, 1gb)"))?;
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("'{s}' is too large"))
}

fn parse_level(s: &str) -> Result<LevelFilter, String> {
    match s.to_ascii_lowercase().as_str() {
        "error" => Ok(LevelFilter::Error),
        "warn" => Ok(LevelFilter::Warn),
        "info" => Ok(LevelFilter::Info),
        "debug" => Ok(LevelFilter::Debug),
        "trace" => Ok(LevelFilter::Trace),
        _ => Err(format!(
            "'{s}' is not a log level (error, warn, info, debug or trace)"
        )),
    }
}

fn top_help() -> String {
    format!(
        "blink-store {version}: a local in-memory key-value cache

Usage:
  blink-store serve [FLAGS]   run the server
  blink-store cli [FLAGS] [COMMAND ARGS...]
                              send one command and print its reply, or,
                              without a command, start a prompt
  blink-store bench [FLAGS]   load a server and measure throughput and latency
  blink-store --help          print this help
  blink-store --version       print the version

'blink-store cli --help' and 'blink-store bench --help' describe the tools.

{serve}",
        version = env!("CARGO_PKG_VERSION"),
        serve = serve_help(),
    )
}

fn serve_help() -> String {
    format!(
        "Usage: blink-store serve [FLAGS]

Runs the server. With no flags it listens on TCP {DEFAULT_TCP}.

Flags:
  --tcp ADDR               listen on TCP host:port; repeatable
                           (default {DEFAULT_TCP} when neither --tcp nor --unix is given)
  --unix PATH              listen on a Unix socket; repeatable; a stale socket
                           file is replaced, a live server's is refused
  --memory-limit SIZE      most key+value bytes held, then evict (default 64mb)
  --threads N              worker threads = connections served at once (default {DEFAULT_THREADS})
  --max-value-size SIZE    longest value accepted (default {max_value}, at most 512mb)
  --eviction-samples K     entries sampled per eviction (default {DEFAULT_SAMPLES}, 1 to {MAX_EVICTION_SAMPLES})
  --log-level LEVEL        error, warn, info, debug or trace (default info,
                           or RUST_LOG when this flag is absent)
  --password-file PATH     require the password on the file's first line
                           (or set BLINK_PASSWORD; there is no password flag,
                           since other users can read command lines)
  --allow-unauthenticated  serve a non-loopback address without a password
  --timeout SECONDS        close connections idle this long; 0 = never (default {idle})
  --request-timeout SECONDS
                           a request must arrive whole within this time of its
                           first byte (default {request})
  --write-timeout SECONDS  cut off a client that reads no reply for this long
                           (default {write})
  --unix-perm MODE         permissions of Unix socket files, octal (default 0700)
  -h, --help               print this help
  -V, --version            print the version

SIZE is bytes (1048576) or a number with a suffix: k, m, g (powers of 1000),
kb, mb, gb or kib, mib, gib (powers of 1024), in any case.
Keys are at most {MAX_KEY_LEN} bytes.

Examples:
  blink-store serve
  blink-store serve --tcp 127.0.0.1:8765 --unix /tmp/blink.sock --memory-limit 1gb
  blink-store serve --tcp 0.0.0.0:8765 --password-file /etc/blink-store/password
",
        max_value = size_text(DEFAULT_MAX_VALUE_SIZE as u64),
        idle = DEFAULT_IDLE_TIMEOUT.as_secs(),
        request = DEFAULT_REQUEST_TIMEOUT.as_secs(),
        write = DEFAULT_WRITE_TIMEOUT.as_secs(),
    )
}

fn cli_help() -> String {
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
        max_stdin = size_text(cli::MAX_STDIN as u64),
    )
}

fn bench_help() -> String {
    format!(
        "Usage: blink-store bench [FLAGS]

Loads a server with GET and SET requests from many connections at once and
reports throughput and latency, like redis-benchmark. Each client is a
thread with its own connection; it sends --pipeline requests in one write
and waits for all their replies. Latency runs from a batch's write to the
read of each reply.

Flags:
  --tcp ADDR              the server's TCP host:port (default {DEFAULT_TCP})
  --unix PATH             the server's Unix socket, instead of TCP
  --password-file PATH    authenticate with the file's first line
                          (default: BLINK_PASSWORD when set, else no AUTH)
  --clients N             connections, one thread each (default {DEFAULT_CLIENTS}, at most {MAX_CLIENTS})
  --requests N            requests in all clients together (default {DEFAULT_REQUESTS})
  --duration SECONDS      run this long instead of a number of requests
  --pipeline P            requests per write (default {DEFAULT_PIPELINE}, at most {MAX_PIPELINE})
  --data-size SIZE        bytes per SET value, printable ASCII (default {DEFAULT_DATA_SIZE})
  --keyspace N            distinct keys, chosen at random: key:000000000000,
                          key:000000000001 ... (default {DEFAULT_KEYSPACE})
  --ratio GET:SET         share of GETs to SETs (default 1:1; 9:1 reads mostly)
  --proto text|resp|memcache
                          the protocol spoken (default resp); memcache is
                          memcached's text protocol (get, set), to load
                          memcached the same way for comparison
  --prefill               SET every key once before measuring (default off)
  --json                  print the report as one JSON object on stdout
  -h, --help              print this help

While running, a progress line goes to stderr every second. The report
gives requests, error replies (counted, not fatal), seconds, ops/s and
latency percentiles p50, p99, p99.9 and max in microseconds. With --json:
  {{\"proto\":\"resp\",\"clients\":50,\"pipeline\":1,\"requests\":100000,\"errors\":0,
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

/// `1048576` → `1mb`, for help text.
fn size_text(bytes: u64) -> String {
    if bytes % (1 << 20) == 0 {
        format!("{}mb", bytes >> 20)
    } else {
        bytes.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn sizes_accept_plain_bytes_and_suffixes() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("64mb"), Ok(64 << 20));
        assert_eq!(parse_size("1GB"), Ok(1 << 30));
        assert_eq!(parse_size("512kb"), Ok(512 << 10));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert_eq!(parse_size("10k"), Ok(10_000));
        assert!(parse_size("mb").is_err());
        assert!(parse_size("-5").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999gb").is_err());
        assert!(parse_size("18446744073709551615gb").is_err());
    }

    #[test]
    fn no_flags_serve_the_default_address() {
        let Ok(Action::Serve(config)) = parse(args("serve")) else {
            panic!("serve did not parse");
        };
        assert_eq!(config, Config::default());
    }

    #[test]
    fn a_unix_socket_alone_replaces_the_default_tcp() {
        let Ok(Action::Serve(config)) = parse(args("serve --unix /tmp/b.sock")) else {
            panic!("serve did not parse");
        };
        assert!(config.tcp.is_empty());
        assert_eq!(config.unix, vec![PathBuf::from("/tmp/b.sock")]);
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(parse(args("serve --memory-limit 0")).is_err());
        assert!(parse(args("serve --threads 0")).is_err());
        assert!(parse(args("serve --log-level loud")).is_err());
        assert!(parse(args("serve --bogus")).is_err());
        assert!(parse(args("launch")).is_err());
        assert!(parse(args("serve --password hunter2")).is_err());
        assert!(parse(args("serve --unix-perm 999")).is_err());
        assert!(parse(args("serve --timeout soon")).is_err());
        assert!(parse(args("serve --request-timeout 0")).is_err());
    }

    #[test]
    fn timeouts_and_modes_parse() {
        let Ok(Action::Serve(config)) = parse(args(
            "serve --timeout 0 --request-timeout 0.5 --unix-perm 0660",
        )) else {
            panic!("serve did not parse");
        };
        assert_eq!(config.idle_timeout, None);
        assert_eq!(config.request_timeout, Duration::from_millis(500));
        assert_eq!(config.unix_perm, 0o660);
    }
}
