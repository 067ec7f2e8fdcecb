"""Every `nascost ...` command in the pages this area owns parses against the real CLI.

The commands are not run (they measure, search and train for minutes); each is parsed by
click with the same commands and options the CLI has, so a renamed command or option, or
a missing argument, fails here instead of in a reader's terminal.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from nascost.docgen import builtin_cli

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ["training.md", "reports.md", "tutorial-add-your-hardware.md", "plugins.md", "configuration.md",
         "tutorial-phone.md", "nb201.md", "search.md", "predictors.md", "measurement.md"]


def _commands(page: str) -> list[str]:
    text = (DOCS / page).read_text()
    out = []
    for block in re.findall(r"```(?:bash|console)\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            line = re.sub(r"^(?:[A-Z_]+=\S+\s+)+", "", line)  # env assignments such as RAY_ADDRESS=auto
            if line.startswith("nascost "):
                out.append(line)
    return out


def _rest(ctx: click.Context) -> list[str]:
    protected = ctx.__dict__.get("_protected_args", ctx.__dict__.get("protected_args", []))
    return [*protected, *ctx.args]


def _parse(line: str) -> None:
    """Resolve the command path, then parse its options and arguments strictly.

    Files the page creates on the way (``board.db``) do not exist here, so paths that must
    exist are the only check left out.
    """
    args = shlex.split(line)[1:]
    cmd: click.Command = builtin_cli()
    ctx = cmd.make_context("nascost", list(args), resilient_parsing=True)
    rest = _rest(ctx)
    while isinstance(cmd, click.Group):
        if not rest:
            raise click.UsageError(f"{line!r} names a group, not a command")
        wanted = rest[0]
        name, sub, rest = cmd.resolve_command(ctx, rest)
        if sub is None:
            raise click.UsageError(f"unknown command {wanted!r}")
        resilient = isinstance(sub, click.Group)
        ctx = sub.make_context(name or "", list(rest), parent=ctx, resilient_parsing=resilient)
        cmd, rest = sub, _rest(ctx)


CASES = [(page, line) for page in PAGES if (DOCS / page).exists() for line in _commands(page)]


def test_pages_have_commands() -> None:
    assert len([c for c in CASES if c[0] == "tutorial-add-your-hardware.md"]) >= 8


@pytest.mark.parametrize(("page", "line"), CASES, ids=[f"{p}:{i}" for i, (p, _) in enumerate(CASES)])
def test_documented_command_parses(page: str, line: str) -> None:
    try:
        _parse(line)
    except click.UsageError as exc:
        pytest.fail(f"docs/{page}: `{line}` does not parse: {exc.format_message()}")
