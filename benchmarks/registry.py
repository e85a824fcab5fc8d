"""The explicit registry of figure groups, in table order (no discovery)."""

from __future__ import annotations

from benchmarks import (
    fig_bounded,
    fig_introspection,
    fig_memory,
    fig_migration,
    fig_objects,
    fig_reductions,
    fig_server,
)
from benchmarks.model import FigureSpec

__all__ = ["FIGURES", "figure_keys"]

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("lifecycle", ("1",), "Object lifecycle", fig_objects.measure_lifecycle,
               (("1", "object_new + object_unref, 3-level type, 5 class properties",
                 fig_objects.LIFECYCLE_TARGET),)),
    FigureSpec("properties", ("2",), "Property access", fig_objects.measure_properties,
               (("2", "property get/set through QOM", fig_objects.PROPERTY_TARGET),)),
    FigureSpec("sweep", ("3",), "In-process introspection sweep", fig_introspection.measure_sweep,
               (("3", "in-process qom-list-properties sweep over the real-QEMU snapshot",
                 fig_introspection.SWEEP_TARGET),)),
    FigureSpec("qmp-sweep", ("4",), "Introspection sweep over QMP", fig_introspection.measure_qmp_sweep,
               (("4", "qom-list-properties sweep over QMP, against real QEMU",
                 fig_introspection.QMP_TARGET),)),
    FigureSpec("counterexamples", ("5",), "Time to first counterexample",
               fig_migration.measure_counterexamples,
               (("5", "time to first counterexample, every failing cell", fig_migration.CELL_TARGET),
                ("5m", "time to first counterexample, median failing cell",
                 fig_migration.MEDIAN_CELL_TARGET))),
    FigureSpec("exploration", ("6",), "Exhaustive exploration", fig_migration.measure_exploration,
               (("6a", "exhaustive exploration speed, proposed design", None),
                ("6b", "time to exhaust every scenario, proposed design", fig_migration.EXHAUST_TARGET),
                ("6d", "exhaustive exploration speed, every design", None))),
    FigureSpec("memory", ("7",), "Memory", fig_memory.measure_memory,
               (("7a", "peak RSS growth over object_new/object_unref cycles", fig_memory.RSS_TARGET),
                ("7b", "universe size after loading the real snapshot", None))),
    FigureSpec("server", ("8",), "qomsim serve under attack", fig_server.measure_server,
               (("8a", "control latency and peak RSS, qom-list-get amplification", fig_server.LATENCY_TARGET),
                ("8b", "control latency and peak RSS, five 60 MB id echoes", fig_server.LATENCY_TARGET),
                ("8c", "control latency and peak RSS, 1,100 slow connections", fig_server.LATENCY_TARGET),
                ("8d", "control latency, RSS: out-of-band flood, qemu-10.0", fig_server.LATENCY_TARGET),
                ("8e", "control latency, RSS: out-of-band flood, keepalive", fig_server.LATENCY_TARGET),
                ("8f", "control latency, RSS: 2 million tokens per message", fig_server.LATENCY_TARGET),
                ("8g", "control latency and peak RSS, 60 slow readers", fig_server.LATENCY_TARGET),
                ("8h", "control latency and peak RSS, 64 KiB pipelined batches", fig_server.LATENCY_TARGET),
                ("8i", "control latency, RSS: object-add/object-del churn", fig_server.LATENCY_TARGET),
                ("8j", "control latency and peak RSS, 64 idle connections", fig_server.LATENCY_TARGET),
                ("8k", "control latency and peak RSS, every attack at once", fig_server.LATENCY_TARGET),
                ("8l", "live model: time per request after many requests", fig_server.AGE_TARGET))),
    FigureSpec("bounded", ("9",), "Bounded model checking", fig_bounded.measure_bounded,
               (("9b", "bounded exploration on all cores, speedup", fig_bounded.SPEEDUP_TARGET),
                ("9c", "full matrix at the default bound", fig_bounded.MATRIX_TARGET),
                ("9f", "the covering bound on qemu-10.0", fig_bounded.COVERING_TARGET),
                ("9j", "qomsim decide on the built-in defaults", fig_bounded.DECIDE_TARGET),
                ("9k", "the whole matrix at the covering bound", fig_bounded.MATRIX_TARGET))),
    FigureSpec("reductions", ("10",), "What the explorer's reductions save",
               fig_reductions.measure_reductions,
               (("10a", "state hashing vs the naive enumeration", None),
                ("10b", "sleep sets on top of state hashing", None))),
)


def figure_keys() -> list[str]:
    """:return: the ``--only`` keys, in table order."""
    return [spec.key for spec in FIGURES]
