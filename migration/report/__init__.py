"""What people read: ``qomsim check``, ``qomsim decide`` (MADR notes with evidence), ``qomsim replay``.

The commands: :mod:`~migration.report.check_cmd`, :mod:`~migration.report.decide` (its CLI),
:mod:`~migration.report.replay`.  What ``decide`` is made of: :mod:`~migration.report.matrix_run` (the
matrix run and the confirmation), :mod:`~migration.report.choose` (the rule that picks an option),
:mod:`~migration.report.notes`, :mod:`~migration.report.evidence` and
:mod:`~migration.report.scenario_notes` (what the notes say), :mod:`~migration.report.outdir` (writing
files without losing any), :mod:`~migration.report.progress` and :mod:`~migration.report.summary` (what
the terminal shows).  Uses :mod:`migration.check` and :mod:`migration.model`.
"""
