//! The command line: raw arguments become an [`Action`]: a validated
//! [`Config`] to serve, or a tool to run with the options its own module
//! parses ([`crate::tools::cli::parse_args`],
//! [`crate::tools::bench::parse_args`]).
//!
//! Parsing only; nothing here opens a socket or starts logging. An unknown
//! flag or command is a [`UsageError`]: one line on stderr, exit status 2.

use std::ffi::OsString;
use std::path::PathBuf;

use log::LevelFilter;

use crate::auth::{password_text, Password, PASSWORD_ENV};
use crate::config::{
    AofConfig, Config, Fsync, Prefetch, DEFAULT_DATABASES, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_REQUEST_SIZE, DEFAULT_MAX_VALUE_SIZE, DEFAULT_REQUEST_TIMEOUT, DEFAULT_TCP,
    DEFAULT_THREADS, DEFAULT_TRACKING_TABLE_MAX_KEYS, DEFAULT_WRITE_TIMEOUT, MAX_DATABASES,
    MAX_EVICTION_SAMPLES, MAX_MAX_VALUE_SIZE, MAX_THREADS,
};
use crate::flags::{
    no_more, opt_number, opt_value, parse_choice, parse_seconds, parse_size, positive, size_text,
    UsageError,
};
use crate::protocol::Limits;
use crate::store::{DEFAULT_SAMPLES, MAX_KEY_LEN};
use crate::tools::{bench, cli};

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Serve(Config),
    /// `blink-store cli`: send commands to a server.
    Cli(cli::Options),
    /// `blink-store bench`: load a server and measure it.
    Bench(bench::Options),
    /// `blink-store aof-check PATH [--fix]`: check an append-only file,
    /// cutting a torn final record when `fix`.
    AofCheck {
        path: PathBuf,
        fix: bool,
    },
    /// Print this text to stdout and exit successfully.
    Help(String),
    /// Print this text to stderr and exit with status 2: the program was
    /// run without a command.
    Usage(String),
    Version,
}

/// Parses the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<Action, UsageError> {
    let Some((first, rest)) = args.split_first() else {
        return Ok(Action::Usage(top_help()));
    };
    let help = |rest: &[OsString]| rest.iter().any(|a| a == "-h" || a == "--help");
    let version = |rest: &[OsString]| rest.iter().any(|a| a == "-V" || a == "--version");
    match first.to_string_lossy().as_ref() {
        // The words of a `cli` command are sent as they are: none of them
        // may be taken for a flag of this program, not even `--help`.
        "cli" => Ok(cli::parse_args(rest)
            .map_err(|e| e.about("cli"))?
            .map_or_else(|| Action::Help(cli::help()), Action::Cli)),
        "serve" if help(rest) => Ok(Action::Help(serve_help())),
        "bench" if help(rest) => Ok(Action::Help(bench::help())),
        "serve" | "bench" if version(rest) => Ok(Action::Version),
        "serve" => parse_serve(pico_args::Arguments::from_vec(rest.to_vec()))
            .map(Action::Serve)
            .map_err(|e| e.about("serve")),
        "bench" => bench::parse_args(pico_args::Arguments::from_vec(rest.to_vec()))
            .map(Action::Bench)
            .map_err(|e| e.about("bench")),
        "aof-check" if help(rest) => Ok(Action::Help(aof_check_help())),
        "aof-check" => parse_aof_check(pico_args::Arguments::from_vec(rest.to_vec()))
            .map_err(|e| e.about("aof-check")),
        "help" | "-h" | "--help" => Ok(Action::Help(top_help())),
        "-V" | "--version" => Ok(Action::Version),
        flag if flag.starts_with('-') => Err(UsageError::new(format!(
            "unknown flag '{flag}': flags follow a command, as in 'blink-store serve --tcp ADDR'"
        ))),
        other => Err(UsageError::new(format!("unknown command '{other}'"))),
    }
}

fn parse_serve(mut args: pico_args::Arguments) -> Result<Config, UsageError> {
    let defaults = Config::default();
    let tcp: Vec<String> = args.values_from_str("--tcp")?;
    let unix: Vec<PathBuf> = args.values_from_os_str("--unix", |s| {
        Ok::<_, std::convert::Infallible>(PathBuf::from(s))
    })?;
    let memory_limit =
        opt_value(&mut args, "--memory-limit", parse_size)?.unwrap_or(defaults.memory_limit);
    if memory_limit == 0 {
        return Err(UsageError::new(
            "--memory-limit must be greater than 0 bytes",
        ));
    }
    let threads = opt_number(&mut args, "--threads")?.unwrap_or(defaults.threads);
    if !(1..=MAX_THREADS).contains(&threads) {
        return Err(UsageError::new(format!(
            "--threads must be between 1 and {MAX_THREADS}"
        )));
    }
    let max_value_size = opt_value(&mut args, "--max-value-size", parse_size)?
        .map_or(defaults.max_value_size as u64, |v| v);
    if !(1..=MAX_MAX_VALUE_SIZE as u64).contains(&max_value_size) {
        return Err(UsageError::new(format!(
            "--max-value-size must be between 1 byte and {MAX_MAX_VALUE_SIZE} bytes (512mb)"
        )));
    }
    let max_request_size = match opt_value(&mut args, "--max-request-size", parse_size)? {
        None => DEFAULT_MAX_REQUEST_SIZE,
        Some(size) => {
            // Tests and callers may build a Config directly; here the
            // floor is checked out loud instead of raised in silence.
            let floor = Limits::new(max_value_size as usize, 0).max_line();
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if size < floor {
                return Err(UsageError::new(format!(
                    "--max-request-size must be at least {floor} bytes with this \
                     --max-value-size, so that a SET of the largest key and value fits"
                )));
            }
            size
        }
    };
    let eviction_samples =
        opt_number(&mut args, "--eviction-samples")?.unwrap_or(defaults.eviction_samples);
    if !(1..=MAX_EVICTION_SAMPLES).contains(&eviction_samples) {
        return Err(UsageError::new(format!(
            "--eviction-samples must be between 1 and {MAX_EVICTION_SAMPLES}"
        )));
    }
    let databases = opt_number(&mut args, "--databases")?.unwrap_or(defaults.databases);
    if !(1..=MAX_DATABASES).contains(&databases) {
        return Err(UsageError::new(format!(
            "--databases must be between 1 and {MAX_DATABASES}"
        )));
    }
    let tracking_table_max_keys = opt_number(&mut args, "--tracking-table-max-keys")?
        .unwrap_or(defaults.tracking_table_max_keys);
    let log_level = opt_value(&mut args, "--log-level", parse_level)?;
    let password_file: Option<PathBuf> = args.opt_value_from_os_str("--password-file", |s| {
        Ok::<_, std::convert::Infallible>(PathBuf::from(s))
    })?;
    let allow_unauthenticated = args.contains("--allow-unauthenticated");
    let idle_timeout = match opt_value(&mut args, "--timeout", parse_seconds)? {
        None => defaults.idle_timeout,
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
    };
    let request_timeout = positive(
        "--request-timeout",
        opt_value(&mut args, "--request-timeout", parse_seconds)?,
    )?
    .unwrap_or(defaults.request_timeout);
    let write_timeout = positive(
        "--write-timeout",
        opt_value(&mut args, "--write-timeout", parse_seconds)?,
    )?
    .unwrap_or(defaults.write_timeout);
    let unix_perm = opt_value(&mut args, "--unix-perm", parse_mode)?.unwrap_or(defaults.unix_perm);
    let aof_path: Option<PathBuf> = args.opt_value_from_os_str("--aof", |s| {
        Ok::<_, std::convert::Infallible>(PathBuf::from(s))
    })?;
    let fsync = opt_value(&mut args, "--appendfsync", parse_fsync)?;
    let load_truncated = opt_value(&mut args, "--aof-load-truncated", parse_yes_no)?;
    let rewrite_percentage: Option<u64> = opt_number(&mut args, "--auto-aof-rewrite-percentage")?;
    let rewrite_min_size = opt_value(&mut args, "--auto-aof-rewrite-min-size", parse_size)?;
    let prefetch = opt_value(&mut args, "--prefetch", parse_prefetch)?.unwrap_or(defaults.prefetch);
    no_more(&args.finish())?;
    let log_flags = [
        fsync.is_some(),
        load_truncated.is_some(),
        rewrite_percentage.is_some(),
        rewrite_min_size.is_some(),
    ];
    if aof_path.is_none() && log_flags.contains(&true) {
        return Err(UsageError::new(
            "--appendfsync, --aof-load-truncated and --auto-aof-rewrite-* need --aof PATH",
        ));
    }
    let aof = aof_path.map(|path| {
        let defaults = AofConfig::new(path);
        AofConfig {
            fsync: fsync.unwrap_or(defaults.fsync),
            load_truncated: load_truncated.unwrap_or(defaults.load_truncated),
            rewrite_percentage: rewrite_percentage.unwrap_or(defaults.rewrite_percentage),
            rewrite_min_size: rewrite_min_size.unwrap_or(defaults.rewrite_min_size),
            ..defaults
        }
    });
    if cfg!(not(unix)) && !unix.is_empty() {
        return Err(UsageError::new(crate::config::UNIX_UNSUPPORTED));
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
        max_request_size,
        eviction_samples,
        databases,
        tracking_table_max_keys,
        log_level,
        password: read_password(password_file)?,
        allow_unauthenticated,
        idle_timeout,
        request_timeout,
        write_timeout,
        auth_timeout: defaults.auth_timeout,
        unix_perm,
        aof,
        prefetch,
    })
}

fn parse_aof_check(mut args: pico_args::Arguments) -> Result<Action, UsageError> {
    let fix = args.contains("--fix");
    let mut rest = args.finish();
    if rest.is_empty() {
        return Err(UsageError::new("aof-check needs the PATH of a log"));
    }
    let path = PathBuf::from(rest.remove(0));
    no_more(&rest)?;
    Ok(Action::AofCheck { path, fix })
}

fn parse_fsync(s: &str) -> Result<Fsync, String> {
    parse_choice(
        s,
        &[
            ("always", Fsync::Always),
            ("everysec", Fsync::EverySec),
            ("no", Fsync::No),
        ],
    )
}

fn parse_prefetch(s: &str) -> Result<Prefetch, String> {
    parse_choice(
        s,
        &[
            ("auto", Prefetch::Auto),
            ("yes", Prefetch::Yes),
            ("no", Prefetch::No),
        ],
    )
}

fn parse_yes_no(s: &str) -> Result<bool, String> {
    parse_choice(s, &[("yes", true), ("no", false)])
}

fn aof_check_help() -> String {
    "Usage: blink-store aof-check PATH [--fix]

Reads an append-only file (written by 'blink-store serve --aof PATH') and
reports whether every record is whole. Exit status 0 when it is (or when
--fix cut a torn final record), 1 when something is wrong, 2 when the file
cannot be read or the command line is wrong.

Flags:
  --fix        cut a torn final record (what a crash mid-write leaves);
               a bad record before the end is reported, never cut
  -h, --help   print this help
"
    .to_string()
}

/// The server's password (see [`password_text`]), hashed; the plain text
/// is overwritten and `BLINK_PASSWORD` removed from the environment, so no
/// child process could inherit it.
fn read_password(file: Option<PathBuf>) -> Result<Option<Password>, UsageError> {
    let text = password_text(file.as_deref());
    std::env::remove_var(PASSWORD_ENV);
    Ok(text
        .map_err(UsageError::new)?
        .map(|text| Password::new(text.bytes())))
}

/// Parses octal permission bits: `0700`, `660`. Only the permission bits
/// (at most `0777`): setuid, setgid and sticky mean nothing on a socket.
fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim(), 8)
        .ok()
        .filter(|&mode| mode <= 0o777)
        .ok_or_else(|| format!("'{s}' is not octal permission bits from 0 to 0777, such as 0700"))
}

fn parse_level(s: &str) -> Result<LevelFilter, String> {
    parse_choice(
        s,
        &[
            ("error", LevelFilter::Error),
            ("warn", LevelFilter::Warn),
            ("info", LevelFilter::Info),
            ("debug", LevelFilter::Debug),
            ("trace", LevelFilter::Trace),
        ],
    )
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
  blink-store aof-check PATH [--fix]
                              check (and repair a torn end of) an append-only file
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
  --max-request-size SIZE  most argument bytes in one RESP request, such as an
                           MSET (default {max_request}, and never less than one
                           SET of the largest key and value)
  --eviction-samples K     entries sampled per eviction (default {DEFAULT_SAMPLES}, 1 to {MAX_EVICTION_SAMPLES})
  --databases N            numbered databases, SELECT 0 to N-1 (default {DEFAULT_DATABASES},
                           at most {MAX_DATABASES})
  --tracking-table-max-keys N
                           most keys client-side caching remembers readers of;
                           past it the oldest are invalidated early (default
                           {DEFAULT_TRACKING_TABLE_MAX_KEYS}; 0 = no limit)
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
  --unix-perm MODE         permissions of Unix socket files, octal, 0 to 0777
                           (default 0700)
  --aof PATH               durable: log every change to this append-only file
                           (Redis's format) and replay it at start-up
  --appendfsync POLICY     with --aof: always (sync before each reply),
                           everysec (default: sync about once a second) or no
  --aof-load-truncated yes|no
                           with --aof: start after cutting a torn final record
                           (default yes), or refuse to start
  --auto-aof-rewrite-percentage N
                           with --aof: compact the log when it has grown by N
                           percent since the last compaction (default 100;
                           0 = never) ...
  --auto-aof-rewrite-min-size SIZE
                           ... and is larger than SIZE (default 64mib)
  --prefetch auto|yes|no   bring the entries a pipelined batch names into
                           cache before running it (default auto: only when
                           the server may use one CPU, where it pays)
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
        max_request = size_text(DEFAULT_MAX_REQUEST_SIZE as u64),
        idle = DEFAULT_IDLE_TIMEOUT.as_secs(),
        request = DEFAULT_REQUEST_TIMEOUT.as_secs(),
        write = DEFAULT_WRITE_TIMEOUT.as_secs(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn args(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
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
        assert!(parse(args("serve --unix-perm 1777")).is_err());
        assert!(parse(args("--bogus")).is_err());
        assert!(parse(args("--tcp 127.0.0.1:1")).is_err());
        assert!(parse(args("serve --max-value-size 1000 --max-request-size 1000")).is_err());
        assert!(parse(args("serve --timeout soon")).is_err());
        assert!(parse(args("serve --request-timeout 0")).is_err());
    }

    #[test]
    fn prefetch_is_auto_unless_asked() {
        for (flag, expected) in [
            ("", Prefetch::Auto),
            ("--prefetch yes", Prefetch::Yes),
            ("--prefetch NO", Prefetch::No),
            ("--prefetch auto", Prefetch::Auto),
        ] {
            let Ok(Action::Serve(config)) = parse(args(&format!("serve {flag}"))) else {
                panic!("serve {flag} did not parse");
            };
            assert_eq!(config.prefetch, expected, "{flag}");
        }
        let Err(e) = parse(args("serve --prefetch sometimes")) else {
            panic!("--prefetch sometimes parsed");
        };
        assert!(
            e.to_string().contains("'sometimes' is not auto, yes or no"),
            "{e}"
        );
    }

    #[test]
    fn aof_flags_parse_with_redis_defaults() {
        let Ok(Action::Serve(config)) = parse(args("serve --aof /tmp/a.aof")) else {
            panic!("serve did not parse");
        };
        let aof = config.aof.expect("an aof config");
        assert_eq!(aof.fsync, Fsync::EverySec);
        assert!(aof.load_truncated);
        let Ok(Action::Serve(config)) = parse(args(
            "serve --aof a --appendfsync always --aof-load-truncated no",
        )) else {
            panic!("serve did not parse");
        };
        let aof = config.aof.expect("an aof config");
        assert_eq!(aof.fsync, Fsync::Always);
        assert!(!aof.load_truncated);
        assert!(parse(args("serve --appendfsync always")).is_err());
        assert!(parse(args("serve --aof a --appendfsync sometimes")).is_err());
        assert!(parse(args("serve --aof a --aof-load-truncated maybe")).is_err());
        assert_eq!(
            parse(args("aof-check log --fix")),
            Ok(Action::AofCheck {
                path: PathBuf::from("log"),
                fix: true
            })
        );
        assert!(parse(args("aof-check")).is_err());
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
