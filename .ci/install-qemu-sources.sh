#!/usr/bin/env bash
# Let apt fetch the Debian source packages of QEMU 7.2 (bookworm) and 10.0.2 (bookworm-backports),
# which tests/test_callers_source.py (marker qemu_source) downloads and parses: add deb-src entries
# for both suites, then install what `apt-get source` and the patch step need (dpkg-dev, patch).
#
# Usage (as root): bash .ci/install-qemu-sources.sh
# Idempotent: when apt already lists both source versions it only installs the two tools.
#
# The deb-src entries are derived from this machine's own Debian source, as .ci/install-qemu10.sh
# derives bookworm-backports: the deb822 stanza whose Suites are "bookworm bookworm-updates" (its
# Types becomes deb-src, its Suites "bookworm bookworm-backports"), or the one-line
# "deb ... bookworm ..." entry (copied as deb-src for both suites): the repository never spells
# out an archive's address.  The downloads themselves are cached by the test, in
# /var/cache/qomsim/qemu-source.
set -euo pipefail

SOURCES=/etc/apt/sources.list.d/debian.sources
ONE_LINE_SOURCES=/etc/apt/sources.list
DEB_SRC=/etc/apt/sources.list.d/qomsim-deb-src.sources

say() { echo "install-qemu-sources: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get)"

sources_known() {
    local rows
    rows="$(apt-cache showsrc qemu 2>/dev/null | grep '^Version:' || true)"
    grep -q '^Version: 1:7\.2+dfsg-7+deb12u' <<<"$rows" && grep -q '^Version: 1:10\.0\.2+ds-' <<<"$rows"
}

if ! sources_known; then
    if [ -r "$SOURCES" ]; then
        target="$DEB_SRC"
        entry="$(awk -v RS= '$0 ~ /(^|\n)Suites:[ \t]*bookworm[ \t]+bookworm-updates[ \t]*(\n|$)/ { print; exit }' \
            "$SOURCES" | sed -E -e 's/^Types:.*$/Types: deb-src/' -e 's/^Suites:.*$/Suites: bookworm bookworm-backports/')"
        grep -q '^URIs:' <<<"$entry" || die "no stanza with 'Suites: bookworm bookworm-updates' in $SOURCES"
    else
        # the one-line format: "deb [options] URI bookworm components", as deb-src for both suites
        target="${DEB_SRC%.sources}.list"
        entry="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i == "bookworm") {
            $1 = "deb-src"; print; $i = "bookworm-backports"; print; exit } }' "$ONE_LINE_SOURCES" 2>/dev/null || true)"
        [ -n "$entry" ] || die "no 'deb ... bookworm ...' entry in $ONE_LINE_SOURCES (and no $SOURCES)"
    fi
    printf '%s\n' "$entry" >"$target.tmp"
    mv "$target.tmp" "$target"
    say "deb-src for bookworm and bookworm-backports, from this machine's own source: $target"
    apt-get update -qq
    sources_known || die "apt does not list qemu 7.2 and 10.0.2 sources after adding $target"
fi
apt-get install -y -qq dpkg-dev patch >/dev/null
say "apt lists the qemu sources: $(apt-cache showsrc qemu | sed -n 's/^Version: //p' | tr '\n' ' ')"
