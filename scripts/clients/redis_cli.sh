# shellcheck shell=bash
# Checks with redis-cli and redis-benchmark (Debian's redis-tools), sourced
# by scripts/clients/run.sh. The expected outputs are exactly what
# redis-cli 7 prints against Redis 7 (BLINK_CLIENT_TEST_SERVER=redis
# confirms it). redis-cli prints replies raw (`1`, an empty line for nil)
# when its stdout is not a terminal, as here, and in its terminal format
# (`(integer) 1`, `(nil)`) with --no-raw.

REDIS_CLI_CHECKS=(
    "redis-cli one-shot commands"
    "redis-cli scripted session"
    "redis-cli --pipe mass insertion of 100000 keys"
    "redis-cli INFO"
    "redis-cli -a/--pass against a password"
)
REDIS_BENCHMARK_CHECKS=("redis-benchmark set,get,incr,mset")


cli_one_shot() {
    local p=$1 rc=0
    expect_output OK redis-cli -h 127.0.0.1 -p "$p" SET k v || rc=1
    expect_output v redis-cli -h 127.0.0.1 -p "$p" GET k || rc=1
    expect_output 1 redis-cli -h 127.0.0.1 -p "$p" INCR n || rc=1
    expect_output '(integer) 2' redis-cli -h 127.0.0.1 -p "$p" --no-raw INCR n || rc=1
    expect_output '' redis-cli -h 127.0.0.1 -p "$p" GET missing || rc=1
    expect_output '(nil)' redis-cli -h 127.0.0.1 -p "$p" --no-raw GET missing || rc=1
    expect_output '"v"' redis-cli -h 127.0.0.1 -p "$p" --no-raw GET k || rc=1
    expect_output 'hello world' redis-cli -h 127.0.0.1 -p "$p" ECHO 'hello world' || rc=1
    expect_output PONG redis-cli -h 127.0.0.1 -p "$p" PING || rc=1
    expect_output 2 redis-cli -h 127.0.0.1 -p "$p" DEL k n missing || rc=1
    expect_output 0 redis-cli -h 127.0.0.1 -p "$p" EXISTS k || rc=1
    return $rc
}

cli_session() {
    local p=$1
    # Every line a person might type, one connection, replies in the
    # terminal format so that types show (`"1"` is a string, `(integer) 1`
    # a number).
    cat >"$WORK/session.txt" <<'EOF'
PING
ECHO "hello world"
SET greeting hello
APPEND greeting " world"
GET greeting
STRLEN greeting
SET counter 10
INCRBY counter 5
DECR counter
MSET a 1 b 2 c 3
MGET a b nosuch c
EXISTS a b nosuch
SETNX a 9
GETSET a 10
GETDEL b
TYPE a
TYPE nosuch
SET tmp x EX 100
TTL tmp
PERSIST tmp
TTL tmp
TTL nosuch
DEL a c tmp nosuch
DBSIZE
INCR greeting
GET nosuch
QUIT
EOF
    expect_output 'PONG
"hello world"
OK
(integer) 11
"hello world"
(integer) 11
OK
(integer) 15
(integer) 14
OK
1) "1"
2) "2"
3) (nil)
4) "3"
(integer) 2
(integer) 0
"1"
"2"
string
none
OK
(integer) 100
(integer) 1
(integer) -1
(integer) -2
(integer) 3
(integer) 2
(error) ERR value is not an integer or out of range
(nil)' redis-cli -h 127.0.0.1 -p "$p" --no-raw <"$WORK/session.txt"
}

cli_mass_insert() {
    local p=$1 rc=0
    # The protocol redis-cli --pipe expects: RESP arrays, as in Redis's
    # "mass insertion" guide.
    awk 'BEGIN {
        for (i = 0; i < 100000; i++) {
            k = "mass:" i; v = "value-" i
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
        }
    }' >"$WORK/mass.resp"
    expect_output OK redis-cli -h 127.0.0.1 -p "$p" FLUSHALL || rc=1
    run_cmd redis-cli -h 127.0.0.1 -p "$p" --pipe <"$WORK/mass.resp"
    if [ "$RC" -eq 0 ] && grep -qx 'errors: 0, replies: 100000' "$WORK/out"; then
        say "  ok: redis-cli --pipe: errors: 0, replies: 100000"
    else
        printf 'errors: 0, replies: 100000\n' >"$WORK/expected"
        grep -E '^errors: ' "$WORK/out" >"$WORK/got"
        report_mismatch "redis-cli -h 127.0.0.1 -p $p --pipe < mass.resp (the summary line)" \
            "$WORK/expected" "$WORK/got"
        say "    full output:"
        head -c 2000 "$WORK/out" | sed 's/^/      | /'
        rc=1
    fi
    expect_output 100000 redis-cli -h 127.0.0.1 -p "$p" DBSIZE || rc=1
    expect_output value-0 redis-cli -h 127.0.0.1 -p "$p" GET mass:0 || rc=1
    expect_output value-99999 redis-cli -h 127.0.0.1 -p "$p" GET mass:99999 || rc=1
    return $rc
}

cli_info() {
    local p=$1 rc=0 want
    run_cmd redis-cli -h 127.0.0.1 -p "$p" INFO
    for want in '# Server' 'redis_version:'; do
        if [ "$RC" -eq 0 ] && tr -d '\r' <"$WORK/out" | grep -q "^$want"; then
            say "  ok: redis-cli INFO has a line starting '$want'"
        else
            say "  MISMATCH: redis-cli -h 127.0.0.1 -p $p INFO:" \
                "no line starting '$want' (exit status $RC); got:"
            head -c 2000 "$WORK/out" | sed 's/^/      | /'
            sed 's/^/      stderr| /' "$WORK/err"
            rc=1
        fi
    done
    return $rc
}

cli_auth() {
    local p=$1 rc=0
    local a=(--no-auth-warning -a "$TEST_PASSWORD") pass=(--no-auth-warning --pass "$TEST_PASSWORD")
    expect_output PONG redis-cli -h 127.0.0.1 -p "$p" "${a[@]}" PING || rc=1
    expect_output OK redis-cli -h 127.0.0.1 -p "$p" "${pass[@]}" SET secret s3 || rc=1
    expect_output s3 redis-cli -h 127.0.0.1 -p "$p" "${a[@]}" GET secret || rc=1
    # Without the password, and with a wrong one, commands are refused;
    # redis-cli prints error replies raw with an empty line after them, and
    # reports a failed AUTH on stderr.
    expect_output $'NOAUTH Authentication required.\n' \
        redis-cli -h 127.0.0.1 -p "$p" GET secret || rc=1
    expect_output $'NOAUTH Authentication required.\n' \
        redis-cli -h 127.0.0.1 -p "$p" --no-auth-warning -a wrong GET secret || rc=1
    printf 'AUTH failed: WRONGPASS invalid username-password pair or user is disabled.\n' \
        >"$WORK/expected"
    if cmp -s "$WORK/expected" "$WORK/err"; then
        say "  ok: a wrong password is reported on stderr"
    else
        cp "$WORK/err" "$WORK/got"
        report_mismatch \
            "stderr of redis-cli -h 127.0.0.1 -p $p --no-auth-warning -a wrong GET secret" \
            "$WORK/expected" "$WORK/got"
        rc=1
    fi
    # Authenticating inside a session.
    printf 'GET secret\nAUTH wrong\nAUTH "%s"\nGET secret\n' "$TEST_PASSWORD" >"$WORK/auth.txt"
    expect_output '(error) NOAUTH Authentication required.
(error) WRONGPASS invalid username-password pair or user is disabled.
OK
"s3"' redis-cli -h 127.0.0.1 -p "$p" --no-raw <"$WORK/auth.txt" || rc=1
    return $rc
}

group_redis_cli() {
    if ! have redis-cli; then
        tool_missing redis-cli redis-tools "${REDIS_CLI_CHECKS[@]}"
        return
    fi
    if ! start_server plain || ! start_server secured password; then
        fail_checks "a server did not start" "${REDIS_CLI_CHECKS[@]}"
        stop_started
        return
    fi
    check "${REDIS_CLI_CHECKS[0]}" cli_one_shot "${PORT[plain]}"
    check "${REDIS_CLI_CHECKS[1]}" cli_session "${PORT[plain]}"
    check "${REDIS_CLI_CHECKS[2]}" cli_mass_insert "${PORT[plain]}"
    check "${REDIS_CLI_CHECKS[3]}" cli_info "${PORT[plain]}"
    check "${REDIS_CLI_CHECKS[4]}" cli_auth "${PORT[secured]}"
    stop_started
}

benchmark() {
    local p=$1 rc=0
    run_cmd redis-benchmark -h 127.0.0.1 -p "$p" -t set,get,incr,mset -n 20000 -q
    # -q redraws a progress line with \r; the results are what is left.
    tr '\r' '\n' <"$WORK/out" | sed 's/^ *//; s/ *$//' | grep -v -e '^$' -e 'rps=' \
        >"$WORK/results"
    printf 'SET\nGET\nINCR\nMSET (10 keys)\n' >"$WORK/expected"
    sed -nE 's/^(.*): [0-9.]+ requests per second, p50=[0-9.]+ msec$/\1/p' \
        "$WORK/results" >"$WORK/got"
    if [ "$RC" -eq 0 ] && cmp -s "$WORK/expected" "$WORK/got" \
        && [ "$(wc -l <"$WORK/results")" -eq 4 ] && ! [ -s "$WORK/err" ] \
        && ! grep -qiE 'err|warn' "$WORK/out"; then
        sed 's/^/  ok: /' "$WORK/results"
    else
        say "  MISMATCH: redis-benchmark -p $p -t set,get,incr,mset -n 20000 -q"
        say "    expected: exit status 0, nothing on stderr, and exactly four result"
        say "    lines, SET, GET, INCR and MSET (10 keys), each 'N requests per second'"
        say "    got: exit status $RC; result lines:"
        sed 's/^/      | /' "$WORK/results"
        say "    stderr:"
        head -c 2000 "$WORK/err" | sed 's/^/      | /'
        rc=1
    fi
    return $rc
}

group_redis_benchmark() {
    if ! have redis-benchmark; then
        tool_missing redis-benchmark redis-tools "${REDIS_BENCHMARK_CHECKS[@]}"
        return
    fi
    if ! start_server bench; then
        fail_checks "a server did not start" "${REDIS_BENCHMARK_CHECKS[@]}"
        stop_started
        return
    fi
    check "${REDIS_BENCHMARK_CHECKS[0]}" benchmark "${PORT[bench]}"
    stop_started
}
