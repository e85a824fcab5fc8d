"""The device-introspect sweep over a universe, through :func:`qom.qmp.execute`.

It checks what QEMU's ``tests/qtest/device-introspect-test.c`` checks, on any universe (a
loaded snapshot included)::

    >>> from qom import Universe
    >>> from qom.snapshot.introspect import introspect_sweep
    >>> introspect_sweep(Universe()).failures
    []

- the type lists are consistent: a type is listed as abstract iff ``qom-list-types`` without
  abstract types leaves it out; every type implementing ``object``, ``device`` or
  ``sys-bus-device`` has it among its ancestors; every interface type is abstract;
- ``device-list-properties`` on every concrete device, and on ``nonexistent`` and ``device``
  (which must fail), plus HMP ``device_add T,help``;
- ``qom-list-properties`` on every type;
- no call crashes (:class:`~qom.errors.QOMFatal`), no hidden property is listed, and
  ``info qom-tree`` (via ``human-monitor-command``) is byte-identical before and after, with as
  many live objects as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from qom.errors import QOMFatal
from qom.qmp.dispatch import execute
from qom.universe import Universe

__all__ = ["HIDDEN_DEVICE_PROPERTIES", "IntrospectFailure", "IntrospectReport", "introspect_sweep"]

#: what ``device-list-properties`` must never list (plus any ``legacy-*`` name)
HIDDEN_DEVICE_PROPERTIES = frozenset({"type", "realized", "hotpluggable", "hotplugged", "parent_bus"})


@dataclass(frozen=True)
class IntrospectFailure:
    """One failed check: the command (or check name), the type, and what went wrong."""

    check: str
    typename: str
    detail: str


@dataclass
class IntrospectReport:
    """What the sweep did and what failed."""

    queries: int = 0
    device_types: int = 0
    types: int = 0
    failures: list[IntrospectFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """:return: whether every check passed."""
        return not self.failures


class _Sweep:
    def __init__(self, universe: Universe, report: IntrospectReport) -> None:
        self.u = universe
        self.report = report
        #: after a crash the universe holds a half-built object QEMU would never have outlived
        self.crashed = False

    def qmp(self, command: str, arguments: Mapping[str, object] | None, typename: str) -> dict[str, object]:
        self.report.queries += 1
        try:
            return execute(command, arguments, universe=self.u)
        except QOMFatal as exc:  # QEMU would have aborted: that is what the test detects
            self.crashed = True
            self.fail(command, typename, f"crash: {exc.message}")
            return {"crashed": True}

    def fail(self, check: str, typename: str, detail: str) -> None:
        self.report.failures.append(IntrospectFailure(check, typename, detail))

    def qom_tree(self) -> str:
        answer = self.qmp("human-monitor-command", {"command-line": "info qom-tree"}, "")
        out = answer.get("return")
        return out if isinstance(out, str) else repr(answer)

    def types(self, implements: str | None, abstract: bool) -> list[dict[str, object]]:
        args: dict[str, object] = {"abstract": abstract}
        if implements is not None:
            args["implements"] = implements
        answer = self.qmp("qom-list-types", args, implements or "")
        listed = answer.get("return")
        if not isinstance(listed, list):
            self.fail("qom-list-types", implements or "", f"no list: {answer!r}")
            return []
        return [t for t in listed if isinstance(t, dict)]

    def check_type_lists(self) -> tuple[list[str], list[str]]:
        every = self.types(None, True)
        concrete = {str(t["name"]) for t in self.types(None, False)}
        parents = {str(t["name"]): t.get("parent") for t in every}

        def chain(name: str) -> list[str]:
            out: list[str] = []
            current: object = name
            while isinstance(current, str) and current not in out:
                out.append(current)
                current = parents.get(current)
            return out

        for t in every:
            name = str(t["name"])
            if (t.get("abstract") is True) == (name in concrete):
                self.fail("list-fields", name, "abstract flag disagrees with the abstract=false list")
        for base in ("object", "device", "sys-bus-device"):
            for t in self.types(base, True):
                if base not in chain(str(t["name"])):
                    self.fail("list-fields", str(t["name"]), f"implements {base} but has no such ancestor")
        for t in self.types("interface", True):
            if "interface" in chain(str(t["name"])) and t.get("abstract") is not True:
                self.fail("abstract-interfaces", str(t["name"]), "an interface type that is not abstract")
        devices = sorted(str(t["name"]) for t in self.types("device", False))
        return sorted(parents), devices

    def device_list_properties(self, typename: str, must_fail: bool) -> None:
        answer = self.qmp("device-list-properties", {"typename": typename}, typename)
        if "crashed" in answer:
            return
        listed = answer.get("return")
        if must_fail:
            if "error" not in answer:
                self.fail("device-list-properties", typename, "succeeded on a non-device")
            return
        if not isinstance(listed, list):
            self.fail("device-list-properties", typename, f"error: {answer.get('error')!r}")
            return
        for p in listed:
            name = p.get("name") if isinstance(p, dict) else None
            if not isinstance(name, str) or name in HIDDEN_DEVICE_PROPERTIES or name.startswith("legacy-"):
                self.fail("device-list-properties", typename, f"lists hidden property {name!r}")
        help_text = typename.replace(",", ",,") + ",help"
        self.qmp("human-monitor-command", {"command-line": f"device_add {help_text}"}, typename)

    def unchanged(self, check: str, typename: str, tree: str, live: int) -> None:
        after = self.qom_tree()
        if after != tree:
            self.fail(check, typename, "info qom-tree changed")
        if not self.crashed and self.u.live_instances() != live:
            self.fail(check, typename, f"live objects {live} -> {self.u.live_instances()}")


def introspect_sweep(universe: Universe, *, types: Sequence[str] | None = None) -> IntrospectReport:
    """Run the device-introspect checks against a universe.

    :param universe: the universe (its tree must not change).
    :param types: introspect only these types (None: every listed type).
    :return: the report; ``report.failures`` is empty when everything passed.
    """
    report = IntrospectReport()
    sweep = _Sweep(universe, report)
    listed = sweep.qmp("qom-list-types", {"implements": "device", "abstract": True}, "device")
    if "return" not in listed:
        sweep.fail("list", "device", f"no answer: {listed!r}")
    tree = sweep.qom_tree()
    live = universe.live_instances()
    all_types, devices = sweep.check_type_lists()
    for check, typename in (("none", "nonexistent"), ("abstract", "device")):
        sweep.device_list_properties(typename, must_fail=True)
        sweep.unchanged(check, typename, tree, live)
    chosen = set(types) if types is not None else None
    for typename in devices:
        if chosen is None or typename in chosen:
            report.device_types += 1
            sweep.device_list_properties(typename, False)
    sweep.unchanged("concrete/defaults", "", tree, live)
    for typename in all_types:
        if chosen is None or typename in chosen:
            report.types += 1
            sweep.qmp("qom-list-properties", {"typename": typename}, typename)
    sweep.unchanged("qom-list-properties", "", tree, live)
    return report
