"""Running the bounded exploration's tasks: in this process, on local processes, or on a cluster.

The work of :func:`migration.check.bounded.explore_bounded` splits by program prefix
(:func:`migration.check.bounded.split_tasks`) into tasks that share nothing.  With one worker
they run here, one after the other; with more, on Dask distributed -- a ``LocalCluster``
of worker processes by default, or the cluster whose scheduler ``scheduler`` names
(``qomsim check --scheduler tcp://host:8786``).  Results are merged in task order, so
they are the same, byte for byte, whatever the worker count.

On a cluster the tasks start largest first (:func:`schedule_order`): the task that runs
every program from ``object_init`` on holds about three quarters of a design's work, and
started last it would leave one core idle while the other finishes it.  The embedded
``LocalCluster`` runs with Dask's monitoring made quiet (:data:`QUIET_CLUSTER`), on 127.0.0.1 and ports
the system chooses, with no dashboard (:data:`LOCAL_CLUSTER`): nothing of Dask reaches stderr.

Results are cached per (design, bound): ``qomsim decide`` explores every design once and
every property's cell reads the same exploration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from migration.check import interrupts
from migration.check.bounded import (
    Bound,
    Bounded,
    Task,
    count_programs,
    explore_bounded,
    grammar,
    merge,
    run_task,
    split_tasks,
)
from migration.model.designs import Design

__all__ = [
    "CONNECT_TIMEOUT", "LOCAL_CLUSTER", "QUIET_CLUSTER", "Progress", "ProgressFn", "RunStats",
    "SchedulerUnreachable", "bounded_result", "cached", "explore_designs", "schedule_order", "split_depth",
]

def split_depth(bound: Bound) -> int:
    """How many program choices a task's prefix may fix (:func:`~migration.check.bounded.split_tasks`).

    At depth 1 the task of ``object_init`` holds nearly every program, so a single design's exploration
    runs on one worker; at depth 2 (a task per first two events) the work spreads, at the price of a little
    state sharing across tasks and of a Dask round trip per task.  Bounds of one event are cheap and
    explored many designs at a time (decide's matrix), so they keep depth 1: measured on 2 loaded cores,
    16 designs at K = 1 took 45% more CPU on the cluster at depth 2 (715 tasks of 65 ms on average).  A
    bound of two events or more takes depth 2: qemu-10.0 at K = 2 goes from 4 tasks, the largest 387 s
    CPU, to 54, 408 s CPU in all and the largest 55 s (23% more runs), about half the wall time on 2 cores.
    With the foreground events of each choice in one task (:func:`~migration.check.bounded.split_tasks`),
    ``proposed-singleton-keepalive`` at ``2+10/0`` is 28 tasks of 359,708 states and 227 s CPU in all,
    against 54 tasks of 422,300 states and 275 s, run one after the other (one process: 306,915 states;
    the same paths); the largest task takes 30 s in both.
    It depends on the bound alone, so a design's counts never depend on what it was explored beside.

    :param bound: the bound.
    :return: the depth.
    """
    return 1 if bound.events <= 1 else 2

#: seconds to wait for ``--scheduler ADDRESS`` to answer before giving up
CONNECT_TIMEOUT = 10.0

#: the embedded cluster's Dask settings: its tasks are long and CPU-bound, and nobody watches a dashboard, so
#: the periodic wake-ups that would take the GIL from them are made rare (measured on 2 loaded cores: with
#: Dask's defaults the workers spent 10% more CPU than their tasks did and the scheduler and nannies in this
#: process another 9%; with these, 1.6% and 1.9%)
QUIET_CLUSTER: dict[str, object] = {
    "distributed.worker.profile.enabled": False,  # a statistical profiler walking the deep search stack
    "distributed.admin.tick.interval": "1s",  # the event loop's blocked-loop watchdog (20 ms)
    "distributed.admin.system-monitor.interval": "5s",  # CPU/memory samples for the dashboard (500 ms)
    "distributed.worker.memory.monitor-interval": "1s",  # the memory limit still holds, checked each second
    # Dask's scheduler and workers always open an HTTP server; these leave it no route (no dashboard, no
    # Prometheus page), and LOCAL_CLUSTER puts it on an ephemeral loopback port
    "distributed.scheduler.http.routes": [],
    "distributed.worker.http.routes": [],
}

#: the embedded cluster's addresses: everything on 127.0.0.1, every port chosen by the system.  Dask binds
#: the scheduler's HTTP server to 8787 when ``dashboard_address`` is ``None`` (and warns on stderr when
#: another Dask or Jupyter holds that port), so it is given port 0 with the dashboard turned off instead.
#: Its logs stay below CRITICAL: a worker whose heartbeat meets the scheduler's close logs an ERROR with a
#: traceback (``Worker.heartbeat``; seen on 2 busy cores), and a task's own failure reaches the client
#: as the exception ``gather`` raises, so no error of the work is lost.
LOCAL_CLUSTER: dict[str, Any] = {
    "host": "127.0.0.1",
    "scheduler_port": 0,
    "dashboard_address": "127.0.0.1:0",
    "scheduler_kwargs": {"dashboard": False},
    "worker_dashboard_address": None,
    "silence_logs": logging.CRITICAL,
}

_CACHE: dict[tuple[Design, Bound, bool], Bounded] = {}


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answered at the address given (or the address is not one).

    :ivar address: the address as given.
    """

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"cannot reach the Dask scheduler at '{address}': {reason}")
        self.address = address


def cached(design: Design, bound: int | Bound, por: bool = False) -> Bounded | None:
    """:param design: the design.
    :param bound: K, or a bound.
    :param por: with sleep sets.
    :return: the exploration if it was already run in this process."""
    return _CACHE.get((design, Bound.of(bound), por))


def _tasks(designs: Sequence[Design], bound: Bound, por: bool = False) -> list[Task]:
    splits = {tag: split_tasks(bound, split_depth(bound), tag) for tag in {d.tag for d in designs}}
    return [Task(d, bound, p, por=por, then=then) for d in designs for p, then in splits[d.tag]]


def schedule_order(tasks: Sequence[Task]) -> list[int]:
    """The order a cluster starts the tasks in: largest first, by the programs each covers.

    Longest-processing-time-first keeps the workers' finishing times within one small task of
    each other; the order never changes the result, which is merged in task order.

    :param tasks: the tasks, in :func:`migration.check.bounded.split_tasks` order.
    :return: task indices, the largest task first (ties in task order).
    """
    size = [count_programs(grammar(t.design.tag), t.bound, t.prefix, t.then) for t in tasks]
    return sorted(range(len(tasks)), key=lambda i: (-size[i], i))


@dataclass
class Progress:
    """How far one :func:`explore_designs` has got (what a progress display shows).

    :ivar designs: the designs explored.
    :ivar bound: the bound, as written.
    :ivar tasks: the tasks in all.
    :ivar tasks_done: the tasks finished.
    :ivar runs: model runs so far (on a cluster: those of the finished tasks).
    :ivar states: distinct states stored so far (on a cluster: those of the finished tasks).
    :ivar share_done: the finished tasks' share of the programs (0 to 1), or ``None`` while one unfinished
        task holds most of what is left, and always for a union of boxes (``2+10/0``): a task's cost is far
        from its share of the programs then, so nothing can be guessed from it (the ``10/0`` box holds
        nearly every program of ``2+10/0`` and a small part of its cost: decide's confirmation said "about
        35 s left" with 38 of its 54 tasks to go).
    """

    designs: int
    bound: str
    tasks: int
    tasks_done: int = 0
    runs: int = 0
    states: int = 0
    share_done: float | None = 0.0


#: receives :class:`Progress` as the exploration goes (in this process: as each run starts)
ProgressFn = Callable[[Progress], None]


def _timed_task(task: Task) -> tuple[Bounded, float]:
    """:param task: a task.
    :return: its result and the CPU seconds of the thread that ran it."""
    start = time.thread_time()
    result = run_task(task)
    return result, time.thread_time() - start


def _gather(client: Any, tasks: list[Task],
            done: Callable[[Bounded, int], None]) -> list[tuple[Bounded, float]]:
    from distributed import as_completed

    order = schedule_order(tasks)
    futures: list[Any] = [None] * len(tasks)
    for rank, i in enumerate(order):  # a higher priority starts first
        futures[i] = client.submit(_timed_task, tasks[i], pure=False, priority=len(tasks) - rank)
    try:
        index = {f.key: i for i, f in enumerate(futures)}
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            if future.status == "finished":
                done(future.result()[0], index[future.key])
        return list(client.gather(futures))
    except BaseException:  # Ctrl-C, SIGTERM: cancel the work, and keep Dask's leftovers off the terminal
        logging.getLogger("asyncio").addFilter(_left_behind)
        client.cancel(futures)
        raise


def _left_behind(record: logging.LogRecord) -> bool:
    """A logging filter: drop asyncio's "Task exception was never retrieved" for the ``AllExit`` that the
    Dask client's own waiting tasks raise once an interrupted gather is cancelled (nothing is lost: the
    run stops and says so)."""
    exc = record.exc_info[1] if record.exc_info else None
    return not (exc is not None and type(exc).__name__ == "AllExit"
                and type(exc).__module__ == "distributed.client")


def _probe(address: str) -> None:
    """Fail fast, in one line, when nothing answers at ``address``.

    :param address: a Dask scheduler's address.
    :raise SchedulerUnreachable: when no connection opens within :data:`CONNECT_TIMEOUT`.
    """
    from distributed.comm.core import connect

    async def knock() -> None:
        comm = await connect(address, timeout=CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
        await comm.close()

    try:
        asyncio.run(knock())
    except ValueError as exc:  # distributed: a malformed address or an unknown scheme
        raise SchedulerUnreachable(address, str(exc)) from None
    except OSError:  # distributed retries a refused or unresolved connection until the time-out
        raise SchedulerUnreachable(address, f"no answer within {CONNECT_TIMEOUT:g} s") from None


@dataclass
class RunStats:
    """Where the time of one :func:`explore_designs` went (filled in when the caller passes one).

    :ivar task_cpu: each task's CPU seconds (of the thread that ran it), in task order.
    :ivar start_s: wall seconds to start the ``LocalCluster`` or connect to the scheduler (0: here).
    :ivar run_s: wall seconds from the first task submitted to the last result back.
    :ivar close_s: wall seconds to close the client and the ``LocalCluster``.
    :ivar cpu_s: CPU seconds of this process and of the worker processes it started (and joined);
        a given scheduler's workers are not counted.
    """

    task_cpu: list[float] = field(default_factory=list)
    start_s: float = 0.0
    run_s: float = 0.0
    close_s: float = 0.0
    cpu_s: float = 0.0

    def critical_path(self) -> float:
        """:return: the largest task's share of the work: no number of workers runs faster than that
            share of the one-process time."""
        total = sum(self.task_cpu)
        return max(self.task_cpu) / total if total else 0.0


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _Tracker:
    """Turns task results and runs into :class:`Progress` for a :data:`ProgressFn`."""

    def __init__(self, tasks: list[Task], designs: int, report: ProgressFn | None) -> None:
        sizes = [count_programs(grammar(t.design.tag), t.bound, t.prefix, t.then) for t in tasks]
        self.share = [size / (sum(sizes) or 1) for size in sizes]
        self.report = report
        self.union = bool(tasks) and len(Bound.of(tasks[0].bound).boxes) > 1  #: no share can be guessed
        self.now = Progress(designs, str(Bound.of(tasks[0].bound)) if tasks else "", len(tasks))
        self.base = (0, 0)  # runs and states of the finished tasks
        self.left = set(range(len(tasks)))

    def task_done(self, result: Bounded, index: int) -> None:
        p = self.now
        p.tasks_done += 1
        self.left.discard(index)
        left = [self.share[i] for i in self.left]
        p.share_done = None if self.union or (left and max(left) > sum(left) / 2) else 1 - sum(left)
        self.base = (self.base[0] + result.runs, self.base[1] + result.states)
        p.runs, p.states = self.base
        if self.report is not None:
            self.report(p)

    def on_run(self, runs: int, states: int) -> None:
        self.now.runs, self.now.states = self.base[0] + runs, self.base[1] + states
        if self.report is not None:
            self.report(self.now)


def _here(tasks: list[Task], tracker: _Tracker) -> list[tuple[Bounded, float]]:
    """Run the tasks in this process, one after the other, reporting every run."""
    out = []
    for i, t in enumerate(tasks):
        start = time.thread_time()
        r = explore_bounded(t.design, t.bound, reduce=t.reduce, por=t.por, prefix=t.prefix, then=t.then,
                            max_runs=t.max_runs, on_run=None if tracker.report is None else tracker.on_run)
        out.append((r, time.thread_time() - start))
        tracker.task_done(r, i)
    return out


def _run_all(tasks: list[Task], workers: int, scheduler: str | None, stats: RunStats,
             tracker: _Tracker) -> list[Bounded]:
    cpu0, t0 = _cpu(), time.perf_counter()
    timed: list[tuple[Bounded, float]]
    if scheduler is None and workers <= 1:
        t1 = time.perf_counter()
        timed = _here(tasks, tracker)
        t2 = time.perf_counter()
    elif scheduler is not None:
        from distributed import Client

        _probe(scheduler)
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
        except OSError:  # it answered the probe, then went away
            raise SchedulerUnreachable(scheduler, f"no answer within {CONNECT_TIMEOUT:g} s") from None
        with client:
            t1 = time.perf_counter()
            timed = _gather(client, tasks, tracker.task_done)
            t2 = time.perf_counter()
    else:
        import dask
        from distributed import Client, LocalCluster

        with contextlib.ExitStack() as stack:
            with interrupts.deferred():  # a cluster half started cannot be closed: let it start first
                stack.enter_context(dask.config.set(QUIET_CLUSTER))
                cluster = stack.enter_context(LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=workers, threads_per_worker=1, processes=True, **LOCAL_CLUSTER))
                client = stack.enter_context(Client(cluster))  # type: ignore[no-untyped-call]
            t1 = time.perf_counter()
            timed = _gather(client, tasks, tracker.task_done)
            t2 = time.perf_counter()
    end = time.perf_counter()
    stats.task_cpu = [c for _r, c in timed]
    stats.start_s, stats.run_s, stats.close_s = t1 - t0, t2 - t1, end - t2
    stats.cpu_s = _cpu() - cpu0
    return [r for r, _c in timed]


def explore_designs(designs: Sequence[Design], bound: int | Bound, *, workers: int = 1,
                    scheduler: str | None = None, stats: RunStats | None = None,
                    por: bool = False, progress: ProgressFn | None = None) -> dict[str, Bounded]:
    """Explore every program up to ``bound`` for each design (one pool of tasks for all of them).

    :param designs: the designs.
    :param bound: K, or a bound.
    :param workers: local worker processes (1: run here).
    :param scheduler: a Dask scheduler's address (overrides ``workers``).
    :param stats: filled in with where the time went (left as it is when every design was cached).
    :param por: add sleep sets to state hashing (:func:`migration.check.bounded.explore_bounded`).
    :param progress: receives how far it has got (nothing when every design was cached).
    :return: design name -> its exploration (also cached for :func:`bounded_result`).
    :raise SchedulerUnreachable: when ``scheduler`` does not answer within :data:`CONNECT_TIMEOUT`.
    """
    bound = Bound.of(bound)
    todo = [d for d in dict.fromkeys(designs) if (d, bound, por) not in _CACHE]
    if todo:
        tasks = _tasks(todo, bound, por)
        results = _run_all(tasks, workers, scheduler, stats if stats is not None else RunStats(),
                           _Tracker(tasks, len(todo), progress))
        # each design's own tasks, in task order: designs of different tags split into different numbers of
        # tasks (at depth 2, one per option of the tag's grammar: 23 at QEMU 7.2, 28 at 9.1)
        for d in todo:
            _CACHE[d, bound, por] = merge(d.name, bound, [r for t, r in zip(tasks, results, strict=True)
                                                          if t.design is d])
    return {d.name: _CACHE[d, bound, por] for d in designs}


def bounded_result(design: Design, bound: int | Bound, *, workers: int = 1, scheduler: str | None = None,
                   por: bool = False) -> Bounded:
    """:param design: the design.
    :param bound: K, or a bound.
    :param workers: local worker processes (1: run here).
    :param scheduler: a Dask scheduler's address.
    :param por: add sleep sets to state hashing.
    :return: the exploration of every program up to ``bound`` (cached).
    :raise SchedulerUnreachable: when ``scheduler`` does not answer within :data:`CONNECT_TIMEOUT`."""
    return explore_designs([design], bound, workers=workers, scheduler=scheduler, por=por)[design.name]
