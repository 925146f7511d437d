"""The registry of campaign kinds: which config section selects which kind.

A config describes one campaign; its kind is the one registered section it has (``sweep:``,
``optimise:``, ``profile:``). A new kind implements ``sweep.engine.CampaignKind`` and is added
to ``KINDS``; nothing else in ``launch`` changes.
"""

from __future__ import annotations

import dataclasses

from cellsweep.cells.config import display_path
from cellsweep.cells.errors import ConfigError
from cellsweep.cells.schema import ConfigSource
from cellsweep.launch.convergence_command import report as convergence_report
from cellsweep.launch.sensitivity_command import brief as sensitivity_brief
from cellsweep.optimise.campaign import KIND as OPTIMISE
from cellsweep.sweep.campaign import KIND as SWEEP
from cellsweep.sweep.convergence import KIND as CONVERGENCE
from cellsweep.sweep.profile_campaign import KIND as PROFILE

# the convergence kind's report also plots (launch's job): its table and the error-vs-level PNG
CONVERGENCE = dataclasses.replace(CONVERGENCE, report=convergence_report)
# a sweep of a sensitivity design ends with the total indices (Morris: mu*) of its features
SWEEP = dataclasses.replace(SWEEP, report=sensitivity_brief)
KINDS = {kind.name: kind for kind in (SWEEP, OPTIMISE, PROFILE, CONVERGENCE)}
# a profile: section also sets up profile features of a sweep or an optimisation, so it
# selects the profile kind only when the config has neither (``cellsweep profile`` always does)
SELECTING = ("sweep", "optimise", "convergence")


def kind_of(source: ConfigSource, required: bool = True):
    """The campaign kind a config describes; None if it describes none and ``required`` is
    false (a model-only config, which ``validate`` and ``evaluate`` accept)."""
    found = [name for name in SELECTING if name in source.data]
    if len(found) == 1:
        return KINDS[found[0]]
    if not found and "profile" in source.data:
        return PROFILE
    if not found and not required:
        return None
    sections = " or ".join(f"{name}:" for name in KINDS)
    raise ConfigError([f"{display_path(source.path)}: "
                       + (f"has both {' and '.join(n + ':' for n in found)}; a config "
                          "describes one campaign" if found
                          else f"needs a {sections} section to run")])
