//! Publish/subscribe at the wire: SUBSCRIBE, PSUBSCRIBE, their UNSUBSCRIBEs
//! and PUBLISH in RESP2 and RESP3, subscribed mode, PUBSUB's introspection,
//! RESET, disconnects, MULTI, CLIENT INFO's fields, delivery order under
//! concurrent publishers, the output limit of a subscriber that does not
//! read, the text protocol's SUBSCRIBE family, and the counters of STATS and
//! INFO.
//!
//! Every expected RESP reply was taken from Redis 7.0 given the same
//! requests, in RESP2 and, where the bytes differ, RESP3. The text
//! protocol's lines, STATS's counters and `pubsub_slow_disconnected` are
//! Blink-Store's own.

mod common;

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use blink_store::config::Config;
use common::resp::{bulk, cmd, int, req, resp3, Resp};
use common::{config, done, eventually, start, Client, Rng};

/// Workers of the test server: one per connection of the busiest test (16
/// clients of the ordering test and an observer) with room to spare.
const THREADS: usize = 32;

/// A server with a worker for every connection these tests open.
fn server() -> SocketAddr {
    start(Config {
        threads: THREADS,
        ..config()
    })
}

/// A connection speaking RESP2 or, after `HELLO 3`, RESP3.
fn connect(addr: SocketAddr, proto: u8) -> Client<TcpStream> {
    if proto == 3 {
        resp3(addr)
    } else {
        Client::tcp(addr)
    }
}

/// A pub/sub frame of encoded `items`: an array in RESP2, a push in RESP3.
fn frame(proto: u8, items: &[Vec<u8>]) -> Vec<u8> {
    let head = if proto == 2 { '*' } else { '>' };
    let mut out = format!("{head}{}\r\n", items.len()).into_bytes();
    for item in items {
        out.extend_from_slice(item);
    }
    out
}

/// The confirmation of `kind` (subscribe, unsubscribe, psubscribe,
/// punsubscribe) for `name` with the connection's running count; `None` is
/// the null name of an UNSUBSCRIBE that had nothing to drop.
fn confirm(proto: u8, kind: &str, name: Option<&str>, count: i64) -> Vec<u8> {
    let name = match name {
        Some(name) => bulk(name.as_bytes()),
        None if proto == 2 => b"$-1\r\n".to_vec(),
        None => b"_\r\n".to_vec(),
    };
    frame(proto, &[bulk(kind.as_bytes()), name, int(count)])
}

/// The delivery of `payload` published on `channel` to a channel subscriber.
fn message(proto: u8, channel: &str, payload: &[u8]) -> Vec<u8> {
    frame(
        proto,
        &[bulk(b"message"), bulk(channel.as_bytes()), bulk(payload)],
    )
}

/// The delivery of `payload` published on `channel` to a subscriber of
/// `pattern`.
fn pmessage(proto: u8, pattern: &str, channel: &str, payload: &[u8]) -> Vec<u8> {
    frame(
        proto,
        &[
            bulk(b"pmessage"),
            bulk(pattern.as_bytes()),
            bulk(channel.as_bytes()),
            bulk(payload),
        ],
    )
}

/// Sends the RESP request `words` and asserts the next bytes are `expected`.
#[track_caller]
fn expect(client: &mut Client<TcpStream>, words: &str, expected: &[u8]) {
    client.expect(&req(words), expected);
}

/// Sends `request`, a SUBSCRIBE or PSUBSCRIBE, and asserts a confirmation
/// for each name in order, the count going on from `before`.
#[track_caller]
fn subscribe(client: &mut Client<TcpStream>, proto: u8, request: &str, before: i64) {
    let (kind, names) = request.split_once(' ').expect("a command and names");
    let kind = kind.to_lowercase();
    let confirms: Vec<u8> = (before + 1..)
        .zip(names.split(' '))
        .flat_map(|(count, name)| confirm(proto, &kind, Some(name), count))
        .collect();
    expect(client, request, &confirms);
}

/// Asserts the next bytes `client` receives, unasked, are `expected`.
#[track_caller]
fn receive(client: &mut Client<TcpStream>, expected: &[u8]) {
    let got = client.take(expected.len());
    common::same(&got, expected, "delivery");
}

/// Asks `words` until the parsed reply is `expected`, for at most
/// [`common::TIMEOUT`]: the server forgets a closed connection just after
/// the close.
#[track_caller]
fn await_resp(client: &mut Client<TcpStream>, words: &str, expected: Resp) {
    eventually(&format!("{words} to answer {expected:?}"), || {
        (client.call(words) == expected).then_some(())
    });
}

/// `PUBSUB NUMSUB channel`'s reply for `n` subscribers, parsed.
fn numsub(channel: &str, n: i64) -> Resp {
    Resp::Array(vec![Resp::Bulk(channel.into()), Resp::Integer(n)])
}

/// The value of `name=` in a CLIENT LIST or CLIENT INFO line.
#[track_caller]
fn client_field(line: &str, name: &str) -> String {
    line.trim_end()
        .split(' ')
        .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name}= in {line}"))
        .to_string()
}

/// Redis's error for a command a RESP2 subscriber may not run.
fn not_in_subscribed_mode(command: &str) -> Vec<u8> {
    format!(
        "-ERR Can't execute '{command}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
         RESET are allowed in this context\r\n"
    )
    .into_bytes()
}

/// RESP2: SUBSCRIBE confirms each channel with the running count, PUBLISH counts the receiver, UNSUBSCRIBE drops one then all, and with nothing left answers a null channel.
#[test]
fn subscribe_publish_unsubscribe_resp2() {
    let addr = server();
    let mut sub = Client::tcp(addr);
    let mut publisher = Client::tcp(addr);
    expect(
        &mut sub,
        "SUBSCRIBE a b",
        b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    expect(&mut publisher, "PUBLISH a msg", b":1\r\n");
    receive(&mut sub, b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$3\r\nmsg\r\n");
    expect(
        &mut sub,
        "UNSUBSCRIBE a",
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n",
    );
    expect(&mut publisher, "PUBLISH a msg", b":0\r\n");
    expect(
        &mut sub,
        "UNSUBSCRIBE",
        b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n",
    );
    expect(
        &mut sub,
        "UNSUBSCRIBE",
        b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
    );
    expect(
        &mut sub,
        "PUNSUBSCRIBE",
        b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n",
    );
    expect(
        &mut sub,
        "UNSUBSCRIBE zz",
        b"*3\r\n$11\r\nunsubscribe\r\n$2\r\nzz\r\n:0\r\n",
    );
    expect(&mut sub, "PING", b"+PONG\r\n");
    expect(&mut publisher, "PUBLISH b msg", b":0\r\n");
    done(sub);
    done(publisher);
}

/// RESP3: the same exchange with push frames (`>`) and `_` as the null channel.
#[test]
fn subscribe_publish_unsubscribe_resp3() {
    let addr = server();
    let mut sub = resp3(addr);
    let mut publisher = resp3(addr);
    expect(
        &mut sub,
        "SUBSCRIBE a b",
        b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    expect(&mut publisher, "PUBLISH a msg", b":1\r\n");
    receive(&mut sub, b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$3\r\nmsg\r\n");
    expect(
        &mut sub,
        "UNSUBSCRIBE a",
        b">3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n",
    );
    expect(
        &mut sub,
        "UNSUBSCRIBE",
        b">3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n",
    );
    expect(
        &mut sub,
        "UNSUBSCRIBE",
        b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n",
    );
    expect(
        &mut sub,
        "PUNSUBSCRIBE",
        b">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n",
    );
    expect(&mut sub, "PING", b"+PONG\r\n");
    done(sub);
    done(publisher);
}

/// PSUBSCRIBE takes `*`, `?` and `[..]` globs; PUBLISH counts only matching patterns; PUNSUBSCRIBE drops one pattern, then the rest, then answers the null pattern.
fn pattern_subscriptions(proto: u8) {
    let addr = server();
    let mut sub = connect(addr, proto);
    let mut publisher = Client::tcp(addr);
    subscribe(&mut sub, proto, "PSUBSCRIBE news.* h?llo [ab]x", 0);
    for (channel, receivers) in [
        ("news.x", 1),
        ("news", 0),
        ("hello", 1),
        ("hallo", 1),
        ("heello", 0),
        ("ax", 1),
        ("cx", 0),
    ] {
        expect(
            &mut publisher,
            &format!("PUBLISH {channel} m"),
            &int(receivers),
        );
    }
    receive(
        &mut sub,
        &[
            pmessage(proto, "news.*", "news.x", b"m"),
            pmessage(proto, "h?llo", "hello", b"m"),
            pmessage(proto, "h?llo", "hallo", b"m"),
            pmessage(proto, "[ab]x", "ax", b"m"),
        ]
        .concat(),
    );
    expect(
        &mut sub,
        "PUNSUBSCRIBE h?llo",
        &confirm(proto, "punsubscribe", Some("h?llo"), 2),
    );
    expect(&mut publisher, "PUBLISH hello m", b":0\r\n");
    expect(
        &mut sub,
        "PUNSUBSCRIBE news.* [ab]x",
        &[
            confirm(proto, "punsubscribe", Some("news.*"), 1),
            confirm(proto, "punsubscribe", Some("[ab]x"), 0),
        ]
        .concat(),
    );
    expect(
        &mut sub,
        "PUNSUBSCRIBE",
        &confirm(proto, "punsubscribe", None, 0),
    );
    expect(&mut publisher, "PUBLISH ax m", b":0\r\n");
    done(sub);
    done(publisher);
}

/// PSUBSCRIBE, pmessage and PUNSUBSCRIBE with glob patterns in RESP2.
#[test]
fn pattern_subscriptions_match_globs_resp2() {
    pattern_subscriptions(2);
}

/// PSUBSCRIBE, pmessage and PUNSUBSCRIBE with glob patterns in RESP3.
#[test]
fn pattern_subscriptions_match_globs_resp3() {
    pattern_subscriptions(3);
}

/// A client subscribed to `news.x` and `news.*` gets a message twice (message, then pmessage), and PUBLISH counts both; a pattern-less PUNSUBSCRIBE still reports the channel in its count.
fn channel_and_pattern(proto: u8) {
    let addr = server();
    let mut sub = connect(addr, proto);
    let mut other = connect(addr, proto);
    let mut publisher = Client::tcp(addr);
    subscribe(&mut sub, proto, "SUBSCRIBE news.x", 0);
    subscribe(&mut sub, proto, "PSUBSCRIBE news.*", 1);
    subscribe(&mut other, proto, "PSUBSCRIBE news.*", 0);
    expect(&mut publisher, "PUBLISH news.x twice", b":3\r\n");
    receive(
        &mut sub,
        &[
            message(proto, "news.x", b"twice"),
            pmessage(proto, "news.*", "news.x", b"twice"),
        ]
        .concat(),
    );
    receive(&mut other, &pmessage(proto, "news.*", "news.x", b"twice"));
    expect(&mut publisher, "PUBLISH news.y once", b":2\r\n");
    receive(&mut sub, &pmessage(proto, "news.*", "news.y", b"once"));
    receive(&mut other, &pmessage(proto, "news.*", "news.y", b"once"));
    expect(
        &mut sub,
        "PUNSUBSCRIBE",
        &confirm(proto, "punsubscribe", Some("news.*"), 1),
    );
    expect(
        &mut sub,
        "PUNSUBSCRIBE",
        &confirm(proto, "punsubscribe", None, 1),
    );
    expect(&mut publisher, "PUBLISH news.x again", b":2\r\n");
    receive(&mut sub, &message(proto, "news.x", b"again"));
    receive(&mut other, &pmessage(proto, "news.*", "news.x", b"again"));
    done(sub);
    done(other);
    done(publisher);
}

/// A channel and a pattern that both match deliver twice and count twice, in RESP2.
#[test]
fn channel_and_pattern_both_matching_deliver_twice_resp2() {
    channel_and_pattern(2);
}

/// A channel and a pattern that both match deliver twice and count twice, in RESP3.
#[test]
fn channel_and_pattern_both_matching_deliver_twice_resp3() {
    channel_and_pattern(3);
}

/// A RESP2 subscriber may run only the SUBSCRIBE family, PING (answered `pong` arrays), QUIT and RESET; anything else gets Redis's error naming the command, and unknown commands their usual error.
#[test]
fn resp2_subscribed_mode_allows_only_subscription_commands() {
    let addr = server();
    let mut sub = Client::tcp(addr);
    subscribe(&mut sub, 2, "SUBSCRIBE a", 0);
    expect(&mut sub, "GET k", &not_in_subscribed_mode("get"));
    expect(&mut sub, "SET k v", &not_in_subscribed_mode("set"));
    expect(
        &mut sub,
        "PUBLISH a self",
        &not_in_subscribed_mode("publish"),
    );
    expect(
        &mut sub,
        "PUBSUB NUMSUB a",
        &not_in_subscribed_mode("pubsub|numsub"),
    );
    expect(
        &mut sub,
        "CLIENT INFO",
        &not_in_subscribed_mode("client|info"),
    );
    expect(&mut sub, "MULTI", &not_in_subscribed_mode("multi"));
    expect(&mut sub, "HELLO 3", &not_in_subscribed_mode("hello"));
    expect(
        &mut sub,
        "FOO",
        b"-ERR unknown command 'FOO', with args beginning with: \r\n",
    );
    expect(&mut sub, "PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    expect(&mut sub, "PING hi", b"*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    subscribe(&mut sub, 2, "PSUBSCRIBE x*", 1);
    expect(
        &mut sub,
        "UNSUBSCRIBE a",
        &confirm(2, "unsubscribe", Some("a"), 1),
    );
    // A pattern alone keeps the connection in subscribed mode.
    expect(&mut sub, "GET k", &not_in_subscribed_mode("get"));
    expect(&mut sub, "PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    sub.send(&req("QUIT"));
    sub.expect_close(b"+OK\r\n");
}

/// A RESP3 subscriber runs every command; PING is `+PONG`; its own PUBLISH delivers the push before the count; HELLO 2 puts it back under RESP2's rules.
#[test]
fn resp3_subscriber_runs_every_command() {
    let addr = server();
    let mut sub = resp3(addr);
    subscribe(&mut sub, 3, "SUBSCRIBE a", 0);
    expect(&mut sub, "GET k", b"_\r\n");
    expect(&mut sub, "SET k v", b"+OK\r\n");
    expect(&mut sub, "GET k", b"$1\r\nv\r\n");
    expect(&mut sub, "PING", b"+PONG\r\n");
    expect(&mut sub, "PING hi", b"$2\r\nhi\r\n");
    expect(
        &mut sub,
        "PUBLISH a self",
        b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$4\r\nself\r\n:1\r\n",
    );
    expect(&mut sub, "PUBSUB NUMSUB a", b"*2\r\n$1\r\na\r\n:1\r\n");
    // HELLO 2's reply is the RESP2 array of HELLO; only its kind matters here.
    sub.send(&req("HELLO 2"));
    assert!(matches!(sub.reply(), Resp::Array(_)), "HELLO 2");
    expect(&mut sub, "GET k", &not_in_subscribed_mode("get"));
    expect(&mut sub, "PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    done(sub);
}

/// PUBSUB CHANNELS [pattern], NUMSUB and NUMPAT (distinct patterns) answer as Redis, as do a wrong subcommand and wrong arities.
#[test]
fn pubsub_introspection_answers_as_redis() {
    let addr = server();
    let mut observer = Client::tcp(addr);
    observer.run(&[
        ("PUBSUB CHANNELS", b"*0\r\n"),
        ("PUBSUB NUMPAT", b":0\r\n"),
        ("PUBSUB NUMSUB", b"*0\r\n"),
        ("PUBSUB NUMSUB news", b"*2\r\n$4\r\nnews\r\n:0\r\n"),
    ]);
    let mut one = Client::tcp(addr);
    let mut two = resp3(addr);
    subscribe(&mut one, 2, "SUBSCRIBE news sport", 0);
    subscribe(&mut one, 2, "PSUBSCRIBE n* s*", 2);
    subscribe(&mut two, 3, "SUBSCRIBE news", 0);
    subscribe(&mut two, 3, "PSUBSCRIBE n*", 1);
    // Redis lists channels in hash order; compare them sorted.
    let mut channels: Vec<String> = observer
        .call("PUBSUB CHANNELS")
        .array()
        .iter()
        .map(Resp::string)
        .collect();
    channels.sort();
    assert_eq!(channels, ["news", "sport"], "PUBSUB CHANNELS");
    observer.run(&[
        ("PUBSUB CHANNELS n*", b"*1\r\n$4\r\nnews\r\n"),
        ("PUBSUB CHANNELS x*", b"*0\r\n"),
        (
            "PUBSUB NUMSUB news sport none news",
            b"*8\r\n$4\r\nnews\r\n:2\r\n$5\r\nsport\r\n:1\r\n$4\r\nnone\r\n:0\r\n$4\r\nnews\r\n:2\r\n",
        ),
        ("PUBSUB NUMPAT", b":2\r\n"),
        (
            "PUBSUB FOO",
            b"-ERR unknown subcommand 'FOO'. Try PUBSUB HELP.\r\n",
        ),
        (
            "PUBSUB foo bar",
            b"-ERR unknown subcommand 'foo'. Try PUBSUB HELP.\r\n",
        ),
        (
            "PUBSUB",
            b"-ERR wrong number of arguments for 'pubsub' command\r\n",
        ),
        (
            "PUBSUB CHANNELS a b",
            b"-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\r\n",
        ),
        (
            "PUBSUB NUMPAT x",
            b"-ERR wrong number of arguments for 'pubsub|numpat' command\r\n",
        ),
        (
            "SUBSCRIBE",
            b"-ERR wrong number of arguments for 'subscribe' command\r\n",
        ),
        (
            "PSUBSCRIBE",
            b"-ERR wrong number of arguments for 'psubscribe' command\r\n",
        ),
        (
            "PUBLISH a",
            b"-ERR wrong number of arguments for 'publish' command\r\n",
        ),
        (
            "PUBLISH a b c",
            b"-ERR wrong number of arguments for 'publish' command\r\n",
        ),
    ]);
    // A RESP3 subscriber's introspection replies are the same arrays.
    two.run(&[
        ("PUBSUB CHANNELS s*", b"*1\r\n$5\r\nsport\r\n"),
        ("PUBSUB NUMSUB sport", b"*2\r\n$5\r\nsport\r\n:1\r\n"),
        ("PUBSUB NUMPAT", b":2\r\n"),
    ]);
    done(one);
    done(two);
    done(observer);
}

/// RESET while subscribed answers +RESET, drops every channel and pattern, leaves subscribed mode and returns a RESP3 connection to RESP2.
#[test]
fn reset_drops_every_subscription() {
    let addr = server();
    let mut observer = Client::tcp(addr);
    for proto in [2, 3] {
        let mut sub = connect(addr, proto);
        subscribe(&mut sub, proto, "SUBSCRIBE a b", 0);
        subscribe(&mut sub, proto, "PSUBSCRIBE c*", 2);
        expect(
            &mut observer,
            "PUBSUB NUMSUB a b",
            b"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:1\r\n",
        );
        expect(&mut sub, "RESET", b"+RESET\r\n");
        expect(&mut sub, "GET k", b"$-1\r\n");
        observer.run(&[
            (
                "PUBSUB NUMSUB a b",
                b"*4\r\n$1\r\na\r\n:0\r\n$1\r\nb\r\n:0\r\n",
            ),
            ("PUBSUB NUMPAT", b":0\r\n"),
            ("PUBLISH a m", b":0\r\n"),
            ("PUBLISH cc m", b":0\r\n"),
        ]);
        done(sub);
    }
    done(observer);
}

/// A subscriber that disconnects is forgotten: NUMSUB and NUMPAT drop to 0 and PUBLISH counts no one.
#[test]
fn disconnected_subscriber_is_removed() {
    let addr = server();
    let mut observer = Client::tcp(addr);
    let mut sub = Client::tcp(addr);
    subscribe(&mut sub, 2, "SUBSCRIBE gone", 0);
    subscribe(&mut sub, 2, "PSUBSCRIBE g*", 1);
    expect(&mut observer, "PUBLISH gone m", b":2\r\n");
    drop(sub);
    await_resp(&mut observer, "PUBSUB NUMSUB gone", numsub("gone", 0));
    await_resp(&mut observer, "PUBSUB NUMPAT", Resp::Integer(0));
    observer.run(&[
        ("PUBLISH gone m", b":0\r\n"),
        ("PUBSUB CHANNELS", b"*0\r\n"),
    ]);
    done(observer);
}

/// Inside MULTI, SUBSCRIBE, PSUBSCRIBE, PUBLISH, UNSUBSCRIBE and PING are queued; EXEC runs them, and the PING after the SUBSCRIBE answers as a subscriber's; PUBLISH inside EXEC delivers.
fn subscribe_inside_multi(proto: u8, exec: &[u8], pong: &[u8]) {
    let addr = server();
    let mut client = connect(addr, proto);
    let mut listener = Client::tcp(addr);
    subscribe(&mut listener, 2, "SUBSCRIBE ch", 0);
    client.run(&[
        ("MULTI", b"+OK\r\n"),
        ("SUBSCRIBE x", b"+QUEUED\r\n"),
        ("PSUBSCRIBE y*", b"+QUEUED\r\n"),
        ("PUBLISH ch inmulti", b"+QUEUED\r\n"),
        ("UNSUBSCRIBE x", b"+QUEUED\r\n"),
        ("PING", b"+QUEUED\r\n"),
        ("EXEC", exec),
        ("PING", pong),
    ]);
    receive(&mut listener, &message(2, "ch", b"inmulti"));
    client.run(&[
        ("RESET", b"+RESET\r\n"),
        ("MULTI", b"+OK\r\n"),
        ("PUBLISH ch two", b"+QUEUED\r\n"),
        ("EXEC", b"*1\r\n:1\r\n"),
    ]);
    receive(&mut listener, &message(2, "ch", b"two"));
    done(client);
    done(listener);
}

/// SUBSCRIBE and PUBLISH queued in MULTI run at EXEC, in RESP2.
#[test]
fn subscribe_and_publish_inside_multi_run_at_exec_resp2() {
    subscribe_inside_multi(
        2,
        b"*5\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n*3\r\n$10\r\npsubscribe\r\n$2\r\ny*\r\n:2\r\n\
          :1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:1\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n",
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n",
    );
}

/// SUBSCRIBE and PUBLISH queued in MULTI run at EXEC, in RESP3: the confirmations are pushes inside EXEC's array.
#[test]
fn subscribe_and_publish_inside_multi_run_at_exec_resp3() {
    subscribe_inside_multi(
        3,
        b"*5\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n>3\r\n$10\r\npsubscribe\r\n$2\r\ny*\r\n:2\r\n\
          :1\r\n>3\r\n$11\r\nunsubscribe\r\n$1\r\nx\r\n:1\r\n+PONG\r\n",
        b"+PONG\r\n",
    );
}

/// CLIENT INFO of a RESP3 subscriber, and CLIENT LIST's line for a RESP2 one, show `flags=P` and the counts in `sub=` and `psub=`; after RESET, `flags=N sub=0 psub=0`.
#[test]
fn client_info_shows_subscriptions() {
    let addr = server();
    let mut sub = resp3(addr);
    subscribe(&mut sub, 3, "SUBSCRIBE a b", 0);
    subscribe(&mut sub, 3, "PSUBSCRIBE c*", 2);
    let info = sub.call("CLIENT INFO");
    assert!(matches!(info, Resp::Verbatim(..)), "{info:?}");
    let info = info.string();
    assert_eq!(client_field(&info, "flags"), "P", "{info}");
    assert_eq!(client_field(&info, "sub"), "2", "{info}");
    assert_eq!(client_field(&info, "psub"), "1", "{info}");

    let mut observer = Client::tcp(addr);
    let mut other = Client::tcp(addr);
    let id = other.call("CLIENT ID").integer();
    subscribe(&mut other, 2, "PSUBSCRIBE x*", 0);
    let line = observer.call(&format!("CLIENT LIST ID {id}")).string();
    assert_eq!(client_field(&line, "flags"), "P", "{line}");
    assert_eq!(client_field(&line, "sub"), "0", "{line}");
    assert_eq!(client_field(&line, "psub"), "1", "{line}");

    expect(&mut sub, "RESET", b"+RESET\r\n");
    let info = sub.call("CLIENT INFO").string();
    assert_eq!(client_field(&info, "flags"), "N", "{info}");
    assert_eq!(client_field(&info, "sub"), "0", "{info}");
    assert_eq!(client_field(&info, "psub"), "0", "{info}");
    done(sub);
    done(other);
    done(observer);
}

/// Channels of the ordering test.
const CHANNELS: [&str; 4] = ["c0", "c1", "c2", "c3"];

/// Each subscriber of the ordering test: its channels, its patterns, and
/// how many copies of a message published on c0..c3 it receives (a channel
/// and a pattern that both match deliver twice).
const MIXES: [(&[&str], &[&str], [usize; 4]); 8] = [
    (&["c0"], &[], [1, 0, 0, 0]),
    (&["c1", "c2"], &[], [0, 1, 1, 0]),
    (&[], &["c*"], [1, 1, 1, 1]),
    (&["c3"], &["c[23]"], [0, 0, 1, 2]),
    (&["c0", "c1", "c2", "c3"], &[], [1, 1, 1, 1]),
    (&[], &["c[01]", "c?"], [2, 2, 1, 1]),
    (&["c2"], &["*2", "c[12]"], [0, 1, 3, 0]),
    (&["c1", "c3"], &["c[^1]"], [1, 1, 1, 2]),
];

/// Publishers of the ordering test.
const PUBLISHERS: usize = 8;

/// Messages each publisher sends: 1,000 in all.
const PER_PUBLISHER: usize = 125;

/// The channel (an index into [`CHANNELS`]) of each message of `publisher`,
/// the same in every thread that asks.
fn plan(publisher: usize) -> Vec<usize> {
    let mut rng = Rng(publisher as u64 + 1);
    (0..PER_PUBLISHER).map(|_| rng.below(4) as usize).collect()
}

/// 8 publishers each PUBLISH 125 numbered messages over 4 channels while 8 subscribers with distinct mixes of channels and patterns listen: every subscriber gets exactly its messages, each publisher's in order.
#[test]
fn concurrent_publishers_deliver_every_message_in_order() {
    let started = Instant::now();
    let addr = server();
    // Each subscriber reports once its subscriptions are confirmed; a
    // channel, not a barrier, so that one failing cannot hang the rest.
    let (ready, confirmed) = mpsc::channel();
    let subscribers: Vec<_> = MIXES
        .iter()
        .map(|&(channels, patterns, copies)| {
            let ready = ready.clone();
            thread::spawn(move || {
                let mut client = Client::tcp(addr);
                let mut before = 0;
                for (kind, names) in [("SUBSCRIBE", channels), ("PSUBSCRIBE", patterns)] {
                    if !names.is_empty() {
                        subscribe(
                            &mut client,
                            2,
                            &format!("{kind} {}", names.join(" ")),
                            before,
                        );
                        before += names.len() as i64;
                    }
                }
                ready.send(()).unwrap();
                let expected: Vec<Vec<(String, String)>> = (0..PUBLISHERS)
                    .map(|p| {
                        plan(p)
                            .iter()
                            .enumerate()
                            .flat_map(|(seq, &ch)| {
                                let one = (CHANNELS[ch].to_string(), format!("p{p}-{seq}"));
                                std::iter::repeat(one).take(copies[ch])
                            })
                            .collect()
                    })
                    .collect();
                let total: usize = expected.iter().map(Vec::len).sum();
                let mut got = vec![Vec::new(); PUBLISHERS];
                for _ in 0..total {
                    let reply = client.reply();
                    let (channel, payload) = match reply.array() {
                        [kind, channel, payload] if kind.text() == b"message" => {
                            assert!(channels.contains(&channel.string().as_str()));
                            (channel.string(), payload.string())
                        }
                        [kind, pattern, channel, payload] if kind.text() == b"pmessage" => {
                            assert!(patterns.contains(&pattern.string().as_str()));
                            (channel.string(), payload.string())
                        }
                        _ => panic!("a subscriber received {reply:?}"),
                    };
                    let publisher: usize = payload[1..payload.find('-').unwrap()].parse().unwrap();
                    got[publisher].push((channel, payload));
                }
                for (p, (got, expected)) in got.iter().zip(&expected).enumerate() {
                    assert!(
                        got == expected,
                        "subscriber of {channels:?} {patterns:?}, publisher {p}: \
                         got {got:?}, expected {expected:?}"
                    );
                }
                client.expect_silence(Duration::from_millis(100));
                done(client);
            })
        })
        .collect();
    for _ in 0..MIXES.len() {
        confirmed
            .recv_timeout(common::TIMEOUT)
            .expect("a subscriber failed to subscribe");
    }
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            thread::spawn(move || {
                let mut client = Client::tcp(addr);
                for (seq, ch) in plan(p).into_iter().enumerate() {
                    let receivers: usize = MIXES.iter().map(|(_, _, copies)| copies[ch]).sum();
                    expect(
                        &mut client,
                        &format!("PUBLISH {} p{p}-{seq}", CHANNELS[ch]),
                        &int(receivers as i64),
                    );
                }
                done(client);
            })
        })
        .collect();
    for handle in publishers.into_iter().chain(subscribers) {
        handle.join().expect("a client failed");
    }
    assert!(started.elapsed() < Duration::from_secs(60), "took too long");
}

/// Size of each message of the slow-subscriber test.
const BIG: usize = 64 << 10;

/// Messages of the slow-subscriber test: 48 MiB in all, past the 32 MiB
/// output limit of a subscriber however much the kernel buffers.
const BIG_COUNT: usize = 768;

/// Messages the reading subscriber of the slow-subscriber test may be
/// behind the publisher: 4 MiB, well under the 32 MiB limit.
const READER_WINDOW: usize = 64;

/// Message `i` of the slow-subscriber test: its number, then filler.
fn big_payload(i: usize) -> Vec<u8> {
    let mut payload = vec![b'a' + (i % 26) as u8; BIG];
    payload[..8].copy_from_slice(format!("{i:08}").as_bytes());
    payload
}

/// Reads `stream` until the server closes it (end of file or a reset) and
/// returns how many bytes came; panics if it stays open past the read
/// timeout.
fn drain(stream: &TcpStream) -> usize {
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        match (&*stream).read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                return total
            }
            Err(e) => panic!("the slow subscriber stayed connected ({e}) after {total} bytes"),
        }
    }
}

/// A subscriber that never reads is disconnected once over 32 MiB of its output is pending, while the publisher never blocks and a reading subscriber gets all 48 MiB; STATS counts the disconnect.
#[test]
fn slow_subscriber_is_disconnected_and_others_get_everything() {
    let started = Instant::now();
    let addr = server();
    let mut slow = Client::tcp(addr);
    subscribe(&mut slow, 2, "SUBSCRIBE big", 0);
    let mut fast = Client::tcp(addr);
    subscribe(&mut fast, 2, "SUBSCRIBE big", 0);
    let delivered = Arc::new(AtomicUsize::new(0));
    let reader = thread::spawn({
        let delivered = Arc::clone(&delivered);
        move || {
            for i in 0..BIG_COUNT {
                let reply = fast.reply();
                let ok = matches!(reply.array(), [kind, channel, payload]
                if kind.text() == b"message" && channel.text() == b"big"
                    && payload.text() == big_payload(i).as_slice());
                assert!(ok, "message {i} to the reading subscriber is wrong");
                delivered.store(i + 1, Ordering::Relaxed);
            }
            fast
        }
    });
    let mut publisher = Client::tcp(addr);
    let mut receivers = Vec::with_capacity(BIG_COUNT);
    for i in 0..BIG_COUNT {
        // The reading subscriber must stay well under the limit itself:
        // without this a reader slower than the publisher falls behind
        // by 32 MiB and is rightly disconnected too.
        eventually("the reading subscriber to keep up", || {
            (i < delivered.load(Ordering::Relaxed) + READER_WINDOW).then_some(())
        });
        receivers.push(publisher.call_args(&[b"PUBLISH", b"big", &big_payload(i)]));
    }
    let fast = reader.join().expect("the reading subscriber failed");
    // 2 while the slow subscriber is still subscribed, then 1.
    let twos = receivers
        .iter()
        .take_while(|r| **r == Resp::Integer(2))
        .count();
    assert!(
        receivers[twos..].iter().all(|r| *r == Resp::Integer(1)),
        "PUBLISH answered {:?}",
        &receivers[twos..]
    );
    let received = drain(slow.stream());
    assert!(
        received < BIG_COUNT * BIG,
        "the slow subscriber received {received} bytes, all of them"
    );
    await_resp(&mut publisher, "PUBSUB NUMSUB big", numsub("big", 1));
    publisher.await_stat("pubsub_slow_disconnected", 1);
    done(fast);
    done(publisher);
    assert!(started.elapsed() < Duration::from_secs(60), "took too long");
}

/// The text protocol's SUBSCRIBE, PSUBSCRIBE and UNSUBSCRIBE answer a line per name with the running count; deliveries are MESSAGE and PMESSAGE lines with base64 payloads; PUBLISH's message is the rest of the line; a text subscriber may run only the subscription commands, PING and QUIT.
#[test]
fn text_subscriptions_answer_lines_with_base64_payloads() {
    let addr = server();
    let mut news = Client::tcp(addr);
    let mut pair = Client::tcp(addr);
    let mut pattern = Client::tcp(addr);
    let mut publisher = Client::tcp(addr);
    news.transcript(&[(b"SUBSCRIBE news\n", b"SUBSCRIBE news 1\n")]);
    pair.transcript(&[(b"SUBSCRIBE a b\n", b"SUBSCRIBE a 1\nSUBSCRIBE b 2\n")]);
    pattern.transcript(&[(b"PSUBSCRIBE n*\n", b"PSUBSCRIBE n* 1\n")]);
    publisher.transcript(&[
        (b"PUBLISH news hi there\n", b"PUBLISH 2\n"),
        (b"PUBLISH b x\n", b"PUBLISH 1\n"),
        (b"PUBLISH other x\n", b"PUBLISH 0\n"),
    ]);
    receive(&mut news, b"MESSAGE news aGkgdGhlcmU=\n");
    receive(&mut pattern, b"PMESSAGE n* news aGkgdGhlcmU=\n");
    receive(&mut pair, b"MESSAGE b eA==\n");
    news.transcript(&[
        (
            b"GET k\n",
            b"ERROR only SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PING and QUIT are \
              allowed while subscribed\n",
        ),
        (b"PING\n", b"PONG\n"),
        (b"UNSUBSCRIBE news\n", b"UNSUBSCRIBE news 0\n"),
        (b"UNSUBSCRIBE\n", b"UNSUBSCRIBE 0\n"),
        (b"GET k\n", b"NOT_FOUND\n"),
    ]);
    publisher.transcript(&[(b"PUBLISH news hello world\n", b"PUBLISH 1\n")]);
    receive(&mut pattern, b"PMESSAGE n* news aGVsbG8gd29ybGQ=\n");
    pattern.transcript(&[(b"PUNSUBSCRIBE n*\n", b"PUNSUBSCRIBE n* 0\n")]);
    publisher.transcript(&[(b"PUBLISH news x\n", b"PUBLISH 0\n")]);
    for client in [news, pair, pattern, publisher] {
        done(client);
    }
}

/// A text subscriber and a RESP subscriber of one channel both receive a RESP publisher's binary payload and a text publisher's message, each in its own protocol.
#[test]
fn text_and_resp_subscribers_share_channels() {
    let addr = server();
    let mut text = Client::tcp(addr);
    let mut resp = Client::tcp(addr);
    text.transcript(&[(b"SUBSCRIBE mix\n", b"SUBSCRIBE mix 1\n")]);
    subscribe(&mut resp, 2, "SUBSCRIBE mix", 0);
    let mut publisher = Client::tcp(addr);
    publisher.expect(&cmd(&[b"PUBLISH", b"mix", b"a\r\nb\0c"]), b":2\r\n");
    receive(&mut text, b"MESSAGE mix YQ0KYgBj\n");
    receive(&mut resp, &message(2, "mix", b"a\r\nb\0c"));
    publisher.expect(b"PUBLISH mix from text\n", b"PUBLISH 2\n");
    receive(&mut text, b"MESSAGE mix ZnJvbSB0ZXh0\n");
    receive(&mut resp, &message(2, "mix", b"from text"));
    for client in [text, resp, publisher] {
        done(client);
    }
}

/// STATS counts distinct channels, distinct patterns and subscribed connections of either protocol; INFO's stats section has Redis's `pubsub_channels` and `pubsub_patterns`; all drop to 0 when the subscribers leave.
#[test]
fn stats_and_info_count_channels_patterns_and_subscribers() {
    let addr = server();
    let mut resp = Client::tcp(addr);
    let mut text = Client::tcp(addr);
    subscribe(&mut resp, 2, "SUBSCRIBE x y", 0);
    subscribe(&mut resp, 2, "PSUBSCRIBE p*", 2);
    text.transcript(&[
        (b"SUBSCRIBE x\n", b"SUBSCRIBE x 1\n"),
        (b"PSUBSCRIBE p* q*\n", b"PSUBSCRIBE p* 2\nPSUBSCRIBE q* 3\n"),
    ]);
    let mut observer = Client::tcp(addr);
    assert_eq!(observer.stat("pubsub_channels"), 2);
    assert_eq!(observer.stat("pubsub_patterns"), 2);
    assert_eq!(observer.stat("pubsub_subscribers"), 2);
    let info = observer.call("INFO stats").string();
    for line in ["pubsub_channels:2\r\n", "pubsub_patterns:2\r\n"] {
        assert!(info.contains(line), "{line} in {info}");
    }
    drop(resp);
    drop(text);
    observer.await_stat("pubsub_subscribers", 0);
    assert_eq!(observer.stat("pubsub_channels"), 0);
    assert_eq!(observer.stat("pubsub_patterns"), 0);
    let info = observer.call("INFO stats").string();
    for line in ["pubsub_channels:0\r\n", "pubsub_patterns:0\r\n"] {
        assert!(info.contains(line), "{line} in {info}");
    }
    done(observer);
}
