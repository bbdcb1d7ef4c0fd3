#!/usr/bin/env bash
# The "real clients" stage of scripts/test.sh: real Redis clients against
# the release binary, each check starting its own servers on free loopback
# ports and comparing exact outputs.
#
#   scripts/clients/run.sh [GROUP...]     # groups: redis-cli redis-benchmark redis-py twemproxy seed-clients aof-redis frameworks
#
# Clients used: redis-cli and redis-benchmark (Debian's redis-tools),
# redis-py (PyPI's redis), twemproxy (Debian's nutcracker), the README's
# own clients in Bash, Node.js (Debian's nodejs) and Go (Debian's
# golang-go), reading our append-only file, redis-check-aof and
# redis-server 7 (Debian's redis-tools and redis-server), and the
# frameworks' own use of Redis: Django and Flask-Caching (PyPI) on
# redis-py, ioredis and node-redis (npm), at the versions pinned in
# scripts/clients/frameworks/. With CI=true the missing ones are installed
# (apt-get; redis-py, Django and Flask-Caching into a virtualenv in
# target/client-venv; ioredis and node-redis with `npm ci` into
# target/node-frameworks); otherwise a missing client's checks are skipped
# with a NOTICE.
# BLINK_CLIENT_TEST_SERVER=redis runs every check against redis-server
# instead, which shows that the expected outputs are Redis's; it skips
# aof-redis, which is about Blink-Store's own file.
#
# Ends with one line "N passed, N failed, N skipped" counting the checks,
# and exits non-zero when a check failed.
set -uo pipefail

CLIENTS_DIR=$(cd "$(dirname "$0")" && pwd)
CONFIG_DIR=$(dirname "$CLIENTS_DIR")
REPO=$(dirname "$CONFIG_DIR")
cd "$REPO" || exit 1
# No client may ever wait on a terminal.
exec </dev/null

# shellcheck source=scripts/clients/lib.sh
source "$CLIENTS_DIR/lib.sh"
# shellcheck source=scripts/clients/redis_cli.sh
source "$CLIENTS_DIR/redis_cli.sh"
# shellcheck source=scripts/clients/redis_py.sh
source "$CLIENTS_DIR/redis_py.sh"
# shellcheck source=scripts/clients/twemproxy.sh
source "$CLIENTS_DIR/twemproxy.sh"
# shellcheck source=scripts/clients/seed_clients.sh
source "$CLIENTS_DIR/seed_clients.sh"
# shellcheck source=scripts/clients/aof_redis.sh
source "$CLIENTS_DIR/aof_redis.sh"
# shellcheck source=scripts/clients/frameworks.sh
source "$CLIENTS_DIR/frameworks.sh"

ALL_GROUPS=(redis-cli redis-benchmark redis-py twemproxy seed-clients aof-redis frameworks)
SERVER_KIND=${BLINK_CLIENT_TEST_SERVER:-blink}
BLINK_BIN=$REPO/target/release/blink-store
VENV=$REPO/target/client-venv
PYTHON=

# Installs, with CI=true, the Debian packages that the selected groups need
# and that are missing.
install_packages() {
    local packages=() group
    for group in "${GROUPS_TO_RUN[@]}"; do
        case $group in
        redis-cli) have redis-cli || packages+=(redis-tools) ;;
        redis-benchmark) have redis-benchmark || packages+=(redis-tools) ;;
        twemproxy)
            have redis-cli || packages+=(redis-tools)
            have nutcracker || packages+=(nutcracker)
            ;;
        seed-clients)
            have node || packages+=(nodejs)
            have go || packages+=(golang-go)
            ;;
        aof-redis)
            # Debian 12 ships redis-check-aof in redis-tools; other
            # releases may ship it with redis-server.
            have redis-cli || packages+=(redis-tools)
            have redis-check-aof || packages+=(redis-tools redis-server)
            have redis-server || packages+=(redis-server)
            ;;
        frameworks)
            have node || packages+=(nodejs)
            have npm || packages+=(npm)
            ;;
        esac
    done
    if [ "$SERVER_KIND" = redis ] && ! have redis-server; then
        packages+=(redis-server)
    fi
    apt_install "${packages[@]}"
}

# has_redis_py PYTHON: the interpreter imports redis-py 5 or newer.
has_redis_py() {
    "$1" -c 'import sys, redis
sys.exit(0 if int(redis.__version__.split(".")[0]) >= 5 else 1)' >/dev/null 2>&1
}

# Sets PYTHON to an interpreter with redis-py, installing the current
# release into the virtualenv (or with --user) when CI=true.
find_python() {
    if in_ci && have python3; then
        say "installing the current redis-py (CI=true)"
        local pip=(-m pip install -q --disable-pip-version-check --upgrade 'redis>=5')
        if ! { [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"; } \
            || ! "$VENV/bin/python" "${pip[@]}"; then
            notice "no virtualenv here; installing redis-py with pip --user"
            python3 "${pip[@]}" --user || notice "pip could not install redis-py"
        fi
    fi
    local candidate
    for candidate in "$VENV/bin/python" python3; do
        if { [ -x "$candidate" ] || have "$candidate"; } && has_redis_py "$candidate"; then
            PYTHON=$candidate
            return
        fi
    done
}

if [ $# -gt 0 ]; then
    GROUPS_TO_RUN=("$@")
else
    GROUPS_TO_RUN=("${ALL_GROUPS[@]}")
fi
for group in "${GROUPS_TO_RUN[@]}"; do
    case " ${ALL_GROUPS[*]} " in
    *" $group "*) ;;
    *)
        echo "unknown group '$group'; the groups are: ${ALL_GROUPS[*]}" >&2
        exit 2
        ;;
    esac
done

if in_ci; then
    install_packages
fi
case " ${GROUPS_TO_RUN[*]} " in
*" redis-py "* | *" frameworks "*) find_python ;;
esac
case " ${GROUPS_TO_RUN[*]} " in
*" frameworks "*) in_ci && install_frameworks ;;
esac

SERVER_READY=true
case "$SERVER_KIND" in
blink)
    say "building the release binary: cargo build --release --locked"
    if ! cargo build --release --locked; then
        say "the release build failed"
        SERVER_READY=false
    fi
    ;;
redis)
    if ! have redis-server; then
        echo "BLINK_CLIENT_TEST_SERVER=redis needs redis-server (apt-get install redis-server)" >&2
        exit 2
    fi
    say "BLINK_CLIENT_TEST_SERVER=redis: checking the clients against $(redis-server --version)"
    ;;
*)
    echo "BLINK_CLIENT_TEST_SERVER must be blink or redis, not '$SERVER_KIND'" >&2
    exit 2
    ;;
esac

if [ -n "$PYTHON" ]; then
    redis_py=$("$PYTHON" -c 'import redis; print(redis.__version__)')
else
    redis_py=none
fi
say "clients: $(version redis-cli --version); $(version redis-benchmark --version);" \
    "$(version nutcracker --version | sed 's/^This is //'); redis-py $redis_py;" \
    "node $(version node --version); $(version go version);" \
    "$(version redis-server --version)"

for group in "${GROUPS_TO_RUN[@]}"; do
    say ""
    say "=== $group"
    if [ "$SERVER_READY" != true ]; then
        case $group in
        redis-cli) fail_checks "no server binary" "${REDIS_CLI_CHECKS[@]}" ;;
        redis-benchmark) fail_checks "no server binary" "${REDIS_BENCHMARK_CHECKS[@]}" ;;
        redis-py) fail_checks "no server binary" "${REDIS_PY_CHECKS[@]}" ;;
        twemproxy) fail_checks "no server binary" "${TWEMPROXY_CHECKS[@]}" ;;
        seed-clients) fail_checks "no server binary" "${SEED_CLIENT_CHECKS[@]}" ;;
        aof-redis) fail_checks "no server binary" "${AOF_REDIS_CHECKS[@]}" ;;
        frameworks) fail_checks "no server binary" "${FRAMEWORK_CHECK_NAMES[@]}" ;;
        esac
        continue
    fi
    case $group in
    redis-cli) group_redis_cli ;;
    redis-benchmark) group_redis_benchmark ;;
    redis-py) group_redis_py ;;
    twemproxy) group_twemproxy ;;
    seed-clients) group_seed_clients ;;
    aof-redis) group_aof_redis ;;
    frameworks) group_frameworks ;;
    esac
done

say ""
if [ "$FAILED" -gt 0 ]; then
    say "failed client checks:"
    printf '  %s\n' "${FAILED_NAMES[@]}"
fi
say "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
