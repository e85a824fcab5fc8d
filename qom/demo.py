"""``qomsim demo``: a short tour of the QOM core.

It declares a small type hierarchy with an interface and properties, creates objects,
adds children and links, prints an ``info qom-tree``-like view, casts, and finalizes
with the reference counts shown at each step.  The output is deterministic.
"""

from __future__ import annotations

import argparse
from typing import Any

from qom.errors import GenericError, QOMError, QOMFatal
from qom.object import Object, object_dynamic_cast, object_get_typename, object_new, object_unref
from qom.property import (
    ObjectPropertyFlags,
    object_class_property_find,
    object_property_get,
    object_property_parse,
    object_property_set,
    object_property_set_default_uint,
)
from qom.property_typed import object_class_property_add_str, object_class_property_add_uint32_ptr
from qom.tree import (
    OBJ_PROP_LINK_STRONG,
    object_get_canonical_path,
    object_get_root,
    object_property_add_child,
    object_property_add_link,
    object_property_allow_set_link,
    object_property_is_child,
    object_resolve_path,
    object_unparent,
)
from qom.types import TYPE_INTERFACE, ObjectClass, TypeInfo, object_class_dynamic_cast, type_register_static
from qom.universe import EventKind, QOMEvent, Universe, use_universe

__all__ = ["HELP", "add_arguments", "format_qom_tree", "run"]

#: the line ``qomsim --help`` shows
HELP = "a short tour of the QOM core"


class Animal(Object):
    """Instance struct of the demo's ``animal`` type."""

    def __init__(self) -> None:
        super().__init__()
        self.legs = 0
        self.sound: str | None = None
        self.friend: Object | None = None


def format_qom_tree(obj: Object, name: str = "") -> list[str]:
    """Render ``info qom-tree``: ``/NAME (TYPE)`` per object, indent 2 per level, children by name.

    :param obj: the top object (its NAME is empty).
    :param name: the name printed for ``obj``.
    :return: the lines.
    """
    lines = [f"/{name} ({object_get_typename(obj)})"]
    children = sorted((p.name, p.opaque) for p in obj.properties.values() if object_property_is_child(p))
    for child_name, child in children:
        lines.extend("  " + line for line in format_qom_tree(child, child_name))
    return lines


def _animal(o: Object) -> Animal:
    if not isinstance(o, Animal):
        raise TypeError(f"{o!r} is not an Animal")
    return o


def _set_sound(o: Object, value: str) -> None:
    _animal(o).sound = value


def _animal_class_init(k: ObjectClass, data: Any) -> None:
    legs = object_class_property_add_uint32_ptr(k, "legs", "legs", ObjectPropertyFlags.READWRITE)
    object_property_set_default_uint(legs, data)
    object_class_property_add_str(k, "sound", lambda o: _animal(o).sound, _set_sound)


def _bird_init(o: Object) -> None:
    _animal(o).legs = 2


def _declare() -> None:
    type_register_static(TypeInfo(name="pet", parent=TYPE_INTERFACE))
    type_register_static(
        TypeInfo(
            name="animal",
            parent="object",
            abstract=True,
            class_init=_animal_class_init,
            class_data=4,
            instance_type=Animal,
        )
    )
    type_register_static(TypeInfo(name="dog", parent="animal", interfaces=["pet"]))
    type_register_static(TypeInfo(name="bird", parent="animal", instance_init=_bird_init))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: the tour is fixed.

    :param parser: the ``demo`` subparser.
    """
    parser.add_argument("--events", action="store_true", help="also print every QOM event")


def run(args: argparse.Namespace) -> int:
    """Run the tour on a fresh universe and print it.

    :param args: parsed arguments (``--events``).
    :return: 0.
    """
    u = Universe()
    if getattr(args, "events", False):

        def show(e: QOMEvent) -> None:
            if e.kind is not EventKind.PROPERTY_ADDED:
                print(f"    event: {e.kind.value} {e.typename}{'.' + e.name if e.name else ''}")

        u.subscribe(show)
    with use_universe(u):
        _tour(u)
    return 0


def _tour(u: Universe) -> None:
    print("1. Declare: interface 'pet'; abstract 'animal' (legs: uint32 with a default; sound: string)")
    print(
        "   'dog' (animal, implements pet), 'bird' (animal; its instance_init sets 2 legs after the default)"
    )
    _declare()
    print()
    print("2. Create and attach under /zoo (new -> add child -> unref leaves the parent the only owner)")
    zoo = object_new("container")
    object_property_add_child(object_get_root(), "zoo", zoo)
    object_unref(zoo)
    rex = object_new("dog")
    tweety = object_new("bird")
    for name, obj in (("rex", rex), ("tweety", tweety)):
        object_property_add_child(zoo, name, obj)
        print(f"   {name}: created ref=1, added as child ref={obj.ref}", end="")
        object_unref(obj)
        print(f", unref'd ref={obj.ref}")
    object_property_parse(rex, "sound", "woof")
    object_property_set(tweety, "sound", "tweet")
    print(
        f"   rex.legs={object_property_get(rex, 'legs')} tweety.legs={object_property_get(tweety, 'legs')}"
        f" rex.sound={object_property_get(rex, 'sound')!r}"
    )
    legs = object_class_property_find(rex.klass, "legs")
    print(f"   class property 'legs' on 'animal' has default-value {legs.defval if legs else None}")
    print()
    print("3. A strong link: rex.friend -> tweety")
    object_property_add_link(
        rex, "friend", "animal", "friend", object_property_allow_set_link, OBJ_PROP_LINK_STRONG
    )
    object_property_set(rex, "friend", "tweety")  # a partial path
    print(f"   rex.friend = {object_property_get(rex, 'friend')!r}; tweety ref={tweety.ref}")
    try:
        object_property_set(rex, "friend", "/nowhere")
    except QOMError as err:
        print(f"   setting it to '/nowhere' fails: {err.error_class}: {err.desc}")
    print()
    print("4. info qom-tree /zoo")
    for line in format_qom_tree(zoo):
        print("   " + line)
    print()
    print("5. Casts")
    dog_class = rex.klass
    pet = object_class_dynamic_cast(dog_class, "pet")
    print(f"   dog -> pet: {pet.type.name if pet else None} (the hidden interface class)")
    print(f"   dog -> interface: {object_class_dynamic_cast(dog_class, TYPE_INTERFACE) is not None}")
    print(f"   bird -> pet: {object_class_dynamic_cast(tweety.klass, 'pet')}")
    print(f"   object_dynamic_cast(rex, 'animal') is rex: {object_dynamic_cast(rex, 'animal') is rex}")
    try:
        object_new("animal")
    except QOMFatal as exc:  # QEMU would abort here
        print(f"   object_new('animal') aborts: {exc.message}")
    try:
        object_property_set(rex, "legs", "four")
    except GenericError as err:
        print(f"   rex.legs = 'four' fails: {err.desc}")
    print()
    print("6. Finalize: unparent /zoo/tweety (rex's strong link still holds it), then /zoo")
    object_unparent(tweety)
    print(f"   tweety: ref={tweety.ref} state={tweety.state.value} path={object_get_canonical_path(tweety)}")
    object_unparent(zoo)
    for name, obj in (("zoo", zoo), ("rex", rex), ("tweety", tweety)):
        print(f"   {name}: ref={obj.ref} state={obj.state.value}")
    print(f"   /zoo resolves to {object_resolve_path('/zoo')}")
    print(
        f"   instances created: {u.instances_created('dog')} dog, {u.instances_created('bird')} bird; "
        f"live: {u.live_instances('dog')} dog, {u.live_instances('bird')} bird"
    )
