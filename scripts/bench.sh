#!/usr/bin/env bash
# Measures Blink-Store against Redis and memcached on this machine, two
# ways, and prints a table of figures for each. Run from a checkout:
# scripts/bench.sh          (the append-only file: scripts/bench.sh --aof,
#                            below)
#
# What it does:
#   1. Builds our release binary for the host (glibc) and, when the Rust
#      target is installed, the static x86_64-unknown-linux-musl one. Both
#      are measured, each its own row.
#   2. Measures in two modes (BENCH_MODES), one table each:
#      - per core: every server pinned to CPU 0, the load generator and
#        redis-benchmark to CPU 1 (taskset; skipped, saying so, with fewer
#        than 2 CPUs or no taskset). What one core of each server does.
#        The load generator runs its clients on one thread (--threads 1),
#        taking their replies in turn, and the null server polls its
#        connections (--poll): with a CPU each, both cost the least per
#        request that way.
#      - whole machine: no pinning at all; servers and load share every
#        CPU, as on a real box. Redis is also run with --io-threads equal
#        to the CPU count (--io-threads-do-reads yes), as its own row.
#        The load generator runs a thread per client and the null server
#        a thread per connection: a thread that sleeps while it waits
#        leaves the CPUs it shares to the server.
#      In each mode it starts, on 127.0.0.1: the null server (`blink-store
#      bench --null-server`: answers every request with a constant reply
#      and stores nothing), redis-server (no persistence), ours as the
#      glibc and as the musl build (--memory-limit 1gb) and memcached
#      (-m 1024 -U 0), and prefills BENCH_KEYS keys (16-byte keys, 32-byte
#      values) into each real server.
#   3. Runs six loads, GET (ratio 1:0) and SET (0:1) each with 1 client,
#      50 clients, and 50 clients pipelining 16, against every target in
#      turn, round-robin inside each round (ABAB), BENCH_ROUNDS rounds of
#      BENCH_SECONDS per run. A target is a server and a protocol: ours
#      over RESP and over its text protocol, Redis over RESP, memcached
#      over its text protocol, the null server over each of the three. The
#      load generator is `blink-store bench`; each run records ops/s, p50
#      and p99 latency, the server's CPU time per request (utime + stime
#      of every thread, from /proc/PID/stat, divided by the requests) and
#      the CPUs the load generator used (its CPU time, from bash's `times`,
#      over the run's wall time).
#      In each round redis-benchmark also runs the same six loads (-r over
#      the same keys, -d 32) against the null server, Redis and ours
#      (RESP), as a cross-check.
#   4. Prints, per mode, the medians over the rounds, our ratios to Redis
#      and the musl build's to the glibc build's, and redis-benchmark's
#      median beside each RESP row.
#   5. Prints the musl binary's size, and start-up time (exec to a
#      connection accepted, and to a first reply; median of BENCH_STARTS
#      starts) and idle resident memory right after start, default flags.
#
# The load generator is never the bottleneck: a result above 2/3 of the
# rate the same load generator reached on the same load (clients,
# pipeline, protocol, GET or SET) against the null server, in the same
# mode, is not reported as a number but as ">N" (N being that 2/3), with
# no ratio, and listed under "Load generator bound" with its figures. The
# same rule holds for redis-benchmark's figures, against its own null
# server rate. One more list helps judge the rule: every run that took
# far longer than asked (something else had the CPUs). Whether the null
# server itself was the limit is not judged from its CPU time: per core it
# polls, so its CPU is always full, and on the whole machine it shares the
# CPUs with the generator.
#
# With --aof it measures the append-only file instead, beside Redis's,
# with the same modes, the same null server rule and the same rounds:
#   - Targets, all over RESP: Redis with --appendonly yes at
#     --appendfsync always and at everysec; ours, the glibc and the musl
#     build, with --aof at always and at everysec, and without a log (the
#     baseline the log's cost is judged against); the null server.
#     Neither compacts its log during a run (--auto-aof-rewrite-percentage
#     0 for both): the write path alone is measured.
#   - Loads: SET only, 1 client, 50 clients, 50 clients pipelining 16,
#     over BENCH_KEYS keys, not prefilled; redis-benchmark -t set likewise.
#   - Every run, redis-benchmark's too, starts its own server, with an
#     empty store and an empty log, and removes the log when it stops, so
#     the disk does not fill. The logs are in target/bench-aof/ of the
#     checkout, on its disk, not in the work directory, which may be a
#     tmpfs (where a sync costs nothing); the report names the file
#     system, and warns on a tmpfs. The directory is removed on exit.
#   - The tables add "vs no log": a logging row's rate over the same
#     build's without the log; "vs Redis" is at the same policy.
#   - Replay: ours (glibc) under everysec takes 1,000,000 keys (16-byte
#     keys, 32-byte values, one SET each: blink-store bench --prefill) and
#     stops on SHUTDOWN, which syncs the log; then ours (each build) on
#     that log and Redis on a copy of it (Redis 7 takes a single-file log
#     in, moving it into its appendonlydir) are each started 3 times, in
#     turn, not pinned, and timed from the fork until they answer PING
#     (Redis answers -LOADING until it has loaded, and is asked again);
#     each must then hold all 1,000,000 keys. Ours' own log line
#     ("replayed N records, M keys in S s") is reported beside.
#   - Last, the targets set for the log, met or not: everysec at least
#     0.9x our rate without the log; always at least Redis's always at 50
#     clients; a replay no slower than Redis's.
#   The musl binary's size and the start-up times are not measured.
#
# A missing redis-server, memcached or redis-benchmark is installed with
# apt-get when running as root with apt-get present and BENCH_INSTALL is
# not 0; otherwise its rows say MISSING. Progress goes to stderr, the
# report to stdout. Exits non-zero only when something failed: a build, a
# server that does not start, a load generator run that fails or counts
# error replies, a prefill that leaves the wrong number of keys; with
# --aof also a log that stayed empty, a server that does not exit 0 on
# SHUTDOWN, a replay that leaves the wrong number of keys. Every process
# it starts (the null server too) is stopped, and every log removed, on
# exit, on failure and on Ctrl-C.
#
# Environment:
#   BENCH_ROUNDS=3         rounds of every run; figures are medians over them
#   BENCH_SECONDS=3        seconds per measured run
#   BENCH_MODES="per-core whole-machine"   the modes to measure, in order
#   BENCH_KEYS=100000      keys prefilled and used by every load (--aof:
#                          used, not prefilled)
#   BENCH_STARTS=10        starts per server for the start-up time (not
#                          with --aof)
#   BENCH_RB_REQUESTS=100000  requests per redis-benchmark test with 50
#                          clients; a quarter of that with 1 client, five
#                          times that pipelined; but no more than
#                          blink-store bench served in BENCH_SECONDS on
#                          the same target and load (at least 1000)
#   BENCH_LIMIT_SHARE=0.6667  the share of the null server's rate above
#                          which a result counts as load generator bound
#   BENCH_INSTALL=1        0: never install missing peers with apt-get
#   BENCH_RAW=PATH         also write every run's figures to PATH (TSV)
#
# Run time, the build excluded, on a 2-CPU machine: about 7 minutes a
# round with the defaults (both modes, 9 or 10 targets x 6 loads x 3 s,
# plus redis-benchmark), so about 22 minutes for BENCH_ROUNDS=3 and
# BENCH_SECONDS=3; BENCH_SECONDS=2 makes it about 16.
# BENCH_ROUNDS=1 BENCH_SECONDS=1 checks the harness in about 4 minutes.
# With --aof: about 2 minutes a round per mode with the defaults (9
# targets x 3 loads x 3 s, a server started for each run, plus
# redis-benchmark), and half a minute for the replay, so about 14 minutes
# for both modes and 3 rounds; BENCH_ROUNDS=1 BENCH_SECONDS=1 checks it in
# about 1.5 minutes per mode.
set -euo pipefail
cd "$(dirname "$0")/.."
PERF_NAME=bench.sh
# shellcheck source=scripts/perf_lib.sh
. scripts/perf_lib.sh

# --aof measures the append-only file instead of the normal tables (see
# above); nothing else is an argument.
AOF=0
case "$*" in
"") ;;
--aof) AOF=1 ;;
*) die "usage: scripts/bench.sh [--aof]" ;;
esac

ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECONDS:-3}
KEYS=${BENCH_KEYS:-100000}
STARTS=${BENCH_STARTS:-10}
RB_REQUESTS=${BENCH_RB_REQUESTS:-100000}
read -r -a MODES <<<"${BENCH_MODES:-per-core whole-machine}"
for setting in ROUNDS SECS KEYS STARTS RB_REQUESTS; do
    is_count "${!setting}" || die "$setting must be a whole number above 0, not '${!setting}'"
done
[ ${#MODES[@]} -gt 0 ] || die "BENCH_MODES names no mode (per-core, whole-machine)"
for mode in "${MODES[@]}"; do
    case "$mode" in per-core | whole-machine) ;; *)
        die "BENCH_MODES: '$mode' is not a mode (per-core, whole-machine)" ;;
    esac
done
# Bytes per value, as the task sets it; keys are always 16 bytes.
DATA_SIZE=32
# Our memory limit: far above what the keys take, so nothing is evicted.
MEMORY_LIMIT=1gb
# memcached's memory, in MB, to match.
MEMCACHED_MB=1024
# Longest a measured run may take before it counts as hung: its duration,
# plus connecting 50 clients and a generous margin.
RUN_TIMEOUT=$((SECS + 60))
# Longest one redis-benchmark invocation may take, in seconds.
RB_TIMEOUT=300
# Fewest requests per redis-benchmark test, however slow the server.
RB_MIN_REQUESTS=1000
# --aof: the logs' directory, one subdirectory per running server, each
# removed when its server stops. On the checkout's disk, since the work
# directory may be a tmpfs, where a sync costs nothing.
AOF_DIR=$PWD/target/bench-aof
# --aof: the keys written through our server, then replayed by each server.
REPLAY_KEYS=1000000
# --aof: starts of each server on that log; the figure is their median.
REPLAY_STARTS=3
# --aof: longest one replay may take until the server answers, in seconds:
# a few seconds on a small machine, so this only catches a hang.
REPLAY_TIMEOUT=120
# Longest a server may take to exit after SHUTDOWN, in seconds; it syncs
# its log first.
SHUTDOWN_TIMEOUT=30
# A result above this share of the null server's rate, for the same load
# generator, load and mode, is the load generator's limit, not the
# server's: 2/3 unless BENCH_LIMIT_SHARE says otherwise.
LIMIT_SHARE=${BENCH_LIMIT_SHARE:-0.6667}
[[ $LIMIT_SHARE =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] ||
    die "BENCH_LIMIT_SHARE must be a fraction from 0 to 1, not '$LIMIT_SHARE'"
# Seconds the null server of one mode may run before it stops on its own,
# should this script be killed without its cleanup (SIGKILL): per round 60
# runs of SECS plus 5 s to connect and report, and 15 redis-benchmark runs
# of 30 s, several times what a mode takes, and 10 minutes more.
NULL_SECONDS=$((ROUNDS * (60 * (SECS + 5) + 15 * 30) + 600))

CLK_TCK=$(getconf CLK_TCK)
CPUS=$(nproc)

# Problems that make the exit status non-zero, reported at the end.
FAILURES=()
fail() {
    FAILURES+=("$*")
    progress "FAILED: $*"
}

# The loads: name → clients, pipeline, GET:SET ratio; --aof measures the
# SETs only, as does redis-benchmark's cross-check (RB_TESTS).
if [ "$AOF" = 1 ]; then
    LOADS=("SET 1 client" "SET 50 clients" "SET 50 clients P16")
    RB_TESTS=(SET)
else
    LOADS=("GET 1 client" "GET 50 clients" "GET 50 clients P16"
        "SET 1 client" "SET 50 clients" "SET 50 clients P16")
    RB_TESTS=(SET GET)
fi
declare -A LOAD_SPEC=(
    ["GET 1 client"]="1 1 1:0"
    ["GET 50 clients"]="50 1 1:0"
    ["GET 50 clients P16"]="50 16 1:0"
    ["SET 1 client"]="1 1 0:1"
    ["SET 50 clients"]="50 1 0:1"
    ["SET 50 clients P16"]="50 16 0:1"
)

# The targets, one row each: a server, the protocol spoken to it and,
# with --aof, how its log is synced (TARGET_FSYNC; none: no log).
declare -A TARGET_SERVER=(
    [null-resp]=null [null-text]=null [null-memcache]=null
    [redis]=redis [redis-io]=redis-io
    [redis-always]=redis [redis-everysec]=redis
    [ours]=blink-glibc [ours-text]=blink-glibc
    [ours-always]=blink-glibc [ours-everysec]=blink-glibc
    [ours-musl]=blink-musl [ours-musl-text]=blink-musl
    [ours-musl-always]=blink-musl [ours-musl-everysec]=blink-musl
    [memcached]=memcached
)
declare -A TARGET_PROTO=(
    [null-resp]=resp [null-text]=text [null-memcache]=memcache
    [redis]=resp [redis-io]=resp [redis-always]=resp [redis-everysec]=resp
    [ours]=resp [ours-text]=text [ours-always]=resp [ours-everysec]=resp
    [ours-musl]=resp [ours-musl-text]=text [ours-musl-always]=resp [ours-musl-everysec]=resp
    [memcached]=memcache
)
declare -A TARGET_FSYNC=(
    [redis-always]=always [redis-everysec]=everysec
    [ours-always]=always [ours-everysec]=everysec
    [ours-musl-always]=always [ours-musl-everysec]=everysec
)
declare -A TARGET_LABEL=(
    [null-resp]="null server (RESP)" [null-text]="null server (text)"
    [null-memcache]="null server (memcache)"
    [redis]="Redis (RESP)" [redis-io]="Redis io-threads $CPUS (RESP)"
    [redis-always]="Redis, always" [redis-everysec]="Redis, everysec"
    [ours]="Blink-Store glibc (RESP)" [ours-text]="Blink-Store glibc (text)"
    [ours-always]="Blink-Store glibc, always" [ours-everysec]="Blink-Store glibc, everysec"
    [ours-musl]="Blink-Store musl (RESP)" [ours-musl-text]="Blink-Store musl (text)"
    [ours-musl-always]="Blink-Store musl, always"
    [ours-musl-everysec]="Blink-Store musl, everysec"
    [memcached]="memcached (text)"
)
if [ "$AOF" = 1 ]; then
    TARGET_LABEL[ours]="Blink-Store glibc, no log"
    TARGET_LABEL[ours-musl]="Blink-Store musl, no log"
fi
# The glibc row a musl row is compared with.
declare -A GLIBC_OF=([ours-musl]=ours [ours-musl-text]=ours-text
    [ours-musl-always]=ours-always [ours-musl-everysec]=ours-everysec)
# The Redis row a row is compared with: Redis's, with --aof at the same
# policy.
declare -A REDIS_OF=([redis-io]=redis [ours]=redis [ours-text]=redis [ours-musl]=redis
    [ours-musl-text]=redis [memcached]=redis
    [ours-always]=redis-always [ours-musl-always]=redis-always
    [ours-everysec]=redis-everysec [ours-musl-everysec]=redis-everysec)
# With --aof, the row without the log a logging row of ours is compared
# with: the same build.
declare -A NOLOG_OF=([ours-always]=ours [ours-everysec]=ours
    [ours-musl-always]=ours-musl [ours-musl-everysec]=ours-musl)
# Every target in the order of the tables; a mode shows those it measures.
ALL_TARGETS=(null-resp null-text null-memcache redis redis-io redis-always redis-everysec
    ours ours-text ours-always ours-everysec ours-musl ours-musl-text ours-musl-always
    ours-musl-everysec memcached)

# Per-run figures, "ops p50 p99 cpu_us" lines, by "mode|load|target".
declare -A RUNS=()
# redis-benchmark's requests per second, one line a round, by
# "mode|load|target" (RESP targets only).
declare -A RB_RUNS=()
printf 'mode\tround\tload\ttarget\tgenerator\tops_per_sec\tp50_us\tp99_us\tcpu_us_per_request\tload_cpus\trequests\terrors\n' \
    >"$WORK/runs.tsv"

# Load generator bound results, one line each, for the report.
BOUND=()
# Runs that took far longer than asked, one line each: a client thread
# (or the server) did not get a CPU for a long while, so that run's rate
# says more about the machine's other work than about the server.
DISTURBED=()

# The mode being measured, how its servers and load are pinned, and its
# targets; set by enter_mode.
MODE=
PIN_SERVER=()
PIN_LOAD=()
# blink-store bench's --threads, and the null server's --poll (read by
# perf_lib.sh), in the current mode.
LOAD_THREADS=()
NULL_POLL=
TARGETS=()
declare -A MODE_TITLE=(
    [per-core]="Per core: every server pinned to CPU 0, the load generators to CPU 1"
    [whole-machine]="Whole machine: no pinning; servers and load generators share all $CPUS CPUs"
)
# Why a mode was not measured, by mode.
declare -A MODE_SKIPPED=()

# enter_mode MODE: sets the pinning of MODE; fails, noting why, when MODE
# cannot be measured here.
enter_mode() {
    MODE=$1
    case "$MODE" in
    per-core)
        if [ "$CPUS" -lt 2 ] || ! command -v taskset >/dev/null; then
            MODE_SKIPPED[$MODE]="needs 2 CPUs and taskset; this machine has $CPUS CPU(s)$(
                command -v taskset >/dev/null || echo ', no taskset')"
            return 1
        fi
        PIN_SERVER=(taskset -c 0)
        PIN_LOAD=(taskset -c 1)
        LOAD_THREADS=(--threads 1)
        NULL_POLL=--poll
        ;;
    whole-machine)
        PIN_SERVER=()
        PIN_LOAD=()
        LOAD_THREADS=()
        NULL_POLL=
        ;;
    esac
    if [ "$AOF" = 1 ]; then
        TARGETS=(null-resp)
        [ "$HAVE_REDIS" = 1 ] && TARGETS+=(redis-always redis-everysec)
        TARGETS+=(ours ours-always ours-everysec)
        [ -n "$BIN_MUSL" ] && TARGETS+=(ours-musl ours-musl-always ours-musl-everysec)
        return 0
    fi
    TARGETS=(null-resp null-text null-memcache)
    if [ "$HAVE_REDIS" = 1 ]; then
        TARGETS+=(redis)
        [ "$MODE" = whole-machine ] && TARGETS+=(redis-io)
    fi
    TARGETS+=(ours ours-text)
    [ -n "$BIN_MUSL" ] && TARGETS+=(ours-musl ours-musl-text)
    [ "$HAVE_MEMCACHED" = 1 ] && TARGETS+=(memcached)
    return 0
}

# in_mode TARGET: TARGET is measured in the current mode.
in_mode() {
    local target
    for target in "${TARGETS[@]}"; do
        [ "$target" = "$1" ] && return 0
    done
    return 1
}

# start_servers: starts (pinned as the mode says) and prefills the
# servers of the mode's targets; with --aof only the null server, since
# every run there starts its own (begin_run).
start_servers() {
    perf_start_server null null "$NULL_SECONDS" pinned
    [ "$AOF" = 0 ] || return 0
    if in_mode redis; then
        perf_start_server redis redis "" pinned
        prefill redis resp
    fi
    if in_mode redis-io; then
        perf_start_server redis-io redis-io "" pinned
        prefill redis-io resp
    fi
    perf_start_server blink-glibc blink-glibc "$MEMORY_LIMIT" pinned
    prefill blink-glibc resp
    if in_mode ours-musl; then
        perf_start_server blink-musl blink-musl "$MEMORY_LIMIT" pinned
        prefill blink-musl resp
    fi
    if in_mode memcached; then
        perf_start_server memcached memcached "$MEMCACHED_MB" pinned
        prefill memcached memcache
    fi
}

# prefill SERVER PROTO [KEYS]: SETs every one of KEYS keys (default
# BENCH_KEYS) once and checks the server then holds exactly that many.
prefill() {
    local server=$1 proto=$2 keys=${3:-$KEYS} port=${SERVER_PORT[$1]} json count status=0
    progress "$MODE: prefilling $keys keys into $server"
    json=$(timeout --foreground "$RUN_TIMEOUT" "${PIN_LOAD[@]}" "$BIN_GLIBC" bench \
        --tcp "127.0.0.1:$port" --proto "$proto" --prefill --keyspace "$keys" \
        --data-size "$DATA_SIZE" --requests 1 --ratio 1:0 --json 2>>"$WORK/bench.log") ||
        status=$?
    exit_if_interrupted "$status"
    [ "$status" = 0 ] || die "prefilling $server failed: $(tail -n 1 "$WORK/bench.log")"
    count=$(key_count "$server" "$port") || count='?'
    [ "$count" = "$keys" ] || die "$server holds $count keys after prefilling $keys"
    [ "$(json_field "$json" errors)" = 0 ] || die "prefilling $server: $json"
}

# begin_run TARGET: with --aof, starts TARGET's server for this run alone
# (pinned as the mode says), with an empty store and, when TARGET logs, an
# empty log in its own directory under AOF_DIR. Without --aof, and for the
# null server, the mode's servers serve every run and this does nothing.
begin_run() {
    local target=$1 server=${TARGET_SERVER[$1]} fsync=${TARGET_FSYNC[$1]:-} extra=''
    [ "$AOF" = 1 ] && ! is_null "$target" || return 0
    [[ $server == blink-* ]] && extra=$MEMORY_LIMIT
    rm -rf "${AOF_DIR:?}/$target"
    mkdir -p "$AOF_DIR/$target"
    perf_start_server "$server" "$server" "$extra" pinned \
        "${fsync:+$fsync $AOF_DIR/$target/appendonly.aof}"
}

# end_run TARGET: with --aof, stops the run's server, checks that its log
# (when TARGET logs) is not empty, and removes it.
end_run() {
    local target=$1 dir=$AOF_DIR/$1
    [ "$AOF" = 1 ] && ! is_null "$target" || return 0
    stop_server "${TARGET_SERVER[$target]}"
    if [ -n "${TARGET_FSYNC[$target]:-}" ] && [ -z "$(find "$dir" -type f -size +0c)" ]; then
        fail "$MODE, ${TARGET_LABEL[$target]}: its log stayed empty"
    fi
    rm -rf "$dir"
}

# shutdown_server NAME: stops our server NAME with SHUTDOWN, which syncs
# its log before it exits; dies unless it exits with status 0 within
# SHUTDOWN_TIMEOUT.
shutdown_server() {
    local name=$1 pid=${SERVER_PID[$1]} i status=0
    # The server closes the connection without a reply, so the client's
    # exit status says nothing; the server's does.
    timeout --foreground "$SHUTDOWN_TIMEOUT" "$BIN_GLIBC" cli \
        --tcp "127.0.0.1:${SERVER_PORT[$1]}" SHUTDOWN >/dev/null 2>&1 || status=$?
    exit_if_interrupted "$status"
    for ((i = 0; i < SHUTDOWN_TIMEOUT * 20; i++)); do
        alive "$pid" || break
        sleep 0.05
    done
    if alive "$pid"; then
        die "$name did not exit within ${SHUTDOWN_TIMEOUT}s of SHUTDOWN"
    fi
    status=0
    wait "$pid" || status=$?
    perf_forget "$pid"
    unset "SERVER_PID[$name]" "SERVER_PORT[$name]"
    [ "$status" = 0 ] || die "$name exited with status $status after SHUTDOWN"
}

# children_cpu: sets CHILD_CPU to the user+system CPU seconds of every
# child process this shell has waited for (the second line of `times`),
# so the CPU time of one load generator run is the difference of two
# calls around it. `times` runs in this shell, not a subshell, whose
# count of children would start at zero.
CHILD_CPU=0
children_cpu() {
    times >"$WORK/times"
    CHILD_CPU=$(awk 'NR == 2 {
        total = 0
        for (i = 1; i <= 2; i++) {
            split($i, t, "m"); sub("s", "", t[2]); total += t[1] * 60 + t[2]
        }
        print total
    }' "$WORK/times")
}

# run_load ROUND LOAD TARGET: one measured run; its figures go to RUNS.
run_load() {
    local round=$1 load=$2 target=$3 clients pipeline ratio
    local server=${TARGET_SERVER[$3]} proto=${TARGET_PROTO[$3]}
    local pid=${SERVER_PID[${TARGET_SERVER[$3]}]} port=${SERVER_PORT[${TARGET_SERVER[$3]}]}
    local before after json requests errors ops p50 p99 cpu seconds load_before load_cpu status=0
    read -r clients pipeline ratio <<<"${LOAD_SPEC[$load]}"
    before=$(cpu_ticks "$pid") || die "$server is not running"
    children_cpu
    load_before=$CHILD_CPU
    json=$(timeout --foreground "$RUN_TIMEOUT" "${PIN_LOAD[@]}" "$BIN_GLIBC" bench \
        --tcp "127.0.0.1:$port" --proto "$proto" --clients "$clients" "${LOAD_THREADS[@]}" \
        --pipeline "$pipeline" --ratio "$ratio" --duration "$SECS" \
        --keyspace "$KEYS" --data-size "$DATA_SIZE" --json 2>>"$WORK/bench.log") || status=$?
    exit_if_interrupted "$status"
    if [ "$status" != 0 ]; then
        fail "$MODE, $load against ${TARGET_LABEL[$target]}: $(tail -n 1 "$WORK/bench.log")"
        return 0
    fi
    after=$(cpu_ticks "$pid") || die "$server exited during $load"
    children_cpu
    load_cpu=$(calc "$CHILD_CPU - $load_before")
    requests=$(json_field "$json" requests)
    errors=$(json_field "$json" errors)
    ops=$(json_field "$json" ops_per_sec)
    p50=$(json_field "$json" p50_us)
    p99=$(json_field "$json" p99_us)
    seconds=$(json_field "$json" seconds)
    if awk -v t="$seconds" -v s="$SECS" 'BEGIN { exit !(t > 1.5 * s + 0.5) }'; then
        DISTURBED+=("$MODE, round $round, $load, ${TARGET_LABEL[$target]}: $seconds s for a run of $SECS s")
    fi
    if [ "$errors" != 0 ]; then
        fail "$MODE, $load against ${TARGET_LABEL[$target]}: $errors error replies of $requests"
    fi
    cpu=$(calc "($after - $before) * 1000000 / $CLK_TCK / $((requests > 0 ? requests : 1))")
    # The load generator's CPUs: its CPU time over the run's wall time
    # (from the start of its clients to the end of the last).
    load_cpu=$(calc "$load_cpu / ($seconds > 0 ? $seconds : 1)")
    RUNS["$MODE|$load|$target"]+="$ops $p50 $p99 $cpu $load_cpu"$'\n'
    printf '%s\t%s\t%s\t%s\tblink-store bench\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$MODE" \
        "$round" "$load" "$target" "$ops" "$p50" "$p99" "$cpu" "$load_cpu" "$requests" \
        "$errors" >>"$WORK/runs.tsv"
    progress "$MODE, round $round/$ROUNDS  $load  ${TARGET_LABEL[$target]}: $ops ops/s, p50 $p50 us"
}

# The RESP targets that redis-benchmark also loads, those of the mode.
RB_TARGETS=(null-resp redis redis-io redis-always redis-everysec ours ours-always
    ours-everysec ours-musl ours-musl-always ours-musl-everysec)

# run_redis_benchmark ROUND TARGET CLIENTS PIPELINE: redis-benchmark's
# RB_TESTS (SET, GET) with CLIENTS clients, pipelining PIPELINE, over the
# prefilled keys (-r), against TARGET; its figures go to RB_RUNS. It sends
# BENCH_RB_REQUESTS requests per test (a quarter with 1 client, five times
# pipelined), but no more than blink-store bench served in SECS against
# the same target and load this round, when it did (and no fewer than
# RB_MIN_REQUESTS): redis-benchmark stops at a count, not a time, and a
# slow server (a slow disk under appendfsync always) must not make its run
# many times longer than a measured one.
run_redis_benchmark() {
    local round=$1 target=$2 clients=$3 pipeline=$4 requests=$RB_REQUESTS out status=0
    local port=${SERVER_PORT[${TARGET_SERVER[$2]}]} test rps suffix='' tests served
    tests=$(IFS=,; printf '%s' "${RB_TESTS[*],,}")
    [ "$clients" = 1 ] && requests=$((RB_REQUESTS / 4 > 0 ? RB_REQUESTS / 4 : 1))
    [ "$pipeline" = 1 ] || requests=$((RB_REQUESTS * 5))
    if [ "$clients" = 1 ]; then
        suffix=' 1 client'
    else
        suffix=" $clients clients"
        [ "$pipeline" = 1 ] || suffix+=" P$pipeline"
    fi
    for test in "${RB_TESTS[@]}"; do
        served=$(awk -v s="$SECS" 'NF { ops = $1 } END { printf "%d", ops * s }' \
            <<<"${RUNS["$MODE|$test$suffix|$target"]:-}")
        ((served == 0 || served >= requests)) || requests=$((served > RB_MIN_REQUESTS ? served : RB_MIN_REQUESTS))
    done
    out=$(timeout --foreground "$RB_TIMEOUT" "${PIN_LOAD[@]}" redis-benchmark -h 127.0.0.1 \
        -p "$port" -t "$tests" -n "$requests" -c "$clients" -P "$pipeline" -r "$KEYS" \
        -d "$DATA_SIZE" -q 2>&1) || status=$?
    exit_if_interrupted "$status"
    out=$(tr '\r' '\n' <<<"$out" | grep 'requests per second') || status=1
    if [ "$status" != 0 ]; then
        fail "$MODE, redis-benchmark -c $clients -P $pipeline against ${TARGET_LABEL[$target]}: $(tail -n 1 <<<"$out")"
        return 0
    fi
    for test in "${RB_TESTS[@]}"; do
        rps=$(awk -v t="$test:" '$1 == t { print $2 }' <<<"$out")
        [ -n "$rps" ] || { fail "$MODE, redis-benchmark printed no $test figure"; continue; }
        RB_RUNS["$MODE|$test$suffix|$target"]+="$rps"$'\n'
        printf '%s\t%s\t%s\t%s\tredis-benchmark\t%s\t-\t-\t-\t-\t%s\t-\n' "$MODE" "$round" \
            "$test$suffix" "$target" "$rps" "$requests" >>"$WORK/runs.tsv"
    done
    progress "$MODE, round $round/$ROUNDS  redis-benchmark -c $clients -P $pipeline  ${TARGET_LABEL[$target]}: $(tr '\n' ' ' <<<"$out" | tr -s ' ')"
}

# measure_rounds: every load against every target of the mode,
# round-robin, ROUNDS times, then redis-benchmark's loads likewise. Each
# round starts one target further on, so no target always runs first
# after a change of load.
measure_rounds() {
    local round load i n=${#TARGETS[@]} rb=() target shape
    for target in "${RB_TARGETS[@]}"; do
        in_mode "$target" && rb+=("$target")
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        for load in "${LOADS[@]}"; do
            for ((i = 0; i < n; i++)); do
                target=${TARGETS[$(((i + round - 1) % n))]}
                begin_run "$target"
                run_load "$round" "$load" "$target"
                end_run "$target"
            done
        done
        [ "$HAVE_REDIS_BENCHMARK" = 1 ] || continue
        for shape in "1 1" "50 1" "50 16"; do
            for ((i = 0; i < ${#rb[@]}; i++)); do
                target=${rb[$(((i + round - 1) % ${#rb[@]}))]}
                begin_run "$target"
                # shellcheck disable=SC2086 # clients and pipeline, two words
                run_redis_benchmark "$round" "$target" $shape
                end_run "$target"
            done
        done
    done
}

# median_of LINES COLUMN: the median of one column of LINES (one run a
# line), or "-" with none.
median_of() {
    local values
    values=$(awk -v c="$2" 'NF { print $c }' <<<"$1")
    # shellcheck disable=SC2086 # one value a word
    median $values
}

# figure LOAD TARGET COLUMN: the median over the mode's rounds of one
# column (1 ops/s, 2 p50, 3 p99, 4 CPU us/request, 5 the load generator's
# CPUs), or "-" with no runs.
figure() {
    median_of "${RUNS["$MODE|$1|$2"]:-}" "$3"
}

# rb_figure LOAD TARGET: redis-benchmark's median req/s, or "-".
rb_figure() {
    median_of "${RB_RUNS["$MODE|$1|$2"]:-}" 1
}

# spread LOAD TARGET: half the range of ops/s over the rounds, as a
# percentage of the median.
spread() {
    awk 'NF { print $1 }' <<<"${RUNS["$MODE|$1|$2"]:-}" | sort -g | awk '
        { v[++n] = $1 }
        END {
            if (n < 2) { print "-"; exit }
            m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            printf "%.1f%%\n", (m > 0) ? 50 * (v[n] - v[1]) / m : 0
        }'
}

# limit RATE NULL: 2/3 of the null server's rate NULL when RATE is above
# it (the result is the load generator's, not the server's); nothing when
# RATE is below it, or either is not a number.
limit() {
    awk -v r="$1" -v n="$2" -v s="$LIMIT_SHARE" 'BEGIN {
        if (r !~ /^[0-9.e+]+$/ || n !~ /^[0-9.e+]+$/) exit
        if (r + 0 > s * n) printf "%.0f", s * n
    }'
}

# The null target that measures the load generator for TARGET's protocol.
null_of() { printf 'null-%s' "${TARGET_PROTO[$1]}"; }
is_null() { [[ $1 == null-* ]]; }

# rate LOAD TARGET: the median ops/s, or "bound" when it is above 2/3 of
# the null server's (noted in BOUND, once per table).
declare -A NOTED=()
rate() {
    local load=$1 target=$2 ops cap
    ops=$(figure "$load" "$target" 1)
    is_null "$target" && { printf '%s' "$ops"; return 0; }
    cap=$(limit "$ops" "$(figure "$load" "$(null_of "$target")" 1)")
    if [ -n "$cap" ]; then
        printf 'bound %s' "$cap"
    else
        printf '%s' "$ops"
    fi
}

# rb_rate LOAD TARGET: the same for redis-benchmark's figures.
rb_rate() {
    local load=$1 target=$2 rps cap
    rps=$(rb_figure "$load" "$target")
    is_null "$target" && { printf '%s' "$rps"; return 0; }
    cap=$(limit "$rps" "$(rb_figure "$load" null-resp)")
    if [ -n "$cap" ]; then
        printf 'bound %s' "$cap"
    else
        printf '%s' "$rps"
    fi
}

# shown RATE: a rate as printed: the number, or ">N" when bound.
shown() {
    case "$1" in
    bound\ *) printf '>%s' "${1#bound }" ;;
    *) fmt "$1" 0 ;;
    esac
}

# versus RATE PEER_RATE: RATE / PEER_RATE, or "-" when either is bound or
# missing.
versus() {
    case "$1$2" in *bound*) printf -- '-'; return 0 ;; esac
    ratio "$1" "$2"
}

# fmt NUMBER DECIMALS: rounded, or "-" when it is not a number (such as
# "-", a missing figure).
fmt() {
    if [[ $1 =~ ^[0-9.e+-]*[0-9][0-9.e+-]*$ ]]; then
        printf "%.${2}f" "$1"
    else
        printf -- '-'
    fi
}

# note_bound LOAD TARGET GENERATOR RATE NULL_RATE: records a bound result
# for the list under the tables.
note_bound() {
    local key="$MODE|$1|$2|$3"
    [ -z "${NOTED[$key]:-}" ] || return 0
    NOTED[$key]=1
    BOUND+=("$MODE, $1, ${TARGET_LABEL[$2]}, $3: $(fmt "$4" 0) ops/s measured, null server $(fmt "$5" 0) ops/s; not reported")
}

# table_row CELLS...: one line of print_table: load, server, ops/s,
# ±range, p50, p99, CPU, load CPUs, vs Redis, vs no log, musl/glibc,
# redis-benchmark, rb vs Redis. The "vs no log" cell is shown with --aof
# only.
table_row() {
    local no_log='%.0s'
    [ "$AOF" = 1 ] && no_log='%-9s '
    # shellcheck disable=SC2059 # the format is built from constant parts
    printf "%-19s %-29s %10s %7s %8s %8s %7s %5s  %-15s $no_log%-6s %10s %s\n" "$@"
}

# print_table: the current mode's table, one row per load and target.
print_table() {
    local load target label ops rb peer vs no_log musl rb_raw rb_vs io_ops title
    title=${MODE_TITLE[$MODE]}
    [ "$AOF" = 0 ] || title+="; SET over RESP, each run on a fresh server and log"
    say "-- $title (medians of $ROUNDS rounds of $SECS s) --"
    table_row load "server (protocol)" ops/s ±range "p50 µs" "p99 µs" "CPU µs" load \
        "vs Redis" "vs no" musl/ "redis-" "rb vs"
    if [ "$AOF" = 1 ]; then
        vs="(same policy)"
    elif [ "$MODE" = whole-machine ]; then
        vs="(/ io-threads)"
    else
        vs=""
    fi
    table_row "" "" "" "" "" "" "/req" CPUs "$vs" log glibc benchmark Redis
    for load in "${LOADS[@]}"; do
        label=$load
        io_ops=$(rate "$load" redis-io)
        for target in "${ALL_TARGETS[@]}"; do
            in_mode "$target" || continue
            if [ -z "${RUNS["$MODE|$load|$target"]:-}" ]; then
                printf '%-19s %-29s %s\n' "$label" "${TARGET_LABEL[$target]}" \
                    "no figures (failed runs; see FAILURES)"
                label=''
                continue
            fi
            ops=$(rate "$load" "$target")
            if [[ $ops == bound* ]]; then
                note_bound "$load" "$target" "blink-store bench" "$(figure "$load" "$target" 1)" \
                    "$(figure "$load" "$(null_of "$target")" 1)"
            fi
            vs="" no_log="" musl="" rb="" rb_vs=""
            peer=${REDIS_OF[$target]:-}
            in_mode "$peer" || peer=''
            if [ -n "$peer" ]; then
                vs=$(versus "$ops" "$(rate "$load" "$peer")")
                [ "$peer" = redis ] && [ "$target" != redis-io ] && in_mode redis-io &&
                    vs+=" / $(versus "$ops" "$io_ops")"
            fi
            [ -n "${NOLOG_OF[$target]:-}" ] &&
                no_log=$(versus "$ops" "$(rate "$load" "${NOLOG_OF[$target]}")")
            [ -n "${GLIBC_OF[$target]:-}" ] &&
                musl=$(versus "$ops" "$(rate "$load" "${GLIBC_OF[$target]}")")
            if [ -n "${RB_RUNS["$MODE|$load|$target"]:-}" ]; then
                rb_raw=$(rb_rate "$load" "$target")
                rb=$(shown "$rb_raw")
                if [[ $rb_raw == bound* ]]; then
                    note_bound "$load" "$target" "redis-benchmark" "$(rb_figure "$load" "$target")" \
                        "$(rb_figure "$load" null-resp)"
                fi
                [ -z "$peer" ] || rb_vs=$(versus "$rb_raw" "$(rb_rate "$load" "$peer")")
            fi
            table_row "$label" "${TARGET_LABEL[$target]}" "$(shown "$ops")" \
                "$(spread "$load" "$target")" "$(fmt "$(figure "$load" "$target" 2)" 1)" \
                "$(fmt "$(figure "$load" "$target" 3)" 1)" \
                "$(fmt "$(figure "$load" "$target" 4)" 2)" \
                "$(fmt "$(figure "$load" "$target" 5)" 2)" "$vs" "$no_log" "$musl" "$rb" "$rb_vs"
            label=''
        done
    done
    say ""
}

# measure_start NAME KIND [EXTRA] [AOF]: starts KIND unpinned on a free
# port (EXTRA and AOF as server_command's) and times, from just before the
# fork, the first accepted connection and the first answer to the probe
# request (ours binds its port before it replays its log and starts its
# workers, so the answer is the better measure of ready); appends
# "connect_ms reply_ms rss_kib" to STARTS_OF[NAME], with AOF followed by
# the keys it then holds. A reply that is not the answer, such as Redis's
# -LOADING while it loads its log, is asked again on a new connection, up
# to PERF_READY_TIMEOUT (REPLAY_TIMEOUT with AOF) after the start. Polls
# connect in a tight loop of shell builtins, with no process started per
# attempt. The server's log stays in $WORK/start-NAME.log until the next
# start of NAME.
declare -A STARTS_OF=()
measure_start() {
    local name=$1 kind=$2 extra=${3:-} aof=${4:-} limit=$PERF_READY_TIMEOUT
    local port pid t0 t_connect='' t_reply deadline reply='' rss keys='' command=()
    [ -z "$aof" ] || limit=$REPLAY_TIMEOUT
    port=$(free_port) || die "cannot find a free port"
    mapfile -t command < <(server_command "$kind" "$port" "$extra" "$aof")
    t0=${EPOCHREALTIME/./}
    "${command[@]}" </dev/null >"$WORK/start-$name.log" 2>&1 &
    pid=$!
    PERF_PIDS+=("$pid")
    deadline=$((t0 + limit * 1000000))
    while :; do
        until { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; do
            if ((${EPOCHREALTIME/./} > deadline)); then
                perf_stop "$pid"
                die "$name did not accept a connection within ${limit}s"
            fi
        done
        [ -n "$t_connect" ] || t_connect=${EPOCHREALTIME/./}
        probe_request "$kind" >&3
        reply=''
        IFS= read -r -t "$(((deadline - ${EPOCHREALTIME/./}) / 1000000 + 1))" reply <&3 || true
        t_reply=${EPOCHREALTIME/./}
        exec 3>&-
        [[ $reply == "$(probe_answer "$kind")"* ]] && break
        if ((t_reply > deadline)) || ! alive "$pid"; then
            break
        fi
        sleep 0.005
    done
    rss=$(rss_kb "$pid" 2>/dev/null) || rss=''
    if [[ $reply == "$(probe_answer "$kind")"* ]] && alive "$pid"; then
        if [ -n "$aof" ]; then
            keys=$(key_count "$kind" "$port") || keys='?'
            rss+=" $keys"
        fi
        STARTS_OF[$name]+="$(calc "($t_connect - $t0) / 1000") $(calc "($t_reply - $t0) / 1000") $rss"$'\n'
    elif [ -n "$aof" ]; then
        fail "$name did not answer within ${limit}s of its start on $(basename "${aof#* }")"
    else
        progress "a start of $name was not answered (port taken?); not counted"
    fi
    perf_stop "$pid"
}

# start_figure NAME COLUMN: median of a column of STARTS_OF[NAME].
start_figure() {
    local values
    values=$(awk -v c="$2" 'NF { print $c }' <<<"${STARTS_OF[$1]:-}")
    # shellcheck disable=SC2086 # one value a word
    median $values
}

# print_footprint: the musl binary's size, as built and stripped.
print_footprint() {
    local built
    if [ -n "$BIN_MUSL" ]; then
        built=$(stat -c %s "$BIN_MUSL")
        if command -v strip >/dev/null; then
            strip -o "$WORK/blink-store-musl-stripped" "$BIN_MUSL"
            say "musl binary: $built bytes as built, $(stat -c %s "$WORK/blink-store-musl-stripped") bytes stripped (glibc build: $(stat -c %s "$BIN_GLIBC") bytes)"
        else
            say "musl binary: $built bytes as built (strip is not installed)"
        fi
    else
        say "musl build $MUSL_NOTE"
    fi
    say ""
}

# measure_startup: STARTS starts of each server, in turn, with nothing
# else running, then their table.
measure_startup() {
    local i kind kinds=(blink-glibc)
    [ -n "$BIN_MUSL" ] && kinds+=(blink-musl)
    [ "$HAVE_REDIS" = 1 ] && kinds+=(redis)
    [ "$HAVE_MEMCACHED" = 1 ] && kinds+=(memcached)
    perf_stop_started
    progress "timing $STARTS starts of each server"
    for ((i = 0; i < STARTS; i++)); do
        for kind in "${kinds[@]}"; do
            measure_start "$kind" "$kind"
        done
    done
    say "-- Start-up (median of $STARTS starts, not pinned, default flags but the address) --"
    say "server                      to connect ms  to first reply ms  idle RSS MiB"
    [ -n "$BIN_MUSL" ] || say "Blink-Store (static musl)   musl build $MUSL_NOTE"
    [ "$HAVE_REDIS" = 1 ] || say "Redis                       MISSING: redis-server ${MISSING_WHY[redis-server]}"
    [ "$HAVE_MEMCACHED" = 1 ] || say "memcached                   MISSING: memcached ${MISSING_WHY[memcached]}"
    for kind in "${kinds[@]}"; do
        printf '%-27s %13s %18s %13s\n' "${START_LABEL[$kind]}" \
            "$(fmt "$(start_figure "$kind" 1)" 2)" "$(fmt "$(start_figure "$kind" 2)" 2)" \
            "$(fmt "$(mib "$(start_figure "$kind" 3)")" 1)"
    done
    say "to connect: from just before the fork to the first connection accepted; to first"
    say "reply: to the answer to PING (memcached: version); idle RSS: VmRSS at that answer."
}
declare -A START_LABEL=(
    [blink-glibc]="Blink-Store (glibc build)" [blink-musl]="Blink-Store (static musl)"
    [redis]="Redis" [memcached]="memcached"
)

# measure_replay: writes REPLAY_KEYS keys (BENCH_KEYS' sizes) through our
# glibc build under --appendfsync everysec into one log, and stops it with
# SHUTDOWN, which syncs the log; then starts each server on that log in
# turn, REPLAY_STARTS times, timing each start until it answers PING and
# checking it then holds every key. Ours starts on the log itself (a
# replay writes nothing to it); Redis on a fresh copy each time, since
# Redis 7 moves a single-file log into its appendonlydir. Nothing else
# runs meanwhile and nothing is pinned; the log is in the page cache for
# every start, as the copy is.
REPLAY_KINDS=()
REPLAY_BYTES=0
# Ours' own account of each replay, "records keys seconds" a line, by kind.
declare -A REPLAYED=()
measure_replay() {
    local dir=$AOF_DIR/replay log i kind line
    log=$dir/appendonly.aof
    MODE=replay PIN_SERVER=() PIN_LOAD=()
    perf_stop_started
    mkdir -p "$dir"
    perf_start_server replay-fill blink-glibc "$MEMORY_LIMIT" "" "everysec $log"
    prefill replay-fill resp "$REPLAY_KEYS"
    shutdown_server replay-fill
    REPLAY_BYTES=$(stat -c %s "$log")
    REPLAY_KINDS=(blink-glibc)
    [ -n "$BIN_MUSL" ] && REPLAY_KINDS+=(blink-musl)
    [ "$HAVE_REDIS" = 1 ] && REPLAY_KINDS+=(redis)
    for ((i = 1; i <= REPLAY_STARTS; i++)); do
        for kind in "${REPLAY_KINDS[@]}"; do
            progress "replay: start $i/$REPLAY_STARTS of $kind on $REPLAY_KEYS keys"
            if [ "$kind" = redis ]; then
                rm -rf "$dir/redis"
                mkdir "$dir/redis"
                cp "$log" "$dir/redis/appendonly.aof"
                measure_start replay-redis redis "" "everysec $dir/redis/appendonly.aof"
                continue
            fi
            measure_start "replay-$kind" "$kind" "$MEMORY_LIMIT" "everysec $log"
            line=$(sed -n 's/.*replayed \([0-9]*\) records, \([0-9]*\) keys in \([0-9.]*\) s.*/\1 \2 \3/p' \
                "$WORK/start-replay-$kind.log")
            [ -n "$line" ] || fail "replay: $kind logged no 'replayed N records, M keys' line"
            REPLAYED[$kind]+="$line"$'\n'
        done
    done
    rm -rf "$dir"
    for kind in "${REPLAY_KINDS[@]}"; do
        awk -v k="$REPLAY_KEYS" 'NF && $4 != k { bad = 1 } END { exit bad }' \
            <<<"${STARTS_OF[replay-$kind]:-}" ||
            fail "replay: $kind did not hold $REPLAY_KEYS keys after a start: ${STARTS_OF[replay-$kind]//$'\n'/; }"
    done
}

# print_replay: measure_replay's table.
print_replay() {
    local kind seconds
    say "-- Replay: one log of $REPLAY_KEYS keys (16-byte keys, $DATA_SIZE-byte values; $REPLAY_BYTES bytes),"
    say "   written by ours under everysec; median of $REPLAY_STARTS starts each, not pinned --"
    say "server                      to answer ms  keys then  RSS MiB then"
    [ "$HAVE_REDIS" = 1 ] || say "Redis                       MISSING: redis-server ${MISSING_WHY[redis-server]}"
    for kind in "${REPLAY_KINDS[@]}"; do
        printf '%-27s %12s %10s %13s\n' "${START_LABEL[$kind]}" \
            "$(fmt "$(start_figure "replay-$kind" 2)" 1)" "$(start_figure "replay-$kind" 4)" \
            "$(fmt "$(mib "$(start_figure "replay-$kind" 3)")" 1)"
    done
    for kind in "${REPLAY_KINDS[@]}"; do
        [ "$kind" != redis ] || continue
        seconds=$(median_of "${REPLAYED[$kind]:-}" 3)
        say "log line of ${START_LABEL[$kind]}: replayed $(median_of "${REPLAYED[$kind]:-}" 1) records, $(median_of "${REPLAYED[$kind]:-}" 2) keys in $seconds s (median)"
        [ "$HAVE_REDIS" = 1 ] &&
            say "  Redis / ${START_LABEL[$kind]}, time to answer: $(replay_ratio "$kind") (above 1x: ours is ready sooner)"
    done
    say "to answer: from just before the fork to the answer to PING (+PONG; Redis answers"
    say "-LOADING until it has loaded the log, and is asked again); keys: DBSIZE then."
    say ""
}

# replay_ratio KIND: Redis's median time to answer after a replay / KIND's.
replay_ratio() {
    ratio "$(start_figure replay-redis 2)" "$(start_figure "replay-$1" 2)"
}

# goal_ratio RATE PEER_RATE: RATE / PEER_RATE as "1.23x"; when one of them
# is load generator bound ('>N'), the side of a ratio known only that far:
# ">1.23x" (RATE is above N, so the ratio is above N / PEER_RATE) or
# "<0.61x" (PEER_RATE is above N); "-" when both are bound or one is
# missing.
goal_ratio() {
    local r
    case "$1|$2" in
    bound\ *\|bound\ *) r=- ;;
    bound\ *)
        r=$(ratio "${1#bound }" "$2")
        [ "$r" = - ] || r=">$r"
        ;;
    *\|bound\ *)
        r=$(ratio "$1" "${2#bound }")
        [ "$r" = - ] || r="<$r"
        ;;
    *) r=$(ratio "$1" "$2") ;;
    esac
    printf '%s' "$r"
}

# goal WHAT RATIO MIN: one line of print_goals: whether RATIO (goal_ratio's)
# reaches MIN, and what it is. A ratio known only as ">R" has met MIN when
# R does; one known as "<R" has missed it when R does not exceed MIN;
# otherwise, or with no ratio, the verdict is n/a.
goal() {
    local verdict
    verdict=$(awk -v r="$2" -v m="$3" 'BEGIN {
        side = substr(r, 1, 1)
        if (side == ">" || side == "<") r = substr(r, 2)
        if (r !~ /x$/) { print "n/a"; exit }
        r = substr(r, 1, length(r) - 1) + 0
        if (side == ">") print (r >= m) ? "met" : "n/a"
        else if (side == "<") print (r <= m) ? "MISSED" : "n/a"
        else print (r >= m) ? "met" : "MISSED"
    }')
    printf '%-6s %7s (at least %sx)  %s\n' "$verdict" "$2" "$3" "$1"
}

# print_goals: the targets set for the log, met or not, from the figures
# above: everysec at least 0.9x our own rate without the log; always at
# least Redis's always at 50 clients; a replay no slower than Redis's.
print_goals() {
    local mode load build
    say "-- Targets for the log --"
    for mode in "${MEASURED[@]}"; do
        MODE=$mode
        enter_mode "$mode"
        for build in ours ours-musl; do
            in_mode "$build" || continue
            for load in "${LOADS[@]}"; do
                goal "$mode, $load: ${TARGET_LABEL[$build-everysec]} / no log" \
                    "$(goal_ratio "$(rate "$load" "$build-everysec")" "$(rate "$load" "$build")")" 0.90
            done
            in_mode redis-always || continue
            goal "$mode, SET 50 clients: ${TARGET_LABEL[$build-always]} / Redis" \
                "$(goal_ratio "$(rate "SET 50 clients" "$build-always")" \
                    "$(rate "SET 50 clients" redis-always)")" 1.00
        done
    done
    if [ "$HAVE_REDIS" = 1 ]; then
        for build in "${REPLAY_KINDS[@]}"; do
            [ "$build" != redis ] || continue
            goal "replay of $REPLAY_KEYS keys: Redis's time to answer / ${START_LABEL[$build]}'s" \
                "$(replay_ratio "$build")" 1.00
        done
    fi
    say "'>R' or '<R': a figure was load generator bound ('>N'), so the ratio is known only to"
    say "  be above or below R; n/a: that does not settle the target, or a figure is missing."
    say ""
}

# ---------------------------------------------------------------------------

perf_build
perf_find_peers
if [ "$AOF" = 1 ]; then
    PERF_DIRS+=("$AOF_DIR")
    rm -rf "$AOF_DIR"
    mkdir -p "$AOF_DIR"
    AOF_FS=$(stat -f -c %T "$AOF_DIR")
fi

if [ "$AOF" = 1 ]; then
    say "== Blink-Store append-only file benchmark (scripts/bench.sh --aof) =="
else
    say "== Blink-Store benchmark (scripts/bench.sh) =="
fi
print_machine
print_versions
say "modes:    ${MODES[*]} (one table each; see below)"
if [ "$AOF" = 1 ]; then
    say "runs:     $ROUNDS rounds x $SECS s per run, loads round-robin over the targets in each round;"
    say "          SET only, over $KEYS keys of 16 bytes, values of $DATA_SIZE bytes; every run starts"
    say "          its own server, with an empty store and an empty log, removed after the run;"
    say "          figures are medians over the rounds; load generator: blink-store bench (glibc"
    say "          build; --threads 1 per core, a thread per client on the whole machine);"
    say "          cross-check: redis-benchmark -t set -r $KEYS -d $DATA_SIZE -c 1|50 [-P 16],"
    say "          once a round, each on its own server likewise"
    say "servers:  ours: serve --tcp 127.0.0.1:P --memory-limit $MEMORY_LIMIT (glibc and static musl builds)"
    say "          [--aof DIR/appendonly.aof --appendfsync always|everysec"
    say "          --auto-aof-rewrite-percentage 0; no log: without];"
    say "          redis-server --port P --bind 127.0.0.1 --save '' --appendonly yes"
    say "          --appendfsync always|everysec --dir DIR --appendfilename appendonly.aof"
    say "          --auto-aof-rewrite-percentage 0 (neither compacts its log during a run);"
    say "          null server: blink-store bench --null-server 127.0.0.1:P (constant replies; --poll per core)"
    say "logs:     $AOF_DIR (filesystem: $AOF_FS)"
    [ "$AOF_FS" != tmpfs ] ||
        say "          WARNING: a tmpfs: a sync costs nothing there, so no figure measures a disk"
else
    say "runs:     $ROUNDS rounds x $SECS s per run, loads round-robin over the targets in each round;"
    say "          $KEYS keys of 16 bytes prefilled, values of $DATA_SIZE bytes; figures are medians"
    say "          over the rounds; load generator: blink-store bench (glibc build; --threads 1"
    say "          per core, a thread per client on the whole machine); cross-check:"
    say "          redis-benchmark -t set,get -r $KEYS -d $DATA_SIZE -c 1|50 [-P 16], once a round"
    say "servers:  ours: serve --tcp 127.0.0.1:P --memory-limit $MEMORY_LIMIT (glibc and static musl builds);"
    say "          redis-server --port P --bind 127.0.0.1 --save '' --appendonly no"
    say "          [--io-threads $CPUS --io-threads-do-reads yes: whole machine only];"
    say "          memcached -l 127.0.0.1 -p P -m $MEMCACHED_MB -U 0 (4 threads, its default);"
    say "          null server: blink-store bench --null-server 127.0.0.1:P (constant replies; --poll per core)"
fi
[ -n "$BIN_MUSL" ] || say "musl:     $MUSL_NOTE"
say ""

MEASURED=()
for mode in "${MODES[@]}"; do
    if ! enter_mode "$mode"; then
        progress "$mode: skipped (${MODE_SKIPPED[$mode]})"
        continue
    fi
    start_servers
    measure_rounds
    # The servers of one mode are stopped before the next starts its own,
    # pinned differently.
    perf_stop_started
    MEASURED+=("$mode")
done
[ "$AOF" = 0 ] || measure_replay

for mode in "${MODES[@]}"; do
    if [ -n "${MODE_SKIPPED[$mode]:-}" ]; then
        say "-- ${MODE_TITLE[$mode]}: NOT MEASURED, ${MODE_SKIPPED[$mode]} --"
        say ""
    fi
done
for mode in "${MEASURED[@]}"; do
    MODE=$mode
    enter_mode "$mode"
    print_table
done
[ "$HAVE_REDIS" = 1 ] || say "Redis: MISSING: redis-server ${MISSING_WHY[redis-server]}"
[ "$HAVE_MEMCACHED" = 1 ] || [ "$AOF" = 1 ] ||
    say "memcached: MISSING: memcached ${MISSING_WHY[memcached]}"
[ "$HAVE_REDIS_BENCHMARK" = 1 ] ||
    say "redis-benchmark column: MISSING: redis-benchmark ${MISSING_WHY[redis-benchmark]}"
say "ops/s: blink-store bench's median. '>N': the median was above 2/3 of the rate the load"
say "  generator reached on the same load against the null server (N is that 2/3): the figure"
say "  is the load generator's limit, not the server's, so it is not reported, nor any ratio"
say "  to it. The null server rows are those limits' source."
say "±range: half the spread of ops/s over the rounds, in % of the median."
say "CPU µs/req: the server's user+system CPU time (all threads) over the run / requests."
say "load CPUs: blink-store bench's user+system CPU time / the run's wall time: near 1.00"
say "  per core means its CPU was full, the load generator the limit."
if [ "$AOF" = 1 ]; then
    say "vs Redis: ops/s / Redis's under the same --appendfsync (above 1x: more served)."
    say "vs no log: ops/s / the same build's without --aof."
else
    say "vs Redis: ops/s / Redis's (above 1x: more served); whole machine: / Redis's with io-threads too."
fi
say "musl/glibc: the static musl build's ops/s / the glibc build's, same protocol."
say "redis-benchmark: its median req/s on the same load (RESP rows only), with the same"
say "  2/3 rule against its own null server rate; rb vs Redis: that / Redis's."
say ""
say "-- Load generator bound (not reported above) --"
if [ ${#BOUND[@]} -eq 0 ]; then
    say "none: every result was below 2/3 of its load generator's null server rate."
else
    printf '%s\n' "${BOUND[@]}"
fi
say ""
if [ ${#DISTURBED[@]} -gt 0 ]; then
    say "-- Disturbed runs: far longer than asked; was something else running? --"
    printf '%s\n' "${DISTURBED[@]}"
    say ""
fi

if [ "$AOF" = 1 ]; then
    print_replay
    print_goals
else
    print_footprint
    measure_startup
fi

if [ -n "${BENCH_RAW:-}" ]; then
    cp "$WORK/runs.tsv" "$BENCH_RAW"
    say ""
    say "every run's figures: $BENCH_RAW"
fi

if [ ${#FAILURES[@]} -gt 0 ]; then
    say ""
    say "FAILURES:"
    printf '  %s\n' "${FAILURES[@]}"
    exit 1
fi
