# shellcheck shell=bash
# Checks with redis-py, sourced by scripts/clients/run.sh: the cache client
# of redis_py_cache.py, once with redis-py's default protocol (RESP3 since
# redis-py 8) and once with protocol=2. Each run gets fresh servers, so the
# key counts it checks are exact.

REDIS_PY_CHECKS=(
    "redis-py cache client, default protocol"
    "redis-py cache client, protocol=2"
)

# redis_py_run [PROTOCOL]: starts a plain and a password-protected server
# and runs the cache client against them.
redis_py_run() {
    local protocol_args=() rc=0
    [ $# -eq 0 ] || protocol_args=(--protocol "$1")
    if ! start_server py-plain || ! start_server py-secured password; then
        stop_started
        return 1
    fi
    timeout "$CMD_TIMEOUT" "$PYTHON" "$CLIENTS_DIR/redis_py_cache.py" \
        --port "${PORT[py-plain]}" --auth-port "${PORT[py-secured]}" \
        --password-file "$WORK/password" "${protocol_args[@]}" || rc=1
    stop_started
    return $rc
}

group_redis_py() {
    if [ -z "$PYTHON" ]; then
        tool_missing "redis-py (the Python package redis, 5 or newer)" redis-py \
            "${REDIS_PY_CHECKS[@]}"
        return
    fi
    check "${REDIS_PY_CHECKS[0]}" redis_py_run
    check "${REDIS_PY_CHECKS[1]}" redis_py_run 2
}
