#!/usr/bin/env bash
# Runs units of Redis 7.0.15's own test suite against Blink-Store: the
# yardstick of test cases that nobody here chose (issue 14).
#
#   scripts/redis_suite.sh [UNIT...]     # default: every unit in UNITS below
#
# The suite is not in this repository. It comes, at run time, from Debian's
# source package of redis (`apt-get source --download-only`, with a
# temporary sources list that adds deb-src lines for the machine's own
# Debian suites); the upstream tarball's SHA-256 is checked against
# ORIG_SHA256, and its tests/ and runtest are kept in a cache outside the
# repository ($BLINK_REDIS_SUITE_CACHE, by default
# ${XDG_CACHE_HOME:-$HOME/.cache}/blink-store/redis-suite). The suite needs
# tclsh 8.5 or newer: with CI=true a missing one is installed from Debian's
# tcl package, as scripts/clients/run.sh installs its clients.
#
# Each unit runs in its own copy of the suite, patched with
# scripts/redis_suite/external.patch, against a fresh release server on a
# free loopback port, in runtest's external-server mode:
#   ./runtest --host 127.0.0.1 --port P --singledb --ignore-encoding
#             --durable --timeout ... --skipfile ... --single unit/NAME
# UNIT_JOBS units run at once; runtest itself runs one test client in
# external mode.
#
# scripts/redis_suite/skip.txt lists the tests of features Blink-Store does
# not have by design, grouped under "## reason" lines; nothing else is
# skipped, and a test outside it that fails is a failure.
#
# Prints, per unit, its passed, failed and skipped tests (with the skips
# counted by reason) and the tests or whole blocks runtest itself leaves
# out: those tagged external:skip, and those that need several databases
# under --singledb. Every block of unit/auth is external:skip (each starts
# a server of its own, with requirepass set by CONFIG SET, and runtest has
# no way to authenticate against an external server), so unit/auth runs
# against an open server and all its tests are left out. Then every failing test with the
# first line of its message, and one closing line "N passed, N failed, N
# skipped" counting tests. Exits non-zero when a test outside the skip list
# failed, or a unit did not finish.
#
# Where the suite or tclsh cannot be had (no network, no deb-src, no
# apt-get), every unit is counted as skipped with a SKIP line saying why:
# never as passed. A tarball whose SHA-256 differs is a failure.
set -uo pipefail

SUITE_DIR=$(cd "$(dirname "$0")" && pwd)/redis_suite
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1
exec </dev/null

# shellcheck source=scripts/clients/lib.sh
source "$REPO/scripts/clients/lib.sh"

# The units run by default: those of the features Blink-Store claims.
UNITS=(
    type/string type/incr expire keyspace protocol info-command scan
    querybuf introspection auth multi pubsub
)
# The Redis release whose suite this is, the upstream tarball Debian ships
# it in, and that tarball's SHA-256 as observed in Debian 12's redis
# 5:7.0.15-1~deb12u10 (it is also the hash in the package's .dsc).
REDIS_VERSION=7.0.15
ORIG_TARBALL=redis_$REDIS_VERSION.orig.tar.gz
ORIG_SHA256=4b1dc4ee6d622a09fff9c6777191209750fb5e5a725ef78ea012d6eef4c22982
CACHE_ROOT=${BLINK_REDIS_SUITE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/blink-store/redis-suite}
CACHE=$CACHE_ROOT/$REDIS_VERSION
SKIP_LIST=$SUITE_DIR/skip.txt
PATCH=$SUITE_DIR/external.patch
# Units run at once. They spend most of their time waiting (expiry tests
# sleep), so twice the two cores this project's machines have.
UNIT_JOBS=${BLINK_REDIS_SUITE_JOBS:-4}
# runtest's own --timeout, in seconds: how long a unit may go without
# finishing a test before runtest gives up on it. The slowest tests take
# under 3 s (expiry tests that sleep), so a minute means stuck.
TEST_TIMEOUT=60
# Upper bound for one whole unit, in seconds, should runtest itself hang;
# the slowest unit (expire) takes about 6 s.
UNIT_TIMEOUT=300
# runtest's own test server listens on a port below its --baseport; each
# unit gets its own range so that parallel runs do not race for one.
BASEPORT=30000
# Read by lib.sh's start_server.
BLINK_BIN=$REPO/target/release/blink-store
SERVER_KIND=blink

# skip_units REASON: counts every unit as skipped, saying why.
skip_units() {
    local unit
    for unit in "${RUN_UNITS[@]}"; do
        say "SKIP unit/$unit ($1)"
        SKIPPED=$((SKIPPED + 1))
    done
    say "$PASSED passed, $FAILED failed, $SKIPPED skipped"
    exit 0
}

# find_tclsh: sets TCLSH to the tclsh runtest will pick (8.5 to 8.7).
find_tclsh() {
    local version
    TCLSH=
    for version in 8.5 8.6 8.7; do
        have "tclsh$version" && TCLSH=tclsh$version
    done
    [ -n "$TCLSH" ]
}

# deb_src_sources FILE: writes to FILE the machine's Debian package sources
# (one-line entries of sources.list and deb822 stanzas of
# sources.list.d/*.sources whose URIs name a Debian archive) as deb-src
# entries. Returns non-zero when there are none.
deb_src_sources() {
    local out=$1 file
    : >"$out"
    if [ -f /etc/apt/sources.list ]; then
        sed -nE 's/^[[:space:]]*deb[[:space:]]+(.*debian.*)$/deb-src \1/p' \
            /etc/apt/sources.list >>"$out"
    fi
    for file in /etc/apt/sources.list.d/*.list; do
        [ -f "$file" ] || continue
        sed -nE 's/^[[:space:]]*deb[[:space:]]+(.*debian.*)$/deb-src \1/p' "$file" >>"$out"
    done
    [ -s "$out" ] || rm -f "$out"
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        # A stanza ends at a blank line; keep those that are enabled, of
        # type deb and served from a Debian archive, as deb-src.
        awk '
            function flush() {
                if (text != "" && deb && debian && enabled)
                    printf "%s\n", text
                text = ""; deb = 0; debian = 0; enabled = 1
            }
            BEGIN { enabled = 1 }
            /^[[:space:]]*$/ { flush(); next }
            /^#/ { next }
            /^Types:/ {
                if ($0 ~ /[[:space:]]deb([[:space:]]|$)/) deb = 1
                $0 = "Types: deb-src"
            }
            /^URIs:/ && /debian/ { debian = 1 }
            /^Enabled:[[:space:]]*no/ { enabled = 0 }
            { text = text $0 "\n" }
            END { flush() }
        ' "$file" >>"$out.sources"
    done
    [ -s "$out" ] || [ -s "$out.sources" ]
}

# fetch_suite: fills CACHE with the suite's tests/ and runtest, verified.
# Returns 1 (having said why in UNAVAILABLE) when it cannot be reached, 2
# when what was downloaded is not the tarball expected.
fetch_suite() {
    grep -qs "^$ORIG_SHA256 " "$CACHE/.verified" && return 0
    local apt="$WORK/apt" got
    UNAVAILABLE=
    if ! have apt-get; then
        UNAVAILABLE="no apt-get to download Debian's redis source package"
        return 1
    fi
    mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/dl"
    if ! deb_src_sources "$apt/sources.list"; then
        UNAVAILABLE="no Debian entry in /etc/apt/sources.list{,.d} to add deb-src to"
        return 1
    fi
    [ -f "$apt/sources.list.sources" ] && mv "$apt/sources.list.sources" "$apt/parts/deb-src.sources"
    touch "$apt/sources.list"
    local opts=(
        -o "Dir::Etc::SourceList=$apt/sources.list"
        -o "Dir::Etc::SourceParts=$apt/parts"
        -o "Dir::State::Lists=$apt/lists"
        -o "Dir::Cache=$apt/cache"
    )
    # Root's apt hands downloads to the _apt user, who cannot write here.
    [ "$(id -u)" -eq 0 ] && opts+=(-o APT::Sandbox::User=root)
    say "downloading Debian's redis source package (apt-get source --download-only)"
    # An update that fails for one entry (a mirror without sources) may
    # still have read the others: whether `source` then finds redis is
    # what counts.
    apt-get -q "${opts[@]}" update >"$WORK/apt-src.log" 2>&1
    if ! (cd "$apt/dl" && apt-get -q "${opts[@]}" source --download-only redis) \
        >>"$WORK/apt-src.log" 2>&1; then
        tail -n 5 "$WORK/apt-src.log" | sed 's/^/    | /'
        UNAVAILABLE="apt-get could not download Debian's redis source package"
        return 1
    fi
    if [ ! -f "$apt/dl/$ORIG_TARBALL" ]; then
        say "  Debian's redis source package has no $ORIG_TARBALL:"
        find "$apt/dl" -maxdepth 1 -type f -printf '    | %f\n'
        return 2
    fi
    got=$(sha256sum "$apt/dl/$ORIG_TARBALL" | cut -d' ' -f1)
    if [ "$got" != "$ORIG_SHA256" ]; then
        say "  $ORIG_TARBALL has SHA-256 $got, not $ORIG_SHA256"
        return 2
    fi
    rm -rf "$CACHE.new"
    mkdir -p "$CACHE.new"
    if ! tar -xzf "$apt/dl/$ORIG_TARBALL" -C "$CACHE.new" --strip-components=1 \
        "redis-$REDIS_VERSION/tests" "redis-$REDIS_VERSION/runtest"; then
        say "  cannot extract tests/ and runtest from $ORIG_TARBALL"
        return 2
    fi
    printf '%s  %s\n' "$ORIG_SHA256" "$ORIG_TARBALL" >"$CACHE.new/.verified"
    rm -rf "$CACHE"
    mv "$CACHE.new" "$CACHE"
    say "cached the suite of redis $REDIS_VERSION in $CACHE"
}

# Reads skip.txt: a "## NAME: WHY" line gives the reason of the test names
# under it; other lines starting with "#", and blank lines, are comments.
# Writes the names alone, runtest's --skipfile format, to $WORK/skipfile,
# and fills SKIP_REASON (name or /regexp → reason NAME), SKIP_PATTERNS and
# REASONS (the reasons' lines, in the file's order).
read_skip_list() {
    local line reason='' n=0
    declare -gA SKIP_REASON=()
    SKIP_PATTERNS=()
    REASONS=()
    : >"$WORK/skipfile"
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        case $line in
        '## '*:*)
            REASONS+=("${line#'## '}")
            reason=${line#'## '}
            reason=${reason%%:*}
            ;;
        '##'*)
            say "$SKIP_LIST:$n: a reason line must read '## NAME: WHY'"
            return 1
            ;;
        '#'* | '') ;;
        *)
            if [ -z "$reason" ]; then
                say "$SKIP_LIST:$n: a test name before any '## NAME: WHY' line"
                return 1
            fi
            SKIP_REASON[$line]=$reason
            SKIP_PATTERNS+=("$line")
            printf '%s\n' "$line" >>"$WORK/skipfile"
            ;;
        esac
    done <"$SKIP_LIST"
}

# reason_of NAME: the reason of the skip-list entry that skips test NAME,
# matched as runtest matches (exact, or a regexp after a "/").
reason_of() {
    local pattern
    [ -n "${SKIP_REASON[$1]+set}" ] && {
        printf '%s\n' "${SKIP_REASON[$1]}"
        return
    }
    for pattern in "${SKIP_PATTERNS[@]}"; do
        if [ "${pattern:0:1}" = / ] && [[ $1 =~ ${pattern:1} ]]; then
            printf '%s\n' "${SKIP_REASON[$pattern]}"
            return
        fi
    done
    echo "(not in the skip list)"
}

# start_unit INDEX UNIT: starts a fresh server and, in the background,
# runtest on UNIT in its own patched copy of the suite; its output goes to
# $WORK/unit-INDEX.out and its exit status to $WORK/unit-INDEX.rc.
start_unit() {
    local i=$1 unit=$2 dir="$WORK/suite-$1" port
    mkdir -p "$dir"
    cp -R "$CACHE/tests" "$CACHE/runtest" "$dir/"
    if ! patch -d "$dir" -p1 -s --no-backup-if-mismatch <"$PATCH" >"$WORK/unit-$i.out" 2>&1; then
        echo "the patch $PATCH does not apply" >>"$WORK/unit-$i.out"
        echo 2 >"$WORK/unit-$i.rc"
        return
    fi
    # Redis's own default bulk cap (proto-max-bulk-len, 512 MB), which the
    # suite's "very big payload" tests rely on; Blink-Store's default
    # --max-value-size is 1 MB (see the README's differences from Redis).
    if ! start_as blink "unit-$i" "" --max-value-size 512mb >>"$WORK/unit-$i.out"; then
        echo 2 >"$WORK/unit-$i.rc"
        return
    fi
    port=${PORT[unit-$i]}
    (
        cd "$dir" || exit 1
        TERM=dumb timeout -k 10 "$UNIT_TIMEOUT" ./runtest --host 127.0.0.1 --port "$port" \
            --singledb --ignore-encoding --durable --timeout "$TEST_TIMEOUT" \
            --baseport $((BASEPORT + 100 * i)) --skipfile "$WORK/skipfile" \
            --single "unit/$unit" >>"$WORK/unit-$i.out" 2>&1
        echo $? >"$WORK/unit-$i.rc"
    ) &
}

# report_unit INDEX UNIT: reads a finished unit's output, prints its
# counts, and adds them to the totals and its failures to FAILURES.
report_unit() {
    local i=$1 unit=$2 rc line name message reason
    local out="$WORK/unit-$1.out" passed=0 failed=0 skipped=0 ignored=0 reasons=
    local -A by_reason=()
    rc=$(cat "$WORK/unit-$i.rc" 2>/dev/null || echo 2)
    passed=$(grep -c '^\[ok\]: ' "$out")
    ignored=$(grep -c '^\[ignore\]: ' "$out")
    failed=$(grep -c '^\[err\]: ' "$out")
    while IFS= read -r line; do
        name=${line#'[skip]: '}
        skipped=$((skipped + 1))
        reason=$(reason_of "$name")
        by_reason[$reason]=$((${by_reason[$reason]:-0} + 1))
        printf '%s\n' "$name" >>"$WORK/skips-hit"
    done < <(grep '^\[skip\]: ' "$out")
    # A failure is "[err]: NAME in tests/unit/FILE.tcl", then its message.
    # An assertion's message is one line (its "(context: ...)" is cut
    # here); an error's is runtest's copy with ten characters cut, then
    # the error in full, then "    while executing": that full line is
    # the one shown.
    while IFS= read -r line; do
        name=${line%%$'\t'*}
        message=${line#*$'\t'}
        FAILURES+=("unit/$unit: $name"$'\n'"      $message")
    done < <(awk '
        function flush() {
            if (n == 0) return
            msg = (n >= 3 && third ~ /^    while executing/) ? second : first
            sub(/ \(context: .*$/, "", msg)
            print name "\t" msg
            n = 0
        }
        # A runner line ("[ok]: ...", "[err]: ...", "[1/1 done]: ...")
        # ends the message before it.
        /^\[[^]]+\]: / { flush() }
        n == 1 { second = $0; n = 2; next }
        n == 2 { third = $0; n = 3; flush(); next }
        /^\[err\]: / {
            name = substr($0, 8)
            sub(/ in tests\/[^ ]*\.tcl$/, "", name)
            n = 0
            if ((getline first) > 0) n = 1; else { first = "(no message)"; n = 1 }
            second = ""; third = ""
            next
        }
        END { flush() }
    ' "$out")
    for reason in "${REASONS[@]%%:*}" "(not in the skip list)"; do
        [ -n "${by_reason[$reason]:-}" ] || continue
        reasons+=", ${by_reason[$reason]} $reason"
        SKIPS_BY_REASON[$reason]=$((${SKIPS_BY_REASON[$reason]:-0} + ${by_reason[$reason]}))
    done
    say "unit/$unit: $passed passed, $failed failed, $skipped skipped${reasons:+ (${reasons#, })}, $ignored tests or blocks left out by runtest itself"
    # runtest exits 1 when a test failed; anything else without a closing
    # "All tests passed" or failure list is a unit that did not finish.
    if ! grep -q 'All tests passed without errors\|The following tests failed' "$out"; then
        failed=$((failed + 1))
        if [ "$rc" -eq 124 ]; then
            message="did not finish within ${UNIT_TIMEOUT}s"
        else
            message="runtest stopped (exit status $rc) before the end of the unit"
        fi
        FAILURES+=("unit/$unit: (the unit itself)"$'\n'"      $message; its last lines:"$'\n'"$(tail -n 8 "$out" | sed 's/^/      | /')")
    fi
    PASSED=$((PASSED + passed))
    FAILED=$((FAILED + failed))
    SKIPPED=$((SKIPPED + skipped))
}

if [ $# -gt 0 ]; then
    RUN_UNITS=("$@")
else
    RUN_UNITS=("${UNITS[@]}")
fi

read_skip_list || exit 2

if ! find_tclsh && in_ci; then
    apt_install tcl
fi
find_tclsh || skip_units "no tclsh 8.5 or newer (Debian's tcl; CI=true installs it)"
have patch || skip_units "no patch(1) to apply $PATCH"

fetch_suite
case $? in
0) ;;
1) skip_units "Redis $REDIS_VERSION's test suite cannot be had here: $UNAVAILABLE" ;;
*)
    say "Redis $REDIS_VERSION's test suite from Debian is not the one expected"
    say "0 passed, 1 failed, 0 skipped"
    exit 1
    ;;
esac
for unit in "${RUN_UNITS[@]}"; do
    if [ ! -f "$CACHE/tests/unit/$unit.tcl" ]; then
        echo "no unit '$unit' in Redis $REDIS_VERSION's suite (see $CACHE/tests/unit)" >&2
        exit 2
    fi
done

say "building the release binary: cargo build --release --locked"
if ! cargo build --release --locked; then
    say "the release build failed"
    for unit in "${RUN_UNITS[@]}"; do
        say "FAIL unit/$unit (no server binary)"
    done
    say "0 passed, ${#RUN_UNITS[@]} failed, 0 skipped"
    exit 1
fi
say "suite: redis $REDIS_VERSION (sha256 $ORIG_SHA256), $($TCLSH <<<'puts [info patchlevel]' | sed 's/^/tcl /');" \
    "server: $("$BLINK_BIN" --version)"

FAILURES=()
declare -A SKIPS_BY_REASON=()
: >"$WORK/skips-hit"
started=$(date +%s)
declare -A RUNNING=()
next=0
reported=0
# Starts units while fewer than UNIT_JOBS run, and reports them in order.
while [ "$reported" -lt "${#RUN_UNITS[@]}" ]; do
    while [ "$next" -lt "${#RUN_UNITS[@]}" ] && [ "${#RUNNING[@]}" -lt "$UNIT_JOBS" ]; do
        start_unit "$next" "${RUN_UNITS[$next]}"
        RUNNING[$next]=1
        next=$((next + 1))
    done
    for i in "${!RUNNING[@]}"; do
        if [ -f "$WORK/unit-$i.rc" ]; then
            unset "RUNNING[$i]"
            # The unit's server is not needed any more.
            kill -TERM "${PID[unit-$i]:-0}" 2>/dev/null || true
        fi
    done
    while [ "$reported" -lt "$next" ] && [ -f "$WORK/unit-$reported.rc" ]; do
        report_unit "$reported" "${RUN_UNITS[$reported]}"
        reported=$((reported + 1))
    done
    sleep 0.2
done
stop_started
wait
# Each unit's whole runtest output, kept for reading after the run.
LOGS=$REPO/target/redis-suite
mkdir -p "$LOGS"
for i in "${!RUN_UNITS[@]}"; do
    cp "$WORK/unit-$i.out" "$LOGS/$(printf '%s' "${RUN_UNITS[$i]}" | tr / -).log"
done
say "each unit's output: $LOGS/UNIT.log"
say "the units took $(($(date +%s) - started))s"

if [ "${#RUN_UNITS[@]}" -eq "${#UNITS[@]}" ]; then
    for pattern in "${SKIP_PATTERNS[@]}"; do
        if [ "${pattern:0:1}" != / ] && ! grep -qxF -- "$pattern" "$WORK/skips-hit"; then
            notice "the skip list names a test that no unit ran: $pattern"
        fi
    done
fi
say ""
say "skipped by reason (scripts/redis_suite/skip.txt):"
for reason in "${REASONS[@]}"; do
    say "  ${SKIPS_BY_REASON[${reason%%:*}]:-0} ${reason}"
done
if [ "${#FAILURES[@]}" -gt 0 ]; then
    say ""
    say "failed tests (the first line of each failure):"
    printf '  %s\n' "${FAILURES[@]}"
fi
say "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
