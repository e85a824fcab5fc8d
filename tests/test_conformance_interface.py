"""Conformance: QEMU's ``tests/unit/check-qom-interface.c``, re-expressed against qomsim.

The C file declares an interface ``test-interface`` whose class struct carries one extra
field, a type ``direct-impl`` that implements it and whose ``class_init`` stores a pattern in
that field through a cast to the interface class, and ``intermediate-impl``, a plain subtype.
Both of its cases are ported:

* ``/qom/interface/direct_impl`` -> :func:`test_direct_impl`
* ``/qom/interface/intermediate_impl`` -> :func:`test_intermediate_impl`

Nothing is left out.  The extra assertions (names and parents of the hidden ``X::I`` classes,
live counters) check facts of ``../shared/spec/qom-semantics.md`` §1.4 that the C test relies on
without stating them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qom import (
    TYPE_INTERFACE,
    TYPE_OBJECT,
    InterfaceClass,
    ObjectClass,
    TypeInfo,
    Universe,
    object_class_by_name,
    object_class_dynamic_cast,
    object_class_dynamic_cast_assert,
    object_dynamic_cast,
    object_get_class,
    object_new,
    object_unref,
    type_register_static,
    use_universe,
)

TYPE_TEST_IF = "test-interface"
TYPE_DIRECT_IMPL = "direct-impl"
TYPE_INTERMEDIATE_IMPL = "intermediate-impl"
PATTERN = 0xFAFBFCFD


class IfaceClass(InterfaceClass):
    """The interface's class struct: ``InterfaceClass`` plus a 32-bit ``test`` field."""

    def __init__(self) -> None:
        super().__init__()
        self.test = 0


def _direct_class_init(oc: ObjectClass, data: object) -> None:
    tc = object_class_dynamic_cast(oc, TYPE_TEST_IF)
    assert isinstance(tc, IfaceClass)  # the C test's g_assert(tc)
    tc.test = PATTERN


@pytest.fixture
def universe() -> Iterator[Universe]:
    """A fresh universe with the three types of the C test registered, in its order."""
    with use_universe(Universe(machine=None)) as u:
        type_register_static(TypeInfo(name=TYPE_TEST_IF, parent=TYPE_INTERFACE, class_type=IfaceClass))
        type_register_static(
            TypeInfo(
                name=TYPE_DIRECT_IMPL,
                parent=TYPE_OBJECT,
                class_init=_direct_class_init,
                interfaces=(TYPE_TEST_IF,),
            )
        )
        type_register_static(TypeInfo(name=TYPE_INTERMEDIATE_IMPL, parent=TYPE_DIRECT_IMPL))
        yield u


def _check_interface_impl(u: Universe, typename: str) -> IfaceClass:
    obj = object_new(typename)
    iobj = object_dynamic_cast(obj, TYPE_TEST_IF)  # TEST_IF(obj)
    assert iobj is obj
    ioc = object_class_dynamic_cast_assert(object_get_class(obj), TYPE_TEST_IF)  # TEST_IF_GET_CLASS
    assert isinstance(ioc, IfaceClass)
    assert ioc.test == PATTERN
    assert u.live_instances(typename) == 1
    object_unref(obj)
    assert u.live_instances(typename) == 0
    return ioc


def test_direct_impl(universe: Universe) -> None:
    ioc = _check_interface_impl(universe, TYPE_DIRECT_IMPL)
    assert ioc.type.name == f"{TYPE_DIRECT_IMPL}::{TYPE_TEST_IF}"
    assert ioc.type.parent_name == TYPE_TEST_IF
    assert ioc.interface_type is not None
    assert ioc.interface_type.name == TYPE_TEST_IF


def test_intermediate_impl(universe: Universe) -> None:
    ioc = _check_interface_impl(universe, TYPE_INTERMEDIATE_IMPL)
    # inherited interface: parented on the parent's interface class, so the pattern stored by
    # direct-impl's class_init is inherited by copy (spec §1.4)
    assert ioc.type.name == f"{TYPE_INTERMEDIATE_IMPL}::{TYPE_TEST_IF}"
    assert ioc.type.parent_name == f"{TYPE_DIRECT_IMPL}::{TYPE_TEST_IF}"
    assert ioc.interface_type is not None
    assert ioc.interface_type.name == TYPE_TEST_IF
    direct = object_class_dynamic_cast(object_class_by_name(TYPE_DIRECT_IMPL), TYPE_TEST_IF)
    assert direct is not ioc  # one interface class per implementing type


def test_interface_classes_stay_hidden(universe: Universe) -> None:
    _check_interface_impl(universe, TYPE_INTERMEDIATE_IMPL)
    assert object_class_by_name(f"{TYPE_DIRECT_IMPL}::{TYPE_TEST_IF}") is None
    assert object_class_by_name(f"{TYPE_INTERMEDIATE_IMPL}::{TYPE_TEST_IF}") is None
    interface_class = object_class_by_name(TYPE_TEST_IF)
    assert isinstance(interface_class, IfaceClass)
    assert interface_class.test == 0  # the interface's own class is untouched by implementers
