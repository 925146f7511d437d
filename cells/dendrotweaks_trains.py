"""The input spike trains of a DendroTweaks synapse population, as DendroTweaks 0.5 draws them.

A population (``stimuli.populations.<name>`` of a stimuli folder's ``config.json``) gives every
synapse its own train, generated once when ``load_stimuli`` runs and played by a ``VecStim``:

- the population's ``seed`` seeds a ``numpy.random.SeedSequence``; it spawns one child per
  synapse (``N`` of them), and synapse *k* (in the order DendroTweaks keeps them, see
  ``cells.dendrotweaks_folder``) draws from ``numpy.random.default_rng`` seeded with its child's
  first 32-bit state word;
- over ``[start, end]`` ms (``duration = end - start``, in seconds below): when ``noise`` is
  exactly 1, ``int(rate * duration)`` exponential intervals of mean ``1/rate`` s, summed, the
  times within the duration kept (a Poisson train capped at that many events); otherwise a
  regular grid ``0, 1/rate, ...`` (< duration) plus normal jitter of standard deviation
  ``noise/rate``, the times within ``[0, duration]`` kept and sorted;
- seconds are turned into ms and shifted by ``start``.

NumPy's ``SeedSequence`` and ``default_rng`` (PCG64) give the same numbers on every platform, so
with a seed the trains are a function of the file. Without one (``seed: null``, DendroTweaks'
default) every load draws fresh entropy from the OS: the trains differ from run to run in
DendroTweaks itself, and no reader can reproduce them.
"""

from __future__ import annotations

import numpy as np


def population_trains(n: int, rate_hz: float, noise: float, start_ms: float, end_ms: float,
                      seed: int) -> list:
    """``n`` spike trains (lists of ms) of one population, synapse by synapse."""
    duration_s = (end_ms - start_ms) / 1000
    trains = []
    for child in np.random.SeedSequence(seed).spawn(n):
        rng = np.random.default_rng(int(child.generate_state(1)[0]))
        if noise == 1:
            times = np.cumsum(rng.exponential(1 / rate_hz, int(rate_hz * duration_s)))
            times = times[times <= duration_s]
        else:
            grid = np.arange(0, duration_s, 1 / rate_hz)
            times = grid + rng.normal(0, noise / rate_hz, len(grid))
            times = np.sort(times[(times >= 0) & (times <= duration_s)])
        trains.append([float(t) for t in start_ms + times * 1000])
    return trains
