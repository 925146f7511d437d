"""The targets file: written by ``cellsweep targets``, included by a config's ``targets:`` key.

A targets file is YAML with two keys, ``protocols:`` and ``features:``, in exactly the config's
syntax (docs/CONFIG.md), so a config includes it as it is: ``targets: FILE`` (or a list of
files), relative to the config, merges its protocols and features into the config's before the
config is validated. What the extraction found (sweeps per group, rheobase, n per feature) is
written as comments, so that the file holds no key a config would not accept.

Including: a protocol or feature name defined twice (in the config and a targets file, or in two
targets files) is a problem naming both files; a problem the config's validation finds in an
included protocol or feature names the targets file and its key. The merged mapping is what
``load_model`` returns, so a campaign's signature (which hashes that mapping) changes when a
targets file's content changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cellsweep.cells.config import display_path
from cellsweep.cells.errors import ConfigError, Problem
from cellsweep.cells.schema import ConfigSource, Problems, Section, join_path, quote, type_name

KEYS = ("protocols", "features")
RECORDING = "soma"


# -- writing ------------------------------------------------------------------------------------
def targets_mapping(targets) -> dict:
    """``{protocols, features}`` in the config's syntax, from ``cells.targets.Targets``."""
    protocols = {}
    for p in targets.protocols:
        protocols[p.name] = {
            "tstop_ms": p.tstop_ms, "holding_nA": p.holding_nA,
            "stimuli": {"step": {"kind": "step", "amp_nA": p.amp_nA, "delay_ms": p.delay_ms,
                                 "duration_ms": p.duration_ms}},
            "recordings": {RECORDING: "soma"}}
    settings = dict(targets.options.efel_settings)
    features = []
    for f in targets.features:
        entry = {"protocol": f.protocol, "efel": f.efel, "mean": f.mean, "std": f.std,
                 "threshold_mV": targets.options.threshold_mV,
                 "interp_step_ms": targets.options.interp_step_ms}
        if settings:
            entry["settings"] = dict(settings)
        features.append(entry)
    return {"protocols": protocols, "features": features}


def targets_text(targets, recordings: list[str], config: str = "") -> str:
    """The targets file: comments saying how it was made, then the mapping."""
    o = targets.options
    lines = [f"# Fit targets extracted by `cellsweep targets` with BluePyEfe from "
             f"{len(recordings)} file(s){f' (config {config})' if config else ''}.",
             "# Include it in a cellsweep config with `targets: <this file>`.",
             f"# eFEL: Threshold {o.threshold_mV:g} mV, interp_step {o.interp_step_ms:g} ms, "
             + ", ".join(f"{k} {v}" for k, v in o.efel_settings),
             f"# liquid junction potential subtracted: {o.ljp_mV:g} mV; std of a one-sweep "
             f"group (or of equal values): {o.single_sweep_std:g} (BluePyEfe's rule)"]
    if targets.rheobase_nA is not None:
        how = "given" if targets.rheobase_source == "given" else \
            "the lowest amplitude with a spike (BluePyEfe's 'absolute' rule)"
        lines.append(f"# grouping: % of the rheobase {targets.rheobase_nA:.6g} nA ({how}), "
                     f"tolerance {o.tolerance:g}")
    else:
        lines.append(f"# grouping: absolute amplitude, tolerance {o.tolerance:g} nA")
    counts = {}
    for f in targets.features:
        counts.setdefault(f.protocol, f.n)
    for p in targets.protocols:
        unit = "%" if targets.rheobase_nA is not None else "nA"
        lines.append(f"# {p.name}: {p.amplitude:.4g} {unit}, {len(p.sweeps)} sweep(s): "
                     + "; ".join(p.sweeps))
    for label, why in targets.unused:
        lines.append(f"# not used: {label}: {why}")
    for protocol, efel in targets.missing:
        lines.append(f"# no value in any sweep (left out): {protocol} {efel}")
    body = yaml.safe_dump(targets_mapping(targets), sort_keys=False, default_flow_style=None,
                          width=100)
    return "\n".join(lines) + "\n" + body


def bluepyopt_texts(targets) -> dict[str, str]:
    """BluePyOpt's ``features.json`` (protocol -> soma -> feature -> [mean, std]) and
    ``protocols.json`` (the step, then the holding current), the layout of BluePyOpt's L5PC
    example that a ``bluepyopt:`` config section reads."""
    features: dict = {}
    for f in targets.features:
        features.setdefault(f.protocol, {RECORDING: {}})[RECORDING][f.efel] = [f.mean, f.std]
    protocols = {p.name: {"stimuli": [
        {"delay": p.delay_ms, "amp": p.amp_nA, "duration": p.duration_ms,
         "totduration": p.tstop_ms},
        {"delay": 0.0, "amp": p.holding_nA, "duration": p.tstop_ms, "totduration": p.tstop_ms}]}
        for p in targets.protocols}
    return {"features.json": json.dumps(features, indent=2) + "\n",
            "protocols.json": json.dumps(protocols, indent=2) + "\n"}


# -- including ------------------------------------------------------------------------------------
class Included:
    """A config mapping with its targets files merged in, and where each merged item came from
    (to point problems back at the targets file)."""

    def __init__(self, data: dict, origins: dict):
        self.data = data
        self.origins = origins          # merged key path -> (targets file, key path there)

    def point_back(self, problem: Problem) -> Problem:
        for merged, (source, path) in self.origins.items():
            if problem.path == merged or problem.path.startswith((merged + ".", merged + "[")):
                return Problem(source, path + problem.path[len(merged):], problem.message,
                               problem.suggestion)
        return problem


def include_targets(data: dict, source: str, base_dir: Path) -> Included:
    """Merge the protocols and features of the files named by ``targets:`` into the config's;
    ``ConfigError`` with every problem (a file that cannot be read, a bad key, a name twice)."""
    if data.get("targets") is None:
        return Included(data, {})
    problems = Problems(source)
    names = _file_names(data["targets"], problems)
    protocols = data.get("protocols") or {}
    features = data.get("features") or []
    if not isinstance(protocols, dict) or not isinstance(features, list):
        return Included(data, {})      # model_from_dict reports what these are instead
    protocols, features = dict(protocols), list(features)
    owner = {"protocol": {n: source for n in protocols},
             "feature": {_feature_name(f): source for f in features}}
    origins: dict = {}
    for key, name in names:
        path = base_dir / name
        try:
            included = ConfigSource.read(path)
        except ConfigError as exc:
            problems.add(key, "; ".join(exc.problems))
            continue
        where = display_path(path)
        part = Problems(where)
        top = Section(included.data, "", part)
        t_protocols = top.section("protocols")
        t_features = top.sequence("features", [])
        top.finish()
        for pname, value in t_protocols.items():
            if pname in owner["protocol"]:
                part.add(join_path("protocols", pname), f"protocol {quote(pname)} is also "
                         f"defined in {owner['protocol'][pname]}; expected each protocol name "
                         "once (rename one)")
                continue
            owner["protocol"][pname] = where
            origins[join_path("protocols", pname)] = (where, join_path("protocols", pname))
            protocols[pname] = value
        for i, entry in enumerate(t_features):
            fname = _feature_name(entry)
            if fname in owner["feature"]:
                part.add(f"features[{i}]", f"feature {quote(fname)} is also defined in "
                         f"{owner['feature'][fname]}; expected each feature once (give one a "
                         "distinct 'name')")
                continue
            owner["feature"][fname] = where
            origins[f"features[{len(features)}]"] = (where, f"features[{i}]")
            features.append(entry)
        problems.items.extend(part.items)
    problems.raise_if_any()
    merged = {**data, "protocols": protocols, "features": features}
    return Included(merged, origins)


def _file_names(value, problems: Problems) -> list[tuple[str, str]]:
    """``(key path, file name)`` of each targets file."""
    items = value if isinstance(value, list) else [value]
    out = []
    for i, name in enumerate(items):
        key = f"targets[{i}]" if isinstance(value, list) else "targets"
        if not isinstance(name, str) or not name:
            problems.add(key, f"expected a file name (or a list of them), found "
                              f"{type_name(name)} {quote(name)}")
        else:
            out.append((key, name))
    if isinstance(value, list) and not value:
        problems.add("targets", "expected a file name or a non-empty list of file names")
    return out


def _feature_name(entry) -> str:
    """A feature's name as ``cells.config`` gives it, to find a name defined twice."""
    if not isinstance(entry, dict):
        return repr(entry)
    if isinstance(entry.get("name"), str):
        return entry["name"]
    return f"{entry.get('protocol')}.{entry.get('recording') or 'soma'}.{entry.get('efel')}"
