#!/usr/bin/env bash
# Measures how often WATCH aborts an EXEC although the watched key did not
# change (see README, "Transactions": a watch is a version of its key's
# stripe and hash bucket, which other keys share), under a realistic load.
# Prints one line per load. Run from a checkout: scripts/watch_false_aborts.sh
#
# What it does: builds the release binary, starts it on a loopback port,
# runs `blink-store bench` (16 clients, 100,000 keys, GET:SET 1:1 then 9:1)
# in the background, and meanwhile one client loops WATCH w, GET w, MULTI,
# SET w n+1, EXEC for a few seconds. Nobody else writes w, so every null
# EXEC is an abort without a change.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
bin=target/release/blink-store
port=${PORT:-7479}
"$bin" serve --tcp "127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
sleep 0.5

cas() {
    python3 - "$port" "$1" <<'PY'
import socket, sys, time

def request(*words):
    out = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode()
        out += b"$%d\r\n%s\r\n" % (len(w), w)
    return out

sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
replies = sock.makefile("rb")

def reply():
    line = replies.readline()
    if line[:1] == b"$":
        n = int(line[1:])
        return replies.read(n + 2)[:-2] if n >= 0 else None
    if line[:1] == b"*":
        n = int(line[1:])
        return "null" if n < 0 else [reply() for _ in range(n)]
    return line

end = time.time() + float(sys.argv[2])
rounds = aborted = 0
while time.time() < end:
    sock.sendall(request("WATCH", "w") + request("GET", "w"))
    reply()
    n = int(reply() or 0)
    sock.sendall(request("MULTI") + request("SET", "w", str(n + 1)) + request("EXEC"))
    reply(), reply()
    rounds += 1
    aborted += reply() == "null"
print(f"{rounds} rounds, {aborted} aborted without a change ({aborted / rounds:.2%})", end="")
PY
}

for ratio in 1:1 9:1; do
    "$bin" bench --tcp "127.0.0.1:$port" --clients 16 --duration 6 --ratio "$ratio" \
        --keyspace 100000 --prefill --json >/tmp/watch_false_aborts.$$ 2>/dev/null &
    load=$!
    sleep 1.5
    line=$(cas 3)
    wait "$load"
    ops=$(python3 -c 'import json, sys; print(int(json.load(open(sys.argv[1]))["ops_per_sec"]))' \
        /tmp/watch_false_aborts.$$)
    echo "GET:SET $ratio at $ops ops/s: $line"
done
rm -f /tmp/watch_false_aborts.$$
