"""One exception type for everything a user can fix.

The CLI turns a :class:`NascostError` into one line on stderr and exit code 2;
any other exception is a bug and shows a traceback (always with ``--debug``).
"""

from __future__ import annotations


class NascostError(Exception):
    """Bad input or environment: the message names the problem and the fix."""

    exit_code = 2


class UnknownNameError(NascostError, KeyError):
    """A plugin, preset or setting name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnavailableError(NascostError):
    """A plugin that exists but cannot run here (no CUDA, no energy counter, ...)."""
