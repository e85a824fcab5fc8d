"""Visitors: how property values travel in and out (QEMU's ``qapi/*-visitor.c``).

A property getter writes its value into an *output* visitor; a setter reads its new value
from an *input* visitor.  Each ``type_*`` method mirrors C's pointer convention: it takes the
current value and returns the (possibly new) one, so one getter/setter body serves both.

Two coercion modes exist for input (spec §4.4):

* :class:`QObjectInputVisitor` (``qom-set``, ``object-add``): JSON types must match exactly;
* :class:`StringInputVisitor` (``-global``, HMP ``qom-set``, ``object_new_with_props``):
  ``on/yes/true/y`` and ``off/no/false/n`` are booleans, numbers are parsed, enums by name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from qom.errors import GenericError

__all__ = [
    "JSON",
    "QObjectInputVisitor",
    "QObjectOutputVisitor",
    "StringInputVisitor",
    "StringOutputVisitor",
    "Visitor",
    "check_json",
]

if TYPE_CHECKING:
    JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None
else:
    # At run time the alias is ``object``: typeguard cannot evaluate the recursive form (it warns
    # and skips it), and the entry points validate values with :func:`check_json` instead.
    JSON = object

_INT_RANGES: dict[str, tuple[int, int]] = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
_UINT_MAX: dict[str, int] = {"uint8": 2**8 - 1, "uint16": 2**16 - 1, "uint32": 2**32 - 1, "uint64": 2**64 - 1}


def check_json(value: object, what: str = "value") -> None:
    """Refuse anything that is not a JSON-like value.

    :param value: the value.
    :param what: how to name it in the message.
    :raise TypeError: when ``value`` (or something inside it) is not JSON-like.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return
    if isinstance(value, list):
        for item in value:
            check_json(item, what)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{what}: JSON object keys must be str, not {type(key).__name__}")
            check_json(item, what)
        return
    raise TypeError(f"{what} must be a JSON-like value, not {type(value).__name__}")


def _expects(name: str, what: str) -> GenericError:
    return GenericError(f"Parameter '{name}' expects {what}")


def _invalid_type(name: str, what: str) -> GenericError:
    return GenericError(f"Invalid parameter type for '{name}', expected: {what}")


class Visitor:
    """Base visitor.  Subclasses implement the 64-bit, bool, str, number, null and any cases."""

    is_input = False

    def type_int64(self, name: str, value: int = 0) -> int:
        """Visit a signed integer.

        :param name: the property name (for messages).
        :param value: the current value (output).
        :return: the value (input: the new one).
        :raise GenericError: when the input is not an integer.
        """
        raise NotImplementedError

    def type_uint64(self, name: str, value: int = 0) -> int:
        """Visit an unsigned 64-bit integer.

        :param name: the property name.
        :param value: the current value.
        :return: the value.
        :raise GenericError: when the input is not an unsigned integer.
        """
        raise NotImplementedError

    def type_size(self, name: str, value: int = 0) -> int:
        """Visit a ``size`` (uint64 with suffixes in string form).

        :param name: the property name.
        :param value: the current value.
        :return: the value.
        :raise GenericError: on bad input.
        """
        return self.type_uint64(name, value)

    def type_bool(self, name: str, value: bool = False) -> bool:
        """Visit a boolean.

        :param name: the property name.
        :param value: the current value.
        :return: the value.
        :raise GenericError: on bad input.
        """
        raise NotImplementedError

    def type_str(self, name: str, value: str | None = None) -> str:
        """Visit a string (``None`` on output becomes ``""``, as QEMU's output visitors do).

        :param name: the property name.
        :param value: the current value.
        :return: the value.
        :raise GenericError: on bad input.
        """
        raise NotImplementedError

    def type_number(self, name: str, value: float = 0.0) -> float:
        """Visit a floating point number.

        :param name: the property name.
        :param value: the current value.
        :return: the value.
        :raise GenericError: on bad input.
        """
        raise NotImplementedError

    def type_null(self, name: str) -> None:
        """Visit a JSON null.

        :param name: the property name.
        :raise GenericError: when the input is not null.
        """
        raise NotImplementedError

    def type_any(self, name: str, value: JSON = None) -> JSON:
        """Visit an arbitrary JSON value.

        :param name: the property name.
        :param value: the current value.
        :return: the value.
        :raise GenericError: when this visitor cannot carry arbitrary values.
        """
        raise GenericError(f"Parameter '{name}' cannot be visited as 'any' here")

    # -- sized integers (qapi-visit-core.c visit_type_intN/uintN) --

    def type_int(self, name: str, value: int = 0, kind: str = "int64") -> int:
        """Visit a signed integer of width ``kind`` (``int8`` ... ``int64``).

        :param name: the property name.
        :param value: the current value.
        :param kind: the width name, used in the range error.
        :return: the value.
        :raise GenericError: "Parameter '%s' expects int8" and friends when out of range.
        """
        lo, hi = _INT_RANGES[kind]
        new = self.type_int64(name, value)
        if self.is_input and not lo <= new <= hi:
            raise _expects(name, kind)
        return new

    def type_uint(self, name: str, value: int = 0, kind: str = "uint64") -> int:
        """Visit an unsigned integer of width ``kind`` (``uint8`` ... ``uint64``).

        :param name: the property name.
        :param value: the current value.
        :param kind: the width name, used in the range error.
        :return: the value.
        :raise GenericError: "Parameter '%s' expects uint8" and friends when out of range.
        """
        new = self.type_uint64(name, value)
        if self.is_input and new > _UINT_MAX[kind]:
            raise _expects(name, kind)
        return new

    def type_enum(self, name: str, value: int, lookup: Sequence[str]) -> int:
        """Visit an enum: its name travels as a string.

        :param name: the property name.
        :param value: the current index.
        :param lookup: the enum's names, by index.
        :return: the index.
        :raise GenericError: "Parameter '%s' does not accept value '%s'" for an unknown name.
        """
        if not self.is_input:
            self.type_str(name, lookup[value])
            return value
        text = self.type_str(name, None)
        try:
            return list(lookup).index(text)
        except ValueError:
            raise GenericError(f"Parameter '{name}' does not accept value '{text}'") from None


class QObjectOutputVisitor(Visitor):
    """Collects one JSON value in :attr:`result` (``qom-get``)."""

    def __init__(self) -> None:
        self.result: JSON = None

    def type_int64(self, name: str, value: int = 0) -> int:
        self.result = value
        return value

    def type_uint64(self, name: str, value: int = 0) -> int:
        self.result = value
        return value

    def type_bool(self, name: str, value: bool = False) -> bool:
        self.result = value
        return value

    def type_str(self, name: str, value: str | None = None) -> str:
        text = value if value is not None else ""
        self.result = text
        return text

    def type_number(self, name: str, value: float = 0.0) -> float:
        self.result = value
        return value

    def type_null(self, name: str) -> None:
        self.result = None

    def type_any(self, name: str, value: JSON = None) -> JSON:
        self.result = value
        return value


class QObjectInputVisitor(Visitor):
    """Reads one JSON value with exact typing (``qom-set``, ``object-add``).

    :param value: the JSON value to read.
    """

    is_input = True

    def __init__(self, value: JSON) -> None:
        self.value = value

    def type_int64(self, name: str, value: int = 0) -> int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int) or not -(2**63) <= v < 2**63:
            raise _invalid_type(name, "integer")
        return v

    def type_uint64(self, name: str, value: int = 0) -> int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int) or not -(2**63) <= v < 2**64:
            raise _expects(name, "uint64")
        return v % 2**64  # negative values are accepted for backward compatibility

    def type_bool(self, name: str, value: bool = False) -> bool:
        v = self.value
        if not isinstance(v, bool):
            raise _invalid_type(name, "boolean")
        return v

    def type_str(self, name: str, value: str | None = None) -> str:
        v = self.value
        if not isinstance(v, str):
            raise _invalid_type(name, "string")
        return v

    def type_number(self, name: str, value: float = 0.0) -> float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _invalid_type(name, "number")
        return float(v)

    def type_null(self, name: str) -> None:
        if self.value is not None:
            raise _invalid_type(name, "null")

    def type_any(self, name: str, value: JSON = None) -> JSON:
        return self.value


_TRUE = frozenset({"on", "yes", "true", "y"})
_FALSE = frozenset({"off", "no", "false", "n"})
_SIZE_SUFFIX = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50, "e": 2**60}
_SIZE_RE = re.compile(r"[ \t\n\v\f\r]*(?:(0[xX][0-9a-fA-F]+)|([0-9]*)(\.[0-9]*)?)([bBkKmMgGtTpPeE]?)\Z")


def _parse_size(text: str) -> int | None:
    """``qemu_strtosz`` (``util/cutils.c``): ``None`` for EINVAL, ``-1`` for ERANGE.

    Decimal with an optional fraction (which needs a scaling suffix), or hex without
    fraction or suffix; the fraction is a 64-bit fixed-point value, rounded half up.
    """
    m = _SIZE_RE.match(text)
    if m is None:
        return None
    hexa, integral, fraction, suffix = m.groups()
    if hexa is not None:
        if suffix:
            return None
        n = int(hexa, 16)
        return n if n < 2**64 else -1
    if not integral and not fraction:
        return None
    if fraction is not None and not integral and len(fraction) == 1:
        return None  # a lone "."
    val = int(integral) if integral else 0
    if val >= 2**64:
        return -1
    valf = 0
    if fraction is not None and len(fraction) > 1:
        f = float("0" + fraction)
        if f == 1.0:
            val += 1
        else:
            valf = int(f * 2**64)
            if valf == 0 and f > 0.0:
                valf = 1
    mul = _SIZE_SUFFIX[suffix.lower()]
    if mul == 1:
        if valf:
            return None  # a fraction needs a scaling suffix
        return val
    total = val * mul + ((valf * mul) >> 64) + (((valf * mul) >> 63) & 1)
    return total if total < 2**64 else -1


def _parse_c_int(text: str) -> int | None:
    """``qemu_strtoi64(str, NULL, 0, ...)``: base 0 (``0x`` hex, leading ``0`` octal), whole string."""
    s = text.lstrip(" \t\n\v\f\r")
    m = re.fullmatch(r"([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", s)
    if m is None:
        return None
    sign, digits = m.groups()
    if digits[:2].lower() == "0x":
        n = int(digits, 16)
    elif digits.startswith("0"):
        n = int(digits, 8)
    else:
        n = int(digits)
    return -n if sign == "-" else n


class StringInputVisitor(Visitor):
    """Parses one string (``-global``, HMP ``qom-set``, ``object_property_parse``).

    :param string: the text to parse.
    """

    is_input = True

    def __init__(self, string: str) -> None:
        self.string = string

    def type_int64(self, name: str, value: int = 0) -> int:
        n = _parse_c_int(self.string)
        if n is None or not -(2**63) <= n < 2**63:
            raise _expects(name, "int64")
        return n

    def type_uint64(self, name: str, value: int = 0) -> int:
        n = _parse_c_int(self.string)
        if n is None or not -(2**64) < n < 2**64:
            raise _expects(name, "uint64")
        return n % 2**64  # strtoull wraps negative input

    def type_size(self, name: str, value: int = 0) -> int:
        result = _parse_size(self.string)
        if result is None:
            raise _expects(name, "a non-negative number below 2^64")
        if result < 0:
            raise GenericError(f"Value '{self.string}' is out of range for parameter '{name}'")
        return result

    def type_bool(self, name: str, value: bool = False) -> bool:
        if self.string in _TRUE:
            return True
        if self.string in _FALSE:
            return False
        raise _expects(name, "'on' or 'off'")

    def type_str(self, name: str, value: str | None = None) -> str:
        return self.string

    def type_number(self, name: str, value: float = 0.0) -> float:
        try:
            result = float(self.string)
        except ValueError:
            raise _invalid_type(name, "number") from None
        if not math.isfinite(result):
            raise _invalid_type(name, "number")
        return result

    def type_null(self, name: str) -> None:
        if self.string != "":
            raise _invalid_type(name, "null")


class StringOutputVisitor(Visitor):
    """Prints one value as a string (``object_property_print``).

    :param human: HMP's human mode (integers also in hex, strings quoted).
    """

    def __init__(self, human: bool = False) -> None:
        self.human = human
        self.result = ""

    def type_int64(self, name: str, value: int = 0) -> int:
        self.result = f"{value} ({value:#x})" if self.human else str(value)
        return value

    def type_uint64(self, name: str, value: int = 0) -> int:
        self.result = f"{value} ({value:#x})" if self.human else str(value)
        return value

    def type_size(self, name: str, value: int = 0) -> int:
        self.result = str(value)
        return value

    def type_bool(self, name: str, value: bool = False) -> bool:
        self.result = "true" if value else "false"
        return value

    def type_str(self, name: str, value: str | None = None) -> str:
        text = value if value is not None else ""
        self.result = f'"{text}"' if self.human else text
        return text

    def type_number(self, name: str, value: float = 0.0) -> float:
        self.result = f"{value:.17g}"
        return value

    def type_null(self, name: str) -> None:
        self.result = "<null>" if self.human else ""
