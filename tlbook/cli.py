"""The ``tlbook`` command: fetch resources ahead of time and report the cache.

    tlbook fetch [NAME ...] [--force]   fetch (all) resources, verify, repair
    tlbook info [--verify]              what is cached; --verify re-hashes it all
    tlbook student SRC OUT              student notebooks: solutions removed
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


def _info(args: argparse.Namespace) -> int:
    from .profiles import get_profile

    print(f"profile: {get_profile().name}  (set TLBOOK_PROFILE to change it)")
    print(f"cache: {resources.cache_dir()}  (set TLBOOK_CACHE to move it)")
    print(f"{'resource':<20} {'cached':<7} {'size MB':>8}  {'checksum':<12} source")
    damaged, missing = [], []
    for name, res in resources.CATALOG.items():
        st = resources.status(name, verify=args.verify)
        print(f"{name:<20} {'yes' if st['cached'] else 'no':<7} {st['size_mb']:>8.1f}  "
              f"{st['checksum']:<12} {res.source}:{res.spec}")
        for problem in st["problems"]:
            print(f"{'':<20} {problem}")
        if st["problems"]:
            damaged.append(name)
        elif not st["cached"]:
            missing.append(name)
    if args.verify:
        damaged += _damaged_conversions()
    if missing:
        print(f"not cached yet: run `tlbook fetch {' '.join(missing)}` (or `tlbook fetch`)")
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

    written = write_student_notebooks(args.src, args.out)
    print(f"wrote {len(written)} student notebooks to {args.out}")
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
    p.add_argument("src", help="folder with the chapter notebooks, e.g. book")
    p.add_argument("out", help="folder to write the student copies to")
    p.set_defaults(func=_student)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (resources.ResourceError, ValueError) as e:
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
