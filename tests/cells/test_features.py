"""Our eFEL layer (no resets, grouped calls) must give what direct eFEL calls give."""

import math

import numpy as np
import pytest

from cellsweep.cells import features as F
from cellsweep.cells import spec as S

NAMES = ["Spikecount", "mean_frequency", "AP_height", "AP_width", "voltage_base",
         "time_to_first_spike", "AHP_depth_abs", "ISI_CV", "adaptation_index2",
         "steady_state_voltage_stimend", "AP_amplitude", "decay_time_constant_after_stim"]


def _direct(trace, name, settings):
    """eFEL as a careful user calls it: reset, set settings, one feature."""
    import efel

    efel.reset()
    for key, value in settings.items():
        efel.set_setting(key, value)
    values = efel.get_feature_values([trace], [name], raise_warnings=False)[0][name]
    efel.reset()
    return values


def _features(names, window, settings=(), protocol="p", recording="soma"):
    return [S.Feature(name=f"{protocol}.{recording}.{n}.{i}", protocol=protocol,
                      recording=recording, efel=n, mean=1.0, std=1.0, window_ms=window,
                      settings=tuple(settings)) for i, n in enumerate(names)]


@pytest.fixture(scope="module")
def experimental_trace(shared_data):
    data = np.loadtxt(shared_data / "traces" / "efel" / "example_trace1.txt")
    return data[:, 0], data[:, 1]


@pytest.mark.parametrize("settings", [(), (("Threshold", -30.0), ("interp_step", 0.05)),
                                      (("strict_stiminterval", True),)])
def test_grouped_features_equal_direct_efel_on_an_experimental_trace(experimental_trace,
                                                                     settings):
    t, v = experimental_trace
    feats = _features(NAMES, (700.0, 2700.0), settings)
    raw = F.compute(feats, F.feature_groups(feats), {"p": {"soma": (t, v)}})
    trace = {"T": t, "V": v, "stim_start": [700.0], "stim_end": [2700.0]}
    for f in feats:
        expected = _direct(trace, f.efel, dict(settings))
        if expected is None:
            assert raw[f.name] is None, f.name
        else:
            assert np.array_equal(raw[f.name], expected), f.name
    # the reference values quoted in the data README (eFEL 5.7, Threshold -20 mV)
    if not settings:
        assert raw["p.soma.Spikecount.0"][0] == 6
        assert raw["p.soma.voltage_base.4"][0] == pytest.approx(-74.71, abs=0.01)


def test_settings_do_not_leak_between_groups(experimental_trace):
    t, v = experimental_trace
    low = _features(["Spikecount"], (700.0, 2700.0), [("Threshold", 100.0)], recording="a")
    default = _features(["Spikecount"], (700.0, 2700.0), recording="b")
    responses = {"p": {"a": (t, v), "b": (t, v)}}
    both = F.compute(low + default, F.feature_groups(low + default), responses)
    alone = F.compute(default, F.feature_groups(default), responses)
    assert both[default[0].name][0] == alone[default[0].name][0] == 6
    assert both[low[0].name][0] == 0


def test_scores_follow_efel_get_distance(experimental_trace):
    import efel

    t, v = experimental_trace
    trace = {"T": t, "V": v, "stim_start": [700.0], "stim_end": [2700.0]}
    feats = [S.Feature(name=n, protocol="p", recording="soma", efel=n, mean=m, std=s,
                       window_ms=(700.0, 2700.0))
             for n, m, s in [("AP_height", 20.0, 3.0), ("Spikecount", 5.0, 0.5),
                             ("ISI_CV", 0.1, 0.05), ("burst_number", 1.0, 1.0)]]
    raw = F.compute(feats, F.feature_groups(feats), {"p": {"soma": (t, v)}})
    values, scores, missing = F.summarise(feats, raw, S.Scoring(missing_penalty=250.0))
    for f in feats:
        efel.reset()
        expected = efel.get_distance(trace, f.efel, f.mean, f.std, trace_check=False,
                                     error_dist=250.0)
        assert scores[f.name] == expected, f.name
    efel.reset()
    assert values["AP_height"] == pytest.approx(np.mean(raw["AP_height"]))


def test_missing_feature_is_recorded_with_the_penalty():
    t = np.arange(0, 500, 0.1)
    v = np.full_like(t, -70.0)                     # no spike: AP_height cannot be computed
    feats = _features(["AP_height", "Spikecount"], (100.0, 400.0))
    raw = F.compute(feats, F.feature_groups(feats), {"p": {"soma": (t, v)}})
    values, scores, missing = F.summarise(feats, raw, S.Scoring(missing_penalty=99.0))
    assert missing == [feats[0].name]
    assert math.isnan(values[feats[0].name]) and scores[feats[0].name] == 99.0
    assert values[feats[1].name] == 0.0 and scores[feats[1].name] == 1.0
