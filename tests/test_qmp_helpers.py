"""tests/qemu_helpers.py: a missing QEMU skips locally but fails when QOMSIM_REQUIRE_QEMU=1."""

from __future__ import annotations

from pathlib import Path

import pytest
from qemu_helpers import QEMU10_ENV, QEMU_VERSIONS, require_qemu, require_qemu10, require_qemu_version


def test_missing_qemu_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setenv("QOMSIM_REQUIRE_QEMU", "1")
    with pytest.raises(pytest.fail.Exception, match="QOMSIM_REQUIRE_QEMU=1 requires it"):
        require_qemu()


def test_missing_qemu_skips_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("QOMSIM_REQUIRE_QEMU", raising=False)
    with pytest.raises(pytest.skip.Exception, match="qemu-system-x86_64 not found on PATH"):
        require_qemu()


def test_present_qemu_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: f"/opt/bin/{name}")
    assert require_qemu() == "/opt/bin/qemu-system-x86_64"


def test_missing_qemu10_fails_when_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QOMSIM_REQUIRE_QEMU", "1")
    for value in ("", str(tmp_path / "absent")):
        monkeypatch.setenv(QEMU10_ENV, value)
        with pytest.raises(pytest.fail.Exception) as exc:
            require_qemu_version("10.0.2")
        assert str(exc.value) == (f"QOMSIM_QEMU10 does not name an executable QEMU 10.0 ({value!r}), "
                                  "and QOMSIM_REQUIRE_QEMU=1 requires it")


def test_missing_qemu10_skips_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QOMSIM_REQUIRE_QEMU", raising=False)
    monkeypatch.delenv(QEMU10_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception) as exc:
        require_qemu10()
    assert str(exc.value) == "QOMSIM_QEMU10 does not name an executable QEMU 10.0 ('')"


def test_each_version_finds_its_own_qemu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    wrapper = tmp_path / "qemu-system-x86_64-10.0"
    wrapper.write_text("#!/bin/sh\n", encoding="utf-8")
    wrapper.chmod(0o755)
    monkeypatch.setenv(QEMU10_ENV, str(wrapper))
    monkeypatch.setattr("shutil.which", lambda name: f"/opt/bin/{name}")
    assert QEMU_VERSIONS == ("7.2.22", "10.0.2")
    assert require_qemu_version("7.2.22") == "/opt/bin/qemu-system-x86_64"
    assert require_qemu_version("10.0.2") == str(wrapper)
    with pytest.raises(ValueError, match=r"^no real QEMU '9.2.0' in the differential tests$"):
        require_qemu_version("9.2.0")
