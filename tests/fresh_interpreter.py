"""Run a test's body in a fresh interpreter: a Hypothesis search whose result is asserted, or a reference
result computed without typeguard's checks.

Hypothesis mixes constants from every module of ours loaded so far into its draws
(``hypothesis.internal.conjecture.providers._get_local_constants``), so a seeded search that must find a
counterexample finds it, or not, depending on what ran earlier in the same process: after a whole
``qomsim decide``, mutex x no-deadlock was not found in 3,000 examples at seed 0; fresh, in 758.  A fresh
interpreter that imports the test module and calls one function loads the same modules on every run, in
any order of the suite.

A fresh interpreter also runs without the typeguard checks pytest's plugin adds to ``qom`` and ``migration``
in the test process, which make an exploration about four times slower: :func:`call_fresh` computes a
reference result (the old explorer's, the naive enumeration's) there, and the test compares it with the
result under test, computed in the test process with every check on.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "call_fresh", "run_fresh"]

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str, timeout: float) -> None:
    path = os.pathsep.join(p for p in (str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": path}  # tests/ for helper modules
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def run_fresh(module: str, function: str, *args: object, timeout: float = 600) -> None:
    """Call ``tests.<module>.<function>(*args)`` in a fresh interpreter and fail with its stderr if it fails.

    :param module: a test module's name (``test_migration_campaign``).
    :param function: a function of it.
    :param args: its arguments (their ``repr`` must be Python).
    :param timeout: a guard against a hang, in seconds.
    """
    _run(f"import tests.{module} as t; t.{function}({', '.join(map(repr, args))})", timeout)


def call_fresh(module: str, function: str, *args: object, timeout: float = 600) -> Any:
    """What ``tests.<module>.<function>(*args)`` returns, called in a fresh interpreter.

    Such an interpreter runs without typeguard's checks (pytest's plugin installs them in this process
    only): for a reference result, such as the old explorer's, computed at a quarter of the cost, while
    the result it is compared with is computed here, checked.

    :param module: a test module's name.
    :param function: a function of it (what it returns must pickle).
    :param args: its arguments (their ``repr`` must be Python).
    :param timeout: a guard against a hang, in seconds.
    :return: what the function returned.
    """
    with tempfile.TemporaryDirectory(prefix="qomsim-fresh-") as d:
        out = Path(d) / "result.pickle"
        _run(f"import pickle, tests.{module} as t; r = t.{function}({', '.join(map(repr, args))}); "
             f"open({str(out)!r}, 'wb').write(pickle.dumps(r))", timeout)
        return pickle.loads(out.read_bytes())
