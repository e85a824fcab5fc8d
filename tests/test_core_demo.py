"""``qomsim demo`` and the package face (``qom.__all__``)."""

from __future__ import annotations

from types import ModuleType

import pytest


def test_demo_runs_and_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    from qom import cli

    assert cli.main(["demo"]) == 0
    first = capsys.readouterr().out
    assert cli.main(["demo"]) == 0
    assert capsys.readouterr().out == first
    assert "   / (container)\n     /rex (dog)\n     /tweety (bird)\n" in first
    assert "dog -> pet: dog::pet" in first
    assert "rex.legs=4 tweety.legs=2" in first
    assert "setting it to '/nowhere' fails: DeviceNotFound: Device '/nowhere' not found" in first
    assert "object_new('animal') aborts: assertion failed: (type->abstract == false)" in first
    assert first.rstrip().endswith("live: 0 dog, 0 bird")


def test_all_matches_public_names() -> None:
    import qom

    assert len(qom.__all__) == len(set(qom.__all__))
    for name in qom.__all__:
        assert hasattr(qom, name), name
    # every public non-module attribute of the package is listed (submodules appear as
    # attributes once imported, in whatever order the test session imports them)
    public = {n for n, v in vars(qom).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    assert public - set(qom.__all__) == {"annotations"}


def test_architecture_names_are_exported() -> None:
    import qom

    names = [
        "TypeInfo",
        "type_register_static",
        "type_register",
        "object_class_by_name",
        "object_class_dynamic_cast",
        "object_class_get_list",
        "object_class_get_parent",
        "object_class_is_abstract",
        "object_class_get_name",
        "object_new",
        "object_new_with_props",
        "object_ref",
        "object_unref",
        "object_dynamic_cast",
        "object_get_typename",
        "object_property_add",
        "object_property_try_add",
        "object_class_property_add",
        "object_property_add_bool",
        "object_property_add_str",
        "object_property_add_enum",
        "object_property_add_uint8_ptr",
        "object_class_property_add_bool",
        "object_property_add_child",
        "object_property_add_link",
        "object_property_add_alias",
        "object_property_set_default_bool",
        "object_property_set_default_str",
        "object_property_set_default_int",
        "object_property_set_default_uint",
        "object_property_find",
        "object_property_get",
        "object_property_set",
        "object_property_parse",
        "object_property_iter",
        "object_class_property_iter",
        "object_property_del",
        "object_get_root",
        "object_get_objects_root",
        "object_get_canonical_path",
        "object_resolve_path",
        "object_resolve_path_type",
        "object_resolve_path_component",
        "object_unparent",
        "user_creatable_add_type",
        "user_creatable_del",
        "TYPE_OBJECT",
        "TYPE_INTERFACE",
        "TYPE_CONTAINER",
        "TYPE_USER_CREATABLE",
        "TYPE_DEVICE",
        "TYPE_MACHINE",
        "TYPE_SINGLETON",
        "TYPE_INTERNAL",
        "object_class_dynamic_cast_assert",
        "object_class_get_list_sorted",
        "object_class_implements",
        "object_new_with_class",
        "object_dynamic_cast_assert",
        "object_get_class",
        "object_property_try_add_child",
        "object_property_add_const_link",
        "object_property_set_description",
        "object_class_property_set_description",
        "object_property_find_err",
        "object_class_property_find",
        "object_property_print",
        "object_get_internal_root",
        "object_get_container",
        "object_get_canonical_path_component",
        "object_resolve_path_ambiguous",
        "object_resolve_path_at",
        "object_child_foreach",
        "object_child_foreach_recursive",
        "user_creatable_complete",
        "DeviceClass",
        "DeviceState",
        "PropertyInfo",
        "Property",
        "device_class_set_props",
        "qdev_new",
        "qdev_realize",
        "qdev_unrealize",
        "qdev_prop_register_global",
        "qdev_machine_creation_done",
        "SingletonClass",
        "object_class_is_singleton",
        "object_class_is_internal",
        "singleton_get_instance",
        "qdev_prop_bool",
        "qdev_prop_uint8",
        "qdev_prop_uint16",
        "qdev_prop_uint32",
        "qdev_prop_uint64",
        "qdev_prop_int32",
        "qdev_prop_int64",
        "qdev_prop_size",
        "qdev_prop_string",
        "qdev_prop_str_or_null",
        "qdev_prop_enum",
        "SingletonPolicy",
        "IntrospectionMode",
        "QMPPolicy",
        "Universe",
        "current_universe",
        "use_universe",
        "QOMEvent",
        "EventKind",
        "QOMError",
        "GenericError",
        "DeviceNotFound",
        "QOMFatal",
    ]
    missing = [n for n in names if n not in qom.__all__]
    assert missing == []
