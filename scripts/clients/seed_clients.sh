# shellcheck shell=bash
# The README's clients in Bash, Node.js and Go (scripts/clients/seed_clients/),
# sourced by scripts/clients/run.sh: each file is run as it is against a
# real server and must print exactly what its comments say; and the README
# must show each file whole, so what readers copy is what was run.

SEED_CLIENT_CHECKS=(
    "seed clients: the README shows blink.sh, blink.js and blink.go whole"
    "seed clients: Bash (/dev/tcp, no nc)"
    "seed clients: Node.js (net, no packages)"
    "seed clients: Go (net, standard library only)"
)
SEED_DIR=$CLIENTS_DIR/seed_clients
# What every seed client prints, the same five replies in each language.
SEED_OUTPUT='OK
hello world
USAGE 19
NOT_FOUND
OK'

# The README holds each file's text, from its first line to its last.
readme_shows_clients() {
    local readme file text rc=0
    readme=$(<"$REPO/README.md")
    for file in blink.sh blink.js blink.go; do
        text=$(<"$SEED_DIR/$file")
        if [[ $readme == *"$text"* ]]; then
            say "  ok: README.md shows seed_clients/$file whole"
        else
            say "  MISMATCH: README.md does not show scripts/clients/seed_clients/$file as it is"
            rc=1
        fi
    done
    return $rc
}

# seed_client NAME CMD...: runs one client against the server started for
# the group.
seed_client() {
    BLINK_HOST=127.0.0.1 BLINK_PORT=${PORT[seed]} expect_output "$SEED_OUTPUT" "$@"
}

group_seed_clients() {
    check "${SEED_CLIENT_CHECKS[0]}" readme_shows_clients
    if ! start_server seed; then
        fail_checks "the server did not start" "${SEED_CLIENT_CHECKS[@]:1}"
        return
    fi
    check "${SEED_CLIENT_CHECKS[1]}" seed_client bash "$SEED_DIR/blink.sh"
    if have node; then
        check "${SEED_CLIENT_CHECKS[2]}" seed_client node "$SEED_DIR/blink.js"
    else
        tool_missing node nodejs "${SEED_CLIENT_CHECKS[2]}"
    fi
    if have go; then
        # The build cache stays in target/, beside Cargo's.
        GOCACHE=$REPO/target/go-build check "${SEED_CLIENT_CHECKS[3]}" \
            seed_client go run "$SEED_DIR/blink.go"
    else
        tool_missing go golang-go "${SEED_CLIENT_CHECKS[3]}"
    fi
    stop_started
}
