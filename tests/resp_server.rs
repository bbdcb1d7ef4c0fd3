//! The connection and server commands over RESP at the wire: HELLO in
//! RESP2, AUTH and the password, SELECT, CLIENT, TIME, INFO, CONFIG GET and
//! COMMAND.
//!
//! Errors and replies are Redis 7's, taken from Redis given the same
//! requests, except where Blink-Store's content deliberately differs: HELLO
//! names the server `blink-store`, INFO and CONFIG GET report Blink-Store's
//! own figures, and COMMAND's tables may be minimal.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blink_store::auth::Password;
use blink_store::config::Config;
use common::resp::{check_hello, check_resp, cmd, req, Resp};
use common::{check, config, done, start, Client};

/// The password of the locked test servers.
const SECRET: &str = "pw";

/// Redis's reply to a command before AUTH when a password is set.
const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";

/// Redis's reply to a wrong password or an unknown user.
const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";

/// A server that requires [`SECRET`].
fn locked() -> SocketAddr {
    start(Config {
        password: Some(Password::new(SECRET)),
        ..config()
    })
}

/// INFO's text, from a RESP2 bulk string.
#[track_caller]
fn info(client: &mut Client<TcpStream>, words: &str) -> String {
    match client.call(words) {
        Resp::Bulk(text) => String::from_utf8(text).expect("INFO is UTF-8"),
        other => panic!("{words} answered {other:?}"),
    }
}

/// The value of `field:` in INFO's text, if present.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.split("\r\n")
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
}

/// HELLO and HELLO 2 answer the server map as a flat RESP2 array, with this connection's id.
#[test]
fn hello_2_answers_the_server_map_as_an_array() {
    let mut client = Client::tcp(start(config()));
    let id = check_hello(&client.call("HELLO"), 2);
    assert_eq!(check_hello(&client.call("HELLO 2"), 2), id, "HELLO id");
    assert_eq!(client.call("CLIENT ID"), Resp::Integer(id), "CLIENT ID");
    client.run(&[("GET nokey", b"$-1\r\n")]);
    done(client);
}

/// HELLO's errors are Redis's, and the protocol stays RESP2 after them.
#[test]
fn hello_errors_match_redis() {
    check_resp(
        start(config()),
        &[
            ("HELLO 4", b"-NOPROTO unsupported protocol version\r\n"),
            ("HELLO 1", b"-NOPROTO unsupported protocol version\r\n"),
            (
                "HELLO abc",
                b"-ERR Protocol version is not an integer or out of range\r\n",
            ),
            (
                "HELLO 3 FOO",
                b"-ERR Syntax error in HELLO option 'FOO'\r\n",
            ),
            (
                "HELLO 2 SETNAME",
                b"-ERR Syntax error in HELLO option 'SETNAME'\r\n",
            ),
            (
                "HELLO 2 AUTH default",
                b"-ERR Syntax error in HELLO option 'AUTH'\r\n",
            ),
            ("GET nokey", b"$-1\r\n"),
        ],
    );
}

/// HELLO SETNAME names the connection; a name with a space is refused in Redis's words.
#[test]
fn hello_setname_names_the_connection() {
    let mut client = Client::tcp(start(config()));
    check_hello(&client.call("HELLO 2 SETNAME conn1"), 2);
    client.run(&[("CLIENT GETNAME", b"$5\r\nconn1\r\n")]);
    client.expect(
        &cmd(&[b"HELLO", b"2", b"SETNAME", b"a b"]),
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
    );
    client.run(&[("CLIENT GETNAME", b"$5\r\nconn1\r\n")]);
    done(client);
}

/// CLIENT SETNAME, GETNAME, ID and SETINFO answer as Redis.
#[test]
fn client_subcommands_answer_as_redis() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    client.run(&[
        ("CLIENT GETNAME", b"$-1\r\n"),
        ("CLIENT SETNAME conn1", b"+OK\r\n"),
        ("CLIENT GETNAME", b"$5\r\nconn1\r\n"),
        ("client setname conn2", b"+OK\r\n"),
        ("CLIENT GETNAME", b"$5\r\nconn2\r\n"),
    ]);
    client.expect(
        &cmd(&[b"CLIENT", b"SETNAME", b"a b"]),
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
    );
    client.run(&[("CLIENT GETNAME", b"$5\r\nconn2\r\n")]);
    client.expect(&cmd(&[b"CLIENT", b"SETNAME", b""]), b"+OK\r\n");
    client.run(&[
        ("CLIENT GETNAME", b"$-1\r\n"),
        ("CLIENT SETINFO lib-name redis-py", b"+OK\r\n"),
        ("CLIENT SETINFO lib-ver 5.0.1", b"+OK\r\n"),
    ]);
    let id = client.call("CLIENT ID").integer();
    assert!(id > 0, "CLIENT ID {id}");
    assert_eq!(
        client.call("CLIENT ID").integer(),
        id,
        "CLIENT ID is stable"
    );
    let other = Client::tcp(addr).call("CLIENT ID").integer();
    assert_ne!(other, id, "two connections share CLIENT ID {id}");
    done(client);
}

/// CLIENT's argument errors are Redis's.
#[test]
fn client_errors_match_redis() {
    check_resp(
        start(config()),
        &[
            (
                "CLIENT",
                b"-ERR wrong number of arguments for 'client' command\r\n",
            ),
            (
                "CLIENT ID x",
                b"-ERR wrong number of arguments for 'client|id' command\r\n",
            ),
            (
                "CLIENT GETNAME x",
                b"-ERR wrong number of arguments for 'client|getname' command\r\n",
            ),
            (
                "CLIENT SETNAME",
                b"-ERR wrong number of arguments for 'client|setname' command\r\n",
            ),
            (
                "CLIENT FOO",
                b"-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n",
            ),
            ("PING", b"+PONG\r\n"),
        ],
    );
}

/// TIME answers the Unix time as two bulk strings of digits: seconds and microseconds.
#[test]
fn time_answers_seconds_and_microseconds() {
    let mut client = Client::tcp(start(config()));
    let reply = client.call("TIME");
    let [seconds, micros] = reply.array() else {
        panic!("TIME answered {reply:?}");
    };
    for part in [seconds, micros] {
        assert!(
            matches!(part, Resp::Bulk(d) if !d.is_empty() && d.iter().all(u8::is_ascii_digit)),
            "TIME answered {reply:?}"
        );
    }
    let seconds: u64 = seconds.string().parse().unwrap();
    let micros: u64 = micros.string().parse().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        seconds.abs_diff(now) <= 5,
        "TIME {seconds}, wall clock {now}"
    );
    assert!(micros < 1_000_000, "TIME microseconds {micros}");
    done(client);
}

/// SELECT takes the sixteen databases 0 to 15, as Redis's default; any
/// other is out of range, and each database has its own keys.
#[test]
fn select_accepts_the_sixteen_databases() {
    check_resp(
        start(config()),
        &[
            ("SELECT 0", b"+OK\r\n"),
            ("SELECT 15", b"+OK\r\n"),
            ("SELECT 16", b"-ERR DB index is out of range\r\n"),
            ("SELECT -1", b"-ERR DB index is out of range\r\n"),
            (
                "SELECT x",
                b"-ERR value is not an integer or out of range\r\n",
            ),
            ("SET k v", b"+OK\r\n"),
            ("SELECT 0", b"+OK\r\n"),
            ("GET k", b"$-1\r\n"),
            ("SELECT 15", b"+OK\r\n"),
            ("GET k", b"$1\r\nv\r\n"),
        ],
    );
}

/// INFO is a bulk string with Redis's sections and the fields clients read.
#[test]
fn info_has_redis_sections_and_fields() {
    let mut client = Client::tcp(start(Config {
        memory_limit: 12_345_678,
        ..config()
    }));
    client.run(&[("SET a 1", b"+OK\r\n"), ("SET b 2 EX 100", b"+OK\r\n")]);
    let text = info(&mut client, "INFO");
    let lines: Vec<&str> = text.split("\r\n").collect();
    for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"] {
        assert!(lines.contains(&section), "INFO has no {section}:\n{text}");
    }
    assert!(
        field(&text, "redis_version").is_some_and(|v| !v.is_empty()),
        "INFO redis_version:\n{text}"
    );
    for name in ["used_memory", "maxmemory", "connected_clients"] {
        assert!(
            field(&text, name).is_some_and(|v| v.parse::<u64>().is_ok()),
            "INFO {name} is not a number:\n{text}"
        );
    }
    assert!(
        field(&text, "connected_clients")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1,
        "INFO connected_clients:\n{text}"
    );
    let db0 = field(&text, "db0").unwrap_or_else(|| panic!("INFO has no db0:\n{text}"));
    assert!(
        db0 == "keys=2,expires=1" || db0.starts_with("keys=2,expires=1,"),
        "INFO db0:{db0}"
    );
    done(client);
}

/// INFO keyspace answers that section alone: a db0 line only when keys exist.
#[test]
fn info_keyspace_answers_the_keyspace_section() {
    let mut client = Client::tcp(start(config()));
    let text = info(&mut client, "INFO keyspace");
    assert!(text.starts_with("# Keyspace\r\n"), "INFO keyspace:\n{text}");
    assert!(!text.contains("# Server"), "INFO keyspace:\n{text}");
    assert!(field(&text, "db0").is_none(), "INFO keyspace:\n{text}");
    client.run(&[
        ("MSET a 1 b 2 c 3", b"+OK\r\n"),
        ("EXPIRE c 100", b":1\r\n"),
    ]);
    let text = info(&mut client, "INFO keyspace");
    let db0 = field(&text, "db0").unwrap_or_else(|| panic!("INFO keyspace has no db0:\n{text}"));
    assert!(
        db0 == "keys=3,expires=1" || db0.starts_with("keys=3,expires=1,"),
        "INFO db0:{db0}"
    );
    done(client);
}

/// CONFIG GET answers our settings as name-value pairs, and nothing for unknown names.
#[test]
fn config_get_answers_our_settings() {
    let mut client = Client::tcp(start(Config {
        memory_limit: 12345,
        idle_timeout: Some(Duration::from_secs(300)),
        ..config()
    }));
    client.run(&[
        (
            "CONFIG GET maxmemory",
            b"*2\r\n$9\r\nmaxmemory\r\n$5\r\n12345\r\n",
        ),
        ("CONFIG GET save", b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"),
        (
            "CONFIG GET appendonly",
            b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
        ),
        (
            "CONFIG GET timeout",
            b"*2\r\n$7\r\ntimeout\r\n$3\r\n300\r\n",
        ),
        ("CONFIG GET nonexistent", b"*0\r\n"),
        (
            "CONFIG GET",
            b"-ERR wrong number of arguments for 'config|get' command\r\n",
        ),
        (
            "CONFIG",
            b"-ERR wrong number of arguments for 'config' command\r\n",
        ),
    ]);
    // Several names, or a pattern, answer pairs in no fixed order.
    let pairs = client.call("CONFIG GET maxmemory timeout").pairs();
    let mut pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| (name.string(), value.string()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("maxmemory".to_string(), "12345".to_string()),
            ("timeout".to_string(), "300".to_string())
        ]
    );
    let pairs = client.call("CONFIG GET maxmem*").pairs();
    assert!(
        pairs.contains(&(
            Resp::Bulk(b"maxmemory".to_vec()),
            Resp::Bulk(b"12345".to_vec())
        )),
        "CONFIG GET maxmem* answered {pairs:?}"
    );
    done(client);
}

/// CONFIG GET timeout is 0 when idle connections are never closed, as Redis's own 0.
#[test]
fn config_get_timeout_is_zero_without_idle_timeout() {
    check_resp(
        start(Config {
            idle_timeout: None,
            ..config()
        }),
        &[("CONFIG GET timeout", b"*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n")],
    );
}

/// COMMAND COUNT is an integer; COMMAND and COMMAND DOCS answer without error.
#[test]
fn command_answers_without_error() {
    let mut client = Client::tcp(start(config()));
    let count = client.call("COMMAND COUNT").integer();
    assert!(count > 0, "COMMAND COUNT {count}");
    for words in ["COMMAND DOCS", "COMMAND DOCS GET", "COMMAND"] {
        let reply = client.call(words);
        assert!(
            matches!(reply, Resp::Array(_) | Resp::Map(_)),
            "{words} answered {reply:?}"
        );
    }
    client.run(&[("PING", b"+PONG\r\n")]);
    done(client);
}

/// COMMAND INFO names commands, or every one when it names none, as
/// COMMAND does; COMMAND's subcommands fail as Redis's do, and fail a
/// transaction when queued.
#[test]
fn command_info_and_subcommand_errors_answer_as_redis() {
    let mut client = Client::tcp(start(config()));
    let count = client.call("COMMAND COUNT").integer();
    let all = client.call("COMMAND");
    assert_eq!(all.array().len() as i64, count);
    assert_eq!(client.call("COMMAND INFO"), all);
    assert_eq!(client.call("COMMAND LIST").array().len() as i64, count);
    let info = client.call("COMMAND INFO get nosuch");
    assert_eq!(info.array().len(), 2, "{info:?}");
    assert_eq!(info.array()[0].array()[0], Resp::Bulk(b"get".to_vec()));
    assert_eq!(info.array()[1], Resp::NullBulk);
    client.run(&[
        (
            "COMMAND COUNT x",
            b"-ERR wrong number of arguments for 'command|count' command\r\n",
        ),
        ("COMMAND LIST x", b"-ERR syntax error\r\n"),
        (
            "COMMAND FOO",
            b"-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n",
        ),
        ("MULTI", b"+OK\r\n"),
        (
            "COMMAND FOO",
            b"-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n",
        ),
        (
            "EXEC",
            b"-EXECABORT Transaction discarded because of previous errors.\r\n",
        ),
    ]);
    done(client);
}

/// Every command with subcommands answers HELP with lines of simple
/// strings, the first naming it, as the "Try ... HELP" of its errors says.
#[test]
fn every_command_with_subcommands_has_help() {
    let mut client = Client::tcp(start(config()));
    for name in ["CLIENT", "COMMAND", "CONFIG", "MEMORY", "OBJECT", "PUBSUB"] {
        let reply = client.call(&format!("{name} HELP"));
        let lines = reply.array();
        assert!(lines.len() >= 3, "{name} HELP answered {reply:?}");
        assert!(
            lines.iter().all(|line| matches!(line, Resp::Simple(_))),
            "{name} HELP answered {reply:?}"
        );
        let first = lines[0].string();
        assert!(
            first.starts_with(&format!("{name} <subcommand>"))
                || first.starts_with(&format!("{name} [<subcommand>")),
            "{name} HELP begins {first:?}"
        );
        let lower = name.to_ascii_lowercase();
        let arity = format!("-ERR wrong number of arguments for '{lower}|help' command\r\n");
        client.run(&[(&format!("{name} HELP x"), arity.as_bytes())]);
    }
    done(client);
}

/// Before AUTH every command is refused with Redis's NOAUTH and does nothing; after it all work.
#[test]
fn commands_before_auth_get_noauth() {
    let addr = locked();
    check_resp(
        addr,
        &[
            ("SET k v", NOAUTH),
            ("GET k", NOAUTH),
            ("MSET a 1 b 2", NOAUTH),
            ("DEL k", NOAUTH),
            ("FLUSHALL", NOAUTH),
            ("ECHO x", NOAUTH),
            ("INFO", NOAUTH),
            ("CLIENT SETNAME x", NOAUTH),
            ("COMMAND COUNT", NOAUTH),
            ("DBSIZE", NOAUTH),
            ("SELECT 0", NOAUTH),
            ("AUTH pw", b"+OK\r\n"),
            ("GET k", b"$-1\r\n"),
            ("DBSIZE", b":0\r\n"),
            ("SET k v", b"+OK\r\n"),
        ],
    );
    check_resp(
        addr,
        &[
            ("GET k", NOAUTH),
            ("AUTH default pw", b"+OK\r\n"),
            ("GET k", b"$1\r\nv\r\n"),
        ],
    );
}

/// Before AUTH an unknown command or a wrong argument count gets Redis's error, checked before NOAUTH.
#[test]
fn unknown_and_malformed_commands_before_auth_answer_as_redis() {
    check_resp(
        locked(),
        &[
            (
                "FOO",
                b"-ERR unknown command 'FOO', with args beginning with: \r\n",
            ),
            (
                "FOO a",
                b"-ERR unknown command 'FOO', with args beginning with: 'a' \r\n",
            ),
            (
                "GET",
                b"-ERR wrong number of arguments for 'get' command\r\n",
            ),
            ("GET k", NOAUTH),
        ],
    );
}

/// PING before AUTH is refused with NOAUTH over RESP, as Redis does.
#[test]
fn ping_before_auth_gets_noauth() {
    check_resp(
        locked(),
        &[
            ("PING", NOAUTH),
            ("AUTH pw", b"+OK\r\n"),
            ("PING", b"+PONG\r\n"),
        ],
    );
}

/// HELLO without AUTH before authenticating is refused with Redis's NOAUTH explanation.
#[test]
fn hello_before_auth_needs_its_auth_option() {
    let refusal: &[u8] = b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n";
    check_resp(
        locked(),
        &[("HELLO", refusal), ("HELLO 3", refusal), ("GET k", NOAUTH)],
    );
}

/// AUTH takes the password alone or with the user `default`; anything else is WRONGPASS.
#[test]
fn auth_checks_the_password_and_user() {
    check_resp(
        locked(),
        &[
            ("AUTH wrong", WRONGPASS),
            ("AUTH default wrong", WRONGPASS),
            ("AUTH other pw", WRONGPASS),
            ("AUTH a b c", b"-ERR syntax error\r\n"),
            ("GET k", NOAUTH),
            ("AUTH pw", b"+OK\r\n"),
            ("AUTH default pw", b"+OK\r\n"),
            ("GET k", b"$-1\r\n"),
        ],
    );
}

/// HELLO AUTH authenticates and picks the protocol at once; a wrong password changes neither.
#[test]
fn hello_auth_authenticates_and_picks_the_protocol() {
    let addr = locked();
    let mut client = Client::tcp(addr);
    client.run(&[("HELLO 3 AUTH default wrong", WRONGPASS), ("GET k", NOAUTH)]);
    check_hello(&client.call("HELLO 3 AUTH default pw"), 3);
    client.run(&[("GET k", b"_\r\n")]);
    done(client);
    let mut client = Client::tcp(addr);
    client.run(&[("HELLO 2 AUTH other pw", WRONGPASS)]);
    check_hello(&client.call("HELLO 2 AUTH default pw SETNAME n1"), 2);
    client.run(&[("CLIENT GETNAME", b"$2\r\nn1\r\n"), ("GET k", b"$-1\r\n")]);
    done(client);
}

/// QUIT before AUTH answers +OK and closes.
#[test]
fn quit_before_auth_answers_ok() {
    let mut client = Client::tcp(locked());
    client.send(&req("QUIT"));
    client.expect_close(b"+OK\r\n");
}

/// A text request on a locked server still gets the text NOAUTH, a RESP one Redis's.
#[test]
fn noauth_answers_in_the_protocol_of_the_request() {
    check(
        locked(),
        &[
            (b"GET k\n", b"ERROR NOAUTH Authentication required\n"),
            (&req("GET k"), NOAUTH),
            (&req("AUTH pw"), b"+OK\r\n"),
            (b"GET k\n", b"NOT_FOUND\n"),
        ],
    );
}

/// AUTH on a server without a password is refused in Redis's words.
#[test]
fn auth_without_a_configured_password_is_refused() {
    check_resp(
        start(config()),
        &[
            (
                "AUTH pw",
                b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
            ),
            ("GET k", b"$-1\r\n"),
        ],
    );
}

/// INFO picks sections as Redis does: `default` leaves out the per-command
/// and per-error counts, `all` has them, several sections may be named,
/// each given once; `# CPU` has the four times and the counts follow the
/// commands run, refused and failed.
#[test]
fn info_sections_cpu_commandstats_and_errorstats() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        ("SET a 1", b"+OK\r\n"),
        ("GET a", b"$1\r\n1\r\n"),
        ("INCR a", b":2\r\n"),
        ("SET b x", b"+OK\r\n"),
        (
            "INCR b",
            b"-ERR value is not an integer or out of range\r\n",
        ),
        (
            "GET",
            b"-ERR wrong number of arguments for 'get' command\r\n",
        ),
    ]);
    let default = info(&mut client, "INFO");
    for name in [
        "used_cpu_sys",
        "used_cpu_user",
        "used_cpu_user_children",
        "master_repl_offset",
    ] {
        assert!(
            field(&default, name).is_some(),
            "INFO has no {name}:\n{default}"
        );
    }
    assert!(!default.contains("rejected_calls"), "INFO:\n{default}");
    let all = info(&mut client, "INFO cpu all");
    assert_eq!(all.matches("used_cpu_user_children").count(), 1, "{all}");
    let incr = field(&all, "cmdstat_incr").expect("an INCR line");
    assert!(
        incr.starts_with("calls=2,") && incr.ends_with(",rejected_calls=0,failed_calls=1"),
        "{incr}"
    );
    let get = field(&all, "cmdstat_get").expect("a GET line");
    assert!(get.ends_with(",rejected_calls=1,failed_calls=0"), "{get}");
    assert_eq!(field(&all, "errorstat_ERR"), Some("count=2"), "{all}");
    let two = info(&mut client, "INFO CPU commandSTATS");
    assert!(
        two.starts_with("# CPU\r\n") && two.contains("# Commandstats\r\n"),
        "{two}"
    );
    assert!(!two.contains("# Server"), "{two}");
    done(client);
}
