"""``python -m benchmarks.profile``: where the hot paths spend their time (pyinstrument).

Profiles three workloads and prints, for each, the functions with the most *own* time
(time in the function itself, not in what it calls), as a share of the workload::

    lifecycle   object_new + object_unref of figure 1's three-level type
    properties  figure 2's get/set calls
    checker     exhaustive exploration of every scenario of one design, then Hypothesis
                sampling of two properties (figures 5 and 6)
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["WORKLOADS", "hot_spots", "main"]


def _lifecycle(n: int) -> Callable[[], None]:
    import qom
    from benchmarks.fig_objects import make_universe

    universe = make_universe()

    def work() -> None:
        with qom.use_universe(universe):
            for _ in range(n):
                qom.object_unref(qom.object_new("bench-leaf"))

    return work


def _properties(n: int) -> Callable[[], None]:
    import qom
    from benchmarks.fig_objects import make_universe

    universe = make_universe()

    def work() -> None:
        with qom.use_universe(universe):
            obj = qom.object_new("bench-leaf")
            for i in range(n):
                qom.object_property_get(obj, "a")
                qom.object_property_set(obj, "a", i)
                qom.object_property_get_str(obj, "label")
                qom.object_property_set_uint(obj, "c", i % 256)
            qom.object_unref(obj)

    return work


def _checker(n: int) -> Callable[[], None]:
    from migration.check.explore import explore, sample
    from migration.model.designs import DESIGNS
    from migration.model.scenarios import SCENARIOS

    design = DESIGNS["qemu-10.0"]

    def work() -> None:
        for _ in range(max(1, n // 20000)):
            for program in SCENARIOS.values():
                explore(design, program)
        for prop in ("introspection-works", "no-use-after-free"):
            sample(design, prop)

    return work


#: workload name -> builder taking a size
WORKLOADS: dict[str, Callable[[int], Callable[[], None]]] = {
    "lifecycle": _lifecycle,
    "properties": _properties,
    "checker": _checker,
}


def hot_spots(work: Callable[[], None], top: int
              ) -> tuple[float, list[tuple[str, float]], list[tuple[str, float]]]:
    """Profile ``work`` and rank functions by own time.

    :param work: the workload.
    :param top: how many functions to return.
    :return: the total profiled time in seconds, (function, share of it) pairs, largest first,
        and (package, share) pairs.
    """
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0002)
    profiler.start()
    work()
    session = profiler.stop()
    root = session.root_frame()
    own: Counter[str] = Counter()
    stack: list[tuple[Any, str]] = [] if root is None else [(root, "")]
    while stack:
        frame, parent = stack.pop()
        # pyinstrument's synthetic "[self]" frames hold their parent's own time
        here = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
        where = parent if frame.is_synthetic else here
        stack.extend((child, where) for child in frame.children)
        if frame.total_self_time > 0:
            own[where] += frame.total_self_time
    total = sum(own.values()) or 1.0
    return total, [(name, t / total) for name, t in own.most_common(top)], _by_package(own, total)


def _by_package(own: Counter[str], total: float) -> list[tuple[str, float]]:
    packages: Counter[str] = Counter()
    for where, t in own.items():
        path = where.rsplit("(", 1)[-1]
        head = path.split("/", 1)[0] if "/" in path else "builtins"
        packages[head] += t
    return [(name, t / total) for name, t in packages.most_common()]


def main(argv: Sequence[str] | None = None) -> int:
    """:param argv: the arguments (default: ``sys.argv[1:]``).
    :return: the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", choices=[*WORKLOADS, []], metavar="WORKLOAD",
                        help=f"what to profile (default: all of {', '.join(WORKLOADS)})")
    parser.add_argument("--size", type=int, default=50_000, help="iterations (default: 50000)")
    parser.add_argument("--top", type=int, default=12, help="functions to list (default: 12)")
    args = parser.parse_args(argv)
    for name in args.workloads or list(WORKLOADS):
        total, spots, packages = hot_spots(WORKLOADS[name](args.size), args.top)
        shares = ", ".join(f"{pkg} {share:.0%}" for pkg, share in packages[:5])
        print(f"{name}: {total:.2f} s profiled ({shares}); own time by function")
        for where, share in spots:
            print(f"  {share:6.1%}  {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
