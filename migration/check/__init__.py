"""The checkers: the spec's properties, exploration (exhaustive and Hypothesis), verdicts, the search.

:mod:`~migration.check.properties` (spec §5 predicates over a run),
:mod:`~migration.check.explore` (every schedule of a program; Hypothesis sampling),
:mod:`~migration.check.cell` (a verdict per design × property, counterexamples, replay),
:mod:`~migration.check.search` (designs of the model's own).  Uses :mod:`migration.model`, never
:mod:`migration.report`.
"""
