"""The ``rxd:`` section checked against the real cell before a campaign (``cells.location_check``).

What needs the cell's sections and 3-D points: an rxd region on a cell region the morphology
leaves empty, an extracellular box that does not contain the cell (rxd would leave its
outer parts without extracellular concentrations), a padded box whose ``dx_um`` makes more
voxels than ``rxd.max_voxels``, a recording point outside the box. No rxd object is made here:
the checking process stays free of rxd's global state.
"""

from __future__ import annotations

from cellsweep.cells import spec as S
from cellsweep.cells.rxd_config import voxel_count, voxel_message


def rxd_problems(cell, model: S.ModelSpec) -> list[tuple[str, str]]:
    """(key path, message) of every rxd problem on ``cell`` (a built ``NeuronCell``)."""
    spec = model.rxd
    if spec is None:
        return []
    from cellsweep.cells.rxd_model import box, cell_extent

    out = []
    for r in spec.regions:
        if not cell.regions.get(r.cell_region):
            out.append((f"rxd.regions.{r.name}.cell_region",
                        f"cell region {r.cell_region!r} has no sections in "
                        f"{model.cell.geometry_name}"))
    out += _recordings_on_their_regions(cell, model)
    ecs = spec.extracellular
    if ecs is None:
        return out
    extent = cell_extent(cell)
    if extent is None and not ecs.lower_um:
        return out + [("rxd.extracellular", "the cell has no 3-D points to put a box around; "
                                            "give lower_um and upper_um")]
    lower, upper = box(cell, ecs)
    if extent is not None and ecs.lower_um:
        inside = all(lo <= a and b <= hi for lo, hi, a, b in zip(lower, upper, *extent))
        if not inside:
            out.append(("rxd.extracellular", f"the box {_corners(lower, upper)} does not "
                        f"contain the cell, which spans {_corners(*extent)}; enlarge it or use "
                        "padding_um"))
    count = voxel_count(lower, upper, ecs.dx_um)
    if count > spec.max_voxels and not ecs.lower_um:     # explicit boxes: cells.rxd_config
        out.append(("rxd.extracellular.dx_um", voxel_message(count, spec.max_voxels)))
    for protocol in model.protocols:
        for rec in protocol.recordings:
            if rec.point_um and not all(lo <= x <= hi
                                        for lo, hi, x in zip(lower, upper, rec.point_um)):
                out.append((f"protocols.{protocol.name}.recordings.{rec.name}.point_um",
                            f"the point {list(rec.point_um)} is outside the extracellular box "
                            f"{_corners(lower, upper)}"))
    return out


def _recordings_on_their_regions(cell, model: S.ModelSpec) -> list[tuple[str, str]]:
    """A species recorded at a location must have a node there: the location's section must
    belong to its rxd region's cell region."""
    out = []
    regions = {r.name: r for r in model.rxd.regions}
    for protocol in model.protocols:
        for rec in protocol.recordings:
            region = regions.get(rec.rxd_region)
            if not rec.species or region is None or rec.statistic:
                continue
            try:
                sec = cell.segment(rec.location).sec
            except Exception:  # noqa: BLE001 - cells.location_check reports bad locations
                continue
            if not any(sec == other for other in cell.regions[region.cell_region]):
                out.append((f"protocols.{protocol.name}.recordings.{rec.name}.location",
                            f"{rec.location.label()} is not in rxd region {region.name!r} "
                            f"(cell region {region.cell_region!r}): species {rec.species!r} "
                            "has no node there"))
    return out


def _corners(lower, upper) -> str:
    return "[" + ", ".join(f"{a:g}..{b:g}" for a, b in zip(lower, upper)) + "] um"
