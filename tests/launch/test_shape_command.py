"""``cellsweep shape`` and ``cellsweep plot --shape``: the real commands write a PNG and a
self-contained page; the page opens in headless Chromium without errors or requests, holds its
data and is not blank, and its colours are the evaluation's values; bad input is refused, one
line per problem, exit 2, nothing written."""

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from tests.browser import not_blank, open_page
from tests.helpers import run_cellsweep

pytestmark = pytest.mark.neuron

TIME = 211.6            # the first spike of step_pos (the soma at +28 mV)
PNG = b"\x89PNG\r\n\x1a\n"
# every point of the page: [segment row, colour] (the gap points between segments have none)
POINTS = """(() => {
  const div = document.querySelector('.plotly-graph-div');
  const out = [];
  for (const t of div.data) {
    t.customdata.forEach((row, k) => {
      if (row !== null) out.push([row, typeof t.line.color === 'string' ? null : t.line.color[k]]);
    });
  }
  return {traces: div.data.length, points: out, bar: div.layout.coloraxis.colorbar.title.text};
})()"""


def _page(path):
    with open_page(path) as view:
        assert view.errors == [] and view.requests == []
        data = view.evaluate(POINTS)
        assert not_blank(view.screenshot())
    return data


@pytest.fixture(scope="module")
def drawn(tmp_path_factory, example_config):
    out = tmp_path_factory.mktemp("shape")
    run_cellsweep("shape", example_config, "--protocol", "step_pos", "--time", TIME,
                  "-o", out / "v.png", "-o", out / "v.html")
    run_cellsweep("shape", example_config, "--parameter", "gbar_ih.apical",
                  "--projection", "xz", "-o", out / "ih.png", "-o", out / "ih.html")
    return out


def test_voltage_mid_spike_png_and_page(drawn, example_model):
    from cellsweep.cells.evaluate import evaluate

    for name in ("v.png", "ih.png"):
        assert (drawn / name).read_bytes()[:8] == PNG
    page = (drawn / "v.html").read_text()
    assert "<script src=" not in page and "plotly.js v" in page   # plotly.js is inline
    assert (drawn / "v.html").stat().st_size < 6_000_000
    data = _page(drawn / "v.html")
    assert data["bar"] == "v (mV)" and data["traces"] <= 5
    colours = {}
    for row, colour in data["points"]:
        colours.setdefault(row, set()).add(colour)
    assert all(len(c) == 1 for c in colours.values())           # one colour per segment
    t, v = evaluate(example_model, {}, traces=True).traces["step_pos"]["soma"]
    assert colours[0] == {np.interp(TIME, t, v)}                # row 0: soma[0], its 1 segment
    assert len(colours) == 278


def test_ih_density_png_and_page(drawn):
    """Written by the command (its colours are tests/cells/test_shape.py's; one browser run of
    a page of this command is enough: each costs seconds)."""
    assert (drawn / "ih.png").read_bytes()[:8] == PNG
    page = (drawn / "ih.html").read_text()
    assert "gbar_ih.apical (S\\u002fcm2)" in page or "gbar_ih.apical (S/cm2)" in page
    assert "parameter gbar_ih.apical, distribution ih_gradient" in page


def _invoke(*args):
    from cellsweep.launch.cli import main

    result = CliRunner().invoke(main, ["shape", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stderr.strip().splitlines()


@pytest.mark.parametrize("args, expected", [
    (("--protocol", "nope"), ["error: --protocol nope: no such protocol in "]),
    (("--time", "1500"), ["error: --time 1500: outside protocol step_pos (0 to 1400 ms)"]),
    (("--parameter", "gbar_ih.nowhere"), ["error: --parameter gbar_ih.nowhere: not a parameter"]),
    (("--parameter", "celsius"), ["error: --parameter celsius: a global parameter has no value "
                                  "per segment"]),
    (("--parameter", "gbar_ih.apical", "--time", "5"), ["error: --parameter gbar_ih.apical "
                                                        "with --time"]),
    (("-o", "{tmp}/shape.jpg"), ["error: --output {tmp}/shape.jpg: expected a .png or .html"]),
    (("-o", "{tmp}/file/shape.png"), ["error: --output {tmp}/file/shape.png: cannot create "]),
    (("--protocol", "nope", "-o", "{tmp}/a.svg", "--set", "gbar_na_t.somatic=nan"),
     ["error: --set gbar_na_t.somatic: ", "error: --protocol nope: ", "error: --output "]),
    (("--variable", "bogus", "-o", "{tmp}/v.png"),
     ["error: --variable bogus: not on any segment of example_pyramid; variables there: v, "]),
])
def test_bad_input_refused_before_anything_is_written(example_config, tmp_path, args, expected):
    (tmp_path / "file").write_text("not a directory")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, lines = _invoke(example_config, *args)
    assert code == 2
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == len(expected), lines
    for line, start in zip(errors, expected):
        assert line.startswith(start.replace("{tmp}", str(tmp_path))), line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    if "--variable" in args:
        assert "ihcn_ih" in errors[0] and "ina" in errors[0]


def test_plot_shape_of_a_results_point(tmp_path, repo, example_model):
    """A sweep's point re-simulated with the file's model: its page shows that point's run."""
    from cellsweep.cells.evaluate import evaluate

    data = yaml.safe_load((repo / "configs" / "example" / "example.yaml").read_text())
    base = repo / "configs" / "example"
    data["cell"]["morphology"] = str(base / data["cell"]["morphology"])
    data["cell"]["mechanisms_dir"] = str((base / data["cell"]["mechanisms_dir"]).resolve())
    data.pop("profile")
    data["sweep"] = {"design": "grid", "parameters": {"gbar_k_m.somatic": {"values": [0.01]}}}
    data["run"] = {"output": "sweep.h5"}
    config = tmp_path / "sweep.yaml"
    config.write_text(yaml.safe_dump(data))
    run_cellsweep("run", config, "--backend", "serial")
    results = tmp_path / "sweep.h5"
    proc = run_cellsweep("plot", results, "--shape", "0", "--protocol", "step_pos", "--time",
                         TIME, "--out", tmp_path / "plots")
    assert "shape_0.png" in proc.stdout and "shape_0.html" in proc.stdout
    assert (tmp_path / "plots" / "shape_0.png").read_bytes()[:8] == PNG
    soma = {c for row, c in _page(tmp_path / "plots" / "shape_0.html")["points"] if row == 0}
    t, v = evaluate(example_model, {"gbar_k_m.somatic": 0.01}, traces=True) \
        .traces["step_pos"]["soma"]
    t0, v0 = evaluate(example_model, {}, traces=True).traces["step_pos"]["soma"]
    assert soma == {np.interp(TIME, t, v)} != {np.interp(TIME, t0, v0)}
    from cellsweep.launch.cli import main

    for args, message in ((["--shape", "7"], "error: --shape 7: no point 7 with a result"),
                          (["--time", "5"], "error: --protocol, --time, --variable and "
                                            "--parameter go with --shape")):
        bad = CliRunner().invoke(main, ["plot", str(results), *args, "--out",
                                        str(tmp_path / "none")])
        assert bad.exit_code == 2 and bad.stderr.startswith(message), bad.stderr
    assert not (tmp_path / "none").exists()
