"""``qomsim decide --qemu BINARY``: the failing cells of the preset that follows the binary's release,
driven against it, in the notes (without ``--qemu`` the notes are the golden ones:
tests/test_decide_run.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from qemu_helpers import require_qemu10

from qom import cli

ARGS = ["decide", "--designs", "qemu-10.0", "--properties", "no-use-after-free", "--date", "2026-12-06",
        "--confirm", "none", "--bound", "-1", "--out", "notes"]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _note(root: Path) -> str:
    return (root / "notes" / "0001-migration-object-lifetime.md").read_text()


def test_a_binary_that_runs_nothing_is_named_and_confirms_nothing(in_tmp: Path) -> None:
    fake = in_tmp / "qemu"
    fake.write_text("#!/bin/sh\necho 'QEMU emulator version 10.0.2 (fake)'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert cli.main([*ARGS, "--qemu", "./qemu"]) == 0
    note = _note(in_tmp)
    assert ("The real binaries this run drove the failing cells against (`qomsim decide --qemu`): `./qemu` "
            "is QEMU 10.0.2, followed by `qemu-10.0`.\n\n## Decision Drivers") in note
    assert ("* `qemu-10.0` `no-use-after-free`: QEMU 10.0.2 does not confirm it (S8-wrong-pointer:b: not "
            "drivable: query_migrate(caller='outside'): no code on QEMU's main thread calls "
            "migrate_get_current() after migration_shutdown(); query-migrate reaches it only through QMP's "
            "dispatch bottom half; `qomsim reproduce notes/evidence/qemu-10.0--no-use-after-free.json --qemu "
            "./qemu --attempts 3`); 6 witnesses driven\n") in note
    assert sorted(p.name for p in (in_tmp / "notes" / "evidence").iterdir()) == [
        "qemu-10.0--no-use-after-free.json", "qemu-10.0--no-use-after-free.md"]


def test_a_binary_no_preset_follows_is_named(in_tmp: Path) -> None:
    fake = in_tmp / "qemu"
    fake.write_text("#!/bin/sh\necho 'QEMU emulator version 6.2.0'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert cli.main([*ARGS, "--qemu", "./qemu"]) == 0
    assert "`./qemu` is QEMU 6.2.0, which no preset follows." in _note(in_tmp)
    assert "Real QEMU, each failing cell" not in _note(in_tmp)


def test_a_binary_that_says_no_version_writes_nothing(in_tmp: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*ARGS, "--qemu", "/bin/true"]) == 2
    assert capsys.readouterr().err == ("qomsim decide: --qemu: /bin/true --version does not name a QEMU "
                                       "version; nothing written\n")
    assert not (in_tmp / "notes").exists()


@pytest.mark.qemu
def test_qemu_10_0_2_confirms_qemu_10_0_no_use_after_free_through_s14a(in_tmp: Path) -> None:
    binary = require_qemu10()
    assert cli.main([*ARGS, "--qemu", binary]) == 0
    note = _note(in_tmp)
    witness = "notes/evidence/qemu-10.0--no-use-after-free--S14-oob-after-shutdown-a.json"
    assert (f"* `qemu-10.0` `no-use-after-free`: QEMU 10.0.2 confirms it (S14-oob-after-shutdown:a: "
            "**confirmed**: Invalid read of size 4 in `qmp_migrate_pause` < `qmp_marshal_migrate_pause`, "
            f"freed by `migration_shutdown`; `qomsim reproduce {witness} --qemu {binary} "
            "--attempts 3`)\n") in note
    assert (in_tmp / witness).is_file()
