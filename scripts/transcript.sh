#!/usr/bin/env bash
# Serves a fixed transcript with one Blink-Store binary and compares every
# reply byte for byte: the text protocol over TCP and over a Unix socket
# (SET, GET, USAGE, STATS), then `blink-store cli` over both.
#
#   scripts/transcript.sh BINARY                        # e.g. ./bin/blink-store
#   scripts/transcript.sh --runner qemu-aarch64-static BINARY
#
# The server listens on a free loopback port and a Unix socket in a fresh
# temporary directory, and is killed when the script exits. Prints one
# "ok:" or "MISMATCH:" line per exchange and exits non-zero on a mismatch.
# Used by scripts/package_test.sh on installed and cross-built binaries.
set -uo pipefail

usage() { echo "usage: scripts/transcript.sh [--runner CMD] BINARY"; }
runner=()
while [ $# -gt 0 ]; do
    case "$1" in
    --runner)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        runner=("$2")
        shift 2
        ;;
    -h | --help) usage && exit 0 ;;
    *) break ;;
    esac
done
[ $# -eq 1 ] || { usage >&2; exit 2; }
binary=$1
[ -x "$binary" ] || { echo "transcript.sh: $binary is not an executable file" >&2; exit 2; }
command -v python3 >/dev/null \
    || { echo "transcript.sh: python3 is needed to speak to the Unix socket" >&2; exit 2; }
exec </dev/null

# shellcheck source=scripts/clients/lib.sh
source "$(dirname "$0")/clients/lib.sh"
# An emulated server starts in well under a second; give it room anyway.
READY_TIMEOUT=30
CMD_TIMEOUT=30
blink=("${runner[@]}" "$binary")
socket=$WORK/blink.sock

# The server: few workers and a small limit, both visible in STATS.
start() {
    local attempt
    for ((attempt = 1; attempt <= START_ATTEMPTS; attempt++)); do
        port=$(free_port) || { say "cannot find a free port"; return 1; }
        env -u BLINK_PASSWORD -u RUST_LOG "${blink[@]}" serve --tcp "127.0.0.1:$port" \
            --unix "$socket" --threads 4 --memory-limit 1mb --log-level info \
            >"$WORK/server.log" 2>&1 &
        pid=$!
        STARTED_PIDS+=("$pid")
        wait_for_line "$WORK/server.log" 'listening on' "$pid" && return 0
        alive "$pid" || grep -qi 'in use' "$WORK/server.log" || break
    done
    say "the server did not start; its log:"
    sed 's/^/    | /' "$WORK/server.log"
    return 1
}

# stats_lines CURRENT TOTAL COMMANDS KEYS BYTES GET_HITS: the STATS reply
# expected from this server, with the uptime written as N.
stats_lines() {
    cat <<EOF
STAT uptime_seconds N
STAT connections_current $1
STAT connections_total $2
STAT connections_rejected 0
STAT commands_processed $3
STAT get_hits $6
STAT get_misses 0
STAT keys $4
STAT bytes $5
STAT memory_limit 1048576
STAT evictions 0
STAT expired_keys 0
STAT pool_size 4
STAT timeouts_idle 0
STAT timeouts_request 0
STAT timeouts_write 0
STAT timeouts_auth 0
STAT kicks_unauthenticated 0
STAT auth_failures 0
STAT aof_enabled 0
STAT aof_current_size 0
STAT aof_base_size 0
STAT aof_pending_bytes 0
STAT aof_last_write_ok 1
STAT aof_last_fsync_age_ms 0
STAT aof_rewrite_in_progress 0
STAT aof_last_bgrewrite_ok 1
STAT aof_rewrites 0
STAT pubsub_channels 0
STAT pubsub_patterns 0
STAT pubsub_subscribers 0
STAT pubsub_slow_disconnected 0
STAT tracking_clients 0
STAT tracking_keys 0
END
EOF
}

# The uptime is the only figure that depends on the machine's speed.
uptime_as_n() { sed 's/^STAT uptime_seconds [0-9][0-9]*$/STAT uptime_seconds N/'; }

transcript() {
    local rc=0 line
    : >"$WORK/err"
    # TCP first, kept open while the Unix socket is used, so that STATS
    # over the socket sees exactly two connections.
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'SET user alice\nGET user\nUSAGE\nSTATS\n' >&3
    {
        printf 'OK\nVALUE YWxpY2U=\nUSAGE 9\n'
        stats_lines 1 1 4 1 9 1
    } >"$WORK/tcp.expected"
    : >"$WORK/tcp.got"
    while IFS= read -r -t "$CMD_TIMEOUT" line <&3; do
        printf '%s\n' "$line" >>"$WORK/tcp.got"
        [ "$line" != END ] || break
    done
    uptime_as_n <"$WORK/tcp.got" >"$WORK/tcp.n"
    compare "tcp: SET user alice, GET user, USAGE, STATS" "$WORK/tcp.expected" "$WORK/tcp.n" || rc=1

    {
        printf 'VALUE YWxpY2U=\nOK\nUSAGE 16\n'
        stats_lines 2 2 8 2 16 2
    } >"$WORK/unix.expected"
    printf 'GET user\nSET sock yes\nUSAGE\nSTATS\nQUIT\n' \
        | timeout "$CMD_TIMEOUT" python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    sys.stdout.buffer.write(chunk)
' "$socket" | uptime_as_n >"$WORK/unix.got"
    compare "unix: GET user, SET sock yes, USAGE, STATS, QUIT" \
        "$WORK/unix.expected" "$WORK/unix.got" || rc=1

    # QUIT: the server says nothing more and closes the connection.
    printf 'QUIT\n' >&3
    timeout "$CMD_TIMEOUT" cat <&3 >"$WORK/quit.got"
    exec 3<&-
    : >"$WORK/empty"
    compare "tcp: QUIT closes without a reply" "$WORK/empty" "$WORK/quit.got" || rc=1

    expect_output yes "${blink[@]}" cli --tcp "127.0.0.1:$port" GET sock || rc=1
    expect_output OK "${blink[@]}" cli --unix "$socket" SET greeting "hello world" || rc=1
    expect_output "hello world" "${blink[@]}" cli --tcp "127.0.0.1:$port" GET greeting || rc=1
    expect_output 35 "${blink[@]}" cli --unix "$socket" USAGE || rc=1
    # A missing key prints nothing and exits 1.
    run_cmd "${blink[@]}" cli --unix "$socket" GET nosuch
    if [ "$RC" -eq 1 ] && [ ! -s "$WORK/out" ] && [ ! -s "$WORK/err" ]; then
        say "  ok: cli GET nosuch prints nothing and exits 1"
    else
        say "  MISMATCH: cli GET nosuch: exit $RC, stdout '$(cat "$WORK/out")'," \
            "stderr '$(cat "$WORK/err")'"
        rc=1
    fi
    return $rc
}

say "serving the transcript with $(show_cmd "${blink[@]}")"
start || exit 1
transcript
