# Two commands do everything on a fresh machine:
#   make book   environment, install, fetch + verify resources, build the HTML
#   make test   the same set-up, then strict nbval of every chapter, unit tests,
#               the HTML builds (normal and student) with warnings as errors, and
#               every page opened in headless Chromium (installed by `make browser`)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tlbook-installed
export TQDM_DISABLE := 1
export PYTHONHASHSEED := 0
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: install fetch browser book student test unit nbval nbval-othercpu colab-cells benchmarks lowest clean

install: $(STAMP)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[book,test]"
	touch $@

fetch: install
	$(BIN)/tlbook fetch
	$(BIN)/tlbook info

# Headless Chromium and its driver for tests/test_browser.py (Debian packages).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
	  echo "chromium and chromedriver are installed"; \
	else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; \
	fi

book: fetch
	$(BIN)/jupyter-book build . -W --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html"

student: fetch
	$(BIN)/jupyter-book build . --config _config_student.yml --path-output _build/student -W --keep-going
	$(BIN)/tlbook student book student/book
	@echo "The student book is at $(CURDIR)/_build/student/_build/html/index.html"
	@echo "Student notebooks are in $(CURDIR)/student/book"

unit: fetch browser
	$(BIN)/python -m pytest tests -q --durations=25

# Every chapter re-executed and its outputs compared with the stored ones:
# text exactly, decimal numbers within 2 units of their last printed digit
# (tests/nbval_tolerance.py). Also records the seconds per chapter
# (benchmarks/results/book_timing.json) and the introduction's table
# (book/chapter_times.md) when every chapter passes.
NBVAL := $(BIN)/python -m pytest -p tests.nbval_tolerance --nbval book \
	  --nbval-sanitize-with tests/sanitize.cfg -q
nbval: fetch
	$(NBVAL) -p tests.chapter_times --chapter-times benchmarks/results/book_timing.json

# The same run as on another kind of CPU: torch, MKL, oneDNN and OpenBLAS are
# made to pick other floating-point kernels than this machine's best ones
# (SSE-era instead of AVX2/AVX-512), so every matrix product rounds
# differently. The chapters must still pass.
OTHER_CPU := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 \
	  ONEDNN_MAX_CPU_ISA=SSE41 OPENBLAS_CORETYPE=Sandybridge
nbval-othercpu: fetch
	env $(OTHER_CPU) $(NBVAL)

# nbval first: a complete green run rewrites the chapter-time table, which the
# book builds of the unit tests then show.
test: nbval unit

# Rewrites every chapter's Colab install cell and install note (repository.url in
# _config.yml, the version in pyproject.toml), inserting missing notes.
colab-cells: install
	$(BIN)/python tests/colab_cells.py

benchmarks: fetch
	$(BIN)/python benchmarks/run_all.py

# The unit tests and chapter 1 on the lowest versions pyproject.toml allows, in
# a fresh temporary environment (uv's lowest-direct resolution).
lowest:
	bash tests/lowest_versions.sh

clean:
	rm -rf _build
