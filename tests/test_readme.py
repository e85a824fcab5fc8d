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
    first_block = text.index("```sh")
    assert text[:first_block].strip() == "# qomsim"
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].startswith("pip install . && qomsim ")
    assert commands[1] == "pip install '.[test]' && python -m pytest"


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

def test_readme_hypothesis_example_runs_as_a_doctest() -> None:
    """The "Test your own QOM types" section's example runs, as CI runs it (a doctest)."""
    import doctest

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Test your own QOM types") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None and "qom.strategies" in section
    test = doctest.DocTestParser().get_doctest(match.group(1), {}, "README", "README.md", 0)
    assert len(test.examples) >= 8
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
    assert (result.failed, result.attempted) == (0, len(test.examples))
