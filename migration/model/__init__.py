"""The model: what QEMU does, as steps a scheduler interleaves (no verdicts here).

:mod:`~migration.model.heap` (objects, locks, use-after-free detection),
:mod:`~migration.model.runtime` (actors and the deterministic scheduler),
:mod:`~migration.model.events` (each lifecycle event, helper and thread),
:mod:`~migration.model.program` and :mod:`~migration.model.scenarios` (what happens),
:mod:`~migration.model.designs` (designs as knobs), :mod:`~migration.model.qomtype` and
:mod:`~migration.model.options` (the ``migration`` QOM type and its class properties),
:mod:`~migration.model.run` (one run of a program on a schedule), and the data the runs return
(:mod:`~migration.model.outcomes`, :mod:`~migration.model.results`).
"""
