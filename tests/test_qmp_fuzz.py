"""Hypothesis fuzzing of QMP: random bytes, random JSON, random well-formed commands.

In-process: every command answers with exactly ``return`` or ``error`` (never an exception), and
after every failed command the universe snapshot is exactly what it was.  Against one
``qomsim serve`` process: every complete message gets exactly one answer, and the server neither
dies nor loses its other clients.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_qmp_server import RawClient, Server

from qom.qmp import COMMANDS, dispatch, execute
from qom.qmp.examples import EXAMPLE_TYPES, register_example_types
from qom.qmp.json import JSONMessageParser
from qom.universe import Universe, use_universe

ERROR_CLASSES = {"GenericError", "DeviceNotFound", "CommandNotFound"}

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)

# names a client might plausibly use: real paths, types, properties and ids, plus noise
PATHS = [
    "/objects/m",
    "/machine/peripheral/d",
    "/",
    "/machine",
    "/machine/peripheral",
    "/objects",
    "sysbus",
    "",
    "/nope",
    "m",
    "d",
]
TYPES = [
    *EXAMPLE_TYPES,
    "object",
    "device",
    "container",
    "user-creatable",
    "interface",
    "singleton",
    "internal",
    "none-machine",
    "nope",
]
PROPS = ["type", "size", "share", "pinned", "level", "label", "realized", "hotpluggable", "parent_bus", "x"]
HMP_LINES = [
    "info qom-tree",
    "info qom-tree /",
    "qom-list /objects",
    "qom-get /machine type",
    "qom-set /objects/m share on",
    "qom-set -j /objects/m size 7",
    "device_add example-device,help",
    "device_add example-device,id=d",
    "device_del d",
    "object_del m",
    "info",
    "bogus",
]
ARG_NAMES = sorted(
    {a.name for c in COMMANDS.values() for a in c.args} | {"qom-type", "driver", "bus", "value", *PROPS}
)


def plausible_value(name: str) -> st.SearchStrategy[Any]:
    domain = {
        "path": st.sampled_from(PATHS),
        "paths": st.lists(st.sampled_from(PATHS), max_size=3),
        "typename": st.sampled_from(TYPES),
        "qom-type": st.sampled_from(TYPES),
        "driver": st.sampled_from(TYPES),
        "implements": st.sampled_from(TYPES),
        "property": st.sampled_from(PROPS),
        "id": st.sampled_from(["m", "d", "s", "1bad", ""]),
        "command-line": st.sampled_from(HMP_LINES) | st.text(max_size=20),
        "enable": st.lists(st.sampled_from(["oob", "x"]), max_size=2),
    }.get(name)
    base = st.integers(-1, 300) | st.booleans() | st.sampled_from(["", "x", "on", "1"])
    # mostly plausible values, sometimes anything
    return st.one_of(domain, domain, domain, json_values) if domain is not None else (base | json_values)


#: well-typed values for the example types' properties (and a few of the device basics)
PROP_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "size": st.integers(0, 1 << 20),
    "share": st.booleans(),
    "pinned": st.booleans(),
    "level": st.integers(0, 300),
    "label": st.text(max_size=5),
    "realized": st.booleans(),
}


def prop_value(name: str) -> st.SearchStrategy[Any]:
    noise = st.integers(-1, 300) | st.booleans() | st.sampled_from(["", "x", "on"])
    typed = PROP_VALUES.get(name)
    return noise if typed is None else st.one_of(typed, typed, typed, noise)


@st.composite
def commands(draw: st.DrawFn) -> tuple[str, dict[str, Any] | None]:
    """Mostly well-formed requests with plausible, often well-typed arguments; some noise."""
    if draw(st.integers(0, 9)) == 0:  # noise: any name, any keys
        name = draw(st.sampled_from(sorted(COMMANDS)) | st.text(max_size=10))
        keys = draw(st.lists(st.sampled_from(ARG_NAMES) | st.text(max_size=6), max_size=5, unique=True))
        return name, {k: draw(plausible_value(k)) for k in keys}
    mutating = st.sampled_from(["object-add", "object-del", "device_add", "qom-set"])
    command = COMMANDS[draw(st.sampled_from(sorted(COMMANDS)) | mutating)]
    arguments: dict[str, Any] = {}
    for arg in command.args:
        if draw(st.integers(0, 9)) < (5 if arg.optional else 9):
            arguments[arg.name] = draw(plausible_value(arg.name))
    if command.name == "qom-set" and isinstance(arguments.get("property"), str) and "value" in arguments:
        arguments["value"] = draw(prop_value(arguments["property"]))
    if command.name in ("object-add", "device_add"):
        head = "qom-type" if command.name == "object-add" else "driver"
        examples = st.sampled_from(EXAMPLE_TYPES)
        arguments[head] = draw(st.one_of(examples, examples, st.sampled_from(TYPES)))
        if draw(st.integers(0, 3)):
            arguments["id"] = draw(st.sampled_from(["m", "d", "s", "n1"]) | plausible_value("id"))
        for prop in draw(st.lists(st.sampled_from(PROPS), max_size=2, unique=True)):
            arguments[prop] = draw(prop_value(prop))
    if draw(st.integers(0, 19)) == 0:
        arguments[draw(st.text(max_size=6))] = draw(json_values)
    return command.name, arguments


def fresh_universe() -> Universe:
    """A -machine none universe with the example types, /objects/m and /machine/peripheral/d."""
    u = Universe(machine="none")
    with use_universe(u):
        register_example_types()
    assert execute("object-add", {"qom-type": "example-memory", "id": "m", "size": 1}, universe=u) == {
        "return": {}
    }
    assert execute("device_add", {"driver": "example-device", "id": "d"}, universe=u) == {"return": {}}
    return u


@settings(max_examples=100, deadline=None)
@given(st.lists(commands(), min_size=1, max_size=10))
def test_in_process_commands_answer_and_failures_change_nothing(program: list[tuple[str, Any]]) -> None:
    u = fresh_universe()
    for name, arguments in program:
        if name == "quit":
            continue
        before = u.snapshot()
        answer = execute(name, arguments, universe=u)
        assert set(answer) in ({"return"}, {"error"}), answer
        if "error" in answer:
            error = answer["error"]
            assert isinstance(error, dict) and set(error) == {"class", "desc"}
            assert error["class"] in ERROR_CLASSES and isinstance(error["desc"], str) and error["desc"]
            after = u.snapshot()
            if name == "device_add":  # QEMU's order: the device may exist (and be finalized) before the error
                after = dataclasses.replace(after, created=before.created, created_total=before.created_total)
            assert after == before, (name, arguments, answer)
        json.dumps(answer)  # every answer can go on the wire


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200), st.lists(json_values, max_size=4))
def test_in_process_stream_answers_every_complete_message(garbage: bytes, values: list[Any]) -> None:
    u = fresh_universe()
    parser = JSONMessageParser(max_token_size=4096, max_nesting=16)
    for message in parser.feed(garbage):
        if message.error is None:
            dispatch(message.value, universe=u)
    # a control character always brings the lexer back to a known state (with one error for it);
    # as in QEMU, the lexer then skips to the next structural or control character, hence the newline
    assert parser.feed(b"\x1b")[-1].error is not None
    assert parser.feed(b"\n") == []
    assert not parser.pending
    messages = []
    for value in values:
        messages += parser.feed(json.dumps(value).encode() + b"\n")
    assert len(messages) == len(values)
    for message, value in zip(messages, values, strict=True):
        answer = dispatch(message.value, universe=u) if message.error is None else None
        if message.error is None:
            assert message.value == value or _has_float_or_bigint(value)
            assert answer is not None and set(answer) <= {"return", "error", "id"}


def _has_float_or_bigint(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        return not -(2**63) <= value < 2**64
    if isinstance(value, list):
        return any(_has_float_or_bigint(v) for v in value)
    if isinstance(value, dict):
        return any(_has_float_or_bigint(v) for v in value.values())
    return False


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[tuple[Server, RawClient, RawClient]]:
    srv = Server("--examples", "--max-message-size", "4096", "--max-nesting", "16")
    fuzzer, bystander = srv.raw().negotiate(), srv.raw().negotiate()
    yield srv, fuzzer, bystander
    fuzzer.close()
    bystander.close()
    assert srv.stop() == 0


def sync(client: RawClient, tag: int) -> None:
    """Resynchronise with a control character, then wait for the answer to a tagged request."""
    client.send(b"\x1b" + json.dumps({"execute": "query-version", "id": tag}).encode() + b"\n")
    while True:
        answer = client.read()
        if answer.get("id") == tag and "return" in answer:
            return


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    garbage=st.binary(max_size=300),
    program=st.lists(commands(), max_size=4),
    values=st.lists(json_values, max_size=3),
)
def test_server_survives_garbage_values_and_commands(
    fuzz_server: tuple[Server, RawClient, RawClient],
    garbage: bytes,
    program: list[tuple[str, Any]],
    values: list[Any],
) -> None:
    srv, fuzzer, bystander = fuzz_server
    fuzzer.send(garbage)
    sync(fuzzer, 1)
    for name, arguments in program:
        if name == "quit":
            continue
        request: dict[str, Any] = {"execute": name, "id": "cmd"}
        if arguments is not None:
            request["arguments"] = arguments
        answer = fuzzer.call(request)
        assert answer["id"] == "cmd" and (set(answer) - {"id"}) in ({"return"}, {"error"}), answer
    for value in values:  # each complete JSON value is one message: exactly one answer, with no id
        fuzzer.send(json.dumps(value).encode() + b"\n")
        answer = fuzzer.read()
        assert set(answer) <= {"return", "error", "id"}
    sync(fuzzer, 2)
    assert bystander.call({"execute": "qom-get", "arguments": {"path": "/machine", "property": "type"}}) == {
        "return": "none-machine"
    }
    assert srv.proc.poll() is None
