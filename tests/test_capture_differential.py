"""Differential test: each real ``qemu-system-x86_64`` against qomsim serving its packaged snapshot.

Per version in ``QEMU_VERSIONS`` (7.2.22 and 10.0.2): one full capture (``qomsim capture``'s sweep,
a few seconds), which must equal the packaged snapshot of that version; then a second, fresh QEMU
started the same way answers every query live, and ``qomsim serve --universe`` of the packaged
snapshot must give the same answers.  The only differences allowed are the ones listed per version in
``tests/known_differences.py`` (docs/known-differences.md, "Per version").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from known_differences import agrees, qemu_side
from qemu_helpers import QEMU_VERSIONS, require_qemu_version

from qom.qmp import execute
from qom.snapshot import (
    RawCapture,
    dump_snapshot,
    load_universe,
    packaged_snapshot_path,
    read_snapshot,
    snapshot_from_raw,
)
from qom.snapshot.capture import QEMUTarget, capture
from qom.universe import Universe

pytestmark = pytest.mark.qemu



@dataclass
class Real:
    version: str
    raw: RawCapture
    snapshot: Path  # the fresh capture
    packaged: Path  # the packaged snapshot of the same version
    universe: Universe  # loaded from the packaged snapshot
    live: dict[str, Any]  # the real QEMU's answers
    emulated: dict[str, Any]  # the same queries, asked of `qomsim serve --universe PACKAGED`
    recaptured: RawCapture  # `qomsim capture --qmp` of that server


def _key(*parts: object) -> str:
    return json.dumps(parts)


async def _ask(target: QEMUTarget, raw: RawCapture) -> dict[str, Any]:
    """Every query of the comparison, asked over QMP (skipping the calls that crash QEMU)."""
    crashing = {c["typename"] for c in raw.crashes if c["command"] == "qom-list-properties"}
    names = sorted(str(t["name"]) for t in raw.types)
    live: dict[str, Any] = {}
    await target.start()
    try:
        for implements in [None, *names]:
            for abstract in (True, False):
                args: dict[str, Any] = {"abstract": abstract}
                if implements is not None:
                    args["implements"] = implements
                answer = await target.execute("qom-list-types", args)
                live[_key("qom-list-types", implements, abstract)] = answer
        for name in names:
            if name not in crashing:
                live[_key("qom-list-properties", name)] = \
                    await target.execute("qom-list-properties", {"typename": name})
            live[_key("device-list-properties", name)] = \
                await target.execute("device-list-properties", {"typename": name})
        for extra in ("nonexistent",):
            for command in ("qom-list-properties", "device-list-properties"):
                live[_key(command, extra)] = await target.execute(command, {"typename": extra})
        for path in raw.tree:
            live[_key("qom-list", path)] = await target.execute("qom-list", {"path": path})
    finally:
        await target.stop()
    return live


@pytest.fixture(scope="module", params=QEMU_VERSIONS)
def real(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Real:
    version: str = request.param
    binary = require_qemu_version(version)
    raw = asyncio.run(capture(binary))
    path = tmp_path_factory.mktemp("capture") / "snapshot.json"
    with open(path, "w", encoding="utf-8") as f:
        dump_snapshot(snapshot_from_raw(raw), f)
    live = asyncio.run(_ask(QEMUTarget(binary, None, ()), raw))
    packaged = packaged_snapshot_path(version)
    with _serve(packaged, tmp_path_factory.mktemp("serve") / "qmp.sock") as sock:
        emulated = asyncio.run(_ask(QEMUTarget(None, sock, ()), raw))
        recaptured = asyncio.run(capture(socket_path=sock))
    return Real(version, raw, path, packaged, load_universe(packaged), live, emulated, recaptured)


@contextlib.contextmanager
def _serve(snapshot: Path, sock: Path) -> Iterator[str]:
    """``qomsim serve --universe SNAPSHOT`` in a subprocess (thousands of queries: out of typeguard's
    reach, which would multiply their cost by ~20; the in-process tests below keep it checked)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "qom.cli", "serve", "--universe", str(snapshot), "--socket", str(sock)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"qomsim: QMP listening on unix:{sock}"
        yield str(sock)
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)


def _set(answer: dict[str, Any], drop: tuple[str, ...] = ()) -> object:
    if "error" in answer:
        return ("error", answer["error"]["class"], answer["error"]["desc"])
    return sorted(json.dumps({k: v for k, v in item.items() if k not in drop}, sort_keys=True)
                  for item in answer["return"])


def _emulated(real: Real, command: str, args: dict[str, Any]) -> dict[str, Any]:
    """In process, typeguard-checked."""
    return execute(command, args, universe=real.universe)


def _queries(real: Real, command: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, answer in real.live.items():
        parts = json.loads(key)
        if parts[0] == command:
            yield key, answer


#: per version: types, devices (device-list-properties answers), initial tree paths (known-differences.md)
COUNTS = {"7.2.22": (754, 446, 10), "10.0.2": (843, 498, 12)}


def test_capture_is_complete(real: Real) -> None:
    raw = real.raw
    data = read_snapshot(real.snapshot)
    assert (len(data["types"]), len(raw.device_list_properties), len(raw.tree)) == COUNTS[real.version]
    assert len(data["types"]) == len(raw.types)
    assert data["qemu"]["version"] == raw.version
    assert data["unmodelled"] == []
    assert set(raw.qom_list_properties) | {c["typename"] for c in raw.crashes} == set(data["types"])
    assert set(raw.device_list_properties) <= set(raw.concrete)
    # interfaces are stored once, where declared, never as per-type membership lists
    declared = sum(len(t.get("interfaces", [])) for t in data["types"].values())
    memberships = sum(len(v) for k, v in raw.implements.items() if k != "interface")
    assert "implements" not in data and 0 < declared < memberships / 5
    # the capture crashed exactly where this QEMU is known to, restarted, and went on
    crashing = qemu_side("introspection-crashes", real.version)
    assert {c["typename"] for c in raw.crashes} == crashing
    assert all(c["command"] == "qom-list-properties" for c in raw.crashes)
    assert raw.restarts == len(crashing)


def test_packaged_snapshot_is_this_qemus_capture(real: Real) -> None:
    fresh, packaged = read_snapshot(real.snapshot), read_snapshot(real.packaged)
    assert fresh["qemu"]["version"]["qemu"] == packaged["qemu"]["version"]["qemu"]
    assert [".".join(str(fresh["qemu"]["version"]["qemu"][k]) for k in ("major", "minor", "micro"))] == \
        [real.version]
    # argv[0] (the binary's path) and the Debian package string may differ; nothing else may
    for part in ("types", "tree", "errors", "crashes", "unmodelled"):
        assert fresh[part] == packaged[part], part


def test_qom_list_types_for_every_implements_and_abstract(real: Real) -> None:
    compared = 0
    differences = []
    for key, answer in _queries(real, "qom-list-types"):
        _, implements, abstract = json.loads(key)
        if _set(answer) != _set(real.emulated[key]):
            differences.append((implements, abstract))
        compared += 1
    assert compared == 2 * (len(real.raw.types) + 1)
    assert differences == []


def test_interface_root_follows_the_ambiguous_interface_rule(real: Real) -> None:
    # derived, not replayed: implements=interface lists the interface types plus every class
    # with exactly one interface class; a class with two or more is ambiguous and left out
    answer = real.live[_key("qom-list-types", "interface", False)]
    assert _set(answer) == _set(real.emulated[_key("qom-list-types", "interface", False)])
    listed = {t["name"] for t in answer["return"]}
    assert "container" not in listed  # no interface at all
    assert "migration" not in listed  # a device: vmstate-if and resettable, so ambiguous
    assert "throttle-group" in listed  # user-creatable only


def test_qom_list_properties_for_every_type(real: Real) -> None:
    compared = 0
    differences = []
    # known difference: QEMU 7.2 predates default-value in qom-list-properties (443df40cad)
    drop = () if agrees("qom-list-properties-default-value", real.version) else ("default-value",)
    for key, answer in _queries(real, "qom-list-properties"):
        name = json.loads(key)[1]
        mine = _set(real.emulated[key], drop=drop)
        if _set(answer) != mine:
            differences.append(name)
        compared += 1
    assert compared == len(real.raw.types) + 1 - len(real.raw.crashes)
    assert differences == []


def test_crashing_types_answer_in_the_emulator(real: Real) -> None:
    for crash in real.raw.crashes:
        answer = _emulated(real, crash["command"], {"typename": crash["typename"]})
        assert "return" in answer, crash


def test_device_list_properties_for_every_type(real: Real) -> None:
    compared = 0
    differences = []
    errors = 0
    for key, answer in _queries(real, "device-list-properties"):
        name = json.loads(key)[1]
        if _set(answer) != _set(real.emulated[key]):
            differences.append(name)
        errors += "error" in answer
        compared += 1
    assert compared == len(real.raw.types) + 1
    assert errors == compared - len(real.raw.device_list_properties)
    assert differences == []


def test_initial_qom_list_of_the_tree(real: Real) -> None:
    differences = {}
    for key, answer in _queries(real, "qom-list"):
        path = json.loads(key)[1]
        theirs = {(p["name"], p["type"]) for p in answer["return"]}
        mine = {(p["name"], p["type"]) for p in real.emulated[key]["return"]}
        if theirs != mine:
            differences[path] = (sorted(theirs - mine), sorted(mine - theirs))
    eager = qemu_side("eager-root-containers", real.version)
    assert differences == {"/": ([], sorted((n, "child<container>") for n in eager))}
    assert len(real.raw.tree) == COUNTS[real.version][2]


def test_round_trip_through_qomsim_serve(real: Real) -> None:
    again = snapshot_from_raw(real.recaptured)
    first = read_snapshot(real.packaged)
    # documented in docs/snapshot-format.md: argv is empty over --qmp; the emulator never
    # crashes; its root has master's eager containers
    assert again["qemu"] == {"version": first["qemu"]["version"], "argv": []}
    assert again["crashes"] == []
    assert again["types"] == first["types"]  # every type, interface and property list
    assert again["errors"] == first["errors"]
    assert again["unmodelled"] == first["unmodelled"] == []
    eager_names = qemu_side("eager-root-containers", real.version)
    eager = {(n, "child<container>") for n in eager_names}
    assert {tuple(p) for p in again["tree"]["/"]} == {tuple(p) for p in first["tree"]["/"]} | eager
    assert {k: v for k, v in again["tree"].items()
            if k != "/" and k.split("/")[1] not in eager_names} == \
        {k: v for k, v in first["tree"].items() if k != "/"}
