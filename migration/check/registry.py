"""Every design a command can be given, however it is named; independent of import order.

A ``--design`` value is one of:

- a preset id: the spec's designs (:data:`migration.model.designs.DESIGNS`, never mutated) and the
  model's own proposals (:data:`PROPOSAL_IDS`, handed out only once the model has proved them);
- ``FILE.py:NAME``: the :class:`~migration.model.designs.Design` bound to ``NAME`` in that file, which is
  executed to find it;
- ``module:NAME``: the same from a module, imported (the current folder is searched first, as
  ``python -m`` does).

Loading a file or a module runs its code, so it is done only for a name the user typed (:data:`RUNS_CODE`
says so in ``--help``); a name read from data (a counterexample's ``design``) goes to :func:`resolve_preset`,
which never loads anything.  A loaded design may not take a preset's name (unless it is that preset).

A design loaded from a file or module remembers how it was named (:func:`source_of`), so that a
command printed for it (a note's Confirmation, ``serve --trace``) names the file again, and a
counterexample carries the design's knobs (:func:`design_from_knobs`), so that ``qomsim replay``
re-runs it without any registry.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import typing
from collections.abc import Iterator
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

import cloudpickle  # type: ignore[import-untyped]  # it ships no type information

from migration.check.search import alternative_designs, proposed_designs
from migration.model.designs import DESIGNS, Design, knob_names
from qom.errors import escape_text

__all__ = [
    "PROPOSAL_IDS",
    "RUNS_CODE",
    "all_designs",
    "design_from_knobs",
    "design_ids",
    "resolve",
    "resolve_preset",
    "source_of",
]

#: the model's own proposals (:mod:`migration.check.search`), in the order commands list them
PROPOSAL_IDS: tuple[str, ...] = ("proposed-singleton-keepalive", "proposed-bql-identity-clear")

#: what ``--help`` says wherever a design may be named by a file or a module
RUNS_CODE = "FILE.py:NAME executes FILE, module:NAME imports the module: name only code you trust"

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


def resolve_preset(spec: str) -> Design:
    """Find the preset a name read from data names, never loading a file or a module.

    :param spec: a preset id.
    :return: the design.
    :raise ValueError: with a one-line reason when ``spec`` is not a preset the model offers.
    """
    if spec in DESIGNS:
        return DESIGNS[spec]
    if spec in PROPOSAL_IDS:
        for d in (*proposed_designs(), *alternative_designs()):
            if d.name == spec:
                return d
        raise ValueError(f"design '{spec}' is not proved by the model, so it is not offered")
    raise ValueError(f"unknown design '{escape_text(spec)}' (a preset id, FILE.py:NAME or module:NAME; "
                     f"presets: {', '.join(design_ids())})")


def resolve(spec: str | Design) -> Design:
    """Find the design a ``--design`` value names, loading a file or a module if it names one.

    Call it only with a name the user typed: loading runs code (:data:`RUNS_CODE`).

    :param spec: a preset id, ``FILE.py:NAME``, ``module:NAME``, or a design.
    :return: the design.
    :raise ValueError: with a one-line reason when nothing usable is found, or when a loaded design has a
        preset's name.
    """
    if isinstance(spec, Design):
        return spec
    where, sep, name = spec.rpartition(":")
    if spec in DESIGNS or spec in PROPOSAL_IDS or not sep or not where or not name.isidentifier():
        return resolve_preset(spec)
    shown = escape_text(spec)
    value = _load_attribute(where, name, shown)
    if not isinstance(value, Design):
        raise ValueError(f"{shown}: '{name}' is a {type(value).__name__}, not a migration Design")
    if _shadows_a_preset(value):
        raise ValueError(f"{shown}: the design is named '{value.name}', a preset's name; give it a name of "
                         "its own")
    _SOURCES.setdefault(value, spec)
    return value


def _shadows_a_preset(design: Design) -> bool:
    """Whether a loaded design takes a preset's name without being that preset."""
    if design.name in DESIGNS:
        return design != DESIGNS[design.name]
    if design.name in PROPOSAL_IDS:
        return all(design != d for d in (*proposed_designs(), *alternative_designs()))
    return False


def _load_attribute(where: str, name: str, shown: str) -> object:
    if where.endswith(".py"):
        module = _load_file(where)
    else:
        try:
            with _cwd_first():
                module = importlib.import_module(where)
        except BaseException as exc:  # a user's module may raise anything while importing, SystemExit too
            raise ValueError(f"{shown}: cannot import {escape_text(where)}: {_one_line(exc)}") from None
    if not hasattr(module, name):
        raise ValueError(f"{shown}: {escape_text(where)} has no '{name}'")
    return getattr(module, name)


@contextlib.contextmanager
def _cwd_first() -> Iterator[None]:
    """Search the current folder first while importing, as ``python -m`` does (a console script's
    ``sys.path`` starts with its own folder instead)."""
    cwd = os.getcwd()
    if "" in sys.path or cwd in sys.path:
        yield
        return
    sys.path.insert(0, cwd)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(cwd)


@cache
def _load_file(path: str) -> Any:
    file = Path(path)
    shown = escape_text(path)
    if not file.is_file():
        raise ValueError(f"{shown}: no such file")
    mod_name = "qomsim_user_design_" + str(abs(hash(str(file.resolve()))))
    spec = importlib.util.spec_from_file_location(mod_name, file)
    if spec is None or spec.loader is None:
        raise ValueError(f"{shown}: cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # a user's file may raise anything while running, SystemExit too
        del sys.modules[mod_name]
        raise ValueError(f"{shown}: {_one_line(exc)}") from None
    # what the file defines travels by value to worker processes, which cannot import it by name
    cloudpickle.register_pickle_by_value(module)
    return module


def _one_line(exc: BaseException) -> str:
    text = escape_text(" ".join(str(exc).split()))
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
