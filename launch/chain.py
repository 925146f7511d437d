"""Should a batch job queue its own continuation? The one rule the SLURM and PBS scripts share.

A chain must not run away: a link resubmits only when its run was stopped by the wall-time
warning (exit status 3, SIGUSR1), not by a cancellation; only when it finished evaluations
(a link that makes no progress would resubmit forever); and at most ``max_links`` links in all.

    python -m cellsweep.launch.chain SUMMARY_JSON --link N --max-links M [--cancelled]

prints why, and exits 0 to resubmit, 1 not to.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cellsweep.launch.run import EXIT_STOPPED      # stopped by the warning signal


def decide(summary: dict | None, link: int, max_links: int,
           cancelled: bool = False) -> tuple[bool, str]:
    """``(resubmit, why)`` for the link numbered ``link`` (1 for the first job)."""
    if summary is None:
        return False, "the run left no summary (it failed before starting, or was killed)"
    if summary.get("complete"):
        return False, "the campaign is complete"
    if cancelled:
        return False, "the job was cancelled"
    status = summary.get("exit_status")
    if status != EXIT_STOPPED:
        return False, (f"the run ended with status {status} ({summary.get('stopped') or 'no '}"
                       "signal), not by the wall-time warning")
    if int(summary.get("ran", 0)) <= 0:
        return False, ("this link finished no evaluation: the warning came before any work "
                       "was done (give the job more time, or the warning less)")
    if link >= max_links:
        return False, f"this was link {link} of at most {max_links} (CELLSWEEP_MAX_LINKS)"
    return True, (f"stopped by the wall-time warning after {summary.get('ran')} evaluation(s) "
                  f"({summary.get('evaluated')}/{summary.get('total')} in all): queueing link "
                  f"{link + 1}")


def read_summary(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cellsweep.launch.chain",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("summary", type=Path)
    parser.add_argument("--link", type=int, default=1)
    parser.add_argument("--max-links", type=int, default=20)
    parser.add_argument("--cancelled", action="store_true")
    args = parser.parse_args(argv)
    resubmit, why = decide(read_summary(args.summary), args.link, args.max_links,
                           args.cancelled)
    print(f"cellsweep chain: {'resubmitting' if resubmit else 'not resubmitting'}: {why}")
    return 0 if resubmit else 1


if __name__ == "__main__":
    sys.exit(main())
