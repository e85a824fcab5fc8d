"""QEMU's migration properties as data, tag by tag.

The qdev class properties of the ``migration`` type, as facts taken from QEMU's
``migration_properties[]`` (``migration/options.c`` from 8.1, ``migration/migration.c`` at
7.2) and the defaults it names (``DEFAULT_MIGRATE_*``, ``CLEAR_BITMAP_SHIFT_DEFAULT``).
Enum value lists come from ``qapi/migration.json``; ``MultiFDCompression`` lists only the
values every build has.  Counts on Linux (``x-zero-copy-send`` is ``CONFIG_LINUX`` only):
7.2: 46, 9.1: 48, 9.2: 49, 10.0: 51, master: 52 (:data:`PROPERTIES_BY_TAG`).  A design's
``migration`` type carries its tag's list.

Each entry says what ``qom-list-properties typename=migration`` reports: the QOM
property type and the default value (``None`` when QEMU sets none: ``tls-*`` are
``DEFINE_PROP_STRING`` up to 10.0, ``qdev_prop_string`` has no ``set_default_value``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MIGRATION_PROPERTIES",
    "PROPERTIES_BY_TAG",
    "MigrationPropertySpec",
    "by_name",
    "properties_for",
]


@dataclass(frozen=True)
class MigrationPropertySpec:
    """One qdev property of ``migration``.

    :ivar name: the property name (``-global migration.NAME=...``).
    :ivar kind: the qdev property kind: ``bool``, ``uint8``, ``uint32``, ``uint64``,
        ``size``, ``str`` (no default), ``str-or-null`` or ``enum``.
    :ivar qom_type: the type string QOM reports (``bool``, ``size``, ``StrOrNull``, ``MigMode``...).
    :ivar default: the default as QOM reports it (JSON value).
    :ivar enum_values: the accepted values of an enum property, else ``()``.
    """

    name: str
    kind: str
    qom_type: str
    default: bool | int | str | None
    enum_values: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"migration.{self.name} ({self.qom_type}, default {self.default!r})"


def _b(name: str, default: bool) -> MigrationPropertySpec:
    return MigrationPropertySpec(name, "bool", "bool", default)


def _u(name: str, kind: str, default: int) -> MigrationPropertySpec:
    return MigrationPropertySpec(name, kind, kind, default)


def _s(name: str) -> MigrationPropertySpec:
    # qdev_prop_StrOrNull: set_default_value_tls_opt sets the default to "" (migration/options.c).
    return MigrationPropertySpec(name, "str-or-null", "StrOrNull", "")


def _str(name: str) -> MigrationPropertySpec:
    # DEFINE_PROP_STRING (7.2 ... 10.0): qdev type "str", no default value
    return MigrationPropertySpec(name, "str", "str", None)


def _e(name: str, qom_type: str, default: str, values: tuple[str, ...]) -> MigrationPropertySpec:
    return MigrationPropertySpec(name, "enum", qom_type, default, values)


_MIB = 1024 * 1024

#: master's properties (Feb 2026), in ``migration_properties[]`` order
MIGRATION_PROPERTIES: tuple[MigrationPropertySpec, ...] = (
    _b("store-global-state", True),
    _b("send-configuration", True),
    _b("send-section-footer", True),
    _b("send-switchover-start", True),
    _b("multifd-flush-after-each-section", False),
    _u("x-clear-bitmap-shift", "uint8", 18),
    _b("x-preempt-pre-7-2", False),
    _b("multifd-clean-tls-termination", True),
    # migration parameters
    _u("x-throttle-trigger-threshold", "uint8", 50),
    _u("x-cpu-throttle-initial", "uint8", 20),
    _u("x-cpu-throttle-increment", "uint8", 10),
    _b("x-cpu-throttle-tailslow", False),
    _u("x-max-bandwidth", "size", 128 * _MIB),
    _u("avail-switchover-bandwidth", "size", 0),
    _u("x-downtime-limit", "uint64", 300),
    _u("x-checkpoint-delay", "uint32", 200 * 100),
    _u("multifd-channels", "uint8", 2),
    _e("multifd-compression", "MultiFDCompression", "none", ("none", "zlib")),
    _u("multifd-zlib-level", "uint8", 1),
    _u("multifd-qatzip-level", "uint8", 1),
    _u("multifd-zstd-level", "uint8", 1),
    _u("xbzrle-cache-size", "size", 64 * _MIB),
    _u("max-postcopy-bandwidth", "size", 0),
    _u("max-cpu-throttle", "uint8", 99),
    _u("announce-initial", "size", 50),
    _u("announce-max", "size", 550),
    _u("announce-rounds", "size", 5),
    _u("announce-step", "size", 100),
    _s("tls-creds"),
    _s("tls-hostname"),
    _s("tls-authz"),
    _u("x-vcpu-dirty-limit-period", "uint64", 1000),
    _u("vcpu-dirty-limit", "uint64", 1),
    _e("mode", "MigMode", "normal", ("normal", "cpr-reboot", "cpr-transfer", "cpr-exec")),
    _e("zero-page-detection", "ZeroPageDetection", "multifd", ("none", "legacy", "multifd")),
    # migration capabilities (DEFINE_PROP_MIG_CAP: bool, default false)
    _b("x-xbzrle", False),
    _b("x-rdma-pin-all", False),
    _b("x-auto-converge", False),
    _b("x-events", False),
    _b("x-postcopy-ram", False),
    _b("x-postcopy-preempt", False),
    _b("postcopy-blocktime", False),
    _b("x-colo", False),
    _b("x-release-ram", False),
    _b("x-return-path", False),
    _b("x-multifd", False),
    _b("x-background-snapshot", False),
    _b("x-zero-copy-send", False),  # CONFIG_LINUX only
    _b("x-switchover-ack", False),
    _b("x-dirty-limit", False),
    _b("mapped-ram", False),
    _b("x-ignore-shared", False),
)


_MASTER = {p.name: p for p in MIGRATION_PROPERTIES}
_TLS = ("tls-creds", "tls-hostname", "tls-authz")


def _older(names: tuple[str, ...], *, modes: tuple[str, ...],
           extra: dict[str, MigrationPropertySpec]) -> tuple[MigrationPropertySpec, ...]:
    """A tag's list: master's specs, ``tls-*`` as plain strings, its own MigMode values."""
    out = []
    for n in names:
        if n in extra:
            out.append(extra[n])
        elif n in _TLS:
            out.append(_str(n))
        elif n == "mode":
            out.append(_e("mode", "MigMode", "normal", modes))
        else:
            out.append(_MASTER[n])
    return tuple(out)


_V10_0_NAMES = (
    "store-global-state", "send-configuration", "send-section-footer", "send-switchover-start",
    "multifd-flush-after-each-section", "x-clear-bitmap-shift", "x-preempt-pre-7-2",
    "multifd-clean-tls-termination", "x-throttle-trigger-threshold", "x-cpu-throttle-initial",
    "x-cpu-throttle-increment", "x-cpu-throttle-tailslow", "x-max-bandwidth", "avail-switchover-bandwidth",
    "x-downtime-limit", "x-checkpoint-delay", "multifd-channels", "multifd-compression",
    "multifd-zlib-level", "multifd-qatzip-level", "multifd-zstd-level", "xbzrle-cache-size",
    "max-postcopy-bandwidth", "max-cpu-throttle", "announce-initial", "announce-max", "announce-rounds",
    "announce-step", "tls-creds", "tls-hostname", "tls-authz", "x-vcpu-dirty-limit-period",
    "vcpu-dirty-limit", "mode", "zero-page-detection", "x-xbzrle", "x-rdma-pin-all", "x-auto-converge",
    "x-zero-blocks", "x-events", "x-postcopy-ram", "x-postcopy-preempt", "x-colo", "x-release-ram",
    "x-return-path", "x-multifd", "x-background-snapshot", "x-zero-copy-send", "x-switchover-ack",
    "x-dirty-limit", "mapped-ram",
)
# 9.2 = 10.0 without send-switchover-start (4e55cb3cde) and multifd-clean-tls-termination (9b3b192f65)
_V9_2_NAMES = tuple(n for n in _V10_0_NAMES
                    if n not in ("send-switchover-start", "multifd-clean-tls-termination"))
# 9.1 = 9.2 without multifd-qatzip-level (86c6eb1f39)
_V9_1_NAMES = tuple(n for n in _V9_2_NAMES if n != "multifd-qatzip-level")
_V7_2_NAMES = (
    "store-global-state", "send-configuration", "send-section-footer", "decompress-error-check",
    "x-clear-bitmap-shift", "x-compress-level", "x-compress-threads", "x-compress-wait-thread",
    "x-decompress-threads", "x-throttle-trigger-threshold", "x-cpu-throttle-initial",
    "x-cpu-throttle-increment", "x-cpu-throttle-tailslow", "x-max-bandwidth", "x-downtime-limit",
    "x-checkpoint-delay", "multifd-channels", "multifd-compression", "multifd-zlib-level",
    "multifd-zstd-level", "xbzrle-cache-size", "max-postcopy-bandwidth", "max-cpu-throttle",
    "announce-initial", "announce-max", "announce-rounds", "announce-step", "x-postcopy-preempt-break-huge",
    "tls-creds", "tls-hostname", "tls-authz", "x-xbzrle", "x-rdma-pin-all", "x-auto-converge",
    "x-zero-blocks", "x-compress", "x-events", "x-postcopy-ram", "x-postcopy-preempt", "x-colo",
    "x-release-ram", "x-block", "x-return-path", "x-multifd", "x-background-snapshot", "x-zero-copy-send",
)
_V7_2_EXTRA = {
    "decompress-error-check": _b("decompress-error-check", True),
    "x-compress-level": _u("x-compress-level", "uint8", 1),
    "x-compress-threads": _u("x-compress-threads", "uint8", 8),
    "x-compress-wait-thread": _b("x-compress-wait-thread", True),
    "x-decompress-threads": _u("x-decompress-threads", "uint8", 2),
    "x-postcopy-preempt-break-huge": _b("x-postcopy-preempt-break-huge", True),
    "x-zero-blocks": _b("x-zero-blocks", False),
    "x-compress": _b("x-compress", False),
    "x-block": _b("x-block", False),
}
_EXTRA = {"x-zero-blocks": _b("x-zero-blocks", False)}

#: tag -> the ``migration`` type's properties at that tag, in ``migration_properties[]`` order
PROPERTIES_BY_TAG: dict[str, tuple[MigrationPropertySpec, ...]] = {
    "7.2": _older(_V7_2_NAMES, modes=(), extra=_V7_2_EXTRA),
    "9.1": _older(_V9_1_NAMES, modes=("normal", "cpr-reboot"), extra=_EXTRA),
    "9.2": _older(_V9_2_NAMES, modes=("normal", "cpr-reboot"), extra=_EXTRA),
    "10.0": _older(_V10_0_NAMES, modes=("normal", "cpr-reboot", "cpr-transfer"), extra=_EXTRA),
    "master": MIGRATION_PROPERTIES,
}


def properties_for(tag: str) -> tuple[MigrationPropertySpec, ...]:
    """:param tag: a QEMU tag (``7.2``, ``9.1``, ``9.2``, ``10.0``, ``master``).
    :return: the ``migration`` type's properties at that tag.
    :raise KeyError: when the tag is unknown.
    """
    return PROPERTIES_BY_TAG[tag]


def by_name(name: str, tag: str = "master") -> MigrationPropertySpec:
    """Look a property up by name.

    :param name: the property name.
    :param tag: the QEMU tag.
    :return: its spec.
    :raise KeyError: when ``migration`` has no such property at that tag.
    """
    for spec in PROPERTIES_BY_TAG[tag]:
        if spec.name == name:
            return spec
    raise KeyError(name)
