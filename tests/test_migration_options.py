"""The ``migration`` type's class properties per QEMU tag (migration/model/options.py), checked
against QEMU's ``migration_properties[]`` at each tag and against both real binaries."""

from __future__ import annotations

import pytest
from qemu_helpers import RealQEMU, require_qemu, require_qemu10

from migration.model.designs import DESIGNS
from migration.model.options import PROPERTIES_BY_TAG, MigrationPropertySpec, by_name, properties_for
from migration.model.qomtype import MigrationUniverse
from qom.qmp import execute

_DEVICE = {"type", "realized", "hotpluggable", "hotplugged", "parent_bus"}


def test_counts_per_tag() -> None:
    # migration/options.c:migration_properties[] (migration/migration.c at 7.2), x-zero-copy-send
    # included (CONFIG_LINUX)
    assert {t: len(p) for t, p in PROPERTIES_BY_TAG.items()} == {
        "7.2": 46, "9.1": 48, "9.2": 49, "10.0": 51, "master": 52}


def test_what_changed_between_tags() -> None:
    names = {t: [p.name for p in props] for t, props in PROPERTIES_BY_TAG.items()}
    assert set(names["9.2"]) - set(names["9.1"]) == {"multifd-qatzip-level"}
    assert set(names["10.0"]) - set(names["9.2"]) == {"send-switchover-start",
                                                      "multifd-clean-tls-termination"}
    assert set(names["master"]) - set(names["10.0"]) == {"postcopy-blocktime", "x-ignore-shared"}
    assert set(names["10.0"]) - set(names["master"]) == {"x-zero-blocks"}
    assert by_name("mode", "9.1").enum_values == ("normal", "cpr-reboot")
    assert by_name("mode", "10.0").enum_values == ("normal", "cpr-reboot", "cpr-transfer")
    assert by_name("mode", "master").enum_values == ("normal", "cpr-reboot", "cpr-transfer", "cpr-exec")
    assert by_name("tls-creds", "10.0") == MigrationPropertySpec("tls-creds", "str", "str", None)
    assert by_name("tls-creds", "master").qom_type == "StrOrNull"
    assert "x-compress" in names["7.2"] and "mode" not in names["7.2"]


@pytest.mark.parametrize("design", ["qemu-7.2", "qemu-9.1", "qemu-9.2", "qemu-10.0", "qemu-master"])
def test_a_design_registers_its_tags_list(design: str) -> None:
    d = DESIGNS[design]
    mu = MigrationUniverse(d)
    resp = execute("device-list-properties", {"typename": "migration"}, universe=mu.universe)
    items = resp["return"]
    assert isinstance(items, list)
    listed = {str(p["name"]) for p in items}
    assert listed - _DEVICE == {p.name for p in properties_for(d.tag)}


def _real(binary: str) -> list[tuple[str, str, object]]:
    with RealQEMU(binary) as q:
        resp = q.command("device-list-properties", typename="migration")
    assert "return" in resp, resp
    return sorted((str(p["name"]), str(p["type"]), p.get("default-value")) for p in resp["return"])


def _model(tag: str) -> list[tuple[str, str, object]]:
    return sorted((p.name, p.qom_type, p.default) for p in properties_for(tag))


@pytest.mark.qemu
def test_7_2_list_is_debians_qemu_7_2() -> None:
    assert _real(require_qemu()) == _model("7.2")


@pytest.mark.qemu
def test_10_0_list_is_qemu_10_0_2() -> None:
    assert _real(require_qemu10()) == _model("10.0")
