"""QMP's wire format: QEMU's JSON lexer, streamer and parser (qom/qmp/json.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qom.qmp.json import JSONMessage, JSONMessageParser, parse_json


def feed(*chunks: bytes, **limits: int) -> list[JSONMessage]:
    parser = JSONMessageParser(**limits)
    out: list[JSONMessage] = []
    for chunk in chunks:
        out += parser.feed(chunk)
    return out


def ok(value: object) -> JSONMessage:
    return JSONMessage(value, None)  # type: ignore[arg-type]


def err(text: str) -> JSONMessage:
    return JSONMessage(None, text)


def test_messages_split_on_balanced_braces_not_on_lines() -> None:
    assert feed(b'{"execute": "qom-list", "arguments": {"path": "/"}}{"a":1}') == [
        ok({"execute": "qom-list", "arguments": {"path": "/"}}),
        ok({"a": 1}),
    ]


def test_a_message_may_arrive_one_byte_at_a_time() -> None:
    data = b'{"execute": "x", "id": [1, 2.5, true, false, null]}'
    assert feed(*(bytes([b]) for b in data)) == [ok({"execute": "x", "id": [1, 2.5, True, False, None]})]


def test_scalars_at_top_level_are_messages_of_their_own() -> None:
    assert feed(b'1 "s" true ') == [ok(1), ok("s"), ok(True)]


def test_single_quoted_strings_and_escapes() -> None:
    assert feed(b"{'a': 'it\\'s \"x\"', 'b': \"\\u00e9\\n\\/\"}") == [ok({"a": 'it\'s "x"', "b": "é\n/"})]


def test_surrogate_pair_decodes_to_one_character() -> None:
    assert feed(b'"\\ud83d\\ude00"') == [ok("\U0001f600")]


def test_integers_beyond_int64_become_uint64_then_float() -> None:
    data = b"[9223372036854775807, 18446744073709551615, 18446744073709551616, -9223372036854775809]"
    expected = [9223372036854775807, 18446744073709551615, 1.8446744073709552e19, -9.223372036854776e18]
    assert feed(data) == [ok(expected)]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"}", "JSON parse error, expecting value"),
        (b"[1,,2]", "JSON parse error, expecting value"),
        (b"{1: 2}", "JSON parse error, key is not a string in object"),
        (b'{"a" 1}', "JSON parse error, missing : in object pair"),
        (b'{"a": 1 "b": 2}', "JSON parse error, expected separator in dict"),
        (b"[1 2]", "JSON parse error, expected separator in list"),
        (b'{"a": 1, "a": 2}', "JSON parse error, duplicate key"),
        (b"nul ", "JSON parse error, invalid keyword 'nul'"),
        (b'"\\x"', "JSON parse error, invalid escape sequence in string"),
        (b'"\\ud800"', "JSON parse error, \\ud800 is not a valid Unicode character"),
        (b'"\\uffff"', "JSON parse error, \\uffff is not a valid Unicode character"),
        (b'"\xc3\x28"', "JSON parse error, invalid UTF-8 sequence in string"),
        (b"@", "JSON parse error, stray '@'"),
        (b"01", "JSON parse error, stray '01'"),
        (b'"a\nb"', "JSON parse error, stray '\"a\n'"),
    ],
)
def test_parse_errors_have_qemus_texts(data: bytes, error: str) -> None:
    assert feed(data)[0] == err(error)


def test_a_stray_byte_is_skipped_until_a_structural_character() -> None:
    # after the error the lexer drops "xyz" and resynchronises at "{"
    assert feed(b'@xyz{"a": 1}') == [err("JSON parse error, stray '@'"), ok({"a": 1})]


def test_a_control_character_resets_a_half_sent_message_only_after_an_error() -> None:
    # a lone newline inside a message is whitespace; 0xff forces an error, then the next message parses
    assert feed(b'{"a":\n', b"\xff", b'{"b": 2}') == [err("JSON parse error, stray '\ufffd'"), ok({"b": 2})]


def test_nesting_cap() -> None:
    out = feed(b"[[[[1]]]]", max_nesting=3)
    assert out[0] == err("JSON nesting depth limit exceeded")
    # as in QEMU, the remainder of the message is lexed afresh (1, then four stray closers)
    assert out[1:] == [ok(1)] + [err("JSON parse error, expecting value")] * 4


def test_default_nesting_cap_is_qemus_1024() -> None:
    (msg,) = feed(b"[" * 1024 + b"]" * 1024)
    assert msg.error is None
    depth, value = 0, msg.value
    while isinstance(value, list):  # walk it: comparing 1024 levels would hit Python's recursion limit
        depth += 1
        value = value[0] if value else None
    assert depth == 1024
    assert feed(b"[" * 1025)[0] == err("JSON nesting depth limit exceeded")


def test_size_cap_counts_the_whole_message() -> None:
    assert feed(b'["aaaa", "bbbb", "cccc"]', max_token_size=16)[0] == err("JSON token size limit exceeded")
    assert feed(b'["aaaa", "bbbb"]', max_token_size=32) == [ok(["aaaa", "bbbb"])]


def test_size_cap_stops_one_endless_token() -> None:
    parser = JSONMessageParser(max_token_size=64)
    out = parser.feed(b'"' + b"a" * 100)
    assert out[0] == err("JSON token size limit exceeded")


def test_token_count_cap() -> None:
    assert feed(b"[1,2,3,4]", max_token_count=5)[0] == err("JSON token count limit exceeded")


def test_pending_tracks_an_unfinished_message() -> None:
    parser = JSONMessageParser()
    assert not parser.pending
    assert parser.feed(b'{"a": ') == []
    assert parser.pending
    assert parser.feed(b"1}") == [ok({"a": 1})]
    assert not parser.pending


def test_parse_json_for_hmp() -> None:
    assert parse_json(' {"a": [1, "x"]} ') == {"a": [1, "x"]}
    for text, message in [
        ("}", "JSON parse error, expecting value"),
        ("[1", "JSON parse error, premature EOI"),
        ("1 2", "JSON parse error, expecting value"),
        ("yes", "JSON parse error, invalid keyword 'yes'"),
    ]:
        with pytest.raises(ValueError, match="^" + message.replace("[", r"\[") + "$"):
            parse_json(text)


PIECES = [
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b'"',
    b"'",
    b"\\",
    b"\\u00e9",
    b"a",
    b"true",
    b"nul",
    b"1",
    b"0",
    b"-",
    b".",
    b"e",
    b"+",
    b" ",
    b"\n",
    b"\t",
    b"\x1b",
    b"\xff",
    b"\xc3\xa9",
    b"\xc3",
    b"00",
    b"12.5e-3",
]
streams = st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join) | st.binary(max_size=60)


def bytewise(data: bytes, **limits: int) -> list[JSONMessage]:
    parser = JSONMessageParser(**limits)
    out: list[JSONMessage] = []
    for i in range(len(data)):
        out += parser.feed(data[i : i + 1])
    return out


@settings(max_examples=300, deadline=None)
@given(streams, st.lists(st.integers(0, 60), max_size=4))
def test_fast_paths_agree_with_the_byte_machine(data: bytes, cuts: list[int]) -> None:
    # whole tokens are lexed at once when they fit in a chunk; cutting the stream anywhere must not matter
    expected = bytewise(data, max_token_size=24, max_nesting=4)
    parser = JSONMessageParser(max_token_size=24, max_nesting=4)
    got: list[JSONMessage] = []
    start = 0
    for cut in [*sorted({min(c, len(data)) for c in cuts}), len(data)]:
        got += parser.feed(data[start:cut])
        start = cut
    assert got == expected
    assert feed(data, max_token_size=24, max_nesting=4) == expected


def test_a_megabyte_string_is_quick() -> None:
    (msg,) = feed(b'{"v": "' + b"a" * (1 << 20) + b'"}')
    assert msg.value == {"v": "a" * (1 << 20)}


def test_a_leading_zero_takes_no_exponent() -> None:
    """QEMU's lexer (``qobject/json-lexer.c``, state IN_ZERO) allows only ``.`` after a leading ``0``:
    QEMU 7.2.22 answers ``{"id":0e1}`` with "expected separator in dict" and ``0.5e1`` with 5.0.
    Hypothesis found the whole-token fast path reading ``0e1`` as a float."""
    assert feed(b'{"id":0e1}') == [JSONMessage(None, "JSON parse error, expected separator in dict")]
    assert feed(b'{"id":0.5e1}') == [JSONMessage({"id": 5.0}, None)]
