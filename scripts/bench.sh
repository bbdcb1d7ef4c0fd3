#!/usr/bin/env bash
# Measures Blink-Store against Redis and memcached on this machine, two
# ways, and prints a table of figures for each. Run from a checkout:
# scripts/bench.sh
#
# What it does:
#   1. Builds our release binary for the host (glibc) and, when the Rust
#      target is installed, the static x86_64-unknown-linux-musl one. Both
#      are measured, each its own row.
#   2. Measures in two modes (BENCH_MODES), one table each:
#      - per core: every server pinned to CPU 0, the load generator and
#        redis-benchmark to CPU 1 (taskset; skipped, saying so, with fewer
#        than 2 CPUs or no taskset). What one core of each server does.
#      - whole machine: no pinning at all; servers and load share every
#        CPU, as on a real box. Redis is also run with --io-threads equal
#        to the CPU count (--io-threads-do-reads yes), as its own row.
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
# server rate. Two more lists help judge the rule: per core, the null
# server runs whose own CPU was full while the load generator's was not
# (there the ceiling is the null server's, and '>N' may be too strict);
# and every run that took far longer than asked (something else had the
# CPUs).
#
# A missing redis-server, memcached or redis-benchmark is installed with
# apt-get when running as root with apt-get present and BENCH_INSTALL is
# not 0; otherwise its rows say MISSING. Progress goes to stderr, the
# report to stdout. Exits non-zero only when something failed: a build, a
# server that does not start, a load generator run that fails or counts
# error replies, a prefill that leaves the wrong number of keys. Every
# process it starts (the null server too) is stopped on exit, on failure
# and on Ctrl-C.
#
# Environment:
#   BENCH_ROUNDS=3         rounds of every run; figures are medians over them
#   BENCH_SECONDS=3        seconds per measured run
#   BENCH_MODES="per-core whole-machine"   the modes to measure, in order
#   BENCH_KEYS=100000      keys prefilled and used by every load
#   BENCH_STARTS=10        starts per server for the start-up time
#   BENCH_RB_REQUESTS=100000  requests per redis-benchmark test with 50
#                          clients; a quarter of that with 1 client, five
#                          times that pipelined
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
set -euo pipefail
cd "$(dirname "$0")/.."
PERF_NAME=bench.sh
# shellcheck source=scripts/perf_lib.sh
. scripts/perf_lib.sh

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
# A result above this share of the null server's rate, for the same load
# generator, load and mode, is the load generator's limit, not the
# server's: 2/3 unless BENCH_LIMIT_SHARE says otherwise.
LIMIT_SHARE=${BENCH_LIMIT_SHARE:-0.6667}
[[ $LIMIT_SHARE =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] ||
    die "BENCH_LIMIT_SHARE must be a fraction from 0 to 1, not '$LIMIT_SHARE'"
# A null server that used more than this share of a CPU, pinned to its
# own, while the load generator used less, was the limit itself: its rate
# understates the load generator's.
NULL_BUSY=0.9
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

# The loads: name → clients, pipeline, GET:SET ratio.
LOADS=("GET 1 client" "GET 50 clients" "GET 50 clients P16"
    "SET 1 client" "SET 50 clients" "SET 50 clients P16")
declare -A LOAD_SPEC=(
    ["GET 1 client"]="1 1 1:0"
    ["GET 50 clients"]="50 1 1:0"
    ["GET 50 clients P16"]="50 16 1:0"
    ["SET 1 client"]="1 1 0:1"
    ["SET 50 clients"]="50 1 0:1"
    ["SET 50 clients P16"]="50 16 0:1"
)

# The targets, one row each: a server and the protocol spoken to it.
declare -A TARGET_SERVER=(
    [null-resp]=null [null-text]=null [null-memcache]=null
    [redis]=redis [redis-io]=redis-io
    [ours]=blink-glibc [ours-text]=blink-glibc
    [ours-musl]=blink-musl [ours-musl-text]=blink-musl
    [memcached]=memcached
)
declare -A TARGET_PROTO=(
    [null-resp]=resp [null-text]=text [null-memcache]=memcache
    [redis]=resp [redis-io]=resp
    [ours]=resp [ours-text]=text [ours-musl]=resp [ours-musl-text]=text
    [memcached]=memcache
)
declare -A TARGET_LABEL=(
    [null-resp]="null server (RESP)" [null-text]="null server (text)"
    [null-memcache]="null server (memcache)"
    [redis]="Redis (RESP)" [redis-io]="Redis io-threads $CPUS (RESP)"
    [ours]="Blink-Store glibc (RESP)" [ours-text]="Blink-Store glibc (text)"
    [ours-musl]="Blink-Store musl (RESP)" [ours-musl-text]="Blink-Store musl (text)"
    [memcached]="memcached (text)"
)
# The glibc row a musl row is compared with.
declare -A GLIBC_OF=([ours-musl]=ours [ours-musl-text]=ours-text)
# Every target in the order of the tables.
ALL_TARGETS=(null-resp null-text null-memcache redis redis-io ours ours-text ours-musl
    ours-musl-text memcached)

# Per-run figures, "ops p50 p99 cpu_us" lines, by "mode|load|target".
declare -A RUNS=()
# redis-benchmark's requests per second, one line a round, by
# "mode|load|target" (RESP targets only).
declare -A RB_RUNS=()
printf 'mode\tround\tload\ttarget\tgenerator\tops_per_sec\tp50_us\tp99_us\tcpu_us_per_request\tload_cpus\trequests\terrors\n' \
    >"$WORK/runs.tsv"

# Load generator bound results, one line each, for the report.
BOUND=()
# Null server runs that kept its CPU busy, one line each, for the report.
NULL_SATURATED=()
# Runs that took far longer than asked, one line each: a client thread
# (or the server) did not get a CPU for a long while, so that run's rate
# says more about the machine's other work than about the server.
DISTURBED=()

# The mode being measured, how its servers and load are pinned, and its
# targets; set by enter_mode.
MODE=
PIN_SERVER=()
PIN_LOAD=()
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
        ;;
    whole-machine)
        PIN_SERVER=()
        PIN_LOAD=()
        ;;
    esac
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
# servers of the mode's targets.
start_servers() {
    perf_start_server null null "$NULL_SECONDS" pinned
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

# prefill SERVER PROTO: SETs every key once and checks the server then
# holds exactly BENCH_KEYS keys.
prefill() {
    local server=$1 proto=$2 port=${SERVER_PORT[$1]} json count status=0
    progress "$MODE: prefilling $KEYS keys into $server"
    json=$(timeout --foreground "$RUN_TIMEOUT" "${PIN_LOAD[@]}" "$BIN_GLIBC" bench \
        --tcp "127.0.0.1:$port" --proto "$proto" --prefill --keyspace "$KEYS" \
        --data-size "$DATA_SIZE" --requests 1 --ratio 1:0 --json 2>>"$WORK/bench.log") ||
        status=$?
    exit_if_interrupted "$status"
    [ "$status" = 0 ] || die "prefilling $server failed: $(tail -n 1 "$WORK/bench.log")"
    count=$(key_count "$server" "$port") || count='?'
    [ "$count" = "$KEYS" ] || die "$server holds $count keys after prefilling $KEYS"
    [ "$(json_field "$json" errors)" = 0 ] || die "prefilling $server: $json"
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
        --tcp "127.0.0.1:$port" --proto "$proto" --clients "$clients" \
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

# The RESP targets that redis-benchmark also loads.
RB_TARGETS=(null-resp redis redis-io ours ours-musl)

# run_redis_benchmark ROUND TARGET CLIENTS PIPELINE: redis-benchmark's SET
# and GET with CLIENTS clients, pipelining PIPELINE, over the prefilled
# keys (-r), against TARGET; its figures go to RB_RUNS.
run_redis_benchmark() {
    local round=$1 target=$2 clients=$3 pipeline=$4 requests=$RB_REQUESTS out status=0
    local port=${SERVER_PORT[${TARGET_SERVER[$2]}]} test rps suffix=''
    [ "$clients" = 1 ] && requests=$((RB_REQUESTS / 4 > 0 ? RB_REQUESTS / 4 : 1))
    [ "$pipeline" = 1 ] || requests=$((RB_REQUESTS * 5))
    out=$(timeout --foreground "$RB_TIMEOUT" "${PIN_LOAD[@]}" redis-benchmark -h 127.0.0.1 \
        -p "$port" -t set,get -n "$requests" -c "$clients" -P "$pipeline" -r "$KEYS" \
        -d "$DATA_SIZE" -q 2>&1) || status=$?
    exit_if_interrupted "$status"
    out=$(tr '\r' '\n' <<<"$out" | grep 'requests per second') || status=1
    if [ "$status" != 0 ]; then
        fail "$MODE, redis-benchmark -c $clients -P $pipeline against ${TARGET_LABEL[$target]}: $(tail -n 1 <<<"$out")"
        return 0
    fi
    if [ "$clients" = 1 ]; then
        suffix=' 1 client'
    else
        suffix=" $clients clients"
        [ "$pipeline" = 1 ] || suffix+=" P$pipeline"
    fi
    for test in SET GET; do
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
                run_load "$round" "$load" "${TARGETS[$(((i + round - 1) % n))]}"
            done
        done
        [ "$HAVE_REDIS_BENCHMARK" = 1 ] || continue
        for shape in "1 1" "50 1" "50 16"; do
            for ((i = 0; i < ${#rb[@]}; i++)); do
                # shellcheck disable=SC2086 # clients and pipeline, two words
                run_redis_benchmark "$round" "${rb[$(((i + round - 1) % ${#rb[@]}))]}" $shape
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

# fmt NUMBER DECIMALS: rounded, or "-".
fmt() {
    if [[ $1 =~ ^[0-9.e+-]+$ ]]; then
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

# print_table: the current mode's table, one row per load and target.
print_table() {
    local load target label ops rb redis_ops io_ops vs musl rb_raw
    say "-- ${MODE_TITLE[$MODE]} (medians of $ROUNDS rounds of $SECS s) --"
    printf '%-19s %-29s %10s %7s %8s %8s %7s %5s  %-15s %-6s %10s %s\n' load "server (protocol)" \
        ops/s ±range "p50 µs" "p99 µs" "CPU µs" load "vs Redis" musl/ "redis-" "rb vs"
    printf '%-19s %-29s %10s %7s %8s %8s %7s %5s  %-15s %-6s %10s %s\n' "" "" "" "" "" "" "/req" CPUs \
        "$([ "$MODE" = whole-machine ] && echo "(/ io-threads)")" glibc benchmark Redis
    for load in "${LOADS[@]}"; do
        label=$load
        redis_ops=$(rate "$load" redis)
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
            if is_null "$target" && [ "$MODE" = per-core ]; then
                local busy load_cpus
                busy=$(calc "$(figure "$load" "$target" 4) * $ops / 1000000")
                load_cpus=$(figure "$load" "$target" 5)
                if awk -v b="$busy" -v l="$load_cpus" -v m="$NULL_BUSY" \
                    'BEGIN { exit !(b > m && l < m) }'; then
                    NULL_SATURATED+=("$MODE, $load, ${TARGET_LABEL[$target]}: $(fmt "$busy" 2) of its CPU, the load generator $(fmt "$load_cpus" 2)")
                fi
            fi
            if [[ $ops == bound* ]]; then
                note_bound "$load" "$target" "blink-store bench" "$(figure "$load" "$target" 1)" \
                    "$(figure "$load" "$(null_of "$target")" 1)"
            fi
            vs="" musl="" rb=""
            case "$target" in
            null-* | redis) ;;
            redis-io) vs=$(versus "$ops" "$redis_ops") ;;
            *)
                vs=$(versus "$ops" "$redis_ops")
                [ "$MODE" = whole-machine ] && in_mode redis-io &&
                    vs+=" / $(versus "$ops" "$io_ops")"
                ;;
            esac
            [ -n "${GLIBC_OF[$target]:-}" ] &&
                musl=$(versus "$ops" "$(rate "$load" "${GLIBC_OF[$target]}")")
            local rb_vs=''
            if [ -n "${RB_RUNS["$MODE|$load|$target"]:-}" ]; then
                rb_raw=$(rb_rate "$load" "$target")
                rb=$(shown "$rb_raw")
                if [[ $rb_raw == bound* ]]; then
                    note_bound "$load" "$target" "redis-benchmark" "$(rb_figure "$load" "$target")" \
                        "$(rb_figure "$load" null-resp)"
                fi
                case "$target" in
                null-* | redis) ;;
                *) rb_vs=$(versus "$rb_raw" "$(rb_rate "$load" redis)") ;;
                esac
            fi
            printf '%-19s %-29s %10s %7s %8s %8s %7s %5s  %-15s %-6s %10s %s\n' "$label" \
                "${TARGET_LABEL[$target]}" "$(shown "$ops")" "$(spread "$load" "$target")" \
                "$(fmt "$(figure "$load" "$target" 2)" 1)" \
                "$(fmt "$(figure "$load" "$target" 3)" 1)" \
                "$(fmt "$(figure "$load" "$target" 4)" 2)" \
                "$(fmt "$(figure "$load" "$target" 5)" 2)" "$vs" "$musl" "$rb" "$rb_vs"
            label=''
        done
    done
    say ""
}

# measure_start KIND: starts KIND unpinned on a free port and times, from
# just before the fork, the first accepted connection and the first reply
# to the probe request (ours binds its port before it starts its workers,
# so the reply is the better measure of ready); appends "connect_ms
# reply_ms rss_kib" to STARTS_OF[KIND]. Polls connect in a tight loop of
# shell builtins, with no process started per attempt.
declare -A STARTS_OF=()
measure_start() {
    local kind=$1 port pid t0 t_connect t_reply deadline reply='' rss command=()
    port=$(free_port) || die "cannot find a free port"
    mapfile -t command < <(server_command "$kind" "$port" "")
    t0=${EPOCHREALTIME/./}
    "${command[@]}" </dev/null >"$WORK/start-$kind.log" 2>&1 &
    pid=$!
    PERF_PIDS+=("$pid")
    deadline=$((t0 + PERF_READY_TIMEOUT * 1000000))
    until { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; do
        if ((${EPOCHREALTIME/./} > deadline)); then
            perf_stop "$pid"
            die "$kind did not accept a connection within ${PERF_READY_TIMEOUT}s"
        fi
    done
    t_connect=${EPOCHREALTIME/./}
    probe_request "$kind" >&3
    IFS= read -r -t 5 reply <&3 || true
    t_reply=${EPOCHREALTIME/./}
    exec 3>&-
    rss=$(rss_kb "$pid" 2>/dev/null) || rss=''
    if [[ $reply == "$(probe_answer "$kind")"* ]] && alive "$pid"; then
        STARTS_OF[$kind]+="$(calc "($t_connect - $t0) / 1000") $(calc "($t_reply - $t0) / 1000") $rss"$'\n'
    else
        progress "a start of $kind was not answered (port taken?); not counted"
    fi
    perf_stop "$pid"
}

# start_figure KIND COLUMN: median of a column of STARTS_OF[KIND].
start_figure() {
    local values
    values=$(awk -v c="$2" 'NF { print $c }' <<<"${STARTS_OF[$1]:-}")
    # shellcheck disable=SC2086 # one value a word
    median $values
}

# ---------------------------------------------------------------------------

perf_build
perf_find_peers

say "== Blink-Store benchmark (scripts/bench.sh) =="
print_machine
print_versions
say "modes:    ${MODES[*]} (one table each; see below)"
say "runs:     $ROUNDS rounds x $SECS s per run, loads round-robin over the targets in each round;"
say "          $KEYS keys of 16 bytes prefilled, values of $DATA_SIZE bytes; figures are medians"
say "          over the rounds; load generator: blink-store bench (glibc build); cross-check:"
say "          redis-benchmark -t set,get -r $KEYS -d $DATA_SIZE -c 1|50 [-P 16], once a round"
say "servers:  ours: serve --tcp 127.0.0.1:P --memory-limit $MEMORY_LIMIT (glibc and static musl builds);"
say "          redis-server --port P --bind 127.0.0.1 --save '' --appendonly no"
say "          [--io-threads $CPUS --io-threads-do-reads yes: whole machine only];"
say "          memcached -l 127.0.0.1 -p P -m $MEMCACHED_MB -U 0 (4 threads, its default);"
say "          null server: blink-store bench --null-server 127.0.0.1:P (constant replies)"
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
[ "$HAVE_MEMCACHED" = 1 ] || say "memcached: MISSING: memcached ${MISSING_WHY[memcached]}"
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
say "vs Redis: ops/s / Redis's (above 1x: more served); whole machine: / Redis's with io-threads too."
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
if [ ${#NULL_SATURATED[@]} -gt 0 ]; then
    say "-- Null server the limit: its own CPU was full and the load generator's was not, so"
    say "   the load generator's ceiling for these loads is higher than measured and '>N'"
    say "   above may be too strict --"
    printf '%s\n' "${NULL_SATURATED[@]}"
    say ""
fi
if [ ${#DISTURBED[@]} -gt 0 ]; then
    say "-- Disturbed runs: far longer than asked; was something else running? --"
    printf '%s\n' "${DISTURBED[@]}"
    say ""
fi

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

# Nothing else runs while the start-up is timed.
perf_stop_started
progress "timing $STARTS starts of each server"
START_KINDS=(blink-glibc)
[ -n "$BIN_MUSL" ] && START_KINDS+=(blink-musl)
[ "$HAVE_REDIS" = 1 ] && START_KINDS+=(redis)
[ "$HAVE_MEMCACHED" = 1 ] && START_KINDS+=(memcached)
for ((i = 0; i < STARTS; i++)); do
    for kind in "${START_KINDS[@]}"; do
        measure_start "$kind"
    done
done
declare -A START_LABEL=(
    [blink-glibc]="Blink-Store (glibc build)" [blink-musl]="Blink-Store (static musl)"
    [redis]="Redis" [memcached]="memcached"
)
say "-- Start-up (median of $STARTS starts, not pinned, default flags but the address) --"
say "server                      to connect ms  to first reply ms  idle RSS MiB"
[ -n "$BIN_MUSL" ] || say "Blink-Store (static musl)   musl build $MUSL_NOTE"
[ "$HAVE_REDIS" = 1 ] || say "Redis                       MISSING: redis-server ${MISSING_WHY[redis-server]}"
[ "$HAVE_MEMCACHED" = 1 ] || say "memcached                   MISSING: memcached ${MISSING_WHY[memcached]}"
for kind in "${START_KINDS[@]}"; do
    printf '%-27s %13s %18s %13s\n' "${START_LABEL[$kind]}" \
        "$(fmt "$(start_figure "$kind" 1)" 2)" "$(fmt "$(start_figure "$kind" 2)" 2)" \
        "$(fmt "$(mib "$(start_figure "$kind" 3)")" 1)"
done
say "to connect: from just before the fork to the first connection accepted; to first"
say "reply: to the answer to PING (memcached: version); idle RSS: VmRSS at that answer."

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
