"""Figures of measurements: percentiles, spreads, and the machine they were taken on."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
from pathlib import Path


def percentile(values, q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, by linear interpolation between closest ranks (numpy's default,
    ``numpy.percentile``).

    Raises:
        ValueError: ``values`` is empty.
    """
    import numpy as np

    if len(values) == 0:
        raise ValueError("percentile of no values")
    return float(np.percentile(values, q))


def spread(values) -> dict:
    """``{"median", "min", "max"}`` of a non-empty list of numbers."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def machine() -> dict:
    """The machine the figures come from: ``{"cpu", "cores", "os", "python", "date"}`` (date in ISO 8601)."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(), "python": platform.python_version(),
            "date": datetime.date.today().isoformat()}
