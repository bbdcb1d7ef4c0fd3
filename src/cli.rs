//! The command line: raw arguments become a validated [`Config`].
//!
//! Parsing only; nothing here opens a socket or starts logging. Sizes accept
//! a plain byte count or a suffix, the way Redis reads `maxmemory`:
//! `k`/`m`/`g` are powers of 1000, `kb`/`mb`/`gb` and `kib`/`mib`/`gib` are
//! powers of 1024, in any case.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use crate::auth::{wipe, Password};
use crate::config::{
    Config, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_VALUE_SIZE, DEFAULT_REQUEST_TIMEOUT, DEFAULT_TCP,
    DEFAULT_THREADS, DEFAULT_WRITE_TIMEOUT, MAX_EVICTION_SAMPLES, MAX_MAX_VALUE_SIZE, MAX_THREADS,
};
use crate::store::{DEFAULT_SAMPLES, MAX_KEY_LEN};

/// Environment variable that may hold the password.
pub const PASSWORD_ENV: &str = "BLINK_PASSWORD";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Serve(Config),
    /// Print this text to stdout and exit successfully.
    Help(String),
    Version,
}

/// A command line that cannot be obeyed; one line, for stderr.
#[derive(Debug, PartialEq, Eq)]
pub struct CliError(String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (see 'blink-store serve --help')", self.0)
    }
}

impl std::error::Error for CliError {}

impl From<pico_args::Error> for CliError {
    fn from(e: pico_args::Error) -> Self {
        CliError(e.to_string())
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<Action, CliError> {
    let mut args = pico_args::Arguments::from_vec(args);
    if args.contains(["-V", "--version"]) {
        return Ok(Action::Version);
    }
    let help = args.contains(["-h", "--help"]);
    let subcommand = args.subcommand()?;
    match subcommand.as_deref() {
        Some("serve") if help => Ok(Action::Help(serve_help())),
        Some("serve") => parse_serve(args).map(Action::Serve),
        Some("help") | None => Ok(Action::Help(top_help())),
        Some(other) => Err(CliError(format!("unknown command '{other}'"))),
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
        return Err(CliError(
            "--memory-limit must be greater than 0 bytes".to_string(),
        ));
    }
    let threads = args
        .opt_value_from_str("--threads")?
        .unwrap_or(defaults.threads);
    if !(1..=MAX_THREADS).contains(&threads) {
        return Err(CliError(format!(
            "--threads must be between 1 and {MAX_THREADS}"
        )));
    }
    let max_value_size = args
        .opt_value_from_fn("--max-value-size", parse_size)?
        .map_or(defaults.max_value_size as u64, |v| v);
    if !(1..=MAX_MAX_VALUE_SIZE as u64).contains(&max_value_size) {
        return Err(CliError(format!(
            "--max-value-size must be between 1 byte and {MAX_MAX_VALUE_SIZE} bytes (512mb)"
        )));
    }
    let eviction_samples = args
        .opt_value_from_str("--eviction-samples")?
        .unwrap_or(defaults.eviction_samples);
    if !(1..=MAX_EVICTION_SAMPLES).contains(&eviction_samples) {
        return Err(CliError(format!(
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
        return Err(CliError(format!(
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

/// The password from `--password-file`, else from `BLINK_PASSWORD`, which
/// is then removed from the environment. The plain text is overwritten.
fn read_password(file: Option<PathBuf>) -> Result<Option<Password>, CliError> {
    if let Some(path) = file {
        return Password::from_file(&path).map(Some).map_err(|e| {
            CliError(format!(
                "cannot read --password-file {}: {e}",
                path.display()
            ))
        });
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(plain) if !plain.is_empty() => {
            let password = Password::new(&plain);
            wipe(plain);
            std::env::remove_var(PASSWORD_ENV);
            Ok(Some(password))
        }
        _ => Ok(None),
    }
}

/// Refuses a zero duration for `flag`.
fn positive(flag: &str, value: Option<Duration>) -> Result<Option<Duration>, CliError> {
    match value {
        Some(d) if d.is_zero() => Err(CliError(format!("{flag} must be greater than 0"))),
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
  blink-store --help          print this help
  blink-store --version       print the version

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
