"""Every code block of the README and of the guides in ``docs/`` runs, and shows what it prints.

One test per document; its blocks run in order in one fresh folder (so a file an earlier block
writes is there for a later one), with the repository on ``PYTHONPATH`` (as if run from the clone's
root, where ``python -m benchmarks`` is found).  What a block is, by its fence and by an HTML comment
on the line before it:

- ```` ```python ```` with ``>>>`` prompts: a doctest (``...`` matches anything);
- ```` ```python ```` preceded by ``<!-- file: NAME -->``: saved as ``NAME`` (and compiled) for the
  commands that follow; without a marker: run as a script;
- ```` ```python ```` preceded by ``<!-- api: MODULE -->``: a list of signatures; every ``def``,
  ``class`` and constant it names must exist in ``MODULE``;
- ```` ```console ````: ``$ command`` lines, each followed by what it prints (stdout and stderr, 80
  columns), compared with ``...`` as a wildcard.  ``$ command &`` starts a server: the lines after it
  are its first line of output; ``$ wait`` waits for it to exit and is followed by the rest of its
  output;
- ```` ```text ```` preceded by ``<!-- qmp-shell: ARGS -->``: a qmp-shell session; ``qomsim serve ARGS``
  is started and each ``(QEMU) command key=value...`` is sent, its answer compared with the line after
  it (qmp-shell's syntax: a value is JSON if it parses as JSON, else a string);
- ```` ```text ```` preceded by ``<!-- figure -->``, and ```` ```mermaid ````: a drawing, not run;
- ```` ```sh ```` preceded by ``<!-- ci -->``: the README's two commands, which ``tests/test_readme.py``
  holds to ``.ci/run`` (they install qomsim and run this very suite).

Anything else fails the test, so that no example can silently stop working.  A document with a block
preceded by ``<!-- needs: qemu -->`` needs ``qemu-system-x86_64`` (the test is marked ``qemu``).
"""

from __future__ import annotations

import asyncio
import doctest
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: the documents whose blocks run: the README and every guide (docs/performance.md is generated)
DOCUMENTS = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")
                                  if p.name != "performance.md")]

#: seconds any one command or server may take
TIMEOUT = 120

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_MARKER = re.compile(r"<!--\s*([\w-]+):?\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a document."""

    lang: str
    body: str
    line: int  #: the line of its opening fence
    marker: str  #: the HTML comment's keyword on the line before ('' when none)
    arg: str  #: what follows the keyword


def blocks(text: str) -> list[Block]:
    """:param text: a Markdown document.
    :return: its fenced blocks, in order, with the marker before each.
    """
    out = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        out.append(Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1,
                         marker.group(1) if marker else "", marker.group(2) if marker else ""))
    return out


#: a progress line of a long step (migration/report/progress.py), written to stderr only once a step has
#: taken seconds: whether one appears depends on the machine's load, so transcripts leave them out
_PROGRESS = re.compile(r"^.*\b(\d+ s|\d+ min \d\d s|\d+ h \d\d min) elapsed(, about .* left)?\n",
                       re.MULTILINE)


def _matches(want: str, got: str) -> bool:
    checker = doctest.OutputChecker()
    return checker.check_output(want, _PROGRESS.sub("", got), doctest.ELLIPSIS)


def _env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(COLUMNS="80", PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), TERM="dumb", NO_COLOR="1",
               HOME=os.environ.get("HOME", str(folder)))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def _console(block: Block, folder: Path, where: str) -> None:
    steps: list[tuple[str, list[str]]] = []
    for line in block.body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
        else:
            raise AssertionError(f"{where}: a console block starts with '$ command'")
    background: list[subprocess.Popen[str]] = []
    try:
        for command, want_lines in steps:
            want = "".join(w + "\n" for w in want_lines)
            if command.endswith("&"):
                proc = subprocess.Popen(["bash", "-c", command[:-1]], cwd=folder, env=_env(folder), text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                background.append(proc)
                assert proc.stdout is not None
                got = proc.stdout.readline()
            elif command == "wait":
                got = ""
                for proc in background:
                    out, _ = proc.communicate(timeout=TIMEOUT)
                    got += out
                background = []
            else:
                got = subprocess.run(["bash", "-c", command], cwd=folder, env=_env(folder), text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     timeout=TIMEOUT, check=False).stdout
            if not _matches(want, got):
                raise AssertionError(f"{where}: $ {command}\n--- the document shows:\n{want}"
                                     f"--- it printed:\n{got}")
    finally:
        for proc in background:  # a server the block left running: stopped as Ctrl-C would
            _stop(proc)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def _shell_arguments(words: list[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for word in words:
        key, _, raw = word.partition("=")
        try:
            args[key] = json.loads(raw)
        except ValueError:
            args[key] = raw
    return args


async def _qmp_session(path: str, session: list[tuple[str, str]]) -> list[str]:
    reader, writer = await asyncio.open_unix_connection(path)
    await reader.readline()
    writer.write(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}\n')
    await reader.readline()
    answers = []
    for command, _want in session:
        name, *words = command.split()
        writer.write(json.dumps({"execute": name, "arguments": _shell_arguments(words)}).encode() + b"\n")
        while True:
            reply = json.loads(await reader.readline())
            if "event" not in reply:
                break
        answers.append(json.dumps(reply))
    writer.close()
    return answers


def _qmp_shell(block: Block, folder: Path, where: str) -> None:
    session: list[tuple[str, str]] = []
    for line in block.body.splitlines():
        if line.startswith("(QEMU) "):
            session.append((line.removeprefix("(QEMU) "), ""))
        elif session and line.strip():
            session[-1] = (session[-1][0], session[-1][1] + line + "\n")
    sock = folder / f"qmp-shell-{block.line}.sock"
    assert block.arg.startswith("qomsim serve"), f"{where}: <!-- qmp-shell: qomsim serve ARGS -->"
    command = [sys.executable, "-m", "qom.cli", *block.arg.split()[1:], "--socket", str(sock)]
    server = subprocess.Popen(command, cwd=folder, env=_env(folder), text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        assert server.stdout is not None
        ready = server.stdout.readline()
        assert ready.startswith("qomsim: QMP listening on unix:"), f"{where}: {ready}"
        answers = asyncio.run(asyncio.wait_for(_qmp_session(str(sock), session), TIMEOUT))
    finally:
        _stop(server)
    for (request, want), got in zip(session, answers, strict=True):
        assert _matches(want, got + "\n"), f"{where}: (QEMU) {request}\nshown: {want}answer: {got}"


def _api(block: Block, where: str) -> None:
    module = importlib.import_module(block.arg)
    names = re.findall(r"^(?:@\w+(?:\(.*?\))? )?(?:def|class) (\w+)|^([A-Z][A-Z0-9_]+)\b(?=:| =)", block.body,
                       re.M)
    missing = [n for pair in names for n in pair if n and not hasattr(module, n)]
    assert names and not missing, f"{where}: {block.arg} has no {', '.join(missing)}"


def run_block(block: Block, folder: Path, where: str, first_sh: bool,
              namespace: dict[str, Any] | None = None) -> None:
    """Run one block as its fence and marker say.

    :param block: the block.
    :param folder: the document's working folder.
    :param where: ``document:line``, for messages.
    :param first_sh: whether this is the README's opening block.
    :param namespace: the globals the document's doctests share (default: fresh ones).
    """
    if block.lang == "python" and block.marker == "file":
        (folder / block.arg).write_text(block.body, encoding="utf-8")
        compile(block.body, block.arg, "exec")
    elif block.lang == "python" and block.marker == "api":
        _api(block, where)
    elif block.lang == "python" and ">>> " in block.body:
        globs = {} if namespace is None else namespace
        test = doctest.DocTestParser().get_doctest(block.body, globs, where, where, block.line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            result = runner.run(test, clear_globs=False)
            globs.update(test.globs)  # DocTest works on a copy: later blocks see what this one defined
        finally:
            os.chdir(cwd)
        assert result.failed == 0, f"{where}: {result.failed} of {result.attempted} examples failed"
    elif block.lang == "python" and not block.marker:
        subprocess.run([sys.executable, "-c", block.body], cwd=folder, env=_env(folder), check=True,
                       timeout=TIMEOUT)
    elif block.lang == "console":
        _console(block, folder, where)
    elif block.lang == "text" and block.marker == "qmp-shell":
        _qmp_shell(block, folder, where)
    elif not (block.lang == "mermaid" or (block.lang == "text" and block.marker == "figure")
              or (block.lang == "sh" and block.marker == "ci" and first_sh)):
        raise AssertionError(f"{where}: a ```{block.lang} block (marker {block.marker or 'none'}) is neither "
                             "run nor a marked transcript (see tests/test_docs_code.py)")


def _needs_qemu(document: str) -> bool:
    return any(b.marker == "needs" and b.arg == "qemu"
               for b in blocks((ROOT / document).read_text(encoding="utf-8")))


@pytest.mark.parametrize("document", [
    pytest.param(d, marks=pytest.mark.qemu) if _needs_qemu(d) else d for d in DOCUMENTS])
def test_every_block_runs(document: str, tmp_path: Path) -> None:
    if _needs_qemu(document) and shutil.which("qemu-system-x86_64") is None:
        if os.environ.get("QOMSIM_REQUIRE_QEMU") == "1":
            pytest.fail("qemu-system-x86_64 is not on PATH (QOMSIM_REQUIRE_QEMU=1)")
        pytest.skip("qemu-system-x86_64 is not on PATH")
    found = blocks((ROOT / document).read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {}
    for i, block in enumerate(found):
        run_block(block, tmp_path, f"{document}:{block.line}", first_sh=(document == "README.md" and i == 0),
                  namespace=namespace)


def test_the_block_reader_sees_markers_and_refuses_an_unmarked_block(tmp_path: Path) -> None:
    text = ("intro\n\n<!-- file: mine.py -->\n```python\nx = 1\n```\n\n```sh\nrm -rf /\n```\n\n"
            "<!-- qmp-shell: qomsim serve --examples -->\n```text\n(QEMU) quit\n```\n")
    found = blocks(text)
    assert [(b.lang, b.marker, b.arg, b.line) for b in found] == [
        ("python", "file", "mine.py", 4), ("sh", "", "", 8),
        ("text", "qmp-shell", "qomsim serve --examples", 13)]
    run_block(found[0], tmp_path, "t:4", first_sh=False)
    assert (tmp_path / "mine.py").read_text(encoding="utf-8") == "x = 1\n"
    with pytest.raises(AssertionError, match=r"t:8: a ```sh block \(marker none\) is neither run nor"):
        run_block(found[1], tmp_path, "t:8", first_sh=False)


def test_a_console_transcript_that_differs_fails(tmp_path: Path) -> None:
    good = Block("console", "$ echo one; echo two\none\n...\n", 1, "", "")
    run_block(good, tmp_path, "t:1", first_sh=False)
    bad = Block("console", "$ echo one\ntwo\n", 1, "", "")
    with pytest.raises(AssertionError, match="the document shows:\ntwo\n--- it printed:\none\n"):
        run_block(bad, tmp_path, "t:1", first_sh=False)
