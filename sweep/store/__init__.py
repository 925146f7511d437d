"""The owner of the results file: layout, writing, reading, locking, journal replay, resume.

Everything else reads and writes results through this package:

- ``open_for_writing`` (``opening``): lock the output; start, resume, say complete, or refuse;
- ``ResultStore`` (``writer``): record batches (journal first), commit HDF5, finish;
- ``ResultsFile`` (``reader``): the typed reader (names, columns, statuses, metadata, traces,
  optimisation groups), for the commands and for users;
- ``read_journal``: what a running (or killed) campaign has committed;
- ``hdf5``: the file layout, the only module that imports h5py; ``journal``: the commit point.
"""

from cellsweep.sweep.batch import STATUS_CODES, STATUS_NAMES, TIMINGS
from cellsweep.sweep.store.hdf5 import FORMAT, FORMAT_VERSION, READABLE_VERSIONS, FormatError
from cellsweep.sweep.store.opening import (CampaignChanged, OutputTaken, changed_keys,
                                           open_for_writing)
from cellsweep.sweep.store.reader import ResultsFile, is_results_file, stored_signature
from cellsweep.sweep.store.writer import (Campaign, Layout, OutputBusy, ResultStore,
                                          acquire_lock, lock_held, paths, read_journal,
                                          release_lock, runs_rate)

__all__ = ["STATUS_CODES", "STATUS_NAMES", "TIMINGS", "FORMAT", "FORMAT_VERSION",
           "READABLE_VERSIONS", "FormatError", "CampaignChanged", "OutputTaken", "changed_keys",
           "open_for_writing", "ResultsFile", "is_results_file", "stored_signature", "Campaign",
           "Layout", "OutputBusy", "ResultStore", "acquire_lock", "lock_held", "paths",
           "read_journal", "release_lock", "runs_rate"]
