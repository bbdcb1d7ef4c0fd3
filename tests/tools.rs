//! The client tools of the binary against a server in this process:
//! `blink-store cli` (one command for scripts, and the prompt over piped
//! stdin) and `blink-store bench` (its JSON report, both protocols, the
//! keys it leaves behind), with exact stdout and exit statuses.

mod common;

use std::net::{SocketAddr, TcpListener};

use blink_store::auth::Password;
use blink_store::config::Config;
use common::binary::{bench, run, run_fed, Finished, TempFile};
use common::{config, field, same, start, start_unix, Client};

/// Runs `blink-store cli --tcp ADDR` with `args` and `input` on stdin.
#[track_caller]
fn cli(addr: SocketAddr, args: &[&str], input: &[u8]) -> Finished {
    cli_with_env(addr, args, &[], input)
}

#[track_caller]
fn cli_with_env(addr: SocketAddr, args: &[&str], env: &[(&str, &str)], input: &[u8]) -> Finished {
    let addr = addr.to_string();
    let mut all = vec!["cli", "--tcp", &addr];
    all.extend_from_slice(args);
    run_fed(&all, env, input)
}

/// Asserts how a run ended: exit status, exact stdout, exact stderr.
#[track_caller]
fn assert_ran(finished: &Finished, status: i32, stdout: &[u8], stderr: &[u8]) {
    same(&finished.stdout, stdout, "stdout");
    same(&finished.stderr, stderr, "stderr");
    assert_eq!(finished.status.code(), Some(status), "exit status");
}

/// A TCP address on which nothing listens.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A server that requires the password `pw`.
fn with_password() -> Config {
    Config {
        password: Some(Password::new("pw")),
        ..config()
    }
}

/// The number a text-protocol `DBSIZE` answers.
fn dbsize(addr: SocketAddr) -> u64 {
    let line = Client::tcp(addr).ask(b"DBSIZE\n");
    let text = String::from_utf8_lossy(&line);
    text.strip_prefix("DBSIZE ")
        .and_then(|n| n.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("DBSIZE answered {text:?}"))
}

/// SET prints `OK`, GET prints the value itself, without quotes or base64.
#[test]
fn set_prints_ok_and_get_prints_the_raw_value() {
    let addr = start(config());
    let set = cli(addr, &["SET", "greeting", "hello world"], b"");
    assert_ran(&set, 0, b"OK\n", b"");
    let get = cli(addr, &["GET", "greeting"], b"");
    assert_ran(&get, 0, b"hello world\n", b"");
}

/// A missing key prints nothing and exits 1, for `if` in a script.
#[test]
fn get_of_a_missing_key_prints_nothing_and_exits_1() {
    let addr = start(config());
    assert_ran(&cli(addr, &["GET", "nothing"], b""), 1, b"", b"");
}

/// An error reply goes to stderr, as the server wrote it, with status 2.
#[test]
fn an_error_reply_goes_to_stderr_with_status_2() {
    let addr = start(config());
    let finished = cli(addr, &["FROBNICATE", "x"], b"");
    assert_ran(
        &finished,
        2,
        b"",
        b"ERR unknown command 'FROBNICATE', with args beginning with: 'x' \n",
    );
}

/// An integer reply prints its digits.
#[test]
fn incr_prints_the_number() {
    let addr = start(config());
    assert_ran(&cli(addr, &["INCR", "n"], b""), 0, b"1\n", b"");
    assert_ran(&cli(addr, &["INCRBY", "n", "-5"], b""), 0, b"-4\n", b"");
}

/// An array prints one element per line, a null element as an empty line.
#[test]
fn an_array_prints_one_element_per_line() {
    let addr = start(config());
    cli(addr, &["SET", "a", "1"], b"");
    cli(addr, &["SET", "c", "3"], b"");
    let finished = cli(addr, &["MGET", "a", "b", "c"], b"");
    assert_ran(&finished, 0, b"1\n\n3\n", b"");
}

/// `SET k -` takes the value from stdin, every byte of it, and GET gives
/// back exactly those bytes and a newline.
#[test]
fn a_value_from_stdin_round_trips_byte_for_byte() {
    let addr = start(config());
    let value = b"a\0b\r\nc d\n\xff";
    assert_ran(&cli(addr, &["SET", "blob", "-"], value), 0, b"OK\n", b"");
    let mut expected = value.to_vec();
    expected.push(b'\n');
    assert_ran(&cli(addr, &["GET", "blob"], b""), 0, &expected, b"");
    assert_ran(&cli(addr, &["STRLEN", "blob"], b""), 0, b"10\n", b"");
}

/// Stdin larger than a value may be is refused before anything is sent.
#[test]
fn a_value_from_stdin_is_bounded() {
    let addr = start(config());
    let huge = vec![b'x'; (1 << 20) + 1];
    let finished = cli(addr, &["SET", "big", "-"], &huge);
    assert_ran(
        &finished,
        2,
        b"",
        b"blink-store cli: stdin holds more than 1048576 bytes, the largest value sent\n",
    );
    assert_ran(&cli(addr, &["EXISTS", "big"], b""), 0, b"0\n", b"");
}

/// With `--password-file` the tool authenticates first; without it the
/// server's NOAUTH error comes back with status 2.
#[test]
fn a_password_file_authenticates() {
    let addr = start(with_password());
    let file = TempFile::with(b"pw\n");
    let set = cli(addr, &["--password-file", file.arg(), "SET", "k", "v"], b"");
    assert_ran(&set, 0, b"OK\n", b"");
    let get = cli_with_env(addr, &["GET", "k"], &[("BLINK_PASSWORD", "pw")], b"");
    assert_ran(&get, 0, b"v\n", b"");
    let refused = cli(addr, &["GET", "k"], b"");
    assert_ran(&refused, 2, b"", b"NOAUTH Authentication required.\n");
}

/// A wrong password stops the tool before the command is sent.
#[test]
fn a_wrong_password_is_an_error() {
    let addr = start(with_password());
    let file = TempFile::with(b"wrong\n");
    let finished = cli(addr, &["--password-file", file.arg(), "SET", "k", "v"], b"");
    assert_ran(
        &finished,
        2,
        b"",
        b"blink-store cli: authentication failed: \
          WRONGPASS invalid username-password pair or user is disabled.\n",
    );
}

/// No server: one clear line on stderr, status 2.
#[test]
fn no_server_is_one_line_and_status_2() {
    let finished = cli(closed_port(), &["PING"], b"");
    assert_eq!(finished.status.code(), Some(2));
    same(&finished.stdout, b"", "stdout");
    let stderr = finished.stderr();
    assert!(
        stderr.starts_with("blink-store cli: cannot connect to 127.0.0.1:")
            && stderr.lines().count() == 1,
        "stderr: {stderr}"
    );
}

/// `--unix` reaches a server on a Unix socket.
#[test]
fn cli_talks_over_a_unix_socket() {
    let path = start_unix(config());
    let finished = run(&["cli", "--unix", path.to_str().unwrap(), "PING"]);
    assert_ran(&finished, 0, b"PONG\n", b"");
}

/// A scripted prompt session over piped stdin: no prompt text, replies as
/// redis-cli shows them, and `exit` leaves before the rest is read.
#[test]
fn a_piped_prompt_session_prints_replies_only() {
    let addr = start(config());
    let session = b"SET greeting \"hello world\"\n\
        GET greeting\n\
        \n\
        GET missing\n\
        INCR n\n\
        GET\n\
        SET bin \"a\\x00\\\"b\\\"\\n\"\n\
        GET bin\n\
        MGET greeting missing\n\
        KEYS nomatch*\n\
        SET open \"quote\n\
        exit\n\
        SET after exit\n";
    let finished = cli(addr, &[], session);
    let expected = format!(
        "Connected to {addr}\n\
         OK\n\
         \"hello world\"\n\
         (nil)\n\
         (integer) 1\n\
         (error) ERR wrong number of arguments for 'get' command\n\
         OK\n\
         \"a\\x00\\\"b\\\"\\n\"\n\
         1) \"hello world\"\n\
         2) (nil)\n\
         (empty array)\n\
         (error) unbalanced quotes\n"
    );
    assert_ran(&finished, 0, expected.as_bytes(), b"");
    assert_ran(&cli(addr, &["EXISTS", "after"], b""), 0, b"0\n", b"");
}

/// The end of input ends the prompt as `exit` does.
#[test]
fn the_prompt_ends_at_the_end_of_input() {
    let addr = start(config());
    let finished = cli(addr, &[], b"PING\nECHO last");
    let expected = format!("Connected to {addr}\nPONG\n\"last\"\n");
    assert_ran(&finished, 0, expected.as_bytes(), b"");
}

/// A RESP run answers every request without an error and leaves keys.
#[test]
fn bench_over_resp_reports_json_and_leaves_keys() {
    let addr = start(config());
    let args = ["--clients", "4", "--requests", "2000", "--pipeline", "8"];
    let json = bench(addr, &args);
    assert!(
        json.starts_with("{\"proto\":\"resp\",\"clients\":4,\"threads\":4,\"pipeline\":8,"),
        "{json}"
    );
    assert_eq!(field(&json, "requests"), "2000", "{json}");
    assert_eq!(field(&json, "errors"), "0", "{json}");
    for name in [
        "seconds",
        "ops_per_sec",
        "p50_us",
        "p99_us",
        "p999_us",
        "max_us",
    ] {
        let value: f64 = field(&json, name).parse().unwrap();
        assert!(value > 0.0, "{name} in {json}");
    }
    assert!(dbsize(addr) > 0);
}

/// The same over the text protocol.
#[test]
fn bench_over_text_reports_json_and_leaves_keys() {
    let addr = start(config());
    let args = [
        "--clients",
        "4",
        "--requests",
        "2000",
        "--pipeline",
        "8",
        "--proto",
        "text",
    ];
    let json = bench(addr, &args);
    assert!(json.starts_with("{\"proto\":\"text\","), "{json}");
    assert_eq!(field(&json, "requests"), "2000", "{json}");
    assert_eq!(field(&json, "errors"), "0", "{json}");
    assert!(dbsize(addr) > 0);
}

/// `--prefill` SETs every key of the keyspace once, so a GET-only run
/// leaves exactly the keyspace behind.
#[test]
fn prefill_sets_every_key_once() {
    let addr = start(config());
    let args = [
        "--clients",
        "3",
        "--requests",
        "300",
        "--keyspace",
        "1000",
        "--ratio",
        "1:0",
        "--prefill",
        "--proto",
        "text",
    ];
    let json = bench(addr, &args);
    assert_eq!(field(&json, "errors"), "0", "{json}");
    assert_eq!(dbsize(addr), 1000);
    let get = cli(addr, &["STRLEN", "key:000000000999"], b"");
    assert_ran(&get, 0, b"32\n", b"");
}

/// Error replies are counted, not fatal: values over the server's limit.
#[test]
fn bench_counts_error_replies() {
    let addr = start(Config {
        max_value_size: 16,
        ..config()
    });
    let args = ["--clients", "2", "--requests", "100", "--ratio", "0:1"];
    let json = bench(addr, &args);
    assert_eq!(field(&json, "requests"), "100", "{json}");
    assert_eq!(field(&json, "errors"), "100", "{json}");
}

/// `--duration` runs for a time instead of a count.
#[test]
fn bench_runs_for_a_duration() {
    let addr = start(config());
    let json = bench(addr, &["--clients", "2", "--duration", "0.3"]);
    let requests: u64 = field(&json, "requests").parse().unwrap();
    let seconds: f64 = field(&json, "seconds").parse().unwrap();
    assert!(requests > 0, "{json}");
    assert!((0.29..2.0).contains(&seconds), "{json}");
}

/// The benchmark authenticates with `--password-file`, and a wrong
/// password stops it before it measures.
#[test]
fn bench_authenticates() {
    let addr = start(with_password());
    let right = TempFile::with(b"pw\n");
    let json = bench(
        addr,
        &[
            "--clients",
            "2",
            "--requests",
            "100",
            "--password-file",
            right.arg(),
        ],
    );
    assert_eq!(field(&json, "errors"), "0", "{json}");
    // A failed AUTH holds its worker for the login delay, so the clients
    // stay within the test server's pool: otherwise the first error back
    // is a refusal, not the wrong password.
    let wrong = TempFile::with(b"nope\n");
    let addr = addr.to_string();
    let args = [
        "bench",
        "--tcp",
        &addr,
        "--clients",
        "2",
        "--proto",
        "text",
        "--password-file",
        wrong.arg(),
    ];
    let finished = run(&args);
    assert_eq!(finished.status.code(), Some(2));
    same(
        &finished.stderr,
        b"blink-store bench: authentication failed: ERROR WRONGPASS invalid password\n",
        "stderr",
    );
}

/// More clients than the server has workers: the refusal is the error.
/// The server words it in RESP when the client's first request arrived
/// before the refusal, and as a text line otherwise; either is reported.
#[test]
fn bench_reports_a_refused_connection() {
    let addr = start(config()).to_string();
    let clients = (common::TEST_THREADS + 2).to_string();
    let finished = run(&["bench", "--tcp", &addr, "--clients", &clients]);
    assert_eq!(finished.status.code(), Some(2));
    let resp: &[u8] =
        b"blink-store bench: unexpected reply from the server: ERR max number of clients reached\n";
    let text: &[u8] =
        b"blink-store bench: unexpected reply from the server: ERROR max number of clients reached\n";
    assert!(
        finished.stderr == resp || finished.stderr == text,
        "stderr: {}",
        String::from_utf8_lossy(&finished.stderr)
    );
}

/// No server: a clear error and a non-zero status.
#[test]
fn bench_without_a_server_fails_clearly() {
    let addr = closed_port().to_string();
    let finished = run(&["bench", "--tcp", &addr, "--clients", "2"]);
    assert_eq!(finished.status.code(), Some(2));
    let stderr = finished.stderr();
    assert!(
        stderr.starts_with("blink-store bench: cannot connect to 127.0.0.1:"),
        "stderr: {stderr}"
    );
}

/// Each tool's help lists every flag; the top-level help names the tools.
#[test]
fn help_lists_every_tool_flag() {
    let cli_flags = ["--tcp", "--unix", "--password-file", "--help"];
    let bench_flags = [
        "--tcp",
        "--unix",
        "--password-file",
        "--clients",
        "--requests",
        "--duration",
        "--pipeline",
        "--data-size",
        "--keyspace",
        "--ratio",
        "--proto",
        "--prefill",
        "--json",
        "--null-server",
        "--threads",
        "--poll",
    ];
    for (tool, flags) in [("cli", &cli_flags[..]), ("bench", &bench_flags[..])] {
        let finished = run(&[tool, "--help"]);
        assert_eq!(finished.status.code(), Some(0));
        let help = finished.stdout();
        let missing: Vec<_> = flags.iter().filter(|f| !help.contains(*f)).collect();
        assert!(
            missing.is_empty(),
            "{tool} --help lacks {missing:?}:\n{help}"
        );
    }
    let top = run(&["--help"]).stdout();
    assert!(
        top.contains("blink-store cli") && top.contains("blink-store bench"),
        "{top}"
    );
}

/// Bad tool flags are refused with status 2 and a pointer to the help.
#[test]
fn bad_tool_flags_are_refused() {
    for args in [
        &["bench", "--clients", "0"][..],
        &["bench", "--ratio", "0:0"],
        &["bench", "--proto", "http"],
        &["bench", "--requests", "5", "--duration", "1"],
        &["bench", "--data-size", "10-2"],
        &["bench", "--null-server", "127.0.0.1:0", "--proto", "text"],
        &["bench", "--clients", "2", "--threads", "3"],
        &["bench", "--threads", "0"],
        &["bench", "--poll"],
        &["cli", "--tcp"],
        &["cli", "--tcp", "a:1", "--unix", "/tmp/x", "PING"],
        &["cli", "--bogus", "PING"],
    ] {
        let finished = run(args);
        assert_eq!(finished.status.code(), Some(2), "{args:?}");
        let tool = args[0];
        assert!(
            finished
                .stderr()
                .ends_with(&format!("(see 'blink-store {tool} --help')\n")),
            "{args:?}: {}",
            finished.stderr()
        );
    }
}
