"""The ``tlbook`` command: resources for learners, tools for instructors.

    tlbook fetch [NAME ...] [--force]   fetch (all) resources, verify, repair
    tlbook info [--verify]              what is cached; --verify re-hashes it all
    tlbook student SRC OUT [--hide IDS] student notebooks: solutions removed
    tlbook lint SRC                     cells whose solution status is ambiguous
    tlbook exercises [--book DIR]       the catalogue of every exercise
    tlbook grade SUBMISSIONS --out CSV  run submitted notebooks, grade the exercises
"""

from __future__ import annotations

import argparse
import sys

from . import resources


def _fetch(args: argparse.Namespace) -> int:
    names = args.names or list(resources.CATALOG)
    for name in names:
        resources.get_resource(name)  # unknown names fail before any download
    for name in names:
        path = resources.fetch(name, force=args.force)
        print(f"{name:<20} ok  {path}")
        if name == "causal-lm-smollm2" and not args.no_convert:
            from .models import _converted_causal_lm

            converted = _converted_causal_lm(name, repair=True)
            print(f"{'':<20} converted to safetensors: {converted}")
    return 0


# Catalog resources every profile reads (the others are the lite stand-ins of a
# profile's models and data sets).
_EVERY_PROFILE = ("glove-6b-50d", "brown", "word-benchmarks")


def _profile_resources(profile) -> tuple[list[str], list[str]]:
    """(catalog names, Hub ids) that ``profile`` reads."""
    from dataclasses import fields

    named = [getattr(profile, f.name) for f in fields(profile) if f.name not in ("name", "sizes")]
    hub = [n for n in dict.fromkeys(named) if n not in resources.CATALOG]
    local = [n for n in resources.CATALOG if n in named or n in _EVERY_PROFILE]
    return local, hub


def _info(args: argparse.Namespace) -> int:
    from .profiles import get_profile

    profile = get_profile()
    local, hub = _profile_resources(profile)
    # resources of other profiles that are cached are shown (and verified) too
    local += [n for n in resources.CATALOG if n not in local and resources.status(n)["cached"]]
    print(f"profile: {profile.name}  (set TLBOOK_PROFILE to change it)")
    print(f"cache: {resources.cache_dir()}  (set TLBOOK_CACHE to move it)")
    print(f"{'resource':<20} {'cached':<7} {'size MB':>8}  {'checksum':<12} source")
    damaged, missing = [], []
    for name in local:
        res = resources.CATALOG[name]
        st = resources.status(name, verify=args.verify)
        print(f"{name:<20} {'yes' if st['cached'] else 'no':<7} {st['size_mb']:>8.1f}  "
              f"{st['checksum']:<12} {res.source}:{res.spec}")
        for problem in st["problems"]:
            print(f"{'':<20} {problem}")
        if st["problems"]:
            damaged.append(name)
        elif not st["cached"]:
            missing.append(name)
    if hub:
        print(f"from the Hugging Face Hub (profile {profile.name}; downloaded by transformers "
              f"and datasets on first use, into their own cache): {', '.join(hub)}")
    if args.verify:
        damaged += _damaged_conversions()
    if missing:
        print(f"not cached yet: run `tlbook fetch {' '.join(missing)}` (or `tlbook fetch` "
              "for everything)")
    if damaged:
        damaged = list(dict.fromkeys(damaged))
        print(f"tlbook: error: {len(damaged)} cached resource(s) failed verification and will "
              f"not be used: run `tlbook fetch {' '.join(damaged)}` to repair.",
              file=sys.stderr)
        return 1
    if args.verify:
        print("every cached file matches its manifest")
    return 0


def _damaged_conversions() -> list[str]:
    """Resources whose cached safetensors conversion fails verification (printed)."""
    from .models import converted_folder

    damaged = []
    for name in ("causal-lm-smollm2",):
        folder = converted_folder(name)
        if (folder / resources.COMPLETE_MARKER).exists():
            problems = resources.folder_problems(folder, resources.get_resource(name).key_sha256)
            for problem in problems:
                print(f"{'':<20} its safetensors conversion: {problem}")
            if problems:
                damaged.append(name)
    return damaged


def _student(args: argparse.Namespace) -> int:
    from .student import write_student_notebooks

    written = write_student_notebooks(args.src, args.out, hide=args.hide)
    print(f"wrote {len(written)} student notebook(s) to {args.out}")
    return 0


def _lint(args: argparse.Namespace) -> int:
    from .student import lint_notebooks

    found = lint_notebooks(args.src)
    for path, findings in found.items():
        for finding in findings:
            print(f"{path}: {finding}")
    if found:
        print(f"{sum(map(len, found.values()))} ambiguous cell(s): `tlbook student` refuses "
              "these notebooks until they are fixed", file=sys.stderr)
        return 1
    print("no ambiguous solution cells")
    return 0


def _exercises(args: argparse.Namespace) -> int:
    import csv

    from .grading import exercise_catalogue

    rows = exercise_catalogue(args.book)
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {len(rows)} exercises to {args.csv}")
        return 0
    print(f"{'id':<5} {'kind':<9} {'check':<6} {'level':<7} {'min':>4} {'pts':>4}  title")
    for r in rows:
        print(f"{r['id']:<5} {r['kind']:<9} {'yes' if r['auto_checked'] else 'no':<6} "
              f"{r['difficulty']:<7} {r['minutes']:>4} {r['points']:>4}  {r['title']}")
    auto = [r for r in rows if r["auto_checked"]]
    print(f"{len(rows)} exercises, {len(auto)} with an automatic check "
          f"({sum(r['points'] for r in auto)} of {sum(r['points'] for r in rows)} points)")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from .grading import grade_submissions

    graded = grade_submissions(args.submissions, args.out, reports=args.reports,
                               timeout=args.timeout, cell_timeout=args.cell_timeout,
                               memory_mb=args.memory_mb)
    for g in graded:
        auto = [r for r in g["exercises"].values() if r["verdict"] != "by hand"]
        print(f"{g['student']:<30} {sum(r['points'] for r in auto):>4} of "
              f"{sum(r['max_points'] for r in auto):<4} {len(g['problems'])} problem(s)")
    print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tlbook", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fetch", help="fetch and verify resources into the cache")
    p.add_argument("names", nargs="*", help=f"resource names (default all: "
                   f"{', '.join(resources.CATALOG)})")
    p.add_argument("--force", action="store_true", help="fetch again even if cached")
    p.add_argument("--no-convert", action="store_true",
                   help="skip converting the causal LM's gguf file to safetensors")
    p.set_defaults(func=_fetch)
    p = sub.add_parser("info", help="show what is cached")
    p.add_argument("--verify", action="store_true", help="re-hash every cached file")
    p.set_defaults(func=_info)
    p = sub.add_parser("student", help="write student notebooks (no solutions)")
    p.add_argument("src", help="folder with the chapter notebooks, e.g. book, or one "
                               "chapter, e.g. book/05_probing.ipynb")
    p.add_argument("out", help="folder to write the student copies to")
    p.add_argument("--hide", metavar="IDS", default=None,
                   help="solutions to remove, e.g. '5.*,6.2' (default: all); the others "
                        "stay in the notebooks")
    p.set_defaults(func=_student)
    p = sub.add_parser("lint", help="find solution cells the student edition could miss")
    p.add_argument("src", help="a notebook or a folder of notebooks, e.g. book")
    p.set_defaults(func=_lint)
    p = sub.add_parser("exercises", help="the catalogue of every exercise of the book")
    p.add_argument("--book", default="book", help="folder of the chapter notebooks (book)")
    p.add_argument("--csv", help="write the catalogue to this CSV file instead")
    p.set_defaults(func=_exercises)
    p = sub.add_parser("grade", help="run submitted notebooks and grade their exercises")
    p.add_argument("submissions", nargs="+", help="notebooks, or folders of notebooks")
    p.add_argument("--out", required=True, help="CSV of points to write, e.g. grades.csv")
    p.add_argument("--reports", help="folder of per-student reports (default <out>_reports)")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds one notebook may run in all (1800)")
    p.add_argument("--cell-timeout", type=float, default=600,
                   help="seconds one cell may run before it is interrupted (600)")
    p.add_argument("--memory-mb", type=int, default=8192,
                   help="address-space limit of each notebook's kernel in MiB (8192; 0: none)")
    p.set_defaults(func=_grade)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (resources.ResourceError, ValueError, ImportError) as e:
        # Expected failures (bad names, profile or paths, offline, damaged files):
        # one sentence that says what to do, no traceback.
        print(f"tlbook: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        where = f" ({e.filename})" if e.filename else ""
        print(f"tlbook: error: {e.strerror or e}{where}. Check that the folders tlbook uses "
              "(TLBOOK_CACHE, TLBOOK_DOWNLOADS) exist and can be read and written.",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tlbook: interrupted; nothing partial was kept.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
