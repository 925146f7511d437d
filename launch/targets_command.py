"""``cellsweep targets``: fit targets from a lab's current-clamp recordings.

Reads every recording and checks it (``cells.recordings``), groups the sweeps by amplitude and
extracts the features with BluePyEfe (``cells.targets``), and only then writes the targets file
(``cells.targets_file``), atomically: a temporary file beside it, renamed. Bad input of any kind
is one line per problem and exit status 2, with nothing written.
"""

from __future__ import annotations

from pathlib import Path

import click

from cellsweep.launch.files import write_atomically


@click.command("targets")
@click.argument("recordings", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The targets file to write (YAML); include it in a config with `targets:`.")
@click.option("--config", "-c", "config", type=click.Path(dir_okay=False), default=None,
              help="A small YAML config: how to read the files, the stimulus, the grouping, "
                   "the features (docs/CONFIG.md, 'cellsweep targets').")
@click.option("--bluepyopt-json", "json_dir", type=click.Path(file_okay=False), default=None,
              help="Also write BluePyOpt's features.json and protocols.json into this folder.")
def targets(recordings, output, config, json_dir):
    """Extract fit targets (protocols and features with mean and std) from current-clamp
    RECORDINGS: CSV or text columns, Igor .ibw, NWB, Axon .abf."""
    from cellsweep.cells.config import display_path
    from cellsweep.cells.recordings import read_sweeps
    from cellsweep.cells.schema import ConfigSource
    from cellsweep.cells.targets import extract
    from cellsweep.cells.targets_config import TargetsConfig, read_targets_config
    from cellsweep.cells.targets_file import bluepyopt_texts, targets_text
    from cellsweep.launch.cli import UsageProblem, check_output_path

    output = check_output_path(Path(output), "--output")
    if json_dir is not None:
        json_dir = Path(json_dir)
        if json_dir.exists() and not json_dir.is_dir():
            raise UsageProblem(f"--bluepyopt-json {json_dir}: is a file; expected a folder")
        check_output_path(json_dir / "features.json", "--bluepyopt-json")
    options, where = TargetsConfig(), ""
    if config is not None:
        source = ConfigSource.read(config)
        where = display_path(source.path)
        options = read_targets_config(source.data, where)
    sweeps = read_sweeps(recordings, options.recordings, options.stimulus)
    found = extract(sweeps, options.targets, source=where)
    texts = {output: targets_text(found, [display_path(Path(r)) for r in recordings],
                                  display_path(Path(config)) if config else "")}
    if json_dir is not None:
        json_dir.mkdir(parents=True, exist_ok=True)
        texts.update({json_dir / name: text for name, text in bluepyopt_texts(found).items()})
    for path, text in texts.items():
        write_atomically(path, text)
    click.echo(f"targets written to {display_path(output)}: {len(found.protocols)} protocols, "
               f"{len(found.features)} features from {len(sweeps)} sweeps")
    if found.rheobase_nA is not None:
        click.echo(f"  rheobase {found.rheobase_nA:.6g} nA"
                   + (" (given)" if found.rheobase_source == "given" else
                      " (the lowest amplitude with a spike)"))
    for p in found.protocols:
        click.echo(f"  {p.name}: step {p.amp_nA:.4g} nA on {p.holding_nA:.4g} nA holding, "
                   f"{len(p.sweeps)} sweep(s)")
    for label, why in found.unused:
        click.echo(f"  not used: {label}: {why}")
    for path in texts:
        if path != output:
            click.echo(f"  BluePyOpt file written to {display_path(path)}")
