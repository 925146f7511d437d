"""Running one protocol on a built cell: stimuli, recordings, integration.

Stimuli and recording vectors are created for the run and dropped after it (microseconds), so
protocols never see each other's objects. Integration is ``finitialize`` + ``ParallelContext.psolve``:
measured here to give traces identical, sample for sample, to the standard run system's
``h.run()`` (which BluePyOpt uses) while running 2-3x faster, because the loop stays in C.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from cellsweep.cells import spec as S
from cellsweep.cells.errors import SimulationError


def protocol_values(protocol: S.Protocol, values: dict) -> dict:
    """Per-stimulus numbers of a protocol with parameter overrides applied."""
    out = {}
    for stim in protocol.stimuli:
        nums = dict(stim.values)
        for key in nums:
            name = f"{protocol.name}.{stim.name}.{key}"
            if name in values:
                nums[key] = values[name]
        out[stim.name] = nums
    return out


def reset_globals(h, sim: S.Simulation, values: dict) -> None:
    """Reset every integrator setting a previous evaluation may have changed (CVode included)."""
    cvode = bool(values.get("sim.cvode", sim.cvode))
    h.cvode_active(1 if cvode else 0)
    h.cvode.atol(float(values.get("sim.atol", sim.atol)))
    h.cvode.rtol(float(values.get("sim.rtol", sim.rtol)))
    h.secondorder = 0
    dt = float(values.get("sim.dt_ms", sim.dt_ms))
    h.dt = dt
    h.steps_per_ms = 1.0 / dt
    for name, default in S.GLOBAL_DEFAULTS.items():
        setattr(h, name, values.get(name, default))


class _Stimuli:
    """Holds the NEURON objects of one protocol run; dropped when the run ends."""

    def __init__(self):
        self.objects = []

    def add(self, *objs):
        self.objects.extend(objs)
        return objs[0]


def _current_clamp(h, seg, keep: _Stimuli, times, amps):
    clamp = keep.add(h.IClamp(seg))
    clamp.dur = 1e9
    clamp.delay = 0.0
    tvec, avec = keep.add(h.Vector(times)), keep.add(h.Vector(amps))
    avec.play(clamp._ref_amp, tvec, 1)
    return clamp


def _create_stimulus(h, cell, stim: S.Stimulus, nums: dict, tstop: float, keep: _Stimuli):
    if stim.kind == "synapses":
        return _create_synapses(h, cell, stim, nums, keep)
    seg = cell.segment(stim.location)
    delay = nums.get("delay_ms", 0.0)
    if stim.kind == "step":
        clamp = keep.add(h.IClamp(seg))
        clamp.amp, clamp.delay, clamp.dur = nums["amp_nA"], delay, nums["duration_ms"]
    elif stim.kind == "ramp":
        start, dur = delay, nums["duration_ms"]
        _current_clamp(h, seg, keep, [0.0, start, start, start + dur, start + dur, tstop],
                       [0.0, 0.0, nums["amp_start_nA"], nums["amp_end_nA"], 0.0, 0.0])
    elif stim.kind == "zap":
        _current_clamp(h, seg, keep, *zap_waveform(nums, tstop))
    elif stim.kind == "waveform":
        times, amps = (np.asarray(a, dtype=float) for a in stim.waveform)
        _current_clamp(h, seg, keep, np.concatenate([[0.0], times + delay]),
                       np.concatenate([[0.0], amps * nums.get("scale", 1.0)]))
    else:
        raise SimulationError(f"unknown stimulus kind {stim.kind!r}")


def zap_waveform(nums: dict, tstop: float) -> tuple[np.ndarray, np.ndarray]:
    """The points (ms, nA) a zap stimulus plays, linearly interpolated: a linear chirp
    ``amp·sin(2π(f0·t + (f1 - f0)·t²/2T))`` from ``delay_ms`` for ``duration_ms``, a point
    every ``waveform_dt_ms`` (profiles: 1/100 of the fastest cycle; CVode stops at every
    point, so 0.025 ms made a 15 s chirp take minutes) or 0.025 ms."""
    delay, dur = nums.get("delay_ms", 0.0), nums["duration_ms"]
    dt = nums.get("waveform_dt_ms") or min(0.025, 1000.0 / max(nums["f_end_hz"], 1.0) / 40.0)
    t = np.arange(0.0, dur + dt / 2, dt)
    f0, f1 = nums["f_start_hz"], nums["f_end_hz"]
    phase = 2 * np.pi * (f0 * t + 0.5 * (f1 - f0) * t * t / dur) / 1000.0
    amps = nums["amp_nA"] * np.sin(phase)
    times = np.concatenate([[0.0, delay], delay + t, [delay + dur, tstop]])
    return times, np.concatenate([[0.0, 0.0], amps, [0.0, 0.0]])


def _create_synapses(h, cell, stim: S.Stimulus, nums: dict, keep: _Stimuli):
    for i, loc in enumerate(stim.locations):
        syn = keep.add(getattr(h, stim.synapse)(cell.segment(loc)))
        for key, value in nums.items():
            if key.startswith("syn_"):
                setattr(syn, key[4:], value)
        if stim.spike_times:                 # given events: VecStim plays them
            source = keep.add(h.VecStim())
            times = keep.add(h.Vector(stim.spike_times[i]))
            source.play(times)
        else:
            source = keep.add(h.NetStim())
            source.start, source.interval = nums["start_ms"], nums["interval_ms"]
            source.number, source.noise = nums["number"], nums["noise"]
            if nums["noise"] > 0:
                rng = keep.add(h.Random())
                rng.Random123(int(nums["seed"]), i, 0)
                rng.negexp(1)
                source.noiseFromRandom(rng)
        con = keep.add(h.NetCon(source, syn))
        con.weight[0], con.delay = nums["weight_uS"], nums["netcon_delay_ms"]


class PreparedRun:
    """A protocol ready to integrate: its stimuli, and vectors recording ``t`` and every
    recording; ``traces()`` copies them out after the run."""

    def __init__(self, keep: _Stimuli, t_vec, vectors: dict):
        self.keep, self.t_vec, self.vectors = keep, t_vec, vectors

    def traces(self) -> dict:
        t = self.t_vec.as_numpy().copy()
        return {name: (t, vec.values() if isinstance(vec, _RegionStatistic)
                       else vec.as_numpy().copy()) for name, vec in self.vectors.items()}


class _RegionStatistic:
    """Every node of an rxd region recorded; their mean or maximum per sample after the run."""

    def __init__(self, kind: str, vectors: list, volumes):
        self.kind, self.vectors, self.volumes = kind, vectors, np.asarray(volumes, dtype=float)

    def values(self):
        from cellsweep.cells.rxd_model import statistic

        traces = np.array([v.as_numpy() for v in self.vectors])
        return statistic(self.kind, traces, self.volumes)


def _record_rxd(h, cell, rxd, protocol: S.Protocol, rec: S.Recording, keep: _Stimuli):
    """A Vector of an rxd concentration, or a region statistic's Vectors."""
    if rxd is None:
        raise SimulationError(f"recording {protocol.name}.{rec.name}: the model has no rxd "
                              "section")
    nodes = rxd.nodes(rec, cell)
    vectors = [keep.add(h.Vector()) for _ in nodes]
    for vec, node in zip(vectors, nodes):
        vec.record(node._ref_concentration)
    if rec.statistic:
        return _RegionStatistic(rec.statistic, vectors, [n.volume for n in nodes])
    return vectors[0]


def prepare_run(cell, protocol: S.Protocol, values: dict, sim: S.Simulation,
                rxd=None) -> PreparedRun:
    """Everything of a protocol run before ``finitialize``: stimuli, recordings, integrator
    (``rxd``: the evaluation's ``cells.rxd_model.RxdModel``, for concentration recordings)."""
    h = cell.h
    keep = _Stimuli()
    nums = protocol_values(protocol, values)
    for stim in protocol.stimuli:
        _create_stimulus(h, cell, stim, nums[stim.name], protocol.tstop_ms, keep)
    t_vec = keep.add(h.Vector())
    t_vec.record(h._ref_t)
    vectors = {}
    for rec in protocol.recordings:
        if rec.species:
            vectors[rec.name] = _record_rxd(h, cell, rxd, protocol, rec, keep)
            continue
        seg = cell.segment(rec.location)
        try:
            ref = getattr(seg, f"_ref_{rec.variable}")
        except (AttributeError, NameError) as exc:
            raise SimulationError(f"recording {protocol.name}.{rec.name}: {rec.variable!r} does not "
                                  f"exist at {rec.location.label()} ({exc})") from None
        vec = keep.add(h.Vector())
        vec.record(ref)
        vectors[rec.name] = vec
    reset_globals(h, sim, values)
    h.tstop = protocol.tstop_ms
    return PreparedRun(keep, t_vec, vectors)


def run_protocol(cell, protocol: S.Protocol, values: dict, sim: S.Simulation,
                 stop_at_spike: tuple | None = None, rxd=None) -> dict:
    """Simulate one protocol; return {recording name: (time array, value array)}.

    ``stop_at_spike = (location, threshold_mV, start_ms, end_ms)``: end the run at the first
    upward crossing of the threshold at that location within [start, end) (a NetCon; traces
    then stop there). Whether a step fires is all a rheobase search needs, and a step that
    fires many spikes costs many CVode steps (BENCHMARKS.md §11)."""
    h = cell.h
    prepared = prepare_run(cell, protocol, values, sim, rxd)
    stopped = []
    if stop_at_spike is not None:
        location, threshold, start, end = stop_at_spike
        seg = cell.segment(location)
        watch = prepared.keep.add(h.NetCon(seg._ref_v, None, sec=seg.sec))
        watch.threshold = threshold

        def crossed():
            if start <= h.t < end:
                stopped.append(h.t)
                h.stoprun = 1
        watch.record(crossed)
    h.stoprun = 0
    h.finitialize(h.v_init)
    with _captured_stderr() as captured:
        parallel_context(h).psolve(protocol.tstop_ms)
    h.stoprun = 0
    if stopped:
        return prepared.traces()
    if h.t < protocol.tstop_ms * (1 - 1e-12) - 1e-9:
        # psolve returns quietly when CVode gives up; NEURON only prints why
        why = " ".join(captured.text().split())[:400]
        raise SimulationError(f"protocol {protocol.name}: integration stopped at t={h.t:g} ms "
                              f"of {protocol.tstop_ms:g} ms" + (f" ({why})" if why else ""))
    return prepared.traces()


class _captured_stderr:
    """Collect what NEURON's C code prints on file descriptor 2 during a run (to explain a
    failure); cheap enough for every protocol run."""

    _file = None

    def __enter__(self):
        import tempfile

        if _captured_stderr._file is None:
            _captured_stderr._file = tempfile.TemporaryFile()
        self.file = _captured_stderr._file
        self.file.seek(0)
        self.file.truncate()
        sys.stderr.flush()
        self.saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        return False

    def text(self) -> str:
        self.file.seek(0)
        return self.file.read().decode("utf-8", errors="replace")


def parallel_context(h):
    """The process's one ParallelContext, set up for psolve without spike exchange."""
    pc = getattr(parallel_context, "pc", None)
    if pc is None:
        pc = parallel_context.pc = h.ParallelContext()
        pc.set_maxstep(10)        # no spike exchange here; psolve only needs a positive value
        pc.mpiabort_on_error(0)   # a hoc error must raise, never abort an MPI job
    return pc
