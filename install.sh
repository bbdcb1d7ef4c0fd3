#!/usr/bin/env bash
# Installs Blink-Store. It knows where it runs:
#
#   - in a binary tarball (blink-store next to this script): checks the
#     binary against SHA256SUMS and copies it to PREFIX/bin;
#   - in the source tarball (vendor/ next to this script): builds with
#     `cargo build --offline --locked --release` from the vendored crates;
#   - in a git checkout: builds with cargo, fetching crates as needed.
#
#   ./install.sh                        # tarball: /usr/local as root, ~/.local otherwise
#                                       # checkout: ./bin/blink-store
#   ./install.sh --prefix /opt/blink    # installs /opt/blink/bin/blink-store
#   ./install.sh --systemd              # also the systemd unit, its drop-in and a password
#   ./install.sh --uninstall            # removes what an install to PREFIX put there
#
# Run from a tarball, it never reaches the network. The build is a static
# binary (x86_64-unknown-linux-musl) when that Rust target is installed
# (`rustup target add x86_64-unknown-linux-musl`), otherwise a host binary;
# the script says which. Every step prints one line. What an install wrote
# is listed in PREFIX/share/blink-store/install-manifest, which --uninstall
# reads.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: ./install.sh [--prefix DIR] [--systemd [--unit-dir DIR] [--config-dir DIR]] [--uninstall]
  --prefix DIR      install DIR/bin/blink-store (default: the checkout itself in
                    a git checkout; from a tarball /usr/local as root, ~/.local
                    otherwise)
  --systemd         also install blink-store.service and its memory drop-in
  --unit-dir DIR    where the unit goes (default /etc/systemd/system)
  --config-dir DIR  where the service's password file goes (default /etc/blink-store)
  --uninstall       remove every file the install to PREFIX recorded
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
die() {
    printf 'install.sh: %s\n' "$*" >&2
    exit 1
}

prefix=
systemd=false
uninstall=false
unit_dir=/etc/systemd/system
config_dir=/etc/blink-store
while [ $# -gt 0 ]; do
    case "$1" in
    --prefix | --unit-dir | --config-dir)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        case "$1" in
        --prefix) prefix=$2 ;;
        --unit-dir) unit_dir=$2 ;;
        --config-dir) config_dir=$2 ;;
        esac
        shift 2
        ;;
    --prefix=*) prefix=${1#--prefix=} && shift ;;
    --unit-dir=*) unit_dir=${1#--unit-dir=} && shift ;;
    --config-dir=*) config_dir=${1#--config-dir=} && shift ;;
    --systemd) systemd=true && shift ;;
    --uninstall) uninstall=true && shift ;;
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

# Paths given on the command line are the caller's, so they are made
# absolute before the script moves to its own directory.
[ -z "$prefix" ] || prefix=$(realpath -m -- "$prefix")
unit_dir=$(realpath -m -- "$unit_dir")
config_dir=$(realpath -m -- "$config_dir")
cd "$(dirname "$0")"
here=$(pwd)

# Where this script runs decides how it gets a binary.
if [ -f blink-store ]; then
    mode=binary
elif [ -d vendor ] && [ -f .cargo/config.toml ] && [ -f Cargo.toml ]; then
    mode=source
elif [ -f Cargo.toml ]; then
    mode=checkout
else
    die "found neither a blink-store binary, nor vendor/, nor Cargo.toml next to this script"
fi

if [ -z "$prefix" ]; then
    if [ "$mode" = checkout ]; then
        prefix=$here
    elif [ "$(id -u)" -eq 0 ]; then
        prefix=/usr/local
    else
        prefix=${HOME:?HOME is not set}/.local
    fi
fi
manifest=$prefix/share/blink-store/install-manifest

systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

if [ "$uninstall" = true ]; then
    [ -f "$manifest" ] || die "nothing to uninstall: $manifest does not exist"
    mapfile -t paths <"$manifest"
    unit=
    for path in "${paths[@]}"; do
        case $path in */blink-store.service) unit=$path ;; esac
    done
    if [ -n "$unit" ] && systemd_running \
        && { systemctl is-enabled --quiet blink-store.service || systemctl is-active --quiet blink-store.service; } 2>/dev/null; then
        systemctl disable --now blink-store.service
        say "stopped and disabled blink-store.service"
    fi
    for path in "${paths[@]}" "$manifest"; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            rm -f -- "$path"
            say "removed $path"
        else
            say "already gone: $path"
        fi
        # The directories named after Blink-Store go too once they are empty.
        case $(dirname "$path") in
        *blink-store*) rmdir -- "$(dirname "$path")" 2>/dev/null || true ;;
        esac
    done
    if [ -n "$unit" ] && systemd_running; then
        systemctl daemon-reload
        say "reloaded systemd"
    fi
    exit 0
fi

# What --systemd needs is checked before anything is installed.
if [ "$systemd" = true ]; then
    case "$prefix/" in
    /home/* | /root/* | /run/user/* | "${HOME:-/home}"/*)
        die "the unit runs with ProtectHome=yes and cannot start a binary under $prefix; use --prefix /usr/local"
        ;;
    esac
    for dir in "$unit_dir" "$config_dir"; do
        # The nearest directory that exists decides whether it can be made.
        parent=$dir
        while [ ! -e "$parent" ]; do parent=$(dirname "$parent"); done
        if [ ! -d "$parent" ] || [ ! -w "$parent" ]; then
            die "cannot write to $dir: run as root, or choose another with --unit-dir or --config-dir"
        fi
    done
fi

# build [CARGO_FLAG...]: builds the release binary with cargo and sets
# `built` to its path.
build() {
    command -v cargo >/dev/null || die "cargo not found; install a Rust toolchain first"
    local musl=x86_64-unknown-linux-musl sysroot target_dir
    sysroot=$(rustc --print sysroot)
    target_dir=${CARGO_TARGET_DIR:-target}
    if [ "$(uname -m)" = x86_64 ] && [ -d "$sysroot/lib/rustlib/$musl" ]; then
        say "building a static binary for $musl"
        cargo build "$@" --release --locked --target "$musl"
        built=$target_dir/$musl/release/blink-store
    else
        say "the $musl target is not installed; building for the host target"
        say "(for a static binary: rustup target add $musl)"
        cargo build "$@" --release --locked
        built=$target_dir/release/blink-store
    fi
}

case $mode in
binary)
    say "installing the binary of this tarball ($here)"
    if [ -f SHA256SUMS ]; then
        grep -q ' blink-store$' SHA256SUMS || die "SHA256SUMS does not list blink-store"
        sha256sum --check --strict --quiet SHA256SUMS >&2 \
            || die "the files do not match SHA256SUMS; refusing to install"
        say "checked every file against SHA256SUMS"
    else
        say "no SHA256SUMS here; installing the binary unchecked"
    fi
    built=blink-store
    ;;
source)
    say "building from the vendored sources, offline ($here)"
    build --offline
    ;;
checkout)
    build
    ;;
esac

installed=()
# put MODE SOURCE DEST: installs one file and records it in the manifest.
put() {
    install -D -m "$1" "$2" "$3"
    installed+=("$3")
}

put 755 "$built" "$prefix/bin/blink-store"
say "installed $prefix/bin/blink-store ($(wc -c <"$built") bytes)"
if [ "$mode" != checkout ]; then
    for doc in README.md LICENSE; do
        put 644 "$doc" "$prefix/share/doc/blink-store/$doc"
        say "installed $prefix/share/doc/blink-store/$doc"
    done
fi

if [ "$systemd" = true ]; then
    unit=$unit_dir/blink-store.service
    mkdir -p "$unit_dir"
    sed -e "s#^ExecStart=/usr/local/bin/blink-store #ExecStart=$prefix/bin/blink-store #" \
        -e "s#^LoadCredential=password:/etc/blink-store/password\$#LoadCredential=password:$config_dir/password#" \
        scripts/systemd/blink-store.service >"$unit.tmp"
    if ! grep -q "^ExecStart=$prefix/bin/blink-store " "$unit.tmp" \
        || ! grep -q "^LoadCredential=password:$config_dir/password\$" "$unit.tmp"; then
        rm -f "$unit.tmp"
        die "scripts/systemd/blink-store.service lacks the ExecStart or LoadCredential line to adapt"
    fi
    put 644 "$unit.tmp" "$unit"
    rm -f "$unit.tmp"
    say "installed $unit (ExecStart=$prefix/bin/blink-store)"
    dropin=scripts/systemd/blink-store.service.d/memory.conf
    put 644 "$dropin" "$unit_dir/blink-store.service.d/memory.conf"
    say "installed $unit_dir/blink-store.service.d/memory.conf" \
        "(memory limit $(sed -n 's/^Environment=BLINK_MEMORY_LIMIT=//p' "$dropin"))"
    if [ -e "$config_dir/password" ]; then
        say "kept the existing password in $config_dir/password"
    else
        mkdir -p "$config_dir"
        (
            umask 077
            head -c 18 /dev/urandom | base64 >"$config_dir/password"
        )
        installed+=("$config_dir/password")
        say "wrote a random password to $config_dir/password (mode 0600)"
    fi
    if [ "$unit_dir" = /etc/systemd/system ] && systemd_running; then
        systemctl daemon-reload
        say "reloaded systemd; start it with: systemctl enable --now blink-store"
    else
        say "start it with: systemctl daemon-reload && systemctl enable --now blink-store"
    fi
fi

# An earlier install's manifest is merged so that --uninstall still finds
# everything either one wrote.
mkdir -p "$(dirname "$manifest")"
{
    [ ! -f "$manifest" ] || cat "$manifest"
    printf '%s\n' "${installed[@]}"
} | sort -u >"$manifest.tmp"
mv "$manifest.tmp" "$manifest"
say "recorded what was installed in $manifest"
