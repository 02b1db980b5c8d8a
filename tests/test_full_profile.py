"""The ``full`` profile without the Hub: sizes that mean "all", and checkers that load nothing.

In ``full`` a split size is ``None`` ("every row"). A chapter or a helper that
passes such a size to ``range()``, ``select()`` or a slice fails only on a
reader's GPU machine, never here, where ``lite`` runs. So the sizes are read
and applied here with ``tlbook.data.first_rows`` (the helper that turns
``None`` into every row), the chapters and the package are scanned for a
``None``-valued size used directly, and every checker is called under
``full`` with an answer of the wrong type, which must be judged without
loading a model or a data set.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets
import pytest

from tlbook import profiles
from tlbook import token_classification as tc
from tlbook.data import first_rows

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture
def full_profile():
    profiles.set_profile("full")
    try:
        yield profiles.get_profile()
    finally:
        profiles._current = None  # never leak a profile into later tests


def _full_sizes() -> dict:
    """Every size a chapter reads under ``full``: the profile's and chapter 9's."""
    return {**profiles.get_profile("full").sizes, **tc.task_sizes("full")}


# ------------------------------------------------------------ the sizes themselves


def test_full_split_sizes_mean_all_rows_through_first_rows(full_profile):
    ds = datasets.Dataset.from_dict({"text": [f"s{i}" for i in range(7)]})
    lite = {**profiles.get_profile("lite").sizes, **tc.task_sizes("lite")}
    full = _full_sizes()
    assert set(full) == set(lite)  # no chapter key is missing under full
    splits = [k for k, v in lite.items() if isinstance(v, int) and not isinstance(v, bool)
              and (k.endswith(("_train", "_validation", "_test", "_size"))
                   or k in ("train", "validation", "test"))]
    assert {"pool_size", "finetune_train", "spam_test", "train", "test"} <= set(splits)
    for key in splits:
        value = full[key]
        assert value is None or (isinstance(value, int) and value > 0), key
        rows = first_rows(ds, value)
        assert len(rows) == (7 if value is None else min(value, 7)), key
        assert len(first_rows(ds, lite[key])) == min(lite[key], 7), key
    assert tc.task_sizes()["train"] is None  # the current profile is full


# ------------------------------------------------ sizes used directly in the code

_SIZE = r"""(?:\w+\.)*(?:sizes|task_sizes\(\))\[["'](\w+)["']\]"""
_ALIAS = re.compile(rf"^\s*(\w+)\s*=\s*{_SIZE}\s*$", re.MULTILINE)
# ``sizes = rt.profile.sizes`` or ``sizes = tc.task_sizes()``: a bare ``sizes[...]``
# is a profile's size only in a source that binds it so (chapter 5 names a table so).
_BOUND = re.compile(r"^\s*sizes\s*=\s*[\w.]*(?:\.sizes|task_sizes\([^)]*\))\s*$", re.MULTILINE)


def size_keys(source: str) -> set[str]:
    """The profile size keys ``source`` reads."""
    keys = set(re.findall(r"""(?:[\w)]\.sizes|task_sizes\([^)]*\))\[["'](\w+)["']\]""", source))
    if _BOUND.search(source):
        keys |= set(re.findall(_SIZE, source))
    return keys


def unguarded_sizes(source: str, none_keys: set[str]) -> list[str]:
    """Lines of ``source`` that pass a size whose ``full`` value is None to
    ``range()`` or a slice without an ``if`` that handles None on the same line."""
    aliases = {m.group(1) for m in _ALIAS.finditer(source) if m.group(2) in none_keys}
    names = "|".join([_SIZE] + [rf"\b{re.escape(a)}\b()" for a in sorted(aliases)])
    direct = re.compile(rf"(?:range\(\s*(?:{names})\s*\)|\[\s*:\s*(?:{names})\s*\])")
    found = []
    for line in source.splitlines():
        for match in direct.finditer(line):
            key = next((g for g in match.groups() if g), None)
            if (key is None or key in none_keys) and " if " not in line:
                found.append(line.strip())
    return found


def test_the_scan_finds_a_size_that_can_be_none():
    none_keys = {"train", "pool_size"}
    assert unguarded_sizes('train = pool.select(range(sizes["train"]))', none_keys)
    assert unguarded_sizes('n = rt.profile.sizes["pool_size"]\nx = ds[:n]', none_keys)
    assert not unguarded_sizes('train = first_rows(pool, sizes["train"])', none_keys)
    assert not unguarded_sizes('s = range(sizes["seeds"])', none_keys)  # never None
    assert not unguarded_sizes(
        'pool = ds.select(range(sizes["pool_size"])) if sizes["pool_size"] else ds', none_keys)
    assert size_keys('sizes = rt.profile.sizes\nn = sizes["seeds"]') == {"seeds"}
    assert size_keys('n = get_profile().sizes["pool_size"]') == {"pool_size"}
    assert size_keys('sizes = pd.DataFrame(rows)\nsizes["task"] = 1') == set()


def _code_sources():
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        yield path.name, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    for path in sorted((ROOT / "tlbook").glob("*.py")):
        yield f"tlbook/{path.name}", path.read_text()


def test_no_chapter_or_helper_passes_a_size_of_all_to_range_or_a_slice():
    full = _full_sizes()
    none_keys = {k for k, v in full.items() if v is None}
    problems = {name: found for name, source in _code_sources()
                if (found := unguarded_sizes(source, none_keys))}
    assert problems == {}, ("under the full profile these sizes are None (all rows): "
                            "use tlbook.data.first_rows(split, n)")


def test_every_size_key_a_chapter_reads_exists_in_both_profiles():
    used = set()
    for name, source in _code_sources():
        if name.endswith(".ipynb"):
            used |= size_keys(source)
    assert used, "the scan found no size at all"
    for profile in ("lite", "full"):
        sizes = {**profiles.get_profile(profile).sizes, **tc.task_sizes(profile)}
        assert used <= set(sizes), (profile, used - set(sizes))


# ------------------------------------------------------------ the checkers


def test_every_checker_judges_a_wrong_type_under_full_without_loading(
        full_profile, tmp_path, monkeypatch):
    from tlbook.exercises import known_exercises, verdict

    cache = tmp_path / "empty-cache"
    monkeypatch.setenv("TLBOOK_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TLBOOK_FETCH_TIMEOUT", "1")  # a fetch would fail, not wait
    ids = [i for i in known_exercises() if not i.startswith("0.")]
    assert len({i.split(".")[0] for i in ids}) >= 8  # every chapter's module imported
    for exercise_id in ids:
        ok, message = verdict(exercise_id, object())
        assert ok is False, (exercise_id, message)
        assert message.startswith(f"Exercise {exercise_id}: not yet."), message
        assert "cannot be checked" not in message
    assert not cache.exists() or not any(cache.iterdir())
