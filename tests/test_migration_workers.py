"""The bounded exploration on Dask distributed (migration.check.workers): an external cluster, task order."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_terminal import without_progress

from migration.check import workers
from migration.check.bounded import (
    SKELETON,
    Bound,
    Bounded,
    Task,
    count_programs,
    grammar,
    split,
    split_tasks,
)
from migration.check.registry import resolve
from migration.model.alphabet import leaves_actor
from qom.cli.main import main as cli_main

ROOT = Path(__file__).resolve().parents[1]

#: seconds any one step of the external cluster may take before the test fails (a loaded 2-core machine)
STEP_TIMEOUT = 120


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate every process, then kill the ones that did not stop within 10 s."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def _wait_for_file(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """Wait until the scheduler has written its scheduler file (complete JSON), or fail if it exits."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return info
        except (FileNotFoundError, ValueError):
            pass
        try:  # waits for the scheduler to exit, at most 50 ms: the poll interval
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"the scheduler exited with {proc.returncode} before writing {path}")
    pytest.fail(f"the scheduler wrote no {path} within {timeout} s")


@pytest.fixture
def external_cluster(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A Dask scheduler and two workers started as separate programs on 127.0.0.1 (ephemeral ports).

    :return: the scheduler's address and a client connected to it.
    """
    from distributed import Client

    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the workers import this tree's code
    sched_file = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen[bytes]] = []
    client: Any = None
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(sched_file), "--idle-timeout", "600"],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        address = _wait_for_file(sched_file, procs[0], STEP_TIMEOUT)["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for i in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(sched_file),
                 "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                 "--local-directory", str(tmp_path / f"worker{i}"), "--death-timeout", "60"],
                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        client = Client(address, timeout=STEP_TIMEOUT)  # type: ignore[no-untyped-call]
        client.wait_for_workers(2, timeout=STEP_TIMEOUT)
        yield address, client
    finally:
        if client is not None:
            client.close()
        _stop(procs)


def test_an_external_cluster_gives_the_bytes_of_one_process(tmp_path: Path,
                                                            external_cluster: tuple[str, Any]) -> None:
    address, client = external_cluster
    args = ["check", "--design", "qemu-9.1", "--examples", "0", "--bound", "1", "--no-database"]
    for extra in (["--json", "here.json"], ["--scheduler", address, "--json", "cluster.json"]):
        done = subprocess.run(  # both in a fresh process: nothing another test left behind
            [sys.executable, "-m", "qom.cli", *args, *extra], cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
            timeout=STEP_TIMEOUT, check=False)
        assert (done.returncode, done.stderr) == (1, ""), extra
    here = (tmp_path / "here.json").read_bytes()
    assert (tmp_path / "cluster.json").read_bytes() == here
    nd = next(c for c in json.loads(here)["cells"] if c["property"] == "no-deadlock")
    assert nd["bound"] == 1 and nd["programs"] == count_programs(grammar(), 1)
    # the external workers ran every task, from this tree's code
    ran = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(ran) == 2 and sum(ran.values()) == len(split_tasks(1, workers.split_depth(Bound.of(1))))
    origin = client.run(lambda: __import__("migration.check.bounded", fromlist=["_"]).__file__)
    assert set(origin.values()) == {str(ROOT / "migration" / "check" / "bounded.py")}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_an_unreachable_scheduler_is_a_one_line_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(workers, "CONNECT_TIMEOUT", 0.5)
    workers._CACHE.clear()
    address = f"tcp://127.0.0.1:{_closed_port()}"
    args = ["check", "--design", "qemu-9.1", "--examples", "0", "--bound", "1", "--no-database"]
    assert cli_main([*args, "--scheduler", address, "--json", "x.json"]) == 2
    out = capsys.readouterr()
    assert out.err == (f"qomsim check: cannot reach the Dask scheduler at '{address}': "
                       "no answer within 0.5 s\n")
    assert out.out == "" and not (tmp_path / "x.json").exists()
    assert cli_main([*args, "--scheduler", "no-port-here"]) == 2
    assert capsys.readouterr().err == ("qomsim check: cannot reach the Dask scheduler at 'no-port-here': "
                                       "missing port number in address 'no-port-here'\n")
    status = cli_main(["decide", "--designs", "qemu-9.1", "--properties", "no-deadlock", "--bound", "1",
                       "--scheduler", address, "--out", str(tmp_path / "notes")])
    assert status == 2
    assert capsys.readouterr().err == (f"qomsim decide: cannot reach the Dask scheduler at '{address}': "
                                       "no answer within 0.5 s; nothing written\n")
    assert not (tmp_path / "notes").exists()


def test_a_cluster_starts_the_largest_task_first() -> None:
    tasks = [Task(resolve(d), 2, p) for d in ("qemu-9.1", "mutex") for p in split(2, 1)]
    order = workers.schedule_order(tasks)
    sizes = [count_programs(grammar(), 2, tasks[i].prefix) for i in order]
    assert sizes == sorted(sizes, reverse=True) and sorted(order) == list(range(len(tasks)))
    # the two tasks that start at object_init (every other first event spends one of the K events) go first
    first = split(2, 1).index((len(grammar().pre),))
    assert order[:2] == [first, len(split(2, 1)) + first]


def test_one_event_bounds_split_by_the_first_event_and_wider_ones_by_the_first_two() -> None:
    """A one-event bound keeps a task per first event (decide's matrix: many designs, cheap tasks); a wider
    one splits by the first two, so that a single design's exploration spreads over the workers."""
    assert [workers.split_depth(Bound.parse(b)) for b in ("0", "1", "1/0", "2", "2/1", "covering")] == \
        [1, 1, 1, 2, 2, 2]
    covering = Bound.parse("covering")
    tasks = workers._tasks([resolve("qemu-10.0")], covering)
    assert [(t.prefix, t.then) for t in tasks] == split_tasks(covering, 2, "10.0")
    g = grammar("10.0")
    init = len(g.pre)  # object_init: after the pre events
    assert (tasks[0].prefix, tasks[0].then) == ((), tuple(range(len(g.pre))))  # every pre event: foreground
    opts = [e for e in g.options(1, 1) if e is not None]  # with free events left, no end of the program yet
    assert len(opts) == len(g.options(1, 1))
    alone = [t.prefix[1] for t in tasks[1:] if not t.then]
    (together,) = [t.then for t in tasks[1:] if t.then]
    # after object_init: each background event and migration_shutdown alone, the foreground ones together
    assert all(t.prefix[0] == init for t in tasks[1:])
    assert [opts[i] for i in alone] == [e for e in opts if e.kind in SKELETON or leaves_actor(e)]
    assert [opts[i] for i in together] == [e for e in opts if e.kind not in SKELETON and not leaves_actor(e)]
    assert len(tasks) == 28


# join-at-shutdown (tag 9.1, split into as many tasks) explores K = 1 in a seventh of qemu-9.1's time
@pytest.mark.parametrize("design", ["join-at-shutdown", pytest.param("qemu-9.1", marks=pytest.mark.slow)])
def test_run_stats_say_where_the_time_went(design: str) -> None:
    workers._CACHE.clear()
    stats = workers.RunStats()
    workers.explore_designs([resolve(design)], 1, stats=stats)
    assert len(stats.task_cpu) == len(split_tasks(1, workers.split_depth(Bound.of(1))))
    assert stats.start_s < stats.run_s and stats.close_s < stats.run_s  # here: no cluster to start
    assert stats.cpu_s >= sum(stats.task_cpu) * 0.9
    assert stats.critical_path() == max(stats.task_cpu) / sum(stats.task_cpu)
    again = workers.RunStats()
    workers.explore_designs([resolve(design)], 1, stats=again)  # cached: nothing ran
    assert again == workers.RunStats()


def test_each_design_gets_its_own_tasks_when_tags_split_into_different_numbers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """At depth 2 QEMU 7.2's grammar splits into 23 tasks and 9.1's into 28: each design's result merges
    exactly its own tasks (each stand-in result names its design and counts its task)."""
    bound = Bound.parse("2/1")
    designs = [resolve("qemu-7.2"), resolve("mutex"), resolve("qemu-10.0")]
    sizes = [len(split_tasks(bound, workers.split_depth(bound), d.tag)) for d in designs]
    assert sizes == [23, 28, 28]

    def stand_in(tasks: list[Task], *_args: object) -> list[Bounded]:
        return [Bounded(t.design.name, bound.events, programs=1, states=i, outcomes={t.design.name: 1})
                for i, t in enumerate(tasks)]
    monkeypatch.setattr(workers, "_run_all", stand_in)
    workers._CACHE.clear()
    try:
        got = workers.explore_designs(designs, bound)
    finally:
        workers._CACHE.clear()
    assert {n: (b.outcomes, b.programs, b.states) for n, b in got.items()} == {
        "qemu-7.2": ({"qemu-7.2": 23}, 23, sum(range(23))),
        "mutex": ({"mutex": 28}, 28, sum(range(23, 51))),
        "qemu-10.0": ({"qemu-10.0": 28}, 28, sum(range(51, 79))),
    }


@pytest.fixture
def port_8787_taken() -> Iterator[None]:
    """Port 8787 (Dask's dashboard default) held by a listening socket, as another Dask or Jupyter would."""
    s = socket.socket()
    try:
        s.bind(("", 8787))
        s.listen()
    except OSError:  # something on this machine listens there already: the same situation
        s.close()
        s = None  # type: ignore[assignment]
    with socket.create_connection(("127.0.0.1", 8787), timeout=5):
        pass  # it answers
    yield
    if s is not None:
        s.close()


def _listening_ports(pid: int) -> set[int]:
    import psutil  # type: ignore[import-untyped]  # distributed depends on it; no stubs are installed

    procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return {c.laddr.port for p in procs for c in p.net_connections() if c.status == psutil.CONN_LISTEN}


def test_the_local_cluster_binds_no_fixed_port_and_says_nothing_on_stderr(
        tmp_path: Path, port_8787_taken: None) -> None:
    args = ["check", "--design", "qemu-9.1", "--property", "no-deadlock", "--examples", "0", "--bound", "1",
            "--no-database", "--workers", "2"]
    done = subprocess.run([sys.executable, "-m", "qom.cli", *args], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=STEP_TIMEOUT, check=False)
    assert (done.returncode, without_progress(done.stderr)) == (0, "")
    assert done.stdout.startswith("qemu-9.1 no-deadlock: holds (bounded, OK, ")


def test_the_local_cluster_listens_on_loopback_ephemeral_ports_only() -> None:
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set(workers.QUIET_CLUSTER), LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=1, threads_per_worker=1, processes=True, **workers.LOCAL_CLUSTER) as cluster, \
            Client(cluster) as client:  # type: ignore[no-untyped-call]
        assert client.submit(sum, [1, 2]).result() == 3
        ports = _listening_ports(os.getpid())
        http = cluster.scheduler.http_server
        assert http.address == "127.0.0.1" and 8787 not in ports
        assert "dashboard" in cluster.scheduler.services  # Dask's name for its HTTP server, routeless here
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")


_WORKER_ERROR = """
import logging
import dask
from distributed import Client, LocalCluster
from migration.check.workers import LOCAL_CLUSTER, QUIET_CLUSTER

def complain() -> None:
    # what Dask's worker logs when its heartbeat meets the scheduler's close (Worker.heartbeat)
    logging.getLogger("distributed.worker").error("Failed to communicate with scheduler during heartbeat.")

if __name__ == "__main__":
    with dask.config.set(QUIET_CLUSTER), LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                                      **LOCAL_CLUSTER) as cluster, Client(cluster) as client:
        client.run(complain)
    print("ran")
"""


def test_a_worker_s_own_error_log_stays_off_stderr(tmp_path: Path) -> None:
    # the heartbeat race of a closing LocalCluster (seen once in a test run on 2 busy cores) is not
    # something a test can time; this logs the same error from a worker, every time
    (tmp_path / "complain.py").write_text(_WORKER_ERROR)
    done = subprocess.run([sys.executable, "complain.py"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=STEP_TIMEOUT, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ran\n", "")
