"""The front door for model configs: our YAML, or YAML pointing at BluePyOpt's JSON files.

A config with a ``bluepyopt:`` section takes the cell, protocols and features from BluePyOpt's
``parameters.json``/``mechanisms.json``/``protocols.json``/``features.json`` (the layout of
BluePyOpt's L5PC example) and keeps everything else (``sweep``, ``optimise``, ``run``) from YAML.
"""

from __future__ import annotations

from pathlib import Path

from cellsweep.cells.config import display_path, model_from_dict
from cellsweep.cells.schema import load_yaml


def load_model(path, extra_parameters=()):
    """Read, convert if needed, and validate a config; return ``(ModelSpec, raw mapping)``."""
    path = Path(path)
    data = load_yaml(path)
    base_dir = path.parent
    if "bluepyopt" in data:
        from cellsweep.cells.bluepyopt_json import convert

        data = convert(data, source=display_path(path), base_dir=base_dir)
    model = model_from_dict(data, source=display_path(path), base_dir=base_dir,
                            extra_parameters=extra_parameters)
    return model, data
