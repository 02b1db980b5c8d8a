"""The laptop path of the install note: the built wheel, in a fresh environment.

The wheel is built from a copy of the package's files, installed with
``--no-deps`` into a new virtual environment whose only other packages are
this environment's (a ``.pth`` line, so the editable install of the
repository is not seen), and chapter 1's first code cell runs there with an
empty resource cache and no package index. The learner must get tlbook's one
sentence that says to run ``tlbook fetch``, not an import error or a failure
deep inside another library.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _chapter_1_first_code_cell() -> str:
    nb = nbformat.read(ROOT / "book" / "01_why_transfer.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"
            and "google.colab" not in c.source]
    return code[0] + "\nds = load_movie_sentiment()\n"  # setup, then the first data it reads


def test_the_wheel_installs_and_an_empty_cache_says_to_run_tlbook_fetch(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "tlbook", src / "tlbook",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull,
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", str(src), "-w", str(tmp_path / "dist")], check=True, env=env,
                   cwd=tmp_path)
    wheel, = (tmp_path / "dist").glob("tlbook-*.whl")
    import tlbook

    assert wheel.name == f"tlbook-{tlbook.__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "tlbook/assets/sweeps/ch1-learning-curve.json" in names  # the package data

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", str(wheel)], check=True, env=env)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    run_env = {k: v for k, v in env.items()
               if not k.startswith(("TLBOOK_", "PYTHONPATH"))}
    run_env.update(TLBOOK_CACHE=str(tmp_path / "empty-cache"), HF_HUB_OFFLINE="1",
                   TLBOOK_FETCH_TIMEOUT="60")
    script = "import tlbook; print(tlbook.__file__)\n" + _chapter_1_first_code_cell()
    result = subprocess.run([str(python), "-c", script], capture_output=True, text=True,
                            env=run_env, cwd=tmp_path, timeout=120)
    assert result.stdout.startswith(str(venv)), result.stdout  # the wheel's tlbook, not the repo's
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tlbook.resources.FetchError: Resource 'movie-sentiment' is not in "
                           "the cache"), result.stderr[-2000:]
    assert "run `tlbook fetch movie-sentiment`" in last
    # The command the note names: one sentence, no traceback.
    fetch = subprocess.run([str(venv / "bin" / "tlbook"), "fetch", "movie-sentiment"],
                           capture_output=True, text=True, env=run_env, timeout=120)
    assert fetch.returncode == 1 and "Traceback" not in fetch.stderr
    assert "tlbook: error: Resource 'movie-sentiment' is not in the cache" in fetch.stderr
