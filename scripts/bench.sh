#!/usr/bin/env bash
# Measures Blink-Store against Redis and memcached on this machine and
# prints one table of figures. Run from a checkout: scripts/bench.sh
#
# What it does:
#   1. Builds our release binary for the host and, when the Rust target is
#      installed, the static x86_64-unknown-linux-musl one.
#   2. Starts ours (--memory-limit 1gb), redis-server (no persistence) and
#      memcached (-m 1024 -U 0), each on 127.0.0.1. With 2 or more CPUs,
#      every server is pinned to CPU 0 and the load generator to CPU 1.
#   3. Prefills BENCH_KEYS keys (16-byte keys, 32-byte values) into each.
#   4. Runs six loads, GET (ratio 1:0) and SET (0:1) each with 1 client,
#      50 clients, and 50 clients pipelining 16, against every server in
#      turn, round-robin inside each round (ABAB), BENCH_ROUNDS rounds of
#      BENCH_SECONDS per run. Ours is measured over RESP and over its text
#      protocol, Redis over RESP, memcached over its text protocol, all with
#      `blink-store bench`. Each run records ops/s, p50 and p99 latency and
#      the server's CPU time per request (utime + stime of every thread,
#      from /proc/PID/stat, divided by the requests the run made).
#   5. Prints the medians over the rounds, and our ratios to Redis and to
#      memcached; a redis-benchmark cross-check for Redis and ours; the
#      musl build against the host build; the musl binary's stripped size;
#      start-up time (exec to a connection accepted, and to a first reply;
#      median of BENCH_STARTS starts) and idle resident memory right after
#      start, with default flags.
#
# A missing redis-server, memcached or redis-benchmark is installed with
# apt-get when running as root with apt-get present and BENCH_INSTALL is
# not 0; otherwise its rows say MISSING. Progress goes to stderr, the
# report to stdout. Exits non-zero only when something failed: a build, a
# server that does not start, a load generator run that fails or counts
# error replies, a prefill that leaves the wrong number of keys. Every
# process it starts is stopped on exit, on failure and on Ctrl-C.
#
# Environment:
#   BENCH_ROUNDS=3         rounds of every run; figures are medians over them
#   BENCH_SECONDS=3        seconds per measured run
#   BENCH_KEYS=100000      keys prefilled and used by every load
#   BENCH_STARTS=10        starts per server for the start-up time
#   BENCH_RB_REQUESTS=200000  requests per redis-benchmark test
#   BENCH_INSTALL=1        0: never install missing peers with apt-get
#   BENCH_RAW=PATH         also write every run's figures to PATH (TSV)
#
# With BENCH_ROUNDS=3 and BENCH_SECONDS=3 it takes about 6 minutes on a
# 2-CPU machine, the build excluded.
set -euo pipefail
cd "$(dirname "$0")/.."
PERF_NAME=bench.sh
# shellcheck source=scripts/perf_lib.sh
. scripts/perf_lib.sh

ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECONDS:-3}
KEYS=${BENCH_KEYS:-100000}
STARTS=${BENCH_STARTS:-10}
RB_REQUESTS=${BENCH_RB_REQUESTS:-200000}
for setting in ROUNDS SECS KEYS STARTS RB_REQUESTS; do
    is_count "${!setting}" || die "$setting must be a whole number above 0, not '${!setting}'"
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

CLK_TCK=$(getconf CLK_TCK)
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    PIN_SERVER=(taskset -c 0)
    PIN_LOAD=(taskset -c 1)
    PINNING="every server on CPU 0, the load generator on CPU 1 (taskset)"
else
    PIN_SERVER=()
    PIN_LOAD=()
    PINNING="none ($(nproc) CPU(s)$(command -v taskset >/dev/null || echo ', no taskset'))"
fi

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
    [redis]=redis [ours]=blink-glibc [ours-text]=blink-glibc
    [memcached]=memcached [ours-musl]=blink-musl
)
declare -A TARGET_PROTO=(
    [redis]=resp [ours]=resp [ours-text]=text [memcached]=memcache [ours-musl]=resp
)
declare -A TARGET_LABEL=(
    [redis]="Redis (RESP)" [ours]="Blink-Store (RESP)" [ours-text]="Blink-Store (text)"
    [memcached]="memcached (text)" [ours-musl]="Blink-Store musl (RESP)"
)

# Per-run figures, "ops p50 p99 cpu_us" lines, by "load|target".
declare -A RUNS=()
printf 'round\tload\ttarget\tops_per_sec\tp50_us\tp99_us\tcpu_us_per_request\trequests\terrors\n' \
    >"$WORK/runs.tsv"

# prefill SERVER PROTO: SETs every key once and checks the server then
# holds exactly BENCH_KEYS keys.
prefill() {
    local server=$1 proto=$2 port=${SERVER_PORT[$1]} json count status=0
    progress "prefilling $KEYS keys into $server"
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

# run_load ROUND LOAD TARGET: one measured run; its figures go to RUNS.
run_load() {
    local round=$1 load=$2 target=$3 clients pipeline ratio
    local server=${TARGET_SERVER[$3]} proto=${TARGET_PROTO[$3]}
    local pid=${SERVER_PID[${TARGET_SERVER[$3]}]} port=${SERVER_PORT[${TARGET_SERVER[$3]}]}
    local before after json requests errors ops p50 p99 cpu status=0
    read -r clients pipeline ratio <<<"${LOAD_SPEC[$load]}"
    before=$(cpu_ticks "$pid") || die "$server is not running"
    json=$(timeout --foreground "$RUN_TIMEOUT" "${PIN_LOAD[@]}" "$BIN_GLIBC" bench \
        --tcp "127.0.0.1:$port" --proto "$proto" --clients "$clients" \
        --pipeline "$pipeline" --ratio "$ratio" --duration "$SECS" \
        --keyspace "$KEYS" --data-size "$DATA_SIZE" --json 2>>"$WORK/bench.log") || status=$?
    exit_if_interrupted "$status"
    if [ "$status" != 0 ]; then
        fail "$load against ${TARGET_LABEL[$target]}: $(tail -n 1 "$WORK/bench.log")"
        return 0
    fi
    after=$(cpu_ticks "$pid") || die "$server exited during $load"
    requests=$(json_field "$json" requests)
    errors=$(json_field "$json" errors)
    ops=$(json_field "$json" ops_per_sec)
    p50=$(json_field "$json" p50_us)
    p99=$(json_field "$json" p99_us)
    if [ "$errors" != 0 ]; then
        fail "$load against ${TARGET_LABEL[$target]}: $errors error replies of $requests"
    fi
    cpu=$(calc "($after - $before) * 1000000 / $CLK_TCK / $((requests > 0 ? requests : 1))")
    RUNS["$load|$target"]+="$ops $p50 $p99 $cpu"$'\n'
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$load" "$target" "$ops" "$p50" \
        "$p99" "$cpu" "$requests" "$errors" >>"$WORK/runs.tsv"
    progress "round $round/$ROUNDS  $load  ${TARGET_LABEL[$target]}: $ops ops/s, p50 $p50 us"
}

# measure_rounds TARGET... : every load of LOADS against every target,
# round-robin, ROUNDS times. Each round starts one target further on, so no
# target always runs first after a change of load.
measure_rounds() {
    local targets=("$@") round load i n=$#
    for ((round = 1; round <= ROUNDS; round++)); do
        for load in "${LOADS[@]}"; do
            for ((i = 0; i < n; i++)); do
                run_load "$round" "$load" "${targets[$(((i + round - 1) % n))]}"
            done
        done
    done
}

# figure LOAD TARGET COLUMN: the median over the rounds of one column (1
# ops/s, 2 p50, 3 p99, 4 CPU us/request), or "-" with no runs.
figure() {
    local values
    values=$(awk -v c="$3" 'NF { print $c }' <<<"${RUNS["$1|$2"]:-}")
    # shellcheck disable=SC2086 # one value a word
    median $values
}

# spread LOAD TARGET: half the range of ops/s over the rounds, as a
# percentage of the median.
spread() {
    awk 'NF { print $1 }' <<<"${RUNS["$1|$2"]:-}" | sort -g | awk '
        { v[++n] = $1 }
        END {
            if (n < 2) { print "-"; exit }
            m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            printf "%.1f%%\n", (m > 0) ? 50 * (v[n] - v[1]) / m : 0
        }'
}

# versus LOAD TARGET PEER: our ops/s ratio to PEER's, and for a 1-client
# load the p50 ratio too; empty for a peer's own row.
versus() {
    local load=$1 target=$2 peer=$3 text
    case "$target" in ours | ours-text | ours-musl) ;; *) return 0 ;; esac
    [ -n "${RUNS["$load|$peer"]:-}" ] || { printf -- '-'; return 0; }
    text=$(ratio "$(figure "$load" "$target" 1)" "$(figure "$load" "$peer" 1)")
    if [[ $load == *"1 client" ]]; then
        text+=", p50 $(ratio "$(figure "$load" "$target" 2)" "$(figure "$load" "$peer" 2)")"
    fi
    printf '%s' "$text"
}

# fmt NUMBER DECIMALS: rounded, or "-".
fmt() {
    if [[ $1 =~ ^[0-9.e+-]+$ ]]; then
        printf "%.${2}f" "$1"
    else
        printf -- '-'
    fi
}

# print_table TARGET...: one row per load and target.
print_table() {
    local load target label
    say "load                server (protocol)            ops/s  ±range   p50 µs   p99 µs  CPU µs/req  vs Redis          vs memcached"
    for load in "${LOADS[@]}"; do
        label=$load
        for target in "$@"; do
            if [ -z "${RUNS["$load|$target"]:-}" ]; then
                printf '%-19s %-24s %s\n' "$label" "${TARGET_LABEL[$target]}" \
                    "$(missing_text "$target")"
            else
                printf '%-19s %-24s %10s %7s %8s %8s %11s  %-17s %s\n' "$label" \
                    "${TARGET_LABEL[$target]}" \
                    "$(fmt "$(figure "$load" "$target" 1)" 0)" "$(spread "$load" "$target")" \
                    "$(fmt "$(figure "$load" "$target" 2)" 1)" \
                    "$(fmt "$(figure "$load" "$target" 3)" 1)" \
                    "$(fmt "$(figure "$load" "$target" 4)" 2)" \
                    "$(versus "$load" "$target" redis)" "$(versus "$load" "$target" memcached)"
            fi
            label=''
        done
    done
}

# Why a target has no figures.
missing_text() {
    case "$1" in
    redis) printf 'MISSING: redis-server %s' "${MISSING_WHY[redis-server]:-did not run}" ;;
    memcached) printf 'MISSING: memcached %s' "${MISSING_WHY[memcached]:-did not run}" ;;
    *) printf 'no figures (failed runs; see above)' ;;
    esac
}

# redis_benchmark SERVER PIPELINE: redis-benchmark's GET and SET figures
# against SERVER, as "SET rps p50_ms GET rps p50_ms" (p50 "-" when this
# redis-benchmark does not print it).
redis_benchmark() {
    local port=${SERVER_PORT[$1]} pipeline=$2 out status=0
    out=$(timeout --foreground "$RB_TIMEOUT" "${PIN_LOAD[@]}" redis-benchmark -h 127.0.0.1 \
        -p "$port" -t get,set -n "$RB_REQUESTS" -c 50 -P "$pipeline" -d "$DATA_SIZE" -q \
        2>&1) || status=$?
    exit_if_interrupted "$status"
    out=$(tr '\r' '\n' <<<"$out" | grep 'requests per second') || status=1
    if [ "$status" != 0 ]; then
        fail "redis-benchmark -P $pipeline against $1: $(tail -n 1 <<<"$out")"
        return 0
    fi
    awk '{
            sub(":", "", $1); rps[$1] = $2; p50[$1] = "-"
            if (match($0, /p50=[0-9.]+/)) p50[$1] = substr($0, RSTART + 4, RLENGTH - 4)
        }
        END { print rps["SET"], p50["SET"], rps["GET"], p50["GET"] }' <<<"$out"
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
say "pinning:  $PINNING"
say "runs:     $ROUNDS rounds x $SECS s per run, loads round-robin over the servers in each round;"
say "          $KEYS keys of 16 bytes prefilled, values of $DATA_SIZE bytes; figures are medians"
say "          over the rounds; load generator: blink-store bench (host build)"
say "servers:  ours: serve --tcp 127.0.0.1:P --memory-limit $MEMORY_LIMIT (host build);"
say "          redis-server --port P --bind 127.0.0.1 --save '' --appendonly no;"
say "          memcached -l 127.0.0.1 -p P -m $MEMCACHED_MB -U 0 (4 threads, its default)"
say ""

TARGETS=()
if [ "$HAVE_REDIS" = 1 ]; then
    perf_start_server redis redis "" pinned
    prefill redis resp
    TARGETS+=(redis)
fi
perf_start_server blink-glibc blink-glibc "$MEMORY_LIMIT" pinned
prefill blink-glibc resp
TARGETS+=(ours ours-text)
if [ "$HAVE_MEMCACHED" = 1 ]; then
    perf_start_server memcached memcached "$MEMCACHED_MB" pinned
    prefill memcached memcache
    TARGETS+=(memcached)
fi

measure_rounds "${TARGETS[@]}"

say "-- Throughput, latency and server CPU (medians of $ROUNDS rounds of $SECS s) --"
print_table redis ours ours-text memcached
say ""
say "±range: half the spread of ops/s over the rounds, in % of the median."
say "CPU µs/req: the server's user+system CPU time (all threads) over the run / requests."
say "vs Redis, vs memcached: our ops/s / theirs (above 1x: we serve more); for 1 client"
say "also our p50 / theirs (below 1x: we answer sooner)."
say ""

say "-- redis-benchmark cross-check (once per server, pinned like the load generator) --"
if [ "$HAVE_REDIS_BENCHMARK" = 1 ]; then
    say "redis-benchmark -p P -t get,set -n $RB_REQUESTS -c 50 [-P 16] -d $DATA_SIZE -q"
    say "test         Redis req/s (p50 ms)       Blink-Store req/s (p50 ms)  ours/Redis"
    for pipeline in 1 16; do
        rb_ours=$(redis_benchmark blink-glibc "$pipeline")
        rb_redis=''
        [ "$HAVE_REDIS" = 1 ] && rb_redis=$(redis_benchmark redis "$pipeline")
        read -r ours_set ours_set_p50 ours_get ours_get_p50 <<<"${rb_ours:-- - - -}"
        read -r redis_set redis_set_p50 redis_get redis_get_p50 <<<"${rb_redis:-- - - -}"
        suffix=''
        [ "$pipeline" = 1 ] || suffix=" -P $pipeline"
        printf '%-12s %-26s %-27s %s\n' "SET$suffix" "$redis_set ($redis_set_p50)" \
            "$ours_set ($ours_set_p50)" "$(ratio "$ours_set" "$redis_set")"
        printf '%-12s %-26s %-27s %s\n' "GET$suffix" "$redis_get ($redis_get_p50)" \
            "$ours_get ($ours_get_p50)" "$(ratio "$ours_get" "$redis_get")"
    done
else
    say "MISSING: redis-benchmark ${MISSING_WHY[redis-benchmark]}"
fi
say ""

say "-- Static musl build against the host (glibc) build --"
if [ -n "$BIN_MUSL" ]; then
    # The other servers stay up but idle; only the two builds are loaded.
    perf_start_server blink-musl blink-musl "$MEMORY_LIMIT" pinned
    prefill blink-musl resp
    LOADS=("GET 50 clients" "GET 50 clients P16")
    # The host build's figures here come from these rounds only, run
    # alternately with the musl build's.
    for load in "${LOADS[@]}"; do
        unset "RUNS[$load|ours]"
    done
    measure_rounds ours ours-musl
    say "load                server (protocol)            ops/s  ±range   p50 µs   p99 µs  CPU µs/req  musl/glibc ops/s"
    for load in "${LOADS[@]}"; do
        label=$load
        for target in ours ours-musl; do
            musl_ratio=''
            [ "$target" = ours-musl ] &&
                musl_ratio=$(ratio "$(figure "$load" ours-musl 1)" "$(figure "$load" ours 1)")
            printf '%-19s %-24s %10s %7s %8s %8s %11s  %s\n' "$label" "${TARGET_LABEL[$target]}" \
                "$(fmt "$(figure "$load" "$target" 1)" 0)" "$(spread "$load" "$target")" \
                "$(fmt "$(figure "$load" "$target" 2)" 1)" "$(fmt "$(figure "$load" "$target" 3)" 1)" \
                "$(fmt "$(figure "$load" "$target" 4)" 2)" "$musl_ratio"
            label=''
        done
    done
    stop_server blink-musl
    say ""
    built=$(stat -c %s "$BIN_MUSL")
    if command -v strip >/dev/null; then
        strip -o "$WORK/blink-store-musl-stripped" "$BIN_MUSL"
        say "musl binary: $built bytes as built, $(stat -c %s "$WORK/blink-store-musl-stripped") bytes stripped (host build: $(stat -c %s "$BIN_GLIBC") bytes)"
    else
        say "musl binary: $built bytes as built (strip is not installed)"
    fi
else
    say "musl build $MUSL_NOTE"
fi
say ""

# The servers of the table are stopped so the start-up runs have the
# machine to themselves.
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
    [blink-glibc]="Blink-Store (host build)" [blink-musl]="Blink-Store (static musl)"
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
