"""``qom.strategies.user_types_machine``: Hypothesis over the user's own types, and proof that it
finds the bugs it is for (a write that does not read back, a refused write that changed the tree,
a leaked reference, a core without the sanitizer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from typeguard import TypeCheckError

import qom.object
from qom import (
    OBJ_PROP_FLAG_READWRITE,
    GenericError,
    Object,
    ObjectClass,
    TypeInfo,
    object_class_property_add_bool,
    object_class_property_add_enum,
    object_class_property_add_str,
    object_new,
    object_property_add_child,
    object_property_add_uint16_ptr,
    object_property_set_default_bool,
    type_register_static,
)
from qom.strategies import UserTypesMachine, user_types_machine

FIND = settings(
    derandomize=True, max_examples=150, stateful_step_count=25, deadline=None, phases=[Phase.generate],
    database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
RUN = settings(FIND, max_examples=40)


class Gadget(Object):
    def __init__(self) -> None:
        super().__init__()
        self.on = False
        self.label = ""
        self.mode = 0
        self.width = 0


def _g(o: Object) -> Gadget:
    assert isinstance(o, Gadget)
    return o


def _gadget_types(set_width: Callable[[Object, Any], None] | None = None,
                  label_hook: Callable[[Object, str], None] | None = None) -> Callable[[], None]:
    def set_label(o: Object, v: str) -> None:
        if label_hook is not None:
            label_hook(o, v)
        if len(v) > 3:
            raise GenericError(f"label '{v}' is refused")
        setattr(o, "label", v)  # noqa: B010 -- a Gadget field

    def class_init(k: ObjectClass, _d: Any) -> None:
        p = object_class_property_add_bool(k, "on", lambda o: bool(_g(o).on),
                                           lambda o, v: setattr(o, "on", v))
        object_property_set_default_bool(p, True)
        object_class_property_add_str(k, "label", lambda o: str(_g(o).label), set_label)
        object_class_property_add_enum(k, "mode", "GadgetMode", ("slow", "fast"),
                                       lambda o: int(_g(o).mode), lambda o, v: setattr(o, "mode", v))

    def init(o: Object) -> None:
        object_property_add_uint16_ptr(o, "width", "width", OBJ_PROP_FLAG_READWRITE)
        if set_width is not None:
            set_width(o, None)

    def register() -> None:
        type_register_static(TypeInfo(name="gadget", parent="object", instance_type=Gadget,
                                      class_init=class_init, instance_init=init))
        type_register_static(TypeInfo(name="gadget-pro", parent="gadget"))
        type_register_static(TypeInfo(name="gadget-base", parent="object", abstract=True))

    return register


def _run(machine: type[UserTypesMachine], config: settings) -> None:
    run_state_machine_as_test(machine, settings=config)  # type: ignore[no-untyped-call,unused-ignore]


def test_user_types_machine_runs_over_well_behaved_types() -> None:
    machine = user_types_machine(_gadget_types())
    _run(machine, RUN)
    assert machine.types == ()  # every concrete type register() added: gadget, gadget-pro


def test_user_types_machine_explicit_types_and_bad_arguments() -> None:
    with pytest.raises((TypeError, TypeCheckError), match=r"register must be callable|is not callable"):
        user_types_machine("gadget")  # type: ignore[arg-type]
    machine = user_types_machine(_gadget_types(), ["gadget-pro"], roundtrip=False)
    assert (machine.types, machine.roundtrip) == (("gadget-pro",), False)
    _run(machine, settings(RUN, max_examples=10))
    nothing = user_types_machine(lambda: None)
    with pytest.raises(ValueError, match="added no concrete type"):
        _run(nothing, settings(RUN, max_examples=1))


def test_catches_a_write_that_does_not_read_back() -> None:
    class Off(Gadget):
        pass

    def register() -> None:
        def class_init(k: ObjectClass, _d: Any) -> None:
            object_class_property_add_bool(k, "inverted", lambda o: not _g(o).on,
                                           lambda o, v: setattr(o, "on", v))

        type_register_static(TypeInfo(name="inverter", parent="object", instance_type=Off,
                                      class_init=class_init))

    with pytest.raises(AssertionError, match=r"inverted: wrote (True|False), read (False|True)"):
        _run(user_types_machine(register), FIND)


def test_catches_a_refused_write_that_changed_the_tree() -> None:
    def dirty(o: Object, v: str) -> None:
        if len(v) > 3 and qom.object_property_find(o, "debris") is None:
            object_property_add_child(o, "debris", object_new("container"))

    with pytest.raises(AssertionError, match=r"refused write label='.*' changed the universe"):
        _run(user_types_machine(_gadget_types(label_hook=dirty)), FIND)


def test_catches_a_leaked_reference() -> None:
    def leak(o: Object, _v: Any) -> None:
        qom.object_ref(o)  # instance_init keeps a reference to itself: never finalized

    with pytest.raises(AssertionError, match=r"ref \d+, the program holds \d+|live after teardown"):
        _run(user_types_machine(_gadget_types(set_width=leak)), FIND)


@pytest.mark.usefixtures("core_without_sanitizer")
def test_catches_a_core_without_the_sanitizer() -> None:
    with pytest.raises(AssertionError, match=r"was not caught|unexpected fatal"):
        _run(user_types_machine(_gadget_types()), FIND)


def test_user_types_machine_over_devices_realizes_them() -> None:
    """Devices: writing ``realized`` puts a parentless device in /machine/unattached; later writes
    of static properties are refused ("after it was realized") without changing anything."""
    from qom.qmp.examples import register_example_types

    realized: list[int] = []

    class Counting(user_types_machine(register_example_types, ["example-device"])):  # type: ignore[misc]
        def teardown(self) -> None:
            realized.append(sum(1 for h in self._live() if getattr(h.obj, "realized", False)))
            super().teardown()

    _run(Counting, RUN)
    assert sum(realized) > 0  # the programs did realize devices
