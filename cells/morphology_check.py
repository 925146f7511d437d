"""Checks a morphology file before NEURON's Import3d reads it.

Import3d (NEURON 9) crashes the whole process on some malformed input (segmentation fault on a
line of about 35,000 characters, on duplicate or unordered SWC ids, on a type code it has no
SectionList for) and silently invents geometry on other input (a missing parent or a second
root gets wired to the first root). These checks are pure Python, so the launcher can refuse a
bad file on one process before any simulation starts. They are conservative: a file passes
only if NEURON is known to read it the way the file means it.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
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
            self.items.append(MorphologyIssue(self.path, line, severity, message))

    def error(self, kind: str, line: int | None, message: str):
        self.add(kind, line, "error", message)

    def warning(self, kind: str, line: int | None, message: str):
        self.add(kind, line, "warning", message)

    def finish(self) -> list[MorphologyIssue]:
        for kind, count in self._count.items():
            if count > MAX_ISSUES_PER_KIND:
                self.items.append(MorphologyIssue(
                    self.path, None, self._severity[kind],
                    f"{count - MAX_ISSUES_PER_KIND} more {kind} problems not listed"))
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
    point = _Point(number, int(values[0]), int(values[1]), values[5], int(values[6]))
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
