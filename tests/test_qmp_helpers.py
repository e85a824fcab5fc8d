"""tests/qemu_helpers.py: a missing QEMU skips locally but fails when QOMSIM_REQUIRE_QEMU=1."""

from __future__ import annotations

import pytest
from qemu_helpers import require_qemu


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
