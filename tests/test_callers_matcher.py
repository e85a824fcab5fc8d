"""The C matcher of the caller inventory (tests/csource.py), on a small C file written for it, and the
inventory's loader (migration/model/callers.py) on the real file and on broken ones."""

from __future__ import annotations

import os
from pathlib import Path

import csource
import pytest

from migration.model.callers import TAGS, InventoryError, Status, load, model_names

SNIPPET = b"""
#include "migration/misc.h"
#define FOR_EACH_BUSY(b) for (b = first(); b && helper_is_busy(); b = next(b))

static MigrationState *current;

MigrationState *get_state(void)
{
    assert(current);
    return current;
}

bool helper_is_busy(void)
{
    return get_state()->busy;
}

bool helper_takes(MigrationState *s)
{
    return s->busy;
}

static void coroutine_fn device_poll(void *opaque)
{
    if (helper_is_busy()) {
        return;
    }
    WITH_LOCK_GUARD(&lock) {
        helper_is_busy();
    }
}

static void device_walk(void)
{
    Block *b;
    FOR_EACH_BUSY(b) {
        touch(b);
    }
}

static const Ops ops = { .busy = helper_is_busy };

static bool unrelated(void)
{
    return other();
}
"""


def _sites() -> set[csource.CallSite]:
    facts = csource.scan(SNIPPET)
    macros = csource.macros_of([facts])
    return csource.call_sites("hw/dev.c", facts, frozenset({"helper_is_busy", "get_state"}), macros)


def test_call_sites_through_calls_macros_and_pointers() -> None:
    assert sorted(str(site) for site in _sites()) == [
        "hw/dev.c:<file scope> -> helper_is_busy",
        "hw/dev.c:device_poll -> helper_is_busy",
        "hw/dev.c:device_walk -> helper_is_busy",
        "hw/dev.c:helper_is_busy -> get_state",
    ]


def test_readers_follow_calls_to_the_root_and_take_the_state_pointer() -> None:
    facts = csource.scan(SNIPPET)
    assert facts.declared >= {"get_state", "helper_is_busy", "helper_takes", "device_poll", "unrelated"}
    readers = csource.readers({"hw/dev.c": facts}, ["helper_is_busy", "helper_takes", "unrelated"],
                              frozenset({"current"}))
    assert readers == frozenset({"helper_is_busy", "helper_takes"})


def test_differences_name_the_missing_and_the_extra_site() -> None:
    listed = [csource.CallSite("hw/dev.c:device_poll", "helper_is_busy"),
              csource.CallSite("hw/dev.c:helper_is_busy", "get_state"),
              csource.CallSite("hw/dev.c:<file scope>", "helper_is_busy"),
              csource.CallSite("hw/dev.c:device_reset", "helper_is_busy")]
    assert csource.differences("10.0.2", _sites(), listed) == [
        "10.0.2: hw/dev.c:device_walk -> helper_is_busy is in the source but not in the inventory",
        "10.0.2: hw/dev.c:device_reset -> helper_is_busy is in the inventory but not in the source",
    ]
    assert csource.differences("10.0.2", _sites(), _sites()) == []


def test_a_patch_is_cut_per_file() -> None:
    from qemu_source import split_patch

    patch = ("Subject: v7.2.99\n\n a/x.c | 2 +-\n"
             "diff --git a/hw/x.c b/hw/x.c\n--- a/hw/x.c\n+++ b/hw/x.c\n@@ -1,2 +1,2 @@\n keep\n-old\n+new\n"
             "--- a/migration/y.c\n+++ b/migration/y.c\n@@ -5 +5,2 @@\n--- not a header\n+added\n")
    assert split_patch(patch) == [
        ("hw/x.c", "--- a/hw/x.c\n+++ b/hw/x.c\n@@ -1,2 +1,2 @@\n keep\n-old\n+new\n"),
        ("migration/y.c",
         "--- a/migration/y.c\n+++ b/migration/y.c\n@@ -5 +5,2 @@\n--- not a header\n+added\n"),
    ]


def test_the_inventory_loads_and_every_model_name_is_the_models() -> None:
    inventory = load()
    assert set(inventory.helpers) == set(TAGS)
    assert "migration_in_bg_snapshot" in inventory.helpers["7.2"]
    assert "migration_in_bg_snapshot" in inventory.helpers["10.0.2"]
    for tag in TAGS:
        sites = inventory.at(tag)
        assert sites, tag
        for site in sites:
            assert (site.model in model_names()) == (site.status is Status.MODELLED), site
            assert (site.reason is None) == (site.status is Status.MODELLED), site
    init = [site for site in inventory.at("7.2") if site.callee == "migration_object_init"]
    assert [(str(s), s.contexts, s.phases, s.model) for s in init] == [
        ("softmmu/vl.c:qemu_init -> migration_object_init", ("startup",), ("pre-init",),
         "migration_object_init")]


_GOOD = """
[helpers]
"7.2" = ["migration_is_idle"]
"10.0.2" = ["migration_is_running"]

[[site]]
caller = "migration/migration.c:is_busy"
callee = "migration_is_running"
tags = ["10.0.2"]
contexts = ["startup"]
bql = "held"
phases = ["pre-init"]
modelled = "migration_is_running"
"""


@pytest.mark.parametrize(("change", "message"), [
    (("modelled = \"migration_is_running\"", "modelled = \"qemu_init\""),
     "site 1 (migration/migration.c:is_busy -> migration_is_running): 'modelled' names 'qemu_init', which is "
     "not a model function (an entry of migration.model.functions.table(), a key of SOURCES or a helper)"),
    (("tags = [\"10.0.2\"]", "tags = [\"7.2\"]"),
     "site 1 (migration/migration.c:is_busy -> migration_is_running): 'migration_is_running' is not a helper "
     "at 7.2"),
    (("phases = [\"pre-init\"]", "phases = [\"shutdown\"]"),
     "site 1 (migration/migration.c:is_busy -> migration_is_running): 'phases' has 'shutdown', not one of "
     "pre-init, running, cleanup-before-shutdown, cleanup-after-shutdown, after-monitor-cleanup"),
    (("modelled = \"migration_is_running\"", "modelled = \"migration_is_running\"\ngap = \"x\""),
     "site 1 (migration/migration.c:is_busy -> migration_is_running): give exactly one of 'modelled', "
     "'abstracted', 'gap'"),
    (("bql = \"held\"", "bql = \"yes\""),
     "site 1 (migration/migration.c:is_busy -> migration_is_running): 'bql' is 'yes', not one of held, "
     "released, either"),
])
def test_a_broken_inventory_is_refused_in_one_line(tmp_path: Path, change: tuple[str, str],
                                                   message: str) -> None:
    good = tmp_path / "good.toml"
    good.write_text(_GOOD)
    assert [str(site) for site in load(good).sites] == [
        "migration/migration.c:is_busy -> migration_is_running"]
    bad = tmp_path / "bad.toml"
    bad.write_text(_GOOD.replace(*change))
    with pytest.raises(InventoryError) as info:
        load(bad)
    assert str(info.value) == message


def test_a_site_listed_twice_is_refused(tmp_path: Path) -> None:
    twice = tmp_path / "twice.toml"
    twice.write_text(_GOOD + _GOOD.split("\n\n", 1)[1])
    with pytest.raises(InventoryError) as info:
        load(twice)
    assert str(info.value) == "10.0.2: migration/migration.c:is_busy -> migration_is_running is listed twice"


def _no_deb_src(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An apt-cache that knows no source package, and an empty cache."""
    fake = tmp_path / "bin" / "apt-cache"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("QOMSIM_QEMU_SOURCE_CACHE", str(tmp_path / "cache"))


def test_without_deb_src_the_source_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import qemu_source

    _no_deb_src(tmp_path, monkeypatch)
    with pytest.raises(qemu_source.Unavailable) as info:
        qemu_source.source_facts(qemu_source.TREES[0])
    assert str(info.value) == ("apt knows no source package qemu 1:7.2+dfsg-7+deb12u* "
                               "(no deb-src entry? .ci/install-qemu-sources.sh adds them)")


def test_under_require_qemu_a_missing_source_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import test_callers_source

    _no_deb_src(tmp_path, monkeypatch)
    monkeypatch.setenv("QOMSIM_REQUIRE_QEMU", "1")
    with pytest.raises(pytest.fail.Exception) as info:
        test_callers_source._facts("10.0.2")
    assert str(info.value) == ("QEMU 10.0.2 source: apt knows no source package qemu "
                               "1:10.0.2+ds-2+deb13u1~bpo12+1 (no deb-src entry? .ci/install-qemu-sources.sh "
                               "adds them), and QOMSIM_REQUIRE_QEMU=1 requires it")
    monkeypatch.setenv("QOMSIM_REQUIRE_QEMU", "0")
    with pytest.raises(pytest.skip.Exception):
        test_callers_source._facts("10.0.2")


def test_the_loader_docstring_example_runs() -> None:
    import doctest

    import migration.model.callers

    failed, attempted = doctest.testmod(migration.model.callers)
    assert (failed, attempted) == (0, 3)


def test_docs_callers_md_is_the_inventory_as_markdown() -> None:
    """docs/callers.md is generated: ``QOMSIM_REGEN_GOLDEN=1`` rewrites it from the inventory."""
    from migration.model.callers import markdown

    page = Path(__file__).resolve().parent.parent / "docs" / "callers.md"
    text = markdown(load())
    if os.environ.get("QOMSIM_REGEN_GOLDEN") == "1":
        page.write_text(text, encoding="utf-8")
    assert page.read_text(encoding="utf-8") == text
    assert ("| 10.0.2 | `migration/migration.c:migration_cancel` | `migrate_dirty_limit` | "
            "`migration_cancel` | main-loop | held | running, cleanup-before-shutdown |") in text
