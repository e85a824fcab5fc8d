"""QEMU's migration properties as data.

The 52 qdev class properties of the ``migration`` type (51 on non-Linux hosts, where
``x-zero-copy-send`` is compiled out), as facts taken from QEMU's
``migration/options.c`` (``migration_properties[]``) and the defaults it names
(``DEFAULT_MIGRATE_*`` in the same file, ``CLEAR_BITMAP_SHIFT_DEFAULT`` in
``migration/migration.h``).  Enum value lists come from ``qapi/migration.json``;
``MultiFDCompression`` lists only the values every build has.

Each entry says what ``qom-list-properties typename=migration`` reports: the QOM
property type and the default value (``None`` when QEMU sets none).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MIGRATION_PROPERTIES", "MigrationPropertySpec", "by_name"]


@dataclass(frozen=True)
class MigrationPropertySpec:
    """One qdev property of ``migration``.

    :ivar name: the property name (``-global migration.NAME=...``).
    :ivar kind: the qdev property kind: ``bool``, ``uint8``, ``uint32``, ``uint64``,
        ``size``, ``str-or-null`` or ``enum``.
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


def _e(name: str, qom_type: str, default: str, values: tuple[str, ...]) -> MigrationPropertySpec:
    return MigrationPropertySpec(name, "enum", qom_type, default, values)


_MIB = 1024 * 1024

#: every property, in ``migration_properties[]`` order
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


def by_name(name: str) -> MigrationPropertySpec:
    """Look a property up by name.

    :param name: the property name.
    :return: its spec.
    :raise KeyError: when ``migration`` has no such property.
    """
    for spec in MIGRATION_PROPERTIES:
        if spec.name == name:
            return spec
    raise KeyError(name)
