"""The ``qomsim`` entry point: help, version, and the subcommand registry."""

from __future__ import annotations

import importlib

import pytest

from qom import cli


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert re_version(capsys.readouterr().out)


def re_version(out: str) -> bool:
    words = out.split()
    return len(words) == 2 and words[0] == "qomsim" and words[1][0].isdigit()


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli.subcommands():
        assert name in out


def test_no_subcommand_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "usage: qomsim" in capsys.readouterr().out


def test_each_package_registers_its_own_subcommands() -> None:
    assert cli.subcommands() == {
        "capture": "qom.snapshot.capture",
        "check": "migration.report.check_cmd",
        "decide": "migration.report.decide",
        "designs": "migration.report.designs_cmd",
        "demo": "qom.demo",
        "replay": "migration.report.replay",
        "reproduce": "migration.report.reproduce_cmd",
        "serve": "migration.live.serve",
    }


@pytest.mark.parametrize("name", sorted(cli.subcommands()))
def test_every_registered_subcommand_module_exists(name: str) -> None:
    module = importlib.import_module(cli.subcommands()[name])
    assert isinstance(module.HELP, str) and module.HELP
    assert callable(module.add_arguments)
    assert callable(module.run)
