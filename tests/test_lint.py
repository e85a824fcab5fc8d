"""Linters run as tests: ruff and ``mypy --strict`` over the whole project."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    exe = shutil.which("ruff")
    cmd = [exe, "check", "."] if exe else [sys.executable, "-m", "ruff", "check", "."]
    result = _run(*cmd)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    # The file list and --strict come from [tool.mypy] in pyproject.toml.
    result = _run(sys.executable, "-m", "mypy", "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
