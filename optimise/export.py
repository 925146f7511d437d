"""Export one parameter set of a model as a standalone NEURON model (script + data + .mod files).

``export_model(model, params, out_dir)`` builds the cell with cellsweep (``NeuronCell`` and
``apply``), then *reads the built cell back*: every section's 3-D points, connection, ``nseg``,
``Ra``, inserted mechanisms and the per-segment values of every range variable the model sets.
Reading values back instead of re-deriving them means the standalone script needs no copy of
cellsweep's distributions, regions or discretisation rules, and reproduces them exactly. The
script (``optimise/standalone_model.py.template``, copied verbatim as ``model.py``) rebuilds
those sections as plain ``h.Section`` objects in the original creation and connection order, runs each protocol
the way ``cells.protocols`` does and computes the features the way ``cells.features`` does, so
its feature values equal ``cells.evaluate.evaluate(model, params).features`` float for float.

Written into ``out_dir``: ``model.py``, ``cell.json``, ``mechanisms/*.mod`` (when the model has a
mechanisms folder) and ``README.md``. No absolute path of this machine is written.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from cellsweep.cells import spec as S
from cellsweep.cells.evaluate import full_values
from cellsweep.cells.mechanisms import mod_files
from cellsweep.cells.neuron_cell import NeuronCell
from cellsweep.cells.protocols import protocol_values, reset_globals

FORMAT = "cellsweep-export/1"
TEMPLATE = Path(__file__).with_name("standalone_model.py.template")


def export_model(model: S.ModelSpec, params: dict, out_dir) -> Path:
    """Write a standalone model of ``model`` with ``params`` into ``out_dir``; return ``out_dir``.

    ``params`` overrides the model's defaults as in ``cells.evaluate.evaluate`` (unknown names
    raise KeyError; non-finite values raise ValueError).
    """
    out_dir = Path(out_dir)
    values = full_values(model, params)
    bad = sorted(k for k, v in values.items() if not math.isfinite(v))
    if bad:
        raise ValueError(f"export_model: parameter(s) {', '.join(bad)} are not finite; "
                         "cellsweep does not simulate such a parameter set")
    data = model_data(model, values, given=list(params))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "cell.json").write_text(_dumps(data) + "\n", encoding="utf-8")
    shutil.copyfile(TEMPLATE, out_dir / "model.py")
    mods = mod_files(model.cell.mechanisms_dir) if model.cell.mechanisms_dir else []
    if mods:
        mech_dir = out_dir / "mechanisms"
        mech_dir.mkdir(exist_ok=True)
        for path in mods:
            shutil.copyfile(path, mech_dir / path.name)
    (out_dir / "README.md").write_text(_readme(model, data, bool(mods)), encoding="utf-8")
    return out_dir


def export_dendrotweaks(model: S.ModelSpec, params: dict, out_dir) -> Path:
    """Write ``model`` with ``params`` as a DendroTweaks model folder ``out_dir``
    (``cells.dendrotweaks_write``); ConfigError naming what DendroTweaks cannot express."""
    from cellsweep.cells.dendrotweaks_write import write_folder

    values = full_values(model, params)
    bad = sorted(k for k, v in values.items() if not math.isfinite(v))
    if bad:
        raise ValueError(f"export_dendrotweaks: parameter(s) {', '.join(bad)} are not finite")
    return write_folder(model, values, out_dir)


def model_data(model: S.ModelSpec, values: dict, given=()) -> dict:
    """Everything the standalone script needs, read back from a cell built and parameterised by
    cellsweep with the full parameter mapping ``values`` (plain JSON-able data); ``given`` names
    the parameters the caller set (for the record)."""
    cell = NeuronCell(model)
    cell.apply(values)
    h = cell.h
    reset_globals(h, model.simulation, values)     # what every protocol run starts from
    simulation = {"cvode": bool(h.cvode.active()), "atol": h.cvode.atol(),
                  "rtol": h.cvode.rtol(), "secondorder": int(h.secondorder), "dt_ms": h.dt,
                  "steps_per_ms": h.steps_per_ms, "celsius": h.celsius, "v_init": h.v_init}
    sections = _sections(cell)
    protocols = [_protocol(cell, p, values) for p in model.protocols]
    return {
        "format": FORMAT,
        "model": {"name": model.cell.name, "config": Path(model.source).name,
                  "morphology": model.cell.geometry_name},
        "versions": _versions(),
        "parameters": {name: values[name] for name in values},
        "free_parameters": [p.name for p in model.free_parameters],
        "given_parameters": list(given),
        "mechanisms": _mechanisms_used(model, sections),
        "globals": {p.variable: values[p.name] for p in model.parameters if p.kind == "global"},
        "simulation": simulation,
        "sections": sections,
        "connect_order": _connect_order(sections),
        "protocols": protocols,
        "features": [_feature(f) for f in model.features],
        "scoring": {"missing_penalty": model.scoring.missing_penalty,
                    "max_score": model.scoring.max_score},
    }


def _versions() -> dict:
    """As the script reads them (``module.__version__``), to warn when they differ."""
    import efel
    import numpy

    from cellsweep.cells.neuron_cell import neuron_version

    return {"neuron": neuron_version(), "efel": efel.__version__, "numpy": numpy.__version__}


def _short_name(sec) -> str:
    return sec.name().rsplit(".", 1)[-1]


def _ordered_sections(cell: NeuronCell) -> list:
    """The cell's sections in NEURON's creation order (which decides the order of roots)."""
    own = {_short_name(s) for s in cell.base["all"]}
    prefix = cell.soma.name().rsplit(".", 1)[0] + "."
    return [s for s in cell.h.allsec() if s.name().startswith(prefix) and _short_name(s) in own]


def _sections(cell: NeuronCell) -> list:
    h, model = cell.h, cell.model
    secs = _ordered_sections(cell)
    mechs: dict = {}
    for region, names in model.cell.insert:
        for sec in cell.regions[region]:
            mechs.setdefault(_short_name(sec), []).extend(
                n for n in names if n not in mechs.get(_short_name(sec), []))
    # the variables each section gets from the model (custom distance regions: every section
    # of the region they are drawn from; values left as they were are written back unchanged)
    variables: dict = {}
    for p in model.parameters:
        if p.kind != "range":
            continue
        custom = model.cell.region(p.region)
        targets = cell.base[custom.within] if custom else cell.regions[p.region]
        for sec in targets:
            names = variables.setdefault(_short_name(sec), [])
            if p.variable not in names:
                names.append(p.variable)
    out = []
    for sec in secs:
        name = _short_name(sec)
        n3d = int(h.n3d(sec=sec))
        parent = sec.parentseg()
        style = None
        if h.pt3dstyle(sec=sec):
            x, y, z = h.ref(0.0), h.ref(0.0), h.ref(0.0)
            h.pt3dstyle(1, x, y, z, sec=sec)     # the (1, &x, &y, &z) form reads it
            style = [x[0], y[0], z[0]]
        entry = {
            "name": name,
            "parent": None if parent is None else _short_name(parent.sec),
            "parent_x": None if parent is None else parent.x,
            "child_x": None if parent is None else sec.orientation(),
            "children": [_short_name(c) for c in sec.children()],
            "pt3dstyle": style,
            "points": [[h.x3d(i, sec=sec), h.y3d(i, sec=sec), h.z3d(i, sec=sec),
                        h.diam3d(i, sec=sec)] for i in range(n3d)],
            "nseg": int(sec.nseg),
            "Ra": sec.Ra,
            "mechanisms": mechs.get(name, []),
        }
        if n3d == 0:       # e.g. the axon stub: length and diameters without 3-D points
            entry["L"] = sec.L
            entry["diam"] = [seg.diam for seg in sec]
        # diam of a section with 3-D points lives in its points; writing it would rescale them
        entry["range"] = {var: [getattr(seg, var) for seg in sec]
                          for var in variables.get(name, [])
                          if not (var == "diam" and n3d)}
        out.append(entry)
    return out


def _connect_order(sections: list) -> list:
    """An order of connect calls that rebuilds every parent's list of children as it is.

    NEURON keeps children sorted by parent x, putting the latest connected first among equal
    x, so connecting each parent's children in reverse list order reproduces the list."""
    order = []
    for entry in sections:
        order.extend(reversed(entry["children"]))
    return order


def _where(seg) -> dict:
    return {"section": _short_name(seg.sec), "x": seg.x}


def _protocol(cell: NeuronCell, protocol: S.Protocol, values: dict) -> dict:
    nums = protocol_values(protocol, values)
    stimuli = []
    for stim in protocol.stimuli:
        entry = {"name": stim.name, "kind": stim.kind, "values": nums[stim.name]}
        if stim.kind == "synapses":
            entry["synapse"] = stim.synapse
            entry["locations"] = [_where(cell.segment(loc)) for loc in stim.locations]
            if stim.spike_times:                 # given events, one list per location
                entry["spike_times_ms"] = [list(map(float, t)) for t in stim.spike_times]
        else:
            entry["location"] = _where(cell.segment(stim.location))
        if stim.kind == "waveform":
            entry["waveform"] = [list(map(float, stim.waveform[0])),
                                 list(map(float, stim.waveform[1]))]
        stimuli.append(entry)
    recordings = [{"name": r.name, "variable": r.variable,
                   "location": _where(cell.segment(r.location))} for r in protocol.recordings]
    return {"name": protocol.name, "tstop_ms": protocol.tstop_ms, "stimuli": stimuli,
            "recordings": recordings}


def _feature(f: S.Feature) -> dict:
    return {"name": f.name, "protocol": f.protocol, "recording": f.recording, "efel": f.efel,
            "mean": f.mean, "std": f.std, "weight": f.weight, "window_ms": list(f.window_ms),
            "settings": [list(s) for s in f.settings],
            "stimulus_current_nA": f.stimulus_current_nA}


def _mechanisms_used(model: S.ModelSpec, sections: list) -> dict:
    density = list(dict.fromkeys(m for s in sections for m in s["mechanisms"]))
    point = []
    for protocol in model.protocols:
        for stim in protocol.stimuli:
            name = "IClamp" if stim.kind != "synapses" else stim.synapse
            source = "VecStim" if stim.spike_times else "NetStim"
            point.extend([name, source] if stim.kind == "synapses" else [name])
    return {"density": density, "point": list(dict.fromkeys(point))}


def _dumps(obj, indent: str = "") -> str:
    """JSON with one line per list of numbers (3-D points, per-segment values) for readability;
    floats are written as ``repr`` does, so they read back exactly."""
    inner = indent + " "
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(k)}: {_dumps(v, inner)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(obj, list) and obj and any(isinstance(v, (dict, list)) for v in obj):
        if all(isinstance(v, list) and not any(isinstance(x, (dict, list)) for x in v)
               for v in obj):
            return "[\n" + ",\n".join(inner + json.dumps(v) for v in obj) + "\n" + indent + "]"
        return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in obj) + "\n" + indent + "]"
    return json.dumps(obj)


_MECH_NOTE = """- `mechanisms/` holds the `.mod` files. `python model.py` finds the library that
  `nrnivmodl mechanisms` builds here (`./x86_64/libnrnmech.so`, also when started from another
  folder); a library built inside `mechanisms/` is found too. Run `nrnivmodl mechanisms` again
  after exporting another model into this folder.
"""


def _readme(model: S.ModelSpec, data: dict, has_mods: bool) -> str:
    shown = dict.fromkeys(data["free_parameters"] + data["given_parameters"])
    listed = "".join(f"- `{name} = {data['parameters'][name]!r}`\n" for name in shown)
    params_text = (f"Free parameters and those given to the export:\n\n{listed}" if listed
                   else "Every parameter has its default value.\n")
    build = ("nrnivmodl mechanisms              # compiles mechanisms/*.mod into ./x86_64\n"
             if has_mods else "")
    return f"""# {model.cell.name}: a standalone NEURON model exported by cellsweep

Exported from `{data['model']['config']}` (morphology `{data['model']['morphology']}`).

{params_text}
Every parameter value is under `parameters` in `cell.json`.

Needs Python with `neuron`, `numpy` and `efel` only. In this folder:

```
{build}python model.py                   # feature, value, target mean and std, score
python model.py --json            # {{feature name: value}}, NaN as null
python model.py --json --scores   # {{feature name: score}}
python model.py --geometry        # per-segment L, diam, area, ri, cm as JSON (no simulation)
```

The exit status is 0 when the evaluation is ok and 1 when the simulation failed or gave
non-finite values (the features are then NaN, as in cellsweep).

- `model.py` builds the cell from `cell.json` as plain NEURON sections, runs every protocol and
  computes every feature with the same eFEL settings and windows as cellsweep.
- `cell.json` holds the sections (3-D points, connections, nseg, Ra, mechanisms, per-segment
  values of every parameter the model sets), globals, integrator settings, protocols and
  features.
{_MECH_NOTE if has_mods else ''}
With the versions recorded in `cell.json` (NEURON {data['versions']['neuron']}, \
eFEL {data['versions']['efel']}, NumPy {data['versions']['numpy']})
the feature values equal cellsweep's exactly; other versions may differ in the last digits
(`model.py` warns).
"""
