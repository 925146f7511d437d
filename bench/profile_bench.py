"""Profile benchmarks (issue 12): an FI curve of the bundled example cell three ways, and the
rheobase search against a 10 pA scan. Prints one JSON line per measurement and a summary line.

  python bench/profile_bench.py fi [--repeats 3] [--amplitudes 20]
  python bench/profile_bench.py rheobase [--repeats 3]

Run with NEURON_INIT_MPI=0; on the 2-core build machine, when quiet, ``fi --repeats 3`` takes
about 4.5 minutes and ``rheobase --repeats 3`` 15 s. Both modes write a derived copy of configs/example/example.yaml into
a temporary folder (absolute paths, no sweep, ``run: {progress: none}``) with a ``profile:``
section selecting one experiment: the FI curve (``--amplitudes`` amplitudes, linspace 0.05 to
1.0 nA, 200 ms delay, 1000 ms steps, 100 ms after) or the rheobase (low 0, high 0.5 nA,
tolerance 0.001 nA, at most 30 simulations; the same step timing). The parameter set is the
config's defaults.

fi        Per repeat, in this order (A B C A B C ...):
          (a) ``cellsweep profile CONFIG -o FILE --workers 2 --backend processes`` (plots off:
              CELLSWEEP_NO_PLOTS=1), wall time of the whole command, and from its results
              file the campaign's span (first t_start to last t_end), each row's evaluation
              time and rate, and where the workers' time went. The wall splits into before
              the first evaluation starts (Python, imports, checks, results file, workers'
              start), the span, and after the last one ends (profile group, table, exit); the
              span is compared with list scheduling of its own evaluation times in dispatch
              order (``order_makespan``) and longest first (``lpt_makespan``);
          (b') ``cellsweep profile CONFIG -o FILE2 --backend serial``: the same campaign, one
              process evaluating the tasks one after the other (wall time of the command);
          (b)+(c) a fresh process (mode ``_serial``) that prepares the same plan
              (``sweep.profile_campaign.prepare``) and, after one warm-up evaluation (cell
              build, eFEL import), alternates per amplitude:
              (b) ``plan.evaluator(task)``: the profile's evaluation of that amplitude, as the
                  serial backend calls it (timed around the call);
              (c) plain NEURON on the same built cell: one IClamp at the soma centre and one
                  NetCon spike detector (threshold -20 mV) made once; per amplitude only
                  ``clamp.amp = a``, ``h.finitialize(v_init)``, ``ParallelContext.psolve(tstop)``
                  and counting the detector's spike times in [delay, delay + duration)
                  (timed: all of that); the clamp is parked (delay past tstop, amp 0) during
                  (b). Integrator as the config: CVode, atol 1e-3, rtol 0, celsius 34, v_init -70.
          The serial time (b) = the 20 evaluations' walls + the warm-up's one-off extra (its
          wall minus the same amplitude's wall in the loop): the same 20 evaluations, one after
          the other in one process, including one cell build. Rates are checked: (a), (b') and
          (b) bit for bit (``a_equals_b``), (c) as spike counts. Once, the (c) trace of one
          amplitude (t and v recorded for the check only) is compared sample for sample with
          cellsweep's ``run_protocol`` trace. Each variant also gets the cores it used and the
          cores the machine's other processes used meanwhile (``/proc/stat``): the host is
          shared, and a 2-worker figure means little while something else ran.
rheobase  Per repeat: cellsweep's search (``profile_run.run_rheobase`` on the cell the profile
          evaluation built: bracketing at low/high, then bisection to the tolerance), the same
          search with a lower high end (``--also-high``, default 0.25 nA), and a 10 pA-step
          scan upward from 0 nA (``profile_run.fired`` per step, the same step protocol) until
          the first step that fires; simulations and wall time of each, and the rheobase each
          finds; once, every simulation of the search timed on its own. The profile evaluation
          itself (``plan.evaluator``) is run once to check it reports the same rheobase.
"""

from __future__ import annotations

import argparse
import dataclasses
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

EXAMPLE_YAML = ROOT / "configs" / "example" / "example.yaml"
STEP = {"delay_ms": 200.0, "duration_ms": 1000.0, "after_ms": 100.0}


def emit(**fields):
    print(json.dumps(fields, default=float), flush=True)


def emit_env(mode: str) -> None:
    """The commit measured (and whether the tree had edits), the versions, the load."""
    from importlib.metadata import version

    def git(*cmd):
        return subprocess.run(["git", *cmd], capture_output=True, text=True, cwd=ROOT).stdout

    emit(bench="env", mode=mode, commit=git("rev-parse", "--short", "HEAD").strip(),
         edited=[line[3:] for line in git("status", "--porcelain", "--untracked-files=no")
                 .splitlines()], neuron=version("neuron"), python=sys.version.split()[0],
         cpus=os.cpu_count(), load=loadavg(), utc=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime()))


class CpuWatch:
    """CPU seconds this process's reaped children used, and all of the machine's busy CPU
    seconds (``/proc/stat``), over a block: what others used meanwhile is the difference
    (the host is shared with other jobs; a 2-worker figure means little when they ran)."""

    def __enter__(self):
        self.t0, self.mine0, self.busy0 = time.perf_counter(), _children_cpu(), _busy_cpu()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.mine = _children_cpu() - self.mine0
        self.busy = _busy_cpu() - self.busy0
        return False

    def fields(self, prefix: str) -> dict:
        return {f"{prefix}_cores_ours": self.mine / self.wall,
                f"{prefix}_cores_others": max(self.busy - self.mine, 0.0) / self.wall}


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _busy_cpu() -> float:
    """Seconds all CPUs spent busy since boot (user, nice, system, irq, softirq, steal)."""
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:9]]
    except OSError:
        return math.nan
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / os.sysconf("SC_CLK_TCK")


def child_env() -> dict:
    return {**os.environ, "NEURON_INIT_MPI": "0", "CELLSWEEP_NO_PLOTS": "1"}


def profile_config(folder: Path, profile: dict, name: str) -> Path:
    """The bundled example with absolute paths, no sweep, and the given ``profile:`` section."""
    src = EXAMPLE_YAML.parent
    data = yaml.safe_load(EXAMPLE_YAML.read_text())
    for key in ("morphology", "mechanisms_dir"):
        data["cell"][key] = str((src / data["cell"][key]).resolve())
    data.pop("sweep", None)
    data["run"] = {"progress": "none"}
    data["profile"] = profile
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def fi_profile(n: int) -> dict:
    return {"fi": {"amplitudes_nA": {"linspace": [0.05, 1.0, n]}, **STEP}, "measures": ["fi"]}


def rheobase_profile() -> dict:
    return {"rheobase": {"low_nA": 0.0, "high_nA": 0.5, "tolerance_nA": 0.001,
                         "max_simulations": 30, **STEP}, "measures": ["rheobase"]}


def run_child(mode: str, config: Path, folder: Path, extra=()) -> dict:
    out = folder / f"{mode}-{time.monotonic_ns()}.json"
    subprocess.run([sys.executable, __file__, mode, str(config), str(out), *extra], check=True,
                   env=child_env(), cwd=ROOT)
    return json.loads(out.read_text())


# -- schedule arithmetic ----------------------------------------------------------------------
def list_schedule(durations, workers: int = 2) -> float:
    """Makespan of tasks handed in the given order to whichever worker frees first."""
    free = [0.0] * workers
    for d in durations:
        i = free.index(min(free))
        free[i] += d
    return max(free)


# -- mode: fi ---------------------------------------------------------------------------------
def fi_from_file(path: Path, amps: list) -> dict:
    """Per amplitude (dispatch order) the rate, evaluation seconds, worker and times; the
    campaign span and where the workers' time went."""
    from cellsweep.cells import profile_measures as PM
    from cellsweep.sweep.results import load

    from bench.engine_bench import campaign_rate

    frame = load(path).sort_values("eval_id")
    rates, evals = [], []
    for _, row in frame.iterrows():
        a = float(row["amplitude_nA"])
        rates.append(float(row[PM.label("fi_curve", a, "amplitude")]))
        evals.append(float(row["time.total_s"]))
    assert [float(a) for a in frame["amplitude_nA"]] == amps, "rows not in amplitude order"
    _, _, split = campaign_rate(path)
    return {"rates": rates, "eval_s": evals,
            "span_s": float(frame["t_end"].max() - frame["t_start"].min()),
            "first_start": float(frame["t_start"].min()), "last_end": float(frame["t_end"].max()),
            "build_s": float(frame["time.build_s"].sum()),
            "time_split": {k: float(v) for k, v in split.items()},
            "status": sorted(set(frame["status"]))}


def run_fi(args):
    emit_env("fi")
    n = args.amplitudes
    results = {}
    checks = {"a_equals_b": True, "c_counts_equal": True, "trace_equal": None}
    per_amp = {"b": [], "c": [], "a": []}
    with tempfile.TemporaryDirectory(prefix="profile_bench.") as tmp:
        folder = Path(tmp)
        config = profile_config(folder, fi_profile(n), "example_fi.yaml")
        for repeat in range(args.repeats):
            out, out_serial = folder / f"fi-{repeat}.h5", folder / f"fi-serial-{repeat}.h5"
            command = [sys.executable, "-m", "cellsweep", "profile", str(config)]
            load0 = loadavg()
            with CpuWatch() as watch_a:
                launched = time.time()
                subprocess.run(command + ["-o", str(out), "--workers", "2", "--backend",
                                          "processes"], check=True, env=child_env(), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                finished = time.time()
            a_wall = watch_a.wall
            with CpuWatch() as watch_s:             # the serial backend, the whole command
                subprocess.run(command + ["-o", str(out_serial), "--backend", "serial"],
                               check=True, env=child_env(), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with CpuWatch() as watch_b:
                serial = run_child("_serial", config, folder,
                                   ["--check-trace"] if repeat == 0 else [])
            amps = serial["amplitudes"]
            a = fi_from_file(out, amps)
            b_rates, c_rates = serial["b_rates"], serial["c_rates"]
            s_file = fi_from_file(out_serial, amps)
            same_ab = all(x == y == z for x, y, z in zip(a["rates"], b_rates, s_file["rates"])) \
                and len(a["rates"]) == len(b_rates) == len(s_file["rates"])
            same_c = serial["b_counts"] == serial["c_counts"]
            checks["a_equals_b"] &= same_ab
            checks["c_counts_equal"] &= same_c
            if serial.get("trace_check") is not None:
                checks["trace_equal"] = serial["trace_check"]
            b_serial = sum(serial["b_s"]) + serial["one_off_s"]
            c_sum, b_sum = sum(serial["c_s"]), sum(serial["b_s"])
            row = {"a_wall": a_wall, "a_span": a["span_s"], "b_serial": b_serial,
                   "c_plain": c_sum, "ratio_wall": b_serial / a_wall,
                   "ratio_span": b_serial / a["span_s"], "serial_command": watch_s.wall,
                   "ratio_commands": watch_s.wall / a_wall,
                   "a_before_first_s": a["first_start"] - launched,
                   "a_after_last_s": finished - a["last_end"],
                   "per_eval_ratio": b_sum / c_sum,
                   "overhead_ms": 1e3 * (b_sum - c_sum) / n, "a_eval_sum": sum(a["eval_s"]),
                   "b_eval_sum": b_sum, "concurrency": sum(a["eval_s"]) / b_sum,
                   "order_makespan": list_schedule(a["eval_s"]),
                   "lpt_makespan": list_schedule(sorted(a["eval_s"], reverse=True)),
                   "b_order_makespan": list_schedule(serial["b_s"])}
            cpu = {**watch_a.fields("a"), **watch_s.fields("s"), **watch_b.fields("bc")}
            for k, v in row.items():
                results.setdefault(k, []).append(v)
            for k, v in cpu.items():
                results.setdefault(k, []).append(v)
            per_amp["a"].append(a["eval_s"])
            per_amp["b"].append(serial["b_s"])
            per_amp["c"].append(serial["c_s"])
            emit(bench="fi", repeat=repeat, amplitudes=n, load=load0, **row, **cpu,
                 a_time_split=a["time_split"], a_build_s=a["build_s"],
                 b_one_off_s=serial["one_off_s"], b_phases=serial["phases"],
                 rates_a=a["rates"], rates_b=b_rates, rates_c=c_rates, a_equals_b=same_ab,
                 c_counts_equal=same_c, a_status=a["status"], b_status=serial["status"],
                 per_amplitude_s={"a": a["eval_s"], "b": serial["b_s"], "c": serial["c_s"]})
    med_per_amp = {k: [statistics.median(r[i] for r in v) for i in range(n)]
                   for k, v in per_amp.items()}
    emit(bench="fi-summary", amplitudes=n, repeats=args.repeats,
         **{k: stats(v) for k, v in results.items()}, checks=checks,
         amplitudes_nA=amps, rates_Hz=b_rates,
         median_per_amplitude_s=med_per_amp,
         per_amplitude_b_over_c=[b / c for b, c in zip(med_per_amp["b"], med_per_amp["c"])],
         targets={"b_over_a_wall_ge_1.8": statistics.median(results["ratio_wall"]) >= 1.8,
                  "serial_command_over_a_ge_1.8":
                      statistics.median(results["ratio_commands"]) >= 1.8,
                  "per_eval_within_5pct": statistics.median(results["per_eval_ratio"]) <= 1.05})


def _serial(args):
    """(b) and (c) in this fresh process, alternated amplitude by amplitude."""
    import numpy as np

    from cellsweep.cells import evaluate as E
    from cellsweep.cells import profile_measures as PM
    from cellsweep.cells import profile_run as PR
    from cellsweep.cells.protocols import parallel_context, run_protocol
    from cellsweep.sweep import profile_campaign as PC

    folder = Path(args.out).parent
    plan = PC.prepare(args.config, output=folder / "unused.h5", params={})
    ev = plan.evaluator
    names = ev.feature_names
    tasks = [{"id": i, "params": {**plan.values, PC.AMPLITUDE: a}}
             for i, (_, a) in enumerate(plan.tasks)]
    amps = [a for _, a in plan.tasks]
    exp = plan.model.experiments[0]
    delay, dur, tstop = exp.get("delay_ms"), exp.get("duration_ms"), \
        exp.get("delay_ms") + exp.get("duration_ms") + exp.get("after_ms")
    thr = exp.get("threshold_mV")

    def rate_of(record, amp):
        return record["features"][names.index(PM.label("fi_curve", amp, "amplitude"))]

    start = time.perf_counter()
    warm = ev(tasks[0])                          # builds the cell, imports eFEL
    warm_s = time.perf_counter() - start
    cell = E.current_cell()
    h = cell.h
    sim = plan.model.simulation
    values = E.full_values(plan.model, plan.values)
    pc = parallel_context(h)
    # (c)'s objects, made once: a clamp at the soma centre and a spike detector
    clamp = h.IClamp(cell.soma(0.5))
    spikes = h.Vector()
    detector = h.NetCon(cell.soma(0.5)._ref_v, None, sec=cell.soma)
    detector.threshold = thr
    detector.record(spikes)

    def park():
        clamp.amp, clamp.delay, clamp.dur = 0.0, 1e9, 0.0

    def plain(amp, record_v=None):
        clamp.amp, clamp.delay, clamp.dur = amp, delay, dur
        h.finitialize(values["v_init"])
        pc.psolve(tstop)
        t = spikes.as_numpy()
        count = int(np.count_nonzero((t >= delay) & (t < delay + dur)))
        return count

    park()
    h.cvode_active(1)
    h.cvode.atol(sim.atol)
    h.cvode.rtol(sim.rtol)
    b_s, c_s, b_rates, c_rates, b_counts, c_counts, status = [], [], [], [], [], [], []
    phases = {"parameters": 0.0, "simulate": 0.0, "features": 0.0, "overhead": 0.0}
    for task, amp in zip(tasks, amps):
        mark = time.perf_counter()
        record = ev(task)
        b_s.append(time.perf_counter() - mark)
        status.append(record["status"])
        for k in phases:
            phases[k] += record["timings"].get(k, 0.0)
        rate = rate_of(record, amp)
        b_rates.append(rate)
        b_counts.append(int(round(rate * dur * 1e-3)))
        mark = time.perf_counter()
        count = plain(amp)
        c_s.append(time.perf_counter() - mark)
        park()
        c_counts.append(count)
        c_rates.append(count / (dur * 1e-3))
        if h.t < tstop - 1e-9:
            raise SystemExit(f"plain run at {amp} nA stopped at t={h.t:g} ms")
    one_off = warm_s - b_s[0]
    assert rate_of(warm, amps[0]) == b_rates[0]
    trace_check = None
    if args.check_trace:                     # one amplitude: (c)'s trajectory vs cellsweep's
        amp = amps[len(amps) // 2]
        t_rec, v_rec = h.Vector(), h.Vector()
        t_rec.record(h._ref_t)
        v_rec.record(cell.soma(0.5)._ref_v)
        plain(amp)
        park()
        t_c, v_c = t_rec.as_numpy().copy(), v_rec.as_numpy().copy()
        t_rec.play_remove()
        v_rec.play_remove()
        del t_rec, v_rec
        t_b, v_b = run_protocol(cell, PR.step_protocol(exp, amp), values, sim)["soma"]
        trace_check = {"amplitude_nA": amp, "samples": [int(t_c.size), int(t_b.size)],
                       "equal": bool(t_c.size == t_b.size and np.array_equal(t_c, t_b)
                                     and np.array_equal(v_c, v_b))}
    Path(args.out).write_text(json.dumps({
        "amplitudes": amps, "b_s": b_s, "c_s": c_s, "b_rates": b_rates, "c_rates": c_rates,
        "b_counts": b_counts, "c_counts": c_counts, "one_off_s": one_off, "warm_s": warm_s,
        "phases": phases, "status": sorted(set(status)), "trace_check": trace_check}))


# -- mode: rheobase ---------------------------------------------------------------------------
def run_rheobase_bench(args):
    emit_env("rheobase")
    with tempfile.TemporaryDirectory(prefix="profile_bench.") as tmp:
        folder = Path(tmp)
        config = profile_config(folder, rheobase_profile(), "example_rheobase.yaml")
        result = run_child("_rheobase", config, folder, ["--repeats", str(args.repeats),
                                                         "--also-high",
                                                         *map(str, args.also_high)])
    for row in result["rows"]:
        emit(bench="rheobase", **row)
    rows = result["rows"]

    def pick(method, key):
        return [r[key] for r in rows if r["method"] == method]

    methods = list(dict.fromkeys(r["method"] for r in rows))
    summary = {}
    for m in methods:
        found = pick(m, "rheobase_nA")
        summary[m] = {"simulations": pick(m, "simulations")[0], "rheobase_nA": found[0],
                      "deterministic": len(set(found)) == 1 and
                      len(set(pick(m, "simulations"))) == 1,
                      "wall_s": stats(pick(m, "wall_s")),
                      "wall_over_scan": stats(w / s for w, s in
                                              zip(pick(m, "wall_s"), pick("scan", "wall_s")))}
        if m != "scan":
            summary[m]["bracket_nA"] = pick(m, "bracket_nA")[0]
    summary["bisection"]["sim_s"] = pick("bisection", "sim_s")[0]
    bis, scan = summary["bisection"]["rheobase_nA"], summary["scan"]["rheobase_nA"]
    emit(bench="rheobase-summary", repeats=args.repeats, **summary,
         evaluation=result["evaluation"], difference_pA=1e3 * (scan - bis),
         agree_within_10pA=abs(scan - bis) <= 0.010 + 1e-12)


def _rheobase(args):
    from cellsweep.cells import evaluate as E
    from cellsweep.cells import profile_run as PR
    from cellsweep.sweep import profile_campaign as PC

    folder = Path(args.out).parent
    plan = PC.prepare(args.config, output=folder / "unused.h5", params={})
    ev = plan.evaluator
    start = time.perf_counter()
    record = ev({"id": 0, "params": {**plan.values, PC.AMPLITUDE: math.nan}})
    first_s = time.perf_counter() - start
    feats = dict(zip(ev.feature_names, record["features"]))
    cell = E.current_cell()
    exp = plan.model.experiments[0]
    sim = plan.model.simulation
    values = E.full_values(plan.model, plan.values)
    searches = {"bisection": exp}
    for high in args.also_high:                 # the same search from a lower high end
        searches[f"bisection-high{high:g}"] = dataclasses.replace(exp, settings=tuple(
            (k, float(high) if k == "high_nA" else v) for k, v in exp.settings))
    rows = []
    for repeat in range(args.repeats):
        for method, e in searches.items():
            start = time.perf_counter()
            measures, _, info = PR.run_rheobase(cell, e, values, sim)
            wall = time.perf_counter() - start
            rows.append({"method": method, "repeat": repeat, "load": loadavg(),
                         "high_nA": e.get("high_nA"),
                         "simulations": int(measures["rheobase_simulations"]),
                         "rheobase_nA": measures["rheobase"],
                         "bracket_nA": list(info["bracket"]), "status": info["status"],
                         "wall_s": wall, "tried": [[a, c] for a, c in info["tried"]],
                         "sim_s": None})
        tried, k = [], 0
        start = time.perf_counter()
        while True:
            amp = round(0.01 * k, 10)
            count = PR.fired(cell, exp, amp, values, sim)[0]
            tried.append([amp, count])
            if count > 0 or amp > exp.get("max_nA"):
                break
            k += 1
        wall = time.perf_counter() - start
        rows.append({"method": "scan", "repeat": repeat, "load": loadavg(),
                     "simulations": len(tried), "rheobase_nA": amp if count > 0 else math.nan,
                     "wall_s": wall, "tried": tried})
    # one more bisection with each simulation timed (where its time goes)
    sim_s = []
    search_rows = rows[0]["tried"]
    for amp, _ in search_rows:
        start = time.perf_counter()
        PR.fired(cell, exp, amp, values, sim)
        sim_s.append(time.perf_counter() - start)
    rows[0]["sim_s"] = sim_s
    Path(args.out).write_text(json.dumps({
        "rows": rows, "evaluation": {"rheobase_nA": feats.get("rheobase"),
                                     "simulations": feats.get("rheobase_simulations"),
                                     "wall_s_incl_build": first_s,
                                     "build_s": record["timings"].get("build")}}))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("fi")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--amplitudes", type=int, default=20)
    p = sub.add_parser("rheobase")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--also-high", type=float, nargs="*", default=[0.25],
                   help="also run the search with these high_nA (nA)")
    p = sub.add_parser("_serial")
    p.add_argument("config")
    p.add_argument("out")
    p.add_argument("--check-trace", action="store_true")
    p = sub.add_parser("_rheobase")
    p.add_argument("config")
    p.add_argument("out")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--also-high", type=float, nargs="*", default=[])
    args = parser.parse_args()
    {"fi": run_fi, "rheobase": run_rheobase_bench, "_serial": _serial,
     "_rheobase": _rheobase}[args.what](args)


if __name__ == "__main__":
    main()
