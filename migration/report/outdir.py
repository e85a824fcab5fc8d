"""How ``qomsim decide`` writes its notes without losing anything, even when killed.

The rules (issue 16):

* only files inside the output folder that qomsim wrote are ever replaced or removed: the manifest
  (:data:`MANIFEST`) lists them by a relative, normalized POSIX path (no ``..``, no ``.``, no empty part, no
  backslash) and their SHA-256; an entry that is not such a path, or whose file is reached through a symbolic
  link or is not a regular file, is ignored (the file is left alone);
* a file whose bytes no longer match the manifest was edited by hand and is kept, unless ``force``;
* the new set is built in a sibling work folder (``.NAME.qomsim-XXXXXXXX`` next to the output folder):
  everything kept is hard-linked into it (copied where the file system cannot link), the new files are
  written with the umask's mode, and the manifest last; then the new folder and the output folder are
  exchanged with one ``renameat2(RENAME_EXCHANGE)`` (Linux), so a SIGKILL at any point leaves either the old
  set or the new set, never a mix; the old set is then deleted with the work folder;
* SIGINT and SIGTERM that arrive while the new set is built are held until the exchange is done (recorded in
  :attr:`WriteReport.interrupted`); a work folder left behind by a killed run (marked as ours, or still
  empty) is removed by the next run.

Where ``RENAME_EXCHANGE`` is not available (another OS, a file system without it) the exchange falls back to
two renames (output folder aside, new folder in): a kill between them leaves the output folder missing and
the complete old and new sets in the work folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from migration.check import interrupts
from qom.errors import escape_text

__all__ = [
    "MANIFEST", "WORK_MARKER", "WriteReport", "out_display", "out_problem", "read_manifest",
    "safe_relpath", "write_files",
]

#: the sidecar manifest of the files the last run wrote, with their SHA-256
MANIFEST = ".qomsim-decide.json"
#: the file that marks a work folder as qomsim's own (so a later run may delete it)
WORK_MARKER = ".qomsim-decide-work"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@dataclass
class WriteReport:
    """What :func:`write_files` did.

    :ivar written: files created or replaced.
    :ivar unchanged: files already holding the new bytes.
    :ivar kept: files edited by hand (or not written by qomsim) that were left alone.
    :ivar removed: files an earlier run wrote that this run no longer produces.
    :ivar ignored: manifest entries that are not a safe path inside the folder (never touched).
    :ivar interrupted: SIGINT/SIGTERM arrived while the new set was built (the swap was finished first).
    """

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    interrupted: bool = False


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def safe_relpath(rel: str) -> bool:
    """Whether ``rel`` is a relative, normalized POSIX path that stays inside its folder.

    :param rel: a path as a manifest or a renderer names it.
    :return: True for ``a.md`` or ``evidence/x.md``; False for ``../x``, ``/etc/x``, ``a/./b``, ``a//b``,
        ``a\\b``, ``""`` or a name with a NUL.
    """
    if not rel or "\\" in rel or "\0" in rel or rel.startswith("/"):
        return False
    parts = rel.split("/")
    return all(p not in ("", ".", "..") for p in parts) and PurePosixPath(rel).as_posix() == rel


def _regular_inside(out: Path, rel: str) -> bool:
    """Whether ``out/rel`` is a regular file reached without following any symbolic link."""
    path = out
    parts = rel.split("/")
    for i, part in enumerate(parts):
        path = path / part
        try:
            st = os.lstat(path)
        except OSError:
            return False
        last = i == len(parts) - 1
        if stat.S_ISLNK(st.st_mode) or (not last and not stat.S_ISDIR(st.st_mode)):
            return False
    return stat.S_ISREG(st.st_mode)


def _ancestors_ok(out: Path, rel: str) -> bool:
    """Whether every folder on the way to ``out/rel`` is a real folder or absent (no link, no file)."""
    path = out
    for part in rel.split("/")[:-1]:
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return True
        if not stat.S_ISDIR(st.st_mode):
            return False
    return True


def read_manifest(out: Path) -> tuple[dict[str, str], list[str]]:
    """Read and validate the manifest of ``out``.

    :param out: the output folder.
    :return: ``(safe entries, ignored entry names)``; an unreadable manifest (or one that is a link) gives
        ``({}, [])``.
    """
    if not _regular_inside(out, MANIFEST):
        return {}, []
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}, []
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}, []
    good: dict[str, str] = {}
    bad: list[str] = []
    for k, v in files.items():
        if isinstance(v, str) and _HEX64.fullmatch(v) and safe_relpath(k):
            good[k] = v
        else:
            bad.append(k)
    return good, sorted(bad)


def _signals_held(report: WriteReport) -> contextlib.AbstractContextManager[None]:
    """Hold SIGINT and SIGTERM back while the new set is built and swapped in; record that one came."""
    return interrupts.routed(lambda _signum: setattr(report, "interrupted", True))


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two folders; False when the OS or file system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def _clean_leftovers(parent: Path, name: str) -> None:
    """Remove work folders a killed run left next to the output folder: those marked as ours, and empty ones
    of our name (a kill between creating the folder and marking it)."""
    with contextlib.suppress(OSError):
        for entry in parent.iterdir():
            mine = entry.name.startswith(f".{name}.qomsim-") and not entry.is_symlink()
            if mine and entry.is_dir() and (entry / WORK_MARKER).is_file():
                shutil.rmtree(entry, ignore_errors=True)
            elif mine and entry.is_dir():
                with contextlib.suppress(OSError):
                    entry.rmdir()  # only an empty folder goes


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)


def _carry(old: Path, new: Path, rel: str, skip: set[str]) -> None:
    """Hard-link everything of ``old`` into ``new`` except the paths in ``skip`` (recursively)."""
    for entry in sorted(os.scandir(old / rel if rel else old), key=lambda e: e.name):
        sub = f"{rel}/{entry.name}" if rel else entry.name
        if sub in skip:
            continue
        if entry.is_dir(follow_symlinks=False):
            (new / sub).mkdir()
            shutil.copymode(entry.path, new / sub)
            _carry(old, new, sub, skip)
        else:
            _link_or_copy(Path(entry.path), new / sub)


def _write_new(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:  # 0666 & ~umask, like any file the user's shell would create
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_files(out: Path, files: Mapping[str, str], *, force: bool) -> WriteReport:
    """Write generated files into ``out`` without losing a hand edit or leaving a mixed set.

    :param out: the output folder (created when missing; a symbolic link to a folder is followed).
    :param files: ``relative path -> text``; every path must be :func:`safe_relpath`.
    :param force: replace edited files too.
    :return: what was done.
    :raise ValueError: when a path in ``files`` is not safe.
    :raise OSError: when the folder cannot be written (``out`` is then unchanged).
    """
    for rel in files:
        if not safe_relpath(rel):
            raise ValueError(f"refusing to write outside the output folder: {rel!r}")
    out = out.resolve() if out.is_symlink() else Path(os.path.abspath(out))  # "." has no name to swap
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(out))
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(parent, out.name)
    manifest, ignored = read_manifest(out) if out.is_dir() else ({}, [])
    report = WriteReport(ignored=ignored)
    ours = {rel: digest for rel, digest in manifest.items() if _regular_inside(out, rel)}
    new_manifest: dict[str, str] = {}
    to_write: dict[str, bytes] = {}
    for rel in sorted(files):
        data = files[rel].encode("utf-8")
        digest = _sha(data)
        if not _ancestors_ok(out, rel):
            report.kept.append(rel)
            continue
        if (out / rel).exists() or (out / rel).is_symlink():
            current = (out / rel).read_bytes() if _regular_inside(out, rel) else None
            if current == data:
                report.unchanged.append(rel)
                new_manifest[rel] = digest
                continue
            mine = rel in ours and current is not None and _sha(current) == ours[rel]
            if not mine and not (force and current is not None):
                report.kept.append(rel)
                if rel in ours:
                    new_manifest[rel] = ours[rel]
                continue
        to_write[rel] = data
        report.written.append(rel)
        new_manifest[rel] = digest
    drop: set[str] = {MANIFEST, *to_write}
    for rel in sorted(set(ours) - set(files)):
        if _sha((out / rel).read_bytes()) == ours[rel] or force:
            drop.add(rel)
            report.removed.append(rel)
        else:
            report.kept.append(rel)
            new_manifest[rel] = ours[rel]
    body = {"generator": "qomsim decide", "files": dict(sorted(new_manifest.items()))}
    with _signals_held(report):
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.qomsim-", dir=parent))
        try:
            (work / WORK_MARKER).touch()
            new = work / "new"
            new.mkdir()
            if out.is_dir():
                shutil.copymode(out, new)
                _carry(out, new, "", drop)
            for rel, data in to_write.items():
                _write_new(new / rel, data)
            _write_new(new / MANIFEST, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8"))
            if not out.exists():
                os.rename(new, out)
            elif not _exchange(new, out):
                os.rename(out, work / "old")
                os.rename(new, out)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    report.kept.sort()
    return report


def out_display(out: Path, cwd: Path | None = None) -> str:
    """The output directory as commands written into the notes name it: relative when possible.

    :param out: the output directory as given.
    :param cwd: the directory it is relative to (default: the current one).
    :return: a POSIX path, relative to ``cwd`` when ``out`` lies under it.
    """
    if not out.is_absolute():
        return out.as_posix()
    base = (cwd or Path.cwd()).resolve()
    try:
        return out.resolve().relative_to(base).as_posix() or "."
    except ValueError:
        return out.as_posix()


def _shown(path: Path) -> str:
    return escape_text(str(path))


def out_problem(out: Path) -> str | None:
    """:param out: the output directory as given.
    :return: why notes cannot go to ``out`` (checked before the long run), or None."""
    probe = out
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    if probe == out and not out.is_dir():
        return "Not a directory"
    if out.is_dir() and Path.cwd().resolve().is_relative_to(out.resolve()):
        # the new set is swapped in by renaming the folder: a shell inside it would be left in the old one
        return "it holds the current directory; run decide from outside it"
    if not probe.is_dir():
        return f"{escape_text(str(probe))} is not a directory"
    # the new set is built next to the folder and swapped in: both must be writable
    for folder in {probe, probe.absolute().parent} if probe == out else {probe}:
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"{escape_text(str(folder))}: Permission denied"
    return None
