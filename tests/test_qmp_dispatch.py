"""QMP dispatch in-process: request checks, QAPI argument checks, negotiation, ids (qom/qmp/dispatch.py).

Texts from qapi/qmp-dispatch.c, monitor/qmp.c, monitor/qmp-cmds-control.c and
qapi/qobject-input-visitor.c; the differential test compares them with a real QEMU.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qom.qmp import COMMANDS, DEFAULT_VERSION, dispatch, execute, greeting
from qom.qmp.schema import QMPSession, SessionState, VersionInfo
from qom.universe import Universe


@pytest.fixture
def universe() -> Iterator[Universe]:
    yield Universe(machine="none")


def generic(desc: str) -> dict[str, object]:
    return {"error": {"class": "GenericError", "desc": desc}}


def test_command_table_lists_every_command_once() -> None:
    assert sorted(COMMANDS) == sorted(
        [
            "qmp_capabilities",
            "query-version",
            "query-commands",
            "quit",
            "qom-list",
            "qom-get",
            "qom-set",
            "qom-list-get",
            "qom-list-types",
            "qom-list-properties",
            "device-list-properties",
            "object-add",
            "object-del",
            "device_add",
            "device_del",
            "human-monitor-command",
        ]
    )


@pytest.mark.parametrize(
    ("request_", "desc"),
    [
        ([], "QMP input must be a JSON object"),
        (1, "QMP input must be a JSON object"),
        ({"arguments": {}}, "QMP input lacks member 'execute'"),
        ({"execute": 1}, "QMP input member 'execute' must be a string"),
        ({"execute": "qom-list", "arguments": []}, "QMP input member 'arguments' must be an object"),
        ({"execute": "qom-list", "foo": 1}, "QMP input member 'foo' is unexpected"),
        ({"execute": "qom-list", "exec-oob": "qom-list"}, "QMP input member 'exec-oob' is unexpected"),
    ],
)
def test_malformed_requests(universe: Universe, request_: object, desc: str) -> None:
    before = universe.snapshot()
    assert dispatch(request_, universe=universe) == generic(desc)
    assert universe.snapshot() == before


def test_unknown_command_is_command_not_found(universe: Universe) -> None:
    assert execute("nope", universe=universe) == {
        "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}
    }


def test_id_is_echoed_on_success_and_error_but_not_invented(universe: Universe) -> None:
    assert dispatch({"execute": "query-version", "id": {"x": [1]}}, universe=universe)["id"] == {"x": [1]}
    assert dispatch({"execute": "nope", "id": "a"}, universe=universe) == {
        "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"},
        "id": "a",
    }
    assert dispatch({"execute": "nope", "id": None}, universe=universe)["id"] is None
    assert "id" not in dispatch({"execute": "query-version"}, universe=universe)
    assert dispatch({"id": 7}, universe=universe) == {**generic("QMP input lacks member 'execute'"), "id": 7}


@pytest.mark.parametrize(
    ("command", "arguments", "desc"),
    [
        ("qom-list", {}, "Parameter 'path' is missing"),
        ("qom-list", {"path": 1}, "Invalid parameter type for 'path', expected: string"),
        ("qom-list", {"path": None}, "Invalid parameter type for 'path', expected: string"),
        ("qom-list", {"path": "/", "x": 1}, "Parameter 'x' is unexpected"),
        ("qom-get", {"path": "/"}, "Parameter 'property' is missing"),
        ("qom-set", {"path": "/", "property": "type"}, "Parameter 'value' is missing"),
        ("qom-list-get", {"paths": "/"}, "Invalid parameter type for 'paths', expected: array"),
        ("qom-list-get", {"paths": ["/", 2]}, "Invalid parameter type for 'paths[1]', expected: string"),
        ("qom-list-types", {"abstract": "yes"}, "Invalid parameter type for 'abstract', expected: boolean"),
        ("qom-list-types", {"abstract": 1}, "Invalid parameter type for 'abstract', expected: boolean"),
        ("qom-list-types", {"implements": True}, "Invalid parameter type for 'implements', expected: string"),
        ("qom-list-properties", {}, "Parameter 'typename' is missing"),
        (
            "device-list-properties",
            {"typename": []},
            "Invalid parameter type for 'typename', expected: string",
        ),
        ("object-add", {"id": "a"}, "Parameter 'qom-type' is missing"),
        ("object-del", {"ida": "zz"}, "Parameter 'id' is missing"),
        ("device_del", {}, "Parameter 'id' is missing"),
        ("human-monitor-command", {}, "Parameter 'command-line' is missing"),
        (
            "human-monitor-command",
            {"command-line": "qom-list", "cpu-index": True},
            "Invalid parameter type for 'cpu-index', expected: integer",
        ),
        (
            "human-monitor-command",
            {"command-line": "qom-list", "cpu-index": 1.5},
            "Invalid parameter type for 'cpu-index', expected: integer",
        ),
        ("query-version", {"x": 1}, "Parameter 'x' is unexpected"),
        ("quit", {"now": True}, "Parameter 'now' is unexpected"),
        ("qmp_capabilities", {"enable": "oob"}, "Invalid parameter type for 'enable', expected: array"),
        ("qmp_capabilities", {"enable": ["foo"]}, "Parameter 'null' does not accept value 'foo'"),
        ("qmp_capabilities", {"enable": [1]}, "Invalid parameter type for 'enable[0]', expected: string"),
    ],
)
def test_argument_checks(universe: Universe, command: str, arguments: dict[str, object], desc: str) -> None:
    before = universe.snapshot()
    assert execute(command, arguments, universe=universe) == generic(desc)
    assert universe.snapshot() == before


def test_in_process_arguments_that_are_not_json(universe: Universe) -> None:
    args = {"path": "/", "property": "type", "value": (1, 2)}
    desc = "Invalid parameter type for 'value', expected: any"
    assert execute("qom-set", args, universe=universe) == generic(desc)
    # dispatch() takes whatever a decoder produced; a dict with a non-string key is not a JSON object
    assert dispatch({"execute": "qom-list", "arguments": {1: "x"}}, universe=universe) == generic(
        "QMP input member 'arguments' must be an object"
    )


def test_execute_defaults_to_the_current_universe() -> None:
    from qom.universe import use_universe

    u = Universe(machine="none")
    with use_universe(u):
        assert execute("qom-get", {"path": "/machine", "property": "type"}) == {"return": "none-machine"}


def state_of(session: QMPSession) -> SessionState:
    return session.state  # read through a call, so mypy does not keep an earlier narrowing


def test_negotiation_per_session(universe: Universe) -> None:
    session = QMPSession()
    assert session.state is SessionState.NEGOTIATION
    not_yet = {
        "error": {
            "class": "CommandNotFound",
            "desc": "Expecting capabilities negotiation with 'qmp_capabilities'",
        }
    }
    assert dispatch({"execute": "query-version"}, universe=universe, session=session) == not_yet
    assert dispatch({"execute": "nope"}, universe=universe, session=session) == not_yet
    # errors other than CommandNotFound keep their text before negotiation
    assert dispatch(
        {"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}, universe=universe, session=session
    ) == generic("Capability oob not available")
    assert dispatch(
        {"execute": "qmp_capabilities", "arguments": {"x": 1}}, universe=universe, session=session
    ) == generic("Parameter 'x' is unexpected")
    assert session.state is SessionState.NEGOTIATION
    assert dispatch(
        {"execute": "qmp_capabilities", "arguments": {"enable": []}, "id": 1},
        universe=universe,
        session=session,
    ) == {"return": {}, "id": 1}
    assert state_of(session) is SessionState.COMMAND
    assert dispatch({"execute": "qmp_capabilities"}, universe=universe, session=session) == {
        "error": {
            "class": "CommandNotFound",
            "desc": "Capabilities negotiation is already complete, command ignored",
        }
    }


def test_in_process_execute_is_already_negotiated(universe: Universe) -> None:
    assert execute("qmp_capabilities", universe=universe) == {
        "error": {
            "class": "CommandNotFound",
            "desc": "Capabilities negotiation is already complete, command ignored",
        }
    }


def test_query_version_and_greeting(universe: Universe) -> None:
    expected = {"qemu": {"micro": 50, "minor": 2, "major": 10}, "package": "qomsim"}
    assert VersionInfo(10, 2, 50, "qomsim") == DEFAULT_VERSION
    assert execute("query-version", universe=universe) == {"return": expected}
    assert greeting(QMPSession(), universe) == {"QMP": {"version": expected, "capabilities": []}}
    session = QMPSession(state=SessionState.COMMAND, version=VersionInfo.parse("7.2.22", "Debian"))
    assert dispatch({"execute": "query-version"}, universe=universe, session=session) == {
        "return": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian"}
    }


def test_version_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR\.MICRO"):
        VersionInfo.parse("10.2")


def test_query_commands_lists_the_table(universe: Universe) -> None:
    answer = execute("query-commands", universe=universe)
    assert sorted(c["name"] for c in answer["return"]) == sorted(COMMANDS)  # type: ignore[attr-defined]


def test_quit_in_process_answers_and_marks_the_session(universe: Universe) -> None:
    session = QMPSession(state=SessionState.COMMAND)
    answer = dispatch({"execute": "quit", "id": "q"}, universe=universe, session=session)
    assert answer == {"return": {}, "id": "q"}
    assert session.state is SessionState.QUIT
    assert execute("quit", universe=universe) == {"return": {}}
