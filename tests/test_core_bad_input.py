"""Bad input at the public face of :mod:`qom`: wrong Python types and unknown names.

* Every public function of ``qom.__all__`` has a *valid call* below (checked to succeed).  From
  it, one case per annotated parameter replaces that argument by a value of the wrong Python
  type; the call must raise ``TypeError`` and leave ``Universe.snapshot()`` unchanged.
  typeguard's own instrumentation is suppressed around these calls, so the core's checks are
  what is tested (typeguard would otherwise answer first with ``TypeCheckError``).
* Unknown names give QEMU's documented result (error, fatal or a silent ``None``), again with
  the universe unchanged.
* ``qom.__all__`` lists exactly the public names of the package face.
"""

from __future__ import annotations
import __future__

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from typeguard import suppress_type_checks

import qom
import qom.snapshot
from qom import (
    TYPE_DEVICE,
    TYPE_OBJECT,
    TYPE_USER_CREATABLE,
    DeviceNotFound,
    DeviceState,
    GenericError,
    Object,
    ObjectClass,
    ObjectProperty,
    ObjectPropertyFlags,
    ObjectPropertyLinkFlags,
    Property,
    QOMError,
    QOMFatal,
    TypeInfo,
    Universe,
    use_universe,
)


class Ctx:
    """A fresh universe with one of everything a valid call needs."""

    def __init__(self) -> None:
        self.u = Universe()
        with use_universe(self.u):
            qom.type_register_static(TypeInfo(name="bad-t", parent=TYPE_OBJECT))
            qom.type_register_static(
                TypeInfo(name="bad-uc", parent=TYPE_OBJECT, interfaces=(TYPE_USER_CREATABLE,))
            )
            qom.type_register_static(TypeInfo(name="bad-dev", parent=TYPE_DEVICE))
            klass = qom.object_class_by_name("bad-t")
            dc = qom.object_class_by_name("bad-dev")
            assert klass is not None and dc is not None
            self.klass: ObjectClass = klass
            self.dc: ObjectClass = dc
            self.prop: ObjectProperty = qom.object_class_property_add(klass, "p", "int", None, None)
            self.root = qom.object_get_root()
            self.obj = qom.object_new("bad-t")
            qom.object_property_add_child(qom.object_get_objects_root(), "o1", self.obj)
            qom.object_unref(self.obj)
            self.obj.__dict__.update(flag=False, s="x", i=1, l=None)
            qom.object_property_add_bool(self.obj, "flag", lambda o: False, lambda o, v: None)
            qom.object_property_add_str(self.obj, "s", lambda o: "x", lambda o, v: None)
            qom.object_property_add_uint8_ptr(self.obj, "i", "i", ObjectPropertyFlags.READWRITE)
            qom.object_property_add_enum(self.obj, "e", "E", ("a", "b"), lambda o: 0, lambda o, v: None)
            qom.object_property_add_link(
                self.obj,
                "l",
                TYPE_OBJECT,
                "l",
                qom.object_property_allow_set_link,
                ObjectPropertyLinkFlags.NONE,
            )
            self.other = qom.object_new("bad-t")
            self.uc = qom.user_creatable_add_type("bad-uc", "u0", {})
            self.dev = qom.qdev_new("bad-dev")


#: name -> (call, valid arguments); ``call`` defaults to the function itself
VALID: dict[str, Callable[[Ctx], tuple[Any, ...]]] = {
    "current_universe": lambda c: (),
    "use_universe": lambda c: (c.u,),
    "type_register_static": lambda c: (TypeInfo(name="bad-new", parent=TYPE_OBJECT),),
    "type_register": lambda c: (TypeInfo(name="bad-new", parent=TYPE_OBJECT),),
    "type_register_static_array": lambda c: ([TypeInfo(name="bad-new", parent=TYPE_OBJECT)],),
    "object_class_by_name": lambda c: ("container",),
    "object_class_dynamic_cast": lambda c: (c.klass, TYPE_OBJECT),
    "object_class_dynamic_cast_assert": lambda c: (c.klass, TYPE_OBJECT),
    "object_class_foreach": lambda c: (lambda k: None, None, False),
    "object_class_get_list": lambda c: (None, False),
    "object_class_get_list_sorted": lambda c: (None, False),
    "object_class_get_parent": lambda c: (c.klass,),
    "object_class_is_abstract": lambda c: (c.klass,),
    "object_class_get_name": lambda c: (c.klass,),
    "object_class_implements": lambda c: (c.klass, TYPE_OBJECT),
    "object_new": lambda c: ("bad-t",),
    "object_initialize": lambda c: (Object(), 64, "bad-t"),
    "object_initialize_child": lambda c: (c.obj, "ic", Object(), "bad-t"),
    "object_initialize_child_with_props": lambda c: (c.obj, "ic", Object(), 64, "bad-t", {}),
    "object_new_with_class": lambda c: (c.klass,),
    "object_new_with_props": lambda c: ("bad-uc", c.root, "bad-id", {}),
    "object_ref": lambda c: (c.obj,),
    "object_unref": lambda c: (c.other,),
    "object_dynamic_cast": lambda c: (c.obj, TYPE_OBJECT),
    "object_dynamic_cast_assert": lambda c: (c.obj, TYPE_OBJECT),
    "object_get_typename": lambda c: (c.obj,),
    "object_get_class": lambda c: (c.obj,),
    "object_property_add": lambda c: (c.obj, "np", "int", None, None, None, None),
    "object_property_try_add": lambda c: (c.obj, "np", "int", None, None, None, None),
    "object_class_property_add": lambda c: (c.klass, "np", "int", None, None, None, None),
    "object_property_add_bool": lambda c: (c.obj, "np", None, None),
    "object_class_property_add_bool": lambda c: (c.klass, "np", None, None),
    "object_property_add_str": lambda c: (c.obj, "np", None, None),
    "object_class_property_add_str": lambda c: (c.klass, "np", None, None),
    "object_property_add_enum": lambda c: (c.obj, "np", "E", ("a",), None, None),
    "object_class_property_add_enum": lambda c: (c.klass, "np", "E", ("a",), None, None),
    "object_property_add_uint8_ptr": lambda c: (c.obj, "np", "i", ObjectPropertyFlags.READ),
    "object_property_add_uint16_ptr": lambda c: (c.obj, "np", "i", ObjectPropertyFlags.READ),
    "object_property_add_uint32_ptr": lambda c: (c.obj, "np", "i", ObjectPropertyFlags.READ),
    "object_property_add_uint64_ptr": lambda c: (c.obj, "np", "i", ObjectPropertyFlags.READ),
    "object_class_property_add_uint8_ptr": lambda c: (c.klass, "np", "i", ObjectPropertyFlags.READ),
    "object_class_property_add_uint16_ptr": lambda c: (c.klass, "np", "i", ObjectPropertyFlags.READ),
    "object_class_property_add_uint32_ptr": lambda c: (c.klass, "np", "i", ObjectPropertyFlags.READ),
    "object_class_property_add_uint64_ptr": lambda c: (c.klass, "np", "i", ObjectPropertyFlags.READ),
    "object_property_add_child": lambda c: (c.obj, "np", c.other),
    "object_property_try_add_child": lambda c: (c.obj, "np", c.other),
    "object_property_add_link": lambda c: (c.obj, "np", TYPE_OBJECT, "l", None, ObjectPropertyLinkFlags.NONE),
    "object_class_property_add_link": lambda c: (
        c.klass,
        "np",
        TYPE_OBJECT,
        "l",
        None,
        ObjectPropertyLinkFlags.NONE,
    ),
    "object_property_add_const_link": lambda c: (c.obj, "np", c.other),
    "object_property_allow_set_link": lambda c: (c.obj, "l", None),
    "object_property_add_alias": lambda c: (c.other, "np", c.obj, "flag"),
    "object_property_set_default_bool": lambda c: (c.prop, True),
    "object_property_set_default_str": lambda c: (c.prop, "x"),
    "object_property_set_default_int": lambda c: (c.prop, 1),
    "object_property_set_default_uint": lambda c: (c.prop, 1),
    "object_property_set_description": lambda c: (c.obj, "flag", "d"),
    "object_class_property_set_description": lambda c: (c.klass, "p", "d"),
    "object_property_find": lambda c: (c.obj, "type"),
    "object_property_find_err": lambda c: (c.obj, "type"),
    "object_class_property_find": lambda c: (c.klass, "type"),
    "object_class_property_find_err": lambda c: (c.klass, "type"),
    "object_property_iter": lambda c: (c.obj,),
    "object_class_property_iter": lambda c: (c.klass,),
    "object_property_del": lambda c: (c.obj, "flag"),
    "object_property_get": lambda c: (c.obj, "flag"),
    "object_property_set": lambda c: (c.obj, "flag", True),
    "object_property_parse": lambda c: (c.obj, "flag", "on"),
    "object_property_print": lambda c: (c.obj, "flag", False),
    "object_property_get_str": lambda c: (c.obj, "s"),
    "object_property_get_bool": lambda c: (c.obj, "flag"),
    "object_property_get_int": lambda c: (c.obj, "i"),
    "object_property_get_type": lambda c: (c.obj, "i"),
    "object_property_help": lambda c: ("n", "uint8", 3, "a number"),
    "object_property_get_uint": lambda c: (c.obj, "i"),
    "object_property_get_enum": lambda c: (c.obj, "e", "E"),
    "object_property_get_link": lambda c: (c.obj, "l"),
    "object_property_set_str": lambda c: (c.obj, "s", "y"),
    "object_property_set_bool": lambda c: (c.obj, "flag", True),
    "object_property_set_int": lambda c: (c.obj, "i", 2),
    "object_property_set_uint": lambda c: (c.obj, "i", 2),
    "object_property_set_link": lambda c: (c.obj, "l", None),
    "object_get_root": lambda c: (),
    "object_get_objects_root": lambda c: (),
    "object_get_internal_root": lambda c: (),
    "object_get_container": lambda c: ("objects",),
    "object_get_canonical_path": lambda c: (c.obj,),
    "object_get_canonical_path_component": lambda c: (c.obj,),
    "object_resolve_path": lambda c: ("/objects/o1",),
    "object_resolve_path_type": lambda c: ("/objects/o1", TYPE_OBJECT),
    "object_resolve_path_ambiguous": lambda c: ("o1", TYPE_OBJECT),
    "object_resolve_type_unambiguous": lambda c: (qom.TYPE_NONE_MACHINE,),
    "object_resolve_path_at": lambda c: (c.root, "objects/o1"),
    "object_resolve_path_component": lambda c: (c.root, "objects"),
    "object_unparent": lambda c: (c.obj,),
    "object_child_foreach": lambda c: (c.root, lambda o: 0),
    "object_child_foreach_recursive": lambda c: (c.root, lambda o: 0),
    "user_creatable_add_type": lambda c: ("bad-uc", "u1", {}),
    "user_creatable_del": lambda c: ("u0",),
    "user_creatable_complete": lambda c: (c.uc,),
    "device_class_set_props": lambda c: (c.dc, [Property("pp", qom.qdev_prop_bool, "pp")]),
    "qdev_prop_enum": lambda c: ("E", ("a", "b"), None),
    "qdev_prop_allow_set_link_before_realize": lambda c: (c.dev, "np", None),
    "qdev_new": lambda c: ("bad-dev",),
    "qdev_realize": lambda c: (c.dev, None),
    "qdev_realize_and_unref": lambda c: (qom.object_ref(c.dev), None),
    "qdev_unrealize": lambda c: (c.dev,),
    "qbus_new": lambda c: (qom.TYPE_SYSTEM_BUS, c.dev, "b0"),
    "qdev_get_machine": lambda c: (),
    "qdev_prop_register_global": lambda c: ("bad-dev", "realized", "off"),
    "qdev_machine_creation_done": lambda c: (),
    "object_class_is_singleton": lambda c: (c.klass,),
    "object_class_is_internal": lambda c: (c.klass,),
    "singleton_get_instance": lambda c: (c.klass,),
}


def _call(name: str, args: tuple[Any, ...]) -> Any:
    fn = getattr(qom, name)
    if name == "use_universe":
        with fn(*args) as u:
            return u
    result = fn(*args)
    if name in ("object_property_iter", "object_class_property_iter"):
        return list(result)
    return result


def _public_functions() -> list[str]:
    return [n for n in qom.__all__ if inspect.isfunction(getattr(qom, n))]


class _NotAnything:
    """A value of no type the API accepts."""

    def __repr__(self) -> str:
        return "<not-anything>"


def _wrong_value(annotation: str, c: Ctx) -> object:
    """A value of the wrong Python type for ``annotation`` (a string: the core uses PEP 563)."""
    if annotation in ("str", "str | None", "Sequence[str]"):
        return 42
    if annotation == "str | Path":
        return 987654  # an int, and surely not an open file descriptor
    if annotation in ("bool", "int"):
        return "1"
    if annotation == "JSON":
        return _NotAnything()
    if annotation in ("Object", "Object | None", "Universe"):
        return "not-an-object"
    if annotation in (
        "ObjectClass",
        "ObjectClass | None",
        "DeviceClass",
        "ObjectProperty",
        "DeviceState",
        "BusState | None",
    ):
        return c.other  # an Object, but not of the class wanted
    return "wrong"  # callables, mappings, flags, TypeInfo and sequences of records


@dataclass(frozen=True)
class WrongCase:
    function: str
    index: int
    parameter: str
    annotation: str

    def __str__(self) -> str:
        return f"{self.function}-{self.parameter}"


def _wrong_cases() -> list[WrongCase]:
    cases = []
    for name in _public_functions():
        params = list(inspect.signature(getattr(qom, name)).parameters.values())
        for i, p in enumerate(params):
            if p.annotation in ("Any", inspect.Parameter.empty):
                continue
            cases.append(WrongCase(name, i, p.name, str(p.annotation)))
    return cases


WRONG_CASES = _wrong_cases()

def test_every_public_function_has_a_valid_call() -> None:
    """A new public function needs an entry in ``VALID`` (and so gets its bad-input cases)."""
    missing = sorted(set(_public_functions()) - set(VALID))
    stale = sorted(set(VALID) - set(_public_functions()))
    assert (missing, stale) == ([], [])


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_call_is_accepted(name: str) -> None:
    c = Ctx()
    with use_universe(c.u):
        _call(name, VALID[name](c))


@pytest.mark.parametrize("case", WRONG_CASES, ids=str)
def test_wrong_type_is_a_type_error_and_changes_nothing(case: WrongCase) -> None:
    c = Ctx()
    args = list(VALID[case.function](c))
    if case.index >= len(args):
        pytest.fail(f"valid call of {case.function} lacks {case.parameter}")
    args[case.index] = _wrong_value(case.annotation, c)
    with use_universe(c.u):
        before = c.u.snapshot()
        with suppress_type_checks(), pytest.raises(TypeError):
            _call(case.function, tuple(args))
        assert c.u.snapshot() == before


@pytest.mark.parametrize(
    "field_value",
    [{"name": 42}, {"parent": 42}, {"interfaces": "bad-t"}, {"interfaces": (42,)}, {"class_init": 42}],
    ids=str,
)
def test_malformed_type_info_is_a_type_error(field_value: dict[str, object]) -> None:
    c = Ctx()
    info = TypeInfo(name="bad-new", parent=TYPE_OBJECT)
    for key, value in field_value.items():
        setattr(info, key, value)
    with use_universe(c.u):
        before = c.u.snapshot()
        with suppress_type_checks(), pytest.raises(TypeError):
            qom.type_register_static(info)
        assert c.u.snapshot() == before


# -- unknown names ------------------------------------------------------------------------------

#: calls that create (and finalize) a temporary object before failing, as QEMU does: only the
#: "created" counters may change
CREATES_TEMPORARY = {"object_new_with_props-property", "user_creatable_add_type-property"}

#: (id, call, expected exception or None for a silent None, exact message)
UNKNOWN: list[tuple[str, Callable[[Ctx], object], type[BaseException] | None, str]] = [
    ("object_new", lambda c: qom.object_new("nope"), QOMFatal, "unknown type 'nope'"),
    ("qdev_new", lambda c: qom.qdev_new("nope"), QOMFatal, "unknown type 'nope'"),
    ("object_class_by_name", lambda c: qom.object_class_by_name("nope"), None, ""),
    ("object_class_dynamic_cast", lambda c: qom.object_class_dynamic_cast(c.klass, "nope"), None, ""),
    ("object_dynamic_cast", lambda c: qom.object_dynamic_cast(c.obj, "nope"), None, ""),
    (
        "object_new_with_props",
        lambda c: qom.object_new_with_props("nope", None, None, {}),
        GenericError,
        "invalid object type: nope",
    ),
    (
        "object_new_with_props-property",
        lambda c: qom.object_new_with_props("bad-uc", c.root, "x", {"nope": "1"}),
        GenericError,
        "Property 'bad-uc.nope' not found",
    ),
    (
        "user_creatable_add_type",
        lambda c: qom.user_creatable_add_type("nope", "x", {}),
        GenericError,
        "invalid object type: nope",
    ),
    (
        "user_creatable_add_type-property",
        lambda c: qom.user_creatable_add_type("bad-uc", "x", {"nope": 1}),
        GenericError,
        "Property 'bad-uc.nope' not found",
    ),
    (
        "user_creatable_add_type-not-uc",
        lambda c: qom.user_creatable_add_type("bad-t", "x", {}),
        GenericError,
        "object type 'bad-t' isn't supported by object-add",
    ),
    ("user_creatable_del", lambda c: qom.user_creatable_del("nope"), GenericError, "object 'nope' not found"),
    ("object_property_find", lambda c: qom.object_property_find(c.obj, "nope"), None, ""),
    ("object_class_property_find", lambda c: qom.object_class_property_find(c.klass, "nope"), None, ""),
    (
        "object_property_find_err",
        lambda c: qom.object_property_find_err(c.obj, "nope"),
        GenericError,
        "Property 'bad-t.nope' not found",
    ),
    (
        "object_class_property_find_err",
        lambda c: qom.object_class_property_find_err(c.klass, "nope"),
        GenericError,
        "Property '.nope' not found",
    ),
    (
        "object_property_get",
        lambda c: qom.object_property_get(c.obj, "nope"),
        GenericError,
        "Property 'bad-t.nope' not found",
    ),
    (
        "object_property_set",
        lambda c: qom.object_property_set(c.obj, "nope", 1),
        GenericError,
        "Property 'bad-t.nope' not found",
    ),
    (
        "object_property_parse",
        lambda c: qom.object_property_parse(c.obj, "nope", "1"),
        GenericError,
        "Property 'bad-t.nope' not found",
    ),
    (
        "object_property_get_str",
        lambda c: qom.object_property_get_str(c.obj, "nope"),
        GenericError,
        "Property 'bad-t.nope' not found",
    ),
    ("object_property_del", lambda c: qom.object_property_del(c.obj, "nope"), QOMFatal, ""),
    (
        "object_property_add_alias",
        lambda c: qom.object_property_add_alias(c.other, "a", c.obj, "nope"),
        QOMFatal,
        "",
    ),
    ("object_resolve_path", lambda c: qom.object_resolve_path("/objects/nope"), None, ""),
    ("object_resolve_path-partial", lambda c: qom.object_resolve_path("nope"), None, ""),
    ("object_resolve_path_type", lambda c: qom.object_resolve_path_type("/objects/o1", "nope"), None, ""),
    ("object_resolve_path_component", lambda c: qom.object_resolve_path_component(c.root, "nope"), None, ""),
    (
        "object_property_set_link-path",
        lambda c: qom.object_property_set(c.obj, "l", "/objects/nope"),
        DeviceNotFound,
        "Device '/objects/nope' not found",
    ),
    ("object_get_container", lambda c: qom.object_get_container("nope"), QOMFatal, ""),
    ("load_universe", lambda c: qom.snapshot.load_universe("/nonexistent/nope.json"), OSError, ""),
]


@pytest.mark.parametrize(("key", "call", "exc", "message"), UNKNOWN, ids=[u[0] for u in UNKNOWN])
def test_unknown_name(
    key: str, call: Callable[[Ctx], object], exc: type[BaseException] | None, message: str
) -> None:
    c = Ctx()
    with use_universe(c.u):
        before = c.u.snapshot()
        if exc is None:
            assert call(c) is None
        else:
            with pytest.raises(exc) as info:
                call(c)
            if isinstance(info.value, QOMError):
                assert info.value.desc == message
            elif message:
                assert isinstance(info.value, QOMFatal) and info.value.message == message
        after = c.u.snapshot()
        if key in CREATES_TEMPORARY:
            assert after.created_total == before.created_total + 1
            after = dataclasses.replace(after, created=before.created, created_total=before.created_total)
        assert after == before


# -- the package face -------------------------------------------------------------------------


def test_all_matches_the_public_face() -> None:
    assert len(qom.__all__) == len(set(qom.__all__))
    public = {
        name
        for name, value in vars(qom).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and not isinstance(value, __future__._Feature)  # "from __future__ import annotations"
    }
    assert set(qom.__all__) == public


def test_public_functions_are_annotated() -> None:
    for name in _public_functions():
        sig = inspect.signature(getattr(qom, name))
        missing = [p for p, v in sig.parameters.items() if v.annotation is inspect.Parameter.empty]
        assert not missing, f"{name}: {missing}"
        assert sig.return_annotation is not inspect.Signature.empty, name


def test_device_state_of_the_context_is_a_device() -> None:
    c = Ctx()
    assert isinstance(c.dev, DeviceState)
    assert isinstance(c.other, Object)


@pytest.mark.parametrize(
    "kwargs",
    [{"singleton_policy": "fatal"}, {"machine": 3}, {"qmp_policy": 1}],
    ids=["singleton_policy", "machine", "qmp_policy"],
)
def test_universe_constructor_rejects_wrong_types(kwargs: dict[str, Any]) -> None:
    with suppress_type_checks(), pytest.raises(TypeError):
        Universe(**kwargs)


@pytest.mark.parametrize("method", ["live_instances", "instances_created", "subscribe"])
def test_universe_methods_reject_wrong_types(method: str) -> None:
    c = Ctx()
    before = c.u.snapshot()
    with suppress_type_checks(), pytest.raises(TypeError):
        getattr(c.u, method)(3)
    assert c.u.snapshot() == before
