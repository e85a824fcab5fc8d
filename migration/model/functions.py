"""The model's QEMU functions: one public table, each entry replaceable by a design.

Every QEMU function the model covers is one Python generator function registered here under
QEMU's own name (``migration_shutdown``, ``migrate_get_current``, ``qmp_migrate_pause``...), with
the ``file:function`` it follows at each tag (:mod:`migration.model.sources`).  A QEMU tag is this
table with the tag's knobs; a design is a tag plus the entries it replaces
(:attr:`~migration.model.designs.Design.functions`).  The model never calls one of these functions
directly: it asks :func:`qemu` (or :func:`function`) for the design's entry, so a replacement is
seen by every caller, on every actor.

A model function takes the :class:`~migration.model.runtime.World` first, then the arguments its
entry's :attr:`QemuFunction.signature` names, and is written with the effects of
:mod:`migration.model.effects` (loads and stores, locks, references, ``call_rcu``, threads, bottom
halves, polls and waits): each ``yield from`` of an effect is one atomic step the scheduler may
interleave with other actors' steps.

The defaults register themselves with :func:`qemu_function` when their modules load
(:mod:`migration.model.events`, :mod:`~migration.model.actors`, :mod:`~migration.model.helpers`);
:func:`table` loads them first.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from typeguard import typeguard_ignore

from migration.model.sources import SOURCES, source

if TYPE_CHECKING:
    from migration.model.runtime import Pending, World

__all__ = ["ModelFunction", "QemuFunction", "function", "hook", "qemu", "qemu_function", "recorded", "table"]

#: a model function: ``fn(w, *args)`` yields the steps of one call and returns its C return value
ModelFunction = Callable[..., Generator["Pending", None, Any]]
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


@dataclass(frozen=True)
class QemuFunction:
    """One entry of the table.

    :ivar name: QEMU's name of the function.
    :ivar signature: the model function's arguments after the world, and what it returns.
    :ivar doc: one line: what the default does.
    :ivar default: the default model function (QEMU's code at the design's tag, following its knobs).
    :ivar source_key: the :data:`~migration.model.sources.SOURCES` key of the ``file:function`` its
        steps are recorded with.
    :ivar steps: the entry is a generator of steps (``False``: a hook, a plain function that runs
        inside the step that calls it, as QOM runs ``instance_init`` inside ``object_new``).
    """

    name: str
    signature: str
    doc: str
    default: ModelFunction
    source_key: str
    steps: bool = True

    def __str__(self) -> str:
        return f"QemuFunction({self.name}{self.signature})"

    def where(self, tag: str) -> str:
        """:param tag: a design's tag.
        :return: ``file:function`` at that tag.
        """
        return source(self.source_key, tag)


_TABLE: dict[str, QemuFunction] = {}


def qemu_function(name: str, signature: str, doc: str, source_key: str | None = None,
                  steps: bool = True) -> Callable[[F], F]:
    """Register the decorated generator function as the default of QEMU function ``name``.

    :param name: QEMU's name.
    :param signature: the arguments after the world, and the return value (``"(s: str) -> None"``).
    :param doc: one line: what the default does.
    :param source_key: the ``SOURCES`` key (default: ``name``).
    :param steps: ``False`` for a hook: a plain function, run inside the step that calls it
        (:func:`hook`).
    :return: the decorator (it returns the function unchanged).
    :raise ValueError: when ``name`` is registered already, or has no source.
    """
    key = source_key or name
    if key not in SOURCES and not key.startswith("migration_"):
        raise ValueError(f"QEMU function '{name}' has no source entry '{key}'")

    def register(fn: F) -> F:
        if name in _TABLE:
            raise ValueError(f"QEMU function '{name}' is registered twice")
        _TABLE[name] = QemuFunction(name, signature, doc, fn, key, steps)
        return fn

    return register


def table() -> dict[str, QemuFunction]:
    """:return: the whole table, by QEMU name, in registration order (every default loaded)."""
    import migration.model.events
    import migration.model.qomtype  # noqa: F401 -- registers instance_init and instance_finalize

    return dict(_TABLE)


@typeguard_ignore  # asked at every call of a model function; mypy checks it
def function(w: World, name: str) -> ModelFunction:
    """:param w: the world (its design says which entries are replaced).
    :param name: a QEMU function name of the table.
    :return: the design's model function for it.
    """
    fn = w.design.replaced.get(name)
    return fn if fn is not None else _TABLE[name].default


@typeguard_ignore  # on the hot path; mypy checks it
def qemu(w: World, name: str, *args: Any) -> Generator[Pending, None, Any]:
    """Call QEMU function ``name``: the design's entry, its steps recorded with the function's
    ``file:function`` at the design's tag (in a world that keeps no trace, the entry's own steps).

    :param w: the world.
    :param name: a QEMU function name of the table.
    :param args: its arguments after the world.
    :return: the steps; ``yield from`` them gives what the function returns.
    """
    steps = function(w, name)(w, *args)
    return recorded(w, _TABLE[name].source_key, steps) if w.traced else steps


@typeguard_ignore  # on the hot path; mypy checks it
def recorded(w: World, key: str, steps: Generator[Pending, None, T]) -> Generator[Pending, None, T]:
    """:param w: a world that keeps its trace.
    :param key: a :data:`~migration.model.sources.SOURCES` key or an exported helper's name.
    :param steps: a function's steps.
    :return: the same steps, each recorded with that function's ``file:function`` at the design's tag.
    """
    a = w.actor
    a.funcs.append(source(key, w.design.tag))
    try:
        return (yield from steps)
    finally:
        a.funcs.pop()


@typeguard_ignore  # called for every instance; mypy checks it
def hook(w: World, name: str, *args: Any) -> Any:
    """Call hook ``name`` (an entry with ``steps=False``): the design's entry, inside the current step.

    :param w: the world.
    :param name: a hook's QEMU name (``migration_instance_init``).
    :param args: its arguments after the world.
    :return: what it returns.
    """
    return function(w, name)(w, *args)
