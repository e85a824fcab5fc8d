"""Where the shutdown comes from (migration.model.shutdown), in the model and in ``qomsim serve``.

QEMU serializes in-band QMP requests with one dispatcher coroutine for every QMP monitor
(``monitor/qmp.c:monitor_qmp_dispatcher_co``, 7.2.0 and 10.0.0): a ``quit`` on a QMP monitor runs
after every request popped before it, and no request is popped once the main loop has exited.  A
signal, a guest power-off or an HMP ``quit`` does not queue, so a ``query-migrate`` in flight may have
its ``do_qmp_dispatch_bh`` run in ``monitor_cleanup()`` after ``migration_shutdown()`` freed the object.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import pytest
from fresh_interpreter import call_fresh
from test_qmp_server import TIMEOUT, Server

from migration.check.bounded import Bounded, Grammar, explore_bounded, grammar
from migration.check.registry import resolve
from migration.model.alphabet import kind
from migration.model.designs import DESIGNS
from migration.model.outcomes import Outcome
from migration.model.program import Program, ev
from migration.model.run import run_program
from migration.model.shutdown import DEFAULT_SOURCE, SHUTDOWN_SOURCES, representatives

QUEUED = ("qmp-quit", "qmp-quit-other")
NOT_QUEUED = ("sigterm", "hmp-quit", "sigint", "guest-poweroff")


def _in_flight(source: str) -> Program:
    """A query-migrate popped (its dispatch BH scheduled), then the shutdown from ``source``."""
    return (ev("object_init"), ev("query_migrate", pending=True), ev("migration_shutdown", source=source),
            ev("monitor_cleanup"))


def test_the_table_of_sources() -> None:
    assert tuple(SHUTDOWN_SOURCES) == (*NOT_QUEUED[:1], *QUEUED, *NOT_QUEUED[1:])
    assert DEFAULT_SOURCE == "sigterm" == kind("migration_shutdown").domain("source")[0]  # type: ignore[index]
    assert {n: s.queued for n, s in SHUTDOWN_SOURCES.items()} == {
        "sigterm": False, "qmp-quit": True, "qmp-quit-other": True, "hmp-quit": False, "sigint": False,
        "guest-poweroff": False}
    assert {n: s.cause for n, s in SHUTDOWN_SOURCES.items()} == {
        "sigterm": "host-signal", "qmp-quit": "host-qmp-quit", "qmp-quit-other": "host-qmp-quit",
        "hmp-quit": "host-qmp-quit", "sigint": "host-signal", "guest-poweroff": "guest-shutdown"}
    # -no-shutdown (SHUTDOWN_ACTION_PAUSE) stops the VM on a guest power-off; quit and the signals set
    # SHUTDOWN_ACTION_POWEROFF themselves (qmp_quit, qemu_system_killed)
    assert [n for n, s in SHUTDOWN_SOURCES.items() if s.no_shutdown != "shutdown"] == ["guest-poweroff"]
    assert SHUTDOWN_SOURCES["guest-poweroff"].no_shutdown == "stop"
    assert representatives() == ("sigterm", "qmp-quit")


@pytest.mark.parametrize("source", QUEUED)
def test_a_query_popped_before_a_qmp_quit_finishes_before_the_shutdown(source: str) -> None:
    # fails when the queueing is reverted: the BH would run in monitor_cleanup(), after the free
    r = run_program(DESIGNS["qemu-10.0"], _in_flight(source))
    assert r.outcome is Outcome.OK
    actions = [(s.actor, s.action) for s in r.trace]
    bh = actions.index(("bh:qmp-dispatch", "read query-migrate: s->state"))
    assert bh < actions.index(("main", "migration_shutdown"))
    assert r.trace[bh].function == "migration/migration.c:fill_source_migration_info"
    assert [s.function for s in r.trace if s.action == "main_loop_wait: bql_lock"] == [
        "util/main-loop.c:main_loop_wait"]


@pytest.mark.parametrize("source", NOT_QUEUED)
def test_a_query_in_flight_at_a_signal_or_poweroff_runs_in_monitor_cleanup(source: str) -> None:
    r = run_program(DESIGNS["qemu-10.0"], _in_flight(source))
    assert r.outcome is Outcome.UAF
    assert r.fault is not None
    assert (r.fault.actor, r.fault.obj, r.fault.detail) == (
        "bh:qmp-dispatch", "mig#1", "query-migrate: s->state of freed mig#1")


@pytest.mark.parametrize("source", tuple(SHUTDOWN_SOURCES))
def test_no_in_band_request_is_dispatched_after_the_main_loop_exited(source: str) -> None:
    prog = (ev("object_init"), ev("migration_shutdown", source=source), ev("query_migrate"),
            ev("query_migrate", pending=True), ev("monitor_cleanup"))
    r = run_program(DESIGNS["qemu-10.0"], prog)
    assert r.outcome is Outcome.OK
    sent = [(s.actor, s.action, s.note) for s in r.trace if s.action == "client sends query-migrate"]
    assert sent == [("main", "client sends query-migrate",
                     "queued; never dispatched: the main loop has exited")] * 2
    assert not any(s.actor.startswith("bh:qmp-dispatch") for s in r.trace)
    # the faults QEMU does have still happen: an outside caller, and out-of-band migrate-pause (S14)
    outside = run_program(DESIGNS["qemu-10.0"], (*prog[:2], ev("query_migrate", caller="outside")))
    assert outside.outcome is Outcome.UAF
    g = Grammar(pre=(), running=(), post=(ev("oob", command="migrate-pause"),),
                vm_shutdown=(ev("vm_shutdown", vm="running", vfio="none"),),
                shutdown=(ev("migration_shutdown", source=source),))
    b = explore_bounded(DESIGNS["qemu-10.0"], 1, alphabet=g)
    _prog, _sched, fault = b.violations["no-use-after-free"]
    assert (fault.actor, fault.outcome) == ("mon_iothread", Outcome.UAF)


def _same_runs(a: str, b: str, programs: list[Program]) -> None:
    for prog in programs:
        ra = run_program(DESIGNS["qemu-9.1"], tuple(ev("migration_shutdown", source=a)
                                                    if e.kind == "migration_shutdown" else e for e in prog))
        rb = run_program(DESIGNS["qemu-9.1"], tuple(ev("migration_shutdown", source=b)
                                                    if e.kind == "migration_shutdown" else e for e in prog))
        assert (ra.outcome, ra.trace, ra.fault) == (rb.outcome, rb.trace, rb.fault)


def test_the_sources_of_one_way_of_queueing_run_the_same_steps() -> None:
    programs = [_in_flight(DEFAULT_SOURCE),
                (ev("object_init"), ev("migrate"), ev("query_migrate", pending=True),
                 ev("migration_shutdown"), ev("vm_shutdown", vm="running", vfio="fails"),
                 ev("monitor_cleanup"))]
    for cls in (QUEUED, NOT_QUEUED):
        for other in cls[1:]:
            _same_runs(cls[0], other, programs)


def _with_every_source(name: str) -> tuple[set[str], set[str], int]:
    """The exploration at K = 1 of a grammar whose programs end with each representative shutdown source:
    the violated properties, the outcomes, the programs."""
    base = grammar()
    both = Grammar(base.pre, base.running, base.post, base.vm_shutdown,
                   tuple(ev("migration_shutdown", source=s) for s in representatives()))
    two = explore_bounded(resolve(name), 1, alphabet=both)
    return set(two.violations), set(two.outcomes), two.programs


@pytest.mark.parametrize("name", ["qemu-10.0", "mutex"])
def test_the_default_source_finds_every_fault_a_queued_quit_finds(
        name: str, explored: Callable[[str], Bounded]) -> None:
    # the bounded explorer ends its programs with the default source only: a queued quit runs the
    # requests in flight in a main_loop_wait() first, as a program whose query was not left pending does;
    # the default exploration is the session's (typeguard on), the one with both sources, twice as big,
    # runs in a fresh interpreter without typeguard
    one = explored(name)
    violated, outcomes, programs = call_fresh("test_shutdown_sources", "_with_every_source", name)
    assert violated == set(one.violations)
    assert outcomes == set(one.outcomes)
    assert programs == 2 * one.programs


# -- qomsim serve: each source enters the model's shutdown -------------------------------------------


def _lines(server: Server) -> list[dict[str, Any]]:
    import json

    assert server.proc.stdout is not None
    return [json.loads(line) for line in server.proc.stdout if line.startswith("{")]


@pytest.mark.parametrize(("pipelined", "answered"), [
    (b'{"execute": "quit", "id": "quit"}{"execute": "query-migrate", "id": "q"}', ["quit", "SHUTDOWN"]),
    (b'{"execute": "query-migrate", "id": "q"}{"execute": "quit", "id": "quit"}', ["q", "quit", "SHUTDOWN"])])
def test_serve_query_migrate_pipelined_with_quit_on_one_monitor_exits_0(pipelined: bytes,
                                                                        answered: list[str]) -> None:
    server = Server("--design", "qemu-10.0")
    try:
        c = server.raw().negotiate()
        c.send(pipelined)
        answers = []
        while True:
            try:
                answers.append(c.read())
            except (EOFError, OSError):
                break
        status = server.proc.wait(TIMEOUT)
        assert server.proc.stderr is not None
        err = server.proc.stderr.read()
    finally:
        server.stop()
    assert status == 0
    assert err == ""
    assert [a.get("id", a.get("event")) for a in answers] == answered
    assert answers[-1]["data"] == {"guest": False, "reason": "host-qmp-quit"}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_a_signal_is_a_shutdown_of_the_model(sig: signal.Signals) -> None:
    # join-at-shutdown joins T_mig in migration_shutdown(); a peer that never answers over a pipe keeps
    # T_mig blocked: the model's shutdown cannot end (HANG), whatever asked for it
    server = Server("--design", "join-at-shutdown")
    try:
        c = server.raw().negotiate()
        assert c.call({"execute": "migrate", "arguments": {"uri": "qomsim:blocked-file"}}) == {"return": {}}
        server.proc.send_signal(sig)
        event = c.read()
        status = server.proc.wait(TIMEOUT)
        assert server.proc.stderr is not None
        err = server.proc.stderr.read()
    finally:
        server.stop()
    assert event["event"] == "SHUTDOWN"
    assert event["data"] == {"guest": False, "reason": "host-signal"}
    assert status == 134
    assert err.splitlines()[0].startswith("qomsim: fault: HANG at step ")
    assert "qemu_thread_join(T_mig)" in err.splitlines()[0]


def test_serve_a_signal_to_an_idle_server_ends_it_cleanly() -> None:
    server = Server("--design", "qemu-10.0")
    try:
        c = server.raw().negotiate()
        server.proc.send_signal(signal.SIGTERM)
        assert c.read()["data"] == {"guest": False, "reason": "host-signal"}
        status = server.proc.wait(TIMEOUT)
    finally:
        server.stop()
    assert status == 0
