"""The ``migration`` type and its live object in a served universe, as every QEMU has them.

QEMU registers ``TYPE_MIGRATION`` (a ``device`` that is not user-creatable,
``migration/migration.c:migration_class_init``) and ``migration_object_init()`` creates the one
``MigrationState`` at start-up, outside the QOM tree (``current_migration`` holds it).  A served
universe gets the same: in the built-in universe the type is declared with the model's class
properties and the design's QOM-side knobs (``singleton``/``internal`` interfaces and the QMP
policies); a universe loaded from a capture keeps the captured class (the properties of the QEMU
it came from) and learns that it is not user-creatable, which a capture cannot observe.

The object's lifecycle (pointers, references, threads) is the :class:`~migration.live.model.LiveModel`'s;
this object answers what QOM answers about it (introspection, creation refused, singleton fetch).
"""

from __future__ import annotations

from typeguard import typeguard_ignore

from migration.model.designs import Design
from migration.model.qomtype import TYPE_MIGRATION, MigrationClass, MigrationState, migration_qdev_properties
from qom.object import Object, object_new, object_ref
from qom.qdev import DeviceClass, device_class_set_props
from qom.singleton import TYPE_INTERNAL, TYPE_SINGLETON, SingletonClass
from qom.types import (
    ObjectClass,
    TypeInfo,
    object_class_by_name,
    object_class_dynamic_cast,
    type_register_static,
)
from qom.universe import QMPPolicy, Universe, use_universe

__all__ = ["install_migration", "policy_of"]


def policy_of(design: Design) -> QMPPolicy:
    """:param design: a design.
    :return: the QMP policy its QOM-side knobs ask for.
    """
    return QMPPolicy(
        qom_list_properties=design.qom_list_properties,
        device_list_properties=design.device_list_properties,
        user_creation_checks_singleton=design.user_creation_checks_singleton,
        hide_internal=design.hide_internal,
    )


def install_migration(universe: Universe, design: Design) -> Object:
    """Give ``universe`` the ``migration`` type (unless it has one) and run ``migration_object_init()``.

    :param universe: the served universe.
    :param design: the design in force (its QOM-side knobs shape a type declared here).
    :return: the live ``MigrationState`` (its creation reference is held for the process's life).
    """
    live: list[Object] = []

    @typeguard_ignore
    def get_instance(klass: ObjectClass) -> Object | None:
        # migration_get_instance(): the live object, with the reference qom.singleton asks for
        return object_ref(live[0]) if live else None

    @typeguard_ignore
    def class_init(klass: ObjectClass, data: object) -> None:
        if isinstance(klass, DeviceClass):
            klass.user_creatable = False
            device_class_set_props(klass, migration_qdev_properties(design.tag))
        sc = object_class_dynamic_cast(klass, TYPE_SINGLETON)
        if isinstance(sc, SingletonClass):
            sc.get_instance = get_instance

    with use_universe(universe):
        if TYPE_MIGRATION in universe.types:
            klass = object_class_by_name(TYPE_MIGRATION)
            if isinstance(klass, DeviceClass):
                klass.user_creatable = False  # migration_class_init, at every tag
        else:
            wanted = ((TYPE_SINGLETON, design.singleton), (TYPE_INTERNAL, design.internal))
            interfaces = [i for i, on in wanted if on]
            type_register_static(TypeInfo(
                name=TYPE_MIGRATION, parent="device", instance_size=1, class_init=class_init,
                interfaces=tuple(interfaces), class_type=MigrationClass, instance_type=MigrationState,
            ))
        obj = object_new(TYPE_MIGRATION)  # migration_object_init(): not added to the QOM tree
    live.append(obj)
    return obj
