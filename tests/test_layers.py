"""The layers, read from the import graph: imports point one way only.

``migration.report`` → ``migration.reproduce`` → ``migration.check`` → ``migration.model`` →
``qom.snapshot`` → ``qom.qmp`` → the ``qom`` core; ``qom.cli`` sits on top of ``qom`` and
``qom.strategies`` beside the core.  Every ``import``, ``from ... import`` and
``importlib.import_module("...")`` literal counts, at module level or inside a function, so a lazy import
cannot hide a back edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parent.parent

#: layer -> the layers it may import (itself included); the first matching prefix names a module's layer
LAYERS: dict[str, frozenset[str]] = {
    "qom.cli": frozenset({"qom.cli", "qom.snapshot", "qom.qmp", "qom.strategies", "qom"}),
    "qom.snapshot": frozenset({"qom.snapshot", "qom.qmp", "qom"}),
    "qom.qmp": frozenset({"qom.qmp", "qom"}),
    "qom.strategies": frozenset({"qom.strategies", "qom"}),
    # the live server: the model behind qom.cli.serve's server (nothing below imports it)
    "migration.live": frozenset({"migration.live", "migration.check", "migration.model", "qom.cli",
                                 "qom.snapshot", "qom.qmp", "qom"}),
    "migration.report": frozenset({"migration.report", "migration.reproduce", "migration.check",
                                   "migration.model", "qom.snapshot", "qom.qmp", "qom"}),
    # a real QEMU driven from the model's programs (decide --qemu and reproduce use it)
    "migration.reproduce": frozenset({"migration.reproduce", "migration.check", "migration.model",
                                      "qom.snapshot", "qom.qmp", "qom"}),
    "migration.check": frozenset({"migration.check", "migration.model", "qom.snapshot", "qom.qmp", "qom"}),
    "migration.model": frozenset({"migration.model", "qom.snapshot", "qom.qmp", "qom"}),
    # the package face re-exports from its layers
    "migration": frozenset({"migration", "migration.report", "migration.check", "migration.model",
                            "qom.snapshot", "qom.qmp", "qom"}),
    "qom": frozenset({"qom"}),
}


def layer_of(module: str) -> str | None:
    """:return: the layer a module of ours belongs to, or None for a module that is not ours."""
    if module == "migration":
        return "migration"
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(TOP).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """:return: every module the file names in an import (absolute imports; we use no relative ones)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}: relative import (use absolute imports)")
            if node.module:
                found.add(node.module)
                # ``from qom import snapshot`` imports the submodule qom.snapshot
                found.update(f"{node.module}.{alias.name}" for alias in node.names
                             if (TOP / node.module.replace(".", "/") / alias.name).exists()
                             or (TOP / node.module.replace(".", "/") / f"{alias.name}.py").exists())
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return found


def source_files() -> list[Path]:
    return sorted(p for pkg in ("qom", "migration") for p in (TOP / pkg).rglob("*.py"))


def back_edges(extra: dict[str, Path] | None = None) -> list[str]:
    """:param extra: more files to read, by the module name they would have."""
    files = {module_name(path): path for path in source_files()} | (extra or {})
    bad = []
    for me, path in files.items():
        mine = layer_of(me)
        assert mine is not None, me
        for target in sorted(imports_of(path)):
            theirs = layer_of(target)
            if theirs is not None and theirs not in LAYERS[mine]:
                bad.append(f"{me} ({mine}) imports {target} ({theirs})")
    return bad


def test_imports_point_one_way() -> None:
    assert back_edges() == []


def test_the_check_sees_a_back_edge(tmp_path: Path) -> None:
    """The reader finds every import form, so a planted back edge would fail the test above."""
    planted = tmp_path / "planted.py"
    planted.write_text('import importlib\n\ndef f():\n    from qom.snapshot import load_universe\n'
                       '    return importlib.import_module("migration.check.cell"), load_universe\n')
    assert back_edges({"qom.qmp.planted": planted}) == [
        "qom.qmp.planted (qom.qmp) imports migration.check.cell (migration.check)",
        "qom.qmp.planted (qom.qmp) imports qom.snapshot (qom.snapshot)",
    ]


FACES = ["qom", "qom.qmp", "qom.snapshot", "qom.strategies", "qom.cli", "migration"]


@pytest.mark.parametrize("package", FACES)
def test_package_face_lists_exactly_its_public_names(package: str) -> None:
    import importlib
    from types import ModuleType

    face = importlib.import_module(package)
    names = face.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(face, name), f"{package}.{name}"
    public = {n for n, v in vars(face).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    assert public - set(names) == {"annotations"}
