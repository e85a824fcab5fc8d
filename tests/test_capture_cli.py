"""``qomsim capture`` from the command line: errors, a crash and a restart, and capturing qomsim itself."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from qemu_helpers import QEMU_VERSIONS, require_qemu_version

from qom import cli
from qom.snapshot import packaged_snapshot_path, read_snapshot


def test_capture_needs_a_qemu_or_a_socket(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["capture", "--output", "x.json"])
    assert exc.value.code == 2
    assert "one of the arguments --qemu --qmp is required" in capsys.readouterr().err


def test_capture_reports_a_missing_binary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = str(tmp_path / "no-such-qemu")
    assert cli.main(["capture", "--qemu", binary, "--output", str(tmp_path / "s.json")]) == 1
    assert capsys.readouterr().err == (
        f"qomsim capture: cannot start {binary}: [Errno 2] No such file or directory: '{binary}'\n")
    assert not (tmp_path / "s.json").exists()


def test_capture_reports_a_missing_socket(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sock = str(tmp_path / "nobody.sock")
    assert cli.main(["capture", "--qmp", sock, "--output", str(tmp_path / "s.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"qomsim capture: cannot connect to {sock}: ")


@contextlib.contextmanager
def _serve(snapshot: Path, sock: Path) -> Iterator[None]:
    server = subprocess.Popen(
        [sys.executable, "-m", "qom.cli", "serve", "--universe", str(snapshot), "--socket", str(sock)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"qomsim: QMP listening on unix:{sock}"
        yield
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)


def test_capture_of_qomsim_serving_the_packaged_snapshot(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # the loader round trip without QEMU: load -> serve -> capture gives the same types back
    out = tmp_path / "again.json"
    with _serve(packaged_snapshot_path(), tmp_path / "qmp.sock"):
        assert cli.main(["capture", "--qmp", str(tmp_path / "qmp.sock"), "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("qomsim capture: 754 types, 0 crashing, 0 restarts, ")
    assert "capture: 1200/1200 (" in err  # plain progress lines: stderr is not a terminal
    first, again = read_snapshot(packaged_snapshot_path()), read_snapshot(out)
    assert again["types"] == first["types"]
    assert again["errors"] == first["errors"]
    assert again["qemu"] == {"version": first["qemu"]["version"], "argv": []}
    assert (again["crashes"], again["unmodelled"]) == ([], [])
    assert len(first["crashes"]) == 4


@pytest.mark.qemu
@pytest.mark.parametrize("version", QEMU_VERSIONS)
def test_capture_survives_a_crashing_type(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          version: str) -> None:
    binary = require_qemu_version(version)
    out = tmp_path / "s.json"
    assert cli.main(["capture", "--qemu", binary, "--only", "colo-compare", "--only", "container",
                     "--output", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    err = capsys.readouterr().err
    # colo-compare's temporary instance aborts both 7.2.22 and 10.0.2 (docs/known-differences.md)
    assert data["crashes"] == [{"command": "qom-list-properties", "detail": "killed by signal 6",
                                "typename": "colo-compare"}]
    assert "capture: qom-list-properties colo-compare crashed QEMU (killed by signal 6); " \
        "restarting\n" in err
    assert re.search(r"qomsim capture: \d+ types, 1 crashing, 1 restarts, [0-9.]+ s -> ", err)
    # the sweep went on after the restart
    assert data["errors"] == {}
    assert data["types"]["container"] == {"parent": "object"}
    # the binary's file name, not the path it was run from (a shared snapshot leaks no local path)
    assert data["qemu"]["argv"] == [Path(binary).name, "-machine", "none", "-nodefaults", "-S", "-display",
                                    "none"]


def test_capture_reports_an_unwritable_output_before_it_starts(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    # checked before QEMU starts (a capture takes minutes): this binary is never run
    out = tmp_path / "missing-dir" / "s.json"
    assert cli.main(["capture", "--qemu", str(tmp_path / "never-run"), "--only", "container", "--no-progress",
                     "--output", str(out)]) == 2
    assert capsys.readouterr().err == f"qomsim capture: cannot write {out}: No such file or directory\n"
    assert not out.parent.exists()
