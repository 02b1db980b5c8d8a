"""How long the whole book takes: every chapter re-run by nbval, timed per chapter.

    python benchmarks/book_timing.py

Runs the strict nbval check of every chapter (the same command as
``make nbval``) with the ``tests.chapter_times`` plugin, which adds up the
seconds spent on each notebook and, if every chapter passed, writes
benchmarks/results/book_timing.json and the table that the introduction
includes (book/chapter_times.md). Then prints the table and the total against
the goal: the whole book in under 20 minutes on 2 CPU cores.

Run it on an otherwise idle machine; the JSON records the load average before
and after, and other work on the same cores slows every chapter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "benchmarks" / "results" / "book_timing.json"


def main() -> int:
    before = RESULT.stat().st_mtime if RESULT.exists() else None
    cmd = [sys.executable, "-m", "pytest", "-p", "tests.chapter_times", "--nbval", "book",
           "--nbval-sanitize-with", "tests/sanitize.cfg", "-q",
           "--chapter-times", str(RESULT.relative_to(ROOT))]
    code = subprocess.run(cmd, cwd=ROOT).returncode
    if code != 0 or not RESULT.exists() or RESULT.stat().st_mtime == before:
        print(f"nbval failed or did not cover every chapter (exit {code}); nothing recorded")
        return 1
    record = json.loads(RESULT.read_text())
    print(f"\n{'chapter':<40} {'seconds':>8}")
    for chapter in record["chapters"]:
        print(f"{chapter['notebook']:<40} {chapter['seconds']:>8.1f}")
    total, goal = record["total_seconds"], record["goal_seconds"]
    print(f"{'whole book':<40} {total:>8.1f}")
    print(f"goal: under {goal} s on {record['machine']['cores']} cores -> "
          f"{'met' if record['goal_met'] else 'NOT met'} ({total / goal:.2f} of the budget); "
          f"load average {record['load_average_1min']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
