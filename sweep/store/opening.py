"""Opening a results file for writing: lock, then start, resume, say complete, or refuse.

One call, ``open_for_writing``, decides from the output's journal and HDF5 file:

- no journal, no file (or ``restart``): a fresh store;
- a journal with the same config signature: resume (HDF5 rebuilt from the journal);
- no journal and a complete file of the same signature: the campaign is complete (``None``);
- anything else: ``CampaignChanged`` (the changed keys) or ``OutputTaken`` (someone else's file),
  raised before anything is written.
"""

from __future__ import annotations

from pathlib import Path

from cellsweep.cells.errors import ConfigError
from cellsweep.sweep.store import reader
from cellsweep.sweep.store.writer import (Campaign, Layout, ResultStore, acquire_lock, paths,
                                          read_journal, release_lock)


class CampaignChanged(ConfigError):
    """The output holds a campaign of a different config; ``changed`` lists the keys."""

    def __init__(self, problems, changed=()):
        super().__init__(problems)
        self.changed = list(changed)


class OutputTaken(ConfigError):
    """The output exists and is not this campaign's (another config's results, or not ours)."""


def open_for_writing(output: Path, layout: Layout, campaign: Campaign, points=None,
                     restart: bool = False, commit_interval_s: float = 2.0,
                     shown_as: str | None = None) -> ResultStore | None:
    """Lock ``output`` and return an opened store, or None when it already holds this campaign,
    complete (the lock is released then). ``shown_as`` is the output's name in messages."""
    output = Path(output)
    shown = shown_as or str(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    lock = acquire_lock(output)
    journal_path, _ = paths(output)
    meta, records, _dropped, valid_end = read_journal(output)
    if meta is None and output.exists() and not restart:
        previous = reader.stored_signature(output)
        if previous == campaign.signature:
            release_lock(lock, output, remove=True)
            return None
        lock.close()
        raise OutputTaken([f"{shown}: exists and "
                           + ("holds results of a different config" if previous else
                              "is not a complete cellsweep results file")
                           + "; use --restart to replace it, or choose another --output"])
    if meta is not None and meta.get("signature") != campaign.signature and not restart:
        keys = changed_keys(meta.get("config", {}), campaign.signature_data)
        lock.close()
        raise CampaignChanged([f"{shown}: the config changed since this campaign started "
                               f"(changed: {', '.join(keys) or 'inputs'}); rerun with the "
                               "original config to resume, or pass --restart to start over"],
                              changed=keys)
    if restart:
        for path in (journal_path, output):
            if path.exists():
                path.unlink()
        records, valid_end = None, None
    store = ResultStore(output, layout, campaign, points, commit_interval_s=commit_interval_s,
                        lock=lock)
    if layout.fixed_rows and records is not None:
        records = records.take(records.ids < layout.n_rows)
    try:
        store.open(records, valid_end, runs=(meta or {}).get("runs") if not restart else None)
    except BaseException:
        store.abandon()          # what a kill would leave: files as they are, lock released
        raise
    return store


def changed_keys(old, new, path="") -> list[str]:
    """Key paths whose values differ between two config mappings."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(sub)
            else:
                out.extend(changed_keys(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [k for i, (a, b) in enumerate(zip(old, new))
                for k in changed_keys(a, b, f"{path}[{i}]")]
    return [] if old == new else [path or "(top level)"]
