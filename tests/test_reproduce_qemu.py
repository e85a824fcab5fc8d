"""The model's qemu-10.0 predictions and safe paths, driven against real QEMU under valgrind by
``migration.reproduce`` (what ``qomsim reproduce`` runs).

Every drivable qemu-10.0 use-after-free runs on 10.0.2, and S14:a, which needs only QMP, on Debian's
7.2.22 too; every safe path runs on 10.0.2.  Nothing is timed: each run waits for QEMU's answers and
events (:mod:`migration.reproduce.driver`); the hang guard only turns a hang into a failure.  One run takes
15-25 s on an idle core, one attempt each: every test stays under a minute; the 7.2.22 runs of S14:b
and of the safe paths are marked ``slow`` only to keep the default run short.

* S14-oob-after-shutdown:a, exec-oob migrate-pause after an idle migration_shutdown(): **confirmed** on
  both binaries (this was tests/test_qemu_migrate_pause_uaf.py, written by hand; it is now one case).
* S14-oob-after-shutdown:b, the same while a migration runs: the model's fault needs the cancelled
  migration thread to finish and schedule its cleanup bottom half, and that bottom half to drop the last
  reference, before monitor_cleanup() stops the I/O thread.  Real 10.0.2 does each of three things,
  depending on the timing:
  - every migrate-pause of the flood reads a live object (the thread has not finished by then): not
    reproduced, the usual result on an idle machine;
  - the thread finishes only after qemu_cleanup()'s bdrv_close_all() and reactivates block nodes that
    bdrv_close_all() freed (migration_block_activate -> bdrv_activate_all): another use-after-free, of
    block nodes, which the model does not model;
  - the thread finishes early, the bottom half runs in vm_shutdown()'s bdrv_flush_all() and frees the
    object, and a migrate-pause reads it: the model's own fault, **confirmed** (seen once, in a test run
    sharing the cores with another worker; valgrind cannot name the static migration_bh_dispatch_bh, so
    the match is by the allocation in migration_object_init and the free under aio_bh_poll).
  Which one happens is a race, so the test accepts all three, each with its own stacks.  7.2.22 runs clean
  (a slow test below).
"""

from __future__ import annotations

import pytest
from qemu_helpers import require_qemu, require_qemu10

from migration.model.results import Counterexample
from migration.reproduce import Result, Status, reproduce, reproduce_program
from migration.reproduce.predictions import SAFE_PATHS, predictions

#: a run that has not ended after this long has hung (one run takes 15-25 s on an idle core)
HANG_GUARD_S = 300.0


def _prediction(name: str, preset: str = "qemu-10.0") -> Counterexample:
    for p in predictions(preset):
        if p.name == name and "no-use-after-free" in p.properties:
            assert p.counterexample is not None
            return p.counterexample
    raise AssertionError(name)


def _assert_migrate_pause_uaf(result: Result) -> None:
    assert result.status is Status.CONFIRMED, "\n".join(result.lines()) + result.logs[-1].stderr[-3000:]
    err = result.error
    assert err is not None
    assert err.kind == "Invalid read of size 4"
    assert err.access[0] == "qmp_migrate_pause"
    assert err.freed_by[err.freed_by.index("migration_shutdown") + 1] == "qemu_cleanup"
    assert result.attempts == 1


@pytest.mark.qemu
def test_s14a_migrate_pause_reads_freed_migration_state_on_qemu_10_0() -> None:
    result = reproduce(_prediction("S14-oob-after-shutdown:a"), require_qemu10(), attempts=1,
                       hang_guard=HANG_GUARD_S)
    _assert_migrate_pause_uaf(result)


@pytest.mark.qemu
def test_s14a_migrate_pause_reads_freed_migration_state_on_qemu_7_2() -> None:
    result = reproduce(_prediction("S14-oob-after-shutdown:a"), require_qemu(), attempts=1,
                       hang_guard=HANG_GUARD_S)
    _assert_migrate_pause_uaf(result)


@pytest.mark.qemu
def test_s14b_on_qemu_10_0_is_the_model_s_fault_or_the_block_nodes_or_nothing() -> None:
    result = reproduce(_prediction("S14-oob-after-shutdown:b"), require_qemu10(), attempts=1,
                       hang_guard=HANG_GUARD_S)
    # when the migration thread finishes, and where the cleanup bottom half runs, is a race (the module's
    # docstring): each outcome is checked by its own stacks
    assert result.status in (Status.CONFIRMED, Status.NOT_REPRODUCED, Status.OTHER_ERROR), \
        "\n".join(result.lines())
    if result.status is Status.CONFIRMED:
        err = result.error
        assert err is not None and err.access[0] == "qmp_migrate_pause"
        assert "aio_bh_poll" in err.freed_by and "migration_object_init" in err.allocated_by
        assert result.reason == ("the block migration_object_init allocated was freed in a bottom half "
                                 "(aio_bh_poll) by a function valgrind cannot name: migration_bh_dispatch_bh "
                                 "is static and the binary has no symbol for it")
    if result.status is Status.OTHER_ERROR:
        err = result.error
        assert err is not None and err.use_after_free
        assert "bdrv_close_all" in err.freed_by
        assert "qmp_migrate_pause" not in err.access


@pytest.mark.qemu
@pytest.mark.parametrize("name", list(SAFE_PATHS))
def test_a_safe_path_runs_clean_on_qemu_10_0(name: str) -> None:
    result = reproduce_program(SAFE_PATHS[name][1], require_qemu10(), attempts=1, hang_guard=HANG_GUARD_S)
    assert result.status is Status.CLEAN, "\n".join(result.lines())
    assert result.logs[0].returncode == 0


# -- on Debian's 7.2.22: qemu-10.0's programs, where their triggers exist at 7.2, and the qemu-7.2 preset's
# own S4; marked slow only to keep the default run's added time under three minutes


@pytest.mark.qemu
@pytest.mark.slow
def test_s4_of_the_qemu_7_2_preset_is_driven_on_qemu_7_2() -> None:
    """7.2's migration_thread() takes its reference only once it runs (migration/migration.c); a quit before
    that frees the object under it.  The thread runs as soon as the main thread waits for the next command,
    so the race was lost in every run on an idle machine (9 runs under valgrind: 3 as the plan sends the
    commands, 6 with quit pipelined behind migrate); what is checked is that the tool drives it and, when
    the race is won, that valgrind's stacks are the model's."""
    result = reproduce(_prediction("S4-thread-creation", "qemu-7.2"), require_qemu(), attempts=1,
                       hang_guard=HANG_GUARD_S)
    assert result.status in (Status.CONFIRMED, Status.NOT_REPRODUCED), "\n".join(result.lines())
    assert [line.split(" -> ")[0] for line in result.logs[0].transcript if line.startswith("execute")] == [
        "execute migrate-set-parameters max-bandwidth=1024", "execute migrate uri=exec:cat > /dev/null",
        "execute quit"]
    if result.status is Status.CONFIRMED:
        err = result.error
        assert err is not None and "migration_thread" in err.access and "migration_shutdown" in err.freed_by


@pytest.mark.qemu
@pytest.mark.slow
def test_s14b_on_qemu_7_2_is_not_reproduced() -> None:
    result = reproduce(_prediction("S14-oob-after-shutdown:b"), require_qemu(), attempts=1,
                       hang_guard=HANG_GUARD_S)
    assert result.status is Status.NOT_REPRODUCED, "\n".join(result.lines())


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize("name", list(SAFE_PATHS))
def test_a_safe_path_runs_clean_on_qemu_7_2(name: str) -> None:
    result = reproduce_program(SAFE_PATHS[name][1], require_qemu(), attempts=1, hang_guard=HANG_GUARD_S)
    assert result.status is Status.CLEAN, "\n".join(result.lines())
    assert result.logs[0].returncode == 0
