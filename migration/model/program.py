"""Programs: ordered lists of VM lifecycle events the model runs.

An :class:`Event` names one thing that happens on the main thread (``object_init``,
``migrate``, ``migration_shutdown``...) with its parameters; what each event does is
defined in :mod:`migration.model.events`.  A program and a schedule (a list of scheduler
choices) determine a run exactly; both are plain JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["EVENT_KINDS", "Event", "Param", "Program", "ev", "program_from_json", "program_to_json"]

Param = str | bool | int | None

#: event kind -> (allowed parameter names, one-line meaning)
EVENT_KINDS: dict[str, tuple[frozenset[str], str]] = {
    "object_init": (frozenset(), "migration_object_init()"),
    "migrate": (
        frozenset({"peer", "cleanup", "thread_helper", "helper_needs_bql", "bh_helper"}),
        "qmp migrate: start the outgoing migration thread T_mig",
    ),
    "migrate_incoming": (frozenset(), "qmp migrate-incoming: start the incoming load coroutine"),
    "migration_shutdown": (frozenset(), "migration_shutdown() in qemu_cleanup()"),
    "vm_shutdown": (frozenset({"handler"}), "vm_shutdown(): run-state handlers, then drain (main loop poll)"),
    "monitor_cleanup": (frozenset(), "monitor_cleanup(): polls the main loop"),
    "poll": (frozenset(), "one main_loop_wait() iteration"),
    "wait_thread": (frozenset(), "scenario order: the main loop keeps running until T_mig has finished"),
    "introspect": (frozenset({"command", "label"}), "a QMP introspection command for typename=migration"),
    "query_migrate": (frozenset({"caller"}), "internal accessor migrate_get_current() (qmp query-migrate)"),
    "helper": (frozenset({"name"}), "an exported misc.h helper called from outside migration/"),
    "create": (frozenset({"path"}), "a creation path for 'migration' (object_new, object-add, device_add)"),
}


@dataclass(frozen=True)
class Event:
    """One lifecycle event of a program."""

    kind: str
    params: tuple[tuple[str, Param], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event '{self.kind}'")
        allowed = EVENT_KINDS[self.kind][0]
        for key, _ in self.params:
            if key not in allowed:
                raise ValueError(f"event '{self.kind}' has no parameter '{key}'")

    def get(self, key: str, default: Param = None) -> Param:
        """:param key: a parameter name.
        :param default: the value when the parameter is absent.
        :return: the parameter's value.
        """
        for k, v in self.params:
            if k == key:
                return v
        return default

    def to_json(self) -> dict[str, Any]:
        """:return: ``{"event": kind, **params}``."""
        out: dict[str, Any] = {"event": self.kind}
        out.update(dict(self.params))
        return out

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"{self.kind}({args})"


Program = tuple[Event, ...]


def ev(kind: str, **params: Param) -> Event:
    """Build an event.

    :param kind: the event kind (a key of :data:`EVENT_KINDS`).
    :param params: its parameters.
    :return: the event.
    :raise ValueError: when the kind or a parameter is unknown.
    """
    return Event(kind, tuple(sorted(params.items())))


def program_to_json(program: Sequence[Event]) -> list[dict[str, Any]]:
    """:param program: a program.
    :return: its JSON form.
    """
    return [e.to_json() for e in program]


def program_from_json(data: Sequence[Mapping[str, Any]]) -> Program:
    """:param data: a program's JSON form.
    :return: the program.
    :raise ValueError: when an event or parameter is unknown.
    """
    out = []
    for item in data:
        params = {k: v for k, v in item.items() if k != "event"}
        out.append(ev(str(item["event"]), **params))
    return tuple(out)
