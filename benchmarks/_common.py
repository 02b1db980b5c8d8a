"""What every benchmark script shares: the machine's load and writing the JSON record."""

from __future__ import annotations

import json
import os
from pathlib import Path


def load_average() -> float:
    """One-minute load average (0.0 where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def write_result(result: dict, out: str | Path) -> Path:
    """Write ``result`` as indented JSON to ``out`` (folders created) and say where."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return out
