"""PNG plots for people: traces of an evaluation (more plots join as campaigns arrive)."""

from __future__ import annotations

from pathlib import Path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_traces(model, result, path: Path) -> Path:
    """One panel per protocol, every recording of it overlaid, with the feature window shaded."""
    plt = _pyplot()
    protocols = [p for p in model.protocols if p.name in (result.traces or {})]
    fig, axes = plt.subplots(len(protocols), 1, figsize=(9, 2.4 * len(protocols) + 0.6),
                             squeeze=False, sharex=False)
    for ax, protocol in zip(axes[:, 0], protocols):
        for rec in protocol.recordings:
            t, v = result.traces[protocol.name][rec.name]
            ax.plot(t, v, lw=0.8, label=f"{rec.name} ({rec.variable})")
        ax.axvspan(*protocol.window_ms, color="0.92", zorder=0)
        ax.set_title(protocol.name, fontsize=9, loc="left")
        ax.set_ylabel("mV" if all(r.variable == "v" for r in protocol.recordings) else "")
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    axes[-1, 0].set_xlabel("time (ms)")
    fig.suptitle(f"{model.cell.name}: status {result.status}, total score "
                 f"{result.total_score:.2f}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
