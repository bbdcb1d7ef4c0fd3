#!/usr/bin/env bash
# Builds the release tarballs of Blink-Store into dist/:
#
#   blink-store-V-x86_64-linux-musl.tar.gz    static binaries, each with
#   blink-store-V-aarch64-linux-musl.tar.gz   install.sh, README.md, LICENSE,
#                                             the systemd unit and its
#                                             drop-in, the twemproxy example
#                                             and their SHA256SUMS
#   blink-store-V-src.tar.gz                  the git-tracked sources with
#                                             every crate vendored, which
#                                             build with `cargo build
#                                             --offline --locked`
#   SHA256SUMS                                over the three
#
#   scripts/package.sh [--version V] [--out DIR]
#
# V defaults to Cargo.toml's version, DIR to dist/. Both binaries are built
# on this machine: aarch64 is cross-linked with the rust-lld that ships with
# the Rust toolchain (Rust's musl targets carry their own C library), or
# with Debian's aarch64-linux-gnu-gcc when rust-lld is missing. Needs
# `rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl`.
#
# The tarballs are reproducible: every entry has the last commit's time
# (or SOURCE_DATE_EPOCH), owner and group 0, normalised modes, and the
# entries are sorted; gzip stores no name or time. Two runs on one tree
# give byte-identical files.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

say() { printf 'package.sh: %s\n' "$*"; }
die() {
    printf 'package.sh: %s\n' "$*" >&2
    exit 1
}
usage() { echo "usage: scripts/package.sh [--version V] [--out DIR]"; }

version=
out=dist
while [ $# -gt 0 ]; do
    case "$1" in
    --version | --out)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        if [ "$1" = --version ]; then version=$2; else out=$2; fi
        shift 2
        ;;
    --version=*) version=${1#--version=} && shift ;;
    --out=*) out=${1#--out=} && shift ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "package.sh: unknown argument '$1'" >&2
        usage >&2
        exit 2
        ;;
    esac
done

if [ -z "$version" ]; then
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
    [ -n "$version" ] || die "no version = \"...\" line in Cargo.toml"
fi
case $version in
*/* | *[[:space:]]* | '') die "the version '$version' cannot be part of a file name" ;;
esac

for tool in cargo rustc git tar gzip sha256sum; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
git rev-parse --git-dir >/dev/null 2>&1 || die "not a git checkout: the source tarball is the git-tracked files"
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    say "note: the working tree has uncommitted changes, and the tarballs carry them"
fi

sysroot=$(rustc --print sysroot)
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    [ -d "$sysroot/lib/rustlib/$target" ] \
        || die "the Rust target $target is not installed: rustup target add $target"
done

# The linker for aarch64, unless the caller chose one.
aarch64_linker=CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER
if [ -z "${!aarch64_linker:-}" ]; then
    host=$(rustc -vV | sed -n 's/^host: //p')
    lld=$sysroot/lib/rustlib/$host/bin/rust-lld
    if [ -x "$lld" ]; then
        export "$aarch64_linker=$lld"
    elif command -v aarch64-linux-gnu-gcc >/dev/null; then
        export "$aarch64_linker=aarch64-linux-gnu-gcc"
    else
        die "no linker for aarch64: neither $lld nor aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu)"
    fi
fi

target_dir=${CARGO_TARGET_DIR:-$repo/target}
stage=$target_dir/package-stage
rm -rf "$stage"
mkdir -p "$stage" "$out"
# Messages name the directory as it was given; the work uses its full path.
shown=$out
out=$(cd "$out" && pwd)

# The tar options that make an archive depend only on its files' contents.
tar_reproducibly() {
    local dir=$1 name=$2
    (
        cd "$stage"
        tar --create --format=gnu --sort=name --mtime="@$epoch" \
            --owner=0 --group=0 --numeric-owner \
            --mode='u+rwX,go+rX,go-w' "$name"
    ) | gzip -n -9 >"$dir/$name.tar.gz"
}

# The MIT licence that Cargo.toml declares, written into each tarball
# rather than kept at the top of the repository.
write_license() {
    cat >"$1" <<EOF
MIT License

Copyright (c) $(date -u -d "@$epoch" +%Y) the Blink-Store authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
EOF
}

# The files that go beside the binary, at the paths they have in the
# repository, so install.sh and the README find them in both places.
BINARY_TARBALL_FILES=(
    install.sh
    README.md
    scripts/nutcracker.yml
    scripts/systemd/blink-store.service
    scripts/systemd/blink-store.service.d/memory.conf
)

for arch in x86_64 aarch64; do
    target=$arch-unknown-linux-musl
    say "building $target: cargo build --release --locked --target $target"
    cargo build --release --locked --target "$target" --quiet
    binary=$target_dir/$target/release/blink-store
    if LC_ALL=C readelf -l "$binary" 2>/dev/null | grep -q INTERP; then
        die "$binary is dynamically linked"
    fi

    name=blink-store-$version-$arch-linux-musl
    dir=$stage/$name
    mkdir -p "$dir"
    install -m 755 "$binary" "$dir/blink-store"
    for file in "${BINARY_TARBALL_FILES[@]}"; do
        install -D -m 644 "$file" "$dir/$file"
    done
    chmod 755 "$dir/install.sh"
    write_license "$dir/LICENSE"
    sums=$(cd "$dir" && find . -type f | sed 's#^\./##' | LC_ALL=C sort | xargs sha256sum)
    printf '%s\n' "$sums" >"$dir/SHA256SUMS"
    tar_reproducibly "$out" "$name"
    say "wrote $shown/$name.tar.gz ($(wc -c <"$binary") bytes of binary)"
done

name=blink-store-$version-src
dir=$stage/$name
say "staging the git-tracked sources"
mkdir -p "$dir"
git ls-files -z | while IFS= read -r -d '' file; do
    if [ -f "$file" ]; then
        mode=644
        [ ! -x "$file" ] || mode=755
        install -D -m "$mode" "$file" "$dir/$file"
    fi
done
write_license "$dir/LICENSE"
say "vendoring the dependencies: cargo vendor --locked"
mkdir -p "$dir/.cargo"
# cargo vendor prints the configuration that uses what it wrote.
(cd "$dir" && cargo vendor --locked vendor 2>"$stage/vendor.log" >.cargo/config.toml) \
    || die "cargo vendor failed: $(tail -n 5 "$stage/vendor.log")"
grep -q '^directory = "vendor"$' "$dir/.cargo/config.toml" \
    || die "cargo vendor printed an unexpected configuration: $(cat "$dir/.cargo/config.toml")"
tar_reproducibly "$out" "$name"
say "wrote $shown/$name.tar.gz ($(find "$dir/vendor" -mindepth 1 -maxdepth 1 | wc -l) vendored crates)"

(
    cd "$out"
    sha256sum "blink-store-$version-x86_64-linux-musl.tar.gz" \
        "blink-store-$version-aarch64-linux-musl.tar.gz" \
        "blink-store-$version-src.tar.gz" >SHA256SUMS
)
say "wrote $shown/SHA256SUMS"
rm -rf "$stage"
