#!/usr/bin/env bash
# Measures the resident memory a key costs in Blink-Store, Redis and
# memcached on this machine. Run from a checkout: scripts/memtest.sh
#
# Each server is started fresh and alone on 127.0.0.1: ours with
# --memory-limit 4gb (far above what the keys take, so nothing is evicted),
# both our host build and, when the Rust target is installed, the static
# musl build that install.sh installs; redis-server with no maxmemory and
# no persistence; memcached with -m 4096. Into each, `blink-store bench
# --prefill` SETs MEMTEST_KEYS keys of 16 bytes (key:000000000000 ...) with
# 32-byte values, pipelined. The script checks that the server then holds
# exactly that many keys (DBSIZE; memcached's curr_items) and that a stored
# key and value have the sizes meant, and fails otherwise. It reports per
# server the resident memory (VmRSS of /proc/PID/status) after start and
# after loading, the bytes per key both as (loaded - start) / keys and as
# loaded / keys, and our ratios to Redis and to memcached.
#
# A missing redis-server or memcached is installed with apt-get when
# running as root with apt-get present and BENCH_INSTALL is not 0;
# otherwise its row says MISSING. Progress goes to stderr, the report to
# stdout. Exits non-zero only when something failed. Every process it
# starts is stopped on exit, on failure and on Ctrl-C.
#
# Environment:
#   MEMTEST_KEYS=1000000   keys loaded into each server
#   BENCH_INSTALL=1        0: never install missing peers with apt-get
#
# It takes under a minute on a 2-CPU machine, the build excluded.
set -euo pipefail
cd "$(dirname "$0")/.."
PERF_NAME=memtest.sh
# shellcheck source=scripts/perf_lib.sh
. scripts/perf_lib.sh

KEYS=${MEMTEST_KEYS:-1000000}
is_count "$KEYS" || die "MEMTEST_KEYS must be a whole number above 0, not '$KEYS'"
# Bytes per key and per value, as the task sets them. The load generator
# writes keys as "key:" and 12 digits; the script checks a stored one.
KEY_BYTES=16
DATA_SIZE=32
# Our memory limit and memcached's memory (MB): far above what is loaded.
MEMORY_LIMIT=4gb
MEMCACHED_MB=4096
# Longest loading one server may take, in seconds.
LOAD_TIMEOUT=600
# Pause before reading VmRSS, so background threads have settled.
SETTLE=0.5

declare -A LABEL=(
    [blink-glibc]="Blink-Store (host build)" [blink-musl]="Blink-Store (static musl)"
    [redis]="Redis" [memcached]="memcached"
)
# Per server, "rss_at_start_kib rss_loaded_kib".
declare -A MEMORY=()

# check_key KIND PORT: a stored key is KEY_BYTES long and its value
# DATA_SIZE bytes; dies, saying what they are, otherwise.
check_key() {
    local kind=$1 port=$2 key length header
    if [ "$kind" = memcached ]; then
        key=$(printf 'key:%012d' $((KEYS - 1)))
        header=$(memcached_get "$port" "$key")
        read -r _ _ _ length <<<"$header"
        [ "${header%% *}" = VALUE ] ||
            die "memcached has no $key (${#key} bytes): it answered '$header'"
    else
        # A key the server chose, so a change of the generator's key format
        # shows here.
        key=$(timeout --foreground 30 "$BIN_GLIBC" cli --tcp "127.0.0.1:$port" SCAN 0 COUNT 10 | sed -n 2p)
        length=$(timeout --foreground 30 "$BIN_GLIBC" cli --tcp "127.0.0.1:$port" STRLEN "$key")
    fi
    [ "${#key}" = "$KEY_BYTES" ] ||
        die "$kind: the keys are ${#key} bytes, not $KEY_BYTES: '$key'"
    [ "$length" = "$DATA_SIZE" ] ||
        die "$kind: the value of $key is $length bytes, not $DATA_SIZE"
}

# measure KIND: starts KIND fresh, loads it and records its memory.
measure() {
    local kind=$1 extra='' proto=resp pid port rss_start rss_loaded count
    case "$kind" in
    blink-*) extra=$MEMORY_LIMIT ;;
    memcached) extra=$MEMCACHED_MB proto=memcache ;;
    esac
    perf_start_server "$kind" "$kind" "$extra"
    pid=${SERVER_PID[$kind]}
    port=${SERVER_PORT[$kind]}
    sleep "$SETTLE"
    rss_start=$(rss_kb "$pid")
    progress "loading $KEYS keys into $kind"
    local status=0
    timeout --foreground "$LOAD_TIMEOUT" "$BIN_GLIBC" bench --tcp "127.0.0.1:$port" \
        --proto "$proto" --prefill --keyspace "$KEYS" --data-size "$DATA_SIZE" --requests 1 \
        --ratio 1:0 --json >"$WORK/load.json" 2>"$WORK/load.log" || status=$?
    exit_if_interrupted "$status"
    [ "$status" = 0 ] || die "loading $kind failed: $(tail -n 1 "$WORK/load.log")"
    count=$(key_count "$kind" "$port") || count='?'
    [ "$count" = "$KEYS" ] || die "$kind holds $count keys after loading $KEYS"
    check_key "$kind" "$port"
    sleep "$SETTLE"
    alive "$pid" || die "$kind exited after loading"
    rss_loaded=$(rss_kb "$pid")
    MEMORY[$kind]="$rss_start $rss_loaded"
    stop_server "$kind"
}

# per_key KIND COLUMN: bytes per key, (loaded - start) with COLUMN delta,
# loaded alone with COLUMN total; "-" when KIND was not measured.
per_key() {
    local start loaded
    [ -n "${MEMORY[$1]:-}" ] || { printf -- '-'; return 0; }
    read -r start loaded <<<"${MEMORY[$1]}"
    case "$2" in
    delta) calc "($loaded - $start) * 1024 / $KEYS" ;;
    total) calc "$loaded * 1024 / $KEYS" ;;
    esac
}

# versus KIND PEER: our bytes per key / PEER's, (loaded - start) and total.
versus() {
    case "$1" in blink-*) ;; *) return 0 ;; esac
    [ -n "${MEMORY[$2]:-}" ] || { printf -- '-'; return 0; }
    printf '%s (total %s)' "$(ratio "$(per_key "$1" delta)" "$(per_key "$2" delta)")" \
        "$(ratio "$(per_key "$1" total)" "$(per_key "$2" total)")"
}

perf_build
perf_find_peers

say "== Blink-Store memory per key (scripts/memtest.sh) =="
print_machine
print_versions
say "load:     $KEYS keys of $KEY_BYTES bytes, values of $DATA_SIZE bytes ($((KEY_BYTES + DATA_SIZE)) bytes of payload a key),"
say "          by blink-store bench --prefill (pipelined SETs); each server started fresh and alone"
say "servers:  ours: serve --tcp 127.0.0.1:P --memory-limit $MEMORY_LIMIT (otherwise default flags);"
say "          redis-server --port P --bind 127.0.0.1 --save '' --appendonly no (no maxmemory);"
say "          memcached -l 127.0.0.1 -p P -m $MEMCACHED_MB -U 0"
[ -n "$BIN_MUSL" ] || say "musl:     $MUSL_NOTE"
say ""

KINDS=(blink-glibc)
[ -n "$BIN_MUSL" ] && KINDS+=(blink-musl)
[ "$HAVE_REDIS" = 1 ] && KINDS+=(redis)
[ "$HAVE_MEMCACHED" = 1 ] && KINDS+=(memcached)
for kind in "${KINDS[@]}"; do
    measure "$kind"
done

say "server                      RSS start MiB  RSS loaded MiB  B/key (loaded-start)  B/key (loaded)  vs Redis              vs memcached"
for kind in blink-glibc blink-musl redis memcached; do
    if [ -z "${MEMORY[$kind]:-}" ]; then
        case "$kind" in
        blink-musl) why=$MUSL_NOTE ;;
        redis) why="MISSING: redis-server ${MISSING_WHY[redis-server]:-}" ;;
        *) why="MISSING: memcached ${MISSING_WHY[memcached]:-}" ;;
        esac
        printf '%-27s %s\n' "${LABEL[$kind]}" "$why"
        continue
    fi
    read -r start loaded <<<"${MEMORY[$kind]}"
    printf '%-27s %13.1f %15.1f %21.1f %15.1f  %-21s %s\n' "${LABEL[$kind]}" \
        "$(calc "$start / 1024")" "$(calc "$loaded / 1024")" \
        "$(per_key "$kind" delta)" "$(per_key "$kind" total)" \
        "$(versus "$kind" redis)" "$(versus "$kind" memcached)"
done
say ""
say "B/key: bytes of resident memory (VmRSS) per key loaded; vs Redis, vs memcached: our"
say "bytes per key / theirs (below 1x: we use less), for (loaded-start) and for loaded."
