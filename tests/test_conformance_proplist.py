"""Conformance: QEMU's ``tests/unit/check-qom-proplist.c``, re-expressed against qomsim.

Ported cases (C test path -> Python test):

* ``/qom/proplist/createv`` -> :func:`test_createv`
* ``/qom/proplist/createcmdline`` -> :func:`test_createcmdline`
* ``/qom/proplist/badenum`` -> :func:`test_badenum`
* ``/qom/proplist/getenum`` -> :func:`test_getenum`
* ``/qom/proplist/iterator`` -> :func:`test_iterator`
* ``/qom/proplist/class_iterator`` -> :func:`test_class_iterator`
* ``/qom/proplist/delchild`` -> :func:`test_delchild`
* ``/qom/resolve/partial`` -> :func:`test_partial_path`

Cases beyond the C file, for behaviour the same dummy types exercise (spec §3-§4):
duplicate ``bv`` registration, ``object_property_parse``/``object_property_print``, alias
properties, a user-creatable ``complete`` failure, and release counting with restart.

Left out, and why:

* ``/qom/proplist/createlist`` is ``createv`` through a ``va_list`` (``object_new_with_propv``);
  Python has one calling convention (a mapping of properties), so it would repeat ``createv``.
* ``createcmdline`` parses ``-object`` text with ``keyval_parse`` and a keyval QObject visitor;
  qomsim has no keyval parser, so the port passes the already-typed dict a QMP ``object-add``
  would carry.  Only the parsing front end is skipped; creation, duplicate id, delete and
  re-create are ported.
* ``qemu_add_opts``/``QemuOptsList`` bookkeeping for ``user_creatable_del`` has no Python
  counterpart (no option lists).
* ``struct tm`` properties (``object_property_add_tm``) are not part of the architecture's API,
  so no test uses them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qom import (
    JSON,
    TYPE_OBJECT,
    TYPE_USER_CREATABLE,
    GenericError,
    Object,
    ObjectClass,
    ObjectPropertyLinkFlags,
    QOMFatal,
    TypeInfo,
    Universe,
    object_class_by_name,
    object_class_dynamic_cast,
    object_class_property_add_enum,
    object_class_property_add_str,
    object_class_property_iter,
    object_get_objects_root,
    object_new,
    object_new_with_props,
    object_property_add,
    object_property_add_alias,
    object_property_add_bool,
    object_property_add_child,
    object_property_add_link,
    object_property_del,
    object_property_find,
    object_property_get,
    object_property_get_enum,
    object_property_iter,
    object_property_parse,
    object_property_print,
    object_property_set,
    object_resolve_path,
    object_resolve_path_ambiguous,
    object_resolve_path_component,
    object_resolve_path_type,
    object_unparent,
    object_unref,
    type_register_static,
    use_universe,
    user_creatable_add_type,
    user_creatable_del,
)

TYPE_DUMMY = "qemu-dummy"
TYPE_DUMMY_DEV = "qemu-dummy-dev"
TYPE_DUMMY_BUS = "qemu-dummy-bus"
TYPE_DUMMY_BACKEND = "qemu-dummy-backend"

DUMMY_ANIMAL = ("frog", "alligator", "platypus")
DUMMY_FROG, DUMMY_ALLIGATOR, DUMMY_PLATYPUS = range(3)
HISS = "Hiss hiss hiss"
PROPS = {"bv": "yes", "sv": HISS, "av": "platypus"}


class DummyObject(Object):
    """Instance struct of ``qemu-dummy``: a bool, an enum and a string field."""

    def __init__(self) -> None:
        super().__init__()
        self.bv = False
        self.av = DUMMY_FROG
        self.sv: str | None = None


def _dummy(obj: Object) -> DummyObject:
    assert isinstance(obj, DummyObject)
    return obj


def _get_bv(obj: Object) -> bool:
    return _dummy(obj).bv


def _set_bv(obj: Object, value: bool) -> None:
    _dummy(obj).bv = value


def _get_av(obj: Object) -> int:
    return _dummy(obj).av


def _set_av(obj: Object, value: int) -> None:
    _dummy(obj).av = value


def _get_sv(obj: Object) -> str | None:
    return _dummy(obj).sv


def _set_sv(obj: Object, value: str) -> None:
    _dummy(obj).sv = value


def _dummy_init(obj: Object) -> None:
    object_property_add_bool(obj, "bv", _get_bv, _set_bv)


def _dummy_class_init(oc: ObjectClass, data: object) -> None:
    object_class_property_add_str(oc, "sv", _get_sv, _set_sv)
    object_class_property_add_enum(oc, "av", "DummyAnimal", DUMMY_ANIMAL, _get_av, _set_av)


# -- the dummy dev/bus/backend trio: properties change while they are being released --------


class DummyDev(Object):
    """``qemu-dummy-dev``: owns a bus child and a weak link to the bus's backend."""

    def __init__(self) -> None:
        super().__init__()
        self.bus: Object | None = None
        self.backend: Object | None = None


class DummyBus(Object):
    """``qemu-dummy-bus``: owns a backend child."""

    def __init__(self) -> None:
        super().__init__()
        self.backend: Object | None = None


class Trio:
    """Hooks of the three types, logging what runs, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def dev_init(self, obj: Object) -> None:
        assert isinstance(obj, DummyDev)
        bus = object_new(TYPE_DUMMY_BUS)
        backend = object_new(TYPE_DUMMY_BACKEND)
        assert isinstance(bus, DummyBus)
        object_property_add_child(obj, "bus", bus)
        obj.bus = bus
        object_property_add_child(bus, "backend", backend)
        bus.backend = backend
        # C points the link at bus->backend; the Python link slot is an attribute of obj
        obj.backend = backend
        object_property_add_link(
            obj, "backend", TYPE_DUMMY_BACKEND, "backend", None, ObjectPropertyLinkFlags(0)
        )

    def dev_finalize(self, obj: Object) -> None:
        assert isinstance(obj, DummyDev) and obj.bus is not None
        self.log.append("dev.finalize")
        object_unref(obj.bus)

    def dev_unparent(self, obj: Object) -> None:
        assert isinstance(obj, DummyDev) and obj.bus is not None
        self.log.append("dev.unparent")
        object_unparent(obj.bus)

    def dev_class_init(self, oc: ObjectClass, data: object) -> None:
        oc.unparent = self.dev_unparent

    def bus_finalize(self, obj: Object) -> None:
        assert isinstance(obj, DummyBus) and obj.backend is not None
        self.log.append("bus.finalize")
        object_unref(obj.backend)

    def bus_unparent(self, obj: Object) -> None:
        assert isinstance(obj, DummyBus) and obj.parent is not None and obj.backend is not None
        self.log.append("bus.unparent")
        object_property_del(obj.parent, "backend")
        object_unparent(obj.backend)

    def bus_class_init(self, oc: ObjectClass, data: object) -> None:
        oc.unparent = self.bus_unparent

    def backend_finalize(self, obj: Object) -> None:
        self.log.append("backend.finalize")


@pytest.fixture
def universe() -> Iterator[Universe]:
    """A fresh universe with the four types of the C test registered."""
    with use_universe(Universe(machine=None)) as u:
        yield u


@pytest.fixture
def trio(universe: Universe) -> Trio:
    t = Trio()
    type_register_static(
        TypeInfo(
            name=TYPE_DUMMY,
            parent=TYPE_OBJECT,
            instance_type=DummyObject,
            instance_init=_dummy_init,
            class_init=_dummy_class_init,
            interfaces=(TYPE_USER_CREATABLE,),
        )
    )
    type_register_static(
        TypeInfo(
            name=TYPE_DUMMY_DEV,
            parent=TYPE_OBJECT,
            instance_type=DummyDev,
            instance_init=t.dev_init,
            instance_finalize=t.dev_finalize,
            class_init=t.dev_class_init,
        )
    )
    type_register_static(
        TypeInfo(
            name=TYPE_DUMMY_BUS,
            parent=TYPE_OBJECT,
            instance_type=DummyBus,
            instance_finalize=t.bus_finalize,
            class_init=t.bus_class_init,
        )
    )
    type_register_static(
        TypeInfo(name=TYPE_DUMMY_BACKEND, parent=TYPE_OBJECT, instance_finalize=t.backend_finalize)
    )
    return t


def _check_dummy(obj: Object | None) -> DummyObject:
    dobj = _dummy(obj)  # type: ignore[arg-type]  # the isinstance inside rejects None
    assert dobj.sv == HISS
    assert dobj.bv is True
    assert dobj.av == DUMMY_PLATYPUS
    return dobj


def test_createv(universe: Universe, trio: Trio) -> None:
    parent = object_get_objects_root()
    dobj = _check_dummy(object_new_with_props(TYPE_DUMMY, parent, "dummy0", PROPS))
    assert object_resolve_path_component(parent, "dummy0") is dobj
    assert dobj.ref == 1  # held by /objects only
    object_unparent(dobj)
    assert object_resolve_path_component(parent, "dummy0") is None
    assert universe.live_instances(TYPE_DUMMY) == 0


def test_createcmdline(universe: Universe, trio: Trio) -> None:
    typed: dict[str, JSON] = {"bv": True, "sv": HISS, "av": "platypus"}
    objects = object_get_objects_root()

    obj = user_creatable_add_type(TYPE_DUMMY, "dev0", typed)
    assert obj.ref == 2  # the caller's reference and /objects'
    object_unref(obj)
    dobj = _check_dummy(object_resolve_path_component(objects, "dev0"))
    assert dobj is obj

    with pytest.raises(GenericError) as err:
        user_creatable_add_type(TYPE_DUMMY, "dev0", typed)
    assert err.value.desc == "attempt to add duplicate property 'dev0' to object (type 'container')"
    assert object_resolve_path_component(objects, "dev0") is dobj
    assert universe.live_instances(TYPE_DUMMY) == 1  # the failed second one was finalized

    user_creatable_del("dev0")
    assert object_resolve_path_component(objects, "dev0") is None
    assert universe.live_instances(TYPE_DUMMY) == 0

    obj = user_creatable_add_type(TYPE_DUMMY, "dev0", typed)
    object_unref(obj)
    dobj = _check_dummy(object_resolve_path_component(objects, "dev0"))
    assert dobj is obj
    object_unparent(dobj)
    assert universe.live_instances(TYPE_DUMMY) == 0
    assert universe.instances_created(TYPE_DUMMY) == 3


def test_badenum(universe: Universe, trio: Trio) -> None:
    parent = object_get_objects_root()
    with pytest.raises(GenericError) as err:
        object_new_with_props(TYPE_DUMMY, parent, "dummy0", {"bv": "yes", "sv": HISS, "av": "yeti"})
    assert err.value.desc == "Parameter 'av' does not accept value 'yeti'"
    assert err.value.error_class == "GenericError"
    assert object_resolve_path_component(parent, "dummy0") is None
    assert universe.live_instances(TYPE_DUMMY) == 0
    assert universe.instances_created(TYPE_DUMMY) == 1


def test_getenum(universe: Universe, trio: Trio) -> None:
    dobj = _dummy(object_new_with_props(TYPE_DUMMY, object_get_objects_root(), "dummy0", {"av": "platypus"}))
    assert dobj.av == DUMMY_PLATYPUS
    assert object_property_get_enum(dobj, "av", "DummyAnimal") == DUMMY_PLATYPUS

    with pytest.raises(GenericError) as err:
        object_property_get_enum(dobj, "av", "BadAnimal")
    assert err.value.desc == "Property av on qemu-dummy is not 'BadAnimal' enum type"

    with pytest.raises(GenericError) as err:
        object_property_get_enum(dobj, "iv", "DummyAnimal")
    assert err.value.desc == "Property 'qemu-dummy.iv' not found"
    object_unparent(dobj)


def test_iterator(universe: Universe, trio: Trio) -> None:
    dobj = object_new_with_props(TYPE_DUMMY, object_get_objects_root(), "dummy0", PROPS)
    names = [p.name for p in object_property_iter(dobj)]
    # "type" from object, "sv"/"av" class properties, "bv" instance property; each once
    assert sorted(names) == ["av", "bv", "sv", "type"]
    # instance properties first, then the class chain leaf to root (spec §4.3)
    assert names[0] == "bv"
    assert names[-1] == "type"
    object_unparent(dobj)


def test_class_iterator(universe: Universe, trio: Trio) -> None:
    klass = object_class_by_name(TYPE_DUMMY)
    assert klass is not None
    names = [p.name for p in object_class_property_iter(klass)]
    assert sorted(names) == ["av", "sv", "type"]
    assert names[-1] == "type"


def test_delchild(universe: Universe, trio: Trio) -> None:
    dev = object_new_with_props(TYPE_DUMMY_DEV, object_get_objects_root(), "dev0", {})
    assert isinstance(dev, DummyDev) and dev.bus is not None
    assert dev.ref == 1
    assert dev.bus.ref == 2  # object_new's reference (dropped in dev's finalize) and the child's
    assert object_resolve_path("/objects/dev0/bus/backend") is dev.backend
    assert object_property_get(dev, "backend") == "/objects/dev0/bus/backend"
    object_unparent(dev)
    assert trio.log == ["dev.unparent", "bus.unparent", "dev.finalize", "bus.finalize", "backend.finalize"]
    for typename in (TYPE_DUMMY_DEV, TYPE_DUMMY_BUS, TYPE_DUMMY_BACKEND):
        assert universe.live_instances(typename) == 0
        assert universe.instances_created(typename) == 1


def test_partial_path(universe: Universe, trio: Trio) -> None:
    root = object_get_objects_root()
    cont1 = object_new("container")
    object_property_add_child(root, "cont1", cont1)
    object_unref(cont1)
    obj1 = object_new(TYPE_DUMMY)
    obj2a = object_new(TYPE_DUMMY)
    obj2b = object_new(TYPE_DUMMY)
    # /objects/cont1/obj1, /objects/cont1/obj2 (obj2a), /objects/obj2 (obj2b)
    object_property_add_child(cont1, "obj1", obj1)
    object_unref(obj1)
    object_property_add_child(cont1, "obj2", obj2a)
    object_unref(obj2a)
    object_property_add_child(root, "obj2", obj2b)
    object_unref(obj2b)

    assert object_resolve_path_ambiguous("", TYPE_DUMMY) == (None, True)
    assert object_resolve_path_type("", TYPE_DUMMY) is None
    assert object_resolve_path_ambiguous("obj2") == (None, True)
    assert object_resolve_path("obj2") is None
    assert object_resolve_path_ambiguous("obj1") == (obj1, False)
    assert object_resolve_path("obj1") is obj1

    object_unparent(obj2b)
    object_unparent(cont1)
    assert universe.live_instances(TYPE_DUMMY) == 0
    assert object_resolve_path("/objects/cont1") is None


# -- beyond the C file -----------------------------------------------------------------------


def test_duplicate_bv_instance_property_is_an_error(universe: Universe, trio: Trio) -> None:
    dobj = object_new(TYPE_DUMMY)
    with pytest.raises(QOMFatal) as fatal:
        object_property_add_bool(dobj, "bv", _get_bv, _set_bv)
    assert "attempt to add duplicate property 'bv' to object (type 'qemu-dummy')" in fatal.value.message
    with pytest.raises(QOMFatal) as fatal:
        object_property_add_bool(dobj, "sv", _get_bv, _set_bv)  # a class property of that name
    assert "attempt to add duplicate property 'sv' to object (type 'qemu-dummy')" in fatal.value.message
    assert sorted(p.name for p in object_property_iter(dobj)) == ["av", "bv", "sv", "type"]
    object_unref(dobj)


def test_parse_and_print(universe: Universe, trio: Trio) -> None:
    dobj = _dummy(object_new(TYPE_DUMMY))
    object_property_parse(dobj, "bv", "on")
    object_property_parse(dobj, "av", "alligator")
    object_property_parse(dobj, "sv", "a b")
    assert (dobj.bv, dobj.av, dobj.sv) == (True, DUMMY_ALLIGATOR, "a b")
    assert object_property_print(dobj, "bv") == "true"
    assert object_property_print(dobj, "av") == "alligator"
    assert object_property_print(dobj, "sv") == "a b"
    assert object_property_print(dobj, "sv", human=True) == '"a b"'
    assert object_property_print(dobj, "type") == TYPE_DUMMY
    with pytest.raises(GenericError) as err:
        object_property_parse(dobj, "bv", "maybe")
    assert err.value.desc == "Parameter 'bv' expects 'on' or 'off'"
    with pytest.raises(GenericError) as err:
        object_property_parse(dobj, "type", "x")
    assert err.value.desc == "Property 'qemu-dummy.type' is not writable"
    assert dobj.bv is True
    object_unref(dobj)


def test_alias_forwards_and_holds_no_reference(universe: Universe, trio: Trio) -> None:
    target = _dummy(object_new(TYPE_DUMMY))
    holder = object_new("container")
    object_property_add_child(holder, "kid", target)
    object_unref(target)
    src = object_new("container")
    object_property_add_alias(src, "flag", target, "bv")
    object_property_add_alias(src, "animal", target, "av")
    object_property_add_alias(src, "kid", holder, "kid")
    flag = object_property_find(src, "flag")
    animal = object_property_find(src, "animal")
    kid = object_property_find(src, "kid")
    assert flag is not None and animal is not None and kid is not None
    assert (flag.type, animal.type, kid.type) == ("bool", "DummyAnimal", f"link<{TYPE_DUMMY}>")
    assert target.ref == 1  # aliases hold no reference
    object_property_set(src, "flag", True)
    object_property_set(src, "animal", "platypus")
    assert (target.bv, target.av) == (True, DUMMY_PLATYPUS)
    assert object_property_get(src, "animal") == "platypus"
    assert object_resolve_path_component(src, "kid") is target
    with pytest.raises(QOMFatal):
        object_property_add_alias(src, "nothing", target, "no-such-property")
    object_unref(src)
    object_unref(holder)
    assert universe.live_instances(TYPE_DUMMY) == 0


def test_user_creatable_complete_failure(universe: Universe, trio: Trio) -> None:
    from qom import UserCreatableClass

    def complete(obj: Object) -> None:
        if object_property_get(obj, "sv") != "ok":
            raise GenericError("sv must be 'ok'")

    def class_init(oc: ObjectClass, data: object) -> None:
        uc = object_class_dynamic_cast(oc, TYPE_USER_CREATABLE)
        assert isinstance(uc, UserCreatableClass)
        uc.complete = complete

    type_register_static(TypeInfo(name="qemu-dummy-picky", parent=TYPE_DUMMY, class_init=class_init))
    objects = object_get_objects_root()
    with pytest.raises(GenericError) as err:
        user_creatable_add_type("qemu-dummy-picky", "p0", {"sv": "no"})
    assert err.value.desc == "sv must be 'ok'"
    assert object_resolve_path_component(objects, "p0") is None
    with pytest.raises(GenericError) as err:
        object_new_with_props("qemu-dummy-picky", objects, "p0", {"sv": "no"})
    assert err.value.desc == "sv must be 'ok'"
    assert object_resolve_path_component(objects, "p0") is None
    assert universe.live_instances("qemu-dummy-picky") == 0
    obj = user_creatable_add_type("qemu-dummy-picky", "p0", {"sv": "ok"})
    object_unref(obj)
    assert object_resolve_path_component(objects, "p0") is obj
    user_creatable_del("p0")
    assert universe.live_instances("qemu-dummy-picky") == 0


def test_release_runs_once_per_property_with_restart(universe: Universe, trio: Trio) -> None:
    released: list[str] = []
    dobj = object_new(TYPE_DUMMY)

    def release_a(obj: Object, name: str, opaque: object) -> None:
        released.append(name)
        # a release that removes another property and adds a new one: finalize must restart
        if "b" not in released:
            object_property_del(obj, "b")
        object_property_add(obj, "late", "int", None, None, release_late, None)

    def release_b(obj: Object, name: str, opaque: object) -> None:
        released.append(name)

    def release_late(obj: Object, name: str, opaque: object) -> None:
        released.append(name)

    object_property_add(dobj, "a", "int", None, None, release_a, None)
    object_property_add(dobj, "b", "int", None, None, release_b, None)
    object_unref(dobj)
    # "b" is released by finalize or by its deletion inside release_a, never twice; "late" is
    # only seen because the iteration restarts after each release
    assert sorted(released) == ["a", "b", "late"]
    assert universe.live_instances(TYPE_DUMMY) == 0
