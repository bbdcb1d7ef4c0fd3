# shellcheck shell=bash disable=SC2034 # the scripts that source this read its variables
# What scripts/bench.sh and scripts/memtest.sh share, sourced by both.
#
# It owns: the work directory, any other directory a script names in
# PERF_DIRS, and the processes a run starts (every process is stopped and
# reaped, every directory removed, on exit, on error and on Ctrl-C);
# installing the peer servers (redis-server, memcached, redis-benchmark)
# with apt when allowed; building Blink-Store's release binaries; starting
# a server, with or without an append-only file, on a free loopback port
# and waiting until it answers; and reading a process's resident memory
# and CPU time from /proc. It knows nothing about what is measured: the
# scripts decide that.
#
# Every wait is bounded and every client runs under `timeout --foreground`
# (so that Ctrl-C reaches it too), so a server that stops answering makes a
# run fail, never hang. Nothing here
# listens on or talks to an address other than 127.0.0.1.

# How long a server may take to accept connections, in seconds.
PERF_READY_TIMEOUT=10
# How many free ports to try when a server loses the race for its port.
PERF_START_ATTEMPTS=5
# Seconds a stopped server gets to exit after SIGTERM before SIGKILL.
PERF_STOP_GRACE=3
# Seconds one apt-get command may take.
PERF_APT_TIMEOUT=900

# Processes this run started, stopped by perf_stop_started.
PERF_PIDS=()
# Directories this run made outside WORK, removed on exit like WORK.
PERF_DIRS=()
# Name → pid and name → port of the servers started by perf_start_server.
declare -A SERVER_PID=()
declare -A SERVER_PORT=()

# Peers found (1) or not (0), and why not; set by perf_find_peers.
HAVE_REDIS=0
HAVE_MEMCACHED=0
HAVE_REDIS_BENCHMARK=0
declare -A MISSING_WHY=()

# Our binaries, copied into the work directory so that a rebuild during the
# run cannot change them; BIN_MUSL is empty when that target is not built.
BIN_GLIBC=
BIN_MUSL=
MUSL_NOTE=

# Neither our servers nor the load generator may pick up a password or a
# log level from the caller's environment.
unset BLINK_PASSWORD RUST_LOG

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blink-perf.XXXXXX")

say() { printf '%s\n' "$*"; }
# Progress goes to stderr, so stdout holds only the report.
progress() { printf '%s: %s\n' "$PERF_NAME" "$*" >&2; }
die() {
    printf '%s: FAILED: %s\n' "$PERF_NAME" "$*" >&2
    exit 1
}

# alive PID: the process runs (a zombie, exited but not reaped, does not).
alive() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# perf_forget PID: PID, reaped, is no longer this run's to stop.
perf_forget() {
    local pid kept=()
    for pid in "${PERF_PIDS[@]}"; do
        [ "$pid" = "$1" ] || kept+=("$pid")
    done
    PERF_PIDS=("${kept[@]}")
}

# perf_stop PID: SIGTERM, up to PERF_STOP_GRACE seconds to exit, then
# SIGKILL; reaps it and forgets it.
perf_stop() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < PERF_STOP_GRACE * 20; i++)); do
        alive "$pid" || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    perf_forget "$pid"
}

perf_stop_started() {
    local pid
    for pid in "${PERF_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PERF_PIDS[@]}"; do
        perf_stop "$pid"
    done
}

perf_cleanup() {
    perf_stop_started
    rm -rf "$WORK" "${PERF_DIRS[@]}"
}
trap perf_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# exit_if_interrupted STATUS: exits with STATUS when it says the command
# ended on Ctrl-C (130) or SIGTERM (143). Needed after a command
# substitution: when its command (here `timeout`) exits with 130 instead
# of dying of the signal, bash takes the signal as handled and runs no trap.
exit_if_interrupted() {
    case "$1" in 130 | 143) exit "$1" ;; esac
}

# is_count VALUE: VALUE is a whole number greater than zero.
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }

# now_us: microseconds since the epoch, without starting a process.
now_us() {
    local t=${EPOCHREALTIME/./}
    printf '%s' "$t"
}

# free_port: see scripts/ports.sh. Another process may take the port before
# our server binds it: perf_start_server retries.
# shellcheck source=scripts/ports.sh
source "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

# The machine, the date and the checkout, for the report's header.
print_machine() {
    local model
    model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
    say "date:     $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    say "machine:  $(nproc) CPUs, ${model:-unknown CPU}, $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)"
    say "kernel:   $(uname -sr)"
    if git rev-parse --short HEAD >/dev/null 2>&1; then
        local dirty=''
        git diff --quiet HEAD 2>/dev/null || dirty=' (with uncommitted changes)'
        say "checkout: $(git rev-parse --short HEAD)$dirty"
    fi
}

# perf_find_peers: finds redis-server, memcached and redis-benchmark,
# installing the missing ones with apt-get when allowed: as root, with
# apt-get present and BENCH_INSTALL not 0. Sets HAVE_* and MISSING_WHY.
perf_find_peers() {
    local packages=() why=''
    command -v redis-server >/dev/null || packages+=(redis-server)
    command -v memcached >/dev/null || packages+=(memcached)
    command -v redis-benchmark >/dev/null || packages+=(redis-tools)
    if [ ${#packages[@]} -gt 0 ]; then
        if [ "${BENCH_INSTALL:-1}" = 0 ]; then
            why='not installed, and BENCH_INSTALL=0'
        elif [ "$(id -u)" != 0 ]; then
            why='not installed, and installing needs root'
        elif ! command -v apt-get >/dev/null; then
            why='not installed, and apt-get is not available'
        else
            progress "installing ${packages[*]} with apt-get"
            if ! timeout --foreground "$PERF_APT_TIMEOUT" apt-get update -qq >"$WORK/apt.log" 2>&1 ||
                ! DEBIAN_FRONTEND=noninteractive timeout --foreground "$PERF_APT_TIMEOUT" \
                    apt-get install -y -qq --no-install-recommends "${packages[@]}" \
                    >>"$WORK/apt.log" 2>&1; then
                why="apt-get install ${packages[*]} failed: $(tail -n 1 "$WORK/apt.log")"
            fi
        fi
    fi
    local tool
    for tool in redis-server memcached redis-benchmark; do
        if ! command -v "$tool" >/dev/null; then
            MISSING_WHY[$tool]=${why:-not installed}
        fi
    done
    command -v redis-server >/dev/null && HAVE_REDIS=1
    command -v memcached >/dev/null && HAVE_MEMCACHED=1
    command -v redis-benchmark >/dev/null && HAVE_REDIS_BENCHMARK=1
    return 0
}

# Prints one line per peer: its version, or why it is missing.
print_versions() {
    say "blink-store:     $("$BIN_GLIBC" --version) (host build${BIN_MUSL:+; static musl build too})"
    if [ "$HAVE_REDIS" = 1 ]; then
        say "redis-server:    $(redis-server --version)"
    else
        say "redis-server:    MISSING (${MISSING_WHY[redis-server]})"
    fi
    if [ "$HAVE_MEMCACHED" = 1 ]; then
        say "memcached:       $(memcached -V)"
    else
        say "memcached:       MISSING (${MISSING_WHY[memcached]})"
    fi
    if [ "$HAVE_REDIS_BENCHMARK" = 1 ]; then
        say "redis-benchmark: $(redis-benchmark --version 2>/dev/null || echo present)"
    else
        say "redis-benchmark: MISSING (${MISSING_WHY[redis-benchmark]})"
    fi
}

# perf_build: builds the host release binary and, when the Rust target is
# installed, the static musl one; copies them to the work directory.
perf_build() {
    local musl=x86_64-unknown-linux-musl sysroot
    command -v cargo >/dev/null || die "cargo not found; install a Rust toolchain"
    progress "cargo build --release --locked"
    cargo build --release --locked >"$WORK/build.log" 2>&1 ||
        { cat "$WORK/build.log" >&2; die "the host release build failed"; }
    cp target/release/blink-store "$WORK/blink-store-glibc"
    BIN_GLIBC=$WORK/blink-store-glibc
    sysroot=$(rustc --print sysroot)
    if [ "$(uname -m)" = x86_64 ] && [ -d "$sysroot/lib/rustlib/$musl" ]; then
        progress "cargo build --release --locked --target $musl"
        cargo build --release --locked --target "$musl" >"$WORK/build-musl.log" 2>&1 ||
            { cat "$WORK/build-musl.log" >&2; die "the musl release build failed"; }
        cp "target/$musl/release/blink-store" "$WORK/blink-store-musl"
        BIN_MUSL=$WORK/blink-store-musl
    else
        MUSL_NOTE="not built: the Rust target $musl is not installed (rustup target add $musl)"
    fi
}

# The options that make memcached run as root: it refuses to unless told
# which user to become.
memcached_user() {
    if [ "$(id -u)" = 0 ]; then
        if id nobody >/dev/null 2>&1; then
            printf '%s\n' -u nobody
        else
            printf '%s\n' -u root
        fi
    fi
}

# The command line that serves KIND (blink-glibc, blink-musl, redis,
# redis-io, memcached, null) on 127.0.0.1:PORT, one word a line; EXTRA is
# KIND's memory setting (--memory-limit for ours, -m for memcached, default
# 1024 MB; ignored for Redis, which runs without maxmemory), or for null
# the seconds it runs before it stops on its own (default 3600). Ours
# otherwise runs with its default flags. redis-io is Redis with one I/O
# thread per CPU (--io-threads N --io-threads-do-reads yes). null is
# `blink-store bench --null-server`, which answers every request with a
# constant reply and stores nothing: the load generator's ceiling; when
# NULL_POLL is set (to --poll), it is passed on.
#
# AOF, "POLICY PATH", gives ours and Redis an append-only file at PATH
# (loaded at start if it exists) synced as POLICY (always, everysec, no)
# says: ours `--aof PATH --appendfsync POLICY`, Redis `--appendonly yes
# --appendfsync POLICY` in PATH's directory under PATH's name (Redis 7
# keeps its log in an appendonlydir there, and moves a single-file log
# found at PATH into it). Neither compacts its log on its own
# (--auto-aof-rewrite-percentage 0, which both take), so a compaction (a
# fork for Redis, a thread for ours) does not take a CPU in the middle of
# a run: the write path alone is measured. Without AOF, neither keeps a
# log.
server_command() {
    local kind=$1 port=$2 extra=${3:-} aof=${4:-}
    local policy=${aof%% *} path=${aof#* }
    case "$kind" in
    blink-glibc | blink-musl)
        local bin=$BIN_GLIBC
        [ "$kind" = blink-musl ] && bin=$BIN_MUSL
        printf '%s\n' "$bin" serve --tcp "127.0.0.1:$port"
        [ -z "$extra" ] || printf '%s\n' --memory-limit "$extra"
        [ -z "$aof" ] || printf '%s\n' --aof "$path" --appendfsync "$policy" \
            --auto-aof-rewrite-percentage 0
        ;;
    redis | redis-io)
        printf '%s\n' redis-server --port "$port" --bind 127.0.0.1 --save '' --loglevel warning
        if [ -z "$aof" ]; then
            printf '%s\n' --appendonly no --dir "$WORK"
        else
            printf '%s\n' --appendonly yes --appendfsync "$policy" --dir "$(dirname "$path")" \
                --appendfilename "$(basename "$path")" --auto-aof-rewrite-percentage 0
        fi
        [ "$kind" = redis ] || printf '%s\n' --io-threads "$(nproc)" --io-threads-do-reads yes
        ;;
    null)
        printf '%s\n' "$BIN_GLIBC" bench --null-server "127.0.0.1:$port" --duration "${extra:-3600}"
        # One thread polling every connection, when the caller asks.
        [ -z "${NULL_POLL:-}" ] || printf '%s\n' "$NULL_POLL"
        ;;
    memcached)
        printf '%s\n' memcached -l 127.0.0.1 -p "$port" -m "${extra:-1024}" -U 0
        memcached_user
        ;;
    *) die "unknown server kind $kind" ;;
    esac
}

# probe_request KIND: the request that a ready server of KIND answers, and
# the start of its answer.
probe_request() {
    case "$1" in
    memcached) printf 'version\r\n' ;;
    *) printf 'PING\r\n' ;;
    esac
}
probe_answer() {
    case "$1" in
    memcached) printf 'VERSION ' ;;
    redis | redis-io) printf '+PONG' ;;
    *) printf 'PONG' ;;
    esac
}

# answers KIND PORT: the server on PORT answers KIND's probe request.
answers() {
    local kind=$1 port=$2 reply=''
    {
        exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
        probe_request "$kind" >&3
        IFS= read -r -t 5 reply <&3 || true
        exec 3>&-
    } 2>/dev/null
    [[ $reply == "$(probe_answer "$kind")"* ]]
}

# perf_start_server NAME KIND [EXTRA] [pinned] [AOF]: starts a KIND server
# on a free port and waits until it answers; sets SERVER_PID[NAME] and
# SERVER_PORT[NAME]. With "pinned", it runs under PIN_SERVER; EXTRA and
# AOF are server_command's. Its log is $WORK/NAME.log. Dies, with the
# log, when no server could be started.
perf_start_server() {
    local name=$1 kind=$2 extra=${3:-} pinned=${4:-} aof=${5:-} log=$WORK/$1.log
    local attempt port pid i command=() prefix=()
    [ "$pinned" = pinned ] && prefix=("${PIN_SERVER[@]}")
    for ((attempt = 1; attempt <= PERF_START_ATTEMPTS; attempt++)); do
        port=$(free_port) || die "cannot find a free port"
        mapfile -t command < <(server_command "$kind" "$port" "$extra" "$aof")
        "${prefix[@]}" "${command[@]}" </dev/null >"$log" 2>&1 &
        pid=$!
        PERF_PIDS+=("$pid")
        for ((i = 0; i < PERF_READY_TIMEOUT * 50; i++)); do
            alive "$pid" || break
            if answers "$kind" "$port"; then
                # The port may belong to someone else if ours lost it.
                sleep 0.05
                if alive "$pid"; then
                    SERVER_PID[$name]=$pid
                    SERVER_PORT[$name]=$port
                    return 0
                fi
                break
            fi
            sleep 0.02
        done
        if alive "$pid"; then
            perf_stop "$pid"
            sed 's/^/    | /' "$log" >&2
            die "$name did not answer within ${PERF_READY_TIMEOUT}s"
        fi
        perf_stop "$pid"
        grep -qi 'in use' "$log" || break
    done
    sed 's/^/    | /' "$log" >&2
    die "$name exited before it was ready"
}

# stop_server NAME
stop_server() {
    perf_stop "${SERVER_PID[$1]}"
    unset "SERVER_PID[$1]" "SERVER_PORT[$1]"
}

# rss_kb PID: resident memory in KiB (VmRSS of /proc/PID/status).
rss_kb() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# cpu_ticks PID: user plus system CPU time of every thread of PID, in clock
# ticks (fields 14 and 15 of /proc/PID/stat; the name in field 2 may hold
# spaces, so fields are counted after its closing parenthesis).
cpu_ticks() {
    local stat fields
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -r -a fields <<<"${stat##*) }"
    echo $((fields[11] + fields[12]))
}

# key_count KIND PORT: the keys the server holds (DBSIZE; memcached's
# curr_items).
key_count() {
    local kind=$1 port=$2 line value=''
    if [ "$kind" != memcached ]; then
        local status=0
        timeout --foreground 30 "$BIN_GLIBC" cli --tcp "127.0.0.1:$port" DBSIZE || status=$?
        exit_if_interrupted "$status"
        return "$status"
    fi
    {
        exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
        printf 'stats\r\n' >&3
        while IFS= read -r -t 5 line <&3; do
            line=${line%$'\r'}
            [ "$line" = END ] && break
            case "$line" in "STAT curr_items "*) value=${line##* } ;; esac
        done
        exec 3>&-
    } 2>/dev/null
    [ -n "$value" ] && echo "$value"
}

# memcached_get PORT KEY: the header line of memcached's reply to `get KEY`
# (`VALUE KEY FLAGS BYTES`, or `END` for a miss).
memcached_get() {
    local port=$1 key=$2 line=''
    {
        exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
        printf 'get %s\r\n' "$key" >&3
        IFS= read -r -t 5 line <&3 || true
        exec 3>&-
    } 2>/dev/null
    printf '%s\n' "${line%$'\r'}"
}

# json_field JSON NAME: a number of the bench's flat JSON report.
json_field() {
    sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"
}

# median VALUES...: the median, or "-" with no values.
median() {
    printf '%s\n' "$@" | sort -g | awk '
        NF { v[++n] = $1 }
        END {
            if (n == 0) print "-"
            else if (n % 2) print v[(n + 1) / 2]
            else print (v[n / 2] + v[n / 2 + 1]) / 2
        }'
}

# calc EXPR: evaluates an awk expression (floating point) and prints it.
# EXPR must not hold a bare ">", which awk's print takes for a redirection.
calc() { awk "BEGIN { print $1 }"; }

# mib KIB: KiB as MiB, or "-".
mib() {
    if [[ $1 =~ ^[0-9.]+$ ]]; then calc "$1 / 1024"; else printf -- '-'; fi
}

# ratio A B: A / B as "1.23x", or "-" when either is not a number (such
# as "-", a missing figure) or B is zero.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        number = "^[0-9.e+-]*[0-9][0-9.e+-]*$"
        if (a !~ number || b !~ number || b + 0 <= 0) printf "-"
        else printf "%.2fx", a / b
    }'
}
