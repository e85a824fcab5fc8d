"""``qomsim decide`` never touches a file outside ``--out`` or not written by qomsim, and swaps its notes in
with one atomic exchange (issue 16, items 1, 5 and the ``--out`` errors of item 7)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_terminal import without_progress

import qom
from migration.check.interrupts import Interrupts
from migration.report import decide, outdir
from qom.cli.main import main

OUTDIR_PY = Path(outdir.__file__)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(out: Path, files: dict[str, str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / decide.MANIFEST).write_text(json.dumps({"files": files}), encoding="utf-8")


def test_the_reproducer_of_issue_16_no_longer_deletes_the_victim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("r/out").mkdir(parents=True)
    victim = Path("r/victim")
    victim.write_text("hi\n", encoding="utf-8")
    _manifest(Path("r/out"), {"../victim": _sha(victim)})
    status = main(["decide", "--designs", "qemu-10.0", "--properties", "no-use-after-free",
                   "--confirm", "none", "--out", "r/out"])
    assert status == 0
    assert victim.read_text(encoding="utf-8") == "hi\n"
    err = capsys.readouterr().err
    assert "qomsim decide: ignored manifest entry ../victim: not a path inside r/out\n" in err
    manifest = json.loads(Path("r/out", decide.MANIFEST).read_text(encoding="utf-8"))
    assert "../victim" not in manifest["files"]


@pytest.mark.parametrize("entry", ["../victim", "/ABS/victim", "./victim", "sub/../../victim", "sub//x"])
def test_no_manifest_entry_reaches_outside_the_folder_even_with_force(tmp_path: Path, entry: str) -> None:
    out = tmp_path / "out"
    victim = tmp_path / "victim"
    victim.write_text("precious\n", encoding="utf-8")
    _manifest(out, {entry.replace("/ABS", str(tmp_path)): _sha(victim)})
    report = decide.write_files(out, {"a.md": "a\n"}, force=True)
    assert report.removed == []
    assert report.ignored == [entry.replace("/ABS", str(tmp_path))]
    assert victim.read_text(encoding="utf-8") == "precious\n"


def test_files_behind_a_symbolic_link_are_never_removed_or_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.md").write_text("x\n", encoding="utf-8")
    out.mkdir()
    (out / "evidence").symlink_to(elsewhere)
    (out / "link.md").symlink_to(elsewhere / "x.md")
    _manifest(out, {"evidence/x.md": _sha(elsewhere / "x.md"), "link.md": _sha(elsewhere / "x.md")})
    report = decide.write_files(out, {"evidence/y.md": "y\n", "link.md": "new\n"}, force=True)
    assert sorted(report.kept) == ["evidence/y.md", "link.md"]
    assert report.removed == []
    assert sorted(p.name for p in elsewhere.iterdir()) == ["x.md"]
    assert (elsewhere / "x.md").read_text(encoding="utf-8") == "x\n"
    assert (out / "evidence").is_symlink() and (out / "link.md").is_symlink()


def test_a_manifest_that_is_a_link_is_not_trusted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.md").write_text("hand\n", encoding="utf-8")
    fake = tmp_path / "fake.json"
    fake.write_text(json.dumps({"files": {"a.md": _sha(out / "a.md")}}), encoding="utf-8")
    (out / decide.MANIFEST).symlink_to(fake)
    report = decide.write_files(out, {}, force=False)
    assert (report.removed, (out / "a.md").read_text(encoding="utf-8")) == ([], "hand\n")
    assert fake.read_text(encoding="utf-8") == json.dumps({"files": {"a.md": _sha(out / "a.md")}})


def test_user_files_in_the_folder_survive_the_swap_with_their_inode(tmp_path: Path) -> None:
    out = tmp_path / "out"
    decide.write_files(out, {"a.md": "a\n"}, force=False)
    (out / "mine").mkdir()
    (out / "mine" / "todo.txt").write_text("mine\n", encoding="utf-8")
    inode = (out / "mine" / "todo.txt").stat().st_ino
    decide.write_files(out, {"a.md": "a2\n"}, force=False)
    assert (out / "mine" / "todo.txt").read_text(encoding="utf-8") == "mine\n"
    assert (out / "mine" / "todo.txt").stat().st_ino == inode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_notes_get_the_umask_mode_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        decide.write_files(tmp_path / "o", {"a.md": "a\n", "evidence/e.md": "e\n"}, force=False)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "o").rglob("*") if p.is_file()}
    assert modes == {"a.md": 0o644, "e.md": 0o644, decide.MANIFEST: 0o644}


# ---------------------------------------------------------------------------------------------------------
# kill -9 at many points: the folder is the old set or the new set, never a mix; a re-run works

_CHILD = """
import importlib.util, sys, pathlib
spec = importlib.util.spec_from_file_location("outdir", sys.argv[1])
mod = importlib.util.module_from_spec(spec); sys.modules["outdir"] = mod; spec.loader.exec_module(mod)
files = {f"{'evidence/' if i % 3 else ''}n{i:03d}.md": f"new {i}\\n" * 40 for i in range(0, 240, 2)}
print("go", flush=True)
mod.write_files(pathlib.Path(sys.argv[2]), files, force=False)
print("done", flush=True)
"""


def _old_set() -> dict[str, str]:
    return {f"{'evidence/' if i % 3 else ''}n{i:03d}.md": f"old {i}\n" * 40 for i in range(0, 240, 3)}


def _new_set() -> dict[str, str]:
    return {f"{'evidence/' if i % 3 else ''}n{i:03d}.md": f"new {i}\n" * 40 for i in range(0, 240, 2)}


def _contents(out: Path) -> dict[str, str]:
    files = [p for p in out.rglob("*") if p.is_file()]
    found = {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in files}
    manifest = json.loads(found.pop(decide.MANIFEST))["files"]
    assert manifest == {rel: hashlib.sha256(t.encode()).hexdigest() for rel, t in found.items()}
    return found


def test_kill_9_at_many_points_leaves_the_old_set_or_the_new_set(tmp_path: Path) -> None:
    seen = {"old": 0, "new": 0}
    for attempt in range(10):
        out = tmp_path / f"out{attempt}"
        decide.write_files(out, _old_set(), force=False)
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(OUTDIR_PY), str(out)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        assert child.stdout.readline() == "go\n"
        time.sleep(attempt * 0.006)  # spread the kills over the write (about 60 ms on this machine)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        state = _contents(out)
        assert state in (_old_set(), _new_set()), f"mixed set after a kill at {attempt * 6} ms"
        seen["old" if state == _old_set() else "new"] += 1
        report = decide.write_files(out, _new_set(), force=False)
        assert report.kept == []
        assert _contents(out) == _new_set()
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f".out{attempt}.")) == []
    assert seen["old"] >= 1  # the kills did land before the swap at least once


# ---------------------------------------------------------------------------------------------------------
# --out errors: one line, status 2 (not 1, which means a hand edit was kept), checked before the long run


def test_out_at_a_file_is_one_line_and_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x", encoding="utf-8")
    f = tmp_path / "f"
    cases = ((f, "Not a directory"), (f / "sub", f"{f} is not a directory"))
    for out, why in cases:
        assert main(["decide", "--designs", "qemu-10.0", "--out", str(out)]) == 2
        assert capsys.readouterr().err == f"qomsim decide: cannot write notes to {out}: {why}\n"
    assert (tmp_path / "f").read_text(encoding="utf-8") == "x"


def test_out_holding_the_current_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "notes" / "sub")
    for out in (".", ".."):
        assert main(["decide", "--designs", "qemu-10.0", "--out", out]) == 2
        assert capsys.readouterr().err == (
            f"qomsim decide: cannot write notes to {out}: it holds the current directory; run decide from "
            "outside it\n")


def test_out_in_a_read_only_folder_is_one_line_and_status_2() -> None:
    base = Path(tempfile.mkdtemp(prefix="qomsim-ro-"))  # under /tmp, reachable by the unprivileged user
    try:
        base.chmod(0o755)
        ro = base / "ro"
        ro.mkdir(mode=0o555)
        ro.chmod(0o555)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "qom.cli"]
        r = subprocess.run(
            [*cmd, "decide", "--designs", "qemu-10.0", "--out", str(ro / "notes")],
            capture_output=True, text=True, timeout=120, cwd="/",
            env={**os.environ, "HOME": "/nonexistent", "PYTHONPATH": str(Path(qom.__file__).parents[1])},
        )
        assert r.stderr == f"qomsim decide: cannot write notes to {ro / 'notes'}: {ro}: Permission denied\n"
        assert r.returncode == 2
        assert list(ro.iterdir()) == []
    finally:
        shutil.rmtree(base)


# ---------------------------------------------------------------------------------------------------------
# SIGTERM is handled like SIGINT; user strings are printed escaped


def test_sigterm_during_the_run_stops_it_like_ctrl_c_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    decide.write_files(out, {"a.md": "previous\n"}, force=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qom.cli", "decide", "--designs", "qemu-9.1,qemu-10.0", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("decide: ")  # the run has started
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert (proc.returncode, without_progress(err)) == (
        143, "qomsim decide: interrupted; nothing written, the previous notes are intact\n")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_an_unknown_scenario_name_is_printed_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decide", "--scenarios", "S1\x1b[2J\nx"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qomsim decide: unknown scenario S1\\x1b[2J\\nx; known: ")
    assert "\x1b" not in err and err.count("\n") == 1


def _workers_of(pid: int) -> list[int]:
    """:return: the Dask worker processes (multiprocessing spawns) whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"multiprocessing.spawn" in cmd:
            out.append(int(entry.name))
    return out


def test_sigterm_while_the_local_cluster_explores_stops_it_and_leaves_no_worker(tmp_path: Path) -> None:
    # the default run explores on every core (a Dask LocalCluster); a signal then must stop the workers too
    out = tmp_path / "notes"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qom.cli", "decide", "--designs", "qemu-9.1,qemu-10.0", "--workers", "2",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        workers = _workers_of(proc.pid)
    assert len(workers) == 2, "the cluster's workers never started"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert (proc.returncode, without_progress(err)) == (
        143, "qomsim decide: interrupted; nothing written, the previous notes are intact\n")
    assert not out.exists()
    for pid in workers:  # gone, not orphaned (a zombie would still answer kill 0 until reaped by init)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_escape_text_makes_control_characters_visible() -> None:
    from qom.errors import escape_text

    assert escape_text("plain é ✓") == "plain é ✓"
    assert escape_text("a\x1b[31m\tb\r\n\x9b\x7f\\") == "a\\x1b[31m\\tb\\r\\n\\x9b\\x7f\\\\"


def test_a_swallowed_ctrl_c_still_stops_the_run_at_the_next_check() -> None:
    seen: list[str] = []

    class Recorder:
        def start(self, designs: object, per_design: int) -> None:
            seen.append("start")

        def done(self, design: str, label: str, text: str, verdict: str | None) -> None:
            seen.append(label)

        def stop(self) -> None:
            seen.append("stop")

    interrupts = Interrupts()
    checked = decide._Checked(Recorder(), interrupts)
    checked.done("qemu-10.0", "no-use-after-free", "holds", "holds")
    with contextlib.suppress(KeyboardInterrupt):  # swallowed, as when it lands in a gc callback
        interrupts.handler(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        checked.done("qemu-10.0", "no-null-deref", "holds", "holds")
    assert seen == ["no-use-after-free", "no-null-deref"]
    assert interrupts.signum == signal.SIGINT
