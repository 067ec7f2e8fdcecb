"""The library does not depend on its own command line: only ``nascost/cli/`` imports ``nascost.cli``."""

from __future__ import annotations

import ast
from pathlib import Path

import nascost

ROOT = Path(nascost.__file__).parent
#: Entry points of the command line itself: ``python -m nascost`` and the CLI page generator.
CLI_ENTRIES = {"__main__.py", "docgen.py"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:  # relative: resolve against the module's package
                pkg = ["nascost", *path.relative_to(ROOT).parent.parts][: None if node.level == 1 else 1 - node.level]
                names.add(".".join([*pkg, node.module]))
            else:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_no_library_module_imports_the_cli() -> None:
    offenders = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "cli" or str(rel) in CLI_ENTRIES:
            continue
        bad = sorted(n for n in _imports(path) if n == "nascost.cli" or n.startswith("nascost.cli."))
        if bad:
            offenders[str(rel)] = bad
    assert offenders == {}
    assert len(list(ROOT.rglob("*.py"))) > 20  # the walk saw the package


def test_the_check_sees_an_import_inside_a_function(tmp_path) -> None:
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from nascost.cli.output import progress\n")
    assert "nascost.cli.output" in _imports(f)
