"""docs/CONFIG.md lists every config key the reader accepts, and its examples are valid.

The reference's convention (described at its top): every key is a row of a table whose header
starts with ``| key |``, the first cell the key's full path in backticks, with ``<name>`` for
user-chosen names and ``[]`` for list items; ```yaml blocks starting with ``# complete config``
are whole configs, those starting with ``# fragment`` are merged into the first complete one;
```csv blocks starting with ``# file: NAME`` are files the examples use. Examples are written as
if they sat in ``configs/example/``.

- Completeness: configs that together use every key (the bundled example, tests/data/*/*.yaml
  and the configs below) are read by every reader ``cellsweep run`` uses, with
  ``cells.schema.record_known_keys`` on; a key the reader accepts without a row fails, and so
  does a row for a key none of them reads (a key that no longer exists, or one the configs
  below should use).
- Examples: every complete config and fragment passes the checks of ``cellsweep run`` (or of
  ``cellsweep validate`` when it has neither ``sweep`` nor ``optimise``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from cellsweep.cells.config import display_path
from cellsweep.cells.errors import ConfigError
from cellsweep.cells.loader import load_model
from cellsweep.cells.schema import KeyRecorder, load_yaml, record_known_keys

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "docs" / "CONFIG.md"
BLUEPYOPT_FILES = ("parameters", "mechanisms", "protocols", "features")


# -- reading the reference ---------------------------------------------------------------------
def documented_keys(text: str) -> dict[str, int]:
    """Key path -> line of its row, for every row of every ``| key | ...`` table."""
    keys: dict[str, int] = {}
    in_key_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.startswith("|"):
            in_key_table = False
            continue
        first = line.strip().strip("|").split("|")[0].strip()
        if first == "key":
            in_key_table = True
        elif in_key_table:
            m = re.fullmatch(r"`([^`]+)`", first)
            if m:
                keys[m.group(1)] = number
    return keys


@dataclass(frozen=True)
class Block:
    kind: str          # "complete" | "fragment"
    line: int
    text: str


def fenced_blocks(text: str):
    """(language, first line number of the body, body) of every fenced block."""
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S):
        yield m.group(1), text.count("\n", 0, m.start(2)) + 1, m.group(2)


def examples(text: str) -> list[Block]:
    out = []
    for language, line, body in fenced_blocks(text):
        first = body.split("\n", 1)[0].strip()
        if language == "yaml" and first.startswith("# complete config"):
            out.append(Block("complete", line, body))
        elif language == "yaml" and first.startswith("# fragment"):
            out.append(Block("fragment", line, body))
    return out


def example_files(text: str) -> dict[str, str]:
    """``# file: NAME`` csv blocks: name -> content."""
    out = {}
    for language, _, body in fenced_blocks(text):
        m = re.match(r"#\s*file:\s*(\S+)\s*\n", body)
        if language == "csv" and m:
            out[m.group(1)] = body
    return out


REFERENCE_TEXT = REFERENCE.read_text(encoding="utf-8")
EXAMPLES = examples(REFERENCE_TEXT)


# -- reading configs as `cellsweep run` does -----------------------------------------------------
def check(path: Path) -> list[str]:
    """Every problem ``cellsweep run`` would report for ``path`` (``validate``'s, for a config
    without ``sweep``/``optimise``); [] when it is valid."""
    from cellsweep.optimise import campaign as optimise_campaign
    from cellsweep.sweep import campaign as sweep_campaign
    from cellsweep.sweep import convergence

    data = load_yaml(path)
    kinds = [k for k in ("sweep", "optimise", "convergence") if k in data]
    try:
        if not kinds:
            load_model(path)
        elif kinds == ["sweep"]:
            sweep_campaign.prepare(path)
        elif kinds == ["convergence"]:
            convergence.prepare(path)
        elif kinds == ["optimise"]:
            optimise_campaign.prepare(path)
        else:
            return [f"{path}: has both sweep: and optimise: (cellsweep run refuses it)"]
    except ConfigError as exc:
        return list(exc.problems)
    return []


def example_layout(root: Path) -> Path:
    """``root/configs/example`` beside ``mechanisms`` and ``tests``, as in the repository, with
    the example morphology: paths written for configs/example/ resolve the same there."""
    folder = root / "configs" / "example"
    folder.mkdir(parents=True)
    swc = "example_pyramid.swc"
    (folder / swc).symlink_to(REPO / "configs" / "example" / swc)
    for name in ("mechanisms", "tests"):
        (root / name).symlink_to(REPO / name)
    return folder


# -- configs that use every key ---------------------------------------------------------------
EVERYTHING = """
cell:
  name: everything
  morphology: example_pyramid.swc
  mechanisms_dir: ../../mechanisms/example
  axon: {replace: true, stub_length_um: 60, nseg_frequency_um: 40}
  discretisation:
    rule: d_lambda
    d_lambda: 0.1
    frequency_hz: 100
    length_um: 40
    nseg: {somatic: 1, distal: 3}
  regions:
    distal: {within: apical, min_distance_um: 300, max_distance_um: 1000}
    proximal: {within: basal}
  insert:
    all: [pas]
    somatic: [na_t, k_dr, k_m]
    axonal: [na_t, k_dr]
    basal: [ih, na_t, k_dr]
    apical: [ih, na_t, k_dr]
    proximal: k_m
  distributions:
    flat: {kind: uniform, distance: path}
    ramp_up: {kind: linear, intercept: 1.0, slope_per_um: 0.001}
    grow: {kind: exponential, offset: 0.0, amplitude: 1.0, length_um: 300}
    hot: {kind: sigmoid, offset: 0.5, amplitude: 2.0, midpoint_um: 400, width_um: 50,
          distance: euclidean}
    band: {kind: step, start_um: 100, end_um: 500, inside: 2.0, outside: 1.0}
    formula: {kind: expression, expression: "value*exp(distance/300)"}
  fixed:
    celsius: 34
    v_init: -70
    q10_na_t: 2.3
    Ra.all: 100
    cm.all: 1.0
    cm.basal: {value: 2.0, distribution: flat}
    e_pas.all: -70
    ena.all: 50
    ek.all: -80
    gbar_na_t.axonal: 0.3
    gbar_k_dr.axonal: 0.24
    gbar_ih.basal: {value: 0.0003, distribution: ramp_up}
    gbar_ih.apical: {value: 0.0001, distribution: grow}
    gbar_ih.distal: {value: 0.0001, distribution: hot}
    gbar_na_t.apical: {value: 0.002, distribution: band}
    gbar_k_dr.apical: {value: 0.002, distribution: formula}
    sim.dt_ms: 0.025
    nseg.d_lambda: 0.1
    nseg.proximal: 3
  free:
    g_pas.all: {low: 1.0e-5, high: 1.0e-4, default: 3.0e-5, log: true}
    gbar_na_t.somatic: {low: 0.02, high: 0.3, default: 0.1, distribution: flat}
    gbar_k_dr.somatic: {low: 0.01, high: 0.2}
    gbar_k_m.somatic: {low: 0.0, high: 0.01}
    every_kind.pulse.amp_nA: {low: 0.1, high: 0.5}
simulation: {cvode: false, atol: 1.0e-3, rtol: 0.0, dt_ms: 0.025}
protocols:
  every_kind:
    tstop_ms: 1500
    holding_nA: -0.02
    window_ms: [100, 500]
    stimulus_current_nA: 0.3
    stimuli:
      pulse: {kind: step, amp_nA: 0.3, delay_ms: 100, duration_ms: 400, location: soma}
      ramp: {kind: ramp, amp_start_nA: 0.0, amp_end_nA: 0.8, delay_ms: 550, duration_ms: 200,
             location: "apic[3](0.5)"}
      chirp: {kind: zap, amp_nA: 0.1, f_start_hz: 1, f_end_hz: 20, delay_ms: 800,
              duration_ms: 200, location: {region: basal, distance_um: 50}}
      drawn: {kind: waveform, times_ms: [0, 20, 40, 41], currents_nA: [0.0, 0.3, 0.0, 0.0],
              scale: 1.0, delay_ms: 1050, location: {section: "dend[0]", x: 0.5}}
      from_file: {kind: waveform, file: wave.csv, delay_ms: 1150}
      bursts:
        kind: synapses
        synapse: Exp2Syn
        synapse_params: {tau1: 0.5, tau2: 5, e: 0}
        locations: [soma, "apic[3](0.5)", {region: apical, distance_um: 300},
                    {section: "apic[0]", x: 0.9}]
        start_ms: 1300
        interval_ms: 20
        number: 5
        noise: 0.5
        weight_uS: 0.001
        netcon_delay_ms: 1
        seed: 7
    recordings:
      soma: soma
      dend_tip: "dend[0](1)"
      apical_300: {location: {region: apical, distance_um: 300}}
      axon_start: {location: {section: "axon[0]", x: 0.0}, variable: v}
      potassium: {location: soma, variable: ik}
  plain:
    tstop_ms: 300
    stimuli:
      up: {kind: ramp, amp_end_nA: 0.5, delay_ms: 10, duration_ms: 100}
features:
  - protocol: every_kind
    recording: apical_300
    efel: AP_amplitude_from_voltagebase
    mean: 28
    std: 6
    name: dendritic_ap
    weight: 2.0
    window_ms: [100, 500]
    threshold_mV: -50
    interp_step_ms: 0.025
    stimulus_current_nA: 0.4
    settings: {DerivativeThreshold: 12, strict_stiminterval: true, voltage_base_mode: mean}
  - {protocol: every_kind, efel: Spikecount, mean: 5, std: 1}
  - {protocol: plain, efel: voltage_base, mean: -70, std: 2}
scoring: {missing_penalty: 250, max_score: 50}
sweep:
  design: grid
  seed: 0
  parameters:
    gbar_k_m.somatic: {linspace: [0.0, 0.01, 3]}
    every_kind.bursts.syn_tau2: {values: [2.0, 5.0]}
    g_pas.all: {logspace: [1.0e-5, 1.0e-4, 2]}
    every_kind.holding.amp_nA: {values: [-0.02, 0.0]}
run:
  output: results/everything.h5
  workers: 2
  timeout_s: 120
  max_attempts: 3
  recycle_after: 100
  max_rss_mb: 2000
  traces: {dt_ms: 0.5}
  commit_interval_s: 1
  log_interval_s: 10
  progress: none
"""

WAVE_CSV = "# a test waveform\ntime_ms,current_nA\n0,0\n10,0.1\n20,0\n21,0\n"
POINTS_CSV = "gbar_na_t.somatic,every_kind.pulse.amp_nA\n0.05,0.2\n0.1,0.4\n"

# the sweep/optimise/run variants, each replacing those sections of EVERYTHING
VARIANTS = {
    "stylised": {"cell": {
        "name": "stylised", "mechanisms_dir": "../../mechanisms/example",
        "sections": [
            {"name": "soma", "L": 12.6157, "diam": 12.6157},
            {"name": "dend", "L": 50, "diam": [2, 1], "count": 3, "chain": True,
             "parent": "soma(0)", "region": "trunk", "nseg": 3},
            {"name": "apic", "L": 300, "diam": 1}],
        "insert": {"all": ["pas"], "somatic": ["na_t", "k_dr", "k_m"]},
        "fixed": {"L.trunk": 60, "diam.apic[0]": 1.5},
        "free": {"L.apical": {"low": 100, "high": 600}}}},
    "zip": {"sweep": {"design": "zip", "parameters": {
        "every_kind.pulse.amp_nA": {"values": [0.2, 0.4]},
        "gbar_k_m.somatic": {"linspace": [0.0, 0.01, 2]}}}},
    "csv": {"sweep": {"design": "csv", "file": "points.csv"}},
    "random": {"sweep": {"design": "random", "n_samples": 10, "seed": 1, "parameters": {
        "gbar_na_t.somatic": {},
        "g_pas.all": {"low": 2.0e-5, "high": 6.0e-5, "log": True},
        "sim.atol": {"low": 1.0e-4, "high": 1.0e-2}}}},
    "latin_hypercube": {"sweep": {"design": "latin_hypercube", "n_samples": 8, "seed": 2}},
    "sobol": {"sweep": {"design": "sobol", "n_samples": 8, "parameters": {
        "nseg.frequency_hz": {"low": 50, "high": 200}, "celsius": {"low": 30, "high": 37}}}},
    "optimise": {"sweep": None, "optimise": {
        "algorithm": "NSGA2", "offspring_size": 4, "max_generations": 2, "seed": 3,
        "eta": 10, "mutpb": 0.5, "cxpb": 0.7, "sigma": 0.4, "hall_of_fame": 2},
        "run": {"traces": True, "progress": "log"}},
    "profile": {
        "features": [
            {"profile": "input_resistance", "mean": 120, "std": 15},
            {"profile": "fi_curve", "mean": [0, 12], "std": 3},
            {"profile": "fi_curve", "amplitude_nA": 0.4, "mean": 20, "std": 3,
             "name": "rate_at_0.4"},
            {"profile": "spike_rate", "experiment": {"amp_nA": 0.35}, "mean": 15, "std": 3},
            {"profile": "impedance", "frequency_hz": 5, "mean": 120, "std": 20},
            {"profile": "bap_amplitude", "distance_um": 200, "mean": 90, "std": 20}],
        "profile": {
            "holding_nA": 0.0, "measures": ["passive", "resonance_frequency"],
            "location": "soma",
            "output": "profile.h5",
            "passive": {"fit_end_ms": 200, "location": "soma"},
            "spiking": {"location": "soma"}, "zap": {"duration_ms": 3000, "location": "soma"},
            "fi": {"amplitudes_nA": {"start": 0.1, "stop": 0.3, "step": 0.2},
                   "location": "soma"},
            "rheobase": {"tolerance_nA": 0.002, "location": "soma"},
            "dendrite": {"step_um": 100, "max_um": 300, "distances_um": [150]}}},
    "profile_linspace": {"profile": {"fi": {"amplitudes_nA": {"linspace": [0.1, 0.5, 3]}}}},
}

BLUEPYOPT_YAML = """
bluepyopt:
  name: converted
  parameters: parameters.json
  mechanisms: mechanisms.json
  protocols: protocols.json
  features: features.json
  morphology: example_pyramid.swc
  mechanisms_dir: ../../mechanisms/example
  replace_axon: true
  nseg_frequency_um: 40
  cvode: true
sweep: {design: latin_hypercube, n_samples: 4}
run: {progress: none}
"""
EXP = "(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}"
BLUEPYOPT_JSON = {
    "parameters": [
        {"param_name": "celsius", "type": "global", "value": 34},
        {"param_name": "v_init", "type": "global", "value": -70, "sectionlist": "all",
         "dist_type": "uniform", "dist": ""},
        {"param_name": "Ra", "type": "section", "sectionlist": "all", "dist_type": "uniform",
         "value": 100},
        {"param_name": "g_pas", "type": "range", "sectionlist": "all", "dist_type": "uniform",
         "bounds": [1.0e-5, 1.0e-4], "mech": "pas", "mech_param": "g"},
        {"param_name": "e_pas", "type": "range", "sectionlist": "all", "dist_type": "uniform",
         "value": -70},
        {"param_name": "gbar_na_t", "type": "range", "sectionlist": "somatic",
         "dist_type": "uniform", "bounds": [0.02, 0.3]},
        {"param_name": "gbar_k_dr", "type": "range", "sectionlist": "somatic",
         "dist_type": "uniform", "value": 0.08, "dist": "unused for uniform"},
        {"param_name": "gbar_ih", "type": "range", "sectionlist": "apical", "dist_type": "exp",
         "dist": EXP, "value": 0.0001},
    ],
    "mechanisms": {"all": ["pas"], "somatic": ["na_t", "k_dr"], "apical": ["ih"]},
    "protocols": {"step": {
        "stimuli": [{"amp": 0.4, "delay": 100, "duration": 400, "totduration": 600},
                    {"amp": -0.01, "delay": 0, "duration": 600, "totduration": 600}],
        "extra_recordings": [{"type": "somadistance", "name": "dend1", "seclist_name": "apical",
                              "somadistance": 300, "var": "v", "arbor_branch_index": 3,
                              "arbor_branch_index_with_replaced_axon": 4}]}},
    "features": {"step": {"soma": {"Spikecount": [8, 2]},
                          "dend1": {"AP_amplitude_from_voltagebase": [28, 6]}}},
}


def write_test_configs(folder: Path) -> list[Path]:
    """The configs above, written into ``folder`` (an ``example_layout``)."""
    (folder / "wave.csv").write_text(WAVE_CSV)
    (folder / "points.csv").write_text(POINTS_CSV)
    base = yaml.safe_load(EVERYTHING)
    paths = [folder / "everything.yaml"]
    paths[0].write_text(EVERYTHING)
    for name, change in VARIANTS.items():
        data = {**base, **change}
        data = {k: v for k, v in data.items() if v is not None}
        path = folder / f"everything_{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        paths.append(path)
    for key, content in BLUEPYOPT_JSON.items():
        (folder / f"{key}.json").write_text(json.dumps(content, indent=1))
    path = folder / "converted.yaml"
    path.write_text(BLUEPYOPT_YAML)
    paths.append(path)
    return paths


def repository_configs() -> list[Path]:
    return [*sorted((REPO / "configs").glob("*/*.yaml")),
            *sorted((REPO / "tests" / "data").glob("*/*.yaml"))]


def read_with_every_reader(path: Path) -> None:
    """Read ``path`` as ``cellsweep validate`` and ``cellsweep run`` do; only which keys get
    read matters here, so problems are ignored."""
    from cellsweep.optimise import campaign as optimise_campaign
    from cellsweep.sweep import campaign as sweep_campaign
    from cellsweep.sweep import convergence

    data = load_yaml(path)
    try:
        load_model(path)
    except ConfigError:
        pass
    for kind, module in (("sweep", sweep_campaign), ("optimise", optimise_campaign),
                         ("convergence", convergence)):
        if kind in data:
            try:
                module.prepare(path)
            except ConfigError:
                pass


def json_roles(paths) -> dict[str, str]:
    """How problems name a config's BluePyOpt JSON files -> which file it is."""
    roles = {}
    for path in paths:
        try:
            options = load_yaml(path).get("bluepyopt")
        except ConfigError:
            continue
        if isinstance(options, dict):
            for role in BLUEPYOPT_FILES:
                if isinstance(options.get(role), str):
                    roles[display_path(path.parent / options[role])] = role
    return roles


def reference_key(source: str, pattern: str, key: str, roles: dict) -> str:
    """A recorded key as the reference writes it; keys of BluePyOpt's JSON files are prefixed
    with the file (``parameters.json[].param_name``), a protocols.json protocol name is
    ``<name>`` (that reader iterates the file's mapping itself)."""
    path = KeyRecorder.dotted(pattern, key)
    role = roles.get(source)
    if role is None:
        return path
    if role == "protocols":
        path = re.sub(r"""^(\['[^']*'\]|\["[^"]*"\]|[^.\[]+)""", "<name>", path)
    return f"{role}.json" + ("" if path.startswith("[") else ".") + path


@pytest.fixture(scope="module")
def accepted(tmp_path_factory) -> dict[str, str]:
    """Every key the reader accepted while reading the configs -> a config that used it."""
    folder = example_layout(tmp_path_factory.mktemp("reference"))
    ours = write_test_configs(folder)
    for path in ours:
        problems = check(path)
        assert problems == [], (f"{path.name} must be valid, to take every reader's path:\n"
                                + "\n".join(problems))
    configs = repository_configs() + ours
    with record_known_keys() as recorder:
        for path in configs:
            read_with_every_reader(path)
    roles = json_roles(configs)
    out: dict[str, str] = {}
    for source, pattern, key in sorted(recorder.keys):
        out.setdefault(reference_key(source, pattern, key, roles), source)
    return out


def test_the_reference_is_parsed():
    keys = documented_keys(REFERENCE_TEXT)
    assert len(keys) > 150 and "cell.morphology" in keys and "run.traces.dt_ms" in keys
    assert sum(b.kind == "complete" for b in EXAMPLES) >= 2
    assert sum(b.kind == "fragment" for b in EXAMPLES) >= 15
    assert {"chirp.csv", "points.csv"} <= set(example_files(REFERENCE_TEXT))


def test_every_accepted_key_is_documented(accepted):
    documented = documented_keys(REFERENCE_TEXT)
    missing = sorted(k for k in accepted if k not in documented)
    assert not missing, (
        f"keys the config reader accepts without a row in {REFERENCE.relative_to(REPO)} "
        "(add a row to the section's '| key |' table):\n"
        + "\n".join(f"  {k}   (read in {accepted[k]})" for k in missing))


def test_every_documented_key_is_accepted(accepted):
    documented = documented_keys(REFERENCE_TEXT)
    stale = sorted((line, k) for k, line in documented.items() if k not in accepted)
    assert not stale, (
        f"rows of {REFERENCE.relative_to(REPO)} naming keys that no config of this test made "
        "the reader accept (a key that no longer exists, or one the configs of "
        "tests/cells/test_config_reference.py should use):\n"
        + "\n".join(f"  line {line}: {k}" for line, k in stale))


def merge(base, fragment):
    """Mappings merged key by key, recursively; anything else replaced."""
    if not (isinstance(base, dict) and isinstance(fragment, dict)):
        return fragment
    out = dict(base)
    for key, value in fragment.items():
        out[key] = merge(out[key], value) if key in out else value
    return out


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda b: f"{b.kind}-line{b.line}")
def test_reference_example_is_valid(block, tmp_path):
    folder = example_layout(tmp_path)
    for name, content in example_files(REFERENCE_TEXT).items():
        (folder / name).write_text(content)
    path = folder / f"{block.kind}_line{block.line}.yaml"
    path.write_text(block.text)
    if block.kind == "fragment":
        base = folder / "base.yaml"
        base.write_text([b for b in EXAMPLES if b.kind == "complete"][0].text)
        data = merge(load_yaml(base), load_yaml(path))
        path.write_text(f"# docs/CONFIG.md line {block.line}, merged into the base config\n"
                        + yaml.safe_dump(data, sort_keys=False))
    problems = check(path)
    assert problems == [], (f"docs/CONFIG.md, the {block.kind} at line {block.line}:\n"
                            + "\n".join(problems))
