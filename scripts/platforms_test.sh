#!/usr/bin/env bash
# The "other platforms" stage of scripts/test.sh: `cargo check --locked` of
# the library and the binary for the platforms Blink-Store builds on but
# this machine cannot run: macOS on x86_64 and on Apple silicon, and
# Windows (x86_64-pc-windows-gnu), where the Unix-socket listener, socket
# permissions and the stale-socket logic are compiled out and `--unix` is a
# usage error.
#
# Checking needs only each target's standard library, which rustup adds
# (`rustup target add TARGET`): with CI=true a missing one is added, and a
# target that still is not there fails its check; otherwise its check is
# skipped with a NOTICE. Ends with "N passed, N failed, N skipped" and
# exits non-zero when a check failed.
set -uo pipefail

SCRIPTS=$(cd "$(dirname "$0")" && pwd)
cd "$(dirname "$SCRIPTS")" || exit 1
exec </dev/null

# shellcheck source=scripts/clients/lib.sh
source "$SCRIPTS/clients/lib.sh"

# Bound on one check, in seconds: from nothing, a check compiles the
# dependencies for the target too, about 20 s on 2 CPUs.
CMD_TIMEOUT=600

TARGETS=(x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-gnu)

# A directory of its own, so the checks never invalidate the host build.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}/platform-check

installed() { rustup target list --installed 2>/dev/null | grep -qx "$1"; }

# check_target TARGET: cargo check passes for TARGET.
check_target() {
    run_cmd cargo check --locked --target "$1"
    [ "$RC" -eq 0 ] && return 0
    say "  cargo check exited with status $RC:"
    tail -n 30 "$WORK/err" | sed 's/^/      | /'
    return 1
}

missing=()
for target in "${TARGETS[@]}"; do
    installed "$target" || missing+=("$target")
done
if [ ${#missing[@]} -gt 0 ] && in_ci && have rustup; then
    say "adding the Rust targets ${missing[*]} (CI=true)"
    rustup target add "${missing[@]}" >"$WORK/rustup.log" 2>&1 \
        || { tail -n 5 "$WORK/rustup.log" >&2; notice "rustup could not add ${missing[*]}"; }
fi

for target in "${TARGETS[@]}"; do
    name="cargo check --locked --target $target"
    if installed "$target"; then
        check "$name" check_target "$target"
    else
        tool_missing "the Rust target $target" "" "$name"
    fi
done

say ""
say "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
