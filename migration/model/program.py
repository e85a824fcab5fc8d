"""Programs: ordered lists of VM lifecycle events the model runs.

An :class:`Event` names one thing that happens (``object_init``, ``migrate``,
``migration_shutdown``, a client's ``oob`` command...) with its parameters, checked against
the one alphabet (:mod:`migration.model.alphabet`); what each event does is defined in
:mod:`migration.model.events`.  A program and a schedule (a list of scheduler
choices) determine a run exactly; both are plain JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from migration.model.alphabet import ALPHABET, Param, kind

__all__ = ["EVENT_KINDS", "Event", "Param", "Program", "ev", "program_from_json", "program_to_json"]

#: event kind -> (allowed parameter names, one-line meaning), derived from the alphabet
EVENT_KINDS: dict[str, tuple[frozenset[str], str]] = {k.name: (k.param_names(), k.meaning) for k in ALPHABET}


@dataclass(frozen=True)
class Event:
    """One lifecycle event of a program."""

    kind: str
    params: tuple[tuple[str, Param], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event '{self.kind}'")
        k = kind(self.kind)
        allowed = k.param_names()
        for key, value in self.params:
            if key not in allowed:
                raise ValueError(f"event '{self.kind}' has no parameter '{key}'")
            dom = k.domain(key)
            if dom is None:
                if not isinstance(value, str):
                    raise ValueError(f"event '{self.kind}': parameter '{key}' must be a string")
            elif not any(value == d and type(value) is type(d) for d in dom):
                raise ValueError(f"event '{self.kind}': parameter '{key}' must be one of "
                                 f"{', '.join(repr(d) for d in dom)}")

    def get(self, key: str, default: Param = None) -> Param:
        """:param key: a parameter name.
        :param default: the value when the parameter is absent.
        :return: the parameter's value.
        """
        for k, v in self.params:
            if k == key:
                return v
        return default

    def param(self, key: str) -> Param:
        """:param key: a parameter name.
        :return: its value, or the alphabet's default (the domain's first value) when absent.
        :raise KeyError: when the kind has no such parameter.
        """
        for k, v in self.params:
            if k == key:
                return v
        dom = kind(self.kind).domain(key)
        return None if dom is None else dom[0]

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
