"""eFEL feature extraction and z-score objectives, without eFEL's costly resets.

BluePyOpt calls ``efel.reset()`` (about 10 ms: it re-reads eFEL's dependency file) twice per
feature. eFEL 5 re-sends its whole settings object to the C++ core at every
``get_feature_values`` call, so we only need that object to hold exactly the settings a group
of features wants: defaults plus the group's overrides, set once per group. Each eFEL feature
gets its own ``get_feature_values`` call, as in BluePyOpt: within one call a feature computed
after another can come out a few ulp apart. Scores follow BluePyOpt/eFEL's ``getDistance``: the
mean over the feature's values of ``|value - mean| / std``; a feature eFEL cannot compute
(``None``, empty, or non-finite) is *missing*: its value is NaN and its score the configured
penalty.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from cellsweep.cells import spec as S

_DEFAULTS = None


def _efel():
    import efel

    global _DEFAULTS
    if _DEFAULTS is None:
        _DEFAULTS = {f.name: f.default for f in dataclasses.fields(efel.Settings)}
    return efel


def _use_settings(efel, wanted: dict) -> None:
    """Make eFEL's settings object equal defaults + ``wanted`` (no reset needed)."""
    settings = efel.get_settings()
    target = {**_DEFAULTS, **wanted}
    for name in list(vars(settings)):
        if name not in target:
            delattr(settings, name)
    for name, value in target.items():
        if name in _DEFAULTS:
            value = type(_DEFAULTS[name])(value)
        setattr(settings, name, value)


def feature_groups(features) -> dict:
    """Group features that can be computed by one eFEL call (same trace, window, settings)."""
    groups: dict = {}
    for f in features:
        if f.profile or f.trace:      # profile measure (cells.profile_run), trace measure
            continue                  # (cells.trace_features)
        key = (f.protocol, f.recording, f.window_ms, f.settings, f.stimulus_current_nA)
        groups.setdefault(key, []).append(f)
    return groups


def compute(groups, responses: dict) -> dict:
    """Raw eFEL values for each feature: ``{name: ndarray or None}``."""
    efel = _efel()
    out = {}
    for (protocol, recording, window, settings, current), members in groups.items():
        t, v = responses[protocol][recording]
        wanted = dict(settings)
        if current is not None:
            wanted["stimulus_current"] = float(current)
        _use_settings(efel, wanted)
        trace = {"T": t, "V": v, "stim_start": [window[0]], "stim_end": [window[1]]}
        # one call per eFEL feature, as BluePyOpt's eFELFeature makes it: a feature computed
        # after another in the same call can differ in the last bits (eFEL 5.7: AP_height
        # after any other feature with interp_step 0.05, tests/cells/test_features.py)
        values = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in dict.fromkeys(f.efel for f in members):
                values.update(efel.get_feature_values([trace], [name], raise_warnings=False)[0])
        for f in members:
            raw = values.get(f.efel)
            out[f.name] = None if raw is None else np.asarray(raw, dtype=float)
    _use_settings(efel, {})
    return out


def summarise(features, raw: dict, scoring: S.Scoring) -> tuple[dict, dict, list]:
    """Feature values (mean of eFEL's array, NaN if missing), scores, and missing names."""
    values, scores, missing = {}, {}, []
    for f in features:
        arr = raw.get(f.name)
        if arr is None or arr.size == 0 or not np.all(np.isfinite(arr)):
            values[f.name] = float(np.mean(arr)) if arr is not None and arr.size else math.nan
            scores[f.name] = scoring.missing_penalty
            missing.append(f.name)
            continue
        values[f.name] = float(np.mean(arr))
        total = 0.0
        for x in arr.tolist():          # summed in order, exactly as eFEL's getDistance does
            total += abs(x - f.mean)
        score = total / f.std / arr.size
        if scoring.max_score is not None:
            score = min(score, scoring.max_score)
        scores[f.name] = score * f.weight
    return values, scores, missing
