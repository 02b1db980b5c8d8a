"""Recorded sweeps: every record agrees with the code that made it."""

from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np
import pytest

from tlbook import stats, sweeps


def toy_cell(config: dict, seed: int) -> dict:
    """A cheap real cell: the mean of seeded draws, shifted by the config."""
    return {"score": float(np.random.default_rng(seed).random(100).mean() + config["shift"])}


@pytest.fixture
def toy(monkeypatch, tmp_path):
    monkeypatch.setattr(sweeps, "RECORDS", tmp_path)
    sweep = sweeps.Sweep(name="toy", cell="test_sweeps:toy_cell",
                         grid=({"shift": 0.0}, {"shift": 1.0}), seeds=(0, 1, 2),
                         tolerance=1e-9, chapter="none", description="test", metrics=("score",))
    monkeypatch.setitem(sweeps.SWEEPS, "toy", sweep)
    return sweep


def test_run_writes_every_cell_with_provenance(toy):
    path = sweeps.run("toy", progress=False)
    record = json.loads(path.read_text())
    assert record["command"] == "python -m tlbook.sweeps run toy"
    assert {"date", "versions", "machine", "cpus", "seconds"} <= set(record["provenance"])
    assert record["provenance"]["versions"]["torch"]
    table = sweeps.load("toy")
    assert len(table) == 6 and sorted(table["seed"].unique()) == [0, 1, 2]
    shifted = table[table["shift"] == 1.0]["score"].to_numpy()
    plain = table[table["shift"] == 0.0]["score"].to_numpy()
    assert np.allclose(shifted - plain, 1.0)
    assert "reproduce it with `python -m tlbook.sweeps run toy`" in sweeps.describe("toy")
    assert stats.seed_interval(plain).n == 3


def test_check_cell_catches_a_record_that_drifted_from_the_code(toy):
    path = sweeps.run("toy", progress=False)
    assert sweeps.check_cell("toy", 4) == []
    record = json.loads(path.read_text())
    record["results"][4]["metrics"]["score"] += 0.01
    path.write_text(json.dumps(record))
    problems = sweeps.check_cell("toy", 4)
    assert len(problems) == 1 and problems[0].startswith("score: recorded")


def test_an_interrupted_sweep_continues_where_it_stopped(toy, monkeypatch):
    calls = []

    def counting(config, seed):
        calls.append((config["shift"], seed))
        return toy_cell(config, seed)

    monkeypatch.setattr(sys.modules[__name__], "toy_cell_counted", counting, raising=False)
    monkeypatch.setitem(sweeps.SWEEPS, "toy", dataclasses.replace(
        toy, cell="test_sweeps:toy_cell_counted"))
    full = json.loads(sweeps.run("toy", progress=False).read_text())["results"]
    calls.clear()
    out = sweeps.record_path("toy")
    out.unlink()
    partial = sweeps.partial_path(out)
    partial.write_text(json.dumps(full[:4]))  # as if stopped after four cells
    assert sweeps.run("toy", progress=False) == out
    assert calls == [(1.0, 1), (1.0, 2)]  # only the two missing cells ran
    assert not partial.exists()
    again = json.loads(out.read_text())["results"]
    assert [r["metrics"] for r in again] == [r["metrics"] for r in full]
    # a partial file of another grid is not trusted: everything runs again
    out.unlink()
    partial.write_text(json.dumps([{**full[0], "seed": 7}]))
    calls.clear()
    sweeps.run("toy", progress=False)
    assert len(calls) == 6
    # a time limit already used up stops before the first new cell, keeping what is done
    out.unlink()
    partial.write_text(json.dumps(full[:2]))
    assert sweeps.run("toy", progress=False, max_minutes=1e-9) is None
    assert not out.exists() and len(json.loads(partial.read_text())) == 2
    with pytest.raises(ValueError, match="max_minutes"):
        sweeps.run("toy", max_minutes=0)


def test_unknown_and_unrecorded_sweeps_say_what_to_do(toy):
    with pytest.raises(ValueError, match="known sweeps"):
        sweeps.record_path("nope")
    with pytest.raises(FileNotFoundError, match="python -m tlbook.sweeps run toy"):
        sweeps.load("toy")
    assert sweeps.main(["check", "nope"]) == 1


@pytest.mark.parametrize("name", sorted(sweeps.SWEEPS))
def test_every_recorded_sweep_is_recorded_and_one_cell_reproduces(name):
    """The record ships in the package, covers the whole grid, and one cell re-run
    now agrees with it within the sweep's tolerance (a cheap cell: the last)."""
    sweep = sweeps.SWEEPS[name]
    table = sweeps.load(name)
    assert len(table) == len(sweep.cells())
    assert set(sweep.metrics) <= set(table.columns)
    assert sweeps.check_cell(name, len(table) - 1) == []


def test_records_of_another_profile_live_in_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TLBOOK_CACHE", str(tmp_path))
    name = sorted(sweeps.SWEEPS)[0]
    assert sweeps.record_path(name, "lite").parent == sweeps.RECORDS
    assert sweeps.record_path(name, "full") == tmp_path / "sweeps" / f"{name}-full.json"
    monkeypatch.setattr("tlbook.profiles._current", "full")  # as setup(profile="full") does
    with pytest.raises(FileNotFoundError, match="'full' profile"):
        sweeps.load(name)


def test_the_tagger_grid_names_exactly_the_feature_sets_the_cell_knows():
    """sweeps keeps its own copy of the names so that listing sweeps imports no torch."""
    from tlbook.bilm import TAGGER_FEATURES

    grid = {c["features"] for c in sweeps.SWEEPS["ch3-taggers"].grid}
    assert grid == set(TAGGER_FEATURES) and sweeps._TAGGER_FEATURES == TAGGER_FEATURES


def items_cell(config: dict, seed: int) -> dict:
    """A real per-item metric: which of 50 seeded draws exceed a threshold."""
    draws = np.random.default_rng(seed).random(50)
    return {"share": float(np.mean(draws > config["above"])),
            "correct": [int(d > config["above"]) for d in draws]}


def test_a_per_item_metric_is_checked_by_the_share_of_items_that_differ(monkeypatch, tmp_path):
    monkeypatch.setattr(sweeps, "RECORDS", tmp_path)
    sweep = sweeps.Sweep(name="items", cell="test_sweeps:items_cell", grid=({"above": 0.5},),
                         seeds=(0,), tolerance=0.03, chapter="none", description="test")
    monkeypatch.setitem(sweeps.SWEEPS, "items", sweep)
    path = sweeps.run("items", progress=False)
    assert sweeps.check_cell("items", 0) == []
    record = json.loads(path.read_text())
    # the 50 items stand on one line of the file, and the file reads back exactly
    line = next(x for x in path.read_text().splitlines() if '"correct":' in x)
    assert json.loads(line.split(":", 1)[1]) == record["results"][0]["metrics"]["correct"]
    assert sweeps.record_json(record) == path.read_text()
    correct = record["results"][0]["metrics"]["correct"]
    correct[0] = 1 - correct[0]  # one item of 50 (2%) is within the tolerance
    path.write_text(json.dumps(record))
    assert sweeps.check_cell("items", 0) == []
    correct[1] = 1 - correct[1]  # two (4%) are not
    path.write_text(json.dumps(record))
    assert sweeps.check_cell("items", 0) == ["correct: 4.0% of the 50 items differ from the record"]


def probabilities_cell(config: dict, seed: int) -> dict:
    """A real per-item metric of real numbers: 40 seeded probabilities."""
    return {"p": [float(x) for x in np.random.default_rng(seed).random(40)]}


def test_per_item_real_numbers_may_move_by_the_item_tolerance(monkeypatch, tmp_path):
    monkeypatch.setattr(sweeps, "RECORDS", tmp_path)
    sweep = sweeps.Sweep(name="probs", cell="test_sweeps:probabilities_cell", grid=({},),
                         seeds=(0,), tolerance=0.03, item_tolerance=0.01, chapter="none",
                         description="test")
    monkeypatch.setitem(sweeps.SWEEPS, "probs", sweep)
    path = sweeps.run("probs", progress=False)
    record = json.loads(path.read_text())
    p = record["results"][0]["metrics"]["p"]
    for i in range(10):
        p[i] += 0.009  # a quarter of the items move, each within the item tolerance
    p[10] += 0.02  # one item (2.5%) moves further: within the share tolerance
    path.write_text(json.dumps(record))
    assert sweeps.check_cell("probs", 0) == []
    p[11] -= 0.02  # two (5%) are too many
    path.write_text(json.dumps(record))
    assert sweeps.check_cell("probs", 0) == \
        ["p: 5.0% of the 40 items differ from the record by more than 0.01"]


def test_the_strategy_grid_matches_the_profile_and_the_strategies():
    """sweeps keeps its own copy of lite's learning rate (no torch on import)."""
    from tlbook.profiles import get_profile
    from tlbook.strategies import STRATEGIES

    grid = sweeps.SWEEPS["ch4-strategies"].grid
    assert [c["strategy"] for c in grid] == list(STRATEGIES)
    assert {c["lr"] for c in grid[1:]} == {get_profile("lite").sizes["finetune_lr"]}


def timed_cell(config: dict, seed: int) -> dict:
    """A real cell that also reports a wall-clock time, which differs on every run."""
    import time

    start = time.perf_counter()
    score = float(np.random.default_rng(seed).random(1000).mean())
    return {"score": score, "seconds": time.perf_counter() - start + 1e-9}


def test_timings_are_recorded_but_not_compared(monkeypatch, tmp_path):
    monkeypatch.setattr(sweeps, "RECORDS", tmp_path)
    sweep = sweeps.Sweep(name="timed", cell="test_sweeps:timed_cell", grid=({},), seeds=(0,),
                         tolerance=1e-9, chapter="none", description="test",
                         timings=("seconds",))
    monkeypatch.setitem(sweeps.SWEEPS, "timed", sweep)
    path = sweeps.run("timed", progress=False)
    record = json.loads(path.read_text())
    assert record["results"][0]["metrics"]["seconds"] > 0
    record["results"][0]["metrics"]["seconds"] += 100.0  # another machine, another time
    path.write_text(json.dumps(record))
    assert sweeps.check_cell("timed", 0) == []
    record["results"][0]["metrics"]["score"] += 0.01  # the result itself is still checked
    path.write_text(json.dumps(record))
    assert [p.split(":")[0] for p in sweeps.check_cell("timed", 0)] == ["score"]


def test_a_metric_on_another_scale_has_its_own_tolerance(monkeypatch, tmp_path):
    monkeypatch.setattr(sweeps, "RECORDS", tmp_path)
    sweep = sweeps.Sweep(name="scaled", cell="test_sweeps:toy_cell", grid=({"shift": 50.0},),
                         seeds=(0,), tolerance=0.02, chapter="none", description="test",
                         metric_tolerances={"score": 0.5})
    monkeypatch.setitem(sweeps.SWEEPS, "scaled", sweep)
    path = sweeps.run("scaled", progress=False)
    record = json.loads(path.read_text())
    record["results"][0]["metrics"]["score"] += 0.3  # beyond 0.02, within its own 0.5
    path.write_text(json.dumps(record))
    assert sweeps.check_cell("scaled", 0) == []
    record["results"][0]["metrics"]["score"] += 0.3
    path.write_text(json.dumps(record))
    assert len(sweeps.check_cell("scaled", 0)) == 1
