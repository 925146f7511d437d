"""``cellsweep report``: the page of a sweep with failures (a real NEURON campaign with faults
injected by a mechanism), of an optimisation, of a profile, of a running campaign and of a
large file; its numbers against the file's; opened in a real headless Chromium (no console
error, no request leaving the machine, every plot drawn with data, not blank); bad input
refused in one line with nothing written."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from cellsweep.sweep.store import ResultsFile
from support.response import write_many, write_results
from tests.browser import not_blank, open_page
from tests.helpers import DATA, plain, run_cellsweep, write_config
from tests.launch.test_profile_command import CELL as PROFILE_CELL
from tests.sweep.test_report_data import write_fi_sweep

MAIN = ("provenance", "status", "failures", "timeline", "slowest")


def report(results, *args, check=True):
    return run_cellsweep("report", results, *args, check=check, timeout=120)


def page_of(results, *args) -> tuple:
    proc = report(results, *args)
    path = proc.stdout.strip().splitlines()[-1]
    return path, Path(path).read_text(encoding="utf-8")


def page_in_process(results, *args) -> str:
    """The page's text, ``cellsweep report`` run in this process (no interpreter start)."""
    from click.testing import CliRunner

    from cellsweep.launch.cli import main

    result = CliRunner().invoke(main, ["report", str(results), *map(str, args)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Path(result.output.strip().splitlines()[-1]).read_text(encoding="utf-8")


def check_in_browser(path, sections, traces=False):
    """Open the page: no errors, no remote requests, the sections there, every plotly graph
    drawn with data; returns what the DOM says of the tables (and with ``traces``, each
    graph's traces as (name, y values) pairs)."""
    with open_page(path, height=1100, settle_ms=300) as view:
        assert view.errors == []
        assert view.requests == []
        present = view.evaluate("Array.from(document.querySelectorAll('section')).map(s => s.id)")
        assert set(sections) <= set(present), present
        plots = view.evaluate("Array.from(document.querySelectorAll('.js-plotly-plot'))"
                              ".map(e => e.data ? e.data.length : 0)")
        figures = view.evaluate("document.querySelectorAll('div[id^=figure-]').length")
        assert len(plots) == figures > 0 and min(plots) > 0, (plots, figures)
        assert not_blank(view.screenshot())
        tables = view.evaluate("""(() => { const out = {};
            for (const s of document.querySelectorAll('section')) {
              out[s.id] = Array.from(s.querySelectorAll('table')).map(t =>
                Array.from(t.querySelectorAll('tbody tr')).map(r =>
                  Array.from(r.cells).map(c => c.textContent)));
            } return out; })()""")
        if not traces:
            return tables
        return tables, view.evaluate("""Array.from(document.querySelectorAll('.js-plotly-plot'))
            .map(e => e._fullData.map(t => [t.name || '', Array.from(t.y || [])]))""")


# -- a sweep of a real cell with failures ------------------------------------------------------------
@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """The fault mechanism's campaign without its timeout point: ok, a hoc error, a crash
    (retried once), an integration failure, NaN features; one worker."""
    folder = tmp_path_factory.mktemp("report_faults")
    for name in ("faults.yaml", "fault.mod", "ball_stick.swc"):
        shutil.copy(DATA / "faults" / name, folder / name)
    rows = (DATA / "faults" / "faults.csv").read_text().splitlines()
    (folder / "faults.csv").write_text("\n".join(r for r in rows if not r.startswith("2,"))
                                       + "\n")
    output = folder / "faults.h5"
    run_cellsweep("run", folder / "faults.yaml", "-o", output, "--workers", "1", timeout=300)
    return output


@pytest.mark.neuron
def test_sweep_with_failures_page_equals_the_file(faults):
    path, text = page_of(faults)
    assert path == str(faults.with_name("faults.report.html"))
    f = ResultsFile(faults)
    tables = check_in_browser(path, MAIN + ("response",))
    status = {row[0]: int(row[1]) for row in tables["status"][0]}
    assert status == f.status_counts() == {"ok": 3, "error": 2, "crashed": 1, "nan": 1}
    frame = f.frame()
    bad = frame[frame["status"] != "ok"]
    want = {(s, m): sorted(g["eval_id"].tolist())
            for (s, m), g in bad.groupby(["status", "message"])}
    shown = {(row[0], row[3]): [int(i) for i in row[4].split(", ")]
             for row in tables["failures"][0]}
    assert shown == want
    crashed = next(row for row in tables["failures"][0] if row[0] == "crashed")
    assert crashed[2] == "1"                                # retried once
    wall = (frame["t_end"] - frame["t_start"]).to_numpy()
    slowest = [int(row[0]) for row in tables["slowest"][0]]
    assert slowest == frame["eval_id"].to_numpy()[np.lexsort((frame["eval_id"], -wall))].tolist()
    assert f.signature in text and "versions" in text.lower()
    assert "&lt;" not in f.config_text and "injected hoc error" in text


# -- an optimisation ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def optimisation(tmp_path_factory, bluepyopt_simplecell):
    folder = tmp_path_factory.mktemp("report_optimise")
    data = yaml.safe_load((DATA / "simplecell" / "optimise_simplecell.yaml").read_text())
    data["cell"]["morphology"] = str(bluepyopt_simplecell / "simple.swc")
    data["optimise"].update(offspring_size=6, max_generations=3)
    data["run"]["traces"] = True
    config = folder / "opt.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    output = folder / "opt.h5"
    run_cellsweep("run", config, "-o", output, "--workers", "2", timeout=300)
    return output


@pytest.mark.neuron
def test_optimisation_page_has_convergence_front_and_the_best_against_targets(optimisation):
    path, text = page_of(optimisation, "--output", optimisation.parent / "out" / "opt.html")
    tables = check_in_browser(path, MAIN + ("optimisation", "response"))
    f = ResultsFile(optimisation)
    # every kind records its free parameters' bounds: the sbi export's prior
    from cellsweep.sweep.results import prior_bounds

    lower, upper = prior_bounds(f)
    assert (lower.tolist(), upper.tolist()) == ([0.05, 0.01], [0.125, 0.075])
    hof = f.optimisation()["hall_of_fame"]
    hall, best = tables["optimisation"][0], tables["optimisation"][1]
    assert [int(row[1]) for row in hall] == hof["eval_id"].tolist()
    assert [row[0] for row in best] == f.feature_names
    assert [float(row[2]) for row in best] == [1.0, 5.0]         # the targets' means
    assert "Pareto front" in text and "total score per generation" in text
    assert "stored traces" in text                               # run.traces: they are shown
    from cellsweep.launch.report_command import resimulate
    from cellsweep.sweep.report_data import gather

    best = gather(optimisation)["best"]                          # the hall of fame's first
    assert best["eval_id"] == int(hof["eval_id"][0])
    run = resimulate(optimisation, best)
    row = f.frame().set_index("eval_id").loc[best["eval_id"], f.feature_names]
    assert run["equal"] and run["features"].tobytes() == row.to_numpy(float).tobytes()


@pytest.mark.neuron
def test_a_campaign_whose_mechanism_is_gone_gets_a_note(faults, tmp_path):
    for name in ("faults.h5", "faults.yaml", "faults.csv", "ball_stick.swc"):   # no fault.mod
        shutil.copy(faults.parent / name, tmp_path / name)
    text = page_in_process(tmp_path / "faults.h5")
    assert "and they are not re-simulated: " in text
    assert "faults.yaml: cell.insert.somatic[1]: unknown mechanism &#x27;fault&#x27;" in text
    assert 'id="best"' in text and "injected hoc error" in text   # the rest of the page


# -- a profile -----------------------------------------------------------------------------------------
# test_profile_command's cell and profile, its passive step and FI curve only (no rheobase
# search, ZAP chirp or dendrite: cheap)
PROFILE = PROFILE_CELL.split("  rheobase:")[0]


@pytest.mark.neuron
def test_profile_page_has_its_measures_and_curves(tmp_path):
    shutil.copy(DATA / "tiny" / "ball_stick.swc", tmp_path / "ball_stick.swc")
    config = write_config(tmp_path / "cell.yaml", PROFILE)
    output = tmp_path / "profile.h5"
    run_cellsweep("profile", config, "-o", output, "--backend", "serial", timeout=300)
    path, _ = page_of(output)
    tables = check_in_browser(path, ("provenance", "status", "profile"))
    measures = ResultsFile(output).profile()["measures"]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in measures["names"]]
    assert [row[0] for row in tables["profile"][0]] == names
    assert "v_rest" in names and "fi_slope" in names


# -- a sweep with a profile feature and no stored traces: families, the best re-simulated ----------
@pytest.fixture(scope="module")
def fi_sweep(tmp_path_factory):
    return write_fi_sweep(tmp_path_factory.mktemp("report_fi"))


@pytest.mark.neuron
def test_best_is_resimulated_bit_equal_and_drawn_with_the_fi_family(fi_sweep):
    from cellsweep.launch.report_command import resimulate
    from cellsweep.sweep.report_data import gather

    f = ResultsFile(fi_sweep)
    frame = f.frame()
    best = gather(fi_sweep)["best"]
    run = resimulate(fi_sweep, best)
    row = frame[frame["eval_id"] == best["eval_id"]].iloc[0]
    stored = row[f.feature_names].to_numpy(dtype=float)
    assert run["equal"] and run["features"].tobytes() == stored.tobytes()   # bit for bit
    t, v = run["traces"]["step"]["soma"]
    assert t[-1] == pytest.approx(100.0) and v.max() > 0 > v.min()          # it fired

    path, text = page_of(fi_sweep)
    _, drawn = check_in_browser(path, MAIN + ("response", "families", "best"), traces=True)
    assert "its feature values equal the stored ones bit for bit" in text
    (trace,) = [y for traces in drawn for name, y in traces if name == "step / soma"]
    np.testing.assert_array_equal(trace, v)
    (family,) = [traces for traces in drawn if any(name.startswith("id ") for name, _ in traces)]
    rows = {int(name[3:]): y for name, y in family if name.startswith("id ")}
    columns = ["fi_curve@0nA", "fi_curve@0.2nA", "fi_curve@0.4nA"]
    assert sorted(rows) == frame["eval_id"].tolist()                         # one per row
    for i, y in rows.items():
        np.testing.assert_array_equal(y, frame.loc[frame["eval_id"] == i, columns].to_numpy()[0])
    assert "All 4 ok rows that hold it are drawn" in text


@pytest.mark.neuron
def test_no_simulate_a_lost_or_changed_config_and_a_differing_file_are_said(fi_sweep, tmp_path):
    text = page_in_process(fi_sweep, "--no-simulate", "--output", tmp_path / "plain.html")
    assert "not re-simulated (--no-simulate)" in text and "re-simulated traces" not in text
    alone = tmp_path / "alone" / "fi.h5"                 # the file without its config
    alone.parent.mkdir()
    shutil.copy(fi_sweep, alone)
    text = page_in_process(alone)
    assert "not re-simulated: the campaign&#x27;s config (fi.yaml, relative to the results " \
           "file) was not found beside the results file" in text
    changed = tmp_path / "changed" / "fi.h5"             # beside a config that is not its own
    changed.parent.mkdir()
    shutil.copy(fi_sweep, changed)
    shutil.copy(fi_sweep.parent / "ball_stick.swc", changed.parent)
    config = (fi_sweep.parent / "fi.yaml").read_text()
    (changed.parent / "fi.yaml").write_text(config.replace("mean: 5, std: 1", "mean: 6, std: 1"))
    text = page_in_process(changed)
    assert "not re-simulated: " in text and "is not the config that produced" in text
    forged = tmp_path / "forged" / "fi.h5"              # a stored value one ulp off
    shutil.copytree(fi_sweep.parent, forged.parent, ignore=shutil.ignore_patterns("*.html"))
    best = ResultsFile(forged).frame().sort_values(["total_score", "eval_id"]).iloc[0]
    i = int(best["eval_id"])
    with plain(forged, "r+") as h:
        h["features"][i, 1] = np.nextafter(h["features"][i, 1], 0)
    text = page_in_process(forged)
    assert "its feature values DIFFER from the stored ones (step.soma.voltage_base)" in text
    assert "re-simulated traces" in text


# -- a running campaign, a large file, a sensitivity design -----------------------------------------
def test_running_campaign_page(tmp_path):
    path = tmp_path / "running.h5"
    store = write_results(path, np.random.default_rng(0).random((900, 3)), finish=False,
                          upto=400, commit=False)
    try:
        page, text = page_of(path)
        assert "running" in text and "400 of 900 evaluations" in text
        assert "the HDF5 file holds 0 results, its journal all 400" in text
        assert all(f'id="{sid}"' in text for sid in MAIN + ("response",))
    finally:
        store.finish(complete=False)


@pytest.mark.slow
def test_million_row_page_is_down_sampled_small_and_opens(tmp_path):
    """A 1 000 000-row file (the records of 10 007 points repeated with their own ids, workers
    and times; ~8 s to write): the page draws 1500 of them, says so, and stays plotly.js plus
    well under 1.5 MB."""
    path = tmp_path / "large.h5"
    write_many(path, 1_000_000, workers=8)
    page, text = page_of(path, "--points", "1500")
    ok = int(np.count_nonzero(ResultsFile(path).status_codes == 0))
    assert f"1500 of {ok} ok evaluations are drawn, chosen uniformly at random (seed 0)" in text
    assert "8 workers" in text and "1000000 of 1000000 evaluations" in text
    import plotly.offline

    assert len(text.encode()) - len(plotly.offline.get_plotlyjs()) < 1_500_000
    assert text.count(plotly.offline.get_plotlyjs()[:300]) == 1        # plotly.js once
    assert text.count("Plotly.newPlot") == len(re.findall(r'<div id="figure-\d+"', text))
    check_in_browser(page, MAIN + ("response",))


def test_sensitivity_design_page(tmp_path):
    from support.response import run_sweep
    from tests.helpers import copy_tiny

    copy_tiny(tmp_path)
    data = yaml.safe_load((DATA / "tiny" / "tiny.yaml").read_text())
    data["sweep"] = {"design": "morris", "trajectories": 12, "levels": 4, "parameters": {
        "gnabar_hh.somatic": {"low": 0.05, "high": 0.2},
        "gkbar_hh.somatic": {"low": 0.01, "high": 0.06},
        "step.stim.amp_nA": {"low": 0.0, "high": 0.5}}}
    config = tmp_path / "morris.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    page, text = page_of(run_sweep(config), "--no-simulate")  # its features are not the cell's
    assert "Morris screening" in text and 'id="sensitivity"' in text
    assert text.count("Plotly.newPlot") == len(re.findall(r'<div id="figure-\d+"', text))


# -- bad input -------------------------------------------------------------------------------------------
def test_bad_input_is_refused_in_one_line_and_nothing_is_written(tmp_path):
    good = tmp_path / "good.h5"
    write_results(good, np.random.default_rng(0).random((50, 3)))
    text = tmp_path / "notes.h5"
    text.write_text("not a results file\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    cases = [
        ((text,), "expected a cellsweep results file"),
        ((tmp_path / "missing.h5",), "no such results file"),
        ((good, "--output", tmp_path / "page.txt"), "not an HTML file name"),
        ((good, "--output", tmp_path), "is a directory"),
        ((good, "--points", "5"), "--points"),
    ]
    journal_only = tmp_path / "journal_only.h5"
    write_results(journal_only, np.zeros((20, 3)), finish=False, upto=5).finish(complete=False)
    journal_only.unlink()                  # killed before its first commit: a journal only
    cases.append(((journal_only,), "no HDF5 file yet, only its journal (5 results committed)"))
    if not _writable(locked):
        cases.append(((good, "--output", locked / "page.html"), "cannot create files"))
    for args, message in cases:
        before = sorted(p.name for p in tmp_path.rglob("*"))
        proc = report(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], \
            (args, proc.stderr)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before
    locked.chmod(0o700)
    with plain(good) as f:                 # the input is never touched
        assert bool(f.attrs["complete"])


def _writable(folder) -> bool:
    import os

    return os.access(folder, os.W_OK)


@pytest.mark.parametrize("case", ["corrupt", "truncated", "foreign", "forged", "torn"])
def test_damaged_files_are_refused_as_every_reader_refuses_them(tmp_path, case):
    """test_bad_commands' damaged files (a 12-row file, as there) through report: the same
    one-line refusal, nothing written."""
    from click.testing import CliRunner

    from cellsweep.launch.cli import main
    from tests.launch.test_bad_commands import BROKEN, snapshot

    path = tmp_path / "sweep.h5"
    write_results(path, np.random.default_rng(0).random((12, 3)))
    damage, message = BROKEN[case]
    damage(path)
    before = snapshot(tmp_path)
    result = CliRunner().invoke(main, ["report", str(path)], catch_exceptions=False)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "sweep.h5: " in lines[0]
    if case in ("foreign", "forged", "torn"):
        assert message in lines[0], lines[0]
    assert snapshot(tmp_path) == before
