//! RESP3 at the wire: `HELLO 3` switches one connection to RESP3 replies as
//! Redis 7 gives them (null as `_`, maps for HELLO and CONFIG GET, INFO as
//! a verbatim string; integers, arrays and errors unchanged), `HELLO 2`
//! switches back, and an unsupported version changes nothing.
//!
//! Every expected reply was taken from Redis 7 given the same requests,
//! except the contents Blink-Store reports as its own (HELLO's server and
//! version, INFO's text, CONFIG GET's values).

mod common;

use blink_store::config::Config;
use common::resp::{check_hello, cmd, req, resp3, Resp};
use common::{config, done, start, Client};

/// HELLO 3 answers a map and switches to RESP3; HELLO alone then reports 3; HELLO 2 switches back.
#[test]
fn hello_3_switches_to_resp3_and_hello_2_back() {
    let mut client = Client::tcp(start(config()));
    client.run(&[("GET nokey", b"$-1\r\n")]);
    let id = check_hello(&client.call("HELLO 3"), 3);
    client.run(&[("GET nokey", b"_\r\n")]);
    assert_eq!(check_hello(&client.call("HELLO"), 3), id, "HELLO id");
    assert_eq!(client.call("CLIENT ID"), Resp::Integer(id), "CLIENT ID");
    check_hello(&client.call("HELLO 2"), 2);
    client.run(&[("GET nokey", b"$-1\r\n")]);
    check_hello(&client.call("hello 3"), 3);
    client.run(&[("GET nokey", b"_\r\n")]);
    done(client);
}

/// Every null reply is `_` in RESP3: GET, MGET elements, refused SETs, GETSET, GETDEL, GETEX, GETNAME.
#[test]
fn resp3_nulls_are_underscore() {
    let mut client = resp3(start(config()));
    client.run(&[
        ("GET nokey", b"_\r\n"),
        ("SET a 1", b"+OK\r\n"),
        ("MGET a nokey", b"*2\r\n$1\r\n1\r\n_\r\n"),
        ("SET a 2 NX", b"_\r\n"),
        ("SET q v XX", b"_\r\n"),
        ("SET n v GET", b"_\r\n"),
        ("SET n w GET", b"$1\r\nv\r\n"),
        ("GETSET nope x", b"_\r\n"),
        ("GETDEL nokey", b"_\r\n"),
        ("GETEX nokey", b"_\r\n"),
        ("GETEX nokey EX 10", b"_\r\n"),
        ("CLIENT GETNAME", b"_\r\n"),
        ("GET a", b"$1\r\n1\r\n"),
    ]);
    done(client);
}

/// Integers, simple strings, bulk strings, arrays and errors are the same in RESP3.
#[test]
fn resp3_keeps_other_reply_types() {
    let mut client = resp3(start(config()));
    client.run(&[
        ("PING", b"+PONG\r\n"),
        ("PING x", b"$1\r\nx\r\n"),
        ("ECHO x", b"$1\r\nx\r\n"),
        ("INCR c", b":1\r\n"),
        ("SET k v EX 100", b"+OK\r\n"),
        ("TTL k", b":100\r\n"),
        ("PTTL none", b":-2\r\n"),
        ("EXISTS k c", b":2\r\n"),
        ("TYPE k", b"+string\r\n"),
        ("TYPE none", b"+none\r\n"),
        ("KEYS nothing", b"*0\r\n"),
        ("MSET a 1", b"+OK\r\n"),
        ("DBSIZE", b":3\r\n"),
        ("USAGE", b":6\r\n"),
        (
            "GET",
            b"-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            "FOO a",
            b"-ERR unknown command 'FOO', with args beginning with: 'a' \r\n",
        ),
        (
            "SET k v EX 0",
            b"-ERR invalid expire time in 'set' command\r\n",
        ),
    ]);
    let reply = client.call("SCAN 0 COUNT 100");
    let [cursor, keys] = reply.array() else {
        panic!("SCAN answered {reply:?}");
    };
    assert_eq!(cursor, &Resp::Bulk(b"0".to_vec()), "SCAN cursor");
    let mut keys: Vec<String> = keys.array().iter().map(Resp::string).collect();
    keys.sort();
    assert_eq!(keys, ["a", "c", "k"], "SCAN keys");
    let reply = client.call("TIME");
    assert!(
        matches!(reply.array(), [Resp::Bulk(_), Resp::Bulk(_)]),
        "TIME answered {reply:?}"
    );
    done(client);
}

/// CONFIG GET answers a map in RESP3, empty for unknown names.
#[test]
fn resp3_config_get_is_a_map() {
    let mut client = resp3(start(Config {
        memory_limit: 12345,
        ..config()
    }));
    client.run(&[
        (
            "CONFIG GET maxmemory",
            b"%1\r\n$9\r\nmaxmemory\r\n$5\r\n12345\r\n",
        ),
        ("CONFIG GET save", b"%1\r\n$4\r\nsave\r\n$0\r\n\r\n"),
        (
            "CONFIG GET appendonly",
            b"%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
        ),
        ("CONFIG GET nonexistent", b"%0\r\n"),
    ]);
    let reply = client.call("CONFIG GET maxmemory timeout");
    assert!(
        matches!(&reply, Resp::Map(pairs) if pairs.len() == 2),
        "CONFIG GET of two names answered {reply:?}"
    );
    done(client);
}

/// INFO is a verbatim string of format `txt` in RESP3, with the same sections.
#[test]
fn resp3_info_is_a_verbatim_string() {
    let mut client = resp3(start(config()));
    client.run(&[("MSET a 1 b 2", b"+OK\r\n")]);
    let text = match client.call("INFO") {
        Resp::Verbatim(format, text) => {
            assert_eq!(format, b"txt", "INFO format");
            String::from_utf8(text).expect("INFO is UTF-8")
        }
        other => panic!("INFO answered {other:?}"),
    };
    for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"] {
        assert!(
            text.split("\r\n").any(|line| line == section),
            "INFO has no {section}:\n{text}"
        );
    }
    // The parser checks the declared length against the bytes that follow.
    match client.call("INFO keyspace") {
        Resp::Verbatim(format, text) => {
            assert_eq!(format, b"txt", "INFO keyspace format");
            assert!(
                text.starts_with(b"# Keyspace\r\ndb0:keys=2,expires=0"),
                "INFO keyspace: {}",
                common::show(&text)
            );
        }
        other => panic!("INFO keyspace answered {other:?}"),
    }
    done(client);
}

/// HELLO with an unsupported version is refused and the connection stays RESP3.
#[test]
fn unsupported_version_keeps_resp3() {
    let mut client = resp3(start(config()));
    client.run(&[
        ("HELLO 4", b"-NOPROTO unsupported protocol version\r\n"),
        ("GET nokey", b"_\r\n"),
        (
            "HELLO abc",
            b"-ERR Protocol version is not an integer or out of range\r\n",
        ),
        (
            "HELLO 3 FOO",
            b"-ERR Syntax error in HELLO option 'FOO'\r\n",
        ),
        ("GET nokey", b"_\r\n"),
    ]);
    done(client);
}

/// The protocol is per connection: another connection still gets RESP2.
#[test]
fn resp3_is_per_connection() {
    let addr = start(config());
    let mut three = resp3(addr);
    let mut two = Client::tcp(addr);
    three.run(&[("GET nokey", b"_\r\n")]);
    two.run(&[
        ("GET nokey", b"$-1\r\n"),
        ("CONFIG GET nonexistent", b"*0\r\n"),
    ]);
    three.run(&[("CONFIG GET nonexistent", b"%0\r\n")]);
    done(three);
    done(two);
}

/// HELLO 3 SETNAME names the connection as it switches.
#[test]
fn hello_3_setname_names_the_connection() {
    let mut client = Client::tcp(start(config()));
    check_hello(&client.call("HELLO 3 SETNAME myname"), 3);
    client.run(&[
        ("CLIENT GETNAME", b"$6\r\nmyname\r\n"),
        ("GET nokey", b"_\r\n"),
    ]);
    done(client);
}

/// After HELLO 3 a text request still gets a text reply, and RESP ones RESP3 replies.
#[test]
fn text_requests_keep_text_replies_after_hello_3() {
    let mut client = resp3(start(config()));
    client.expect(b"GET nokey\n", b"NOT_FOUND\n");
    client.expect(b"SET a 1\n", b"OK\n");
    client.expect(&req("GET a"), b"$1\r\n1\r\n");
    client.expect(&cmd(&[b"GET", b"nokey"]), b"_\r\n");
    client.expect(b"GET a\n", b"VALUE MQ==\n");
    done(client);
}

/// RESP3 requests pipelined in one write are answered in order.
#[test]
fn resp3_pipeline_is_answered_in_order() {
    let mut client = resp3(start(config()));
    let request = [
        req("SET a 1"),
        req("GET nokey"),
        req("INCR a"),
        req("MGET a nokey"),
        req("CONFIG GET nonexistent"),
    ]
    .concat();
    client.expect(&request, b"+OK\r\n_\r\n:2\r\n*2\r\n$1\r\n2\r\n_\r\n%0\r\n");
    done(client);
}
