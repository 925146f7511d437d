"""Parameter recovery: targets made from the bundled example with known parameters; a bounded
IBEA run finds those parameters again within 10 %."""

import pytest
import yaml

from cellsweep.cells.evaluate import evaluate
from cellsweep.cells.loader import load_model
from cellsweep.sweep.results import best
from tests.helpers import DATA, run_cellsweep

KNOWN = {"gbar_na_t.somatic": 0.1, "gbar_k_m.somatic": 0.005}


@pytest.mark.neuron
@pytest.mark.slow
def test_ibea_recovers_known_parameters(tmp_path):
    source = DATA / "recovery" / "recovery.yaml"
    model = load_model(source)[0]
    truth = evaluate(model, KNOWN)
    assert truth.status == "ok" and not truth.missing
    data = yaml.safe_load(source.read_text())
    data["cell"]["morphology"] = str((source.parent / data["cell"]["morphology"]).resolve())
    data["cell"]["mechanisms_dir"] = str((source.parent / data["cell"]["mechanisms_dir"]).resolve())
    for feature, target in zip(data["features"], model.features):
        value = truth.features[target.name]
        feature.update(mean=value, std=max(abs(value) * 0.05, 0.1))
    config = tmp_path / "recovery.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "recovery.h5"
    run_cellsweep("run", config, "-o", out, timeout=1800)
    found = best(out, 1)[0]["parameters"]
    for name, value in KNOWN.items():
        assert found[name] == pytest.approx(value, rel=0.10), (name, found)
