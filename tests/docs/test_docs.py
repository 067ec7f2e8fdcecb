"""The docs: generated pages up to date, every hook documented and tested, a clean Sphinx build."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from nascost import docgen, hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TESTS = ROOT / "tests"

REQUIRED_PAGES = [
    "index", "getting-started", "concepts", "cli", "configuration", "spaces", "measurement",
    "predictors", "search", "training", "reports", "plugins", "tutorial-add-your-hardware",
    "benchmarks", "architecture",
]  # fmt: skip


def _hooks() -> dict[str, object]:
    return {
        name: fn
        for name, fn in vars(hookspecs).items()
        if callable(fn) and hasattr(fn, "nascost_spec")
    }


def _signature(fn) -> str:
    """``name(arg: Annotation) -> Return`` exactly as written in hookspecs.py."""
    sig = inspect.signature(fn)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{fn.__name__}({params}) -> {sig.return_annotation}"


def test_there_are_hooks_to_check() -> None:
    assert {"register_search_spaces", "register_cost_measurers", "register_commands"} <= set(_hooks())


@pytest.mark.parametrize("page", sorted(docgen.PAGES))
def test_generated_page_is_up_to_date(page: str) -> None:
    current = (DOCS / page).read_text() if (DOCS / page).exists() else ""
    assert current == docgen.PAGES[page](), f"docs/{page} is out of date: run 'python -m nascost.docgen'"


def test_docgen_check_flags_a_stale_page(tmp_path: Path) -> None:
    (tmp_path / "cli.md").write_text("# stale\n")
    (tmp_path / "configuration.md").write_text(docgen.configuration_markdown())
    assert docgen.main(["--check", "--docs", str(tmp_path)]) == 1
    assert (tmp_path / "cli.md").read_text() == "# stale\n"  # --check writes nothing
    assert docgen.main(["--docs", str(tmp_path)]) == 0
    assert docgen.main(["--check", "--docs", str(tmp_path)]) == 0


def test_cli_reference_covers_every_builtin_command() -> None:
    text = (DOCS / "cli.md").read_text()
    for path, _cmd in docgen.walk(docgen.builtin_cli()):
        assert f"`{' '.join(('nascost', *path))}`" in text


@pytest.mark.parametrize("hook", sorted(_hooks()))
def test_hook_is_documented(hook: str) -> None:
    """Each hook has its own section in docs/plugins.md with its exact signature and an example."""
    text = (DOCS / "plugins.md").read_text()
    assert f"(hook-{hook})=" in text, f"docs/plugins.md has no section for hook {hook}"
    section = text.split(f"(hook-{hook})=", 1)[1].split("(hook-", 1)[0]
    assert _signature(_hooks()[hook]) in section, f"docs/plugins.md: signature of {hook} missing or wrong"
    assert "@hookimpl" in section and f"def {hook}(" in section, f"docs/plugins.md: no example for {hook}"


@pytest.mark.parametrize("hook", sorted(_hooks()))
def test_hook_has_a_test(hook: str) -> None:
    """Some test (other than this file) exercises each hook by name."""
    this = Path(__file__).resolve()
    files = [p for p in TESTS.rglob("*.py") if p.resolve() != this]
    assert any(hook in p.read_text() for p in files), f"no test in tests/ mentions hook {hook}"


def test_required_pages_exist() -> None:
    missing = [p for p in REQUIRED_PAGES if not (DOCS / f"{p}.md").exists()]
    assert not missing, f"docs pages missing: {', '.join(missing)}"


@pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("myst_parser") is None,
    reason="needs the 'docs' extra (sphinx, myst-parser)",
)
def test_docs_build_without_warnings(tmp_path: Path) -> None:
    missing = [p for p in REQUIRED_PAGES if not (DOCS / f"{p}.md").exists()]
    if missing:
        pytest.fail(f"docs pages missing: {', '.join(missing)}")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "html" / "plugins.html").exists()
