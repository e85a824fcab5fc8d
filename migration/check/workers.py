"""Running the bounded exploration's tasks: in this process, on local processes, or on a cluster.

The work of :func:`migration.check.bounded.explore_bounded` splits by program prefix
(:func:`migration.check.bounded.split`) into tasks that share nothing.  With one worker
they run here, one after the other; with more, on Dask distributed -- a ``LocalCluster``
of worker processes by default, or the cluster whose scheduler ``scheduler`` names
(``qomsim check --scheduler tcp://host:8786``).  Results are merged in task order, so
they are the same, byte for byte, whatever the worker count.

Results are cached per (design, bound): ``qomsim decide`` explores every design once and
every property's cell reads the same exploration.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from migration.check.bounded import Bounded, Task, merge, run_task, split
from migration.model.designs import Design

__all__ = ["SPLIT_DEPTH", "bounded_result", "cached", "explore_designs"]

#: program choices a task's prefix fixes (1: a task per first event; each keeps most of the state sharing)
SPLIT_DEPTH = 1

_CACHE: dict[tuple[Design, int], Bounded] = {}


def cached(design: Design, bound: int) -> Bounded | None:
    """:param design: the design.
    :param bound: K.
    :return: the exploration if it was already run in this process."""
    return _CACHE.get((design, bound))


def _tasks(designs: Sequence[Design], bound: int) -> list[Task]:
    prefixes = split(bound, SPLIT_DEPTH)
    return [Task(d, bound, p) for d in designs for p in prefixes]


def _run_all(tasks: list[Task], workers: int, scheduler: str | None) -> list[Bounded]:
    if scheduler is None and workers <= 1:
        return [run_task(t) for t in tasks]
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as client:  # type: ignore[no-untyped-call]
            return list(client.gather(client.map(run_task, tasks, pure=False)))
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,  # type: ignore[no-untyped-call]
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        return list(client.gather(client.map(run_task, tasks, pure=False)))


def explore_designs(designs: Sequence[Design], bound: int, *, workers: int = 1,
                    scheduler: str | None = None) -> dict[str, Bounded]:
    """Explore every program up to ``bound`` for each design (one pool of tasks for all of them).

    :param designs: the designs.
    :param bound: K.
    :param workers: local worker processes (1: run here).
    :param scheduler: a Dask scheduler's address (overrides ``workers``).
    :return: design name -> its exploration (also cached for :func:`bounded_result`).
    """
    todo = [d for d in dict.fromkeys(designs) if (d, bound) not in _CACHE]
    if todo:
        tasks = _tasks(todo, bound)
        results = _run_all(tasks, workers, scheduler)
        n = len(tasks) // len(todo)
        for i, d in enumerate(todo):
            _CACHE[d, bound] = merge(d.name, bound, results[i * n:(i + 1) * n])
    return {d.name: _CACHE[d, bound] for d in designs}


def bounded_result(design: Design, bound: int, *, workers: int = 1, scheduler: str | None = None) -> Bounded:
    """:param design: the design.
    :param bound: K.
    :param workers: local worker processes (1: run here).
    :param scheduler: a Dask scheduler's address.
    :return: the exploration of every program up to ``bound`` (cached)."""
    return explore_designs([design], bound, workers=workers, scheduler=scheduler)[design.name]
