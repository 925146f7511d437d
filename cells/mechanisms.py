"""NMODL mechanism sets: what they define, compiling them once per content hash, loading them.

A model's ``.mod`` folder is compiled with ``nrnivmodl`` into a cache directory keyed by the hash of
the files' contents, the NEURON version and the machine (never into the source folder). A file
lock makes concurrent processes (local workers, MPI ranks on one node) wait for the one that
builds; launchers may also build on one rank first and broadcast the outcome. The build happens in
a temporary directory that is renamed into place, so a killed build never leaves a half-built
library that looks finished. A failed build keeps only nrnivmodl's whole output, in
``<cache>/mechanisms/<key>.log`` (and the lock file); ``CompileError.failures`` are the lines
that name the failing files. A fixed file changes the key, so it is compiled afresh.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from cellsweep.cells.errors import MechanismError

# NEURON's own mechanisms that configs commonly use, with their settable names (checked
# against NEURON itself by tests/cells/test_mechanisms.py).
BUILTIN_DENSITY = {
    "pas": {"range": ["g", "e", "i"], "global": []},
    "hh": {"range": ["gnabar", "gkbar", "gl", "el", "gna", "gk", "il", "m", "h", "n"],
           "global": []},
    "extracellular": {"range": [], "global": []},
}
ION_VARIABLES = {ion: [f"e{ion}", f"{ion}i", f"{ion}o", f"i{ion}"] for ion in ("na", "k", "ca", "cl")}
# NEURON's own point processes: their PARAMETERs (settable per instance, checked against
# NEURON's MechanismStandard by tests/cells/test_bad_model_input.py), and which of them can
# receive a NetCon's events (a NET_RECEIVE block: what a ``synapses`` stimulus needs)
BUILTIN_POINT_PARAMETERS = {
    "IClamp": ("del", "dur", "amp"),
    "SEClamp": ("rs", "dur1", "amp1", "dur2", "amp2", "dur3", "amp3"),
    "VClamp": ("dur", "amp", "gain", "rstim", "tau1", "tau2", "e0", "vo0", "vi0", "fac"),
    "ExpSyn": ("tau", "e"),
    "Exp2Syn": ("tau1", "tau2", "e"),
    "AlphaSynapse": ("onset", "tau", "gmax", "e"),
    "NetStim": ("interval", "number", "start", "noise"),
}
BUILTIN_POINT = set(BUILTIN_POINT_PARAMETERS)
BUILTIN_RECEIVERS = {"ExpSyn", "Exp2Syn"}
SECTION_VARIABLES = {"cm", "Ra", "diam"}  # settable without inserting anything ("L" is geometry)
# units of NEURON's own variables (a .mod file's come from its declarations)
BUILTIN_UNITS = {"cm": "uF/cm2", "Ra": "ohm cm", "diam": "um", "g_pas": "S/cm2", "e_pas": "mV",
                 "i_pas": "mA/cm2", "gnabar_hh": "S/cm2", "gkbar_hh": "S/cm2", "gl_hh": "S/cm2",
                 "el_hh": "mV", "gna_hh": "S/cm2", "gk_hh": "S/cm2", "il_hh": "mA/cm2",
                 "celsius": "degC", "v_init": "mV", "v": "mV",
                 **{f"e{ion}": "mV" for ion in ION_VARIABLES},
                 **{f"{ion}{side}": "mM" for ion in ION_VARIABLES for side in "io"},
                 **{f"i{ion}": "mA/cm2" for ion in ION_VARIABLES}}


@dataclass(frozen=True)
class Mechanism:
    """What one mechanism offers to configs: its name and settable variable names."""

    name: str
    kind: str                 # "density" | "point" | "artificial"
    range_names: tuple        # without the suffix
    global_names: tuple
    ions: tuple               # ions it uses (their e<ion> etc. become settable)
    source: str = ""          # file that defines it ("" for NEURON built-ins)
    units: tuple = ()         # ((variable without suffix, units), ...) as the file declares them
    receives_events: bool = False   # has a NET_RECEIVE block (a NetCon can target it)
    parameters: tuple = ()    # names declared in its PARAMETER block

    def full_range_names(self) -> list[str]:
        return [f"{n}_{self.name}" for n in self.range_names]

    def full_global_names(self) -> list[str]:
        return [f"{n}_{self.name}" for n in self.global_names]


@dataclass
class MechanismSet:
    """Every mechanism available to a model: NEURON's built-ins plus a folder of .mod files."""

    directory: Path | None
    mechanisms: dict = field(default_factory=dict)

    def density(self) -> dict:
        return {k: m for k, m in self.mechanisms.items() if m.kind == "density"}

    def point_processes(self) -> set:
        return {k for k, m in self.mechanisms.items() if m.kind != "density"}

    def synapses(self) -> list:
        """Point processes a NetCon can target (not artificial cells): what ``synapse:`` takes."""
        return sorted(k for k, m in self.mechanisms.items()
                      if m.kind == "point" and m.receives_events)

    def range_variables(self) -> dict:
        """Map full range-variable name (``gbar_na_t``, ``ena``) to the mechanism providing it."""
        out = {}
        for mech in self.density().values():
            for full in mech.full_range_names():
                out[full] = mech.name
            for ion in mech.ions:
                for name in ION_VARIABLES.get(ion, [f"e{ion}", f"{ion}i", f"{ion}o"]):
                    out.setdefault(name, f"{ion}_ion")
        return out

    def global_variables(self) -> set:
        return {g for m in self.mechanisms.values() for g in m.full_global_names()}

    def units_of(self, full_name: str) -> str:
        """Units of a variable (``gbar_na_t``, ``ena``, ``celsius``), "" if unknown."""
        if full_name in BUILTIN_UNITS:
            return BUILTIN_UNITS[full_name]
        for mech in self.mechanisms.values():
            suffix = f"_{mech.name}"
            if full_name.endswith(suffix):
                found = dict(mech.units).get(full_name[:-len(suffix)])
                if found is not None:
                    return found
        return ""


# -- parsing -----------------------------------------------------------------------------------
_COMMENT_BLOCK = re.compile(r"^\s*COMMENT\b.*?^\s*ENDCOMMENT\b", re.S | re.M)
_BLOCK = r"\b{name}\b[^{{]*\{{(?P<body>[^}}]*)\}}"


def _strip_comments(text: str) -> str:
    text = _COMMENT_BLOCK.sub("", text)
    return "\n".join(line.split(":", 1)[0] for line in text.splitlines())


_NEURON_KEYWORDS = {"SUFFIX", "POINT_PROCESS", "ARTIFICIAL_CELL", "RANGE", "GLOBAL",
                    "NONSPECIFIC_CURRENT", "ELECTRODE_CURRENT", "USEION", "READ", "WRITE",
                    "VALENCE", "POINTER", "BBCOREPOINTER", "THREADSAFE", "EXTERNAL", "REPRESENTS"}
_KINDS = {"SUFFIX": "density", "POINT_PROCESS": "point", "ARTIFICIAL_CELL": "artificial"}


def _declared_names(body: str) -> list[str]:
    """Names declared in a PARAMETER/STATE/ASSIGNED block (units and limits removed)."""
    body = re.sub(r"\([^)]*\)|<[^>]*>", " ", body)
    return [t for t in re.split(r"[\s=]+", body)
            if re.match(r"^[A-Za-z_]\w*$", t) and t not in ("FROM", "TO")]


_UNIT_DECL = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:=\s*[-+0-9.eE]+\s*)?\(([^)]*)\)", re.M)


def _declared_units(body: str) -> list[tuple[str, str]]:
    """(name, units) of declarations such as ``gbar = 0.1 (S/cm2)`` or ``m (1)``."""
    return [(name, unit.strip()) for name, unit in _UNIT_DECL.findall(body)]


def parse_mod(path: Path) -> Mechanism:
    """Read a .mod file's NEURON block (and PARAMETER/STATE blocks) without compiling it."""
    try:
        text = _strip_comments(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise MechanismError(f"{path}: cannot read ({exc})") from None
    neuron_block = re.search(_BLOCK.format(name="NEURON"), text)
    if not neuron_block:
        raise MechanismError(f"{path}: no NEURON block found; a .mod file must declare "
                             "SUFFIX or POINT_PROCESS in a NEURON { } block")
    kind = name = None
    range_names, global_names, ions = [], [], []
    keyword, expect_ion = None, False
    for token in re.split(r"[\s,]+", neuron_block.group("body")):
        if not token:
            continue
        if token in _NEURON_KEYWORDS:
            keyword, expect_ion = token, token == "USEION"
            continue
        if keyword in _KINDS and name is None:
            kind, name = _KINDS[keyword], token
        elif keyword in ("RANGE", "NONSPECIFIC_CURRENT", "ELECTRODE_CURRENT"):
            range_names.append(token)
        elif keyword == "GLOBAL":
            global_names.append(token)
        elif keyword == "USEION" and expect_ion:
            ions.append(token)
            expect_ion = False
    if name is None:
        raise MechanismError(f"{path}: NEURON block has no SUFFIX, POINT_PROCESS or ARTIFICIAL_CELL")
    units = []
    param_block = re.search(_BLOCK.format(name="PARAMETER"), text)
    parameters = _declared_names(param_block.group("body")) if param_block else []
    for block in ("PARAMETER", "ASSIGNED", "STATE"):
        m = re.search(_BLOCK.format(name=block), text)
        units += _declared_units(m.group("body")) if m else []
    declared = set(range_names) | set(global_names)
    # PARAMETERs not declared RANGE are GLOBAL in NMODL; STATEs are range variables
    for block, target in (("PARAMETER", global_names), ("STATE", range_names)):
        m = re.search(_BLOCK.format(name=block), text)
        for var in _declared_names(m.group("body")) if m else ():
            if var not in declared and var not in ("v", "celsius", "dt", "t"):
                target.append(var)
                declared.add(var)
    return Mechanism(name=name, kind=kind, range_names=tuple(dict.fromkeys(range_names)),
                     global_names=tuple(dict.fromkeys(global_names)), ions=tuple(ions),
                     source=path.name, units=tuple(units),
                     receives_events=re.search(r"\bNET_RECEIVE\b", text) is not None,
                     parameters=tuple(dict.fromkeys(parameters)))


def mod_files(directory: Path) -> list[Path]:
    return sorted(p for p in Path(directory).glob("*.mod") if p.is_file())


def read_mechanism_set(directory: Path | None) -> MechanismSet:
    """The built-ins plus every .mod file in ``directory``; duplicate names are an error."""
    mechs = {name: Mechanism(name, "density", tuple(d["range"]), tuple(d["global"]),
                             ("na", "k") if name == "hh" else ())
             for name, d in BUILTIN_DENSITY.items()}
    for name, params in BUILTIN_POINT_PARAMETERS.items():
        mechs[name] = Mechanism(name, "artificial" if name == "NetStim" else "point", params, (),
                                (), receives_events=name in BUILTIN_RECEIVERS, parameters=params)
    if directory is not None:
        for path in mod_files(directory):
            mech = parse_mod(path)
            if mech.name in mechs:
                where = mechs[mech.name].source or "NEURON's built-in mechanisms"
                raise MechanismError(f"{path}: mechanism {mech.name!r} is already defined by {where}")
            mechs[mech.name] = mech
    return MechanismSet(directory=Path(directory) if directory else None, mechanisms=mechs)


# -- building ----------------------------------------------------------------------------------
def content_hash(directory: Path) -> str:
    """Hash of the .mod contents, NEURON version and machine: the key of a build."""
    digest = hashlib.sha256()
    try:
        neuron_version = metadata.version("neuron")
    except metadata.PackageNotFoundError:
        neuron_version = "unknown"
    digest.update(f"neuron={neuron_version};machine={platform.machine()};".encode())
    for path in mod_files(directory):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def cache_root() -> Path:
    env = os.environ.get("CELLSWEEP_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cellsweep"


def gathered_dir(files) -> Path:
    """One folder holding copies of ``files`` (.mod files of distinct names, from several
    folders): a model's one ``mechanisms_dir`` when its files live apart (a DendroTweaks
    folder's own and those of DendroTweaks' shared ``Default/``). Content-addressed under
    ``<cache>/mod/`` (the same files always give the same folder), written under a temporary
    name and renamed into place while holding the key's lock, as ``build`` does."""
    contents = sorted((Path(p).name, Path(p).read_bytes()) for p in files)
    names = [name for name, _ in contents]
    if len(set(names)) != len(names):
        raise MechanismError(f"gathered_dir: two files share a name ({', '.join(names)})")
    digest = hashlib.sha256()
    for name, data in contents:
        digest.update(name.encode() + b"\0" + data + b"\0")
    key = digest.hexdigest()[:20]
    root = cache_root() / "mod"
    final = root / key
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.is_dir():
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.tmp", dir=root))
        try:
            for name, data in contents:          # the bytes hashed, not a later read
                (tmp / name).write_bytes(data)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def _nrnivmodl() -> str:
    local = Path(sys.executable).parent / "nrnivmodl"
    found = str(local) if local.exists() else shutil.which("nrnivmodl")
    if not found:
        raise MechanismError("nrnivmodl not found next to the Python interpreter or on PATH; "
                             "install NEURON (pip install neuron)")
    return found


def _library(build_dir: Path) -> Path | None:
    for candidate in sorted(build_dir.glob("*/libnrnmech.so")) + \
            sorted(build_dir.glob("*/.libs/libnrnmech.so")):
        return candidate
    return None


def build(directory: Path) -> Path:
    """Compile ``directory``'s .mod files unless a build of the same content exists; return it."""
    directory = Path(directory)
    files = mod_files(directory)
    if not files:
        raise MechanismError(f"{directory}: no .mod files found")
    root = cache_root() / "mechanisms"
    root.mkdir(parents=True, exist_ok=True)
    key = content_hash(directory)
    final = root / key
    if (final / "BUILD_OK").exists():
        return final
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # others wait here for the builder's outcome
        if (final / "BUILD_OK").exists():
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.tmp", dir=root))
        try:
            src = tmp / "mod"
            src.mkdir()
            for path in files:
                shutil.copy2(path, src / path.name)
            proc = subprocess.run([_nrnivmodl(), "mod"], cwd=tmp, capture_output=True, text=True,
                                  env={**os.environ, "NEURON_INIT_MPI": "0"})
            log = root / f"{key}.log"      # nrnivmodl's whole output, kept after a failure
            if proc.returncode != 0 or _library(tmp) is None:
                output = _ANSI.sub("", proc.stdout + proc.stderr)
                log.write_text(f"nrnivmodl {directory} (cache key {key}), exit status "
                               f"{proc.returncode}\n\n{output}", encoding="utf-8")
                raise CompileError(directory, compile_failures(output, files), log)
            log.unlink(missing_ok=True)    # an earlier failure of this content was transient
            (tmp / "BUILD_OK").write_text(key + "\n")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


class CompileError(MechanismError):
    """``nrnivmodl`` refused a mechanism set: ``failures`` are (file, line or None, the
    compiler's own line), one or more per failing file; ``log`` holds its whole output."""

    def __init__(self, directory: Path, failures: list, log: Path):
        self.directory, self.failures, self.log = Path(directory), failures, log
        names = ", ".join(dict.fromkeys(f for f, _, _ in failures))
        lines = "\n  ".join(format_failure(f) for f in failures)
        super().__init__(f"{directory}: nrnivmodl failed in {names}:\n  {lines}\n"
                         f"(the whole compiler output is in {log})")


def format_failure(failure: tuple) -> str:
    name, line, text = failure
    return f"{name}:{line}: {text}" if line else f"{name}: {text}"


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# nocmodl: "Error: Illegal block at line 62 in file k_m.mod" (also "... in file ../mod/k_m.mod")
_NMODL_ERROR = re.compile(r"\bline (\d+) in file (?:\S*/)?([\w.-]+\.mod)\b")
# the C++ compiler on the translated file: "/tmp/.../x86_64/k_m.cpp:503:4: error: ..."
_CXX_ERROR = re.compile(r"(?:\S*/)?([\w.-]+)\.(?:cpp|c):(\d+):(?:\d+:)?\s*(?:fatal )?error:\s*(.*)")
# make naming the target that failed: "make: *** [makemod2c_inc:19: k_m.cpp] Error 1"
_MAKE_FAILED = re.compile(r"\[[^\]]*?([\w.-]+)\.(cpp|c|o)\] Error \d+")


def compile_failures(output: str, files) -> list:
    """(file, line or None, message) for each .mod file ``nrnivmodl``'s output blames: nocmodl's
    own error lines (with the .mod line), the C++ compiler's errors in the code translated from a
    file (with the .mod line when the offending text is found there, as VERBATIM code is), and
    files make gave up on without either. Falls back to the last error-like lines, unattributed."""
    names = {Path(p).name: Path(p) for p in files}
    lines = output.splitlines()
    found: list = []
    used: set = set()                 # lines already attributed to a file
    for i, line in enumerate(lines):
        m = _NMODL_ERROR.search(line)
        if m and m.group(2) in names:
            found.append((m.group(2), int(m.group(1)), line.strip()))
            used.add(i)
            continue
        m = _CXX_ERROR.search(line)
        if m and f"{m.group(1)}.mod" in names:
            name = f"{m.group(1)}.mod"
            mod_line = _mod_line_of(names[name], lines[i + 1:i + 3])
            where = f"in the C++ code translated from it ({m.group(1)}.cpp:{m.group(2)})"
            found.append((name, mod_line, f"error: {m.group(3).strip()} [{where}]"))
            used.add(i)
    blamed = {f for f, _, _ in found}
    for m in _MAKE_FAILED.finditer(output):
        name = f"{m.group(1)}.mod"
        if name in names and name not in blamed:
            step = "translating it" if m.group(2) in ("cpp", "c") else "compiling its C++ code"
            detail = _nearby_errors(lines, used)
            found.append((name, None, f"nrnivmodl failed while {step}"
                                      + (f": {detail}" if detail else "")))
            blamed.add(name)
    if not found:
        detail = _nearby_errors(lines, used) or "no error line recognised"
        found.append(("nrnivmodl", None, detail))
    return found


def _mod_line_of(mod: Path, echoed: list) -> int | None:
    """The .mod line of the C++ compiler's echoed source line (``  505 |   int x = ;``), if it
    occurs there exactly once."""
    for text in echoed:
        m = re.match(r"^\s*\d+\s*\|\s?(.*)$", text)
        if m and m.group(1).strip():
            wanted = m.group(1).strip()
            try:
                source = mod.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                return None
            hits = [n for n, s in enumerate(source, 1) if s.strip() == wanted]
            return hits[0] if len(hits) == 1 else None
    return None


def _nearby_errors(lines: list, used: set) -> str:
    """The last error-like lines not attributed to another file (no make or traceback lines)."""
    skip = ("make", "Traceback", "raise ", "subprocess.", "File ", "NOTE", "syntax error")
    keep = [ln.strip() for i, ln in enumerate(lines)
            if i not in used and re.search(r"\b(error|Error|Illegal)\b", ln)
            and not ln.lstrip().startswith(skip) and "migration guide" not in ln]
    return "; ".join(keep[-3:])


_loaded: dict[str, Path] = {}


def load(directory: Path) -> str:
    """Build if needed and load the mechanism library into this process once; return its hash."""
    key = content_hash(Path(directory))
    if key in _loaded:
        return key
    if _loaded:
        raise MechanismError(f"{directory}: a different mechanism set is already loaded in this "
                             "process; NEURON cannot unload mechanisms (use one set per campaign)")
    build_dir = build(Path(directory))
    os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")   # no "no DISPLAY" banner
    from neuron import h

    lib = _library(build_dir)
    if lib is None or not h.nrn_load_dll(str(lib)):
        raise MechanismError(f"{directory}: NEURON could not load the compiled library {lib}")
    _loaded[key] = build_dir
    return key
