#!/usr/bin/env bash
# The unit tests and one chapter on the LOWEST versions pyproject.toml allows.
#
#   bash tests/lowest_versions.sh [FOLDER]      (make lowest)
#
# Installs uv in its own environment, makes a fresh Python 3.11 environment in
# FOLDER (default: a new temporary folder), installs tlbook there with uv's
# lowest-direct resolution (every direct dependency at its lower bound, or the
# lowest version the other bounds allow), then runs the unit tests (without
# the browser and book-build tests, which need Chromium and jupyter-book) and
# chapter 1 under nbval in lax mode (cells are run, stored outputs are not
# compared: numbers may legitimately change across library versions). Prints
# the versions it resolved. A bound that fails here is raised in pyproject.toml.
set -euo pipefail

cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/tlbook-lowest.XXXXXX")}
mkdir -p "$work"
chapter=book/01_why_transfer.ipynb
export TQDM_DISABLE=1 PYTHONHASHSEED=0 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
start=$SECONDS

echo "== uv and a fresh environment in $work"
python3 -m venv "$work/uvtool"
"$work/uvtool/bin/python" -m pip install -q uv
uv="$work/uvtool/bin/uv"
rm -rf "$work/env"
"$uv" venv -q --seed "$work/env" --python 3.11  # --seed: with pip, which `tlbook fetch` uses
python="$work/env/bin/python"

echo "== tlbook[test] at the lowest versions allowed"
"$uv" pip install -q --python "$python" --resolution lowest-direct -e ".[test]"
"$uv" pip freeze --python "$python" 2>/dev/null | grep -iE '^(torch|numpy|transformers|tokenizers|safetensors|datasets|peft|accelerate|scikit-learn|scipy|matplotlib|seqeval|gensim|gguf|pyarrow|pandas|platformdirs|tqdm|huggingface-hub|pytest|nbval|ipykernel|jupyter-client|selenium)==' \
  | tee "$work/resolved.txt"

echo "== resources"
"$work/env/bin/tlbook" fetch

echo "== unit tests"
"$python" -m pytest tests -q -x -p no:cacheprovider \
  --ignore tests/test_browser.py --ignore tests/test_book.py

echo "== $chapter under nbval (lax)"
"$python" -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env "$chapter"

echo "== passed in $((SECONDS - start)) s on:"
cat "$work/resolved.txt"
