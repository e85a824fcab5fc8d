"""QEMU's own source, from Debian's source packages, as the caller inventory's test reads it.

:func:`source_facts` returns, for one QEMU version of :data:`TREES`, the exported migration
helpers that read the object and every call site of them and of ``migrate_get_current()``.  It

1. asks apt (``apt-cache showsrc``) for the source package's files and their SHA-256 sums, and
   downloads the missing ones with ``apt-get source --download-only`` into :func:`cache_dir`
   (``/var/cache/qomsim/qemu-source``, beside the unpacked 10.0.2 binary; ``.ci/install-qemu-sources.sh``
   adds the ``deb-src`` entries apt needs, derived from the machine's own);
2. reads only the C files it needs out of the ``.orig`` tarball (those under ``migration/`` and
   ``include/migration/``, and those that name a helper), without unpacking the rest;
3. for 7.2, applies Debian's patch series to them (Debian ships 7.2.22 as the 7.2.0 tarball plus one
   patch per stable release, ``v7.2.1.diff`` to ``v7.2.22.diff``), cut down to those files;
   10.0.2's ``.orig`` tarball is upstream 10.0.2 and is read as it is;
4. parses them with tree-sitter (:mod:`csource`) and caches the result as JSON, keyed by the
   tarballs' hashes and by this module's and :mod:`csource`'s own text.

:class:`Unavailable` says why the source could not be had (no ``deb-src`` entry, a failed download);
the test skips on it, or fails under ``QOMSIM_REQUIRE_QEMU=1``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import csource

__all__ = [
    "CACHE_ENV",
    "HEADERS",
    "ROOTS",
    "TREES",
    "SourceFacts",
    "Tree",
    "Unavailable",
    "cache_dir",
    "source_facts",
    "split_patch",
]

#: the environment variable that moves the download and parse cache
CACHE_ENV = "QOMSIM_QEMU_SOURCE_CACHE"
_DEFAULT_CACHE = Path("/var/cache/qomsim/qemu-source")

#: the headers whose functions are the exported migration helpers
HEADERS = ("include/migration/misc.h", "include/migration/client-options.h")

#: what reading the migration object comes down to
ROOTS = frozenset({"migrate_get_current", "current_migration"})


@dataclass(frozen=True)
class Tree:
    """One QEMU version as Debian packages its source.

    :ivar tag: the inventory's name for the version.
    :ivar version: a Debian source version, or its prefix when ``exact`` is false (the newest
        matching version apt knows is taken: bookworm's point releases replace the last one).
    :ivar exact: whether ``version`` is the whole version.
    :ivar patched: whether Debian's patch series is applied.
    """

    tag: str
    version: str
    exact: bool
    patched: bool


TREES: tuple[Tree, ...] = (
    Tree("7.2", "1:7.2+dfsg-7+deb12u", exact=False, patched=True),
    Tree("10.0.2", "1:10.0.2+ds-2+deb13u1~bpo12+1", exact=True, patched=False),
)


class Unavailable(Exception):
    """The source package cannot be had here (the message says why, in one line)."""


@dataclass(frozen=True)
class SourceFacts:
    """What one tree says.

    :ivar version: the Debian source version read.
    :ivar helpers: the exported helpers that read the object.
    :ivar declared: every function the two headers declare.
    :ivar sites: every call site of a helper or of ``migrate_get_current``.
    """

    version: str
    helpers: frozenset[str]
    declared: frozenset[str]
    sites: frozenset[csource.CallSite]


def cache_dir() -> Path:
    """:return: where downloads and parse results are kept: :data:`CACHE_ENV` when set, else
        ``/var/cache/qomsim/qemu-source`` where this user may write there (CI runs as root), else
        ``~/.cache/qomsim/qemu-source``.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    existing = next(p for p in (_DEFAULT_CACHE, *_DEFAULT_CACHE.parents) if p.exists())
    if os.access(existing, os.W_OK):
        return _DEFAULT_CACHE
    return Path.home() / ".cache" / "qomsim" / "qemu-source"


def _run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=600)
    except FileNotFoundError as exc:
        raise Unavailable(f"{argv[0]} not found ({exc.strerror})") from exc


def _version_key(version: str) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", version)]


def _package_files(tree: Tree) -> tuple[str, dict[str, tuple[str, int]]]:
    """:return: the chosen version, and its files: name -> (SHA-256, size)."""
    listing = _run("apt-cache", "showsrc", "qemu")
    stanzas: dict[str, dict[str, tuple[str, int]]] = {}
    for stanza in listing.stdout.split("\n\n"):
        version = re.search(r"^Version: (\S+)$", stanza, re.M)
        sums = re.search(r"^Checksums-Sha256:\n((?: .*\n?)+)", stanza, re.M)
        if version is None or sums is None:
            continue
        files = {}
        for line in sums.group(1).splitlines():
            digest, size, name = line.split()
            files[name] = (digest, int(size))
        stanzas[version.group(1)] = files
    matching = [v for v in stanzas if (v == tree.version if tree.exact else v.startswith(tree.version))]
    if not matching:
        raise Unavailable(f"apt knows no source package qemu {tree.version}{'' if tree.exact else '*'} "
                          "(no deb-src entry? .ci/install-qemu-sources.sh adds them)")
    chosen = max(matching, key=_version_key)
    return chosen, stanzas[chosen]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(tree: Tree) -> tuple[str, Path, Path | None]:
    """:return: the version, its ``.orig`` tarball, and its ``.debian`` tarball when patched."""
    version, files = _package_files(tree)
    wanted = [name for name in files if ".orig.tar." in name
              or (tree.patched and ".debian.tar." in name)]
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)

    def good(name: str) -> bool:
        path = folder / name
        return path.is_file() and path.stat().st_size == files[name][1] and _sha256(path) == files[name][0]

    if not all(good(name) for name in wanted):
        # apt downloads as _apt where it can; the .dsc of a backport may be missing from the archive
        # (its tarballs are fetched all the same), so the checksums below, not apt's status, decide
        subprocess.run(["chown", "_apt", str(folder)], capture_output=True, check=False)
        fetched = _run("apt-get", "source", "--download-only", "-qq", f"qemu={version}", cwd=folder)
        bad = [name for name in wanted if not good(name)]
        if bad:
            reason = (fetched.stderr.strip().splitlines() or ["no message"])[-1]
            raise Unavailable(f"cannot download {', '.join(bad)} of qemu {version}: {reason}")
    orig = next(folder / name for name in wanted if ".orig.tar." in name)
    debian = next((folder / name for name in wanted if ".debian.tar." in name), None)
    return version, orig, debian


def _members(tarball: Path) -> Iterator[tuple[str, tarfile.TarFile, tarfile.TarInfo]]:
    """Yield (path below the top folder, archive, member) for each C file of a tarball."""
    with tarfile.open(tarball, "r:*") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith((".c", ".h", ".inc")):
                yield member.name.split("/", 1)[-1], archive, member


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    stream = archive.extractfile(member)
    assert stream is not None  # a regular file always has one
    return stream.read()


def split_patch(text: str) -> list[tuple[str, str]]:
    """Cut a unified diff into one piece per file.

    :param text: the patch (a mail header and a diffstat before the first file are skipped).
    :return: (path without its first component, the piece) in the patch's order.
    """
    lines = text.splitlines(keepends=True)
    pieces: list[tuple[str, str]] = []
    index = 0
    while index < len(lines):
        if not (lines[index].startswith("--- ") and index + 1 < len(lines)
                and lines[index + 1].startswith("+++ ")):
            index += 1
            continue
        old = lines[index][4:].split("\t")[0].strip()
        new = lines[index + 1][4:].split("\t")[0].strip()
        name = old if new == "/dev/null" else new
        piece = [lines[index], lines[index + 1]]
        index += 2
        while index < len(lines) and lines[index].startswith("@@"):
            header = re.match(r"@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@", lines[index])
            if header is None:
                break
            removed = int(header.group(1) or "1")
            added = int(header.group(2) or "1")
            piece.append(lines[index])
            index += 1
            while (removed or added or (index < len(lines) and lines[index].startswith("\\"))) \
                    and index < len(lines):
                line = lines[index]
                if line.startswith((" ", "\n")):
                    removed, added = removed - 1, added - 1
                elif line.startswith("-"):
                    removed -= 1
                elif line.startswith("+"):
                    added -= 1
                piece.append(line)
                index += 1
        pieces.append((name.split("/", 1)[-1], "".join(piece)))
    return pieces


def _debian_pieces(debian: Path) -> list[list[tuple[str, str]]]:
    """:return: each patch of the series, in order, cut per file."""
    with tarfile.open(debian, "r:*") as archive:
        texts = {member.name: _read(archive, member) for member in archive
                 if member.isfile() and member.name.startswith("debian/patches/")}
    series = texts.get("debian/patches/series", b"").decode()
    return [split_patch(texts[f"debian/patches/{name}"].decode("utf-8", "replace"))
            for name in (line.split("#")[0].strip() for line in series.splitlines()) if name]


def _wanted(path: str, text: bytes, words: tuple[bytes, ...]) -> bool:
    return path.startswith(("migration/", "include/migration/")) or any(word in text for word in words)


def _unpack(tree: Tree, orig: Path, debian: Path | None) -> dict[str, bytes]:
    """:return: path -> text of every C file the inventory needs, patched when the tree is."""
    headers = {path: _read(archive, member) for path, archive, member in _members(orig) if path in HEADERS}
    declared: set[str] = set()
    for text in headers.values():
        declared |= csource.scan(text).declared
    words = tuple(name.encode() for name in sorted(declared | ROOTS))
    series = _debian_pieces(debian) if debian is not None and tree.patched else []
    touched = {path for patch in series for path, piece in patch
               if any(word in line.encode() for line in piece.splitlines() if line.startswith("+")
                      for word in words)}
    files: dict[str, bytes] = {}
    while True:  # again while a kept file defines a macro that names a word: its users are wanted too
        for path, archive, member in _members(orig):
            if path not in files:
                text = _read(archive, member)
                if path in touched or _wanted(path, text, words):
                    files[path] = text
        names = {word.decode() for word in words}
        macros = csource.macros_of(csource.scan(text) for text in files.values())
        more = {macro for macro, named in macros.items() if named & names and macro not in names}
        if not more:
            break
        words += tuple(sorted(name.encode() for name in more))
    if not series:
        return files
    with tempfile.TemporaryDirectory(prefix="qomsim-qemu-") as work:
        root = Path(work)
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(text)
        for patch in series:
            pieces = "".join(piece for path, piece in patch if path in files)
            if not pieces:
                continue
            applied = subprocess.run(["patch", "-p1", "--batch", "--silent", "--forward", "-d", work],
                                     input=pieces, capture_output=True, text=True, check=False)
            if applied.returncode != 0:
                raise RuntimeError(f"Debian's patch series does not apply: {applied.stdout.strip()}")
        return {path: (root / path).read_bytes() for path in files}


def _analyse(version: str, files: dict[str, bytes]) -> SourceFacts:
    scanned = {path: csource.scan(text) for path, text in sorted(files.items())}
    declared: set[str] = set()
    for header in HEADERS:
        if header in scanned:
            declared |= scanned[header].declared
    helpers = csource.readers(scanned, sorted(declared), ROOTS)
    callees = helpers | {"migrate_get_current"}
    macros = csource.macros_of(scanned.values())
    sites: set[csource.CallSite] = set()
    for path, facts in scanned.items():
        sites |= csource.call_sites(path, facts, callees, macros)
    return SourceFacts(version, helpers, frozenset(declared), frozenset(sites))


def _code_key() -> str:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in ("qemu_source.py", "csource.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def source_facts(tree: Tree) -> SourceFacts:
    """Read one tree (downloading, unpacking and parsing it unless the cache has the result).

    :param tree: one of :data:`TREES`.
    :return: its helpers and call sites.
    :raise Unavailable: when the source package cannot be had.
    """
    version, orig, debian = _download(tree)
    key = "-".join([_sha256(orig)[:16], _sha256(debian)[:16] if debian is not None else "upstream",
                    _code_key()])
    cached = cache_dir() / f"callers-{tree.tag}-{key}.json"
    if cached.is_file():
        data = json.loads(cached.read_text(encoding="utf-8"))
        return SourceFacts(data["version"], frozenset(data["helpers"]), frozenset(data["declared"]),
                           frozenset(csource.CallSite(caller, callee) for caller, callee in data["sites"]))
    facts = _analyse(version, _unpack(tree, orig, debian))
    data = {"version": facts.version, "helpers": sorted(facts.helpers), "declared": sorted(facts.declared),
            "sites": [[site.caller, site.callee] for site in sorted(facts.sites)]}
    partial = cached.with_suffix(".tmp")
    partial.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    partial.replace(cached)
    return facts


if __name__ == "__main__":  # a look at what the trees hold: python tests/qemu_source.py
    for one in TREES:
        got = source_facts(one)
        print(f"# {one.tag} ({got.version}): {len(got.helpers)} helpers, {len(got.sites)} sites")
        print("#   helpers:", " ".join(sorted(got.helpers)))
        print("#   declared, not readers:", " ".join(sorted(got.declared - got.helpers)))
        for site in sorted(got.sites):
            print(one.tag, site)
