//! The text protocol at the wire: every command, every error reply, and the
//! byte-level rules of lines, tokens, keys and values.

mod common;

use common::{check, config, start, value_reply, Client};

/// A stored value comes back as standard base64 with padding.
#[test]
fn set_then_get_returns_base64() {
    check(
        start(config()),
        &[
            (b"SET user alice\n", b"OK\n"),
            (b"GET user\n", b"VALUE YWxpY2U=\n"),
        ],
    );
}

/// Base64 padding is right for every remainder of the value length.
#[test]
fn base64_padding_follows_value_length() {
    check(
        start(config()),
        &[
            (b"SET a x\n", b"OK\n"),
            (b"GET a\n", b"VALUE eA==\n"),
            (b"SET a xy\n", b"OK\n"),
            (b"GET a\n", b"VALUE eHk=\n"),
            (b"SET a xyz\n", b"OK\n"),
            (b"GET a\n", b"VALUE eHl6\n"),
            (b"SET a xyz+/?\n", b"OK\n"),
            (b"GET a\n", b"VALUE eHl6Ky8/\n"),
        ],
    );
}

/// GET of a key never set answers NOT_FOUND.
#[test]
fn get_missing_key_is_not_found() {
    check(start(config()), &[(b"GET nobody\n", b"NOT_FOUND\n")]);
}

/// SET with a key and no value stores the empty value.
#[test]
fn set_without_value_stores_empty_value() {
    check(
        start(config()),
        &[
            (b"SET k\n", b"OK\n"),
            (b"GET k\n", b"VALUE \n"),
            (b"USAGE\n", b"USAGE 1\n"),
        ],
    );
}

/// A second SET replaces the value.
#[test]
fn set_overwrites_the_value() {
    check(
        start(config()),
        &[
            (b"SET user alice\n", b"OK\n"),
            (b"SET user bob\n", b"OK\n"),
            (b"GET user\n", b"VALUE Ym9i\n"),
        ],
    );
}

/// DELETE answers OK for a present key, then NOT_FOUND, and the key is gone.
#[test]
fn delete_removes_the_key_once() {
    check(
        start(config()),
        &[
            (b"SET user alice\n", b"OK\n"),
            (b"DELETE user\n", b"OK\n"),
            (b"GET user\n", b"NOT_FOUND\n"),
            (b"DELETE user\n", b"NOT_FOUND\n"),
            (b"DELETE never\n", b"NOT_FOUND\n"),
        ],
    );
}

/// USAGE is the key plus value bytes of live entries.
#[test]
fn usage_counts_key_and_value_bytes() {
    check(
        start(config()),
        &[
            (b"USAGE\n", b"USAGE 0\n"),
            (b"SET user alice\n", b"OK\n"),
            (b"USAGE\n", b"USAGE 9\n"),
            (b"SET config.timeout 30\n", b"OK\n"),
            (b"USAGE\n", b"USAGE 25\n"),
        ],
    );
}

/// USAGE stays exact when a value grows, shrinks, and is deleted.
#[test]
fn usage_is_exact_through_overwrites_and_deletes() {
    check(
        start(config()),
        &[
            (b"SET a 1234\n", b"OK\n"),
            (b"USAGE\n", b"USAGE 5\n"),
            (b"SET a 1\n", b"OK\n"),
            (b"USAGE\n", b"USAGE 2\n"),
            (b"DELETE a\n", b"OK\n"),
            (b"USAGE\n", b"USAGE 0\n"),
            (b"DELETE a\n", b"NOT_FOUND\n"),
            (b"USAGE\n", b"USAGE 0\n"),
        ],
    );
}

/// QUIT gets no reply: the server closes the connection.
#[test]
fn quit_closes_the_connection_without_reply() {
    let mut client = Client::tcp(start(config()));
    client.expect(b"SET a b\n", b"OK\n");
    client.send(b"QUIT\n");
    // Our write side stays open: the close must come from the server.
    common::same(&client.rest(), b"", "after QUIT");
}

/// A request pipelined before QUIT is answered before the close.
#[test]
fn quit_after_pipelined_request_answers_it_first() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    client.send(b"SET a b\nQUIT\n");
    common::same(&client.rest(), b"OK\n", "SET then QUIT");
    check(addr, &[(b"GET a\n", b"VALUE Yg==\n")]);
}

/// SET, GET and DELETE without a key name the command in the error.
#[test]
fn commands_without_key_name_the_command() {
    check(
        start(config()),
        &[
            (b"SET\n", b"ERROR SET requires key\n"),
            (b"GET\n", b"ERROR GET requires key\n"),
            (b"DELETE\n", b"ERROR DELETE requires key\n"),
            (b"SET  \t \n", b"ERROR SET requires key\n"),
            (b"get\t\n", b"ERROR GET requires key\n"),
            (b"USAGE\n", b"USAGE 0\n"),
        ],
    );
}

/// Unknown words and empty or blank lines are unknown commands.
#[test]
fn unknown_commands_and_empty_lines_are_errors() {
    check(
        start(config()),
        &[
            (b"\n", b"ERROR unknown command\n"),
            (b"\r\n", b"ERROR unknown command\n"),
            (b" \t \n", b"ERROR unknown command\n"),
            (b"FLUSH\n", b"ERROR unknown command\n"),
            (b"GETX a\n", b"ERROR unknown command\n"),
            (b"SETk v\n", b"ERROR unknown command\n"),
            (b"\xff\xfe k\n", b"ERROR unknown command\n"),
            (b"SET k v\n", b"OK\n"),
            (b"GET k\n", b"VALUE dg==\n"),
        ],
    );
}

/// Extra arguments to GET, DELETE, USAGE and QUIT are refused by name; QUIT x does not close.
#[test]
fn extra_arguments_are_refused() {
    check(
        start(config()),
        &[
            (b"SET a 1\n", b"OK\n"),
            (b"GET a b\n", b"ERROR wrong number of arguments for 'GET'\n"),
            (
                b"DELETE a b\n",
                b"ERROR wrong number of arguments for 'DELETE'\n",
            ),
            (
                b"USAGE x\n",
                b"ERROR wrong number of arguments for 'USAGE'\n",
            ),
            (b"QUIT x\n", b"ERROR wrong number of arguments for 'QUIT'\n"),
            (b"GET a\n", b"VALUE MQ==\n"),
            (b"USAGE\n", b"USAGE 2\n"),
        ],
    );
}

/// A `\r` before the `\n` is dropped, so CRLF clients work.
#[test]
fn crlf_line_endings_are_accepted() {
    check(
        start(config()),
        &[
            (b"SET k v\r\n", b"OK\n"),
            (b"GET k\r\n", b"VALUE dg==\n"),
            (b"USAGE\r\n", b"USAGE 2\n"),
            (b"DELETE k\r\n", b"OK\n"),
        ],
    );
}

/// Only one `\r` is dropped: a second one is part of the value.
#[test]
fn only_one_carriage_return_is_dropped() {
    check(
        start(config()),
        &[
            (b"SET k v\r\r\n", b"OK\n"),
            (b"GET k\n", b"VALUE dg0=\n"),
            (b"USAGE\n", b"USAGE 3\n"),
        ],
    );
}

/// Runs of spaces and tabs separate tokens, and blanks may lead the line.
#[test]
fn blanks_separate_tokens_and_may_lead_the_line() {
    check(
        start(config()),
        &[
            (b"  \t SET\t \tk \t v\n", b"OK\n"),
            (b"\tGET  k\n", b"VALUE dg==\n"),
            (b" USAGE\n", b"USAGE 2\n"),
            (b"DELETE\t\tk\n", b"OK\n"),
        ],
    );
}

/// Command names are case-insensitive.
#[test]
fn command_names_are_case_insensitive() {
    let addr = start(config());
    check(
        addr,
        &[
            (b"set k v\n", b"OK\n"),
            (b"Get k\n", b"VALUE dg==\n"),
            (b"uSaGe\n", b"USAGE 2\n"),
            (b"delete k\n", b"OK\n"),
            (b"gEt k\n", b"NOT_FOUND\n"),
        ],
    );
    let mut client = Client::tcp(addr);
    client.send(b"quit\n");
    common::same(&client.rest(), b"", "after quit");
}

/// Keys are case-sensitive: `k` and `K` are two entries.
#[test]
fn keys_are_case_sensitive() {
    check(
        start(config()),
        &[
            (b"SET k lower\n", b"OK\n"),
            (b"SET K upper\n", b"OK\n"),
            (b"GET k\n", b"VALUE bG93ZXI=\n"),
            (b"GET K\n", b"VALUE dXBwZXI=\n"),
            (b"USAGE\n", b"USAGE 12\n"),
        ],
    );
}

/// Keys and values that are not UTF-8 are stored and returned as is.
#[test]
fn invalid_utf8_keys_and_values_round_trip() {
    check(
        start(config()),
        &[
            (b"SET \xff\xfe \xfe\xff\x80\n", b"OK\n"),
            (b"GET \xff\xfe\n", b"VALUE /v+A\n"),
            (b"GET \xff\n", b"NOT_FOUND\n"),
            (b"USAGE\n", b"USAGE 5\n"),
            (b"DELETE \xff\xfe\n", b"OK\n"),
            (b"GET \xff\xfe\n", b"NOT_FOUND\n"),
        ],
    );
}

/// SET's value is the rest of the line, trimmed at both ends, inner runs kept.
#[test]
fn set_value_is_the_trimmed_rest_of_the_line() {
    let addr = start(config());
    check(
        addr,
        &[
            (b"SET sp hello big   world\n", b"OK\n"),
            (b"GET sp\n", &value_reply(b"hello big   world")),
            (b"SET sp \t  hello\tbig   world \t \n", b"OK\n"),
            (b"GET sp\n", &value_reply(b"hello\tbig   world")),
            (b"SET sp  \t \n", b"OK\n"),
            (b"GET sp\n", b"VALUE \n"),
            (b"USAGE\n", b"USAGE 2\n"),
        ],
    );
}

/// A final line with no `\n` when the client stops writing is not executed.
#[test]
fn unterminated_last_line_is_not_executed() {
    let addr = start(config());
    let mut client = Client::tcp(addr);
    client.send(b"SET k v\nSET k truncated");
    common::same(&client.finish(), b"OK\n", "replies before the close");
    check(
        addr,
        &[(b"GET k\n", b"VALUE dg==\n"), (b"USAGE\n", b"USAGE 2\n")],
    );
}

/// A value stored on one connection is read on another.
#[test]
fn connections_share_the_store() {
    let addr = start(config());
    check(addr, &[(b"SET shared yes\n", b"OK\n")]);
    check(addr, &[(b"GET shared\n", b"VALUE eWVz\n")]);
}
