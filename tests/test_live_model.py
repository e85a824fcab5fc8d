"""The live model in-process: a run fed event by event is the run ``qomsim replay`` re-runs."""

from __future__ import annotations

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
