"""Small helpers shared by the benchmark scripts."""

import statistics


def stats(values):
    """Median, min, max and count of the non-missing values (None when there are none)."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def loadavg():
    """The 1-minute load average, to judge how busy the shared host was."""
    try:
        with open("/proc/loadavg") as fh:
            return float(fh.read().split()[0])
    except OSError:
        return None
