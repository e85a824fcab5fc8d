"""The ``qomsim`` command: :func:`main` and the subcommands each package registers (see :mod:`qom.cli.main`).

This is the top layer: :mod:`qom.cli.serve` is the one place that uses both :mod:`qom.qmp` and
:mod:`qom.snapshot`.
"""

from __future__ import annotations

from qom.cli.main import GROUP, build_parser, main, subcommands

__all__ = ["GROUP", "build_parser", "main", "subcommands"]
