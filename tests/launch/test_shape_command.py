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
    (("--time", "210:214"), ["error: --time 210:214: expected a time in ms (211.6) or a range "
                              "START:STOP:STEP"]),
    (("--time", "abc", "--time", "210:214:0"),
     ["error: --time abc: expected a time in ms", "error: --time 210:214:0: the step must be > 0"]),
    (("--time", "214:210:0.1"), ["error: --time 214:210:0.1: STOP is before START"]),
    (("--time", "1390:1410:1", "-o", "{tmp}/v.html"),
     ["error: --time: 10 of the 21 times (1401 ms ...) outside protocol step_pos (0 to 1400 ms)"]),
    (("--time", "0:1000:0.1", "-o", "{tmp}/v.html"),
     ["error: --time 0:1000:0.1: 10001 times; an animated page holds at most 400 frames"]),
    (("--time", "210:214:0.1", "-o", "{tmp}/v.png", "-o", "{tmp}/v.html"),
     ["error: --time: 41 times; a PNG holds at most 16 panels, expected fewer times or an "
      "--output FILE.html"]),
    (("--parameter", "gbar_ih.apical", "--time", "1:2:0.5"), ["error: --parameter gbar_ih.apical "
                                                              "with --time"]),
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


def test_time_ranges_parsed():
    from cellsweep.launch.shape_command import parse_times

    times, problems = parse_times(["210:214:0.1"])
    assert problems == [] and len(times) == 41
    assert times[0] == 210.0 and times[16] == 211.6 and times[-1] == 214.0   # STOP included
    assert parse_times(["211.6"]) == ((211.6,), [])
    assert parse_times(["212", "210:211:0.5", "211"]) == ((210.0, 210.5, 211.0, 212.0), [])
    assert parse_times(["0:1:0.3"])[0] == (0.0, 0.3, 0.6, 0.9)
    assert parse_times(["1:nan:0.1"])[1][0].startswith("--time 1:nan:0.1: expected")


ANIMATION = """(() => {
  const div = document.querySelector('.js-plotly-plot');
  const frames = div._transitionData._frames;
  const soma = {};                          // row 0 (soma[0]): its colour in each frame
  const k = div.data.findIndex(t => t.customdata.includes(0));
  const at = div.data[k].customdata.indexOf(0);
  for (const f of frames) soma[f.name] = f.data[k].line.color[at];
  let lo = Infinity, hi = -Infinity;
  for (const f of frames) for (const d of f.data) for (const c of d.line.color) {
    if (c !== null) { lo = Math.min(lo, c); hi = Math.max(hi, c); }
  }
  const slider = div.layout.sliders[0];
  return {frames: frames.length, soma, lo, hi, cmin: div.layout.coloraxis.cmin,
          cmax: div.layout.coloraxis.cmax, steps: slider.steps.map(s => s.label),
          suffix: slider.currentvalue.suffix,
          buttons: div.layout.updatemenus[0].buttons.map(b => b.label)};
})()"""
SHOW = """(async () => {
  const div = document.querySelector('.js-plotly-plot');
  await Plotly.animate(div, ['211.6'], div.layout.sliders[0].steps[16].args[1]);  // the slider's
  const k = div.data.findIndex(t => t.customdata.includes(0));
  return [div.data[k].line.color[div.data[k].customdata.indexOf(0)], div.layout.sliders[0].active];
})()"""

ACTIVE = "document.querySelector('.js-plotly-plot').layout.sliders[0].active"


def test_a_time_range_animates_the_page_and_tiles_the_png(tmp_path, example_config,
                                                          example_model):
    """210:214:0.1 ms: 41 frames on one colour scale, each frame's soma colour the evaluation's
    soma at that time; shown by the slider; the PNG of three times has three panels."""
    from cellsweep.cells.evaluate import evaluate

    run_cellsweep("shape", example_config, "--protocol", "step_pos", "--time", "210:214:0.1",
                  "-o", tmp_path / "spike.html")
    run_cellsweep("shape", example_config, "--protocol", "step_pos", "--time", "211",
                  "--time", "211.6", "--time", "212.2", "-o", tmp_path / "spike.png")
    assert (tmp_path / "spike.png").read_bytes()[:8] == PNG
    assert (tmp_path / "spike.html").stat().st_size < 6_500_000     # frames: colours only
    with open_page(tmp_path / "spike.html") as view:
        assert view.errors == [] and view.requests == []
        data = view.evaluate(ANIMATION)
        assert not_blank(view.screenshot())
        shown, active = view.evaluate(SHOW)
        view.page.get_by_text("play", exact=True).click()
        view.page.wait_for_timeout(600)
        view.page.get_by_text("pause", exact=True).click()
        view.page.wait_for_timeout(200)
        paused = view.evaluate(ACTIVE)
        view.page.wait_for_timeout(500)
        assert view.evaluate(ACTIVE) == paused > 16       # it played on, and stopped
        assert view.errors == []
    t, v = evaluate(example_model, {}, traces=True).traces["step_pos"]["soma"]
    assert data["frames"] == 41 and len(data["steps"]) == 41 and data["steps"][16] == "211.6"
    assert data["suffix"] == " ms" and data["buttons"] == ["play", "pause"]
    for time in (211.0, 211.6, 212.2):
        assert data["soma"][f"{time:g}"] == np.interp(time, t, v)
    assert (data["cmin"], data["cmax"]) == (data["lo"], data["hi"])
    assert data["lo"] < -60 and data["hi"] > 30
    assert shown == np.interp(211.6, t, v) and active == 16
