"""``qomsim reproduce`` without a real QEMU: the trigger table, the command-line builder, valgrind's report
read, what each prediction expects, and the command's refusals.  The real runs are in
tests/test_reproduce_qemu.py."""

from __future__ import annotations

import argparse
import dataclasses
import json
import stat
from pathlib import Path

import pytest

from migration.check.cell import save_counterexample
from migration.model.alphabet import ALPHABET, combinations_of
from migration.model.program import Event, ev
from migration.model.scenarios import SCENARIOS
from migration.report import reproduce_cmd
from migration.reproduce import TRIGGERS, NotDrivable, Status, TriggerKind, build_plan, reproduce, trigger_of
from migration.reproduce.plan import Step, command_line, late_oob_events
from migration.reproduce.predictions import SAFE_PATHS, predictions, preset_for, safe_paths
from migration.reproduce.run import Expectation, expectation_of
from migration.reproduce.table import cell_text
from migration.reproduce.valgrind import ValgrindError, errors, matching

V10 = (10, 0, 2)
SLOW = "driver=null-co,node-name=n0,size=1048576,latency-ns=3000000000"
DIRTY = Step("human-monitor-command", {"command-line": 'qemu-io n0 "write 0 512"'})
RAM = ("-m", "64M", "-object", "memory-backend-file,id=ram0,size=64M,mem-path={ram},share=on",
       "-machine", "memory-backend=ram0")


@pytest.fixture(scope="module")
def by_name() -> dict[str, object]:
    """The qemu-10.0 predictions that break no-use-after-free, by scenario."""
    return {p.name: p for p in predictions("qemu-10.0") if "no-use-after-free" in p.properties}


# -- the trigger table -----------------------------------------------------------------------------


def test_every_event_of_every_kind_and_parameter_has_a_trigger() -> None:
    for k in ALPHABET:
        for params in combinations_of(k):
            e = ev(k.name, **params)
            t = trigger_of(e)
            assert t.event == k.name
            if t.kind is TriggerKind.NONE:
                assert t.why, e
            assert ":" in t.qemu or t.qemu.endswith(".h"), t.qemu


def test_the_table_has_no_event_the_alphabet_lacks() -> None:
    assert set(TRIGGERS) == {k.name for k in ALPHABET}


def test_a_trigger_is_the_first_row_that_matches() -> None:
    assert trigger_of(ev("oob", command="migrate-recover")).command == "migrate-recover"
    assert trigger_of(ev("migrate", peer="blocked")).arguments == {"uri": "unix:{peer}"}
    assert trigger_of(ev("migrate")).arguments == {"uri": "exec:cat > /dev/null"}
    assert trigger_of(ev("migrate", thread_helper="migration_is_running")).kind is TriggerKind.NONE
    assert trigger_of(ev("vm_shutdown", vm="stopped", vfio="none")).options == ("-S",)
    assert trigger_of(ev("query_migrate", pending=True)).kind is TriggerKind.NONE


# -- the command-line builder ----------------------------------------------------------------------


def test_plan_of_s14a_floods_migrate_pause_after_shutdown() -> None:
    plan = build_plan(SCENARIOS["S14-oob-after-shutdown:a"], V10)
    assert plan.options == ("-blockdev", SLOW)
    assert plan.steps == (DIRTY,)
    assert plan.flood == (Step("migrate-pause", {}, True, "oob"),)
    assert plan.shutdown is True
    assert plan.paths == frozenset()
    assert command_line("/q", plan, 7, {}) == [
        "/q", "-M", "none", "-nodefaults", "-display", "none", "-blockdev", SLOW,
        "-chardev", "socket,id=qmp,fd=7,server=on,wait=off", "-mon", "chardev=qmp,mode=control"]


def test_plan_of_s14b_sends_the_late_oob_command_at_its_place_and_after_shutdown() -> None:
    plan = build_plan(SCENARIOS["S14-oob-after-shutdown:b"], V10, frozenset({2}))
    pause = Step("migrate-pause", {}, True, "oob")
    assert plan.options == (*RAM, "-blockdev", SLOW)
    assert plan.steps == (Step("migrate-set-parameters", {"max-bandwidth": 1024}),
                          Step("migrate", {"uri": "exec:cat > /dev/null"}, False, "migrate"), pause, DIRTY)
    assert build_plan(SCENARIOS["S14-oob-after-shutdown:b"], V10).flood == ()  # without the witness
    assert plan.flood == (pause,)
    assert plan.paths == frozenset({"ram"})
    assert command_line("/q", plan, 3, {"ram": "/w/ram"})[6:12] == [
        "-m", "64M", "-object", "memory-backend-file,id=ram0,size=64M,mem-path=/w/ram,share=on",
        "-machine", "memory-backend=ram0"]


def test_plan_of_a_blocked_peer_and_a_stopped_vm() -> None:
    program = (ev("add_blocker"), ev("object_init"), ev("migrate", peer="blocked"), ev("migration_shutdown"),
               ev("vm_shutdown", vm="stopped", vfio="none"), ev("monitor_cleanup"))
    plan = build_plan(program, V10)
    vvfat = "driver=vvfat,node-name=vv,dir={vvfat},rw=on,fat-type=16"
    assert plan.options == ("-blockdev", vvfat, *RAM, "-S")
    assert [str(s) for s in plan.steps] == ["execute migrate uri=unix:{peer}"]
    assert plan.paths == frozenset({"vvfat", "ram", "peer"})
    assert plan.flood == ()


def test_not_drivable_names_every_event_without_a_trigger() -> None:
    with pytest.raises(NotDrivable) as exc:
        build_plan(SCENARIOS["S2-thread-holds-last-ref"], V10)
    assert exc.value.reason == (
        "vm_shutdown(vfio='fails', vm='running'): the VFIO device's state change failing needs VFIO hardware "
        "with migration support (hw/vfio/migration.c:vfio_vmstate_change calls migration_file_set_error); "
        "helper(name='migration_is_running'): no code on QEMU's main thread calls an exported helper there: "
        "its callers are device code (VFIO, virtio-mem, vhost-vdpa) a guest or VFIO hardware drives "
        "(include/migration/misc.h)")


@pytest.mark.parametrize(("program", "reason"), [
    ((ev("introspect"), ev("object_init")),
     "introspect(): QMP is answered only once qemu_init() has run migration_object_init()"),
    ((ev("object_init"), ev("migration_shutdown"), ev("query_migrate")),
     "query_migrate(): an in-band command sent after the SHUTDOWN event is never dispatched (the main loop "
     "has ended: system/runstate.c:qemu_cleanup)"),
    ((ev("object_init"), ev("migrate", channel="file")),
     "migrate(channel='file'): migrate needs QEMU 9.0.0 or later, the binary is 7.2.22"),
])
def test_not_drivable_where_the_program_places_an_event(program: tuple[Event, ...], reason: str) -> None:
    with pytest.raises(NotDrivable) as exc:
        build_plan(program, (7, 2, 22))
    assert exc.value.reason == reason


def test_late_oob_events_read_the_witness(by_name: dict[str, object]) -> None:
    b = by_name["S14-oob-after-shutdown:b"].counterexample  # type: ignore[attr-defined]
    trace = [{"actor": t.actor, "action": t.action} for t in b.trace]
    assert late_oob_events(SCENARIOS["S14-oob-after-shutdown:b"], trace) == frozenset({2})
    early = [{"actor": "mon_iothread", "action": "x"}, {"actor": "main", "action": "migration_shutdown"}]
    assert late_oob_events(SCENARIOS["S14-oob-after-shutdown:b"], early) == frozenset()


# -- valgrind's report -----------------------------------------------------------------------------

REPORT = """==7== Memcheck, a memory error detector
==7== Warning: client switching stacks?  SP change: 0x1ffefff7a8 --> 0x7423fe8
==7== Thread 4:
==7== Invalid read of size 8
==7==    at 0x4E0C: swapcontext (swapcontext.S:91)
==7==  Address 0x4ca00110 is in a rw- anonymous segment
==7==
==7== Thread 3 IO mon_iothread:
==7== Invalid read of size 4
==7==    at 0x5A1B2C: qmp_migrate_pause (migration.c:2100)
==7==    by 0x6B2C3D: qmp_marshal_migrate_pause (qapi-commands-migration.c:500)
==7==  Address 0x1f2e3d40 is 232 bytes inside a block of size 1,176 free'd
==7==    at 0x48431EF: free (vg_replace_malloc.c:872)
==7==    by 0x5A0000: migration_shutdown (migration.c:300)
==7==    by 0x5B0000: qemu_cleanup (runstate.c:880)
==7==    by 0x5C0000: (below main) (libc-start.c:308)
==7==  Block was alloc'd at
==7==    at 0x4840F2F: calloc (vg_replace_malloc.c:1340)
==7==    by 0x5D0000: object_new (object.c:800)
==7==
==7== ERROR SUMMARY: 2 errors from 2 contexts (suppressed: 0 from 0)
"""

PAUSE = ValgrindError("Invalid read of size 4", ["qmp_migrate_pause", "qmp_marshal_migrate_pause"],
                      "Address 0x1f2e3d40 is 232 bytes inside a block of size 1,176 free'd",
                      ["free", "migration_shutdown", "qemu_cleanup", "(below main)"],
                      ["calloc", "object_new"], "3 IO mon_iothread")


def test_errors_reads_each_error_and_leaves_out_coroutine_stack_switches() -> None:
    assert errors(REPORT) == [PAUSE]
    assert PAUSE.use_after_free
    assert errors("==7== ERROR SUMMARY: 0 errors from 0 contexts\n") == []


def test_matching_needs_the_access_and_the_freer_the_model_names() -> None:
    assert matching([PAUSE], "qmp_migrate_pause", "migration_shutdown") is PAUSE
    assert matching([PAUSE], "qmp_query_migrate", "migration_shutdown") is None
    assert matching([PAUSE], "qmp_migrate_pause", "migration_bh_dispatch_bh") is None


#: the shape of what real QEMU 10.0.2 (Debian's release build) showed under valgrind in one S14:b run
#: (2026-12-07; the kind, the thread and the stacks' frames as the run printed them, the middle of the
#: access stack left out; the address line is made up): the cleanup bottom half's last object_unref freed
#: the object inside vm_shutdown()'s bdrv_flush_all(), and a migrate-pause of the flood read it;
#: migration_bh_dispatch_bh is static, so valgrind shows it as ???
BH_FREE = ValgrindError("Invalid read of size 4",
                        ["qmp_migrate_pause", "qmp_marshal_migrate_pause", "qmp_dispatch", "???", "main"],
                        "Address 0x2a0c5e0 is 40 bytes inside a block of size 1,344 free'd",
                        ["free", "???", "aio_bh_poll", "aio_poll", "bdrv_flush", "bdrv_flush_all"],
                        ["malloc", "g_malloc", "???", "migration_object_init", "qemu_init", "main"], "3")


def test_a_bottom_half_s_drop_matches_a_free_valgrind_cannot_name() -> None:
    def match(err: ValgrindError, in_bh: bool = True, created_by: str = "migration_object_init") -> bool:
        return matching([err], "qmp_migrate_pause", "migration_bh_dispatch_bh", freer_in_bh=in_bh,
                        created_by=created_by) is err

    assert match(BH_FREE)
    # the model's drop ran on main (S14:a): the name must be there
    assert not match(BH_FREE, in_bh=False)
    # another object: the block was not allocated where the model creates its object
    assert not match(BH_FREE, created_by="object_new_with_props")
    assert not match(BH_FREE, created_by="")
    # a free by a function valgrind names, in a bottom half: that function is not the model's
    named = dataclasses.replace(BH_FREE, freed_by=["free", "bdrv_delete", "aio_bh_poll", "aio_poll"])
    assert not match(named)
    # freed outside any bottom half
    outside = dataclasses.replace(BH_FREE, freed_by=["free", "???", "qemu_cleanup", "main"])
    assert not match(outside)
    # the dispatcher directly under the allocator: nothing unnamed ran the drop
    direct = dataclasses.replace(BH_FREE, freed_by=["g_free", "aio_bh_poll", "aio_poll"])
    assert not match(direct)
    # S14:a's free, named, matches either way
    assert matching([PAUSE], "qmp_migrate_pause", "migration_shutdown", freer_in_bh=False,
                    created_by="migration_object_init") is PAUSE


def test_an_error_summary_for_the_table() -> None:
    assert PAUSE.summary(1) == ["Invalid read of size 4 (thread 3 IO mon_iothread)",
                                "   at qmp_migrate_pause",
                                " Address 0x1f2e3d40 is 232 bytes inside a block of size 1,176 free'd",
                                "   freed by free", "   freed by migration_shutdown"]


# -- predictions -----------------------------------------------------------------------------------


def test_what_each_qemu_10_use_after_free_expects(by_name: dict[str, object]) -> None:
    expected = {
        "S1-helper-after-idle-shutdown": Expectation("migration_file_set_error", "migration_shutdown", False,
                                                     "migration_object_init"),
        "S2-thread-holds-last-ref": Expectation("migration_is_running", "migration_bh_dispatch_bh", True,
                                                "migration_object_init"),
        "S8-wrong-pointer:b": Expectation("qmp_query_migrate", "migration_shutdown", False,
                                          "migration_object_init"),
        "S14-oob-after-shutdown:a": Expectation("qmp_migrate_pause", "migration_shutdown", False,
                                                "migration_object_init"),
        "S14-oob-after-shutdown:b": Expectation("qmp_migrate_pause", "migration_bh_dispatch_bh", True,
                                                "migration_object_init"),
        "S15-qmp-bh-at-cleanup": Expectation("fill_source_migration_info", "migration_bh_dispatch_bh", True,
                                             "migration_object_init"),
    }
    assert {n: expectation_of(p.counterexample) for n, p in by_name.items()} == expected  # type: ignore[attr-defined]


def test_qemu_7_2_s_thread_referencing_a_dying_object_expects_the_free_of_migration_shutdown() -> None:
    """QEMU 7.2's migration_thread() takes its reference itself (migration/migration.c); the model's fault is
    that object_ref() between migration_shutdown()'s last object_unref() and the finalize the model runs as
    its next step, so the trace ends before any instance_finalize: the freer is the last reference's drop."""
    s4 = next(p for p in predictions("qemu-7.2") if p.name == "S4-thread-creation")
    cx = s4.counterexample
    assert cx is not None
    assert (cx.fault.actor, cx.fault.detail) == ("T_mig", "object_ref on an object whose refcount reached 0")
    assert [t.action for t in cx.trace[-2:]] == ["object_unref", "object_ref"]
    assert "instance_finalize" not in [t.action for t in cx.trace]
    assert expectation_of(cx) == Expectation("migration_thread", "migration_shutdown", False,
                                             "migration_object_init")


def test_a_leak_is_not_something_valgrind_confirms() -> None:
    leak = next(p for p in predictions("qemu-10.0") if p.properties == ("freed-by-exit",))
    assert leak.counterexample is not None
    result = reproduce(leak.counterexample, "/nonexistent", version=V10)
    assert result.status is Status.NOT_DRIVABLE
    assert cell_text(result) == ("not drivable: the model's fault is LEAK, which is not an access valgrind "
                                 "reports (it reports invalid reads and writes of freed memory)")


def test_which_qemu_10_use_after_frees_are_drivable(by_name: dict[str, object]) -> None:
    drivable = []
    for name, p in by_name.items():
        r = reproduce(p.counterexample, "/nonexistent", version=V10) if name not in (  # type: ignore[attr-defined]
            "S14-oob-after-shutdown:a", "S14-oob-after-shutdown:b") else None
        if r is None:
            drivable.append(name)
        else:
            assert r.status is Status.NOT_DRIVABLE and r.attempts == 0
    assert drivable == ["S14-oob-after-shutdown:a", "S14-oob-after-shutdown:b"]


def test_the_safe_paths_are_safe_in_the_model_and_the_preset_follows_the_release() -> None:
    assert [p.name for p in safe_paths("qemu-10.0")] == list(SAFE_PATHS)
    assert preset_for((10, 0, 2)) == "qemu-10.0"
    assert preset_for((9, 2, 3)) == "qemu-9.2"
    assert preset_for((6, 2, 0)) is None


# -- qomsim reproduce's refusals and exit statuses -------------------------------------------------


def _fake_qemu(tmp_path: Path) -> str:
    """A binary that only says its version (enough for a program that is not drivable)."""
    path = tmp_path / "qemu"
    path.write_text("#!/bin/sh\necho 'QEMU emulator version 10.0.2 (fake)'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    reproduce_cmd.add_arguments(parser)
    return reproduce_cmd.run(parser.parse_args(argv))


def _saved(by_name: dict[str, object], name: str, tmp_path: Path) -> str:
    """:return: a file holding the prediction's counterexample, as ``check --json`` saves one."""
    path = tmp_path / f"{name.replace(':', '-')}.json"
    save_counterexample(by_name[name].counterexample, path)  # type: ignore[attr-defined]
    return str(path)


def test_a_prediction_that_is_not_drivable_exits_3_without_running_qemu(
        by_name: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cx = _saved(by_name, "S8-wrong-pointer:b", tmp_path)
    assert _run([cx, "--qemu", _fake_qemu(tmp_path), "--keep", str(tmp_path / "logs")]) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[1] == ("not drivable on QEMU 10.0.2: query_migrate(caller='outside'): no code on QEMU's "
                      "main thread calls migrate_get_current() after migration_shutdown(); query-migrate "
                      "reaches it only through QMP's dispatch bottom half")
    assert list((tmp_path / "logs").iterdir()) == [tmp_path / "logs" / "run-1"]


@pytest.mark.parametrize(("args", "message"), [
    (["missing.json", "--qemu", "/bin/sh"], "qomsim reproduce: missing.json: No such file or directory"),
    (["{cx}", "--qemu", "/nonexistent"], "qomsim reproduce: /nonexistent is not an executable file"),
    (["{cx}", "--qemu", "/bin/true"], "qomsim reproduce: /bin/true --version does not name a QEMU version"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, by_name: dict[str, object],
                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cx = _saved(by_name, "S14-oob-after-shutdown:a", tmp_path)
    assert _run([a.format(cx=cx) for a in args]) == 2
    assert capsys.readouterr().err == message + "\n"


def test_not_json_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"design": "qemu-10.0"}))
    assert _run([str(bad), "--qemu", "/bin/sh"]) == 2
    assert capsys.readouterr().err == f"qomsim reproduce: {bad}: the counterexample lacks 'property'\n"


def test_attempts_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _run(["x.json", "--qemu", "/bin/sh", "--attempts", "0"])
    assert exc.value.code == 2
    assert "invalid attempt count '0': expected an integer >= 1" in capsys.readouterr().err


def test_keep_never_touches_what_is_in_the_folder(tmp_path: Path) -> None:
    (tmp_path / "run-1").mkdir()
    (tmp_path / "run-1" / "attempt-1.log").write_text("mine")
    assert reproduce_cmd.new_folder(tmp_path) == tmp_path / "run-2"
    assert (tmp_path / "run-1" / "attempt-1.log").read_text() == "mine"


def test_exit_statuses_are_the_documented_ones() -> None:
    assert {s.name: s.value for s in Status} == {"CONFIRMED": 0, "NOT_REPRODUCED": 1, "NOT_DRIVABLE": 3,
                                                 "OTHER_ERROR": 4, "CLEAN": 5}
    for code in ("0 ", "1 ", "2 ", "3 ", "4 "):
        assert f"\n  {code}" in "\n" + reproduce_cmd.EPILOG
