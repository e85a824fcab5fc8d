"""The per-tag feature table (migration.model.features): what 7.2 lacks is not in its alphabet."""

from __future__ import annotations

from migration.check.bounded import grammar, model_alphabet
from migration.model.designs import DESIGNS, EXPORTED_HELPERS, TAGS
from migration.model.features import ALL_TAGS, FEATURES, has, lacks
from migration.model.program import ev
from migration.model.run import run_program


def test_every_feature_cites_every_tag() -> None:
    assert tuple(TAGS) == ALL_TAGS
    for f in FEATURES.values():
        assert set(f.cite) == set(ALL_TAGS), f.name
        assert set(f.tags) <= set(ALL_TAGS), f.name
        assert all(f.cite[t] for t in ALL_TAGS), f.name


def test_7_2_lacks_dirty_limit_and_vfio_set_migration_error() -> None:
    assert not has("7.2", "dirty-limit capability")
    assert not has("7.2", "dirtyrate-stat reads the migration object")
    assert has("7.2", "set-vcpu-dirty-limit")  # the command is there; its thread reads nothing of ours
    assert has("7.2", "migrate-pause allows out-of-band") and has("7.2", "migrate-recover allows out-of-band")
    assert [f.name for f in lacks("7.2", ev("dirty_limit", cap=True))] == [
        "dirty-limit capability", "dirtyrate-stat reads the migration object"]
    assert [f.name for f in lacks("7.2", ev("migrate", bh_helper="migration_file_set_error"))] == [
        "vfio_set_migration_error"]
    assert lacks("7.2", ev("migrate")) == () == lacks("9.1", ev("dirty_limit", cap=True))
    assert EXPORTED_HELPERS["7.2"] == {"migration_is_idle"}


def test_a_tags_alphabet_has_only_its_events() -> None:
    a72 = model_alphabet("7.2")
    assert not any(e.kind == "dirty_limit" for e in a72["running"])
    assert not any(e.kind == "migrate" and e.get("bh_helper") is not None for e in a72["running"])
    assert {e.kind for e in model_alphabet("master")["running"]} - {e.kind for e in a72["running"]} == {
        "dirty_limit"}
    # every tag from 9.1 on has every event: their alphabets are master's
    for tag in ("9.1", "9.2", "10.0"):
        assert grammar(tag) == grammar("master") == grammar()
    assert len(grammar("7.2").running) == len(grammar("9.1").running) - 5  # 3 dirty_limit, 2 bh_helper


def test_an_event_a_tag_lacks_is_one_step_that_does_nothing() -> None:
    prog = (ev("object_init"), ev("dirty_limit", cap=True), ev("migration_shutdown"))
    r = run_program(DESIGNS["qemu-7.2"], prog)
    step = next(s for s in r.trace if s.action.startswith("dirty_limit"))
    assert (step.actor, step.action, step.note) == (
        "main", "dirty_limit: not at v7.2.0 (Debian 7.2.22)",
        "dirty-limit capability, dirtyrate-stat reads the migration object")
    assert not any(s.actor == "dirtyrate-stat" for s in r.trace)


def test_7_2_vfio_failure_reads_the_file_without_a_lock() -> None:
    # hw/vfio/migration.c:vfio_vmstate_change@v7.2.0: qemu_file_set_error(migrate_get_current()->to_dst_file)
    prog = (ev("object_init"), ev("migration_shutdown"), ev("vm_shutdown", vm="running", vfio="fails"))
    r = run_program(DESIGNS["qemu-7.2"], prog)
    assert r.fault is not None
    assert (r.fault.outcome.value, r.fault.detail) == (
        "UAF", "qemu_file_set_error: s->to_dst_file of freed mig#1")
    assert r.trace[-1].function == "migration/qemu-file.c:qemu_file_set_error"
    r91 = run_program(DESIGNS["qemu-9.1"], prog)
    assert r91.fault is not None and r91.fault.detail == (
        "qemu_mutex_lock(qemu_file_lock@mig#1) on a destroyed lock (mutex->initialized assertion)")


def test_serve_follows_7_2_with_the_7_2_preset() -> None:
    from migration.live.serve import default_design
    from qom.qmp.schema import VersionInfo

    assert default_design(VersionInfo.parse("7.2.22")) is DESIGNS["qemu-7.2"]
    assert default_design(VersionInfo.parse("8.2.0")) is DESIGNS["qemu-7.2"]
    assert default_design(VersionInfo.parse("9.1.3")) is DESIGNS["qemu-9.1"]
