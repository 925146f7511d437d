"""Exceptions shared by every layer of cellsweep.

Bad input is reported with ``where: what is wrong; what was found; what is allowed``.
A ``ConfigError`` carries every problem found in one pass, so the user fixes them all at once.
Per-evaluation failures are *not* exceptions for the caller: they become a status and a message.
"""


class FrameworkError(Exception):
    """Base class of every error cellsweep raises on purpose."""


class ConfigError(FrameworkError, ValueError):
    """One or more problems in a user's input, each naming the file and the key."""

    def __init__(self, problems):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class MorphologyError(ConfigError):
    """A morphology file that cannot be loaded safely."""


class MechanismError(FrameworkError):
    """A mechanism set that cannot be compiled or loaded."""


class SimulationError(FrameworkError):
    """NEURON failed while building or running a cell."""
