"""Run a test's body in a fresh interpreter, for a Hypothesis search whose result is asserted.

Hypothesis mixes constants from every module of ours loaded so far into its draws
(``hypothesis.internal.conjecture.providers._get_local_constants``), so a seeded search that must find a
counterexample finds it, or not, depending on what ran earlier in the same process: after a whole
``qomsim decide``, mutex x no-deadlock was not found in 3,000 examples at seed 0; fresh, in 758.  A fresh
interpreter that imports the test module and calls one function loads the same modules on every run, in
any order of the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["ROOT", "run_fresh"]

ROOT = Path(__file__).resolve().parent.parent


def run_fresh(module: str, function: str, *args: object, timeout: float = 600) -> None:
    """Call ``tests.<module>.<function>(*args)`` in a fresh interpreter and fail with its stderr if it fails.

    :param module: a test module's name (``test_migration_campaign``).
    :param function: a function of it.
    :param args: its arguments (their ``repr`` must be Python).
    :param timeout: a guard against a hang, in seconds.
    """
    code = f"import tests.{module} as t; t.{function}({', '.join(map(repr, args))})"
    path = os.pathsep.join(p for p in (str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": path}  # tests/ for helper modules
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
