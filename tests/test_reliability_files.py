"""Files and code (issue 26, items 1-5): no write replaces anything but a regular file qomsim may write; no
file named inside data is executed or imported; every bad file or device is one line on stderr and exit 2."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from migration.check.cell import load_counterexample, save_counterexample
from migration.check.registry import RUNS_CODE, resolve
from migration.model.results import Counterexample
from qom.cli import main
from qom.fileio import FileRefused, UserFile, read_file, write_file
from qom.snapshot import packaged_snapshot_path

ROOT = Path(__file__).resolve().parent.parent
REFUSED = "qomsim replaces only regular files (nothing written)"

# ---------------------------------------------------------------------------------------------------------
# targets that are not regular files, each with how to check it was left as it was


def _link(tmp: Path) -> tuple[Path, Callable[[], None]]:
    target = tmp / "target.txt"
    target.write_text("theirs\n", encoding="utf-8")
    link = tmp / "link.json"
    link.symlink_to(target)

    def same() -> None:
        assert link.is_symlink() and os.readlink(link) == str(target)
        assert target.read_text(encoding="utf-8") == "theirs\n"
    return link, same


def _dangling(tmp: Path) -> tuple[Path, Callable[[], None]]:
    link = tmp / "dangling.json"
    link.symlink_to(tmp / "nowhere")

    def same() -> None:
        assert link.is_symlink() and not (tmp / "nowhere").exists()
    return link, same


def _fifo(tmp: Path) -> tuple[Path, Callable[[], None]]:
    fifo = tmp / "fifo"
    os.mkfifo(fifo)

    def same() -> None:
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    return fifo, same


def _folder(tmp: Path) -> tuple[Path, Callable[[], None]]:
    folder = tmp / "folder"
    folder.mkdir()
    (folder / "keep").write_text("k", encoding="utf-8")

    def same() -> None:
        assert [p.name for p in folder.iterdir()] == ["keep"]
    return folder, same


def _socket(tmp: Path) -> tuple[Path, Callable[[], None]]:
    path = tmp / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))

    def same() -> None:
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    return path, same


TARGETS: dict[str, tuple[Callable[[Path], tuple[Path, Callable[[], None]]], str]] = {
    "symlink": (_link, "a symbolic link"),
    "dangling symlink": (_dangling, "a symbolic link"),
    "fifo": (_fifo, "a FIFO"),
    "folder": (_folder, "a directory"),
    "socket": (_socket, "a socket"),
}


def _no_leftovers(tmp: Path) -> None:
    assert [p.name for p in tmp.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("kind", list(TARGETS))
def test_write_file_refuses_what_is_not_a_regular_file_and_leaves_it(tmp_path: Path, kind: str) -> None:
    make, what = TARGETS[kind]
    path, same = make(tmp_path)
    with pytest.raises(FileRefused) as info:
        write_file(path, b"new\n")
    assert str(info.value) == f"{path}: {what}; {REFUSED}"
    same()
    _no_leftovers(tmp_path)


def test_write_file_replaces_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("old", encoding="utf-8")
    write_file(path, b"new")
    assert path.read_bytes() == b"new"
    write_file(tmp_path / "sub" / "n.json", b"n")
    assert (tmp_path / "sub" / "n.json").read_bytes() == b"n"
    _no_leftovers(tmp_path)


def test_write_file_refuses_a_read_only_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(b"new")
    path.chmod(0o444)
    if os.geteuid() == 0:  # root may write anything: ask as another user would
        monkeypatch.setattr(os, "access", lambda p, mode: mode != os.W_OK)
    with pytest.raises(FileRefused) as info:
        write_file(path, b"newer")
    assert info.value.strerror == "Permission denied (a read-only file is not replaced)"
    assert path.read_bytes() == b"new"
    _no_leftovers(tmp_path)


def test_dash_is_standard_output_only_where_allowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileRefused) as info:
        write_file("-", b"x")
    assert info.value.strerror == ("'-' is not standard output here (the command prints its report there); "
                                   "name a file")
    write_file("-", b"to stdout\n", stdout=True)
    assert capfdbinary.readouterr().out == b"to stdout\n"
    assert list(tmp_path.iterdir()) == []


def test_save_counterexample_refuses_a_link(tmp_path: Path, cx: dict[str, Any]) -> None:
    path, same = _link(tmp_path)
    with pytest.raises(FileRefused):
        save_counterexample(Counterexample.from_json(cx), path)
    same()
    save_counterexample(Counterexample.from_json(cx), tmp_path / "cx.json")
    assert load_counterexample(tmp_path / "cx.json").to_json() == Counterexample.from_json(cx).to_json()


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_decide_json_refuses_a_target_that_is_not_a_regular_file(
        tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    make, what = TARGETS[kind]
    path, same = make(tmp_path)
    status = main(["decide", "--designs", "qemu-10.0", "--properties", "no-use-after-free", "--confirm",
                   "none", "--bound", "-1", "--no-exhaustive", "--out", str(tmp_path / "notes"), "--json",
                   str(path)])
    assert status == 2
    assert capsys.readouterr().err == f"qomsim decide: cannot write {path}: {what}; {REFUSED}\n"
    same()
    assert not (tmp_path / "notes").exists()
    _no_leftovers(tmp_path)


@pytest.mark.parametrize("kind", ["symlink", "folder", "socket"])
def test_check_json_is_refused_before_the_run(tmp_path: Path, kind: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    make, what = TARGETS[kind]
    path, same = make(tmp_path)
    assert main(["check", "--design", "qemu-10.0", "--json", str(path)]) == 2
    out = capsys.readouterr()
    assert (out.out, out.err) == ("", f"qomsim check: cannot write {path}: {what}; {REFUSED}\n")
    same()


def test_check_json_dash_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--design", "qemu-10.0", "--json", "-"]) == 2
    assert capsys.readouterr().err == ("qomsim check: cannot write -: '-' is not standard output here (the "
                                       "command prints its report there); name a file\n")


@pytest.mark.parametrize("kind", ["symlink", "dangling symlink", "fifo", "folder"])
def test_capture_output_is_refused_before_qemu_starts(tmp_path: Path, kind: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    make, what = TARGETS[kind]
    path, same = make(tmp_path)
    never = tmp_path / "never-run"  # a capture would start it (and fail: it does not exist)
    assert main(["capture", "--qemu", str(never), "--output", str(path)]) == 2
    assert capsys.readouterr().err == f"qomsim capture: cannot write {path}: {what}; {REFUSED}\n"
    same()


def test_capture_output_dash_writes_the_snapshot_to_stdout(tmp_path: Path) -> None:
    sock = tmp_path / "qmp.sock"
    server = subprocess.Popen([sys.executable, "-m", "qom.cli", "serve", "--universe",
                               str(packaged_snapshot_path()), "--socket", str(sock)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"qomsim: QMP listening on unix:{sock}"
        r = subprocess.run([sys.executable, "-m", "qom.cli", "capture", "--qmp", str(sock), "--only",
                            "container", "--no-progress", "--output", "-"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    finally:
        server.terminate()
        server.communicate(timeout=60)
    assert (r.returncode, r.stderr) == (0, "")
    assert json.loads(r.stdout)["types"]["container"] == {"parent": "object"}
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------
# reading: regular files only, at most a known size


def test_read_file_refuses_devices_fifos_folders_and_big_files(tmp_path: Path) -> None:
    fifo, _ = _fifo(tmp_path)
    for path, reason in ((Path("/dev/zero"), "a character device, not a regular file"),
                         (fifo, "a FIFO, not a regular file"),  # no writer: opening must not wait for one
                         (tmp_path, "a directory, not a regular file")):
        with pytest.raises(FileRefused) as info:
            read_file(path, 100)
        assert str(info.value) == f"{path}: {reason}"
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(FileRefused) as info:
        read_file(big, 100)
    assert info.value.strerror == "larger than 100 bytes"
    assert read_file(big, 101) == b"x" * 101
    link = tmp_path / "to-big"
    link.symlink_to(big)
    assert UserFile(link).read_text() == "x" * 101


def _run(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qom.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("device", ["/dev/zero", "fifo"])
def test_a_device_or_fifo_given_as_a_file_is_one_line_and_status_2(tmp_path: Path, device: str) -> None:
    path = str(tmp_path / "fifo") if device == "fifo" else device
    if device == "fifo":
        os.mkfifo(path)
    what = "a FIFO" if device == "fifo" else "a character device"
    cases = [
        (["serve", "--socket", str(tmp_path / "s"), "--universe", path],
         f"qomsim serve: cannot load universe {path}: {what}, not a regular file"),
        (["replay", path], f"qomsim replay: {path}: {what}, not a regular file"),
        (["decide", "--designs", "qemu-10.0", "--out", str(tmp_path / "o"), "--template", path],
         f"qomsim decide: {path}: {what}, not a regular file"),
    ]
    for argv, message in cases:
        r = _run(*argv)
        assert (r.returncode, r.stdout, r.stderr) == (2, "", message + "\n"), argv
    assert sorted(p.name for p in tmp_path.iterdir()) == (["fifo"] if device == "fifo" else [])


def test_a_template_larger_than_a_mebibyte_is_refused(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "t.md"
    big.write_text("$title\n" + "x" * (1 << 20), encoding="utf-8")
    out = tmp_path / "o"
    assert main(["decide", "--designs", "qemu-10.0", "--out", str(out), "--template", str(big)]) == 2
    assert capsys.readouterr().err == f"qomsim decide: {big}: larger than 1,048,576 bytes\n"


# ---------------------------------------------------------------------------------------------------------
# a snapshot that passes validation but lacks what the served model needs


def _without(tmp_path: Path, gone: str) -> Path:
    data = json.loads(packaged_snapshot_path().read_text(encoding="utf-8"))
    types = data["types"]
    dropped = {gone}
    while True:
        more = {n for n, t in types.items() if t.get("parent") in dropped} - dropped
        if not more:
            break
        dropped |= more
    data["types"] = {n: t for n, t in types.items() if n not in dropped}
    data["tree"] = {path: [e for e in entries if not any(f"<{d}>" in e[1] for d in dropped)]
                    for path, entries in data["tree"].items()}
    path = tmp_path / f"no-{gone}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("gone", ["device", "migration"])
def test_serve_refuses_a_snapshot_without_the_types_the_model_needs(tmp_path: Path, gone: str) -> None:
    path = _without(tmp_path, gone)
    r = _run("serve", "--socket", str(tmp_path / "s"), "--universe", str(path), "--design",
             "proposed-singleton-keepalive")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (f"qomsim serve: cannot load universe {path}: it has no type '{gone}' (every QEMU "
                        "system emulator has it; the served migration model needs it)\n")
    assert not (tmp_path / "s").exists()


def test_examples_on_a_captured_universe_bring_the_interfaces_they_use() -> None:
    from qom.cli.serve import _load_universe
    from qom.qmp import execute

    u = _load_universe(str(packaged_snapshot_path()), examples=True)
    reply = execute("qom-list-types", {"implements": "singleton"}, universe=u)
    assert reply == {"return": [{"name": "example-singleton", "parent": "device"}]}


# ---------------------------------------------------------------------------------------------------------
# data never runs code


@pytest.fixture(scope="module")
def cx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("cx") / "cx.json"
    assert main(["check", "--design", "qemu-10.0", "--property", "no-use-after-free", "--exhaustive",
                 "--json", str(out)]) == 1
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))["cells"][0]["counterexample"]
    return data


HELPER = """
import pathlib
pathlib.Path({marker!r}).write_text("ran")
from migration.model.designs import DESIGNS
D = DESIGNS["qemu-10.0"]
"""


@pytest.fixture
def helper(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    marker = tmp_path / "RAN"
    (tmp_path / "helper.py").write_text(HELPER.format(marker=str(marker)), encoding="utf-8")
    (tmp_path / "helpermod.py").write_text(HELPER.format(marker=str(marker)), encoding="utf-8")
    yield tmp_path / "helper.py", marker
    sys.modules.pop("helpermod", None)


@pytest.mark.parametrize("design", ["helper.py:D", "{dir}/helper.py:D", "helpermod:D"])
def test_replay_never_loads_a_design_the_file_names(tmp_path: Path, cx: dict[str, Any],
                                                    helper: tuple[Path, Path], design: str) -> None:
    _, marker = helper
    design = design.format(dir=tmp_path)
    f = tmp_path / "cx.json"
    f.write_text(json.dumps({**{k: v for k, v in cx.items() if k != "knobs"}, "design": design}))
    r = _run("replay", str(f), cwd=tmp_path)
    where = design.rpartition(":")[0]
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == (f"qomsim replay: design '{design}': the file carries no knobs, and a design the file "
                        f"names is never loaded (it would run code); if you trust {where}, give --design "
                        f"{design}\n")
    assert not marker.exists()


def test_replay_design_from_the_command_line_is_loaded(tmp_path: Path, cx: dict[str, Any],
                                                       helper: tuple[Path, Path]) -> None:
    _, marker = helper
    f = tmp_path / "cx.json"
    f.write_text(json.dumps({**{k: v for k, v in cx.items() if k != "knobs"}, "design": "helper.py:D"}))
    r = _run("replay", str(f), "--design", "helpermod:D", cwd=tmp_path)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines()[-1] == "reproduced: yes"
    assert marker.read_text() == "ran"


def test_module_designs_are_found_in_the_current_folder_by_the_console_script(
        tmp_path: Path, helper: tuple[Path, Path]) -> None:
    script = shutil.which("qomsim", path=str(Path(sys.executable).parent))
    assert script is not None
    r = subprocess.run([script, "check", "--design", "helpermod:D", "--property", "no-deadlock", "--scenario",
                        "S1-helper-after-idle-shutdown", "--exhaustive", "--bound", "-1"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.startswith("qemu-10.0 no-deadlock: holds (exhaustive, OK, ")


def test_a_loaded_design_may_not_take_a_presets_name(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "shadow.py"
    # derive() refuses a preset's name; a design made otherwise must be refused when it is loaded
    mine.write_text("import dataclasses\nfrom migration.model.designs import DESIGNS\n"
                    "D = dataclasses.replace(DESIGNS['mutex'], name='qemu-10.0', description='not it')\n",
                    encoding="utf-8")
    message = f"{mine}:D: the design is named 'qemu-10.0', a preset's name; give it a name of its own"
    with pytest.raises(ValueError) as info:
        resolve(f"{mine}:D")
    assert str(info.value) == message
    assert main(["check", "--design", f"{mine}:D"]) == 2
    assert capsys.readouterr().err == f"qomsim check: {message}\n"


@pytest.mark.parametrize("command", ["check", "decide", "replay", "serve"])
def test_help_says_that_a_design_file_is_executed(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    serve = ("--design FILE.py:NAME executes FILE and --design module:NAME imports the module: name only "
             "code you trust")
    said = serve if command == "serve" else RUNS_CODE
    assert said in text


# ---------------------------------------------------------------------------------------------------------
# what a design file or a replay file holds cannot crash the command or reach the terminal raw


@pytest.mark.parametrize(("body", "shown"), [
    ("raise SystemExit(0)", "SystemExit: 0"),
    ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    ("import sys; sys.exit('bye\\x1b[2J')", "SystemExit: bye\\x1b[2J"),
])
def test_a_design_file_that_exits_or_is_interrupted_is_one_line(tmp_path: Path, body: str,
                                                                shown: str) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(body + "\n", encoding="utf-8")
    r = _run("check", "--design", f"{bad}:X")
    assert (r.returncode, r.stdout, r.stderr) == (2, "", f"qomsim check: {bad}: {shown}\n")


def test_escape_codes_in_a_design_name_are_never_printed_raw(tmp_path: Path, cx: dict[str, Any],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--design", "x\x1b[31m.py:D"]) == 2
    assert capsys.readouterr().err == "qomsim check: x\\x1b[31m.py: no such file\n"
    assert main(["check", "--design", "qemu\x1b[2J"]) == 2
    assert capsys.readouterr().err.startswith("qomsim check: unknown design 'qemu\\x1b[2J' (a preset id, ")
    f = tmp_path / "cx.json"
    f.write_text(json.dumps({**cx, "design": "evil\x1b[2J\x07"}))
    assert main(["replay", str(f)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("design evil\\x1b[2J\\x07, property no-use-after-free, ")
    assert "\x1b" not in out and "\x07" not in out
    f.write_text(json.dumps({k: v for k, v in {**cx, "design": "evil\x1b[2J"}.items() if k != "knobs"}))
    assert main(["replay", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qomsim replay: design 'evil\\x1b[2J': unknown design 'evil\\x1b[2J' (a ")
    assert "\x1b" not in err


def test_replay_of_a_5000_digit_integer_is_one_line(tmp_path: Path, cx: dict[str, Any],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "cx.json"
    f.write_text(json.dumps(cx).replace('"schedule": [', '"schedule": [' + "9" * 5000 + ", ", 1))
    assert main(["replay", str(f)]) == 2
    assert capsys.readouterr().err == (
        f"qomsim replay: {f}: not JSON qomsim can read (Exceeds the limit (4300 digits) for integer string "
        "conversion: value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit)\n")


def test_an_empty_work_folder_a_kill_left_is_removed_and_an_unmarked_full_one_kept(tmp_path: Path) -> None:
    # a SIGKILL between creating the work folder and marking it leaves it empty (the kill -9 test of
    # test_reliability_decide.py hit that window now and then); a folder of our name holding anything
    # unmarked may be someone else's and stays
    from migration.report.outdir import write_files

    (tmp_path / ".out.qomsim-empty").mkdir()
    (tmp_path / ".out.qomsim-theirs").mkdir()
    (tmp_path / ".out.qomsim-theirs" / "f").write_text("x", encoding="utf-8")
    write_files(tmp_path / "out", {"a.md": "a\n"}, force=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.qomsim-theirs", "out"]
    assert (tmp_path / ".out.qomsim-theirs" / "f").read_text(encoding="utf-8") == "x"
