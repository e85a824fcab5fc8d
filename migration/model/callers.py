"""QEMU's callers of the migration object, as data: who reads ``current_migration``, from where, when.

``callers.toml`` beside this module lists every call site, at each QEMU version of :data:`TAGS`, of
each exported migration helper that reads the object (the functions of ``include/migration/misc.h``
and ``include/migration/client-options.h`` that reach ``migrate_get_current()`` or
``current_migration``) and of ``migrate_get_current()`` itself.  Each site says the thread or
context it runs in, whether it holds the BQL, the lifecycle phases in which it can run, and what the
model makes of it: the model function that stands for it (by QEMU's name, as the model's function
table :func:`migration.model.functions.table` names it, or a key of
:data:`migration.model.sources.SOURCES` or :data:`migration.model.alphabet.HELPER_NAMES` where the
table has no entry), the reason no verdict depends on it, or the gap it leaves (a site the model
lacks and a verdict may depend on).

The test ``tests/test_callers_source.py`` (marker ``qemu_source``) checks the sites against QEMU's own
source, read from Debian's source packages::

    >>> from migration.model.callers import load
    >>> inventory = load()
    >>> [str(site) for site in inventory.at("10.0.2") if site.callee == "migration_object_init"]
    ['system/vl.c:qemu_init -> migration_object_init']
"""

from __future__ import annotations

import tomllib
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from importlib.resources import files
from pathlib import Path
from typing import Any

from migration.model.alphabet import HELPER_NAMES
from migration.model.sources import SOURCES

__all__ = [
    "BQL",
    "CONTEXTS",
    "GET_CURRENT",
    "PHASES",
    "TAGS",
    "CallSite",
    "Inventory",
    "InventoryError",
    "Status",
    "load",
    "markdown",
    "model_names",
]

#: the QEMU versions the inventory covers: Debian bookworm's 7.2 and bookworm-backports' 10.0.2
TAGS: tuple[str, ...] = ("7.2", "10.0.2")

#: the accessor every helper reads the object through (its ``assert(current_migration)`` included)
GET_CURRENT = "migrate_get_current"

#: context -> what it is
CONTEXTS: dict[str, str] = {
    "startup": "the main thread in qemu_init, before the main loop (block drivers opened for -drive, "
               "devices created from the command line)",
    "main-loop": "the main thread in the main loop or a nested poll: QMP/HMP commands, bottom halves, "
                 "fd handlers, run-state and notifier callbacks",
    "incoming-coroutine": "the incoming migration's coroutine (process_incoming_migration_co) and what "
                          "it calls, on the main thread",
    "migration-thread": "the outgoing migration thread (migration_thread, bg_migration_thread) and the "
                        "save handlers it runs",
    "return-path": "the source's return-path thread (source_return_path_thread)",
    "multifd": "a multifd send or receive thread, or a multifd device-state save thread",
    "postcopy-listen": "the destination's postcopy listen thread (postcopy_ram_listen_thread)",
    "load-thread": "a destination load thread (qemu_loadvm_load_thread, 10.0)",
    "compress": "a compression or decompression thread (7.2's compress capability)",
    "colo": "a COLO thread (colo_process_checkpoint, colo-compare)",
    "vcpu": "a vCPU thread running device code (MMIO/PIO exits, KVM register sync)",
    "iothread": "an I/O thread of a device (virtio-balloon's free-page-hint I/O thread)",
    "monitor-iothread": "the monitor I/O thread (out-of-band QMP commands)",
    "dirtyrate-stat": "the dirty-limit dirtyrate-stat thread (vcpu_dirty_rate_stat_thread)",
    "caller": "whatever context its callers run in (an accessor or a helper's own body: each caller "
              "that reaches it from outside is its own site)",
}

#: the lifecycle phases, in order
PHASES: tuple[str, ...] = (
    "pre-init",                 # before migration_object_init
    "running",                  # from migration_object_init until qemu_cleanup
    "cleanup-before-shutdown",  # in qemu_cleanup, before migration_shutdown's unref
    "cleanup-after-shutdown",   # in qemu_cleanup, after migration_shutdown, until monitor_cleanup returns
    "after-monitor-cleanup",    # after monitor_cleanup, until exit
)

#: whether the BQL is held at the call
BQL: tuple[str, ...] = ("held", "released", "either")


class Status(Enum):
    """What the model makes of a call site."""

    MODELLED = "modelled"      # a model function stands for it
    ABSTRACTED = "abstracted"  # left out, and no verdict depends on it (the reason says why)
    GAP = "gap"                # left out, and a verdict may depend on it (a fix the model owes)


class InventoryError(ValueError):
    """The inventory file is malformed (the message names the entry and the field)."""


@dataclass(frozen=True)
class CallSite:
    """One function of QEMU calling one helper (or ``migrate_get_current``).

    :ivar caller: ``file:function`` at the tags.
    :ivar callee: the helper called.
    :ivar tags: the versions of :data:`TAGS` that have this site.
    :ivar contexts: where it runs (keys of :data:`CONTEXTS`).
    :ivar bql: one of :data:`BQL`.
    :ivar phases: the phases of :data:`PHASES` in which it can run.
    :ivar status: what the model makes of it.
    :ivar model: the model function (for :attr:`Status.MODELLED`), else None.
    :ivar reason: why it is abstracted, or what the gap is (for the other statuses), else None.
    """

    caller: str
    callee: str
    tags: tuple[str, ...]
    contexts: tuple[str, ...]
    bql: str
    phases: tuple[str, ...]
    status: Status
    model: str | None
    reason: str | None

    def __str__(self) -> str:
        return f"{self.caller} -> {self.callee}"


@dataclass(frozen=True)
class Inventory:
    """The whole file.

    :ivar helpers: tag -> the exported helpers that read the object at that tag.
    :ivar sites: every call site, in the file's order.
    """

    helpers: dict[str, tuple[str, ...]]
    sites: tuple[CallSite, ...]

    def at(self, tag: str) -> tuple[CallSite, ...]:
        """:param tag: one of :data:`TAGS`.
        :return: the sites that tag has.
        :raise KeyError: when the tag is not one of :data:`TAGS`.
        """
        if tag not in TAGS:
            raise KeyError(tag)
        return tuple(site for site in self.sites if tag in site.tags)

    def counts(self, tag: str) -> dict[Status, int]:
        """:param tag: one of :data:`TAGS`.
        :return: status -> how many of the tag's sites have it.
        """
        counted = Counter(site.status for site in self.at(tag))
        return {status: counted[status] for status in Status}


def model_names() -> frozenset[str]:
    """:return: the names a modelled site may give: the QEMU names of the model's function table
        (:func:`migration.model.functions.table`), the keys of its ``file:function`` table
        (:data:`~migration.model.sources.SOURCES`) and its exported helpers.
    """
    from migration.model.functions import table  # loads the model's modules: only when asked

    return frozenset(table()) | frozenset(SOURCES) | frozenset(HELPER_NAMES)


def _strings(where: str, field: str, value: Any, allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise InventoryError(f"{where}: '{field}' must be a non-empty list of strings")
    if allowed is not None:
        for v in value:
            if v not in allowed:
                raise InventoryError(f"{where}: '{field}' has '{v}', not one of {', '.join(allowed)}")
    if len(set(value)) != len(value):
        raise InventoryError(f"{where}: '{field}' lists a value twice")
    return tuple(value)


def _site(number: int, raw: Any, helpers: dict[str, tuple[str, ...]]) -> CallSite:
    where = f"site {number}"
    if not isinstance(raw, dict):
        raise InventoryError(f"{where}: not a table")
    keys = {"caller", "callee", "tags", "contexts", "bql", "phases", "modelled", "abstracted", "gap"}
    unknown = sorted(set(raw) - keys)
    if unknown:
        raise InventoryError(f"{where}: unknown field '{unknown[0]}'")
    for field in ("caller", "callee", "bql"):
        if not isinstance(raw.get(field), str):
            raise InventoryError(f"{where}: '{field}' must be a string")
    where = f"site {number} ({raw['caller']} -> {raw['callee']})"
    if ":" not in raw["caller"]:
        raise InventoryError(f"{where}: 'caller' must be file:function")
    if raw["bql"] not in BQL:
        raise InventoryError(f"{where}: 'bql' is '{raw['bql']}', not one of {', '.join(BQL)}")
    tags = _strings(where, "tags", raw.get("tags"), TAGS)
    for tag in tags:
        if raw["callee"] != GET_CURRENT and raw["callee"] not in helpers[tag]:
            raise InventoryError(f"{where}: '{raw['callee']}' is not a helper at {tag}")
    given = [s for s in Status if s.value in raw]
    if len(given) != 1:
        raise InventoryError(f"{where}: give exactly one of 'modelled', 'abstracted', 'gap'")
    status = given[0]
    text = raw[status.value]
    if not isinstance(text, str) or not text:
        raise InventoryError(f"{where}: '{status.value}' must be a non-empty string")
    if status is Status.MODELLED and text not in model_names():
        raise InventoryError(f"{where}: 'modelled' names '{text}', which is not a model function (an "
                             "entry of migration.model.functions.table(), a key of SOURCES or a helper)")
    return CallSite(
        caller=raw["caller"], callee=raw["callee"], tags=tags,
        contexts=_strings(where, "contexts", raw.get("contexts"), tuple(CONTEXTS)),
        bql=raw["bql"], phases=_strings(where, "phases", raw.get("phases"), PHASES), status=status,
        model=text if status is Status.MODELLED else None,
        reason=None if status is Status.MODELLED else text)


def load(path: Path | None = None) -> Inventory:
    """Read and check the inventory.

    :param path: the file (default: ``callers.toml`` beside this module).
    :return: the inventory.
    :raise InventoryError: when an entry is malformed, names an unknown tag, context, phase, helper
        or model function, or repeats a (tag, caller, callee).
    :raise OSError: when the file cannot be read.
    """
    text = (path.read_text(encoding="utf-8") if path is not None
            else files("migration.model").joinpath("callers.toml").read_text(encoding="utf-8"))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"not TOML: {exc}") from exc
    raw_helpers = data.get("helpers")
    if not isinstance(raw_helpers, dict) or sorted(raw_helpers) != sorted(TAGS):
        raise InventoryError(f"'helpers' must be a table with one list per tag: {', '.join(TAGS)}")
    helpers = {tag: _strings(f"helpers.{tag}", tag, raw_helpers[tag], None) for tag in TAGS}
    sites = tuple(_site(number, raw, helpers) for number, raw in enumerate(data.get("site", []), 1))
    seen: set[tuple[str, str, str]] = set()
    for site in sites:
        for tag in site.tags:
            key = (tag, site.caller, site.callee)
            if key in seen:
                raise InventoryError(f"{tag}: {site} is listed twice")
            seen.add(key)
    return Inventory(helpers, sites)


def _cell(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def markdown(inventory: Inventory) -> str:
    """The inventory as a page a person reads (``docs/callers.md``): per tag the counts, then the
    gaps, the modelled sites, and the abstracted ones grouped by their reason.

    :param inventory: what :func:`load` returned.
    :return: Markdown text, the same bytes for the same inventory.
    """
    lines = ["# QEMU's callers of the migration object", "",
             "Generated from `migration/model/callers.toml` (see `migration/model/callers.py` for what each "
             "field means); `tests/test_callers_source.py` checks every site against QEMU's own source, read "
             "from Debian's source packages. Regenerate with "
             "`QOMSIM_REGEN_GOLDEN=1 python -m pytest tests/test_callers_matcher.py -k markdown`.", ""]
    for tag in TAGS:
        counts = inventory.counts(tag)
        lines.append(f"- **{tag}**: {len(inventory.at(tag))} call sites: "
                     + ", ".join(f"{counts[status]} {status.value}" for status in Status)
                     + "; helpers that read the object: "
                     + ", ".join(f"`{helper}`" for helper in inventory.helpers[tag]) + ".")
    lines += ["", "## Gaps: sites the model lacks where a verdict may depend on them", "",
              "| tags | caller | callee | contexts | BQL | phases | what the model lacks |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {_cell(s.tags)} | `{s.caller}` | `{s.callee}` | {_cell(s.contexts)} | {s.bql} | "
              f"{_cell(s.phases)} | {s.reason} |" for s in inventory.sites if s.status is Status.GAP]
    lines += ["", "## Modelled sites", "",
              "| tags | caller | callee | model function | contexts | BQL | phases |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {_cell(s.tags)} | `{s.caller}` | `{s.callee}` | `{s.model}` | {_cell(s.contexts)} | "
              f"{s.bql} | {_cell(s.phases)} |" for s in inventory.sites if s.status is Status.MODELLED]
    lines += ["", "## Abstracted sites, by reason", ""]
    reasons: dict[str, list[CallSite]] = {}
    for site in inventory.sites:
        if site.status is Status.ABSTRACTED and site.reason is not None:
            reasons.setdefault(site.reason, []).append(site)
    for reason, sites in sorted(reasons.items(), key=lambda item: (-len(item[1]), item[0])):
        lines += [f"### {len(sites)} sites: {reason}", ""]
        lines += [f"- `{s}` ({_cell(s.tags)}; {_cell(s.contexts)}; BQL {s.bql}; {_cell(s.phases)})"
                  for s in sites]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
