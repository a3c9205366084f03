"""What the machine is doing while a benchmark measures: its load average, printed next to
each figure (other jobs on a 2-core machine move a rate more than most changes do)."""

from __future__ import annotations

import os

__all__ = ["load_average"]


def load_average() -> str:
    """`load average 1.23 0.98 0.75` (1, 5 and 15 minutes)."""
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
