"""Evaluator benchmarks: cellsweep's evaluation against BluePyOpt's CellEvaluator on the same
problems and parameter sets, and where the time of one cellsweep evaluation goes.

  python bench/evaluator_bench.py simplecell [--repeats 5] [--n 30] [--n-parallel N]
  python bench/evaluator_bench.py breakdown --config CONFIG [--n 20] [--repeats 1]
  python bench/evaluator_bench.py multicompartment [--repeats 3] [--n 8]
  BPO_EXAMPLES=<BluePyOpt>/examples python bench/evaluator_bench.py l5pc [--repeats 1] [--n 2]

Run with NEURON_INIT_MPI=0. Every measurement prints one JSON line; each mode ends with one
summary line (medians with min-max and n). Repeats alternate the variants (A B C A B C ...), so
drift of a shared host hits all of them alike. Each line carries the 1-minute load average.
Parameter sets are seeded random points within the free parameters' bounds (--seed).
Evaluations per second of one process are n / (sum of the per-evaluation wall times), after
--warmup untimed evaluations; cellsweep's exclude the one-off cell build (reported apart).

simplecell        BluePyOpt's simplecell problem (support/bluepyopt_reference.py,
                  2 Spikecount objectives): CellEvaluator.evaluate_with_lists with
                  isolate_protocols=True (BluePyOpt's default) and False, each in a fresh
                  process, vs cellsweep's evaluate() in this process (cell built once, reused);
                  scores compared exactly, set by set. Then on 2 cores: evaluate_with_lists
                  through ProcessPoolExecutor(2).map (default isolation; rate over the map call,
                  and over the whole command) vs ``cellsweep run --workers 2`` on a CSV design of
                  the same sets (rate over the results file's first t_start .. last t_end
                  ("campaign"), after every worker's first evaluation ("steady": without process
                  start, imports and cell build), and over the whole command). --n-parallel uses
                  more sets for the 2-core part. The summary gives cellsweep / BluePyOpt-default
                  ratios against the target of 50x.
breakdown         cellsweep's phases per evaluation of CONFIG (build once, parameters, simulate,
                  features, overhead) and, for the same sets on the same NeuronCell, alternating
                  with them, the bare simulation: only finitialize + ParallelContext.psolve per
                  protocol (stimuli and recordings made before, traces copied after, untimed).
                  The bare traces are checked to equal cellsweep's sample for sample.
multicompartment  BluePyOpt configured like the bundled example (configs/example/example.yaml,
                  built by bluepyopt_from_config from the YAML text: same morphology, the same
                  compiled .mod files, parameters incl. the exponential Ih gradient via
                  NrnSegmentSomaDistanceScaler, protocols, recordings incl. the apical site at
                  300 um via NrnSomaDistanceCompLocation, eFEL features and targets, CVode).
                  BluePyOpt has no d_lambda rule, so both sides use a temporary copy of the config
                  with ``discretisation: {rule: length, length_um: 40}`` (BluePyOpt's
                  nseg_frequency rule). BluePyOpt runs in fresh processes, cellsweep in this one.
                  If scores differ, the summary's ``diagnosis`` compares the first differing set:
                  the value of every parameter on every segment, the traces, the feature values.
l5pc              only with BPO_EXAMPLES set to a BluePyOpt examples/ folder whose l5pc/ has its
                  mechanisms compiled (nrnivmodl mechanisms): the example's own
                  l5pc_evaluator.create() vs cellsweep reading examples/l5pc/config/*.json
                  through a ``bluepyopt:`` YAML section; the released parameters plus --n random
                  sets; otherwise prints a skip line.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import loadavg, stats  # noqa: E402

SIMPLE_YAML = ROOT / "tests" / "data" / "simplecell" / "optimise_simplecell.yaml"
EXAMPLE_YAML = ROOT / "configs" / "example" / "example.yaml"
TARGET_RATIO = 50.0
BPO_DEFAULT, BPO_NOISO, CELLSWEEP = "bluepyopt-default", "bluepyopt-no-isolation", "cellsweep"
BARE = "neuron-bare"


# -- small helpers --------------------------------------------------------------------------------
def emit(**fields):
    print(json.dumps(fields, default=float), flush=True)



def cpu_seconds() -> float:
    """CPU time of this process and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def child_env() -> dict:
    return {**os.environ, "NEURON_INIT_MPI": "0", "CELLSWEEP_NO_PLOTS": "1"}


def random_sets(free, n: int, seed: int) -> list[dict]:
    """``n`` parameter sets, uniform (log-uniform for ``log``) within the free bounds."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n):
        point = {}
        for p in free:
            if p.log and p.low > 0:
                point[p.name] = float(math.exp(rng.uniform(math.log(p.low), math.log(p.high))))
            else:
                point[p.name] = float(rng.uniform(p.low, p.high))
        sets.append(point)
    return sets


def resolve(base: Path, value) -> Path:
    path = Path(value)
    return path if path.is_absolute() else (base / path).resolve()


def temp_config(source: Path, folder: Path, name: str, edit=None) -> Path:
    """A copy of ``source`` in ``folder`` with absolute file paths, without sweep/optimise/run."""
    data = yaml.safe_load(source.read_text())
    cell = data.get("cell", {})
    for key in ("morphology", "mechanisms_dir"):
        if cell.get(key):
            cell[key] = str(resolve(source.parent, cell[key]))
    for key in ("sweep", "optimise"):
        data.pop(key, None)
    data["run"] = {"progress": "none"}
    if edit:
        edit(data)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_bluepyopt(job: dict, folder: Path) -> dict:
    """Run the BluePyOpt side of a measurement in a fresh Python process (this file, mode
    ``_bluepyopt``); return its result with the whole command's wall time added."""
    stamp = time.monotonic_ns()
    job_path, out_path = folder / f"job-{stamp}.json", folder / f"out-{stamp}.json"
    job_path.write_text(json.dumps(job))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "_bluepyopt",
                           str(job_path), str(out_path)], env=child_env(), cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    whole = time.perf_counter() - start
    if proc.returncode != 0 or not out_path.exists():
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"the BluePyOpt process failed (exit status {proc.returncode})")
    result = json.loads(out_path.read_text())
    result["whole_command_s"] = whole
    return result


def compare_scores(ours: list[list[float]], theirs: list[list[float]]) -> dict:
    """Exact comparison, set by set, of two lists of score vectors (same objective order)."""
    differing, max_diff, first = 0, 0.0, None
    for i, (a, b) in enumerate(zip(ours, theirs)):
        diffs = [abs(x - y) for x, y in zip(a, b)]
        if len(a) != len(b) or any(x != y for x, y in zip(a, b)):
            differing += 1
            if first is None:
                first = {"set": i, "cellsweep": a, "bluepyopt": b}
        max_diff = max([max_diff, *diffs])
    return {"sets_compared": min(len(ours), len(theirs)), "sets_differing": differing,
            "equal": differing == 0 and len(ours) == len(theirs), "max_abs_diff": max_diff,
            "first_difference": first}


# -- cellsweep in this process -------------------------------------------------------------------
def cellsweep_block(model, sets: list[dict], warmup: int, traces: bool = False) -> dict:
    """Evaluate ``sets`` with cells.evaluate.evaluate in this process (cell reused)."""
    from cellsweep.cells.evaluate import evaluate

    build = 0.0
    for i in range(warmup):
        build += evaluate(model, sets[i % len(sets)]).timings["build"]
    walls, phases, scores, statuses, kept, nseg = [], [], [], [], [], None
    cpu0 = cpu_seconds()
    for params in sets:
        start = time.perf_counter()
        result = evaluate(model, params, traces=traces)
        walls.append(time.perf_counter() - start)
        phases.append(result.timings)
        scores.append([result.scores[f.name] for f in model.features])
        statuses.append(result.status)
        nseg = result.nseg.get("all")
        if traces:
            kept.append(result.traces)
    cpu = cpu_seconds() - cpu0
    build += sum(p["build"] for p in phases)
    reused = [w - p["build"] for w, p in zip(walls, phases)]      # the cell is reused
    return {"walls": walls, "reused_walls": reused, "phases": phases, "scores": scores,
            "statuses": statuses, "build_s": build, "cpu_s": cpu, "nseg": nseg,
            "traces": kept, "feature_names": [f.name for f in model.features]}


def bare_block(model, sets: list[dict]) -> dict:
    """The same sets as plain NEURON on the cell cellsweep_block left in this process: only
    finitialize + psolve timed (see bare_run) -- the limit no evaluator can beat."""
    from cellsweep.cells.evaluate import current_cell

    cell = current_cell()
    runs = [bare_run(cell, model, params) for params in sets]
    return {"walls": [r["simulate"] for r in runs]}


def preload_neuron() -> None:
    from cellsweep.cells.neuron_cell import neuron_h

    neuron_h()


def phase_medians(phases: list[dict]) -> dict:
    keys = ("build", "parameters", "simulate", "features", "overhead", "total")
    return {k: stats(p[k] for p in phases) for k in keys}


def not_ok(statuses) -> int:
    return sum(1 for s in statuses if s != "ok")


# -- the BluePyOpt side (fresh process) ----------------------------------------------------------
def bluepyopt_main(job_path: str, out_path: str) -> None:
    """``_bluepyopt JOB OUT``: build BluePyOpt's evaluator, evaluate the job's sets, write JSON."""
    import warnings

    warnings.simplefilter("ignore")
    job = json.loads(Path(job_path).read_text())
    start = time.perf_counter()
    import bluepyopt  # noqa: F401
    import efel  # noqa: F401
    import neuron  # noqa: F401
    import_s = time.perf_counter() - start
    start = time.perf_counter()
    evaluator = make_bluepyopt_evaluator(job)
    setup_s = time.perf_counter() - start
    evaluator.isolate_protocols = bool(job["isolate"])
    names = list(evaluator.param_names)
    lists = [[float(s[n]) for n in names] for s in job["sets"]]
    out = {"import_s": import_s, "setup_s": setup_s, "param_names": names,
           "objectives": [o.name for o in evaluator.fitness_calculator.objectives],
           "isolate": evaluator.isolate_protocols, "nseg": bluepyopt_nseg(evaluator)}
    if job.get("workers"):
        from concurrent.futures import ProcessPoolExecutor

        start = time.perf_counter()
        with ProcessPoolExecutor(int(job["workers"])) as pool:
            scores = list(pool.map(evaluator.evaluate_with_lists, lists))
            out["map_s"] = time.perf_counter() - start
        out["scores"] = [[float(x) for x in s] for s in scores]
    else:
        for i in range(int(job.get("warmup", 0))):
            evaluator.evaluate_with_lists(lists[i % len(lists)])
        walls, scores = [], []
        cpu0 = cpu_seconds()
        for values in lists:
            start = time.perf_counter()
            result = evaluator.evaluate_with_lists(values)
            walls.append(time.perf_counter() - start)
            scores.append([float(x) for x in result])
        out.update(walls=walls, scores=scores, cpu_incl_children_s=cpu_seconds() - cpu0)
    if job.get("dump"):
        out["dump"] = bluepyopt_dump(evaluator, job["sets"][int(job["dump"]["set"])],
                                     job["dump"]["traces"])
    Path(out_path).write_text(json.dumps(out))


def make_bluepyopt_evaluator(job: dict):
    kind = job["kind"]
    if kind == "simplecell":
        from support.bluepyopt_reference import build

        return build(job["swc"])
    if kind == "config":
        return bluepyopt_from_config(Path(job["config"]))
    if kind == "l5pc":
        import neuron

        l5pc = Path(job["examples"]) / "l5pc"
        if not neuron.load_mechanisms(str(l5pc), warn_if_already_loaded=False):
            raise SystemExit(f"{l5pc}: no compiled mechanisms (run 'nrnivmodl mechanisms' there)")
        sys.path.insert(0, str(l5pc))
        import l5pc_evaluator  # the BluePyOpt example's own module

        return l5pc_evaluator.create()
    raise SystemExit(f"unknown BluePyOpt model kind {kind!r}")


def bluepyopt_nseg(evaluator) -> int | None:
    """Total nseg of BluePyOpt's instantiated cell (instantiated once, untimed, then destroyed)."""
    try:
        evaluator.cell_model.freeze(evaluator.param_dict(
            [_middle(p) for p in evaluator.params]))
        evaluator.cell_model.instantiate(sim=evaluator.sim)
        total = int(sum(sec.nseg for sec in evaluator.cell_model.icell.all))
        evaluator.cell_model.destroy(sim=evaluator.sim)
        evaluator.cell_model.unfreeze(evaluator.param_names)
        return total
    except Exception:  # noqa: BLE001 - informative only
        return None


def _middle(param) -> float:
    low, high = param.bounds
    return 0.5 * (low + high)


def bluepyopt_dump(evaluator, params: dict, traces_path: str) -> dict:
    """For a diagnosis: BluePyOpt's feature values and traces of one set, and the value of every
    range/section parameter on every segment of its instantiated cell."""
    import numpy as np

    import bluepyopt.ephys as ephys

    param_dict = {n: float(params[n]) for n in evaluator.param_names}
    responses = evaluator.run_protocols(evaluator.fitness_protocols.values(), param_dict)
    values = {}
    for objective in evaluator.fitness_calculator.objectives:
        value = objective.features[0].calculate_feature(responses)
        values[objective.name] = None if value is None else float(value)
    arrays = {}
    for name, response in responses.items():
        if response is not None:
            arrays[f"{name}|t"] = np.asarray(response["time"])
            arrays[f"{name}|v"] = np.asarray(response["voltage"])
    np.savez(traces_path, **arrays)
    cell = evaluator.cell_model
    cell.freeze(param_dict)
    cell.instantiate(sim=evaluator.sim)
    segments = {}
    kinds = (ephys.parameters.NrnRangeParameter, ephys.parameters.NrnSectionParameter)
    for param in cell.params.values():
        if isinstance(param, kinds):
            for loc in param.locations:
                region = loc.seclist_name
                segments[f"{param.param_name}.{region}"] = [
                    segment_value(seg, param.param_name) for sec in loc.instantiate(
                        sim=evaluator.sim, icell=cell.icell) for seg in sec]
    cell.destroy(sim=evaluator.sim)
    cell.unfreeze(evaluator.param_names)
    return {"values": values, "segments": segments}


def segment_value(seg, name: str) -> float:
    """A range variable of a segment, or a section variable (Ra) of its section."""
    return getattr(seg, name) if name != "Ra" else seg.sec.Ra


def bluepyopt_from_config(path: Path):
    """BluePyOpt's CellEvaluator for a cellsweep YAML config, built from the YAML text itself
    (not from cellsweep's parsed model) with BluePyOpt's own classes. Covers what the bundled
    example uses: base section lists, mechanisms, uniform and distance-scaled parameters
    (exponential, linear, expression), globals, soma step stimuli, soma and soma-distance
    recordings, eFEL features with threshold/interp_step/settings, CVode."""
    import bluepyopt.ephys as ephys

    from cellsweep.cells import mechanisms

    data = yaml.safe_load(path.read_text())
    base = path.parent
    cell = data["cell"]
    unsupported = [k for k in ("regions",) if cell.get(k)]
    unsupported += [f"scoring.{k}" for k, v in (data.get("scoring") or {}).items()
                    if (k, v) not in (("missing_penalty", 250), ("max_score", None))]
    if unsupported:
        raise SystemExit(f"{path}: not mapped to BluePyOpt here: {', '.join(unsupported)}")
    disc = cell.get("discretisation") or {"rule": "d_lambda"}
    if disc.get("rule") != "length" or disc.get("nseg"):
        raise SystemExit(f"{path}: BluePyOpt sets nseg = 1 + 2*int(L/nseg_frequency) only; use "
                         "discretisation: {rule: length, length_um: ...}")
    if cell.get("mechanisms_dir"):
        mechanisms.load(resolve(base, cell["mechanisms_dir"]))   # build (cached) + nrn_load_dll
    morph = ephys.morphologies.NrnFileMorphology(
        str(resolve(base, cell["morphology"])),
        do_replace_axon=bool((cell.get("axon") or {}).get("replace", False)),
        nseg_frequency=float(disc.get("length_um", 40.0)))
    seclists: dict = {}

    def seclist(name):
        if name not in seclists:
            seclists[name] = ephys.locations.NrnSeclistLocation(name, seclist_name=name)
        return seclists[name]

    mechs = [ephys.mechanisms.NrnMODMechanism(name=f"{suffix}.{region}", suffix=suffix,
                                              locations=[seclist(region)], preloaded=True)
             for region, suffixes in cell.get("insert", {}).items() for suffix in suffixes]
    distributions = cell.get("distributions") or {}
    params, free = [], []
    entries = [(k, v, True) for k, v in (cell.get("fixed") or {}).items()]
    entries += [(k, v, False) for k, v in (cell.get("free") or {}).items()]
    for name, spec, frozen in entries:
        spec = spec if isinstance(spec, dict) else {"value": spec}
        common = ({"value": float(spec["value"]), "frozen": True} if frozen else
                  {"bounds": [float(spec["low"]), float(spec["high"])], "frozen": False})
        if not frozen:
            free.append(name)
        if "." not in name:
            params.append(ephys.parameters.NrnGlobalParameter(name=name, param_name=name,
                                                              **common))
            continue
        variable, region = name.split(".", 1)
        if variable in ("Ra", "cm") and not spec.get("distribution"):
            params.append(ephys.parameters.NrnSectionParameter(
                name=name, param_name=variable, locations=[seclist(region)], **common))
            continue
        if spec.get("distribution"):
            scaler = ephys.parameterscalers.NrnSegmentSomaDistanceScaler(
                name=spec["distribution"],
                distribution=bluepyopt_distribution(distributions[spec["distribution"]]))
        else:
            scaler = ephys.parameterscalers.NrnSegmentLinearScaler()
        params.append(ephys.parameters.NrnRangeParameter(
            name=name, param_name=variable, value_scaler=scaler, locations=[seclist(region)],
            **common))
    model = ephys.models.CellModel(name=cell["name"], morph=morph, mechs=mechs, params=params)

    soma = ephys.locations.NrnSeclistCompLocation(name="soma", seclist_name="somatic",
                                                  sec_index=0, comp_x=0.5)
    protocols, windows, currents = {}, {}, {}
    for pname, p in data["protocols"].items():
        tstop = float(p["tstop_ms"])
        stimuli, main = [], None
        if p.get("holding_nA") is not None:
            stimuli.append(ephys.stimuli.NrnSquarePulse(
                step_amplitude=float(p["holding_nA"]), step_delay=0.0, step_duration=tstop,
                location=soma, total_duration=tstop))
        for sname, s in (p.get("stimuli") or {}).items():
            if s.get("kind") != "step" or s.get("location", "soma") != "soma":
                raise SystemExit(f"{path}: protocols.{pname}.stimuli.{sname}: only soma steps "
                                 "are mapped to BluePyOpt here")
            stim = ephys.stimuli.NrnSquarePulse(
                step_amplitude=float(s["amp_nA"]), step_delay=float(s.get("delay_ms", 0.0)),
                step_duration=float(s["duration_ms"]), location=soma, total_duration=tstop)
            stimuli.append(stim)
            main = main or stim
        recordings = []
        for rname, r in (p.get("recordings") or {"soma": "soma"}).items():
            where = r if isinstance(r, str) else r.get("location", "soma")
            variable = "v" if isinstance(r, str) else r.get("variable", "v")
            if where == "soma":
                location = soma
            elif isinstance(where, dict) and set(where) == {"region", "distance_um"}:
                location = ephys.locations.NrnSomaDistanceCompLocation(
                    name=rname, soma_distance=float(where["distance_um"]),
                    seclist_name=where["region"])
            else:
                raise SystemExit(f"{path}: protocols.{pname}.recordings.{rname}: only soma and "
                                 "{region, distance_um} locations are mapped to BluePyOpt here")
            recordings.append(ephys.recordings.CompRecording(
                name=f"{pname}.{rname}.{variable}", location=location, variable=variable))
        protocols[pname] = ephys.protocols.SweepProtocol(pname, stimuli, recordings)
        windows[pname] = p.get("window_ms") or (
            (main.step_delay, main.step_delay + main.step_duration) if main else (0.0, tstop))
        currents[pname] = p.get("stimulus_current_nA", main.step_amplitude if main else None)

    objectives = []
    for f in data["features"]:
        pname, rec = f["protocol"], f.get("recording", "soma")
        if f.get("weight", 1.0) != 1.0:
            raise SystemExit(f"{path}: feature weights are not mapped to BluePyOpt here")
        name = f.get("name") or f"{pname}.{rec}.{f['efel']}"
        window = f.get("window_ms") or windows[pname]
        settings = f.get("settings") or {}
        feature = ephys.efeatures.eFELFeature(
            name, efel_feature_name=f["efel"], recording_names={"": f"{pname}.{rec}.v"},
            stim_start=float(window[0]), stim_end=float(window[1]), exp_mean=float(f["mean"]),
            exp_std=float(f["std"]), threshold=f.get("threshold_mV"),
            stimulus_current=f.get("stimulus_current_nA", currents[pname]),
            interp_step=f.get("interp_step_ms"),
            double_settings={k: v for k, v in settings.items() if isinstance(v, float)} or None,
            int_settings={k: int(v) for k, v in settings.items()
                          if isinstance(v, (bool, int))} or None,
            string_settings={k: v for k, v in settings.items() if isinstance(v, str)} or None)
        objectives.append(ephys.objectives.SingletonObjective(name, feature))

    sim_cfg = data.get("simulation") or {}
    sim = ephys.simulators.NrnSimulator(cvode_active=bool(sim_cfg.get("cvode", True)))
    if sim_cfg.get("cvode", True):
        # BluePyOpt leaves the CVode tolerances alone; set the config's once for this process
        sim.neuron.h.load_file("stdrun.hoc")
        sim.neuron.h.cvode.atol(float(sim_cfg.get("atol", 1e-3)))
        sim.neuron.h.cvode.rtol(float(sim_cfg.get("rtol", 0.0)))
    return ephys.evaluators.CellEvaluator(
        cell_model=model, param_names=free, fitness_protocols=protocols,
        fitness_calculator=ephys.objectivescalculators.ObjectivesCalculator(objectives),
        sim=sim)


def bluepyopt_distribution(dist: dict) -> str:
    """A cellsweep distribution as a BluePyOpt NrnSegmentSomaDistanceScaler formula."""
    kind = dist["kind"]
    if kind == "exponential":
        off, amp, lam = (float(dist.get(k, d)) for k, d in
                         (("offset", 0.0), ("amplitude", 1.0), ("length_um", 1.0)))
        return f"({off!r} + {amp!r}*math.exp({{distance}}/{lam!r}))*{{value}}"
    if kind == "linear":
        a, b = float(dist.get("intercept", 1.0)), float(dist.get("slope_per_um", 0.0))
        return f"({a!r} + {b!r}*{{distance}})*{{value}}"
    if kind == "expression":
        return dist["expression"]
    raise SystemExit(f"distribution kind {kind!r} is not mapped to BluePyOpt here")


# -- mode: simplecell ------------------------------------------------------------------------------
def run_simplecell(args):
    from cellsweep.cells.loader import load_model

    with tempfile.TemporaryDirectory(prefix="evaluator_bench.") as tmp:
        folder = Path(tmp)
        from support.bluepyopt_reference import shipped

        swc = shipped("ephys", "examples", "simplecell", "simple.swc")
        if not swc.exists():
            raise SystemExit(f"{swc}: the installed bluepyopt does not ship simple.swc")
        config = temp_config(SIMPLE_YAML, folder, "simplecell.yaml",
                             edit=lambda d: d["cell"].update(morphology=str(swc)))
        model, _ = load_model(config)
        sets = random_sets(model.free_parameters, args.n, args.seed)
        # BluePyOpt's names: gnabar_hh.somatic -> gnabar_hh
        bpo_sets = [{k.split(".")[0]: v for k, v in s.items()} for s in sets]
        expected_objectives = [f"{f.protocol}.{f.efel}" for f in model.features]
        n_par = args.n_parallel or args.n
        par_sets = random_sets(model.free_parameters, n_par, args.seed) if n_par != args.n \
            else sets
        csv_config = write_csv_design(config, folder, par_sets)

        rates = {k: [] for k in (BPO_DEFAULT, BPO_NOISO, CELLSWEEP, BARE, "bluepyopt-pool2-map",
                                 "bluepyopt-pool2-whole", "cellsweep-run2-campaign",
                                 "cellsweep-run2-steady", "cellsweep-run2-whole")}
        equal, reference, order_ok = [], None, True
        for repeat in range(args.repeats):
            for isolate, variant in ((True, BPO_DEFAULT), (False, BPO_NOISO)):
                result = run_bluepyopt({"kind": "simplecell", "swc": str(swc), "sets": bpo_sets,
                                        "isolate": isolate, "warmup": args.warmup}, folder)
                same = result["objectives"] == expected_objectives
                order_ok = order_ok and same
                rate = len(result["walls"]) / sum(result["walls"])
                rates[variant].append(rate)
                emit(bench="simplecell", variant=variant, repeat=repeat, evaluations=args.n,
                     evals_per_s=rate, per_eval_s=stats(result["walls"]),
                     cpu_incl_children_per_eval_s=result["cpu_incl_children_s"] / args.n,
                     objectives_same_order=same, loadavg=loadavg())
                result["variant"] = variant
                equal.append(result)
            block = cellsweep_block(model, sets, args.warmup if repeat == 0 else 0)
            rate = args.n / sum(block["reused_walls"])
            rates[CELLSWEEP].append(rate)
            reference = reference or block["scores"]
            emit(bench="simplecell", variant=CELLSWEEP, repeat=repeat, evaluations=args.n,
                 evals_per_s=rate, per_eval_s=stats(block["reused_walls"]),
                 phases_s=phase_medians(block["phases"]), not_ok=not_ok(block["statuses"]),
                 same_scores_as_first_repeat=block["scores"] == reference, loadavg=loadavg())
            bare = bare_block(model, sets)
            rates[BARE].append(args.n / sum(bare["walls"]))
            emit(bench="simplecell", variant=BARE, repeat=repeat, evaluations=args.n,
                 evals_per_s=rates[BARE][-1], per_eval_s=stats(bare["walls"]), loadavg=loadavg())

            # 2 cores: BluePyOpt ProcessPoolExecutor(2).map vs cellsweep run --workers 2
            bpo_par = [{k.split(".")[0]: v for k, v in s.items()} for s in par_sets]
            result = run_bluepyopt({"kind": "simplecell", "swc": str(swc), "sets": bpo_par,
                                    "isolate": True, "workers": 2}, folder)
            rates["bluepyopt-pool2-map"].append(n_par / result["map_s"])
            rates["bluepyopt-pool2-whole"].append(n_par / result["whole_command_s"])
            emit(bench="simplecell-2cores", variant="bluepyopt-default-ProcessPoolExecutor(2)",
                 repeat=repeat, evaluations=n_par, map_s=result["map_s"],
                 evals_per_s_map=n_par / result["map_s"],
                 whole_command_s=result["whole_command_s"],
                 evals_per_s_whole=n_par / result["whole_command_s"], loadavg=loadavg())
            result["variant"] = "bluepyopt-pool2"
            result["par"] = True
            equal.append(result)
            run = cellsweep_run(csv_config, folder, repeat, model)
            rates["cellsweep-run2-campaign"].append(run["evals_per_s_campaign"])
            rates["cellsweep-run2-steady"].append(run["evals_per_s_steady"])
            rates["cellsweep-run2-whole"].append(run["evals_per_s_whole"])
            scores = run.pop("scores")
            emit(bench="simplecell-2cores", variant="cellsweep-run-workers-2", repeat=repeat,
                 **run, loadavg=loadavg())
            equal.append({"variant": "cellsweep-run2", "scores": scores, "par": True,
                          "cellsweep": True})

        par_reference = None
        checks = {}
        for result in equal:
            ours = reference
            if result.get("par"):
                if par_reference is None:
                    par_reference = (reference if par_sets is sets else
                                     cellsweep_block(model, par_sets, 0)["scores"])
                ours = par_reference
            check = compare_scores(ours, result["scores"])
            previous = checks.get(result["variant"])
            if previous is None or (not check["equal"], check["max_abs_diff"]) > (
                    not previous["equal"], previous["max_abs_diff"]):
                checks[result["variant"]] = check           # the worst repeat
        summary = {k: stats(v) for k, v in rates.items()}

        def ratio(a, b):
            return summary[a]["median"] / summary[b]["median"]

        ratios = {"in_process": ratio(CELLSWEEP, BPO_DEFAULT),
                  "in_process_vs_no_isolation": ratio(CELLSWEEP, BPO_NOISO),
                  "bare_neuron_ceiling": ratio(BARE, BPO_DEFAULT),
                  "2cores_campaign_vs_map": ratio("cellsweep-run2-campaign", "bluepyopt-pool2-map"),
                  "2cores_steady_vs_map": ratio("cellsweep-run2-steady", "bluepyopt-pool2-map"),
                  "2cores_whole_command": ratio("cellsweep-run2-whole", "bluepyopt-pool2-whole")}
        emit(bench="simplecell-summary", evaluations=args.n, evaluations_2cores=n_par,
             repeats=args.repeats, evals_per_s=summary,
             ratio_cellsweep_over_bluepyopt_default=ratios, target_ratio=TARGET_RATIO,
             cellsweep_time_over_bare_simulate=ratio(BARE, CELLSWEEP),
             meets_target={k: v >= TARGET_RATIO for k, v in ratios.items()
                           if k != "bare_neuron_ceiling"},
             scores_equal_every_set={k: c["equal"] for k, c in checks.items()},
             objectives_same_order_every_run=order_ok, score_checks=checks, loadavg=loadavg())


def write_csv_design(config: Path, folder: Path, sets: list[dict]) -> Path:
    names = list(sets[0])
    with open(folder / "sets.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        for s in sets:
            writer.writerow([repr(float(s[n])) for n in names])   # repr: exact round trip
    data = yaml.safe_load(config.read_text())
    data["sweep"] = {"design": "csv", "file": "sets.csv"}
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def cellsweep_run(config: Path, folder: Path, repeat: int, model) -> dict:
    """``cellsweep run CONFIG --workers 2``; rates from the results file and the command's time."""
    from cellsweep.sweep.results import load

    out = folder / f"run-{repeat}-{time.monotonic_ns()}.h5"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cellsweep", "run", str(config), "-o", str(out),
                           "--workers", "2"], env=child_env(), cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    whole = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"cellsweep run failed (exit status {proc.returncode})")
    frame = load(out).sort_values("eval_id")
    n = len(frame)
    span = float(frame["t_end"].max() - frame["t_start"].min())
    # steady state: after every worker's first evaluation (process start, imports, cell build)
    t0 = float(frame.groupby("worker")["t_end"].min().max())
    later = frame[frame["t_end"] > t0]
    steady = len(later) / float(frame["t_end"].max() - t0) if len(later) else float("nan")
    scores = frame[[f"score.{f.name}" for f in model.features]].to_numpy().tolist()
    return {"evaluations": n, "whole_command_s": whole, "campaign_span_s": span,
            "evals_per_s_campaign": n / span, "evals_per_s_steady": steady,
            "evals_per_s_whole": n / whole, "not_ok": int((frame["status"] != "ok").sum()),
            "mean_eval_s": float(frame["time.total_s"].mean()), "scores": scores}


# -- mode: breakdown -------------------------------------------------------------------------------
def run_breakdown(args):
    import numpy as np

    from cellsweep.cells.evaluate import current_cell, drop_cells, evaluate
    from cellsweep.cells.loader import load_model

    config = Path(args.config).resolve()
    model, _ = load_model(config)
    preload_neuron()                    # so that "build once" is the build, not NEURON's import
    free = model.free_parameters
    sets = random_sets(free, args.n, args.seed) if free else [{} for _ in range(args.n)]
    all_phases, all_bare, builds, equal_all = [], [], [], True
    for repeat in range(args.repeats):
        drop_cells()
        warm = evaluate(model, sets[0])             # builds the cell (NeuronCell), untimed here
        builds.append(warm.timings["build"])
        cell = current_cell()                # the bare runs use this very NeuronCell
        phases, bare, equal = [], [], True
        for i, params in enumerate(sets):
            # pairs in alternating order (cellsweep first, then bare first, ...)
            for side in (("cellsweep", "bare") if i % 2 == 0 else ("bare", "cellsweep")):
                if side == "cellsweep":
                    result = evaluate(model, params, traces=True)
                    if result.status != "ok":
                        raise SystemExit(f"set {i}: {result.status} {result.message}")
                    phases.append(result.timings)
                    ours = result.traces
                else:
                    bare.append(bare_run(cell, model, params))
            theirs = bare[-1]["traces"]
            equal = equal and all(np.array_equal(ours[p][r][0], theirs[p][r][0])
                                  and np.array_equal(ours[p][r][1], theirs[p][r][1])
                                  for p in ours for r in ours[p])
        equal_all = equal_all and equal
        all_phases += phases
        all_bare += bare
        emit(bench="breakdown", config=str(args.config), repeat=repeat, evaluations=args.n,
             nseg=int(cell.nseg_total()), build_once_s=warm.timings["build"],
             **breakdown_figures(phases, bare), bare_traces_equal_cellsweep=equal,
             loadavg=loadavg())
        del cell, bare
        drop_cells()
        gc.collect()
    emit(bench="breakdown-summary", config=str(args.config), evaluations=args.n,
         repeats=args.repeats, build_once_s=stats(builds),
         **breakdown_figures(all_phases, all_bare), bare_traces_equal_cellsweep=equal_all,
         loadavg=loadavg())


def breakdown_figures(phases: list[dict], bare: list[dict]) -> dict:
    totals = [p["total"] for p in phases]
    sims = [b["simulate"] for b in bare]
    med = {k: statistics.median(p[k] for p in phases)
           for k in ("parameters", "simulate", "features", "overhead", "total")}
    bare_med = statistics.median(sims)
    protocols = list(bare[0]["per_protocol"]) if bare else []
    return {
        "phases_per_eval_s": phase_medians(phases),
        "overhead_fraction_of_simulate": med["overhead"] / med["simulate"],
        "not_simulate_fraction_of_total": (med["total"] - med["simulate"]) / med["total"],
        "bare_parameters_s": stats(b["parameters"] for b in bare),
        "bare_simulate_per_eval_s": stats(sims),
        "bare_simulate_per_protocol_s": {p: stats(b["per_protocol"][p] for b in bare)
                                         for p in protocols},
        "total_over_bare_simulate": stats(t / s for t, s in zip(totals, sims)),
        "simulate_phase_over_bare_simulate": stats(p["simulate"] / s
                                                   for p, s in zip(phases, sims)),
        "framework_time_per_eval_s": stats(t - s for t, s in zip(totals, sims)),
        "framework_fraction_of_bare_simulate": (med["total"] - bare_med) / bare_med,
    }


def bare_run(cell, model, params: dict) -> dict:
    """One set on ``cell`` with plain NEURON: only finitialize + psolve of each protocol is timed
    (stimuli and recordings are made before, copied out after, as cellsweep does them)."""
    from cellsweep.cells.evaluate import full_values
    from cellsweep.cells.protocols import parallel_context, prepare_run

    h = cell.h
    pc = parallel_context(h)
    values = full_values(model, params)
    start = time.perf_counter()
    cell.apply(values)
    out = {"parameters": time.perf_counter() - start, "simulate": 0.0, "per_protocol": {},
           "traces": {}}
    for protocol in model.protocols:
        prepared = prepare_run(cell, protocol, values, model.simulation)    # as cellsweep does
        start = time.perf_counter()
        h.finitialize(h.v_init)                     # timed: the bare simulation
        pc.psolve(protocol.tstop_ms)
        seconds = time.perf_counter() - start
        if h.t < protocol.tstop_ms * (1 - 1e-12) - 1e-9:
            raise SystemExit(f"bare run of {protocol.name} stopped at t={h.t:g} ms")
        out["simulate"] += seconds
        out["per_protocol"][protocol.name] = seconds
        out["traces"][protocol.name] = prepared.traces()
        del prepared
    return out


# -- mode: multicompartment ------------------------------------------------------------------------
def run_multicompartment(args):
    from cellsweep.cells.loader import load_model

    source = Path(args.config).resolve()

    def length_rule(data):
        data["cell"]["discretisation"] = {"rule": "length", "length_um": 40}

    with tempfile.TemporaryDirectory(prefix="evaluator_bench.") as tmp:
        folder = Path(tmp)
        config = temp_config(source, folder, "example_length40.yaml", length_rule)
        model, _ = load_model(config)
        sets = random_sets(model.free_parameters, args.n, args.seed)
        job = {"kind": "config", "config": str(config), "sets": sets, "warmup": args.warmup}
        compare_sides(args, "multicompartment", model, sets, job, folder,
                      extra={"config": str(args.config), "discretisation": "length 40 um"})


def compare_sides(args, bench: str, model, sets, job, folder: Path, extra: dict) -> None:
    """BluePyOpt (default isolation, no isolation; fresh processes) vs cellsweep in this process,
    alternating; scores compared exactly; a diagnosis of the first difference if any."""
    rates = {BPO_DEFAULT: [], BPO_NOISO: [], CELLSWEEP: [], BARE: []}
    per_eval = {BPO_DEFAULT: [], BPO_NOISO: [], CELLSWEEP: [], BARE: []}
    checks, reference, nseg = {}, None, {}
    names = [f.name for f in model.features]
    for repeat in range(args.repeats):
        for isolate, variant in ((True, BPO_DEFAULT), (False, BPO_NOISO)):
            result = run_bluepyopt({**job, "isolate": isolate}, folder)
            nseg["bluepyopt"] = result["nseg"]
            rate = len(result["walls"]) / sum(result["walls"])
            rates[variant].append(rate)
            per_eval[variant] += result["walls"]
            order = result["objectives"] == names
            theirs = result["scores"] if order else [
                [dict(zip(result["objectives"], s)).get(n, math.nan) for n in names]
                for s in result["scores"]]
            result["aligned_scores"] = theirs
            emit(bench=bench, variant=variant, repeat=repeat, evaluations=len(sets),
                 evals_per_s=rate, per_eval_s=stats(result["walls"]),
                 cpu_incl_children_per_eval_s=result["cpu_incl_children_s"] / len(sets),
                 setup_s=result["setup_s"], objectives_same_order=order,
                 whole_command_s=result["whole_command_s"], loadavg=loadavg())
            checks.setdefault(variant, []).append(theirs)
        block = cellsweep_block(model, sets, args.warmup if repeat == 0 else 0)
        nseg["cellsweep"] = block["nseg"]
        rate = len(sets) / sum(block["reused_walls"])
        rates[CELLSWEEP].append(rate)
        per_eval[CELLSWEEP] += block["reused_walls"]
        reference = reference or block["scores"]
        emit(bench=bench, variant=CELLSWEEP, repeat=repeat, evaluations=len(sets),
             evals_per_s=rate, per_eval_s=stats(block["reused_walls"]),
             build_s=block["build_s"], phases_s=phase_medians(block["phases"]),
             not_ok=not_ok(block["statuses"]),
             same_scores_as_first_repeat=block["scores"] == reference, loadavg=loadavg())
        bare = bare_block(model, sets)
        rates[BARE].append(len(sets) / sum(bare["walls"]))
        per_eval[BARE] += bare["walls"]
        emit(bench=bench, variant=BARE, repeat=repeat, evaluations=len(sets),
             evals_per_s=rates[BARE][-1], per_eval_s=stats(bare["walls"]), loadavg=loadavg())
    score_checks = {}
    for variant, runs in checks.items():
        results = [compare_scores(reference, theirs) for theirs in runs]
        worst = max(results, key=lambda c: (not c["equal"], c["max_abs_diff"]))
        score_checks[variant] = worst
    diagnosis = None
    first = next((c["first_difference"] for c in score_checks.values() if not c["equal"]), None)
    if first is not None:
        diagnosis = diagnose(model, sets, job, folder, first["set"])
    summary = {k: stats(v) for k, v in rates.items()}
    emit(bench=f"{bench}-summary", **extra, evaluations=len(sets), repeats=args.repeats,
         nseg_total=nseg, evals_per_s=summary,
         per_eval_s={k: stats(v) for k, v in per_eval.items()},
         ratio_cellsweep_over_bluepyopt_default=summary[CELLSWEEP]["median"]
         / summary[BPO_DEFAULT]["median"],
         ratio_cellsweep_over_bluepyopt_no_isolation=summary[CELLSWEEP]["median"]
         / summary[BPO_NOISO]["median"],
         cellsweep_time_over_bare_simulate=summary[BARE]["median"] / summary[CELLSWEEP]["median"],
         cellsweep_time_over_bare_per_repeat=[b / c for b, c in zip(rates[BARE],
                                                                     rates[CELLSWEEP])],
         scores_equal_every_set={k: c["equal"] for k, c in score_checks.items()},
         max_abs_score_diff={k: c["max_abs_diff"] for k, c in score_checks.items()},
         score_checks=score_checks, diagnosis=diagnosis, loadavg=loadavg())


def diagnose(model, sets, job, folder: Path, index: int) -> dict:
    """Where the first differing set differs: per-segment parameter values, traces, features."""
    import numpy as np

    from cellsweep.cells.evaluate import current_cell, evaluate

    traces_path = folder / "bpo_traces.npz"
    result = run_bluepyopt({**job, "sets": sets, "isolate": False, "warmup": 0,
                            "dump": {"set": index, "traces": str(traces_path)}}, folder)
    dump = result["dump"]
    ours = evaluate(model, sets[index], traces=True)
    cell = current_cell()
    segments = {}
    for key, theirs in dump["segments"].items():
        variable, region = key.split(".", 1)
        mine = [segment_value(seg, variable) for sec in cell.regions[region] for seg in sec]
        if len(mine) != len(theirs):
            segments[key] = {"segments": [len(mine), len(theirs)]}
            continue
        diff = [abs(a - b) for a, b in zip(mine, theirs)]
        if any(d != 0 for d in diff):
            segments[key] = {"segments_differing": sum(d != 0 for d in diff),
                             "of": len(diff), "max_abs_diff": max(diff),
                             "max_rel_diff": max(d / abs(b) for d, b in zip(diff, theirs) if b)}
    bpo = np.load(traces_path)
    traces = {}
    for protocol, recs in (ours.traces or {}).items():
        for name, (t, v) in recs.items():
            key = f"{protocol}.{name}.v"
            bt, bv = bpo[f"{key}|t"], bpo[f"{key}|v"]
            same = np.array_equal(t, bt) and np.array_equal(v, bv)
            entry = {"equal": bool(same), "samples": [int(t.size), int(bt.size)]}
            if not same:
                n = min(t.size, bt.size)
                bad = np.nonzero((t[:n] != bt[:n]) | (v[:n] != bv[:n]))[0]
                entry["first_difference_t_ms"] = float(t[bad[0]]) if bad.size else float(t[n - 1])
            traces[key] = entry
    values = {}
    for f in model.features:
        theirs = dump["values"].get(f.name)
        mine = ours.features.get(f.name)
        if not ((theirs is None and math.isnan(mine)) or theirs == mine):
            values[f.name] = {"cellsweep": mine, "bluepyopt": theirs}
    return {"set": index, "params": sets[index],
            "segment_parameters_differing": segments, "traces": traces,
            "feature_values_differing": values}


# -- mode: l5pc ------------------------------------------------------------------------------------
def run_l5pc(args):
    from cellsweep.cells.loader import load_model

    examples = os.environ.get("BPO_EXAMPLES")
    l5pc = Path(examples or "") / "l5pc"
    compiled = any(l5pc.glob("*/libnrnmech.so")) or any(l5pc.glob("*/.libs/libnrnmech.so"))
    if not examples or not (l5pc / "config" / "parameters.json").exists() or not compiled:
        print("skipped: set BPO_EXAMPLES to the examples/ folder of a BluePyOpt checkout whose "
              "l5pc/ has compiled mechanisms (cd examples/l5pc && nrnivmodl mechanisms)"
              + (f"; {l5pc} has none" if examples else ""), file=sys.stderr)
        emit(bench="l5pc-summary", skipped=True,
             reason="BPO_EXAMPLES not set" if not examples else
             f"no L5PC config or compiled mechanisms under {l5pc}")
        return
    from support.l5pc import RELEASE

    with tempfile.TemporaryDirectory(prefix="evaluator_bench.") as tmp:
        folder = Path(tmp)
        lines = ["bluepyopt:", "  name: l5pc_bench"]
        lines += [f"  {key}: {json.dumps(str(l5pc / 'config' / f'{key}.json'))}"
                  for key in ("parameters", "mechanisms", "protocols", "features")]
        lines.append(f"  morphology: {json.dumps(str(l5pc / 'morphology' / 'C060114A7.asc'))}")
        lines.append(f"  mechanisms_dir: {json.dumps(str(l5pc / 'mechanisms'))}")
        config = folder / "l5pc.yaml"
        config.write_text("\n".join(lines) + "\n")
        model, _ = load_model(config)
        sets = [dict(RELEASE)] + random_sets(model.free_parameters, args.n, args.seed)
        job = {"kind": "l5pc", "examples": str(Path(examples).resolve()), "sets": sets,
               "warmup": args.warmup}
        compare_sides(args, "l5pc", model, sets, job, folder,
                      extra={"sets": "released + %d random" % args.n})


# -- command line ----------------------------------------------------------------------------------
def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_bluepyopt":
        bluepyopt_main(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("simplecell")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--n", type=int, default=30, help="parameter sets")
    p.add_argument("--n-parallel", type=int, default=None,
                   help="parameter sets of the 2-core comparison (default: the same --n sets)")
    p.add_argument("--warmup", type=int, default=1, help="untimed evaluations first")
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("breakdown")
    p.add_argument("--config", required=True)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("multicompartment")
    p.add_argument("--config", default=str(EXAMPLE_YAML.relative_to(ROOT)))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("l5pc")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--n", type=int, default=2, help="random sets besides the released one")
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if os.environ.get("NEURON_INIT_MPI") != "0":
        os.environ["NEURON_INIT_MPI"] = "0"      # before NEURON is imported (see README)
    if args.what in ("breakdown", "multicompartment") and not Path(args.config).is_absolute():
        args.config = str(Path(args.config) if Path(args.config).exists()
                          else ROOT / args.config)
    {"simplecell": run_simplecell, "breakdown": run_breakdown,
     "multicompartment": run_multicompartment, "l5pc": run_l5pc}[args.what](args)


if __name__ == "__main__":
    main()
