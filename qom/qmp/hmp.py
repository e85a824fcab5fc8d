"""The human monitor (HMP) commands that reach QOM, behind QMP's ``human-monitor-command``.

Supported command lines, with QEMU's output format and error texts
(``qom/qom-hmp-cmds.c``, ``monitor/hmp.c``, ``system/qdev-monitor.c``)::

    info qom-tree [path]
    qom-list [path]
    qom-get path property
    qom-set [-j] path property value
    device_add driver[,prop=value][,...]     (and driver,help)
    device_del id
    object_del id
    help [cmd]

Output lines end in ``\\r\\n`` as QEMU's monitor writes them.  Anything else
prints ``unknown command: '...'``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from qom.errors import DeviceNotFound, GenericError, QOMError
from qom.object import Object, object_get_typename
from qom.property import object_property_help, object_property_parse
from qom.qdev import DeviceClass
from qom.qmp.commands import QOM_COMMANDS, TYPE_DEVICE, device_list_properties, property_info, qdev_device_add
from qom.qmp.json import JSON, parse_json
from qom.qmp.schema import Arg, Command, CommandContext
from qom.singleton import object_class_is_internal
from qom.tree import (
    object_child_foreach,
    object_get_canonical_path_component,
    object_get_root,
    object_resolve_path,
    object_resolve_path_ambiguous,
)
from qom.types import object_class_get_list_sorted, object_class_get_name

__all__ = ["HMP_COMMANDS", "human_monitor_command", "json_pretty", "property_help"]

_QMP = {c.name: c for c in QOM_COMMANDS}


class _Usage(Exception):
    """A command line HMP cannot parse; the text is what QEMU prints."""


@dataclass(frozen=True)
class _HMPCommand:
    name: str
    args_type: str  # QEMU's args_type mini-language, the subset used here
    params: str
    help: str
    run: Callable[[CommandContext, dict[str, str | bool], list[str]], None]


def json_pretty(value: JSON, depth: int = 0) -> str:
    """Render a value as QEMU's pretty JSON writer does (4-space indent, ``{\\n}`` when empty).

    :param value: the value.
    :param depth: the current nesting depth.
    :return: the text.
    """
    pad = "\n" + " " * (4 * (depth + 1))
    end = "\n" + " " * (4 * depth)
    if isinstance(value, dict):
        items = [f"{json.dumps(k)}: {json_pretty(v, depth + 1)}" for k, v in value.items()]
        return "{" + ",".join(pad + i for i in items) + end + "}"
    if isinstance(value, list):
        return "[" + ",".join(pad + json_pretty(v, depth + 1) for v in value) + end + "]"
    return json.dumps(value)


def property_help(info: dict[str, JSON]) -> str:
    """Format one property as ``device_add T,help`` lists it: ``system/qdev-monitor.c:qdev_device_help``
    hands each ``ObjectPropertyInfo``'s name, type, ``default-value`` and description to
    ``qom/object_interfaces.c:object_property_help``, and so does this (one formatting for both).

    A ``default-value`` of JSON null is no default here, as everywhere in qomsim (the core's
    ``None``, C's NULL): QEMU cannot give a property a null default (``qom/object.c``'s
    ``object_property_set_default`` is static, and its helpers make a bool, a string, an empty list
    or a number), and neither packaged snapshot has one.

    :param info: an ``ObjectPropertyInfo`` dict.
    :return: the line, without newline.
    """
    desc = info.get("description")
    return object_property_help(
        str(info["name"]), str(info["type"]), info.get("default-value"), None if desc is None else str(desc)
    )


# -- argument parsing (monitor/hmp.c) -----------------------------------------------------------------


def _get_str(line: str, pos: int) -> tuple[str, int] | None:
    """``get_str``: a bare word or a double-quoted string with ``\\n \\r \\\\ \\' \\"`` escapes."""
    n = len(line)
    while pos < n and line[pos].isspace():
        pos += 1
    if pos >= n:
        return None
    if line[pos] != '"':
        start = pos
        while pos < n and not line[pos].isspace():
            pos += 1
        return line[start:pos], pos
    pos += 1
    out: list[str] = []
    escapes = {"n": "\n", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
    while pos < n and line[pos] != '"':
        if line[pos] == "\\":
            c = line[pos + 1] if pos + 1 < n else ""
            if c not in escapes:
                return None
            out.append(escapes[c])
            pos += 2
        else:
            out.append(line[pos])
            pos += 1
    if pos >= n:
        return None  # unterminated string
    return "".join(out), pos + 1


def _parse_args(cmd: _HMPCommand, line: str, pos: int) -> dict[str, str | bool]:
    args: dict[str, str | bool] = {}
    for spec in filter(None, cmd.args_type.split(",")):
        key, typ = spec.split(":", 1)
        while pos < len(line) and line[pos].isspace():
            pos += 1
        if typ.startswith("-"):  # a boolean flag such as -j
            if line.startswith("-", pos):
                flag = line[pos + 1 : pos + 2]
                if flag != typ[1]:
                    raise _Usage(f"{cmd.name}: unsupported option -{flag}")
                args[key] = True
                pos += 2
            continue
        optional = typ.endswith("?")
        if optional and pos >= len(line):
            continue
        if typ.rstrip("?") == "S":  # the rest of the line
            if pos >= len(line):
                raise _Usage(f"{cmd.name}: string expected")
            args[key] = line[pos:]
            pos = len(line)
            continue
        got = _get_str(line, pos)
        if got is None:
            raise _Usage(f"{cmd.name}: string expected")
        text, pos = got
        args[key] = text
    while pos < len(line) and line[pos].isspace():
        pos += 1
    if pos < len(line):
        raise _Usage(f"{cmd.name}: extraneous characters at the end of line")
    return args


def _split_opts(text: str) -> list[str]:
    """Split a QemuOpts string on commas; ``,,`` is a literal comma."""
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == ",":
            if text.startswith(",,", i):
                cur.append(",")
                i += 2
                continue
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(text[i])
        i += 1
    parts.append("".join(cur))
    return parts


# -- commands -----------------------------------------------------------------------------------------


def _print_composition(obj: Object, indent: int, out: list[str], root: Object) -> None:
    name = "" if obj is root else (object_get_canonical_path_component(obj) or "")
    out.append(f"{' ' * indent}/{name} ({object_get_typename(obj)})")
    children: list[Object] = []

    def collect(child: Object) -> int:
        children.append(child)
        return 0

    object_child_foreach(obj, collect)
    children.sort(key=lambda c: (object_get_canonical_path_component(c) or "").encode())
    for child in children:
        _print_composition(child, indent + 2, out, root)


def _info_qom_tree(ctx: CommandContext, args: dict[str, str | bool], out: list[str]) -> None:
    path = args.get("path")
    if isinstance(path, str):
        obj, _ambiguous = object_resolve_path_ambiguous(path)
        if obj is None:
            # an ambiguous partial path resolves to nothing, so QEMU's "Warning: Path '%s' is
            # ambiguous." branch (qom/qom-hmp-cmds.c) is never reached
            out.append(f"Path '{path}' could not be resolved.")
            return
    else:
        found = object_resolve_path("/machine")
        if found is None:
            out.append("Path '/machine' could not be resolved.")
            return
        obj = found
    _print_composition(obj, 0, out, object_get_root())


def _qom_list(ctx: CommandContext, args: dict[str, str | bool], out: list[str]) -> None:
    path = args.get("path")
    if not isinstance(path, str):
        out.append("/")
        return
    infos = cast(list[dict[str, JSON]], _QMP["qom-list"].handler(ctx, {"path": path}))
    out.extend(f"{i['name']} ({i['type']})" for i in infos)


def _qom_get(ctx: CommandContext, args: dict[str, str | bool], out: list[str]) -> None:
    value = _QMP["qom-get"].handler(ctx, {"path": args["path"], "property": args["property"]})
    out.append(json_pretty(value))


def _qom_set(ctx: CommandContext, args: dict[str, str | bool], out: list[str]) -> None:
    path, prop, value = str(args["path"]), str(args["property"]), str(args["value"])
    if args.get("json"):
        try:
            parsed = parse_json(value)
        except ValueError as exc:
            raise GenericError(str(exc)) from None
        _QMP["qom-set"].handler(ctx, {"path": path, "property": prop, "value": parsed})
        return
    obj = object_resolve_path(path)
    if obj is None:
        raise DeviceNotFound(f"Device '{path}' not found")
    object_property_parse(obj, prop, value)


def _device_add(ctx: CommandContext, args: dict[str, str | bool], out: list[str]) -> None:
    spec = args.get("device")
    parts = _split_opts(spec) if isinstance(spec, str) else []
    driver = parts[0] if parts and "=" not in parts[0] else None
    options = parts[1:] if driver is not None else parts
    if driver is not None and any(o in ("help", "?") for o in options):
        try:
            props = device_list_properties(ctx.universe, driver)
        except QOMError as err:
            out.append(err.desc)  # error_report_err: no "Error: " prefix here
            return
        infos = [property_info(p) for p in props]
        out.append(f"{driver} options:" if infos else f"There are no options for {driver}.")
        out.extend(sorted(property_help(i) for i in infos))
        return
    if driver in ("help", "?"):
        _print_devinfos(ctx, out)
        return
    qargs: dict[str, JSON] = {}
    if driver is not None:
        qargs["driver"] = driver
    for opt in options:
        key, sep, val = opt.partition("=")
        qargs[key] = val if sep else "on"
    qdev_device_add(ctx.universe, qargs, from_json=False)


def _print_devinfos(ctx: CommandContext, out: list[str]) -> None:
    """``qdev_print_devinfos(false)``: pluggable devices; qomsim has no device categories."""
    lines = []
    for klass in object_class_get_list_sorted(TYPE_DEVICE, False):
        dc = cast(DeviceClass, klass)
        if not dc.user_creatable or (ctx.universe.qmp_policy.hide_internal and object_class_is_internal(dc)):
            continue
        line = f'name "{object_class_get_name(dc)}"'
        if dc.bus_type is not None:
            line += f", bus {dc.bus_type}"
        if dc.desc is not None:
            line += f', desc "{dc.desc}"'
        lines.append(line)
    if lines:
        out.append("Uncategorized devices:")
        out.extend(lines)


def _help(ctx: CommandContext, args: dict[str, str | bool], out: list[str]) -> None:
    """``help [cmd]``: one ``name params -- help`` line per command (``help_cmd`` in monitor/hmp.c)."""
    name = args.get("name")
    if name == "info":
        out.extend(f"info {c.name} {c.params} -- {c.help}" for c in _INFO_COMMANDS.values())
        return
    for cmd in _COMMANDS.values():
        if name is None or name == cmd.name:
            out.append(f"{cmd.name} {cmd.params} -- {cmd.help}")
    if name is None:
        out.append("info [subcommand] -- show various information about the system state")


def _device_del(ctx: CommandContext, args: dict[str, str | bool], out: list[str]) -> None:
    _QMP["device_del"].handler(ctx, {"id": args["id"]})


def _object_del(ctx: CommandContext, args: dict[str, str | bool], out: list[str]) -> None:
    _QMP["object-del"].handler(ctx, {"id": args["id"]})


_INFO_COMMANDS: dict[str, _HMPCommand] = {
    "qom-tree": _HMPCommand("qom-tree", "path:s?", "[path]", "show QOM composition tree", _info_qom_tree),
}

_COMMANDS: dict[str, _HMPCommand] = {
    c.name: c
    for c in (
        _HMPCommand("device_add", "device:O?", "driver[,prop=value][,...]",
                    "add device, like -device on the command line", _device_add),
        _HMPCommand("device_del", "id:s", "device", "remove device", _device_del),
        _HMPCommand("help", "name:s?", "[cmd]", "show the help", _help),
        _HMPCommand("object_del", "id:s", "id", "destroy QOM object", _object_del),
        _HMPCommand("qom-list", "path:s?", "path", "list QOM properties", _qom_list),
        _HMPCommand("qom-get", "path:s,property:s", "path property", "print QOM property", _qom_get),
        _HMPCommand("qom-set", "json:-j,path:s,property:s,value:S", "[-j] path property value",
                    "set QOM property.", _qom_set),
    )
}


def _command_name(line: str, pos: int) -> tuple[str, int] | None:
    while pos < len(line) and line[pos].isspace():
        pos += 1
    if pos >= len(line):
        return None
    start = pos
    while pos < len(line) and line[pos] != "/" and not line[pos].isspace():
        pos += 1
    return line[start:pos], pos


def human_monitor_command(ctx: CommandContext, command_line: str) -> str:
    """Run one HMP command line and return what the monitor prints.

    :param ctx: the QMP command context.
    :param command_line: the line.
    :return: the output, lines ending in ``\\r\\n``.
    """
    out: list[str] = []
    got = _command_name(command_line, 0)
    if got is not None:
        name, pos = got
        table = _COMMANDS
        cmd = table.get(name)
        if name == "info":
            sub = _command_name(command_line, pos)
            if sub is None:
                out.extend(f"info {c.name} {c.params} -- {c.help}" for c in _INFO_COMMANDS.values())
                cmd = None
            else:
                cmd = _INFO_COMMANDS.get(sub[0])
                name, pos = sub
                if cmd is None:
                    out.append(f"unknown command: '{command_line[:pos].lstrip()}'")
        elif cmd is None:
            out.append(f"unknown command: '{command_line[:pos].lstrip()}'")
        if cmd is not None:
            _run(ctx, cmd, command_line, pos, out)
    return "".join(line + "\r\n" for line in out)


def _run(ctx: CommandContext, cmd: _HMPCommand, line: str, pos: int, out: list[str]) -> None:
    try:
        args = _parse_args(cmd, line, pos)
    except _Usage as usage:
        out.append(str(usage))
        out.append(f'Try "help {line[:pos].strip()}" for more information')
        return
    try:
        cmd.run(ctx, args, out)
    except QOMError as err:
        out.append(f"Error: {err.desc}")


def _human_monitor_command(ctx: CommandContext, args: dict[str, JSON]) -> JSON:
    if "cpu-index" in args:
        # machine "none" has no CPU, so no index is valid
        raise GenericError("Parameter 'cpu-index' expects a CPU number")
    return human_monitor_command(ctx, cast(str, args["command-line"]))


HMP_COMMANDS: tuple[Command, ...] = (
    Command("human-monitor-command", _human_monitor_command,
            (Arg("command-line", "str"), Arg("cpu-index", "int", optional=True))),
)
