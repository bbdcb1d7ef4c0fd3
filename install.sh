#!/usr/bin/env bash
# Builds the Blink-Store release binary and installs it to PREFIX/bin.
#
#   ./install.sh                  # installs ./bin/blink-store
#   ./install.sh --prefix /usr/local
#
# The binary is static (x86_64-unknown-linux-musl) when that Rust target is
# installed (`rustup target add x86_64-unknown-linux-musl`), otherwise it is
# built for the host target. The script says which.
set -euo pipefail

usage() {
    echo "usage: ./install.sh [--prefix DIR]   (installs DIR/bin/blink-store; DIR defaults to .)"
}

prefix=.
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix)
            [ $# -ge 2 ] || { usage >&2; exit 2; }
            prefix=$2
            shift 2
            ;;
        --prefix=*)
            prefix=${1#--prefix=}
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "install.sh: unknown argument '$1'" >&2
            usage >&2
            exit 2
            ;;
    esac
done

cd "$(dirname "$0")"
command -v cargo >/dev/null || {
    echo "install.sh: cargo not found; install a Rust toolchain first" >&2
    exit 1
}

musl=x86_64-unknown-linux-musl
sysroot=$(rustc --print sysroot)
if [ "$(uname -m)" = x86_64 ] && [ -d "$sysroot/lib/rustlib/$musl" ]; then
    echo "install.sh: building a static binary for $musl"
    cargo build --release --locked --target "$musl"
    built=target/$musl/release/blink-store
else
    echo "install.sh: the $musl target is not installed; building for the host target"
    echo "install.sh: (for a static binary: rustup target add $musl)"
    cargo build --release --locked
    built=target/release/blink-store
fi

mkdir -p "$prefix/bin"
install -m 755 "$built" "$prefix/bin/blink-store"
echo "install.sh: installed $prefix/bin/blink-store ($(wc -c <"$built") bytes)"
