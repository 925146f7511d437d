"""The front door for model configs: our YAML, or YAML pointing at BluePyOpt's JSON files.

A config with a ``bluepyopt:`` section takes the cell, protocols and features from BluePyOpt's
``parameters.json``/``mechanisms.json``/``protocols.json``/``features.json`` (the layout of
BluePyOpt's L5PC example) and keeps everything else (``sweep``, ``optimise``, ``run``) from YAML.
"""



from cellsweep.cells.config import display_path, model_from_dict
from cellsweep.cells.schema import as_source


def load_model(config, extra_parameters=()):
    """Validate a config (a path, or a ``ConfigSource`` already read), converting BluePyOpt's
    files if it points at them; return ``(ModelSpec, mapping)``."""
    source = as_source(config)
    path = source.path
    data = source.data
    base_dir = path.parent
    if "bluepyopt" in data:
        from cellsweep.cells.bluepyopt_json import convert

        data = convert(data, source=display_path(path), base_dir=base_dir)
    model = model_from_dict(data, source=display_path(path), base_dir=base_dir,
                            extra_parameters=extra_parameters)
    return model, data
