"""Checks a morphology file before NEURON's Import3d reads it.

Import3d (NEURON 9) crashes the whole process on some malformed input (segmentation fault on a
line of about 35,000 characters, on duplicate or unordered SWC ids, on a type code it has no
SectionList for) and silently invents geometry on other input (a missing parent or a second
root gets wired to the first root). These checks are pure Python, so the launcher can refuse a
bad file on one process before any simulation starts. They are conservative: a file passes
only if NEURON is known to read it the way the file means it.

``topology_report`` then says, also without NEURON, what Import3d builds from a file that
passes: the soma convention, how many soma sections, where each neurite attaches, and warnings
where a convention changes what a user would expect (e.g. a dendrite on an end point of a
three-point soma splits the soma in two).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import defaultdict
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cellsweep.cells.errors import MorphologyError

SUFFIXES = (".swc", ".asc")
MAX_LINE_CHARS = 4096  # NEURON 9.0.2's SWC reader: 33,000 loads, 40,000 crashes; real files < 200
MAX_SWC_ID = 10_000_000  # Import3d allocates an array indexed by id: 80 MB at this bound
MAX_ISSUES_PER_KIND = 20  # a broken file must not bury the first problems under thousands

SWC_TYPES = {1: "soma", 2: "axon", 3: "basal dendrite", 4: "apical dendrite"}
# Import3d_Neurolucida3 takes a soma only from contours with exactly these names.
ASC_SOMA_NAMES = ("CellBody", "Cell Body", "Soma")
# ... and a tree's type from the last property before its first point.
ASC_TREE_TYPES = ("Axon", "Dendrite", "Apical")

Severity = Literal["error", "warning"]

# NEURON's File.gets ends a line at LF, CR or CRLF (a CR-only file loads line by line).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# sscanf's whitespace; Python's str.split() would also split at Unicode spaces, sscanf does not.
_FIELD_SEP = re.compile(r"[ \t\v\f]+")
# Plain ASCII decimals only: float() also takes 'nan', 'inf' and non-ASCII digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ASC_LABEL = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class MorphologyIssue:
    """One problem in a morphology file; ``line`` is 1-based, ``None`` for the whole file."""

    path: str
    line: int | None
    severity: Severity
    message: str
    kind: str = dataclasses.field(default="", compare=False)  # the check: "type", "roots", ...

    def __post_init__(self):
        if self.severity not in ("error", "warning"):
            raise ValueError(
                f"MorphologyIssue: unknown severity {self.severity!r}; expected 'error' or 'warning'"
            )

    def __str__(self):
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class _Issues:
    """Collects issues, keeping at most MAX_ISSUES_PER_KIND of each kind plus a count of the rest."""

    def __init__(self, path: str):
        self.path = path
        self.items: list[MorphologyIssue] = []
        self._count: dict[str, int] = defaultdict(int)
        self._severity: dict[str, Severity] = {}

    def add(self, kind: str, line: int | None, severity: Severity, message: str):
        self._count[kind] += 1
        self._severity[kind] = severity
        if self._count[kind] <= MAX_ISSUES_PER_KIND:
            self.items.append(MorphologyIssue(self.path, line, severity, message, kind))

    def error(self, kind: str, line: int | None, message: str):
        self.add(kind, line, "error", message)

    def warning(self, kind: str, line: int | None, message: str):
        self.add(kind, line, "warning", message)

    def finish(self) -> list[MorphologyIssue]:
        for kind, count in self._count.items():
            if count > MAX_ISSUES_PER_KIND:
                self.items.append(MorphologyIssue(
                    self.path, None, self._severity[kind],
                    f"{count - MAX_ISSUES_PER_KIND} more {kind} problems not listed", kind))
        return self.items


def check_morphology(path) -> list[MorphologyIssue]:
    """Return every problem found in an SWC or Neurolucida ASC file (empty list: safe to load)."""
    issues = _Issues(str(path))
    lines = _read_lines(Path(path), issues)
    if lines is not None:
        if Path(path).suffix.lower() == ".swc":
            _check_swc(lines, issues)
        else:
            _check_asc(lines, issues)
    return issues.finish()


def raise_for_errors(path, issues=None) -> list[MorphologyIssue]:
    """Raise MorphologyError listing every error; return the warnings for the caller to log.

    ``issues`` defaults to ``check_morphology(path)``.
    """
    if issues is None:
        issues = check_morphology(path)
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors:
        raise MorphologyError([str(issue) for issue in errors])
    return [issue for issue in issues if issue.severity == "warning"]


# ---------------------------------------------------------------- file level


def _read_lines(path: Path, issues: _Issues) -> list[str] | None:
    """Text lines split as NEURON splits them, or None after a file-level error."""
    if path.suffix.lower() not in SUFFIXES:
        issues.error("suffix", None, (
            f"unsupported morphology suffix {path.suffix!r}; "
            f"allowed: {', '.join(SUFFIXES)} (any case)"))
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        issues.error("read", None, f"cannot read the file; {exc.strerror or exc}")
        return None
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        issues.error("binary", line, "binary content: NUL byte; a morphology must be a text file")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        issues.error("encoding", line, (
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded; "
            f"a morphology must be a text file"))
        return None
    if text.startswith("\ufeff"):
        issues.error("encoding", 1, (
            "starts with a UTF-8 byte-order mark, which NEURON does not skip "
            "(it would drop or misread the first line); save the file without a BOM"))
        return None
    lines = _LINE_BREAK.split(text)
    too_long = [(number, len(line)) for number, line in enumerate(lines, 1)
                if len(line) > MAX_LINE_CHARS]
    if too_long:
        number, length = too_long[0]
        more = f" ({len(too_long)} such lines)" if len(too_long) > 1 else ""
        issues.error("line-length", number, (
            f"line is {length} characters long; the limit is {MAX_LINE_CHARS}{more}; "
            f"NEURON 9 crashes (segmentation fault) in Import3d on lines of about "
            f"35,000 characters, so the file was not handed to NEURON"))
        return None
    return lines


# ---------------------------------------------------------------- SWC


@dataclass(frozen=True)
class _Point:
    line: int
    id: int
    type: int
    radius: float
    parent: int
    xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _check_swc(lines: list[str], issues: _Issues):
    points = [p for p in (_parse_swc_line(n, s, issues) for n, s in enumerate(lines, 1)) if p]
    if not points:
        if not issues.items:
            issues.error("empty", None, "no data points; NEURON's SWC reader fails on such a file")
        return
    _check_swc_ids(points, issues)
    _check_swc_radii(points, issues)
    _check_swc_types(points, issues)


def _parse_swc_line(number: int, line: str, issues: _Issues) -> _Point | None:
    """One data line as a point, None for a comment, a blank line or an error (reported)."""
    data = line.split("#", 1)[0]  # NEURON ignores text after the 7th number; '#' starts a comment
    fields = [f for f in _FIELD_SEP.split(data) if f]
    if not fields:
        return None
    if len(fields) != 7:
        issues.error("field-count", number, (
            f"expected 7 fields (id type x y z radius parent); found {len(fields)}: "
            f"{line.strip()!r}"))
        return None
    names = ("id", "type", "x", "y", "z", "radius", "parent")
    values = []
    for name, field in zip(names, fields):
        value = float(field) if _NUMBER.fullmatch(field) else math.nan
        if not math.isfinite(value):
            issues.error("number", number, (
                f"{name} is not a finite decimal number; found {field!r}"))
            return None
        if name in ("id", "type", "parent") and not value.is_integer():
            issues.error("number", number, f"{name} must be an integer; found {field!r}")
            return None
        values.append(value)
    point = _Point(number, int(values[0]), int(values[1]), values[5], int(values[6]),
                   tuple(values[2:5]))
    if point.id < 0 or point.id > MAX_SWC_ID:
        issues.error("id", number, (
            f"id {point.id} is out of range; allowed 0 to {MAX_SWC_ID} "
            f"(NEURON crashes on negative ids and allocates memory in proportion to the largest)"))
        return None
    return point


def _check_swc_ids(points: list[_Point], issues: _Issues):
    """Ids unique and increasing down the file; parents -1 or an earlier (smaller) id."""
    first_line = {}
    previous = None
    for point in points:
        if point.id in first_line:
            issues.error("duplicate-id", point.line, (
                f"duplicate id {point.id} (first at line {first_line[point.id]}); "
                f"NEURON's SWC reader crashes on duplicate ids"))
            continue
        if previous is not None and point.id < previous.id:
            issues.error("id-order", point.line, (
                f"id {point.id} is smaller than id {previous.id} at line {previous.line}; "
                f"ids must increase down the file (NEURON crashes while re-sorting them)"))
        first_line[point.id] = point.line
        previous = point
    roots = []
    for point in points:
        if point.parent == -1:
            roots.append(point)
        elif point.parent < 0:
            issues.error("parent", point.line, (
                f"parent {point.parent} is not allowed; expected -1 (root) or an existing id"))
        elif point.parent >= point.id:
            issues.error("parent", point.line, (
                f"parent {point.parent} is not smaller than the point's id {point.id}; "
                f"NEURON requires every parent to have a smaller id (this also rules out cycles)"))
        elif point.parent not in first_line:
            issues.error("parent", point.line, (
                f"parent id {point.parent} is not the id of any valid point; NEURON does "
                f"not detect this and silently attaches the branch elsewhere"))
    if len(roots) > 1:
        where = ", ".join(str(p.line) for p in roots[:10])
        issues.error("roots", roots[1].line, (
            f"{len(roots)} roots (points with parent -1) at lines {where}; expected one tree; "
            f"NEURON silently joins the extra trees to the first root with an invented "
            f"straight section"))


def _check_swc_radii(points: list[_Point], issues: _Issues):
    """Zero radius breaks the cable (NaN voltages); NEURON takes |r| for a negative one."""
    zero = [p for p in points if p.radius == 0]
    negative = [p for p in points if p.radius < 0]
    if zero:
        issues.error("radius", zero[0].line, (
            f"{len(zero)} point(s) with radius 0 (first at line {zero[0].line}); "
            f"radius must be > 0: NEURON builds 0-diameter segments and a section whose "
            f"points all have radius 0 makes every voltage NaN"))
    if negative:
        issues.warning("radius", negative[0].line, (
            f"{len(negative)} point(s) with a negative radius (first at line "
            f"{negative[0].line}: {negative[0].radius:g}); NEURON uses the absolute value"))


def _check_swc_types(points: list[_Point], issues: _Issues):
    by_type: dict[int, list[_Point]] = defaultdict(list)
    for point in points:
        by_type[point.type].append(point)
    allowed = ", ".join(f"{code} {name}" for code, name in SWC_TYPES.items())
    for code in sorted(set(by_type) - set(SWC_TYPES)):
        found = by_type[code]
        sections, seclist = (f"minus_{-code}", f"minus_{-code}set") if code < 0 else (
            f"dend_{code}", f"dendritic_{code}")
        issues.error("type", found[0].line, (
            f"type code {code} on {len(found)} point(s) (first at line {found[0].line}); "
            f"allowed: {allowed}; NEURON's Import3d would put them into sections {sections} "
            f"and a SectionList {seclist} that the cell template does not declare, which "
            f"crashes NEURON (segmentation fault)"))
    if 1 not in by_type:
        issues.error("soma", None, (
            "no soma: no point has type 1; cellsweep needs a soma for distances and "
            "recordings (NEURON would build the cell without one)"))
    else:
        root = next((p for p in points if p.parent == -1), None)
        if root is not None and root.type != 1:
            issues.warning("soma", root.line, (
                f"the root point has type {root.type}, not 1 (soma); NEURON makes the soma "
                f"a child of another section"))


# ---------------------------------------------------------------- Neurolucida ASC


@dataclass(frozen=True)
class _Token:
    kind: str  # "(", ")", "string", "number", "label", "other"
    text: str
    line: int


def _check_asc(lines: list[str], issues: _Issues):
    """Balanced parentheses, objects NEURON can parse, a soma contour it recognises, typed trees."""
    tokens = _asc_tokens(lines, issues)
    if tokens is None or not _asc_balanced(tokens, issues):
        return
    somas, contours, trees = [], [], 0
    for start, end in _asc_top_level_objects(tokens, issues):
        head = tokens[start + 1]
        if head.kind == "string":
            points = _asc_count_points(tokens, start + 2, end)
            contours.append((head.text, head.line, points))
            if head.text in ASC_SOMA_NAMES and points >= 3:
                somas.append(head.line)
        elif head.kind == "(":
            trees += _asc_check_tree(tokens, start, end, issues)
        elif head.kind != "label":  # a label starts a marker, a property or a set
            issues.error("syntax", head.line, (
                f"object starts with {head.text!r}; expected a contour name, a property or "
                f"a tree; NEURON's reader stops with a parse error here and silently ignores "
                f"the rest of the file"))
    if not somas:
        found = "; ".join(f"{name!r} at line {line} ({points} points)"
                          for name, line, points in contours[:10]) or "no contours"
        names = ", ".join(repr(name) for name in ASC_SOMA_NAMES)
        issues.error("soma", None, (
            f"no soma: NEURON recognises a soma only as a contour named {names} with at "
            f"least 3 points; found {found}"))
    if not trees:
        issues.error("tree", None, (
            "no tree: a Neurolucida cell needs at least one (Axon), (Dendrite) or "
            "(Apical) tree; found none"))


def _asc_tokens(lines: list[str], issues: _Issues) -> list[_Token] | None:
    """Tokens as NEURON's lexer sees them: ';' starts a comment, strings end on their line."""
    tokens = []
    for number, line in enumerate(lines, 1):
        i = 0
        while i < len(line):
            char = line[i]
            if char in " \t\v\f,":
                i += 1
            elif char == ";":
                break
            elif char in "()":
                tokens.append(_Token(char, char, number))
                i += 1
            elif char == '"':
                end = line.find('"', i + 1)
                if end < 0:
                    issues.error("string", number, (
                        "string has no closing '\"' on its line; NEURON's reader stops "
                        "parsing there and keeps what it has read so far"))
                    return None
                tokens.append(_Token("string", line[i + 1:end], number))
                i = end + 1
            else:
                match = _NUMBER.match(line, i) or _ASC_LABEL.match(line, i)
                if match and match.end() > i:
                    kind = "number" if _NUMBER.fullmatch(match.group()) else "label"
                    tokens.append(_Token(kind, match.group(), number))
                    i = match.end()
                else:
                    tokens.append(_Token("other", char, number))
                    i += 1
    return tokens


def _asc_balanced(tokens: list[_Token], issues: _Issues) -> bool:
    open_lines = []
    for token in tokens:
        if token.kind == "(":
            open_lines.append(token.line)
        elif token.kind == ")":
            if not open_lines:
                issues.error("parenthesis", token.line, (
                    "')' without a matching '('; NEURON's reader stops there and silently "
                    "ignores the rest of the file"))
                return False
            open_lines.pop()
    if open_lines:
        issues.error("parenthesis", open_lines[0], (
            f"'(' opened here is never closed ({len(open_lines)} unclosed at the end of "
            f"the file); NEURON's reader stops with a parse error"))
        return False
    if not tokens:
        issues.error("empty", None, "no objects; NEURON's Neurolucida reader fails on such a file")
        return False
    return True


def _asc_top_level_objects(tokens: list[_Token], issues: _Issues):
    """(start, end) token indices of each top-level '(' ... ')' (end is the ')')."""
    depth = 0
    for index, token in enumerate(tokens):
        if token.kind == "(":
            if depth == 0:
                start = index
            depth += 1
        elif token.kind == ")":
            depth -= 1
            if depth == 0:
                yield start, index
        elif depth == 0:
            issues.error("syntax", token.line, (
                f"{token.text!r} outside any object; NEURON's reader stops here and "
                f"silently ignores the rest of the file"))
            return


def _asc_children(tokens: list[_Token], start: int, end: int):
    """(start, end) of each parenthesised child directly inside tokens[start:end]."""
    depth = 0
    for index in range(start, end):
        token = tokens[index]
        if token.kind == "(":
            if depth == 0:
                child = index
            depth += 1
        elif token.kind == ")":
            depth -= 1
            if depth == 0:
                yield child, index


def _is_point(tokens: list[_Token], start: int) -> bool:
    return tokens[start + 1].kind == "number"


def _asc_count_points(tokens: list[_Token], start: int, end: int) -> int:
    return sum(1 for s, _ in _asc_children(tokens, start, end) if _is_point(tokens, s))


def _asc_check_tree(tokens: list[_Token], start: int, end: int, issues: _Issues) -> int:
    """1 for a tree (typed or not: untyped ones are reported), 0 for a text object."""
    last_property = None
    for child, child_end in _asc_children(tokens, start + 1, end):
        if _is_point(tokens, child):
            if tokens[child_end + 1].kind == "string":
                return 0  # a text object: properties, one point, a string
            break
        if tokens[child + 1].kind == "label":
            last_property = tokens[child + 1]
    else:
        issues.error("syntax", tokens[start].line, (
            "object has properties but no point; NEURON's reader stops with a parse error "
            "here and silently ignores the rest of the file"))
        return 0
    if last_property is None or last_property.text not in ASC_TREE_TYPES:
        found = f"({last_property.text})" if last_property else "no property"
        issues.error("tree-type", tokens[start].line, (
            f"tree has {found} as its last property before its first point; expected "
            f"(Axon), (Dendrite) or (Apical) there; NEURON gives such a tree type 0, which "
            f"crashes the process when it is put into a cell template"))
    return 1


# ---------------------------------------------------------------- topology: what Import3d builds
#
# NEURON 9.0.2's Import3d re-read rule by rule (import3d/read_swc.hoc: mark_branch, sectionify,
# neuromorph_3point_soma, mksection; read_nlcda3.hoc: contour, branch, connect2soma;
# import3d_gui.hoc: chk_valid, set_nameindex, instantiate), so the sections, their parents and
# where on the parent they attach are known without NEURON. tests/cells/
# test_morphology_topology.py builds each test file with NEURON and compares every section.

SECTION_NAMES = {1: "soma", 2: "axon", 3: "dend", 4: "apic"}
NEURITE_NAMES = {2: "axon", 3: "basal", 4: "apical"}
OFF_PLACE = 0.05  # warn when a neurite is attached this far (fraction of L) from its point


@dataclass(frozen=True)
class Import3dSection:
    """One section as Import3d creates it, named as in the cell (``dend[3]``).

    ``logical``: attached by a logical connection (pt3dstyle 1: the 3-D points start at the
    section's own first point, not at the parent). ``length_um`` and ``n3d`` are None for a soma
    made from a Neurolucida contour (Import3d fits a centroid line to it).
    """

    name: str
    type: int
    parent: str | None
    parent_x: float | None
    logical: bool
    length_um: float | None
    n3d: int | None
    # the 3-D points (x, y, z, diam) Import3d gives the section; a contour soma: its contour
    points: tuple = dataclasses.field(default=(), compare=False, repr=False)
    lines: tuple = dataclasses.field(default=(), compare=False, repr=False)  # its own points'


@dataclass(frozen=True)
class Topology:
    """What Import3d makes of a morphology file: its sections, in creation order."""

    path: str
    soma: str  # the soma convention, in words
    soma_shape: str  # how Import3d draws the soma, in words ("" if nothing to say)
    sections: tuple[Import3dSection, ...]
    points: int  # the cell's points in the file (soma and trees)
    warnings: tuple[str, ...]


@dataclass(eq=False)
class _Sec:
    """A section while Import3d's rules are applied. ``points`` (x, y, z, diam) as Import3d
    holds them; the first ``first`` of them are not drawn (a logical connection)."""

    type: int
    points: list
    line: int  # of its first point in the file
    own: int  # how many of the points are the file's own points of this section
    parent: _Sec | None = None
    parent_x: float = 1.0
    first: int = 0
    start: int = 0  # SWC: index of its first own point
    contour: bool = False
    stacked: bool = False  # a further contour of a soma stack: no section of its own
    file_x: float | None = None  # where on the parent the file's parent point lies
    name: str = ""
    lines: list = dataclasses.field(default_factory=list)  # ASC: the line of each own point


def topology_report(path) -> list[str]:
    """Short lines on how NEURON's Import3d builds the cell in ``path`` (a file that passes
    ``check_morphology``): the soma convention, where the neurites attach, sections and lengths
    per type, and a line starting "warning: " for each way the cell NEURON builds differs from
    what the file seems to say. Raises MorphologyError if the file has errors."""
    topo = import3d_topology(path)
    sections = topo.sections
    counts, lengths = defaultdict(int), defaultdict(float)
    for section in sections:
        counts[section.type] += 1
        lengths[section.type] += section.length_um or 0.0
    contour = any(s.type == 1 and s.length_um is None for s in sections)
    per_type = ", ".join(f"{_section_name(t)} {n}" for t, n in sorted(counts.items()))
    length = ", ".join(f"{_section_name(t)} {lengths[t]:.1f}" for t in sorted(counts)
                       if not (t == 1 and contour))
    return [
        f"soma: {topo.soma}: {_count(counts[1], 'soma section')}"
        + (f", {topo.soma_shape}" if topo.soma_shape else ""),
        f"neurites: {_attachments(sections) or 'none'}",
        f"sections: {len(sections)} ({per_type}); {topo.points} points in the file",
        f"length (um): {length}" + (" (soma: a contour, not computed)" if contour else ""),
    ] + [f"warning: {warning}" for warning in topo.warnings]


def import3d_topology(path, tolerate: tuple[str, ...] = ()) -> Topology:
    """The sections NEURON's Import3d builds from ``path``; raises MorphologyError on errors.

    ``tolerate``: kinds of error to pass over (``("type",)``: a non-standard type code, which
    Import3d reads into sections ``dend_<code>`` but cellsweep's cell template cannot hold), so
    that ``cells.morphology_inspect`` can say what Import3d would make of such a file."""
    raise_for_errors(path, [i for i in check_morphology(path) if i.kind not in tolerate])
    issues = _Issues(str(path))
    lines = _read_lines(Path(path), issues)
    if Path(path).suffix.lower() == ".swc":
        points = [p for p in (_parse_swc_line(n, s, issues) for n, s in enumerate(lines, 1)) if p]
        secs, soma, warnings = _swc_sections(points)
    else:
        secs, soma, warnings = _asc_sections(_asc_tokens(lines, issues), issues)
    n_points = sum(sec.own for sec in secs)
    dropped = _drop_degenerate(secs)
    number = defaultdict(int)
    for sec in secs:
        if not sec.stacked:
            sec.name = f"{_section_name(sec.type)}[{number[sec.type]}]"
            number[sec.type] += 1
    warnings += _placement_warnings(secs, number[1], dropped)
    sections = tuple(_public(sec) for sec in secs if not sec.stacked)
    return Topology(str(path), *soma, sections, n_points, tuple(warnings))


@dataclass(frozen=True)
class FilePoint:
    """A point as the file writes it, for ``cells.morphology_inspect``. SWC: its id and its
    parent's id. ASC (no ids): numbered 1, 2, ... soma contours first, then the trees in file
    order; the parent is the previous point of its branch (the parent branch's last point for a
    branch's first), -1 for a tree's first point (Import3d wires it to a soma) and a contour's."""

    id: int
    type: int
    x: float
    y: float
    z: float
    diam: float  # 2 |radius| for SWC (NEURON takes |r|)
    parent: int  # -1: none
    line: int
    contour: bool = False  # a point of an ASC soma contour (an outline, not a tree)


def file_points(path) -> list[FilePoint] | None:
    """Every point of the file that can be read (an SWC file with id or parent errors still
    gives its points), or None when none can (unreadable file, broken ASC syntax)."""
    issues = _Issues(str(path))
    lines = _read_lines(Path(path), issues)
    if lines is None:
        return None
    if Path(path).suffix.lower() == ".swc":
        parsed = [p for p in (_parse_swc_line(n, s, issues) for n, s in enumerate(lines, 1)) if p]
        return [FilePoint(p.id, p.type, *p.xyz, 2 * abs(p.radius), p.parent, p.line)
                for p in parsed] or None
    tokens = _asc_tokens(lines, issues)
    if tokens is None or not _asc_balanced(tokens, issues):
        return None
    somas, trees = _asc_objects(tokens, issues)
    out: list[FilePoint] = []
    for sec in somas:
        for k, (point, line) in enumerate(zip(sec.points, sec.lines)):
            out.append(FilePoint(len(out) + 1, 1, *point[:4], out[-1].id if k else -1, line,
                                 contour=True))
    last_id: dict[int, int] = {}  # id(section) -> the id of its last point
    for tree in trees:
        for sec in tree:
            parent = last_id[id(sec.parent)] if sec.parent is not None else -1
            for point, line in zip(sec.points[-sec.own:], sec.lines):
                out.append(FilePoint(len(out) + 1, sec.type, *point[:4], parent, line))
                parent = out[-1].id
            last_id[id(sec)] = parent
    return out or None


def _public(sec: _Sec) -> Import3dSection:
    drawn = sec.points[sec.first:]
    if sec.contour:
        length, n3d = None, None
    elif len(drawn) == 1:  # a one-point root: drawn as a cylinder along x, L = diam
        length, n3d = abs(drawn[0][3]), 3
        x, y, z, d = drawn[0]
        drawn = [(x - abs(d) / 2, y, z, d), (x, y, z, d), (x + abs(d) / 2, y, z, d)]
    else:
        length, n3d = _path_length(drawn), len(drawn)
    return Import3dSection(sec.name, sec.type, sec.parent.name if sec.parent else None,
                           sec.parent_x if sec.parent else None, sec.first == 1, length, n3d,
                           tuple(tuple(p[:4]) for p in drawn), tuple(sec.lines))


def _placement_warnings(secs: list[_Sec], n_somas: int, dropped: list[_Sec]) -> list[str]:
    warnings = []
    if n_somas > 1:
        somas = [s for s in secs if s.type == 1 and not s.stacked]
        part = f"one of {n_somas} contours" if somas[0].contour else (
            f"{_path_length(somas[0].points[somas[0].first:]):.3g} of the soma's "
            f"{sum(_path_length(s.points[s.first:]) for s in somas):.3g} um")
        warnings.append(
            f"the soma is {n_somas} sections, soma[0] to soma[{n_somas - 1}]; 'soma' locations, "
            f"recordings and distances use soma[0]: {part}")
    off = [s for s in secs if s.type != 1 and s.parent is not None and s.parent.type == 1
           and s.file_x is not None and abs(s.file_x - s.parent_x) > OFF_PLACE]
    if off:
        where = "; ".join(f"line {s.line}: at {s.parent.name}({s.parent_x:g}), its point is at "
                          f"{s.parent.name}({s.file_x:.2f})" for s in off[:5])
        warnings.append(
            f"Import3d attaches neurites on interior soma points at 0.5: "
            f"{_count(len(off), 'neurite')} away from {'its' if len(off) == 1 else 'their'} "
            f"point ({where})")
    if secs[0].type != 1:
        warnings.append(
            f"the file's root point (line {secs[0].line}) is not a soma point: the root section "
            f"is {secs[0].name} and the soma hangs on it")
    if dropped:
        where = ", ".join(str(s.line) for s in dropped[:10])
        warnings.append(
            f"Import3d drops {_count(len(dropped), 'section')} of one point or of zero length "
            f"(starting at line {where}); their children hang on their parent instead")
    return warnings


def _attachments(sections) -> str:
    """'axon 1 at soma(0.5); basal 4 at soma(0.5)': neurites (sections of another type than
    their parent, soma excepted) by type and place."""
    by_name = {s.name: s for s in sections}
    one_soma = sum(1 for s in sections if s.type == 1) == 1
    groups: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for section in sections:
        parent = by_name.get(section.parent)
        if section.type == 1 or (parent is not None and parent.type == section.type):
            continue
        if parent is None:
            place = "as the root section"
        elif parent.type == 1:
            place = f"at {'soma' if one_soma else parent.name}({section.parent_x:g})"
        else:
            place = f"on {parent.name}({section.parent_x:g})"
        groups[section.type][place] += 1
    texts = []
    for code, places in sorted(groups.items()):
        name = NEURITE_NAMES.get(code, f"type {code}")
        if len(places) == 1:
            texts.append(f"{name} {sum(places.values())} {next(iter(places))}")
        else:
            texts.append(f"{name} {sum(places.values())}: " + ", ".join(
                f"{n} {place}" for place, n in places.items()))
    return "; ".join(texts)


def _drop_degenerate(secs: list[_Sec]) -> list[_Sec]:
    """Import3d_GUI.chk_valid: a non-root section drawn with one point, or with two equal
    points, is removed; its children take its place on its parent."""
    dropped = []
    for index in range(len(secs) - 1, -1, -1):
        sec = secs[index]
        drawn = [p[:3] for p in sec.points[sec.first:]]
        if sec.parent is None or len(drawn) > 2 or (len(drawn) == 2 and drawn[0] != drawn[1]):
            continue
        del secs[index]
        for child in secs[index:]:
            if child.parent is sec:
                child.parent, child.parent_x, child.file_x = sec.parent, sec.parent_x, None
        dropped.insert(0, sec)
    return dropped


# SWC (read_swc.hoc). Points are indexed in file order, which is id order (checked above).

def _swc_sections(points: list[_Point]) -> tuple[list[_Sec], tuple[str, str], list[str]]:
    n = len(points)
    index = {p.id: i for i, p in enumerate(points)}
    parent = [index[p.parent] if p.parent != -1 else -1 for p in points]
    kind = [p.type for p in points]
    raw = [(*p.xyz, 2 * p.radius) for p in points]
    # mark_branch: a point ends a section unless its count ends up exactly 1
    nchild = [0.0] * n
    to_proximal = [False] * n
    for i, p in enumerate(parent):
        if p < 0:
            continue
        nchild[p] += 1
        if p != i - 1:
            nchild[p] += 0.01
            if (p > 1 and kind[p] != 1 and kind[parent[p]] == 1) or (p == 0 and kind[0] != 1):
                to_proximal[i] = True  # on the first point of a neurite wired to the soma
                nchild[p] = 1
        if kind[p] != kind[i]:
            nchild[p] += 0.01
    soma_children = [0] * n
    for i in range(1, n):
        if kind[i] == 1 and parent[i] >= 0 and kind[parent[i]] == 1:
            soma_children[parent[i]] += 1
    sphere3 = kind.count(1) == 3 and _neuromorpho_soma(raw, parent, nchild)
    if sphere3:
        parent[2] = 1  # as Import3d does, so that the three points stay one section
    for i in range(n - 1):  # a soma point followed by its soma child does not end a section
        if kind[i] == 1 and kind[i + 1] == 1 and parent[i + 1] == i:
            if i == 0 or soma_children[i] <= 1:
                nchild[i] = 1
    secs: list[_Sec] = []
    sec_of = [0] * n
    start = 0
    for end in (i for i in range(n) if nchild[i] != 1):
        sec_of[start:end + 1] = [len(secs)] * (end + 1 - start)
        if not secs:  # the root; of NeuroMorpho's three-point soma only the centre is kept
            own = raw[:1] if sphere3 else raw[:end + 1]
            secs.append(_Sec(kind[0], own, points[0].line, end + 1))
        else:
            psec = secs[sec_of[parent[start]]]
            secs.append(_swc_child(start, raw[start:end + 1], parent, kind, raw, psec,
                                   secs[0], soma_children, points[start].line))
            if to_proximal[start]:
                secs[-1].parent_x, secs[-1].file_x = 0.0, None
        secs[-1].lines = [p.line for p in points[start:end + 1]]
        start = end + 1
    soma, warnings = _swc_soma(points, raw, parent, sphere3, secs)
    return secs, soma, warnings


def _neuromorpho_soma(raw, parent, nchild) -> bool:
    """neuromorph_3point_soma: points 2 and 3 are children of point 1 and have no children,
    all three diameters are equal, and 2 and 3 are together one diameter from 1 (within 1 %)."""
    if parent[1] != 0 or parent[2] != 0 or nchild[1] != 0 or nchild[2] != 0:
        return False
    if not (_same(raw[1][3], raw[0][3]) and _same(raw[2][3], raw[0][3])):
        return False
    spread = math.dist(raw[1][:3], raw[0][:3]) + math.dist(raw[2][:3], raw[0][:3])
    return abs(spread / raw[0][3] - 1) < 0.01


def _swc_child(first, own, parent, kind, raw, psec, root, soma_children, line) -> _Sec:
    """mksection for a section with a parent: the parent's point, then its own points (a
    neurite on a soma section: the parent's point with the neurite's first diameter)."""
    p = parent[first]
    neurite_on_soma = psec.type == 1 and kind[first] != 1
    start = (*raw[p][:3], own[0][3]) if neurite_on_soma else raw[p]
    sec = _Sec(kind[first], [start] + own, line, len(own), parent=psec, start=first)
    several = len(own) > 1
    at = p - psec.start + (1 if psec.parent else 0)  # the parent point in psec.points
    sec.file_x = _arc_fraction(psec.points, at)
    if psec is root and neurite_on_soma and len(root.points) == 1:
        sec.parent_x, sec.first = 0.5, int(several)  # one-point soma: wired to its centre
    elif psec is root and p == 0:
        sec.parent_x = 0.0
        sec.first = int(kind[first] != 1 and soma_children[p] > 1)
    elif psec.type == 1:
        last = psec.start + len(psec.points) - (1 if psec is root else 2)
        if p < last:  # an interior point of a soma section: connected at 0.5
            sec.parent_x = 0.5
            sec.first = int(neurite_on_soma and several)
        elif several and soma_children[p] > 1 and kind[first] != 1:
            sec.first = 1
    return sec


def _swc_soma(points, raw, parent, sphere3, secs) -> tuple[tuple[str, str], list[str]]:
    """The soma convention and shape in words, and what about it deserves a warning."""
    soma = [i for i, p in enumerate(points) if p.type == 1]
    diam = abs(raw[soma[0]][3])
    n_sections = sum(1 for s in secs if s.type == 1)
    sphere = f"a cylinder along x with L = diam = {diam:g} um"
    if soma == [0]:
        return ("one point (a sphere)", sphere), []
    if sphere3:
        offsets = [[b - a for a, b in zip(raw[0][:3], raw[i][:3])] for i in (1, 2)]
        along = " along y" if all(abs(o[0]) + abs(o[2]) < 1e-9 for o in offsets) else ""
        return (f"NeuroMorpho's three-point soma (centre, +-{diam / 2:g} um{along}), read as "
                f"a sphere", sphere), []
    if soma == [0, 1, 2] and parent[1] == 0 and parent[2] == 0:
        return ("three points, centre and two ends, not read as NeuroMorpho's soma", ""), [
            f"the three-point soma is not NeuroMorpho's sphere to Import3d "
            f"({_why_not_neuromorpho(points, raw, parent)}): it makes two soma sections from "
            f"the centre, one to each end point, so soma(0.5) is not the centre and neurites "
            f"on the centre attach at soma[0](0)"]
    if soma[0] != 0:
        return (f"{_count(len(soma), 'point')}, not the file's root", ""), []
    if n_sections > 1:
        return (f"{len(soma)} points that branch", ""), []
    chain = [raw[i][:3] for i in soma]
    length = _path_length(chain)
    if len(soma) >= 4 and math.dist(chain[0], chain[-1]) < 0.25 * length:
        return (f"an outline of {len(soma)} points", f"a cylinder along it, L = {length:.3g} um"), [
            "the soma points trace an outline, which Import3d does not recognise in SWC: it "
            "builds a cylinder along the outline, so the soma's length, area and middle are "
            "not the cell body's"]
    return (f"a chain of {len(soma)} points", f"a cylinder along it, L = {length:.3g} um"), []


def _why_not_neuromorpho(points, raw, parent) -> str:
    hung = [p for i, p in enumerate(points) if i > 2 and parent[i] in (1, 2)]
    if hung:
        return f"a neurite hangs on an end point, line {hung[0].line}"
    if not (_same(raw[1][3], raw[0][3]) and _same(raw[2][3], raw[0][3])):
        return "the three radii differ"
    spread = math.dist(raw[1][:3], raw[0][:3]) + math.dist(raw[2][:3], raw[0][:3])
    return (f"the end points are {spread:.3g} um from the centre together, not one diameter, "
            f"{raw[0][3]:.3g} um")


# Neurolucida ASC (read_nlcda3.hoc): the soma contours become the first sections, then each
# tree's branches, depth first; a tree's root is wired to the middle of a soma.

def _asc_sections(tokens, issues) -> tuple[list[_Sec], tuple[str, str], list[str]]:
    somas, trees = _asc_objects(tokens, issues)
    stacks, previous = [], None  # consecutive contours whose x-y boxes overlap: one soma
    for sec in somas:
        box = _box([sec])
        if stacks and box[0] <= previous[2] and previous[0] <= box[2] and \
                box[1] <= previous[3] and previous[1] <= box[3]:
            stacks[-1].append(sec)
            sec.stacked = True
        else:
            stacks.append([sec])
        previous = box
    boxes = [_box(group, margin=0.5 if len(group) == 1 else 0.0) for group in stacks]
    # the centre Import3d wires trees to: contourcenter (a stack: approximately)
    centres = [[sum(c) / len(group) for c in zip(*(_contour_centre(s.points) for s in group))]
               for group in stacks]
    warnings = []
    for root in (tree[0] for tree in trees if tree):
        x, y, z = root.points[0][:3]
        inside = [k for k, b in enumerate(boxes) if b[0] <= x <= b[2] and b[1] <= y <= b[3]]
        k = inside[0] if inside else min(
            range(len(centres)), key=lambda j: math.dist(centres[j], (x, y, z)))
        b = boxes[k]
        gap = math.hypot(max(b[0] - x, 0, x - b[2]), max(b[1] - y, 0, y - b[3]))
        if not inside and (len(stacks) > 1 or gap > max(b[2] - b[0], b[3] - b[1]) / 2):
            # (a tree that starts just outside the box, as many do, is wired the same way)
            warnings.append(
                f"the tree starting at line {root.line} begins {gap:.3g} um outside the soma "
                f"contours' boxes; Import3d wires it to the middle of the nearest soma, "
                f"soma[{k}](0.5), all the same")
        root.parent, root.parent_x, root.first = stacks[k][0], 0.5, 1
        root.points.insert(0, (*centres[k], 0.01))
    if len(stacks) > 1:
        soma = (f"{len(stacks)} separate contours (Neurolucida)", "")
    elif len(stacks[0]) > 1:
        soma = (f"a stack of {len(stacks[0])} contours (Neurolucida)",
                "a 3-D point per contour")
    else:
        soma = (f"a contour of {len(somas[0].points)} points (Neurolucida)",
                "a centroid line fitted to it")
    return somas + [sec for tree in trees for sec in tree], soma, warnings


def _asc_objects(tokens, issues) -> tuple[list[_Sec], list[list[_Sec]]]:
    """The soma contours (sections of type 1) and the typed trees (each a list of sections,
    depth first), in file order, as read_nlcda3.hoc reads them."""
    somas, trees = [], []
    for start, end in _asc_top_level_objects(tokens, issues):
        head = tokens[start + 1]
        if head.kind == "string" and head.text in ASC_SOMA_NAMES:
            spans = [(s, e) for s, e in _asc_children(tokens, start + 2, end)
                     if _is_point(tokens, s)]
            points = [_asc_point(tokens, s, e) for s, e in spans]
            if len(points) >= 3:
                somas.append(_Sec(1, points, head.line, len(points), contour=True,
                                  lines=[tokens[s + 1].line for s, _ in spans]))
        elif head.kind == "(" and _asc_tree_type(tokens, start, end):
            tree: list[_Sec] = []
            trees.append(tree)
            _asc_branch(tokens, start + 1, end, _asc_tree_type(tokens, start, end), None, tree)
    return somas, trees


def _asc_tree_type(tokens, start, end) -> int:
    """The tree's type code from its last property before the first point; 0 for a text."""
    last = None
    for child, child_end in _asc_children(tokens, start + 1, end):
        if _is_point(tokens, child):
            if tokens[child_end + 1].kind == "string":
                return 0
            break
        if tokens[child + 1].kind == "label":
            last = tokens[child + 1].text
    return ASC_TREE_TYPES.index(last) + 2 if last in ASC_TREE_TYPES else 0


def _asc_branch(tokens, start, end, kind, parent, out):
    """Append the section of the branch in tokens[start:end], then its children's, to ``out``:
    its points, then a split '( branch | branch ... )'; markers and spines '<...>' are skipped."""
    points, split, line, lines = [], None, 0, []
    spines = [i for i in range(start, end) if tokens[i].text in ("<", ">")]
    for child, child_end in _asc_children(tokens, start, end):
        head = tokens[child + 1]
        if bisect.bisect(spines, child) % 2:
            continue  # inside '<' ... '>'
        if head.kind == "number":
            points.append(_asc_point(tokens, child, child_end))
            lines.append(head.line)
            line = line or head.line
        elif head.kind == "(" and points and split is None:
            split = (child + 1, child_end)
    if not points:
        return
    own = len(points)
    if parent is not None and parent.points[-1][:3] != points[0][:3]:
        points.insert(0, (*parent.points[-1][:3], points[0][3]))  # need_extra
    sec = _Sec(kind, points, line, own, parent=parent, lines=lines)
    out.append(sec)
    if split:
        lo, depth = split[0], 0
        for i in range(*split):
            depth += {"(": 1, ")": -1}.get(tokens[i].kind, 0)
            if depth == 0 and tokens[i].text == "|":
                _asc_branch(tokens, lo, i, kind, sec, out)
                lo = i + 1
        _asc_branch(tokens, lo, split[1], kind, sec, out)


def _asc_point(tokens, start, end) -> tuple:
    """(x, y, z, diameter) of a point '(x y [z [d]] ...)'; z and d default to 0."""
    values = [float(t.text) for t in tokens[start + 1:end] if t.kind == "number"][:4]
    return tuple(values + [0.0] * (4 - len(values)))


def _contour_centre(points) -> list[float]:
    """Import3d_Section.contourcenter: the mean of ``contour_samples``."""
    samples = contour_samples(points)
    return [sum(p[c] for p in samples) / len(samples) for c in range(3)]


def contour_samples(points) -> list[tuple[float, float, float]]:
    """The 101 points Import3d_Section.contourcenter puts evenly (in x-y) along a contour from
    its first point to its last (the closing side is not sampled)."""
    arc = [0.0]
    for a, b in zip(points, points[1:]):
        arc.append(arc[-1] + math.dist(a[:2], b[:2]))
    samples = []
    j = 0
    for k in range(101):
        s = arc[-1] * k / 100
        while j < len(arc) - 2 and arc[j + 1] < s:
            j += 1
        w = (s - arc[j]) / (arc[j + 1] - arc[j]) if arc[j + 1] > arc[j] else 0.0
        samples.append(tuple(points[j][c] + w * (points[j + 1][c] - points[j][c])
                             for c in range(3)))
    return samples


def _box(group, margin=0.0) -> tuple[float, float, float, float]:
    xs = [p[0] for sec in group for p in sec.points]
    ys = [p[1] for sec in group for p in sec.points]
    return min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin


# ---------------------------------------------------------------- small helpers


def _path_length(points) -> float:
    return sum(math.dist(a[:3], b[:3]) for a, b in zip(points, points[1:]))


def _arc_fraction(points, index) -> float:
    """Where points[index] lies along the line through ``points`` (0 to 1; 0.5 for one point)."""
    total = _path_length(points)
    return _path_length(points[:index + 1]) / total if total > 0 else 0.5


def _same(a: float, b: float) -> bool:
    return abs(a - b) < 1e-11  # hoc's == (float_epsilon)


def _section_name(code: int) -> str:
    if code in SECTION_NAMES:
        return SECTION_NAMES[code]
    return f"minus_{-code}" if code < 0 else f"dend_{code}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
