"""Reading and writing the files a user names: regular files only, never more than a known size.

Every file qomsim writes goes through :func:`write_file`: the bytes go to a temporary file next to the
target, which is then renamed over it, so a reader sees the old file or the new one.  A rename replaces
whatever has the name, so before it the target is checked with :func:`os.lstat` (a symbolic link is not
followed): only a missing name or a regular file the user may write is replaced; a device node, a FIFO, a
socket, a directory or a symbolic link (say ``/dev/stdout``) is refused with :class:`FileRefused` and nothing
is changed.  ``-`` means standard output only where a command has nothing else to print there
(``qomsim capture --output -``); elsewhere it is refused.

Every file qomsim reads because a user or a file named it goes through :func:`read_file`: it must be a
regular file (``st_size`` is 0 for ``/dev/zero``, which never ends; a FIFO blocks), and at most ``limit``
bytes are read, so a larger one is refused before it fills the memory.

A check and the rename after it are two steps: a link put at the name between them is replaced, not
followed (a rename never writes through a link).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from pathlib import Path, PosixPath

from qom.errors import escape_text

__all__ = ["MAX_TEXT_SIZE", "STDOUT", "FileRefused", "UserFile", "cannot_write", "file_kind", "read_file",
           "refuse_target", "write_file"]

#: the name that means standard output where a command allows it
STDOUT = "-"
#: the largest text file :class:`UserFile` reads (a template, say)
MAX_TEXT_SIZE = 1 << 20


class FileRefused(OSError):
    """A file qomsim will not read or write; :attr:`strerror` is the one-line reason.

    It is an :class:`OSError`, so a caller that already reports ``strerror`` for I/O errors reports this
    one the same way.
    """

    def __init__(self, reason: str, filename: str) -> None:
        super().__init__(errno.EINVAL, reason, filename)

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def file_kind(mode: int) -> str:
    """:param mode: an ``st_mode``.
    :return: what the file is, as a message names it (``"a FIFO"``, ``"a symbolic link"``, ...).
    """
    kinds = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a regular file"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def cannot_write(path: str | os.PathLike[str], exc: OSError) -> str:
    """:param path: a target :func:`write_file` did not write.
    :param exc: why.
    :return: the one-line message a command prints after its own name.
    """
    return f"cannot write {escape_text(os.fspath(path))}: {exc.strerror or exc}"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def refuse_target(path: str | os.PathLike[str], *, stdout: bool = False) -> None:
    """Check that :func:`write_file` may write ``path`` (call it before a long run, too).

    :param path: the target.
    :param stdout: whether ``-`` means standard output here.
    :raise FileRefused: when ``path`` is ``-`` and ``stdout`` is false, or names something other than a
        regular file (a symbolic link is not followed), or a regular file the user may not write.
    :raise OSError: when ``path`` cannot be examined.
    """
    name = os.fspath(path)
    if name == STDOUT:
        if stdout:
            return
        raise FileRefused("'-' is not standard output here (the command prints its report there); "
                          "name a file", name)
    try:
        st = os.lstat(name)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(f"{file_kind(st.st_mode)}; qomsim replaces only regular files (nothing written)",
                          name)
    if not os.access(name, os.W_OK):
        raise FileRefused("Permission denied (a read-only file is not replaced)", name)


def write_file(path: str | os.PathLike[str], data: bytes, *, stdout: bool = False,
               parents: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, with the umask's mode.

    :param path: the target; ``-`` is standard output when ``stdout`` is true.
    :param data: the bytes.
    :param stdout: whether ``-`` means standard output here.
    :param parents: create the target's folder when it is missing.
    :raise FileRefused: see :func:`refuse_target` (nothing is written).
    :raise OSError: when the file cannot be written (the target is then unchanged).
    """
    refuse_target(path, stdout=stdout)
    if os.fspath(path) == STDOUT:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    if parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        refuse_target(target)  # again: the write may have taken long
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """Read a regular file of at most ``limit`` bytes.

    :param path: the file (a symbolic link to a regular file is fine).
    :param limit: the most bytes accepted.
    :return: its bytes.
    :raise FileRefused: when it is not a regular file (a device, a FIFO, a directory, ...) or is larger
        than ``limit`` bytes (at most ``limit + 1`` are read to find out).
    :raise OSError: when it cannot be opened or read.
    """
    name = os.fspath(path)
    # O_NONBLOCK: opening a FIFO with no writer would wait for one
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(f"{file_kind(st.st_mode)}, not a regular file", name)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        raise FileRefused(f"larger than {limit:,} bytes", name)
    return b"".join(chunks)


class UserFile(PosixPath):
    """A path a user named on the command line, read only through :func:`read_file`.

    Give it as an argparse ``type=``: code that reads the file with ``read_text`` or ``read_bytes`` then
    gets :class:`FileRefused` for a device, a FIFO or a file larger than :data:`MAX_TEXT_SIZE`, instead of
    reading until the memory runs out.
    """

    def read_bytes(self) -> bytes:
        """:return: the file's bytes (see :func:`read_file`)."""
        return read_file(self, MAX_TEXT_SIZE)

    def read_text(self, encoding: str | None = None, errors: str | None = None) -> str:
        """:return: the file's text (UTF-8 unless ``encoding``).
        :raise UnicodeDecodeError: when it is not text in that encoding.
        """
        return self.read_bytes().decode(encoding or "utf-8", errors or "strict")
