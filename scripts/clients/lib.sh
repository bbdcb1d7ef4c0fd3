# shellcheck shell=bash
# The harness of the real-client tests, sourced by scripts/clients/run.sh,
# and of the packaging tests (scripts/package_test.sh, scripts/transcript.sh).
#
# It owns free loopback ports, the servers the checks start (Blink-Store, or
# redis-server when BLINK_CLIENT_TEST_SERVER=redis, to validate the checks
# themselves against real Redis), their cleanup, the pass/fail/skip counts,
# and finding the tools the checks use or, with CI=true, installing them.
# It knows nothing about any particular client: the check groups live in
# the other files of this directory.
#
# Every wait is bounded and every client command runs under `timeout`, so a
# server that does not answer makes a check fail, never hang. Nothing here
# talks to an address other than 127.0.0.1.

# How long a server or proxy may take to say it is ready, in seconds.
READY_TIMEOUT=5
# Upper bound for one client command, in seconds. Generous: the slowest
# command (100,000 keys through `redis-cli --pipe`) takes under a second.
CMD_TIMEOUT=60
# How many free ports to try when a server loses the race for its port.
START_ATTEMPTS=5
# The password of every password-protected server. It has a space in it so
# that each client's quoting is exercised too.
TEST_PASSWORD='correct horse battery'

PASSED=0
FAILED=0
SKIPPED=0
FAILED_NAMES=()
# Processes this run started (servers, proxies), killed by stop_started.
STARTED_PIDS=()
# Name → port and name → process of the servers started by start_server,
# read by the groups.
declare -A PORT=() PID=()

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blink-clients.XXXXXX")

say() { printf '%s\n' "$*"; }
notice() { printf 'NOTICE: %s\n' "$*" >&2; }

# alive PID: the process runs. A child that has exited stays a zombie
# until it is reaped, and `kill -0` still succeeds on a zombie.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# Kills every process this run started, politely first, and reaps it.
stop_started() {
    local pid i
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        for ((i = 0; i < 40; i++)); do
            alive "$pid" || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    STARTED_PIDS=()
    PORT=()
    PID=()
}

# wait_exit NAME: waits up to READY_TIMEOUT seconds for the server NAME,
# asked to stop, to exit, and reaps it; RC is then its exit status. Returns
# non-zero when it is still running (stop_started kills it later).
wait_exit() {
    local pid=${PID[$1]} i kept=() started
    for ((i = 0; i < READY_TIMEOUT * 20; i++)); do
        alive "$pid" || break
        sleep 0.05
    done
    alive "$pid" && return 1
    wait "$pid"
    RC=$?
    # Reaped: its number may be reused, so stop_started must not kill it.
    for started in "${STARTED_PIDS[@]}"; do
        [ "$started" = "$pid" ] || kept+=("$started")
    done
    STARTED_PIDS=("${kept[@]}")
    unset "PID[$1]" "PORT[$1]"
}

cleanup() {
    stop_started
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port: see scripts/ports.sh. Another process may still take the port
# before our server binds it: start_server retries with a new one.
# shellcheck source=scripts/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/../ports.sh"

# wait_for_line FILE PATTERN PID: waits until FILE has a line matching the
# extended regex PATTERN. Returns 0 when it does, 1 when PID exited first,
# 2 after READY_TIMEOUT seconds.
wait_for_line() {
    local file=$1 pattern=$2 pid=$3 i
    for ((i = 0; i < READY_TIMEOUT * 20; i++)); do
        grep -Eq -- "$pattern" "$file" 2>/dev/null && return 0
        alive "$pid" || {
            grep -Eq -- "$pattern" "$file" 2>/dev/null && return 0
            return 1
        }
        sleep 0.05
    done
    return 2
}

# wait_for_port PORT PID: waits until 127.0.0.1:PORT accepts a connection,
# with the same results as wait_for_line.
wait_for_port() {
    local port=$1 pid=$2 i
    for ((i = 0; i < READY_TIMEOUT * 20; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        alive "$pid" || return 1
        sleep 0.05
    done
    return 2
}

# start_server NAME [password]: starts a server of the kind under test
# (BLINK_CLIENT_TEST_SERVER) on a free loopback port and waits for it to be
# ready; its port is then ${PORT[NAME]}, its process ${PID[NAME]} and its
# log $WORK/NAME.log. With "password" the server requires TEST_PASSWORD,
# which it reads from the file $WORK/password. Returns non-zero, having
# printed the log, when no server could be started.
start_server() {
    start_as "$SERVER_KIND" "$1" "${2:-}"
}

# start_as KIND NAME AUTH [ARG...]: as start_server, for a server of KIND
# (blink or redis) whatever is under test, with ARGs added to its command
# line (a Blink-Store flag, or a redis-server option overriding its
# configuration file). AUTH is "password" or empty.
start_as() {
    local kind=$1 name=$2 auth=$3 log port pid attempt ready
    shift 3
    log=$WORK/$name.log
    printf '%s\n' "$TEST_PASSWORD" >"$WORK/password"
    chmod 600 "$WORK/password"
    for ((attempt = 1; attempt <= START_ATTEMPTS; attempt++)); do
        port=$(free_port) || { say "  cannot find a free port"; return 1; }
        case "$kind" in
        redis)
            {
                echo "bind 127.0.0.1"
                echo "port $port"
                echo 'save ""'
                echo "appendonly no"
                echo "dir $WORK"
                if [ "$auth" = password ]; then
                    printf 'requirepass "%s"\n' "$TEST_PASSWORD"
                fi
            } >"$WORK/$name.conf"
            redis-server "$WORK/$name.conf" "$@" </dev/null >"$log" 2>&1 &
            pid=$!
            ready='Ready to accept connections'
            ;;
        *)
            local args=(serve --tcp "127.0.0.1:$port" --log-level info)
            if [ "$auth" = password ]; then
                args+=(--password-file "$WORK/password")
            fi
            env -u BLINK_PASSWORD -u RUST_LOG "$BLINK_BIN" "${args[@]}" "$@" \
                </dev/null >"$log" 2>&1 &
            pid=$!
            ready='listening on'
            ;;
        esac
        STARTED_PIDS+=("$pid")
        if wait_for_line "$log" "$ready" "$pid"; then
            # shellcheck disable=SC2034 # read by the check groups
            PORT[$name]=$port
            PID[$name]=$pid
            return 0
        fi
        if alive "$pid" || ! grep -qi 'in use' "$log"; then
            break # neither ready nor beaten to its port: do not retry
        fi
    done
    if alive "$pid"; then
        say "  server $name did not log '$ready' within ${READY_TIMEOUT}s; its log:"
    else
        say "  server $name exited before it was ready; its log:"
    fi
    sed 's/^/    | /' "$log"
    return 1
}

# run_cmd CMD...: runs CMD under CMD_TIMEOUT with this shell's stdin, its
# stdout in $WORK/out and stderr in $WORK/err; sets RC to its exit status.
run_cmd() {
    timeout "$CMD_TIMEOUT" "$@" >"$WORK/out" 2>"$WORK/err"
    RC=$?
}

# Prints a command line the way a person would type it.
show_cmd() {
    local out='' arg
    for arg in "$@"; do
        out+=" $(printf '%q' "$arg")"
    done
    printf '%s' "${out# }"
}

# Lines of expected and actual output shown whole in a mismatch report;
# longer outputs are shown as a diff of at most twice as many lines.
REPORT_LINES=40

# show_lines FILE: prints FILE indented, or its length when it is long.
show_lines() {
    local n
    n=$(wc -l <"$1")
    if [ "$n" -le "$REPORT_LINES" ]; then
        sed 's/^/      | /' "$1"
    else
        say "      ($n lines; see the diff)"
    fi
}

# report_mismatch WHAT EXPECTED_FILE GOT_FILE: says what differs, with the
# exit status and stderr of the last run_cmd.
report_mismatch() {
    say "  MISMATCH: $1"
    say "    expected:"
    show_lines "$2"
    say "    got:"
    show_lines "$3"
    if [ -s "$WORK/err" ]; then
        say "    stderr:"
        head -n "$REPORT_LINES" "$WORK/err" | sed 's/^/      | /'
    fi
    [ "$RC" -eq 0 ] || say "    exit status: $RC"
    say "    diff (- expected, + got):"
    diff -u "$2" "$3" | tail -n +3 >"$WORK/diff"
    head -n $((2 * REPORT_LINES)) "$WORK/diff" | sed 's/^/      /'
    if [ "$(wc -l <"$WORK/diff")" -gt $((2 * REPORT_LINES)) ]; then
        say "      ... ($(wc -l <"$WORK/diff") diff lines in all)"
    fi
}

# expect_output EXPECTED CMD...: runs CMD (stdin is this function's stdin)
# and checks that it exits 0 and that its stdout is exactly EXPECTED
# followed by one newline. Returns non-zero, having said what differs,
# otherwise.
expect_output() {
    local expected=$1
    shift
    printf '%s\n' "$expected" >"$WORK/expected"
    run_cmd "$@"
    if [ "$RC" -eq 0 ] && cmp -s "$WORK/expected" "$WORK/out"; then
        say "  ok: $(show_cmd "$@")"
        return 0
    fi
    report_mismatch "$(show_cmd "$@")" "$WORK/expected" "$WORK/out"
    return 1
}

# expect_file_output EXPECTED_FILE CMD...: as expect_output, with the
# expected stdout taken byte for byte from a file.
expect_file_output() {
    local expected=$1
    shift
    run_cmd "$@"
    if [ "$RC" -eq 0 ] && cmp -s "$expected" "$WORK/out"; then
        say "  ok: $(show_cmd "$@")"
        return 0
    fi
    report_mismatch "$(show_cmd "$@")" "$expected" "$WORK/out"
    return 1
}

# compare WHAT EXPECTED_FILE GOT_FILE: checks that a file a check wrote
# holds exactly the expected bytes, saying what differs otherwise.
compare() {
    if cmp -s "$2" "$3"; then
        say "  ok: $1"
        return 0
    fi
    RC=0
    : >"$WORK/err"
    report_mismatch "$1" "$2" "$3"
    return 1
}

# expect_status WHAT STATUS: checks that the last run_cmd exited STATUS,
# showing the end of its output when it did not.
expect_status() {
    if [ "$RC" -eq "$2" ]; then
        say "  ok: $1"
        return 0
    fi
    say "  MISMATCH: $1: exit status $RC, not $2; its output:"
    cat "$WORK/out" "$WORK/err" | tail -n "$REPORT_LINES" | sed 's/^/      | /'
    return 1
}

# check NAME FUNCTION [ARGS...]: runs one named client check and counts it.
check() {
    local name=$1
    shift
    say "--- $name"
    if "$@"; then
        say "PASS $name"
        PASSED=$((PASSED + 1))
    else
        say "FAIL $name"
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
    fi
}

# skip_checks REASON NAME...: counts checks that cannot run here.
skip_checks() {
    local reason=$1 name
    shift
    for name in "$@"; do
        say "SKIP $name ($reason)"
        SKIPPED=$((SKIPPED + 1))
    done
}

# fail_checks REASON NAME...: counts checks that should have run but could
# not (a server that did not start, a tool that CI failed to install).
fail_checks() {
    local reason=$1 name
    shift
    for name in "$@"; do
        say "FAIL $name ($reason)"
        FAILED=$((FAILED + 1))
        FAILED_NAMES+=("$name")
    done
}

# have TOOL: TOOL is on PATH and executable (bash's `command -v` also
# names a file it cannot run when that is all it finds).
have() {
    local path
    path=$(command -v "$1" 2>/dev/null) && [ -x "$path" ]
}

# version TOOL ARGS...: prints what TOOL ARGS prints first, or "none".
version() {
    if have "$1"; then
        "$@" 2>&1 | head -n 1
    else
        echo none
    fi
}

in_ci() { [ "${CI:-}" = true ]; }

# tool_missing WHAT PACKAGES CHECK...: a client is not installed. In CI,
# where it was to be installed, its checks fail; elsewhere they are skipped
# with a notice.
tool_missing() {
    local what=$1 packages=$2
    shift 2
    if in_ci; then
        notice "$what is not installed although CI=true; failing its checks"
        fail_checks "$what not installed" "$@"
    else
        notice "$what not installed; skipping its tests" \
            "(set CI=true to install${packages:+ $packages})"
        skip_checks "$what not installed" "$@"
    fi
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif have sudo; then
        sudo -n "$@"
    else
        notice "not root and no sudo: cannot run $*"
        return 1
    fi
}

# apt_install PACKAGE...: installs the Debian packages named (duplicates
# allowed, none at all is fine) with apt-get, saying so; on failure shows
# apt's last lines and a NOTICE, and the checks that needed them then fail.
apt_install() {
    local packages
    [ $# -gt 0 ] || return 0
    mapfile -t packages < <(printf '%s\n' "$@" | sort -u)
    say "installing ${packages[*]} (CI=true)"
    if ! { as_root apt-get update -qq \
        && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"; } \
        >"$WORK/apt.log" 2>&1; then
        tail -n 20 "$WORK/apt.log" >&2
        notice "apt-get could not install ${packages[*]}"
    fi
}
