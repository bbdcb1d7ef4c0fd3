# shellcheck shell=bash
# Checks that Redis itself reads Blink-Store's append-only file, sourced by
# scripts/clients/run.sh. A server with --aof and --appendfsync always is
# driven through every kind of record (over RESP on TCP and on a Unix
# socket, and over the text protocol), in several numbered databases (keys
# in databases 0, 2, 5 and others, a MOVE, a COPY ... DB, a SWAPDB, a
# FLUSHDB, a MULTI/EXEC that SELECTs inside), so that the log holds the
# SELECT records that say which database each record is about. The keys,
# values and deadlines of every database are recorded, and the server is
# stopped with SHUTDOWN. Then redis-check-aof must call the file valid,
# redis-server 7 must load a copy of it (migrating the single file into its
# appendonlydir) and hold exactly the recorded state, database by database,
# and so must Blink-Store restarted on the file. Last, that server compacts
# the log (BGREWRITEAOF) and the same checks run on the compacted file.
#
# This group is about our file, so BLINK_CLIENT_TEST_SERVER=redis skips it:
# Redis 7 writes a multi-part AOF, not the single file checked here.

AOF_REDIS_CHECKS=(
    "aof-redis: a workload of every record kind, over RESP and the text protocol"
    "aof-redis: SHUTDOWN syncs the log, which holds every record kind"
    "aof-redis: redis-check-aof calls the log valid"
    "aof-redis: redis-server loads a copy of the log: same keys, values and deadlines"
    "aof-redis: Blink-Store restarted on the log: same keys, values and deadlines"
    "aof-redis: after BGREWRITEAOF, redis-check-aof and redis-server read the compacted log"
)
# Deadlines of two servers agree when their remaining times, measured at
# different moments, differ by at most this many milliseconds once the time
# between the two measurements is taken off. Every deadline of the workload
# is at least 1000 s away, so one read in the wrong unit fails; and the log
# is loaded at least LOAD_DELAY_MS after the state was recorded, so that a
# deadline restarted by the load (relative, not absolute) fails too.
PTTL_TOLERANCE_MS=2000
LOAD_DELAY_MS=3000
# The volume part: keys vol:0 .. vol:N-1, every third one with a deadline,
# every seventh one given one afterwards with PEXPIRE, every tenth deleted.
VOLUME_KEYS=600
# The numbered databases whose keys are recorded and compared: every one
# that both servers have by default (Redis's databases 16, and
# Blink-Store's --databases).
AOF_DATABASES=16
# Keys the workload leaves in each database that has any (database, keys,
# how many of them have a deadline); see aof_workload. Database 0: 31 named
# keys over RESP (15 with a deadline), 2 binary ones (1), 7 over text (3),
# and of VOLUME_KEYS 540 (231). The others: what the databases part leaves,
# and in database 5 one key set over text.
AOF_DATABASE_KEYS='0 580 250
2 6 3
3 1 0
4 3 1
5 7 2
6 1 0
7 2 1'
# The record kinds (command name and number of arguments) the workload
# makes the server write, each at least once, and no others.
AOF_RECORD_KINDS='DEL 2
EXEC 1
FLUSHALL 1
FLUSHDB 1
MULTI 1
PERSIST 2
PEXPIREAT 3
SELECT 2
SET 3
SET 5
SWAPDB 3'

# Commands run by `bash -c CMD NAME ARG...`, for expect_output (which runs
# a program, not a function), with ARG as $1, $2.
# shellcheck disable=SC2016 # expanded by that shell, not this one
{
    # Sends the file $2 to the text protocol on port $1 (it ends with QUIT)
    # and prints every reply until the server closes the connection.
    TEXT_CLIENT='exec 3<>"/dev/tcp/127.0.0.1/$1" && cat "$2" >&3 && cat <&3'
    # redis-cli --pipe to port $1, keeping its summary line only.
    PIPE_SUMMARY='redis-cli -h 127.0.0.1 -p "$1" --pipe | grep "^errors: "'
}

# cli NAME ARG...: redis-cli against the server NAME, under CMD_TIMEOUT,
# for the direct calls (expect_output and run_cmd add the timeout).
cli() {
    local name=$1
    shift
    timeout "$CMD_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$name]}" "$@"
}

# db_session NAME CMD KEYS [ARG...]: sends `CMD key` for every line
# "database TAB key" of the file KEYS to the server NAME, in one redis-cli
# session given ARGs, each database's keys behind a SELECT of it; prints
# the replies to the CMDs, one a line, in the order of KEYS. Each reply
# must be one line, which redis-cli --no-raw makes of any value.
db_session() {
    local name=$1 cmd=$2 keys=$3
    shift 3
    LC_ALL=C awk -F '\t' -v cmd="$cmd" '
        $1 != db { print "SELECT " $1; db = $1 }
        { print cmd " " $2 }' "$keys" >"$WORK/session.cmds"
    cli "$name" "$@" <"$WORK/session.cmds" >"$WORK/session.replies" || return 1
    paste "$WORK/session.cmds" "$WORK/session.replies" \
        | LC_ALL=C awk -F '\t' '$1 !~ /^SELECT / { print $2 }'
}

# dump_state NAME PREFIX: records what the server NAME holds in each of
# its first AOF_DATABASES databases: PREFIX.keys has one line per key, the
# database, a tab and the key, sorted by database then key; PREFIX.values
# the same and a tab and the value as redis-cli --no-raw quotes it (every
# byte that is not printable escaped, so a value is one line and two values
# print alike only when their bytes are equal); PREFIX.pttl the database
# and key, a tab and its PTTL; PREFIX.time the Unix milliseconds just after
# the PTTLs were read (all in one session); PREFIX.dbsize one line per
# database, the database, a tab and its DBSIZE. Keys have no spaces,
# quotes or newlines, which the workload ensures.
dump_state() {
    local name=$1 out=$2 db
    for ((db = 0; db < AOF_DATABASES; db++)); do
        # An empty database's KEYS prints one empty line.
        cli "$name" -n "$db" --raw KEYS '*' | LC_ALL=C sort \
            | LC_ALL=C awk -v db="$db" '$0 != "" { print db "\t" $0 }' || return 1
    done >"$out.keys"
    db_session "$name" GET "$out.keys" --no-raw >"$WORK/dump.values" || return 1
    paste "$out.keys" "$WORK/dump.values" >"$out.values"
    db_session "$name" PTTL "$out.keys" >"$WORK/dump.pttl" || return 1
    date +%s%3N >"$out.time"
    paste "$out.keys" "$WORK/dump.pttl" >"$out.pttl"
    for ((db = 0; db < AOF_DATABASES; db++)); do
        printf '%s\t%s\n' "$db" "$(cli "$name" -n "$db" DBSIZE)"
    done >"$out.dbsize"
}

# binary_values_match NAME: the binary values read back raw from the server
# NAME are the bytes that were written; a mismatch shows both in hex.
binary_values_match() {
    local name=$1 rc=0 key source
    for key in bin:resp bin:unix text:bin; do
        case $key in
        text:*) source=$WORK/text.dat ;;
        *) source=$WORK/bin.dat ;;
        esac
        # --raw prints the value and a newline.
        cli "$name" --raw GET "$key" | head -c -1 >"$WORK/raw.value"
        od -An -tx1 -v "$source" >"$WORK/hex.expected"
        od -An -tx1 -v "$WORK/raw.value" >"$WORK/hex.got"
        compare "$name: GET $key returns the $(wc -c <"$source") bytes written, as hex" \
            "$WORK/hex.expected" "$WORK/hex.got" || rc=1
    done
    return $rc
}

# same_state NAME: the server NAME holds what the expected state recorded,
# in each database: the same DBSIZE, keys and values byte for byte, and the
# same deadlines within PTTL_TOLERANCE_MS (-1, no deadline, exactly).
same_state() {
    local name=$1 exp=$WORK/expected-state got=$WORK/$1-state elapsed rc=0
    dump_state "$name" "$got" || {
        say "  MISMATCH: $name: redis-cli could not read its keys"
        return 1
    }
    compare "$name: DBSIZE of every database" "$exp.dbsize" "$got.dbsize" || rc=1
    compare "$name: every key of every database and its value, byte for byte" \
        "$exp.values" "$got.values" || rc=1
    elapsed=$(($(<"$got.time") - $(<"$exp.time")))
    LC_ALL=C awk -F '\t' -v elapsed="$elapsed" -v tol="$PTTL_TOLERANCE_MS" '
        function num(s) { return s ~ /^-?[0-9]+$/ }
        NR == FNR { want["db " $1 " " $2] = $3; next }
        { got["db " $1 " " $2] = $3 }
        END {
            for (k in want) if (!(k in got))
                printf "%s: PTTL %s recorded, key missing\n", k, want[k]
            for (k in got) {
                if (!(k in want)) {
                    printf "%s: PTTL %s, key not recorded\n", k, got[k]
                    continue
                }
                w = want[k]; g = got[k]
                if (!num(w) || !num(g) || (w < 0 || g < 0) && w != g) {
                    printf "%s: PTTL %s recorded, got %s\n", k, w, g
                } else if (w >= 0) {
                    d = g - (w - elapsed)
                    if (d < -tol || d > tol)
                        printf "%s: PTTL %s recorded %d ms earlier, so about %d now; got %s\n",
                            k, w, elapsed, w - elapsed, g
                }
            }
        }' "$exp.pttl" "$got.pttl" | sort >"$WORK/pttl.bad"
    if [ -s "$WORK/pttl.bad" ]; then
        say "  MISMATCH: $name: deadlines (tolerance ${PTTL_TOLERANCE_MS} ms):"
        sed 's/^/      | /' "$WORK/pttl.bad"
        rc=1
    else
        say "  ok: $name: every PTTL within ${PTTL_TOLERANCE_MS} ms of the recorded one," \
            "${elapsed} ms later (-1 exactly)"
    fi
    binary_values_match "$name" || rc=1
    return $rc
}

# record_kinds AOF: prints, for each record of the log, its command name
# and number of arguments. It reads header lines ("*N" then "$L" then the
# name), so it assumes that no value holds a line that looks like a record
# header; the workload's values never do.
record_kinds() {
    LC_ALL=C tr -d '\000' <"$1" | LC_ALL=C awk '
        { sub(/\r$/, "") }
        state == 2 { print toupper($0), n; state = 0; next }
        state == 1 && /^\$[0-9]+$/ { state = 2; next }
        /^\*[0-9]+$/ { n = substr($0, 2); state = 1; next }
        { state = 0 }'
}

# aof_workload: drives the server "ours" through every record kind, in
# several databases, then records its state in $WORK/expected-state.*.
aof_workload() {
    local p=${PORT[ours]} rc=0 now_s now_ms i
    now_s=$(date +%s)
    now_ms=$(date +%s%3N)
    # Over RESP, one redis-cli session: keys written before a FLUSHALL,
    # then the workload proper. `short` expires during the run.
    cat >"$WORK/workload.txt" <<EOF
SET before:flush gone
SET before:ttl gone EX 100
MSET before:a 1 before:b 2
FLUSHALL
DBSIZE
SET plain hello
SET plain:over first
SET plain:over second
SET ttl:cleared v EX 100
SET ttl:cleared w
SET ex:key v1 EX 1000
SET px:key v2 PX 2000000
SET exat:key v3 EXAT $((now_s + 3000))
SET pxat:key v4 PXAT $((now_ms + 4000000))
SET keepttl v EX 7000
SET keepttl w KEEPTTL
SETEX setex:key 7100 v
PSETEX psetex:key 7200000 v
SETNX setnx:key v
SET del:a x
SET del:b y
DEL del:a del:b nosuch
SET getdel:key v
GETDEL getdel:key
SET expire:key v
EXPIRE expire:key 5000
SET pexpire:key v
PEXPIRE pexpire:key 6000000
SET expireat:key v
EXPIREAT expireat:key $((now_s + 6100))
SET pexpireat:key v
PEXPIREAT pexpireat:key $((now_ms + 6200000))
SET past:key v
PEXPIREAT past:key 1
SET persist:key v EX 100
PERSIST persist:key
SET getex:key v
GETEX getex:key PX 8000000
SET getex:persist v EX 100
GETEX getex:persist PERSIST
GETSET plain:over third
MSET m:a 1 m:b 2 m:c 3
INCR counter
INCRBY counter 41
DECR counter
APPEND appended hello
APPEND appended " world"
SET ttl:incr 5 EX 9000
INCR ttl:incr
SET ren:a v EX 9200
RENAME ren:a ren:b
RENAMENX ren:b m:a
COPY ren:b ren:c
SETRANGE appended 0 J
INCRBYFLOAT float 1.5
MSETNX nx:a 1 nx:b 2
SET "clé:ü" "välue"
SET empty ""
SET short v PX 100
DBSIZE
EOF
    expect_output 'OK
OK
OK
OK
(integer) 0
OK
OK
OK
OK
OK
OK
OK
OK
OK
OK
OK
OK
OK
(integer) 1
OK
OK
(integer) 2
OK
"v"
OK
(integer) 1
OK
(integer) 1
OK
(integer) 1
OK
(integer) 1
OK
(integer) 1
OK
(integer) 1
OK
"v"
OK
"v"
"second"
OK
(integer) 1
(integer) 42
(integer) 41
(integer) 5
(integer) 11
OK
(integer) 6
OK
OK
(integer) 0
(integer) 1
(integer) 11
"1.5"
(integer) 1
OK
OK
OK
(integer) 32' redis-cli -h 127.0.0.1 -p "$p" --no-raw <"$WORK/workload.txt" || rc=1

    # Binary values over RESP, from a file through redis-cli -x (which
    # sends stdin, unchanged, as the last argument): every byte, and a
    # CR LF inside and at the end.
    printf '%b' "$(printf '\\x%02x' {0..255})" 'a\r\nb\r\n' >"$WORK/bin.dat"
    expect_output OK redis-cli -h 127.0.0.1 -p "$p" -x SET bin:resp <"$WORK/bin.dat" || rc=1
    expect_output OK redis-cli -s "$WORK/aof.sock" \
        -x SETEX bin:unix 9100 <"$WORK/bin.dat" || rc=1

    # Over the text protocol, whose SET takes the rest of the line: a
    # value of every byte but the newline (a \r and a NUL inside), between
    # two letters so that no space is trimmed.
    printf '%b' T "$(printf '\\x%02x' {0..9} {11..255})" T >"$WORK/text.dat"
    {
        printf 'SET text:plain hello big   world\n'
        printf 'APPEND text:plain !\n'
        printf 'SET text:bin '
        cat "$WORK/text.dat"
        printf '\nSETEX text:ttl 9500 ttl value\n'
        printf 'PSETEX text:pttl 9600000 v\n'
        printf 'SET text:exp v\nEXPIRE text:exp 9700\n'
        printf 'SETEX text:persist 100 v\nPERSIST text:persist\n'
        printf 'SET text:del v\nDELETE text:del\n'
        printf 'INCR text:n\nINCRBY text:n 9\n'
        printf 'GET text:bin\n'
        # The text protocol's SELECT: the next record is database 5's.
        printf 'SELECT 5\nSETEX text:db5 9900 v\nQUIT\n'
    } >"$WORK/text.txt"
    expect_output "OK
APPEND 18
OK
OK
OK
OK
OK
OK
OK
OK
OK
INCR 1
INCRBY 10
VALUE $(base64 -w0 "$WORK/text.dat")
OK
OK" \
        bash -c "$TEXT_CLIENT" text-client "$p" "$WORK/text.txt" || rc=1

    # Volume, deterministic so that the key counts are exact.
    LC_ALL=C awk -v n="$VOLUME_KEYS" '
        function cmd(a, b, c, d, e,   argv, i, argc, s) {
            argv[1] = a; argv[2] = b; argv[3] = c; argv[4] = d; argv[5] = e
            argc = 0
            for (i = 1; i <= 5; i++) if (argv[i] != "") argc = i
            s = "*" argc "\r\n"
            for (i = 1; i <= argc; i++) s = s "$" length(argv[i]) "\r\n" argv[i] "\r\n"
            printf "%s", s
            replies++
        }
        BEGIN {
            for (i = 0; i < n; i++) {
                if (i % 3 == 0) cmd("SET", "vol:" i, "volume-value-" i, "PX", 1500000 + i * 1009)
                else cmd("SET", "vol:" i, "volume-value-" i)
            }
            for (i = 0; i < n; i += 7) cmd("PEXPIRE", "vol:" i, 2500000 + i * 1013)
            for (i = 0; i < n; i += 10) cmd("DEL", "vol:" i)
            print replies >"/dev/stderr"
        }' >"$WORK/volume.resp" 2>"$WORK/volume.count"
    expect_output "errors: 0, replies: $(<"$WORK/volume.count")" \
        bash -c "$PIPE_SUMMARY" pipe "$p" <"$WORK/volume.resp" || rc=1

    # Numbered databases, over RESP in one redis-cli session, which starts
    # in database 0: keys in databases 2 and 5, the same name in two
    # databases (plain), a MOVE of a key with a deadline and of one
    # without, COPY ... DB of both kinds, a SWAPDB of two databases that
    # have keys (and a write after it, to the database the connection
    # still names), a FLUSHDB of one database and a write after it, and a
    # MULTI/EXEC that starts in database 2 and SELECTs 7 and 5 inside,
    # after which the connection is in database 5.
    cat >"$WORK/databases.txt" <<EOF
SELECT 2
SET db2:plain two
SET db2:ttl v EX 9800
SET db2:gone v
SET plain in-db-2
SELECT 5
SET db5:plain five
SET db5:ttl v PX 9810000
MSET db5:m1 1 db5:m2 2
SELECT 0
SET move:ttl v EX 9820
MOVE move:ttl 2
SET move:plain v
MOVE move:plain 5
COPY plain plain:copy DB 5
COPY ex:key ex:copy DB 2
SELECT 3
SET db3:a v
SET db3:b v EX 9830
SELECT 4
SET db4:a v
SWAPDB 3 4
SET db4:after-swap v
SELECT 6
SET flush:a v
SET flush:b v EX 9840
FLUSHDB
SET flush:after v
SELECT 2
MULTI
SET tx:db2 v
DEL db2:gone
SELECT 7
SET tx:db7 v EX 9850
INCR tx:counter
SELECT 5
DEL db5:m1
EXEC
SET tx:after v
DBSIZE
EOF
    expect_output 'OK
OK
OK
OK
OK
OK
OK
OK
OK
OK
OK
(integer) 1
OK
(integer) 1
(integer) 1
(integer) 1
OK
OK
OK
OK
OK
OK
OK
OK
OK
OK
OK
OK
OK
OK
QUEUED
QUEUED
QUEUED
QUEUED
QUEUED
QUEUED
QUEUED
1) OK
2) (integer) 1
3) OK
4) OK
5) (integer) 1
6) OK
7) (integer) 1
OK
(integer) 7' redis-cli -h 127.0.0.1 -p "$p" --no-raw <"$WORK/databases.txt" || rc=1

    # `short` (PX 100) is gone, reclaimed and logged as a DEL or not.
    sleep 0.5
    expect_output -2 redis-cli -h 127.0.0.1 -p "$p" PTTL short || rc=1

    if ! dump_state ours "$WORK/expected-state"; then
        say "  MISMATCH: redis-cli could not read the keys to record"
        return 1
    fi
    say "  recorded $(wc -l <"$WORK/expected-state.keys") keys in $AOF_DATABASES databases"
    # Every database's DBSIZE, 0 for those AOF_DATABASE_KEYS does not name.
    for ((i = 0; i < AOF_DATABASES; i++)); do
        printf '%s\t%s\n' "$i" "$(awk -v db="$i" '$1 == db { n = $2 } END { print n + 0 }' \
            <<<"$AOF_DATABASE_KEYS")"
    done >"$WORK/expected"
    compare "DBSIZE of every database" "$WORK/expected" "$WORK/expected-state.dbsize" || rc=1
    printf '%s\n' "$AOF_DATABASE_KEYS" >"$WORK/expected"
    LC_ALL=C awk -F '\t' '
        { keys[$1]++; if ($3 > 0) deadlines[$1]++ }
        END { for (db in keys) print db, keys[db], deadlines[db] + 0 }' \
        "$WORK/expected-state.pttl" | sort -n >"$WORK/counts"
    compare "the keys of each database, and how many have a deadline" \
        "$WORK/expected" "$WORK/counts" || rc=1
    binary_values_match ours || rc=1
    return $rc
}

# aof_shutdown AOF: SHUTDOWN answers nothing and the server exits 0; then
# the log holds every record kind.
aof_shutdown() {
    local aof=$1 rc=0
    run_cmd redis-cli -h 127.0.0.1 -p "${PORT[ours]}" SHUTDOWN
    if [ "$RC" -eq 0 ] && ! [ -s "$WORK/out" ]; then
        say "  ok: redis-cli SHUTDOWN: no reply, exit status 0"
    else
        say "  MISMATCH: redis-cli SHUTDOWN: exit status $RC, output:"
        cat "$WORK/out" "$WORK/err" | sed 's/^/      | /'
        rc=1
    fi
    if ! wait_exit ours; then
        say "  MISMATCH: the server still runs ${READY_TIMEOUT}s after SHUTDOWN"
        return 1
    fi
    expect_status "the server exits after SHUTDOWN" 0 || rc=1
    printf '%s\n' "$AOF_RECORD_KINDS" >"$WORK/expected"
    record_kinds "$aof" | sort -u >"$WORK/kinds"
    compare "the record kinds in the log (command, arguments)" \
        "$WORK/expected" "$WORK/kinds" || rc=1
    return $rc
}

# aof_check AOF: redis-check-aof reads the whole file, every record.
aof_check() {
    local aof=$1 size lines
    size=$(wc -c <"$aof")
    # It counts a line per record header and two per argument, from 1.
    lines=$(record_kinds "$aof" | awk '{ n += 1 + 2 * $2 } END { print n + 1 }')
    expect_output "Start checking Old-Style AOF
AOF analyzed: filename=$aof, size=$size, ok_up_to=$size, ok_up_to_line=$lines, diff=0
AOF $aof is valid" redis-check-aof "$aof"
}

# wait_load_delay: sleeps until LOAD_DELAY_MS have passed since the
# expected state was recorded.
wait_load_delay() {
    local left
    [ -s "$WORK/expected-state.time" ] || return 0
    left=$(($(<"$WORK/expected-state.time") + LOAD_DELAY_MS - $(date +%s%3N)))
    [ "$left" -le 0 ] || sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"
}

# aof_redis_loads AOF: redis-server started on a copy of the log migrates
# it and holds the recorded state. With --aof-load-truncated no, as Redis
# would otherwise load a torn file up to the tear and start.
# The second argument names the Redis server (default: loader).
aof_redis_loads() {
    local loader=${2:-loader} rc=0
    local dir=$WORK/$loader-dir
    mkdir -p "$dir" && cp "$1" "$dir/appendonly.aof" || return 1
    wait_load_delay
    start_as redis "$loader" "" --appendonly yes --dir "$dir" \
        --appendfilename appendonly.aof --aof-load-truncated no --save '' || return 1
    expect_output PONG redis-cli -h 127.0.0.1 -p "${PORT[$loader]}" PING || rc=1
    run_cmd redis-cli -h 127.0.0.1 -p "${PORT[$loader]}" INFO persistence
    if [ "$RC" -eq 0 ] && tr -d '\r' <"$WORK/out" | grep -qx 'loading:0'; then
        say "  ok: INFO persistence says loading:0"
    else
        say "  MISMATCH: INFO persistence (exit status $RC) has no line loading:0:"
        sed 's/^/      | /' "$WORK/out"
        rc=1
    fi
    if grep -qF 'Successfully migrated an old-style AOF file (appendonly.aof)' \
        "$WORK/$loader.log" && grep -qF 'DB loaded from base file appendonly.aof' \
        "$WORK/$loader.log"; then
        say "  ok: redis-server migrated and loaded appendonly.aof"
    else
        say "  MISMATCH: redis-server's log does not say it migrated and loaded" \
            "appendonly.aof; its log:"
        sed 's/^/      | /' "$WORK/$loader.log"
        rc=1
    fi
    same_state "$loader" || rc=1
    return $rc
}

# aof_restart AOF: Blink-Store restarted on the log holds the recorded
# state: replay equals memory.
aof_restart() {
    wait_load_delay
    start_as blink restarted "" --aof "$1" --appendfsync always || return 1
    same_state restarted
}

# aof_compacted AOF: the restarted server compacts the log with
# BGREWRITEAOF (its reply, then INFO until it is done), the log shrinks to
# one SET per key, behind a SELECT of its database, and after SHUTDOWN redis-check-aof and redis-server read
# it as they read the original.
aof_compacted() {
    local aof=$1 rc=0 before i info
    before=$(wc -c <"$aof")
    expect_output 'Background append only file rewriting started' \
        redis-cli -h 127.0.0.1 -p "${PORT[restarted]}" BGREWRITEAOF || return 1
    for ((i = 0; i < READY_TIMEOUT * 20; i++)); do
        info=$(cli restarted INFO persistence | tr -d '\r')
        grep -qx 'aof_rewrite_in_progress:0' <<<"$info" && break
        sleep 0.05
    done
    if grep -qx 'aof_last_bgrewrite_status:ok' <<<"$info" &&
        grep -qF 'rewritten:' "$WORK/restarted.log"; then
        say "  ok: the rewrite finished: $before bytes to $(wc -c <"$aof")"
    else
        say "  MISMATCH: the rewrite did not finish well; INFO persistence and the log:"
        printf '%s\n' "$info" | sed 's/^/      | /'
        sed 's/^/      | /' "$WORK/restarted.log"
        return 1
    fi
    run_cmd redis-cli -h 127.0.0.1 -p "${PORT[restarted]}" SHUTDOWN
    wait_exit restarted || return 1
    printf '%s\n' 'SELECT 2' 'SET 3' 'SET 5' >"$WORK/expected"
    record_kinds "$aof" | sort -u >"$WORK/kinds"
    compare "the record kinds in the compacted log" "$WORK/expected" "$WORK/kinds" || rc=1
    aof_check "$aof" || rc=1
    aof_redis_loads "$aof" compacted-loader || rc=1
    return $rc
}

group_aof_redis() {
    if [ "$SERVER_KIND" = redis ]; then
        skip_checks "about Blink-Store's own file, not run with BLINK_CLIENT_TEST_SERVER=redis" \
            "${AOF_REDIS_CHECKS[@]}"
        return
    fi
    local tool major
    for tool in redis-cli redis-server redis-check-aof; do
        if ! have "$tool"; then
            tool_missing "$tool" "redis-server redis-tools" "${AOF_REDIS_CHECKS[@]}"
            return
        fi
    done
    major=$(redis-server --version | sed -nE 's/.* v=([0-9]+)\..*/\1/p')
    if [ "${major:-0}" -lt 7 ]; then
        tool_missing "redis-server 7 or newer (found $(redis-server --version))" \
            redis-server "${AOF_REDIS_CHECKS[@]}"
        return
    fi
    local aof=$WORK/aof/appendonly.aof
    mkdir -p "$WORK/aof"
    if ! start_as blink ours "" --unix "$WORK/aof.sock" \
        --aof "$aof" --appendfsync always; then
        fail_checks "the server did not start" "${AOF_REDIS_CHECKS[@]}"
        stop_started
        return
    fi
    check "${AOF_REDIS_CHECKS[0]}" aof_workload
    check "${AOF_REDIS_CHECKS[1]}" aof_shutdown "$aof"
    check "${AOF_REDIS_CHECKS[2]}" aof_check "$aof"
    check "${AOF_REDIS_CHECKS[3]}" aof_redis_loads "$aof"
    check "${AOF_REDIS_CHECKS[4]}" aof_restart "$aof"
    check "${AOF_REDIS_CHECKS[5]}" aof_compacted "$aof"
    stop_started
}
