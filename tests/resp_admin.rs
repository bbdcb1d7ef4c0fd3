//! The connection and server commands added after the first set, over
//! RESP at the wire: CLIENT LIST, INFO, KILL, NO-EVICT and NO-TOUCH,
//! CONFIG SET and RESETSTAT, RESET, WAIT, LASTSAVE, ROLE, and the one
//! error of the scripting commands.
//!
//! Expected bytes were taken from Redis 7 given the same requests, but for
//! CLIENT LIST's values that are this server's own (addresses, buffers)
//! and the scripting error, which is Blink-Store's.

mod common;

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blink_store::config::Config;
use common::resp::{check_hello, check_resp, Resp};
use common::{config, done, eventually, same, start, Client};

const SYNTAX: &[u8] = b"-ERR syntax error\r\n";

const NO_SCRIPTING: &[u8] =
    b"-ERR scripting is not supported by this server (no Lua interpreter); see the README\r\n";

/// The fields of a CLIENT LIST line, in order.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split(' ')
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap_or((f, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// CLIENT LIST has a line per connection with Redis 7.2's fields in
/// Redis's order; CLIENT INFO is the caller's own line; both are bulk
/// strings in RESP2 and verbatim strings in RESP3.
#[test]
fn client_list_and_info_have_redis_fields() {
    let addr = start(config());
    let mut other = Client::tcp(addr);
    other.run(&[("CLIENT SETNAME other", b"+OK\r\n"), ("GET k", b"$-1\r\n")]);
    let mut client = Client::tcp(addr);
    let id = client.call("CLIENT ID").integer();
    let list = client.call("CLIENT LIST").string();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list:?}");
    assert!(list.ends_with('\n'));
    let names: Vec<String> = fields(lines[0]).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names.join(" "),
        "id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem \
         multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp lib-name lib-ver"
    );
    let first = fields(lines[0]);
    let value =
        |f: &[(String, String)], name: &str| f.iter().find(|(k, _)| k == name).unwrap().1.clone();
    assert_eq!(value(&first, "name"), "other");
    assert_eq!(value(&first, "cmd"), "get");
    assert_eq!(value(&first, "flags"), "N");
    assert_eq!(value(&first, "db"), "0");
    assert_eq!(value(&first, "laddr"), addr.to_string());
    let own = fields(lines[1]);
    assert_eq!(value(&own, "id"), id.to_string());
    assert_eq!(value(&own, "cmd"), "client|list");
    assert_eq!(
        value(&own, "addr"),
        client.stream().local_addr().unwrap().to_string()
    );
    let only = client.call(&format!("CLIENT LIST ID {id}")).string();
    assert_eq!(only.lines().count(), 1);
    client.run(&[
        ("CLIENT LIST ID 0", b"$0\r\n\r\n"),
        ("CLIENT LIST TYPE master", b"$0\r\n\r\n"),
        ("CLIENT LIST ID x", b"-ERR Invalid client ID\r\n"),
        ("CLIENT LIST TYPE x", b"-ERR Unknown client type 'x'\r\n"),
        ("CLIENT LIST TYPE", SYNTAX),
        ("CLIENT LIST FOO", SYNTAX),
        (
            "CLIENT INFO x",
            b"-ERR wrong number of arguments for 'client|info' command\r\n",
        ),
        ("CLIENT NO-EVICT on", b"+OK\r\n"),
        ("CLIENT NO-TOUCH on", b"+OK\r\n"),
    ]);
    let info = client.call("CLIENT INFO").string();
    // `N` means no flag, so it is not shown beside others (Redis 7 prints
    // `flags=e` after CLIENT NO-EVICT on).
    assert_eq!(value(&fields(info.trim_end()), "flags"), "eT");
    assert_eq!(value(&fields(info.trim_end()), "cmd"), "client|info");
    check_hello(&client.call("HELLO 3"), 3);
    match client.call("CLIENT INFO") {
        Resp::Verbatim(format, text) => {
            assert_eq!(format, b"txt");
            assert!(String::from_utf8_lossy(&text).contains(" resp=3 "));
        }
        other => panic!("CLIENT INFO in RESP3: {other:?}"),
    }
    done(client);
    done(other);
}

/// CLIENT KILL ends another connection, which sees its socket closed and
/// leaves the list; the filters and errors are Redis's.
#[test]
fn client_kill_ends_another_connection() {
    let addr = start(config());
    let mut victim = Client::tcp(addr);
    let victim_id = victim.call("CLIENT ID").integer();
    let mut client = Client::tcp(addr);
    let own_id = client.call("CLIENT ID").integer();
    client.run(&[
        ("CLIENT KILL ID 999", b":0\r\n"),
        ("CLIENT KILL 1.2.3.4:5", b"-ERR No such client\r\n"),
        ("CLIENT KILL ADDR 1.2.3.4:5", b":0\r\n"),
        (
            "CLIENT KILL ID x",
            b"-ERR client-id should be greater than 0\r\n",
        ),
        (
            "CLIENT KILL ID 0",
            b"-ERR client-id should be greater than 0\r\n",
        ),
        ("CLIENT KILL FOO bar", SYNTAX),
        ("CLIENT KILL ID 1 SKIPME maybe", SYNTAX),
        ("CLIENT KILL a b c", SYNTAX),
        ("CLIENT KILL USER nobody", b"-ERR No such user 'nobody'\r\n"),
        ("CLIENT KILL TYPE x", b"-ERR Unknown client type 'x'\r\n"),
        ("CLIENT KILL TYPE master", b":0\r\n"),
        (
            "CLIENT KILL",
            b"-ERR wrong number of arguments for 'client|kill' command\r\n",
        ),
    ]);
    // SKIPME is the default: the caller is spared.
    let kill_me = format!("CLIENT KILL ID {own_id}");
    client.run(&[(kill_me.as_str(), b":0\r\n")]);
    let kill = format!("CLIENT KILL ID {victim_id} USER default TYPE normal");
    client.run(&[(kill.as_str(), b":1\r\n")]);
    let mut rest = Vec::new();
    victim
        .stream()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let read = victim.stream().read_to_end(&mut rest);
    assert!(
        read.is_err() || rest.is_empty(),
        "victim got {rest:?} {read:?}"
    );
    eventually("the victim leaves the list", || {
        let list = client.call("CLIENT LIST").string();
        (list.lines().count() == 1).then_some(())
    });
    done(client);
}

/// The old form, CLIENT KILL addr, may end the caller itself: the reply
/// comes first, then the connection closes.
#[test]
fn client_kill_of_itself_answers_then_closes() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    let own = client.stream().local_addr().unwrap().to_string();
    client.send(&common::resp::req(&format!("CLIENT KILL {own}")));
    same(&client.finish(), b"+OK\r\n", "reply, then the end");
}

/// CONFIG SET changes maxmemory (the next write evicts down to it),
/// maxmemory-samples and timeout, and CONFIG GET reports them; other
/// parameters get Redis's errors and nothing is set unless all are good.
#[test]
fn config_set_changes_the_run_time_settings() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    for i in 0..50 {
        client.call(&format!("SET key{i:02} {}", "x".repeat(95)));
    }
    client.run(&[
        ("USAGE", b":5000\r\n"),
        ("CONFIG SET maxmemory 1000", b"+OK\r\n"),
        (
            "CONFIG GET maxmemory",
            b"*2\r\n$9\r\nmaxmemory\r\n$4\r\n1000\r\n",
        ),
        ("SET last v", b"+OK\r\n"),
    ]);
    assert!(client.call("USAGE").integer() <= 1000);
    client.run(&[
        ("CONFIG SET MAXMEMORY 2mb", b"+OK\r\n"),
        (
            "CONFIG GET maxmemory",
            b"*2\r\n$9\r\nmaxmemory\r\n$7\r\n2097152\r\n",
        ),
        ("CONFIG SET maxmemory 0", b"+OK\r\n"),
        (
            "CONFIG GET maxmemory",
            b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n",
        ),
    ]);
    // No limit reads 0 in STATS too, as in CONFIG GET and INFO.
    assert_eq!(Client::tcp(addr).stat("memory_limit"), 0);
    client.run(&[
        ("CONFIG SET maxmemory-samples 10 timeout 7", b"+OK\r\n"),
        (
            "CONFIG GET maxmemory-samples",
            b"*2\r\n$17\r\nmaxmemory-samples\r\n$2\r\n10\r\n",
        ),
        ("CONFIG GET timeout", b"*2\r\n$7\r\ntimeout\r\n$1\r\n7\r\n"),
        (
            "CONFIG SET maxmemory abc",
            b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - \
              argument must be a memory value\r\n",
        ),
        (
            "CONFIG SET maxmemory -1",
            b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - \
              argument must be a memory value\r\n",
        ),
        (
            "CONFIG SET maxmemory-samples 0",
            b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - \
              argument must be between 1 and 64 inclusive\r\n",
        ),
        (
            "CONFIG SET timeout -1",
            b"-ERR CONFIG SET failed (possibly related to argument 'timeout') - \
              argument must be between 0 and 2147483647 inclusive\r\n",
        ),
        (
            "CONFIG SET timeout x",
            b"-ERR CONFIG SET failed (possibly related to argument 'timeout') - \
              argument couldn't be parsed into an integer\r\n",
        ),
        (
            "CONFIG SET nosuch 1",
            b"-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n",
        ),
        (
            "CONFIG SET databases 5",
            b"-ERR CONFIG SET failed (possibly related to argument 'databases') - \
              can't set immutable config\r\n",
        ),
        (
            "CONFIG SET timeout 1 maxmemory 1 maxmemory 2",
            b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - \
              duplicate parameter\r\n",
        ),
        (
            "CONFIG SET timeout 1 nosuch 0",
            b"-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n",
        ),
        ("CONFIG GET timeout", b"*2\r\n$7\r\ntimeout\r\n$1\r\n7\r\n"),
        ("CONFIG SET maxmemory 1 timeout", SYNTAX),
        (
            "CONFIG SET maxmemory",
            b"-ERR wrong number of arguments for 'config|set' command\r\n",
        ),
        (
            "CONFIG RESETSTAT x",
            b"-ERR wrong number of arguments for 'config|resetstat' command\r\n",
        ),
        (
            "CONFIG FOO",
            b"-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n",
        ),
    ]);
    done(client);
}

/// CONFIG SET timeout applies to connections already open, at their next
/// wait for a request.
#[test]
fn config_set_timeout_closes_idle_connections() {
    let addr = start(Config {
        idle_timeout: None,
        ..config()
    });
    let mut idle = Client::tcp(addr);
    let mut client = Client::tcp(addr);
    client.run(&[("CONFIG SET timeout 1", b"+OK\r\n")]);
    // The idle connection takes the new timeout after its next request.
    idle.run(&[("PING", b"+PONG\r\n")]);
    let started = std::time::Instant::now();
    same(&idle.finish(), b"", "nothing before the close");
    assert!(started.elapsed() < Duration::from_secs(5));
    done(client);
}

/// CONFIG RESETSTAT zeroes the counters INFO shows, as Redis does.
#[test]
fn config_resetstat_zeroes_the_counters() {
    let mut client = Client::tcp(start(config()));
    client.run(&[
        ("GET a", b"$-1\r\n"),
        ("SET a 1", b"+OK\r\n"),
        ("GET a", b"$1\r\n1\r\n"),
    ]);
    client.run(&[("CONFIG RESETSTAT", b"+OK\r\n")]);
    let info = client.call("INFO stats").string();
    for zero in [
        "keyspace_hits:0",
        "keyspace_misses:0",
        "evicted_keys:0",
        "expired_keys:0",
    ] {
        assert!(info.contains(zero), "{zero} in {info}");
    }
    // The commands a connection runs are counted in batches, so the INFO
    // being answered may not be counted yet.
    assert!(info.contains("total_commands_processed:0\r\n"), "{info}");
    done(client);
}

/// RESET brings a connection back to its start: RESP2, no name, not
/// authenticated when a password is set, NO-TOUCH off.
#[test]
fn reset_returns_the_connection_to_its_start() {
    let mut client = Client::tcp(start(Config {
        password: Some(blink_store::auth::Password::new("secret")),
        ..config()
    }));
    client.run(&[("RESET", b"+RESET\r\n"), ("AUTH secret", b"+OK\r\n")]);
    check_hello(&client.call("HELLO 3 SETNAME me"), 3);
    client.run(&[
        ("GET nokey", b"_\r\n"),
        ("CLIENT NO-TOUCH on", b"+OK\r\n"),
        ("RESET", b"+RESET\r\n"),
        ("GET nokey", b"-NOAUTH Authentication required.\r\n"),
        ("AUTH secret", b"+OK\r\n"),
        ("GET nokey", b"$-1\r\n"),
        ("CLIENT GETNAME", b"$-1\r\n"),
        (
            "RESET x",
            b"-ERR wrong number of arguments for 'reset' command\r\n",
        ),
    ]);
    let info = client.call("CLIENT INFO").string();
    assert!(info.contains(" flags=N "), "{info}");
    done(client);
}

/// WAIT answers 0 at once (no replicas), LASTSAVE the start time, ROLE a
/// master without replicas; each in both protocols.
#[test]
fn wait_lastsave_and_role() {
    let addr = start(config());
    check_resp(
        addr,
        &[
            ("WAIT 0 0", b":0\r\n"),
            ("WAIT 1 10", b":0\r\n"),
            (
                "WAIT x 0",
                b"-ERR value is not an integer or out of range\r\n",
            ),
            ("WAIT 0 -1", b"-ERR timeout is negative\r\n"),
            (
                "WAIT 0 abc",
                b"-ERR timeout is not an integer or out of range\r\n",
            ),
            (
                "WAIT 0 99999999999999999999",
                b"-ERR timeout is not an integer or out of range\r\n",
            ),
            (
                "WAIT 1",
                b"-ERR wrong number of arguments for 'wait' command\r\n",
            ),
            ("ROLE", b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"),
            (
                "ROLE x",
                b"-ERR wrong number of arguments for 'role' command\r\n",
            ),
            (
                "LASTSAVE x",
                b"-ERR wrong number of arguments for 'lastsave' command\r\n",
            ),
        ],
    );
    let mut client = Client::tcp(addr);
    check_hello(&client.call("HELLO 3"), 3);
    client.run(&[
        ("ROLE", b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"),
        ("WAIT 0 0", b":0\r\n"),
    ]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let saved = client.call("LASTSAVE").integer();
    assert!(saved <= now && saved > now - 60, "LASTSAVE {saved}");
    done(client);
}

/// Every scripting command answers the one error, whatever its arguments,
/// and arity is checked first as for any command.
#[test]
fn scripting_commands_answer_one_error() {
    let addr = start(config());
    check_resp(
        addr,
        &[
            ("EVAL return 0", NO_SCRIPTING),
            ("EVALSHA abc 0", NO_SCRIPTING),
            ("EVAL_RO x 0", NO_SCRIPTING),
            ("EVALSHA_RO x 0", NO_SCRIPTING),
            ("SCRIPT LOAD x", NO_SCRIPTING),
            ("SCRIPT FLUSH", NO_SCRIPTING),
            ("FUNCTION LIST", NO_SCRIPTING),
            ("FCALL f 0", NO_SCRIPTING),
            ("FCALL_RO f 0", NO_SCRIPTING),
            (
                "EVAL",
                b"-ERR wrong number of arguments for 'eval' command\r\n",
            ),
            (
                "SCRIPT",
                b"-ERR wrong number of arguments for 'script' command\r\n",
            ),
        ],
    );
    let mut client = Client::tcp(addr);
    check_hello(&client.call("HELLO 3"), 3);
    client.run(&[("EVALSHA abc 0", NO_SCRIPTING)]);
    done(client);
}

/// A fixed parameter may be set to the value it has (as a client setting
/// every parameter back to what CONFIG GET said does) and to nothing else;
/// CONFIG GET answers the parameters that have a meaning here.
#[test]
fn config_set_of_a_fixed_parameter_to_its_value_is_accepted() {
    let immutable = |name: &str| {
        format!(
            "-ERR CONFIG SET failed (possibly related to argument '{name}') - can't set \
             immutable config\r\n"
        )
    };
    check_resp(
        start(config()),
        &[
            ("CONFIG SET maxmemory-policy allkeys-lru", b"+OK\r\n"),
            (
                "CONFIG SET maxmemory-policy ALLKEYS-LRU appendonly no",
                b"+OK\r\n",
            ),
            (
                "CONFIG SET maxmemory-policy volatile-lru",
                immutable("maxmemory-policy").as_bytes(),
            ),
            (
                "CONFIG SET timeout 5 databases 3",
                immutable("databases").as_bytes(),
            ),
            (
                "CONFIG GET timeout",
                b"*2\r\n$7\r\ntimeout\r\n$3\r\n300\r\n",
            ),
            (
                "CONFIG GET proto-max-bulk-len",
                b"*2\r\n$18\r\nproto-max-bulk-len\r\n$7\r\n1048576\r\n",
            ),
            (
                "CONFIG GET *of",
                b"*4\r\n$9\r\nreplicaof\r\n$0\r\n\r\n$7\r\nslaveof\r\n$0\r\n\r\n",
            ),
        ],
    );
}

/// CONFIG GET port, bind and unixsocket answer the addresses as bound.
#[test]
fn config_get_answers_the_addresses_bound() {
    let addr = start(config());
    let port = addr.port().to_string();
    let expected = format!(
        "*6\r\n$4\r\nport\r\n${}\r\n{port}\r\n$4\r\nbind\r\n$9\r\n127.0.0.1\r\n\
         $10\r\nunixsocket\r\n$0\r\n\r\n",
        port.len()
    );
    check_resp(
        addr,
        &[("CONFIG GET port bind unixsocket", expected.as_bytes())],
    );
}
