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
# Then it does the same again with values of mixed sizes: each key's value
# 1 to 1,000 bytes (MEMTEST_MIXED), its length uniform over that range
# (`blink-store bench --data-size 1-1000`, which gives a key the same length
# every time), so about 500 bytes of value a key on average; the check is
# then that a stored value's length is within the range. This table also
# gives the bytes a key costs beyond its payload (key and value bytes).
#
# A missing redis-server or memcached is installed with apt-get when
# running as root with apt-get present and BENCH_INSTALL is not 0;
# otherwise its row says MISSING. Progress goes to stderr, the report to
# stdout. Exits non-zero only when something failed. Every process it
# starts is stopped on exit, on failure and on Ctrl-C.
#
# Environment:
#   MEMTEST_KEYS=1000000   keys loaded into each server
#   MEMTEST_MIXED=1-1000   the value sizes of the second table, MIN-MAX
#                          bytes; "none" skips that table
#   BENCH_INSTALL=1        0: never install missing peers with apt-get
#
# It takes about two minutes on a 2-CPU machine, the build excluded (the
# mixed sizes load about 500 MB into each server).
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
MIXED=${MEMTEST_MIXED:-1-1000}
if [ "$MIXED" != none ]; then
    if ! [[ $MIXED =~ ^([0-9]{1,9})-([0-9]{1,9})$ ]] || [ "${BASH_REMATCH[1]}" -lt 1 ] ||
        [ "${BASH_REMATCH[1]}" -gt "${BASH_REMATCH[2]}" ]; then
        die "MEMTEST_MIXED must be MIN-MAX bytes with 1 <= MIN <= MAX, or none, not '$MIXED'"
    fi
fi
# Our memory limit and memcached's memory (MB): far above what is loaded.
MEMORY_LIMIT=4gb
MEMCACHED_MB=4096
# Longest loading one server may take, in seconds.
LOAD_TIMEOUT=600
# Pause before reading VmRSS, so background threads have settled.
SETTLE=0.5

declare -A LABEL=(
    [blink-glibc]="Blink-Store (glibc build)" [blink-musl]="Blink-Store (static musl)"
    [redis]="Redis" [memcached]="memcached"
)
# Per "SIZES|server", "rss_at_start_kib rss_loaded_kib".
declare -A MEMORY=()

# check_key KIND PORT SIZES: a stored key is KEY_BYTES long and its value
# SIZES bytes (a number, or MIN-MAX); dies, saying what they are,
# otherwise.
check_key() {
    local kind=$1 port=$2 sizes=$3 key length header
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
    [[ $length =~ ^[0-9]+$ ]] || die "$kind: the length of $key is '$length'"
    if [[ $sizes == *-* ]]; then
        if [ "$length" -lt "${sizes%-*}" ] || [ "$length" -gt "${sizes#*-}" ]; then
            die "$kind: the value of $key is $length bytes, not $sizes"
        fi
    else
        [ "$length" = "$sizes" ] ||
            die "$kind: the value of $key is $length bytes, not $sizes"
    fi
}

# measure KIND SIZES: starts KIND fresh, loads it with values of SIZES
# bytes and records its memory.
measure() {
    local kind=$1 sizes=$2 extra='' proto=resp pid port rss_start rss_loaded count
    case "$kind" in
    blink-*) extra=$MEMORY_LIMIT ;;
    memcached) extra=$MEMCACHED_MB proto=memcache ;;
    esac
    perf_start_server "$kind" "$kind" "$extra"
    pid=${SERVER_PID[$kind]}
    port=${SERVER_PORT[$kind]}
    sleep "$SETTLE"
    rss_start=$(rss_kb "$pid")
    progress "loading $KEYS keys with values of $sizes bytes into $kind"
    local status=0
    timeout --foreground "$LOAD_TIMEOUT" "$BIN_GLIBC" bench --tcp "127.0.0.1:$port" \
        --proto "$proto" --prefill --keyspace "$KEYS" --data-size "$sizes" --requests 1 \
        --ratio 1:0 --json >"$WORK/load.json" 2>"$WORK/load.log" || status=$?
    exit_if_interrupted "$status"
    [ "$status" = 0 ] || die "loading $kind failed: $(tail -n 1 "$WORK/load.log")"
    count=$(key_count "$kind" "$port") || count='?'
    [ "$count" = "$KEYS" ] || die "$kind holds $count keys after loading $KEYS"
    check_key "$kind" "$port" "$sizes"
    sleep "$SETTLE"
    alive "$pid" || die "$kind exited after loading"
    rss_loaded=$(rss_kb "$pid")
    MEMORY["$sizes|$kind"]="$rss_start $rss_loaded"
    stop_server "$kind"
}

# per_key ENTRY COLUMN: bytes per key of MEMORY[ENTRY] ("SIZES|KIND"),
# (loaded - start) with COLUMN delta, loaded alone with COLUMN total; "-"
# when it was not measured.
per_key() {
    local start loaded
    [ -n "${MEMORY[$1]:-}" ] || { printf -- '-'; return 0; }
    read -r start loaded <<<"${MEMORY[$1]}"
    case "$2" in
    delta) calc "($loaded - $start) * 1024 / $KEYS" ;;
    total) calc "$loaded * 1024 / $KEYS" ;;
    esac
}

# versus SIZES KIND PEER: our bytes per key / PEER's, (loaded - start) and
# total; empty for a peer's own row.
versus() {
    case "$2" in blink-*) ;; *) return 0 ;; esac
    [ -n "${MEMORY[$1|$3]:-}" ] || { printf -- '-'; return 0; }
    printf '%s (total %s)' "$(ratio "$(per_key "$1|$2" delta)" "$(per_key "$1|$3" delta)")" \
        "$(ratio "$(per_key "$1|$2" total)" "$(per_key "$1|$3" total)")"
}

# payload SIZES: the key and value bytes of an average key.
payload() {
    if [[ $1 == *-* ]]; then
        calc "$KEY_BYTES + (${1%-*} + ${1#*-}) / 2"
    else
        calc "$KEY_BYTES + $1"
    fi
}

# print_memory SIZES: the table of the servers loaded with values of SIZES
# bytes.
print_memory() {
    local sizes=$1 kind why start loaded
    say "server                      RSS start MiB  RSS loaded MiB  B/key (loaded-start)  B/key (loaded)  beyond payload  vs Redis              vs memcached"
    for kind in "${KINDS[@]}"; do
        if [ -z "${MEMORY[$sizes|$kind]:-}" ]; then
            printf '%-27s %s\n' "${LABEL[$kind]}" "not measured"
            continue
        fi
        read -r start loaded <<<"${MEMORY[$sizes|$kind]}"
        printf '%-27s %13.1f %15.1f %21.1f %15.1f %15.1f  %-21s %s\n' "${LABEL[$kind]}" \
            "$(calc "$start / 1024")" "$(calc "$loaded / 1024")" \
            "$(per_key "$sizes|$kind" delta)" "$(per_key "$sizes|$kind" total)" \
            "$(calc "$(per_key "$sizes|$kind" delta) - $(payload "$sizes")")" \
            "$(versus "$sizes" "$kind" redis)" "$(versus "$sizes" "$kind" memcached)"
    done
    [ -n "$BIN_MUSL" ] || printf '%-27s %s\n' "${LABEL[blink-musl]}" "$MUSL_NOTE"
    [ "$HAVE_REDIS" = 1 ] ||
        printf '%-27s %s\n' "${LABEL[redis]}" "MISSING: redis-server ${MISSING_WHY[redis-server]:-}"
    [ "$HAVE_MEMCACHED" = 1 ] ||
        printf '%-27s %s\n' "${LABEL[memcached]}" "MISSING: memcached ${MISSING_WHY[memcached]:-}"
    say ""
}

perf_build
perf_find_peers

say "== Blink-Store memory per key (scripts/memtest.sh) =="
print_machine
print_versions
say "load:     $KEYS keys of $KEY_BYTES bytes, by blink-store bench --prefill (pipelined SETs);"
say "          each server started fresh and alone, for each table"
say "servers:  ours: serve --tcp 127.0.0.1:P --memory-limit $MEMORY_LIMIT (otherwise default flags);"
say "          redis-server --port P --bind 127.0.0.1 --save '' --appendonly no (no maxmemory);"
say "          memcached -l 127.0.0.1 -p P -m $MEMCACHED_MB -U 0"
[ -n "$BIN_MUSL" ] || say "musl:     $MUSL_NOTE"
say ""

KINDS=(blink-glibc)
[ -n "$BIN_MUSL" ] && KINDS+=(blink-musl)
[ "$HAVE_REDIS" = 1 ] && KINDS+=(redis)
[ "$HAVE_MEMCACHED" = 1 ] && KINDS+=(memcached)
SIZES=("$DATA_SIZE")
[ "$MIXED" = none ] || SIZES+=("$MIXED")
for sizes in "${SIZES[@]}"; do
    for kind in "${KINDS[@]}"; do
        measure "$kind" "$sizes"
    done
done

say "-- Values of $DATA_SIZE bytes ($(payload "$DATA_SIZE") bytes of payload a key) --"
print_memory "$DATA_SIZE"
if [ "$MIXED" != none ]; then
    say "-- Values of $MIXED bytes, mixed: each key's length uniform over the range (about $(payload "$MIXED") bytes of payload a key) --"
    print_memory "$MIXED"
fi
say "B/key: bytes of resident memory (VmRSS) per key loaded; beyond payload: B/key"
say "(loaded-start) less the key and value bytes of an average key; vs Redis, vs memcached:"
say "our bytes per key / theirs (below 1x: we use less), for (loaded-start) and for loaded."
