"""Exceptions shared by every layer of cellsweep, and ``Problem``: one problem of the input.

Bad input is reported with ``file: key.path: what is wrong; what was found; what is allowed``.
A ``ConfigError`` carries every problem found in one pass, so the user fixes them all at once;
problems stay data (file, key path, message, suggestion) until the command line prints them.
Per-evaluation failures are *not* exceptions for the caller: they become a status and a message.
"""

from __future__ import annotations

from dataclasses import dataclass


MAX_LINE = 2000      # characters of one printed problem


@dataclass(frozen=True)
class Problem:
    """One problem: in ``source`` (a file as the user should read its name, or ""), at
    ``path`` (a key path such as ``cell.free.gbar_na_t.somatic``, or "" for the whole file)."""

    source: str
    path: str
    message: str
    suggestion: str = ""          # e.g. "did you mean 'seed'?"

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.path) if part)
        text = self.message + (f"; {self.suggestion}" if self.suggestion else "")
        line = f"{where}: {text}" if where else text
        # one line a person reads: a list of every allowed name can be long on big models
        return line if len(line) <= MAX_LINE else \
            f"{line[:MAX_LINE]}… ({len(line)} characters in all)"

    @classmethod
    def of(cls, item) -> "Problem":
        """A ``Problem`` as it is, or one from a message that is already a whole line."""
        return item if isinstance(item, Problem) else cls("", "", str(item))


class FrameworkError(Exception):
    """Base class of every error cellsweep raises on purpose."""


class ConfigError(FrameworkError, ValueError):
    """One or more problems in a user's input, each naming the file and the key."""

    def __init__(self, problems):
        if isinstance(problems, (str, Problem)):
            problems = [problems]
        self.details: list[Problem] = [Problem.of(p) for p in problems]
        super().__init__("\n".join(self.problems))

    @property
    def problems(self) -> list[str]:
        """The problems as the lines a user reads."""
        return [str(p) for p in self.details]


class MorphologyError(ConfigError):
    """A morphology file that cannot be loaded safely."""


class MechanismError(FrameworkError):
    """A mechanism set that cannot be compiled or loaded."""


class SimulationError(FrameworkError):
    """NEURON failed while building or running a cell."""


class TraceNotFinite(SimulationError):
    """A generated (profile) protocol's trace had non-finite samples: the evaluation's status
    is ``nan``, as for a user's protocol."""
