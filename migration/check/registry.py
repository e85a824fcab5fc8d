"""Every design a command can be given, however it is named; independent of import order.

A ``--design`` value is one of:

- a preset id: the spec's designs (:data:`migration.model.designs.DESIGNS`, never mutated) and the
  model's own proposals (:data:`PROPOSAL_IDS`, handed out only once the model has proved them);
- ``FILE.py:NAME``: the :class:`~migration.model.designs.Design` bound to ``NAME`` in that file;
- ``module:NAME``: the same from an importable module.

A design loaded from a file or module remembers how it was named (:func:`source_of`), so that a
command printed for it (a note's Confirmation, ``serve --trace``) names the file again, and a
counterexample carries the design's knobs (:func:`design_from_knobs`), so that ``qomsim replay``
re-runs it without any registry.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import typing
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

import cloudpickle  # type: ignore[import-untyped]  # it ships no type information

from migration.check.search import alternative_designs, proposed_designs
from migration.model.designs import DESIGNS, Design, knob_names

__all__ = [
    "PROPOSAL_IDS",
    "all_designs",
    "design_from_knobs",
    "design_ids",
    "resolve",
    "source_of",
]

#: the model's own proposals (:mod:`migration.check.search`), in the order commands list them
PROPOSAL_IDS: tuple[str, ...] = ("proposed-singleton-keepalive", "proposed-bql-identity-clear")

#: design -> the ``FILE.py:NAME`` / ``module:NAME`` it was loaded from
_SOURCES: dict[Design, str] = {}


def design_ids() -> list[str]:
    """:return: every preset id, spec designs first (no proof is run: names only)."""
    return [*DESIGNS, *PROPOSAL_IDS]


def all_designs() -> dict[str, Design]:
    """:return: ``id -> Design``: the spec's designs, then the proposals the model proves."""
    out = dict(DESIGNS)
    for d in (*proposed_designs(), *alternative_designs()):
        out.setdefault(d.name, d)
    return out


def source_of(design: Design) -> str:
    """:param design: a design.
    :return: how a command line names it: ``FILE.py:NAME``/``module:NAME`` for a loaded one, else its id.
    """
    return _SOURCES.get(design, design.name)


def resolve(spec: str | Design) -> Design:
    """Find the design a ``--design`` value names.

    :param spec: a preset id, ``FILE.py:NAME``, ``module:NAME``, or a design.
    :return: the design.
    :raise ValueError: with a one-line reason when nothing usable is found.
    """
    if isinstance(spec, Design):
        return spec
    if spec in DESIGNS:
        return DESIGNS[spec]
    if spec in PROPOSAL_IDS:
        for d in (*proposed_designs(), *alternative_designs()):
            if d.name == spec:
                return d
        raise ValueError(f"design '{spec}' is not proved by the model, so it is not offered")
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise ValueError(f"unknown design '{spec}' (a preset id, FILE.py:NAME or module:NAME; presets: "
                         f"{', '.join(design_ids())})")
    value = _load_attribute(where, name)
    if not isinstance(value, Design):
        raise ValueError(f"{spec}: '{name}' is a {type(value).__name__}, not a migration Design")
    _SOURCES.setdefault(value, spec)
    return value


def _load_attribute(where: str, name: str) -> object:
    if where.endswith(".py"):
        module = _load_file(where)
    else:
        try:
            module = importlib.import_module(where)
        except Exception as exc:  # a user's module may raise anything while importing
            raise ValueError(f"{where}:{name}: cannot import {where}: {_one_line(exc)}") from None
    if not hasattr(module, name):
        raise ValueError(f"{where}:{name}: {where} has no '{name}'")
    return getattr(module, name)


@cache
def _load_file(path: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{path}: no such file")
    mod_name = "qomsim_user_design_" + str(abs(hash(str(file.resolve()))))
    spec = importlib.util.spec_from_file_location(mod_name, file)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file may raise anything while running
        del sys.modules[mod_name]
        raise ValueError(f"{path}: {_one_line(exc)}") from None
    # what the file defines travels by value to worker processes, which cannot import it by name
    cloudpickle.register_pickle_by_value(module)
    return module


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def design_from_knobs(name: str, description: str, knobs: object) -> Design:
    """Rebuild a design from the knob values :meth:`Design.knobs` wrote (a counterexample carries them).

    :param name: the design's id.
    :param description: its one-line description.
    :param knobs: ``knob -> JSON value``; every knob of :class:`Design` must be present.
    :return: the design.
    :raise ValueError: with a one-line reason when a knob is missing, unknown or ill-typed.
    """
    if not isinstance(knobs, dict):
        raise ValueError("'knobs' must be an object")
    hints = typing.get_type_hints(Design)
    names = knob_names()
    if "functions" in knobs:
        replaced = ", ".join(map(str, knobs["functions"]))
        raise ValueError(f"design '{name}' replaces QEMU functions ({replaced}): its knobs cannot rebuild "
                         "it; name its file with --design FILE.py:NAME")
    unknown = sorted(set(knobs) - set(names))
    if unknown:
        raise ValueError(f"unknown knob(s) {', '.join(map(str, unknown))}")
    missing = [n for n in names if n not in knobs]
    if missing:
        raise ValueError(f"missing knob(s) {', '.join(missing)}")
    values: dict[str, Any] = {}
    for n in names:
        values[n] = _knob_value(n, hints[n], knobs[n])
    return Design(name=name, description=description, **values)


def _knob_value(name: str, hint: Any, raw: object) -> Any:
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(raw)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in hint)
            raise ValueError(f"knob {name}: {raw!r} is not one of {allowed}") from None
    if hint is bool:
        if not isinstance(raw, bool):
            raise ValueError(f"knob {name}: expected true or false, not {raw!r}")
        return raw
    if hint in (str, int):
        if not isinstance(raw, hint) or isinstance(raw, bool):
            raise ValueError(f"knob {name}: expected a {hint.__name__}, not {raw!r}")
        return raw
    if typing.get_origin(hint) is frozenset:
        if not (isinstance(raw, list) and all(isinstance(x, str) for x in raw)):
            raise ValueError(f"knob {name}: expected a list of strings, not {raw!r}")
        return frozenset(raw)
    raise ValueError(f"knob {name}: unsupported knob type {hint!r}")
