"""Morphology checks (pure Python) and loading into NEURON (subprocesses, so a crash fails a test).

The expectations below were measured with NEURON 9.0.2 and BluePyOpt 1.14.

Three sets of files are checked and loaded: the synthetic files of tests/data/morphologies
(written by its generate.py to have, one by one, the odd properties of real NeuroMorpho and
Neurolucida files), the morphologies the installed BluePyOpt ships, and, when the shared data
folder (../shared/data beside the checkout) is present, the real files themselves.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import namedtuple
from pathlib import Path

import pytest

from cellsweep.cells import morphology
from cellsweep.cells.errors import MorphologyError
from cellsweep.cells.morphology_check import (
    MAX_ISSUES_PER_KIND,
    MAX_LINE_CHARS,
    MorphologyIssue,
    check_morphology,
    raise_for_errors,
)
from tests.conftest import bluepyopt_file

REPO = Path(__file__).resolve().parents[2]
MORPHOLOGIES = REPO / "tests" / "data" / "morphologies"
HAS_NEURON = importlib.util.find_spec("neuron") is not None

needs_neuron = pytest.mark.skipif(not HAS_NEURON, reason="NEURON is not installed")

Loads = namedtuple("Loads", "counts soma_n3d warnings")
Refused = namedtuple("Refused", "line text")
STANDARD_LISTS = ("all", "somatic", "axonal", "basal", "apical", "myelinated")


def _counts(all_, somatic, axonal, basal, apical):
    return dict(zip(STANDARD_LISTS, (all_, somatic, axonal, basal, apical, 0)))


def long_line_swc() -> bytes:
    """A whole SWC file on one line, as a Python bytes literal (b'# ...\\r\\n1 1 0 0 0 6 -1\\r\\n
    ...'), as a careless upload leaves it: about 60,000 characters. NEURON 9.0.2's SWC reader
    crashes on any line of about 35,000-40,000 characters or more."""
    body = (MORPHOLOGIES / "pyramid.CNG.swc").read_bytes()
    while len(repr(body)) < 40_000:
        body += body
    return repr(body).encode() + b"\n"


LONG_LINE_CHARS = len(long_line_swc()) - 1


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """tests/data/morphologies plus long_line.swc (too big a line to keep in the repository)."""
    folder = tmp_path_factory.mktemp("morphologies")
    for path in MORPHOLOGIES.iterdir():
        if path.suffix in (".swc", ".asc"):
            shutil.copy(path, folder / path.name)
    (folder / "long_line.swc").write_bytes(long_line_swc())
    return folder


def _resolve(source: str, relative: str, synthetic_dir: Path) -> Path:
    if source == "synthetic":
        return synthetic_dir / relative
    return bluepyopt_file(*relative.split("/"))


# ------------------------------------------------------------------ files every checkout has

# (source, path): "synthetic" in tests/data/morphologies, "bluepyopt" in the installed package
FILES = {
    # NeuroMorpho's standardised form: a 3-point soma (points 2 and 3 both children of 1, at
    # +-r), an axon, basal and apical trees, a comment header, CRLF line ends.
    ("synthetic", "pyramid.CNG.swc"): Loads(_counts(71, 1, 11, 28, 31), 3, []),
    # The same cell in Neurolucida ASC: Import3d turns any soma contour (here 15 points) into a
    # 21-point centroid line.
    ("synthetic", "pyramid.asc"): Loads(_counts(71, 1, 11, 28, 31), 21, []),
    # ... with four non-neuronal contours besides the cell ("NewContour", "Layer 5", "Barrel",
    # "Pia"): NEURON ignores them.
    ("synthetic", "pyramid_with_contours.asc"): Loads(_counts(71, 1, 11, 28, 31), 21, []),
    # Negative radii (-0.275, -0.14) on axon points, data lines padded with spaces: a warning,
    # because NEURON uses |r| (checked below: no diam3d <= 0).
    ("synthetic", "negative_radii.swc"): Loads(
        _counts(71, 1, 11, 28, 31), 3,
        [(10, "108 point(s) with a negative radius (first at line 10: -0.275)")]),
    # 17-point soma drawn as a chain, no axon, CRLF: one soma section with all 17 points.
    ("synthetic", "chain_soma.swc"): Loads(_counts(11, 1, 0, 10, 0), 17, []),
    # A one-point soma (NEURON makes it a 3-point cylinder) and a dendrite point with 4
    # children: one section per child.
    ("synthetic", "multifurcation.swc"): Loads(_counts(8, 1, 1, 5, 1), 3, []),
    ("synthetic", "no_soma.swc"): Refused(None, "no soma: no point has type 1"),
    # Old-style conversion: type-10 'segments' from a type-10 point with 6 children, one of
    # them the axon's root.
    ("synthetic", "type10.swc"): Refused(6, "type code 10 on 16 point(s) (first at line 6)"),
    ("synthetic", "duplicate_id.swc"): Refused(
        123, "duplicate id 120 (first at line 122); NEURON's SWC reader crashes"),
    ("synthetic", "ids_not_increasing.swc"): Refused(
        689, "id 686 is smaller than id 687 at line 688; ids must increase down the file"),
    ("synthetic", "long_line.swc"): Refused(
        1, f"line is {LONG_LINE_CHARS} characters long; the limit is 4096"),
    # BluePyOpt's simplecell: a soma of 3 chained points (1 -> 2 -> 3).
    ("bluepyopt", "ephys/examples/simplecell/simple.swc"): Loads(_counts(1, 1, 0, 0, 0), 3, []),
    # BluePyOpt's L5PC cell (shipped with its tests): 21-point soma contour, CRLF.
    ("bluepyopt", "tests/test_ephys/testdata/acc/l5pc/C060114A7.asc"): Loads(
        _counts(325, 1, 128, 66, 130), 21, []),
}

# ------------------------------------------------------------------ the shared data's real files

REAL_FILES = {
    "morphologies/C010398B-P2.CNG.swc": Loads(_counts(78, 1, 43, 17, 17), 3, []),
    "morphologies/C010398B-P2.asc": Loads(_counts(78, 1, 43, 17, 17), 21, []),
    "morphologies/c91662.CNG.swc": Loads(_counts(194, 1, 1, 58, 134), 3, []),
    "morphologies/C040600B3.CNG.swc": Loads(_counts(404, 1, 343, 60, 0), 3, []),
    "morphologies/C031097B-I4.CNG.swc": Loads(
        _counts(589, 1, 531, 57, 0), 3,
        [(720, "815 point(s) with a negative radius (first at line 720: -0.14)")]),
    "morphologies/10-2012-02-09-001.CNG.swc": Loads(_counts(784, 1, 0, 783, 0), 17, []),
    "bluepyopt_thalamocortical/morphologies/jy170517_A_idA.asc": Loads(
        _counts(118, 1, 1, 116, 0), 21, []),
    "morphologies/SDM_Purkinje_KO3.CNG.swc": Refused(None, "no soma: no point has type 1"),
    "morphologies/c91662.swc": Refused(7, "type code 10 on 80 point(s) (first at line 7)"),
    "morphologies/invalid/c91662.CNG.as-committed.swc": Refused(
        1, "line is 58030 characters long; the limit is 4096"),
}

_LOAD_SCRIPT = textwrap.dedent("""
    import json, sys
    from neuron import h
    from cellsweep.cells import morphology
    from cellsweep.cells.errors import MorphologyError
    cell = morphology.new_cell(h, "CellsweepLoadTest")
    try:
        morphology.instantiate_morphology(h, sys.argv[1], cell)
    except MorphologyError as exc:
        print(json.dumps({"refused": exc.problems}))
        sys.exit(0)
    diam3d = [s.diam3d(i) for s in cell.all for i in range(int(s.n3d()))]
    print(json.dumps({
        "counts": morphology.section_counts(cell),
        "soma_n3d": int(cell.soma[0].n3d()),
        "min_diam3d": min(diam3d),
    }))
""")


def _load_in_subprocess(path):
    """Load ``path`` in a fresh interpreter; a NEURON crash becomes a failed assertion."""
    env = dict(os.environ, NEURON_INIT_MPI="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_SCRIPT, str(path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        f"loading {path} ended with return code {result.returncode}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _assert_checker_finds(path, expected):
    issues = check_morphology(path)
    if isinstance(expected, Loads):
        assert [(i.severity, i.line) for i in issues] == [
            ("warning", line) for line, _ in expected.warnings], issues
        for issue, (_, text) in zip(issues, expected.warnings):
            assert text in issue.message
    else:
        assert [(i.severity, i.line) for i in issues] == [("error", expected.line)], issues
        assert expected.text in issues[0].message
        assert str(issues[0]).startswith(
            f"{path}:{expected.line}: " if expected.line else f"{path}: ")


def _assert_loads_or_is_refused(path, expected):
    outcome = _load_in_subprocess(path)
    if isinstance(expected, Loads):
        assert outcome["counts"] == expected.counts, path
        assert outcome["soma_n3d"] == expected.soma_n3d, path
        assert outcome["min_diam3d"] > 0, path
    else:
        assert len(outcome["refused"]) == 1, outcome
        assert expected.text in outcome["refused"][0]


class _UntouchableNeuron:
    """Stands in for ``neuron.h``: any use fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"NEURON was used (h.{name}) for a file the checker must refuse")


def _assert_never_reaches_neuron(path, expected):
    with pytest.raises(MorphologyError) as info:
        morphology.instantiate_morphology(_UntouchableNeuron(), path, icell=None)
    assert expected.text in str(info.value)


def _ids(cases):
    return [f"{source}:{relative}" for source, relative in cases]


@pytest.mark.parametrize("source, relative", sorted(FILES), ids=_ids(sorted(FILES)))
def test_checker_on_files(synthetic_dir, source, relative):
    _assert_checker_finds(_resolve(source, relative, synthetic_dir), FILES[source, relative])


@pytest.mark.neuron
@needs_neuron
@pytest.mark.parametrize("source, relative", sorted(FILES), ids=_ids(sorted(FILES)))
def test_files_load_or_are_refused_without_crashing(synthetic_dir, source, relative):
    _assert_loads_or_is_refused(_resolve(source, relative, synthetic_dir), FILES[source, relative])


REFUSED = sorted(k for k, v in FILES.items() if isinstance(v, Refused))


@pytest.mark.parametrize("source, relative", REFUSED, ids=_ids(REFUSED))
def test_refused_files_never_reach_neuron(synthetic_dir, source, relative):
    path = _resolve(source, relative, synthetic_dir)
    _assert_never_reaches_neuron(path, FILES[source, relative])


def _each_real_file(shared_data, check, refused_only=False):
    """Run ``check(path, expected)`` on every real file; fail listing every file that fails."""
    failures = {}
    for relative, expected in sorted(REAL_FILES.items()):
        if refused_only and not isinstance(expected, Refused):
            continue
        try:
            check(shared_data / relative, expected)
        except AssertionError as exc:
            failures[relative] = str(exc)
    assert not failures, "\n".join(f"{name}: {text}" for name, text in failures.items())


def test_checker_on_the_real_shared_files(shared_data):
    # The real files the synthetic ones stand in for (one test, so that a checkout without
    # the shared data skips one test, not one per file).
    _each_real_file(shared_data, _assert_checker_finds)
    _each_real_file(shared_data, _assert_never_reaches_neuron, refused_only=True)


@pytest.mark.neuron
@needs_neuron
def test_real_shared_files_load_or_are_refused_without_crashing(shared_data):
    _each_real_file(shared_data, _assert_loads_or_is_refused)


@pytest.mark.neuron
@needs_neuron
def test_negative_radius_becomes_positive_diameter_in_neuron(tmp_path):
    # Why negative radii are only a warning: NEURON stores |2r| as the 3-D diameter.
    path = tmp_path / "negative.swc"
    path.write_text("1 1 0 0 0 5 -1\n2 3 0 10 0 -1 1\n3 3 0 20 0 -1 2\n")
    assert [i.severity for i in check_morphology(path)] == ["warning"]
    outcome = _load_in_subprocess(path)
    assert outcome["counts"] == _counts(2, 1, 0, 1, 0)
    assert outcome["min_diam3d"] == pytest.approx(2.0)


@pytest.mark.neuron
@needs_neuron
@pytest.mark.parametrize("suffix", [".swc", ".asc"])
def test_synthetic_good_files_load(tmp_path, suffix):
    # The baselines the bad synthetic files below are derived from really load.
    path = tmp_path / f"good{suffix}"
    path.write_text(GOOD_SWC if suffix == ".swc" else GOOD_ASC)
    assert check_morphology(path) == []
    assert _load_in_subprocess(path)["counts"]["somatic"] == 1


# ------------------------------------------------------------------ synthetic SWC files

GOOD_SWC = "1 1 0 0 0 5 -1\n2 3 0 10 0 1 1\n3 3 0 20 0 1 2\n"

# name: (file content, expected (severity, line, text in message) of the first issue)
BAD_SWC = {
    "long_line": (
        "# " + "x" * MAX_LINE_CHARS + "\n" + GOOD_SWC,
        ("error", 1, f"line is {MAX_LINE_CHARS + 2} characters long; the limit is 4096")),
    "field_count": (
        "1 1 0 0 0 5 -1\n2 3 0 10 0 1\n",
        ("error", 2, "expected 7 fields (id type x y z radius parent); found 6")),
    "extra_field": (
        "1 1 0 0 0 5 -1\n2 3 0 10 0 1 1 99\n",
        ("error", 2, "expected 7 fields (id type x y z radius parent); found 8")),
    "non_numeric": (
        "1 1 0 0 0 5 -1\n2 3 0 abc 0 1 1\n",
        ("error", 2, "y is not a finite decimal number; found 'abc'")),
    "non_ascii_digit": (
        "1 1 0 0 0 5 -1\n2 3 0 \u0661 0 1 1\n",  # Python's float() would take it
        ("error", 2, "y is not a finite decimal number; found '\u0661'")),
    "nan": (
        "1 1 0 0 0 5 -1\n2 3 0 10 nan 1 1\n",
        ("error", 2, "z is not a finite decimal number; found 'nan'")),
    "fractional_id": (
        "1 1 0 0 0 5 -1\n2.5 3 0 10 0 1 1\n",
        ("error", 2, "id must be an integer; found '2.5'")),
    "negative_id": (
        "1 1 0 0 0 5 -1\n-2 3 0 10 0 1 1\n",
        ("error", 2, "id -2 is out of range; allowed 0 to 10000000")),
    "duplicate_id": (
        GOOD_SWC + "3 3 0 30 0 1 2\n",
        ("error", 4, "duplicate id 3 (first at line 3); NEURON's SWC reader crashes")),
    "ids_not_increasing": (
        "1 1 0 0 0 5 -1\n3 3 0 20 0 1 1\n2 3 0 10 0 1 1\n",
        ("error", 3, "id 2 is smaller than id 3 at line 2; ids must increase down the file")),
    "missing_parent": (
        "1 1 0 0 0 5 -1\n2 3 0 10 0 1 1\n5 3 0 20 0 1 4\n",
        ("error", 3, "parent id 4 is not the id of any valid point")),
    "parent_after_child": (
        "1 1 0 0 0 5 -1\n2 3 0 10 0 1 3\n3 3 0 20 0 1 1\n",
        ("error", 2, "parent 3 is not smaller than the point's id 2")),
    "self_parent": (
        "1 1 0 0 0 5 -1\n2 3 0 10 0 1 2\n",
        ("error", 2, "parent 2 is not smaller than the point's id 2")),
    "parent_minus_two": (
        "1 1 0 0 0 5 -2\n2 3 0 10 0 1 1\n",
        ("error", 1, "parent -2 is not allowed; expected -1 (root) or an existing id")),
    "two_roots": (
        GOOD_SWC + "4 1 100 0 0 5 -1\n5 3 100 10 0 1 4\n",
        ("error", 4, "2 roots (points with parent -1) at lines 1, 4; expected one tree")),
    "no_soma": (
        "1 3 0 0 0 1 -1\n2 3 0 10 0 1 1\n",
        ("error", None, "no soma: no point has type 1")),
    "zero_radius": (
        "1 1 0 0 0 5 -1\n2 3 0 10 0 0 1\n3 3 0 20 0 0 2\n",
        ("error", 2, "2 point(s) with radius 0 (first at line 2); radius must be > 0")),
    "negative_radius": (
        "1 1 0 0 0 5 -1\n2 3 0 10 0 -0.5 1\n3 3 0 20 0 -0.25 2\n",
        ("warning", 2, "2 point(s) with a negative radius (first at line 2: -0.5); "
                       "NEURON uses the absolute value")),
    "unknown_type": (
        "1 1 0 0 0 5 -1\n2 3 0 10 0 1 1\n3 10 0 20 0 1 1\n4 10 0 30 0 1 3\n",
        ("error", 3, "type code 10 on 2 point(s) (first at line 3); allowed: 1 soma, 2 axon, "
                     "3 basal dendrite, 4 apical dendrite; NEURON's Import3d would put them "
                     "into sections dend_10 and a SectionList dendritic_10")),
    "type_zero": (
        "1 1 0 0 0 5 -1\n2 0 0 10 0 1 1\n",
        ("error", 2, "type code 0 on 1 point(s)")),
    "root_not_soma": (
        "1 3 0 0 0 1 -1\n2 3 0 10 0 1 1\n3 1 0 20 0 5 2\n",
        ("warning", 1, "the root point has type 3, not 1 (soma)")),
    "huge_id": (
        "1 1 0 0 0 5 -1\n20000000 3 0 10 0 1 1\n",
        ("error", 2, "id 20000000 is out of range")),
    "empty": ("", ("error", None, "no data points")),
    "comments_only": ("# header\n\n#\n", ("error", None, "no data points")),
}


@pytest.mark.parametrize("name", sorted(BAD_SWC))
def test_bad_swc_is_reported_with_line(tmp_path, name):
    content, (severity, line, text) = BAD_SWC[name]
    path = tmp_path / f"{name}.swc"
    path.write_bytes(content.encode())
    issues = check_morphology(path)
    assert issues, f"{name}: no issue reported"
    first = issues[0]
    assert (first.severity, first.line) == (severity, line), issues
    assert text in first.message
    assert str(first) == (f"{path}:{line}: {first.message}" if line else
                          f"{path}: {first.message}")


@pytest.mark.parametrize("content", [
    GOOD_SWC,
    GOOD_SWC.replace("\n", "\r\n"),  # CRLF
    GOOD_SWC.replace("\n", "\r"),  # CR only: NEURON also breaks lines at a lone CR
    "# comment\n\n   # indented comment\n" + GOOD_SWC.rstrip("\n"),  # no final newline
    "  1 1 0 0 0 5 -1  \n\t2 3 0 10 0 1 1 # inline comment\n3 3 0 20 0 1 2\n",
    "1 1 0.0 0.0 0.0 5.0 -1\n2.0 3.0 0 1e1 0 1 1.0\n",  # integral floats are integers
    "10 1 0 0 0 5 -1\n20 3 0 10 0 1 10\n30 3 0 20 0 1 20\n",  # gaps in ids
    "1 1 0 0 0 5 -1\n",  # a one-point soma
], ids=["lf", "crlf", "cr", "comments", "spacing", "floats", "gaps", "one_point"])
def test_good_swc_passes(tmp_path, content):
    path = tmp_path / "good.swc"
    path.write_bytes(content.encode())
    assert check_morphology(path) == []


def test_uppercase_suffix_is_accepted(tmp_path):
    path = tmp_path / "cell.SWC"
    path.write_text(GOOD_SWC)
    assert check_morphology(path) == []


@pytest.mark.parametrize("name, data, line, text", [
    ("cell.txt", GOOD_SWC.encode(), None,
     "unsupported morphology suffix '.txt'; allowed: .swc, .asc"),
    ("nul.swc", GOOD_SWC.encode() + b"\x00\x01", 4, "binary content: NUL byte"),
    ("latin1.swc", b"# caf\xe9\n" + GOOD_SWC.encode(), 1, "not UTF-8 text: byte 0xe9"),
    ("bom.swc", b"\xef\xbb\xbf" + GOOD_SWC.encode(), 1, "starts with a UTF-8 byte-order mark"),
])
def test_file_level_errors(tmp_path, name, data, line, text):
    path = tmp_path / name
    path.write_bytes(data)
    [issue] = check_morphology(path)
    assert (issue.severity, issue.line) == ("error", line)
    assert text in issue.message


def test_missing_and_unreadable_files(tmp_path):
    [missing] = check_morphology(tmp_path / "absent.swc")
    assert missing.severity == "error" and "cannot read the file" in missing.message
    folder = tmp_path / "folder.swc"
    folder.mkdir()
    [directory] = check_morphology(folder)
    assert directory.severity == "error" and "cannot read the file" in directory.message


def test_issues_of_one_kind_are_capped(tmp_path):
    path = tmp_path / "many.swc"
    path.write_text("1 1 0 0 0 5 -1\n" + "".join(f"{i} 3 0 {i}\n" for i in range(2, 40)))
    issues = check_morphology(path)
    assert len(issues) == MAX_ISSUES_PER_KIND + 1
    assert issues[-1] == MorphologyIssue(
        str(path), None, "error", f"{38 - MAX_ISSUES_PER_KIND} more field-count problems not listed")


def test_issue_rejects_unknown_severity():
    with pytest.raises(ValueError, match="unknown severity 'fatal'"):
        MorphologyIssue("a.swc", 1, "fatal", "message")


def test_raise_for_errors_lists_every_error_and_returns_warnings(tmp_path):
    path = tmp_path / "bad.swc"
    path.write_text("1 3 0 0 0 1 -1\n2 3 0 10 0 -1 1\n2 3 0 20 0 1 1\n")
    with pytest.raises(MorphologyError) as info:
        raise_for_errors(path)
    assert info.value.problems == [
        f"{path}:3: duplicate id 2 (first at line 2); NEURON's SWC reader crashes on "
        f"duplicate ids",
        f"{path}: no soma: no point has type 1; cellsweep needs a soma for distances and "
        f"recordings (NEURON would build the cell without one)",
    ]
    good = tmp_path / "good.swc"
    good.write_text("1 1 0 0 0 5 -1\n2 3 0 10 0 -1 1\n")
    [warning] = raise_for_errors(good, check_morphology(good))
    assert warning.severity == "warning" and warning.line == 2


# ------------------------------------------------------------------ synthetic ASC files

SOMA_ASC = """; V3 text file
("CellBody"
  (Color Red)
  (CellBody)
  ( 5 0 0 0.1)  ;  1, 1
  ( 0 5 0 0.1)  ;  1, 2
  (-5 0 0 0.1)  ;  1, 3
)  ;  End of contour
"""
TREE_ASC = """( (Color Blue)  ; [10,21]
  (Dendrite)
  ( 0 5 0 2)  ; Root
  ( 0 20 0 2)
  (
    ( 0 30 0 1)
    (Name "Marker (1")
  |
    ( 0 30 0 1)
    ( -10 40 0 1)
  )  ;  End of split
)  ;  End of tree
"""
GOOD_ASC = SOMA_ASC + "\n" + TREE_ASC

BAD_ASC = {
    "long_line": (
        "; " + "x" * 40000 + "\n" + GOOD_ASC,
        ("error", 1, "line is 40002 characters long; the limit is 4096")),
    "unclosed": (
        GOOD_ASC.rstrip().rsplit(")", 1)[0] + "\n",  # drop the tree's final ')'
        ("error", 10, "'(' opened here is never closed")),
    "extra_close": (
        SOMA_ASC + ")\n" + TREE_ASC,
        ("error", 9, "')' without a matching '('; NEURON's reader stops there")),
    "no_soma": (
        TREE_ASC, ("error", None, "no soma: NEURON recognises a soma only as a contour named "
                                  "'CellBody', 'Cell Body', 'Soma' with at least 3 points; "
                                  "found no contours")),
    "soma_wrong_name": (
        SOMA_ASC.replace('"CellBody"', '"soma"') + TREE_ASC,
        ("error", None, "found 'soma' at line 2 (3 points)")),
    "soma_two_points": (
        SOMA_ASC.replace("  (-5 0 0 0.1)  ;  1, 3\n", "") + TREE_ASC,
        ("error", None, "found 'CellBody' at line 2 (2 points)")),
    "untyped_tree": (
        SOMA_ASC + TREE_ASC.replace("  (Dendrite)\n", ""),
        ("error", 9, "tree has (Color) as its last property before its first point")),
    "type_not_last": (
        SOMA_ASC + TREE_ASC.replace("(Color Blue)  ; [10,21]\n  (Dendrite)",
                                    "(Dendrite)\n  (Color Blue)"),
        ("error", 9, "tree has (Color) as its last property")),
    "no_tree": (SOMA_ASC, ("error", None, "no tree: a Neurolucida cell needs at least one")),
    "unclosed_string": (
        SOMA_ASC.replace('"CellBody"', '"CellBody') + TREE_ASC,
        ("error", 2, "string has no closing '\"' on its line")),
    "stray_token": (
        SOMA_ASC + "Garbage\n" + TREE_ASC,
        ("error", 9, "'Garbage' outside any object; NEURON's reader stops here")),
    "empty": ("; only a comment\n", ("error", None, "no objects")),
}


@pytest.mark.parametrize("name", sorted(BAD_ASC))
def test_bad_asc_is_reported_with_line(tmp_path, name):
    content, (severity, line, text) = BAD_ASC[name]
    path = tmp_path / f"{name}.asc"
    path.write_bytes(content.encode())
    issues = check_morphology(path)
    assert issues, f"{name}: no issue reported"
    assert (issues[0].severity, issues[0].line) == (severity, line), issues
    assert text in issues[0].message


@pytest.mark.parametrize("content", [
    GOOD_ASC,
    GOOD_ASC.replace("\n", "\r\n"),
    SOMA_ASC.replace('"CellBody"', '"Soma"') + TREE_ASC.replace("(Dendrite)", "(Axon)"),
    SOMA_ASC.replace('"CellBody"', '"Cell Body"') + TREE_ASC.replace("(Dendrite)", "(Apical)"),
    # Parentheses inside comments and strings do not count; text objects are not trees.
    GOOD_ASC + '; (unbalanced in a comment\n("Label" (Name "(x") ( 1 2 3 4) )\n'
    + '( (Color Red) ( 1 2 3 4) "some text")\n',
], ids=["lf", "crlf", "soma_name", "cell_body_name", "comments_strings"])
def test_good_asc_passes(tmp_path, content):
    path = tmp_path / "good.asc"
    path.write_bytes(content.encode())
    assert check_morphology(path) == []


# ------------------------------------------------------------------ NEURON side, in-process


def test_instantiate_wraps_neuron_errors(tmp_path):
    class Reader:
        quiet = 0

        def input(self, path):
            raise RuntimeError("hoc_execerror: something broke")

    class FakeNeuron:
        def load_file(self, name):
            return 1

        def hoc_stdout(self, *args):
            return 0

        def Import3d_SWC_read(self):
            return Reader()

    path = tmp_path / "good.swc"
    path.write_text(GOOD_SWC)
    with pytest.raises(MorphologyError, match="good.swc: NEURON could not load the morphology; "
                                              "hoc_execerror: something broke") as info:
        morphology.instantiate_morphology(FakeNeuron(), path, icell=None)
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.fixture
def h(monkeypatch):
    if not HAS_NEURON:
        pytest.skip("NEURON is not installed")
    monkeypatch.setenv("NEURON_INIT_MPI", "0")
    from neuron import h as neuron_h

    return neuron_h


def _total_length(icell, seclist):
    return sum(section.L for section in getattr(icell, seclist))


@pytest.mark.neuron
def test_template_is_defined_once_and_reused(h):
    first = morphology.new_cell(h, "CellsweepTestReuse")
    second = morphology.new_cell(h, "CellsweepTestReuse")
    assert morphology.section_counts(first) == morphology.section_counts(second) == {
        name: 0 for name in STANDARD_LISTS}
    with pytest.raises(ValueError, match="invalid template name '1cell'"):
        morphology.create_cell_template(h, "1cell")
    with pytest.raises(ValueError, match="name 'Vector' is already defined in NEURON"):
        morphology.create_cell_template(h, "Vector")


# One cell in SWC and in ASC: (source, swc, asc, section counts, relative tolerance of the
# per-list lengths)
SWC_ASC_PAIRS = {
    # Both files written by generate.py from the same points, each tree starting at the same
    # first point in both: the lengths agree to rounding.
    "synthetic": ("synthetic", "pyramid.CNG.swc", "pyramid.asc", _counts(71, 1, 11, 28, 31),
                  1e-9),
    # The CNG SWC is L-Measure's conversion of this ASC (its header says so). Points agree;
    # where each tree's first section starts differs a little (the SWC puts the soma point
    # first, the ASC the tree's own first point), so per-list lengths differ by at most
    # 1.3e-4 relative (axonal 5071.95 vs 5072.46 µm, basal 883.73 vs 883.62, apical 1080.84
    # vs 1080.76). 5e-4 is four times that, and still smaller than the shortest section of
    # any list (axonal 3.56 µm of 5072 = 7e-4), so a lost or doubled section would fail.
    "shared": ("shared", "morphologies/C010398B-P2.CNG.swc", "morphologies/C010398B-P2.asc",
               _counts(78, 1, 43, 17, 17), 5e-4),
}


def _morphology_file(request, source, relative) -> Path:
    """A morphology of ``source``: synthetic, bluepyopt (installed) or shared (skips without)."""
    if source == "shared":
        return request.getfixturevalue("shared_data") / relative
    return _resolve(source, relative, request.getfixturevalue("synthetic_dir"))


@pytest.mark.neuron
@pytest.mark.parametrize("case", sorted(SWC_ASC_PAIRS))
def test_swc_and_asc_of_one_cell_give_the_same_sections(h, request, case):
    source, swc_file, asc_file, counts, rel = SWC_ASC_PAIRS[case]
    tag = case.capitalize()
    swc = morphology.new_cell(h, f"CellsweepTestSwc{tag}")
    morphology.instantiate_morphology(h, _morphology_file(request, source, swc_file), swc)
    asc = morphology.new_cell(h, f"CellsweepTestAsc{tag}")
    morphology.instantiate_morphology(h, _morphology_file(request, source, asc_file), asc)
    assert morphology.section_counts(swc) == morphology.section_counts(asc) == counts
    for seclist in ("axonal", "basal", "apical"):
        assert _total_length(swc, seclist) == pytest.approx(
            _total_length(asc, seclist), rel=rel), seclist
    # The soma differs by format: a 3-point cylinder (real: L = diam = 12.95 µm; synthetic:
    # 12 µm) in the SWC, a 15-point contour that NEURON turns into a centroid (real: L =
    # 13.72 µm; synthetic: 11.85 µm) in the ASC.
    assert _total_length(swc, "somatic") == pytest.approx(_total_length(asc, "somatic"), rel=0.1)


AXON_CASES = {
    # (source, file): (template suffix, stub diameters)
    ("synthetic", "pyramid.CNG.swc"): ("Swc", (0.872742, 0.55555)),  # 11 axon sections
    ("bluepyopt", "tests/test_ephys/testdata/acc/l5pc/C060114A7.asc"): (
        "Asc", (1.38, 0.92)),  # 128 axon sections
    ("bluepyopt", "ephys/examples/simplecell/simple.swc"): ("NoAxon", (1.0, 1.0)),  # 1 µm
    ("shared", "morphologies/C010398B-P2.CNG.swc"): ("NmoSwc", (0.67, 0.33)),  # 43 sections
}


@pytest.mark.neuron
@pytest.mark.parametrize("source, relative", sorted(AXON_CASES), ids=_ids(sorted(AXON_CASES)))
def test_replace_axon_matches_bluepyopt(h, request, source, relative):
    ephys = pytest.importorskip("bluepyopt.ephys")
    suffix, diams = AXON_CASES[source, relative]
    path = _morphology_file(request, source, relative)

    ours = morphology.new_cell(h, f"CellsweepTestOurs{suffix}")
    morphology.instantiate_morphology(h, path, ours)
    morphology.set_nseg(ours)  # BluePyOpt sets nseg before replacing; the stub diam depends on it
    morphology.replace_axon(h, ours)

    name = f"CellsweepTestBpo{suffix}"
    sim = ephys.simulators.NrnSimulator()
    theirs = getattr(h, name)() if hasattr(h, name) else ephys.models.CellModel.create_empty_cell(
        name, sim=sim, seclist_names=list(morphology.SECTION_LISTS),
        secarray_names=list(morphology.SECTION_ARRAYS))
    ephys.morphologies.NrnFileMorphology(str(path), do_replace_axon=True).instantiate(
        sim=sim, icell=theirs)

    described = morphology.describe(ours)
    stub = [described["axon[0]"], described["axon[1]"]]
    assert [s["L"] for s in stub] == [30.0, 30.0]
    assert [s["nseg"] for s in stub] == [1, 1]
    assert [s["diam"][0] for s in stub] == pytest.approx(diams, abs=1e-6)
    assert [(s["parent"], s["parent_x"]) for s in stub] == [("soma[0]", 1.0), ("axon[0]", 1.0)]
    assert morphology.section_counts(ours)["axonal"] == 2
    try:
        assert described == morphology.describe(theirs)
    finally:
        # BluePyOpt's template refers to itself (CellRef = this), so it is never freed;
        # delete its sections, which every later simulation in this process would include
        for section in list(theirs.all):
            h.delete_section(sec=section)
