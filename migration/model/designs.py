"""Migration-object designs as presets of orthogonal mechanism knobs (spec §3).

A :class:`Design` says *what the code does* (where the pointer is set and cleared,
how readers are protected, who holds references, what QOM does for singletons...),
never what happens: the model runs scenarios against it and the outcome is whatever
the mechanism produces.

Define a new combination in a few lines by deriving from a preset::

    >>> from migration.model.designs import DESIGNS, PointerClear, derive
    >>> from migration.model.designs import ALL_HELPERS
    >>> mine = derive(DESIGNS["qemu-10.0"], "my-design",
    ...               "qemu-10.0, plus clear the pointer in finalize if it is ours, and NULL-check "
    ...               "every helper", pointer_clear=PointerClear.FINALIZE_IF_SELF, null_checks=ALL_HELPERS)
    >>> mine.pointer_clear.value
    'finalize-if-self'
    >>> from migration.check.cell import run_scenario
    >>> run_scenario(mine, "S1-helper-after-idle-shutdown").outcome.value
    'OK'

Designs from the October 2024 debate (``two-globals`` ... ``gobject-singleton``) are
deltas against the code of that time: QEMU 9.1 plus "migration: Take migration object
refcount earlier for threads" (posted the same week, merged for 9.2; QEMU commit
7fc8beb16e), so the thread's reference is taken before the thread is created; bottom
halves hold references (``migration_bh_schedule``, 9.0); the incoming side does not
(fixed in 10.0 by d657a14de5).  Only ``qemu-9.1`` itself takes the reference inside the
thread function, as the spec says.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any

from migration.model.alphabet import HELPER_NAMES
from qom.universe import IntrospectionMode, SingletonPolicy

__all__ = [
    "ALL_HELPERS",
    "DESIGNS",
    "EXPORTED_HELPERS",
    "TAGS",
    "Design",
    "PointerClear",
    "PointerSet",
    "Protection",
    "ThreadCleanup",
    "ThreadRef",
    "derive",
    "knob_names",
]

#: the exported helpers of ``include/migration/misc.h`` the model implements (at any tag)
ALL_HELPERS: frozenset[str] = frozenset(HELPER_NAMES)

#: the QEMU tags a design can follow, and the git tag each stands for
TAGS: dict[str, str] = {"7.2": "v7.2.0 (Debian 7.2.22)", "9.1": "v9.1.0", "9.2": "v9.2.0", "10.0": "v10.0.0",
                        "master": "master (2026-02-13)"}

#: the helpers ``include/migration/misc.h`` exports at each tag (migration_is_idle dropped in 9.2 by
#: 34a8892dec, migration_is_setup_or_active by f018eb62b2, migration_is_device by 844ed0f762;
#: migration_is_active static from 10.0, 3bdb1a75f1)
EXPORTED_HELPERS: dict[str, frozenset[str]] = {
    # 7.2: migration_is_active() takes s; migration_is_running() and migration_is_setup_or_active() take a
    # state and are in migration/migration.h (include/migration/misc.h@v7.2.0)
    "7.2": frozenset({"migration_is_idle"}),
    "9.1": frozenset({"migration_is_idle", "migration_is_active", "migration_is_device",
                      "migration_is_setup_or_active", "migration_is_running", "migration_file_set_error",
                      "migration_thread_is_self"}),
    "9.2": frozenset({"migration_is_active", "migration_is_device", "migration_is_running",
                      "migration_file_set_error", "migration_thread_is_self"}),
    "10.0": frozenset({"migration_is_running", "migration_file_set_error", "migration_thread_is_self"}),
    "master": frozenset({"migration_is_running", "migration_file_set_error", "migration_thread_is_self"}),
}


class PointerSet(Enum):
    """Where ``current_migration`` is set."""

    OBJECT_INIT = "migration_object_init"  #: by migration_object_init(), after object_new
    INSTANCE_INIT = "instance_init"  #: by the type's instance_init, for every instance


class PointerClear(Enum):
    """Where ``current_migration`` is cleared."""

    NEVER = "never"
    FINALIZE = "finalize"  #: unconditionally, in instance_finalize, on the finalizing thread
    FINALIZE_IF_SELF = "finalize-if-self"  #: in instance_finalize, only if it points to the object
    SHUTDOWN = "shutdown"  #: by the main thread in migration_shutdown(), before dropping its reference


class Protection(Enum):
    """How exported helpers protect their use of the pointer."""

    NONE = "none"
    BQL = "bql"  #: readers and the clearer hold the BQL
    MUTEX = "mutex"  #: a dedicated pointer mutex, held for the helper's whole work
    RCU = "rcu"  #: RCU read sections; the free is deferred by call_rcu, locks die at finalize


class ThreadRef(Enum):
    """When the outgoing migration thread takes its reference."""

    IN_THREAD = "in-thread"  #: object_ref() inside the thread function (QEMU 9.1)
    BEFORE_CREATE = "before-create"  #: object_ref() before qemu_thread_create (QEMU 9.2+)


class ThreadCleanup(Enum):
    """How the outgoing migration thread ends."""

    #: QEMU at every tag from 9.1 to master: migration_iteration_finish() takes the BQL, schedules the
    #: cleanup BH (migration_bh_schedule takes a reference), drops the BQL; then the thread unrefs
    BH = "migration_bh_schedule"
    #: no QEMU tag: the thread cleans up itself and drops its reference (it may be the last one)
    INLINE = "inline"


@dataclass(frozen=True)
class Design:
    """A combination of mechanism knobs.  Hashable, so results can be cached per design.

    :ivar pointer_set: where ``current_migration`` is set.
    :ivar init_asserts_unset: the setter asserts the pointer is NULL before setting it.
    :ivar pointer_clear: where ``current_migration`` is cleared.
    :ivar export_pointer: a second global for exported helpers (``global_migration``), set at
        object init and cleared by the main thread in ``migration_shutdown()``.
    :ivar exports_split: internal code calls ``*_internal(s)`` with its own ``s`` instead of the
        exported helpers.
    :ivar protection: reader protection of exported helpers.
    :ivar helper_takes_ref: helpers take a reference while protected and drop it at the end.
    :ivar null_checks: the exported helpers that check the pointer for NULL.
    :ivar get_current_asserts: ``migrate_get_current()`` asserts the pointer is set (``False``: it
        may return NULL and every internal caller checks, answering "no migration").
    :ivar drop_main_ref: ``migration_shutdown()`` drops the main reference (``False``: the object
        lives until the process exits).
    :ivar thread_ref: when the migration thread takes its reference.
    :ivar bh_ref: each migration bottom half holds a reference.
    :ivar incoming_ref: the incoming side holds a reference.
    :ivar shutdown_join: ``migration_shutdown()`` joins the migration thread.
    :ivar tag: the QEMU tag whose exported API, class properties and function names the design
        follows (a key of :data:`TAGS`).
    :ivar thread_cleanup: how the migration thread ends (:class:`ThreadCleanup`).
    :ivar cancel_shuts_down_file: ``migration_cancel()`` calls ``qemu_file_shutdown()`` on the
        outgoing file, which makes a blocked socket write fail.
    :ivar singleton: the class implements the ``singleton`` interface.
    :ivar internal: the class implements the ``internal`` interface.
    :ivar singleton_policy: what QOM's ``object_new`` does on a second singleton instance.
    :ivar qom_list_properties: how ``qom-list-properties`` finds properties.
    :ivar device_list_properties: how ``device-list-properties`` finds properties.
    :ivar user_creation_checks_singleton: ``object-add``/``device_add`` refuse a second singleton.
    :ivar hide_internal: QMP hides and refuses ``internal`` classes.
    :ivar functions: the QEMU functions the design replaces: ``(name, model function)`` pairs, a name
        being a key of :func:`migration.model.functions.table` (``docs/writing-a-design.md``).
    """

    replaced: dict[str, Callable[..., Any]] = field(init=False, repr=False, compare=False, hash=False)

    name: str
    description: str
    pointer_set: PointerSet = PointerSet.OBJECT_INIT
    init_asserts_unset: bool = True
    pointer_clear: PointerClear = PointerClear.NEVER
    export_pointer: bool = False
    exports_split: bool = False
    protection: Protection = Protection.NONE
    helper_takes_ref: bool = False
    null_checks: frozenset[str] = ALL_HELPERS
    get_current_asserts: bool = True
    drop_main_ref: bool = True
    thread_ref: ThreadRef = ThreadRef.BEFORE_CREATE
    bh_ref: bool = True
    incoming_ref: bool = True
    shutdown_join: bool = False
    tag: str = "10.0"
    thread_cleanup: ThreadCleanup = ThreadCleanup.BH
    cancel_shuts_down_file: bool = True
    singleton: bool = False
    internal: bool = False
    singleton_policy: SingletonPolicy = SingletonPolicy.QMP_ERROR
    qom_list_properties: IntrospectionMode = IntrospectionMode.INSTANTIATE
    device_list_properties: IntrospectionMode = IntrospectionMode.INSTANTIATE
    user_creation_checks_singleton: bool = False
    hide_internal: bool = False
    functions: tuple[tuple[str, Callable[..., Any]], ...] = ()

    def __post_init__(self) -> None:
        _validate(self)
        object.__setattr__(self, "replaced", dict(self.functions))

    def __str__(self) -> str:
        return f"Design({self.name!r})"

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickle the replaced functions by value (cloudpickle), so that a design read from a file
        reaches worker processes that cannot import that file."""
        if not self.functions:
            return super().__reduce_ex__(protocol)
        import cloudpickle  # type: ignore[import-untyped]  # a dependency of distributed, untyped

        knobs = {f.name: getattr(self, f.name) for f in fields(self) if f.init and f.name != "functions"}
        return (_rebuild, (knobs, cloudpickle.dumps(self.functions)))

    def knobs(self) -> dict[str, Any]:
        """:return: the knob values (everything but name and description), JSON-friendly."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("name", "description"):
                continue
            v = getattr(self, f.name)
            if f.name == "replaced":
                continue
            if isinstance(v, Enum):
                v = v.value
            elif isinstance(v, frozenset):
                v = sorted(v)
            elif f.name == "functions":
                if not v:
                    continue  # a preset, or a design of knobs only: its knobs read as they always did
                v = [f"{n}={_qualified(fn)}" for n, fn in v]
            out[f.name] = v
        return out

    def differs_from(self, other: Design) -> list[str]:
        """:param other: another design.
        :return: the names of the knobs whose values differ.
        """
        a, b = self.knobs(), other.knobs()
        return [k for k in {**a, **b} if a.get(k) != b.get(k)]


def _rebuild(knobs: dict[str, Any], functions: bytes) -> Design:
    import pickle

    return Design(**knobs, functions=pickle.loads(functions))


#: each knob's type, read from its default (an enum knob takes that enum, a flag a bool)
_KNOB_TYPES: dict[str, type] = {f.name: type(f.default) for f in fields(Design)
                                if f.name not in ("name", "description", "replaced")}


def knob_names() -> list[str]:
    """:return: every knob name, in declaration order (``functions``, the code a design replaces, is
        not a knob)."""
    return [f.name for f in fields(Design) if f.name not in ("name", "description", "replaced", "functions")]


def _qualified(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _type_name(t: type) -> str:
    if issubclass(t, Enum):
        return f"a {t.__name__} ({', '.join(repr(m.value) for m in t)})"
    return f"a {t.__name__}"


def _validate(d: Design) -> None:
    """Check every knob's type and value, so that a wrong design fails where it is written.

    :raise TypeError: a knob of the wrong type (a string for an enum, a list for a set...).
    :raise ValueError: an unknown tag, helper or QEMU function name.
    """
    if not isinstance(d.name, str) or not d.name:
        raise TypeError(f"design name must be a non-empty str, not {d.name!r}")
    for f in fields(d):
        if f.name in ("name", "description", "null_checks", "functions", "replaced", "tag"):
            continue
        want = _KNOB_TYPES[f.name]
        v = getattr(d, f.name)
        if type(v) is not want:
            raise TypeError(f"design '{d.name}': knob {f.name} takes {_type_name(want)}, "
                            f"not {type(v).__name__} {v!r}")
    if not isinstance(d.tag, str) or d.tag not in TAGS:
        raise ValueError(f"design '{d.name}': knob tag takes one of {', '.join(TAGS)}, not {d.tag!r}")
    if type(d.null_checks) is not frozenset:
        raise TypeError(f"design '{d.name}': knob null_checks takes a frozenset of helper names, "
                        f"not {type(d.null_checks).__name__} {d.null_checks!r}")
    unknown = sorted(str(h) for h in d.null_checks if h not in ALL_HELPERS)
    if unknown:
        raise ValueError(f"design '{d.name}': null_checks names unknown helper(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(ALL_HELPERS))})")
    if type(d.functions) is not tuple:
        raise TypeError(f"design '{d.name}': functions takes a tuple of (name, function) pairs, "
                        f"not {type(d.functions).__name__}")
    if d.functions:
        from migration.model.functions import table

        known = table()
        seen: set[str] = set()
        for pair in d.functions:
            if (type(pair) is not tuple or len(pair) != 2 or not isinstance(pair[0], str)
                    or not callable(pair[1])):
                raise TypeError(f"design '{d.name}': functions takes (name, function) pairs, not {pair!r}")
            if pair[0] not in known:
                raise ValueError(f"design '{d.name}' replaces '{pair[0]}', which is not a QEMU function of "
                                 f"the model (see migration.model.functions.table())")
            if pair[0] in seen:
                raise ValueError(f"design '{d.name}' replaces '{pair[0]}' twice")
            if not known[pair[0]].steps and inspect.isgeneratorfunction(pair[1]):
                raise TypeError(f"design '{d.name}': '{pair[0]}' runs inside a step (QOM calls it): give "
                                f"a plain function, not a generator")
            seen.add(pair[0])


def derive(base: Design, name: str, description: str, **knobs: Any) -> Design:
    """Make a new design from ``base`` with some knobs changed.

    :param base: the design to start from.
    :param name: the new design's id.
    :param description: one line saying what it does.
    :param knobs: knob values to change; ``functions`` may be a dict of QEMU function name -> model function.
    :return: the new design.
    :raise TypeError: when a knob name is unknown, or a knob's value has the wrong type.
    :raise ValueError: when ``name`` is a preset's, or a value is unknown (a tag, a helper, a function).
    """
    unknown = set(knobs) - {*knob_names(), "functions"}
    if unknown:
        raise TypeError(f"Design has no knob(s) {', '.join(sorted(unknown))}")
    presets = globals().get("DESIGNS", {})
    if name in presets:
        raise ValueError(f"design name '{name}' is a preset's: choose another name")
    if "functions" in knobs and isinstance(knobs["functions"], dict):
        knobs["functions"] = tuple(knobs["functions"].items())
    return replace(base, name=name, description=description, **knobs)


_QEMU_9_1 = Design(
    name="qemu-9.1",
    description="pointer set once in migration_object_init, never cleared; only migration_is_idle() "
    "checks for NULL; the thread takes its reference inside the thread function",
    null_checks=frozenset({"migration_is_idle"}),
    thread_ref=ThreadRef.IN_THREAD,
    incoming_ref=False,
    tag="9.1",
)

#: QEMU 9.1 with the thread reference taken before creation: the base of the debate's designs
_DEBATE_BASE = derive(_QEMU_9_1, "qemu-9.2-dev", "the base of the October 2024 proposals",
                      thread_ref=ThreadRef.BEFORE_CREATE)

_TWO_GLOBALS = derive(
    _DEBATE_BASE, "two-globals",
    "misc.h v2: current_migration set in instance_init (asserting it unset) and cleared in finalize; "
    "global_migration cleared in migration_shutdown() and read by exported helpers, with NULL checks",
    pointer_set=PointerSet.INSTANCE_INIT, pointer_clear=PointerClear.FINALIZE, export_pointer=True,
    null_checks=ALL_HELPERS,
)

_SINGLETON_V1 = derive(
    _DEBATE_BASE, "singleton-v1",
    "singleton interface; a second instance is a QOM assertion; qom-list-properties is class-only for "
    "singletons, device-list-properties reuses the live instance; instance_init asserts and sets the "
    "pointer, finalize clears it",
    pointer_set=PointerSet.INSTANCE_INIT, pointer_clear=PointerClear.FINALIZE, singleton=True,
    singleton_policy=SingletonPolicy.FATAL,
    qom_list_properties=IntrospectionMode.SINGLETON_CLASS_ONLY,
    device_list_properties=IntrospectionMode.SINGLETON_FETCH,
    user_creation_checks_singleton=True,
)

_QEMU_10_0 = Design(
    name="qemu-10.0",
    description="what QEMU merged: pointer set in migration_object_init and never cleared; no "
    "global side effects in init/finalize; thread ref before creation; BHs and the incoming "
    "side hold references; only migration_is_running() checks for NULL",
    null_checks=frozenset({"migration_is_running"}),
)

_QEMU_7_2 = derive(
    _QEMU_9_1, "qemu-7.2",
    "QEMU 7.2 (Debian's 7.2.22): as qemu-9.1, with 7.2's exported API (only migration_is_idle(), which "
    "checks for NULL), no dirty-limit capability, and the cleanup BH's reference taken by "
    "migrate_fd_cleanup_schedule()", tag="7.2")

#: every design of spec §3, in spec order (the search adds its proposal, see migration.check.search)
DESIGNS: dict[str, Design] = {
    d.name: d
    for d in (
        _QEMU_9_1,
        _TWO_GLOBALS,
        derive(_TWO_GLOBALS, "exports-split",
               "two-globals, and internal code calls *_internal(s) with its own s, never the exported "
               "wrappers", exports_split=True),
        derive(_DEBATE_BASE, "mutex",
               "misc.h v3: one pointer, cleared in finalize under a pointer mutex that exported helpers "
               "hold (with a reference) for their whole work; singleton guard on",
               pointer_set=PointerSet.INSTANCE_INIT, pointer_clear=PointerClear.FINALIZE,
               protection=Protection.MUTEX, helper_takes_ref=True, null_checks=ALL_HELPERS,
               singleton=True, singleton_policy=SingletonPolicy.FATAL,
               qom_list_properties=IntrospectionMode.SINGLETON_CLASS_ONLY,
               device_list_properties=IntrospectionMode.SINGLETON_FETCH,
               user_creation_checks_singleton=True),
        derive(_DEBATE_BASE, "rcu",
               "readers in RCU read sections; finalize publishes NULL and defers the free with "
               "call_rcu, but destroys the object's locks at once",
               pointer_set=PointerSet.INSTANCE_INIT, pointer_clear=PointerClear.FINALIZE,
               protection=Protection.RCU, null_checks=ALL_HELPERS),
        derive(_DEBATE_BASE, "identity-clear",
               "pointer set only in migration_object_init; finalize clears it only if it points to "
               "the object being finalized",
               pointer_clear=PointerClear.FINALIZE_IF_SELF, null_checks=ALL_HELPERS),
        derive(_DEBATE_BASE, "join-at-shutdown",
               "migration_shutdown() cancels, joins the migration thread, drops the reference and "
               "clears the pointer",
               shutdown_join=True, pointer_clear=PointerClear.SHUTDOWN, null_checks=ALL_HELPERS),
        _SINGLETON_V1,
        derive(_SINGLETON_V1, "singleton-v2",
               "singleton-v1 plus object_new_allowed() on user creation and object_new_or_fetch() in "
               "both introspection commands; unconverted paths still hit the QOM assertion",
               qom_list_properties=IntrospectionMode.SINGLETON_FETCH),
        derive(_DEBATE_BASE, "internal-hidden",
               "an internal interface: hidden from qom-list-types and refused by introspection and "
               "user creation; internal object_new unaffected",
               internal=True, hide_internal=True),
        derive(_DEBATE_BASE, "class-only-introspection",
               "qom-list-properties and device-list-properties never instantiate: class properties only",
               qom_list_properties=IntrospectionMode.CLASS_ONLY,
               device_list_properties=IntrospectionMode.CLASS_ONLY),
        derive(_TWO_GLOBALS, "gobject-singleton",
               "object_new on a singleton class with a live instance returns it with a new reference",
               singleton=True, singleton_policy=SingletonPolicy.RETURN_EXISTING),
        derive(_QEMU_9_1, "qemu-9.2",
               "QEMU 9.2: as qemu-9.1, but the thread's reference is taken before the thread is created "
               "(7fc8beb16e); migration_is_idle() is gone and migration_is_running() checks for NULL",
               thread_ref=ThreadRef.BEFORE_CREATE, null_checks=frozenset({"migration_is_running"}),
               tag="9.2"),
        _QEMU_10_0,
        derive(_QEMU_10_0, "qemu-master",
               "QEMU master (Feb 2026): as qemu-10.0, with master's exported API and class properties",
               tag="master"),
        _QEMU_7_2,
    )
}
