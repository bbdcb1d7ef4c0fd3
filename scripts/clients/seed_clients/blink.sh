#!/usr/bin/env bash
# A Blink-Store client in Bash alone: /dev/tcp, no nc.
# Run: bash blink.sh   (BLINK_HOST and BLINK_PORT pick the server)
set -euo pipefail

host=${BLINK_HOST:-127.0.0.1}
port=${BLINK_PORT:-8765}

# blink COMMAND: sends one request on its own connection and prints the
# reply, with a value decoded from base64.
blink() {
    local reply
    exec 3<>"/dev/tcp/$host/$port"
    printf '%s\n' "$1" >&3
    IFS= read -r reply <&3
    exec 3<&-
    case $reply in
    "VALUE "*) printf '%s\n' "${reply#VALUE }" | base64 -d && echo ;;
    *) printf '%s\n' "$reply" ;;
    esac
}

blink "SET greeting hello world"   # OK
blink "GET greeting"               # hello world
blink "USAGE"                      # USAGE 19
blink "GET nosuch"                 # NOT_FOUND
blink "DELETE greeting"            # OK
