"""A migration design's model, live behind QMP: ``qomsim serve --design``.

:mod:`migration.live.model` runs the model as events arrive; :mod:`migration.live.qomside` gives
a served universe the ``migration`` type and its live object; :mod:`migration.live.serve` is the
``serve`` subcommand (it extends :mod:`qom.cli.serve`).
"""

from migration.live.model import LiveModel

__all__ = ["LiveModel"]
