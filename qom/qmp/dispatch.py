"""In-process QMP: one dispatcher, one explicit command table.

Call a command the way a QMP client would, and get QEMU's answer as a dict::

    >>> from qom.qmp import execute
    >>> from qom.universe import Universe
    >>> u = Universe(machine="none")
    >>> execute("qom-get", {"path": "/machine", "property": "type"}, universe=u)
    {'return': 'none-machine'}
    >>> execute("qom-list", {}, universe=u)
    {'error': {'class': 'GenericError', 'desc': "Parameter 'path' is missing"}}

:func:`execute` never raises for a client's mistake, and a command that fails
leaves the universe as it found it (except for the failures no class can predict,
see :mod:`qom.qmp.commands`).  :func:`dispatch` takes a whole request
object (``{"execute": ..., "arguments": ..., "id": ...}``) and a
:class:`~qom.qmp.schema.QMPSession`; the socket server (``qom/qmp/server.py``) uses
it so that capabilities negotiation is per connection.  The request checks and
their texts follow ``qapi/qmp-dispatch.c`` and ``monitor/qmp.c``.

A :class:`~qom.errors.QOMFatal` raised by the QOM core (QEMU would abort) is
never turned into an answer: it propagates to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from qom.errors import GenericError, QOMError
from qom.qmp.commands import QOM_COMMANDS
from qom.qmp.hmp import HMP_COMMANDS
from qom.qmp.json import JSON
from qom.qmp.schema import (
    Arg,
    Command,
    CommandContext,
    CommandNotFound,
    QMPSession,
    SessionState,
    VersionInfo,
    check_arguments,
)
from qom.universe import Universe, current_universe, use_universe

__all__ = [
    "COMMANDS",
    "DEFAULT_VERSION",
    "dispatch",
    "error_response",
    "execute",
    "greeting",
    "is_oob",
]

#: the version qomsim reports unless the server or the universe says otherwise (the spec's QEMU master)
DEFAULT_VERSION = VersionInfo(10, 2, 50, "qomsim")


def error_response(error_class: str, desc: str) -> dict[str, JSON]:
    """:param error_class: the QMP error class.
    :param desc: the description.
    :return: ``{"error": {"class": ..., "desc": ...}}``.
    """
    return {"error": {"class": error_class, "desc": desc}}


def _version(session: QMPSession, universe: Universe) -> VersionInfo:
    if session.version is not None:
        return session.version
    # a universe loaded from a capture may carry the captured QEMU's version
    captured = getattr(universe, "qemu_version", None)
    if isinstance(captured, VersionInfo):
        return captured
    return DEFAULT_VERSION


# -- control commands (monitor/qmp-cmds-control.c) -----------------------------------------------------


def _qmp_capabilities(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    session = ctx.session
    if session.state is not SessionState.NEGOTIATION:
        raise CommandNotFound("Capabilities negotiation is already complete, command ignored")
    enable = args.get("enable")
    enable = enable if isinstance(enable, list) else []  # the schema made it a list of strings
    unavailable = [str(c) for c in enable if c not in session.offered]
    if unavailable:
        raise GenericError("Capability " + ", ".join(unavailable) + " not available")
    session.enabled = tuple(str(c) for c in enable)
    session.state = SessionState.COMMAND
    return None


def _query_version(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    return ctx.version.to_json()


def _query_commands(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    return [{"name": name} for name in reversed(list(COMMANDS))]


def _quit(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    ctx.session.state = SessionState.QUIT
    return None


_CONTROL: tuple[Command, ...] = (
    Command("qmp_capabilities", _qmp_capabilities, (Arg("enable", "[enum:oob]", optional=True),)),
    Command("query-version", _query_version),
    Command("query-commands", _query_commands),
    Command("quit", _quit),
)

#: the command table: name -> entry, built once at import
COMMANDS: Mapping[str, Command] = {c.name: c for c in (*_CONTROL, *QOM_COMMANDS, *HMP_COMMANDS)}

#: the only command available before negotiation
_NEGOTIATION_COMMANDS = frozenset({"qmp_capabilities"})


def is_oob(request: object) -> bool:
    """:param request: a decoded request.
    :return: whether it asks for out-of-band execution (``exec-oob`` without ``execute``,
        ``qapi/qmp-dispatch.c:qmp_is_oob``), whatever the session allows.
    """
    return isinstance(request, Mapping) and "exec-oob" in request and "execute" not in request


def _check_request(request: Mapping[str, object], allow_oob: bool = False) -> str:
    """:param allow_oob: the session enabled the ``oob`` capability.
    :return: the command name.
    :raise QOMError: when the request object is malformed (qmp_dispatch_check_obj)."""
    exec_key = None
    for key, value in request.items():
        if key == "execute" or (key == "exec-oob" and allow_oob):
            if not isinstance(value, str):
                raise GenericError(f"QMP input member '{key}' must be a string")
            if exec_key is not None:
                raise GenericError(f"QMP input member '{key}' clashes with '{exec_key}'")
            exec_key = key
        elif key == "arguments":
            if not (isinstance(value, Mapping) and all(isinstance(k, str) for k in value)):
                raise GenericError("QMP input member 'arguments' must be an object")
        elif key != "id":
            raise GenericError(f"QMP input member '{key}' is unexpected")
    if exec_key is None:
        raise GenericError("QMP input lacks member 'execute'")
    return cast(str, request[exec_key])


def dispatch(request: object, *, universe: Universe | None = None,
             session: QMPSession | None = None,
             extra: Mapping[str, Command] | None = None) -> dict[str, JSON]:
    """Run one QMP request.

    :param request: the decoded request (normally a dict).
    :param universe: the universe to act on (default: :func:`~qom.universe.current_universe`).
    :param session: the connection's state (default: a negotiated session of its own).
    :param extra: more commands (a server's own), looked up before the built-in table.
    :return: the response, with the request's ``id`` echoed.
    """
    if session is None:
        session = QMPSession(state=SessionState.COMMAND)
    if universe is None:
        universe = current_universe()
    request_id: object = None
    has_id = False
    try:
        if not isinstance(request, Mapping):
            raise GenericError("QMP input must be a JSON object")
        has_id = "id" in request
        request_id = request.get("id")
        oob = "oob" in session.enabled
        name = _check_request(request, oob)
        command = (extra or {}).get(name) or COMMANDS.get(name)
        if command is None or (
            session.state is SessionState.NEGOTIATION and name not in _NEGOTIATION_COMMANDS
        ):
            raise CommandNotFound(f"The command {name} has not been found")
        if oob and "execute" not in request and not command.allow_oob:
            raise GenericError(f"The command {name} does not support OOB")
        raw_args = cast(Mapping[str, object], request.get("arguments", {}))
        args = check_arguments(command, raw_args)
        out_of_band = oob and "execute" not in request
        ctx = CommandContext(universe, session, _version(session, universe), oob=out_of_band)
        with use_universe(universe):
            result = command.handler(ctx, args)
        response: dict[str, JSON] = {"return": {} if result is None else result}
    except QOMError as err:
        desc = err.desc
        if session.state is SessionState.NEGOTIATION and err.error_class == "CommandNotFound":
            desc = "Expecting capabilities negotiation with 'qmp_capabilities'"
        response = error_response(err.error_class, desc)
    if has_id:
        response["id"] = cast(JSON, request_id)
    return response


def execute(command: str, arguments: Mapping[str, object] | None = None, *,
            universe: Universe | None = None) -> dict[str, object]:
    """Execute one QMP command in-process, as a negotiated client would.

    :param command: the command name, e.g. ``"qom-list"``.
    :param arguments: its arguments (``None``: none).
    :param universe: the universe (default: :func:`~qom.universe.current_universe`).
    :return: ``{"return": ...}`` or ``{"error": {"class": ..., "desc": ...}}``.
    """
    request: dict[str, object] = {"execute": command}
    if arguments is not None:
        request["arguments"] = arguments
    return dict(dispatch(request, universe=universe))


def greeting(session: QMPSession, universe: Universe) -> dict[str, JSON]:
    """:param session: the new connection's session.
    :param universe: the served universe.
    :return: the QMP greeting (``{"QMP": {"version": ..., "capabilities": [...]}}``).
    """
    return {"QMP": {"version": _version(session, universe).to_json(), "capabilities": list(session.offered)}}
