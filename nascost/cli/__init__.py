"""The ``nascost`` command line: thin click commands over the library.

Commands parse arguments, resolve plugins and call library functions. Bad
input raises :class:`~nascost.errors.NascostError`, which :func:`main` turns
into one line on stderr and exit code 2; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import os

# Before torch (and its OpenMP runtime) loads: idle OpenMP threads sleep instead of spinning.
# Spinning threads collapse a multi-threaded step on a machine doing anything else (a 3-step
# search: 8 s at one thread, >300 s at two spinning threads, 29 s at two passive ones beside
# one busy process; docs/search.md#threads). Computing commands default to one thread anyway;
# this keeps --threads N from collapsing. An explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import importlib
import sqlite3
import sys
import traceback
import warnings

import click

from nascost import __version__
from nascost.errors import NascostError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: Modules that add the built-in commands; each defines ``register(cli)``.
COMMAND_MODULES = [
    "nascost.cli.core",
    "nascost.cli.predict",
    "nascost.cli.measure",
    "nascost.cli.train",
    "nascost.cli.report",
    "nascost.cli.sweep",
    "nascost.cli.arch",
    "nascost.cli.search",
    "nascost.cli.pareto",
]


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="nascost")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """nascost: latency-aware differentiable neural architecture search.

    Measure costs on your hardware, fit a cost predictor, and search
    architectures that trade accuracy for speed with one coefficient.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _add_commands() -> None:
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(cli)
    from nascost import plugins

    plugins.load_plugins()

    def on_impl(owner: str) -> None:
        pass

    plugins._call_each("register_commands", {"cli": cli}, on_impl)


def _one_line(msg: str) -> str:
    return " ".join(str(msg).split())


#: How to continue each resumable command after Ctrl-C or a kill.
RESUME_HINTS = {
    "search": "rerun it with --resume to continue from the last checkpoint",
    "quickstart": "rerun it with --resume to continue",
    "train": "rerun it with --resume to continue from the last finished epoch",
    "collect": "rerun the same command to continue (measured rows are kept)",
    "sweep": "rerun the same command to continue (finished searches are kept)",
}


def _interrupted(args: list[str]) -> str:
    command = next((a for a in args if not a.startswith("-")), "")
    hint = RESUME_HINTS.get(command)
    return f"nascost: interrupted; {hint}" if hint else "nascost: interrupted"


def _environment_error(exc: BaseException) -> str | None:
    """The one line for a file-system or database error no command converted, or None (a bug)."""
    if isinstance(exc, OSError):
        from nascost.files import os_error

        if exc.filename is None and not exc.strerror:  # e.g. PIL's 'cannot identify image file ...'
            return f"cannot read input: {_one_line(str(exc))} (check the file)"
        return str(os_error(exc, "use"))
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
        return (f"a database failed: {exc} (the file may be damaged, read-only or on a full disk: check it, "
                "or restore it from a backup or a 'nascost data export')")
    if isinstance(exc, UnicodeDecodeError):
        return f"an input file is not text ({exc.reason} at byte {exc.start}); give a text file"
    return None


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """Warnings as one ``nascost: warning:`` line each, not Python's two lines with source."""
    click.echo(f"nascost: warning: {_one_line(str(message))}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI with nascost's error policy."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("NASCOST_DEBUG") == "1"
    if not debug:
        warnings.showwarning = _show_warning
    try:
        _add_commands()
        cli.main(args=args, prog_name="nascost", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo(_interrupted(args), err=True)
        sys.exit(130)
    except click.ClickException as exc:  # usage errors: unknown option, bad value
        if debug:
            traceback.print_exc()
        hint = ""
        ctx = getattr(exc, "ctx", None)
        if ctx is not None:
            hint = f" (see '{ctx.command_path} -h')"
        click.echo(f"nascost: error: {_one_line(exc.format_message())}{hint}", err=True)
        sys.exit(2)
    except NascostError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"nascost: error: {_one_line(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo(_interrupted(args), err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        line = _environment_error(exc)
        if line is not None:  # the last resort: commands convert these where they know the file
            if debug:
                traceback.print_exc()
            click.echo(f"nascost: error: {_one_line(line)}", err=True)
            sys.exit(2)
        if debug:
            traceback.print_exc()
        else:
            click.echo(
                f"nascost: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
                "(this is a bug; rerun with --debug for the traceback)",
                err=True,
            )
        sys.exit(1)
