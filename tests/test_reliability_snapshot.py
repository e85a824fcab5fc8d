"""Crafted snapshots: one clean :class:`SnapshotFormatError` naming the entry, or a universe every command can
use; loading and ``qom-list-types`` stay linear in the number of types (issue 16, items 4 and 7)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qom.qmp import execute
from qom.snapshot import SnapshotFormatError, load_universe

ROOT = Path(__file__).resolve().parent.parent
CYCLE = "type 'a' is its own ancestor (a cycle of parents)"
OBJECTS = "tree entry '/': rebuilding the tree would create more than 100000 objects and instance properties"
DEEP: list[Any] = []
for _ in range(64):
    DEEP = [DEEP]


def _snapshot(types: dict[str, Any], tree: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    all_types = {"object": {}, "interface": {"abstract": True}, "container": {"parent": "object"}, **types}
    return {"format": "qomsim-snapshot", "version": 1, "qemu": {}, "types": all_types, "tree": tree or {},
            "errors": {}, "crashes": [], "unmodelled": [], **top}


def _write(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    path = tmp_path / "s.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("types", "tree", "top", "message"),
    [
        ({"a": {"parent": "a"}}, {}, {}, CYCLE),
        ({"a": {"parent": "b"}, "b": {"parent": "a"}}, {}, {}, CYCLE),
        ({"interface": {"parent": "interface"}}, {}, {}, "type 'interface' must have no parent"),
        ({"a": {"parent": "nowhere"}}, {}, {}, "type 'a': parent 'nowhere' does not exist"),
        ({"a": {"parent": "object", "interfaces": "user-creatable"}}, {}, {},
         "type 'a': 'interfaces' must be a list of strings"),
        ({"a": {"parent": "object", "interfaces": ["nowhere"]}}, {}, {},
         "type 'a': interface 'nowhere' does not exist"),
        ({"a": {"parent": "object", "interfaces": ["container"]}}, {}, {},
         "type 'a': 'container' is not an interface type"),
        ({"a": {"parent": "object", "properties": [{"name": "c", "type": "child<b>", "instance": True}]},
          "b": {"parent": "object", "properties": [{"name": "c", "type": "child<a>", "instance": True}]}},
         {}, {}, "type 'a': creating it leads back to itself through 'b' (a cycle of child<> properties)"),
        ({"a": {"parent": "object", "properties": [{"name": "me", "type": "child<b>", "instance": True}]},
          "b": {"parent": "a"}},
         {}, {}, "type 'a': creating it leads back to itself through 'b' (a cycle of child<> properties)"),
        ({"a": {"parent": "object", "properties": [{"name": f"c{i}", "type": "child<b>", "instance": True}
                                                     for i in range(1000)]},
          "b": {"parent": "object", "properties": [{"name": f"c{i}", "type": "child<container>",
                                                    "instance": True} for i in range(1000)]}},
         {"/": [["x", "child<a>"]]}, {},
         OBJECTS),
        ({"a": {"parent": "object", "properties": [{"name": f"p{i}", "type": "int", "instance": True}
                                                   for i in range(9000)]},
          "b": {"parent": "object", "properties": [{"name": f"c{i}", "type": "child<a>", "instance": True}
                                                   for i in range(12)]}},
         {"/": [["x", "child<b>"]]}, {}, OBJECTS),
        ({f"t{i}": {"parent": "object"} for i in range(4998)}, {}, {}, "5001 types, more than 5000"),
        ({f"t{i}": {"parent": "object", "properties": [{"name": f"p{j}", "type": "int"} for j in range(10)]}
          for i in range(1001)}, {}, {}, "the types declare 10010 properties, more than 10000"),
        ({f"t{i}": {"parent": f"t{i - 1}" if i else "object",
                    "properties": [{"name": f"p{i}", "type": "int"}]} for i in range(632)}, {}, {},
         "the class property tables would hold 200028 entries in all (inherited ones included), more than "
         "200000"),
        ({"a": {"parent": "object", "abstract": "yes"}}, {}, {},
         "type 'a': 'abstract' must be true or false"),
        ({"a": {"parent": "object", "properties": {"name": "x"}}}, {}, {},
         "type 'a': 'properties' must be a list"),
        ({"a": {"parent": "object", "properties": [{"name": "x", "type": "int", "default-value": DEEP}]}},
         {}, {},
         "type 'a': property 'x': 'default-value' is nested deeper than 64"),
        ({"a": {"parent": "object"}}, {"/": "x"}, {}, "tree entry '/' must be a list of [name, type] pairs"),
        ({}, {}, {"qemu": []}, "'qemu' must be an object"),
        ({}, {}, {"crashes": {}}, "'crashes' must be a list"),
        ({"b": []}, {}, {}, "type 'b' is malformed: not an object"),
        ({"i": {"parent": "interface"}}, {}, {}, "interface type 'i' must be abstract"),
        ({"i": {"parent": "interface", "abstract": True, "interfaces": ["interface"]}}, {}, {},
         "interface type 'i' may have no interfaces and no instance properties"),
    ],
)
def test_a_crafted_snapshot_is_one_clean_error_naming_the_entry(
    tmp_path: Path, types: dict[str, Any], tree: dict[str, Any], top: dict[str, Any], message: str
) -> None:
    path = _write(tmp_path, _snapshot(types, tree, **top))
    with pytest.raises(SnapshotFormatError) as info:
        load_universe(path)
    assert str(info.value) == f"{path}: {message}"


def test_a_100k_deep_json_is_one_clean_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(SnapshotFormatError) as info:
        load_universe(path)
    assert str(info.value) == f"{path}: not JSON qomsim can read: nested too deeply"


def test_a_chain_listed_child_first_loads_and_lists_without_deep_recursion(tmp_path: Path) -> None:
    n = 3000  # deeper than Python's recursion limit: initialization must not recurse per level
    types = {f"t{i}": {"parent": f"t{i - 1}" if i else "object"} for i in reversed(range(n))}
    u = load_universe(_write(tmp_path, _snapshot(types)))
    listed = cast(list[dict[str, Any]], execute("qom-list-types", {"implements": "t0"}, universe=u)["return"])
    names = {t["name"] for t in listed}
    assert names == {f"t{i}" for i in range(n)}
    props = execute("qom-list-properties", {"typename": f"t{n - 1}"}, universe=u)["return"]
    assert props == [{"name": "type", "type": "string"}]


def test_serve_refuses_a_crafted_snapshot_in_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, _snapshot({"a": {"parent": "a"}}))
    cmd = [sys.executable, "-m", "qom.cli", "serve", "--socket", str(tmp_path / "s"), "--universe", str(path)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (f"qomsim serve: cannot load universe {path}: {path}: type 'a' is its own ancestor "
                        "(a cycle of parents)\n")
    assert not (tmp_path / "s").exists()


# ---------------------------------------------------------------------------------------------------------
# generated snapshots: loads (and answers every command), or one clean error; never a hang

NAMES = ["a", "b", "c", "d", "object", "interface", "container", "user-creatable"]


@st.composite
def _type_entry(draw: st.DrawFn) -> Any:
    entry: dict[str, Any] = {}
    if draw(st.booleans()):
        entry["parent"] = draw(st.sampled_from([*NAMES, "missing"]) | st.integers(0, 3))
    if draw(st.booleans()):
        entry["abstract"] = draw(st.booleans() | st.sampled_from(["yes", 1]))
    if draw(st.integers(0, 3)) == 0:
        entry["interfaces"] = draw(st.lists(st.sampled_from(NAMES), max_size=3) | st.sampled_from(NAMES))
    if draw(st.booleans()):
        entry["properties"] = draw(st.lists(st.fixed_dictionaries(
            {"name": st.sampled_from(["p", "q", "c"]),
             "type": st.sampled_from(["int", "string", "bool", *(f"child<{n}>" for n in NAMES)])},
            optional={"instance": st.booleans(), "default-value": st.integers() | st.text(max_size=3),
                      "description": st.text(max_size=3)}), max_size=3))
    return draw(st.just(entry) | st.sampled_from([[], "x", None]) if draw(st.integers(0, 15)) == 0
                else st.just(entry))


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, Any]:
    types: dict[str, Any] = {"object": {}, "interface": {"abstract": True}, "container": {"parent": "object"},
                             "user-creatable": {"parent": "interface", "abstract": True}}
    for name in draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4)):
        types[name] = draw(_type_entry())
    if draw(st.integers(0, 5)) == 0:  # now and then, break a built-in
        types[draw(st.sampled_from(["object", "interface", "container"]))] = draw(_type_entry())
    tree = {"/": [[f"o{i}", f"child<{n}>"] for i, n in enumerate(draw(st.lists(st.sampled_from(NAMES),
                                                                                   max_size=4)))]}
    return _snapshot(types, tree)


class _Hang(Exception):
    pass


@pytest.fixture
def hang_alarm() -> Iterator[None]:
    def ring(signum: int, frame: FrameType | None) -> None:
        raise _Hang("a snapshot took more than 20 s to load and answer (a hang)")

    old = signal.signal(signal.SIGALRM, ring)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=snapshots())
def test_a_generated_snapshot_loads_or_is_one_clean_error(tmp_path: Path, hang_alarm: None,
                                                         data: dict[str, Any]) -> None:
    path = _write(tmp_path, data)
    signal.alarm(20)  # hang detection only, not a performance bound
    try:
        try:
            u = load_universe(path)
        except SnapshotFormatError as exc:
            assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
            return
        for args in ({}, {"abstract": True}, {"implements": "interface", "abstract": True}):
            assert "return" in execute("qom-list-types", args, universe=u)
        for name in cast(dict[str, Any], data["types"]):
            for command in ("qom-list-properties", "device-list-properties"):
                reply = execute(command, {"typename": name}, universe=u)
                assert set(reply) <= {"return", "error"} and len(reply) == 1
        assert "return" in execute("qom-list", {"path": "/"}, universe=u)
    finally:
        signal.alarm(0)


def test_a_number_past_pythons_digit_limit_is_one_clean_error(tmp_path: Path) -> None:
    text = json.dumps(_snapshot({})).replace('"qemu": {}', '"qemu": {"n": ' + "7" * 4301 + "}")
    path = _write(tmp_path, text)
    with pytest.raises(SnapshotFormatError) as info:
        load_universe(path)
    assert str(info.value).startswith(f"{path}: not JSON qomsim can read: Exceeds the limit (4300 digits)")
