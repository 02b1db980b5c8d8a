"""What checking the cache at load time costs: every file of every resource re-hashed.

`tlbook.resources.resource_path` checks each resource's files against the
manifest written at fetch time (size and sha256), once per resource and
process. This script times that check for every cached resource of the lite
profile and for the converted causal LM, with the files already in the
operating system's page cache (the usual case: a chapter run right after
another) and reports seconds, megabytes and files.

    python benchmarks/resource_verification.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path

from _common import load_average, write_result

from tlbook import resources as R
from tlbook.models import converted_folder

HERE = Path(__file__).parent


def _folders() -> dict[str, tuple[Path, str]]:
    folders = {}
    for name, res in R.CATALOG.items():
        if res.source != "installed":
            folders[name] = (R.fetch(name), res.sha256)
    converted = converted_folder("causal-lm-smollm2")
    if (converted / R.COMPLETE_MARKER).exists():
        folders["causal-lm-smollm2 (safetensors)"] = (
            converted, R.CATALOG["causal-lm-smollm2"].key_sha256)
    return folders


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="best of N timings (default 3)")
    parser.add_argument("--out", default=str(HERE / "results" / "resource_verification.json"))
    args = parser.parse_args(argv)
    load = load_average()
    rows = {}
    for name, (folder, anchor) in _folders().items():
        files = [p for p in folder.rglob("*") if p.is_file()]
        size_mb = sum(p.stat().st_size for p in files) / 2**20
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            problems = R.folder_problems(folder, anchor)
            times.append(time.perf_counter() - start)
        rows[name] = {"files": len(files), "mb": round(size_mb, 1),
                      "seconds": round(min(times), 3), "intact": not problems}
    total = sum(r["seconds"] for r in rows.values())
    print(f"{'resource':<34}{'files':>7}{'MB':>8}{'seconds':>9}{'MB/s':>8}")
    for name, r in rows.items():
        print(f"{name:<34}{r['files']:>7}{r['mb']:>8.1f}{r['seconds']:>9.2f}"
              f"{r['mb'] / max(r['seconds'], 1e-9):>8.0f}")
    print(f"all resources: {total:.2f} s, once per process (load average {load:.1f})")
    write_result({"date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                  "machine": platform.processor() or platform.machine(),
                  "load_average": load, "resources": rows, "total_seconds": round(total, 3)},
                 args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
