"""From a model program to a real QEMU run: the command line and the driver's steps.

:func:`build_plan` reads the program's events in order, looks each up in
:data:`migration.reproduce.triggers.TRIGGERS`, and returns a :class:`Plan` (the options, the QMP
commands sent before the shutdown request, the out-of-band commands sent after QEMU's ``SHUTDOWN``
event) or raises :class:`NotDrivable` with the reason.  Nothing is timed: the race windows are QEMU's
own (a ``null-co`` node whose flush takes :data:`~migration.reproduce.triggers.SLOW_FLUSH_NS`, a peer
that never reads, a bandwidth limit), and every step waits for an answer or an event.

    >>> from migration.model.program import ev
    >>> p = build_plan((ev("object_init"), ev("migration_shutdown"), ev("oob", command="migrate-pause")),
    ...                (10, 0, 2))
    >>> [s.command for s in p.steps], [s.command for s in p.flood]
    (['human-monitor-command'], ['migrate-pause'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from migration.model.program import Event
from migration.reproduce.triggers import TRIGGERS, Trigger, TriggerKind, Version, trigger_of

__all__ = [
    "BASE_OPTIONS",
    "RUN_PATHS",
    "NotDrivable",
    "Plan",
    "Step",
    "build_plan",
    "command_line",
    "late_oob_events",
]

#: the run's own paths an option or argument may name (``{peer}``): a socket that accepts nothing and reads
#: nothing, the incoming side's socket, an empty folder for vvfat, a file of non-zero bytes for guest RAM
RUN_PATHS: tuple[str, ...] = ("peer", "incoming", "vvfat", "ram")

#: every run: no machine, no default devices, no display
BASE_OPTIONS: tuple[str, ...] = ("-M", "none", "-nodefaults", "-display", "none")

#: the HMP write that makes the null-co node dirty, so that qemu_cleanup()'s flush waits for it
#: (block/monitor/block-hmp-cmds.c:hmp_qemu_io)
_DIRTY = ("human-monitor-command", {"command-line": 'qemu-io n0 "write 0 512"'})
#: the slow null-co node the shutdown trigger declares (needed only when something runs during the flush;
#: a write to it aborts QEMU while an incoming migration has the nodes inactive)
_SLOW_NODE = (TRIGGERS["migration_shutdown"][0].options[0], TRIGGERS["migration_shutdown"][0].options[1])


class NotDrivable(Exception):
    """The program has an event no outside action triggers on this binary.

    :ivar reason: one line: which event, and why.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Step:
    """One QMP command the driver sends.

    :ivar command: the command's name.
    :ivar arguments: its arguments (``{peer}``, ``{incoming}`` and ``{vvfat}`` are the run's paths).
    :ivar oob: sent with ``exec-oob``.
    :ivar event: the model event it stands for (empty for a step that only prepares one).
    """

    command: str
    arguments: Mapping[str, object] = field(default_factory=dict)
    oob: bool = False
    event: str = ""

    def __str__(self) -> str:
        args = "".join(f" {k}={v}" for k, v in self.arguments.items())
        return f"{'exec-oob' if self.oob else 'execute'} {self.command}{args}"


@dataclass(frozen=True)
class Plan:
    """A real run of a model program.

    :ivar options: QEMU's options, after :data:`BASE_OPTIONS` (the monitor's are the driver's).
    :ivar steps: QMP commands, in order, each after the answer to the one before.
    :ivar shutdown: the program has ``migration_shutdown`` (``quit`` follows the steps in every plan).
    :ivar flood: out-of-band commands sent after the ``SHUTDOWN`` event, each after the answer to the
        one before, until QEMU closes the connection (``monitor_cleanup()``).
    :ivar paths: which of :data:`RUN_PATHS` the plan uses.
    """

    options: tuple[str, ...]
    steps: tuple[Step, ...]
    shutdown: bool
    flood: tuple[Step, ...]
    paths: frozenset[str]


def late_oob_events(program: Sequence[Event], trace: Iterable[Mapping[str, object]]) -> frozenset[int]:
    """The ``oob`` events of a counterexample whose command ran after ``migration_shutdown()``.

    The model starts one ``mon_iothread`` actor per ``oob`` event, in order; a schedule may run it at
    any point until ``monitor_cleanup()``.  The real driver sends such a command again and again after
    QEMU's ``SHUTDOWN`` event.

    :param program: the counterexample's program.
    :param trace: its trace (``actor`` and ``action`` of each step).
    :return: the indices, in ``program``, of the late ``oob`` events.
    """
    oob = [i for i, e in enumerate(program) if e.kind == "oob"]
    actors: list[str] = []
    late: set[str] = set()
    shut = False
    for step in trace:
        actor = str(step.get("actor", ""))
        if actor == "main" and step.get("action") == "migration_shutdown":
            shut = True
        if actor.startswith("mon_iothread"):
            if actor not in actors:
                actors.append(actor)
            if shut:
                late.add(actor)
    return frozenset(oob[n] for n, a in enumerate(actors) if a in late and n < len(oob))


def _version(v: Version) -> str:
    return ".".join(map(str, v))


def _checked(e: Event, version: Version) -> Trigger:
    t = trigger_of(e)
    if not t.drivable:
        raise NotDrivable(f"{e}: {t.why}")
    if version < t.since:
        raise NotDrivable(f"{e}: {t.command} needs QEMU {_version(t.since)} or later, the binary is "
                          f"{_version(version)}")
    return t


def _add_options(options: list[str], new: Sequence[str]) -> None:
    """Append option/value pairs (and single flags) not given yet."""
    i = 0
    while i < len(new):
        flag = new[i]
        pair = i + 1 < len(new) and not new[i + 1].startswith("-")
        item = tuple(new[i:i + 2]) if pair else (flag,)
        have = [tuple(options[j:j + len(item)]) for j in range(len(options))]
        if item not in have:
            options.extend(item)
        i += len(item)


def _without(options: list[str], pair: tuple[str, str]) -> list[str]:
    """:return: ``options`` without the option/value ``pair``."""
    out: list[str] = []
    i = 0
    while i < len(options):
        if tuple(options[i:i + 2]) == pair:
            i += 2
        else:
            out.append(options[i])
            i += 1
    return out


def _paths(values: Iterable[object]) -> set[str]:
    return {name for v in values for name in RUN_PATHS if f"{{{name}}}" in str(v)}


def build_plan(program: Sequence[Event], version: Version, late: frozenset[int] = frozenset()) -> Plan:
    """:param program: the model program.
    :param version: the binary's QEMU version.
    :param late: indices of ``oob`` events to send after ``SHUTDOWN`` (:func:`late_oob_events`).
    :return: the plan.
    :raise NotDrivable: when an event has no trigger, or none on this version (every such event is named,
        in order), or one is where the program places it (a QMP command before ``migration_object_init()``
        or an in-band one after the shutdown).
    """
    options: list[str] = []
    steps: list[Step] = []
    flood: list[Step] = []
    paths: set[str] = set()
    phase = "pre"
    shutdown = False
    missing: list[str] = []
    for i, e in enumerate(program):
        try:
            t = _checked(e, version)
        except NotDrivable as exc:
            missing.append(exc.reason)
            continue
        _add_options(options, t.options)
        paths |= _paths(t.options) | _paths(t.arguments.values())
        if e.kind == "object_init":
            phase = "running"
        elif e.kind == "migration_shutdown":
            phase, shutdown = "post", True
            continue
        if t.kind not in (TriggerKind.QMP, TriggerKind.QMP_OOB):
            continue
        if phase == "pre":
            raise NotDrivable(f"{e}: QMP is answered only once qemu_init() has run migration_object_init()")
        step = Step(t.command, dict(t.arguments), t.kind is TriggerKind.QMP_OOB, e.kind)
        if phase == "post" and not step.oob:
            raise NotDrivable(f"{e}: an in-band command sent after the SHUTDOWN event is never dispatched "
                              "(the main loop has ended: system/runstate.c:qemu_cleanup)")
        steps.extend(Step(c, dict(a)) for c, a in t.before)
        if phase == "post" or i in late:
            flood.append(step)
            if i in late and phase != "post":
                steps.append(step)
        else:
            steps.append(step)
    if missing:
        raise NotDrivable("; ".join(dict.fromkeys(missing)))
    if flood and not shutdown:
        raise NotDrivable("an out-of-band command after the shutdown needs migration_shutdown in the program")
    if flood:  # the flood's window: qemu_cleanup()'s flush of the dirty null-co node
        steps.append(Step(*_DIRTY))
    else:
        options = _without(options, _SLOW_NODE)
    return Plan(tuple(options), tuple(steps), shutdown, tuple(flood), frozenset(paths))


def command_line(binary: str, plan: Plan, qmp_fd: int, run_paths: Mapping[str, str]) -> list[str]:
    """The binary's whole command line.

    :param binary: the QEMU executable.
    :param plan: the plan.
    :param qmp_fd: the listening socket QEMU inherits for its QMP monitor.
    :param run_paths: each of :data:`RUN_PATHS` -> the run's path.
    :return: the argument vector (without valgrind).
    """
    options = [o.format(**run_paths) for o in plan.options]
    monitor = ["-chardev", f"socket,id=qmp,fd={qmp_fd},server=on,wait=off",
               "-mon", "chardev=qmp,mode=control"]
    return [binary, *BASE_OPTIONS, *options, *monitor]
