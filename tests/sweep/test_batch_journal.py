"""Results as columns (``RecordBatch``), their binary journal frames, and the store's row writes.

These are the pieces a kill or a resume depends on: a torn frame must be dropped and cut off,
a corrupt frame must not hide the frames after it, a journal written before batches existed
(JSON lines) must still resume, and rows must land at their ids whatever order they arrive in.
"""

import base64
import math
import zlib

import numpy as np
import pytest

from cellsweep.sweep.store import journal as J
from cellsweep.sweep import store as St
from cellsweep.sweep.batch import RecordBatch
from tests.helpers import plain


def record(i, status="ok", message="", generation=None, trace=True):
    r = {"id": i, "attempt": 1 + i % 2, "status": status, "message": message,
         "params": [0.1 * i, -2.5], "features": [float(i), math.nan, 1e-300],
         "scores": [0.5 * i, 250.0, 0.0], "timings": {"simulate": 0.01 * i, "total": 0.02 * i},
         "nseg": 3, "worker": i % 3, "host": f"node{i % 2}", "t_start": 1e9 + i,
         "t_end": 1e9 + i + 0.25}
    if generation is not None:
        r["generation"] = generation
    if trace:
        r["traces"] = {"step.v": np.linspace(-70, 20, 7, dtype="<f4") + i}
    return r


def same(a, b):
    """Record dicts equal, NaN equal to NaN, arrays compared by value."""
    assert set(a) == set(b), (sorted(a), sorted(b))
    for key in a:
        x, y = a[key], b[key]
        if key == "traces":
            assert set(x) == set(y)
            for k in x:
                np.testing.assert_array_equal(np.asarray(x[k]), np.asarray(y[k]))
        elif isinstance(x, list):
            np.testing.assert_array_equal(np.array(x, dtype=float), np.array(y, dtype=float))
        else:
            assert x == y, key


def test_batch_round_trip_through_bytes():
    records = [record(0),
               record(1, "error", "ValueError: ∞ went wrong\nsecond line", trace=False),
               record(2, "timeout", "killed", trace=False), record(3)]
    for r in records:
        r["generation"] = 4
    batch = RecordBatch.decode(RecordBatch.from_records(records).encode())
    assert len(batch) == 4
    for original, back in zip(records, batch.records()):
        if "traces" not in original:
            original = {**original, "traces": {}}
        same(original, back)
    assert batch.status_names() == ["ok", "error", "timeout", "ok"]
    assert np.isnan(batch.traces["step.v"][1]).all()


def test_concat_fills_missing_columns_and_traces():
    a = RecordBatch.from_records([record(0, generation=1), record(1, generation=1)])
    b = RecordBatch.from_records([record(2, trace=False)])
    both = RecordBatch.concat([a, RecordBatch.from_records([]), b])
    assert both.ids.tolist() == [0, 1, 2]
    assert both.arrays["generation"].tolist() == [1, 1, -1]
    assert np.isnan(both.traces["step.v"][2]).all()
    assert both.take(np.array([2, 0])).ids.tolist() == [2, 0]


def write_journal(path, batches):
    journal = J.Journal(path)
    journal.append([{"k": "meta", "signature": "s"}])
    ends = []
    for batch in batches:
        journal.append_batch(batch)
        ends.append(path.stat().st_size)
    journal.close()
    return ends


def test_torn_last_frame_is_dropped_and_cut_off_before_new_frames(tmp_path):
    path = tmp_path / "j"
    batches = [RecordBatch.from_records([record(i), record(i + 10)]) for i in range(3)]
    ends = write_journal(path, batches)
    data = path.read_bytes()
    path.write_bytes(data[:ends[2] - 40])               # a kill in the middle of the last write
    items, dropped, valid_end = J.read(path)
    assert [len(x) if isinstance(x, RecordBatch) else "meta" for x in items] == ["meta", 2, 2]
    assert dropped == 1 and valid_end == ends[1]
    journal = J.Journal(path, valid_end=valid_end)       # what a resumed campaign does
    journal.append_batch(RecordBatch.from_records([record(7)]))
    journal.close()
    items, dropped, _ = J.read(path)
    assert dropped == 0
    assert [x.ids.tolist() for x in items[1:]] == [[0, 10], [1, 11], [7]]


def test_a_corrupt_frame_does_not_hide_the_frames_after_it(tmp_path):
    path = tmp_path / "j"
    batches = [RecordBatch.from_records([record(i, message="a\nb")]) for i in range(3)]
    ends = write_journal(path, batches)
    data = bytearray(path.read_bytes())
    data[ends[0] + 30] ^= 0xFF                            # one flipped byte in the second frame
    path.write_bytes(bytes(data))
    items, dropped, valid_end = J.read(path)
    assert [x.ids.tolist() for x in items[1:]] == [[0], [2]]
    assert dropped == 1 and valid_end == ends[2]


def old_frame(r):
    """A result as journals before batches stored it: one JSON line, traces as base64 text."""
    r = dict(r, k="r")
    if "traces" in r:
        r["traces"] = {k: base64.b64encode(zlib.compress(np.asarray(v, "<f4").tobytes())).decode()
                       for k, v in r["traces"].items()}
    return J.frame(r)


def test_journal_of_json_lines_still_resumes(tmp_path):
    output = tmp_path / "out.h5"
    journal_path, _ = St.paths(output)
    old = [record(0), record(1, "crashed", "the evaluation process was killed by SIGSEGV",
                              trace=False)]
    journal_path.write_bytes(J.frame({"k": "meta", "signature": "s", "n_rows": 5})
                             + b"".join(old_frame(r) for r in old)
                             + J.batch_frame(RecordBatch.from_records([record(2)])))
    meta, results, dropped, _ = St.read_journal(output)
    assert meta["signature"] == "s" and dropped == 0
    assert results.ids.tolist() == [0, 1, 2]
    same({**old[1], "traces": {}}, results.take([1]).records()[0])
    np.testing.assert_array_equal(results.traces["step.v"][0], old[0]["traces"]["step.v"])


def make_store(tmp_path, n_rows):
    layout = St.Layout(kind="sweep", param_names=("a", "b"), param_units=("", ""),
                       feature_names=("f0", "f1", "f2"), feature_units=("",) * 3, n_rows=n_rows,
                       traces=(("step", "v", 7, 0.5),))
    campaign = St.Campaign(config_text="", signature="s", signature_data={}, versions={})
    params = np.array([[0.1 * i, -2.5] for i in range(n_rows)])
    store = St.ResultStore(tmp_path / "out.h5", layout, campaign, params, commit_interval_s=0)
    store.open()
    return store


@pytest.mark.parametrize("order", ["shuffled", "gaps"])
def test_rows_land_at_their_ids_in_any_order(tmp_path, order):
    n = 2000
    rng = np.random.default_rng(3)
    if order == "shuffled":
        ids = rng.permutation(n)[:1500]
    else:                                  # stretches far apart and rows a few ids apart
        ids = np.concatenate([np.arange(0, 40, 3), np.arange(700, 705), [1999], [300]])
    store = make_store(tmp_path, n)
    chunks = np.array_split(ids, 7)
    for chunk in chunks:
        store.record(RecordBatch.from_records([record(int(i), trace=bool(i % 2)) for i in chunk]))
    store.record(RecordBatch.from_records([record(int(ids[0]), "error", "a duplicate")]))
    store.finish(complete=False)
    with plain(tmp_path / "out.h5") as f:
        status = f["status"][:]
        assert sorted(np.flatnonzero(status >= 0).tolist()) == sorted(ids.tolist())
        assert (status[ids] == 0).all(), "a duplicate must not replace the first result"
        features, hosts = f["features"][:], f["host"][:]
        np.testing.assert_array_equal(features[ids, 0], ids.astype(float))
        np.testing.assert_array_equal(f["t_start"][:][ids], 1e9 + ids)
        assert [h.decode() for h in hosts[ids]] == [f"node{i % 2}" for i in ids]
        traces = f["traces/step/v"][:]
        odd = ids[ids % 2 == 1]
        np.testing.assert_array_equal(traces[odd, 0], np.float32(-70) + odd)
        assert np.isnan(traces[ids[ids % 2 == 0]]).all()
        missing = np.setdiff1d(np.arange(n), ids)
        assert np.isnan(features[missing]).all() and (status[missing] == -1).all()
        assert f.attrs["n_committed"] == len(ids)
