"""The ``migration`` type's QMP answers: real QEMU 7.2 and 10.0.2 against ``qomsim serve``.

Every QEMU has ``TYPE_MIGRATION``, a ``device`` that is not user-creatable, and the one live object
``migration_object_init()`` made, outside the QOM tree.  ``qomsim serve`` has them in its built-in
universe and in a loaded snapshot.  The creation errors are compared exactly on both binaries and
both universes; the class properties exactly against the snapshot of the same QEMU (7.2), and
against 10.0.2 with the built-in universe serving 10.0.2, whose property table is the model's at
tag 10.0: there the difference is pinned below, property by property, so the test fails when it
changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from qemu_helpers import RealQEMU, require_qemu, require_qemu10
from test_qmp_server import RawClient, Server

from qom.snapshot import packaged_snapshot_path

pytestmark = pytest.mark.qemu

SNAPSHOT_7_2 = str(packaged_snapshot_path("7.2.22"))
SNAPSHOT_10_0 = str(packaged_snapshot_path("10.0.2"))


class Pair:
    """A real QEMU and a qomsim server, asked the same requests."""

    def __init__(self, qemu: RealQEMU, emulator: RawClient) -> None:
        self.qemu = qemu
        self.emulator = emulator

    def both(self, command: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        data = json.dumps({"execute": command, "arguments": arguments}).encode() + b"\n"
        theirs = self.qemu.send_raw(data)
        self.emulator.send(data)
        return theirs, self.emulator.read()


def _pair(binary: str, *serve_args: str) -> Iterator[Pair]:
    server = Server(*serve_args)
    qemu = RealQEMU(binary)
    emulator = server.raw().negotiate()
    try:
        yield Pair(qemu, emulator)
    finally:
        emulator.close()
        qemu.close()
        assert server.stop() == 0


@pytest.fixture(scope="module")
def qemu72_snapshot() -> Iterator[Pair]:
    yield from _pair(require_qemu(), "--universe", SNAPSHOT_7_2)


@pytest.fixture(scope="module")
def qemu72_builtin() -> Iterator[Pair]:
    yield from _pair(require_qemu())


@pytest.fixture(scope="module")
def qemu10_snapshot() -> Iterator[Pair]:
    yield from _pair(require_qemu10(), "--universe", SNAPSHOT_10_0)


@pytest.fixture(scope="module")
def qemu10_builtin() -> Iterator[Pair]:
    yield from _pair(require_qemu10(), "--qemu-version", "10.0.2")


PAIRS = ["qemu72_snapshot", "qemu72_builtin", "qemu10_snapshot", "qemu10_builtin"]

CREATION = [
    ("device_add", {"driver": "migration"},
     {"error": {"class": "GenericError", "desc": "Parameter 'driver' expects a pluggable device type"}}),
    ("device_add", {"driver": "migration", "id": "m1"},
     {"error": {"class": "GenericError", "desc": "Parameter 'driver' expects a pluggable device type"}}),
    ("object-add", {"qom-type": "migration", "id": "m0"},
     {"error": {"class": "GenericError", "desc": "Parameter 'qom-type' does not accept value 'migration'"}}),
]


@pytest.mark.parametrize("which", PAIRS)
@pytest.mark.parametrize(("command", "arguments", "answer"), CREATION, ids=["device_add", "device_add-id",
                                                                            "object-add"])
def test_creating_migration_is_refused_as_qemu_does(
        which: str, command: str, arguments: dict[str, Any], answer: dict[str, Any],
        request: pytest.FixtureRequest) -> None:
    pair: Pair = request.getfixturevalue(which)
    assert pair.both(command, arguments) == (answer, answer)


@pytest.mark.parametrize("which", PAIRS)
def test_migration_is_a_device_type_and_its_object_is_not_in_the_tree(which: str,
                                                                     request: pytest.FixtureRequest) -> None:
    pair: Pair = request.getfixturevalue(which)
    theirs, ours = pair.both("qom-list-types", {"implements": "device"})
    mine = [t for t in ours["return"] if t["name"] == "migration"]
    assert mine == [t for t in theirs["return"] if t["name"] == "migration"] == [
        {"name": "migration", "parent": "device"}]
    for path in ("/machine/unattached", "/machine/peripheral-anon", "/machine/peripheral"):
        theirs, ours = pair.both("qom-list", {"path": path})
        assert not [p for p in ours["return"] if "migration" in p["name"] or "migration" in p["type"]]
        assert not [p for p in theirs["return"] if "migration" in p["name"] or "migration" in p["type"]]


def _as_set(props: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> set[str]:
    return {json.dumps({k: v for k, v in p.items() if k not in drop}, sort_keys=True) for p in props}


@pytest.mark.parametrize(("which", "count"), [("qemu72_snapshot", 46), ("qemu10_snapshot", 51)])
def test_device_list_properties_of_migration_match_the_snapshots_qemu(which: str, count: int,
                                                                      request: pytest.FixtureRequest) -> None:
    pair: Pair = request.getfixturevalue(which)
    theirs, ours = pair.both("device-list-properties", {"typename": "migration"})
    assert len(theirs["return"]) == len(ours["return"]) == count
    assert _as_set(ours["return"]) == _as_set(theirs["return"])


def test_qom_list_properties_and_hmp_help_of_migration_match_10_0_2(qemu10_snapshot: Pair) -> None:
    theirs, ours = qemu10_snapshot.both("qom-list-properties", {"typename": "migration"})
    assert len(theirs["return"]) == 56
    assert _as_set(ours["return"]) == _as_set(theirs["return"])
    theirs, ours = qemu10_snapshot.both("human-monitor-command",
                                        {"command-line": "device_add migration,help"})
    assert ours == theirs


def test_qom_list_properties_of_migration_match_7_2_but_for_default_values(qemu72_snapshot: Pair) -> None:
    theirs, ours = qemu72_snapshot.both("qom-list-properties", {"typename": "migration"})
    assert len(theirs["return"]) == len(ours["return"]) == 51
    # QEMU 7.2 reports no default-value in qom-list-properties (docs/known-differences.md, "QMP")
    assert all("default-value" not in p for p in theirs["return"])
    assert _as_set(ours["return"], ("default-value",)) == _as_set(theirs["return"])


def _seven_two_default(line: str) -> str:
    """QEMU 7.2 prints a default as JSON: ``true``/``false`` for bools, a string in quotes."""
    head, sep, default = line.rpartition("(default: ")
    if not sep:
        return line
    value = default[:-1]
    if value in ("on", "off"):
        return f"{head}(default: {'true' if value == 'on' else 'false'})"
    if not value.lstrip("-").isdigit():
        return f'{head}(default: "{value}")'
    return line


def test_hmp_device_add_migration_help_matches_7_2_but_for_the_default_format(qemu72_snapshot: Pair) -> None:
    theirs, ours = qemu72_snapshot.both("human-monitor-command",
                                        {"command-line": "device_add migration,help"})
    real = theirs["return"].split("\r\n")
    mine = ours["return"].split("\r\n")
    assert real[0] == mine[0] == "migration options:"
    assert len(real) == len(mine) == 48
    assert [_seven_two_default(line.rstrip()) for line in mine] == real


#: the model's class properties at tag 10.0 against QEMU 10.0.2's, property by property:
#: ``(name, qomsim's entry, QEMU 10.0.2's entry)``: qomsim's enum properties have no description
MODEL_VS_10_0: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = [
    ("mode", {"name": "mode", "type": "MigMode", "default-value": "normal"},
     {"name": "mode", "type": "MigMode", "default-value": "normal",
      "description": "Migration mode (normal/cpr-reboot)"}),
    ("multifd-compression",
     {"name": "multifd-compression", "type": "MultiFDCompression", "default-value": "none"},
     {"name": "multifd-compression", "type": "MultiFDCompression", "default-value": "none",
      "description": "multifd_compression values (none/zlib/zstd/qpl/uadk/qatzip)"}),
    ("zero-page-detection",
     {"name": "zero-page-detection", "type": "ZeroPageDetection", "default-value": "multifd"},
     {"name": "zero-page-detection", "type": "ZeroPageDetection", "default-value": "multifd",
      "description": "Zero page detection (none/legacy/multifd)"}),
]


@pytest.mark.parametrize("command", ["device-list-properties", "qom-list-properties"])
def test_migration_properties_against_10_0_differ_exactly_as_pinned(qemu10_builtin: Pair,
                                                                   command: str) -> None:
    theirs, ours = qemu10_builtin.both(command, {"typename": "migration"})
    mine = {p["name"]: p for p in ours["return"]}
    real = {p["name"]: p for p in theirs["return"]}
    differ = [(n, mine.get(n), real.get(n)) for n in sorted(set(mine) | set(real))
              if mine.get(n) != real.get(n)]
    assert differ == MODEL_VS_10_0
    assert len(real) == (51 if command == "device-list-properties" else 56)


def test_hmp_device_add_migration_help_matches_10_0_but_for_enum_descriptions(qemu10_builtin: Pair) -> None:
    theirs, ours = qemu10_builtin.both("human-monitor-command",
                                       {"command-line": "device_add migration,help"})
    real = theirs["return"].split("\r\n")
    mine = ours["return"].split("\r\n")
    assert len(real) == len(mine) == 53
    # the same three properties as MODEL_VS_10_0: the description is missing, all else is the same
    described = {name: str(entry["description"]) for name, _, entry in MODEL_VS_10_0 if entry is not None}
    expected = []
    for line in mine:
        name = line.strip().partition("=")[0]
        if name in described:
            line = line.replace(" -  (default:", f" - {described[name]} (default:")
        expected.append(line)
    assert expected == real
