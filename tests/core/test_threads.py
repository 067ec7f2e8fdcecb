"""``--threads``: one option definition; the command's body runs at that many torch threads."""

from __future__ import annotations

import click
import torch
from click.testing import CliRunner

from nascost.cli.output import computes


def test_computes_runs_the_body_at_the_threads_asked_and_restores_them() -> None:
    seen: list[int] = []

    @click.command()
    @computes
    def cmd() -> None:
        seen.append(torch.get_num_threads())

    saved = torch.get_num_threads()
    runner = CliRunner()
    assert runner.invoke(cmd, ["--threads", "3"]).exit_code == 0
    assert runner.invoke(cmd, []).exit_code == 0
    assert seen == [3, 1]  # default: one thread
    assert torch.get_num_threads() == saved
    bad = runner.invoke(cmd, ["--threads", "0"])
    assert bad.exit_code == 2 and "--threads" in bad.output


def test_every_computing_command_takes_threads() -> None:
    from nascost.cli import _add_commands, cli

    _add_commands()
    for path in (["search"], ["quickstart"], ["train"], ["sweep"], ["fit"], ["compare"]):
        cmd = cli
        for name in path:
            cmd = cmd.commands[name] if isinstance(cmd, click.Group) else cmd
        assert any(p.name == "threads" for p in cmd.params), path


def test_the_cli_makes_idle_openmp_threads_sleep_before_torch_loads_unless_told_otherwise() -> None:
    import os
    import subprocess
    import sys

    code = ("import os, sys; import nascost.cli; "
            "print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["PASSIVE", "False"]  # set before torch's OpenMP runtime reads it
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split()[0] == "ACTIVE"
