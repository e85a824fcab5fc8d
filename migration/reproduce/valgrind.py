"""valgrind's report, read: its errors, and whether one is the model's use-after-free.

:func:`errors` reads memcheck's text (``==PID== ...`` lines) into :class:`ValgrindError` records;
:func:`matching` finds the one the model predicts: an invalid read or write whose stack holds the
function the model names for the access, inside a block whose free stack holds the function the model
names for the last ``object_unref``.  A release binary has no symbol for a ``static`` function, so
valgrind shows it as ``???``: when the model's last ``object_unref`` ran in a bottom half
(``migration_bh_dispatch_bh``, static in ``migration/migration.c``), a free stack whose first named
frame above the allocator is the bottom-half dispatcher (``aio_bh_poll``) matches instead, provided the
block was allocated by the function that created the model's object (``migration_object_init``): that
pins the block to the object and the free to a bottom half.

    >>> log = '''==7== Invalid read of size 4
    ... ==7==    at 0x5A1B2C: qmp_migrate_pause (migration.c:2100)
    ... ==7==  Address 0x1f2e3d40 is 232 bytes inside a block of size 1,176 free'd
    ... ==7==    at 0x48431EF: free (vg_replace_malloc.c:872)
    ... ==7==    by 0x5A0000: migration_shutdown (migration.c:300)
    ... ==7==
    ... '''
    >>> matching(errors(log), "qmp_migrate_pause", "migration_shutdown").kind
    'Invalid read of size 4'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "ALLOCATOR", "BH_DISPATCHERS", "VALGRIND", "ValgrindError", "errors", "freed_in_unnamed_bh", "matching",
]

#: valgrind's options: an error makes QEMU's exit status 99; stacks deep enough to reach qemu_cleanup
VALGRIND: tuple[str, ...] = ("valgrind", "--error-exitcode=99", "--track-origins=no", "--num-callers=30")

_FRAME = re.compile(r"^==\d+==\s+(?:at|by) 0x[0-9A-Fa-f]+: (\(below main\)|\S+)")
_ERROR = re.compile(r"^==\d+== (Invalid (?:read|write) of size \d+|Invalid free\(\) / delete / delete\[\] "
                    r"/ realloc\(\)|Mismatched free\(\) / delete / delete \[\]|Conditional jump or move "
                    r"depends on uninitialised value\(s\)|Use of uninitialised value of size \d+"
                    r"|Syscall param .*|Process terminating with default action of signal \d+ \(\w+\))")
_THREAD = re.compile(r"^==\d+== Thread (\d+)(?: (.*))?:$")


@dataclass
class ValgrindError:
    """One error of memcheck's report.

    :ivar kind: its first line (``Invalid read of size 4``).
    :ivar access: the function names of the access stack, innermost first.
    :ivar address: the line that says where the address is (``Address 0x... is 232 bytes inside ...``).
    :ivar freed_by: the free stack's function names, innermost first (empty when not freed).
    :ivar allocated_by: the allocation stack's function names.
    :ivar thread: the thread valgrind names for it (``3 IO mon_iothread``), if it said.
    """

    kind: str
    access: list[str] = field(default_factory=list)
    address: str = ""
    freed_by: list[str] = field(default_factory=list)
    allocated_by: list[str] = field(default_factory=list)
    thread: str = ""

    @property
    def coroutine_noise(self) -> bool:
        """:return: a read in ``swapcontext`` of a coroutine stack valgrind was not told about (QEMU's
            ``util/coroutine-ucontext.c`` switches stacks; valgrind warns "client switching stacks")."""
        return bool(self.access) and self.access[0] == "swapcontext" and "free'd" not in self.address

    @property
    def use_after_free(self) -> bool:
        """:return: an invalid read or write inside a freed block."""
        return self.kind.startswith("Invalid ") and "free'd" in self.address

    def summary(self, frames: int = 5) -> list[str]:
        """:param frames: how many frames of each stack.
        :return: the error in a few lines: kind, top frames, address, freeing frames.
        """
        lines = [self.kind + (f" (thread {self.thread})" if self.thread else "")]
        lines += [f"   at {f}" for f in self.access[:frames]]
        if self.address:
            lines.append(f" {self.address}")
        lines += [f"   freed by {f}" for f in self.freed_by[:frames * 2]]
        return lines


def errors(text: str) -> list[ValgrindError]:
    """:param text: valgrind's output (other lines, QEMU's own, are skipped).
    :return: every error it reported, in order, but the :attr:`ValgrindError.coroutine_noise`.
    """
    found: list[ValgrindError] = []
    thread = ""
    current: ValgrindError | None = None
    section: list[str] = []
    for line in text.splitlines():
        t = _THREAD.match(line)
        if t:
            thread = " ".join(x for x in t.groups() if x)
            continue
        m = _ERROR.match(line)
        if m:
            current = ValgrindError(m.group(1), thread=thread)
            found.append(current)
            section = current.access
            continue
        if current is None or not line.startswith("=="):
            continue
        body = re.sub(r"^==\d+== ?", "", line)
        if not body.strip():
            if current.coroutine_noise:
                found.remove(current)
            current = None
            continue
        frame = _FRAME.match(line)
        if frame:
            section.append(frame.group(1))
        elif "Address 0x" in body:
            current.address = body.strip()
            section = current.freed_by
        elif "Block was alloc'd at" in body:
            section = current.allocated_by
    return found


#: the functions that call a bottom half's callback (``util/async.c``: ``aio_bh_poll`` -> ``aio_bh_call``)
BH_DISPATCHERS = frozenset({"aio_bh_poll", "aio_bh_call"})
#: frames of the allocator itself, at the top of a free stack
ALLOCATOR = frozenset({"free", "g_free", "g_slice_free1"})


def freed_in_unnamed_bh(err: ValgrindError, created_by: str) -> bool:
    """:param err: an error.
    :param created_by: the function that allocated the model's object (``migration_object_init``).
    :return: whether the block was allocated by ``created_by`` and freed by functions valgrind cannot name
        (``???``, at least one), called by a bottom-half dispatcher (:data:`BH_DISPATCHERS`).
    """
    if not created_by or created_by not in err.allocated_by:
        return False
    frames = err.freed_by
    i = 0
    while i < len(frames) and frames[i] in ALLOCATOR:
        i += 1
    unnamed = i
    while i < len(frames) and frames[i] == "???":
        i += 1
    return i > unnamed and i < len(frames) and frames[i] in BH_DISPATCHERS


def matching(found: Sequence[ValgrindError], access: str, freer: str, *, freer_in_bh: bool = False,
             created_by: str = "") -> ValgrindError | None:
    """:param found: the errors.
    :param access: the function the model names for the access.
    :param freer: the function the model names for the last reference's drop.
    :param freer_in_bh: that drop ran in a bottom half.
    :param created_by: the function that allocated the model's object.
    :return: the first use-after-free with ``access`` in its stack and ``freer`` in its free stack (or, for
        a bottom half's drop, freed as :func:`freed_in_unnamed_bh` says).
    """
    for err in found:
        if err.use_after_free and access in err.access and (
                freer in err.freed_by or (freer_in_bh and freed_in_unnamed_bh(err, created_by))):
            return err
    return None
