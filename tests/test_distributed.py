"""fine_tune and evaluate on two real processes (torch.distributed, gloo, CPU).

tests/distributed_worker.py runs once on one process with batches of 8 and
once on two processes with batches of 4 (the same 8 examples per step). The
two runs must agree: the same losses, evaluations and best step, final
weights within 1e-5, and identical weights on both processes. The validation
sets (21 texts, 7 sentences) do not divide into the processes' batches, so
``gather_for_metrics`` has padded duplicates to drop: every example must be
counted exactly once, with the scores plain single-process ``predict`` gives.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

WORKER = Path(__file__).with_name("distributed_worker.py")
TIMEOUT_S = 300
N_VAL, N_SENTENCES = 21, 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    # CPU only, one thread per process (two processes share the two cores);
    # ACCELERATE_USE_CPU makes Accelerator pick gloo across the processes
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", ACCELERATE_USE_CPU="1",
               TQDM_DISABLE="1", PYTHONHASHSEED="0", HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    return env


def _start(out: Path, nproc: int, batch_size: int) -> subprocess.Popen:
    out.mkdir()
    args = [str(WORKER), str(out), "--batch-size", str(batch_size), "--n-val", str(N_VAL),
            "--n-sentences", str(N_SENTENCES)]
    if nproc > 1:
        args = ["-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
                "--max_restarts", "0", "--master_addr", "127.0.0.1",
                "--master_port", str(_free_port()), *args]
    return subprocess.Popen([sys.executable, *args], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen, out: Path) -> dict:
    try:
        log, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and every worker it started
        log, _ = proc.communicate()
        pytest.fail(f"the worker ran past {TIMEOUT_S} s:\n{log[-3000:]}")
    assert proc.returncode == 0, log[-3000:]
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both runs at once (one thread each; 3 processes on 2 cores)."""
    root = tmp_path_factory.mktemp("distributed")
    started = {"one": _start(root / "one", 1, 8), "two": _start(root / "two", 2, 4)}
    results = {name: _finish(proc, root / name) for name, proc in started.items()}
    for name in results:
        results[name]["weights"] = sorted((root / name).glob("weights-rank*.safetensors"))
    return results


def test_the_runs_have_one_and_two_processes(runs):
    assert runs["one"]["num_processes"] == 1 and len(runs["one"]["weights"]) == 1
    assert runs["two"]["num_processes"] == 2 and len(runs["two"]["weights"]) == 2


def test_two_processes_train_like_one_with_the_same_global_batch(runs):
    one, two = runs["one"], runs["two"]
    assert len(one["train_loss"]) == len(two["train_loss"]) == 2 * 48 // 8  # 2 epochs
    # the loss of every step is the mean over all 8 examples, on both
    np.testing.assert_allclose(two["train_loss"], one["train_loss"], rtol=0, atol=1e-5)
    assert [e["step"] for e in two["evals"]] == [e["step"] for e in one["evals"]] == [6, 12]
    for a, b in zip(one["evals"], two["evals"]):
        assert (b["accuracy"], b["macro_f1"], b["epoch"]) == (a["accuracy"], a["macro_f1"],
                                                              a["epoch"])
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-5)
    assert two["best_step"] == one["best_step"]

    reference = load_file(one["weights"][0])
    rank0, rank1 = (load_file(p) for p in two["weights"])
    assert set(rank0) == set(rank1) == set(reference)
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # the processes stay in sync
    worst = max((rank0[k] - reference[k]).abs().max().item() for k in reference)
    assert worst < 1e-5, f"weights differ from the one-process run by up to {worst:.2e}"


@pytest.mark.parametrize("name", ["one", "two"])
def test_gather_for_metrics_counts_every_example_once(runs, name):
    run = runs[name]
    seq, plain = run["sequence"], run["sequence_plain"]
    assert seq["support"]["macro avg"] == N_VAL  # 21 texts, batches of 4 on each process
    assert {k: seq["support"][k] for k in plain["support"]} == plain["support"]
    assert seq["accuracy"] == plain["accuracy"]

    tok, tok_plain = run["token"], run["token_plain"]
    assert tok["support"]["macro avg"] == tok_plain["words"]  # one label per word, once
    assert tok["accuracy"] == pytest.approx(tok_plain["accuracy"], abs=1e-12)
    assert tok["span_f1"] == pytest.approx(tok_plain["span_f1"], abs=1e-12)


def test_evaluation_agrees_between_one_and_two_processes(runs):
    for part in ("sequence", "token"):
        one, two = runs["one"][part], runs["two"][part]
        assert {k: v for k, v in two.items() if k != "loss"} == \
            {k: v for k, v in one.items() if k != "loss"}
        # the loss too is over every example once, not over one process's share
        assert two["loss"] == pytest.approx(one["loss"], abs=1e-6)
