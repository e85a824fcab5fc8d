#!/usr/bin/env bash
# Unpack QEMU 10.0.2 (Debian bookworm-backports' qemu-system-x86) into a private cache folder beside
# the system's QEMU 7.2, write a wrapper that runs it, and print the wrapper's path on stdout.
#
# Usage (as root): bash .ci/install-qemu10.sh [CACHE]     default CACHE: /var/cache/qomsim/qemu-10.0.2
# Idempotent: when CACHE already holds a working 10.0.2 it only prints the wrapper's path.
#
# Why a wrapper: 10.0.2 cannot be installed beside 7.2 as a package, but its .deb files unpack and
# run from any folder once QEMU_MODULE_DIR names its own module folder and -L its own data folder.
# It still also searches the system module folder, and aborts (util/module.c:module_load_dso,
# "Assertion `QTAILQ_EMPTY(&dso_init_list)' failed") when it meets 7.2's modules there.  So the
# wrapper runs it in a private mount namespace (unshare -m) where its own module folder is
# bind-mounted over the system one; where that is not permitted (a container without
# CAP_SYS_ADMIN) it runs it directly, which is enough for -machine none: its own folder is
# searched first.  The wrapper execs QEMU, so its PID is QEMU's.  QOMSIM_QEMU_PREFIX (word-split,
# e.g. "valgrind --error-exitcode=99") runs QEMU under that command.
#
# The apt source for bookworm-backports is derived from this machine's own Debian source (the
# deb822 stanza whose Suites are "bookworm bookworm-updates", or the one-line "deb ... bookworm"
# entry): the repository never spells out an archive's address.
set -euo pipefail

CACHE="${1:-/var/cache/qomsim/qemu-10.0.2}"
VERSION="1:10.0.2+ds-2+deb13u1~bpo12+1"  # the version the packaged 10.0.2 snapshot was captured from
PACKAGES=(qemu-system-x86 qemu-system-common qemu-system-data qemu-system-modules-opengl)
SYSTEM_MODULES=/usr/lib/x86_64-linux-gnu/qemu
SOURCES=/etc/apt/sources.list.d/debian.sources
ONE_LINE_SOURCES=/etc/apt/sources.list
BACKPORTS=/etc/apt/sources.list.d/qomsim-bookworm-backports.sources
WRAPPER="$CACHE/bin/qemu-system-x86_64-10.0"

say() { echo "install-qemu10: $*" >&2; }
die() { say "$*"; exit 1; }

works() {
    [ -x "$WRAPPER" ] || return 1
    local version answer
    version="$("$WRAPPER" --version 2>/dev/null)" || return 1
    grep -q '^QEMU emulator version 10\.0\.2 ' <<<"$version" || return 1
    answer="$(printf '%s\n' '{"execute": "qmp_capabilities"}' '{"execute": "query-version"}' \
        '{"execute": "quit"}' | timeout 30 "$WRAPPER" -machine none -nodefaults -display none -qmp stdio 2>&1)" \
        || return 1
    grep -q '"qemu": {"micro": 2, "minor": 0, "major": 10}' <<<"$answer"
}

if works; then
    say "already unpacked and working"
    echo "$WRAPPER"
    exit 0
fi
[ "$(id -u)" = 0 ] || die "must run as root (apt-get, and the wrapper's unshare -m)"

# 1. bookworm-backports, unless apt already knows it
backports_known() {
    local rows
    rows="$(apt-cache madison qemu-system-x86)"
    grep -q 'bookworm-backports' <<<"$rows"
}
if ! backports_known; then
    if [ -r "$SOURCES" ]; then
        target="$BACKPORTS"
        entry="$(awk -v RS= '$0 ~ /(^|\n)Suites:[ \t]*bookworm[ \t]+bookworm-updates[ \t]*(\n|$)/ { print; exit }' \
            "$SOURCES" | sed -E 's/^Suites:.*$/Suites: bookworm-backports/')"
        grep -q '^URIs:' <<<"$entry" || die "no stanza with 'Suites: bookworm bookworm-updates' in $SOURCES"
    else
        # the one-line format: "deb [options] URI bookworm components", with the suite replaced
        target="${BACKPORTS%.sources}.list"
        entry="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i == "bookworm") {
            $i = "bookworm-backports"; print; exit } }' "$ONE_LINE_SOURCES" 2>/dev/null || true)"
        [ -n "$entry" ] || die "no 'deb ... bookworm ...' entry in $ONE_LINE_SOURCES (and no $SOURCES)"
    fi
    printf '%s\n' "$entry" >"$target.tmp"
    mv "$target.tmp" "$target"
    say "bookworm-backports, from this machine's own source: $target"
    apt-get update -qq
    backports_known || die "apt does not see qemu-system-x86 in bookworm-backports"
fi

# 2. download and unpack the four packages, at exactly the snapshot's version
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chown _apt "$work" 2>/dev/null || true  # apt downloads as _apt when it can write there
(
    cd "$work"
    for package in "${PACKAGES[@]}"; do
        apt-get download -qq "$package=$VERSION" >&2 \
            || die "cannot download $package=$VERSION from bookworm-backports"
    done
)
rm -rf "$CACHE.new"
mkdir -p "$CACHE.new/bin"
for deb in "$work"/*.deb; do
    dpkg -x "$deb" "$CACHE.new"
done
missing="$(ldd "$CACHE.new/usr/bin/qemu-system-x86_64" | grep -E 'not found' || true)"
[ -z "$missing" ] || die "10.0.2 needs libraries this machine lacks: $missing"

# 3. the wrapper
cat >"$CACHE.new/bin/qemu-system-x86_64-10.0" <<EOF
#!/bin/sh
# QEMU $VERSION, unpacked by .ci/install-qemu10.sh (see there why this wrapper exists).
CACHE='$CACHE'
SYSTEM_MODULES='$SYSTEM_MODULES'
EOF
cat >>"$CACHE.new/bin/qemu-system-x86_64-10.0" <<'EOF'
export QEMU_MODULE_DIR="$CACHE/usr/lib/x86_64-linux-gnu/qemu"
export QOMSIM_QEMU10_BIN="$CACHE/usr/bin/qemu-system-x86_64"
export QOMSIM_QEMU10_DATADIR="$CACHE/usr/share/qemu"
if [ -d "$SYSTEM_MODULES" ] && unshare -m sh -c 'mount --bind "$1" "$2"' sh "$QEMU_MODULE_DIR" "$SYSTEM_MODULES" \
    2>/dev/null; then
    exec unshare -m sh -c 'mount --bind "$QEMU_MODULE_DIR" "$0" && exec ${QOMSIM_QEMU_PREFIX:-} "$QOMSIM_QEMU10_BIN" -L "$QOMSIM_QEMU10_DATADIR" "$@"' "$SYSTEM_MODULES" "$@"
fi
exec ${QOMSIM_QEMU_PREFIX:-} "$QOMSIM_QEMU10_BIN" -L "$QOMSIM_QEMU10_DATADIR" "$@"
EOF
chmod 755 "$CACHE.new/bin/qemu-system-x86_64-10.0"
rm -rf "$CACHE"
mv "$CACHE.new" "$CACHE"
works || die "the unpacked QEMU does not answer query-version as 10.0.2"
say "$("$WRAPPER" --version | head -1)"
echo "$WRAPPER"
