"""The validated description of a model, as frozen plain data.

Everything here is picklable and free of NEURON objects: a ``ModelSpec`` is what crosses process
boundaries. ``cells.config`` builds it from YAML (or ``cells.bluepyopt_json`` from BluePyOpt's
JSON files); ``cells.neuron_cell`` and ``cells.protocols`` turn it into NEURON objects inside a
worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

BASE_REGIONS = ("all", "somatic", "axonal", "basal", "apical", "myelinated")
GLOBAL_NAMES = ("celsius", "v_init")
SIM_NAMES = ("cvode", "atol", "rtol", "dt_ms")
NSEG_NAMES = ("d_lambda", "frequency_hz", "length_um")
GLOBAL_DEFAULTS = {"celsius": 6.3, "v_init": -65.0}   # NEURON's own defaults


@dataclass(frozen=True)
class Region:
    """Segments of a base region whose path distance from the soma centre lies in a range, or
    (``sections`` given: a stylised cell's named region) those sections of it."""

    name: str
    within: str
    min_distance_um: float = 0.0
    max_distance_um: float = float("inf")
    sections: tuple = ()         # ("dend[0]", ...) for a region named in cell.sections
    # a segment group (DendroTweaks' kind): the segments of several built-in regions, or those
    # whose path distance / diameter / section diameter lies in (above, up_to]
    within_any: tuple = ()       # ("basal", "apical"): their union, instead of ``within``
    select_by: str = ""          # "" | distance | domain_distance | diam | section_diam
    above: float = float("-inf")
    up_to: float = float("inf")

    @property
    def is_group(self) -> bool:
        return bool(self.within_any or self.select_by)

    @property
    def bases(self) -> tuple:
        """The built-in regions whose sections it takes segments from."""
        return self.within_any or (self.within,)


@dataclass(frozen=True)
class Distribution:
    """How a parameter's value varies with path distance ``d`` (µm) from the soma centre.

    kinds: uniform ``value``; ``dendrotweaks.<function>``: ``value`` times DendroTweaks' function
    (``cells.dendrotweaks_distributions``); linear ``value*(intercept + slope_per_um*d)``;
    exponential ``value*(offset + amplitude*exp(d/length_um))``;
    sigmoid ``value*(offset + amplitude/(1 + exp((midpoint_um - d)/width_um)))``;
    step ``value*(inside if start_um <= d < end_um else outside)``; expression: safe formula
    of ``distance`` and ``value``.
    """

    name: str
    kind: str
    coefficients: tuple = ()     # ((key, float), ...)
    expression: str = ""
    distance: str = "path"       # "path" (BluePyOpt's default) or "euclidean"

    def coefficient(self, key: str, default: float) -> float:
        return dict(self.coefficients).get(key, default)


@dataclass(frozen=True)
class Parameter:
    """One named parameter: where it goes (``kind``) and its value or bounds."""

    name: str                    # the key users write: gbar_na_t.somatic, celsius, step.stim.amp_nA
    kind: str                    # range | section | global | sim | nseg | protocol | rxd |
                                 # coefficient (of distribution ``region``: ``<dist>.<coef>``)
    variable: str                # gbar_na_t, Ra, celsius, cvode, d_lambda, amp_nA
    region: str = ""             # region for range/section/nseg; protocol name for protocol
    target: str = ""             # stimulus name for protocol parameters
    value: float | None = None   # fixed value, or default of a free parameter
    low: float | None = None
    high: float | None = None
    log: bool = False
    distribution: str = ""       # name of a Distribution, "" = uniform
    units: str = ""              # as NEURON or the .mod file declares them; "" if none

    @property
    def free(self) -> bool:
        return self.low is not None


@dataclass(frozen=True)
class Discretisation:
    rule: str = "d_lambda"       # d_lambda | length | none
    d_lambda: float = 0.1
    frequency_hz: float = 100.0
    length_um: float = 40.0      # for rule "length": nseg = 1 + 2*int(L/length_um) (BluePyOpt)
    nseg: tuple = ()             # ((region, nseg), ...) explicit overrides


@dataclass(frozen=True)
class StylisedSection:
    """One section of a stylised cell (``cell.sections``), built from L and diam as given: no
    3-D points, so no float32 round trip (``cells.sections_config``)."""

    name: str                    # soma[0], dend[3]: an entry of the template's section arrays
    L: float
    diam: tuple                  # (d,) uniform, or (d0, d1): linear taper from the 0 to the 1 end
    parent: str = ""             # a section name; "" for the root, soma[0]
    parent_x: float = 1.0        # where on the parent the section's 0 end attaches
    region: str = ""             # a named region of cell.sections ("": its array's base region)
    nseg: int | None = None      # None: the discretisation rule decides

    @property
    def array(self) -> str:
        return self.name.partition("[")[0]


@dataclass(frozen=True)
class Axon:
    replace: bool = False
    stub_length_um: float = 60.0
    nseg_frequency_um: float = 40.0


@dataclass(frozen=True)
class Simulation:
    cvode: bool = True
    atol: float = 1e-3
    rtol: float = 0.0
    dt_ms: float = 0.025


@dataclass(frozen=True)
class CellSpec:
    name: str
    morphology: Path | None      # None for a stylised cell (``sections``)
    mechanisms_dir: Path | None
    axon: Axon = field(default_factory=Axon)
    discretisation: Discretisation = field(default_factory=Discretisation)
    regions: tuple = ()          # (Region, ...) custom regions
    insert: tuple = ()           # ((region, (mechanism, ...)), ...)
    distributions: tuple = ()    # (Distribution, ...)
    sections: tuple = ()         # (StylisedSection, ...) instead of a morphology file
    # "everywhere": a range variable's mechanism must be in every section of its region;
    # "where_inserted": set only where it is (DendroTweaks' rule)
    range_variables: str = "everywhere"

    @property
    def geometry_name(self) -> str:
        """Where the sections come from, for messages: the morphology file or cell.sections."""
        return self.morphology.name if self.morphology is not None else "cell.sections"

    def stylised(self, name: str) -> StylisedSection | None:
        return next((s for s in self.sections if s.name == name), None)

    def distribution(self, name: str) -> Distribution | None:
        return next((d for d in self.distributions if d.name == name), None)

    def region(self, name: str) -> Region | None:
        return next((r for r in self.regions if r.name == name), None)


@dataclass(frozen=True)
class Location:
    """Where on the cell: the soma centre, a named section, or a path distance in a region."""

    kind: str                    # soma | section | distance
    section: str = ""            # e.g. "apic[3]" (kind section)
    region: str = ""             # kind distance
    distance_um: float = 0.0
    x: float = 0.5

    def label(self) -> str:
        if self.kind == "soma":
            return "soma"
        if self.kind == "section":
            return f"{self.section}({self.x:g})"
        return f"{self.region}@{self.distance_um:g}um"


@dataclass(frozen=True)
class Stimulus:
    """One stimulus of a protocol; ``values`` holds its numbers (amp_nA, delay_ms, ...)."""

    name: str
    kind: str                    # step | ramp | zap | waveform | synapses
    location: Location
    values: tuple = ()           # ((key, float), ...): the sweepable numbers
    waveform: tuple = ()         # (times_ms, currents_nA) for kind waveform
    synapse: str = ""            # point process for kind synapses
    locations: tuple = ()        # extra Locations for kind synapses
    spike_times: tuple = ()      # kind synapses: one tuple of event times (ms) per location,
                                 # delivered by VecStim instead of NetStim

    def value(self, key: str, default=None):
        return dict(self.values).get(key, default)


@dataclass(frozen=True)
class Recording:
    """A NEURON range variable at a location, or (``species`` set) an rxd concentration: at a
    location, at the voxel nearest ``point_um``, or a region's ``statistic`` (mean | max)."""

    name: str
    location: Location
    variable: str = "v"
    species: str = ""            # an rxd species (then ``variable`` is "concentration")
    rxd_region: str = ""         # the rxd region (or the extracellular space's name)
    point_um: tuple = ()         # (x, y, z) of an extracellular voxel
    statistic: str = ""          # "" (at the location or point) | mean | max


@dataclass(frozen=True)
class Protocol:
    name: str
    tstop_ms: float
    stimuli: tuple               # (Stimulus, ...)
    recordings: tuple            # (Recording, ...)
    window_ms: tuple             # (start, end) default eFEL stimulus window
    stimulus_current_nA: float | None = None


@dataclass(frozen=True)
class Experiment:
    """What a profile measure simulates (generated protocols, never written by hand):
    ``kind`` is passive | spiking | fi | rheobase | zap | dendrite; ``settings`` its numbers
    (``cells.profile_config`` fills every default, so equal experiments compare equal and
    share one simulation within an evaluation)."""

    name: str                    # the kind, or kind@<hash> when a feature overrides settings
    kind: str
    settings: tuple = ()         # ((key, float or tuple of floats or str), ...)

    def get(self, key: str, default=None):
        return dict(self.settings).get(key, default)


@dataclass(frozen=True)
class Feature:
    """An objective: an eFEL feature of one recording of one protocol, or a profile measure
    (``profile`` set: a cell-level measure of an ``Experiment``), with its target."""

    name: str                    # <protocol>.<recording>.<efel> unless given
    protocol: str
    recording: str
    efel: str
    mean: float
    std: float
    window_ms: tuple             # (stim_start, stim_end) for eFEL
    settings: tuple = ()         # ((eFEL setting, value), ...)
    stimulus_current_nA: float | None = None
    weight: float = 1.0
    profile: str = ""            # a measure of cells.profile_measures (then efel is "")
    experiment: str = ""         # the Experiment's name
    at: float | None = None      # the measure's argument: an FI amplitude (nA), a distance (µm)
    units: str = ""
    trace: str = ""              # a cells.trace_features measure of the recording (efel "")


@dataclass(frozen=True)
class Scoring:
    """z-scores as BluePyOpt computes them: mean over the feature's values of |v - mean|/std."""

    missing_penalty: float = 250.0
    max_score: float | None = None


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to evaluate a parameter set, independent of NEURON."""

    source: str                  # the config file, for messages (relative when possible)
    cell: CellSpec
    parameters: tuple            # (Parameter, ...) in application order
    protocols: tuple             # (Protocol, ...)
    features: tuple              # (Feature, ...)
    simulation: Simulation = field(default_factory=Simulation)
    scoring: Scoring = field(default_factory=Scoring)
    experiments: tuple = ()      # (Experiment, ...) the profile features need
    rxd: "RxdSpec | None" = None  # reaction-diffusion (cells.rxd_config), built per evaluation

    def experiment(self, name: str) -> Experiment | None:
        return next((e for e in self.experiments if e.name == name), None)

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def free_parameters(self) -> tuple:
        return tuple(p for p in self.parameters if p.free)

    def protocol(self, name: str) -> Protocol | None:
        return next((p for p in self.protocols if p.name == name), None)

    def default_values(self) -> dict:
        """The full parameter mapping of this model with nothing overridden."""
        return {p.name: p.value for p in self.parameters}


# -- reaction-diffusion (cells.rxd_config reads them; cells.rxd_model builds them) -------------
@dataclass(frozen=True)
class RxdRegion:
    """An ``rxd.Region`` on the sections of a cell region."""

    name: str
    cell_region: str             # all, somatic, ... or a custom region of cell.regions
    nrn_region: str = "i"        # i | o | "" (none: concentrations NEURON's ions never see)
    geometry: str = "inside"     # inside | membrane | fractional_volume
    volume_fraction: float = 1.0     # fractional_volume only
    surface_fraction: float = 0.0    # fractional_volume only
    scale: float = 1.0               # scalable_border: area per unit length, as a multiple
    on_cell_surface: bool = False    # scalable_border: the plasma membrane or an inner one


@dataclass(frozen=True)
class RxdExtracellular:
    """An ``rxd.Extracellular`` box: the cell's extent plus ``padding_um``, or explicit corners."""

    name: str = "ecs"
    padding_um: float = 0.0
    lower_um: tuple = ()         # (x, y, z); with upper_um instead of the padded extent
    upper_um: tuple = ()
    dx_um: tuple = (10.0,)       # one value or (dx, dy, dz)
    volume_fraction: float = 1.0
    tortuosity: float = 1.0


@dataclass(frozen=True)
class RxdSpecies:
    """An ``rxd.Species``, or (``kind``) an ``rxd.State`` (a non-concentration variable, e.g.
    a gate) or an ``rxd.Parameter`` (a value per node that reactions and rates read)."""

    name: str
    regions: tuple               # rxd region names (the extracellular name included)
    charge: int = 0
    d: float = 0.0               # diffusion constant, um2/ms
    initial: float | None = None     # mM (a parameter: its value); None: rxd's default
    kind: str = "species"        # species | state | parameter


@dataclass(frozen=True)
class RxdReaction:
    """``rxd.Reaction(reactants, products, kf, kb)`` by mass action, or with ``membrane`` an
    ``rxd.MultiCompartmentReaction`` between species in different regions (rate per area)."""

    name: str
    reactants: tuple             # ((species, stoichiometry), ...) in the order written;
    products: tuple              # a species "ca[er]" is ca in rxd region er
    kf: float
    kb: float = 0.0
    regions: tuple = ()          # () = wherever its species are
    membrane: str = ""           # a MultiCompartmentReaction across this rxd region
    membrane_flux: bool = False  # ... whose flux is a membrane current (charged species)


@dataclass(frozen=True)
class RxdRate:
    """``rxd.Rate(species, expression)``: d[species]/dt = expression (positive = growth)."""

    name: str
    species: str
    expression: str
    constants: tuple = ()        # ((name, value), ...) the expression's named numbers
    regions: tuple = ()


@dataclass(frozen=True)
class RxdSpec:
    regions: tuple = ()          # (RxdRegion, ...)
    extracellular: RxdExtracellular | None = None
    species: tuple = ()          # (RxdSpecies, ...)
    reactions: tuple = ()        # (RxdReaction, ...)
    rates: tuple = ()            # (RxdRate, ...)
    nthread: int = 1
    max_voxels: int = 1_000_000

    def region_names(self) -> tuple:
        ecs = (self.extracellular.name,) if self.extracellular else ()
        return tuple(r.name for r in self.regions) + ecs
