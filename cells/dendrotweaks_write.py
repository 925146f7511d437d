"""A cellsweep model (with one parameter set) written as a DendroTweaks model folder.

``write_folder(model, values, out_dir)`` writes ``morphology/<file>.swc``, ``biophys/<name>.json``
with ``biophys/mod/*.mod`` and ``stimuli/<protocol>/`` (``config.json``, ``iclamps.csv``,
``recordings.csv``) that DendroTweaks 0.5 loads (``Model(out_dir)``, ``load_morphology``,
``load_biophys``, ``load_stimuli``) and simulates like cellsweep. ``Leak`` and ``CaDyn`` are
not written into ``biophys/mod``: DendroTweaks takes them from the ``Default/`` beside the
folder (and never reads them from ``biophys/mod``), so that ``Default/`` must hold the same
files. Only what DendroTweaks expresses exactly is written; everything else is refused before
anything is written, one ``Problem`` per construct (``write_problems``). The folder is written
under a temporary name and renamed into place. The ``dendrotweaks`` package is not imported.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path

from cellsweep.cells import dendrotweaks_distributions as DT
from cellsweep.cells import spec as S
from cellsweep.cells.dendrotweaks_folder import (DOMAIN_REGION, FREQUENCY_HZ, _Morphology,
                                                 DEFAULT_MECHANISMS)
from cellsweep.cells.errors import ConfigError, Problem
from cellsweep.cells.mechanisms import mod_files, parse_mod
from cellsweep.cells.schema import Problems

REGION_DOMAIN = {region: domain for domain, region in DOMAIN_REGION.items()}
NEURON_DEFAULTS = {"cm": 1.0, "Ra": 35.4}          # DendroTweaks needs both in every file
SIM_IGNORED = ("sim.atol", "sim.rtol")           # no effect with fixed steps


def write_folder(model: S.ModelSpec, values: dict, out_dir, biophys_name: str = "biophys") -> Path:
    """Write ``model`` with the full parameter mapping ``values`` as a DendroTweaks folder
    ``out_dir`` (which must not exist or be empty); raise ConfigError naming every construct
    DendroTweaks cannot express. Returns ``out_dir``."""
    out_dir = Path(out_dir)
    plan = _plan(model, values, out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError([Problem(str(out_dir), "", "exists and is not empty; expected a new "
                                                    "folder for the DendroTweaks model")])
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _write(plan, tmp, out_dir.name, biophys_name)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def write_problems(model: S.ModelSpec, values: dict, out_dir) -> list:
    """What keeps ``model`` from being written (an empty list when it can be)."""
    try:
        _plan(model, values, Path(out_dir))
    except ConfigError as exc:
        return list(exc.details)
    return []


# -- what to write ----------------------------------------------------------------------------
def _plan(model: S.ModelSpec, values: dict, out_dir: Path) -> dict:
    problems = Problems(model.source)
    cell = model.cell
    if cell.sections or cell.morphology is None:
        problems.add("cell.sections", "a stylised cell has no SWC file; a DendroTweaks folder "
                                      "needs one")
    elif cell.morphology.suffix.lower() != ".swc":
        problems.add("cell.morphology", f"{cell.morphology.name}: DendroTweaks reads SWC files "
                                        "only")
    if cell.axon.replace:
        problems.add("cell.axon.replace", "DendroTweaks has no axon stub; expected false")
    if model.rxd is not None and (model.rxd.regions or model.rxd.species):
        problems.add("rxd", "DendroTweaks has no reaction-diffusion")
    if model.simulation.cvode and values.get("sim.cvode", 1.0) != 0:
        problems.add("simulation.cvode", "DendroTweaks' NEURON simulator integrates with fixed "
                                         "steps; expected false")
    if model.experiments:
        problems.add("features", "profile measures need generated protocols, which a "
                                 "DendroTweaks folder cannot hold")
    disc = cell.discretisation
    d_lambda = values.get("nseg.d_lambda", disc.d_lambda)
    if disc.rule != "d_lambda":
        problems.add("cell.discretisation.rule", f"{disc.rule!r}: DendroTweaks uses the d_lambda "
                                                 "rule only")
    if values.get("nseg.frequency_hz", disc.frequency_hz) != FREQUENCY_HZ:
        problems.add("cell.discretisation.frequency_hz", f"DendroTweaks' d_lambda rule is at "
                                                         f"{FREQUENCY_HZ:g} Hz")
    if disc.nseg:
        problems.add("cell.discretisation.nseg", "DendroTweaks sets nseg by d_lambda only")
    morph = None
    if cell.morphology is not None and cell.morphology.suffix.lower() == ".swc":
        mp = Problems(str(cell.morphology))
        morph = _Morphology(cell.morphology, mp)
        for item in mp.items:
            problems.add("cell.morphology", f"{item.source}: {item.message}")
    plan = {"model": model, "values": values, "morph": morph, "d_lambda": d_lambda}
    plan["domains"] = _domains(model, problems, morph, out_dir)
    plan["groups"], plan["params"] = _biophysics(model, values, problems, morph)
    plan["sim"] = _simulation(model, values, problems)
    plan["stimuli"] = _protocols(model, values, problems, morph)
    problems.raise_if_any()
    return plan


def _present(morph) -> list:
    return sorted(morph.domains) if morph is not None else []


def _domains(model, problems: Problems, morph, out_dir: Path) -> dict:
    cell = model.cell
    present = _present(morph)
    out = {d: [] for d in present}
    mechset = {}
    if cell.mechanisms_dir is not None:
        for path in mod_files(cell.mechanisms_dir):
            mech = parse_mod(path)
            mechset[mech.name] = path
    for region, names in cell.insert:
        where = f"cell.insert.{region}"
        if region == "all":
            domains = present
        elif region in REGION_DOMAIN:
            domains = [REGION_DOMAIN[region]]
        else:
            problems.add(where, f"region {region!r}: DendroTweaks inserts mechanisms into "
                                "domains (all, somatic, axonal, basal, apical) only")
            continue
        for name in names:
            path = mechset.get(name)
            if path is None:
                problems.add(where, f"mechanism {name!r} has no .mod file in cell.mechanisms_dir "
                                    "(NEURON's built-ins are not DendroTweaks mechanisms)")
                continue
            if path.stem != name:
                problems.add(where, f"mechanism {name!r} is in {path.name}; DendroTweaks names a "
                                    f"mechanism by its file, so expected {name}.mod")
                continue
            if name in DEFAULT_MECHANISMS:        # not written: DendroTweaks never reads it
                default = out_dir.parent / "Default" / f"{name}.mod"
                if not default.is_file():
                    problems.add(where, f"mechanism {name!r}: DendroTweaks always uses its own "
                                        f"{name} from ../Default (next to the output folder), "
                                        f"and {default} is not there; open a model of that "
                                        "folder once in DendroTweaks (it writes its defaults "
                                        "there) or copy this file there")
                    continue
                if default.read_bytes() != path.read_bytes():
                    problems.add(where, f"mechanism {name!r}: DendroTweaks always uses its own "
                                        f"{name} from ../Default (next to the output folder), "
                                        "and that file is not this one; rename the SUFFIX")
                    continue
            for domain in domains:
                if domain in out and name not in out[domain]:
                    out[domain].append(name)
    return {"insert": {d: sorted(m) for d, m in out.items()},
            "mods": sorted({mechset[m] for ms in out.values() for m in ms
                            if m not in DEFAULT_MECHANISMS})}


def _group(region: str, cell, present) -> dict | None:
    custom = cell.region(region)
    if custom is None:
        if region == "all":
            return {"name": "all", "domains": list(present)}
        if region in REGION_DOMAIN:
            return {"name": region, "domains": [REGION_DOMAIN[region]]}
        return None
    if not custom.is_group:
        return None
    group = {"name": region, "domains": [REGION_DOMAIN[b] for b in custom.bases
                                         if b in REGION_DOMAIN]}
    if len(group["domains"]) != len(custom.bases):
        return None
    if custom.select_by:
        group["select_by"] = custom.select_by
        if math.isfinite(custom.above):
            group["min_value"] = custom.above
        if math.isfinite(custom.up_to):
            group["max_value"] = custom.up_to
    return group


def _biophysics(model, values, problems: Problems, morph):
    cell = model.cell
    present = _present(morph)
    groups: dict = {"all": {"name": "all", "domains": list(present)}}
    params: dict = {name: {"all": _constant(value)} for name, value in NEURON_DEFAULTS.items()}
    coefficients: dict = {}
    for p in model.parameters:
        if p.kind == "coefficient":
            coefficients.setdefault(p.region, {})[p.variable] = values[p.name]
    for p in model.parameters:
        where = f"cell.fixed.{p.name}"
        if p.kind in ("global", "sim", "protocol", "coefficient") or p.name in SIM_IGNORED:
            continue
        if p.kind == "nseg" and p.variable in ("d_lambda", "frequency_hz") and not p.region:
            continue
        if p.kind not in ("range", "section"):
            problems.add(where, f"a parameter of kind {p.kind!r} has no DendroTweaks "
                                "counterpart")
            continue
        group = _group(p.region, cell, present)
        if group is None:
            problems.add(where, f"region {p.region!r}: a distance region [min, max) has no "
                                "DendroTweaks group (DendroTweaks' groups select (min, max]); "
                                "write it as a segment group (select_by, above, up_to)")
            continue
        value = values[p.name]
        dist = cell.distribution(p.distribution) if p.distribution else None
        if dist is None or dist.kind in ("uniform", DT.PREFIX + "constant", DT.PREFIX + "uniform"):
            if dist is not None and dist.kind != "uniform":
                value = value * {**dict(dist.coefficients),
                                 **coefficients.get(dist.name, {})}["value"]
            entry = _constant(value)
        elif not DT.is_dendrotweaks(dist.kind):
            problems.add(where, f"distribution {dist.name!r} of kind {dist.kind!r} is cellsweep's "
                                "own formula; DendroTweaks' functions are the kinds "
                                "dendrotweaks.<function> (docs/DENDROTWEAKS.md)")
            continue
        elif value != 1.0:
            problems.add(where, f"{value!r} times a {dist.kind} distribution: DendroTweaks has no "
                                "multiplier, so only 1 is written exactly; set the distribution's "
                                "coefficients instead")
            continue
        else:
            numbers = {**dict(dist.coefficients), **coefficients.get(dist.name, {})}
            function = dist.kind[len(DT.PREFIX):]
            if function == "polynomial":
                numbers = {"coeffs": [numbers[k] for k in DT.polynomial_keys(len(numbers))]}
            entry = {"function": function, "parameters": numbers}
        if p.variable in ("cm", "Ra") and (entry["function"] != "constant"
                                           or group.get("select_by")):
            problems.add(where, f"{p.variable} varying within a region: cellsweep's d_lambda rule "
                                f"reads it before distributions are set, DendroTweaks after")
            continue
        groups.setdefault(group["name"], group)
        per = params.setdefault(p.variable, {})
        per.pop(group["name"], None)
        per[group["name"]] = entry
    return list(groups.values()), params


def _constant(value: float) -> dict:
    return {"function": "constant", "parameters": {"value": value}}


def _simulation(model, values, problems: Problems) -> dict:
    for p in model.parameters:
        if p.kind == "global" and p.variable not in S.GLOBAL_NAMES:
            problems.add(f"cell.fixed.{p.name}", "a mechanism's GLOBAL has no place in a "
                                                 "DendroTweaks folder")
    return {"temperature": values.get("celsius", S.GLOBAL_DEFAULTS["celsius"]),
            "v_init": values.get("v_init", S.GLOBAL_DEFAULTS["v_init"]),
            "dt": values.get("sim.dt_ms", model.simulation.dt_ms)}


def _protocols(model, values, problems: Problems, morph) -> dict:
    from cellsweep.cells.protocols import protocol_values

    index = {name: i for i, name in enumerate(morph.names)} if morph is not None and morph.ok \
        else None
    out = {}
    for protocol in model.protocols:
        base = f"protocols.{protocol.name}"
        nums = protocol_values(protocol, values)
        iclamps, recordings, places = [], [], {}
        for stim in protocol.stimuli:
            where = f"{base}.stimuli.{stim.name}"
            if stim.kind == "synapses":
                problems.add(where, "a synapses stimulus: a DendroTweaks population holds only "
                                    "rate, noise, start, end and seed, and DendroTweaks draws "
                                    "its trains from them; neither NetStim's trains nor given "
                                    "spike times can be written so")
                continue
            if stim.kind != "step":
                problems.add(where, f"a {stim.kind} stimulus: DendroTweaks' stimuli folders hold "
                                    "current steps (iclamps.csv) only")
                continue
            place = _place(stim.location, index, where, problems)
            if place is None:
                continue
            if place in places:
                problems.add(where, f"same place as {places[place]}; DendroTweaks keeps one "
                                    "current clamp per segment")
                continue
            places[place] = where
            n = nums[stim.name]
            iclamps.append({"sec_idx": place[0], "loc": place[1], "amp": n["amp_nA"],
                            "delay": n["delay_ms"], "dur": n["duration_ms"]})
        seen = {}
        for rec in protocol.recordings:
            where = f"{base}.recordings.{rec.name}"
            if rec.species:
                problems.add(where, "an rxd recording has no DendroTweaks counterpart")
                continue
            place = _place(rec.location, index, where, problems)
            if place is None:
                continue
            key = (*place, rec.variable)
            if key in seen:
                problems.add(where, f"records what {seen[key]} records; DendroTweaks keeps one")
                continue
            seen[key] = where
            recordings.append({"sec_idx": place[0], "loc": place[1], "var": rec.variable})
        out[protocol.name] = {"duration": protocol.tstop_ms, "iclamps": iclamps,
                              "recordings": recordings}
    return out


def _place(loc: S.Location, index, where: str, problems: Problems):
    if index is None:
        return None                      # the morphology's problem is reported
    if loc.kind == "soma":
        return 0, 0.5
    if loc.kind != "section":
        problems.add(where, f"location {loc.label()}: DendroTweaks places stimuli and recordings "
                            "on a section index and position; expected soma or a section")
        return None
    if loc.section not in index:
        problems.add(where, f"section {loc.section} is not in the morphology")
        return None
    if not 0 < loc.x < 1:
        problems.add(where, f"position {loc.x:g}: DendroTweaks moves 0 and 1 to the first and "
                            "last segment's centre; expected 0 < x < 1")
        return None
    return index[loc.section], loc.x


# -- writing ----------------------------------------------------------------------------------
def _metadata(name: str) -> dict:
    return {"name": name, "software": "cellsweep",
            "comments": "Written by cellsweep (docs/DENDROTWEAKS.md)."}


def _write(plan: dict, folder: Path, name: str, biophys_name: str) -> None:
    model = plan["model"]
    (folder / "morphology").mkdir()
    shutil.copyfile(model.cell.morphology, folder / "morphology" / model.cell.morphology.name)
    mod = folder / "biophys" / "mod"
    mod.mkdir(parents=True)
    for path in plan["domains"]["mods"]:
        shutil.copyfile(path, mod / path.name)
    biophys = {"metadata": _metadata(name), "d_lambda": plan["d_lambda"],
               "domains": plan["domains"]["insert"], "groups": plan["groups"],
               "params": plan["params"]}
    (folder / "biophys" / f"{biophys_name}.json").write_text(json.dumps(biophys, indent=4) + "\n")
    for protocol, spec in plan["stimuli"].items():
        stim = folder / "stimuli" / protocol
        stim.mkdir(parents=True)
        config = {"metadata": _metadata(name),
                  "simulation": {"d_lambda": plan["d_lambda"], **plan["sim"],
                                 "duration": spec["duration"]},
                  "stimuli": {"populations": {}}}
        (stim / "config.json").write_text(json.dumps(config, indent=4) + "\n")
        _csv(stim / "iclamps.csv", ("sec_idx", "loc", "amp", "delay", "dur"), spec["iclamps"])
        _csv(stim / "recordings.csv", ("sec_idx", "loc", "var"), spec["recordings"])


def _csv(path: Path, columns, rows) -> None:
    if not rows:
        return                           # DendroTweaks writes no file for none
    lines = [",".join(columns)] + [",".join(repr(r[c]) if isinstance(r[c], float) else str(r[c])
                                            for c in columns) for r in rows]
    path.write_text("\n".join(lines) + "\n")
