# shellcheck shell=bash
# Checks through twemproxy (Debian's nutcracker), sourced by
# scripts/clients/run.sh: three servers behind one proxy configured by
# scripts/nutcracker.yml, driven with redis-cli; then each server is asked
# directly which keys it holds.

TWEMPROXY_CHECKS=(
    "twemproxy: SET, GET, MGET and DEL of 300 keys through the proxy"
    "twemproxy: every key on exactly one server, every server used"
)
# Keys written through the proxy, and how many of them are then deleted.
# The keys are user:N:profile: twemproxy's fnv1a_64 keeps only the low 32
# bits of the hash, so keys that differ only in their last characters
# (key:1, key:2, ...) land in a few clusters on the ring, and one server
# may get none of 300 of them.
PROXY_KEYS=300
PROXY_DELETED=30

# start_proxy: starts three servers and nutcracker in front of them, with
# scripts/nutcracker.yml's example ports replaced by free ones. Sets
# PROXY_PORT.
start_proxy() {
    local conf=$WORK/nutcracker.yml stats pid want i
    for i in 1 2 3; do
        start_server "blink$i" || return 1
    done
    PROXY_PORT=$(free_port) && stats=$(free_port) || return 1
    sed -e "s/127\.0\.0\.1:22121\$/127.0.0.1:$PROXY_PORT/" \
        -e "s/127\.0\.0\.1:8765:1 /127.0.0.1:${PORT[blink1]}:1 /" \
        -e "s/127\.0\.0\.1:8766:1 /127.0.0.1:${PORT[blink2]}:1 /" \
        -e "s/127\.0\.0\.1:8767:1 /127.0.0.1:${PORT[blink3]}:1 /" \
        "$CONFIG_DIR/nutcracker.yml" >"$conf"
    # A changed example must not leave the proxy pointing at the example's
    # ports, where nothing of ours listens.
    for want in "listen: 127.0.0.1:$PROXY_PORT" "127.0.0.1:${PORT[blink1]}:1 blink1" \
        "127.0.0.1:${PORT[blink2]}:1 blink2" "127.0.0.1:${PORT[blink3]}:1 blink3"; do
        grep -qF -- "$want" "$conf" || {
            say "  scripts/nutcracker.yml no longer has the example line that becomes '$want'"
            return 1
        }
    done
    if ! nutcracker --test-conf -c "$conf" >"$WORK/nutcracker-t.log" 2>&1; then
        say "  nutcracker rejects the configuration:"
        sed 's/^/    | /' "$WORK/nutcracker-t.log"
        return 1
    fi
    nutcracker -c "$conf" --stats-addr 127.0.0.1 --stats-port "$stats" \
        -o "$WORK/nutcracker.log" </dev/null >/dev/null 2>&1 &
    pid=$!
    STARTED_PIDS+=("$pid")
    if ! wait_for_port "$PROXY_PORT" "$pid"; then
        say "  nutcracker did not listen on 127.0.0.1:$PROXY_PORT" \
            "within ${READY_TIMEOUT}s; its log:"
        sed 's/^/    | /' "$WORK/nutcracker.log"
        return 1
    fi
}

through_proxy() {
    local p=$PROXY_PORT rc=0 i
    for ((i = 0; i < PROXY_KEYS; i++)); do
        echo "SET user:$i:profile profile-$i" >&3
        echo OK >&4
        echo "GET user:$i:profile" >&5
        echo "profile-$i" >&6
    done 3>"$WORK/sets.txt" 4>"$WORK/sets.expected" 5>"$WORK/gets.txt" 6>"$WORK/gets.expected"
    expect_file_output "$WORK/sets.expected" \
        redis-cli -h 127.0.0.1 -p "$p" <"$WORK/sets.txt" || rc=1
    expect_file_output "$WORK/gets.expected" \
        redis-cli -h 127.0.0.1 -p "$p" <"$WORK/gets.txt" || rc=1

    # One MGET of 100 keys, which the proxy splits by server and reassembles
    # in order; the missing key's nil prints as an empty line.
    local mget=() want=''
    for ((i = 100; i < 200; i++)); do
        mget+=("user:$i:profile")
        want+="profile-$i"$'\n'
    done
    expect_output "${want}" redis-cli -h 127.0.0.1 -p "$p" MGET "${mget[@]}" nosuch || rc=1

    local del=()
    for ((i = 0; i < PROXY_DELETED; i++)); do del+=("user:$i:profile"); done
    expect_output "$PROXY_DELETED" redis-cli -h 127.0.0.1 -p "$p" DEL "${del[@]}" || rc=1
    expect_output 0 redis-cli -h 127.0.0.1 -p "$p" DEL "${del[@]}" || rc=1
    expect_output '' redis-cli -h 127.0.0.1 -p "$p" GET user:0:profile || rc=1
    expect_output "profile-$PROXY_DELETED" \
        redis-cli -h 127.0.0.1 -p "$p" GET "user:$PROXY_DELETED:profile" || rc=1
    return $rc
}

# Asks each server for its keys: no key on two servers, none lost, none
# left over, and no server without keys.
keys_spread() {
    local rc=0 i n
    for ((i = PROXY_DELETED; i < PROXY_KEYS; i++)); do echo "user:$i:profile"; done \
        | sort >"$WORK/keys.expected"
    : >"$WORK/keys.all"
    for i in 1 2 3; do
        run_cmd redis-cli -h 127.0.0.1 -p "${PORT[blink$i]}" KEYS '*'
        if [ "$RC" -ne 0 ] || [ -s "$WORK/err" ]; then
            say "  MISMATCH: redis-cli -h 127.0.0.1 -p ${PORT[blink$i]} KEYS '*'" \
                "failed (exit status $RC):"
            sed 's/^/      | /' "$WORK/err"
            rc=1
        fi
        # An empty reply prints as one empty line; no key is empty.
        grep -v '^$' "$WORK/out" | sort >"$WORK/keys.$i"
        n=$(wc -l <"$WORK/keys.$i")
        say "  blink$i holds $n keys"
        if [ "$n" -eq 0 ]; then
            say "  MISMATCH: blink$i (port ${PORT[blink$i]}) holds no key"
            rc=1
        fi
        expect_output "$n" redis-cli -h 127.0.0.1 -p "${PORT[blink$i]}" DBSIZE || rc=1
        cat "$WORK/keys.$i" >>"$WORK/keys.all"
    done
    sort "$WORK/keys.all" | uniq -d >"$WORK/keys.twice"
    if [ -s "$WORK/keys.twice" ]; then
        say "  MISMATCH: keys held by more than one server:"
        sed 's/^/      | /' "$WORK/keys.twice"
        rc=1
    fi
    sort -u "$WORK/keys.all" >"$WORK/keys.union"
    if cmp -s "$WORK/keys.expected" "$WORK/keys.union"; then
        say "  ok: the servers hold exactly the" \
            "$((PROXY_KEYS - PROXY_DELETED)) keys left, once each"
    else
        RC=0
        : >"$WORK/err"
        report_mismatch "the union of the three servers' keys" \
            "$WORK/keys.expected" "$WORK/keys.union"
        rc=1
    fi
    return $rc
}

group_twemproxy() {
    local missing=()
    have nutcracker || missing+=(nutcracker)
    have redis-cli || missing+=(redis-cli)
    if [ ${#missing[@]} -gt 0 ]; then
        tool_missing "${missing[*]// / and }" "nutcracker redis-tools" "${TWEMPROXY_CHECKS[@]}"
        return
    fi
    if ! start_proxy; then
        fail_checks "the servers or the proxy did not start" "${TWEMPROXY_CHECKS[@]}"
        stop_started
        return
    fi
    check "${TWEMPROXY_CHECKS[0]}" through_proxy
    check "${TWEMPROXY_CHECKS[1]}" keys_spread
    stop_started
}
