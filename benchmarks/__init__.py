"""qomsim's benchmarks: speed, scale and memory, as ratios against real references (issue 7).

Run ``python -m benchmarks`` (full), ``--quick`` (CI) or ``--tiny`` (self-test); see
``docs/performance.md`` for the latest figures.  The registry of figure groups is
:data:`benchmarks.registry.FIGURES`; each group lives in its own ``fig_*`` module.
"""

from __future__ import annotations

from benchmarks.model import Config, FigureSpec, NotMeasured, Row, Status, Target
from benchmarks.registry import FIGURES
from benchmarks.render import render_json, render_markdown, write_outputs
from benchmarks.runner import FigureResult, Report, run

__all__ = [  # noqa: RUF022 -- ordered by importance
    "run",
    "Config",
    "Report",
    "FigureResult",
    "Row",
    "Status",
    "Target",
    "NotMeasured",
    "FigureSpec",
    "FIGURES",
    "render_markdown",
    "render_json",
    "write_outputs",
]
