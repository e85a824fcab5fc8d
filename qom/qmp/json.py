"""QMP's wire format: QEMU's streaming JSON lexer, message splitter and parser.

QEMU does not read QMP with an ordinary JSON parser.  Its lexer
(``qobject/json-lexer.c``) cuts the byte stream into tokens, a streamer
(``qobject/json-streamer.c``) counts braces and brackets to find where a
message ends, and a recursive-descent parser (``qobject/json-parser.c``)
turns each message's tokens into a value.  Errors are reported per message and
the stream resynchronises, so one bad message never poisons the next.  This
module reproduces that behaviour and its error texts:

>>> p = JSONMessageParser()
>>> for message in p.feed(b'{"execute": "quit"} @ [1,'):
...     print(message)
JSONMessage(value={'execute': 'quit'}, error=None)
JSONMessage(value=None, error="JSON parse error, stray '@'")
>>> p.feed(b' 2]')
[JSONMessage(value=[1, 2], error=None)]

Extensions QEMU accepts and so do we: single-quoted strings and the ``\\'``
escape.  Integers become ``int`` when they fit in int64 or uint64, ``float``
otherwise.
"""

from __future__ import annotations

import enum
import json
import math
import re
import sys
from array import array
from dataclasses import dataclass
from typing import cast

from qom.visitor import JSON

__all__ = [
    "JSON",
    "MAX_NESTING",
    "MAX_TOKEN_COUNT",
    "MAX_TOKEN_SIZE",
    "JSONMessage",
    "JSONMessageParser",
    "encode_reply",
    "parse_json",
]

#: QEMU's limits (``qobject/json-streamer.c``): bytes per message, tokens per message, nesting depth.
MAX_TOKEN_SIZE = 64 << 20
MAX_TOKEN_COUNT = 2 << 20
MAX_NESTING = 1 << 10


class _Tok(enum.Enum):
    LCURLY = "{"
    RCURLY = "}"
    LSQUARE = "["
    RSQUARE = "]"
    COLON = ":"
    COMMA = ","
    INTEGER = "integer"
    FLOAT = "float"
    KEYWORD = "keyword"
    STRING = "string"


class _St(enum.Enum):
    START = enum.auto()
    RECOVERY = enum.auto()
    DQ = enum.auto()
    DQ_ESC = enum.auto()
    SQ = enum.auto()
    SQ_ESC = enum.auto()
    ZERO = enum.auto()
    SIGN = enum.auto()
    DIGITS = enum.auto()
    MANTISSA = enum.auto()
    MANTISSA_DIGITS = enum.auto()
    EXP_E = enum.auto()
    EXP_SIGN = enum.auto()
    EXP_DIGITS = enum.auto()
    KEYWORD = enum.auto()


_STRUCTURAL = {
    ord("{"): _Tok.LCURLY,
    ord("}"): _Tok.RCURLY,
    ord("["): _Tok.LSQUARE,
    ord("]"): _Tok.RSQUARE,
    ord(":"): _Tok.COLON,
    ord(","): _Tok.COMMA,
}
_WS = frozenset(b" \t\r\n")
_DIGITS = frozenset(b"0123456789")
_LOWER = frozenset(b"abcdefghijklmnopqrstuvwxyz")
#: states whose token ends (without consuming) at the first byte that does not continue it
_TERMINAL = {
    _St.ZERO: _Tok.INTEGER,
    _St.DIGITS: _Tok.INTEGER,
    _St.MANTISSA_DIGITS: _Tok.FLOAT,
    _St.EXP_DIGITS: _Tok.FLOAT,
    _St.KEYWORD: _Tok.KEYWORD,
}


# fast paths over the byte machine (see JSONMessageParser._fast)
_FAST_TOKEN = re.compile(
    rb"(?P<ws>[ \t\r\n]+)"
    rb"|(?P<st>[{}\[\]:,])"
    rb'|(?P<str>"[\x20\x21\x23-\x5b\x5d-\xfd]*(?:\\[\x20-\xfd][\x20\x21\x23-\x5b\x5d-\xfd]*)*"'
    rb"|'[\x20-\x26\x28-\x5b\x5d-\xfd]*(?:\\[\x20-\xfd][\x20-\x26\x28-\x5b\x5d-\xfd]*)*')"
    rb"|(?P<num>-?(?:0(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?)?|[1-9][0-9]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?))"
    rb"|(?P<kw>[a-z]+)"
)
#: bytes that end a number or keyword token without being an error of their own
_TOKEN_END = frozenset(b" \t\r\n{}[]:,")
_RECOVERY_SKIP = re.compile(rb"[\x09\x20-\x2b\x2d-\x39\x3b-\x5a\x5c\x5e-\x7a\x7c\x7e-\xfd]*")
_DQ_RUN = re.compile(rb"[\x20\x21\x23-\x5b\x5d-\xfd]+")
_SQ_RUN = re.compile(rb"[\x20-\x26\x28-\x5b\x5d-\xfd]+")


@dataclass(frozen=True)
class JSONMessage:
    """One complete message from the stream: a value, or the error QEMU reports for it."""

    value: JSON
    error: str | None


#: every token kind, by the code a message's token list stores
_KINDS = tuple(_Tok)
_CODE = {kind: code for code, kind in enumerate(_KINDS)}
#: what one token costs in :class:`_Tokens` besides its text: its kind (1 byte) and end offset (8)
_TOKEN_OVERHEAD = 9


#: a token text at least this long is kept in its own buffer (handed over, never copied)
_OWN_BUFFER = 4096


class _Tokens:
    """One message's tokens, packed: kinds in a byte string, short texts end to end in one buffer.

    A token as an object costs some 200 bytes (QEMU's 2 Mi tokens would be 400 MB); packed, it costs
    :data:`_TOKEN_OVERHEAD` bytes plus its text.  A long text (a 60 MB string) keeps its own buffer.
    """

    __slots__ = ("big", "big_size", "ends", "kinds", "texts")

    def __init__(self) -> None:
        self.kinds = bytearray()
        self.texts = bytearray()
        self.ends = array("Q")
        self.big: dict[int, bytearray] = {}
        self.big_size = 0

    def __len__(self) -> int:
        return len(self.kinds)

    def append(self, kind: _Tok, text: bytearray) -> None:
        if len(text) >= _OWN_BUFFER:
            self.big[len(self.kinds)] = text
            self.big_size += len(text)
        elif kind in (_Tok.STRING, _Tok.INTEGER, _Tok.FLOAT, _Tok.KEYWORD):
            self.texts += text
        self.kinds.append(_CODE[kind])
        self.ends.append(len(self.texts))

    def text(self, i: int) -> bytes | bytearray:
        """:return: the text of token ``i``."""
        big = self.big.get(i)
        if big is not None:
            return big
        return bytes(self.texts[self.ends[i - 1] if i else 0:self.ends[i]])

    @property
    def size(self) -> int:
        """:return: the bytes the packed tokens hold."""
        return len(self.texts) + self.big_size + _TOKEN_OVERHEAD * len(self.kinds)


class _ParseError(Exception):
    pass


class JSONMessageParser:
    """Incremental splitter and parser; one instance per connection.

    :param max_token_size: byte cap of one message (QEMU: 64 MiB).
    :param max_nesting: cap on open braces plus brackets (QEMU: 1024).
    :param max_token_count: cap on tokens per message (QEMU: 2 Mi).
    """

    def __init__(
        self,
        *,
        max_token_size: int = MAX_TOKEN_SIZE,
        max_nesting: int = MAX_NESTING,
        max_token_count: int = MAX_TOKEN_COUNT,
    ) -> None:
        self.max_token_size = max_token_size
        self.max_nesting = max_nesting
        self.max_token_count = max_token_count
        self._state = _St.START
        self._text = bytearray()
        self._tokens = _Tokens()
        self._braces = 0
        self._brackets = 0
        self._size = 0
        self._out: list[JSONMessage] = []

    @property
    def buffered(self) -> int:
        """Bytes the unfinished message holds so far, its tokens counted at what they cost (what a server
        counts against its memory budget)."""
        return self._tokens.size + len(self._text)

    @property
    def pending(self) -> bool:
        """True while a message has started but not yet ended."""
        return bool(self._tokens) or self._state not in (_St.START, _St.RECOVERY)

    def feed(self, data: bytes) -> list[JSONMessage]:
        """Feed bytes; return the messages they complete, in order.

        :param data: the next bytes of the stream.
        :return: the complete messages (values or errors).
        """
        i, n = 0, len(data)
        while i < n:
            i = self._fast(data, i)
            if i < n:
                self._feed_byte(data[i])
                i += 1
        out, self._out = self._out, []
        return out

    def _fast(self, data: bytes, i: int) -> int:
        """Consume whole tokens and runs at once where the byte machine would do the same.

        Only complete tokens that end inside ``data`` (with the byte after them present when a
        token needs lookahead) are taken here; anything else, including every error, goes
        through :meth:`_feed_byte`, so the result never depends on how the stream is cut.
        """
        n = len(data)
        while i < n:
            st = self._state
            if st is _St.START:
                m = _FAST_TOKEN.match(data, i)
                if m is None:
                    return i
                end = m.end()
                kind = m.lastgroup
                if kind == "ws":
                    i = end
                    continue
                if kind in ("num", "kw") and (end >= n or data[end] not in _TOKEN_END):
                    return i  # no lookahead byte yet, or an error the byte machine reports
                if end - i > self.max_token_size:
                    return i
                self._text[:] = data[i:end]
                if kind == "str":
                    self._emit_token(_Tok.STRING)
                elif kind == "num":
                    text = data[i:end]
                    self._emit_token(_Tok.FLOAT if any(c in text for c in b".eE") else _Tok.INTEGER)
                elif kind == "kw":
                    self._emit_token(_Tok.KEYWORD)
                else:
                    self._emit_token(_STRUCTURAL[data[i]])
                i = end
            elif st is _St.RECOVERY:
                m = _RECOVERY_SKIP.match(data, i)
                return m.end() if m is not None else i
            elif st in (_St.DQ, _St.SQ):
                m = (_DQ_RUN if st is _St.DQ else _SQ_RUN).match(data, i)
                end = m.end() if m is not None else i
                if end == i or len(self._text) + (end - i) > self.max_token_size:
                    return i
                self._text += data[i:end]
                i = end
                return i
            else:
                return i
        return i

    # -- lexer -----------------------------------------------------------------------------------------

    def _feed_byte(self, b: int) -> None:
        consumed = False
        while not consumed:
            st = self._state
            nxt: _St | _Tok | None  # None: lexical error
            consumed = True
            if st is _St.START:
                if b in _WS:
                    continue
                if b in _STRUCTURAL:
                    nxt = _STRUCTURAL[b]
                elif b == 0x22:
                    nxt = _St.DQ
                elif b == 0x27:
                    nxt = _St.SQ
                elif b == 0x30:
                    nxt = _St.ZERO
                elif b in _DIGITS:
                    nxt = _St.DIGITS
                elif b == 0x2D:
                    nxt = _St.SIGN
                elif b in _LOWER:
                    nxt = _St.KEYWORD
                else:
                    nxt = None
            elif st is _St.RECOVERY:
                # skip to a structural character, a control character other than TAB, or 0xFE/0xFF
                if (b < 0x20 and b != 0x09) or b >= 0xFE or b in _STRUCTURAL:
                    self._state = _St.START
                    consumed = False
                continue
            elif st in (_St.DQ, _St.SQ):
                quote = 0x22 if st is _St.DQ else 0x27
                if 0x20 <= b <= 0xFD:
                    if b == 0x5C:
                        nxt = _St.DQ_ESC if st is _St.DQ else _St.SQ_ESC
                    elif b == quote:
                        nxt = _Tok.STRING
                    else:
                        nxt = st
                else:
                    nxt = None
            elif st in (_St.DQ_ESC, _St.SQ_ESC):
                nxt = (_St.DQ if st is _St.DQ_ESC else _St.SQ) if 0x20 <= b <= 0xFD else None
            elif st is _St.SIGN:
                nxt = _St.ZERO if b == 0x30 else _St.DIGITS if b in _DIGITS else None
            elif st in (_St.MANTISSA, _St.EXP_SIGN):
                digits = _St.MANTISSA_DIGITS if st is _St.MANTISSA else _St.EXP_DIGITS
                nxt = digits if b in _DIGITS else None
            elif st is _St.EXP_E:
                nxt = _St.EXP_SIGN if b in (0x2B, 0x2D) else _St.EXP_DIGITS if b in _DIGITS else None
            else:  # ZERO, DIGITS, MANTISSA_DIGITS, EXP_DIGITS, KEYWORD
                nxt = self._continue_terminal(st, b)
                if nxt is _TERMINAL[st]:
                    consumed = False  # lookahead: the byte starts the next token
                    self._emit_token(_TERMINAL[st])
                    self._state = _St.START
                    continue
            if nxt is None:
                self._text.append(b)
                self._lex_error()
            elif isinstance(nxt, _Tok):
                self._text.append(b)
                self._emit_token(nxt)
                self._state = _St.START
            else:
                self._text.append(b)
                self._state = nxt
                if len(self._text) > self.max_token_size:
                    self._text.clear()
                    self._state = _St.START
                    self._message_error("JSON token size limit exceeded")

    @staticmethod
    def _continue_terminal(st: _St, b: int) -> _St | _Tok | None:
        if st is _St.KEYWORD:
            return _St.KEYWORD if b in _LOWER else _Tok.KEYWORD
        if st is _St.ZERO:
            if b in _DIGITS:
                return None
            return _St.MANTISSA if b == 0x2E else _Tok.INTEGER
        if st is _St.DIGITS:
            if b in _DIGITS:
                return _St.DIGITS
            if b in (0x65, 0x45):
                return _St.EXP_E
            return _St.MANTISSA if b == 0x2E else _Tok.INTEGER
        if st is _St.MANTISSA_DIGITS:
            if b in _DIGITS:
                return _St.MANTISSA_DIGITS
            return _St.EXP_E if b in (0x65, 0x45) else _Tok.FLOAT
        return _St.EXP_DIGITS if b in _DIGITS else _Tok.FLOAT

    def _lex_error(self) -> None:
        stray = self._text.decode("utf-8", "replace")
        self._text.clear()
        self._state = _St.RECOVERY
        self._message_error(f"JSON parse error, stray '{stray}'")

    # -- streamer --------------------------------------------------------------------------------------

    def _emit_token(self, kind: _Tok) -> None:
        # hand the buffer over instead of copying it: a 60 MB string token is held once, not twice
        text = self._text
        self._text = bytearray()
        if kind is _Tok.LCURLY:
            self._braces += 1
        elif kind is _Tok.RCURLY:
            self._braces -= 1
        elif kind is _Tok.LSQUARE:
            self._brackets += 1
        elif kind is _Tok.RSQUARE:
            self._brackets -= 1
        if self._size + len(text) + 1 > self.max_token_size:
            self._message_error("JSON token size limit exceeded")
            return
        if len(self._tokens) + 1 > self.max_token_count:
            self._message_error("JSON token count limit exceeded")
            return
        if self._braces + self._brackets > self.max_nesting:
            self._message_error("JSON nesting depth limit exceeded")
            return
        self._tokens.append(kind, text)
        self._size += len(text)
        if (self._braces > 0 or self._brackets > 0) and self._braces >= 0 and self._brackets >= 0:
            return
        tokens = self._tokens
        self._reset()
        try:
            value = _Parser(tokens).parse()
        except _ParseError as exc:
            self._out.append(JSONMessage(None, f"JSON parse error, {exc}"))
        else:
            self._out.append(JSONMessage(value, None))

    def _message_error(self, message: str) -> None:
        self._reset()
        self._out.append(JSONMessage(None, message))

    def _reset(self) -> None:
        self._braces = self._brackets = 0
        self._tokens = _Tokens()
        self._size = 0


@dataclass
class _Frame:
    container: list[JSON] | dict[str, JSON]
    key: str | None = None


_MORE = _Frame([])  # sentinel: the innermost container wants another value


class _Parser:
    """QEMU's recursive-descent grammar, run on an explicit stack (QMP allows 1024 levels).

    The first error wins, as in ``json-parser.c``.
    """

    def __init__(self, tokens: _Tokens) -> None:
        self.tokens = tokens
        self.kinds = tokens.kinds
        self.pos = 0

    def parse(self) -> JSON:
        stack: list[_Frame] = []
        while True:
            item = self._begin(stack)
            while item is not _MORE:
                if not stack:
                    return cast(JSON, item)
                item = self._attach(stack, cast(JSON, item))

    def peek(self) -> _Tok | None:
        return _KINDS[self.kinds[self.pos]] if self.pos < len(self.kinds) else None

    def pop(self) -> _Tok:
        """:return: the next token's kind (its text is :meth:`text` until the next pop)."""
        tok = self.peek()
        if tok is None:
            raise _ParseError("premature EOI")
        self.pos += 1
        return tok

    def text(self) -> bytes | bytearray:
        """:return: the text of the token popped last."""
        return self.tokens.text(self.pos - 1)

    def _begin(self, stack: list[_Frame]) -> JSON | _Frame:
        tok = self.pop()
        if tok in (_Tok.LCURLY, _Tok.LSQUARE):
            is_dict = tok is _Tok.LCURLY
            nxt = self.peek()
            if nxt is None:
                raise _ParseError("premature EOI")
            if nxt is (_Tok.RCURLY if is_dict else _Tok.RSQUARE):
                self.pos += 1
                return {} if is_dict else []
            stack.append(_Frame({} if is_dict else []))
            return _MORE
        if tok is _Tok.KEYWORD:
            word = str(self.text(), "ascii")
            if word == "true":
                return True
            if word == "false":
                return False
            if word == "null":
                return None
            raise _ParseError(f"invalid keyword '{word}'")
        if tok is _Tok.STRING:
            return _parse_string(self.text())
        if tok in (_Tok.INTEGER, _Tok.FLOAT):
            return _parse_number(tok, self.text())
        raise _ParseError("expecting value")

    def _attach(self, stack: list[_Frame], value: JSON) -> JSON | _Frame:
        frame = stack[-1]
        container = frame.container
        if isinstance(container, dict):
            if frame.key is None:  # that value was a key
                if not isinstance(value, str):
                    raise _ParseError("key is not a string in object")
                if self.pop() is not _Tok.COLON:
                    raise _ParseError("missing : in object pair")
                frame.key = value
                return _MORE
            if frame.key in container:
                raise _ParseError("duplicate key")
            container[frame.key] = value
            frame.key = None
            closer, separator = _Tok.RCURLY, "expected separator in dict"
        else:
            container.append(value)
            closer, separator = _Tok.RSQUARE, "expected separator in list"
        tok = self.pop()
        if tok is closer:
            stack.pop()
            return container
        if tok is not _Tok.COMMA:
            raise _ParseError(separator)
        return _MORE


_ESCAPES = {ord('"'): '"', ord("'"): "'", ord("\\"): "\\", ord("/"): "/", ord("b"): "\b",
            ord("f"): "\f", ord("n"): "\n", ord("r"): "\r", ord("t"): "\t"}
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _hex4(raw: bytes | bytearray, i: int, end: int | None = None) -> int:
    chunk = raw[i : min(i + 4, len(raw) if end is None else end)]
    if len(chunk) != 4 or any(c not in _HEX for c in chunk):
        return -1
    return int(chunk, 16)


def _valid_codepoint(cp: int) -> bool:
    # QEMU's is_valid_codepoint() (util/unicode.c): no surrogates, no noncharacters
    if cp < 0 or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        return False
    return not ((cp & 0xFFFE) == 0xFFFE or 0xFDD0 <= cp <= 0xFDEF)


def _decode(segment: bytes | memoryview) -> str:
    try:
        return str(segment, "utf-8")
    except UnicodeDecodeError:
        raise _ParseError("invalid UTF-8 sequence in string") from None


def _parse_string(raw: bytes | bytearray) -> str:
    # the lexer guarantees the quotes and that every backslash has a successor; the body is read in
    # place (a memoryview, offsets into ``raw``): a 60 MB string is not copied twice more on the way
    view = memoryview(raw)
    end = len(raw) - 1
    out: list[str] = []
    i = 1
    while True:
        j = raw.find(b"\\", i, end)
        if j < 0:
            out.append(_decode(view[i:end]))
            return "".join(out)
        out.append(_decode(view[i:j]))
        esc = raw[j + 1]
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i = j + 2
            continue
        if esc != ord("u"):
            raise _ParseError("invalid escape sequence in string")
        cp = _hex4(raw, j + 2, end)
        i = j + 6
        if 0xD800 <= cp <= 0xDBFF and raw[i : min(i + 2, end)] == b"\\u":
            trailing = _hex4(raw, i + 2, end)
            if 0xDC00 <= trailing <= 0xDFFF:
                cp = 0x10000 + ((cp & 0x3FF) << 10) + (trailing & 0x3FF)
                i += 6
            else:
                cp = -1
        if not _valid_codepoint(cp):
            shown = raw[j : min(i, end)].decode("utf-8", "replace")
            raise _ParseError(f"{shown} is not a valid Unicode character")
        out.append(chr(cp))


def _parse_number(kind: _Tok, raw: bytes | bytearray) -> JSON:
    text = str(raw, "ascii")
    # QEMU (qobject/json-parser.c:parse_literal) keeps an integer that fits int64 or uint64 and reads
    # anything else as a double (strtod: huge values become infinity).  More than 20 digits never fits,
    # and float() has no digit limit, unlike int() (Python refuses more than 4,300 digits).
    if kind is _Tok.INTEGER and len(text.lstrip("-")) <= 20:
        value = int(text)
        if -(1 << 63) <= value < (1 << 64):
            return value
    return float(text)


def _finite(value: JSON) -> JSON:
    """``value`` with every non-finite float replaced (see :func:`encode_reply`)."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return math.copysign(sys.float_info.max, value)
        return value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def encode_reply(message: JSON) -> bytes:
    """Encode one reply or event as the server writes it (without the line end).

    QEMU prints an infinite double as the bare word ``inf`` (``-inf``), which is not JSON: a request whose
    ``id`` is ``1e400`` or a 4,301-digit integer is echoed as ``"id": inf``.  qomsim answers the same
    command but always with valid JSON: an infinity becomes the largest finite double with its sign
    (``1.7976931348623157e+308``), a NaN ``null`` (docs/known-differences.md).

    :param message: the reply.
    :return: its UTF-8 JSON text.
    """
    try:
        text = json.dumps(message, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(message), allow_nan=False)
    return text.encode("utf-8")


def parse_json(text: str) -> JSON:
    """Parse exactly one JSON value as QEMU's ``qobject_from_json`` does (HMP ``qom-set -j``).

    :param text: the text.
    :return: the value.
    :raise ValueError: when the text is not one valid value (the message is QEMU's).
    """
    parser = JSONMessageParser()
    messages = parser.feed(text.encode("utf-8"))
    messages += parser.feed(b"\n")
    if parser.pending:
        raise ValueError("JSON parse error, premature EOI")
    if not messages:
        raise ValueError("JSON parse error, expecting value")
    first = messages[0]
    if first.error is not None:
        raise ValueError(first.error)
    if len(messages) > 1:
        raise ValueError("JSON parse error, expecting value")
    return first.value
