"""cellsweep: parameter sweeps and optimisations of detailed NEURON cell models.

The public API is small on purpose; everything else is internal and may change:

- ``load_results(path)``: a results file as a pandas table (one row per evaluation);
- ``ResultsFile(path)``: the typed reader of a results file (columns, statuses, metadata,
  traces, optimisation groups);
- ``load_model(config)``: a config file as a ``ModelSpec``;
- ``evaluate(model, params)``: one parameter set, in this process;
- ``run(config, ...)``: a whole campaign (sweep or optimisation) from a config, on local
  processes; returns its exit status (0 complete, 3 stopped early).

The folders ``cells``, ``sweep``, ``optimise`` and ``launch`` of the repository are installed as
``cellsweep.cells``, ``cellsweep.sweep``, ``cellsweep.optimise`` and ``cellsweep.launch``.
"""

__all__ = ["load_results", "ResultsFile", "load_model", "evaluate", "run"]


def load_results(path, include_pending: bool = False):
    """One row per evaluation: parameters, features, ``score.<feature>``, status, timings."""
    from cellsweep.sweep.results import load

    return load(path, include_pending=include_pending)


def __getattr__(name):
    if name == "ResultsFile":
        from cellsweep.sweep.resultsfile import ResultsFile

        return ResultsFile
    raise AttributeError(f"module 'cellsweep' has no attribute {name!r}")


def load_model(config):
    """The model described by a config file (a ``cellsweep.cells.spec.ModelSpec``)."""
    from cellsweep.cells.loader import load_model as _load

    return _load(config)[0]


def evaluate(model, params=None, traces: bool = False):
    """Evaluate one parameter set ({name: value}; others take their defaults) of ``model`` (a
    ``ModelSpec`` or a config path) in this process; returns a ``cells.evaluate.Evaluation``."""
    from cellsweep.cells.evaluate import evaluate as _evaluate

    if not hasattr(model, "parameters"):
        model = load_model(model)
    return _evaluate(model, dict(params or {}), traces=traces)


def run(config, output=None, workers=None, backend: str = "processes", restart: bool = False) -> int:
    """Run (or resume) the campaign of ``config`` on local processes; returns the exit status
    (0 complete, 3 stopped by SIGUSR1, 4 by SIGTERM/SIGINT). The run's signal handlers are the
    caller's again afterwards."""
    import signal

    from cellsweep.launch.run import run_local

    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
    saved = {sig: signal.getsignal(sig) for sig in signals}
    try:
        return run_local(config, output, workers, backend, restart)[0]
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
