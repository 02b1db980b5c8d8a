"""Run every benchmark script in this folder, one after the other.

Each script prints its figures and writes JSON to benchmarks/results/.
"""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
# Modules whose name starts with "_" are shared helpers, not benchmarks.
scripts = sorted(p for p in here.glob("*.py")
                 if p.name != "run_all.py" and not p.name.startswith("_"))
failed = [p.name for p in scripts if subprocess.run([sys.executable, str(p)]).returncode != 0]
print(f"{len(scripts) - len(failed)} benchmarks ran, {len(failed)} failed {failed or ''}")
sys.exit(1 if failed else 0)
