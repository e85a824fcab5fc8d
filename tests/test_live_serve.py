"""``qomsim serve --design``: the migration model behind QMP, driven by real clients.

The racing client is deterministic: it writes its whole script in one go (capabilities, a flood of
``exec-oob migrate-pause``, ``quit``, another flood), and the server takes one request per
event-loop turn once ``quit`` is answered, with one ``qemu_cleanup()`` step in between; so the
requests after ``quit`` land in the windows between ``migration_shutdown()``, ``vm_shutdown()`` and
``monitor_cleanup()``, every time.  No sleep decides anything.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from test_qmp_server import TIMEOUT, Server, error_of, run_client

from migration.model.designs import DESIGNS
from migration.model.options import properties_for
from qom.cli import main

PAUSE_ERROR = {"class": "GenericError", "desc": "migrate-pause is currently only supported during "
                                                "postcopy-active or postcopy-recover state"}


async def _session(client: QMPClient, seen: dict[str, Any]) -> None:
    """The README's qmp-shell session, through qemu.qmp."""
    assert client.greeting is not None
    seen["capabilities"] = list(client.greeting.QMP.capabilities)
    seen["dlp"] = await client.execute("device-list-properties", {"typename": "migration"})
    seen["qlp"] = await client.execute("qom-list-properties", {"typename": "migration"})
    seen["device_add"] = await error_of(client, "device_add", {"driver": "migration"})
    seen["object-add"] = await error_of(client, "object-add", {"qom-type": "migration", "id": "mig1"})
    seen["query-before"] = await client.execute("query-migrate")
    seen["migrate"] = await client.execute("migrate", {"uri": "qomsim:peer"})
    seen["query-after"] = await client.execute("query-migrate")
    with pytest.raises(ExecuteError) as err:
        await client.execute("migrate-pause", oob=True)
    seen["migrate-pause"] = err.value.error.error.desc
    seen["quit"] = await client.execute("quit")


def test_singleton_v2_session_through_qmpclient() -> None:
    server = Server("--design", "singleton-v2")
    try:
        address = server.address
        assert isinstance(address, str)
        seen: dict[str, Any] = {}
        run_client(address, lambda client: _session(client, seen))
        status = server.proc.wait(TIMEOUT)
    finally:
        server.stop()
    assert status == 0
    assert seen["capabilities"] == ["oob"]
    # introspection works: the live instance is fetched (object_new_or_fetch), nothing is created
    props = properties_for(DESIGNS["singleton-v2"].tag)  # the debate's base: QEMU 9.1's 48
    assert len(props) == 48
    assert sorted(p["name"] for p in seen["dlp"]) == sorted(p.name for p in props)
    assert {p["name"] for p in seen["qlp"]} == {p.name for p in props} | {
        "type", "parent_bus", "realized", "hotplugged", "hotpluggable"}
    # a second instance is refused with RFC v2's wording (object_new_allowed)
    assert seen["device_add"] == ("GenericError",
                                  "Object type 'migration' conflicts with an existing singleton instance")
    assert seen["object-add"] == ("GenericError", "Parameter 'qom-type' does not accept value 'migration'")
    assert seen["query-before"] == {}
    assert seen["migrate"] == {}
    assert seen["query-after"] == {"status": "completed"}
    assert seen["migrate-pause"] == PAUSE_ERROR["desc"]
    assert seen["quit"] == {}


def race_script(flood: int) -> bytes:
    """:return: the racing client's whole script: oob on, a flood, quit, another flood."""
    msgs: list[dict[str, Any]] = [{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}]
    msgs += [{"exec-oob": "migrate-pause", "id": f"before-{i}"} for i in range(flood)]
    msgs += [{"execute": "quit", "id": "quit"}]
    msgs += [{"exec-oob": "migrate-pause", "id": f"after-{i}"} for i in range(flood)]
    return b"".join(json.dumps(m).encode() + b"\n" for m in msgs)


async def _race(address: str, flood: int) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_unix_connection(address)
    await reader.readline()  # the greeting
    writer.write(race_script(flood))
    await writer.drain()
    answers = []
    while line := await reader.readline():
        answers.append(json.loads(line))
    writer.close()
    return answers


def _run_race(design: str, flood: int, *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    server = Server("--design", design, *extra)
    try:
        address = server.address
        assert isinstance(address, str)
        answers = asyncio.run(asyncio.wait_for(_race(address, flood), TIMEOUT))
        status = server.proc.wait(TIMEOUT)
        assert server.proc.stderr is not None
        err = server.proc.stderr.read()
    finally:
        server.stop()
    return status, answers, err


def _ids(answers: list[dict[str, Any]]) -> list[str]:
    return [a.get("id", a.get("event", "?")) for a in answers]


def test_racing_quit_hits_the_use_after_free_in_qemu_10_0(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "uaf.json"
    status, answers, err = _run_race("qemu-10.0", 5, "--trace", str(trace))
    assert status == 134
    # every request before quit is answered as QEMU answers it; then quit, SHUTDOWN, and death
    assert _ids(answers) == [*(["?"] * 1), *[f"before-{i}" for i in range(5)], "quit", "SHUTDOWN"]
    assert all(a["error"] == PAUSE_ERROR for a in answers[1:6])
    first = err.splitlines()[0]
    assert first.startswith("qomsim: fault: UAF at step ")
    assert " on mon_iothread" in first and "(mig#1): ms->state" in first and "of freed mig#1" in first
    assert "migration_shutdown" in err
    # the saved run replays: same fault, same trace
    capsys.readouterr()
    assert main(["replay", str(trace)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "reproduced: yes"
    assert first.removeprefix("qomsim: fault: ") in out


def test_racing_quit_is_answered_to_the_end_by_a_safe_design() -> None:
    status, answers, err = _run_race("proposed-singleton-keepalive", 5)
    assert (status, err) == (0, "")
    ids = _ids(answers)
    assert ids[:8] == ["?", *[f"before-{i}" for i in range(5)], "quit", "SHUTDOWN"]
    # after quit, out-of-band commands run between the clean-up steps until monitor_cleanup() stops
    # the I/O thread: one after migration_shutdown(), one after vm_shutdown(), none after that
    assert ids[8:] == ["after-0", "after-1"]
    assert all(a["error"] == PAUSE_ERROR for a in answers
               if str(a.get("id", "")).startswith(("before", "after")))


def test_serve_rejects_a_bad_design_and_an_existing_trace_file(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text("mine")
    for args, message in (
        (["--design", "nope"],
         "qomsim serve: unknown design 'nope' (a preset id, FILE.py:NAME or module:NAME"),
        (["--design", "qemu-10.0", "--trace", str(old)],
         f"qomsim serve: {old} exists; --trace writes a new file only"),
    ):
        r = subprocess.run([sys.executable, "-m", "qom.cli", "serve", "--socket", str(tmp_path / "s"), *args],
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 2
        assert r.stderr.startswith(message) and r.stderr.count("\n") == 1
    assert old.read_text() == "mine"


@pytest.mark.parametrize(("design", "given", "expected"), [
    ("qemu-9.1", None, "9.1.0"), ("qemu-9.2", None, "9.2.0"), ("qemu-10.0", None, "10.0.0"),
    ("qemu-master", None, None), ("qemu-9.1", "7.2.22", "7.2.22")])
def test_the_greeting_names_the_release_the_design_follows(design: str, given: str | None,
                                                           expected: str | None) -> None:
    from migration.live.serve import served_version
    from migration.model.qomtype import new_universe
    from qom.qmp.schema import VersionInfo
    from qom.qmp.server import ServerConfig

    config = ServerConfig(version=None if given is None else VersionInfo.parse(given))
    got = served_version(DESIGNS[design], new_universe(DESIGNS[design]), config)
    assert (None if got is None else f"{got.major}.{got.minor}.{got.micro}") == expected
