"""The README's first two commands are the contract with newcomers and with CI."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```sh\n(.*?)```", text, re.S)
    assert match is not None, "README.md must open with a ```sh block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.index("```")
    assert text[first_block:].startswith("```sh\n")
    # the title and what qomsim is, then the commands
    intro = text[:first_block].splitlines()
    assert intro[0] == "# qomsim"
    assert "QEMU developer" in text[:first_block] and len(intro) <= 12
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].startswith("pip install . && qomsim ")
    assert commands[1] == "pip install '.[test]' && python -m pytest"


def test_readme_is_short() -> None:
    """The README is an entry point: what qomsim is, the two commands, a tour, then the guides."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 125
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == ["## A two-minute tour", "## Guides"]


def test_readme_links_resolve() -> None:
    """Every relative link of the README and of the guides names a file of the repository."""
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert not target.startswith("../shared"), f"{doc.name} links {target}"
            assert (doc.parent / target).exists(), f"{doc.name} links {target}, which does not exist"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert readme_commands()[1] in ci
    assert "export QOMSIM_REQUIRE_QEMU=1" in ci


def test_ci_provides_both_qemus_without_naming_an_archive() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "apt-get install -y qemu-system-x86 valgrind" in ci
    assert 'qemu10="$(bash .ci/install-qemu10.sh /var/cache/qomsim/qemu-10.0.2)"' in ci
    assert 'export QOMSIM_QEMU10="$qemu10"' in ci
    # the README's test command is the first test run
    assert next(i for i, line in enumerate(ci) if "pytest" in line) == ci.index(readme_commands()[1])
    # the backports source is copied from the machine's own: no address is spelled out
    for script in (ROOT / ".ci").iterdir():
        assert "://" not in script.read_text(encoding="utf-8"), script.name
