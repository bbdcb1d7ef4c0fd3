# shellcheck shell=bash
# The frameworks' own use of Redis, sourced by scripts/clients/run.sh:
# redis-py's pipeline(), transaction(), Redis(db=...) and a redis:// URL
# naming a database, Django's RedisCache, Flask-Caching's RedisCache (in
# database 0 and in database 2), ioredis and node-redis (select, and
# node-redis's URL too), and publish/subscribe through redis-py's pubsub()
# (RESP2 and RESP3), ioredis's subscriber mode and node-redis's listeners
# on a duplicate() (RESP2 and RESP3), and client-side caching through
# redis-py's Redis(protocol=3, cache_config=CacheConfig()) and node-redis's
# createClient({ RESP: 3, clientSideCache }), each as an application calls
# them.
# Every check is one program of scripts/clients/frameworks/ and one of its
# checks, named together ("django_cache.py set_many"); it runs against a
# fresh server and must print exactly
# frameworks/expected/PROGRAM.CHECK.txt, which is what redis-server
# answers (BLINK_CLIENT_TEST_SERVER=redis shows it).
#
# The versions are pinned so that every run tests the same code:
# frameworks/requirements.txt for Django and Flask-Caching, installed with
# pip into the redis-py virtualenv, and frameworks/package-lock.json for
# ioredis and node-redis, installed with `npm ci` into target/node-frameworks.
# With CI=true, install_frameworks installs what is missing or at another
# version; a run that finds them in place installs nothing.

FRAMEWORKS_DIR=$CLIENTS_DIR/frameworks
NODE_FRAMEWORKS=$REPO/target/node-frameworks

# Every check, in the order they run. The first ones need neither
# transactions nor numbered databases.
FRAMEWORK_CHECKS=(
    "django_cache.py cache"
    "flask_cache.py db0"
    "ioredis.js unlink"
    "node_redis.js unlink"
    # MULTI/EXEC/WATCH: redis-py's pipeline() is a transaction unless told
    # otherwise, and Django's set_many() uses it. Against a server without
    # MULTI these clients still send the queued commands, which then run
    # one at a time, and report the failed EXEC.
    "redis_py_features.py pipeline"
    "redis_py_features.py transaction"
    "django_cache.py set_many"
    "ioredis.js multi"
    "ioredis.js watch"
    "node_redis.js multi"
    "node_redis.js watch"
    # SELECT n, n > 0, as a client option, a redis:// URL's path or a call.
    # Against a server that refuses it, redis-py and node-redis fail every
    # call of that client, while ioredis only emits an error event and goes
    # on in database 0.
    "redis_py_features.py database"
    "flask_cache.py db2"
    "ioredis.js select"
    "node_redis.js select"
    # Publish/subscribe: each subscriber waits for the confirmation of its
    # subscriptions before another client publishes, and prints what it
    # received in order.
    "redis_py_pubsub.py resp2"
    "redis_py_pubsub.py resp3"
    "ioredis.js pubsub"
    "node_redis.js pubsub"
    "node_redis.js pubsub_resp3"
    # Client-side caching (RESP3): a read answered from the client's cache,
    # then another client's SET, DEL and FLUSHALL seen once the server's
    # invalidation arrives, which each check waits for with a bounded loop
    # of reads; the client's own writes, whose invalidation must reach it
    # before its next read; another client's acknowledged write, whose
    # invalidation must come before the reply to the caching client's next
    # command; and what CLIENT INFO says of a tracking connection.
    "redis_py_caching.py cache"
    "redis_py_caching.py own_writes"
    "redis_py_caching.py two_caches"
    "redis_py_caching.py client_info"
    "node_redis.js caching"
    "node_redis.js caching_own_writes"
)
# Every check's name, for run.sh when no server can be built.
# shellcheck disable=SC2034 # read by run.sh
FRAMEWORK_CHECK_NAMES=("${FRAMEWORK_CHECKS[@]/#/frameworks: }")

# frameworks_python_ready: PYTHON has every package of requirements.txt at
# its pinned version.
frameworks_python_ready() {
    [ -n "$PYTHON" ] || return 1
    "$PYTHON" - "$FRAMEWORKS_DIR/requirements.txt" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#")[0].strip()
    if line:
        name, pinned = line.split("==")
        try:
            if version(name) != pinned:
                sys.exit(1)
        except PackageNotFoundError:
            sys.exit(1)
EOF
}

# frameworks_node_ready: node runs, and target/node-frameworks holds what
# package-lock.json names (npm ci copied the lock file there and wrote its
# own record of the install).
frameworks_node_ready() {
    have node \
        && cmp -s "$FRAMEWORKS_DIR/package-lock.json" "$NODE_FRAMEWORKS/package-lock.json" \
        && [ -f "$NODE_FRAMEWORKS/node_modules/.package-lock.json" ]
}

# install_frameworks: with CI=true, installs the pinned Python frameworks
# into the virtualenv that find_python set up, and the pinned Node.js
# clients into target/node-frameworks, each only when it is not already
# there. A failed install says so; the checks that needed it then fail.
install_frameworks() {
    if ! frameworks_python_ready; then
        if [ "$PYTHON" = "$VENV/bin/python" ]; then
            say "installing Django and Flask-Caching from frameworks/requirements.txt (CI=true)"
            "$PYTHON" -m pip install -q --disable-pip-version-check \
                -r "$FRAMEWORKS_DIR/requirements.txt" \
                || notice "pip could not install frameworks/requirements.txt"
        else
            notice "no redis-py virtualenv in $VENV; not installing the Python frameworks"
        fi
    fi
    if ! frameworks_node_ready && have npm; then
        say "installing ioredis and node-redis from frameworks/package-lock.json (CI=true)"
        mkdir -p "$NODE_FRAMEWORKS"
        cp "$FRAMEWORKS_DIR/package.json" "$FRAMEWORKS_DIR/package-lock.json" "$NODE_FRAMEWORKS/"
        # No package's install scripts run: these are plain JavaScript.
        if ! npm ci --prefix "$NODE_FRAMEWORKS" --cache "$REPO/target/npm-cache" \
            --ignore-scripts --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1; then
            tail -n 20 "$WORK/npm.log" >&2
            notice "npm ci could not install frameworks/package-lock.json"
            rm -f "$NODE_FRAMEWORKS/package-lock.json"
        fi
    fi
}

# frameworks_versions: one line naming what the checks run with.
frameworks_versions() {
    local python=none node=none
    if frameworks_python_ready; then
        python=$("$PYTHON" -c 'from importlib.metadata import version as v
print("Django", v("Django") + ", Flask-Caching", v("Flask-Caching"))' 2>/dev/null)
    fi
    if frameworks_node_ready; then
        # shellcheck disable=SC2016 # a JavaScript template string
        node=$(cd "$NODE_FRAMEWORKS" && node -p \
            '`ioredis ${require("ioredis/package.json").version}, node-redis ${require("redis/package.json").version}`' \
            2>/dev/null)
    fi
    say "  Python: ${python:-none}; Node.js: ${node:-none}"
}

# framework_check "PROGRAM CHECK": runs one check of one program against a
# server of its own.
framework_check() {
    local program=${1% *} name=${1#* } runner rc=0
    case $program in
    *.py) runner=("$PYTHON" -B) ;; # no __pycache__ in the source tree
    *.js) runner=(node) ;;
    esac
    if ! start_server frameworks; then
        stop_started
        return 1
    fi
    # Node finds the installed packages through NODE_PATH, since the
    # programs live here and the packages in target/.
    NODE_PATH=$NODE_FRAMEWORKS/node_modules expect_file_output \
        "$FRAMEWORKS_DIR/expected/${program%.*}.$name.txt" \
        "${runner[@]}" "${FRAMEWORKS_DIR#"$REPO"/}/$program" --port "${PORT[frameworks]}" "$name" \
        || rc=1
    stop_started
    return $rc
}

# framework_checks ID...: runs each check. A check whose runtime is
# missing is skipped (or, with CI=true, failed) with a NOTICE.
framework_checks() {
    local id
    for id in "$@"; do
        case $id in
        redis_py_features.py* | redis_py_pubsub.py*)
            if [ -z "$PYTHON" ]; then
                tool_missing "redis-py (the Python package redis, 5 or newer)" redis-py \
                    "frameworks: $id"
                continue
            fi
            ;;
        redis_py_caching.py*)
            # Client-side caching came with redis-py 5.1.
            if [ -z "$PYTHON" ] || ! "$PYTHON" -c 'import redis.cache' >/dev/null 2>&1; then
                tool_missing "redis-py 5.1 or newer (client-side caching)" redis-py \
                    "frameworks: $id"
                continue
            fi
            ;;
        *.py*)
            if ! frameworks_python_ready; then
                tool_missing "Django and Flask-Caching at the versions of frameworks/requirements.txt" \
                    "them with pip" "frameworks: $id"
                continue
            fi
            ;;
        *.js*)
            if ! frameworks_node_ready; then
                tool_missing "ioredis and node-redis in target/node-frameworks" \
                    "them with npm ci" "frameworks: $id"
                continue
            fi
            ;;
        esac
        check "frameworks: $id" framework_check "$id"
    done
}

group_frameworks() {
    frameworks_versions
    framework_checks "${FRAMEWORK_CHECKS[@]}"
}
