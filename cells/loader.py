"""The front door for model configs: our YAML, or YAML pointing at BluePyOpt's JSON files.

A config with a ``bluepyopt:`` section takes the cell, protocols and features from BluePyOpt's
``parameters.json``/``mechanisms.json``/``protocols.json``/``features.json`` (the layout of
BluePyOpt's L5PC example) and keeps everything else (``sweep``, ``optimise``, ``run``) from YAML.
A ``targets:`` key merges the protocols and features of targets files (``cells.targets_file``);
the mapping returned is the merged one, which is what a campaign's signature hashes.
"""


from cellsweep.cells.config import display_path, model_from_dict
from cellsweep.cells.dendrotweaks_folder import is_dendrotweaks
from cellsweep.cells.errors import ConfigError
from cellsweep.cells.schema import as_source
from cellsweep.cells.targets_file import include_targets


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
    elif is_dendrotweaks(data):
        from cellsweep.cells.dendrotweaks_folder import convert as convert_folder

        data = convert_folder(data, source=display_path(path), base_dir=base_dir)
    included = include_targets(data, source=display_path(path), base_dir=base_dir)
    data = included.data
    try:
        model = model_from_dict(data, source=display_path(path), base_dir=base_dir,
                                extra_parameters=extra_parameters)
    except ConfigError as exc:
        if not included.origins:
            raise
        raise ConfigError([included.point_back(p) for p in exc.details]) from None
    return model, data
