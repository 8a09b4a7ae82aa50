#!/usr/bin/env bash
# The labs at the lowest versions that pyproject.toml admits (.ci/run runs this beside `make test`).
#
#   bash scripts/check_lowest.sh            # install, then run
#   bash scripts/check_lowest.sh install    # only build the environment (CI does this while the tests run)
#   bash scripts/check_lowest.sh run        # only run the labs in it
#
# Builds build/venv-lowest on Python 3.11 (the lowest we support) with every direct dependency pinned at its lower
# bound (scripts/lowest_versions.py). First the base install alone, what a learner on Colab gets: every
# learner-facing module imports and Lab 1's first cells run without nbgrader or Jupyter
# (scripts/check_base_install.py). Then the instructor extra: every lab solution runs in the grade profile (every
# cell of the tiny profile, with fewer training steps: versions are what this checks, not learning), and
# one of them is graded with `course grade` (`course demo`; the suite grades every lab at the latest versions). Not pinned: torch. Its lower bound (2.11, what Colab preinstalls) has no CPU-only wheel on this
# machine's package index, and its CUDA build is several GB; Colab's torch is checked by scripts/check_colab_stack.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-build/venv-lowest}
step=${1:-all}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

if [[ $step == all || $step == install ]]; then
    mkdir -p build
    "$PYTHON" scripts/lowest_versions.py > build/lowest-constraints.txt
    rm -rf "$VENV" build/lib build/bdist.*  # setuptools stages the package in build/lib and never prunes it
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet uv "torch==2.13.0" 2> >(grep -v "^WARNING: Location" >&2)
    # uv caches a local project's wheel by its pyproject.toml: --refresh-package builds this checkout afresh.
    uv=("$VENV/bin/uv" pip install --python "$VENV/bin/python" --quiet --compile-bytecode --refresh-package align-course)
    "${uv[@]}" -c build/lowest-constraints.txt .
    "$VENV/bin/python" scripts/check_base_install.py
    "${uv[@]}" -c build/lowest-constraints.txt ".[instructor]"
fi
if [[ $step == all || $step == run ]]; then
    echo "Lowest versions installed:"
    "$VENV/bin/python" -m pip list --format=freeze 2>/dev/null \
        | grep -iE "^($(sed 's/==.*//' build/lowest-constraints.txt | paste -sd'|')|torch)==" | paste -sd' '
    # nbgrader shells out to alembic: the venv's bin first on PATH.
    PATH="$PWD/$VENV/bin:$PATH" "$VENV/bin/course" demo --build build/lowest-demo --jobs 2 --grade lab2_reward_modeling --profile grade
fi
