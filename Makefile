# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates (or reuses) the virtual environment in .venv, installing torch first: the CPU wheel torch==2.13.0 from
# the local wheel folder pip is told of (PIP_FIND_LINKS), by uv, else by pip where its index has that wheel, else the
# default torch (an unpinned torch can pull GBs of CUDA). uv's attempt reads only that folder (--no-index): it never
# downloads a torch; torch's own dependencies come with the rest.
# The rest installs with uv, which resolves and downloads in parallel (several times faster than pip), and compiles
# the bytecode once: without it, where PYTHONDONTWRITEBYTECODE is set (CI), every process and every sandboxed kernel
# (its view of the venv is read-only) compiled transformers, TRL and datasets again (3 s of CPU per import).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
# nbgrader shells out to alembic: the venv's bin must come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test release assets benchmarks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps --no-index --find-links "$${PIP_FIND_LINKS:-.}" \
		"torch==2.13.0" || $(BIN)/python -m pip install --quiet "torch==2.13.0" || $(BIN)/python -m pip install --quiet torch
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -e ".[dev]"
	touch $@

demo: $(STAMP)  ## run every lab in the tiny profile, grade the results with `course grade`, print a table
	$(BIN)/course demo

test: $(STAMP)  ## the test suite, in two processes (a test file stays in one: its fixtures are built once), slowest first
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

release: $(STAMP)  ## regenerate labs/ from solutions/
	$(BIN)/course release

assets: $(STAMP)  ## rebuild the packaged tiny models and sample data (deterministic)
	$(BIN)/python scripts/build_tiny_assets.py

benchmarks: $(STAMP)  ## each lab's wall time and peak memory (tiny and grade profiles); one PPO step's time; full-size memory estimates
	$(BIN)/python benchmarks/labs.py
	$(BIN)/python benchmarks/labs.py --profile grade
	$(BIN)/python benchmarks/ppo_step.py
	$(BIN)/python benchmarks/full_size.py
	$(BIN)/python benchmarks/results.py

clean:
	rm -rf build $(VENV)
