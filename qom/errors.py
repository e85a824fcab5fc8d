"""The one error tree of qomsim's QOM core.

QEMU has three kinds of failure (spec §0); they map to Python like this::

    BaseException
     ├── QOMFatal            abort(), a failed g_assert, exit through error_fatal/error_abort
     └── Exception
          └── QOMError       an Error returned to the caller (QMP: {"error": {"class", "desc"}})
               ├── GenericError      error_setg()
               └── DeviceNotFound    error_set(ERROR_CLASS_DEVICE_NOT_FOUND, ...)

The third kind, a silent NULL, is a plain ``None`` return.  ``QOMFatal`` derives from
``BaseException`` so that an ``except Exception`` meant for QMP errors never swallows it.
"""

from __future__ import annotations

__all__ = ["DeviceNotFound", "GenericError", "QOMError", "QOMFatal", "escape_text"]


class QOMError(Exception):
    """An ``Error`` as QEMU reports it over QMP.

    :param desc: the exact human-readable description QEMU would produce.
    """

    #: the QMP error class
    error_class: str = "GenericError"

    def __init__(self, desc: str) -> None:
        super().__init__(desc)
        self.desc = desc

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.desc!r})"


class GenericError(QOMError):
    """``error_setg()``: QMP class ``GenericError``."""

    error_class = "GenericError"


class DeviceNotFound(QOMError):
    """``ERROR_CLASS_DEVICE_NOT_FOUND``: QMP class ``DeviceNotFound``."""

    error_class = "DeviceNotFound"


class QOMFatal(BaseException):
    """A condition on which QEMU aborts (``abort()``, ``g_assert``, ``error_fatal``).

    These are programming errors; nothing in qomsim catches them except tests and
    checkers that look for exactly this outcome.

    :param message: the text QEMU prints before aborting.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"QOMFatal({self.message!r})"


def escape_text(text: str) -> str:
    """Make a user-provided string safe to print on a terminal, on one line.

    Control characters (C0, DEL, C1: terminal escapes, newlines, carriage returns) become Python-style
    escapes (``\\x1b``, ``\\n``); a backslash is doubled so the result is unambiguous.  Printable text,
    non-ASCII letters included, is unchanged.

    :param text: a scenario name, a path, a design id, ...
    :return: the text as it is safe to print.
    """
    if text.isprintable() and "\\" not in text:
        return text
    out: list[str] = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    return "".join(out)
