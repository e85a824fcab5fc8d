"""QAPI-style command descriptions and argument checking for the QMP dispatcher.

Each QMP command is one :class:`Command` entry: its name, its argument schema
(a tuple of :class:`Arg`) and its handler.  :func:`check_arguments` does what
QEMU's generated marshallers do with the QObject input visitor before a handler
runs, with the same messages (``qapi/qobject-input-visitor.c``):

* ``Parameter 'path' is missing``
* ``Invalid parameter type for 'path', expected: string``
* ``Parameter 'x' is unexpected``
* ``Parameter 'null' does not accept value 'foo'`` (a list element is visited without a name:
  ``qapi/qapi-visit-core.c:input_type_enum`` prints ``null``, where a type error says ``enable[0]``)
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from qom.errors import GenericError, QOMError
from qom.qmp.json import JSON

if TYPE_CHECKING:
    from qom.universe import Universe

__all__ = [
    "Arg",
    "Command",
    "CommandContext",
    "CommandNotFound",
    "QMPSession",
    "SessionState",
    "VersionInfo",
    "check_arguments",
    "is_json",
]


class CommandNotFound(QOMError):
    """QMP error class ``CommandNotFound`` (``ERROR_CLASS_COMMAND_NOT_FOUND``): dispatch-level only."""

    error_class = "CommandNotFound"


class SessionState(enum.Enum):
    """Where a QMP connection is in its lifecycle (``monitor/qmp.c``)."""

    NEGOTIATION = "negotiation"  #: only ``qmp_capabilities`` is available
    COMMAND = "command"  #: every command is available
    QUIT = "quit"  #: ``quit`` was answered; the server shuts down


@dataclass(frozen=True)
class VersionInfo:
    """What ``query-version`` and the greeting report."""

    major: int = 10
    minor: int = 2
    micro: int = 50
    package: str = "qomsim"

    def to_json(self) -> dict[str, JSON]:
        """:return: the ``VersionInfo`` QAPI struct."""
        return {"qemu": {"micro": self.micro, "minor": self.minor, "major": self.major},
                "package": self.package}

    @classmethod
    def parse(cls, text: str, package: str = "qomsim") -> VersionInfo:
        """Parse ``MAJOR.MINOR.MICRO``.

        :param text: the version string.
        :param package: the package string.
        :return: the version.
        :raise ValueError: when the text is not three dot-separated integers.
        """
        parts = text.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"version must be MAJOR.MINOR.MICRO, not {text!r}")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]), package)


@dataclass
class QMPSession:
    """The per-connection state of one QMP monitor.

    The in-process :func:`qom.qmp.execute` uses a session that starts in
    :attr:`SessionState.COMMAND`, because there is nothing to negotiate.
    """

    state: SessionState = SessionState.NEGOTIATION
    version: VersionInfo | None = None
    #: capabilities offered in the greeting (``("oob",)`` when the server runs out-of-band commands)
    offered: tuple[str, ...] = ()
    #: capabilities the client enabled with ``qmp_capabilities`` (``"oob"`` allows ``exec-oob``)
    enabled: tuple[str, ...] = ()
    #: the most paths one ``qom-list-get`` may name (None: no cap; ``qomsim serve`` sets one, QEMU has none)
    max_list_paths: int | None = None


@dataclass
class CommandContext:
    """What a handler sees: the universe it acts on and the calling session."""

    universe: Universe
    session: QMPSession
    version: VersionInfo = field(default_factory=VersionInfo)
    #: the request came with ``exec-oob`` (it runs out of band, on the monitor's I/O thread)
    oob: bool = False


#: a handler takes the checked arguments and returns the ``return`` value (None: ``{}``)
Handler = Callable[[CommandContext, dict[str, JSON]], JSON]


@dataclass(frozen=True)
class Arg:
    """One QAPI argument.

    :param name: the member name.
    :param type: a QAPI type: ``str``, ``bool``, ``int``, ``any``, ``[str]``,
        or ``enum:A|B`` for an enum and ``[enum:A|B]`` for a list of one.
    :param optional: whether the member may be absent.
    """

    name: str
    type: str
    optional: bool = False


@dataclass(frozen=True)
class Command:
    """One entry of the command table.

    :param name: the QMP command name.
    :param handler: the implementation.
    :param args: the argument schema, in QAPI member order.
    :param extra_args: whether members beyond ``args`` reach the handler (QAPI
        ``'gen': false`` and boxed unions such as ``object-add``, whose handler
        checks them itself).
    :param allow_oob: QAPI ``'allow-oob': true``: the command may be run with ``exec-oob``.
    """

    name: str
    handler: Handler
    args: tuple[Arg, ...] = ()
    extra_args: bool = False
    allow_oob: bool = False


_SCALAR_NAMES = {"str": "string", "bool": "boolean", "int": "integer"}


def is_json(value: object) -> bool:
    """:param value: any Python value.
    :return: whether it is a JSON value (``dict`` keys must be strings; no tuples).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json(v) for k, v in value.items())
    return False


def _check_value(name: str, qapi_type: str, value: object, element: bool = False) -> None:
    if qapi_type.startswith("["):
        if not isinstance(value, list):
            raise GenericError(f"Invalid parameter type for '{name}', expected: array")
        for i, item in enumerate(value):
            _check_value(f"{name}[{i}]", qapi_type[1:-1], item, element=True)
        return
    if qapi_type.startswith("enum:"):
        if not isinstance(value, str):
            raise GenericError(f"Invalid parameter type for '{name}', expected: string")
        if value not in qapi_type[5:].split("|"):
            # a list element is visited with name NULL, which input_type_enum prints as "null"
            # (qapi/qapi-visit-core.c:input_type_enum, 7.2 to master); type errors use the full name
            raise GenericError(f"Parameter '{'null' if element else name}' does not accept value '{value}'")
        return
    if qapi_type == "any":
        if not is_json(value):
            # cannot come off the wire; only an in-process caller can pass a non-JSON object
            raise GenericError(f"Invalid parameter type for '{name}', expected: any")
        return
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool) and -(1 << 63) <= value < (1 << 63),
    }[qapi_type]
    if not ok:
        raise GenericError(f"Invalid parameter type for '{name}', expected: {_SCALAR_NAMES[qapi_type]}")


def check_arguments(command: Command, arguments: Mapping[str, object]) -> dict[str, JSON]:
    """Check arguments against a command's schema, as QEMU's marshaller does.

    :param command: the table entry.
    :param arguments: the ``arguments`` member of the request.
    :return: the arguments, ready for the handler.
    :raise GenericError: when a member is missing, mistyped or unexpected.
    """
    for arg in command.args:
        if arg.name not in arguments:
            if not arg.optional:
                raise GenericError(f"Parameter '{arg.name}' is missing")
            continue
        _check_value(arg.name, arg.type, arguments[arg.name])
    known = {arg.name for arg in command.args}
    checked: dict[str, JSON] = {}
    for key, value in arguments.items():
        if key not in known:
            if not command.extra_args:
                raise GenericError(f"Parameter '{key}' is unexpected")
            if not is_json(value):
                raise GenericError(f"Invalid parameter type for '{key}', expected: any")
        checked[key] = cast(JSON, value)  # checked above or by _check_value
    return checked
