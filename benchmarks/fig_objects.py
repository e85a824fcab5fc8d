"""Figures 1 and 2: object lifecycle and property access through QOM, against plain Python.

The workload is a three-level type ``bench-leaf`` -> ``bench-mid`` -> ``bench-base`` ->
``object`` with five class properties spread over the levels, each with a default (as
qdev static properties have), so ``object_new`` runs five property ``init`` hooks, one
``instance_init`` per level, and ``object_unref`` runs the full finalize.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.model import Config, Row, Target, judged
from benchmarks.timing import measure_pair

__all__ = ["Plain", "make_universe", "measure_lifecycle", "measure_properties"]

LIFECYCLE_TARGET = Target(10, on_ratio=True)
PROPERTY_TARGET = Target(10, on_ratio=True)


class Plain:
    """The reference: a plain Python object with five attributes (an ordinary class, with a
    ``__dict__`` as :class:`qom.Object` has; no ``__slots__``)."""

    def __init__(self) -> None:
        self.a = 0
        self.b = 0
        self.c = 0
        self.flag = False
        self.label = ""


@dataclass
class _World:
    universe: Any
    typename: str


def make_universe() -> Any:
    """Build a universe holding the three-level benchmark type.

    :return: the universe (typed ``Any`` so this module imports without ``qom``).
    """
    import qom
    from qom import ObjectPropertyFlags as F

    class BenchState(qom.Object):
        def __init__(self) -> None:
            super().__init__()
            self.a = 0
            self.b = 0
            self.c = 0
            self.flag = False
            self.label = ""

    def get_flag(obj: qom.Object) -> bool:
        return bool(getattr(obj, "flag"))  # noqa: B009 -- BenchState is local to this function

    def set_flag(obj: qom.Object, value: bool) -> None:
        setattr(obj, "flag", value)  # noqa: B010

    def get_label(obj: qom.Object) -> str | None:
        return str(getattr(obj, "label"))  # noqa: B009

    def set_label(obj: qom.Object, value: str) -> None:
        setattr(obj, "label", value)  # noqa: B010

    def base_class_init(klass: qom.ObjectClass, _data: Any) -> None:
        qom.object_property_set_default_uint(
            qom.object_class_property_add_uint32_ptr(klass, "a", "a", F.READ | F.WRITE), 1)
        qom.object_property_set_default_bool(
            qom.object_class_property_add_bool(klass, "flag", get_flag, set_flag), True)

    def mid_class_init(klass: qom.ObjectClass, _data: Any) -> None:
        qom.object_property_set_default_uint(
            qom.object_class_property_add_uint64_ptr(klass, "b", "b", F.READ | F.WRITE), 2)
        qom.object_property_set_default_str(
            qom.object_class_property_add_str(klass, "label", get_label, set_label), "x")

    def leaf_class_init(klass: qom.ObjectClass, _data: Any) -> None:
        qom.object_property_set_default_uint(
            qom.object_class_property_add_uint8_ptr(klass, "c", "c", F.READ | F.WRITE), 3)

    def noop_init(_obj: qom.Object) -> None:
        return None

    universe = qom.Universe(machine=None)
    with qom.use_universe(universe):
        qom.type_register_static_array([
            qom.TypeInfo(name="bench-base", parent="object", instance_size=1, instance_type=BenchState,
                         class_init=base_class_init, instance_init=noop_init),
            qom.TypeInfo(name="bench-mid", parent="bench-base", class_init=mid_class_init,
                         instance_init=noop_init),
            qom.TypeInfo(name="bench-leaf", parent="bench-mid", class_init=leaf_class_init,
                         instance_init=noop_init),
        ])
        obj = qom.object_new("bench-leaf")  # initializes the classes outside the timed loops
        qom.object_unref(obj)
    return universe


def _ns(value: float) -> str:
    return f"{value:,.0f} ns"


def measure_lifecycle(config: Config) -> list[Row]:
    """Figure 1: ``object_new`` + ``object_unref`` against a plain object's creation and drop.

    :param config: sizes and repetitions.
    :return: one row.
    """
    import qom

    universe = make_universe()

    def qom_cycle(n: int) -> None:
        new, unref = qom.object_new, qom.object_unref
        for _ in range(n):
            unref(new("bench-leaf"))

    def plain_cycle(n: int) -> None:
        for _ in range(n):
            Plain()

    with qom.use_universe(universe):
        # repetitions of about a millisecond on both sides, as figure 2 takes them: each starts with the
        # harness's gc.collect() (gc_quiet), whose cold caches a 0.1 ms repetition would mostly measure
        loops = config.loops
        repeats = config.repeats * 3
        pair = measure_pair(qom_cycle, plain_cycle, loops=loops, repeats=repeats,
                            warmup=config.warmup, reference_loops=config.loops * 10)
        live = universe.live_instances("bench-leaf")
    return [judged(
        "1", "object_new + object_unref, 3-level type, 5 class properties", pair.subject_ns, "ns/op",
        target=LIFECYCLE_TARGET, reference=f"plain object, 5 attributes: {_ns(pair.reference_ns)}",
        reference_value=pair.reference_ns, ratio=pair.ratio,
        cpu_ratio=pair.cpu_ratio,
        note=f"median of {repeats} x {loops} cycles; {live} instances left live")]


def _property_rows(config: Config, obj: Any, plain: Plain) -> list[tuple[str, str, Callable[[int], object],
                                                                          Callable[[int], object], str]]:
    import qom

    def qget(n: int) -> None:
        get = qom.object_property_get
        for _ in range(n):
            get(obj, "a")

    def qset(n: int) -> None:
        put = qom.object_property_set
        for i in range(n):
            put(obj, "a", i)

    def tget(n: int) -> None:
        get = qom.object_property_get_uint
        for _ in range(n):
            get(obj, "a")

    def tset(n: int) -> None:
        put = qom.object_property_set_uint
        for i in range(n):
            put(obj, "a", i)

    def tget_str(n: int) -> None:
        get = qom.object_property_get_str
        for _ in range(n):
            get(obj, "label")

    def tset_str(n: int) -> None:
        put = qom.object_property_set_str
        for _ in range(n):
            put(obj, "label", "y")

    def pget(n: int) -> None:
        for _ in range(n):
            getattr(plain, "a")  # noqa: B009 -- by name, as QOM does

    def pset(n: int) -> None:
        for i in range(n):
            setattr(plain, "a", i)  # noqa: B010

    def pget_str(n: int) -> None:
        for _ in range(n):
            getattr(plain, "label")  # noqa: B009

    def pset_str(n: int) -> None:
        for _ in range(n):
            setattr(plain, "label", "y")  # noqa: B010

    return [
        ("2a", "object_property_get (uint32 'a', defined 2 levels up)", qget, pget, "getattr(o, 'a')"),
        ("2b", "object_property_set (uint32 'a')", qset, pset, "setattr(o, 'a', v)"),
        ("2c", "object_property_get_uint (typed)", tget, pget, "getattr(o, 'a')"),
        ("2d", "object_property_set_uint (typed)", tset, pset, "setattr(o, 'a', v)"),
        ("2e", "object_property_get_str (str 'label')", tget_str, pget_str, "getattr(o, 'label')"),
        ("2f", "object_property_set_str (str 'label')", tset_str, pset_str, "setattr(o, 'label', v)"),
    ]


def measure_properties(config: Config) -> list[Row]:
    """Figure 2: property get and set through QOM against plain attribute access by name.

    :param config: sizes and repetitions.
    :return: one row per accessor.
    """
    import qom

    universe = make_universe()
    rows: list[Row] = []
    with qom.use_universe(universe):
        obj = qom.object_new("bench-leaf")
        plain = Plain()
        for fig, name, subject, reference, ref_name in _property_rows(config, obj, plain):
            pair = measure_pair(subject, reference, loops=config.loops, repeats=config.repeats,
                                warmup=config.warmup, reference_loops=config.loops * 10)
            rows.append(judged(
                fig, name, pair.subject_ns, "ns/op", target=PROPERTY_TARGET,
                reference=f"{ref_name}: {_ns(pair.reference_ns)}", reference_value=pair.reference_ns,
                ratio=pair.ratio,
                cpu_ratio=pair.cpu_ratio, note=f"median of {config.repeats} x {config.loops} calls"))
        qom.object_unref(obj)
    return rows
