"""The live model in-process: a run fed event by event is the run ``qomsim replay`` re-runs."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from migration.check.registry import resolve
from migration.live.model import LiveModel
from migration.model.heap import MigStatus
from migration.model.program import ev
from migration.report.replay import reproduced, run_checked


def _quit(m: LiveModel) -> list[object]:
    return [v.fault for v in m.quit_steps()]


def test_a_migration_completes_between_requests() -> None:
    m = LiveModel(resolve("qemu-10.0"))
    assert m.feed(ev("object_init")).fault is None
    assert m.status() is MigStatus.NONE
    assert m.feed(ev("migrate", peer="ok")).fault is None
    # T_mig took the BQL while main_loop_wait released it, and the cleanup BH ran
    assert m.status() is MigStatus.COMPLETED
    assert [e.kind for e in m.events] == ["object_init", "migrate", "poll"]
    assert _quit(m) == [None, None, None]
    assert m.main.done and m.fault is None


def test_join_at_shutdown_hangs_on_a_pipe_peer_and_the_run_replays() -> None:
    m = LiveModel(resolve("join-at-shutdown"))
    m.feed(ev("object_init"))
    assert m.feed(ev("migrate", peer="blocked", channel="file")).fault is None
    assert m.status() is MigStatus.ACTIVE
    faults = _quit(m)
    assert len(faults) == 1 and m.fault is not None
    assert (m.fault.outcome.value, m.fault.actor) == ("HANG", "main")
    assert m.fault.detail == ("main qemu_thread_join(T_mig): waits for T_mig; "
                              "T_mig qemu_put_buffer to an unresponsive peer: the peer never answers")
    cx = m.counterexample()
    assert cx.property == "no-deadlock"
    r = run_checked(cx)
    assert r.trace == cx.trace and reproduced(cx.fault, r.fault)


def test_oob_after_monitor_cleanup_is_not_dispatched() -> None:
    m = LiveModel(resolve("qemu-10.0"))
    m.feed(ev("object_init"))
    steps = m.quit_steps()
    assert next(steps).fault is None and m.oob_open()  # after migration_shutdown()
    assert next(steps).fault is None and m.oob_open()  # after vm_shutdown()
    assert next(steps).fault is None
    assert not m.oob_open() and m.main.done


def test_in_band_migrate_pause_is_answered_on_the_main_thread_without_the_io_thread() -> None:
    from migration.live.serve import LiveServer
    from qom.qmp.dispatch import dispatch
    from qom.qmp.schema import QMPSession, SessionState
    from qom.universe import Universe

    universe = Universe(machine="none")
    live = LiveServer(resolve("qemu-10.0"), universe)
    session = QMPSession(state=SessionState.COMMAND, enabled=("oob",))
    cmds = live.hooks().commands
    desc = ("migrate-pause is currently only supported during postcopy-active or postcopy-recover state")
    for request in ({"execute": "migrate-pause"}, {"exec-oob": "migrate-pause"}):
        answer = dispatch(request, universe=universe, session=session, extra=cmds)
        assert answer == {"error": {"class": "GenericError", "desc": desc}}
    actors = [a.name for a in live.model.world.actors]
    assert actors == ["main", "mon_iothread"]  # only the out-of-band one ran on the I/O thread


# -- issue 26, item 7: a live model runs indefinitely -------------------------------------------------------


def test_the_step_bound_is_per_request_not_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import migration.live.model as live_model

    monkeypatch.setattr(live_model, "MAX_STEPS", 30)  # one query-migrate takes 10 program steps
    m = LiveModel(resolve("proposed-singleton-keepalive"), keep_run=False)
    assert m.feed(ev("object_init")).fault is None
    for _ in range(200):  # 2,000 steps in all: the run's total is not what the bound counts
        assert m.feed(ev("query_migrate")).fault is None
    assert len(m.steps) == 2_003 and m.fault is None


def test_a_request_that_never_ends_is_a_hang_of_that_request(monkeypatch: pytest.MonkeyPatch) -> None:
    import migration.live.model as live_model

    monkeypatch.setattr(live_model, "MAX_STEPS", 5)
    m = LiveModel(resolve("proposed-singleton-keepalive"), keep_run=False)
    assert m.feed(ev("object_init")).fault is None
    fault = m.feed(ev("query_migrate")).fault
    assert fault is not None
    assert (fault.outcome.value, fault.detail) == ("HANG", "no end after 5 steps of one request")


def _traced(n: int, m: LiveModel) -> int:
    for _ in range(n):
        m.feed(ev("query_migrate"))
        m.feed(ev("oob", command="migrate-pause"))
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_memory_and_actors_do_not_grow_with_the_requests_served(monkeypatch: pytest.MonkeyPatch) -> None:
    import migration.live.model as live_model

    monkeypatch.setattr(live_model, "RECENT_STEPS", 1_000)  # the same ring, filled sooner
    m = LiveModel(resolve("proposed-singleton-keepalive"), keep_run=False)
    m.feed(ev("object_init"))
    tracemalloc.start()
    try:
        first = _traced(200, m)  # 14 steps a pair: past 1,000 trace steps, the ring is full
        assert (len(m.steps), m.steps.dropped, len(m.steps.held())) == (2_802, 1_802, 1_000)
        second = _traced(200, m)  # 2,800 more steps (700 KB if they were all kept)
    finally:
        tracemalloc.stop()
    assert second - first < 32 << 10, f"{second - first} bytes more after 200 more request pairs"
    # finished actors are forgotten, but the newest of each kind (the next oob command runs after it)
    assert [a.name for a in m.world.actors] == ["main", "bh:qmp-dispatch#400", "mon_iothread#400"]
    assert (m.events, m.chosen) == ([], [])


def test_a_long_kept_run_still_replays_step_for_step() -> None:
    m = LiveModel(resolve("join-at-shutdown"))
    m.feed(ev("object_init"))
    for _ in range(10):  # 155 steps: within the bound qomsim replay runs a counterexample with (300)
        m.feed(ev("query_migrate"))
        m.feed(ev("oob", command="migrate-pause"))
    assert [a.name for a in m.world.actors] == ["main", "bh:qmp-dispatch#10", "mon_iothread#10"]
    assert m.feed(ev("migrate", peer="blocked", channel="file")).fault is None
    assert len(_quit(m)) == 1 and m.fault is not None and m.fault.outcome.value == "HANG"
    cx = m.counterexample()  # the replay forgets no actor: the names and steps are the same
    r = run_checked(cx)
    assert r.trace == cx.trace == m.steps.held() and reproduced(cx.fault, r.fault)
    assert {"bh:qmp-dispatch#10", "mon_iothread#10"} <= {t.actor for t in cx.trace}


def test_a_run_not_kept_cannot_be_saved() -> None:
    m = LiveModel(resolve("join-at-shutdown"), keep_run=False)
    m.feed(ev("object_init"))
    m.feed(ev("migrate", peer="blocked", channel="file"))
    _quit(m)
    with pytest.raises(RuntimeError, match=r"^the live run was not kept \(serve --trace FILE keeps it\)$"):
        m.counterexample()


def test_the_fault_report_prints_the_steps_held_and_says_how_many_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import migration.live.model as live_model
    from migration.live.serve import LiveServer
    from qom.qmp.server import ServerAbort
    from qom.universe import Universe

    monkeypatch.setattr(live_model, "RECENT_STEPS", 20)
    live = LiveServer(resolve("join-at-shutdown"), Universe(machine="none"))
    for _ in range(3):
        live._feed(ev("query_migrate"))
    live._feed(ev("migrate", peer="blocked", channel="file"))
    shutdown = live.hooks().shutdown
    assert shutdown is not None
    with pytest.raises(ServerAbort) as abort:
        list(shutdown("quit"))
    lines = abort.value.report.splitlines()
    assert abort.value.status == 134
    assert lines[:3] == [
        "qomsim: fault: HANG at step 45 on main (mig#1): main qemu_thread_join(T_mig): waits for T_mig; "
        "T_mig qemu_put_buffer to an unresponsive peer: the peer never answers",
        "qomsim: design join-at-shutdown; the trace:",
        "qomsim: (26 earlier steps are not kept; --trace FILE keeps the whole run)",
    ]
    assert [int(line.split()[0]) for line in lines[3:]] == list(range(26, 46))
