"""Shape plots' data: every segment's colour is the variable's value there at the time (checked
against the evaluation's own recordings in the same kind of run), a parameter's colour is its
distribution's formula at the segment's distance, the segments add up to their sections, and a
stylised cell gets a flat layout without NEURON being given 3-D points.

What is tested is the data handed to matplotlib (the LineCollection's colour array) and to
plotly (each point's colour and segment row), not pixels.
"""

import dataclasses
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cellsweep.cells import spec as S
from cellsweep.cells.shape_geometry import cell_segments, split_by_arc
from cellsweep.cells.shape_values import ShapeRequest, completed, request_problems, shape_values

pytestmark = pytest.mark.neuron

TIME = 211.6            # the first spike of step_pos: the soma near its peak


@pytest.fixture(scope="module")
def voltage(example_model):
    request = completed(example_model, ShapeRequest(protocol="step_pos", time_ms=TIME))
    return shape_values(example_model, {}, request)


@pytest.fixture(scope="module")
def evaluation(example_model, voltage):
    from cellsweep.cells.evaluate import evaluate

    result = evaluate(example_model, {}, traces=True)
    assert result.status == "ok", result.message
    return result


def _row(shape, seg):
    """The shape's row of a NEURON segment."""
    name = seg.sec.name().rsplit(".", 1)[-1]
    index = min(int(seg.x * seg.sec.nseg), seg.sec.nseg - 1)
    rows = [i for i in range(len(shape)) if shape.section[i] == name and shape.index[i] == index]
    assert len(rows) == 1
    return rows[0]


def _plotted(sv):
    """(matplotlib's colour array, {row: plotly colours of its points})."""
    from cellsweep.launch.shape_plot import html_figure, png_figure

    fig, collection = png_figure(sv, "xy")
    import matplotlib.pyplot as plt

    plt.close(fig)
    by_row: dict = {}
    for trace in html_figure(sv).data:
        colours = trace.line.color
        for k, row in enumerate(trace.customdata):
            if row is not None:
                by_row.setdefault(row, []).append(colours if isinstance(colours, str)
                                                  else colours[k])
    return collection.get_array(), by_row


def test_voltage_colours_are_the_evaluations_recordings_at_the_time(voltage, evaluation,
                                                                    example_model):
    from cellsweep.cells.evaluate import current_cell, evaluate

    cell = current_cell()
    values = voltage.values
    assert voltage.units == "mV" and voltage.name == "v"
    assert np.isfinite(values).all()              # v exists on every segment
    # the evaluation's own recordings, read at the time the same way
    for name, loc in (("soma", S.Location(kind="soma")),
                      ("apical_300", S.Location(kind="distance", region="apical",
                                                distance_um=300.0))):
        t, v = evaluation.traces["step_pos"][name]
        assert values[_row(voltage.shape, cell.segment(loc))] == np.interp(TIME, t, v)
    # and recordings of the config's own kind at other segments, evaluated on their own
    extra = {"basal": ("dend[3]", 0.5), "axon": ("axon[0]", 0.9), "tuft": ("apic[14]", 0.1)}
    protocol = example_model.protocol("step_pos")
    recorded = dataclasses.replace(protocol, recordings=tuple(
        S.Recording(name=k, location=S.Location(kind="section", section=sec, x=x))
        for k, (sec, x) in extra.items()))
    model = dataclasses.replace(example_model, protocols=(recorded,), features=())
    result = evaluate(model, {}, traces=True)
    assert result.status == "ok", result.message
    traces = result.traces["step_pos"]
    for name, (sec, x) in extra.items():
        seg = cell.segment(S.Location(kind="section", section=sec, x=x))
        t, v = traces[name]
        assert values[_row(voltage.shape, seg)] == np.interp(TIME, t, v)
    soma = values[_row(voltage.shape, cell.soma(0.5))]
    assert soma > 0 and np.nanmin(values) < -40   # mid-spike at the soma, not in the tufts
    colours, by_row = _plotted(voltage)
    assert np.array_equal(np.asarray(colours), values)
    assert sorted(by_row) == list(range(len(values)))
    for row, point_colours in by_row.items():
        assert point_colours == [values[row]] * len(point_colours)


def test_a_current_exists_only_where_its_channel_is(example_model):
    sv = shape_values(example_model, {}, completed(
        example_model, ShapeRequest(variable="ihcn_ih", protocol="step_pos", time_ms=TIME)))
    from cellsweep.cells.evaluate import current_cell

    cell = current_cell()
    has = [sec.has_membrane("ih") for sec in cell.base["all"] for _ in sec]
    assert np.array_equal(np.isfinite(sv.values), np.array(has))
    assert sv.units == "mA/cm2"
    colours, by_row = _plotted(sv)
    assert np.ma.getmaskarray(colours).tolist() == [not h for h in has]
    assert all(by_row[row] == ["#c8c8c8"] * len(by_row[row])
               for row in np.flatnonzero(~np.isfinite(sv.values)))


def test_parameter_colours_follow_the_distribution_formula(example_model, voltage):
    from cellsweep.cells.evaluate import current_cell

    sv = shape_values(example_model, {}, ShapeRequest(parameter="gbar_ih.apical"))
    cell = current_cell()
    h = cell.h
    apical = {id(sec) for sec in cell.base["apical"]}
    for row, seg in enumerate(cell_segments(cell)):
        if seg.sec in cell.base["apical"]:
            distance = h.distance(cell.soma(0.5), seg)
            # ih_gradient: exponential, offset 0, amplitude 1, length 300 um; value 0.0003
            assert sv.values[row] == pytest.approx(0.0003 * math.exp(distance / 300.0),
                                                   rel=1e-12)
        else:
            assert math.isnan(sv.values[row])
    assert len(apical) and np.nanmax(sv.values) > 10 * np.nanmin(sv.values)
    assert sv.units == "S/cm2"
    colours, _ = _plotted(sv)
    assert np.array_equal(np.ma.filled(colours, np.nan), sv.values, equal_nan=True)


def test_segments_add_up_to_their_sections(voltage):
    from cellsweep.cells.evaluate import current_cell

    cell, shape = current_cell(), voltage.shape
    lengths = shape.lengths()
    for sec in cell.base["all"]:
        name = sec.name().rsplit(".", 1)[-1]
        rows = [i for i in range(len(shape)) if shape.section[i] == name]
        assert len(rows) == sec.nseg
        assert lengths[rows].sum() == pytest.approx(sec.L, rel=1e-9)
        # equal pieces (NEURON keeps 3-D points in float32: arc3d and the points agree to ~1e-8)
        assert np.allclose(lengths[rows], sec.L / sec.nseg, rtol=1e-6)
        assert shape.x[rows].tolist() == [seg.x for seg in sec]
        for a, b in zip(rows[:-1], rows[1:]):       # consecutive pieces meet
            assert np.array_equal(shape.points[a][-1], shape.points[b][0])


def test_split_by_arc_cuts_at_equal_arc_lengths():
    xyz = np.array([[0.0, 0, 0], [3, 0, 0], [3, 4, 0], [3, 4, 5]])
    arc = np.array([0.0, 3, 7, 12])
    diam = np.array([2.0, 2, 1, 1])
    pieces = split_by_arc(arc, xyz, diam, 3)
    assert [len(p) for p, _ in pieces] == [3, 3, 2]       # cuts at arc 4 and 8
    assert np.allclose(pieces[0][0], [[0, 0, 0], [3, 0, 0], [3, 1, 0]])
    assert np.allclose(pieces[1][0], [[3, 1, 0], [3, 4, 0], [3, 4, 1]])
    assert np.allclose(pieces[2][0], [[3, 4, 1], [3, 4, 5]])
    assert np.allclose(pieces[1][1], [1.75, 1.0, 1.0])     # the diameter interpolated too
    for p, _ in pieces:
        assert np.linalg.norm(np.diff(p, axis=0), axis=1).sum() == pytest.approx(4.0)


STYLISED = """
cell:
  name: fanned
  sections:
    - {name: soma, L: 20, diam: 20}
    - {name: dend, count: 3, L: 100, diam: 2, parent: soma(1)}
    - {name: axon, L: 50, diam: 1, parent: soma(0)}
    - {name: apic, L: 80, diam: [3, 1], parent: "dend[1](0.5)", nseg: 4}
  insert: {all: [pas]}
  fixed: {g_pas.all: 1.0e-4, e_pas.all: -65}
simulation: {cvode: false, dt_ms: 0.025}
protocols:
  pulse:
    tstop_ms: 5
    stimuli:
      stim: {kind: step, amp_nA: 0.5, delay_ms: 1, duration_ms: 2}
"""


def test_stylised_cell_gets_a_flat_layout_without_3d_points(tmp_path):
    from cellsweep.cells.evaluate import current_cell
    from cellsweep.cells.loader import load_model

    config = tmp_path / "fanned.yaml"
    config.write_text(STYLISED)
    model = load_model(config)[0]
    sv = shape_values(model, {}, completed(model, ShapeRequest(time_ms=2.0)))
    cell = current_cell()
    shape = sv.shape
    assert shape.flat and all(sec.n3d() == 0 for sec in cell.base["all"])
    assert all(np.all(p[:, 2] == 0) for p in shape.points)

    def ends(name):
        rows = [i for i in range(len(shape)) if shape.section[i] == name]
        return shape.points[rows[0]][0], shape.points[rows[-1]][-1], shape.lengths()[rows].sum()

    start, end, length = ends("soma[0]")
    assert np.allclose(start, 0) and np.allclose(end, [20, 0, 0]) and length == pytest.approx(20)
    angles = []
    for k in range(3):                            # fanned from the soma's 1 end
        start, end, length = ends(f"dend[{k}]")
        assert np.allclose(start, [20, 0, 0]) and length == pytest.approx(100)
        angles.append(math.degrees(math.atan2(end[1] - start[1], end[0] - start[0])))
    assert angles == pytest.approx([-30, 0, 30])
    start, end, _ = ends("axon[0]")               # backwards from the 0 end
    assert np.allclose(start, 0) and np.allclose(end, [-50, 0, 0])
    start, end, length = ends("apic[0]")          # sideways from the middle of dend[1]
    assert np.allclose(start, [70, 0, 0]) and np.allclose(end, [70, 80, 0])
    apic = [i for i in range(len(shape)) if shape.section[i] == "apic[0]"]
    assert shape.diam[apic] == pytest.approx([2.75, 2.25, 1.75, 1.25])   # the taper per segment
    # depolarised by the step at the soma, the most there
    assert np.isfinite(sv.values).all() and sv.values.max() == sv.values[0] > -60


def test_requests_refused_without_neuron(example_model):
    def problems(**kw):
        return request_problems(example_model, completed(example_model, ShapeRequest(**kw)))

    assert problems(protocol="step_pos", time_ms=TIME) == []
    assert "no such protocol" in problems(protocol="nope", time_ms=1.0)[0]
    assert "expected one of step_pos, step_neg" in problems(protocol="nope")[0]
    assert "outside protocol step_pos (0 to 1400 ms)" in problems(protocol="step_pos",
                                                                  time_ms=1400.5)[0]
    assert problems(protocol="step_pos", time_ms=-1.0)
    assert problems(protocol="step_pos", time_ms=float("nan"))
    assert "not a parameter" in problems(parameter="gbar_ih.nowhere")[0]
    assert "a global parameter has no value per segment" in problems(parameter="celsius")[0]


def test_rxd_variables_refused_off_the_cell(repo):
    from cellsweep.cells.loader import load_model

    for name, variable, expected in (
            ("extracellular_k", "k", "species k lives only in the extracellular space (ecs)"),
            ("extracellular_k", "k[ecs]", "the extracellular space is not on the cell's"),
            ("calcium_buffering", "ca[er]", "species ca is not in rxd region er; it lives in "
                                            "cyt"),
            ("calcium_buffering", "ca", None), ("calcium_buffering", "ca[cyt]", None)):
        model = load_model(repo / "configs" / "rxd" / f"{name}.yaml")[0]
        found = request_problems(model, completed(model, ShapeRequest(variable=variable)))
        assert found == [] if expected is None else expected in found[0], found


RXD = textwrap.dedent("""
    import numpy as np
    from cellsweep.cells.evaluate import evaluate
    from cellsweep.cells.loader import load_model
    from cellsweep.cells.shape_values import ShapeRequest, completed, shape_values

    model = load_model({config!r})[0]
    sv = shape_values(model, {{}}, completed(model, ShapeRequest(variable="ca", time_ms=5.0)))
    t, ca = evaluate(model, {{}}, traces=True).traces["buffering"]["ca_soma"]
    print(sv.units, len(sv.values), sv.values[0] == np.interp(5.0, t, ca), sv.values[0])
""")


def test_rxd_concentration_is_the_evaluations_recording(repo, tmp_path):
    """rxd in its own process (it compiles and keeps state; the other tests stay rxd-free)."""
    config = repo / "configs" / "rxd" / "calcium_buffering.yaml"
    proc = subprocess.run([sys.executable, "-c", RXD.format(config=str(config))],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    units, count, equal, value = proc.stdout.split()
    assert (units, count, equal) == ("mM", "1", "True")
    assert 0.2 < float(value) < 1.0               # buffered from 1 mM


FRAMES = (211.0, 211.6, 212.2)      # the spike rising, at its peak, falling


def test_several_times_colour_each_frame_by_that_times_values(example_model, voltage,
                                                              evaluation):
    """One run, read at every time: each frame's colours (plotly's frames, matplotlib's panels)
    are the evaluation's recordings at that frame's time, bit for bit, on one shared scale."""
    from cellsweep.cells.evaluate import current_cell
    from cellsweep.launch.shape_plot import html_figure, panels_figure

    sv = shape_values(example_model, {}, completed(
        example_model, ShapeRequest(protocol="step_pos", times_ms=FRAMES)))
    cell = current_cell()
    assert sv.times == FRAMES and sv.frames.shape == (3, len(sv.shape))
    assert np.array_equal(sv.values, sv.frames[0])
    assert np.array_equal(sv.frames[1], voltage.values)     # the single time's values
    for name, loc in (("soma", S.Location(kind="soma")),
                      ("apical_300", S.Location(kind="distance", region="apical",
                                                distance_um=300.0))):
        t, v = evaluation.traces["step_pos"][name]
        row = _row(sv.shape, cell.segment(loc))
        assert [sv.frames[k, row] for k in range(3)] == [np.interp(x, t, v) for x in FRAMES]
    soma = sv.frames[:, _row(sv.shape, cell.soma(0.5))]
    assert soma[1] > soma[0] and soma[1] > soma[2]           # the peak is in the middle frame

    fig = html_figure(sv)
    lo, hi = float(sv.frames.min()), float(sv.frames.max())
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (lo, hi)
    assert f"colours {lo:.4g} to {hi:.4g} mV, the range over all 3 times" in fig.layout.title.text
    assert [f.name for f in fig.frames] == ["211", "211.6", "212.2"]
    assert [s.label for s in fig.layout.sliders[0].steps] == ["211", "211.6", "212.2"]
    for k, frame in enumerate(fig.frames):
        assert list(frame.traces) == list(range(len(frame.data)))
        for trace, restyle in zip(fig.data, frame.data):       # only the colours change
            assert restyle.x is None and restyle.text is None
            rows = [r for r in trace.customdata]
            assert len(restyle.line.color) == len(rows)
            for row, colour in zip(rows, restyle.line.color):
                if row is not None:
                    assert colour == sv.frames[k, row]
    assert "%{line.color:.5g} mV" in fig.data[0].hovertemplate

    import matplotlib.pyplot as plt

    figure, collections = panels_figure(sv, "xz")
    plt.close(figure)
    assert len(collections) == 3
    for k, collection in enumerate(collections):
        assert np.array_equal(np.asarray(collection.get_array()), sv.frames[k])
        assert (collection.norm.vmin, collection.norm.vmax) == (lo, hi)
