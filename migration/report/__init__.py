"""What people read: ``qomsim check``, ``qomsim decide`` (MADR notes with evidence), ``qomsim replay``.

:mod:`~migration.report.check_cmd`, :mod:`~migration.report.decide`, :mod:`~migration.report.notes`,
:mod:`~migration.report.replay`.  Uses :mod:`migration.check` and :mod:`migration.model`.
"""
