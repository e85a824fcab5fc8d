"""Machines: ``machine``, ``none-machine`` and the ``/machine`` containers (``system/vl.c``)."""

from __future__ import annotations

from typing import Any

from qom.errors import QOMFatal
from qom.object import Object, object_new, object_unref
from qom.qdev import TYPE_SYSTEM_BUS
from qom.tree import TYPE_CONTAINER, object_get_root, object_property_add_child
from qom.types import TYPE_OBJECT, ObjectClass, TypeInfo, type_register_static
from qom.universe import MachinePhase, current_universe

__all__ = ["TYPE_MACHINE", "TYPE_NONE_MACHINE", "MachineClass", "MachineState", "create_machine"]

TYPE_MACHINE = "machine"
TYPE_NONE_MACHINE = "none-machine"
MACHINE_CONTAINERS = ("peripheral", "peripheral-anon", "unattached")


class MachineClass(ObjectClass):
    """``MachineClass``: ``name`` (without ``-machine``) and ``desc``."""

    def __init__(self) -> None:
        super().__init__()
        self.name: str | None = None
        self.desc: str | None = None


class MachineState(Object):
    """``MachineState``."""


def _machine_none_class_init(oc: ObjectClass, data: Any) -> None:
    if isinstance(oc, MachineClass):
        oc.name = "none"
        oc.desc = "empty machine"


def register_builtin_types() -> None:
    """Register ``machine`` (abstract) and ``none-machine`` in the current universe."""
    type_register_static(
        TypeInfo(
            name=TYPE_MACHINE,
            parent=TYPE_OBJECT,
            abstract=True,
            class_type=MachineClass,
            instance_type=MachineState,
        )
    )
    type_register_static(
        TypeInfo(name=TYPE_NONE_MACHINE, parent=TYPE_MACHINE, class_init=_machine_none_class_init)
    )


def create_machine(typename: str) -> Object:
    """``qemu_create_machine``: ``/machine`` with ``unattached``, ``peripheral``,
    ``peripheral-anon`` and ``unattached/sysbus``; phase ``MACHINE_CREATED``.

    The universe keeps the machine's creation reference (QEMU's ``current_machine``).
    Call :func:`qom.qdev.qdev_machine_creation_done` to reach ``MACHINE_READY``.

    :param typename: a concrete machine type.
    :return: the machine.
    :raise QOMFatal: when the type is unknown or a machine already exists.
    """
    u = current_universe()
    if u.current_machine is not None:
        raise QOMFatal("assertion failed: (!current_machine)")
    machine = object_new(typename)
    object_property_add_child(object_get_root(), "machine", machine)
    containers: dict[str, Object] = {}
    for name in MACHINE_CONTAINERS:
        c = object_new(TYPE_CONTAINER)
        object_property_add_child(machine, name, c)
        object_unref(c)
        containers[name] = c
    sysbus = object_new(TYPE_SYSTEM_BUS)
    object_property_add_child(containers["unattached"], "sysbus", sysbus)
    object_unref(sysbus)
    u.current_machine = machine
    u.machine_phase = MachinePhase.MACHINE_CREATED
    return machine
