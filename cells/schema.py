"""Reading nested config mappings key by key, collecting every problem with its key path.

Why not a schema library: we want one message per problem in the form
``file: key.path: what is wrong; what was found; what is allowed``, unknown keys reported with
a "did you mean", and every problem of a file listed in one pass. ``Section`` does exactly that
and nothing more.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import re
import reprlib
from dataclasses import dataclass
from pathlib import Path

from cellsweep.cells.errors import ConfigError, Problem

REQUIRED = object()
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def join_path(path: str, key) -> str:
    """Append a key to a dotted key path, bracketing keys that are not identifiers."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.match(str(key)):
        return f"{path}.{key}" if path else str(key)
    return f"{path}[{key!r}]"


def did_you_mean(word: str, choices) -> str:
    close = closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


def closest(word: str, choices) -> str:
    """The choice closest to ``word`` ("" if none is close)."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return close[0] if close else ""


def type_name(value) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


QUOTE_LIMIT = 80
_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = QUOTE_LIMIT
_SHORT_REPR.maxlong = QUOTE_LIMIT * 10


def quote(value, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for a message, cut at ``limit`` characters with "…" and the full length:
    a user's value can be a megabyte string, a 400-digit number or a deep structure, and is
    never printed whole (nor its whole repr built)."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… ({len(value)} characters in all)"
    if isinstance(value, int) and not isinstance(value, bool):
        digits = len(str(abs(value))) if value.bit_length() < 14_000 else None
        if digits is not None and digits <= limit:
            return repr(value)
        return (f"{str(value)[:limit]}… ({digits} digits in all)" if digits is not None
                else "an integer of more than 4000 digits")
    text = _SHORT_REPR.repr(value)
    if len(text) <= limit:
        return text
    count = len(value) if isinstance(value, (list, dict, tuple)) else None
    size = f" ({count} item{'' if count == 1 else 's'} in all)" if count is not None else ""
    return f"{text[:limit]}…{size}"


class Problems:
    """Collects the problems (``Problem``) found in one source file; raises them together."""

    def __init__(self, source: str):
        self.source = source
        self.items: list[Problem] = []

    def add(self, path: str, message: str, suggestion: str = "") -> None:
        self.items.append(Problem(self.source, path, message, suggestion))

    def extend(self, error: ConfigError) -> None:
        """Keep collecting after a ``ConfigError`` from another reader."""
        self.items.extend(error.details)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


class Section:
    """A mapping at ``path``; each accessor records the key as known, ``finish`` reports the rest."""

    def __init__(self, value, path: str, problems: Problems):
        self.path = path
        self.problems = problems
        self.known: set[str] = _KnownKeys(path, problems)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            problems.add(path, f"expected a mapping, found {type_name(value)}")
            value = {}
        self.data = value

    # -- helpers -----------------------------------------------------------------------------
    def key_path(self, key) -> str:
        return join_path(self.path, key)

    def has(self, key: str) -> bool:
        self.known.add(key)
        return key in self.data

    def error(self, key, message: str) -> None:
        self.problems.add(self.key_path(key) if key is not None else self.path, message)

    def _get(self, key: str, default):
        self.known.add(key)
        if key in self.data and self.data[key] is not None:
            return True, self.data[key]
        if default is REQUIRED:
            self.error(key, "missing required key")
            return False, None          # never hand the sentinel to callers (float(REQUIRED))
        return False, default

    # -- typed accessors ---------------------------------------------------------------------
    def raw(self, key: str, default=None):
        return self._get(key, default)[1]

    def number(self, key: str, default=REQUIRED, *, gt=None, ge=None, lt=None, le=None,
               integer=False):
        found, value = self._get(key, default)
        if not found:
            return value
        return check_number(value, self.key_path(key), self.problems, gt=gt, ge=ge, lt=lt, le=le,
                            integer=integer, default=default)

    def string(self, key: str, default=REQUIRED, *, choices=None):
        found, value = self._get(key, default)
        if not found:
            return value
        if not isinstance(value, str):
            self.error(key, f"expected a string, found {type_name(value)} {quote(value)}")
            return None if default is REQUIRED else default
        if choices is not None and value not in choices:
            self.error(key, f"unknown value {quote(value)}; expected one of {', '.join(choices)}"
                       + did_you_mean(value, choices))
            return None if default is REQUIRED else default
        return value

    def boolean(self, key: str, default=REQUIRED):
        found, value = self._get(key, default)
        if not found:
            return value
        if not isinstance(value, bool):
            self.error(key, f"expected true or false, found {quote(value)}")
            return None if default is REQUIRED else default
        return value

    def section(self, key: str, required=False) -> Section:
        found, value = self._get(key, REQUIRED if required else None)
        return Section(value if found else {}, self.key_path(key), self.problems)

    def sequence(self, key: str, default=REQUIRED) -> list:
        found, value = self._get(key, default)
        if not found:
            return [] if value is REQUIRED or value is None else value
        if not isinstance(value, list):
            self.error(key, f"expected a list, found {type_name(value)}")
            return []
        return value

    def items(self):
        """Iterate over every key (all count as known): for mappings keyed by user names."""
        _mark_named(self.path)
        self.known.update(self.data.keys())
        return list(self.data.items())

    def finish(self) -> None:
        for key in self.data:
            if key not in self.known:
                close = closest(key, sorted(self.known))
                self.problems.add(
                    self.key_path(key),
                    "unknown key" + (f" (allowed: {', '.join(sorted(self.known))})"
                                     if self.known and not close else ""),
                    f"did you mean {close!r}?" if close else "")


# -- which keys the reader accepts (docs/CONFIG.md is checked against this) -------------------
_recorders: list[KeyRecorder] = []
_TOKEN = re.compile(r"""\.?([A-Za-z_][A-Za-z0-9_]*)               # .identifier
                        | \[(-?\d+)\]                             # [index]
                        | (\['(?:[^'\\]|\\.)*'\] | \["(?:[^"\\]|\\.)*"\])  # ['other key']
                     """, re.X)


class KeyRecorder:
    """What ``record_known_keys`` collects: ``keys``, a set of ``(source, pattern, key)`` for
    every key a ``Section`` marked as known, where ``pattern`` is the section's key path with
    user-chosen names (keys of mappings read with ``items()``) as ``<name>`` and list indices
    as ``[]``; such names themselves are recorded as the key ``<name>``."""

    def __init__(self):
        self.keys: set[tuple[str, str, str]] = set()
        self.named: set[str] = set()           # patterns of mappings keyed by user names

    def pattern(self, path: str) -> str:
        out, pos = "", 0
        while pos < len(path):
            m = _TOKEN.match(path, pos)
            if m is None:                      # not a path join_path makes: keep it as it is
                return out + path[pos:]
            name, index, quoted = m.groups()
            if out in self.named:
                out = f"{out}.<name>" if out else "<name>"
            elif index is not None:
                out += "[]"
            elif name is not None:
                out = f"{out}.{name}" if out else name
            else:
                out += quoted
            pos = m.end()
        return out

    @staticmethod
    def dotted(pattern: str, key: str) -> str:
        """The full key path of a recorded ``(pattern, key)``: ``protocols.<name>.tstop_ms``."""
        return f"{pattern}.{key}" if pattern else key


@contextlib.contextmanager
def record_known_keys():
    """While active, collect every key that a ``Section`` accessor (or a reader, directly)
    marks as known; yields the ``KeyRecorder``."""
    recorder = KeyRecorder()
    _recorders.append(recorder)
    try:
        yield recorder
    finally:
        _recorders.remove(recorder)


@contextlib.contextmanager
def not_config_keys():
    """While active, keys read are not recorded by ``record_known_keys``: for files of another
    format read with ``Section`` (a DendroTweaks folder's JSON), documented elsewhere."""
    saved = list(_recorders)
    _recorders.clear()
    try:
        yield
    finally:
        _recorders.extend(saved)


def _mark_named(path: str) -> None:
    for recorder in _recorders:
        recorder.named.add(recorder.pattern(path))


class _KnownKeys(set):
    """``Section.known``: a set that also reports the keys added to it to active recorders."""

    def __init__(self, path: str, problems: Problems):
        super().__init__()
        self.path, self.problems = path, problems

    def add(self, key) -> None:
        super().add(key)
        if _recorders:
            self._report((key,))

    def update(self, *groups) -> None:
        keys = [key for group in groups for key in group]
        super().update(keys)
        if _recorders:
            self._report(keys)

    def _report(self, keys) -> None:
        source = str(getattr(self.problems, "source", ""))
        for recorder in _recorders:
            pattern = recorder.pattern(self.path)
            named = pattern in recorder.named
            recorder.keys.update((source, pattern, "<name>" if named else str(key))
                                 for key in keys)


def check_bounds(low, high, log, path, problems) -> bool:
    """``low < high`` (both positive when log-scaled); report at ``path`` otherwise."""
    if not low < high:
        problems.add(path, f"expected low < high, found low={low:g}, high={high:g}")
        return False
    if log and low <= 0:
        problems.add(path, f"log-scaled bounds must be positive, found low={low:g}")
        return False
    return True


def check_number(value, path, problems, *, gt=None, ge=None, lt=None, le=None, integer=False,
                 default=None):
    """Validate a number at ``path``; returns it as float (or int), or ``default`` on error."""
    bad = None if default is REQUIRED else default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.add(path, f"expected a number, found {type_name(value)} {quote(value)}")
        return bad
    if not _finite(value):
        problems.add(path, f"expected a finite number, found {quote(value)}")
        return bad
    if integer and int(value) != value:
        problems.add(path, f"expected a whole number, found {quote(value)}")
        return bad
    for op, bound, text in ((gt, gt, ">"), (ge, ge, ">="), (lt, lt, "<"), (le, le, "<=")):
        if bound is None:
            continue
        ok = {">": value > bound, ">=": value >= bound, "<": value < bound,
              "<=": value <= bound}[text]
        if not ok:
            problems.add(path, f"expected a value {text} {bound:g}, found {quote(value)}")
            return bad
    return int(value) if integer else float(value)


def _finite(value) -> bool:
    """``math.isfinite`` that also answers for an int too large for a float (400 digits)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


# -- YAML ------------------------------------------------------------------------------------
MAX_YAML_DEPTH = 100          # levels of nested mappings and lists (and the scalars in them)
MAX_YAML_VALUES = 100_000     # scalars, lists and mappings in a document once aliases expand
MAX_YAML_KEY = 200            # characters in a mapping key (it is quoted in every key path)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT_TAG = "tag:yaml.org,2002:int"


class _Refused(Exception):
    """Valid YAML that we refuse to read: at ``mark`` (a yaml Mark), key ``path``."""

    def __init__(self, mark, path: str, message: str):
        super().__init__(message)
        self.mark, self.path, self.message = mark, path, message


def _yaml_loader():
    """A safe loader that also reads ``1e-5`` as a number (YAML 1.1 wants ``1.0e-5``), and
    refuses what a hand-written config never needs and a hostile one uses: a key twice in one
    mapping (YAML would keep the last silently), nesting deeper than ``MAX_YAML_DEPTH``
    (the composer recurses), anchors and aliases that expand to more than ``MAX_YAML_VALUES``
    values ("billion laughs") or into themselves, keys longer than ``MAX_YAML_KEY`` and
    integers too large for a float."""
    import yaml

    class Loader(yaml.SafeLoader):
        def __init__(self, stream):
            super().__init__(stream)
            self._depth = 0

        def compose_node(self, parent, index):
            self._depth += 1
            try:
                if self._depth > MAX_YAML_DEPTH:
                    raise _Refused(self.peek_event().start_mark, "", _too_deep(""))
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def get_single_data(self):
            node = self.get_single_node()
            if node is None:
                return None
            _check_yaml_tree(self, node)
            return self.construct_document(node)

    float_re = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                            |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                            |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                            |[-+]?\.(?:inf|Inf|INF)
                            |\.(?:nan|NaN|NAN))$""", re.X)
    Loader.yaml_implicit_resolvers = {
        k: [(tag, r) for tag, r in v if tag != "tag:yaml.org,2002:float"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", float_re,
                                 list("-+0123456789."))
    return Loader


def _too_deep(how: str) -> str:
    return (f"nested more than {MAX_YAML_DEPTH} levels deep{how}; expected at most "
            f"{MAX_YAML_DEPTH} levels of mappings and lists")


def _check_yaml_tree(loader, root) -> None:
    """Walk the composed node graph once (aliases are shared nodes; each is visited once and
    its size remembered) before anything is constructed; raise ``_Refused`` on the first
    problem. Recursion is bounded by ``MAX_YAML_DEPTH``."""
    import yaml

    done: dict[int, tuple[int, int]] = {}     # id(node) -> (values once expanded, height)
    active: set[int] = set()

    def visit(node, path: str, depth: int) -> int:
        seen = done.get(id(node))
        if seen is not None:                  # an alias of a value already checked
            if depth + seen[1] > MAX_YAML_DEPTH:
                raise _Refused(node.start_mark, path, _too_deep(" once aliases are expanded"))
            return seen[0]
        if id(node) in active:
            raise _Refused(node.start_mark, path,
                           "an alias refers to a value that contains it; expected anchors "
                           "and aliases that do not repeat a value inside itself")
        if depth > MAX_YAML_DEPTH:
            raise _Refused(node.start_mark, path, _too_deep(" once aliases are expanded"))
        active.add(id(node))
        count, height = 1, 0
        if isinstance(node, yaml.MappingNode):
            first: dict = {}
            for key_node, value_node in node.value:
                child = path
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                    ident = (key_node.tag, key_node.value)
                    if ident in first:
                        raise _Refused(
                            key_node.start_mark, path,
                            f"key {quote(key_node.value)} appears twice in one mapping (first "
                            f"at line {first[ident].line + 1}); expected each key once")
                    first[ident] = key_node.start_mark
                    if len(key_node.value) > MAX_YAML_KEY:
                        raise _Refused(key_node.start_mark, path,
                                       f"key {quote(key_node.value)} is too long; expected a "
                                       f"key of at most {MAX_YAML_KEY} characters")
                    child = join_path(path, key_node.value)
                for sub in (key_node, value_node):
                    count += visit(sub, child, depth + 1)
                    height = max(height, done[id(sub)][1] + 1)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                count += visit(item, join_path(path, index), depth + 1)
                height = max(height, done[id(item)][1] + 1)
        elif node.tag == _INT_TAG:
            _check_int(loader, node, path)
        active.discard(id(node))
        if count > MAX_YAML_VALUES:
            raise _Refused(node.start_mark, path,
                           f"anchors and aliases expand this value to more than "
                           f"{MAX_YAML_VALUES} values; expected at most {MAX_YAML_VALUES} "
                           f"values once aliases are expanded")
        done[id(node)] = (count, height)
        return count

    visit(root, "", 1)


def _check_int(loader, node, path: str) -> None:
    """An integer must fit a float: every number in a config is used as one."""
    try:
        finite = _finite(loader.construct_yaml_int(node))
    except ValueError:                        # beyond Python's 4300-digit conversion limit
        finite = False
    if not finite:
        text = node.value
        if len(text) > QUOTE_LIMIT:
            text = f"{text[:QUOTE_LIMIT]}… ({len(node.value)} characters in all)"
        raise _Refused(node.start_mark, path, f"number {text} is too large; expected a finite "
                                              f"number (at most about 1.8e308)")


@dataclass(frozen=True)
class ConfigSource:
    """A config file read once: its path, the exact text, and that text parsed. Everything
    downstream (validation, the signature, the text stored in the results file) uses these,
    so what is stored is exactly what was validated."""

    path: Path
    text: str
    data: dict

    @classmethod
    def read(cls, path) -> "ConfigSource":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError([f"{path}: file not found"]) from None
        except IsADirectoryError:
            raise ConfigError([f"{path}: is a directory; expected a YAML config file"]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{path}: cannot read the file ({exc})"]) from None
        return cls(path=path, text=text, data=parse_yaml(text, path))


def as_source(config) -> ConfigSource:
    """A ``ConfigSource`` from a path (read now) or a source (as it is)."""
    return config if isinstance(config, ConfigSource) else ConfigSource.read(config)


def load_yaml(path) -> dict:
    """Load one YAML config safely; a syntax error becomes a ConfigError naming file and line."""
    return ConfigSource.read(path).data


def parse_yaml(text: str, path) -> dict:
    """Parse a config's text (``path`` names it in messages); the top level is a mapping."""
    data = parse_yaml_value(text, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping at the top level, found {type_name(data)}"])
    return data


def parse_yaml_value(text: str, path):
    """Any YAML document (a list too), with every bound of the config loader: duplicate keys,
    nesting, alias expansion, huge numbers."""
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except _Refused as exc:
        where = f"{path}:{exc.mark.line + 1}" if exc.mark else str(path)
        raise ConfigError([Problem(where, exc.path, exc.message)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
