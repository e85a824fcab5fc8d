"""The model's callers are QEMU's: each test names the QEMU function it follows."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from migration import DESIGNS
from migration.check.bounded import Bounded, model_alphabet
from migration.model.program import ev
from migration.model.run import run_program


def test_before_init_the_only_helper_caller_is_migrate_add_blocker() -> None:
    # QEMU's one caller of a migration helper before migration_object_init() is a block driver opened
    # for -drive: migrate_add_blocker() -> is_busy() (migration/migration.c, the stack in the message of
    # QEMU commit 4daff81efb); the exported helpers are not called from anywhere else that early
    assert sorted({e.kind for e in model_alphabet()["pre"]}) == ["add_blocker", "introspect"]


@pytest.mark.parametrize(("design", "helper"), [("qemu-7.2", "migration_is_idle"),
                                                ("qemu-9.1", "migration_is_idle"),
                                                ("qemu-9.2", "migration_is_running"),
                                                ("qemu-10.0", "migration_is_running")])
def test_is_busy_asks_the_tags_helper_which_checks_for_null(design: str, helper: str) -> None:
    # migration/migration.c:is_busy: !migration_is_idle() at v9.1.0, migration_is_running() from v9.2.0;
    # both return false on a NULL current_migration
    r = run_program(DESIGNS[design], (ev("add_blocker"), ev("object_init"), ev("migration_shutdown")))
    first = r.trace[0]
    assert (first.actor, first.action, first.note, first.function) == (
        "main", "load current_migration", "-> NULL", f"migration/migration.c:{helper}")
    assert r.trace[1].action == "migration_object_init"
    assert r.faults == []


@pytest.mark.parametrize("design", ["qemu-7.2", "qemu-9.1", "qemu-9.2", "qemu-10.0", "qemu-master"])
def test_no_null_deref_holds_for_qemu_once_callers_before_init_are_qemus(
        design: str, explored: Callable[[str], Bounded]) -> None:
    b = explored(design)
    assert "no-null-deref" not in b.violations
