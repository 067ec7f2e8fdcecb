"""One concept, one flag: --channels in every command; --C still parses, hidden."""

from __future__ import annotations

import pytest

from nascost.cli import _add_commands, cli


@pytest.mark.parametrize("command", ["search", "sweep"])
def test_channels_is_the_flag_and_C_a_hidden_alias(command: str, run_cli) -> None:
    code, out, _ = run_cli(command, "--help")
    assert code == 0 and "--channels" in out and "--C " not in out
    _add_commands()
    cmd = cli.commands[command]
    base = ["--out", "x"] if command == "search" else ["--out", "x", "--cost", "flops", "--lambdas", "0"]
    for flag in ("--channels", "--C"):
        ctx = cmd.make_context(command, [*base, flag, "8"], resilient_parsing=True)
        assert ctx.params["C"] == 8


def test_every_command_spells_channels_alike() -> None:
    _add_commands()
    assert len(cli.commands) > 10
    flags = set()
    checked = 0
    for name, cmd in cli.commands.items():
        for sub in getattr(cmd, "commands", {name: cmd}).values():
            for p in sub.params:
                flags |= {o for o in getattr(p, "opts", []) if o in ("--C", "--channels", "--init-channels")}
                if getattr(p, "name", None) in ("C", "channels"):
                    assert "--channels" in p.opts, f"{name}: channels flag {p.opts}"
                    checked += 1
    assert "--init-channels" not in flags and checked >= 5


def test_a_config_file_with_the_old_key_still_works(tmp_path) -> None:
    _add_commands()
    cfg = tmp_path / "search.toml"
    cfg.write_text('C = 6\nout = "x"\n')
    ctx = cli.commands["search"].make_context("search", ["--config", str(cfg)])
    assert ctx.params["C"] == 6
