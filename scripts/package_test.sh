#!/usr/bin/env bash
# The "packaging" stage of scripts/test.sh: builds the release tarballs with
# scripts/package.sh and installs and runs what they hold the way a user
# would, with scripts/transcript.sh checking the replies byte for byte.
#
#   - package.sh twice: the same bytes both times, SHA256SUMS that verify,
#     the tarballs' exact listings, static binaries for the right machines;
#   - the x86_64 tarball: install.sh inside `unshare -n` (a network
#     namespace with only loopback) to a temporary prefix, then the
#     transcript; a tampered binary refused; --systemd, systemd-analyze
#     verify, --uninstall;
#   - the source tarball: built inside `unshare -n` with an empty
#     CARGO_HOME, then the transcript;
#   - the aarch64 binary: the transcript under qemu-aarch64-static;
#   - a git checkout: install.sh builds and installs, then the transcript.
#
# Tools used: the Rust targets x86_64- and aarch64-unknown-linux-musl
# (rustup), qemu-aarch64-static (Debian's qemu-user-static), systemd-analyze
# (Debian's systemd), unshare and ip. With CI=true the missing ones are
# installed; otherwise their checks are skipped with a NOTICE. Where
# `unshare -n` is not permitted, the checks that need it say so and are
# skipped, never passed. Ends with "N passed, N failed, N skipped" and
# exits non-zero when a check failed.
set -uo pipefail

SCRIPTS=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$SCRIPTS")
cd "$REPO" || exit 1
exec </dev/null

# shellcheck source=scripts/clients/lib.sh
source "$SCRIPTS/clients/lib.sh"

# Bounds, in seconds: on any command run_cmd runs, the slowest being
# package.sh (two release builds, about 20 s each from scratch on 2 CPUs)
# and the source tarball's build from nothing; and on one transcript,
# which takes well under a second.
CMD_TIMEOUT=900
TRANSCRIPT_TIMEOUT=120

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
X86=blink-store-$VERSION-x86_64-linux-musl
ARM=blink-store-$VERSION-aarch64-linux-musl
SRC=blink-store-$VERSION-src
DIST=$WORK/dist

C_PACKAGE="package.sh writes the three tarballs and SHA256SUMS, which verify"
C_AGAIN="package.sh run twice gives byte-identical files"
C_LISTING="binary tarballs: exact listing, root-owned, static binaries for x86_64 and aarch64"
C_SOURCE_LISTING="source tarball: the git-tracked files, LICENSE, .cargo/config.toml and every locked crate in vendor/"
C_INSTALL="x86_64 tarball: install.sh offline (unshare -n) to a prefix, then the transcript"
C_TAMPERED="x86_64 tarball: install.sh refuses a binary that does not match SHA256SUMS"
C_HOME="x86_64 tarball: install.sh --systemd refuses a prefix under a home directory, installing nothing"
C_SYSTEMD="x86_64 tarball: install.sh --systemd installs the unit, its drop-in and a password"
C_VERIFY="systemd-analyze verify accepts the installed unit and drop-in"
C_UNINSTALL="install.sh --uninstall removes every file the install wrote"
C_SOURCE="source tarball: offline build (unshare -n, empty CARGO_HOME), then the transcript"
C_QEMU="aarch64 binary: the transcript under qemu-aarch64-static"
C_CHECKOUT="git checkout: install.sh builds and installs to a prefix, then the transcript"
PACKAGE_CHECKS=("$C_PACKAGE" "$C_AGAIN" "$C_LISTING" "$C_SOURCE_LISTING")
UNSHARE_CHECKS=("$C_INSTALL" "$C_SOURCE")
SYSTEMD_CHECKS=("$C_SYSTEMD" "$C_VERIFY" "$C_UNINSTALL")

# Runs the command after it in a new network namespace that has only the
# loopback interface, up.
IN_NETNS=(unshare -n -- bash -c 'ip link set lo up && exec "$@"' in_netns)

# transcript [--runner CMD] BINARY: scripts/transcript.sh, bounded.
transcript() {
    timeout "$TRANSCRIPT_TIMEOUT" "$SCRIPTS/transcript.sh" "$@"
}

# transcript_offline BINARY: the same inside a network namespace.
transcript_offline() {
    timeout "$TRANSCRIPT_TIMEOUT" "${IN_NETNS[@]}" "$SCRIPTS/transcript.sh" "$@"
}

package_twice() {
    local rc=0
    run_cmd scripts/package.sh --out "$DIST"
    sed 's/^/    | /' "$WORK/out" "$WORK/err"
    expect_status "scripts/package.sh --out $DIST" 0 || return 1
    printf '%s\n' SHA256SUMS "$ARM.tar.gz" "$SRC.tar.gz" "$X86.tar.gz" >"$WORK/dist.expected"
    (cd "$DIST" && LC_ALL=C ls -A) >"$WORK/dist.got"
    compare "the files in dist" "$WORK/dist.expected" "$WORK/dist.got" || rc=1
    printf '%s: OK\n' "$X86.tar.gz" "$ARM.tar.gz" "$SRC.tar.gz" >"$WORK/sums.expected"
    (cd "$DIST" && sha256sum -c SHA256SUMS) >"$WORK/sums.got" 2>&1
    compare "sha256sum -c SHA256SUMS" "$WORK/sums.expected" "$WORK/sums.got" || rc=1
    return $rc
}

same_again() {
    local rc=0 file
    run_cmd scripts/package.sh --out "$WORK/dist2"
    expect_status "scripts/package.sh --out $WORK/dist2" 0 || return 1
    for file in SHA256SUMS "$X86.tar.gz" "$ARM.tar.gz" "$SRC.tar.gz"; do
        if cmp "$DIST/$file" "$WORK/dist2/$file"; then
            say "  ok: $file is byte-identical"
        else
            say "  MISMATCH: $file differs between two runs"
            rc=1
        fi
    done
    return $rc
}

# listing TARBALL: its entries as `tar -tv` shows them, without sizes.
listing() {
    TZ=UTC tar -tvzf "$1" | awk '{ print $1, $2, $4, $5, $6 }'
}

binary_listings() {
    local rc=0 name machine when mode file elf
    # The time package.sh gives every entry.
    when=$(TZ=UTC date -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}" '+%Y-%m-%d %H:%M')
    for name in "$X86" "$ARM"; do
        for file in / LICENSE README.md SHA256SUMS blink-store install.sh scripts/ \
            scripts/nutcracker.yml scripts/systemd/ scripts/systemd/blink-store.service \
            scripts/systemd/blink-store.service.d/ \
            scripts/systemd/blink-store.service.d/memory.conf; do
            case $file in
            */) mode=drwxr-xr-x ;;
            blink-store | install.sh) mode=-rwxr-xr-x ;;
            *) mode=-rw-r--r-- ;;
            esac
            echo "$mode 0/0 $when $name/${file#/}"
        done >"$WORK/listing.expected"
        listing "$DIST/$name.tar.gz" >"$WORK/listing.got"
        compare "tar -tvzf $name.tar.gz" "$WORK/listing.expected" "$WORK/listing.got" || rc=1

        tar -xzf "$DIST/$name.tar.gz" -C "$WORK"
        run_cmd bash -c "cd '$WORK/$name' && sha256sum --strict -c SHA256SUMS"
        expect_status "sha256sum -c in $name" 0 || rc=1
        case $name in
        "$X86") machine='Advanced Micro Devices X86-64' ;;
        *) machine=AArch64 ;;
        esac
        # Whole outputs first: grep -q may stop reading before readelf ends.
        elf=$(LC_ALL=C readelf -h -l -S "$WORK/$name/blink-store" 2>&1)
        if grep -qE "^ +Machine: +$machine\$" <<<"$elf" && ! grep -q INTERP <<<"$elf" \
            && ! grep -qE ' \.(symtab|debug_)' <<<"$elf"; then
            say "  ok: $name/blink-store is a stripped static $machine executable"
        else
            say "  MISMATCH: $name/blink-store is not a stripped static $machine executable:"
            file "$WORK/$name/blink-store" 2>&1 | sed 's/^/      | /'
            rc=1
        fi
    done
    return $rc
}

source_listing() {
    local rc=0
    {
        git ls-files
        printf '%s\n' LICENSE .cargo/config.toml
    } | LC_ALL=C sort >"$WORK/src.expected"
    tar -tzf "$DIST/$SRC.tar.gz" | sed "s#^$SRC/##" | grep -v -e '/$' -e '^$' -e '^vendor/' \
        | LC_ALL=C sort >"$WORK/src.got"
    compare "the files of $SRC.tar.gz outside vendor/" "$WORK/src.expected" "$WORK/src.got" || rc=1
    sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.lock | grep -vx blink-store \
        | LC_ALL=C sort >"$WORK/crates.expected"
    tar -tzf "$DIST/$SRC.tar.gz" | sed -n "s#^$SRC/vendor/\([^/]*\)/\$#\1#p" \
        | LC_ALL=C sort >"$WORK/crates.got"
    compare "the crates in vendor/ are Cargo.lock's" "$WORK/crates.expected" "$WORK/crates.got" || rc=1
    return $rc
}

install_offline() {
    local dir=$WORK/install-x86 rc=0
    mkdir -p "$dir" && tar -xzf "$DIST/$X86.tar.gz" -C "$dir"
    run_cmd "${IN_NETNS[@]}" "$dir/$X86/install.sh" --prefix "$WORK/prefix-x86"
    sed 's/^/    | /' "$WORK/out"
    expect_status "unshare -n install.sh --prefix $WORK/prefix-x86" 0 || return 1
    cat >"$WORK/manifest.expected" <<EOF
$WORK/prefix-x86/bin/blink-store
$WORK/prefix-x86/share/doc/blink-store/LICENSE
$WORK/prefix-x86/share/doc/blink-store/README.md
EOF
    compare "the install manifest" "$WORK/manifest.expected" \
        "$WORK/prefix-x86/share/blink-store/install-manifest" || rc=1
    if cmp -s "$dir/$X86/blink-store" "$WORK/prefix-x86/bin/blink-store"; then
        say "  ok: the installed binary is the tarball's"
    else
        say "  MISMATCH: the installed binary differs from the tarball's"
        rc=1
    fi
    transcript_offline "$WORK/prefix-x86/bin/blink-store" || rc=1
    return $rc
}

refuse_tampered() {
    local dir=$WORK/tampered
    mkdir -p "$dir" && tar -xzf "$DIST/$X86.tar.gz" -C "$dir"
    printf 'x' >>"$dir/$X86/blink-store"
    run_cmd "$dir/$X86/install.sh" --prefix "$WORK/prefix-tampered"
    expect_status "install.sh with a changed binary" 1 || return 1
    if grep -qx 'install.sh: the files do not match SHA256SUMS; refusing to install' "$WORK/err" \
        && [ ! -e "$WORK/prefix-tampered/bin/blink-store" ]; then
        say "  ok: refused, with nothing installed"
        return 0
    fi
    say "  MISMATCH: not refused as expected; stderr:"
    sed 's/^/      | /' "$WORK/err"
    return 1
}

# The unit cannot reach a binary under /home (ProtectHome=yes), so
# install.sh refuses before it writes anything.
refuse_home() {
    local home=$WORK/home
    run_cmd env HOME="$home" "$WORK/install-x86/$X86/install.sh" --prefix "$home/.local" \
        --systemd --unit-dir "$WORK/units-home" --config-dir "$WORK/etc-home"
    expect_status "install.sh --prefix \$HOME/.local --systemd" 1 || return 1
    printf '%s\n' "install.sh: the unit runs with ProtectHome=yes and cannot start a binary under $home/.local; use --prefix /usr/local" >"$WORK/home.expected"
    cp "$WORK/err" "$WORK/home.got"
    compare "its message" "$WORK/home.expected" "$WORK/home.got" || return 1
    if [ -e "$home" ] || [ -e "$WORK/units-home" ] || [ -e "$WORK/etc-home" ]; then
        say "  MISMATCH: it created $(ls -d "$home" "$WORK/units-home" "$WORK/etc-home" 2>/dev/null)"
        return 1
    fi
    say "  ok: nothing was created"
}

UNITS=$WORK/units
CONFIG=$WORK/etc-blink-store
SYSTEMD_PREFIX=$WORK/prefix-systemd

install_systemd() {
    local rc=0 mode
    run_cmd "$WORK/install-x86/$X86/install.sh" --prefix "$SYSTEMD_PREFIX" --systemd \
        --unit-dir "$UNITS" --config-dir "$CONFIG"
    sed 's/^/    | /' "$WORK/out"
    expect_status "install.sh --systemd --unit-dir $UNITS --config-dir $CONFIG" 0 || return 1
    cat >"$WORK/manifest.expected" <<EOF
$SYSTEMD_PREFIX/bin/blink-store
$SYSTEMD_PREFIX/share/doc/blink-store/LICENSE
$SYSTEMD_PREFIX/share/doc/blink-store/README.md
$CONFIG/password
$UNITS/blink-store.service
$UNITS/blink-store.service.d/memory.conf
EOF
    LC_ALL=C sort -o "$WORK/manifest.expected" "$WORK/manifest.expected"
    LC_ALL=C sort "$SYSTEMD_PREFIX/share/blink-store/install-manifest" >"$WORK/manifest.got"
    compare "the install manifest" "$WORK/manifest.expected" "$WORK/manifest.got" || rc=1
    grep -E '^(ExecStart|LoadCredential)=' "$UNITS/blink-store.service" >"$WORK/unit.got"
    cat >"$WORK/unit.expected" <<EOF
LoadCredential=password:$CONFIG/password
ExecStart=$SYSTEMD_PREFIX/bin/blink-store serve --tcp 127.0.0.1:8765 --unix %t/blink-store/blink-store.sock --unix-perm 0666 --password-file %d/password --memory-limit \${BLINK_MEMORY_LIMIT}
EOF
    compare "the unit's ExecStart and LoadCredential" "$WORK/unit.expected" "$WORK/unit.got" || rc=1
    compare "the drop-in is the shipped one" scripts/systemd/blink-store.service.d/memory.conf \
        "$UNITS/blink-store.service.d/memory.conf" || rc=1
    mode=$(stat -c %a "$CONFIG/password")
    if [ "$mode" = 600 ] && grep -qE '^[A-Za-z0-9+/]{24}$' "$CONFIG/password"; then
        say "  ok: a random 24-character password, mode 0600"
    else
        say "  MISMATCH: the password file has mode $mode and $(wc -c <"$CONFIG/password") bytes"
        rc=1
    fi
    return $rc
}

verify_unit() {
    run_cmd systemd-analyze verify "$UNITS/blink-store.service"
    # Unknown or malformed settings are warnings with status 0: any output
    # at all fails the check.
    if [ "$RC" -eq 0 ] && [ ! -s "$WORK/out" ] && [ ! -s "$WORK/err" ]; then
        say "  ok: systemd-analyze verify printed nothing and exited 0"
        return 0
    fi
    say "  MISMATCH: systemd-analyze verify exited $RC and said:"
    cat "$WORK/out" "$WORK/err" | sed 's/^/      | /'
    return 1
}

uninstall() {
    run_cmd "$WORK/install-x86/$X86/install.sh" --prefix "$SYSTEMD_PREFIX" --uninstall
    sed 's/^/    | /' "$WORK/out"
    expect_status "install.sh --uninstall" 0 || return 1
    # Left behind: only the generic directories the prefix had to have.
    (find "$SYSTEMD_PREFIX" "$UNITS" "$CONFIG" 2>/dev/null | LC_ALL=C sort) >"$WORK/left.got"
    printf '%s\n' "$SYSTEMD_PREFIX" "$SYSTEMD_PREFIX/bin" "$SYSTEMD_PREFIX/share" \
        "$SYSTEMD_PREFIX/share/doc" "$UNITS" | LC_ALL=C sort >"$WORK/left.expected"
    compare "what is left" "$WORK/left.expected" "$WORK/left.got"
}

source_build() {
    local dir=$WORK/source
    mkdir -p "$dir/cargo-home" && tar -xzf "$DIST/$SRC.tar.gz" -C "$dir"
    say "  building $SRC offline (about a minute)"
    run_cmd "${IN_NETNS[@]}" env CARGO_HOME="$dir/cargo-home" \
        CARGO_TARGET_DIR="$dir/target" "$dir/$SRC/install.sh" --prefix "$dir/prefix"
    grep '^install.sh:' "$WORK/out" | sed 's/^/    | /'
    expect_status "unshare -n env CARGO_HOME=<empty> $SRC/install.sh --prefix $dir/prefix" 0 \
        || return 1
    transcript_offline "$dir/prefix/bin/blink-store"
}

under_qemu() {
    transcript --runner qemu-aarch64-static "$WORK/$ARM/blink-store"
}

from_checkout() {
    run_cmd ./install.sh --prefix "$WORK/prefix-checkout"
    grep '^install.sh:' "$WORK/out" | sed 's/^/    | /'
    expect_status "./install.sh --prefix $WORK/prefix-checkout" 0 || return 1
    transcript "$WORK/prefix-checkout/bin/blink-store"
}

# Tools: installed in CI, otherwise their checks are skipped.
MUSL_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl)
missing_targets() {
    local sysroot target
    sysroot=$(rustc --print sysroot)
    for target in "${MUSL_TARGETS[@]}"; do
        [ -d "$sysroot/lib/rustlib/$target" ] || echo "$target"
    done
}
if in_ci; then
    packages=()
    have qemu-aarch64-static || packages+=(qemu-user-static)
    have systemd-analyze || packages+=(systemd)
    have unshare || packages+=(util-linux)
    have ip || packages+=(iproute2)
    apt_install "${packages[@]}"
    mapfile -t targets < <(missing_targets)
    if [ ${#targets[@]} -gt 0 ]; then
        say "installing the Rust targets ${targets[*]} (CI=true)"
        rustup target add "${targets[@]}" || notice "rustup could not add ${targets[*]}"
    fi
fi

mapfile -t targets < <(missing_targets)
say "tools: $(version qemu-aarch64-static --version); $(version systemd-analyze --version);" \
    "$(version unshare --version); rust targets missing: ${targets[*]:-none}"

say ""
say "=== packaging"
if [ ${#targets[@]} -gt 0 ]; then
    tool_missing "the Rust targets ${targets[*]}" "" "${PACKAGE_CHECKS[@]}" "${UNSHARE_CHECKS[@]}" \
        "$C_TAMPERED" "$C_HOME" "${SYSTEMD_CHECKS[@]}" "$C_QEMU"
    check "$C_CHECKOUT" from_checkout
else
    check "$C_PACKAGE" package_twice
    if [ ! -f "$DIST/$X86.tar.gz" ] || [ ! -f "$DIST/$ARM.tar.gz" ] || [ ! -f "$DIST/$SRC.tar.gz" ]; then
        fail_checks "package.sh did not write the tarballs" "${PACKAGE_CHECKS[@]:1}" \
            "${UNSHARE_CHECKS[@]}" "$C_TAMPERED" "$C_HOME" "${SYSTEMD_CHECKS[@]}" "$C_QEMU"
        check "$C_CHECKOUT" from_checkout
    else
        check "$C_AGAIN" same_again
        check "$C_LISTING" binary_listings
        check "$C_SOURCE_LISTING" source_listing
        if ! have unshare || ! have ip; then
            tool_missing "unshare or ip" "util-linux iproute2" "${UNSHARE_CHECKS[@]}"
        elif ! "${IN_NETNS[@]}" true >"$WORK/unshare.log" 2>&1; then
            notice "unshare -n is not permitted here ($(head -n 1 "$WORK/unshare.log"));" \
                "the offline installs cannot be shown offline"
            skip_checks "unshare -n not permitted" "${UNSHARE_CHECKS[@]}"
        else
            check "$C_INSTALL" install_offline
        fi
        # The tarball is unpacked by the install check; unpack it again if
        # that check was skipped.
        [ -d "$WORK/install-x86/$X86" ] \
            || { mkdir -p "$WORK/install-x86" && tar -xzf "$DIST/$X86.tar.gz" -C "$WORK/install-x86"; }
        check "$C_TAMPERED" refuse_tampered
        check "$C_HOME" refuse_home
        check "$C_SYSTEMD" install_systemd
        if have systemd-analyze; then
            check "$C_VERIFY" verify_unit
        else
            tool_missing systemd-analyze systemd "$C_VERIFY"
        fi
        check "$C_UNINSTALL" uninstall
        if have unshare && have ip && "${IN_NETNS[@]}" true >/dev/null 2>&1; then
            check "$C_SOURCE" source_build
        fi
        if have qemu-aarch64-static; then
            check "$C_QEMU" under_qemu
        else
            tool_missing qemu-aarch64-static qemu-user-static "$C_QEMU"
        fi
        check "$C_CHECKOUT" from_checkout
    fi
fi

say ""
if [ "$FAILED" -gt 0 ]; then
    say "failed packaging checks:"
    printf '  %s\n' "${FAILED_NAMES[@]}"
fi
say "packaging checks took ${SECONDS}s"
say "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
