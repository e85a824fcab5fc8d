"""Hypothesis strategies for the QOM core, and a reusable state machine over it.

* :mod:`qom.strategies.hierarchies`: names, values, and type hierarchies drawn as data
  (:func:`hierarchy_specs`, :func:`hierarchies`);
* :mod:`qom.strategies.machine`: :class:`QOMStateMachine`, random programs over one fresh universe,
  checked against a reference-count model;
* :mod:`qom.strategies.user`: :func:`user_types_machine`, the same kind of programs over *your*
  types (give it the function that registers them).

A tour (run it with ``python -m doctest`` or paste it into a test)::

    >>> from hypothesis import given, settings
    >>> from qom import Universe, use_universe, object_new, object_unref, object_dynamic_cast
    >>> from qom.strategies import hierarchy_specs
    >>> @settings(max_examples=5, deadline=None)
    ... @given(hierarchy_specs())
    ... def check(spec):
    ...     with use_universe(Universe(machine=None)):
    ...         spec.register()
    ...         for name in spec.concrete_types():
    ...             obj = object_new(name)
    ...             assert object_dynamic_cast(obj, "object") is obj
    ...             object_unref(obj)
    >>> check()
"""

from __future__ import annotations

from qom.strategies.hierarchies import (
    BUILTIN_INTERFACES,
    PROPERTY_TYPES,
    GeneratedObject,
    HierarchySpec,
    PropertySpec,
    TypeSpec,
    hierarchies,
    hierarchy_specs,
    type_names,
    values_for,
)
from qom.strategies.machine import MACHINE_PROPERTY_NAMES, MACHINE_TYPES, UAF_ENTRY_POINTS, QOMStateMachine
from qom.strategies.user import UserTypesMachine, user_types_machine

__all__ = [  # noqa: RUF022 -- ordered by importance, not alphabetically
    # your own types
    "user_types_machine",
    "UserTypesMachine",
    # the state machine over generated hierarchies
    "QOMStateMachine",
    "UAF_ENTRY_POINTS",
    "MACHINE_TYPES",
    "MACHINE_PROPERTY_NAMES",
    # hierarchies as data
    "hierarchy_specs",
    "hierarchies",
    "HierarchySpec",
    "TypeSpec",
    "PropertySpec",
    "GeneratedObject",
    "BUILTIN_INTERFACES",
    # plain values
    "type_names",
    "values_for",
    "PROPERTY_TYPES",
]
